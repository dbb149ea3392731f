"""The remembered window state file."""

from __future__ import annotations

import json

from ui.settings import SETTINGS_VERSION, load_settings, save_settings


def test_round_trip_and_atomic_write(tmp_path):
    path = tmp_path / "deep" / "ui.json"
    save_settings(path, {"midi": "in", "pad": {"x": 0.2}})
    data, warning = load_settings(path)
    assert warning is None and data["pad"] == {"x": 0.2}
    assert data["version"] == SETTINGS_VERSION
    assert [p.name for p in path.parent.iterdir()] == ["ui.json"]  # no temp left


def test_no_file_gives_defaults_quietly(tmp_path):
    assert load_settings(tmp_path / "none.json") == ({}, None)


def test_a_broken_or_foreign_file_gives_defaults_and_one_sentence(tmp_path):
    path = tmp_path / "ui.json"
    path.write_text("{broken")
    data, warning = load_settings(path)
    assert data == {} and "unreadable" in warning and "\n" not in warning
    path.write_text(json.dumps({"version": 99}))
    data, warning = load_settings(path)
    assert data == {} and "another version" in warning
