"""The eval subcommand on a random quarter_2s generator against a tiny rendered set.

A randomly initialised generator is a legitimate subject for the pipeline: its notes
are out of tune, while the real notes of the same set are in tune.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from instrument.bundle import save_bundle
from instrument.config import get_config
from instrument.networks import Generator
from trainer import evaluate
from trainer.build_dataset import build_from_soundfont
from trainer.features import load_features
from trainer.metrics import (
    evaluate_generator,
    log_spectrogram_features,
    real_bins,
    real_features,
)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory, soundfont_path):
    out = tmp_path_factory.mktemp("nsynth")
    build_from_soundfont(soundfont_path, out, [0, 40, 56], [48, 55, 60, 67], [100])
    return out


@pytest.fixture(scope="module")
def random_bundle(tmp_path_factory):
    torch.manual_seed(0)
    cfg = get_config("quarter_2s")
    path = tmp_path_factory.mktemp("model") / "random.safetensors"
    save_bundle(path, cfg, Generator(cfg).state_dict(), {"name": "random"})
    return path


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    evaluate.configure(parser)
    return evaluate.run(parser.parse_args(list(argv)))


@pytest.mark.slow
def test_eval_command_reports_and_prints_json(tiny_set, random_bundle, capsys):
    argv = ["--model", str(random_bundle), "--data", str(tiny_set), "--json"]
    argv += ["--notes-per-pitch", "2", "--real-per-pitch", "2", "--pitches", "48,60"]
    argv += ["--health-latents", "5", "--health-per-latent", "2"]
    assert _run(*argv, "--k", "4", "--roundtrip") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    text = "\n".join(lines[:-1])
    assert result["sweep_latents"] == 5 and result["sweep_notes"] == 10
    assert result["sweep_nan"] == 0
    assert result["pad"] == "random (seed 2)" and result["pad_within"] > 0
    assert result["pad_ratio"] == pytest.approx(
        result["pad_between"] / result["pad_within"]
    )
    phrases = ("pitch accuracy", "by octave", "keys off", "real training notes")
    assert "round trip" in text and {int(k) for k in result["keys_off"]} <= {48, 60}
    assert "where the held power sits" in text
    for phrase in (*phrases, "NDB", "more random latents", "pad contrast"):
        assert phrase in text
    assert result["notes"] == 4 and result["notes_per_pitch"] == 2
    assert set(result["by_octave"]) == {"C3", "C4"}  # MIDI 48 and 60
    assert result["by_octave"]["C3"]["notes"] == 2
    real = result["real_spectral_by_octave"]
    assert real and set(result["spectral_by_octave"]) == {"C3", "C4"}
    for octave in real.values():  # the training notes: on their harmonics
        assert octave["harmonic"] > 0.8 and octave["above_6f0"] < 0.2
    assert result["config"] == "quarter_2s" and result["info"] == {"name": "random"}
    assert result["ndb_k"] == 4 and 0 <= result["ndb"] <= 4
    assert result["real_notes"] == 8  # 2 of each of the 4 training pitches
    assert result["real_pitch_class_accuracy"] >= 0.75  # real notes are in tune
    assert result["pitch_class_accuracy"] < result["real_pitch_class_accuracy"]
    assert (
        result["real_roundtrip_pitch_class"] >= 0.75
    )  # the representation keeps pitch
    assert result["nan"] == 0 and result["clipped"] + result["silent"] <= 4
    assert result["pitch_entropy"] >= 0 and result["real_diversity"] > 0
    assert result["train_notes"] == len(
        load_features(tiny_set, get_config("quarter_2s").spectral)
    )


def test_evaluate_generator_takes_a_training_generator(tiny_set):
    cfg = get_config("quarter_2s")
    torch.manual_seed(1)
    gen = Generator(cfg).train()
    feats = load_features(tiny_set, cfg.spectral, progress=False)
    r = evaluate_generator(gen, feats, n=2, pitches=[60], k=3, progress=2.5)
    assert gen.training  # restored
    assert r["notes"] == 2 and r["ndb_k"] == 3
    assert 0.0 <= r["pitch_accuracy"] <= r["pitch_class_accuracy"] <= 1.0
    assert np.isfinite(r["score"]) and np.isfinite(r["diversity"])
    pooled = list(feats.cache_dir.glob("pooled-32x64-*.npy"))
    assert len(pooled) == 1  # the real notes' pooled spectrograms are cached
    np.testing.assert_array_equal(np.load(pooled[0]), real_features(feats))
    np.testing.assert_allclose(
        real_features(feats), log_spectrogram_features(feats.images), rtol=1e-6
    )
    (bins,) = feats.cache_dir.glob("ndb-bins-k3-s0-*.npz")  # fitted once, kept
    centres, labels = real_bins(feats, real_features(feats), 3, 0)
    with np.load(bins) as f:
        np.testing.assert_array_equal(f["centres"], centres)
    again = evaluate_generator(gen, feats, n=2, pitches=[60], k=3, progress=2.5)
    assert again["ndb"] == r["ndb"] and again["pitch_accuracy"] == r["pitch_accuracy"]


def test_bad_inputs_are_one_sentence(tiny_set, random_bundle, tmp_path):
    with pytest.raises(ValueError, match="no model bundle"):
        _run("--model", str(tmp_path / "none.safetensors"), "--data", str(tiny_set))
    with pytest.raises(ValueError, match="model's range"):
        _run("--model", str(random_bundle), "--data", str(tiny_set), "--pitches", "90")
    with pytest.raises(FileNotFoundError, match="not found"):
        _run("--model", str(random_bundle), "--data", str(tmp_path / "nowhere"))
    # a preset of another model is refused before any note is made (the data
    # directory is not even read)
    with pytest.raises(ValueError, match="preset"):
        _run(
            "--model",
            str(random_bundle),
            "--data",
            str(tmp_path / "nowhere"),
            "--preset",
            "Four Families",
        )


def test_health_sweep_covers_every_pitch_evenly(tmp_path, monkeypatch):
    from instrument.synth import Synth
    from trainer.metrics import audio_health, health_sweep

    cfg = get_config("quarter_2s")
    path = tmp_path / "snapshot.safetensors"  # an early snapshot: quick to render
    save_bundle(path, cfg, Generator(cfg).state_dict(), {"progress": 2.0})
    synth = Synth.load(path, output_rate=16000, device="cpu")
    rendered: list[np.ndarray] = []
    played: list[int] = []
    real_render = synth.render

    def recording(z, pitches):
        waves = real_render(z, pitches)
        rendered.append(waves)
        played.extend(map(int, pitches))
        return waves

    monkeypatch.setattr(synth, "render", recording)
    r = health_sweep(synth, 61, per_latent=4, batch=100)
    assert r["notes"] == 244 and r["latents"] == 61
    counts = np.bincount(played, minlength=85)[24:85]
    assert counts.min() == counts.max() == 4  # every pitch equally often
    whole = audio_health(np.concatenate(rendered))
    assert all(r[k] == whole[k] for k in ("nan", "clipped", "silent"))
    with pytest.raises(ValueError, match="pitches per latent"):
        health_sweep(synth, 2, per_latent=62)


def test_pad_contrast_of_a_real_generator(random_bundle):
    from instrument.latent import random_latents
    from instrument.synth import Synth
    from trainer.metrics import pad_contrast

    synth = Synth.load(random_bundle, output_rate=16000, device="cpu")
    corners = random_latents(4, synth.latent_size, 3)
    r = pad_contrast(synth, corners, [48, 60])
    assert r["between"] > r["within"] > 0 and r["ratio"] > 1
    same = pad_contrast(synth, np.repeat(corners[:1], 4, 0), [60])
    assert same["between"] == 0 and same["within"] == 0
