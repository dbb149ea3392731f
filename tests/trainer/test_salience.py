"""The harmonic-sum pitch estimator behind the generator's salience loss."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from instrument.config import get_config
from instrument.spectral import waves_to_images
from trainer.config import SOUND_WEIGHTS, TrainConfig
from trainer.salience import (
    ENVELOPE_EDGES,
    HARMONIC_CAP,
    HARMONIC_WIDTH_CENTS,
    PRESENCE_HARMONICS,
    PROFILE_EDGES,
    TIME_SEGMENTS,
    AudioSalience,
    HarmonicSalience,
    envelope_edges,
    fundamental_mask,
    harmonic_mask,
    make_salience,
    odd_mask,
    pooled_means,
    pooled_quantiles,
    tuning_mask,
)

CFG = get_config("quarter_2s")


def _tones(pitches, brightness=1.0, first=1, scale=None):
    """Harmonic notes (amplitude 1/h**brightness from harmonic ``first`` up to
    7 kHz, harmonic h's times ``scale[h]`` where given) with a decay."""
    scale = scale or {}
    sp = CFG.spectral
    t = np.arange(sp.audio_length) / sp.sample_rate
    waves = []
    for p in pitches:
        f0 = 440.0 * 2 ** ((p - 69) / 12)
        w = sum(
            np.sin(2 * np.pi * h * f0 * t + h) / h**brightness * scale.get(h, 1.0)
            for h in range(first, int(7000 // f0) + 1)
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


def test_the_harmonic_mask_marks_harmonics_and_not_between():
    freqs = np.fft.rfftfreq(16000, 1 / 16000)  # 1 Hz bins
    mask = harmonic_mask(freqs, np.array([100.0, 1000.0]), 30.0, 0.2)
    assert mask.shape == (len(freqs), 2) and mask.min() >= 0 and mask.max() <= 1
    for h in (1, 2, 10, 70):
        assert mask[100 * h, 0] == pytest.approx(1.0)
        assert mask[100 * h + 50, 0] < 0.1  # half-way: the cap keeps it narrow
    assert mask[1500, 1] < 1e-3 and mask[3000, 1] == pytest.approx(1.0)
    assert mask[1003, 1] > 0.5  # 5 cents sharp still counts


def test_the_harmonic_fraction_tells_notes_from_noise(audio_salience):
    pitches = np.array([30, 45, 60, 80])
    labels = torch.tensor(pitches - CFG.pitch_min)
    tones = _tones(pitches)
    share = audio_salience.shares_waves(tones, labels).harmonic
    assert (share > 0.97).all()
    # a semitone away from the asked pitch, almost nothing lies on its harmonics
    assert (audio_salience.shares_waves(tones, labels + 1).harmonic < 0.4).all()
    noise = torch.randn(
        4, CFG.spectral.audio_length, generator=torch.Generator().manual_seed(0)
    )
    assert (audio_salience.shares_waves(0.1 * noise, labels).harmonic < 0.6).all()


def test_the_harmonic_loss_stops_at_its_target_and_reaches_both_channels(
    audio_salience,
):
    pitches = np.array([40, 62])
    labels = torch.tensor(pitches - CFG.pitch_min)
    images = waves_to_images(_tones(pitches), CFG.spectral)
    terms = audio_salience.losses(images, labels, 0.9)
    assert (
        terms.harmonic.item() == 0.0 and (terms.shares.harmonic > 0.9).all()
    )  # real-like
    torch.testing.assert_close(terms.ce, audio_salience.loss(images, labels))
    noisy = images.clone()
    noisy[:, 1] += torch.randn_like(noisy[:, 1])  # partials smeared by the IF
    x = noisy.requires_grad_(True)
    terms = audio_salience.losses(x, labels, 0.9)
    assert terms.harmonic.item() > 0.1
    assert terms.fundamental.item() == 0.0  # no targets set: no push
    terms.harmonic.backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad[:, 0].abs().sum() > 0 and x.grad[:, 1].abs().sum() > 0


def test_the_fundamental_mask_keeps_only_the_first_harmonic():
    freqs = np.arange(0, 8001, 1.0)
    f0 = np.array([100.0, 1000.0])
    mask = fundamental_mask(freqs, f0, 30.0, 0.2)
    whole = harmonic_mask(freqs, f0, 30.0, 0.2)
    assert mask[100, 0] == pytest.approx(1.0) and mask[1000, 1] == pytest.approx(1.0)
    assert mask[200, 0] == 0.0 and mask[2000, 1] == 0.0  # the octave is not it
    assert (mask <= whole).all()


def test_the_fundamental_share_hears_a_missing_fundamental():
    sal = AudioSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)
    pitches = np.array([36, 48, 60, 76])
    labels = torch.tensor(pitches - CFG.pitch_min)
    full = sal.shares_waves(_tones(pitches), labels).fundamental
    # 1/h amplitudes: the first harmonic holds 1 / sum(1/h**2) ~ 0.6 of the power
    assert ((full > 0.5) & (full < 0.75)).all()
    missing = sal.shares_waves(_tones(pitches, first=2), labels).fundamental
    assert (missing < 0.01).all()  # on the series, but the octave's note
    # the same through the representation and with gradients: pushed up to a target
    images = waves_to_images(_tones(pitches, first=2), CFG.spectral)
    sal.set_fundamental_targets(np.full(CFG.num_pitches, 0.3))
    x = images.requires_grad_(True)
    terms = sal.losses(x, labels, 0.9)
    assert terms.fundamental.item() > 0.25 and terms.harmonic.item() < 0.05
    terms.fundamental.backward()
    assert torch.isfinite(x.grad).all() and x.grad[:, 0].abs().sum() > 0
    with pytest.raises(ValueError, match="fundamental targets"):
        sal.set_fundamental_targets(np.full(CFG.num_pitches - 1, 0.3))
    with pytest.raises(ValueError, match="fundamental targets"):
        sal.set_fundamental_targets(np.full(CFG.num_pitches, 1.5))


def test_the_tuning_mask_slopes_over_the_whole_spacing():
    freqs = np.arange(0, 8001, 1.0)
    f0 = np.array([100.0, 1000.0])
    mask = tuning_mask(freqs, f0)
    narrow = harmonic_mask(freqs, f0, HARMONIC_WIDTH_CENTS, HARMONIC_CAP)
    assert mask.shape == (len(freqs), 2) and mask.min() >= 0 and mask.max() <= 1
    for h in (1, 2, 7):
        assert mask[100 * h, 0] == pytest.approx(1.0)
        assert mask[1000 * h, 1] == pytest.approx(1.0)
    assert mask[1500, 1] == pytest.approx(0.0, abs=1e-9)  # half-way
    assert (mask[:500, 1] == 0).all()  # below half the fundamental: no harmonic
    # 170 cents flat, where the narrow mask is flat at nothing, it still slopes up
    assert np.all(np.diff(mask[500:1001, 1]) >= 0) and np.all(
        np.diff(mask[1000:1501, 1]) <= 0
    )
    assert mask[906, 1] > 0.8 and narrow[906, 1] < 1e-3
    assert mask[906, 1] < mask[950, 1] < mask[990, 1]


def test_a_sharper_tuning_mask_counts_partials_off_the_series_less():
    freqs = np.arange(0, 4001, 1.0)
    f0 = np.array([100.0])
    broad, sharp = tuning_mask(freqs, f0)[:, 0], tuning_mask(freqs, f0, 8.0)[:, 0]
    assert sharp[100] == pytest.approx(1.0) and sharp[300] == pytest.approx(1.0)
    assert (sharp <= broad + 1e-12).all()
    # a fundamental a semitone sharp (106 Hz): 0.97 of it counts by cos^2, 0.79 here
    assert broad[106] > 0.96 and 0.75 < sharp[106] < 0.82
    # the 740k generator's low notes: a 2nd harmonic at 1.71 f0, a series on 1.19 f0
    assert broad[171] > 0.3 and broad[119] > 0.6
    assert sharp[171] < 1e-3 and sharp[119] < 0.05
    # it still slopes towards the harmonic all the way
    assert np.all(np.diff(sharp[150:201]) >= 0) and np.all(np.diff(sharp[200:251]) <= 0)
    with pytest.raises(ValueError, match="sharpness"):
        tuning_mask(freqs, f0, 0.5)


def test_the_sharper_tuned_share_is_short_for_a_note_a_semitone_off():
    label = torch.tensor([60 - CFG.pitch_min])
    broad = AudioSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)
    sharp = make_salience(
        "audio", CFG.spectral, CFG.pitch_min, CFG.pitch_max, tuning_sharpness=8.0
    )
    in_tune, off = _detuned(60, torch.tensor(0.0)), _detuned(60, torch.tensor(100.0))
    assert sharp.shares_waves(in_tune, label).tuned.item() > 0.95
    # a whole semitone sharp: all but met by cos^2, well short here
    assert broad.shares_waves(off, label).tuned.item() > 0.85
    assert sharp.shares_waves(off, label).tuned.item() < 0.75


def _detuned(pitch: int, cents: torch.Tensor) -> torch.Tensor:
    """One harmonic note (six harmonics, 1/h) of ``pitch`` played ``cents`` off."""
    sp = CFG.spectral
    t = torch.arange(sp.audio_length) / sp.sample_rate
    f = 440.0 * 2 ** ((pitch - 69) / 12) * 2 ** (cents / 1200)
    w = sum(torch.sin(2 * torch.pi * h * f * t + h) / h for h in range(1, 7))
    return (0.2 * w * torch.exp(-t))[None]


def test_the_tuning_loss_pulls_a_detuned_note_toward_its_pitch():
    sal = AudioSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)
    label = torch.tensor([82 - CFG.pitch_min])
    in_tune = sal.shares_waves(_detuned(82, torch.tensor(0.0)), label).tuned
    assert in_tune.item() > 0.97
    # 170 cents flat, as the 570k generator played MIDI 82: the narrow share is
    # flat there, the tuned share rises towards the pitch
    cents = torch.tensor(-170.0, requires_grad=True)
    shares = sal.shares_waves(_detuned(82, cents), label)
    assert shares.harmonic.item() < 0.05 and 0.5 < shares.tuned.item() < 0.95
    (slope_tuned,) = torch.autograd.grad(shares.tuned.sum(), cents, retain_graph=True)
    (slope_narrow,) = torch.autograd.grad(shares.harmonic.sum(), cents)
    assert slope_tuned.item() > 1e-4 and abs(slope_narrow.item()) < 1e-6
    # held to a target: pushed when short of it, not past it, through the image
    sal.set_tuning_targets(np.full(CFG.num_pitches, 0.95))
    images = waves_to_images(_detuned(82, torch.tensor(0.0)), CFG.spectral)
    assert sal.losses(images, label, 0.9).tuning.item() == 0.0
    x = waves_to_images(_detuned(82, torch.tensor(-170.0)), CFG.spectral)
    x.requires_grad_(True)
    terms = sal.losses(x, label, 0.9)
    assert terms.tuning.item() > 0.05 and terms.shares.tuned.shape == (1,)
    terms.tuning.backward()
    assert torch.isfinite(x.grad).all() and x.grad[:, 1].abs().sum() > 0
    with pytest.raises(ValueError, match="tuning targets"):
        sal.set_tuning_targets(np.full(CFG.num_pitches, -0.1))


def test_the_time_shares_tell_a_held_note_from_one_that_bursts_at_the_end():
    sal = AudioSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)
    pitches = np.array([40, 70])
    labels = torch.tensor(pitches - CFG.pitch_min)
    sp = CFG.spectral
    t = torch.arange(sp.audio_length) / sp.sample_rate
    held = torch.stack([0.2 * torch.sin(2 * torch.pi * 440.0 * t + p) for p in (0, 1)])
    shares = sal.shares_waves(held, labels).time
    assert shares.shape == (2, TIME_SEGMENTS)
    torch.testing.assert_close(
        shares, torch.full_like(shares, 1 / TIME_SEGMENTS), atol=0.01, rtol=0
    )
    # the 580k generator's notes: a body 20 dB down and a loud last eighth
    level = torch.where(t < t[-1] * 7 / 8, 0.1, 1.0)
    burst = held * level
    late = sal.shares_waves(burst, labels).time
    assert (late[:, -1] > 0.9).all()
    sal.set_time_targets(
        np.full((CFG.num_pitches, TIME_SEGMENTS), 0.08),
        np.full((CFG.num_pitches, TIME_SEGMENTS), 0.16),
    )
    images = waves_to_images(held, CFG.spectral)
    assert sal.losses(images, labels, 0.9).time.item() < 0.01  # the round trip's edges
    x = waves_to_images(burst, CFG.spectral).requires_grad_(True)
    terms = sal.losses(x, labels, 0.9)
    assert terms.time.item() > 1.0
    terms.time.backward()
    assert torch.isfinite(x.grad).all() and x.grad[:, 0].abs().sum() > 0
    with pytest.raises(ValueError, match="time targets"):
        sal.set_time_targets(
            np.zeros((CFG.num_pitches, 3)), np.ones((CFG.num_pitches, 3))
        )


def test_the_odd_share_hears_the_octave_up():
    freqs = np.arange(0, 8001, 1.0)
    mask = odd_mask(freqs, np.array([100.0]), HARMONIC_WIDTH_CENTS, HARMONIC_CAP)
    assert mask[100, 0] == pytest.approx(1.0) and mask[300, 0] == pytest.approx(1.0)
    assert mask[200, 0] == 0.0 and mask[400, 0] == 0.0 and mask[150, 0] < 0.1
    sal = AudioSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)
    pitches = np.array([40, 44, 60])
    labels = torch.tensor(pitches - CFG.pitch_min)
    # 1/h amplitudes: the odd harmonics hold sum 1/h**2 over odd h / over all ~ 0.75
    whole = sal.shares_waves(_tones(pitches), labels).odd
    assert ((whole > 0.65) & (whole < 0.85)).all()
    # the note an octave up (harmonics 2, 4, 6, ... of the asked pitch), as the 600k
    # generator played MIDI 36-47: every partial on the series, none of them odd
    octave_up = _tones(pitches + 12)
    shares = sal.shares_waves(octave_up, labels)
    assert (shares.odd < 0.01).all() and (shares.harmonic > 0.9).all()
    sal.set_odd_targets(np.full(CFG.num_pitches, 0.4))
    assert (
        sal.losses(
            waves_to_images(_tones(pitches), CFG.spectral), labels, 0.9
        ).odd.item()
        == 0.0
    )
    x = waves_to_images(octave_up, CFG.spectral).requires_grad_(True)
    terms = sal.losses(x, labels, 0.9)
    assert terms.odd.item() > 0.35 and terms.shares.odd.shape == (3,)
    terms.odd.backward()
    assert torch.isfinite(x.grad).all() and x.grad[:, 0].abs().sum() > 0
    with pytest.raises(ValueError, match="odd targets"):
        sal.set_odd_targets(np.full(CFG.num_pitches + 1, 0.4))


def test_pooled_quantiles_share_a_register():
    values = np.array([0.0, 1.0, 0.5, 0.9])
    labels = np.array([0, 1, 5, 5])
    got = pooled_quantiles(values, labels, 8, 0.5, 1)
    np.testing.assert_allclose(got, [0.5, 0.5, 1.0, 0.0, 0.7, 0.7, 0.7, 0.0])
    got = pooled_means(np.stack([values, 1 - values], 1), labels, 8, 1)
    np.testing.assert_allclose(got[:, 0], [0.5, 0.5, 1.0, 0.0, 0.7, 0.7, 0.7, 0.0])
    np.testing.assert_allclose(got[:, 1], [0.5, 0.5, 0.0, 0.0, 0.3, 0.3, 0.3, 0.0])


def test_the_profile_draws_the_mean_share_of_each_harmonic_to_the_real_one():
    sal = AudioSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)
    pitches = np.array([36, 40, 60])
    labels = torch.tensor(pitches - CFG.pitch_min)
    # 1/h amplitudes: harmonic h holds (1/h**2) / sum(1/k**2) of the power
    bands = sal.shares_waves(_tones(pitches), labels).profile
    assert bands.shape == (3, len(PROFILE_EDGES) - 1)
    torch.testing.assert_close(bands.sum(1), torch.ones(3), atol=1e-4, rtol=0)
    assert (bands[:, 0] < 0.01).all() and (bands[:, 1] > 0.55).all()
    assert (bands[:, 2] > 0.12).all() and (bands[:, 2] < 0.18).all()
    # the note an octave up (harmonics 2, 4, 6, ...): nothing on the 1st or 3rd
    octave_up = waves_to_images(_tones(pitches + 12), CFG.spectral)
    up = sal.shares(octave_up, labels).profile
    assert (
        (up[:, 1] < 0.01).all() and (up[:, 3] < 0.01).all() and (up[:, 2] > 0.5).all()
    )
    # the real notes' mean is the clean tones' own (through the representation)
    clean = waves_to_images(_tones(pitches), CFG.spectral)
    means = torch.zeros(CFG.num_pitches, len(PROFILE_EDGES) - 1)
    means[:, 1] = 1.0
    means[labels] = sal.shares(clean, labels).profile
    sal.set_profile_targets(means)
    assert sal.losses(octave_up, labels, 0.9).profile.item() == 0.0  # no gap yet
    # G's notes have been an octave up: its running mean moves there near their
    # pitches (+-3 semitones) and nowhere else
    for _ in range(200):
        sal.track_profile(up, labels)
    gap = sal.profile_fake - sal.profile_real
    assert gap[labels, 2].min() > 0.3 and gap[labels, 1].max() < -0.3
    assert gap[40 - CFG.pitch_min + 3].abs().sum() > 0.5
    assert gap[40 - CFG.pitch_min + 4 : 60 - CFG.pitch_min - 3].abs().max() == 0.0
    x = octave_up.clone().requires_grad_(True)
    terms = sal.losses(x, labels, 0.9)
    assert terms.profile.item() > sal.losses(clean, labels, 0.9).profile.item() + 0.3
    terms.profile.backward()
    assert torch.isfinite(x.grad).all() and x.grad[:, 0].abs().sum() > 0
    with pytest.raises(ValueError, match="profile targets"):
        sal.set_profile_targets(means * 2)  # rows summing to 2


def test_the_presence_term_raises_an_absent_harmonic_where_a_share_cannot():
    sal = AudioSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)
    pitches = np.array([30, 40, 52])
    labels = torch.tensor(pitches - CFG.pitch_min)
    full = sal.shares_waves(_tones(pitches), labels).profile[:, 2]
    gone = sal.shares_waves(_tones(pitches, scale={2: 0.0}), labels).profile[:, 2]
    assert (full > 0.1).all() and (gone < 1e-3).all()  # 1/h: 2nd holds ~0.15
    targets = np.zeros((CFG.num_pitches, PRESENCE_HARMONICS))
    targets[:, 1] = 0.05  # the 2nd harmonic's band: at least 5 % of the power
    sal.set_presence_targets(targets)
    images = waves_to_images(_tones(pitches), CFG.spectral)
    assert sal.losses(images, labels, 0.9).presence.item() == 0.0
    # the further the harmonic is gone, the more (the log), and the gradient on the
    # magnitudes does not shrink with it as the share's does
    grads = {}
    for level in (0.3, 0.01):
        x = waves_to_images(_tones(pitches, scale={2: level}), CFG.spectral)
        x = x.requires_grad_(True)
        terms = sal.losses(x, labels, 0.9)
        terms.presence.backward(retain_graph=True)
        grads[level] = (terms.presence.item(), x.grad[:, 0].abs().sum().item())
        x.grad = None
        share = sal.shares(x, labels).profile[:, 2].sum()
        share.backward()
        grads[level] += (x.grad[:, 0].abs().sum().item(),)
    (loss_a, log_a, share_a), (loss_b, log_b, share_b) = grads[0.3], grads[0.01]
    assert 0 < loss_a < loss_b
    # measured: the log's falls 4x from 0.3 to 0.01 of the amplitude, the share's 600x
    assert log_b > 0.1 * log_a and share_b < 0.01 * share_a
    with pytest.raises(ValueError, match="presence targets"):
        sal.set_presence_targets(np.full((CFG.num_pitches, PRESENCE_HARMONICS), 2.0))


def test_the_presence_term_counts_a_harmonic_on_the_harmonic_not_in_its_band():
    sal = AudioSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)
    pitches = np.array([37, 42, 82])
    labels = torch.tensor(pitches - CFG.pitch_min)
    # as the 720k generator played MIDI 37, 42 and 82: the 2nd harmonic's power in
    # its band, 250 cents below 2 f0
    sp = CFG.spectral
    t = torch.arange(sp.audio_length) / sp.sample_rate
    f0 = torch.tensor(440.0 * 2 ** ((pitches - 69) / 12), dtype=torch.float32)
    off = torch.sin(2 * torch.pi * 2 * f0[:, None] * 2 ** (-250 / 1200) * t)
    clean = _tones(pitches)
    detuned = _tones(pitches, scale={2: 0.0}) + 0.15 * off * torch.exp(-t)
    good, bad = sal.shares_waves(clean, labels), sal.shares_waves(detuned, labels)
    assert (bad.profile[:, 2] > 0.1).all()  # the band holds it
    assert (bad.presence[:, 1] < 0.01).all() and (good.presence[:, 1] > 0.1).all()
    torch.testing.assert_close(good.presence, good.profile[:, 1:3], atol=0.03, rtol=0)
    sal.set_presence_targets(np.full((CFG.num_pitches, PRESENCE_HARMONICS), 0.05))
    assert sal.losses(waves_to_images(clean, sp), labels, 0.9).presence.item() == 0
    x = waves_to_images(detuned, sp).requires_grad_(True)
    terms = sal.losses(x, labels, 0.9)
    assert terms.presence.item() > 1.0
    terms.presence.backward()
    assert torch.isfinite(x.grad).all() and x.grad[:, 0].abs().sum() > 0


def test_the_late_presence_term_hears_low_harmonics_that_leave_after_the_onset():
    sal = AudioSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)
    # (pitches whose first two harmonics the IF-Mel round trip keeps: it loses a
    # partial at a few low frequencies, e.g. 73 Hz, the 2nd harmonic of MIDI 26)
    pitches = np.array([25, 31, 45])
    labels = torch.tensor(pitches - CFG.pitch_min)
    # as the 680k generator played MIDI 24-35: the first harmonics in the loud first
    # part, then the power on harmonics 4 up (torchcrepe heard those)
    early = (torch.arange(CFG.spectral.audio_length) < sal.late_first).float()
    clean = _tones(pitches)
    moved = clean * early + _tones(pitches, scale={1: 0.0, 2: 0.0, 3: 0.0}) * (
        1 - early
    )
    good, bad = sal.shares_waves(clean, labels), sal.shares_waves(moved, labels)
    assert (bad.late_profile[:, 1:3].sum(1) < 0.01).all()
    assert (good.late_profile[:, 1:3].sum(1) > 0.3).all()
    torch.testing.assert_close(
        bad.late_profile.sum(1), torch.ones(3), atol=1e-4, rtol=0
    )
    # the held part still hears them
    assert (bad.profile[:, 1:3].sum(1) > 0.3).all()
    targets = np.full((CFG.num_pitches, PRESENCE_HARMONICS), 0.05)
    sal.set_presence_targets(targets)
    sal.set_late_presence_targets(targets)
    images = waves_to_images(clean, CFG.spectral)
    clean_terms = sal.losses(images, labels, 0.9)
    assert (
        clean_terms.presence.item() == 0.0 and clean_terms.late_presence.item() == 0.0
    )
    x = waves_to_images(moved, CFG.spectral).requires_grad_(True)
    terms = sal.losses(x, labels, 0.9)
    assert terms.presence.item() == 0.0 and terms.late_presence.item() > 3.0
    terms.late_presence.backward()
    assert torch.isfinite(x.grad).all() and x.grad[:, 0].abs().sum() > 0
    with pytest.raises(ValueError, match="late presence targets"):
        sal.set_late_presence_targets(targets[:3])


def test_the_late_pitch_term_hears_a_note_that_moves_to_another_pitch_late():
    sal = AudioSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)
    pitches = np.array([31, 45])
    labels = torch.tensor(pitches - CFG.pitch_min)
    # as the 710k generator played MIDI 27-37: its own pitch in the loud first part,
    # another one (here a fifth up) from the late part's start on
    early = (torch.arange(CFG.spectral.audio_length) < sal.late_first).float()
    clean = _tones(pitches)
    moved = clean * early + _tones(pitches + 7) * (1 - early)
    for waves, late_pitch in ((clean, labels), (moved, labels + 7)):
        sh = sal.shares_waves(waves, labels)
        assert (sal._scores_of(sh.power).argmax(1) == labels).all()
        assert (sal._scores_of(sh.late_power).argmax(1) == late_pitch).all()
    clean_terms = sal.losses(waves_to_images(clean, CFG.spectral), labels, 0.9)
    assert clean_terms.ce.item() < 0.05 and clean_terms.late_ce.item() < 0.05
    x = waves_to_images(moved, CFG.spectral).requires_grad_(True)
    terms = sal.losses(x, labels, 0.9)
    assert terms.ce.item() < 1.0 and terms.late_ce.item() > 10.0
    terms.late_ce.backward()
    assert torch.isfinite(x.grad).all() and x.grad[:, 0].abs().sum() > 0


def test_envelope_edges_are_bins_at_multiples_of_f0():
    freqs = np.arange(0, 8001, 2.0)
    got = envelope_edges(freqs, np.array([100.0, 1000.0]), ENVELOPE_EDGES)
    assert got.shape == (2, len(ENVELOPE_EDGES))
    np.testing.assert_array_equal(got[0, :4], [0, 38, 75, 150])  # 0, 75, 150, 300 Hz
    assert got[1, -2] == len(freqs) and got[1, -1] == len(freqs)  # 24 kHz: past the top


def test_the_envelope_tells_a_note_from_a_whistle_above_it():
    sal = AudioSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)
    pitches = np.array([36, 60, 76])
    labels = torch.tensor(pitches - CFG.pitch_min)
    bands = sal.shares_waves(_tones(pitches), labels).envelope
    torch.testing.assert_close(bands.sum(1), torch.ones(3), atol=1e-4, rtol=0)
    assert (bands[:, 1] > 0.5).all() and (bands[:, 0] < 0.01).all()
    # the note with a loud line at a fixed 6.6 kHz, as the 540k generator made
    t = torch.arange(CFG.spectral.audio_length) / CFG.spectral.sample_rate
    whistled = _tones(pitches) + 0.5 * torch.sin(2 * torch.pi * 6600.0 * t)
    high = sal.shares_waves(whistled, labels).envelope
    assert high[2, 4] > 0.5  # 6-12 f0 of MIDI 76 (659 Hz) holds the whistle
    # held to the clean notes' own range (through the representation, as the
    # trainer measures real notes), the whistled notes are pushed and the clean not
    images = waves_to_images(_tones(pitches), CFG.spectral)
    own = sal.shares(images, labels).envelope
    low_t, high_t = bands.new_zeros(61, 7), bands.new_ones(61, 7)
    low_t[labels], high_t[labels] = own - 0.05, own + 0.05
    sal.set_envelope_targets(low_t.clamp(0, 1), high_t.clamp(0, 1))
    assert sal.losses(images, labels, 0.9).envelope.item() == 0.0
    x = waves_to_images(whistled, CFG.spectral).requires_grad_(True)
    terms = sal.losses(x, labels, 0.9)
    assert terms.envelope.item() > 0.3
    terms.envelope.backward()
    assert torch.isfinite(x.grad).all() and x.grad[:, 0].abs().sum() > 0
    with pytest.raises(ValueError, match="envelope targets"):
        sal.set_envelope_targets(high_t, low_t)  # low above high


def test_the_late_share_hears_a_quiet_rest_that_is_not_the_note():
    sal = AudioSalience(CFG.spectral, CFG.pitch_min, CFG.pitch_max)
    n = CFG.spectral.audio_length
    assert sal.late_first == int(0.4 * n) and sal.late_first + len(sal.window) <= n
    pitches = np.array([40, 60, 78])
    labels = torch.tensor(pitches - CFG.pitch_min)
    clean = _tones(pitches)
    # as the 630k generator played MIDI 72 up: a loud onset, then a rest 40 dB down
    # that is noise, not the note
    t = torch.arange(n) / CFG.spectral.sample_rate
    noise = torch.randn(3, n, generator=torch.Generator().manual_seed(0))
    faded = clean * (t < 0.3) + 0.01 * clean.abs().amax(1, keepdim=True) * noise * (
        t >= 0.3
    )
    good, bad = sal.shares_waves(clean, labels), sal.shares_waves(faded, labels)
    assert (good.late > 0.97).all() and (bad.late < 0.6).all()
    # the held part, ruled by the onset, hears much less of it
    assert (bad.harmonic > bad.late + 0.25).all()
    sal.set_late_targets(np.full(CFG.num_pitches, 0.9))
    images = waves_to_images(clean, CFG.spectral)
    assert sal.losses(images, labels, 0.9).late.item() == 0.0
    x = waves_to_images(faded, CFG.spectral).requires_grad_(True)
    terms = sal.losses(x, labels, 0.9)
    assert terms.late.item() > 0.3 and terms.shares.late.shape == (3,)
    terms.late.backward()
    assert torch.isfinite(x.grad).all() and x.grad[:, 0].abs().sum() > 0
    with pytest.raises(ValueError, match="late targets"):
        sal.set_late_targets(np.full(CFG.num_pitches, 1.5))


@pytest.mark.parametrize(
    ("weight", "setting", "bad"),
    [
        ("harmonic_weight", "harmonic_target", 1.5),
        ("fundamental_weight", "fundamental_quantile", 1.0),
        ("envelope_weight", "envelope_quantile", 0.5),
        ("tuning_weight", "tuning_quantile", 0.0),
        ("time_weight", "time_quantile", 0.5),
        ("odd_weight", "odd_quantile", 1.0),
        ("profile_weight", "profile_weight", -1.0),
        ("late_weight", "late_quantile", 0.0),
        ("presence_weight", "presence_quantile", 1.0),
        ("late_presence_weight", "presence_quantile", 0.0),
        ("late_salience_weight", "late_salience_weight", -1.0),
    ],
)
def test_the_sound_terms_need_the_audio_source(weight, setting, bad):
    assert weight in SOUND_WEIGHTS
    with pytest.raises(ValueError, match=f"{weight} needs"):
        TrainConfig("t", "quarter_2s", **{weight: 1.0}, salience_source="mel")
    with pytest.raises(ValueError, match=setting):
        TrainConfig("t", "quarter_2s", **{setting: bad})
