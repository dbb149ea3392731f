"""The generator: parameter count, every preset and progress, progressive blending."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from instrument.config import config_names, get_config
from instrument.networks import (
    EqualizedConv2d,
    EqualizedLinear,
    Generator,
    generator_macs,
    pixel_norm,
    progress_weights,
)


def _inputs(cfg, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, cfg.latent_size, generator=g)
    labels = torch.arange(batch) * 7 % cfg.num_pitches
    return z, labels


def test_paper_parameter_count_matches_reference():
    gen = Generator(get_config("paper"))
    assert sum(p.numel() for p in gen.parameters()) == 7_311_246
    assert gen.blocks[0].conv1.weight.numel() + 256 == 2_597_120
    assert sum(p.numel() for p in gen.to_rgb[-1].parameters()) == 66


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n == "paper" else n
        for n in config_names()
    ],
)
def test_every_preset_runs_at_every_progress(name):
    cfg = get_config(name)
    torch.manual_seed(0)
    gen = Generator(cfg).eval()
    z, labels = _inputs(cfg)
    final = gen.final_progress
    with torch.inference_mode():
        for progress in (0.0, final - 0.25):
            raw = gen(z, labels, progress)
            assert raw.shape == (2, 2, cfg.spectral.n_frames, cfg.spectral.n_bins)
            assert raw.dtype == torch.float32
            assert torch.isfinite(raw).all()
        raw = gen(z, labels)
        y = gen.forward_normalized(z, labels, final)
        assert y.abs().max() <= 1.0
    # raw = de-normalised tanh output: (y - b) / a per channel
    a_mag, b_mag = cfg.spectral.mag_normalizer
    a_if, b_if = cfg.spectral.if_normalizer
    torch.testing.assert_close(raw[:, 0], (y[:, 0] - b_mag) / a_mag)
    torch.testing.assert_close(raw[:, 1], (y[:, 1] - b_if) / a_if)


def test_progress_weights_are_triangles_summing_to_one():
    for p in (0.0, 0.3, 1.0, 2.5, 5.99, 6.0):
        w = progress_weights(p, 7)
        assert math.isclose(sum(w), 1.0)
        assert all(v >= 0 for v in w)
    assert progress_weights(0.0, 7)[0] == 1.0
    assert progress_weights(6.0, 7)[6] == 1.0
    assert progress_weights(2.25, 7)[2:4] == [0.75, 0.25]


def test_num_blocks_for_progress():
    gen = Generator(get_config("quarter"))
    assert [gen.num_blocks_for(p) for p in (0, 0.5, 1, 1.01, 5.5, 6, None)] == [
        1,
        2,
        2,
        3,
        7,
        7,
        7,
    ]


def test_low_progress_ignores_later_blocks_and_is_box_upsampled():
    cfg = get_config("quarter")
    torch.manual_seed(1)
    gen = Generator(cfg).eval()
    z, labels = _inputs(cfg)
    with torch.inference_mode():
        before = gen.forward_normalized(z, labels, 1.0)
        for block in list(gen.blocks[2:]) + list(gen.to_rgb[2:]):
            for p in block.parameters():
                p.add_(1.0)
        after = gen.forward_normalized(z, labels, 1.0)
    torch.testing.assert_close(before, after)
    # progress 1 = block 2 only (4 x 32): every 32 x 32 tile of the output is constant
    tiles = before.reshape(2, 2, 4, 32, 32, 32)
    assert torch.equal(tiles, tiles[:, :, :, :1, :, :1].expand_as(tiles))


def test_fractional_progress_blends_neighbouring_blocks():
    cfg = get_config("quarter_2s")
    torch.manual_seed(2)
    gen = Generator(cfg).eval()
    z, labels = _inputs(cfg)
    with torch.inference_mode():
        y2 = gen.forward_normalized(z, labels, 2.0)
        y3 = gen.forward_normalized(z, labels, 3.0)
        y = gen.forward_normalized(z, labels, 2.25)
    torch.testing.assert_close(y, 0.75 * y2 + 0.25 * y3)


def test_out_of_range_label_gives_all_zero_one_hot():
    gen = Generator(get_config("quarter_2s"))
    one_hot = gen.one_hot(torch.tensor([0, 60, 61, -1]))
    assert one_hot.sum(dim=1).tolist() == [1, 1, 0, 0]
    assert one_hot[1, 60] == 1


def test_channels_last_gives_the_same_output():
    cfg = get_config("quarter_2s")
    torch.manual_seed(3)
    gen = Generator(cfg).eval()
    z, labels = _inputs(cfg)
    with torch.inference_mode():
        plain = gen.forward_normalized(z, labels)
        gen = gen.to(memory_format=torch.channels_last)
        cl = gen.forward_normalized(z, labels)
    torch.testing.assert_close(plain, cl, rtol=1e-3, atol=3e-4)


def test_equalized_layers_scale_and_init():
    conv = EqualizedConv2d(16, 8, 3, padding=1)
    assert math.isclose(conv.scale, math.sqrt(2 / (9 * 16)))
    assert torch.count_nonzero(conv.bias) == 0
    rgb = EqualizedConv2d(16, 2, 1, gain_slope=1.0)
    assert math.isclose(rgb.scale, math.sqrt(1 / 16))
    dense = EqualizedLinear(256, 61)
    assert math.isclose(dense.scale, math.sqrt(1 / 256))
    big = EqualizedConv2d(64, 64, 3)
    assert abs(big.weight.std().item() - 1.0) < 0.05
    x = torch.randn(4, 16, 5, 7)
    assert conv(x).shape == (4, 8, 5, 7)
    assert dense(torch.randn(3, 256)).shape == (3, 61)


def test_pixel_norm_gives_unit_rms_per_position():
    x = torch.randn(3, 12, 4, 5) * 7
    rms = pixel_norm(x).square().mean(dim=1).sqrt()
    torch.testing.assert_close(rms, torch.ones_like(rms))


def test_generator_macs_match_conv_hooks():
    cfg = get_config("quarter")
    gen = Generator(cfg).eval()
    counted = 0

    def hook(mod, inp, out):
        nonlocal counted
        o, i, kh, kw = mod.weight.shape
        macs = out.shape[0] * out.shape[2] * out.shape[3] * o * i * kh * kw
        if mod is gen.blocks[0].conv1:  # padded VALID conv: one input pixel per output
            macs //= kh * kw
        counted += macs

    for m in gen.modules():
        if isinstance(m, EqualizedConv2d):
            m.register_forward_hook(hook)
    z, labels = _inputs(cfg, batch=1)
    with torch.inference_mode():
        gen.forward_normalized(z, labels)
    assert counted == generator_macs(cfg)
    assert abs(generator_macs(get_config("paper")) - 14.07e9) < 0.01e9


def test_bad_inputs_give_one_clear_error():
    cfg = get_config("quarter_2s")
    gen = Generator(cfg)
    z, labels = _inputs(cfg)
    with pytest.raises(ValueError, match="latents must have shape"):
        gen(z[:, :10], labels)
    with pytest.raises(ValueError, match="labels must have shape"):
        gen(z, labels[:1])
    with pytest.raises(ValueError, match="integer"):
        gen(z, labels.float())
    with pytest.raises(ValueError, match="progress"):
        gen(z, labels, 6.5)


@pytest.mark.parametrize("folded", [False, True])
@pytest.mark.parametrize("window", [(0, 5), (17, 40), (55, 64), (0, 64), (1, 2)])
def test_forward_window_equals_the_slice_of_the_whole_image(window, folded):
    cfg = get_config("quarter_2s")
    torch.manual_seed(3)
    gen = Generator(cfg).eval()
    z = torch.randn(2, cfg.latent_size)
    labels = torch.tensor([3, 40])
    lo, hi = window
    with torch.inference_mode():
        whole = gen(z, labels)  # the textbook path (upsample, then conv)
        if folded:  # inference: fused upsampling convs on the window's rows
            for m in gen.modules():
                if isinstance(m, EqualizedConv2d):
                    m.fold_scale()
            gen = gen.to(memory_format=torch.channels_last)
            fused = gen(z, labels)
            # the same images up to float rounding (raw log-mel values reach ~17)
            torch.testing.assert_close(fused, whole, rtol=1e-3, atol=5e-3)
            whole = fused
        part = gen.forward_window(z, labels, lo, hi)
    assert part.shape == (2, 2, hi - lo, cfg.spectral.n_bins)
    torch.testing.assert_close(part, whole[:, :, lo:hi], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape", [(1, 8, 16, 3, 5), (3, 16, 4, 1, 1), (2, 5, 7, 6, 9)])
def test_fused_upsampling_conv_equals_upsample_then_conv(shape, channels_last):
    batch, cin, cout, h, w = shape
    torch.manual_seed(sum(shape))
    conv = EqualizedConv2d(cin, cout, 3, padding=1)
    conv.bias.data.normal_(0, 0.5)
    x = torch.randn(batch, cin, h, w)
    with torch.no_grad():
        up = torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
        reference = conv(up)
        assert not conv.fused  # training keeps the textbook path
        torch.testing.assert_close(conv(x, upsample=True), reference)
        conv.fold_scale()
        assert conv.fused
        if channels_last:
            conv = conv.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        fused = conv(x, upsample=True)
    assert fused.shape == (batch, cout, 2 * h, 2 * w)
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-5)
    # the dense first conv and 1x1 convs have no fused form
    assert not EqualizedConv2d(4, 4, (2, 16), padding=(1, 15)).can_fuse_upsample
    assert not EqualizedConv2d(4, 4, 1).can_fuse_upsample


def test_window_ranges_grow_by_the_conv_halo_and_refuse_outside_frames():
    gen = Generator(get_config("paper"))
    ranges = gen.window_ranges(41, 56)
    assert ranges[-1] == (41, 56) and ranges[-2] == (19, 29) and ranges[0] == (0, 2)
    with pytest.raises(ValueError, match="window"):
        gen.window_ranges(120, 130)


def test_dense_first_conv_and_folded_scale_keep_the_output():
    cfg = get_config("quarter_2s")
    torch.manual_seed(1)
    gen = Generator(cfg)
    for m in gen.modules():
        if isinstance(m, EqualizedConv2d):
            m.bias.data.normal_(0, 0.1)
    z, labels = _inputs(cfg, batch=3)
    first = gen.blocks[0].conv1
    x = torch.randn(3, first.weight.shape[1], 1, 1)
    reference = torch.nn.functional.conv2d(
        x, first.weight * first.scale, first.bias, padding=first.padding
    )
    torch.testing.assert_close(first(x), reference, rtol=1e-5, atol=1e-5)
    # in float64 the folded generator (dense first conv, fused upsampling convs) gives
    # the textbook one's images exactly; float32 differs by rounding only
    gen64 = copy.deepcopy(gen).double()
    before, before64 = gen(z, labels), gen64(z.double(), labels)
    for g in (gen, gen64):
        for m in g.modules():
            if isinstance(m, EqualizedConv2d):
                m.fold_scale()
    assert all(m.scale == 1.0 for m in gen.modules() if isinstance(m, EqualizedConv2d))
    torch.testing.assert_close(gen64(z.double(), labels), before64, rtol=0, atol=1e-9)
    torch.testing.assert_close(gen(z, labels), before, rtol=1e-3, atol=5e-3)
