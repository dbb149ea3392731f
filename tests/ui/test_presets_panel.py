"""The preset browser: save, load, rename, delete, import, export; refusals shown."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6 import QtCore

from engine.presets import load_preset
from tests.ui.conftest import wait_latent


def _select(panel, name):
    for i in range(panel.list.count()):
        item = panel.list.item(i)
        if item.data(QtCore.Qt.UserRole) == name:
            panel.list.setCurrentItem(item)
            return
    raise AssertionError(f"{name!r} is not listed: {panel.names()}")


def test_saving_and_loading_a_preset_round_trips(window, tmp_path):
    panel, m = window.presets, window.pad_model
    window.move_pad(0.7, 0.2)
    window.controls.sliders["release"][1].setValue(800)
    saved_corners, saved_settings = m.corners.copy(), window.controls.settings
    assert panel.save_as("Bright bell")
    assert "Bright bell" in panel.names()
    on_disk = load_preset("Bright bell", window.model_id())
    np.testing.assert_array_equal(on_disk.corners, saved_corners)
    assert on_disk.position == (0.7, 0.2) and on_disk.settings == saved_settings

    window.reroll(0)
    window.move_pad(0.1, 0.9)
    window.controls.sliders["release"][1].setValue(100)
    _select(panel, "Bright bell")
    panel.load_selected()
    np.testing.assert_array_equal(m.corners, saved_corners)
    assert (m.x, m.y) == (0.7, 0.2)
    assert window.controls.settings == saved_settings
    assert window.host.engine.settings == saved_settings
    assert window.pad.position() == (0.7, 0.2)
    assert wait_latent(window.host.engine, m.latent())


def test_rename_delete_export_import(window, tmp_path):
    panel = window.presets
    assert panel.save_as("First")
    _select(panel, "First")
    assert panel.rename_selected("Second")
    assert "Second" in panel.names() and "First" not in panel.names()
    _select(panel, "Second")
    out = tmp_path / "shared.json"
    assert panel.export_selected(str(out))
    assert json.loads(out.read_text())["name"] == "Second"
    assert panel.delete_selected(confirm=False)
    assert "Second" not in panel.names()
    window.move_pad(0.0, 0.0)
    assert panel.import_file(str(out))
    assert "Second" in panel.names()
    assert (window.pad_model.x, window.pad_model.y) != (0.0, 0.0)


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", "not valid JSON"),
        ('{"format": "gansynth-preset", "version": 99}', "version"),
    ],
)
def test_a_bad_preset_file_is_refused_in_one_sentence(window, tmp_path, content, words):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    before = window.pad_model.corners.copy()
    assert not window.presets.import_file(str(bad))
    text = window.presets.message.text()
    assert words in text and "\n" not in text and "Traceback" not in text
    np.testing.assert_array_equal(window.pad_model.corners, before)


def test_a_preset_of_another_model_is_refused(window, tmp_path):
    panel = window.presets
    assert panel.save_as("Mine")
    path = tmp_path / "presets" / "Mine.json"
    data = json.loads(path.read_text())
    data["model_id"] = "some-other-model"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    assert not panel.import_file(str(other))
    assert "made with model some-other-model" in panel.message.text()


def test_a_corner_takes_a_presets_timbre(window):
    assert window.presets.save_as("Corner source")
    source = window.pad_model.latent()
    window.reroll(3)
    window.corner_from_preset(3, "Corner source")
    np.testing.assert_allclose(window.pad_model.corners[3], source, atol=1e-6)
    assert window.pad_model.names[3] == "Corner source"


def test_first_start_takes_the_models_factory_pad(
    qtbot, sf_loader, ui_settings, soundfont_path, tmp_path, monkeypatch
):
    import engine.presets
    from engine.engine import EngineSettings
    from engine.presets import DEFAULT_PRESET, Preset, save_preset
    from instrument.latent import random_latents
    from tests.ui.conftest import open_window

    model_id = sf_loader(str(soundfont_path), 16000).model_id
    factory = tmp_path / "factory"
    monkeypatch.setattr(engine.presets, "FACTORY_DIR", factory)
    corners = random_latents(4, sf_loader(str(soundfont_path), 16000).latent_size, 7)
    names = ["Grand Piano", "String Ensemble", "Trumpet", "Flute"]
    save_preset(
        Preset.create(
            DEFAULT_PRESET,
            model_id,
            corners,
            (0.0, 0.0),
            EngineSettings(release=0.9),
            names,
        ),
        factory,
    )
    w = open_window(qtbot, sf_loader, ui_settings, str(soundfont_path))
    try:
        np.testing.assert_array_equal(w.pad_model.corners, corners)
        assert w.pad_model.names == names and (w.pad_model.x, w.pad_model.y) == (0, 0)
        assert w.controls.settings.release == 0.9
        assert w.presets.current == DEFAULT_PRESET
        assert wait_latent(w.host.engine, corners[0])
        w.move_pad(0.6, 0.6)
    finally:
        w.close()
    again = open_window(qtbot, sf_loader, ui_settings, None)  # the pad of last time
    try:
        assert (again.pad_model.x, again.pad_model.y) == (0.6, 0.6)
    finally:
        again.close()
