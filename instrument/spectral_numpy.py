"""GANSynth's spectral representation in plain numpy, and the mel matrices (one source).

The UI draws rainbowgrams with this module, so it must never import torch;
``instrument.spectral`` (the torch version, batched and differentiable) takes the mel
matrices from here, so that there is exactly one implementation of them.

Layout, as in ``instrument.spectral``: a wave is ``[N]`` (one note) or ``[B, N]``;
an STFT is ``[T, F]`` or ``[B, T, F]`` complex; an image is ``[2, T, F]`` or
``[B, 2, T, F]`` with channel 0 = log magnitude (linear) or log mel power (mel) and
channel 1 = (mel) instantaneous frequency, ``T = cfg.n_frames`` frames and
``F = cfg.n_bins`` bins (docs/GANSYNTH.md section 2). Results are float64
(complex128), or float32 (complex64) when the input was single precision.

The mel matrix follows the reference code, including a detail that its own description
(docs/GANSYNTH.md 2.3) leaves out: the reference widens narrow bands *in place* on views
of one shared array of band edges, so widening band ``i`` also moves the centre of band
``i - 1`` and the lower edge and centre of bands ``i + 1`` and ``i + 2`` before they are
checked. With 1024 bins at 16 kHz this widens 852 bands (not 498), leaves 2,042
non-zeros and gives non-zero column sums 0.665..2.76. The coefficients that magenta-js
ships for its GANSynth port (``mel_sparse_coeffs.ts``) are reproduced exactly by this
shared-edge rule (and not by independent bands), which is how it was checked.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from instrument.config import SpectralConfig

__all__ = [
    "LOG_EPS",
    "MelBands",
    "hz_to_mel",
    "mel_to_hz",
    "mel_bands",
    "linear_to_mel_matrix",
    "mel_to_linear_matrix",
    "hann_window",
    "unwrap",
    "instantaneous_frequency",
    "waves_to_stfts",
    "stfts_to_waves",
    "stfts_to_specgrams",
    "specgrams_to_stfts",
    "specgrams_to_melspecgrams",
    "melspecgrams_to_specgrams",
    "waves_to_images",
    "images_to_waves",
    "normalize",
    "denormalize",
    "rainbowgram",
]

LOG_EPS = 1e-6  # added before every log, as the reference does
MEL_BREAK_HZ = 700.0  # HTK mel scale: mel(f) = 1127 ln(1 + f / 700)
MEL_Q = 1127.0
OLA_GAIN = 1.5  # sum of squared periodic Hann windows at 75 % overlap


# ---------------------------------------------------------------- mel matrices


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel of frequencies in Hz (float64, same shape)."""
    return MEL_Q * np.log1p(np.asarray(hz, np.float64) / MEL_BREAK_HZ)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Frequencies in Hz of HTK mel values (float64, same shape)."""
    return MEL_BREAK_HZ * np.expm1(np.asarray(mel, np.float64) / MEL_Q)


@dataclass(frozen=True, slots=True)
class MelBands:
    """The reference's triangular mel bands; edges in Hz, each ``[F_mel] float64``."""

    lower_hz: np.ndarray  # where each triangle starts
    center_hz: np.ndarray  # its peak (weight 1)
    upper_hz: np.ndarray  # where it ends
    widened: np.ndarray  # [F_mel] bool: the band was narrower than 1.5 bins and widened


def _read_only(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=8)
def _mel_bands(sample_rate: int, n_bins: int) -> MelBands:
    nyquist = sample_rate / 2.0
    # n_mel + 2 edges, equally spaced in mel over [0, nyquist]; band i is
    # (edges[i], edges[i + 1], edges[i + 2]). One shared array, as the reference.
    edges = np.linspace(hz_to_mel(0.0), hz_to_mel(nyquist), n_bins + 2)
    min_width_hz = 1.5 * nyquist / n_bins  # 1.5 frequency bins
    widened = np.zeros(n_bins, bool)
    for i in range(n_bins):
        lower, center, upper = edges[i], edges[i + 1], edges[i + 2]
        if mel_to_hz(upper) - mel_to_hz(lower) < min_width_hz:
            rhs = 0.5 * min_width_hz / (mel_to_hz(center) + MEL_BREAK_HZ)
            half_width = MEL_Q * np.arcsinh(rhs)  # = ln(rhs + sqrt(1 + rhs^2))
            edges[i] = center - half_width  # moves later bands' edges too (see top)
            edges[i + 2] = center + half_width
            widened[i] = True
    hz = mel_to_hz(edges)
    return MelBands(
        lower_hz=_read_only(hz[:-2].copy()),
        center_hz=_read_only(hz[1:-1].copy()),
        upper_hz=_read_only(hz[2:].copy()),
        widened=_read_only(widened),
    )


def mel_bands(spectral: SpectralConfig) -> MelBands:
    """The ``n_bins`` mel bands over [0, sample_rate / 2] of the reference (cached)."""
    return _mel_bands(spectral.sample_rate, spectral.n_bins)


@functools.lru_cache(maxsize=8)
def _linear_to_mel(sample_rate: int, n_bins: int) -> np.ndarray:
    bands = _mel_bands(sample_rate, n_bins)
    # The reference's own grid for the kept bins 1..n_bins-1: linspace(0, nyq, n)[1:]
    # (not the true STFT grid k * sr / n_fft); row 0 stays zero.
    freqs = np.linspace(0.0, sample_rate / 2.0, n_bins)[1:, None]
    lo, c, hi = bands.lower_hz[None], bands.center_hz[None], bands.upper_hz[None]
    rising = (freqs - lo) / (c - lo)
    falling = (hi - freqs) / (hi - c)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return _read_only(np.concatenate([np.zeros((1, n_bins)), weights]))


@functools.lru_cache(maxsize=8)
def _mel_to_linear(sample_rate: int, n_bins: int) -> np.ndarray:
    m = _linear_to_mel(sample_rate, n_bins)  # [lin, mel]
    # d[f] = 1 / sum_k m[f, k] * colsum(m)[k]: the reference's row normaliser
    s = m @ m.sum(axis=0)
    big = np.abs(s) > 1e-8
    d = np.where(big, 1.0 / np.where(big, s, 1.0), s)
    return _read_only(np.ascontiguousarray(m.T * d[None, :]))


def linear_to_mel_matrix(spectral: SpectralConfig) -> np.ndarray:
    """The reference's linear-to-mel weights, ``[F_lin, F_mel] float64`` (cached).

    ``mel_power = linear_power @ L2M``; rows are the kept STFT bins (DC dropped), row 0
    and the last row are all zero, and so is mel column 0.
    """
    return _linear_to_mel(spectral.sample_rate, spectral.n_bins)


def mel_to_linear_matrix(spectral: SpectralConfig) -> np.ndarray:
    """The reference's approximate inverse mel matrix, ``[F_mel, F_lin] float64``.

    ``M2L[j, f] = L2M[f, j] / sum_k L2M[f, k] * colsum(L2M)[k]``: the transpose with its
    linear rows normalised. It is not a pseudo-inverse: it smooths.
    """
    return _mel_to_linear(spectral.sample_rate, spectral.n_bins)


@dataclass(frozen=True, slots=True)
class _SparseColumns:
    """A matrix ``[F_in, F_out]`` with few non-zeros per column, for ``x @ matrix``.

    The mel matrices have at most 6 (L2M) and 2 (M2L) non-zeros per column, so a few
    gathers replace a dense product of a million weights (about 10x faster here).
    """

    index: np.ndarray  # [F_out, K] intp: the input bins of each output bin
    weight: np.ndarray  # [F_out, K] float64: their weights (0 pads unused slots)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``x @ matrix`` for ``x`` ``[..., F_in]`` -> ``[..., F_out]`` float64."""
        x = np.ascontiguousarray(x)
        out = x[..., self.index[:, 0]] * self.weight[:, 0]
        for k in range(1, self.index.shape[1]):
            out += x[..., self.index[:, k]] * self.weight[:, k]
        return np.ascontiguousarray(out)  # fancy indexing may leave another layout


def _sparse_columns(matrix: np.ndarray) -> _SparseColumns:
    n_out = matrix.shape[1]
    k = max(1, int(np.count_nonzero(matrix, axis=0).max()))
    index = np.zeros((n_out, k), np.intp)
    weight = np.zeros((n_out, k))
    for j in range(n_out):
        rows = np.flatnonzero(matrix[:, j])
        index[j, : len(rows)] = rows
        weight[j, : len(rows)] = matrix[rows, j]
    return _SparseColumns(_read_only(index), _read_only(weight))


@functools.lru_cache(maxsize=8)
def _mel_columns(sample_rate: int, n_bins: int) -> tuple[_SparseColumns, ...]:
    """(L2M, M2L) as ``_SparseColumns``."""
    return (
        _sparse_columns(_linear_to_mel(sample_rate, n_bins)),
        _sparse_columns(_mel_to_linear(sample_rate, n_bins)),
    )


@functools.lru_cache(maxsize=8)
def _hann(n_fft: int) -> np.ndarray:
    return _read_only(0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft))


def hann_window(spectral: SpectralConfig) -> np.ndarray:
    """Periodic Hann window of ``n_fft`` samples, ``[n_fft] float64`` (read-only)."""
    return _hann(spectral.n_fft)


# ---------------------------------------------------------------- validation


def _describe(x: object) -> str:
    if isinstance(x, np.ndarray):
        return f"shape {tuple(x.shape)} {x.dtype}"
    return f"a {type(x).__name__}"


def _checked(
    x: object, what: str, shapes: tuple[tuple[int, ...], ...], kind: str
) -> np.ndarray:
    """``x`` if it is an array of dtype kind ``kind`` ("f" real, "c" complex) with one
    of ``shapes`` (-1 = any size), else one clear ValueError."""
    expected = " or ".join(
        "[" + ", ".join("batch" if n < 0 else str(n) for n in s) + "]" for s in shapes
    )
    if not isinstance(x, np.ndarray) or x.dtype.kind != kind:
        adjective = "real float" if kind == "f" else "complex"
        raise ValueError(
            f"{what} must be a {adjective} array of shape {expected}, "
            f"got {_describe(x)}"
        )
    if not any(
        x.ndim == len(s) and all(n in (-1, m) for n, m in zip(s, x.shape, strict=True))
        for s in shapes
    ):
        raise ValueError(f"{what} must have shape {expected}, got {_describe(x)}")
    return x


def _as_real(x: object, what: str, shapes: tuple[tuple[int, ...], ...]) -> np.ndarray:
    return _checked(x, what, shapes, "f")


def _as_complex(
    x: object, what: str, shapes: tuple[tuple[int, ...], ...]
) -> np.ndarray:
    return _checked(x, what, shapes, "c")


def _real_dtype(x: np.ndarray) -> type:
    single = x.dtype in (np.float32, np.complex64, np.float16)
    return np.float32 if single else np.float64


def _image_shapes(cfg: SpectralConfig) -> tuple[tuple[int, ...], ...]:
    return ((2, cfg.n_frames, cfg.n_bins), (-1, 2, cfg.n_frames, cfg.n_bins))


def _stft_shapes(cfg: SpectralConfig) -> tuple[tuple[int, ...], ...]:
    return ((cfg.n_frames, cfg.n_bins), (-1, cfg.n_frames, cfg.n_bins))


# ---------------------------------------------------------------- phase


def unwrap(phase: np.ndarray, axis: int = -2) -> np.ndarray:
    """Unwrap phase along ``axis`` like the reference (floor-mod of diffs, discont pi).

    Same shape and dtype as ``phase``.
    """
    dd = np.diff(phase, axis=axis)
    ddmod = np.mod(dd + np.pi, 2.0 * np.pi) - np.pi
    ddmod = np.where((ddmod == -np.pi) & (dd > 0), np.pi, ddmod)
    correction = np.cumsum(ddmod - dd, axis=axis)
    first = np.zeros_like(np.take(phase, [0], axis=axis))
    return phase + np.concatenate([first, correction], axis=axis)


def instantaneous_frequency(phase: np.ndarray, axis: int = -2) -> np.ndarray:
    """Unwrapped phase steps along ``axis`` / pi; slice 0 is the raw phase / pi."""
    unwrapped = unwrap(phase, axis)
    first = np.take(unwrapped, [0], axis=axis)
    return np.concatenate([first, np.diff(unwrapped, axis=axis)], axis=axis) / np.pi


# ---------------------------------------------------------------- symmetric pairs


def waves_to_stfts(waves: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    """Left-padded, uncentred STFT with the DC bin dropped.

    Parameters
    ----------
    waves : ``[N]`` or ``[B, N]`` float, ``N = cfg.audio_length``.

    Returns
    -------
    ``[T, F]`` or ``[B, T, F]`` complex, ``T = cfg.n_frames``, ``F = cfg.n_bins``.
    """
    waves = _as_real(waves, "waves", ((cfg.audio_length,), (-1, cfg.audio_length)))
    padded = np.pad(
        waves.astype(np.float64), [(0, 0)] * (waves.ndim - 1) + [(cfg.pad_left, 0)]
    )
    frames = np.lib.stride_tricks.sliding_window_view(padded, cfg.n_fft, axis=-1)
    frames = frames[..., :: cfg.hop_length, :] * hann_window(cfg)
    stfts = np.fft.rfft(frames, axis=-1)[..., 1:]
    return stfts.astype(
        np.complex64 if _real_dtype(waves) == np.float32 else np.complex128
    )


def stfts_to_waves(stfts: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    """Inverse of ``waves_to_stfts``: zero DC bin, irfft, window hann/1.5, overlap-add.

    Parameters
    ----------
    stfts : ``[T, F]`` or ``[B, T, F]`` complex.

    Returns
    -------
    ``[N]`` or ``[B, N]`` float waves (the first ``cfg.pad_left`` samples cropped).
    """
    stfts = _as_complex(stfts, "stfts", _stft_shapes(cfg))
    dc = np.zeros(stfts.shape[:-1] + (1,), stfts.dtype)
    frames = np.fft.irfft(np.concatenate([dc, stfts], axis=-1), n=cfg.n_fft, axis=-1)
    frames = frames * (hann_window(cfg) / OLA_GAIN)
    out = _overlap_add(frames, cfg.hop_length)
    return out[..., cfg.pad_left :].astype(_real_dtype(stfts))


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """``[..., T, n_fft]`` -> ``[..., hop * (T - 1) + n_fft]`` (n_fft = k * hop)."""
    *lead, n_frames, n_fft = frames.shape
    r = n_fft // hop
    parts = frames.reshape(*lead, n_frames, r, hop)
    out = np.zeros((*lead, n_frames + r - 1, hop), frames.dtype)
    for k in range(r):
        out[..., k : k + n_frames, :] += parts[..., k, :]
    return out.reshape(*lead, (n_frames + r - 1) * hop)


def stfts_to_specgrams(stfts: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    """``[..., T, F]`` complex -> ``[..., 2, T, F]`` real: log(|X| + 1e-6) and IF."""
    stfts = _as_complex(stfts, "stfts", _stft_shapes(cfg))
    x = stfts.astype(np.complex128)
    logmag = np.log(np.abs(x) + LOG_EPS)
    ifreq = instantaneous_frequency(np.angle(x), axis=-2)
    return np.stack([logmag, ifreq], axis=-3).astype(_real_dtype(stfts))


def specgrams_to_stfts(specgrams: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    """``[..., 2, T, F]`` (log magnitude, IF) -> ``[..., T, F]`` complex."""
    specgrams = _as_real(specgrams, "specgrams", _image_shapes(cfg))
    x = specgrams.astype(np.float64)
    mag = np.exp(x[..., 0, :, :])
    phase = np.cumsum(x[..., 1, :, :] * np.pi, axis=-2)
    stfts = mag * np.exp(1j * phase)
    return stfts.astype(
        np.complex64 if _real_dtype(specgrams) == np.float32 else np.complex128
    )


def specgrams_to_melspecgrams(specgrams: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    """``[..., 2, T, F]`` (log magnitude, IF) -> (log mel power, mel IF)."""
    specgrams = _as_real(specgrams, "specgrams", _image_shapes(cfg))
    x = specgrams.astype(np.float64)
    l2m, _ = _mel_columns(cfg.sample_rate, cfg.n_bins)
    mag2 = np.exp(2.0 * x[..., 0, :, :])
    phase = np.cumsum(x[..., 1, :, :] * np.pi, axis=-2)
    logmelmag2 = np.log(l2m.apply(mag2) + LOG_EPS)
    mel_if = instantaneous_frequency(l2m.apply(phase), axis=-2)
    return np.stack([logmelmag2, mel_if], axis=-3).astype(_real_dtype(specgrams))


def melspecgrams_to_specgrams(
    melspecgrams: np.ndarray, cfg: SpectralConfig
) -> np.ndarray:
    """``[..., 2, T, F]`` (log mel power, mel IF) -> (log magnitude, IF), approx."""
    melspecgrams = _as_real(melspecgrams, "melspecgrams", _image_shapes(cfg))
    x = melspecgrams.astype(np.float64)
    _, m2l = _mel_columns(cfg.sample_rate, cfg.n_bins)
    mel_phase = np.cumsum(x[..., 1, :, :] * np.pi, axis=-2)
    ifreq = instantaneous_frequency(m2l.apply(mel_phase), axis=-2)
    logmag = 0.5 * np.log(m2l.apply(np.exp(x[..., 0, :, :])) + LOG_EPS)
    return np.stack([logmag, ifreq], axis=-3).astype(_real_dtype(melspecgrams))


def waves_to_images(waves: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    """``[N]`` or ``[B, N]`` waves -> raw ``[2, T, F]`` or ``[B, 2, T, F]`` images.

    IF-Mel (log mel power, mel IF) when ``cfg.mel``, else (log magnitude, IF).
    """
    specgrams = stfts_to_specgrams(waves_to_stfts(waves, cfg), cfg)
    return specgrams_to_melspecgrams(specgrams, cfg) if cfg.mel else specgrams


def images_to_waves(images: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    """Raw ``[2, T, F]`` or ``[B, 2, T, F]`` images -> ``[N]`` or ``[B, N]`` waves."""
    specgrams = melspecgrams_to_specgrams(images, cfg) if cfg.mel else images
    return stfts_to_waves(specgrams_to_stfts(specgrams, cfg), cfg)


# ---------------------------------------------------------------- normalisation


def _affine(cfg: SpectralConfig) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([cfg.mag_normalizer[0], cfg.if_normalizer[0]])[:, None, None]
    b = np.array([cfg.mag_normalizer[1], cfg.if_normalizer[1]])[:, None, None]
    return a, b


def normalize(images: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    """Raw images -> ``clip(a * x + b, -1, 1)`` per channel (same shape and dtype)."""
    images = _as_real(images, "images", _image_shapes(cfg))
    a, b = _affine(cfg)
    return np.clip(a * images + b, -1.0, 1.0).astype(images.dtype)


def denormalize(images: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    """Normalised images -> raw ``(y - b) / a`` per channel (no clip)."""
    images = _as_real(images, "images", _image_shapes(cfg))
    a, b = _affine(cfg)
    return ((images - b) / a).astype(images.dtype)


# ---------------------------------------------------------------- display


def rainbowgram(
    wave: np.ndarray, cfg: SpectralConfig, mel: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The two planes of a GANSynth/NSynth rainbowgram of one note.

    Brightness is the log magnitude, hue the instantaneous frequency.

    Parameters
    ----------
    wave : ``[n] float``, ``n <= cfg.audio_length`` (a shorter note is zero-padded
        at the end).
    mel : mel frequency axis (default: ``cfg.mel``).

    Returns
    -------
    log_magnitude : ``[T, F] float32``, natural log of the magnitude (for mel:
        half the log mel power), ``log(1e-6) = -13.8`` for silence.
    ifreq : ``[T, F] float32``, the (mel) instantaneous frequency, in [-1, 1] after
        frame 0 (frame 0 holds the raw phase / pi; a mel frame 0 can exceed 1).
    """
    if not isinstance(wave, np.ndarray) or wave.dtype.kind != "f" or wave.ndim != 1:
        raise ValueError(f"wave must be a 1-d float array, got {_describe(wave)}")
    if len(wave) > cfg.audio_length:
        raise ValueError(
            f"wave has {len(wave)} samples, more than a note of {cfg.audio_length}"
        )
    note = np.zeros(cfg.audio_length, np.float64)
    note[: len(wave)] = wave
    specgrams = stfts_to_specgrams(waves_to_stfts(note, cfg), cfg)
    use_mel = cfg.mel if mel is None else mel
    if use_mel:
        logmel, ifreq = specgrams_to_melspecgrams(specgrams, cfg)
        return (0.5 * logmel).astype(np.float32), ifreq.astype(np.float32)
    return specgrams[0].astype(np.float32), specgrams[1].astype(np.float32)
