"""The feature cache: real rendered notes -> float16 memmap images, splits, reuse."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile
import torch

from instrument.config import get_config
from instrument.spectral import waves_to_images
from trainer import tfrecord
from trainer.build_dataset import build_from_soundfont
from trainer.dataset import list_examples, load_audio
from trainer.features import load_features


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory, soundfont_path):
    """4 programs x 3 pitches (one outside 24-84) x 1 velocity, 4 s notes."""
    out = tmp_path_factory.mktemp("nsynth")
    build_from_soundfont(soundfont_path, out, [0, 24, 40, 73], [48, 60, 96], [100])
    return out


@pytest.mark.parametrize("config", ["quarter_2s", "quarter"])
def test_features_match_the_spectral_transform(tiny_set, tmp_path, config):
    data = tmp_path / "data"
    shutil.copytree(tiny_set, data)
    spectral = get_config(config).spectral
    train = load_features(data, spectral, "train", progress=False)
    test = load_features(data, spectral, "test", progress=False)
    both = load_features(data, spectral, "all", progress=False)
    assert len(both) == 8  # pitch 96 is outside the subset
    assert (len(train), len(test)) == (6, 2)
    assert set(train.note_strs).isdisjoint(test.note_strs)
    assert both.note_strs == train.note_strs + test.note_strs
    assert isinstance(train.images, np.memmap) and train.images.dtype == np.float16
    assert train.images.shape == (6, 2, spectral.n_frames, spectral.n_bins)
    assert not train.images.flags.writeable
    refs = {r.note_str: r for r in list_examples(data)}
    i = 3
    audio = load_audio(refs[train.note_strs[i]])[: spectral.audio_length]  # first 2 s
    expected = waves_to_images(torch.from_numpy(audio[None]), spectral)[0].numpy()
    np.testing.assert_allclose(train.images[i], expected, atol=0.02, rtol=2e-3)
    assert train.pitches[i] == refs[train.note_strs[i]].pitch
    assert train.pitches.dtype == np.int16 and train.velocities.dtype == np.int16
    assert train.instruments[i] == refs[train.note_strs[i]].meta["instrument_str"]
    counts = both.pitch_counts()
    assert counts.shape == (61,) and counts[48 - 24] == 4 and counts.sum() == 8


def test_cache_is_reused_and_keyed(tiny_set, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_set, data)
    spectral = get_config("quarter_2s").spectral
    first = load_features(data, spectral, progress=False)
    index = first.cache_dir / "index.json"
    stamp = (
        index.stat().st_mtime_ns,
        (first.cache_dir / "images.f16").stat().st_mtime_ns,
    )
    again = load_features(data, spectral, progress=False)
    assert again.cache_dir == first.cache_dir
    assert (
        index.stat().st_mtime_ns,
        (first.cache_dir / "images.f16").stat().st_mtime_ns,
    ) == stamp
    np.testing.assert_array_equal(again.images, first.images)
    other = load_features(data, get_config("quarter").spectral, progress=False)
    assert other.cache_dir != first.cache_dir
    # a changed file list makes a new cache
    victim = sorted((data / "audio").glob("*.wav"))[0]
    audio, sr = soundfile.read(str(victim))
    soundfile.write(str(victim), audio[: len(audio) // 2], sr, "PCM_16")
    changed = load_features(data, spectral, progress=False)
    assert changed.cache_dir != first.cache_dir


def test_bad_files_are_skipped_while_caching(tiny_set, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny_set, data)
    wavs = sorted((data / "audio").glob("*-060-*.wav"))
    wavs[0].unlink()
    soundfile.write(str(wavs[1]), np.zeros(64000), 16000, "PCM_16")
    spectral = get_config("quarter_2s").spectral
    feats = load_features(data, spectral, "all", progress=False)
    err = capsys.readouterr().err
    assert f"skipped {wavs[0].stem}: missing" in err
    assert f"skipped {wavs[1].stem}: silent" in err
    assert "skipped 2 notes (1 missing, 1 silent)" in err
    assert len(feats) == 6 and wavs[0].stem not in feats.note_strs


def test_tfrecord_dataset_is_cached_too(tiny_set, tmp_path):
    records = []
    for ref in list_examples(tiny_set):
        if ref.pitch != 60:
            continue
        feats = {k: v for k, v in ref.meta.items() if k != "qualities_str"}
        feats["qualities"] = np.asarray(feats["qualities"], np.int64)
        feats["qualities_str"] = list(ref.meta["qualities_str"])
        feats["audio"] = load_audio(ref)
        records.append(tfrecord.encode_example(feats))
    tfrecord.write_records(tmp_path / "nsynth-train.tfrecord", records)
    feats = load_features(
        tmp_path, get_config("quarter_2s").spectral, "all", progress=False
    )
    assert len(feats) == 4 and set(feats.pitches.tolist()) == {60}


def test_no_note_in_the_subset_is_one_sentence(tiny_set, tmp_path):
    with pytest.raises(ValueError, match="passes the subset filter"):
        load_features(
            tiny_set, get_config("quarter_2s").spectral, sources=("synthetic",)
        )
    with pytest.raises(ValueError, match="split must be"):
        load_features(tiny_set, get_config("quarter_2s").spectral, "valid")
