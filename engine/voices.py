"""The voice pool: polyphonic playback of bank notes, as numpy struct-of-arrays.

Threads: only the audio callback (``Engine.process``) calls the methods that change
voices. The renderer thread reads ``sounding_pitches`` and the UI reads ``held_keys``.
NB: those reads are racy by design (a voice may start or stop meanwhile); they only
steer the render order and the display, and numpy reads of small int/bool arrays
cannot tear an element.

Per block, every method here works on preallocated buffers with ``out=`` operations
and basic slicing: nothing block-sized is allocated.

Stealing rule (when all ``max_voices`` are busy), JUCE's ``findVoiceToSteal``:
1. a voice already playing the same key (the retrigger reuses it);
2. else the oldest voice whose key is released (releasing or held only by the pedal);
3. else the oldest held voice that is neither the lowest nor the highest held key
   (the bass and the melody are protected);
4. else the oldest voice.
A stolen voice is not cut: it fades out over ``STEAL_FADE_S`` in its own slot while the
new note starts in a spare one (the pool has more slots than ``max_voices``), so
stealing makes no click.
"""

from __future__ import annotations

import math

import numpy as np

from engine import envelope as env
from engine.bank import GUARD, LoopPoints, NoteBank

__all__ = ["VELOCITY_CURVES", "velocity_table", "KEY_RANGE", "VoicePool", "read_note"]

# name -> gain for velocity v in (0, 1]; "soft": louder when light, "hard": quieter
VELOCITY_CURVES = {
    "linear": lambda v: v,
    "soft": lambda v: v**0.5,
    "hard": lambda v: v**2.0,
    "fixed": lambda v: 1.0,
}

# playable keys (the piano's); those outside the trained range are transposed
KEY_RANGE = (21, 108)
STEAL_FADE_S = 0.005  # a stolen voice fades out over this time


def velocity_table(curve: str) -> np.ndarray:
    """[128] float64 gain per MIDI velocity for a named curve (index 0: gain 0)."""
    try:
        fn = VELOCITY_CURVES[curve]
    except KeyError:
        raise ValueError(
            f"unknown velocity curve {curve!r}; known: {', '.join(VELOCITY_CURVES)}"
        ) from None
    table = np.array([0.0] + [fn(v / 127.0) for v in range(1, 128)], np.float64)
    return table


class _Scratch:
    """Preallocated per-block buffers (one set per pool)."""

    def __init__(self, max_block: int) -> None:
        self.ramp = np.arange(max_block, dtype=np.float64)  # 0, 1, 2, ... (positions)
        self.ramp32 = self.ramp.astype(np.float32)  # for gains: no casting buffer
        self.pos = np.empty(max_block, np.float64)
        self.tmp = np.empty(max_block, np.float64)
        self.mask = np.empty(max_block, bool)
        self.idx = np.empty(max_block, np.intp)
        self.idx1 = np.empty(max_block, np.intp)
        self.a = np.empty(max_block, np.float32)
        self.b = np.empty(max_block, np.float32)
        self.frac = np.empty(max_block, np.float32)
        self.sig = np.empty(max_block, np.float32)
        self.old = np.empty(max_block, np.float32)
        self.gain = np.empty(max_block, np.float32)


def read_note(
    note: np.ndarray,
    loop: LoopPoints | None,
    pos: float,
    rate: float,
    n: int,
    out: np.ndarray,
    s: _Scratch,
) -> float:
    """Read ``n`` samples of ``note`` from ``pos`` at ``rate`` into ``out[:n]``.

    Linear interpolation over a fractional read position; with ``loop`` the position
    wraps from ``loop.end`` back to ``loop.start``; without, reads past the end give
    zeros. Unbent voices (rate 1) take a slice path without index arrays.

    Returns the position after the block (wrapped).
    """
    length = len(note) - GUARD
    end_pos = pos + rate * n
    if rate == 1.0 and (loop is None or end_pos <= loop.end):
        p = int(pos)  # fast path: slices (GUARD >= 1 keeps p + 1 + k in bounds)
        f = pos - p
        k = max(0, min(n, length - p))
        if f == 0.0:
            out[:k] = note[p : p + k]
        else:
            np.multiply(note[p : p + k], 1.0 - f, out=out[:k])
            np.multiply(note[p + 1 : p + 1 + k], f, out=s.a[:k])
            out[:k] += s.a[:k]
        out[k:n] = 0.0
        return end_pos
    P, tmp, mask = s.pos[:n], s.tmp[:n], s.mask[:n]
    np.multiply(s.ramp[:n], rate, out=P)
    P += pos
    if loop is not None and end_pos > loop.end:
        np.greater_equal(P, loop.end, out=mask)
        np.subtract(P, loop.start, out=tmp)
        np.fmod(tmp, loop.length, out=tmp)
        tmp += loop.start
        np.copyto(P, tmp, where=mask)
        end_pos = loop.start + math.fmod(end_pos - loop.start, loop.length)
    np.minimum(P, length, out=P)
    idx, idx1 = s.idx[:n], s.idx1[:n]
    np.floor(P, out=tmp)
    np.copyto(idx, tmp, casting="unsafe")
    np.subtract(P, tmp, out=tmp)
    frac = s.frac[:n]
    np.copyto(frac, tmp, casting="same_kind")
    np.add(idx, 1, out=idx1)
    a, b = s.a[:n], s.b[:n]
    # the ndarray method (np.take's wrapper leaks a little per call); idx is in range,
    # so "wrap" changes nothing, and unlike "raise" it needs no temporary buffer
    note.take(idx, out=a, mode="wrap")
    note.take(idx1, out=b, mode="wrap")
    np.subtract(b, a, out=b)
    np.multiply(b, frac, out=b)
    np.add(a, b, out=out[:n])
    return end_pos


class VoicePool:
    """``capacity`` voices; ``max_voices`` of them may sound at once."""

    def __init__(self, capacity: int, max_block: int, sample_rate: int) -> None:
        self.capacity = capacity
        self.sample_rate = sample_rate
        self.max_voices = min(64, capacity)
        self.active = np.zeros(capacity, bool)
        self.key = np.zeros(capacity, np.int16)  # MIDI key played
        self.pitch = np.zeros(capacity, np.int16)  # trained pitch whose note is read
        self.channel = np.zeros(capacity, np.int8)
        self.key_down = np.zeros(capacity, bool)
        self.sustained = np.zeros(capacity, bool)  # key up, held by the pedal
        self.stage = np.zeros(capacity, np.int8)
        self.level = np.zeros(capacity, np.float64)
        self.rel_step = np.zeros(capacity, np.float64)
        self.vel_gain = np.zeros(capacity, np.float64)
        self.pos = np.zeros(capacity, np.float64)
        self.base_rate = np.ones(capacity, np.float64)  # transposition ratio
        self.started = np.zeros(capacity, np.int64)  # start serial (age)
        self.xf_left = np.zeros(capacity, np.int64)  # samples of timbre crossfade left
        self.private = np.zeros(capacity, bool)  # plays its own note, not the bank's
        self.stolen = np.zeros(capacity, bool)  # fading out after being stolen
        self._playing = np.zeros(capacity, bool)  # scratch: active and not stolen
        self._steal_fade = max(1, round(STEAL_FADE_S * sample_rate))
        self.note: list[np.ndarray | None] = [None] * capacity
        self.loop: list[LoopPoints | None] = [None] * capacity
        self.old_note: list[np.ndarray | None] = [None] * capacity
        self.old_loop: list[LoopPoints | None] = [None] * capacity
        self._serial = 0
        self._s = _Scratch(max_block)
        self.bend_ratio = 1.0
        self.pedal = False
        self.loop_enabled = True
        self.xf_len = 1

    # -- queries (any thread; racy reads, see module docstring) --------------------
    def count(self) -> int:
        return int(np.count_nonzero(self.active))

    def sounding_pitches(self) -> list[int]:
        """Trained pitches that active voices read (render these first)."""
        return sorted({int(p) for p in self.pitch[self.active]})

    def held_keys(self) -> tuple[int, ...]:
        """Keys that are down or held by the sustain pedal."""
        held = self.active & (self.key_down | self.sustained)
        return tuple(sorted({int(k) for k in self.key[held]}))

    # -- events (audio callback) -------------------------------------------------------
    def note_on(
        self,
        key: int,
        gain: float,
        channel: int,
        bank: NoteBank,
        own: tuple[np.ndarray, LoopPoints | None, int] | None = None,
    ) -> None:
        """Start ``key`` with velocity gain ``gain``; ``own`` = (audio, loop, pitch)."""
        if not KEY_RANGE[0] <= key <= KEY_RANGE[1]:
            return
        i = self._free_voice(key)
        if own is None:
            pitch = min(max(key, bank.pitch_min), bank.pitch_max)
            note, loop = (
                bank.notes[pitch - bank.pitch_min],
                bank.loops[pitch - bank.pitch_min],
            )
        else:
            note, loop, pitch = own
        self._serial += 1
        self.active[i] = True
        self.key[i], self.pitch[i], self.channel[i] = key, pitch, channel
        self.key_down[i], self.sustained[i] = True, False
        self.stage[i], self.level[i], self.rel_step[i] = env.ATTACK, 0.0, 0.0
        self.vel_gain[i], self.pos[i] = gain, 0.0
        self.base_rate[i] = 2.0 ** ((key - pitch) / 12.0)
        self.started[i], self.xf_left[i] = self._serial, 0
        self.private[i] = own is not None
        self.stolen[i] = False
        self.note[i], self.loop[i] = note, loop
        self.old_note[i] = self.old_loop[i] = None

    def note_off(self, key: int, channel: int, adsr: env.Adsr) -> None:
        for i in range(self.capacity):
            if self.active[i] and self.key_down[i] and self.key[i] == key:
                if self.channel[i] != channel:
                    continue
                self.key_down[i] = False
                if self.pedal:
                    self.sustained[i] = True
                else:
                    self._release(i, adsr)

    def set_pedal(self, down: bool, adsr: env.Adsr) -> None:
        self.pedal = down
        if not down:
            for i in range(self.capacity):
                if self.active[i] and self.sustained[i]:
                    self.sustained[i] = False
                    self._release(i, adsr)

    def all_notes_off(self, adsr: env.Adsr) -> None:
        """Release every key (the pedal keeps holding, as CC123 in MIDI)."""
        for i in range(self.capacity):
            if self.active[i] and self.key_down[i]:
                self.key_down[i] = False
                if self.pedal:
                    self.sustained[i] = True
                else:
                    self._release(i, adsr)

    def all_sound_off(self) -> None:
        self.active[:] = False
        self.key_down[:] = False
        self.sustained[:] = False
        self.stage[:] = env.IDLE
        for i in range(self.capacity):
            self._clear_refs(i)

    def _release(self, i: int, adsr: env.Adsr) -> None:
        if self.stage[i] != env.RELEASE:
            self.stage[i] = env.RELEASE
            self.rel_step[i] = env.release(float(self.level[i]), adsr)

    def _clear_refs(self, i: int) -> None:
        self.note[i] = self.loop[i] = self.old_note[i] = self.old_loop[i] = None

    def _free_voice(self, key: int) -> int:
        """A voice slot for a new note; steals by the rule of the module docstring."""
        playing = self._playing
        np.greater(self.active, self.stolen, out=playing)  # active and not stolen
        free = int(np.argmin(self.active))
        if np.count_nonzero(playing) < self.max_voices and not self.active[free]:
            return free
        victim = self._victim(key)
        if self.active[free]:  # no spare slot at all: reuse the victim's at once
            return victim
        self.stolen[victim] = True
        self.key_down[victim] = self.sustained[victim] = False
        self.stage[victim] = env.RELEASE
        self.rel_step[victim] = max(float(self.level[victim]), 1e-6) / self._steal_fade
        return free

    def _victim(self, key: int) -> int:
        """The voice to steal (this allocates a little: only when the pool is full)."""
        cands = np.flatnonzero(self._playing)
        order = cands[np.argsort(self.started[cands])]  # oldest first
        for i in order:
            if self.key[i] == key:
                return int(i)
        for i in order:
            if not self.key_down[i]:
                return int(i)
        held = self.key[order]
        lo, hi = int(held.min()), int(held.max())
        for i in order:
            if lo < self.key[i] < hi:
                return int(i)
        return int(order[0])

    # -- timbre ----------------------------------------------------------------------
    def follow_bank(self, bank: NoteBank) -> None:
        """Move each sounding voice to its pitch's note in ``bank``, crossfaded."""
        for i in range(self.capacity):
            if not self.active[i] or self.private[i]:
                continue
            k = int(self.pitch[i]) - bank.pitch_min
            new = bank.notes[k]
            cur = self.note[i]
            if new is cur or new is None:
                continue
            if cur is None:
                self.note[i], self.loop[i] = new, bank.loops[k]
                continue
            if self.xf_left[i] == 0:
                self.old_note[i], self.old_loop[i] = cur, self.loop[i]
                self.xf_left[i] = self.xf_len
            # else a fade is under way (the pad is moving): it goes on, now towards the
            # newest note; consecutive timbres differ little, so the swap is smooth
            self.note[i], self.loop[i] = new, bank.loops[k]

    # -- audio -------------------------------------------------------------------------
    def render(self, mix: np.ndarray, n: int, adsr: env.Adsr) -> None:
        """Add ``n`` samples of every sounding voice into ``mix[:n]`` (float32)."""
        s = self._s
        sig, gain = s.sig[:n], s.gain[:n]
        unit = s.ramp32[:n]
        for i in range(self.capacity):
            if not self.active[i]:
                continue
            note = self.note[i]
            if note is None:  # its pitch is not rendered yet: wait, silent
                if self.stage[i] == env.RELEASE:  # released before it ever sounded
                    self.active[i] = False
                    self.stage[i] = env.IDLE
                    self._clear_refs(i)
                continue
            rate = self.base_rate[i] * self.bend_ratio
            loop = self.loop[i] if self.loop_enabled else None
            pos = float(self.pos[i])
            new_pos = read_note(note, loop, pos, rate, n, sig, s)
            old = self.old_note[i]
            if old is not None:
                self._blend_old(i, old, pos, rate, n, s)
            l0 = float(self.level[i])
            stage, l1 = env.advance(
                int(self.stage[i]), l0, float(self.rel_step[i]), n, adsr
            )
            g = float(self.vel_gain[i])
            if l0 == l1:  # steady (sustain): one scalar gain
                np.multiply(sig, l0 * g, out=sig)
            else:
                np.multiply(unit, (l1 - l0) * g / n, out=gain)
                gain += l0 * g
                np.multiply(sig, gain, out=sig)
            mix[:n] += sig
            self.level[i], self.stage[i], self.pos[i] = l1, stage, new_pos
            if stage == env.IDLE or (loop is None and new_pos >= len(note) - GUARD):
                self.active[i] = False
                self.stage[i] = env.IDLE
                self._clear_refs(i)

    def _blend_old(
        self, i: int, old: np.ndarray, pos: float, rate: float, n: int, s
    ) -> None:
        """Crossfade from the previous timbre's note into ``s.sig`` over ``xf_len``."""
        loop = self.old_loop[i] if self.loop_enabled else None
        read_note(old, loop, pos, rate, n, s.old[:n], s)
        left, total = int(self.xf_left[i]), self.xf_len
        w0 = max(0.0, 1.0 - left / total)  # weight of the new note at the block start
        w1 = min(1.0, w0 + n / total)
        w = s.gain[:n]
        np.multiply(s.ramp32[:n], (w1 - w0) / n, out=w)
        w += w0
        sig = s.sig[:n]
        sig -= s.old[:n]
        sig *= w
        sig += s.old[:n]  # old + w * (new - old)
        left = max(0, left - n)
        self.xf_left[i] = left
        if left == 0:
            self.old_note[i] = self.old_loop[i] = None
