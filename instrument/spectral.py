"""GANSynth's spectral representation in torch: batched, differentiable, any device.

Waves ``[B, N]`` (``N = cfg.audio_length``) become images ``[B, 2, T, F]`` (channels
first: ``T = cfg.n_frames`` frames, ``F = cfg.n_bins`` bins) and back, exactly as the
reference code computes them (docs/GANSYNTH.md section 2): left padding of
``cfg.pad_left`` zeros, uncentred STFT with a periodic Hann window, DC bin dropped,
log(|X| + 1e-6), instantaneous frequency (IF) by floor-mod unwrap, then for IF-Mel
log mel *power* + 1e-6 and mel IF; the inverse uses the row-normalised approximate
inverse mel matrix and an overlap-add with window hann / 1.5 and no edge
renormalisation. Channel 0 is log magnitude (linear) or log mel power (mel), channel 1
the (mel) IF. Values are raw; ``normalize`` maps them to the networks' [-1, 1].

The functions work on float32 and float64 (complex64/complex128 for STFTs) on any
device; on CPU the mel products use sparse CSR matrices (99.8 % of the entries are
zero), elsewhere dense ones. ``SpectralTransform`` caches the window and the mel
matrices on its device: its ``inverse`` is the fast path the synthesizer uses at
inference (in-place, no autograd graph, frames that only cover the padding skipped).

The mel matrices come from ``instrument.spectral_numpy`` (one implementation).
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import torch

from instrument.config import SpectralConfig
from instrument.spectral_numpy import (
    LOG_EPS,
    OLA_GAIN,
    linear_to_mel_matrix,
    mel_to_linear_matrix,
)

__all__ = [
    "linear_to_mel_matrix",
    "mel_to_linear_matrix",
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
    "SpectralTransform",
]

_REAL = (torch.float32, torch.float64)
_COMPLEX = (torch.complex64, torch.complex128)


# ---------------------------------------------------------------- validation


def _describe(x: object) -> str:
    if isinstance(x, torch.Tensor):
        return f"shape {list(x.shape)} {str(x.dtype).removeprefix('torch.')}"
    return f"a {type(x).__name__}"


def _check(
    x: object, what: str, shape: tuple[int, ...], complex_: bool
) -> torch.Tensor:
    """``x`` if a tensor of ``shape`` (-1 = any batch size), else a ValueError."""
    expected = "[" + ", ".join("batch" if n < 0 else str(n) for n in shape) + "]"
    kind = "complex64/complex128" if complex_ else "float32/float64"
    dtypes = _COMPLEX if complex_ else _REAL
    if not isinstance(x, torch.Tensor) or x.dtype not in dtypes:
        raise ValueError(
            f"{what} must be a {kind} tensor of shape {expected}, got {_describe(x)}"
        )
    if x.ndim != len(shape) or any(
        n >= 0 and n != m for n, m in zip(shape, x.shape, strict=True)
    ):
        raise ValueError(f"{what} must have shape {expected}, got {_describe(x)}")
    return x


def _check_waves(waves: object, cfg: SpectralConfig) -> torch.Tensor:
    return _check(waves, "waves", (-1, cfg.audio_length), complex_=False)


def _check_stfts(stfts: object, cfg: SpectralConfig) -> torch.Tensor:
    return _check(stfts, "stfts", (-1, cfg.n_frames, cfg.n_bins), complex_=True)


def _check_images(images: object, cfg: SpectralConfig, what: str) -> torch.Tensor:
    return _check(images, what, (-1, 2, cfg.n_frames, cfg.n_bins), complex_=False)


# ---------------------------------------------------------------- cached constants


def _constant(
    array: np.ndarray, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    # A normal tensor even when first asked for under inference_mode, so that a cached
    # constant can later be used in autograd.
    with torch.inference_mode(False):
        return torch.tensor(array, dtype=dtype, device=device)


@functools.lru_cache(maxsize=16)
def _window(n_fft: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    with torch.inference_mode(False):
        return torch.hann_window(n_fft, periodic=True, dtype=dtype, device=device)


@functools.lru_cache(maxsize=16)
def _mel_matrices(
    cfg: SpectralConfig, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """(L2M ``[F, F]``, M2L ``[F, F]``): sparse CSR on CPU, dense elsewhere."""
    l2m = _constant(linear_to_mel_matrix(cfg), device, dtype)
    m2l = _constant(mel_to_linear_matrix(cfg), device, dtype)
    return _cpu_sparse(l2m), _cpu_sparse(m2l)


def _key(x: torch.Tensor) -> tuple[torch.device, torch.dtype]:
    real = x.real.dtype if x.is_complex() else x.dtype
    return x.device, real


def _bins_product(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """``x @ matrix`` over the last dimension (``[..., F_in]`` -> ``[..., F_out]``).

    Folds the leading dimensions into rows first: a dense @ sparse CSR product cannot
    broadcast, so ``torch.matmul`` fails on inputs it would not fold by itself.
    """
    rows = x.reshape(-1, x.shape[-1])
    return (rows @ matrix).view(*x.shape[:-1], matrix.shape[-1])


def _cpu_sparse(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix`` as sparse CSR on CPU (about 4x faster there), unchanged elsewhere.

    The mel matrices are 99.8 % zeros; on a GPU the dense product is already cheap.
    """
    if matrix.device.type != "cpu":
        return matrix
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        with torch.inference_mode(False):
            return matrix.to_sparse_csr()


# ---------------------------------------------------------------- phase


def _cumsum(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``torch.cumsum(x, dim)``; on CPU without autograd a loop of slice additions.

    ``torch.cumsum`` along a dimension that is not the last one is several times
    slower on CPU than adding the slices one after the other (measured 58 vs 8 ms
    for [61, 128, 1024] float32); results agree to float rounding.
    """
    dim = dim % x.ndim
    if (
        x.device.type != "cpu"
        or dim == x.ndim - 1
        or (torch.is_grad_enabled() and x.requires_grad)
    ):
        return torch.cumsum(x, dim=dim)
    out = torch.empty_like(x)
    out.select(dim, 0).copy_(x.select(dim, 0))
    for t in range(1, x.shape[dim]):
        torch.add(out.select(dim, t - 1), x.select(dim, t), out=out.select(dim, t))
    return out


def unwrap(phase: torch.Tensor, dim: int = -2) -> torch.Tensor:
    """Unwrap ``phase`` along ``dim`` as the reference does (discontinuity pi).

    ``dd = diff(p)``; ``ddmod = (dd + pi) mod 2 pi - pi`` with floor-mod, and pi where
    that gives -pi for ``dd > 0``; ``p + [0, cumsum(ddmod - dd)]``. Same shape/dtype.
    """
    dd = torch.diff(phase, dim=dim)
    ddmod = torch.remainder(dd + math.pi, 2.0 * math.pi) - math.pi
    ddmod = torch.where((ddmod == -math.pi) & (dd > 0), math.pi, ddmod)
    correction = _cumsum(ddmod - dd, dim)
    first = torch.zeros_like(phase.narrow(dim, 0, 1))
    return phase + torch.cat([first, correction], dim=dim)


def instantaneous_frequency(phase: torch.Tensor, dim: int = -2) -> torch.Tensor:
    """Unwrapped phase differences along ``dim`` over pi; slice 0 is the raw phase / pi.

    Same shape and dtype as ``phase``; values after slice 0 are in [-1, 1].
    """
    unwrapped = unwrap(phase, dim)
    first = unwrapped.narrow(dim, 0, 1)
    return torch.cat([first, torch.diff(unwrapped, dim=dim)], dim=dim) / math.pi


# ---------------------------------------------------------------- STFT


def _frames(waves: torch.Tensor, cfg: SpectralConfig) -> torch.Tensor:
    """``[B, N]`` -> windowed frames ``[B, T, n_fft]`` of the left-padded waves."""
    padded = torch.nn.functional.pad(waves, (cfg.pad_left, 0))
    frames = padded.unfold(-1, cfg.n_fft, cfg.hop_length)
    return frames * _window(cfg.n_fft, *_key(waves))


def _overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """``[B, T, n_fft]`` -> ``[B, hop * (T - 1) + n_fft]`` (n_fft a multiple of hop)."""
    batch, n_frames, n_fft = frames.shape
    r = n_fft // hop
    parts = frames.reshape(batch, n_frames, r, hop)
    out = frames.new_zeros(batch, n_frames + r - 1, hop)
    for k in range(r):
        out[:, k : k + n_frames] += parts[:, :, k]
    return out.reshape(batch, (n_frames + r - 1) * hop)


def _istft(
    stfts: torch.Tensor, cfg: SpectralConfig, first_frame: int = 0
) -> torch.Tensor:
    """``[B, T', F]`` complex (frames ``first_frame``..T-1) -> ``[B, N]`` waves."""
    dc = torch.nn.functional.pad(stfts, (1, 0))  # a zero DC bin at index 0
    frames = torch.fft.irfft(dc, n=cfg.n_fft, dim=-1)
    frames = frames * (_window(cfg.n_fft, *_key(frames)) / OLA_GAIN)
    waves = _overlap_add(frames, cfg.hop_length)
    start = cfg.pad_left - first_frame * cfg.hop_length
    return waves[:, start : start + cfg.audio_length]


def waves_to_stfts(waves: torch.Tensor, cfg: SpectralConfig) -> torch.Tensor:
    """Left-padded, uncentred STFT with the DC bin dropped.

    Parameters
    ----------
    waves : ``[B, N] float32/float64``, ``N = cfg.audio_length``.

    Returns
    -------
    ``[B, T, F]`` complex64/complex128.
    """
    waves = _check_waves(waves, cfg)
    return torch.fft.rfft(_frames(waves, cfg), dim=-1)[..., 1:]


def stfts_to_waves(stfts: torch.Tensor, cfg: SpectralConfig) -> torch.Tensor:
    """Inverse of ``waves_to_stfts``: zero DC bin, irfft, window hann/1.5, overlap-add.

    Parameters
    ----------
    stfts : ``[B, T, F]`` complex64/complex128.

    Returns
    -------
    ``[B, N]`` float32/float64, the first ``cfg.pad_left`` samples cropped.
    """
    return _istft(_check_stfts(stfts, cfg), cfg)


# ---------------------------------------------------------------- specgrams


def stfts_to_specgrams(stfts: torch.Tensor, cfg: SpectralConfig) -> torch.Tensor:
    """``[B, T, F]`` complex -> ``[B, 2, T, F]``: log(|X| + 1e-6) and IF."""
    stfts = _check_stfts(stfts, cfg)
    logmag = torch.log(stfts.abs() + LOG_EPS)
    ifreq = instantaneous_frequency(torch.angle(stfts), dim=-2)
    return torch.stack([logmag, ifreq], dim=1)


def specgrams_to_stfts(specgrams: torch.Tensor, cfg: SpectralConfig) -> torch.Tensor:
    """``[B, 2, T, F]`` (log magnitude, IF) -> ``[B, T, F]`` complex."""
    specgrams = _check_images(specgrams, cfg, "specgrams")
    mag = torch.exp(specgrams[:, 0])
    phase = _cumsum(specgrams[:, 1] * math.pi, -2)
    return torch.polar(mag, phase)


def specgrams_to_melspecgrams(
    specgrams: torch.Tensor, cfg: SpectralConfig
) -> torch.Tensor:
    """``[B, 2, T, F]`` (log magnitude, IF) -> (log mel power, mel IF), same shape."""
    specgrams = _check_images(specgrams, cfg, "specgrams")
    l2m, _ = _mel_matrices(cfg, *_key(specgrams))
    mag2 = torch.exp(2.0 * specgrams[:, 0])
    phase = _cumsum(specgrams[:, 1] * math.pi, -2)
    logmelmag2 = torch.log(_bins_product(mag2, l2m) + LOG_EPS)
    mel_if = instantaneous_frequency(_bins_product(phase, l2m), dim=-2)
    return torch.stack([logmelmag2, mel_if], dim=1)


def melspecgrams_to_specgrams(
    melspecgrams: torch.Tensor, cfg: SpectralConfig
) -> torch.Tensor:
    """``[B, 2, T, F]`` (log mel power, mel IF) -> (log magnitude, IF), approximate."""
    melspecgrams = _check_images(melspecgrams, cfg, "melspecgrams")
    _, m2l = _mel_matrices(cfg, *_key(melspecgrams))
    mel_phase = _cumsum(melspecgrams[:, 1] * math.pi, -2)
    ifreq = instantaneous_frequency(_bins_product(mel_phase, m2l), dim=-2)
    mag2 = _bins_product(torch.exp(melspecgrams[:, 0]), m2l)
    logmag = 0.5 * torch.log(mag2 + LOG_EPS)
    return torch.stack([logmag, ifreq], dim=1)


def waves_to_images(waves: torch.Tensor, cfg: SpectralConfig) -> torch.Tensor:
    """``[B, N]`` waves -> raw ``[B, 2, T, F]`` images.

    (log mel power, mel IF) when ``cfg.mel``, else (log magnitude, IF).
    """
    specgrams = stfts_to_specgrams(waves_to_stfts(waves, cfg), cfg)
    return specgrams_to_melspecgrams(specgrams, cfg) if cfg.mel else specgrams


def images_to_waves(images: torch.Tensor, cfg: SpectralConfig) -> torch.Tensor:
    """Raw ``[B, 2, T, F]`` images -> ``[B, N]`` waves (differentiable)."""
    images = _check_images(images, cfg, "images")
    specgrams = melspecgrams_to_specgrams(images, cfg) if cfg.mel else images
    return stfts_to_waves(specgrams_to_stfts(specgrams, cfg), cfg)


# ---------------------------------------------------------------- normalisation


def _affine(
    cfg: SpectralConfig, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    a = (cfg.mag_normalizer[0], cfg.if_normalizer[0])
    b = (cfg.mag_normalizer[1], cfg.if_normalizer[1])
    shape = (1, 2, 1, 1)
    return (
        torch.tensor(a, dtype=like.dtype, device=like.device).view(shape),
        torch.tensor(b, dtype=like.dtype, device=like.device).view(shape),
    )


def normalize(images: torch.Tensor, cfg: SpectralConfig) -> torch.Tensor:
    """Raw ``[B, 2, T, F]`` images -> ``clip(a * x + b, -1, 1)`` per channel."""
    images = _check_images(images, cfg, "images")
    a, b = _affine(cfg, images)
    return torch.clamp(images * a + b, -1.0, 1.0)


def denormalize(images: torch.Tensor, cfg: SpectralConfig) -> torch.Tensor:
    """Normalised ``[B, 2, T, F]`` images -> raw ``(y - b) / a`` per channel."""
    images = _check_images(images, cfg, "images")
    a, b = _affine(cfg, images)
    return (images - b) / a


def _cumsum_frames(x: torch.Tensor, first: int, out: torch.Tensor) -> None:
    """``out[:, t] = sum(x[:, : first + t + 1])`` for ``x`` ``[B, T, F]``, no autograd.

    A loop of row additions: several times faster on CPU than ``torch.cumsum`` along
    a middle dimension.
    """
    if x.device.type != "cpu":  # one kernel instead of a launch per frame
        out.copy_(torch.cumsum(x, dim=1)[:, first:])
        return
    torch.sum(x[:, : first + 1], dim=1, out=out[:, 0])
    for t in range(1, out.shape[1]):
        torch.add(out[:, t - 1], x[:, first + t], out=out[:, t])


# ---------------------------------------------------------------- module


class SpectralTransform(torch.nn.Module):
    """Waves <-> raw images with the window and mel matrices cached on a device.

    ``forward`` equals ``waves_to_images`` and ``inverse`` equals ``images_to_waves``
    (up to float rounding). The mel matrices are buffers (dense); on CPU the products
    use sparse CSR copies made on first use. ``inverse`` skips the frames whose samples
    are all cropped away. ``.to(device/dtype)`` moves the caches.

    Parameters
    ----------
    cfg : the spectral representation.
    device : where the caches live (default: CPU).
    dtype : float32 or float64.
    """

    def __init__(
        self,
        cfg: SpectralConfig,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if not isinstance(cfg, SpectralConfig):
            raise ValueError(f"cfg must be a SpectralConfig, got {_describe(cfg)}")
        if dtype not in _REAL:
            raise ValueError(
                f"dtype must be torch.float32 or torch.float64, got {dtype}"
            )
        self.cfg = cfg
        with torch.inference_mode(False):
            window = torch.hann_window(cfg.n_fft, periodic=True, dtype=dtype)
            self.register_buffer("window", window.to(device), persistent=False)
            m2l = mel_to_linear_matrix(cfg)
            matrices = {
                "l2m": linear_to_mel_matrix(cfg),  # [F, F]
                "m2l": m2l,  # [F, F]
                "m2l_dc": np.pad(m2l, [(0, 0), (1, 0)]),  # [F, F + 1], DC column 0
            }
            for name, matrix in matrices.items():
                dense = torch.tensor(matrix, dtype=dtype, device=device)
                self.register_buffer(name, dense, persistent=False)
            ola = (window / OLA_GAIN).view(cfg.n_fft // cfg.hop_length, cfg.hop_length)
            self.register_buffer("ola_window", ola.to(device), persistent=False)
        # the mel matrices as used: sparse CSR copies on CPU (see _matrix)
        self._fast_key: tuple[torch.device, torch.dtype] | None = None
        self._fast: dict[str, torch.Tensor] = {}
        # The first frame whose samples survive the crop of pad_left (earlier frames
        # cover only the padding).
        reach = cfg.pad_left - cfg.n_fft
        self.first_frame = max(0, reach // cfg.hop_length + 1)

    def _matrix(self, name: str) -> torch.Tensor:
        """Buffer ``name`` (a mel matrix) in the fastest form for its device."""
        dense = getattr(self, name)
        where = (dense.device, dense.dtype)
        if self._fast_key != where:  # first use, or moved by .to()
            self._fast_key, self._fast = where, {}
        if name not in self._fast:
            self._fast[name] = _cpu_sparse(dense)
        return self._fast[name]

    def _check_dtype(self, x: torch.Tensor) -> None:
        if x.dtype != self.window.dtype or x.device != self.window.device:
            raise ValueError(
                f"input is {str(x.dtype).removeprefix('torch.')} on {x.device}, but "
                f"this transform is {str(self.window.dtype).removeprefix('torch.')} on "
                f"{self.window.device}: move one of them with .to()"
            )

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        """``[B, N]`` waves -> raw ``[B, 2, T, F]`` images (as ``waves_to_images``)."""
        cfg = self.cfg
        waves = _check_waves(waves, cfg)
        self._check_dtype(waves)
        padded = torch.nn.functional.pad(waves, (cfg.pad_left, 0))
        frames = padded.unfold(-1, cfg.n_fft, cfg.hop_length) * self.window
        stfts = torch.fft.rfft(frames, dim=-1)[..., 1:]
        logmag = torch.log(stfts.abs() + LOG_EPS)
        ifreq = instantaneous_frequency(torch.angle(stfts), dim=-2)
        if not cfg.mel:
            return torch.stack([logmag, ifreq], dim=1)
        mag2 = torch.exp(2.0 * logmag)
        phase = _cumsum(ifreq * math.pi, -2)
        l2m = self._matrix("l2m")
        logmelmag2 = torch.log(_bins_product(mag2, l2m) + LOG_EPS)
        mel_if = instantaneous_frequency(_bins_product(phase, l2m), dim=-2)
        return torch.stack([logmelmag2, mel_if], dim=1)

    def inverse(self, images: torch.Tensor) -> torch.Tensor:
        """Raw ``[B, 2, T, F]`` images -> ``[B, N]`` waves (as ``images_to_waves``).

        The phase is taken straight from the cumulated (mel) IF (the reference's
        extra IF round trip changes it only by multiples of 2 pi). Without autograd
        (e.g. under ``torch.inference_mode``) it runs a fused, in-place path;
        with ``images.requires_grad`` it is differentiable.
        """
        images = _check_images(images, self.cfg, "images")
        self._check_dtype(images)
        if torch.is_grad_enabled() and images.requires_grad:
            return self._inverse_differentiable(images)
        with torch.no_grad():
            return self._inverse_fast(images)

    def _inverse_differentiable(self, images: torch.Tensor) -> torch.Tensor:
        cfg, k0 = self.cfg, self.first_frame
        phase = torch.cumsum(images[:, 1], dim=-2)[:, k0:] * math.pi
        if cfg.mel:
            mag2 = torch.exp(images[:, 0, k0:])
            both = _bins_product(torch.stack([mag2, phase]), self._matrix("m2l"))
            mag = torch.sqrt(both[0] + LOG_EPS)
            phase = both[1]
        else:
            mag = torch.exp(images[:, 0, k0:])
        return _istft(torch.polar(mag, phase), self.cfg, first_frame=k0)

    def inverse_window(self, part: torch.Tensor, lo: int) -> tuple[torch.Tensor, int]:
        """Frames ``[lo, lo + T)`` of raw images ``[B, 2, T, F]`` -> ``(waves, start)``:
        their overlap-add alone, ``[B, (T + r - 1) * hop]`` waves whose first sample is
        model sample ``start`` (negative: inside the left padding).

        The phase is summed from the window's first frame, so these are the samples of
        ``inverse`` on an image silent outside the window wherever every frame that
        overlaps a sample is inside it: a held note's next moments without the
        whole note's inverse (``Synth.render_window``).
        """
        cfg = self.cfg
        if part.dim() != 4 or part.shape[1] != 2 or part.shape[3] != cfg.n_bins:
            raise ValueError(
                f"a window must have shape [batch, 2, frames, {cfg.n_bins}], "
                f"got {list(part.shape)}"
            )
        if not 0 <= lo <= cfg.n_frames - part.shape[2]:
            raise ValueError(f"window frames start {lo} is outside the image")
        with torch.no_grad():
            out = self._synthesize(part, 0)
        return out, lo * cfg.hop_length - cfg.pad_left

    def _inverse_fast(self, images: torch.Tensor) -> torch.Tensor:
        cfg, k0 = self.cfg, self.first_frame
        start = cfg.pad_left - k0 * cfg.hop_length
        return self._synthesize(images, k0)[:, start : start + cfg.audio_length]

    def _synthesize(self, images: torch.Tensor, k0: int) -> torch.Tensor:
        """Frames ``k0``.. of raw images -> their overlap-add, ``[B, samples]``."""
        cfg = self.cfg
        batch, _, n_frames, n_bins = images.shape
        kept = n_frames - k0
        # [0]: (mel) power or log magnitude input, [1]: (mel) phase
        both = images.new_empty(2, batch, kept, n_bins)
        torch.exp(images[:, 0, k0:], out=both[0])
        _cumsum_frames(images[:, 1], k0, out=both[1])
        both[1].mul_(math.pi)
        if cfg.mel:
            # [2, B, T', F] @ [F, F + 1]: linear bins with a zero DC column in front
            linear = _bins_product(both, self._matrix("m2l_dc"))
            mag, phase = linear[0], linear[1]
            mag.add_(LOG_EPS).sqrt_()
        else:
            linear = torch.nn.functional.pad(both, (1, 0))
            mag, phase = linear[0], linear[1]
        mag[..., 0] = 0.0
        # mag * exp(i phase), written as (re, im) pairs: faster than torch.polar on CPU
        spec = images.new_empty(batch, kept, n_bins + 1, 2)
        torch.mul(torch.cos(phase), mag, out=spec[..., 0])
        torch.mul(torch.sin(phase), mag, out=spec[..., 1])
        spec = torch.view_as_complex(spec)
        frames = torch.fft.irfft(spec, n=cfg.n_fft, dim=-1)
        r, hop = cfg.n_fft // cfg.hop_length, cfg.hop_length
        parts = frames.view(batch, kept, r, hop)
        out = frames.new_zeros(batch, kept + r - 1, hop)
        for k in range(r):  # overlap-add with the synthesis window hann / 1.5
            out[:, k : k + kept].addcmul_(parts[:, :, k], self.ola_window[k])
        return out.view(batch, -1)

    def extra_repr(self) -> str:
        c = self.cfg
        kind = "mel" if c.mel else "linear"
        return f"{kind}, {c.n_frames}x{c.n_bins}, {c.audio_length} samples"
