"""Train configs: `paper` is the reference recipe; every preset is valid."""

from __future__ import annotations

import pytest

from instrument.config import config_names
from trainer.config import (
    TRAIN_PRESETS,
    TrainConfig,
    get_train_config,
    train_config_names,
)


def test_paper_is_the_reference_recipe():
    tc = get_train_config("paper")
    assert tc.model == "paper"
    assert (tc.loss, tc.gp_weight, tc.gp_target, tc.drift) == (
        "wgan_gp",
        10.0,
        1.0,
        0.001,
    )
    assert tc.reg_interval == 1 and tc.adam_reg_ratio == 1.0
    assert (tc.ac_weight_d, tc.ac_weight_g, tc.ac_g_ramp_images) == (10.0, 10.0, 0)
    assert (tc.lr_g, tc.lr_d, tc.betas, tc.eps) == (8e-4, 8e-4, (0.0, 0.99), 1e-8)
    assert tc.d_adam() == (8e-4, (0.0, 0.99))
    assert tc.batch_size == 8
    assert (tc.ema_decay, tc.ema_rampup) == (0.999, 0.0)
    assert tc.progressive and tc.schedule == "images"
    assert (tc.stable_images, tc.transition_images) == (800_000, 800_000)
    assert tc.total_images == 11_000_000
    assert tc.reset_adam_per_stage
    assert tc.fake_pitch_sampling == "data"
    assert tc.augment == () and tc.aug_p == 0.0
    assert tc.precision == "fp32" and not tc.reuse_fakes


@pytest.mark.parametrize("name", list(TRAIN_PRESETS))
def test_every_preset_is_valid_and_round_trips(name):
    tc = get_train_config(name)
    assert tc.name == name
    assert tc.model in config_names()
    assert TrainConfig.from_dict(tc.to_dict()) == tc


def test_cpu_recipe_uses_lazy_r1_with_the_adam_correction():
    tc = get_train_config("quarter_2s")
    assert tc.loss == "ns_r1" and tc.reg_interval == 16 and tc.drift == 0.0
    lr, (b1, b2) = tc.d_adam()
    c = 16 / 17
    assert lr == pytest.approx(8e-4 * c)
    assert b1 == 0.0 and b2 == pytest.approx(0.99**c)
    assert tc.schedule == "time" and tc.time_limit_s > 0


def test_names_are_listed_smallest_model_first():
    names = train_config_names()
    assert sorted(names) == sorted(TRAIN_PRESETS)
    order = config_names()
    ranks = [order.index(TRAIN_PRESETS[n].model) for n in names]
    assert ranks == sorted(ranks)
    assert names[-1] == "paper"


@pytest.mark.parametrize(
    ("changes", "word"),
    [
        ({"loss": "lsgan"}, "lsgan"),
        ({"aug_p": 1.5}, "1.5"),
        ({"loss": "ns_r1", "r1_gamma": 0.0}, "r1_gamma"),
        ({"augment": ("pitch_shift",)}, "pitch_shift"),
        ({"schedule": "time", "time_limit_s": 0.0}, "time_limit_s"),
        ({"batch_size": 0}, "batch_size"),
        ({"model": "huge"}, "huge"),
        ({"precision": "fp8"}, "fp8"),
        ({"tuning_sharpness": 0.5}, "tuning_sharpness"),
    ],
)
def test_bad_values_are_named(changes, word):
    with pytest.raises(ValueError, match=word):
        get_train_config("paper").replace(**changes)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="quarter_2s"):
        get_train_config("nope")
