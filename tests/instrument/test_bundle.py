"""Model bundles: round trip, stable id, and one clear sentence for every bad file."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import save_file

from instrument.bundle import (
    Bundle,
    BundleError,
    default_model_path,
    load_bundle,
    model_id_of,
    save_bundle,
)
from instrument.config import get_config
from instrument.networks import Generator


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    cfg = get_config("quarter_2s")
    torch.manual_seed(0)
    gen = Generator(cfg)
    path = tmp_path_factory.mktemp("bundle") / "q.safetensors"
    info = {"images": 1234, "hours": 0.5, "dataset": "test"}
    model_id = save_bundle(path, cfg, gen.state_dict(), info)
    return path, cfg, gen, model_id, info


def _one_sentence(err: Exception) -> None:
    msg = str(err)
    assert msg and "\n" not in msg and "Traceback" not in msg


def test_round_trip_keeps_config_weights_info_and_id(saved):
    path, cfg, gen, model_id, info = saved
    bundle = load_bundle(path)
    assert isinstance(bundle, Bundle)
    assert bundle.config == cfg
    assert bundle.info == info
    assert bundle.model_id == model_id
    assert len(model_id) == 16 and int(model_id, 16) >= 0
    assert bundle.path == path
    for name, tensor in gen.state_dict().items():
        assert torch.equal(bundle.state_dict[name], tensor)
    fresh = Generator(bundle.config)
    fresh.load_state_dict(bundle.state_dict)


def test_model_id_is_stable_and_content_sensitive(saved, tmp_path):
    path, cfg, gen, model_id, _ = saved
    assert load_bundle(path).model_id == load_bundle(path).model_id == model_id
    assert model_id_of(cfg, gen.state_dict()) == model_id
    # the info is not content: same weights, other info -> same id
    assert (
        save_bundle(tmp_path / "b.safetensors", cfg, gen.state_dict(), {}) == model_id
    )
    changed = {k: v.clone() for k, v in gen.state_dict().items()}
    changed["to_rgb.0.bias"][0] = 1e-3
    assert save_bundle(tmp_path / "c.safetensors", cfg, changed) != model_id


def test_metadata_format(saved):
    from safetensors import safe_open

    path, cfg, *_ = saved
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == "gansynth-instrument-bundle"
    assert meta["format_version"] == "1"
    assert json.loads(meta["config"]) == json.loads(json.dumps(cfg.to_dict()))


def test_missing_file(tmp_path):
    with pytest.raises(BundleError, match="no model bundle") as err:
        load_bundle(tmp_path / "nothing.safetensors")
    _one_sentence(err.value)


@pytest.mark.parametrize("keep", [0.5, 0.0005])
def test_truncated_file(saved, tmp_path, keep):
    data = saved[0].read_bytes()
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(BundleError, match="not a readable") as err:
        load_bundle(bad)
    _one_sentence(err.value)


def test_foreign_files(saved, tmp_path, rng):
    wav = tmp_path / "note.wav"
    sf.write(wav, rng.standard_normal(16000).astype(np.float32) * 0.1, 16000)
    pkl = tmp_path / "weights.pt"
    torch.save(saved[2].state_dict(), pkl)
    raw_pickle = tmp_path / "x.pkl"
    raw_pickle.write_bytes(pickle.dumps({"a": 1}))
    for path in (wav, pkl, raw_pickle):
        with pytest.raises(BundleError, match="not a readable") as err:
            load_bundle(path)
        _one_sentence(err.value)
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(3)}, str(plain))
    with pytest.raises(BundleError, match="not a GANSynth instrument bundle") as err:
        load_bundle(plain)
    _one_sentence(err.value)


def _rewrite(src, dst, **meta_changes):
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta.update(meta_changes)
    return meta, tensors


def test_unknown_format_version(saved, tmp_path):
    meta, tensors = _rewrite(saved[0], None, format_version="2")
    bad = tmp_path / "v2.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(BundleError, match="format version '2'") as err:
        load_bundle(bad)
    _one_sentence(err.value)


def test_weights_that_do_not_match_the_config(saved, tmp_path):
    meta, tensors = _rewrite(saved[0], None)
    meta["config"] = json.dumps(get_config("half_2s").to_dict())
    bad = tmp_path / "shapes.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(BundleError, match="has shape") as err:
        load_bundle(bad)
    _one_sentence(err.value)
    meta2, tensors2 = _rewrite(saved[0], None)
    del tensors2["to_rgb.3.weight"]
    bad2 = tmp_path / "names.safetensors"
    save_file(tensors2, str(bad2), metadata=meta2)
    with pytest.raises(BundleError, match="missing to_rgb.3.weight"):
        load_bundle(bad2)
    with pytest.raises(BundleError, match="has shape"):
        save_bundle(
            tmp_path / "x.safetensors", get_config("half_2s"), saved[2].state_dict()
        )


def test_altered_weights_are_detected(saved, tmp_path):
    meta, tensors = _rewrite(saved[0], None)
    tensors["blocks.0.conv2.bias"] = tensors["blocks.0.conv2.bias"] + 1
    bad = tmp_path / "altered.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(BundleError, match="corrupt"):
        load_bundle(bad)


def test_default_model_path_points_into_the_package():
    path = default_model_path()
    assert path.name == "default.safetensors"
    assert path.parent.name == "models" and path.parent.parent.name == "instrument"


def test_a_saved_bundle_is_readable_by_others(tmp_path):
    import os
    import stat

    cfg = get_config("quarter_2s")
    path = tmp_path / "shared.safetensors"
    save_bundle(path, cfg, Generator(cfg).state_dict())
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
