"""instrument.spectral_numpy: the mel matrices' facts, the numpy twin against torch on
real SoundFont notes, the rainbowgram planes, and that it never imports torch.

The mel matrix follows the reference code, whose band widening works in place on one
shared array of band edges (see the module docstring): 852 of 1024 bands widened,
2,042 non-zeros, non-zero column sums 0.665..2.762. docs/GANSYNTH.md 2.3 states 498
and 0.26..2.76 for bands widened independently, which is not what the reference runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from instrument import spectral_numpy as sn
from instrument.config import SpectralConfig, get_config

FOUR_S = get_config("paper").spectral
TWO_S = get_config("quarter_2s").spectral
LINEAR = SpectralConfig(mel=False)
NOTES = [(0, 60), (73, 72), (32, 36)]  # piano, flute, acoustic bass


@pytest.fixture(scope="module")
def notes(sf_renderer) -> np.ndarray:
    """Three real 4 s notes ``[3, 64000] float64``, held 3 s."""
    return np.stack([sf_renderer.render_note(p, k) for p, k in NOTES]).astype(
        np.float64
    )


def test_mel_matrix_facts():
    l2m = sn.linear_to_mel_matrix(FOUR_S)
    assert l2m.shape == (1024, 1024) and l2m.dtype == np.float64
    assert not l2m.flags.writeable  # a cached array nobody may change
    assert np.all(l2m[0] == 0) and np.all(l2m[1023] == 0)  # DC-adjacent row, 8 kHz
    assert np.all(l2m[:, 0] == 0)
    assert np.all(l2m >= 0) and l2m.max() <= 1.0
    sums = l2m.sum(axis=0)[1:]
    assert sums.min() == pytest.approx(0.6652, abs=1e-3)
    assert sums.max() == pytest.approx(2.7616, abs=1e-3)
    assert np.count_nonzero(l2m) == 2042
    bands = sn.mel_bands(FOUR_S)
    assert bands.widened.sum() == 852
    # the triangles peak at their centres: HTK mel, 700 Hz break, 1127 Q, 0..8000 Hz
    assert bands.center_hz[-1] == pytest.approx(
        sn.mel_to_hz(sn.hz_to_mel(8000.0) * 1024 / 1025)
    )
    assert sn.hz_to_mel(700.0) == pytest.approx(1127.0 * np.log(2.0))


def test_mel_matrix_depends_only_on_rate_and_bins():
    assert sn.linear_to_mel_matrix(TWO_S) is sn.linear_to_mel_matrix(FOUR_S)
    assert sn.mel_to_linear_matrix(LINEAR) is sn.mel_to_linear_matrix(FOUR_S)


def test_inverse_mel_matrix_is_the_row_normalised_transpose():
    l2m = sn.linear_to_mel_matrix(FOUR_S)
    m2l = sn.mel_to_linear_matrix(FOUR_S)
    assert m2l.shape == (1024, 1024) and m2l.dtype == np.float64
    assert np.array_equal(m2l != 0, l2m.T != 0)  # same support, 99.8 % sparse
    # M2L[j, f] = L2M[f, j] / sum_k L2M[f, k] colsum(L2M)[k] (rows 0, 1023 stay 0)
    denom = l2m @ l2m.sum(axis=0)
    f = 500
    np.testing.assert_allclose(m2l[:, f], l2m[f] / denom[f], rtol=1e-12)
    # a flat linear power spectrum comes back flat (away from the zero edges)
    flat = np.ones(1024)
    np.testing.assert_allclose((flat @ l2m @ m2l)[5:1020], 1.0, rtol=1e-9)


def test_twin_equals_torch_on_real_notes(notes):
    torch = pytest.importorskip("torch")
    from instrument import spectral as sp

    for cfg in (FOUR_S, LINEAR):
        images = sn.waves_to_images(notes, cfg)
        timages = sp.waves_to_images(torch.tensor(notes), cfg).numpy()
        np.testing.assert_allclose(images[:, 0], timages[:, 0], atol=1e-8, rtol=0)
        np.testing.assert_allclose(images[:, 1], timages[:, 1], atol=1e-6, rtol=0)
        back = sn.images_to_waves(images, cfg)
        tback = sp.images_to_waves(torch.tensor(images), cfg).numpy()
        np.testing.assert_allclose(back, tback, atol=1e-9, rtol=0)
    stfts = sn.waves_to_stfts(notes, FOUR_S)
    tstfts = sp.waves_to_stfts(torch.tensor(notes), FOUR_S).numpy()
    np.testing.assert_allclose(stfts, tstfts, atol=1e-10, rtol=0)
    norm = sn.normalize(images, FOUR_S)
    tnorm = sp.normalize(torch.tensor(images), FOUR_S).numpy()
    np.testing.assert_allclose(norm, tnorm, atol=1e-12)
    np.testing.assert_allclose(
        sn.denormalize(norm, FOUR_S),
        sp.denormalize(torch.tensor(norm), FOUR_S).numpy(),
        atol=1e-12,
    )


def test_single_note_equals_its_batch_row(notes):
    batch = sn.waves_to_images(notes[:2], FOUR_S)
    single = sn.waves_to_images(notes[1], FOUR_S)
    assert single.shape == (2, 128, 1024)
    np.testing.assert_array_equal(single, batch[1])
    assert sn.images_to_waves(single, FOUR_S).shape == (64000,)


def test_results_are_c_contiguous(notes):
    images = sn.waves_to_images(notes[:2], FOUR_S)
    assert images.flags.c_contiguous
    assert sn.melspecgrams_to_specgrams(images, FOUR_S).flags.c_contiguous
    logmag, ifreq = sn.rainbowgram(notes[0], FOUR_S)
    assert logmag.flags.c_contiguous and ifreq.flags.c_contiguous


def test_dtype_follows_the_input(notes):
    images = sn.waves_to_images(notes[0].astype(np.float32), FOUR_S)
    assert images.dtype == np.float32
    assert sn.images_to_waves(images, FOUR_S).dtype == np.float32
    assert sn.waves_to_stfts(notes[0], FOUR_S).dtype == np.complex128


def test_linear_round_trip(notes):
    spectrum = np.fft.rfft(notes, axis=-1)
    spectrum[:, np.fft.rfftfreq(64000, 1 / 16000) < 20.0] = 0.0  # DC bin is dropped
    waves = np.fft.irfft(spectrum, n=64000, axis=-1)
    back = sn.images_to_waves(sn.waves_to_images(waves, LINEAR), LINEAR)
    keep = slice(0, 64000 - 2048)
    err = ((waves[:, keep] - back[:, keep]) ** 2).sum(-1)
    snr = 10 * np.log10((waves[:, keep] ** 2).sum(-1) / err)
    assert snr.min() >= 60.0, snr


def test_rainbowgram_of_a_sine_shows_its_frequency():
    sr, hop = FOUR_S.sample_rate, FOUR_S.hop_length
    freq = 440.0
    t = np.arange(FOUR_S.audio_length) / sr
    wave = 0.5 * np.sin(2 * np.pi * freq * t)
    logmag, ifreq = sn.rainbowgram(wave, FOUR_S, mel=False)
    assert logmag.shape == ifreq.shape == (128, 1024)
    assert logmag.dtype == ifreq.dtype == np.float32
    frame = 64
    peak = int(np.argmax(logmag[frame]))
    assert abs((peak + 1) * sr / FOUR_S.n_fft - freq) <= sr / FOUR_S.n_fft  # DC dropped
    advance = 2 * np.pi * freq * hop / sr  # phase step per hop, wrapped, over pi
    expected = np.angle(np.exp(1j * advance)) / np.pi
    assert ifreq[frame, peak] == pytest.approx(expected, abs=1e-4)
    assert np.all(np.abs(ifreq[1:]) <= 1.0 + 1e-6)


def test_rainbowgram_of_a_real_note(notes):
    logmag, ifreq = sn.rainbowgram(notes[0], FOUR_S)  # mel, as cfg says
    assert logmag.shape == ifreq.shape == (128, 1024) and logmag.dtype == np.float32
    assert np.all(logmag[:3] == pytest.approx(0.5 * np.log(1e-6)))  # padding frames
    assert logmag[10:80].max() > 0.0  # the held note is loud
    # a short note is padded with silence at the end
    short_logmag, _ = sn.rainbowgram(notes[0][:16000], FOUR_S)
    np.testing.assert_allclose(short_logmag[:20], logmag[:20], atol=1e-5)
    assert short_logmag[-1].max() < logmag[-1].max()


@pytest.mark.parametrize(
    "fn, bad, match",
    [
        (sn.waves_to_images, np.zeros(63999), r"\[64000\] or \[batch, 64000\]"),
        (sn.waves_to_images, np.zeros((2, 2, 64000)), "shape"),
        (sn.waves_to_images, np.zeros(64000, np.int16), "real float array"),
        (sn.waves_to_images, [0.0] * 64000, "got a list"),
        (sn.stfts_to_waves, np.zeros((128, 1024)), "complex array"),
        (sn.images_to_waves, np.zeros((3, 128, 1024)), r"\[2, 128, 1024\]"),
        (sn.images_to_waves, np.zeros((2, 64, 1024)), r"\[2, 128, 1024\]"),
        (sn.specgrams_to_stfts, np.zeros((2, 128, 1024), complex), "real float"),
        (sn.normalize, np.zeros((1, 2, 128, 512)), "shape"),
    ],
)
def test_bad_input_raises_one_clear_value_error(fn, bad, match):
    with pytest.raises(ValueError, match=match) as info:
        fn(bad, FOUR_S)
    assert "\n" not in str(info.value)


def test_rainbowgram_rejects_bad_waves():
    with pytest.raises(ValueError, match="more than a note"):
        sn.rainbowgram(np.zeros(64001), FOUR_S)
    with pytest.raises(ValueError, match="1-d float"):
        sn.rainbowgram(np.zeros((2, 100)), FOUR_S)


def test_module_never_imports_torch():
    code = (
        "import sys, instrument.spectral_numpy as sn\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    repo_root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root)
