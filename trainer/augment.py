"""Label-preserving, differentiable augmentation of IF-Mel notes before D (raw units).

CPU-TRAINING.md section 3: only ops that keep the pitch label true are allowed.

- ``time_shift``: whole frames, +-``aug_shift_frames``, the gap filled with silence
  (log-magnitude floor ``ln(1e-6)``, IF 0) - never zeros, which are mid-loudness;
- ``gain``: a constant +-``aug_gain_db`` on the log-magnitude channel, re-clamped at the
  silence floor;
- ``time_mask``: a span of up to ``aug_mask_frames`` frames set to silence.

Each op is applied to each note with probability ``aug_p``. The mask of augmented notes
is returned so that the auxiliary pitch loss can skip them (adversarial head only).
"""

from __future__ import annotations

import math

import torch

from trainer.config import TrainConfig

__all__ = ["SILENCE_LOG", "augment"]

SILENCE_LOG = math.log(1e-6)  # the log-magnitude (or log-power) of silence


def _silence_like(x: torch.Tensor) -> torch.Tensor:
    """[2, T, F] silence: the log floor on channel 0, IF 0 on channel 1."""
    s = torch.zeros_like(x)
    s[0] = SILENCE_LOG
    return s


def _shift(x: torch.Tensor, frames: int) -> torch.Tensor:
    """Shift one note [2, T, F] by ``frames`` along time, padding with silence."""
    if frames == 0:
        return x
    t = x.shape[1]
    silence = _silence_like(x[:, : abs(frames)])
    if frames > 0:
        return torch.cat([silence, x[:, : t - frames]], dim=1)
    return torch.cat([x[:, -frames:], silence], dim=1)


def _mask(x: torch.Tensor, start: int, length: int) -> torch.Tensor:
    end = min(x.shape[1], start + length)
    silence = _silence_like(x[:, start:end])
    return torch.cat([x[:, :start], silence, x[:, end:]], dim=1)


def augment(
    images: torch.Tensor, tc: TrainConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch of notes per ``tc.augment`` / ``tc.aug_p``.

    Parameters
    ----------
    images : torch.Tensor
        [B, 2, T, F] float, raw units (log-mag floor ``SILENCE_LOG``).
    tc : TrainConfig
        The recipe (ops, probability, ranges; ``model_config.spectral.mel`` says
        whether channel 0 is log power (mel) or log magnitude).
    generator : torch.Generator
        The CPU RNG for the random choices (for an exact resume).

    Returns
    -------
    images : torch.Tensor
        [B, 2, T, F], differentiable w.r.t. the input.
    augmented : torch.Tensor
        [B] bool, True where any op was applied.
    """
    batch = images.shape[0]
    augmented = torch.zeros(batch, dtype=torch.bool)
    if not tc.augment or tc.aug_p == 0.0:
        return images, augmented
    power = tc.model_config.spectral.mel  # log power: 10 dB per decade, else 20
    nats_per_db = math.log(10.0) / (10.0 if power else 20.0)
    t = images.shape[2]
    notes = list(images.unbind(0))
    for op in tc.augment:
        hit = torch.rand(batch, generator=generator) < tc.aug_p
        u = torch.rand(batch, generator=generator)
        v = torch.rand(batch, generator=generator)
        for i in torch.nonzero(hit).flatten().tolist():
            x = notes[i]
            if op == "time_shift":
                span = tc.aug_shift_frames
                frames = min(int(u[i] * (2 * span + 1)), 2 * span) - span
                x = _shift(x, frames)
            elif op == "gain":
                gain = (2.0 * float(u[i]) - 1.0) * tc.aug_gain_db * nats_per_db
                mag = (x[0] + gain).clamp(min=SILENCE_LOG)
                x = torch.stack([mag, x[1]])
            elif op == "time_mask":
                length = 1 + min(int(u[i] * tc.aug_mask_frames), tc.aug_mask_frames - 1)
                start = min(int(v[i] * t), t - 1)
                x = _mask(x, start, length)
            notes[i] = x
        augmented |= hit
    return torch.stack(notes), augmented
