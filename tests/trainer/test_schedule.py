"""The progressive schedule against the reference's formulas (GANSYNTH.md 3.4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainer.config import get_train_config
from trainer.schedule import Schedule, alpha_d, alpha_g, blend_images, num_blocks_for

PAPER = Schedule.from_config(get_train_config("paper"))


@pytest.mark.parametrize(
    ("images", "progress", "stage"),
    [
        (0, 0.0, 0),
        (799_999, 0.0, 0),
        (800_000, 0.0, 1),
        (1_200_000, 0.5, 1),
        (1_600_000, 1.0, 2),
        (2_800_000, 1.5, 3),
        (9_600_000, 6.0, 12),
        (11_000_000, 6.0, 12),
    ],
)
def test_image_schedule_matches_the_reference(images, progress, stage):
    assert PAPER.progress(images) == pytest.approx(progress)
    assert PAPER.stage(images) == stage


def test_paper_schedule_ends_at_11m_images():
    assert PAPER.num_stages == 13
    assert not PAPER.finished(10_999_992)
    assert PAPER.finished(11_000_000)


def test_time_schedule_is_geometric_and_sums_to_the_limit():
    s = Schedule(7, kind="time", time_limit_s=1000.0, stage_multiplier=1.5)
    ends = s.stage_ends_s()
    assert len(ends) == 13 and ends[-1] == pytest.approx(1000.0)
    lengths = np.diff([0.0, *ends])
    assert np.allclose(lengths[1:] / lengths[:-1], 1.5)
    ts = np.linspace(0, 999.9, 500)
    ps = [s.progress(0, t) for t in ts]
    assert ps[0] == 0.0 and np.all(np.diff(ps) >= 0) and ps[-1] == pytest.approx(6.0)
    mid = (ends[0] + ends[1]) / 2  # halfway through the first transition
    assert s.progress(0, mid) == pytest.approx(0.5)
    assert s.stage(0, mid) == 1 and s.stage(0, ends[1] + 1e-6) == 2
    assert s.finished(0, 1000.0) and not s.finished(10**9, 999.0)


def test_a_time_schedule_goes_on_at_full_resolution_for_its_extra_time():
    base = Schedule(7, kind="time", time_limit_s=1000.0, stage_multiplier=1.5)
    longer = Schedule(
        7, kind="time", time_limit_s=1000.0, stage_multiplier=1.5, extra_time_s=500.0
    )
    assert longer.stage_ends_s() == base.stage_ends_s()  # the stages stay put
    for t in (10.0, 400.0, 999.0):
        assert longer.progress(0, t) == base.progress(0, t)
    assert longer.progress(0, 1200.0) == 6.0 and longer.stage(0, 1200.0) == 12
    assert base.finished(0, 1000.0) and not longer.finished(0, 1499.0)
    assert longer.finished(0, 1500.0) and longer.end_s == 1500.0
    with pytest.raises(ValueError, match="extra_time_s"):
        Schedule(7, kind="time", time_limit_s=1.0, extra_time_s=-1.0)


def test_non_progressive_starts_at_the_final_resolution():
    s = Schedule(7, progressive=False)
    assert s.progress(0) == 6.0 and s.stage(0) == 12


@pytest.mark.parametrize("progress", [0.0, 0.3, 1.0, 2.5, 5.99, 6.0])
def test_generator_weights_sum_to_one_on_the_computed_blocks(progress):
    n = num_blocks_for(progress, 7)
    weights = [alpha_g(b, progress) for b in range(1, 8)]
    assert sum(weights) == pytest.approx(1.0)
    assert all(w == 0 for w in weights[n:]) and weights[n - 1] > 0


def test_discriminator_fade_in():
    assert alpha_d(1, 0.0) == 1.0 and alpha_d(1, 0.5) == 0.5 and alpha_d(1, 1.0) == 0.0
    assert alpha_d(6, 6.0) == 0.0 and alpha_d(7, 2.0) == 1.0


def test_blend_images_brings_reals_to_the_current_detail(rng):
    x = torch.from_numpy(rng.standard_normal((2, 2, 64, 1024)).astype(np.float32))
    assert torch.equal(blend_images(x, 6.0, 7), x)
    coarse = blend_images(x, 0.0, 7)  # block 1: 1 x 16 cells of 64 x 64
    pooled = F.avg_pool2d(x, 64)
    assert torch.allclose(coarse[:, :, ::64, ::64], pooled, atol=1e-6)
    assert torch.allclose(
        coarse, pooled.repeat_interleave(64, 2).repeat_interleave(64, 3)
    )
    half = blend_images(x, 5.5, 7)
    up = F.avg_pool2d(x, 2).repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert torch.allclose(half, 0.5 * x + 0.5 * up, atol=1e-6)
