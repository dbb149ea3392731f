"""instrument.config: the presets, their derived sizes, validation and round trips."""

from __future__ import annotations

import dataclasses

import pytest

from instrument.config import (
    PRESETS,
    ModelConfig,
    SpectralConfig,
    config_names,
    get_config,
)


def test_paper_is_the_published_if_mel_h_model():
    cfg = get_config("paper")
    s = cfg.spectral
    assert (s.sample_rate, s.audio_length, s.n_fft, s.hop_length) == (
        16000,
        64000,
        2048,
        512,
    )
    assert s.image_shape == (128, 1024, 2)
    assert s.pad_left == 3072
    assert s.mel
    assert s.mag_normalizer == (0.0661371661726, 0.113718730221)
    assert s.if_normalizer == (0.8, 0.0)
    assert cfg.latent_size == 256
    assert (cfg.pitch_min, cfg.pitch_max, cfg.num_pitches) == (24, 84, 61)
    assert cfg.start_shape == (2, 16)
    assert cfg.num_resolutions == 7
    assert cfg.channels == (256, 256, 256, 256, 128, 64, 32)
    assert cfg.final_shape == (128, 1024)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_keeps_the_representation(name):
    cfg = get_config(name)
    s = cfg.spectral
    assert (s.sample_rate, s.n_fft, s.hop_length, s.n_bins) == (16000, 2048, 512, 1024)
    assert cfg.final_shape == (s.n_frames, s.n_bins)
    assert s.pad_left >= 0
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_two_second_configs_pad_like_the_low_res_reference():
    s = get_config("quarter_2s").spectral
    assert (s.audio_length, s.n_frames, s.pad_left) == (32000, 64, 2304)
    assert s.duration_s == 2.0


def test_config_names_smallest_first():
    names = config_names()
    assert set(names) == set(PRESETS)
    assert names[0] == "quarter_2s" and names[-1] == "paper"


def test_unknown_config_is_one_sentence():
    with pytest.raises(ValueError, match="unknown model config 'huge'; known:"):
        get_config("huge")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_fft": 1000}, "power of two"),
        ({"hop_length": 256}, "75 % overlap"),
        ({"n_frames": 8}, "cannot cover"),
        ({"mag_normalizer": (0.0, 1.0)}, "non-zero"),
    ],
)
def test_bad_spectral_values_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(SpectralConfig(), **changes)


def test_bad_model_values_are_named():
    with pytest.raises(ValueError, match="gives 64x512"):
        ModelConfig(name="x", channels=(8,) * 6)
    with pytest.raises(ValueError, match="inside MIDI"):
        ModelConfig(name="x", pitch_min=90, pitch_max=84)
    with pytest.raises(ValueError, match="not a valid model config"):
        ModelConfig.from_dict({"name": "x"})


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_config("paper").latent_size = 3  # type: ignore[misc]
