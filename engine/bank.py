"""The note bank: one rendered note per trained pitch for one timbre, immutable.

Threads: a bank is built by the renderer thread (or by the caller, offline) and
published to the audio callback by one reference assignment; nothing in it is ever
written after construction (the note arrays are made read-only). A partly rendered
bank keeps the previous bank's notes for the pitches not yet rendered for its timbre
(``note_versions`` says which timbre each note belongs to), so a voice never loses its
sound while a timbre renders.

Each note is stored ready to play: ``GUARD`` zero samples appended (the voices read
one sample past a fractional position without a bounds check) and, when a steady part
is found, a crossfade baked in before ``loop.end`` so that jumping from ``loop.end``
back to ``loop.start`` is seamless (the usual sampler preparation; SFZ loops expect it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "GUARD",
    "LoopPoints",
    "NoteBank",
    "find_loop",
    "prepare_note",
    "splice_preview",
]

GUARD = 4  # zero samples after every note (interpolation reads idx + 1)
MIN_LOOP_S = 0.1  # a steady part shorter than this is not looped (percussive notes)
DECAY_RATIO = 1.25  # loop start/end level ratio above which the crossfade is long
NOTE_PEAK = (
    0.5  # a prepared note peaks at most here (-6 dBFS); louder renders are scaled
)


@dataclass(frozen=True, slots=True)
class LoopPoints:
    """A sustain loop: play [start, end) and jump from end back to start."""

    start: int  # first sample of the loop
    end: int  # one past the last sample of the loop
    crossfade: (
        int  # samples before ``end`` that blend into the samples before ``start``
    )

    def __post_init__(self) -> None:
        if not 0 < self.crossfade <= self.start < self.end:
            raise ValueError(
                "loop needs 0 < crossfade <= start < end, got "
                f"crossfade {self.crossfade}, "
                f"start {self.start}, end {self.end}"
            )
        if self.end - self.start < self.crossfade:
            raise ValueError(
                f"loop of {self.end - self.start} samples is shorter than its "
                f"{self.crossfade}-sample crossfade"
            )

    @property
    def length(self) -> int:
        return self.end - self.start


def _envelope(note: np.ndarray, hop: int) -> np.ndarray:
    """RMS per frame of ``hop`` samples: [frames] float64."""
    frames = len(note) // hop
    x = note[: frames * hop].reshape(frames, hop)
    return np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64) / hop)


def find_loop(
    note: np.ndarray, sample_rate: int, crossfade_ms: float = 20.0
) -> LoopPoints | None:
    """Loop points over the steady part of a note, or None when it has none.

    The held part runs from the start to the last 10 ms frame whose RMS is at least a
    quarter of the peak frame's; the loop spans its 25 % to 75 % (none when that is
    shorter than ``MIN_LOOP_S``: a percussive note just ends), and the end is moved
    (within about 20 ms) to the position whose following samples best match those after
    the start (normalised correlation), so the jump lands in phase. When the level
    falls by more than ``DECAY_RATIO`` over the loop (a piano), the crossfade grows to a
    quarter of the loop, so the level swells back gently instead of pumping.

    Parameters
    ----------
    note : [samples] float32 mono note.
    sample_rate : Hz of ``note``.
    crossfade_ms : wanted crossfade length; shortened for short loops.
    """
    hop = max(1, sample_rate // 100)
    env = _envelope(note, hop)
    if len(env) < 8 or not np.isfinite(env).all() or env.max() <= 1e-5:
        return None
    held_end = int(np.nonzero(env >= 0.25 * env.max())[0][-1] + 1) * hop
    start, end = int(0.25 * held_end), int(0.75 * held_end)
    xf = min(int(crossfade_ms * 1e-3 * sample_rate), (end - start) // 4, start)
    if xf < 8 or end - start < MIN_LOOP_S * sample_rate:
        return None
    end = _match_end(note, start, end, sample_rate, xf)
    ratio = env[start // hop] / max(env[end // hop - 1], 1e-9)
    if ratio > DECAY_RATIO:  # a decaying note: a long crossfade swells, a short pumps
        xf = min((end - start) // 4, start)
    return LoopPoints(start=start, end=end, crossfade=xf)


def _match_end(
    note: np.ndarray, start: int, end: int, sample_rate: int, xf: int
) -> int:
    """``end`` moved to where the signal best continues like the one after ``start``."""
    win = min(xf, int(0.01 * sample_rate))
    search = int(0.02 * sample_rate)
    lo = max(start + 2 * xf, end - search)
    hi = min(len(note) - win - 1, end + search)
    if hi <= lo:
        return end
    ref = note[start : start + win].astype(np.float64)
    seg = note[lo : hi + win].astype(np.float64)
    num = np.correlate(seg, ref, mode="valid")  # [hi - lo + 1]: seg[j:j+win] . ref
    energy = np.concatenate([[0.0], np.cumsum(seg * seg)])
    den = np.sqrt((energy[win:] - energy[:-win]) * (ref @ ref)) + 1e-12
    return lo + int(np.argmax(num / den))


def prepare_note(
    note: np.ndarray, sample_rate: int, crossfade_ms: float = 20.0
) -> tuple[np.ndarray, LoopPoints | None]:
    """A rendered note made ready to play: guard, baked loop crossfade, read-only.

    Non-finite samples become 0 (a broken render must not reach the output), and a
    note peaking above ``NOTE_PEAK`` is scaled down to it.

    Parameters
    ----------
    note : [samples] float32 mono note as the instrument rendered it.
    sample_rate : Hz of ``note``.

    Returns
    -------
    audio : [samples + GUARD] float32, read-only.
    loop : LoopPoints, or None when the note has no steady part.
    """
    note = np.asarray(note, dtype=np.float32)
    if note.ndim != 1:
        raise ValueError(f"a note must be 1-D, got shape {note.shape}")
    audio = np.zeros(len(note) + GUARD, np.float32)
    audio[: len(note)] = note
    if not np.isfinite(audio).all():
        np.nan_to_num(audio, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.abs(audio).max())
    if peak > NOTE_PEAK:
        # GANSynth's own MIDI rendering scales every note by its peak (combine_notes);
        # a note louder than NOTE_PEAK is brought down to it, quieter notes keep their
        # level, so an early or odd model's loud render never slams the limiter.
        audio *= np.float32(NOTE_PEAK / peak)
    loop = find_loop(audio[: len(note)], sample_rate, crossfade_ms)
    if loop is not None:
        s, e, xf = loop.start, loop.end, loop.crossfade
        fade_in = np.linspace(0.0, 1.0, xf, endpoint=False, dtype=np.float32)
        # cos/sin-free equal-gain blend: the two segments are correlated by construction
        tail = audio[e - xf : e] * (1.0 - fade_in) + audio[s - xf : s] * fade_in
        audio[e - xf : e] = tail
    audio.setflags(write=False)
    return audio, loop


@dataclass(frozen=True, slots=True, eq=False)
class NoteBank:
    """Prepared notes per trained pitch for one timbre (``version``), immutable.

    ``notes[i]`` plays MIDI pitch ``pitch_min + i``: [note_length + GUARD] float32,
    read-only, or None when no timbre has rendered it yet.
    """

    version: int  # timbre id: the newest request this bank is rendering
    sample_rate: int  # Hz of every note
    pitch_min: int  # MIDI pitch of notes[0]
    notes: tuple[np.ndarray | None, ...]  # per pitch, see above
    loops: tuple[LoopPoints | None, ...]  # per pitch
    note_versions: tuple[int, ...]  # per pitch: the timbre it was rendered for, -1 none
    latent: np.ndarray | None = None  # [latent] float32 of ``version``, None if empty
    # per pitch: True while the note is a preview (``splice_preview``): the new
    # timbre's next moments under a held note, its whole note still to come
    previews: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.notes)
        if len(self.loops) != n or len(self.note_versions) != n:
            raise ValueError(
                f"bank has {n} notes but {len(self.loops)} loops and "
                f"{len(self.note_versions)} versions"
            )
        if self.previews is not None and len(self.previews) != n:
            raise ValueError(f"bank has {n} notes but {len(self.previews)} flags")

    @classmethod
    def empty(cls, pitch_range: tuple[int, int], sample_rate: int) -> NoteBank:
        """A bank with no notes (before the first timbre is rendered)."""
        n = pitch_range[1] - pitch_range[0] + 1
        return cls(0, sample_rate, pitch_range[0], (None,) * n, (None,) * n, (-1,) * n)

    @property
    def pitch_max(self) -> int:
        return self.pitch_min + len(self.notes) - 1

    @property
    def pitches_ready(self) -> int:
        """Pitches rendered (whole, not previews) for this bank's own timbre."""
        if self.previews is None:
            return sum(v == self.version for v in self.note_versions)
        return sum(
            v == self.version and not preview
            for v, preview in zip(self.note_versions, self.previews, strict=True)
        )

    def is_preview(self, pitch: int) -> bool:
        return self.previews is not None and self.previews[pitch - self.pitch_min]

    @property
    def complete(self) -> bool:
        return self.pitches_ready == len(self.notes)

    def note(self, pitch: int) -> np.ndarray | None:
        """The prepared note of MIDI ``pitch`` (inside the trained range) or None."""
        return self.notes[pitch - self.pitch_min]

    def loop(self, pitch: int) -> LoopPoints | None:
        return self.loops[pitch - self.pitch_min]

    def with_timbre(self, version: int, latent: np.ndarray) -> NoteBank:
        """The same notes announced as the start of rendering timbre ``version``."""
        return NoteBank(
            version,
            self.sample_rate,
            self.pitch_min,
            self.notes,
            self.loops,
            self.note_versions,
            latent,
            self.previews,
        )

    def with_notes(
        self,
        pitches: list[int],
        notes: list[tuple[np.ndarray, LoopPoints | None]],
        preview: bool = False,
    ) -> NoteBank:
        """A new bank with ``pitches`` replaced by notes of this bank's timbre.

        ``preview``: the notes are previews (``splice_preview``), not whole notes.
        """
        new_notes, new_loops = list(self.notes), list(self.loops)
        versions = list(self.note_versions)
        flags = list(self.previews or (False,) * len(self.notes))
        for pitch, (audio, loop) in zip(pitches, notes, strict=True):
            i = pitch - self.pitch_min
            new_notes[i], new_loops[i], versions[i] = audio, loop, self.version
            flags[i] = preview
        return NoteBank(
            self.version,
            self.sample_rate,
            self.pitch_min,
            tuple(new_notes),
            tuple(new_loops),
            tuple(versions),
            self.latent,
            tuple(flags) if any(flags) else None,
        )


def splice_preview(
    old: np.ndarray | None,
    loop: LoopPoints | None,
    window: np.ndarray,
    start: int,
    note_length: int,
    fade: int,
) -> tuple[np.ndarray, LoopPoints | None]:
    """A playing note with samples ``[start, start + len(window))`` from a new timbre.

    The renderer's preview for a slow model: a voice sounding at ``start`` crossfades
    into this note and hears the new timbre at once (``window`` is that timbre's next
    moments, ``Synth.render_window``) while the whole note renders. Around the window
    the old note (silence if none) stays, joined by ``fade``-sample linear fades; the
    old loop points stay. The window is scaled down as ``prepare_note`` would when it
    peaks above ``NOTE_PEAK``; non-finite samples become 0.

    Returns (audio [note_length + GUARD] float32 read-only, loop).
    """
    audio = np.zeros(note_length + GUARD, np.float32)
    if old is not None:
        n = min(len(old), len(audio))
        audio[:n] = old[:n]
    else:
        loop = None
    seg = np.nan_to_num(
        np.asarray(window[: max(0, note_length - start)], np.float32),
        nan=0.0,
        posinf=0.0,
        neginf=0.0,
    )
    if len(seg):
        peak = float(np.abs(seg).max())
        if peak > NOTE_PEAK:
            seg = seg * np.float32(NOTE_PEAK / peak)
        region = audio[start : start + len(seg)]
        f = min(fade, len(seg) // 2)
        if f:
            ramp = np.linspace(0.0, 1.0, f, endpoint=False, dtype=np.float32)
            seg[:f] = region[:f] * (1.0 - ramp) + seg[:f] * ramp
            seg[-f:] = seg[-f:] * (1.0 - ramp) + region[-f:] * ramp
        region[:] = seg
    audio.setflags(write=False)
    return audio, loop
