"""The GANSynth progressive generator and its reusable equalised-learning-rate layers.

Written from GANSYNTH.md section 3 (the reference code's ``networks.py``/``layers.py``):

- input: pixel norm of ``[z, one-hot(pitch)]`` over all channels, ``[B, C, 1, 1]``;
- block 1: zero pad + a ``start_shape`` VALID conv (a dense layer in effect), then a 3x3
  conv; blocks 2.. : nearest x2 upsampling + two 3x3 convs; every conv is followed by
  LeakyReLU(0.2) and pixel norm;
- every block has its own ``to_rgb`` (1x1 conv, tanh); the outputs are box-upsampled to
  the final size and blended with the triangle weights
  ``alpha_G(b) = max(0, min(progress - (b - 2), b - progress))``;
- equalised learning rate: weights ~ N(0, 1), multiplied at run time by
  ``sqrt(2 / ((1 + slope^2) * fan_in))`` (slope 0 for hidden convs, 1 for ``to_rgb``),
  zero biases;
- the output is de-normalised (``spectral.denormalize``): raw log-mel power and mel IF.

Tensors are NCHW = ``[batch, channels, frames, bins]`` (channels_last memory works too).

Inference (after ``EqualizedConv2d.fold_scale``) computes each block's "nearest x2
upsampling, then 3x3 conv" as one conv of 2x2 kernels on the small image
(``EqualizedConv2d.forward(x, upsample=True)``): in the upsampled image every 3x3
neighbourhood covers only 2x2 distinct source pixels, so each of the four output
phases (even/odd frame, even/odd bin) is a 2x2 conv of the source with summed taps.
The result is the same up to float rounding at 16/36 of the multiply-adds (1.6-1.9x
faster on CPU). Training keeps the textbook path.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from instrument.config import ModelConfig
from instrument.spectral import _affine, denormalize

__all__ = [
    "EqualizedConv2d",
    "EqualizedLinear",
    "Generator",
    "pixel_norm",
    "progress_weights",
    "generator_macs",
    "check_progress",
]

_LRELU_SLOPE = 0.2


def check_progress(progress: float | None, final: float) -> float:
    """Progressive-growing progress as a float in [0, final]; None means ``final``."""
    if progress is None:
        return final
    p = float(progress)
    if not 0.0 <= p <= final:
        raise ValueError(f"progress must be in [0, {final:g}], got {progress}")
    return p


def _he_scale(fan_in: int, gain_slope: float) -> float:
    """The run-time constant of the equalised learning rate."""
    return math.sqrt(2.0 / ((1.0 + gain_slope**2) * fan_in))


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise every position's feature vector: ``x * rsqrt(mean_c(x^2) + eps)``.

    Parameters
    ----------
    x : [B, C, ...] float
        Channels on axis 1.
    """
    # one reading pass for the norm; the per-position factor is 1/C of the data
    norm = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    return x * torch.rsqrt(norm.square() / x.shape[1] + eps)


class EqualizedConv2d(nn.Module):
    """A 2-D convolution with equalised learning rate (N(0, 1) weights, run-time scale).

    Parameters
    ----------
    in_ch, out_ch : int
        Input and output channels.
    kernel_size : int or (int, int)
        Kernel height (frames) and width (bins).
    padding : int or (int, int)
        Zero padding on both sides of each axis (0 = VALID).
    gain_slope : float
        The He-initialiser slope: the scale is ``sqrt(2 / ((1 + slope^2) * fan_in))``
        with ``fan_in = kh * kw * in_ch``; 0 for hidden convs, 1 for linear outputs.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int | tuple[int, int],
        padding: int | tuple[int, int] = 0,
        gain_slope: float = 0.0,
    ) -> None:
        super().__init__()
        kh, kw = (
            (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        )
        self.padding = (padding, padding) if isinstance(padding, int) else padding
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kh, kw))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.scale = _he_scale(kh * kw * in_ch, gain_slope)
        # a 1 x 1 input padded to the kernel's reach is a dense layer (block 1)
        self._dense = self.padding == (kh - 1, kw - 1)
        # a 3x3 "same" conv after nearest x2 upsampling has a cheaper equivalent
        self.can_fuse_upsample = (kh, kw) == (3, 3) and self.padding == (1, 1)

    def fold_scale(self) -> None:
        """Multiply the run-time scale into the weights once, and keep the dense
        layer's matrix and the phase kernels of ``forward(x, upsample=True)`` ready
        (inference only: later weight changes are not seen)."""
        with torch.no_grad():
            self.weight.mul_(self.scale)
            self.scale = 1.0
            if self._dense:
                self.register_buffer(
                    "_dense_matrix", self._matrix(self.weight), persistent=False
                )
            if self.can_fuse_upsample:
                self.register_buffer(
                    "_phase_weight", _phase_kernels(self.weight), persistent=False
                )
                self.register_buffer(
                    "_phase_bias", self.bias.repeat(4), persistent=False
                )

    @property
    def fused(self) -> bool:
        """``forward(x, upsample=True)`` takes the fused path (``fold_scale`` ran on
        a 3x3 "same" conv)."""
        return hasattr(self, "_phase_weight")

    def _upsampled(self, x: torch.Tensor) -> torch.Tensor:
        """``self(nearest_x2(x))`` without making the upsampled image: ``[B, in_ch,
        h, w] -> [B, out_ch, 2h, 2w]`` (channels_last memory), after ``fold_scale``.

        One VALID conv of the 1-padded source with the four phases' 2x2 kernels
        stacked as output channels, then the phases interleaved.
        """
        n, _, h, w = x.shape
        o = self.weight.shape[0]
        y = F.conv2d(F.pad(x, (1, 1, 1, 1)), self._phase_weight, self._phase_bias)
        yh = y.permute(0, 2, 3, 1)  # [B, h + 1, w + 1, 4 * out_ch]
        out = y.new_empty((n, h, 2, w, 2, o))
        for p in (0, 1):
            for q in (0, 1):
                k = 2 * p + q
                out[:, :, p, :, q] = yh[:, p : p + h, q : q + w, k * o : (k + 1) * o]
        return out.view(n, 2 * h, 2 * w, o).permute(0, 3, 1, 2)

    @staticmethod
    def _matrix(w: torch.Tensor) -> torch.Tensor:
        """``[in_ch, out_ch * kh * kw]``: the padded conv of a 1 x 1 input."""
        o, i, kh, kw = w.shape
        return w.flip(2, 3).permute(1, 0, 2, 3).reshape(i, o * kh * kw).contiguous()

    def forward(self, x: torch.Tensor, upsample: bool = False) -> torch.Tensor:
        """``[B, in_ch, H, W] -> [B, out_ch, H', W']``; ``upsample``: the conv of
        ``x`` upsampled x2 (nearest), ``[B, out_ch, 2H, 2W]`` for a "same" conv."""
        if upsample:
            if self.fused:
                return self._upsampled(x)
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        w = self.weight if self.scale == 1.0 else self.weight * self.scale
        if self._dense and x.shape[-2:] == (1, 1):  # a matrix product, much faster
            o, _, kh, kw = w.shape
            matrix = getattr(self, "_dense_matrix", None)
            if matrix is None:
                matrix = self._matrix(w)
            y = (x.flatten(1) @ matrix).view(-1, o, kh, kw) + self.bias[:, None, None]
            if x.is_contiguous(memory_format=torch.channels_last):
                y = y.contiguous(memory_format=torch.channels_last)
            return y
        return F.conv2d(x, w, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, kh, kw = self.weight.shape
        pad = self.padding
        return f"{i}, {o}, kernel=({kh}, {kw}), padding={pad}, scale={self.scale:.4g}"


def _phase_kernels(w: torch.Tensor) -> torch.Tensor:
    """``[out, in, 3, 3] -> [4 * out, in, 2, 2]``: the kernels of a 3x3 "same" conv
    after nearest x2 upsampling, per output phase (even/odd row p, column q; phase
    index 2p + q). Even outputs see source rows (i - 1, i) with taps (w0, w1 + w2),
    odd ones rows (i, i + 1) with (w0 + w1, w2); columns alike."""

    def pairs(k: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b, c = k.unbind(dim)
        return torch.stack([a, b + c], dim), torch.stack([a + b, c], dim)

    rows = pairs(w, 2)
    phases = [col for r in rows for col in pairs(r, 3)]
    memory = (
        torch.channels_last
        if w.is_contiguous(memory_format=torch.channels_last)
        else torch.contiguous_format
    )
    return torch.cat(phases, 0).contiguous(memory_format=memory)


class EqualizedLinear(nn.Module):
    """A dense layer with equalised learning rate (N(0, 1) weights, run-time scale).

    Parameters
    ----------
    in_f, out_f : int
        Input and output features.
    gain_slope : float
        The scale is ``sqrt(2 / ((1 + slope^2) * in_f))``; the default 1 gives
        ``sqrt(1 / in_f)`` (the reference's logits and classifier heads).
    """

    def __init__(self, in_f: int, out_f: int, gain_slope: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_f, in_f))
        self.bias = nn.Parameter(torch.zeros(out_f))
        self.scale = _he_scale(in_f, gain_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_f] -> [B, out_f]``."""
        return F.linear(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        o, i = self.weight.shape
        return f"{i}, {o}, scale={self.scale:.4g}"


def progress_weights(progress: float, num_blocks: int) -> list[float]:
    """The triangle blend weights ``alpha_G(b)`` of blocks 1..num_blocks (sum 1)."""
    return [
        max(0.0, min(progress - (b - 2), b - progress))
        for b in range(1, num_blocks + 1)
    ]


class _Block(nn.Module):
    """Two convs, each followed by LeakyReLU(0.2) and pixel norm."""

    def __init__(self, first: EqualizedConv2d, second: EqualizedConv2d, upsample: bool):
        super().__init__()
        self.upsample = upsample
        self.conv1 = first
        self.conv2 = second

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x, upsample=self.upsample)  # fused after fold_scale
        x = pixel_norm(F.leaky_relu(x, _LRELU_SLOPE, inplace=True))
        return pixel_norm(F.leaky_relu(self.conv2(x), _LRELU_SLOPE, inplace=True))


class Generator(nn.Module):
    """GANSynth's progressive generator for one ``ModelConfig``.

    Parameters
    ----------
    cfg : ModelConfig
        Channels per block, start shape, latent size, pitch range and spectral config.

    Notes
    -----
    ``forward`` returns raw (de-normalised) images; ``forward_normalized`` returns the
    blended tanh output in [-1, 1]. Block ``b`` (1-based) has ``cfg.channels[b - 1]``
    channels.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        sh, sw = cfg.start_shape
        k = cfg.kernel_size
        pad = k // 2
        in_ch = cfg.latent_size + cfg.num_pitches
        blocks = [
            _Block(
                EqualizedConv2d(in_ch, ch[0], (sh, sw), padding=(sh - 1, sw - 1)),
                EqualizedConv2d(ch[0], ch[0], k, padding=pad),
                upsample=False,
            )
        ]
        for b in range(1, len(ch)):
            blocks.append(
                _Block(
                    EqualizedConv2d(ch[b - 1], ch[b], k, padding=pad),
                    EqualizedConv2d(ch[b], ch[b], k, padding=pad),
                    upsample=True,
                )
            )
        self.blocks = nn.ModuleList(blocks)
        self.to_rgb = nn.ModuleList(
            EqualizedConv2d(c, 2, 1, gain_slope=1.0) for c in ch
        )

    @property
    def final_progress(self) -> float:
        """Progress at which only the last block contributes (num_resolutions - 1)."""
        return float(self.cfg.num_resolutions - 1)

    def num_blocks_for(self, progress: float | None) -> int:
        """How many blocks run at ``progress`` (up to the last non-zero weight)."""
        p = self._check_progress(progress)
        return min(self.cfg.num_resolutions, math.ceil(p) + 1)

    def _check_progress(self, progress: float | None) -> float:
        return check_progress(progress, self.final_progress)

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        """``[B] long -> [B, num_pitches]``; an out-of-range index gives all zeros."""
        n = self.cfg.num_pitches
        valid = (labels >= 0) & (labels < n)
        idx = torch.where(valid, labels, torch.full_like(labels, n))
        return F.one_hot(idx, n + 1)[:, :n]

    def _check_inputs(self, z: torch.Tensor, labels: torch.Tensor) -> None:
        if z.dim() != 2 or z.shape[1] != self.cfg.latent_size:
            raise ValueError(
                f"latents must have shape [batch, {self.cfg.latent_size}], "
                f"got {list(z.shape)}"
            )
        if labels.dim() != 1 or labels.shape[0] != z.shape[0]:
            raise ValueError(
                f"labels must have shape [{z.shape[0]}] to match the latents, "
                f"got {list(labels.shape)}"
            )
        if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise ValueError(
                f"labels must be integer pitch indices, got {labels.dtype}"
            )

    def forward_normalized(
        self, z: torch.Tensor, labels: torch.Tensor, progress: float | None = None
    ) -> torch.Tensor:
        """The blended tanh output.

        Parameters
        ----------
        z : [B, latent_size] float
        labels : [B] long
            Pitch class indices 0..num_pitches-1 (MIDI pitch - cfg.pitch_min).
        progress : float or None
            Progressive-training position in [0, num_resolutions - 1]; None = final.

        Returns
        -------
        [B, 2, frames, bins] float in [-1, 1], the dtype of the weights.
        """
        self._check_inputs(z, labels)
        p = self._check_progress(progress)
        weights = progress_weights(p, self.cfg.num_resolutions)
        wdtype = self.to_rgb[0].weight.dtype
        x = torch.cat([z.to(wdtype), self.one_hot(labels.long()).to(wdtype)], dim=1)
        x = pixel_norm(x)[:, :, None, None]
        if self.to_rgb[0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        out: torch.Tensor | None = None
        final_h, _ = self.cfg.final_shape
        for b in range(self.num_blocks_for(p)):
            x = self.blocks[b](x)
            if weights[b] == 0.0:
                continue
            rgb = torch.tanh(self.to_rgb[b](x))
            factor = final_h // x.shape[2]
            if factor > 1:
                rgb = F.interpolate(rgb, scale_factor=float(factor), mode="nearest")
            rgb = rgb if weights[b] == 1.0 else rgb * weights[b]
            out = rgb if out is None else out + rgb
        assert out is not None  # the weights sum to 1, so one block contributes
        return out

    def window_ranges(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Frame ranges each block must output so the last one outputs ``[lo, hi)``.

        Going back from the last block: its two k x k convs need ``k // 2`` more frames
        on each side each (clamped to the block's frames), and its nearest x2
        upsampling halves the range (rounded outwards). ``[0]`` is the first block's.
        """
        frames = self.cfg.final_shape[0]
        if not 0 <= lo < hi <= frames:
            raise ValueError(f"window [{lo}, {hi}) is not inside 0-{frames} frames")
        halo = 2 * (self.cfg.kernel_size // 2)
        n = self.cfg.num_resolutions
        ranges = [(0, 0)] * n
        ranges[n - 1] = (lo, hi)
        for b in range(n - 1, 0, -1):
            low, high = ranges[b]
            rows = self.cfg.block_shape(b + 1)[0]
            low, high = max(0, low - halo), min(rows, high + halo)
            ranges[b - 1] = (low // 2, -(-high // 2))
        return ranges

    def forward_window(
        self, z: torch.Tensor, labels: torch.Tensor, lo: int, hi: int
    ) -> torch.Tensor:
        """Raw images of frames ``[lo, hi)`` only, for a fully grown generator.

        Each block runs on the frames the next one needs (``window_ranges``) plus the
        rows its zero-padded convs spoil at a cut that is not the image's edge, which
        are dropped; convs, LeakyReLU and pixel norm act per frame neighbourhood, so the
        result equals ``forward(z, labels)[:, :, lo:hi]`` up to float rounding, at a
        fraction of the cost when the window is short (a held note's next moments).

        Returns ``[B, 2, hi - lo, bins]`` raw (de-normalised) images, float32+.
        """
        self._check_inputs(z, labels)
        ranges = self.window_ranges(lo, hi)
        wdtype = self.to_rgb[0].weight.dtype
        x = torch.cat([z.to(wdtype), self.one_hot(labels.long()).to(wdtype)], dim=1)
        x = pixel_norm(x)[:, :, None, None]
        if self.to_rgb[0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.blocks[0](x)
        pad = self.cfg.kernel_size // 2
        start = 0  # frame of x[:, :, 0] in the current block's frames
        for b in range(1, len(self.blocks)):
            block = self.blocks[b]
            rows = self.cfg.block_shape(b + 1)[0]
            low, high = ranges[b]
            start *= 2
            # each conv gets only the rows the next step needs, plus its own halo
            if block.conv1.fused:  # the rows of x are those conv1 needs (see ranges)
                x = block.conv1(x, upsample=True)
                x = pixel_norm(F.leaky_relu(x, _LRELU_SLOPE, inplace=True))
                convs = ((block.conv2, pad),)
            else:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
                convs = ((block.conv1, 2 * pad), (block.conv2, pad))
            for conv, reach in convs:
                a, e = max(0, low - reach), min(rows, high + reach)
                x = x[:, :, a - start : e - start]
                start = a
                x = pixel_norm(F.leaky_relu(conv(x), _LRELU_SLOPE, inplace=True))
            x = x[:, :, low - start : high - start]
            start = low
        y = torch.tanh(self.to_rgb[-1](x))
        if y.dtype in (torch.bfloat16, torch.float16):
            y = y.float()
        a, b = _affine(self.cfg.spectral, y)  # denormalize without its shape check
        return (y - b) / a

    def forward(
        self, z: torch.Tensor, labels: torch.Tensor, progress: float | None = None
    ) -> torch.Tensor:
        """Raw images ``[B, 2, frames, bins]`` (log-mel power, mel IF), float32+.

        See ``forward_normalized`` for the arguments. Half-precision tanh outputs are
        widened to float32 before de-normalising.
        """
        y = self.forward_normalized(z, labels, progress)
        if y.dtype in (torch.bfloat16, torch.float16):
            y = y.float()
        return denormalize(y, self.cfg.spectral)


def generator_macs(cfg: ModelConfig, progress: float | None = None) -> int:
    """Multiply-adds of one generator forward pass for one note (convs + used to_rgb).

    Counts the useful products: block 1's padded VALID conv as the dense layer it is
    (each output position sees one input pixel), every 3x3 conv over its output
    positions, and only the ``to_rgb`` layers with a non-zero blend weight.
    FLOPs = 2 x this; ``paper`` gives 14.07 G per note.
    """
    gen_blocks = cfg.num_resolutions
    p = float(gen_blocks - 1) if progress is None else float(progress)
    weights = progress_weights(p, gen_blocks)
    n_blocks = min(gen_blocks, math.ceil(p) + 1)
    k2 = cfg.kernel_size**2
    total = 0
    prev = cfg.latent_size + cfg.num_pitches
    for b in range(n_blocks):
        h, w = cfg.block_shape(b + 1)
        c = cfg.channels[b]
        first_k = 1 if b == 0 else k2
        total += h * w * c * (prev * first_k + c * k2)
        if weights[b] > 0:
            total += h * w * c * 2
        prev = c
    return total
