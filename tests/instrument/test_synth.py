"""Synth: a bundle rendered to notes at the output rate, on the real inverse path."""

from __future__ import annotations

import numpy as np
import pytest
import soxr
import torch

import instrument.synth as synth_module
from instrument.bundle import BundleError, save_bundle
from instrument.config import get_config
from instrument.networks import Generator
from instrument.spectral import images_to_waves
from instrument.synth import Synth, native_bf16, pick_device

CFG = get_config("quarter_2s")  # the smallest preset: 2 s notes


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory):
    torch.manual_seed(7)
    gen = Generator(CFG)
    path = tmp_path_factory.mktemp("synth") / "quarter_2s.safetensors"
    save_bundle(path, CFG, gen.state_dict(), {"name": "test model"})
    return path


@pytest.fixture(scope="module")
def synth16(bundle_path):
    return Synth.load(bundle_path, output_rate=16000, device="cpu", precision="fp32")


def _inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, CFG.latent_size), dtype=np.float32)
    pitches = rng.integers(CFG.pitch_min, CFG.pitch_max + 1, size=n)
    return z, pitches


def test_instrument_interface(bundle_path):
    s = Synth.load(bundle_path, output_rate=48000, device="cpu")
    assert s.sample_rate == 48000
    assert s.pitch_range == (24, 84)
    assert s.latent_size == 256
    assert s.note_length == 2 * 48000
    assert len(s.model_id) == 16
    assert s.name == "test model"
    assert s.device_name == "CPU"
    assert s.precision == "fp32"  # quarter nets stay fp32 under "auto"
    s.set_output_rate(44100)
    assert (s.sample_rate, s.note_length) == (44100, 88200)
    with pytest.raises(ValueError, match="output rate"):
        s.set_output_rate(0)


def test_render_matches_generator_plus_inverse(synth16, bundle_path):
    z, pitches = _inputs(3)
    waves = synth16.render(z, pitches)
    assert waves.shape == (3, CFG.spectral.audio_length)
    assert waves.dtype == np.float32 and np.all(np.isfinite(waves))
    assert np.abs(waves).max() > 0
    # independently: the bundle's generator, then the functional inverse path
    gen = Generator(CFG)
    gen.load_state_dict(synth16.bundle.state_dict)
    with torch.inference_mode():
        images = gen(torch.from_numpy(z), torch.from_numpy(pitches - CFG.pitch_min))
        expected = images_to_waves(images, CFG.spectral).numpy()
    scale = np.abs(expected).max()
    np.testing.assert_allclose(waves, expected, atol=1e-3 * scale)
    np.testing.assert_allclose(
        synth16.render_images(z, pitches), images.numpy(), rtol=1e-4, atol=1e-3
    )


def test_torch_inputs_and_batch_size_give_the_same_notes(synth16, bundle_path):
    z, pitches = _inputs(3, seed=1)
    ref = synth16.render(z, pitches)
    np.testing.assert_array_equal(
        synth16.render(torch.from_numpy(z), torch.from_numpy(pitches)), ref
    )
    one = Synth.load(bundle_path, 16000, "cpu", "fp32", batch_size=1)
    np.testing.assert_allclose(one.render(z, pitches), ref, atol=1e-4 * abs(ref).max())
    assert synth16.render(z[:0], pitches[:0]).shape == (0, CFG.spectral.audio_length)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_output_is_resampled_from_16k(synth16, bundle_path, rate):
    z, pitches = _inputs(2, seed=2)
    base = synth16.render(z, pitches)
    s = Synth.load(bundle_path, output_rate=rate, device="cpu", precision="fp32")
    high = s.render(z, pitches)
    assert high.shape == (2, round(CFG.spectral.audio_length * rate / 16000))
    back = soxr.resample(np.ascontiguousarray(high.T), rate, 16000, "HQ").T
    # random weights put energy up to 8 kHz; compare the band the resampler passes
    n = min(back.shape[1], base.shape[1])
    fb, fo = np.fft.rfft(back[:, :n]), np.fft.rfft(base[:, :n])
    band = np.fft.rfftfreq(n, 1 / 16000) < 7000
    err = np.sum(np.abs(fb[:, band] - fo[:, band]) ** 2)
    snr = 10 * np.log10(np.sum(np.abs(fo[:, band]) ** 2) / err)
    assert snr > 40


def test_images_to_waves_checks_shape(synth16):
    with pytest.raises(ValueError, match="images must have shape"):
        synth16.images_to_waves(np.zeros((1, 2, 10, 10), np.float32))


@pytest.mark.parametrize(
    "latents, pitches, match",
    [
        (np.zeros((2, 100), np.float32), np.array([60, 61]), "latents must have shape"),
        (np.zeros(256, np.float32), np.array([60]), "latents must have shape"),
        (np.zeros((2, 256), np.float32), np.array([60]), "pitches must have shape"),
        (np.zeros((2, 256), np.float32), np.array([60, 85]), "outside this model"),
        (np.zeros((1, 256), np.float32), np.array([23]), "outside this model"),
        (np.zeros((1, 256), np.float32), np.array([60.5]), "integer"),
        (np.full((1, 256), np.nan, np.float32), np.array([60]), "NaN"),
        (np.full((1, 256), np.inf, np.float32), np.array([60]), "NaN or Inf"),
    ],
)
def test_bad_input_gives_one_clear_error(synth16, latents, pitches, match):
    with pytest.raises(ValueError, match=match) as err:
        synth16.render(latents, pitches)
    assert "\n" not in str(err.value)


def test_missing_shipped_model_says_so(tmp_path, monkeypatch):
    fake_default = tmp_path / "models" / "default.safetensors"
    monkeypatch.setattr(synth_module, "default_model_path", lambda: fake_default)
    with pytest.raises(BundleError, match="no shipped model yet.*--model"):
        Synth.load(fake_default)
    with pytest.raises(BundleError, match="no model bundle"):
        Synth.load(tmp_path / "other.safetensors")


def test_bad_settings(bundle_path):
    with pytest.raises(ValueError, match="precision"):
        Synth.load(bundle_path, precision="fp8")
    with pytest.raises(ValueError, match="device"):
        Synth.load(bundle_path, device="no-such-device")
    assert pick_device("cpu").type == "cpu"


def test_auto_precision_follows_hardware_and_width(tmp_path):
    cfg = get_config("paper")
    path = tmp_path / "paper.safetensors"
    save_bundle(path, cfg, Generator(cfg).state_dict())
    s = Synth.load(path, device="cpu")
    assert s.precision == ("bf16" if native_bf16(torch.device("cpu")) else "fp32")
    assert Synth.load(path, device="cpu", precision="fp32").precision == "fp32"


def test_bf16_error_against_fp32_is_small(bundle_path):
    z, pitches = _inputs(2, seed=3)
    fp32 = Synth.load(bundle_path, 16000, "cpu", "fp32")
    bf16 = Synth.load(bundle_path, 16000, "cpu", "bf16")
    assert bf16.generator.to_rgb[0].weight.dtype == torch.bfloat16
    labels = torch.from_numpy(pitches - CFG.pitch_min)
    with torch.inference_mode():
        a = fp32.generator.forward_normalized(torch.from_numpy(z), labels)
        b = bf16.generator.forward_normalized(torch.from_numpy(z), labels).float()
    err = (a - b).abs().flatten()
    # tanh units (full range 2). This narrow net: mean ~1e-2 but single pixels up to
    # ~0.8 off, one reason "auto" keeps narrow nets in fp32 (paper: see synth.py).
    assert err.mean() < 0.03
    assert torch.quantile(err[::7], 0.99) < 0.15
    assert bf16.render_images(z, pitches).dtype == np.float32


@pytest.mark.gpu
def test_gpu_render_matches_cpu(bundle_path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    z, pitches = _inputs(3, seed=4)
    cpu = Synth.load(bundle_path, 16000, "cpu", "fp32").render(z, pitches)
    gpu = Synth.load(bundle_path, 16000, "cuda", "fp32")
    assert gpu.device_name != "CPU"
    # cuDNN may use TF32 for fp32 convolutions: a looser bound than CPU vs CPU
    np.testing.assert_allclose(gpu.render(z, pitches), cpu, atol=2e-2 * abs(cpu).max())


def test_a_bundle_exported_mid_growing_renders_at_its_progress(tmp_path):
    cfg = get_config("quarter_2s")
    gen = Generator(cfg).eval()
    path = tmp_path / "growing.safetensors"
    save_bundle(path, cfg, gen.state_dict(), {"progress": 1.5})
    synth = Synth.load(path, output_rate=16000, device="cpu", precision="fp32")
    assert synth.progress == 1.5
    z = np.random.default_rng(0).standard_normal((1, cfg.latent_size), np.float32)
    images = synth.render_images(z, np.array([60]))
    with torch.inference_mode():
        expect = gen(torch.from_numpy(z), torch.tensor([60 - cfg.pitch_min]), 1.5)
    np.testing.assert_allclose(np.asarray(images), expect.numpy(), atol=1e-4)


def test_render_window_is_the_note_where_the_window_starts_at_frame_zero(synth16):
    z, pitches = _inputs(2, seed=4)
    lo, _ = synth16.frames_for(0, 4000)
    assert lo == 0  # no phase offset: the samples must be the note's own
    window = synth16.render_window(z, pitches, np.array([0, 0]), 4000)
    whole = synth16.render(z, pitches)
    assert window.shape == (2, 4000) and window.dtype == np.float32
    peak = np.abs(whole).max()
    np.testing.assert_allclose(window, whole[:, :4000], rtol=0, atol=1e-3 * peak)


def test_render_window_mid_note_keeps_the_level_and_stops_at_the_end(synth16):
    z, pitches = _inputs(1, seed=5)
    n = synth16.note_length
    start = n // 2
    window = synth16.render_window(z, pitches, np.array([start]), 3200)[0]
    whole = synth16.render(z, pitches)[0, start : start + 3200]
    ratio = np.sqrt(np.mean(window**2) / np.mean(whole**2))
    assert 0.7 < ratio < 1.3  # same magnitudes, a phase offset per frequency
    tail = synth16.render_window(z, pitches, np.array([n - 100]), 3200)[0]
    assert np.all(tail[100:] == 0.0)  # past the note's end: silence
    with pytest.raises(ValueError, match="start"):
        synth16.render_window(z, pitches, np.array([-1]), 10)


def test_an_interrupt_stops_a_render_between_layers(bundle_path):
    from instrument.synth import RenderInterrupted

    synth = Synth.load(bundle_path, output_rate=16000, device="cpu")
    z, pitches = _inputs(1)
    synth.set_interrupt(lambda: True)
    with pytest.raises(RenderInterrupted):
        synth.render(z, pitches)
    synth.set_interrupt(None)
    assert synth.render(z, pitches).shape == (1, synth.note_length)


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
@pytest.mark.parametrize("where", [0.0, 0.37, 0.98])
def test_render_window_equals_the_inverse_of_an_image_silent_elsewhere(
    bundle_path, rate, where
):
    """Only the window's frames go through the inverse and the resampler; the samples
    are those of the whole inverse of the image with silence around the window."""
    import math

    from instrument.spectral_numpy import LOG_EPS

    synth = Synth.load(bundle_path, output_rate=rate, device="cpu")
    z, pitches = _inputs(1, seed=9)
    length = int(0.15 * rate)
    start = int(where * (synth.note_length - length))
    window = synth.render_window(z, pitches, np.array([start]), length)[0]
    spec = synth.config.spectral
    lo, hi = synth.frames_for(start, length)
    with torch.inference_mode():
        part = synth.generator.forward_window(
            torch.from_numpy(z), torch.from_numpy(pitches - CFG.pitch_min), lo, hi
        ).float()
        images = torch.full((1, 2, spec.n_frames, spec.n_bins), math.log(LOG_EPS))
        images[:, 1] = 0.0
        images[:, :, lo:hi] = part
    reference = synth.images_to_waves(images)[0, start : start + length]
    peak = np.abs(reference).max()
    assert peak > 0
    np.testing.assert_allclose(window, reference, rtol=0, atol=2e-3 * peak)
