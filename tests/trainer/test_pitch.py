"""The torchcrepe pitch judge on real SoundFont notes and pure tones."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from trainer.pitch import estimate_pitch, hz_to_midi, load_crepe, track_pitch


def test_load_crepe_offline():
    crepe = load_crepe()
    assert crepe.__name__ == "torchcrepe"
    assert "torchaudio" in sys.modules  # the real one, or the stand-in
    assert load_crepe() is crepe


def test_soundfont_notes_are_judged_in_tune(sf_renderer):
    cases = [(0, 48), (0, 60), (0, 72), (73, 72), (56, 60), (32, 40)]
    waves = np.stack([sf_renderer.render_note(prog, p, 100) for prog, p in cases])
    midi, periodicity = estimate_pitch(waves, 16000)
    target = np.array([p for _, p in cases])
    assert midi.shape == periodicity.shape == (len(cases),)
    assert midi.dtype == np.float32
    np.testing.assert_array_less(np.abs(midi - target), 0.5)  # within 50 cents
    assert (periodicity > 0.5).all()


def test_sine_at_another_rate_is_resampled():
    sr = 44100
    t = np.arange(2 * sr) / sr
    waves = np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in (220.0, 440.0)])
    midi, _ = estimate_pitch(waves, sr, hold_s=2.0)
    np.testing.assert_allclose(midi, [57.0, 69.0], atol=0.15)  # crepe bias +3..+8 c


def test_noise_and_silence_have_no_pitch(rng):
    waves = np.stack([rng.standard_normal(32000) * 0.3, np.zeros(32000)])
    midi, periodicity = estimate_pitch(waves.astype(np.float32), 16000, hold_s=2.0)
    assert np.isnan(midi).all()
    assert (periodicity < 0.5).all()


def test_track_shapes_and_held_frames():
    t = np.arange(64000) / 16000
    track = track_pitch(0.3 * np.sin(2 * np.pi * 330 * t), 16000)
    assert track.midi.shape == track.periodicity.shape == (1, len(track.times))
    held = track.held(3.0, 4.0)
    assert held.any() and not held[0] and not held[-1]
    assert track.times[held].max() <= 3.0
    assert abs(float(hz_to_midi(np.array([440.0]))[0]) - 69.0) < 1e-9


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 5000)), np.zeros((1, 100))])
def test_bad_shapes_are_one_sentence(bad):
    with pytest.raises(ValueError, match="waves must be|at least 1024"):
        estimate_pitch(bad, 16000)
    with pytest.raises(ValueError, match="sample rate"):
        estimate_pitch(np.zeros((1, 4000)), 0)
