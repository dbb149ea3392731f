"""A model bundle: one safetensors file with a generator's EMA weights and its config.

Metadata (all strings, safetensors' header): ``format`` = "gansynth-instrument-bundle",
``format_version`` = "1", ``config`` = JSON of ``ModelConfig.to_dict()``, ``info`` =
JSON of free-form training facts (images seen, hours, dataset), ``model_id`` = the
content hash.

The model id is ``sha256(canonical config JSON + every tensor's name, dtype, shape and
bytes in name order)[:16]``: the same on every load and on every machine, so presets can
name the model they were made with. Loading never uses pickle and refuses, with one
sentence (``BundleError``), a missing or truncated file, a foreign file, an unknown
format version, weights that do not match the config, and a model id that does not
match the content.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from instrument.config import ModelConfig

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Bundle",
    "BundleError",
    "save_bundle",
    "load_bundle",
    "model_id_of",
    "default_model_path",
]

FORMAT = "gansynth-instrument-bundle"
FORMAT_VERSION = "1"
_KNOWN_VERSIONS = ("1",)


class BundleError(ValueError):
    """A file that cannot be loaded as a model bundle (the message is one sentence)."""


@dataclass(frozen=True, slots=True)
class Bundle:
    """A loaded model bundle."""

    config: ModelConfig  # the generator's config, rebuilt from the metadata
    state_dict: dict[str, torch.Tensor]  # EMA generator weights, names as Generator's
    model_id: str  # 16 hex chars, stable content hash
    info: dict[str, Any]  # free-form training facts
    path: Path  # where it was loaded from


def default_model_path() -> Path:
    """The shipped model, ``instrument/models/default.safetensors`` (may be missing)."""
    return Path(__file__).resolve().parent / "models" / "default.safetensors"


def _config_json(cfg: ModelConfig) -> str:
    return json.dumps(cfg.to_dict(), sort_keys=True, separators=(",", ":"))


def _tensor_bytes(t: torch.Tensor) -> bytes:
    flat = t.detach().to("cpu").contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes()


def model_id_of(cfg: ModelConfig, state_dict: dict[str, torch.Tensor]) -> str:
    """The stable content hash (16 hex chars) of a config and its weights."""
    h = hashlib.sha256(_config_json(cfg).encode())
    for name in sorted(state_dict):
        t = state_dict[name]
        h.update(f"\n{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(_tensor_bytes(t))
    return h.hexdigest()[:16]


def _expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    from instrument.networks import Generator

    with torch.device("meta"):
        gen = Generator(cfg)
    return {k: tuple(v.shape) for k, v in gen.state_dict().items()}


def _check_weights(cfg: ModelConfig, state_dict: dict[str, torch.Tensor], where: str):
    expected = _expected_shapes(cfg)
    missing = sorted(set(expected) - set(state_dict))
    extra = sorted(set(state_dict) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}")
        if extra:
            parts.append(f"unexpected {', '.join(extra[:3])}")
        raise BundleError(
            f"{where}: the weights do not match config {cfg.name!r} "
            f"({'; '.join(parts)})"
        )
    for name, shape in expected.items():
        got = tuple(state_dict[name].shape)
        if got != shape:
            raise BundleError(
                f"{where}: weight {name} has shape {list(got)} but config "
                f"{cfg.name!r} needs {list(shape)}"
            )
        if not state_dict[name].is_floating_point():
            raise BundleError(f"{where}: weight {name} is not a floating-point tensor")


def save_bundle(
    path: str | os.PathLike[str],
    cfg: ModelConfig,
    state_dict: dict[str, torch.Tensor],
    info: dict[str, Any] | None = None,
) -> str:
    """Write a bundle and return its model id.

    Parameters
    ----------
    path : str or PathLike
        The ``.safetensors`` file to write (parent folders are created).
    cfg : ModelConfig
        The generator's config.
    state_dict : dict of str -> Tensor
        The (EMA) generator weights, ``Generator(cfg).state_dict()`` names and shapes.
    info : dict, optional
        Free-form JSON-serialisable training facts (images, hours, dataset...).
    """
    from safetensors.torch import save_file

    path = Path(path)
    _check_weights(cfg, state_dict, str(path))
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    try:
        info_json = json.dumps(info or {}, sort_keys=True)
    except TypeError as err:
        raise ValueError(f"bundle info must be JSON-serialisable: {err}") from err
    model_id = model_id_of(cfg, tensors)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": _config_json(cfg),
        "info": info_json,
        "model_id": model_id,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    _readable_by_all(tmp)  # safetensors writes owner-only files; a bundle is to share
    os.replace(tmp, path)
    return model_id


def _readable_by_all(path: Path) -> None:
    """Give a new file the usual permissions (0o666 less the process umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _read(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:  # safetensors raises its own error types for bad headers
        raise BundleError(
            f"{path} is not a readable safetensors model bundle (truncated or foreign "
            f"file: {str(err).splitlines()[0] if str(err) else type(err).__name__})"
        ) from err
    return metadata, tensors


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Load and validate a bundle; every failure is one ``BundleError`` sentence."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"no model bundle at {path} (file not found)")
    metadata, tensors = _read(path)
    if metadata.get("format") != FORMAT:
        raise BundleError(
            f"{path} is a safetensors file but not a GANSynth instrument bundle "
            f"(no '{FORMAT}' format tag)"
        )
    version = metadata.get("format_version")
    if version not in _KNOWN_VERSIONS:
        raise BundleError(
            f"{path} has bundle format version {version!r}, but this program reads "
            f"only version {', '.join(_KNOWN_VERSIONS)}; update the program"
        )
    try:
        cfg = ModelConfig.from_dict(json.loads(metadata["config"]))
        info = json.loads(metadata.get("info", "{}"))
    except (KeyError, ValueError, TypeError) as err:
        raise BundleError(
            f"{path} has a broken config in its metadata ({err})"
        ) from err
    _check_weights(cfg, tensors, str(path))
    model_id = model_id_of(cfg, tensors)
    stored = metadata.get("model_id")
    if stored is not None and stored != model_id:
        raise BundleError(
            f"{path} is corrupt: its weights hash to {model_id}, "
            f"not the stored {stored}"
        )
    return Bundle(
        config=cfg, state_dict=tensors, model_id=model_id, info=info, path=path
    )
