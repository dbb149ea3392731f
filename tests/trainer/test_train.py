"""The training loop: one step per config, exact resume, two gloo processes, export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from instrument.config import get_config
from instrument.level import CEILING_PEAK
from trainer.checkpoint import load_checkpoint, save_checkpoint
from trainer.config import SOUND_WEIGHTS, TRAIN_PRESETS, get_train_config
from trainer.distributed import Dist
from trainer.export import LEVEL_LATENTS
from trainer.pitch import midi_to_hz
from trainer.salience import tuning_mask
from trainer.train import Trainer, apply_overrides

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, soundfont_path):
    """A tiny NSynth-format set: 2 GM programs x 5 pitches, 4 s notes."""
    from trainer.build_dataset import build_from_soundfont

    out = tmp_path_factory.mktemp("nsynth")
    build_from_soundfont(
        soundfont_path,
        out,
        programs=[0, 40],
        pitches=[48, 55, 60, 67, 72],
        velocities=[100],
        seconds=4.0,
        hold=3.0,
        workers=1,
    )
    return out


@pytest.fixture(scope="module")
def features_for(dataset_dir):
    from trainer.features import load_features

    cache: dict = {}

    def get(model: str):
        spectral = get_config(model).spectral
        if spectral not in cache:
            cache[spectral] = load_features(
                dataset_dir, spectral, "all", progress=False
            )
        return cache[spectral]

    return get


def _params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", list(TRAIN_PRESETS))
def test_one_step_for_every_config(name, features_for):
    tc = get_train_config(name)  # first (lowest-resolution) stage
    feats = features_for(tc.model)
    trainer = Trainer(tc, feats.images, feats.pitches, seed=1)
    before = _params(trainer.G)
    ema_before = _params(trainer.G_ema)
    out = trainer.step()
    assert out["progress"] == 0.0
    assert all(np.isfinite(v) for v in out.values()), out
    assert trainer.images_seen == tc.batch_size
    after = trainer.G.state_dict()
    assert not torch.equal(
        after["blocks.0.conv1.weight"], before["blocks.0.conv1.weight"]
    )
    # blocks with zero weight are not trained
    assert torch.equal(after["blocks.3.conv1.weight"], before["blocks.3.conv1.weight"])
    ema = trainer.G_ema.state_dict()["blocks.0.conv1.weight"]
    assert not torch.equal(ema, ema_before["blocks.0.conv1.weight"])


@pytest.mark.slow
def test_full_resolution_step_small_config(features_for):
    tc = get_train_config("quarter_2s").replace(
        progressive=False, schedule="images", reg_interval=1, aug_p=1.0
    )
    feats = features_for(tc.model)
    trainer = Trainer(tc, feats.images, feats.pitches)
    out = trainer.step()
    assert out["progress"] == 6.0 and np.isfinite(out["r1"]) and out["r1"] > 0
    assert trainer.G.blocks[6].conv2.weight.grad is not None
    assert trainer.D.blocks[5].conv2.weight.grad is not None


def test_bf16_step_runs(features_for):
    tc = get_train_config("quarter_2s_wgan").replace(precision="bf16")
    feats = features_for(tc.model)
    trainer = Trainer(tc, feats.images, feats.pitches)
    assert trainer.bf16
    out = trainer.step()
    assert np.isfinite(out["gp"]) and np.isfinite(out["loss_d"])


@pytest.mark.parametrize("name", ["quarter_2s_wgan", "quarter_2s_pilot"])
def test_resume_gives_the_same_next_step(name, features_for, tmp_path):
    tc = get_train_config(name).replace(
        schedule="images",
        stable_images=16,
        transition_images=16,
        reg_interval=2,
        augment=("time_shift", "gain", "time_mask"),
        aug_p=0.5,
        batch_size=4,
    )
    feats = features_for(tc.model)
    a = Trainer(tc, feats.images, feats.pitches, seed=3)
    for _ in range(5):  # crosses a stage (Adam reset) and an epoch of 10 notes
        a.step()
    save_checkpoint(tmp_path / "c.pt", a.state_dict())
    expected = a.step()

    b = Trainer(tc, feats.images, feats.pitches, seed=99)
    b.load_state_dict(load_checkpoint(tmp_path / "c.pt"))
    got = b.step()
    assert got == expected
    for mine, theirs in ((a.G, b.G), (a.D, b.D), (a.G_ema, b.G_ema)):
        theirs_values = theirs.state_dict().values()
        pairs = zip(mine.state_dict().items(), theirs_values, strict=True)
        for (k, v), w in pairs:
            assert torch.equal(v, w), k
    assert (a.images_seen, a.epoch, a.cursor, a.stage) == (
        b.images_seen,
        b.epoch,
        b.cursor,
        b.stage,
    )


def _gloo_worker(
    rank: int, world: int, store: str, out_dir: str, images, pitches
) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=world
    )
    tc = get_train_config("quarter_2s_wgan").replace(batch_size=4)
    trainer = Trainer(
        tc, images, pitches, Dist(rank, world, rank, world, "cpu"), seed=rank
    )
    for _ in range(2):
        trainer.step()
    torch.save(
        {
            "G": trainer.G.state_dict(),
            "D": trainer.D.state_dict(),
            "images": trainer.images_seen,
            "perm": trainer._perm,
        },
        os.path.join(out_dir, f"rank{rank}.pt"),
    )
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_stay_in_sync(features_for, tmp_path):
    feats = features_for("quarter_2s")
    images = np.ascontiguousarray(feats.images)
    pitches = np.asarray(feats.pitches)
    mp.spawn(
        _gloo_worker,
        args=(2, str(tmp_path / "store"), str(tmp_path), images, pitches),
        nprocs=2,
    )
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=False)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=False)
    assert r0["images"] == r1["images"] == 2 * 2 * 4
    assert set(r0["perm"]).isdisjoint(r1["perm"])  # each rank its own shard
    for key in ("G", "D"):
        for name, v in r0[key].items():
            assert torch.equal(v, r1[key][name]), name
    init = Trainer(get_train_config("quarter_2s_wgan"), images, pitches, seed=0)
    assert not torch.equal(
        init.G.state_dict()["blocks.0.conv1.weight"], r0["G"]["blocks.0.conv1.weight"]
    )


def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_list_configs_smallest_first():
    res = _cli("train", "--list-configs")
    assert res.returncode == 0, res.stderr
    names = res.stdout.split()
    assert set(names) == set(TRAIN_PRESETS) and names[-1] == "paper"
    assert names.index("quarter_2s") < names.index("half") < names.index("paper")


@pytest.mark.slow
def test_cli_train_resume_export_and_play(dataset_dir, tmp_path):
    run = tmp_path / "run"
    common = [
        "--data",
        str(dataset_dir),
        "--out",
        str(run),
        "--no-progress",
        "--set",
        "stable_images=8",
        "--set",
        "transition_images=8",
        "--set",
        "checkpoint_every=8",
        "--set",
        "schedule=images",
        "--set",
        "samples_every=16",
        "--set",
        "summary_every=8",
    ]
    res = _cli("train", "--config", "quarter_2s_wgan", "--max-images", "16", *common)
    assert res.returncode == 0, res.stderr
    assert "images/s" in res.stdout
    assert load_checkpoint(run / "latest.pt")["images"] == 16
    assert (run / "previous.pt").exists() and (run / "run.json").exists()
    assert any((run / "tb").iterdir())

    again = _cli("train", "--config", "quarter_2s_wgan", "--max-images", "16", *common)
    assert again.returncode == 2 and "--resume" in again.stderr

    res = _cli("train", "--resume", "--max-images", "24", *common)
    assert res.returncode == 0, res.stderr
    assert "resumed" in res.stdout
    state = load_checkpoint(run / "latest.pt")
    assert state["images"] == 24 and state["stage"] == 2

    bundle = tmp_path / "model.safetensors"
    res = _cli("export", str(run), "--out", str(bundle))
    assert res.returncode == 0, res.stderr

    from instrument.synth import Synth

    synth = Synth.load(bundle, output_rate=16000)
    waves = synth.render(
        np.zeros((2, synth.latent_size), np.float32), np.array([48, 60])
    )
    assert waves.shape == (2, 32000) and np.isfinite(waves).all()
    from instrument.bundle import load_bundle

    info = load_bundle(bundle).info
    assert info["images"] == 24 and info["train_config"]["name"] == "quarter_2s_wgan"
    assert info["dataset"] == str(dataset_dir.resolve())
    # the export measured the level: the gain is what brings the median peak to 0.5
    # (or the loudest note to 0.9), and the synth plays at it
    level = info["output_level"]
    assert level["notes"] == LEVEL_LATENTS * 61
    assert info["output_gain"] == pytest.approx(
        min(0.5 / level["median_peak"], CEILING_PEAK / level["max_peak"]), rel=1e-4
    )
    assert synth.output_gain == info["output_gain"]
    ema = state["G_ema"]["to_rgb.2.weight"]
    assert torch.equal(load_bundle(bundle).state_dict["to_rgb.2.weight"], ema.float())


@pytest.mark.slow
def test_torchrun_two_processes(dataset_dir, tmp_path):
    run = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    res = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "trainer",
            "train",
            "--config",
            "quarter_2s_wgan",
            "--data",
            str(dataset_dir),
            "--out",
            str(run),
            "--max-images",
            "16",
            "--no-progress",
            "--set",
            "batch_size=4",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    state = load_checkpoint(run / "latest.pt")
    assert state["world"] == 2 and state["images"] == 16 and state["step"] == 2
    assert res.stdout.count("trained 16 images") == 1  # only rank 0 prints
    assert "2 process(es)" in res.stdout


def test_bad_data_is_one_clear_error(features_for):
    tc = get_train_config("quarter_2s")
    feats = features_for("quarter")  # 4 s images for a 2 s model
    with pytest.raises(ValueError, match="shape"):
        Trainer(tc, feats.images, feats.pitches)
    feats = features_for("quarter_2s")
    with pytest.raises(ValueError, match="range"):
        Trainer(tc, feats.images, np.full(len(feats.pitches), 100))


def test_overrides():
    tc = apply_overrides(
        get_train_config("paper"),
        ["batch_size=4", "augment=gain,time_shift", "progressive=false", "lr_d=1e-3"],
    )
    assert tc.batch_size == 4 and tc.augment == ("gain", "time_shift")
    assert not tc.progressive and tc.lr_d == 1e-3
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        apply_overrides(tc, ["nonsense=1"])
    with pytest.raises(ValueError, match="batch_size"):
        apply_overrides(tc, ["batch_size=many"])


def test_train_without_data_is_refused(tmp_path):
    res = _cli("train", "--config", "quarter_2s", "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and "--data" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_time_schedule_stops_at_its_limit(features_for, tmp_path):
    from trainer.checkpoint import CheckpointManager

    tc = get_train_config("quarter_2s_pilot").replace(
        time_limit_s=2.0, stage_multiplier=1.0, batch_size=2
    )
    feats = features_for(tc.model)
    trainer = Trainer(tc, feats.images, feats.pitches, log=lambda _m: None)
    trainer.fit(CheckpointManager(tmp_path), progress_bar=False)
    assert trainer.elapsed_s >= 2.0 and trainer.images_seen >= 2
    state = load_checkpoint(tmp_path / "latest.pt")
    assert state["elapsed_s"] == trainer.elapsed_s


def test_a_run_turns_on_the_projection_discriminator(features_for, tmp_path):
    tc = get_train_config("quarter_2s_pilot").replace(
        schedule="images", stable_images=16, transition_images=16, batch_size=4
    )
    feats = features_for(tc.model)
    a = Trainer(tc, feats.images, feats.pitches, seed=3)
    a.step()
    save_checkpoint(tmp_path / "plain.pt", a.state_dict())
    logs: list[str] = []
    b = Trainer(
        tc.replace(projection=True), feats.images, feats.pitches, log=logs.append
    )
    b.load_state_dict(load_checkpoint(tmp_path / "plain.pt"))
    assert any("projection discriminator" in line for line in logs)
    assert torch.count_nonzero(b.D.embed_weight) == 0
    for k, v in a.D.state_dict().items():
        assert torch.equal(v, b.D.state_dict()[k]), k
    for _ in range(3):
        out = b.step()
    assert np.isfinite(out["loss_d"]) and torch.count_nonzero(b.D.embed_weight) > 0
    save_checkpoint(tmp_path / "proj.pt", b.state_dict())
    c = Trainer(tc.replace(projection=True), feats.images, feats.pitches)
    c.load_state_dict(load_checkpoint(tmp_path / "proj.pt"))  # its own: exact
    assert torch.equal(c.D.embed_weight, b.D.embed_weight)
    with pytest.raises(ValueError, match="do not fit"):
        Trainer(tc, feats.images, feats.pitches).load_state_dict(
            load_checkpoint(tmp_path / "proj.pt")
        )


def test_a_paused_step_does_not_advance_the_time_schedule(features_for):
    from trainer import train

    tc = get_train_config("quarter_2s_pilot")
    feats = features_for(tc.model)
    t = Trainer(tc, feats.images, feats.pitches)
    assert t._counted(500.0) == train.FIRST_STEP_CAP_S  # no typical step yet
    t._typical_step_s = None
    for _ in range(20):
        assert t._counted(0.5) == 0.5
    assert t._counted(3600.0) == pytest.approx(train.STEP_CAP * 0.5)  # a SIGSTOP
    assert t._counted(0.9) == 0.9  # slower stages still count in full


def test_classifier_check_scores_both_generators(features_for):
    tc = get_train_config("quarter_2s_pilot").replace(batch_size=4)
    feats = features_for(tc.model)
    for projection in (False, True):
        t = Trainer(tc.replace(projection=projection), feats.images, feats.pitches)
        t.step()
        got = t.classifier_check(per_pitch=1)
        assert set(got) == {
            "d_pitch_acc_g",
            "d_pitch_acc_ema",
            "salience_acc_g",
            "salience_acc_ema",
            "harmonic_fraction_g",
            "harmonic_fraction_ema",
            "fundamental_share_g",
            "fundamental_share_ema",
            "tuned_share_g",
            "tuned_share_ema",
            "odd_share_g",
            "odd_share_ema",
        }
        assert all(0.0 <= v <= 1.0 for v in got.values())
        assert t.G.training  # the check leaves the generator as it was


def test_the_salience_loss_joins_the_generator_loss(features_for):
    tc = get_train_config("quarter_2s_pilot").replace(
        schedule="images", stable_images=16, transition_images=16, batch_size=4
    )
    feats = features_for(tc.model)
    assert tc.salience_weight == 1.0  # the CPU recipes have it
    plain = Trainer(tc.replace(salience_weight=0.0), feats.images, feats.pitches)
    assert "salience_g" not in plain.step()
    early = Trainer(tc, feats.images, feats.pitches, seed=3)
    assert early.progress < tc.salience_from_progress  # too coarse yet: not used
    assert "salience_g" not in early.step()
    trainer = Trainer(
        tc.replace(salience_from_progress=0.0), feats.images, feats.pitches, seed=3
    )
    out = trainer.step()
    assert 0.0 < out["salience_g"] < 20.0 and np.isfinite(out["loss_g"])
    assert 0.0 <= out["harmonic_g"] <= tc.harmonic_target
    assert 0.0 < out["harmonic_fraction_g"] < 1.0
    check = trainer.classifier_check(per_pitch=1)
    assert 0.0 <= check["salience_acc_ema"] <= 1.0
    no_share = Trainer(
        tc.replace(salience_from_progress=0.0, **dict.fromkeys(SOUND_WEIGHTS, 0.0)),
        feats.images,
        feats.pitches,
        seed=3,
    ).step()
    assert "harmonic_g" not in no_share and "salience_g" in no_share
    logged = []
    first = Trainer(
        tc.replace(
            salience_from_progress=0.0,
            fundamental_weight=4.0,
            envelope_weight=5.0,
            tuning_weight=20.0,
            tuning_sharpness=8.0,
            time_weight=5.0,
            odd_weight=10.0,
            profile_weight=20.0,
            late_weight=5.0,
            presence_weight=2.0,
            late_presence_weight=2.0,
            late_salience_weight=1.0,
        ),
        feats.images,
        feats.pitches,
        seed=3,
        log=logged.append,
    )
    targets = first.salience.fundamental_target
    assert (targets >= 0).all() and (targets <= 1).all() and targets.max() > 0
    assert any("real-note targets" in line for line in logged)
    low, high = first.salience.envelope_low, first.salience.envelope_high
    assert (low <= high).all() and (high < 1).any()
    out = first.step()
    assert 0.0 <= out["fundamental_g"] <= float(targets.max())
    assert 0.0 <= out["fundamental_share_g"] <= 1.0
    assert 0.0 <= out["envelope_g"] <= 2.0
    tuning = first.salience.tuning_target
    assert tuning.max() <= 1 and (tuning[tuning > 0] > 0.5).all()  # real: near
    assert (tuning > 0).sum() > 1  # 0 (no push) only where no real note is near
    assert 0.0 <= out["tuning_g"] <= float(tuning.max())
    assert 0.0 < out["tuned_share_g"] <= 1.0
    # the tuned share reads the mask as sharp as configured
    mc = tc.model_config
    freqs = np.fft.rfftfreq(len(first.salience.window), 1.0 / mc.spectral.sample_rate)
    f0 = midi_to_hz(np.arange(mc.pitch_min, mc.pitch_max + 1))
    torch.testing.assert_close(
        first.salience.tuning_mask,
        torch.tensor(tuning_mask(freqs, f0, 8.0).T, dtype=torch.float32),
    )
    time_low, time_high = first.salience.time_low, first.salience.time_high
    assert (time_low <= time_high).all() and (time_high < 1).any()
    assert 0.0 <= out["time_g"] <= 2.0
    odd = first.salience.odd_target
    assert odd.max() <= 1 and (odd > 0).sum() > 1
    assert 0.0 <= out["odd_g"] <= float(odd.max()) and 0.0 <= out["odd_share_g"] <= 1.0
    real = first.salience.profile_real
    known = real.sum(1) > 0  # the test set's pitches and those within 3 of them
    assert 1 < known.sum() < len(real)
    torch.testing.assert_close(real[known].sum(1), torch.ones(int(known.sum())))
    assert real[:, 1].max() > 0.2  # the real notes hold power on the fundamental
    # the first step's gap is 0, and its notes then move G's running mean off it
    assert out["profile_g"] == 0.0 and out["profile_gap_g"] > 0.0
    assert np.isfinite(first.step()["profile_g"])
    late = first.salience.late_target
    assert late.max() <= 1 and (late[late > 0] > 0.5).all()  # real: held clean
    assert 0.0 <= out["late_g"] <= float(late.max())
    assert 0.0 <= out["late_share_g"] <= 1.0
    presence = first.salience.presence_target
    assert presence.shape == (len(real), 2) and presence.max() <= 1
    assert (presence[:, 0] > 0).sum() > 1  # the real notes' fundamentals are there
    assert np.isfinite(out["presence_g"]) and out["presence_g"] >= 0.0
    late_presence = first.salience.late_presence_target
    assert late_presence.shape == presence.shape and late_presence.max() <= 1
    assert (late_presence[:, 0] > 0).sum() > 1
    assert np.isfinite(out["late_presence_g"]) and out["late_presence_g"] >= 0.0
    assert np.isfinite(out["late_salience_g"]) and out["late_salience_g"] >= 0.0
