"""Offline rendering: a MIDI file to a WAV file through the same Engine, with no device.

The file's events drive ``Engine.process`` block by block, split at every event's sample
so timing is sample-accurate; the voices, envelopes, loops and limiter are the live
ones. The WAV is streamed to a temporary file next to the output and renamed into place
only when complete, so a failed render leaves nothing behind.

``interpolate_seconds`` is GANSynth's own MIDI rendering (its ``gansynth_generate.py``):
a new random latent every so many seconds, and each note gets the spherical
interpolation between the two latents around its start. Unlike the original it works for
any length (at least two latents are always drawn), keeps every key 21-108 (outside the
trained range by transposition) and renders each note when the timeline reaches it, so
memory stays bounded for long files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from engine import events as ev
from engine.bank import prepare_note
from engine.engine import Engine, EngineSettings
from engine.interface import Instrument
from engine.voices import KEY_RANGE
from instrument.latent import random_latents, slerp

__all__ = [
    "MidiFileError",
    "RenderResult",
    "read_midi",
    "note_latents",
    "render_midi_file",
]

END_TAIL_S = 1.0  # rendered after the release at the end, at most, for tails to finish


class MidiFileError(ValueError):
    """A MIDI file that cannot be read (one sentence)."""


@dataclass(frozen=True, slots=True)
class RenderResult:
    """What ``render_midi_file`` wrote."""

    path: Path  # the WAV file
    seconds: float  # its duration
    notes: int  # note-ons played
    sample_rate: int  # Hz
    peak: float  # largest absolute sample


def _to_event(msg: mido.Message) -> ev.Event | None:
    """The engine event of a mido message, or None for messages the engine ignores."""
    if msg.type == "note_on" and msg.velocity > 0:
        return ev.NoteOn(msg.note, msg.velocity, msg.channel)
    if msg.type in ("note_on", "note_off"):
        return ev.NoteOff(msg.note, msg.channel)
    if msg.type == "control_change":
        return ev.ControlChange(msg.control, msg.value, msg.channel)
    if msg.type == "pitchwheel":
        return ev.PitchBend(msg.pitch, msg.channel)
    return None


def read_midi(path: str | os.PathLike[str]) -> list[tuple[float, ev.Event]]:
    """The engine events of a MIDI file with their times in seconds, in order.

    Raises MidiFileError (one sentence) for a missing, unreadable or note-less file.
    """
    path = Path(path)
    if not path.is_file():
        raise MidiFileError(f"MIDI file not found: {path}")
    timeline: list[tuple[float, ev.Event]] = []
    t = 0.0
    try:
        for msg in mido.MidiFile(path):
            t += msg.time
            e = None if msg.is_meta else _to_event(msg)
            if e is not None:
                timeline.append((t, e))
    except Exception as err:  # mido raises many types for broken files
        reason = str(err).strip().rstrip(".").replace(". ", "; ") or type(err).__name__
        msg = f"{path.name} is not a readable MIDI file ({reason})"
        raise MidiFileError(msg) from err
    if not any(isinstance(e, ev.NoteOn) for _, e in timeline):
        raise MidiFileError(f"{path.name} contains no notes")
    return timeline


def note_latents(
    starts: np.ndarray,
    seconds_per_latent: float,
    size: int,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """GANSynth's interpolated latents: one per note start.

    Random latents sit at 0, s, 2s, ... (s = ``seconds_per_latent``) up to past the last
    start; each note gets the slerp between the two around its start.

    Parameters
    ----------
    starts : [N] float seconds.

    Returns
    -------
    [N, size] float32.
    """
    if not seconds_per_latent > 0 or not math.isfinite(seconds_per_latent):
        raise ValueError(
            f"interpolation seconds must be positive, got {seconds_per_latent}"
        )
    starts = np.asarray(starts, dtype=np.float64)
    last = float(starts.max()) if len(starts) else 0.0
    n = max(2, int(math.floor(last / seconds_per_latent)) + 2)
    anchors = random_latents(n, size, seed)
    idx = np.clip((starts // seconds_per_latent).astype(np.int64), 0, n - 2)
    u = np.clip(starts / seconds_per_latent - idx, 0.0, 1.0)
    return slerp(anchors[idx], anchors[idx + 1], u).astype(np.float32)


def _trained_pitch(key: int, pitch_range: tuple[int, int]) -> int:
    return min(max(key, pitch_range[0]), pitch_range[1])


def _with_own_notes(
    timeline: list[tuple[float, ev.Event]],
    instrument: Instrument,
    latents: np.ndarray,
    xf_ms: float,
) -> Iterator[tuple[float, ev.Event]]:
    """Yield the timeline with every NoteOn replaced by a NoteOnWithAudio (lazy)."""
    k = 0
    for t, e in timeline:
        if isinstance(e, ev.NoteOn):
            z = latents[k]
            k += 1
            if not KEY_RANGE[0] <= e.note <= KEY_RANGE[1]:
                continue
            pitch = _trained_pitch(e.note, instrument.pitch_range)
            wave = instrument.render(z[None, :], np.array([pitch]))[0]
            audio, loop = prepare_note(wave, instrument.sample_rate, xf_ms)
            e = ev.NoteOnWithAudio(e.note, e.velocity, audio, loop, pitch, e.channel)
        yield t, e


def render_midi_file(
    instrument: Instrument,
    midi_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    latent: np.ndarray | None = None,
    interpolate_seconds: float | None = None,
    seed: int = 0,
    settings: EngineSettings | None = None,
    blocksize: int = 256,
    channels: int = 2,
    subtype: str = "PCM_24",
) -> RenderResult:
    """Render a MIDI file to a WAV file at the instrument's sample rate.

    Parameters
    ----------
    instrument : the injected instrument (``render(latents, pitches)``, ...).
    midi_path, out_path : input MIDI file, output WAV file (replaced atomically).
    latent : [latent_size] float32 timbre for every note; default: random from ``seed``.
    interpolate_seconds : GANSynth's interpolation (module docstring); not with latent.
    seed : seed of the random latents.
    settings : the engine settings (envelope, gain, ...); default EngineSettings().
    blocksize : frames per engine block at most (events split blocks anyway).
    channels, subtype : of the WAV file (soundfile subtype, e.g. "PCM_24", "FLOAT").
    """
    if latent is not None and interpolate_seconds is not None:
        raise ValueError("give either a latent or interpolate_seconds, not both")
    if blocksize < 1 or channels < 1:
        raise ValueError(
            f"blocksize and channels must be positive, got {blocksize}, {channels}"
        )
    timeline = read_midi(midi_path)
    engine = Engine(instrument, settings)
    settings = engine.settings
    sr, size = engine.sample_rate, instrument.latent_size
    note_ons = [(t, e) for t, e in timeline if isinstance(e, ev.NoteOn)]
    if interpolate_seconds is None:
        z = random_latents(1, size, seed)[0] if latent is None else latent
        pitches = {_trained_pitch(e.note, instrument.pitch_range) for _, e in note_ons}
        engine.render_timbre(z, sorted(pitches))
        events = iter(timeline)
    else:
        starts = np.array([t for t, _ in note_ons])
        zs = note_latents(starts, interpolate_seconds, size, seed)
        events = _with_own_notes(timeline, instrument, zs, settings.loop_crossfade_ms)
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.part")
    try:
        with sf.SoundFile(tmp, "w", sr, channels, subtype=subtype, format="WAV") as f:
            frames, peak = _run(engine, events, f, sr, blocksize, channels, settings)
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return RenderResult(out_path, frames / sr, len(note_ons), sr, peak)


def _run(engine: Engine, events, f: sf.SoundFile, sr, blocksize, channels, settings):
    """Drive the engine over the events, writing blocks to ``f``; (frames, peak)."""
    buf = np.zeros((blocksize, channels), np.float32)
    done, peak = 0, 0.0

    def advance(until: int) -> None:
        nonlocal done, peak
        while done < until:
            n = min(blocksize, until - done)
            block = buf[:n]
            engine.process(block)
            peak = max(peak, float(np.abs(block).max()))
            f.write(block)
            done += n

    for t, e in events:
        advance(int(round(t * sr)))
        engine.push_event(e)
    engine.push_event(ev.ControlChange(ev.CC_SUSTAIN, 0))
    engine.push_event(ev.AllNotesOff())
    limit = done + int((settings.release + END_TAIL_S) * sr)
    advance(done + 1)
    while engine.voices.count() and done < limit:
        advance(min(limit, done + blocksize))
    return done, peak
