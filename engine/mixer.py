"""The output stage: master gain, NaN/Inf scrub, a safety limiter, mono to channels.

Called only from the audio callback; state is a few floats and preallocated buffers.
The limiter's gain falls at once to what the block's peak needs (ramped across the block
from the previous gain) and recovers with a release time; a final clip at ``CEILING``
makes sure no sample ever exceeds it, even in the ramp's first samples.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["CEILING", "OutputStage"]

CEILING = 0.98  # the output never exceeds this magnitude


class OutputStage:
    """Gain, scrub and limit a mono mix, then write it to every output channel."""

    def __init__(
        self, max_block: int, sample_rate: int, release_s: float = 0.25
    ) -> None:
        self.gain = 1.0  # limiter gain now (<= 1)
        self.scrubbed = 0  # blocks in which NaN/Inf were replaced by silence
        self._abs = np.empty(max_block, np.float32)
        self._ramp = np.arange(max_block, dtype=np.float32)
        self._g = np.empty(max_block, np.float32)
        self._release_per_sample = 1.0 / max(1.0, release_s * sample_rate)
        self.peak = 0.0  # peak of the last block after limiting (meters)
        # block length -> views of the scratch buffers (made once per length)
        self._views: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def reset(self) -> None:
        self.gain = 1.0

    def process(self, mix: np.ndarray, n: int, master: float, out: np.ndarray) -> None:
        """Write ``mix[:n] * master``, limited, into every channel of ``out[:n]``.

        Views of the scratch buffers are made once per block length (none per block).
        """
        views = self._views.get(n)
        if views is None:
            views = self._views[n] = (self._abs[:n], self._ramp[:n], self._g[:n])
        a, ramp, g = views
        m = mix if len(mix) == n else mix[:n]
        col = m[:, None]
        if master != 1.0:
            m *= master
        np.abs(m, out=a)
        # argmax needs no reduction buffer (max does), and NaN wins it
        peak = float(a[a.argmax()]) if n else 0.0
        if not math.isfinite(peak):
            np.nan_to_num(m, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            self.scrubbed += 1
            np.abs(m, out=a)
            peak = float(a[a.argmax()])
        target = CEILING / peak if peak > CEILING else 1.0
        g0 = self.gain
        g1 = min(target, g0 + n * self._release_per_sample, 1.0)
        if g0 != 1.0 or g1 != 1.0:
            np.multiply(ramp, (g1 - g0) / n, out=g)
            g += g0
            m *= g
            np.minimum(m, CEILING, out=m)  # not np.clip: it allocates per call
            np.maximum(m, -CEILING, out=m)
        self.gain = g1
        self.peak = min(peak * max(g0, g1), CEILING)
        np.copyto(out if len(out) == n else out[:n], col)
