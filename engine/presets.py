"""Timbre presets: four pad corners, the pad position, engine settings, the model id.

A preset is a small versioned JSON file::

    {"format": "gansynth-preset", "version": 1, "name": "Glass pad",
     "model_id": "...", "corners": [[...], [...], [...], [...]],
     "position": [0.3, 0.7], "settings": {"attack": 0.01, ...}}

Corners are in the pad's order (top-left, top-right, bottom-left, bottom-right; see
``instrument.latent.pad_weights``). Factory presets live in the repository's
``presets/`` folder; user presets in ``platformdirs.user_data_dir("gansynth-instrument")
/presets`` (``$GANSYNTH_PRESET_DIR`` overrides it), written atomically (temporary file,
then rename). A malformed, foreign-version or other-model preset is refused with one
sentence (``PresetError``) and nothing changes. Loading never modifies anything.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.engine import EngineSettings

__all__ = [
    "FORMAT",
    "VERSION",
    "FACTORY_DIR",
    "PresetError",
    "Preset",
    "PresetEntry",
    "user_preset_dir",
    "list_presets",
    "load_preset",
    "save_preset",
    "delete_preset",
    "DEFAULT_PRESET",
    "startup_preset",
]

FORMAT = "gansynth-preset"
VERSION = 1
FACTORY_DIR = Path(__file__).resolve().parent.parent / "presets"
DEFAULT_PRESET = "Four Families"  # the factory pad a model starts with (make-presets)
_NAME = re.compile(r"^[\w][\w .\-+()]{0,63}$")  # file-name safe preset names


class PresetError(ValueError):
    """A preset that cannot be used (one sentence)."""


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name.strip() != name:
        raise PresetError(
            f"preset name {name!r} must be 1-64 letters, digits, spaces or ._-+() "
            "and start with a letter or digit"
        )
    return name


@dataclass(frozen=True, slots=True, eq=False)
class Preset:
    """A timbre and how it plays."""

    name: str  # also the file name (without .json)
    model_id: str  # the instrument's ``model_id`` the corners belong to
    corners: np.ndarray  # [4, latent_size] float32, pad order (module docstring)
    position: tuple[float, float]  # pad x, y in [0, 1]
    settings: EngineSettings  # envelope, gain, ... (EngineSettings)
    corner_names: tuple[str, ...] | None = None  # optional labels of the 4 corners

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.model_id, str) or not self.model_id:
            raise PresetError("a preset needs the id of the model it was made with")
        c = self.corners
        if not isinstance(c, np.ndarray) or c.ndim != 2 or c.shape[0] != 4:
            raise PresetError(
                f"preset corners must be 4 latents, got shape {np.shape(c)}"
            )
        if not np.isfinite(c).all():
            raise PresetError("preset corners contain NaN or Inf values")
        if len(self.position) != 2 or not all(
            isinstance(v, float) and 0.0 <= v <= 1.0 for v in self.position
        ):
            raise PresetError(
                f"pad position must be two numbers 0..1, got {self.position}"
            )
        if not isinstance(self.settings, EngineSettings):
            raise PresetError("preset settings must be EngineSettings")
        names = self.corner_names
        if names is not None and (
            len(names) != 4
            or not all(isinstance(n, str) and 0 < len(n) <= 64 for n in names)
        ):
            raise PresetError(
                f"corner names must be 4 strings of 1-64 characters, got {names!r}"
            )

    @classmethod
    def create(
        cls,
        name: str,
        model_id: str,
        corners: np.ndarray,
        position: tuple[float, float] = (0.5, 0.5),
        settings: EngineSettings | None = None,
        corner_names: tuple[str, ...] | list[str] | None = None,
    ) -> Preset:
        """A preset from arrays and numbers (converted to the stored types)."""
        return cls(
            name,
            model_id,
            np.array(corners, dtype=np.float32),
            (float(position[0]), float(position[1])),
            settings or EngineSettings(),
            None if corner_names is None else tuple(corner_names),
        )

    def latent(self) -> np.ndarray:
        """The latent at the pad position: [latent_size] float32."""
        from instrument.latent import pad_latent

        x, y = self.position
        return np.asarray(pad_latent(self.corners, x, y), dtype=np.float32)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "model_id": self.model_id,
            "corners": [[float(v) for v in row] for row in self.corners],
            "position": list(self.position),
            "settings": self.settings.to_dict(),
        }
        if self.corner_names is not None:
            data["corner_names"] = list(self.corner_names)
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "preset") -> Preset:
        """Validate a parsed JSON object; PresetError names what is wrong."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise PresetError(f"{where} is not a GANSynth preset")
        if data.get("version") != VERSION:
            raise PresetError(
                f"{where} has preset version {data.get('version')!r}; this program "
                f"reads version {VERSION}"
            )
        try:
            corners = np.array(data["corners"], dtype=np.float32)
            x, y = (float(v) for v in data["position"])
            settings = EngineSettings.from_dict(dict(data["settings"]))
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError("the pad position is not finite")
            names = data.get("corner_names")
            if names is not None:
                if not isinstance(names, list):
                    raise ValueError("corner_names must be a list of 4 names")
                names = tuple(names)
            return cls(
                str(data["name"]),
                str(data["model_id"]),
                corners,
                (x, y),
                settings,
                names,
            )
        except PresetError as err:
            raise PresetError(f"{where}: {err}") from None
        except KeyError as err:
            raise PresetError(f"{where} lacks the field {err}") from None
        except (TypeError, ValueError) as err:
            raise PresetError(f"{where} is malformed ({err})") from None


@dataclass(frozen=True, slots=True)
class PresetEntry:
    """A preset file found on disk."""

    name: str  # preset name (file stem)
    path: Path  # the JSON file
    factory: bool  # True: shipped in presets/; False: the user's


def user_preset_dir() -> Path:
    """The user's preset folder (not created here)."""
    env = os.environ.get("GANSYNTH_PRESET_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("gansynth-instrument")) / "presets"


def list_presets(
    model_id: str | None = None, user_dir: Path | None = None
) -> list[PresetEntry]:
    """Factory and user presets by name (a user preset hides a factory one).

    With ``model_id``, only presets made with that model (unreadable files are skipped).
    """
    found: dict[str, PresetEntry] = {}
    for folder, factory in (
        (FACTORY_DIR, True),
        (user_dir or user_preset_dir(), False),
    ):
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                found[path.stem] = PresetEntry(path.stem, path, factory)
    entries = sorted(found.values(), key=lambda e: e.name.lower())
    if model_id is None:
        return entries
    keep = []
    for e in entries:
        try:
            if _read(e.path).model_id == model_id:
                keep.append(e)
        except PresetError:
            continue
    return keep


def _read(path: Path) -> Preset:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PresetError(f"cannot read preset {path} ({err})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PresetError(f"preset {path.name} is not valid JSON ({err})") from None
    return Preset.from_dict(data, where=f"preset {path.name}")


def _resolve(name_or_path: str | os.PathLike[str], user_dir: Path | None) -> Path:
    p = Path(name_or_path)
    if p.suffix.lower() == ".json" or p.is_file():
        if not p.is_file():
            raise PresetError(f"preset file not found: {p}")
        return p
    for folder in (user_dir or user_preset_dir(), FACTORY_DIR):
        candidate = folder / f"{name_or_path}.json"
        if candidate.is_file():
            return candidate
    names = ", ".join(e.name for e in list_presets(user_dir=user_dir)) or "none"
    raise PresetError(f"no preset named {str(name_or_path)!r} (known: {names})")


def load_preset(
    name_or_path: str | os.PathLike[str],
    model_id: str | None,
    user_dir: Path | None = None,
) -> Preset:
    """A preset by name (user folder first, then factory) or by path to a .json file.

    ``model_id``: the loaded instrument's id; a preset made with another model is
    refused (None skips the check, for tools that only inspect presets).
    """
    path = _resolve(name_or_path, user_dir)
    preset = _read(path)
    if model_id is not None and preset.model_id != model_id:
        raise PresetError(
            f"preset {preset.name!r} was made with model {preset.model_id}, "
            f"not with the loaded model {model_id}"
        )
    return preset


def save_preset(preset: Preset, user_dir: Path | None = None) -> Path:
    """Write ``preset`` to the user folder as ``<name>.json``, atomically; its path."""
    folder = user_dir or user_preset_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PresetError(f"cannot create the preset folder {folder} ({err})") from None
    path = folder / f"{_check_name(preset.name)}.json"
    text = json.dumps(preset.to_dict(), indent=1)
    fd, tmp = tempfile.mkstemp(prefix=f".{preset.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def delete_preset(name: str, user_dir: Path | None = None) -> None:
    """Remove a user preset (factory presets cannot be deleted)."""
    path = (user_dir or user_preset_dir()) / f"{_check_name(name)}.json"
    if not path.is_file():
        raise PresetError(f"no user preset named {name!r}")
    path.unlink()


def startup_preset(
    model_id: str, factory_dir: Path | None = None, user_dir: Path | None = None
) -> Preset | None:
    """The ``DEFAULT_PRESET`` made with ``model_id``: the user's, else the factory's.

    The pad a musician finds at first start (no saved pad, no ``--preset``); a missing
    or unreadable file, or one made with another model, is passed over; None when
    neither folder has one for this model (random corners then).
    """
    for folder in (user_dir or user_preset_dir(), factory_dir or FACTORY_DIR):
        path = folder / f"{DEFAULT_PRESET}.json"
        if not path.is_file():
            continue
        try:
            preset = _read(path)
        except PresetError:
            continue
        if preset.model_id == model_id:
            return preset
    return None
