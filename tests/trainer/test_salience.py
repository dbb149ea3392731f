"""The harmonic-sum pitch estimator behind the generator's salience loss."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from instrument.config import get_config
from instrument.spectral import waves_to_images
from trainer.config import TrainConfig
from trainer.salience import AudioSalience, HarmonicSalience, make_salience

CFG = get_config("quarter_2s")


def _tones(pitches, brightness=1.0):
    """Harmonic notes (amplitude 1/h**brightness up to 7 kHz) with a decay."""
    sp = CFG.spectral
    t = np.arange(sp.audio_length) / sp.sample_rate
    waves = []
    for p in pitches:
        f0 = 440.0 * 2 ** ((p - 69) / 12)
        w = sum(
            np.sin(2 * np.pi * h * f0 * t + h) / h**brightness
            for h in range(1, int(7000 // f0) + 1)
        )
        waves.append(0.3 * w / np.abs(w).max() * np.exp(-t))
    return torch.tensor(np.stack(waves), dtype=torch.float32)


@pytest.fixture(scope="module")
def salience():
    return HarmonicSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)


def test_harmonic_notes_score_highest_at_their_pitch(salience):
    # from A1 (55 Hz) up; below, the mel image's low bins blur neighbouring semitones
    pitches = np.arange(33, 85)
    for brightness in (0.5, 1.0, 2.0):
        images = waves_to_images(_tones(pitches, brightness), CFG.spectral)
        best = salience.scores(images).argmax(1).numpy() + CFG.pitch_min
        np.testing.assert_array_equal(best, pitches)


def test_the_loss_ignores_loudness_and_has_a_gradient(salience):
    pitches = np.array([40, 62])
    images = waves_to_images(_tones(pitches), CFG.spectral)
    labels = torch.tensor(pitches - CFG.pitch_min)
    louder = images.clone()
    louder[:, 0] += 2.0  # e^2 times the power
    torch.testing.assert_close(salience.logits(louder), salience.logits(images))
    x = images.clone().requires_grad_(True)
    loss = salience.loss(x, labels)
    loss.backward()
    assert loss.item() < 1.0  # clear harmonic notes: confident and right
    assert x.grad is not None and x.grad[:, 0].abs().sum() > 0
    assert x.grad[:, 1].abs().sum() == 0  # the IF channel plays no part
    wrong = salience.loss(images, labels + 7)
    assert wrong.item() > loss.item() + 2.0


def test_linear_images_are_refused():
    linear = dataclasses.replace(CFG.spectral, mel=False)
    with pytest.raises(ValueError, match="IF-Mel"):
        HarmonicSalience(linear, 24, 84)


@pytest.fixture(scope="module")
def audio_salience():
    return AudioSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)


def test_the_audio_salience_names_harmonic_notes_over_the_whole_range(audio_salience):
    pitches = np.arange(CFG.pitch_min, CFG.pitch_max + 1)  # down to C1 (33 Hz)
    for brightness in (0.5, 1.0, 2.0):
        tones = _tones(pitches, brightness)
        best = audio_salience.scores_waves(tones).argmax(1).numpy() + CFG.pitch_min
        np.testing.assert_array_equal(best, pitches)
        # through the representation: images -> the inverse -> the same answer
        images = waves_to_images(tones[::6], CFG.spectral)
        best = audio_salience.scores(images).argmax(1).numpy() + CFG.pitch_min
        np.testing.assert_array_equal(best, pitches[::6])


def test_the_audio_salience_hears_partials_the_if_moves(audio_salience, salience):
    """The mel salience reads only where the magnitudes are; the audio salience
    hears where the IF channel puts the partials (a constant IF offset moves every
    partial by the same number of Hz: the notes stop being harmonic)."""
    pitches = np.array([36, 45, 57])
    images = waves_to_images(_tones(pitches), CFG.spectral)
    labels = torch.tensor(pitches - CFG.pitch_min)
    moved = images.clone()
    moved[:, 1] += 0.5  # + sample_rate / (4 hop) Hz on every partial
    torch.testing.assert_close(
        salience.loss(moved, labels), salience.loss(images, labels)
    )
    assert audio_salience.accuracy(images, labels) == 1.0
    assert audio_salience.accuracy(moved, labels) == 0.0
    assert audio_salience.loss(moved, labels) > audio_salience.loss(images, labels) + 3


def test_the_audio_loss_ignores_loudness_and_reaches_both_channels(audio_salience):
    pitches = np.array([40, 62])
    images = waves_to_images(_tones(pitches), CFG.spectral)
    labels = torch.tensor(pitches - CFG.pitch_min)
    louder = images.clone()
    louder[:, 0] += 2.0
    torch.testing.assert_close(
        audio_salience.logits(louder), audio_salience.logits(images), atol=0.05, rtol=0
    )
    x = images.clone().requires_grad_(True)
    loss = audio_salience.loss(x, labels)
    loss.backward()
    assert loss.item() < 1.0
    assert torch.isfinite(x.grad).all()
    assert x.grad[:, 0].abs().sum() > 0 and x.grad[:, 1].abs().sum() > 0
    assert audio_salience.loss(images, labels + 7).item() > loss.item() + 2.0


def test_the_source_is_a_train_setting():
    assert isinstance(make_salience("audio", CFG.spectral, 24, 84), AudioSalience)
    assert isinstance(make_salience("mel", CFG.spectral, 24, 84), HarmonicSalience)
    with pytest.raises(ValueError, match="salience source"):
        make_salience("crepe", CFG.spectral, 24, 84)
    with pytest.raises(ValueError, match="salience_source"):
        TrainConfig("t", "quarter_2s", salience_source="crepe")
