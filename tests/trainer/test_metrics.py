"""Metric functions on arrays with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.metrics import (
    accuracy_by_octave,
    audio_health,
    keys_off,
    kmeans,
    log_spectrogram_features,
    ndb,
    note_entropies,
    pitch_accuracy,
    pitch_entropy,
    random_latents,
    spectral_by_octave,
    timbre_diversity,
)


def test_pitch_accuracy_strict_and_pitch_class():
    target = np.array([60, 60, 60, 60, 60, 60])
    est = np.array([60.2, 59.6, 60.6, 72.1, 47.9, np.nan])
    acc = pitch_accuracy(est, target)
    assert acc["strict"] == pytest.approx(2 / 6)  # +20 and -40 cents
    assert acc["pitch_class"] == pytest.approx(4 / 6)  # and the two octave errors
    assert acc["voiced"] == pytest.approx(5 / 6)
    assert acc["median_abs_cents"] == pytest.approx(60.0)
    assert pitch_accuracy(np.array([61.0]), np.array([60]), 100.0)["strict"] == 1.0
    with pytest.raises(ValueError, match="alike"):
        pitch_accuracy(np.zeros(3), np.zeros(4))


def test_accuracy_by_octave_names_each_register():
    target = np.array([36, 40, 47, 60, 60, 72])
    est = np.array([36.1, 52.0, 59.0, 60.0, 61.0, np.nan])
    got = accuracy_by_octave(est, target)
    assert list(got) == ["C2", "C4", "C5"]
    assert got["C2"]["notes"] == 3
    assert got["C2"]["strict"] == pytest.approx(1 / 3)
    assert got["C2"]["pitch_class"] == pytest.approx(1.0)
    assert got["C2"]["octave_off"] == pytest.approx(2 / 3)  # +12 and +12
    assert got["C4"]["strict"] == pytest.approx(0.5)
    assert got["C4"]["octave_off"] == 0.0  # a semitone off is no octave error
    assert got["C5"]["voiced"] == 0.0


def test_keys_off_names_the_pitches_most_latents_miss():
    target = np.array([27, 27, 27, 36, 36, 36, 82, 82])
    est = np.array([46.0, 46.1, 27.0, 36.0, 36.2, np.nan, 84.6, np.nan])
    got = keys_off(est, target)
    assert got == {27: pytest.approx(2 / 3), 82: 1.0}  # 36: one of three off
    assert list(keys_off(est, target, most=0.3)) == [27, 36, 82]
    assert keys_off(target.astype(float), target) == {}


def test_spectral_by_octave_tells_a_note_from_its_octave():
    from instrument.config import get_config

    spectral = get_config("quarter_2s").spectral
    t = np.arange(spectral.audio_length) / spectral.sample_rate

    def tone(midi, first=1):
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        w = sum(np.sin(2 * np.pi * h * f0 * t) / h for h in range(first, 12))
        return 0.3 * w / np.abs(w).max()

    waves = np.stack([tone(48), tone(48, first=2), tone(72), tone(72)])
    got = spectral_by_octave(waves, np.array([48, 48, 72, 72]), spectral)
    assert list(got) == ["C3", "C5"]
    assert got["C5"]["harmonic"] > 0.97 and got["C5"]["fundamental"] > 0.5
    assert got["C5"]["above_6f0"] < 0.1  # 1/h: little power past the 6th
    assert got["C5"]["tuned"] > 0.97 and 0.65 < got["C5"]["odd"] < 0.85
    assert got["C5"]["last_eighth"] == pytest.approx(1 / 8, abs=0.01)  # held level
    assert got["C5"]["late_harmonic"] > 0.97
    assert 0.7 < got["C5"]["late_first_two"] < 0.85  # 1/h: (1 + 1/4) / sum 1/h^2
    # C3: median of a full note and the same without its fundamental
    assert 0.2 < got["C3"]["fundamental"] < 0.45


def test_pitch_entropy():
    steady = np.full(10, 60.1)
    split = np.array([60.0] * 5 + [67.0] * 5)
    unvoiced = np.full(10, np.nan)
    e = note_entropies(np.stack([steady, split, unvoiced]))
    assert e[0] == 0.0 and e[1] == pytest.approx(math.log(2)) and np.isnan(e[2])
    assert pitch_entropy(np.stack([steady, split])) == pytest.approx(math.log(2) / 2)


def test_kmeans_finds_separated_clusters(rng):
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.concatenate([c + rng.standard_normal((40, 2)) * 0.3 for c in centres])
    found, labels = kmeans(x, 3, seed=1)
    assert sorted(np.bincount(labels).tolist()) == [40, 40, 40]
    for c in centres:
        assert np.min(np.linalg.norm(found - c, axis=1)) < 0.3
    with pytest.raises(ValueError, match="at least k points"):
        kmeans(x[:2], 3)


def test_ndb_same_vs_shifted_distribution(rng):
    real = rng.standard_normal((2000, 8))
    same = rng.standard_normal((1000, 8))
    shifted = rng.standard_normal((1000, 8)) + np.array([1.5] + [0.0] * 7)
    collapsed = np.repeat(real[:1], 1000, axis=0)
    r_same = ndb(real, same, k=20, seed=0)
    r_shift = ndb(real, shifted, k=20, seed=0)
    r_mode = ndb(real, collapsed, k=20, seed=0)
    assert r_same["ndb"] <= 3  # about alpha * k false positives
    assert r_shift["ndb"] >= 10
    assert r_mode["ndb"] == 20  # one bin holds everything, all others are empty
    assert r_same["k"] == 20 and len(r_same["different"]) == 20
    assert sum(r_same["real_proportions"]) == pytest.approx(1.0)
    assert r_shift["ndb_fraction"] == r_shift["ndb"] / 20
    bins = kmeans(real, 20, seed=0)
    assert ndb(real, shifted, k=20, bins=bins)["ndb"] == r_shift["ndb"]
    with pytest.raises(ValueError, match="bins do not fit"):
        ndb(real[:100], shifted, k=20, bins=bins)


def test_timbre_diversity_known_distances():
    x = np.array([[0.0, 0.0], [2.0, 0.0], [5.0, 5.0], [5.0, 5.0], [9.0, 9.0]])
    pitches = np.array([60, 60, 61, 61, 62])  # 62 has one note: ignored
    # pitch 60: RMS distance sqrt((4 + 0) / 2); pitch 61: 0
    assert timbre_diversity(x, pitches) == pytest.approx(math.sqrt(2) / 2)
    with pytest.raises(ValueError, match="two notes"):
        timbre_diversity(x[:1], pitches[:1])


def test_log_spectrogram_features_pool_channel_zero(rng):
    images = rng.standard_normal((3, 2, 64, 1024)).astype(np.float16)
    feats = log_spectrogram_features(images)
    assert feats.shape == (3, 32 * 64) and feats.dtype == np.float32
    block = images[1, 0, 2:4, 16:32].astype(np.float32).mean()
    assert feats[1, 1 * 64 + 1] == pytest.approx(block, abs=1e-5)
    with pytest.raises(ValueError, match="do not pool"):
        log_spectrogram_features(np.zeros((1, 2, 20, 100)))


def test_audio_health_counts():
    t = np.arange(16000)
    waves = np.stack(
        [
            0.5 * np.sin(t * 0.05),
            np.sin(t * 0.05) * 1.2,
            np.zeros(16000),
            np.full(16000, np.nan),
        ]
    )
    assert audio_health(waves) == {"notes": 4, "nan": 1, "clipped": 1, "silent": 1}


def test_random_latents_are_reproducible():
    a = random_latents(4, 16, seed=3)
    assert a.shape == (4, 16) and a.dtype == np.float32
    np.testing.assert_array_equal(a, random_latents(4, 16, seed=3))
    assert not np.array_equal(a, random_latents(4, 16, seed=4))
