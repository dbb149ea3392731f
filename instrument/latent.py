"""Latent maths for timbres: random latents, spherical interpolation, the pad's morph.

Pure numpy (the engine imports this module and never imports torch).

GANSynth samples ``z ~ N(0, I)`` and interpolates spherically (GANSYNTH.md 5): a
random latent of size n has norm close to sqrt(n), and slerp between two of them stays
near that shell, where linear interpolation would cut through the lower-norm interior.

The pad: four corner latents in the order top-left, top-right, bottom-left,
bottom-right; a position ``(x, y)`` in ``[0, 1]^2`` with x = 0 at the left edge and
y = 0 at the TOP edge (screen coordinates, as Qt draws). ``pad_latent`` slerps along
x on the top and bottom edges, then along y between the two results; ``pad_weights``
gives the matching bilinear weights for display ("how much of each corner").
"""

from __future__ import annotations

import numpy as np

__all__ = ["random_latents", "slerp", "pad_weights", "pad_latent"]

# Below this angle (radians) slerp falls back to lerp, which is then equal to ~1e-12.
_SMALL_ANGLE = 1e-6


def random_latents(
    n: int, size: int, seed: int | np.random.Generator | None = None
) -> np.ndarray:
    """``n`` latents drawn from N(0, I): ``[n, size] float32``.

    ``seed`` is an int (reproducible), a numpy Generator (advanced in place) or None.
    """
    if n < 0 or size <= 0:
        raise ValueError(f"need n >= 0 and size > 0, got n={n}, size={size}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return rng.standard_normal((n, size), dtype=np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical interpolation from ``a`` (t = 0) to ``b`` (t = 1), vectorised.

    Parameters
    ----------
    a, b : [..., size] float
        End points (broadcast against each other).
    t : float or [...] array
        Positions, broadcast against the leading axes of ``a`` and ``b``.

    Returns
    -------
    [..., size] array of ``a``'s dtype (float32 in, float32 out).

    Notes
    -----
    ``sin((1-t)W)/sin W * a + sin(tW)/sin W * b`` with ``W`` the angle between ``a``
    and ``b``; when ``W`` is below 1e-6 rad the formula is 0/0 and linear interpolation
    (equal to it in the limit) is used. Opposite vectors (W = pi) have no unique great
    circle; random latents of useful size are never that close to opposite.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    out_dtype = np.result_type(a.dtype, b.dtype, np.float32)
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    t64 = np.asarray(t, dtype=np.float64)[..., None]
    na = np.linalg.norm(a64, axis=-1, keepdims=True)
    nb = np.linalg.norm(b64, axis=-1, keepdims=True)
    denom = np.where((na > 0) & (nb > 0), na * nb, 1.0)
    cos = np.clip(np.sum(a64 * b64, axis=-1, keepdims=True) / denom, -1.0, 1.0)
    omega = np.arccos(cos)
    small = omega < _SMALL_ANGLE
    sin_omega = np.where(small, 1.0, np.sin(omega))
    wa = np.where(small, 1.0 - t64, np.sin((1.0 - t64) * omega) / sin_omega)
    wb = np.where(small, t64, np.sin(t64 * omega) / sin_omega)
    return (wa * a64 + wb * b64).astype(out_dtype)


def _check_position(x: float, y: float) -> tuple[float, float]:
    x, y = float(x), float(y)
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(f"pad position must be inside [0, 1] x [0, 1], got ({x}, {y})")
    return x, y


def pad_weights(x: float, y: float) -> np.ndarray:
    """Bilinear weights of the four corners at ``(x, y)``: ``[4] float64``, sum 1.

    Order: top-left, top-right, bottom-left, bottom-right (y = 0 is the top edge).
    Continuous; exactly one-hot at each corner.
    """
    x, y = _check_position(x, y)
    return np.array(
        [(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y], dtype=np.float64
    )


def pad_latent(corners: np.ndarray, x: float, y: float) -> np.ndarray:
    """The latent at pad position ``(x, y)``: ``[size]`` of the corners' dtype.

    Parameters
    ----------
    corners : [4, size] float
        Top-left, top-right, bottom-left, bottom-right latents.
    x, y : float
        Position in [0, 1]; x = 0 left, y = 0 top.

    Nested spherical interpolation: slerp along x on the top and bottom edges, then
    along y. Continuous in (x, y), equal to a corner at that corner, and on the prior's
    shell (norm near sqrt(size)) when the corners are.
    """
    corners = np.asarray(corners)
    if corners.ndim != 2 or corners.shape[0] != 4:
        raise ValueError(
            f"corners must have shape [4, size], got {list(corners.shape)}"
        )
    if not np.all(np.isfinite(corners)):
        raise ValueError("corner latents contain NaN or Inf")
    x, y = _check_position(x, y)
    edges = slerp(corners[[0, 2]], corners[[1, 3]], x)  # [2, size]: top, bottom
    return slerp(edges[0], edges[1], y)
