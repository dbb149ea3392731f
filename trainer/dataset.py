"""NSynth datasets on disk: the json/wav layout and TFRecord files, no TensorFlow.

A dataset folder holds any of (searched in this order, all combined):

- ``examples.json`` + ``audio/<note_str>.wav`` (NSynth's json/wav layout, 16 kHz);
- sub-folders holding that layout (``nsynth-train/``, ``nsynth-test/``, ...);
- ``*.tfrecord`` files of ``tf.train.Example`` protos (NSynth's TFRecord release).

``list_examples`` reads only metadata and gives one ``ExampleRef`` per note;
``load_audio`` reads one note's audio and refuses (``BadAudio``) missing, unreadable,
wrong-rate, non-finite, silent or clipped audio so the caller can skip it with one line
(``SkipLog``). The GANSynth subset (acoustic, MIDI 24-84) is ``subset_filter``; its
80/20 shuffled split is ``split_refs``; ``crop_or_pad`` is the reference's length
handling.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from trainer import tfrecord

__all__ = [
    "NSYNTH_KEYS",
    "SAMPLE_RATE",
    "SILENT_PEAK",
    "CLIP_PEAK",
    "BadAudio",
    "ExampleRef",
    "NSynthExample",
    "SkipLog",
    "audio_problem",
    "crop_or_pad",
    "list_examples",
    "load_audio",
    "iter_examples",
    "subset_filter",
    "split_refs",
    "make_note_str",
]

# Non-audio keys of every NSynth example (examples.json values, TFRecord features).
NSYNTH_KEYS = (
    "note",
    "note_str",
    "instrument",
    "instrument_str",
    "pitch",
    "velocity",
    "sample_rate",
    "qualities",
    "qualities_str",
    "instrument_family",
    "instrument_family_str",
    "instrument_source",
    "instrument_source_str",
)
SAMPLE_RATE = 16000  # NSynth's only rate
SILENT_PEAK = 1e-4  # a note whose peak is below this (-80 dBFS) is silent
CLIP_PEAK = (
    0.999  # full scale: a note is clipped where CLIP_RUN samples in a row reach it
)
CLIP_RUN = 3  # (one full-scale sample is a normalised note, a flat top is clipping)
SPLIT_SEED = 20190225  # fixed seed of the 80/20 shuffled split (GANSynth's ICLR date)
_INT_KEYS = ("note", "instrument", "pitch", "velocity", "sample_rate")
_INT_KEYS += ("instrument_family", "instrument_source")
_STR_KEYS = ("note_str", "instrument_str", "instrument_family_str")
_STR_KEYS += ("instrument_source_str",)


class BadAudio(ValueError):
    """One note's audio cannot be used; the message is the reason, e.g. 'silent'."""


@dataclass(frozen=True, slots=True)
class ExampleRef:
    """Where one note lives, with its NSynth metadata (no audio)."""

    meta: dict[str, Any]  # NSynth's keys (NSYNTH_KEYS)
    path: Path  # the .wav file, or the .tfrecord file holding the note
    offset: int = -1  # byte offset of the record in a TFRecord file; -1 for a wav

    @property
    def note_str(self) -> str:
        return str(self.meta["note_str"])

    @property
    def pitch(self) -> int:
        return int(self.meta["pitch"])


@dataclass(frozen=True, slots=True)
class NSynthExample:
    """One note: metadata and ``audio`` as ``[samples] float32`` in [-1, 1]."""

    meta: dict[str, Any]
    audio: np.ndarray


@dataclass(slots=True)
class SkipLog:
    """Counts skipped notes by reason and writes one line per skipped note."""

    stream: TextIO | None = field(default_factory=lambda: sys.stderr)
    counts: Counter[str] = field(default_factory=Counter)

    def skip(self, name: str, reason: str) -> None:
        self.counts[reason.split(" (")[0]] += 1
        if self.stream is not None:
            print(f"skipped {name}: {reason}", file=self.stream)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        if not self.counts:
            return "skipped 0 notes"
        parts = ", ".join(f"{n} {r}" for r, n in sorted(self.counts.items()))
        return f"skipped {self.total} notes ({parts})"


def make_note_str(instrument_str: str, pitch: int, velocity: int) -> str:
    """NSynth's note name ``<instrument_str>-<pitch:03d>-<velocity:03d>``."""
    return f"{instrument_str}-{int(pitch):03d}-{int(velocity):03d}"


def audio_problem(audio: np.ndarray) -> str | None:
    """Why ``audio`` ([samples] float) is unusable ('silent', ...), or None."""
    if audio.size == 0:
        return "empty"
    if not np.isfinite(audio).all():
        return "not finite"
    peak = float(np.abs(audio).max())
    if peak < SILENT_PEAK:
        return "silent"
    if peak >= CLIP_PEAK:
        full = np.abs(audio) >= CLIP_PEAK
        flat = full[: len(full) - CLIP_RUN + 1].copy()
        for k in range(1, CLIP_RUN):
            flat &= full[k : len(full) - CLIP_RUN + 1 + k]
        if flat.any():
            return "clipped"
    return None


def crop_or_pad(wave: np.ndarray, length: int) -> np.ndarray:
    """The reference's ``crop_or_pad``: zero-pad (more on the left), keep the first
    ``length`` samples.

    ``wave`` is ``[..., samples]``; returns ``[..., length]`` of the same dtype.
    """
    n = wave.shape[-1]
    pad = max(0, length - n)
    right = pad // 2
    left = pad - right
    if pad:
        widths = [(0, 0)] * (wave.ndim - 1) + [(left, right)]
        wave = np.pad(wave, widths)
    return wave[..., :length]


# --- listing -------------------------------------------------------------------------


def _clean_meta(raw: dict[str, Any], where: str) -> dict[str, Any]:
    missing = [k for k in ("note_str", "pitch") if k not in raw]
    if missing:
        raise ValueError(f"{where} lacks the NSynth key(s) {', '.join(missing)}")
    meta = dict(raw)
    for key in _INT_KEYS:
        if key in meta:
            meta[key] = int(meta[key])
    for key in _STR_KEYS:
        if key in meta:
            meta[key] = str(meta[key])
    meta.setdefault("instrument_source_str", "acoustic")
    meta.setdefault("velocity", 100)
    meta.setdefault("sample_rate", SAMPLE_RATE)
    return meta


def _list_jsonwav(folder: Path) -> list[ExampleRef]:
    path = folder / "examples.json"
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{path} is not a readable NSynth examples.json ({err})"
        ) from err
    if not isinstance(table, dict):
        raise ValueError(f"{path} must hold a JSON object keyed by note_str")
    refs = []
    for key, raw in table.items():
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: entry {key!r} is not a JSON object")
        raw = {"note_str": key, **raw}
        meta = _clean_meta(raw, f"{path}: entry {key!r}")
        refs.append(ExampleRef(meta, folder / "audio" / f"{meta['note_str']}.wav"))
    return refs


def _meta_from_features(feat: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in feat.items():
        if key == "audio":
            continue
        if isinstance(value, list):  # bytes_list
            texts = [v.decode("utf-8", "replace") for v in value]
            meta[key] = texts if key == "qualities_str" else (texts[0] if texts else "")
        elif key == "qualities":
            meta[key] = [int(v) for v in value]
        elif len(value):
            meta[key] = value[0].item()
    return meta


def _list_tfrecord(path: Path) -> list[ExampleRef]:
    """Metadata of every record; kept in ``.cache/`` beside the file (keyed by its
    name, size and modification time) so a large file is scanned once."""
    st = path.stat()
    cache = path.parent / ".cache" / f"{path.name}-{st.st_size}-{st.st_mtime_ns}.json"
    try:
        rows = json.loads(cache.read_text(encoding="utf-8"))
        return [ExampleRef(meta, path, int(offset)) for offset, meta in rows]
    except (OSError, ValueError, TypeError):
        pass
    refs = []
    for offset, data in tfrecord.iter_records_at(path):
        feat = tfrecord.decode_example(data)
        meta = _clean_meta(_meta_from_features(feat), f"{path} record at {offset}")
        refs.append(ExampleRef(meta, path, offset))
    try:
        cache.parent.mkdir(exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps([[r.offset, r.meta] for r in refs]), "utf-8")
        os.replace(tmp, cache)
    except OSError:  # a read-only dataset folder: scan again next time
        pass
    return refs


def list_examples(data_dir: str | os.PathLike[str]) -> list[ExampleRef]:
    """Every note of an NSynth dataset folder (metadata only), sorted by note_str.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist or holds no NSynth data.
    ValueError
        If an examples.json or a TFRecord file is malformed.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    refs: list[ExampleRef] = []
    folders = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    for folder in folders:
        if (folder / "examples.json").is_file():
            refs += _list_jsonwav(folder)
    for path in sorted(root.glob("*.tfrecord")) + sorted(root.glob("*.tfrecord-*")):
        refs += _list_tfrecord(path)
    if not refs:
        raise FileNotFoundError(
            f"{root} holds no NSynth data (examples.json + audio/, or *.tfrecord)"
        )
    seen: dict[str, ExampleRef] = {}
    for ref in refs:
        seen.setdefault(ref.note_str, ref)  # a note listed twice counts once
    return sorted(seen.values(), key=lambda r: r.note_str)


# --- audio ---------------------------------------------------------------------------


def load_audio(ref: ExampleRef) -> np.ndarray:
    """One note's audio, ``[samples] float32`` at 16 kHz.

    Raises
    ------
    BadAudio
        If the file is missing, unreadable, not 16 kHz, or its audio is not finite,
        silent or clipped (the message is the reason).
    """
    if ref.offset >= 0:
        audio = _tfrecord_audio(ref)
    else:
        audio = _wav_audio(ref.path)
    problem = audio_problem(audio)
    if problem:
        raise BadAudio(problem)
    return audio


def _wav_audio(path: Path) -> np.ndarray:
    import soundfile

    if not path.is_file():
        raise BadAudio("missing")
    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError) as err:  # soundfile.LibsndfileError
        raise BadAudio(f"unreadable ({str(err).strip()})") from err
    if rate != SAMPLE_RATE:
        raise BadAudio(f"wrong sample rate ({rate} Hz, NSynth is {SAMPLE_RATE} Hz)")
    return np.ascontiguousarray(audio.mean(axis=1), dtype=np.float32)


def _tfrecord_audio(ref: ExampleRef) -> np.ndarray:
    try:
        data = tfrecord.read_record_at(ref.path, ref.offset)
        feat = tfrecord.decode_example(data)
    except (OSError, ValueError) as err:
        raise BadAudio(f"unreadable ({err})") from err
    audio = feat.get("audio")
    if not isinstance(audio, np.ndarray) or audio.dtype != np.float32:
        raise BadAudio("unreadable (no float audio feature)")
    rate = int(ref.meta.get("sample_rate", SAMPLE_RATE))
    if rate != SAMPLE_RATE:
        raise BadAudio(f"wrong sample rate ({rate} Hz, NSynth is {SAMPLE_RATE} Hz)")
    return audio


def iter_examples(
    refs: Sequence[ExampleRef], skips: SkipLog | None = None
) -> Iterator[NSynthExample]:
    """Load each note's audio; bad notes are skipped and logged in ``skips``."""
    skips = SkipLog() if skips is None else skips
    for ref in refs:
        try:
            yield NSynthExample(ref.meta, load_audio(ref))
        except BadAudio as err:
            skips.skip(ref.note_str, str(err))


# --- the GANSynth subset and split ---------------------------------------------------


def subset_filter(
    pitch_range: tuple[int, int] = (24, 84), sources: Sequence[str] = ("acoustic",)
) -> Callable[[dict[str, Any]], bool]:
    """A predicate on metadata: source in ``sources`` and pitch in ``pitch_range``.

    The defaults are GANSynth's subset (acoustic instruments, MIDI 24-84 inclusive).
    """
    lo, hi = pitch_range
    if not 0 <= lo <= hi <= 127:
        raise ValueError(f"pitch range {lo}-{hi} is not inside MIDI 0-127")
    allowed = frozenset(sources)

    def keep(meta: dict[str, Any]) -> bool:
        source = str(meta.get("instrument_source_str", "acoustic"))
        return lo <= int(meta["pitch"]) <= hi and source in allowed

    return keep


def split_refs(
    refs: Sequence[ExampleRef],
    split: str,
    train_fraction: float = 0.8,
    seed: int = SPLIT_SEED,
) -> list[ExampleRef]:
    """GANSynth's shuffled 80/20 train/test split (fixed seed), or ``"all"``.

    The notes are ordered by note_str, shuffled with ``seed``, and the first
    ``round(train_fraction * n)`` are train. The result keeps the shuffled order.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    ordered = sorted(refs, key=lambda r: r.note_str)
    order = np.random.default_rng(seed).permutation(len(ordered))
    shuffled = [ordered[i] for i in order]
    n_train = int(round(train_fraction * len(shuffled)))
    if split == "train":
        return shuffled[:n_train]
    if split == "test":
        return shuffled[n_train:]
    return shuffled
