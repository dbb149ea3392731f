"""Presets: versioned JSON, atomic writes, refusals that change nothing."""

import json

import numpy as np
import pytest

from engine.engine import EngineSettings
from engine.presets import (
    FORMAT,
    VERSION,
    Preset,
    PresetError,
    delete_preset,
    list_presets,
    load_preset,
    save_preset,
    user_preset_dir,
)

MODEL = "sf2:test:0-40"


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    d = tmp_path / "user presets"
    monkeypatch.setenv("GANSYNTH_PRESET_DIR", str(d))
    return d


@pytest.fixture
def preset(rng):
    corners = rng.standard_normal((4, 16)).astype(np.float32)
    settings = EngineSettings(attack=0.02, release=1.5, master_gain=0.7)
    return Preset.create("Glass pad", MODEL, corners, (0.25, 0.8), settings)


def test_round_trip_through_the_user_folder(user_dir, preset):
    path = save_preset(preset)
    assert path == user_dir / "Glass pad.json" and user_dir == user_preset_dir()
    back = load_preset("Glass pad", MODEL)
    np.testing.assert_array_equal(back.corners, preset.corners)
    assert back.position == (0.25, 0.8) and back.settings == preset.settings
    assert back.model_id == MODEL
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT and data["version"] == VERSION
    assert [p.name for p in user_dir.iterdir()] == ["Glass pad.json"]  # no temp left
    assert load_preset(path, MODEL).name == "Glass pad"  # by path too


def test_latent_is_the_pad_position_of_the_corners(user_dir, preset):
    from instrument.latent import pad_latent

    z = preset.latent()
    assert z.dtype == np.float32 and z.shape == (16,)
    np.testing.assert_allclose(z, pad_latent(preset.corners, 0.25, 0.8), rtol=1e-6)


def _write(user_dir, name, data):
    user_dir.mkdir(parents=True, exist_ok=True)
    path = user_dir / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _bad_variants(good):
    def edit(**kw):
        d = dict(good)
        d.update(kw)
        return d

    return {
        "not json": "{corners: oops",
        "not a preset": {"hello": 1},
        "foreign version": edit(version=2),
        "no corners": {k: v for k, v in good.items() if k != "corners"},
        "three corners": edit(corners=good["corners"][:3]),
        "nan corner": edit(corners=[[float("nan")] * 16] + good["corners"][1:]),
        "position outside": edit(position=[1.5, 0.2]),
        "bad settings": edit(settings={"sustain": 7}),
        "unknown setting": edit(settings={"volume": 1}),
        "bad name": edit(name="../evil"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "not json",
        "not a preset",
        "foreign version",
        "no corners",
        "three corners",
        "nan corner",
        "position outside",
        "bad settings",
        "unknown setting",
        "bad name",
    ],
)
def test_malformed_presets_are_refused_with_one_sentence(user_dir, preset, case):
    data = _bad_variants(preset.to_dict())[case]
    path = _write(user_dir, "broken", data)
    before = path.read_bytes()
    with pytest.raises(PresetError) as info:
        load_preset("broken", MODEL)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)
    assert path.read_bytes() == before  # nothing changed


def test_a_preset_of_another_model_is_refused(user_dir, preset):
    save_preset(preset)
    with pytest.raises(PresetError, match="was made with model"):
        load_preset("Glass pad", "sf2:other:0")
    assert load_preset("Glass pad", None).name == "Glass pad"  # inspection only


def test_unknown_names_and_missing_files(user_dir):
    with pytest.raises(PresetError, match="no preset named"):
        load_preset("Nope", MODEL)
    with pytest.raises(PresetError, match="not found"):
        load_preset(str(user_dir / "missing.json"), MODEL)


def test_listing_prefers_user_presets_and_filters_by_model(user_dir, preset):
    save_preset(preset)
    other = Preset.create("Other", "sf2:x:1", preset.corners)
    save_preset(other)
    _write(user_dir, "junk", "not json")
    names = [e.name for e in list_presets()]
    assert {"Glass pad", "Other", "junk"} <= set(names)
    assert [e.name for e in list_presets(MODEL)] == ["Glass pad"]
    assert all(not e.factory for e in list_presets(MODEL))


def test_saving_replaces_atomically_and_delete_removes(user_dir, preset):
    save_preset(preset)
    louder = Preset.create(
        "Glass pad", MODEL, preset.corners, (0.5, 0.5), EngineSettings(master_gain=1.0)
    )
    save_preset(louder)
    assert load_preset("Glass pad", MODEL).settings.master_gain == 1.0
    assert len(list(user_dir.iterdir())) == 1
    delete_preset("Glass pad")
    with pytest.raises(PresetError):
        delete_preset("Glass pad")


@pytest.mark.parametrize("name", ["", " lead", "a/b", "x" * 80, ".hidden"])
def test_bad_names_are_refused(preset, name):
    with pytest.raises(PresetError):
        Preset.create(name, MODEL, preset.corners)


def test_settings_survive_json(preset):
    d = json.loads(json.dumps(preset.to_dict()))
    assert Preset.from_dict(d).settings == preset.settings


def test_corner_names_round_trip_and_are_checked(user_dir, preset):
    named = Preset.create(
        "Named", MODEL, preset.corners, (0.0, 1.0), corner_names=["A", "B", "C", "D"]
    )
    save_preset(named)
    assert load_preset("Named", MODEL).corner_names == ("A", "B", "C", "D")
    assert preset.corner_names is None and "corner_names" not in preset.to_dict()
    data = named.to_dict()
    for bad in (["A", "B"], "ABCD", ["A", "B", "C", ""], ["A", "B", "C", 4]):
        with pytest.raises(PresetError, match="corner"):
            Preset.from_dict({**data, "corner_names": bad})


def test_startup_preset_is_the_default_pad_of_this_model(user_dir, tmp_path, preset):
    from engine.presets import DEFAULT_PRESET, startup_preset

    factory = tmp_path / "factory"
    assert startup_preset(MODEL, factory_dir=factory) is None  # none shipped
    default = Preset.create(DEFAULT_PRESET, MODEL, preset.corners, (0.0, 0.0))
    save_preset(default, factory)
    got = startup_preset(MODEL, factory_dir=factory)
    assert got is not None and got.position == (0.0, 0.0)
    assert startup_preset("other-model", factory_dir=factory) is None
    mine = Preset.create(DEFAULT_PRESET, MODEL, preset.corners, (0.5, 0.5))
    save_preset(mine)  # the user's own default pad hides the factory one
    assert startup_preset(MODEL, factory_dir=factory).position == (0.5, 0.5)
    (user_dir / f"{DEFAULT_PRESET}.json").write_text("{broken")
    assert startup_preset(MODEL, factory_dir=factory).position == (0.0, 0.0)
    (factory / f"{DEFAULT_PRESET}.json").write_text("{broken")
    assert startup_preset(MODEL, factory_dir=factory) is None  # unreadable: random
