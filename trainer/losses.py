"""Adversarial losses, the gradient penalties and the auxiliary pitch loss.

GANSYNTH.md section 4 (the reference, TF-GAN's WGAN-GP with AC-GAN terms):

- ``L_D = mean D(fake) - mean D(real) + gp_weight * GP + drift * mean D(real)^2 + AC_D``
- ``L_G = -mean D(fake) + AC_G``
- ``GP = mean((|grad_xhat D(xhat)|_2 - 1)^2)``, ``xhat = real + a (fake - real)``, a ~
  U[0, 1) per note, the gradient taken in raw units (D normalises inside).

CPU-TRAINING.md section 1 options: the non-saturating logistic loss or the hinge loss
with a zero-centred R1 penalty ``gamma / 2 * |grad_x D(x_real)|^2`` taken with respect
to D's normalised input.

Losses come from a table keyed by ``TrainConfig.loss``; every function takes logits
``[B]`` and returns a scalar tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "D_LOSSES",
    "G_LOSSES",
    "d_loss",
    "g_loss",
    "classification_loss",
    "accuracy",
    "gradient_penalty",
    "r1_penalty",
]


def _wgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return fake.mean() - real.mean()


def _wgan_g(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def _ns_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(fake).mean() + F.softplus(-real).mean()


def _ns_g(fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake).mean()


def _hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def _hinge_g(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


D_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "wgan_gp": _wgan_d,
    "ns_r1": _ns_d,
    "hinge_r1": _hinge_d,
}
G_LOSSES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "wgan_gp": _wgan_g,
    "ns_r1": _ns_g,
    "hinge_r1": _hinge_g,
}


def d_loss(
    loss: str, real: torch.Tensor, fake: torch.Tensor, drift: float = 0.0
) -> torch.Tensor:
    """D's adversarial loss (plus the drift term ``drift * mean(real^2)``).

    Parameters
    ----------
    loss : str
        A key of ``D_LOSSES``.
    real, fake : torch.Tensor
        [B] D logits of real and generated notes.
    """
    try:
        out = D_LOSSES[loss](real.float(), fake.float())
    except KeyError:
        raise ValueError(
            f"unknown loss {loss!r}; known: {', '.join(D_LOSSES)}"
        ) from None
    if drift:
        out = out + drift * real.float().square().mean()
    return out


def g_loss(loss: str, fake: torch.Tensor) -> torch.Tensor:
    """G's adversarial loss from D's logits ``[B]`` on its notes."""
    try:
        return G_LOSSES[loss](fake.float())
    except KeyError:
        raise ValueError(
            f"unknown loss {loss!r}; known: {', '.join(G_LOSSES)}"
        ) from None


def classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Softmax cross-entropy of the pitch head.

    Parameters
    ----------
    logits : torch.Tensor
        [B, num_pitches] float.
    labels : torch.Tensor
        [B] long pitch-class indices.
    mask : torch.Tensor or None
        [B] bool, the notes that count (e.g. the un-augmented ones); None = all. An
        all-false mask gives 0.
    """
    logits = logits.float()
    if mask is None:
        return F.cross_entropy(logits, labels)
    if not bool(mask.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[mask], labels[mask])


@torch.no_grad()
def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of notes whose argmax pitch class equals the label."""
    return float((logits.argmax(dim=1) == labels).float().mean())


def _grad_norms(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad.float().flatten(1).square().sum(dim=1)


def gradient_penalty(
    discriminator: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    real: torch.Tensor,
    fake: torch.Tensor,
    alpha: torch.Tensor,
    target: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """WGAN-GP's penalty on interpolates, in the units of ``real``.

    Parameters
    ----------
    discriminator : callable
        ``x [B, 2, T, F] -> (logits [B], classification [B, P])``.
    real, fake : torch.Tensor
        [B, 2, T, F] float, raw units (fake detached from G).
    alpha : torch.Tensor
        [B] float in [0, 1), the interpolation weight per note.

    Returns
    -------
    penalty : torch.Tensor
        Scalar ``mean((|grad| - target)^2)`` (differentiable w.r.t. D's weights).
    grad_norm : torch.Tensor
        Scalar mean gradient norm (detached), for logging.
    """
    a = alpha.view(-1, 1, 1, 1).to(real.dtype)
    xhat = (real + a * (fake - real)).detach().requires_grad_(True)
    logits, _ = discriminator(xhat)
    norms = _grad_norms(logits, xhat).sqrt()
    return (norms - target).square().mean(), norms.mean().detach()


def r1_penalty(
    discriminator: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    real_normalized: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """R1: ``mean |grad_x D(x)|^2`` over real notes (multiply by gamma / 2 outside).

    Parameters
    ----------
    discriminator : callable
        ``x [B, 2, T, F] in [-1, 1] -> (logits [B], classification [B, P])``: D on
        its normalised input.
    real_normalized : torch.Tensor
        [B, 2, T, F] real notes already normalised to [-1, 1].

    Returns
    -------
    penalty : torch.Tensor
        Scalar mean squared gradient norm (differentiable w.r.t. D's weights).
    real_logits : torch.Tensor
        [B] D's scores of the reals (detached), for logging.
    """
    x = real_normalized.detach().requires_grad_(True)
    logits, _ = discriminator(x)
    return _grad_norms(logits, x).mean(), logits.detach()
