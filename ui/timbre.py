"""The pad's timbre: four corner latents, a position, and the latent they give.

Corner order follows ``instrument.latent.pad_weights``: top-left, top-right,
bottom-left, bottom-right; ``x`` runs left (0) to right (1) and ``y`` top (0) to bottom
(1). Qt main thread only.
"""

from __future__ import annotations

import secrets

import numpy as np

from instrument.latent import pad_latent, pad_weights, random_latents, slerp

__all__ = ["PadModel", "CORNER_LABELS"]

CORNER_LABELS = ("top-left", "top-right", "bottom-left", "bottom-right")


def _new_seed() -> int:
    return secrets.randbelow(2**31)


class PadModel:
    """Four named corner latents ``[4, latent_size] float32``; a cursor in [0, 1]^2."""

    def __init__(self, latent_size: int, seed: int | None = None) -> None:
        if latent_size < 1:
            raise ValueError(f"latent size must be positive, got {latent_size}")
        self.latent_size = int(latent_size)
        seed = _new_seed() if seed is None else int(seed)
        self.corners = np.asarray(random_latents(4, self.latent_size, seed), np.float32)
        self.names = [f"Random {seed + i}" for i in range(4)]
        self.x, self.y = 0.5, 0.5

    def move(self, x: float, y: float) -> None:
        """Put the cursor at ``(x, y)``, clamped to the pad."""
        self.x, self.y = min(max(float(x), 0.0), 1.0), min(max(float(y), 0.0), 1.0)

    def latent(self) -> np.ndarray:
        """The timbre at the cursor: ``[latent_size] float32``."""
        return np.asarray(pad_latent(self.corners, self.x, self.y), np.float32)

    def weights(self) -> np.ndarray:
        """Each corner's share of the timbre at the cursor: ``[4] float``, sums to 1."""
        return np.asarray(pad_weights(self.x, self.y), np.float64)

    def set_corner(self, index: int, latent: np.ndarray, name: str) -> None:
        """Replace corner ``index`` by ``latent`` ``[latent_size]`` named ``name``."""
        latent = np.asarray(latent, np.float32)
        if not 0 <= index < 4:
            raise ValueError(f"pad corner must be 0-3, got {index}")
        if latent.shape != (self.latent_size,):
            raise ValueError(
                f"corner latent must have shape ({self.latent_size},), "
                f"got {latent.shape}"
            )
        self.corners = self.corners.copy()
        self.corners[index] = latent
        self.names = [*self.names[:index], name, *self.names[index + 1 :]]

    def reroll(self, index: int, seed: int | None = None) -> None:
        """Give corner ``index`` a new random latent."""
        seed = _new_seed() if seed is None else int(seed)
        self.set_corner(
            index, random_latents(1, self.latent_size, seed)[0], f"Random {seed}"
        )

    def capture(self, index: int) -> None:
        """Put the sound now playing (the cursor's latent) into corner ``index``."""
        self.set_corner(index, self.latent(), "Captured")

    def mutate(self, amount: float = 0.1, seed: int | None = None) -> None:
        """Nudge the timbre: every corner moves ``amount`` towards one random latent."""
        if not 0.0 < amount <= 1.0:
            raise ValueError(f"mutation amount must be in (0, 1], got {amount}")
        seed = _new_seed() if seed is None else int(seed)
        target = np.asarray(random_latents(1, self.latent_size, seed)[0], np.float32)
        self.corners = np.stack(
            [np.asarray(slerp(c, target, amount), np.float32) for c in self.corners]
        )
        self.names = [n if n.endswith("*") else n + "*" for n in self.names]

    def load(self, corners: np.ndarray, names: list[str], x: float, y: float) -> None:
        """Take corners ``[4, latent_size]``, their names and a position (a preset)."""
        corners = np.asarray(corners, np.float32)
        if corners.shape != (4, self.latent_size):
            raise ValueError(
                f"pad corners must have shape (4, {self.latent_size}), "
                f"got {corners.shape}"
            )
        if len(names) != 4:
            raise ValueError(f"pad needs 4 corner names, got {len(names)}")
        self.corners = corners.copy()
        self.names = [str(n) for n in names]
        self.move(x, y)

    def to_json(self) -> dict:
        return {
            "corners": self.corners.tolist(),
            "names": list(self.names),
            "x": self.x,
            "y": self.y,
        }

    def restore(self, data: object) -> bool:
        """Take saved state; False (nothing changed) when it does not fit this model."""
        try:
            d = dict(data)  # type: ignore[call-overload]
            self.load(
                np.array(d["corners"], np.float32), list(d["names"]), d["x"], d["y"]
            )
        except (KeyError, TypeError, ValueError):
            return False
        return True
