"""A double-length ring buffer of the engine's output, for the UI's scope and meters.

Threads: the audio callback is the only writer (``write``); the UI thread reads
(``read``). NB: ``_end`` is a plain int assigned after the samples are in place, so a
reader always gets a contiguous slice of recent samples; a block written during a read
may show up in part, which a display does not mind.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ScopeRing"]


class ScopeRing:
    """The last ``capacity`` mono samples; every read is one contiguous slice."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"scope capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._buf = np.zeros(2 * capacity, np.float32)  # written at j and j + capacity
        self._end = 0  # NB: index one past the newest sample, in [0, capacity)
        self.written = 0  # samples written since the start (a clock for the UI)

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` ([n] float32, n <= capacity); no allocation."""
        n = len(block)
        if n > self.capacity:
            block = block[n - self.capacity :]
            n = self.capacity
        cap, j = self.capacity, self._end
        first = min(n, cap - j)
        self._buf[j : j + first] = block[:first]
        self._buf[j + cap : j + cap + first] = block[:first]
        rest = n - first
        if rest:
            self._buf[:rest] = block[first:]
            self._buf[cap : cap + rest] = block[first:]
        self._end = (j + n) % cap
        self.written += n

    def read(self, n: int) -> np.ndarray:
        """A copy of the newest ``n`` samples, oldest first: [n] float32."""
        n = max(0, min(int(n), self.capacity))
        end = self._end + self.capacity
        return self._buf[end - n : end].copy()
