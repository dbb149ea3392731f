"""Cached spectral features of a dataset: STFTs are computed once, epochs read a memmap.

``load_features(data_dir, spectral, split)`` lists the dataset's notes (any layout
``trainer.dataset`` reads), keeps GANSynth's subset (acoustic, MIDI 24-84 by default),
splits it 80/20 (fixed seed), and returns ``Features`` whose ``images`` are a read-only
``np.memmap`` of ``[N, 2, T, F] float16`` RAW images (``instrument.spectral.
waves_to_images``: log-mel power and mel IF, not normalised).

The cache lives in ``data_dir/.cache/<key>/`` where the key hashes the spectral config,
the subset filter and the file list (names, sizes, modification times): ``images.f16``
(train notes first, then test notes, so every split is one contiguous slice) and
``index.json`` (written last: its presence marks a complete cache). A file lock makes
concurrent callers (DDP ranks) compute the cache once. Bad notes (missing, unreadable,
wrong-rate, silent, clipped) are skipped with one line each while the cache is built.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from instrument.config import SpectralConfig
from trainer.dataset import (
    ExampleRef,
    SkipLog,
    crop_or_pad,
    list_examples,
    load_audio,
    split_refs,
    subset_filter,
)

__all__ = ["CACHE_VERSION", "Features", "load_features", "cache_key", "images_of"]

CACHE_VERSION = 1  # bump when the cached content changes meaning


@dataclass(frozen=True, slots=True)
class Features:
    """One split of a dataset as cached spectral images and their labels."""

    images: np.ndarray  # [N, 2, T, F] float16 RAW images (read-only memmap)
    pitches: np.ndarray  # [N] int16 MIDI pitch
    velocities: np.ndarray  # [N] int16 MIDI velocity
    instruments: list[str]  # [N] instrument_str of each note
    note_strs: list[str]  # [N] NSynth note names
    spectral: SpectralConfig | None = None  # the config the images were made with
    cache_dir: Path | None = field(default=None)  # where the cache lives

    def __post_init__(self) -> None:
        n = len(self.images)
        sizes = (len(self.pitches), len(self.velocities), len(self.instruments))
        if any(s != n for s in sizes + (len(self.note_strs),)):
            raise ValueError(f"Features arrays disagree in length: {n} images, {sizes}")

    def __len__(self) -> int:
        return len(self.images)

    def pitch_counts(self, pitch_range: tuple[int, int] = (24, 84)) -> np.ndarray:
        """``[hi - lo + 1] int64``: notes per pitch (the fake-pitch histogram)."""
        lo, hi = pitch_range
        inside = self.pitches[(self.pitches >= lo) & (self.pitches <= hi)]
        return np.bincount(inside.astype(np.int64) - lo, minlength=hi - lo + 1)


def _stat(ref: ExampleRef) -> list[Any]:
    try:
        st = ref.path.stat()
        return [ref.note_str, ref.path.name, ref.offset, st.st_size, st.st_mtime_ns]
    except OSError:
        return [ref.note_str, ref.path.name, ref.offset, -1, -1]


def cache_key(
    spectral: SpectralConfig,
    refs: Sequence[ExampleRef],
    pitch_range: tuple[int, int],
    sources: Sequence[str],
) -> str:
    """16 hex digits naming the cache of these notes under this spectral config."""
    blob = json.dumps(
        {
            "version": CACHE_VERSION,
            "spectral": dataclasses.asdict(spectral),
            "pitch_range": list(pitch_range),
            "sources": sorted(sources),
            "files": [_stat(r) for r in refs],
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def images_of(waves: np.ndarray, spectral: SpectralConfig) -> np.ndarray:
    """``[B, samples] float`` waves -> ``[B, 2, T, F] float32`` RAW images.

    The waves are cropped or padded to ``spectral.audio_length`` first (the reference's
    ``crop_or_pad``: a 2 s config keeps the first 2 s of a 4 s note).
    """
    import torch

    from instrument.spectral import waves_to_images

    w = crop_or_pad(np.asarray(waves, np.float32), spectral.audio_length)
    with torch.inference_mode():
        return waves_to_images(
            torch.from_numpy(np.ascontiguousarray(w)), spectral
        ).numpy()


def _open(cache: Path, index: dict[str, Any], split: str, spectral: SpectralConfig):
    shape = tuple(index["shape"])
    n_train, n = int(index["n_train"]), int(shape[0])
    if n:
        images = np.memmap(cache / "images.f16", np.float16, "r", shape=shape)
    else:
        images = np.zeros(shape, np.float16)
    sl = {"train": slice(0, n_train), "test": slice(n_train, n), "all": slice(0, n)}
    s = sl[split]
    return Features(
        images=images[s],
        pitches=np.asarray(index["pitches"], np.int16)[s],
        velocities=np.asarray(index["velocities"], np.int16)[s],
        instruments=list(index["instruments"][s]),
        note_strs=list(index["note_strs"][s]),
        spectral=spectral,
        cache_dir=cache,
    )


def _build(
    cache: Path,
    groups: Sequence[Sequence[ExampleRef]],
    spectral: SpectralConfig,
    batch: int,
    skips: SkipLog,
    progress: bool,
) -> dict[str, Any]:
    from tqdm import tqdm

    total = sum(len(g) for g in groups)
    shape = (2, spectral.n_frames, spectral.n_bins)
    path = cache / "images.f16"
    mm = np.memmap(path, np.float16, "w+", shape=(max(total, 1), *shape))
    kept: list[ExampleRef] = []
    counts = []
    bar = tqdm(total=total, desc="spectral features", unit="note", disable=not progress)
    for group in groups:
        start = len(kept)
        for i in range(0, len(group), batch):
            waves, refs = [], []
            for ref in group[i : i + batch]:
                try:
                    audio = load_audio(ref)
                except ValueError as err:
                    skips.skip(ref.note_str, str(err))
                    continue
                waves.append(crop_or_pad(audio, spectral.audio_length))
                refs.append(ref)
            if refs:
                images = images_of(np.stack(waves), spectral)
                mm[len(kept) : len(kept) + len(refs)] = images.astype(np.float16)
                kept += refs
            bar.update(len(group[i : i + batch]))
        counts.append(len(kept) - start)
    bar.close()
    mm.flush()
    del mm
    return {
        "version": CACHE_VERSION,
        "shape": [len(kept), *shape],
        "n_train": counts[0],
        "pitches": [r.pitch for r in kept],
        "velocities": [int(r.meta.get("velocity", 100)) for r in kept],
        "instruments": [str(r.meta.get("instrument_str", "")) for r in kept],
        "note_strs": [r.note_str for r in kept],
        "skipped": dict(skips.counts),
    }


def load_features(
    data_dir: str | os.PathLike[str],
    spectral: SpectralConfig,
    split: str = "train",
    pitch_range: tuple[int, int] = (24, 84),
    sources: Sequence[str] = ("acoustic",),
    batch: int = 16,
    progress: bool = True,
    skips: SkipLog | None = None,
) -> Features:
    """One split of a dataset's spectral images, from the cache (built on first use).

    Parameters
    ----------
    data_dir : path
        An NSynth-format dataset folder (json/wav or TFRecord; see ``trainer.dataset``).
    spectral : SpectralConfig
        The representation (note length, STFT, mel) of the images.
    split : {"train", "test", "all"}
        GANSynth's shuffled 80/20 split with a fixed seed, or every note.
    pitch_range, sources
        The subset filter: GANSynth keeps acoustic notes of MIDI 24-84.

    Raises
    ------
    FileNotFoundError
        If ``data_dir`` holds no NSynth data.
    ValueError
        If no note passes the subset filter, or the split name is unknown.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    root = Path(data_dir)
    keep = subset_filter(pitch_range, sources)
    refs = [r for r in list_examples(root) if keep(r.meta)]
    if not refs:
        raise ValueError(
            f"no note in {root} passes the subset filter (sources "
            f"{', '.join(sources)}, pitch {pitch_range[0]}-{pitch_range[1]})"
        )
    groups = (split_refs(refs, "train"), split_refs(refs, "test"))
    key = cache_key(spectral, groups[0] + groups[1], pitch_range, sources)
    cache = root / ".cache" / key
    cache.mkdir(parents=True, exist_ok=True)
    index_path = cache / "index.json"
    with open(cache / "lock", "w") as lock:
        _lock(lock)
        if not index_path.is_file():
            skips = SkipLog() if skips is None else skips
            index = _build(cache, groups, spectral, batch, skips, progress)
            tmp = cache / "index.json.tmp"
            tmp.write_text(json.dumps(index), encoding="utf-8")
            os.replace(tmp, index_path)
            if skips.total:
                print(f"{root}: {skips.summary()}", file=sys.stderr)
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        msg = f"the feature cache {cache} is damaged; delete it ({err})"
        raise ValueError(msg) from err
    return _open(cache, index, split, spectral)


def _lock(f: Any) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock; ranks may compute twice
        return
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
