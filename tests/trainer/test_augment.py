"""Label-preserving augmentation: silence padding, clamped gain, masks, the AC mask."""

from __future__ import annotations

import math

import torch

from trainer.augment import SILENCE_LOG, augment
from trainer.config import get_train_config


def _notes(batch: int = 6) -> torch.Tensor:
    mag = torch.linspace(-5.0, 5.0, 64).view(1, 1, 64, 1).expand(batch, 1, 64, 1024)
    ifreq = torch.full((batch, 1, 64, 1024), 0.25)
    return torch.cat([mag, ifreq], dim=1).clone()


def test_off_by_default():
    x = _notes()
    y, mask = augment(x, get_train_config("paper"), torch.Generator().manual_seed(0))
    assert y is x and not mask.any()


def test_time_shift_pads_with_silence_and_keeps_the_rest():
    tc = get_train_config("quarter_2s").replace(augment=("time_shift",), aug_p=1.0)
    x = _notes().requires_grad_(True)
    y, mask = augment(x, tc, torch.Generator().manual_seed(1))
    assert mask.all() and y.shape == x.shape
    for i in range(len(y)):
        # the shift is whole frames, at most 2, filled with (log floor, IF 0)
        matches = [
            s for s in range(-2, 3) if torch.equal(y[i], _shifted(x[i].detach(), s))
        ]
        assert matches, i
    y.sum().backward()  # differentiable w.r.t. the input (fakes train G through it)
    assert x.grad is not None


def _shifted(x: torch.Tensor, s: int) -> torch.Tensor:
    out = x.clone()
    if s > 0:
        out[:, s:], out[0, :s], out[1, :s] = x[:, :-s], SILENCE_LOG, 0.0
    elif s < 0:
        out[:, :s], out[0, s:], out[1, s:] = x[:, -s:], SILENCE_LOG, 0.0
    return out


def test_gain_moves_only_the_magnitude_and_stays_above_the_floor():
    tc = get_train_config("quarter_2s").replace(augment=("gain",), aug_p=1.0)
    x = _notes()
    x[:, 0, :4] = SILENCE_LOG
    y, _ = augment(x, tc, torch.Generator().manual_seed(2))
    assert torch.equal(y[:, 1], x[:, 1])
    delta = (y[:, 0, 10:] - x[:, 0, 10:]).flatten(1)
    assert torch.allclose(delta, delta[:, :1].expand_as(delta), atol=1e-5)
    assert delta.abs().max() <= 6.0 * math.log(10.0) / 10.0 + 1e-5  # +-6 dB of power
    assert (y[:, 0] >= SILENCE_LOG - 1e-6).all()


def test_probability_and_mask():
    tc = get_train_config("quarter_2s").replace(augment=("time_mask",), aug_p=0.5)
    y, mask = augment(_notes(200), tc, torch.Generator().manual_seed(3))
    assert 60 < int(mask.sum()) < 140
    changed = (y != _notes(200)).flatten(1).any(1)
    assert torch.equal(changed, mask)
