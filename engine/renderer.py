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

An instrument that renders windows beside whole notes (``concurrent_preview``: a
``ProcessInstrument`` with its preview child, which the renderer asks for with
``start_preview_process`` once it finds the model slow) gets the previews from a second
thread: a new timbre's preview then starts at once instead of after the whole note under
way stops. Both threads publish through ``_merge``, under one lock, into the bank that
is playing: a preview never replaces a whole note of its timbre, and nothing of an
older timbre replaces a newer one.
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
        self._lock = threading.Lock()  # guards the mailboxes only
        self._pending: tuple[int, np.ndarray] | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # the preview thread (instruments with concurrent_preview): its own mailbox
        self._preview_pending: tuple[int, np.ndarray, float] | None = None
        self._preview_wake = threading.Event()
        self._preview_thread: threading.Thread | None = None
        self._continuing = False  # the preview thread renders a continuation
        self._bank_lock = threading.Lock()  # read-modify-publish of the bank
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
            if self._concurrent():
                self._preview_pending = (*self._pending, self._t_request)
        cancel = getattr(self.instrument, "cancel", None)
        if self._concurrent():
            if cancel is not None:
                cancel()  # the whole note under way is of an older timbre
            if self._continuing:  # a first preview finishes; a continuation need not
                self.instrument.cancel_window()
            self._preview_wake.set()
        elif cancel is not None and not self._previewing_now:
            cancel()  # whatever renders now is for an older timbre (not a preview)
        self._wake.set()
        return self.requested_version

    def _concurrent(self) -> bool:
        return self._thread is not None and bool(
            getattr(self.instrument, "concurrent_preview", False)
        )

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="bank-renderer", daemon=True
        )
        self._thread.start()
        self._preview_thread = threading.Thread(
            target=self._run_previews, name="bank-previewer", daemon=True
        )
        self._preview_thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._preview_wake.set()
        for thread in (self._thread, self._preview_thread):
            if thread is not None:
                thread.join()
        self._thread = self._preview_thread = None

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

    def _run_previews(self) -> None:
        """The preview thread: each newest request's preview, then its continuation."""
        while not self._stop.is_set():
            self._preview_wake.wait(0.2)
            self._preview_wake.clear()
            with self._lock:
                job, self._preview_pending = self._preview_pending, None
            if job is None or not self._previewing():
                continue
            version, latent, t0 = job
            spans = self._spans(self._current())
            if not spans:
                continue
            try:
                ends = self._preview(version, latent, t0, spans, PREVIEW_S, True)
                if ends and self._preview_pending is None:
                    self._continuing = True
                    try:
                        self._preview(version, latent, t0, ends, PREVIEW_MORE_S, False)
                    finally:
                        self._continuing = False
            except RenderCancelled:
                continue
            except Exception as err:  # a broken preview must not end the thread
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
        current = self._current()
        lo, hi = current.pitch_min, current.pitch_max
        todo = [
            p for p in (range(lo, hi + 1) if only is None else only) if lo <= p <= hi
        ]
        todo = sorted(
            set(todo), key=lambda p: abs(p - 60)
        )  # middle of the keyboard first
        first = True
        if not todo:
            self._merge(version, latent, t0, [], [])
        concurrent = self._concurrent()
        if abandon and todo and self._previewing():
            # held notes hear previews: their whole notes follow one at a time
            spans = self._spans(current)
            first = not spans
            if spans and not concurrent:
                ends = self._preview(version, latent, t0, spans, PREVIEW_S, True)
                if self._newer_waiting():
                    return
                if ends:
                    self._preview(version, latent, t0, ends, PREVIEW_MORE_S, False)
        while todo:
            if abandon and self._newer_waiting():
                return
            sounding = [p for p in self._sounding() if p in todo]
            batch = (
                sounding
                if first and sounding
                else (sounding[:1] or todo[: self.batch_size])
            )
            first = False
            t_batch = time.perf_counter()
            notes = render_notes(self.instrument, latent, batch, self.loop_crossfade_ms)
            per_note = (time.perf_counter() - t_batch) * 1e3 / len(batch)
            self.note_ms = (
                per_note if not self.note_ms else (0.7 * self.note_ms + 0.3 * per_note)
            )
            if not self._merge(version, latent, t0, batch, notes):
                return  # a newer timbre's bank is out already
            todo = [p for p in todo if p not in batch]
            if self._previewing() and not concurrent:
                start = getattr(self.instrument, "start_preview_process", None)
                if start is not None:  # the next requests preview beside whole notes
                    start((PREVIEW_S, PREVIEW_MORE_S))
        self.render_ms = (time.perf_counter() - t0) * 1e3

    def _merge(
        self,
        version: int,
        latent: np.ndarray,
        t0: float,
        pitches: list[int],
        notes: list[tuple[np.ndarray, LoopPoints | None]] | None,
        windows: tuple[np.ndarray, list[int], int] | None = None,
    ) -> bool:
        """Publish ``notes`` (or, with ``windows`` = (waves, starts, fade), previews
        spliced into the playing notes) for timbre ``version`` into the bank playing
        now; False (nothing published) when a newer timbre's bank is out."""
        with self._bank_lock:
            bank = self._current()
            if bank.version > version:
                return False
            if bank.version < version:
                bank = bank.with_timbre(version, latent)
            if windows is not None:
                waves, starts, fade = windows
                n = self.instrument.note_length
                keep = [  # a whole note of this timbre is better than any preview
                    i
                    for i, p in enumerate(pitches)
                    if bank.note_versions[p - bank.pitch_min] != version
                    or bank.is_preview(p)
                ]
                pitches = [pitches[i] for i in keep]
                notes = [
                    splice_preview(
                        bank.note(pitches[j]),
                        bank.loop(pitches[j]),
                        waves[i],
                        starts[i],
                        n,
                        fade,
                    )
                    for j, i in enumerate(keep)
                ]
            assert notes is not None
            if pitches:
                bank = bank.with_notes(pitches, notes, preview=windows is not None)
            self._publish(bank)
            if pitches and self.first_version != version:
                self.first_ms = (time.perf_counter() - t0) * 1e3
                self.first_version = version
        return True

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
        version: int,
        latent: np.ndarray,
        t0: float,
        spans: dict[int, tuple[int, int]],
        seconds: float,
        first: bool,
    ) -> dict[int, tuple[int, int]]:
        """Publish ``seconds`` of timbre ``version`` from each span's first position
        to ``seconds`` past its last, spliced into the playing notes, and return the
        spans that continue them (from one fade before each window's end; none past
        the note's end). A ``first`` preview is not cancelled by a newer request; its
        continuation is."""
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
        if self._merge(version, latent, t0, pitches, None, (waves, starts, fade)):
            self.previews += 1
        return {  # only where the window ends before the note does
            p: (s + length - 2 * fade,) * 2
            for p, s in zip(pitches, starts, strict=True)
            if s + length - 2 * fade < n - 1
        }
