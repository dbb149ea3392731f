"""The progressive-growing schedule: stages, progress, block weights, real-image
blending.

GANSYNTH.md section 3.4. With R resolutions there are 2R - 1 stages (even = stable, odd
= transition). ``progress`` runs from 0 to R - 1: during a stable stage it is the
stage's block index (0-based), during a transition it rises linearly to the next one.
The generator sums its blocks' outputs with the triangle weights ``alpha_g``; the
discriminator fades its inputs in with ``alpha_d``; real notes are blended to the
current level of detail.

Two ways to measure the schedule: images seen (the reference: stable/transition image
counts), or wall-clock seconds (the reference's ``train_time_limit`` mode: stage
durations grow geometrically by ``stage_multiplier`` and sum to the limit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from trainer.config import TrainConfig

__all__ = ["Schedule", "alpha_g", "alpha_d", "num_blocks_for", "blend_images"]


@dataclass(frozen=True, slots=True)
class Schedule:
    """Progress as a function of images seen (or seconds trained)."""

    num_resolutions: int  # R, blocks of the model
    progressive: bool = True  # False: progress is R - 1 from the start
    kind: str = "images"  # images | time
    stable_images: int = 800_000
    transition_images: int = 800_000
    total_images: int = 11_000_000
    time_limit_s: float = 0.0
    stage_multiplier: float = 1.0
    extra_time_s: float = 0.0  # at full resolution after a time schedule's end

    def __post_init__(self) -> None:
        if self.num_resolutions < 1:
            raise ValueError(
                f"num_resolutions must be >= 1, got {self.num_resolutions}"
            )
        if self.kind not in ("images", "time"):
            raise ValueError(f"schedule kind must be images or time, got {self.kind!r}")
        if self.kind == "time" and self.time_limit_s <= 0:
            raise ValueError(
                f"a time schedule needs time_limit_s > 0, got {self.time_limit_s}"
            )
        if self.extra_time_s < 0:
            raise ValueError(f"extra_time_s must be >= 0, got {self.extra_time_s}")
        if self.stable_images <= 0 or self.transition_images < 0:
            raise ValueError(
                f"stage image counts must be positive, got {self.stable_images}/"
                f"{self.transition_images}"
            )

    @classmethod
    def from_config(cls, tc: TrainConfig) -> Schedule:
        return cls(
            num_resolutions=tc.model_config.num_resolutions,
            progressive=tc.progressive,
            kind=tc.schedule,
            stable_images=tc.stable_images,
            transition_images=tc.transition_images,
            total_images=tc.total_images,
            time_limit_s=tc.time_limit_s,
            stage_multiplier=tc.stage_multiplier,
            extra_time_s=tc.extra_time_s,
        )

    @property
    def num_stages(self) -> int:
        return 2 * self.num_resolutions - 1

    @property
    def final_progress(self) -> float:
        return float(self.num_resolutions - 1)

    def stage_ends_s(self) -> list[float]:
        """Cumulative end time of each stage (time schedule), geometric shares."""
        shares = [self.stage_multiplier**i for i in range(self.num_stages)]
        scale = self.time_limit_s / sum(shares)
        ends, total = [], 0.0
        for share in shares:
            total += share * scale
            ends.append(total)
        return ends

    def progress(self, images: int, elapsed_s: float = 0.0) -> float:
        """Progress in [0, R - 1] after ``images`` images (or ``elapsed_s`` seconds)."""
        if not self.progressive:
            return self.final_progress
        if self.kind == "time":
            return self._time_progress(elapsed_s)
        period = self.stable_images + self.transition_images
        whole, rest = divmod(int(images), period)
        fade = 0.0
        if self.transition_images > 0:
            fade = max(0.0, (rest - self.stable_images) / self.transition_images)
        return min(float(whole) + fade, self.final_progress)

    def _time_progress(self, elapsed_s: float) -> float:
        start = 0.0
        for stage, end in enumerate(self.stage_ends_s()):
            if elapsed_s < end:
                if stage % 2 == 0:
                    return float(stage // 2)
                return stage // 2 + (elapsed_s - start) / (end - start)
            start = end
        return self.final_progress

    def stage(self, images: int, elapsed_s: float = 0.0) -> int:
        """Stage index 0..2R-2 (even: stable, odd: transition)."""
        if not self.progressive:
            return self.num_stages - 1
        p = self.progress(images, elapsed_s)
        whole = math.floor(p)
        if p >= self.final_progress:
            return self.num_stages - 1
        if p > whole:
            return 2 * whole + 1
        if self.kind == "time":
            return self._time_stage(elapsed_s)
        period = self.stable_images + self.transition_images
        rest = int(images) % period
        return 2 * whole + (1 if rest >= self.stable_images else 0)

    def _time_stage(self, elapsed_s: float) -> int:
        for stage, end in enumerate(self.stage_ends_s()):
            if elapsed_s < end:
                return stage
        return self.num_stages - 1

    def finished(self, images: int, elapsed_s: float = 0.0) -> bool:
        if self.kind == "time":
            return elapsed_s >= self.end_s
        return images >= self.total_images

    @property
    def end_s(self) -> float:
        """Training seconds at which a time schedule finishes: its stages (scaled to
        ``time_limit_s``), then ``extra_time_s`` more at full resolution."""
        return self.time_limit_s + self.extra_time_s


def alpha_g(block: int, progress: float) -> float:
    """Generator output weight of block ``block`` (1-based): a triangle at b - 1."""
    return max(0.0, min(progress - (block - 2), block - progress))


def alpha_d(block: int, progress: float) -> float:
    """Discriminator input weight of the level-of-detail input entering at ``block``."""
    return min(max(block - progress, 0.0), 1.0)


def num_blocks_for(progress: float, num_resolutions: int) -> int:
    """Blocks with a non-zero weight at ``progress``: ceil(progress) + 1, at most R."""
    return min(num_resolutions, math.ceil(progress - 1e-9) + 1)


def blend_images(
    images: torch.Tensor, progress: float, num_resolutions: int
) -> torch.Tensor:
    """Real notes at the current level of detail, as the reference's ``blend_images``.

    Parameters
    ----------
    images : torch.Tensor
        [B, 2, T, F] float, raw units, at the final resolution.
    progress : float
        Schedule progress in [0, R - 1].
    num_resolutions : int
        R, the number of blocks.

    Returns
    -------
    torch.Tensor
        [B, 2, T, F], the sum over blocks b of alpha_g(b) * box_up(avg_pool(x, s_b),
        s_b)
        with s_b = 2 ** (R - b). The identity at the final progress.
    """
    out: torch.Tensor | None = None
    for block in range(1, num_blocks_for(progress, num_resolutions) + 1):
        weight = alpha_g(block, progress)
        if weight == 0.0:
            continue
        scale = 2 ** (num_resolutions - block)
        part = images
        if scale > 1:
            part = F.avg_pool2d(images, scale)
            part = part.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
        part = part * weight if weight != 1.0 else part
        out = part if out is None else out + part
    assert out is not None  # at least one block always has weight
    return out
