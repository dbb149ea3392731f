"""ADSR envelopes, advanced once per audio block and applied as a linear ramp.

A stage enum plus a parameters value, as JUCE's ADSR: the release always starts from the
current level (a note released during its attack fades from where it is, not from 1).
Pure functions on scalars; the voice pool keeps the state in its arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "IDLE",
    "ATTACK",
    "DECAY",
    "SUSTAIN",
    "RELEASE",
    "Adsr",
    "advance",
    "release",
]

IDLE, ATTACK, DECAY, SUSTAIN, RELEASE = 0, 1, 2, 3, 4  # stage enum


@dataclass(frozen=True, slots=True)
class Adsr:
    """Envelope parameters in samples at the engine's rate."""

    attack: int  # samples from 0 to 1 (>= 1)
    decay: int  # samples from 1 down to ``sustain`` (>= 1)
    sustain: float  # level while held, 0..1
    release: int  # samples from the release level to 0 (>= 1)

    def __post_init__(self) -> None:
        for name in ("attack", "decay", "release"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"{name} must be at least 1 sample, got {getattr(self, name)}"
                )
        if not 0.0 <= self.sustain <= 1.0:
            raise ValueError(f"sustain level must be 0..1, got {self.sustain}")

    @classmethod
    def from_seconds(
        cls, attack: float, decay: float, sustain: float, release: float, rate: int
    ) -> Adsr:
        def samples(s: float) -> int:
            return max(1, round(s * rate))

        return cls(samples(attack), samples(decay), float(sustain), samples(release))


def advance(
    stage: int, level: float, rel_step: float, n: int, p: Adsr
) -> tuple[int, float]:
    """Stage and level after ``n`` samples (a stage ending mid-block is clamped).

    ``rel_step`` is the per-sample fall of a releasing voice (``release`` below).
    """
    if stage == ATTACK:
        level += n / p.attack
        if level >= 1.0:
            return DECAY, 1.0
        return ATTACK, level
    if stage == DECAY:
        level -= n * (1.0 - p.sustain) / p.decay
        if level <= p.sustain:
            return SUSTAIN, p.sustain
        return DECAY, level
    if stage == SUSTAIN:
        return SUSTAIN, p.sustain
    if stage == RELEASE:
        level -= n * rel_step
        if level <= 0.0:
            return IDLE, 0.0
        return RELEASE, level
    return IDLE, 0.0


def release(level: float, p: Adsr) -> float:
    """Per-sample fall that takes ``level`` to 0 in the release time."""
    return max(level, 1e-6) / p.release
