"""GANSynth's progressive discriminator with its auxiliary pitch classifier.

Written from GANSYNTH.md section 3.3 (the reference code, where it differs from the
paper):

- the input (raw log-mel power and mel IF) is normalised inside D (affine + clip);
- ``from_rgb(b)``: 1x1 conv 2 -> nf(b) with LeakyReLU(0.2), one per block;
- block b = R..2: conv3x3 nf(b) -> nf(b), conv3x3 nf(b) -> nf(b-1), 2x2 average pool;
- progressive input: after block b's pooling ``x = alpha_D(b-1) * from_rgb(pool(x_in)) +
  (1 - alpha_D(b-1)) * x``;
- block 1: a minibatch-stddev scalar (over the whole batch) as an extra channel, conv3x3
  nf(1)+1 -> nf(1), then a ``start_shape`` VALID conv to 1x1;
- heads: ``logits`` (dense -> 1) and ``classification_logits`` (dense -> num_pitches);
- every conv LeakyReLU(0.2), no normalisation layers, equalised learning rate.

Only the blocks with a non-zero weight at the current progress are computed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from instrument.config import ModelConfig
from instrument.networks import EqualizedConv2d, EqualizedLinear, check_progress
from trainer.schedule import alpha_d, num_blocks_for

__all__ = ["Discriminator", "minibatch_stddev"]

_LRELU_SLOPE = 0.2


def minibatch_stddev(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Append the batch's mean standard deviation as one constant channel.

    Parameters
    ----------
    x : torch.Tensor
        [B, C, H, W] float.

    Returns
    -------
    torch.Tensor
        [B, C + 1, H, W]: the variance over the whole batch per (c, h, w), the mean of
        sqrt(var + eps) over all positions (one scalar), broadcast as the last channel.
    """
    var = x.float().var(dim=0, unbiased=False)
    scalar = torch.sqrt(var + eps).mean().to(x.dtype)
    extra = scalar.expand(x.shape[0], 1, x.shape[2], x.shape[3])
    return torch.cat([x, extra], dim=1)


class _Block(nn.Module):
    """Two 3x3 convs with LeakyReLU, then a 2x2 average pool."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = EqualizedConv2d(in_ch, in_ch, kernel_size, padding=pad)
        self.conv2 = EqualizedConv2d(in_ch, out_ch, kernel_size, padding=pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv1(x), _LRELU_SLOPE)
        x = F.leaky_relu(self.conv2(x), _LRELU_SLOPE)
        return F.avg_pool2d(x, 2)


class Discriminator(nn.Module):
    """The discriminator for one ``ModelConfig`` (channels mirror the generator's).

    Parameters
    ----------
    cfg : ModelConfig
        Block ``b`` (1-based) works at ``cfg.channels[b - 1]`` channels and
        ``cfg.block_shape(b)`` resolution.
    projection : bool
        Also condition the real/fake score on the pitch (Miyato & Koyama 2018):
        ``logits += <embed(pitch), h>`` on the final features ``h``. The embedding
        starts at zero (the score starts unconditional) and, unlike the equalised
        layers, has no run-time scale: each pitch's row is updated only when that
        pitch is in a batch, and at 1/sqrt(features) the conditioning built up too
        slowly to matter (no pitch gained in 15k images of a pilot). A note of the
        wrong pitch for its label then looks fake, which the auxiliary classifier
        alone cannot enforce: a generator can satisfy a classifier with features
        that are not pitch (measured: 82 % "right" to D's classifier, 9 % in tune
        to torchcrepe).
    """

    def __init__(self, cfg: ModelConfig, projection: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        k = cfg.kernel_size
        self.from_rgb = nn.ModuleList(EqualizedConv2d(2, c, 1) for c in ch)
        # blocks[i] is block i + 2 (block 1 is the head below)
        self.blocks = nn.ModuleList(
            _Block(ch[b], ch[b - 1], k) for b in range(1, len(ch))
        )
        self.conv = EqualizedConv2d(ch[0] + 1, ch[0], k, padding=k // 2)
        self.last_conv = EqualizedConv2d(ch[0], ch[0], cfg.start_shape)
        self.logits = EqualizedLinear(ch[0], 1)
        self.classification_logits = EqualizedLinear(ch[0], cfg.num_pitches)
        self.embed_weight: nn.Parameter | None = None
        if projection:
            self.embed_weight = nn.Parameter(torch.zeros(cfg.num_pitches, ch[0]))

    @property
    def final_progress(self) -> float:
        return float(self.cfg.num_resolutions - 1)

    def _check(self, x: torch.Tensor, progress: float | None) -> float:
        t, f = self.cfg.final_shape
        if x.dim() != 4 or tuple(x.shape[1:]) != (2, t, f):
            raise ValueError(
                f"discriminator input must have shape [batch, 2, {t}, {f}], "
                f"got {list(x.shape)}"
            )
        return check_progress(progress, self.final_progress)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Raw images -> [-1, 1] (the reference's affine + clip normaliser)."""
        from instrument.spectral import normalize

        return normalize(x, self.cfg.spectral)

    def _lod(self, x: torch.Tensor, block: int) -> torch.Tensor:
        """from_rgb of the input pooled to block ``block``'s resolution."""
        scale = 2 ** (self.cfg.num_resolutions - block)
        if scale > 1:
            x = F.avg_pool2d(x, scale)
        return F.leaky_relu(self.from_rgb[block - 1](x), _LRELU_SLOPE)

    def forward(
        self,
        x: torch.Tensor,
        progress: float | None = None,
        normalized: bool = False,
        labels: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Score notes and classify their pitch.

        Parameters
        ----------
        x : torch.Tensor
            [B, 2, T, F] float at the final resolution: raw units, or already in
            [-1, 1] when ``normalized`` (R1 takes its gradient there).
        progress : float or None
            Schedule progress in [0, R - 1]; None = final.
        normalized : bool
            ``x`` is already in [-1, 1].
        labels : torch.Tensor, optional
            [B] pitch indices; required by a projection discriminator.

        Returns
        -------
        logits : torch.Tensor
            [B] real/fake scores.
        classification_logits : torch.Tensor
            [B, num_pitches] pitch-class logits.
        """
        p = self._check(x, progress)
        if not normalized:
            x = self.normalize(x)
        if self.from_rgb[0].weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        top = num_blocks_for(p, self.cfg.num_resolutions)
        h = self._lod(x, top)
        for block in range(top, 1, -1):
            h = self.blocks[block - 2](h)
            weight = alpha_d(block - 1, p)
            if weight > 0.0:
                h = weight * self._lod(x, block - 1) + (1.0 - weight) * h
        h = minibatch_stddev(h)
        h = F.leaky_relu(self.conv(h), _LRELU_SLOPE)
        h = F.leaky_relu(self.last_conv(h), _LRELU_SLOPE).flatten(1)
        logits = self.logits(h).squeeze(1)
        if self.embed_weight is not None:
            if labels is None:
                raise ValueError("a projection discriminator needs the pitch labels")
            e = F.embedding(labels.long(), self.embed_weight)
            logits = logits + (e.to(h.dtype) * h).sum(dim=1)
        return logits, self.classification_logits(h)
