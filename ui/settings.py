"""The window's remembered state: one JSON file in the user's config folder.

Devices, MIDI port, controller map, sound settings, the pad (corners and position) and
the window geometry are saved at quit and read at start. A missing or malformed file
gives the defaults (the window says so); writes are atomic (temp file + rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import platformdirs

__all__ = [
    "default_settings_path",
    "load_settings",
    "save_settings",
    "SETTINGS_VERSION",
]

SETTINGS_VERSION = 1


def default_settings_path() -> Path:
    """``<user config dir>/ui.json``; ``$GANSYNTH_UI_SETTINGS`` overrides it."""
    env = os.environ.get("GANSYNTH_UI_SETTINGS")
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir("gansynth-instrument")) / "ui.json"


def load_settings(path: Path) -> tuple[dict[str, Any], str | None]:
    """The saved state and a warning sentence (None when all is well or no file)."""
    if not path.is_file():
        return {}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return {}, f"Saved settings {path} are unreadable ({err}); using defaults."
    if not isinstance(data, dict) or data.get("version") != SETTINGS_VERSION:
        return {}, f"Saved settings {path} are from another version; using defaults."
    return data, None


def save_settings(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (JSON-serialisable) atomically to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({**state, "version": SETTINGS_VERSION}, indent=1)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ui-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
