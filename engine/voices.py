"""The voice pool: polyphonic playback of bank notes, as numpy struct-of-arrays.

Threads: only the audio callback (``Engine.process``) calls the methods that change
voices. The renderer thread reads ``sounding_pitches`` and the UI reads ``held_keys``.
NB: those reads are racy by design (a voice may start or stop meanwhile); they only
steer the render order and the display, and numpy reads of small int/bool arrays
cannot tear an element.

Layout: sounding voices occupy slots ``0 .. count - 1`` (an ending voice is replaced
by the last one). Envelopes, positions, loop wraps and crossfade weights advance for
all voices at once ([count] arrays). Events cost O(1) Python work each: note-off,
pedal and all-notes-off are masked numpy operations over the slot arrays, never a
Python loop over the slots.

The samples take one of two paths per block, chosen for the GIL as much as for speed:
numpy releases the GIL in any operation on more than 500 elements and in every
``take``, and each release lets another Python thread (the renderer's glue) in, which
the callback may then wait for (the benchmark saw 87-322 ms callbacks on a loaded
2-core machine when every block released it ~25 times).
- No voice resampled (no bend, keys inside the trained range): voice by voice with
  [n]-sized slice operations (``read_note``'s fast path). No GIL release at 256 frames.
- Some voice resampled: all voices at once in [voices, frames] planes (``_Planes``),
  one ``take`` per note read and a matrix-vector product for the mix: about 0.2 ms
  for 64 bent voices at 256 frames, where voice by voice costs ~1 ms and releases the
  GIL in two ``take`` calls per voice anyway.

Per block nothing is allocated but a few small objects: views are made once per
(voice count, block length) and cached, and no ufunc broadcasts or reads a strided
2-D operand (numpy 2 allocates iterator buffers of up to 64 KB for those).

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
        self.w = np.empty(max_block, np.float32)
        self._views: dict[int, tuple] = {}

    def views(self, n: int) -> tuple:
        """(ramp, pos, tmp, mask, idx, idx1, frac, a, b) cut to ``n`` (once per n)."""
        v = self._views.get(n)
        if v is None:
            v = self._views[n] = tuple(
                x[:n]
                for x in (self.ramp, self.pos, self.tmp, self.mask, self.idx)
                + (self.idx1, self.frac, self.a, self.b)
            )
        return v


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
    ramp, P, tmp, mask, idx, idx1, frac, a, b = s.views(n)  # (no views made here)
    np.multiply(ramp, rate, out=P)
    P += pos
    if loop is not None and end_pos > loop.end:
        np.greater_equal(P, loop.end, out=mask)
        np.subtract(P, loop.start, out=tmp)
        np.fmod(tmp, loop.length, out=tmp)
        tmp += loop.start
        np.copyto(P, tmp, where=mask)
        end_pos = loop.start + math.fmod(end_pos - loop.start, loop.length)
    np.minimum(P, length, out=P)
    np.floor(P, out=tmp)
    np.copyto(idx, tmp, casting="unsafe")
    np.subtract(P, tmp, out=tmp)
    np.copyto(frac, tmp, casting="same_kind")
    np.add(idx, 1, out=idx1)
    # the ndarray method (np.take's wrapper leaks a little per call); idx is in range,
    # so "wrap" changes nothing, and unlike "raise" it needs no temporary buffer
    note.take(idx, out=a, mode="wrap")
    note.take(idx1, out=b, mode="wrap")
    np.subtract(b, a, out=b)
    np.multiply(b, frac, out=b)
    np.add(a, b, out=out if len(out) == n else out[:n])
    return end_pos


_SILENT = np.zeros(GUARD + 1, np.float32)  # read by voices that have no note (yet)
_SILENT.setflags(write=False)

# per-voice state arrays moved together when a voice's slot is compacted
_FIELDS = (
    "active",
    "key",
    "pitch",
    "channel",
    "key_down",
    "sustained",
    "stage",
    "level",
    "rel_step",
    "vel_gain",
    "pos",
    "base_rate",
    "started",
    "xf_left",
    "private",
    "stolen",
    "waiting",
    "length",
    "loop_start",
    "loop_end",
    "loop_len",
    "old_length",
    "old_loop_start",
    "old_loop_end",
    "old_loop_len",
)
_REFS = ("note", "loop", "old_note", "old_loop")


class _Views:
    """Views of the pool's per-voice arrays for ``c`` sounding voices.

    Built once per voice count and cached, so that a block makes no view objects: the
    tracemalloc tests hold the callback to less than one block's bytes.
    """

    def __init__(self, pool: VoicePool, c: int) -> None:
        p = pool
        self.pos, self.rate, self.end = p.pos[:c], p._rate[:c], p._end[:c]
        self.base_rate, self.waiting = p.base_rate[:c], p.waiting[:c]
        self.ls, self.le, self.ll = p.loop_start[:c], p.loop_end[:c], p.loop_len[:c]
        self.length, self.xf = p.length[:c], p.xf_left[:c]
        self.ole, self.olen = p.old_loop_end[:c], p.old_length[:c]
        self.stage, self.level, self.l0 = p.stage[:c], p.level[:c], p._l0[:c]
        self.rel_step, self.vel_gain = p.rel_step[:c], p.vel_gain[:c]
        self.d, self.t = p._d[:c], p._t[:c]
        self.ga, self.gb = p._ga[:c], p._gb[:c]
        self.w0, self.ws = p._w0[:c], p._ws[:c]
        self.m1, self.m2 = p._m1[:c], p._m2[:c]


class _Planes:
    """[c, n] planes of the pool's buffers for ``c`` voices and ``n`` frames.

    Built once per (c, n) and cached. Every plane is C-contiguous and no ufunc
    broadcasts: numpy 2 allocates iterator buffers (up to 64 KB) for broadcast or
    strided 2-D operands, so per-voice values enter the planes through small matrix
    products ([c, 2] @ [2, n]).
    """

    def __init__(self, pool: VoicePool, c: int, n: int, rows: tuple) -> None:
        p = pool

        def plane(buf: np.ndarray, width: int = n) -> np.ndarray:
            return buf[: c * width].reshape(c, width)

        self.P, self.T, self.U = plane(p._P), plane(p._T), plane(p._U)
        self.a, self.b, self.fr = plane(p._A), plane(p._B), plane(p._FR)
        self.oa, self.ob = plane(p._OA), plane(p._OB)
        self.W = plane(p._W)
        idx2, ab2 = plane(p._IDX, 2 * n), plane(p._AB, 2 * n)
        oidx2, oab2 = plane(p._OIDX, 2 * n), plane(p._OAB, 2 * n)
        self.idx, self.idx1 = idx2[:, :n], idx2[:, n:]  # copyto targets only
        self.ab_a, self.ab_b = ab2[:, :n], ab2[:, n:]
        self.oidx, self.oidx1 = oidx2[:, :n], oidx2[:, n:]
        self.oab_a, self.oab_b = oab2[:, :n], oab2[:, n:]
        # [c, 2] coefficients times [2, n] (ramp; ones): rate * t + pos, ws * t + w0
        self.kp, self.kw = plane(p._KP, 2), plane(p._KW, 2)
        self.kp_rate, self.kp_pos = self.kp[:, 0], self.kp[:, 1]
        self.kw_ws, self.kw_w0 = self.kw[:, 0], self.kw[:, 1]
        self.rp, self.rw = p._RP[:, :n], p._RW[:, :n]
        self.ga, self.gb = p._pga[:c], p._pgb[:c]
        self.ramp32, self.mt = p._RW[0, :n], p._mt[:n]
        # one row per voice (shared by every c, made once per n): the gathers ([2n]
        # indices in, [2n] samples out) and the loop wraps
        self.idx_rows, self.ab_rows, self.oidx_rows, self.oab_rows = rows[:4]
        self.t_rows, self.u_rows, self.m_rows = rows[4:]


class VoicePool:
    """``capacity`` voices; ``max_voices`` of them may sound at once.

    Sounding voices occupy slots ``0 .. count - 1`` (a voice that ends is replaced by
    the last one), so that every per-block operation works on the first ``count``
    rows of each array at once; only the gathers from each voice's note are a Python
    loop (one ``take`` per voice, two while its timbre crossfades).
    """

    def __init__(self, capacity: int, max_block: int, sample_rate: int) -> None:
        cap, k = capacity, max_block
        self.capacity = capacity
        self.max_block = max_block
        self.sample_rate = sample_rate
        self.max_voices = min(64, capacity)
        self.active = np.zeros(cap, bool)
        self.key = np.zeros(cap, np.int16)  # MIDI key played
        self.pitch = np.zeros(cap, np.int16)  # trained pitch whose note is read
        self.channel = np.zeros(cap, np.int8)
        self.key_down = np.zeros(cap, bool)
        self.sustained = np.zeros(cap, bool)  # key up, held by the pedal
        self.stage = np.zeros(cap, np.intp)
        self.level = np.zeros(cap, np.float64)
        self.rel_step = np.zeros(cap, np.float64)
        self.vel_gain = np.zeros(cap, np.float64)
        self.pos = np.zeros(cap, np.float64)
        self.base_rate = np.ones(cap, np.float64)  # transposition ratio
        self.started = np.zeros(cap, np.int64)  # start serial (age)
        self.xf_left = np.zeros(cap, np.float64)  # samples of timbre crossfade left
        self.private = np.zeros(cap, bool)  # plays its own note, not the bank's
        self.stolen = np.zeros(cap, bool)  # fading out after being stolen
        self.waiting = np.zeros(cap, bool)  # its pitch has no note yet: silent, frozen
        # the note read and its loop (end inf: none) as numbers for the block maths
        self.length = np.full(cap, np.inf)
        self.loop_start = np.zeros(cap, np.float64)
        self.loop_end = np.full(cap, np.inf)
        self.loop_len = np.ones(cap, np.float64)
        self.old_length = np.full(cap, np.inf)
        self.old_loop_start = np.zeros(cap, np.float64)
        self.old_loop_end = np.full(cap, np.inf)
        self.old_loop_len = np.ones(cap, np.float64)
        self.note: list[np.ndarray | None] = [None] * cap
        self.loop: list[LoopPoints | None] = [None] * cap
        self.old_note: list[np.ndarray | None] = [None] * cap
        self.old_loop: list[LoopPoints | None] = [None] * cap
        self._count = 0  # voices in slots 0 .. count - 1
        self._playing = np.zeros(cap, bool)  # scratch: active and not stolen
        self._steal_fade = max(1, round(STEAL_FADE_S * sample_rate))
        self._serial = 0
        self.bend_ratio = 1.0
        self.pedal = False
        self.loop_enabled = True
        self.xf_len = 1
        # block buffers (NB: the render writes them; events use only _m1, _m2, _t)
        self._s = _Scratch(k)  # per-voice sample work (``read_note``)
        self._P = np.empty(cap * k, np.float64)  # [c, n] planes, see _Planes
        self._T = np.empty(cap * k, np.float64)
        self._U = np.empty(cap * k, np.float64)
        self._M = np.empty(cap * k, bool)
        self._IDX = np.zeros(cap * 2 * k, np.intp)
        self._OIDX = np.zeros(cap * 2 * k, np.intp)
        self._AB = np.zeros(cap * 2 * k, np.float32)
        self._OAB = np.zeros(cap * 2 * k, np.float32)
        self._A = np.empty(cap * k, np.float32)
        self._B = np.empty(cap * k, np.float32)
        self._OA = np.empty(cap * k, np.float32)
        self._OB = np.empty(cap * k, np.float32)
        self._FR = np.empty(cap * k, np.float32)
        self._W = np.empty(cap * k, np.float32)
        self._KP = np.zeros(cap * 2, np.float64)
        self._KW = np.zeros(cap * 2, np.float32)
        self._RP = np.stack([np.arange(k, dtype=np.float64), np.ones(k)])
        self._RW = self._RP.astype(np.float32)
        self._pga = np.empty(cap, np.float32)
        self._pgb = np.empty(cap, np.float32)
        self._mt = np.empty(k, np.float32)
        self._planes: dict[int, _Planes] = {}
        self._planes_n = 0
        self._rows: tuple = ()
        self._rate = np.empty(cap, np.float64)
        self._end = np.empty(cap, np.float64)
        self._l0 = np.empty(cap, np.float64)
        self._d = np.empty(cap, np.float64)
        self._t = np.empty(cap, np.float64)
        self._ga = np.empty(cap, np.float64)
        self._gb = np.empty(cap, np.float64)
        self._w0 = np.empty(cap, np.float64)
        self._ws = np.empty(cap, np.float64)
        self._m1 = np.empty(cap, bool)
        self._m2 = np.empty(cap, bool)
        self._step = np.zeros(5, np.float64)  # level change per block by stage
        self._views: dict[int, _Views] = {}
        self._arrays = [getattr(self, name) for name in _FIELDS]
        self._lists = [getattr(self, name) for name in _REFS]
        self._warm_up()

    def _warm_up(self) -> None:
        """Run the rare block paths once, so that numpy's per-signature loop caches
        are filled here and not inside the audio callback (a loop crossing its end)."""
        t, u, m = self._t[:2], self._d[:2], self._m1[:2]
        t.fill(1.0)
        np.fmod(t, self.loop_len[:2], out=t)
        np.fmod(u, 1.0, out=u)
        np.minimum(t, 1.0, out=t)
        np.greater_equal(t, 1.0, out=m)
        np.copyto(t, u, where=m)
        np.flatnonzero(m)

    # -- queries (any thread; racy reads, see module docstring) --------------------
    def count(self) -> int:
        return self._count

    def sounding_pitches(self) -> list[int]:
        """Trained pitches that active voices read (render these first)."""
        return sorted({int(p) for p in self.pitch[self.active]})

    def sounding_positions(self) -> list[tuple[int, float]]:
        """(trained pitch, read position in samples) of each voice on a bank note.

        A racy read from another thread (the renderer's preview), harmless: a
        position a block old is as good.
        """
        live = self.active & ~self.private
        return [
            (int(p), float(x))
            for p, x in zip(self.pitch[live], self.pos[live], strict=True)
        ]

    def held_keys(self) -> tuple[int, ...]:
        """Keys that are down or held by the sustain pedal."""
        held = self.active & (self.key_down | self.sustained)
        return tuple(sorted({int(k) for k in self.key[held]}))

    # -- slots ----------------------------------------------------------------------
    def _set_note(self, i: int, note: np.ndarray | None, loop: LoopPoints | None):
        self.note[i], self.loop[i] = note, loop
        self.waiting[i] = note is None
        self.length[i] = np.inf if note is None else len(note) - GUARD
        if loop is None:
            self.loop_start[i], self.loop_end[i], self.loop_len[i] = 0.0, np.inf, 1.0
        else:
            self.loop_start[i], self.loop_end[i] = loop.start, loop.end
            self.loop_len[i] = loop.length

    def _set_old(self, i: int, note: np.ndarray | None, loop: LoopPoints | None):
        self.old_note[i], self.old_loop[i] = note, loop
        self.old_length[i] = np.inf if note is None else len(note) - GUARD
        if loop is None:
            self.old_loop_start[i], self.old_loop_end[i] = 0.0, np.inf
            self.old_loop_len[i] = 1.0
        else:
            self.old_loop_start[i], self.old_loop_end[i] = loop.start, loop.end
            self.old_loop_len[i] = loop.length

    def _clear(self, i: int) -> None:
        """Slot ``i`` silent and empty (rows past ``count`` always are)."""
        self.active[i] = self.key_down[i] = self.sustained[i] = False
        self.stolen[i] = self.private[i] = False
        self.stage[i], self.level[i], self.rel_step[i] = env.IDLE, 0.0, 0.0
        self.vel_gain[i], self.xf_left[i], self.pos[i] = 0.0, 0, 0.0
        self._set_note(i, None, None)
        self.waiting[i] = False
        self._set_old(i, None, None)

    def _remove(self, i: int) -> None:
        """End voice ``i``: the last voice moves into its slot."""
        last = self._count - 1
        if i != last:
            for a in self._arrays:
                a[i] = a[last]
            for refs in self._lists:
                refs[i] = refs[last]
        self._clear(last)
        self._count = last

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
        if self.active[i]:  # a stolen slot reused at once: start from a clean slot
            self._clear(i)
        # NB: a slot past ``count`` is clean (``_clear``): set what differs only
        self._serial += 1
        self.active[i] = self.key_down[i] = True
        self.key[i], self.pitch[i], self.channel[i] = key, pitch, channel
        self.stage[i], self.vel_gain[i] = env.ATTACK, gain
        self.base_rate[i] = 2.0 ** ((key - pitch) / 12.0)
        self.started[i] = self._serial
        if own is not None:
            self.private[i] = True
        self._set_note(i, note, loop)

    def note_off(self, key: int, channel: int, adsr: env.Adsr) -> None:
        m, m2 = self._m1, self._m2
        np.equal(self.key, key, out=m)
        m &= self.key_down
        np.equal(self.channel, channel, out=m2)
        m &= m2
        pedal = self.pedal
        while True:  # usually one voice: scalar work, no scan per voice
            i = int(m.argmax())
            if not m[i]:
                return
            m[i] = False
            self.key_down[i] = False
            if pedal:
                self.sustained[i] = True
            elif self.stage[i] != env.RELEASE:
                self.stage[i] = env.RELEASE
                self.rel_step[i] = env.release(float(self.level[i]), adsr)

    def set_pedal(self, down: bool, adsr: env.Adsr) -> None:
        self.pedal = down
        if not down and self.sustained.any():
            m = self._m1
            np.copyto(m, self.sustained)
            self.sustained.fill(False)
            self._release(m, adsr)

    def all_notes_off(self, adsr: env.Adsr) -> None:
        """Release every key (the pedal keeps holding, as CC123 in MIDI)."""
        m = self._m1
        np.copyto(m, self.key_down)
        self.key_down.fill(False)
        if self.pedal:
            self.sustained |= m
        else:
            self._release(m, adsr)

    def all_sound_off(self) -> None:
        for i in range(self._count):
            self._clear(i)
        self._count = 0

    def _release(self, m: np.ndarray, adsr: env.Adsr) -> None:
        """Start the release of the voices in mask ``m`` ([capacity] bool)."""
        todo, t = self._m2, self._t
        np.not_equal(self.stage, env.RELEASE, out=todo)
        todo &= m
        np.maximum(self.level, 1e-6, out=t)  # env.release, for every voice at once
        t /= adsr.release
        np.copyto(self.rel_step, t, where=todo)
        np.copyto(self.stage, env.RELEASE, where=todo)

    def _free_voice(self, key: int) -> int:
        """A voice slot for a new note; steals by the rule of the module docstring."""
        c = self._count
        playing = c - int(np.count_nonzero(self.stolen))
        if playing < self.max_voices and c < self.capacity:
            self._count = c + 1
            return c
        np.greater(self.active, self.stolen, out=self._playing)
        victim = self._victim(key)
        if c >= self.capacity:  # no spare slot at all: reuse the victim's at once
            return victim
        self.stolen[victim] = True
        self.key_down[victim] = self.sustained[victim] = False
        self.stage[victim] = env.RELEASE
        self.rel_step[victim] = max(float(self.level[victim]), 1e-6) / self._steal_fade
        self._count = c + 1
        return c

    def _victim(self, key: int) -> int:
        """The voice to steal (this allocates a little: only when the pool is full)."""
        cands = np.flatnonzero(self._playing)
        if not cands.size:  # every slot fades out after a steal: the oldest of them
            cands = np.flatnonzero(self.active)
        order = cands[np.argsort(self.started[cands])]  # oldest first
        keys = self.key[order]
        same = np.flatnonzero(keys == key)
        if same.size:
            return int(order[same[0]])
        released = np.flatnonzero(~self.key_down[order])
        if released.size:
            return int(order[released[0]])
        inner = np.flatnonzero((keys > keys.min()) & (keys < keys.max()))
        if inner.size:
            return int(order[inner[0]])
        return int(order[0])

    # -- timbre ----------------------------------------------------------------------
    def follow_bank(self, bank: NoteBank) -> None:
        """Move each sounding voice to its pitch's note in ``bank``, crossfaded."""
        notes, lo = bank.notes, bank.pitch_min
        for i in range(self._count):
            if self.private[i]:
                continue
            k = int(self.pitch[i]) - lo
            new = notes[k]
            cur = self.note[i]
            if new is cur or new is None:
                continue
            if cur is not None:
                if self.xf_left[i] == 0:
                    self._set_old(i, cur, self.loop[i])
                    self.xf_left[i] = self.xf_len
                # else a fade is under way (the pad is moving): it goes on, now towards
                # the newest note; consecutive timbres differ little: the swap is smooth
            self._set_note(i, new, bank.loops[k])

    # -- audio -------------------------------------------------------------------------
    def _views_for(self, c: int, n: int) -> _Views:
        v = self._views.get(c)
        if v is None:  # once per voice count: a few hundred bytes, kept
            v = self._views[c] = _Views(self, c)
        return v

    def _planes_for(self, c: int, n: int) -> _Planes:
        if n != self._planes_n:  # a new block length: rows of every plane, once
            self._planes.clear()
            self._planes_n = n
            cap = self.capacity

            def rows(buf: np.ndarray, width: int) -> list[np.ndarray]:
                return list(buf[: cap * width].reshape(cap, width))

            self._rows = (
                rows(self._IDX, 2 * n),
                rows(self._AB, 2 * n),
                rows(self._OIDX, 2 * n),
                rows(self._OAB, 2 * n),
                rows(self._T, n),
                rows(self._U, n),
                rows(self._M, n),
            )
        p = self._planes.get(c)
        if p is None:  # once per voice count (and block length), kept
            p = self._planes[c] = _Planes(self, c, n, self._rows)
        return p

    def render(self, mix: np.ndarray, n: int, adsr: env.Adsr) -> None:
        """Add ``n`` samples (<= ``max_block``) of every voice into ``mix[:n]``.

        Two ways to the same sound (module docstring): voice by voice with slices when
        no voice is resampled (then numpy never releases the GIL in the callback), or
        all voices at once in [voices, frames] planes when some are (pitch bend, keys
        outside the trained range: the gathers release the GIL either way).
        """
        c = self._count
        if c == 0 or n == 0:
            return
        v = self._views_for(c, n)
        np.multiply(v.base_rate, self.bend_ratio, out=v.rate)
        np.copyto(v.rate, 0.0, where=v.waiting)  # frozen until its note arrives
        np.multiply(v.rate, n, out=v.end)
        v.end += v.pos  # positions after the block (unwrapped)
        fading = bool(v.xf.any())
        if fading:
            self._fade_weights(v, n)
        self._envelope(v, n, adsr)
        if len(mix) != n:
            mix = mix[:n]
        np.not_equal(v.rate, 1.0, out=v.m1)
        np.greater(v.m1, v.waiting, out=v.m1)  # resampled and sounding
        if v.m1.any():
            self._render_planes(v, c, n, mix, fading)
        else:
            self._render_voices(v, c, n, mix, fading)
        # positions after the block, wrapped into the loops
        if self.loop_enabled:
            np.greater_equal(v.end, v.le, out=v.m1)
            if v.m1.any():
                np.subtract(v.end, v.ls, out=v.t)
                np.fmod(v.t, v.ll, out=v.t)
                v.t += v.ls
                np.copyto(v.end, v.t, where=v.m1)
        np.copyto(v.pos, v.end)
        if fading:
            v.xf -= n
            np.maximum(v.xf, 0, out=v.xf)
            olds = self.old_note
            for j in range(c):
                if olds[j] is not None and v.xf[j] == 0:  # this fade is over
                    self._set_old(j, None, None)
        # voices that ended: released to silence, or read past an unlooped end
        np.equal(v.stage, env.IDLE, out=v.m1)
        np.greater_equal(v.pos, v.length, out=v.m2)
        v.m1 |= v.m2
        if v.m1.any():
            for j in np.flatnonzero(v.m1)[::-1]:  # (allocates: only when voices end)
                self._remove(int(j))

    def _render_voices(self, v: _Views, c: int, n: int, mix, fading: bool) -> None:
        """Voice by voice, [n]-sized operations (``read_note``; slices at rate 1)."""
        s = self._s
        sig, gain, w, old = s.sig[:n], s.gain[:n], s.w[:n], s.old[:n]
        unit = s.ramp32[:n]
        looping = self.loop_enabled
        notes, loops = self.note, self.loop
        rate, pos, ga, gb = v.rate, v.pos, v.ga, v.gb
        for j in range(c):
            note = notes[j]
            if note is None:  # its pitch is not rendered yet: silent
                continue
            r, p = float(rate[j]), float(pos[j])
            read_note(note, loops[j] if looping else None, p, r, n, sig, s)
            if fading and self.old_note[j] is not None:
                o = self.old_note[j]
                read_note(o, self.old_loop[j] if looping else None, p, r, n, old, s)
                np.multiply(unit, float(v.ws[j]), out=w)
                w += float(v.w0[j])
                sig -= old
                sig *= w
                sig += old  # old + w * (new - old)
            b = float(gb[j])
            if b == 0.0:  # steady (sustain): one scalar gain
                sig *= float(ga[j])
            else:
                np.multiply(unit, b, out=gain)
                gain += float(ga[j])
                sig *= gain
            mix += sig

    def _render_planes(self, v: _Views, c: int, n: int, mix, fading: bool) -> None:
        """All voices at once: [c, n] planes, one take per note read, two products."""
        p = self._planes_for(c, n)
        np.copyto(p.kp_rate, v.rate)
        np.copyto(p.kp_pos, v.pos)
        np.matmul(p.kp, p.rp, out=p.P)  # read positions pos + rate * t
        if fading:  # the previous timbre's notes, read at the same positions
            self._indices(v, p, True, p.oidx, p.oidx1)
        self._indices(v, p, False, p.idx, p.idx1)
        notes, rows, out = self.note, p.idx_rows, p.ab_rows
        for j in range(c):
            note = notes[j]
            (_SILENT if note is None else note).take(rows[j], out=out[j], mode="wrap")
        sig = p.a
        np.copyto(p.a, p.ab_a)
        np.copyto(p.b, p.ab_b)
        p.b -= p.a
        p.b *= p.fr
        sig += p.b  # a + frac * (b - a)
        if fading:
            olds, rows, out = self.old_note, p.oidx_rows, p.oab_rows
            for j in range(c):
                old = olds[j]
                (_SILENT if old is None else old).take(rows[j], out=out[j], mode="wrap")
            np.copyto(p.oa, p.oab_a)
            np.copyto(p.ob, p.oab_b)
            p.ob -= p.oa  # NB: the fractions are the same (loop points are integers)
            p.ob *= p.fr
            p.oa += p.ob
            np.copyto(p.kw_ws, v.ws, casting="same_kind")
            np.copyto(p.kw_w0, v.w0, casting="same_kind")
            np.matmul(p.kw, p.rw, out=p.W)  # the new note's weight w0 + ws * t
            sig -= p.oa
            sig *= p.W
            sig += p.oa
        # mix = sum over voices of sig * (ga + gb * t): two matrix-vector products
        np.copyto(p.ga, v.ga, casting="same_kind")
        np.copyto(p.gb, v.gb, casting="same_kind")
        np.matmul(p.ga, sig, out=p.mt)
        mix += p.mt
        np.matmul(p.gb, sig, out=p.mt)
        p.mt *= p.ramp32
        mix += p.mt

    def _indices(self, v: _Views, p: _Planes, old: bool, idx, idx1) -> None:
        """Read indices ``idx`` and ``idx1`` = idx + 1, and ``p.fr``, from ``p.P``.

        Positions past a loop end wrap into the loop (only the rows of the voices that
        cross it this block), past the note's end they are clamped (guard zeros).
        """
        T, U = p.T, p.U
        np.copyto(T, p.P)
        if old:
            ls, le, ll = self.old_loop_start, self.old_loop_end, self.old_loop_len
            end_at, length, lengths = v.ole, v.olen, self.old_length
        else:
            ls, le, ll = self.loop_start, self.loop_end, self.loop_len
            end_at, length, lengths = v.le, v.length, self.length
        m = v.m2
        if self.loop_enabled:
            np.greater_equal(v.end, end_at, out=m)
            for j in np.flatnonzero(m) if m.any() else ():  # (allocates a little)
                t, u, mr = p.t_rows[j], p.u_rows[j], p.m_rows[j]
                start, end, size = float(ls[j]), float(le[j]), float(ll[j])
                np.greater_equal(t, end, out=mr)
                np.subtract(t, start, out=u)
                np.fmod(u, size, out=u)
                u += start
                np.copyto(t, u, where=mr)
        np.greater(v.end, length, out=m)
        for j in np.flatnonzero(m) if m.any() else ():  # (allocates: notes ending)
            row = p.t_rows[j]
            np.minimum(row, lengths[j], out=row)
        np.floor(T, out=U)
        np.copyto(idx, U, casting="unsafe")
        np.subtract(T, U, out=T)
        np.copyto(p.fr, T, casting="same_kind")
        U += 1.0
        np.copyto(idx1, U, casting="unsafe")

    def _fade_weights(self, v: _Views, n: int) -> None:
        """Per fading voice, the new note's weight w0 + ws * t over this block.

        The weight rises from 0 to 1 over ``xf_len`` samples; voices not fading get 1.
        """
        total = float(self.xf_len)
        np.multiply(v.xf, -1.0 / total, out=v.t)
        v.t += 1.0
        np.maximum(v.t, 0.0, out=v.t)  # weight of the new note at the block start
        np.copyto(v.w0, v.t)
        v.t += n / total
        np.minimum(v.t, 1.0, out=v.t)
        np.subtract(v.t, v.w0, out=v.ws)
        v.ws *= 1.0 / n

    def _envelope(self, v: _Views, n: int, p: env.Adsr) -> None:
        """Advance every voice's ADSR by ``n`` samples (``env.advance``, vectorised).

        Sets ``v.ga``/``v.gb``: the gain ramp ga + gb * t over the block (velocity in).
        """
        step = self._step
        step[env.ATTACK] = n / p.attack
        step[env.DECAY] = -n * (1.0 - p.sustain) / p.decay
        st, lv, m1, m2 = v.stage, v.level, v.m1, v.m2
        np.copyto(v.l0, lv)
        step.take(st, out=v.d, mode="clip")
        np.copyto(v.d, 0.0, where=v.waiting)  # frozen until its note arrives
        np.multiply(v.rel_step, n, out=v.t)
        v.d -= v.t  # releasing voices fall (rel_step is 0 for the others)
        lv += v.d
        np.equal(st, env.SUSTAIN, out=m1)
        np.copyto(lv, p.sustain, where=m1)
        np.equal(st, env.DECAY, out=m1)  # decays that reach the sustain level
        np.less_equal(lv, p.sustain, out=m2)
        m1 &= m2
        np.copyto(st, env.SUSTAIN, where=m1)
        np.copyto(lv, p.sustain, where=m1)
        np.equal(st, env.ATTACK, out=m1)  # attacks that reach full level
        np.greater_equal(lv, 1.0, out=m2)
        m1 &= m2
        np.copyto(st, env.DECAY, where=m1)
        np.copyto(lv, 1.0, where=m1)
        np.equal(st, env.RELEASE, out=m1)  # releases that reach silence
        np.less_equal(lv, 0.0, out=m2)
        m1 &= m2
        np.copyto(st, env.IDLE, where=m1)
        np.copyto(lv, 0.0, where=m1)
        np.multiply(v.l0, v.vel_gain, out=v.t)
        np.copyto(v.ga, v.t, casting="same_kind")
        np.subtract(lv, v.l0, out=v.t)
        v.t *= v.vel_gain
        v.t *= 1.0 / n
        np.copyto(v.gb, v.t, casting="same_kind")
