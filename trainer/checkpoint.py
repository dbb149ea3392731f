"""Training checkpoints: latest, previous, best and kept copies, written atomically.

A checkpoint is the trainer's private state (models, EMA, optimisers, RNG states, data
order, images seen) serialised with ``torch.save`` and read back with
``weights_only=True`` (no arbitrary pickle). The file starts with a magic line and the
SHA-256 of the payload, so a truncated or damaged file is detected before it is parsed.

Files in a run folder:

- ``latest.pt``: the newest state (written every ``checkpoint_every`` images and at the
  end);
- ``previous.pt``: the state before it (``latest.pt`` is moved there on every save, but
  only when it is known to be good);
- ``best.pt``: the state with the best snapshot metric so far;
- ``ckpt-<images>.pt``: kept copies every ``keep_every`` images.

A corrupt ``latest.pt`` is refused with one sentence and ``previous.pt`` is used
instead; nothing is deleted.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CheckpointError",
    "CheckpointManager",
    "save_checkpoint",
    "load_checkpoint",
]

_MAGIC = b"GANSYNTH-TRAINER-CHECKPOINT 1\n"
_DIGEST = 32


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (the message is one sentence)."""


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _encode(state: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    return _MAGIC + hashlib.sha256(payload).digest() + payload


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, dicts) to ``path`` atomically."""
    _write_atomic(Path(path), _encode(state))


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``.

    Raises
    ------
    CheckpointError
        The file is missing, not a checkpoint, truncated or damaged.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err.strerror}") from err
    head = len(_MAGIC) + _DIGEST
    if not data.startswith(_MAGIC):
        raise CheckpointError(f"{path} is not a trainer checkpoint")
    payload = data[head:]
    if len(data) < head or hashlib.sha256(payload).digest() != data[len(_MAGIC) : head]:
        raise CheckpointError(f"checkpoint {path} is corrupt (truncated or damaged)")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for unreadable payloads
        raise CheckpointError(f"checkpoint {path} cannot be parsed: {err}") from err
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a training state")
    return state


class CheckpointManager:
    """The checkpoint files of one run folder.

    Parameters
    ----------
    run_dir : path
        The run folder (created on the first save).
    log : callable
        Where one-line notices go (a corrupt file that was skipped).
    """

    def __init__(self, run_dir: str | os.PathLike[str], log=print) -> None:
        self.run_dir = Path(run_dir)
        self.log = log
        self._latest_good = False  # NB: latest.pt was written or read back by us

    @property
    def latest(self) -> Path:
        return self.run_dir / "latest.pt"

    @property
    def previous(self) -> Path:
        return self.run_dir / "previous.pt"

    @property
    def best(self) -> Path:
        return self.run_dir / "best.pt"

    def kept(self, images: int) -> Path:
        return self.run_dir / f"ckpt-{images:010d}.pt"

    def exists(self) -> bool:
        return self.latest.exists() or self.previous.exists()

    def save_latest(self, state: dict[str, Any]) -> None:
        """Write ``latest.pt``; the old one (if it is good) becomes ``previous.pt``."""
        data = _encode(state)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self._latest_good and self.latest.exists():
            os.replace(self.latest, self.previous)
        _write_atomic(self.latest, data)
        self._latest_good = True

    def save_best(self, state: dict[str, Any]) -> None:
        save_checkpoint(self.best, state)

    def save_kept(self, state: dict[str, Any], images: int) -> None:
        save_checkpoint(self.kept(images), state)

    def load_resume(self) -> dict[str, Any] | None:
        """The newest usable state: ``latest.pt``, else ``previous.pt``; None if none.

        Raises
        ------
        CheckpointError
            Every checkpoint present is unusable.
        """
        errors = []
        for path in (self.latest, self.previous):
            if not path.exists():
                continue
            try:
                state = load_checkpoint(path)
            except CheckpointError as err:
                self.log(f"refusing {err}; keeping it and trying the previous one")
                errors.append(str(err))
                continue
            self._latest_good = path == self.latest
            return state
        if errors:
            raise CheckpointError(
                f"no usable checkpoint in {self.run_dir}: {errors[-1]}"
            )
        return None

    def load(self, which: str = "latest") -> dict[str, Any]:
        """Load ``latest`` (falling back to previous), ``best``, or a file path."""
        if which == "latest":
            state = self.load_resume()
            if state is None:
                raise CheckpointError(f"no checkpoint in {self.run_dir}")
            return state
        if which == "best":
            return load_checkpoint(self.best)
        return load_checkpoint(which)
