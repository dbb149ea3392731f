"""Adversarial losses, penalties and the auxiliary pitch loss on known values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainer import losses

REAL = torch.tensor([1.0, 3.0])
FAKE = torch.tensor([-2.0, 0.0])


def test_wgan_with_drift():
    d = losses.d_loss("wgan_gp", REAL, FAKE, drift=0.001)
    assert float(d) == pytest.approx(-1.0 - 2.0 + 0.001 * 5.0)
    assert float(losses.g_loss("wgan_gp", FAKE)) == pytest.approx(1.0)


def test_non_saturating_and_hinge():
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    ns = (sp(-2) + sp(0)) / 2 + (sp(-1) + sp(-3)) / 2
    assert float(losses.d_loss("ns_r1", REAL, FAKE)) == pytest.approx(ns)
    assert float(losses.g_loss("ns_r1", FAKE)) == pytest.approx((sp(2) + sp(0)) / 2)
    hinge = (0.0 + 0.0) / 2 + (0.0 + 1.0) / 2
    assert float(losses.d_loss("hinge_r1", REAL, FAKE)) == pytest.approx(hinge)


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="lsgan"):
        losses.d_loss("lsgan", REAL, FAKE)


def _linear_d(w: torch.Tensor):
    """A critic whose input gradient is w everywhere: D(x) = <w, x>."""
    return lambda x: ((x * w).flatten(1).sum(1), torch.zeros(x.shape[0], 3))


def test_gradient_penalty_of_a_linear_critic(rng):
    w = torch.from_numpy(rng.standard_normal((1, 2, 4, 8)).astype("float32"))
    real = torch.randn(3, 2, 4, 8)
    fake = torch.randn(3, 2, 4, 8)
    gp, norm = losses.gradient_penalty(_linear_d(w), real, fake, torch.rand(3))
    assert float(norm) == pytest.approx(float(w.norm()), rel=1e-5)
    assert float(gp) == pytest.approx((float(w.norm()) - 1.0) ** 2, rel=1e-4)


def test_gradient_penalty_trains_the_critic():
    w = torch.full((1, 2, 4, 8), 0.5, requires_grad=True)
    gp, _ = losses.gradient_penalty(
        _linear_d(w), torch.zeros(2, 2, 4, 8), torch.ones(2, 2, 4, 8), torch.rand(2)
    )
    gp.backward()
    # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    n = float(w.detach().norm())
    assert torch.allclose(w.grad, 2 * (n - 1) * w.detach() / n, rtol=1e-4)


def test_r1_of_a_linear_critic(rng):
    w = torch.from_numpy(rng.standard_normal((1, 2, 4, 8)).astype("float32"))
    r1, logits = losses.r1_penalty(_linear_d(w), torch.rand(5, 2, 4, 8))
    assert float(r1) == pytest.approx(float(w.square().sum()), rel=1e-5)
    assert logits.shape == (5,)


def test_classification_loss_with_a_mask():
    logits = torch.randn(4, 61)
    labels = torch.tensor([0, 5, 60, 7])
    full = losses.classification_loss(logits, labels)
    assert torch.allclose(full, F.cross_entropy(logits, labels))
    mask = torch.tensor([True, False, True, False])
    part = losses.classification_loss(logits, labels, mask)
    assert torch.allclose(part, F.cross_entropy(logits[[0, 2]], labels[[0, 2]]))
    assert (
        float(losses.classification_loss(logits, labels, torch.zeros(4, dtype=bool)))
        == 0
    )
    assert losses.accuracy(
        torch.eye(61)[:3] * 5, torch.tensor([0, 1, 5])
    ) == pytest.approx(2 / 3)
