"""make-presets: the latent search, its refinement, and the presets it writes.

A randomly initialised generator is enough to check the search itself: a target made
from the generator's own notes for a known latent can be approached by descent, and
the command's presets must load for the model they name.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import torch

from engine.presets import DEFAULT_PRESET, load_preset, startup_preset
from instrument.bundle import load_bundle, save_bundle
from instrument.config import get_config
from instrument.latent import random_latents
from instrument.networks import Generator
from trainer import factory_presets as fp
from trainer.build_dataset import build_from_soundfont
from trainer.features import load_features
from trainer.gm import instrument_str
from trainer.metrics import log_spectrogram_features


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    return Generator(get_config("quarter_2s")).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def four_set(tmp_path_factory, soundfont_path):
    out = tmp_path_factory.mktemp("nsynth4")
    build_from_soundfont(soundfont_path, out, [0, 40, 56, 73], [48, 60], [50, 100])
    return out


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory, generator):
    path = tmp_path_factory.mktemp("model") / "random.safetensors"
    info = {"name": "random", "progress": 3.0}  # renders as a snapshot at 8 x 128 does
    save_bundle(path, generator.cfg, generator.state_dict(), info)
    return path


def test_pooled_is_the_metrics_feature(rng):
    images = rng.standard_normal((3, 2, 64, 1024)).astype(np.float32)
    got = fp.pooled(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(got, log_spectrogram_features(images), atol=1e-5)
    with pytest.raises(ValueError, match="do not pool"):
        fp.pooled(torch.zeros(1, 2, 63, 1024))


def test_real_notes_pick_the_program_pitch_and_velocity(four_set):
    cfg = get_config("quarter_2s")
    feats = load_features(four_set, cfg.spectral, "all", progress=False)
    pitches, got = fp.real_notes(feats, 40, [47, 60], velocity=90)
    assert pitches.tolist() == [48, 60]  # 47 is missing: its nearest pitch
    for p, row in zip(pitches, got, strict=True):
        i = next(
            i
            for i in range(len(feats))
            if feats.instruments[i] == instrument_str(40)
            and feats.pitches[i] == p
            and feats.velocities[i] == 100
        )
        want = log_spectrogram_features(np.asarray(feats.images[i : i + 1]))[0]
        np.testing.assert_allclose(row, want)
    with pytest.raises(ValueError, match="no notes of GM program 24"):
        fp.real_notes(feats, 24, [48])


def test_refine_approaches_a_known_latent(generator):
    search = fp.LatentSearch(generator, 3.0)  # a snapshot's progress: quick
    pitches = [48, 60]
    goal_z = random_latents(1, search.cfg.latent_size, 99)
    target = search.features(goal_z, pitches)[0]
    pool = random_latents(16, search.cfg.latent_size, 1)
    dists = search.distance(search.features(pool, pitches), target)
    start = int(np.argmin(dists))
    z, d = search.refine(pool[start], pitches, target, steps=25, lr=0.05)
    assert d < 0.9 * float(dists[start])  # descent made real progress
    assert np.linalg.norm(z) == pytest.approx(search.shell, rel=1e-4)
    check = search.distance(search.features(z[None], pitches), target)[0]
    assert check == pytest.approx(d, rel=1e-4)  # the distance reported is z's
    z0, d0 = search.refine(pool[start], pitches, target, steps=0)
    assert d0 == pytest.approx(float(dists[start]), rel=0.05)  # shell projection only


def test_parse_targets():
    got = fp.parse_targets("Violin=40:0.5, Keys=0")
    assert got == [fp.Target("Violin", 40, 0.5), fp.Target("Keys", 0, 0.3)]
    for bad in ("Violin", "=40", "Violin=forty", "Violin=200", "Violin=40:-1"):
        with pytest.raises(ValueError, match="Name=program"):
            fp.parse_targets(bad)
    assert [t.name for t in fp.TARGETS[:4]] == [
        "Grand Piano",
        "String Ensemble",
        "Trumpet",
        "Flute",
    ]
    assert len(fp.TARGETS) >= 8 and len({t.name for t in fp.TARGETS}) == len(fp.TARGETS)


@pytest.mark.slow
def test_make_presets_writes_loadable_presets(four_set, bundle_path, tmp_path, capsys):
    out = tmp_path / "factory"
    argv = ["--model", str(bundle_path), "--data", str(four_set), "--out", str(out)]
    argv += ["--targets", "Keys=0:0.6,Bow=40,Brass=56,Wind=73:1.5", "--json"]
    argv += ["--candidates", "6", "--starts", "1", "--steps", "2", "--pitches", "48,60"]
    argv += ["--health-pitches", "48,60", "--max-unhealthy", "2", "--max-rank", "4"]
    parser = argparse.ArgumentParser()
    fp.configure(parser)
    assert fp.run(parser.parse_args(argv)) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(lines[-1])
    model_id = load_bundle(bundle_path).model_id
    assert report["model_id"] == model_id
    assert sorted(p.stem for p in out.glob("*.json")) == sorted(
        ["Keys", "Bow", "Brass", "Wind", DEFAULT_PRESET]
    )
    latents = {}
    for name in ("Keys", "Bow", "Brass", "Wind"):
        preset = load_preset(out / f"{name}.json", model_id)
        t = report["targets"][name]
        assert preset.corner_names[0] == name and preset.position == (0.0, 0.0)
        assert list(preset.corner_names) == t["corners"]
        assert len(set(preset.corner_names)) == 4
        assert 1 <= t["rank"] <= t["instruments"] == 4
        assert t["distance"] <= t["best_random"] + 1e-6
        assert math.isfinite(t["nearest_other_real"])
        np.testing.assert_array_equal(preset.latent(), preset.corners[0])
        latents[name] = preset.corners[0]
    assert load_preset(out / "Keys.json", model_id).settings.release == 0.6
    assert load_preset(out / "Wind.json", model_id).settings.release == 1.5
    empty = tmp_path / "no user presets"
    default = startup_preset(model_id, factory_dir=out, user_dir=empty)
    assert default is not None and default.name == DEFAULT_PRESET
    assert list(default.corner_names) == ["Keys", "Bow", "Brass", "Wind"]
    for i, name in enumerate(default.corner_names):
        np.testing.assert_array_equal(default.corners[i], latents[name])
    assert startup_preset("another-model", factory_dir=out, user_dir=empty) is None
    assert (
        startup_preset(model_id, factory_dir=tmp_path / "none", user_dir=empty) is None
    )


def _found(unhealthy: int, rank: int) -> dict:
    return {"unhealthy_notes": unhealthy, "rank": rank, "nearest_instrument": "Cello"}


def test_a_timbre_that_sounds_like_another_instrument_gets_no_preset(tmp_path):
    from engine.presets import Preset, save_preset

    targets = fp.parse_targets("A=0,B=40,C=56,D=73,Sax=66,Harp=6")
    found = {t.name: _found(0, 1) for t in targets}
    found["Sax"] = _found(0, 3)  # nearest Cello, its own instrument 3rd
    found["Harp"] = _found(5, 1)  # too many silent or clipped notes
    found["B"] = _found(1, 2)
    old = Preset.create("Sax", "an earlier model", np.zeros((4, 8)), (0.0, 0.0))
    save_preset(old, tmp_path)  # made for the last model: it must not stay behind
    said: list[str] = []
    kept = fp.kept_targets(targets, found, 3, 2, tmp_path, said.append)
    assert [t.name for t in kept] == ["A", "B", "C", "D"]
    assert any("Sax: left out" in s and "Cello" in s and "ranks 3" in s for s in said)
    assert any("Harp: left out (5 unhealthy" in s for s in said)
    assert not (tmp_path / "Sax.json").exists()
    assert [
        t.name for t in fp.kept_targets(targets, found, 5, 3, tmp_path, said.append)
    ] == [t.name for t in targets]
    found["D"] = _found(0, 4)
    with pytest.raises(ValueError, match="only 3 targets"):
        fp.kept_targets(targets, found, 3, 2, tmp_path, said.append)
