"""Latent maths: random latents, slerp, and the pad's four-corner morph."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.latent import pad_latent, pad_weights, random_latents, slerp

CORNERS = [(0, 0), (1, 0), (0, 1), (1, 1)]  # TL, TR, BL, BR with y = 0 at the top


def test_random_latents_shape_dtype_and_seed(rng):
    a = random_latents(5, 256, seed=3)
    assert a.shape == (5, 256) and a.dtype == np.float32
    np.testing.assert_array_equal(a, random_latents(5, 256, seed=3))
    assert not np.array_equal(a, random_latents(5, 256, seed=4))
    big = random_latents(400, 256, seed=rng)
    assert abs(big.mean()) < 0.01 and abs(big.std() - 1) < 0.01
    with pytest.raises(ValueError):
        random_latents(2, 0)


def test_slerp_end_points_and_norm(rng):
    a, b = random_latents(2, 256, rng)
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-6)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-6)
    mid = slerp(a, b, 0.5)
    assert mid.dtype == np.float32
    # equal-norm end points: slerp stays on the sphere; lerp would shrink to ~0.71
    a_n, b_n = a / np.linalg.norm(a) * 16, b / np.linalg.norm(b) * 16
    for t in np.linspace(0, 1, 11):
        assert np.linalg.norm(slerp(a_n, b_n, t)) == pytest.approx(16, rel=1e-5)
    # equal angles to both ends at t = 0.5
    cos = lambda u, v: u @ v / np.linalg.norm(u) / np.linalg.norm(v)  # noqa: E731
    m = slerp(a_n, b_n, 0.5)
    assert cos(m, a_n) == pytest.approx(cos(m, b_n), rel=1e-5)


def test_slerp_is_vectorised(rng):
    a = random_latents(3, 64, rng)
    b = random_latents(3, 64, rng)
    t = np.array([0.1, 0.5, 0.9])
    batched = slerp(a, b, t)
    for i in range(3):
        np.testing.assert_allclose(batched[i], slerp(a[i], b[i], t[i]), rtol=1e-6)
    # one pair, many t
    many = slerp(a[0], b[0], np.linspace(0, 1, 7)[:, None][:, 0])
    assert many.shape == (7, 64)


def test_slerp_small_angle_falls_back_to_lerp(rng):
    a = random_latents(1, 32, rng)[0]
    np.testing.assert_allclose(slerp(a, a, 0.3), a, rtol=1e-6)
    b = a * (1 + 1e-9)
    out = slerp(a, b, 0.5)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, a, rtol=1e-6)


def test_pad_weights_corners_sum_and_continuity():
    for i, (x, y) in enumerate(CORNERS):
        w = pad_weights(x, y)
        assert w.shape == (4,)
        np.testing.assert_array_equal(w, np.eye(4)[i])
    grid = np.linspace(0, 1, 21)
    for x in grid:
        for y in grid:
            w = pad_weights(x, y)
            assert w.sum() == pytest.approx(1.0) and np.all(w >= 0)
            assert np.abs(pad_weights(min(x + 1e-4, 1), y) - w).max() < 1e-3
    np.testing.assert_allclose(pad_weights(0.5, 0.5), [0.25] * 4)
    with pytest.raises(ValueError, match="pad position"):
        pad_weights(1.2, 0.5)


def test_pad_latent_reproduces_corners(rng):
    corners = random_latents(4, 256, rng)
    for i, (x, y) in enumerate(CORNERS):
        np.testing.assert_allclose(pad_latent(corners, x, y), corners[i], atol=1e-5)
    # on an edge, only that edge's two corners matter
    top = pad_latent(corners, 0.3, 0.0)
    np.testing.assert_allclose(top, slerp(corners[0], corners[1], 0.3), atol=1e-5)


def test_pad_latent_is_continuous_and_stays_near_the_prior_shell(rng):
    size = 256
    corners = random_latents(4, size, rng)
    grid = np.linspace(0, 1, 15)
    step = 1e-3
    for x in grid:
        for y in grid:
            z = pad_latent(corners, x, y)
            assert z.shape == (size,) and z.dtype == np.float32
            assert abs(np.linalg.norm(z) / np.sqrt(size) - 1) < 0.15
            near = pad_latent(corners, min(x + step, 1), min(y + step, 1))
            assert np.linalg.norm(near - z) < 20 * step * np.sqrt(size)


def test_pad_latent_bad_input(rng):
    with pytest.raises(ValueError, match=r"\[4, size\]"):
        pad_latent(random_latents(3, 8, rng), 0.5, 0.5)
    bad = random_latents(4, 8, rng)
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pad_latent(bad, 0.5, 0.5)
    with pytest.raises(ValueError, match="pad position"):
        pad_latent(random_latents(4, 8, rng), -0.1, 0.5)
