"""The discriminator: reference size, heads, progressive inputs, minibatch stddev."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from instrument.config import PRESETS, get_config
from trainer.discriminator import Discriminator, minibatch_stddev


def _count(cfg) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in Discriminator(cfg).parameters())


def test_paper_parameter_count_includes_every_from_rgb():
    assert _count(get_config("paper")) == 6_831_230


def _raw_notes(cfg, batch: int, rng) -> torch.Tensor:
    t, f = cfg.final_shape
    mag = rng.uniform(-13.8, 5.0, (batch, 1, t, f))
    ifreq = rng.uniform(-1.0, 1.0, (batch, 1, t, f))
    return torch.from_numpy(np.concatenate([mag, ifreq], 1).astype(np.float32))


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_config_scores_and_classifies(name, rng):
    cfg = get_config(name)
    torch.manual_seed(0)
    d = Discriminator(cfg)
    x = _raw_notes(cfg, 2, rng)
    progresses = (0.0, 0.5) if name in ("paper", "half") else (0.0, 2.5, None)
    for progress in progresses:
        with torch.no_grad():
            logits, cls = d(x, progress)
        assert logits.shape == (2,) and cls.shape == (2, cfg.num_pitches)
        assert torch.isfinite(logits).all() and torch.isfinite(cls).all()


def test_early_progress_sees_only_the_coarse_input(rng):
    cfg = get_config("quarter_2s")
    d = Discriminator(cfg)
    x = _raw_notes(cfg, 3, rng)
    # two inputs with the same 64 x 64 cell means (in normalised units) score the same
    xn = d.normalize(x)
    pooled = F.avg_pool2d(xn, 64).repeat_interleave(64, 2).repeat_interleave(64, 3)
    with torch.no_grad():
        a = d(xn, 0.0, normalized=True)
        b = d(pooled, 0.0, normalized=True)
        c = d(xn, 6.0, normalized=True)
        e = d(pooled, 6.0, normalized=True)
    assert torch.allclose(a[0], b[0], atol=1e-5) and torch.allclose(
        a[1], b[1], atol=1e-5
    )
    assert not torch.allclose(c[0], e[0], atol=1e-3)


def test_unused_blocks_are_not_computed(rng):
    cfg = get_config("quarter_2s")
    d = Discriminator(cfg)
    logits, cls = d(_raw_notes(cfg, 2, rng), 1.5)  # blocks 1-3 only
    (logits.sum() + cls.sum()).backward()
    assert d.blocks[0].conv1.weight.grad is not None  # block 2
    assert d.blocks[1].conv1.weight.grad is not None  # block 3
    assert all(d.blocks[i].conv1.weight.grad is None for i in range(2, 6))
    assert (
        d.from_rgb[1].weight.grad is not None and d.from_rgb[2].weight.grad is not None
    )
    assert d.from_rgb[3].weight.grad is None


def test_minibatch_stddev_is_one_scalar_over_the_whole_batch(rng):
    x = torch.from_numpy(rng.standard_normal((4, 3, 2, 5)).astype(np.float32))
    y = minibatch_stddev(x)
    assert y.shape == (4, 4, 2, 5) and torch.equal(y[:, :3], x)
    expected = np.sqrt(x.numpy().var(axis=0) + 1e-6).mean()
    assert torch.allclose(y[:, 3], torch.full((4, 2, 5), float(expected)), atol=1e-6)


def test_channels_last_gives_the_same_scores(rng):
    cfg = get_config("quarter_2s")
    torch.manual_seed(1)
    d = Discriminator(cfg)
    x = _raw_notes(cfg, 2, rng)
    with torch.no_grad():
        a, _ = d(x, 4.5)
        d = d.to(memory_format=torch.channels_last)
        b, _ = d(x, 4.5)
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("shape", "progress", "word"),
    [
        ((2, 2, 64, 512), 0.0, "shape"),
        ((2, 1, 64, 1024), 0.0, "shape"),
        ((2, 2, 64, 1024), 7, "progress"),
    ],
)
def test_bad_input_is_one_clear_error(shape, progress, word):
    d = Discriminator(get_config("quarter_2s"))
    with pytest.raises(ValueError, match=word):
        d(torch.zeros(shape), progress)


def test_projection_conditions_the_score_on_the_pitch(rng):
    cfg = get_config("quarter_2s")
    torch.manual_seed(0)
    plain = Discriminator(cfg)
    proj = Discriminator(cfg, projection=True)
    state = {**plain.state_dict(), "embed_weight": proj.embed_weight.detach()}
    proj.load_state_dict(state)
    x = _raw_notes(cfg, 3, rng)
    labels = torch.tensor([0, 12, 60])
    with torch.no_grad():
        a, cls_a = plain(x, 3.0)
        b, cls_b = proj(x, 3.0, labels=labels)
    torch.testing.assert_close(a, b)  # a zero embedding: the plain score
    torch.testing.assert_close(cls_a, cls_b)
    with torch.no_grad():
        proj.embed_weight[12] = 1.0
        c, _ = proj(x, 3.0, labels=labels)
        d, _ = proj(x, 3.0, labels=torch.tensor([0, 13, 60]))
    assert c[0] == b[0] and c[2] == b[2] and c[1] != b[1]  # only pitch 12 moved
    torch.testing.assert_close(d, b)
    with pytest.raises(ValueError, match="needs the pitch labels"):
        proj(x, 3.0)
