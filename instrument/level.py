"""A model's output gain: the factor that brings its notes to a playing level.

A generator learns its training set's log-magnitudes only up to what the losses
check, and a model trained on CPU can come out much quieter than its data (the first
shipped snapshot peaked at 0.02-0.04 where its training notes peak near 0.2). Rather
than make every user turn the master gain up by 25 dB, ``trainer export`` measures the
model once and stores ``output_gain`` in the bundle's info; ``Synth`` multiplies its
waves by it. The SoundFont instrument does the same per program (middle C at a 0.5
peak), so both instruments play at comparable levels.

The measurement renders ``latents_per_pitch`` random latents at every pitch of the
model (fixed seed: the same bundle gets the same gain) and picks the gain that puts
the median note peak at ``target_median``, unless the loudest measured note would
then pass ``ceiling``: the gain never makes a measured note clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from instrument.latent import random_latents

__all__ = ["OutputLevel", "measure_output_level"]

TARGET_MEDIAN_PEAK = 0.5  # like instrument.soundfont: a middle C peaks at 0.5
# the loudest measured note stays below this: the measurement cannot reach the whole
# tail (at 570k images the loudest of 4,000 more notes peaked 19 % above the loudest of
# the 976 measured), so 0.7 leaves 2.2 dB for it
CEILING_PEAK = 0.7
_MIN_PEAK = 1e-6  # a model this quiet (or silent) keeps gain 1


@dataclass(frozen=True, slots=True)
class OutputLevel:
    """What ``measure_output_level`` found (peaks before the gain)."""

    gain: float  # the factor to store as the bundle's ``output_gain``
    median_peak: float  # median of the measured notes' peaks
    max_peak: float  # the loudest measured note's peak
    notes: int  # how many notes were measured

    def as_info(self) -> dict[str, Any]:
        """The facts a bundle's info keeps (gain and what it was measured from)."""
        return {
            "output_gain": round(self.gain, 6),
            "output_level": {
                "median_peak": round(self.median_peak, 6),
                "max_peak": round(self.max_peak, 6),
                "notes": self.notes,
            },
        }


def measure_output_level(
    synth: Any,
    latents_per_pitch: int = 2,
    seed: int = 0,
    target_median: float = TARGET_MEDIAN_PEAK,
    ceiling: float = CEILING_PEAK,
) -> OutputLevel:
    """Measure the gain that brings ``synth``'s notes to a playing level.

    Parameters
    ----------
    synth : instrument.synth.Synth
        The model, rendered at whatever gain it has now (the measurement divides
        it out).
    latents_per_pitch : int
        Random latents rendered at every pitch of the model's range.
    seed : int
        Seed of the latents.
    target_median, ceiling : float
        The median note peak to reach, and the peak no measured note may pass.
    """
    if latents_per_pitch < 1:
        raise ValueError(
            f"latents_per_pitch must be at least 1, got {latents_per_pitch}"
        )
    if not 0.0 < target_median <= ceiling <= 1.0:
        raise ValueError("need 0 < target_median <= ceiling <= 1")
    lo, hi = synth.pitch_range
    pitches = np.repeat(np.arange(lo, hi + 1, dtype=np.int64), latents_per_pitch)
    latents = random_latents(len(pitches), synth.latent_size, seed)
    waves = synth.render(latents, pitches) / np.float32(synth.output_gain)
    peaks = np.abs(np.nan_to_num(waves, nan=0.0, posinf=0.0, neginf=0.0)).max(axis=1)
    median, top = float(np.median(peaks)), float(peaks.max())
    gain = 1.0
    if median > _MIN_PEAK:
        gain = min(target_median / median, ceiling / top)
    return OutputLevel(gain=gain, median_peak=median, max_peak=top, notes=len(peaks))
