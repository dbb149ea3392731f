"""instrument.level: the output gain a bundle stores, and Synth playing at it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from instrument.bundle import BundleError, load_bundle, save_bundle
from instrument.config import get_config
from instrument.latent import random_latents
from instrument.level import CEILING_PEAK, measure_output_level
from instrument.networks import Generator
from instrument.synth import Synth

CFG = get_config("quarter_2s")


@pytest.fixture(scope="module")
def weights():
    torch.manual_seed(3)
    return Generator(CFG).state_dict()


def _synth(tmp_path, weights, info):
    path = tmp_path / "m.safetensors"
    save_bundle(path, CFG, weights, info)
    return Synth.load(path, output_rate=16000, device="cpu", precision="fp32")


def test_measured_gain_brings_notes_to_level(tmp_path, weights):
    synth = _synth(tmp_path, weights, {})
    assert synth.output_gain == 1.0  # no gain stored: the generator's own level
    level = measure_output_level(synth, latents_per_pitch=1, seed=5)
    assert level.notes == 61
    assert 0 < level.median_peak <= level.max_peak
    gain = min(0.5 / level.median_peak, CEILING_PEAK / level.max_peak)
    assert level.gain == pytest.approx(gain)

    louder = _synth(tmp_path, weights, level.as_info())
    assert louder.output_gain == pytest.approx(level.gain, rel=1e-5)
    z = random_latents(3, CFG.latent_size, 1)
    p = np.array([30, 60, 80])
    np.testing.assert_allclose(
        louder.render(z, p), synth.render(z, p) * louder.output_gain, atol=1e-6
    )
    # the preview path plays at the same level as whole notes
    window = louder.render_window(z[:1], p[:1], np.array([4000]), 800)
    np.testing.assert_allclose(
        window,
        synth.render_window(z[:1], p[:1], np.array([4000]), 800) * louder.output_gain,
        atol=1e-6,
    )
    # measuring again through the gained synth finds the same raw level
    again = measure_output_level(louder, latents_per_pitch=1, seed=5)
    assert again.median_peak == pytest.approx(level.median_peak, rel=1e-4)
    peaks = np.abs(
        louder.render(random_latents(61, CFG.latent_size, 5), np.arange(24, 85))
    ).max(axis=1)
    assert np.median(peaks) <= 0.5 + 1e-4 and peaks.max() <= CEILING_PEAK + 1e-4


@pytest.mark.parametrize("gain", [0, -1.0, float("nan"), "loud", True, 1e9])
def test_bad_gain_is_one_sentence(tmp_path, weights, gain):
    path = tmp_path / "bad.safetensors"
    save_bundle(path, CFG, weights, {"output_gain": gain})
    bundle = load_bundle(path)  # the weights are fine; the gain is not
    with pytest.raises(BundleError, match="output_gain"):
        Synth(bundle, output_rate=16000, device="cpu")


def test_measure_rejects_bad_arguments(tmp_path, weights):
    synth = _synth(tmp_path, weights, {})
    with pytest.raises(ValueError, match="latents_per_pitch"):
        measure_output_level(synth, latents_per_pitch=0)
    with pytest.raises(ValueError, match="target_median"):
        measure_output_level(synth, target_median=0.95, ceiling=0.9)
