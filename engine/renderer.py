"""The renderer (engine) thread: turns timbre requests into note banks, newest first.

Threads:
- any thread (UI, MIDI learn, presets) calls ``request``: a one-slot mailbox under a
  short lock that the audio callback never takes; the newest request replaces a
  pending one;
- the renderer thread owns the instrument and is the only caller of its ``render``;
- the audio callback only reads the published bank (``publish`` assigns a reference).

A request renders first the pitches that sound or are held (one call, published at
once), then the rest ``batch_size`` notes per call (batching gains nothing on 2 CPU
cores), looking between calls for a newer request (then the old one is abandoned) and
for keys pressed meanwhile (their pitches jump the queue).

A slow model (a whole note takes longer than ``PREVIEW_ABOVE_MS``, e.g. the paper-size
generator on a CPU) gets a preview first: for each sounding voice only the next
``PREVIEW_S`` seconds from where it plays are rendered (``render_window``, a fraction
of a note's cost), spliced into its note (``bank.splice_preview``) and published, so a
held note moves to the new timbre within a fraction of a note's time. The preview is
kept short because it is what the player waits for; its continuation (the next
``PREVIEW_MORE_S`` seconds, spliced where the first ends) is rendered next, before the
voice gets there, and covers the time the whole note takes, which follows. An
instrument with ``cancel`` (``engine.render_process.ProcessInstrument``) is told to
drop a render under way as soon as a newer request comes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from engine.bank import LoopPoints, NoteBank, prepare_note, splice_preview
from engine.interface import Instrument
from engine.render_process import RenderCancelled

__all__ = ["BankRenderer", "render_notes", "PREVIEW_ABOVE_MS", "PREVIEW_S"]

PREVIEW_ABOVE_MS = 40.0  # whole notes slower than this: held notes get a preview first
PREVIEW_S = 0.15  # first preview from a voice's position: short, so it comes soon
PREVIEW_MORE_S = 0.4  # then its continuation: covers the whole note's wait
PREVIEW_FADE_S = 0.005  # fades joining a preview to the note around it


def render_notes(
    instrument: Instrument,
    latent: np.ndarray,
    pitches: Sequence[int],
    loop_crossfade_ms: float,
) -> list[tuple[np.ndarray, LoopPoints | None]]:
    """Render and prepare notes of one latent: a list of (audio, loop) per pitch."""
    if not len(pitches):
        return []
    latents = np.repeat(latent[None, :], len(pitches), axis=0)
    waves = np.asarray(instrument.render(latents, np.asarray(pitches, np.int64)))
    if waves.ndim != 2 or waves.shape[0] != len(pitches):
        raise ValueError(
            f"instrument returned shape {waves.shape} for {len(pitches)} notes"
        )
    rate = instrument.sample_rate
    return [prepare_note(w, rate, loop_crossfade_ms) for w in waves]


class BankRenderer:
    """Renders timbre requests into banks on its own thread and publishes them."""

    def __init__(
        self,
        instrument: Instrument,
        current: Callable[[], NoteBank],
        publish: Callable[[NoteBank], None],
        sounding: Callable[[], list[int]],
        loop_crossfade_ms: float = 20.0,
        batch_size: int = 1,
        positions: Callable[[], list[tuple[int, float]]] | None = None,
    ) -> None:
        self.instrument = instrument
        self._current, self._publish, self._sounding = current, publish, sounding
        self._positions = positions
        self.note_ms = 0.0  # smoothed time of one whole note (decides on previews)
        self.previews = 0  # previews published
        self.loop_crossfade_ms = loop_crossfade_ms  # NB: read per request (float swap)
        self.batch_size = max(1, int(batch_size))
        self._lock = threading.Lock()  # guards the mailbox only
        self._pending: tuple[int, np.ndarray] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.requested_version = 0  # newest request made (any thread reads)
        self.render_ms = 0.0  # last complete bank: request to last note published
        self.first_ms = 0.0  # last request: request to first notes published
        self.first_version = 0  # the request first_ms is of (set after first_ms)
        self.errors = 0  # renders that raised (the thread keeps running)
        self.last_error = ""
        self._t_request = 0.0
        # a first preview under way is not cancelled: it is short, and under a pad
        # dragged faster than previews take, cancelling each would leave the held note
        # in the old timbre until the drag stops; this way it follows, one at a time
        self._previewing_now = False

    # -- any thread --------------------------------------------------------------------
    def request(self, latent: np.ndarray) -> int:
        """Ask for a bank of ``latent``; returns its version (timbre id)."""
        with self._lock:
            self.requested_version += 1
            self._pending = (self.requested_version, latent)
            self._t_request = time.perf_counter()
        cancel = getattr(self.instrument, "cancel", None)
        if cancel is not None and not self._previewing_now:
            cancel()  # whatever renders now is for an older timbre (not a preview)
        self._wake.set()
        return self.requested_version

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="bank-renderer", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- the renderer thread (or the caller, for render_now) ---------------------------
    def _take(self) -> tuple[int, np.ndarray] | None:
        with self._lock:
            req, self._pending = self._pending, None
            return req

    def _newer_waiting(self) -> bool:
        return self._pending is not None  # NB: reading one reference, no lock needed

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            req = self._take()
            if req is None:
                continue
            try:
                self._render(*req, abandon=True)
            except RenderCancelled:
                continue  # a newer request is waiting: the loop takes it next
            except Exception as err:  # a broken render must not end the thread
                self.errors += 1
                self.last_error = f"{type(err).__name__}: {err}"

    def render_now(
        self, latent: np.ndarray, pitches: Sequence[int] | None = None
    ) -> None:
        """Render ``latent`` in the caller's thread (offline use; no thread running)."""
        with self._lock:
            self.requested_version += 1
            version = self.requested_version
            self._t_request = time.perf_counter()
        self._render(version, latent, abandon=False, only=pitches)

    def _render(
        self,
        version: int,
        latent: np.ndarray,
        abandon: bool,
        only: Sequence[int] | None = None,
    ) -> None:
        t0 = self._t_request
        bank = self._current().with_timbre(version, latent)
        lo, hi = bank.pitch_min, bank.pitch_max
        todo = [
            p for p in (range(lo, hi + 1) if only is None else only) if lo <= p <= hi
        ]
        todo = sorted(
            set(todo), key=lambda p: abs(p - 60)
        )  # middle of the keyboard first
        first = True
        if not todo:
            self._publish(bank)
        if abandon and todo and self._previewing():
            spans = self._spans(bank)
            if spans:
                bank, ends = self._preview(bank, latent, spans, PREVIEW_S, True)
                self._publish(bank)
                self.first_ms = (time.perf_counter() - t0) * 1e3
                self.first_version = version
                first = False
                if self._newer_waiting():
                    return
                if ends:
                    bank, _ = self._preview(bank, latent, ends, PREVIEW_MORE_S, False)
                    self._publish(bank)
        while todo:
            if abandon and self._newer_waiting():
                return
            sounding = [p for p in self._sounding() if p in todo]
            batch = (
                sounding
                if first and sounding
                else (sounding[:1] or todo[: self.batch_size])
            )
            t_batch = time.perf_counter()
            notes = render_notes(self.instrument, latent, batch, self.loop_crossfade_ms)
            per_note = (time.perf_counter() - t_batch) * 1e3 / len(batch)
            self.note_ms = (
                per_note if not self.note_ms else (0.7 * self.note_ms + 0.3 * per_note)
            )
            bank = bank.with_notes(batch, notes)
            self._publish(bank)
            if first:
                self.first_ms = (time.perf_counter() - t0) * 1e3
                self.first_version = version
                first = False
            todo = [p for p in todo if p not in batch]
        self.render_ms = (time.perf_counter() - t0) * 1e3

    def _previewing(self) -> bool:
        return (
            self._positions is not None
            and self.note_ms > PREVIEW_ABOVE_MS
            and bool(getattr(self.instrument, "can_preview", False))
        )

    def _spans(self, bank: NoteBank) -> dict[int, tuple[int, int]]:
        """Per sounding pitch of the bank, the first and last voice positions."""
        assert self._positions is not None
        n = self.instrument.note_length
        spans: dict[int, tuple[int, int]] = {}
        for pitch, pos in self._positions():
            if bank.pitch_min <= pitch <= bank.pitch_max:
                pos = min(int(pos), n - 1)
                lo, hi = spans.get(pitch, (pos, pos))
                spans[pitch] = (min(lo, pos), max(hi, pos))
        return spans

    def _preview(
        self,
        bank: NoteBank,
        latent: np.ndarray,
        spans: dict[int, tuple[int, int]],
        seconds: float,
        first: bool,
    ) -> tuple[NoteBank, dict[int, tuple[int, int]]]:
        """``bank`` with ``seconds`` of the new timbre from each span's first position
        to ``seconds`` past its last spliced in, and the spans that continue them (from
        one fade before each window's end; none past the note's end). A ``first``
        preview is not cancelled by a newer request; its continuation is."""
        inst = self.instrument
        rate, n = inst.sample_rate, inst.note_length
        fade = max(1, int(PREVIEW_FADE_S * rate))
        pitches = sorted(spans)
        starts = [spans[p][0] for p in pitches]
        length = int(seconds * rate + max(hi - lo for lo, hi in spans.values()))
        latents = np.repeat(latent[None, :], len(pitches), axis=0)
        self._previewing_now = first
        try:
            waves = inst.render_window(
                latents, np.asarray(pitches, np.int64), np.asarray(starts), length
            )
        finally:
            self._previewing_now = False
        notes = [
            splice_preview(bank.note(p), bank.loop(p), w, s, n, fade)
            for p, w, s in zip(pitches, waves, starts, strict=True)
        ]
        self.previews += 1
        more = {  # only where the window ends before the note does
            p: (s + length - 2 * fade,) * 2
            for p, s in zip(pitches, starts, strict=True)
            if s + length - 2 * fade < n - 1
        }
        return bank.with_notes(pitches, notes, preview=True), more
