"""The engine: events in, voices over the current note bank, audio out, block by block.

Threads (DESIGN.md, "Threads and the real-time rules"):
- the audio callback (PortAudio's thread, or the offline loop) calls only ``process``;
  it never raises, blocks, allocates per block or logs;
- the MIDI thread and the UI call ``push_event`` (a deque append, atomic in CPython);
- the UI calls ``set_timbre`` / ``update_settings`` / ``stats`` / ``scope.read``;
- the renderer thread renders banks and publishes them by reference assignment;
- the retire thread drops replaced banks after a grace time, so a large free never
  happens in the callback.

NB on shared attributes: ``bank`` and ``_cfg`` are single references replaced whole
(an assignment is atomic); the counters are plain ints/floats written by one thread
(the callback, or the audio driver for ``xruns``) and read by the UI.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, fields

import numpy as np

from engine import events as ev
from engine.bank import NoteBank
from engine.envelope import Adsr
from engine.interface import REQUIRED_FIELDS, Instrument
from engine.mixer import OutputStage
from engine.renderer import BankRenderer
from engine.scope import ScopeRing
from engine.voices import VELOCITY_CURVES, VoicePool, velocity_table

__all__ = [
    "EngineSettings",
    "EngineStats",
    "Engine",
    "VOICE_CAPACITY",
    "MAX_BLOCK",
    "INSTRUMENT_ATTRIBUTES",
]

VOICE_CAPACITY = 256  # voice slots preallocated; settings.max_voices may use up to this
MAX_BLOCK = 512  # frames mixed per inner step (larger blocks are split)
MAX_EVENTS_PER_BLOCK = 512  # events handled per callback; the rest wait a block
MAX_QUEUED_EVENTS = 65536  # beyond this, push_event drops and counts
RETIRE_GRACE_S = 1.0  # a replaced bank is kept this long, then the retire thread drops
SCOPE_SAMPLES = 1 << 16

INSTRUMENT_ATTRIBUTES = (*REQUIRED_FIELDS, "render")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How the voices play; changeable while playing (``Engine.update_settings``)."""

    max_voices: int = 64  # polyphony, 1..VOICE_CAPACITY
    bend_range: float = 2.0  # semitones at full pitch-wheel deflection
    attack: float = 0.005  # seconds from 0 to full level
    decay: float = 0.1  # seconds from full level to the sustain level
    sustain: float = 1.0  # level while a key is held, 0..1
    release: float = 0.3  # seconds from the level at key-up to silence
    velocity_curve: str = "linear"  # a name in engine.voices.VELOCITY_CURVES
    master_gain: float = 0.5  # linear gain before the limiter, 0..4
    loop: bool = True  # held notes loop over their steady part
    crossfade_ms: float = 30.0  # timbre change under a sounding voice
    loop_crossfade_ms: float = 20.0  # loop seam (applied when a bank is rendered)

    def __post_init__(self) -> None:
        if not 1 <= self.max_voices <= VOICE_CAPACITY:
            raise ValueError(
                f"max_voices must be 1-{VOICE_CAPACITY}, got {self.max_voices}"
            )
        if not 0.0 <= self.bend_range <= 48.0:
            raise ValueError(
                f"bend_range must be 0-48 semitones, got {self.bend_range}"
            )
        for name in ("attack", "decay", "release"):
            value = getattr(self, name)
            if not 0.0 <= value <= 30.0:
                raise ValueError(f"{name} must be 0-30 seconds, got {value}")
        if not 0.0 <= self.sustain <= 1.0:
            raise ValueError(f"sustain must be 0..1, got {self.sustain}")
        if self.velocity_curve not in VELOCITY_CURVES:
            raise ValueError(
                f"unknown velocity curve {self.velocity_curve!r}; known: "
                f"{', '.join(VELOCITY_CURVES)}"
            )
        if not 0.0 <= self.master_gain <= 4.0:
            raise ValueError(f"master_gain must be 0-4, got {self.master_gain}")
        if not 0.0 < self.crossfade_ms <= 1000.0:
            raise ValueError(f"crossfade_ms must be 0-1000 ms, got {self.crossfade_ms}")
        if not 1.0 <= self.loop_crossfade_ms <= 500.0:
            raise ValueError(
                f"loop_crossfade_ms must be 1-500 ms, got {self.loop_crossfade_ms}"
            )

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> EngineSettings:
        """Settings from a dict; unknown keys are refused with one sentence."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown engine settings: {', '.join(unknown)}")
        return cls(**data)


@dataclass(frozen=True, slots=True)
class EngineStats:
    """A snapshot of the engine's counters for the UI and the benchmark."""

    voices_active: int  # voices sounding now
    worst_callback_ms: float  # longest process() call since the last reset
    callback_load: float  # smoothed time used / time available per block (0..1+)
    callback_errors: int  # blocks that hit an internal error (silence was written)
    events_dropped: int  # events refused because the queue was full
    nonfinite_blocks: int  # blocks in which NaN/Inf were scrubbed to silence
    limiter_gain: float  # the safety limiter's gain now (1 = not limiting)
    peak: float  # output peak of the last block
    bank_version: int  # timbre id of the bank playing
    bank_render_ms: float  # last complete bank: request to last note
    first_note_ms: float  # last request: request to its first notes published
    first_note_version: int  # the timbre version first_note_ms is of
    bank_progress: float  # 0..1 of the newest timbre's pitches rendered
    bank_pitches_ready: int  # pitches rendered for the newest timbre
    render_errors: int  # renders that raised (see ``last_render_error``)
    last_render_error: str
    xruns: int  # set by the audio driver
    blocks: int  # process() calls


class _Config:
    """Settings with their derived tables, swapped into the callback by reference."""

    __slots__ = ("settings", "adsr", "velocity", "xf_len")

    def __init__(self, settings: EngineSettings, rate: int) -> None:
        self.settings = settings
        s = settings
        self.adsr = Adsr.from_seconds(s.attack, s.decay, s.sustain, s.release, rate)
        self.velocity = velocity_table(s.velocity_curve)
        self.xf_len = max(1, round(s.crossfade_ms * 1e-3 * rate))


def check_instrument(instrument: Instrument) -> None:
    """One sentence if ``instrument`` lacks the interface the engine plays."""
    missing = [a for a in INSTRUMENT_ATTRIBUTES if not hasattr(instrument, a)]
    if missing:
        raise ValueError(
            f"{type(instrument).__name__} is not an instrument: it lacks "
            f"{', '.join(missing)}"
        )
    lo, hi = instrument.pitch_range
    if not 0 <= lo <= hi <= 127:
        raise ValueError(f"instrument pitch range {lo}-{hi} is not inside MIDI 0-127")
    if instrument.sample_rate <= 0:
        raise ValueError(
            f"instrument sample rate must be positive, got {instrument.sample_rate}"
        )


class Engine:
    """Plays an injected instrument's note banks from events (module docstring)."""

    def __init__(
        self, instrument: Instrument, settings: EngineSettings | None = None
    ) -> None:
        check_instrument(instrument)
        settings = settings or EngineSettings()
        self.instrument = instrument
        self.sample_rate = int(instrument.sample_rate)
        self._cfg = _Config(settings, self.sample_rate)
        self.bank = NoteBank.empty(tuple(instrument.pitch_range), self.sample_rate)
        self.voices = VoicePool(VOICE_CAPACITY, MAX_BLOCK, self.sample_rate)
        self.output = OutputStage(MAX_BLOCK, self.sample_rate)
        self.scope = ScopeRing(SCOPE_SAMPLES)
        self._events: deque = deque()
        self._mix = np.zeros(MAX_BLOCK, np.float32)
        self._mix_views: dict[int, np.ndarray] = {}  # n -> self._mix[:n], made once
        self._playing: NoteBank = self.bank  # the bank the voices follow (callback)
        self._handlers = {
            ev.NoteOn: self._on_note_on,
            ev.NoteOnWithAudio: self._on_note_with_audio,
            ev.NoteOff: self._on_note_off,
            ev.ControlChange: self._on_control,
            ev.PitchBend: self._on_bend,
            ev.AllNotesOff: self._on_all_notes_off,
            ev.AllSoundOff: self._on_all_sound_off,
            ev.Panic: self._on_panic,
        }
        self._retired: deque[tuple[float, NoteBank]] = deque()
        self.retire_grace_s = RETIRE_GRACE_S  # NB: read by the retire thread only
        self._published = threading.Condition()
        self._renderer = BankRenderer(
            instrument,
            current=lambda: self.bank,
            publish=self._publish,
            sounding=self.voices.sounding_pitches,
            loop_crossfade_ms=settings.loop_crossfade_ms,
            positions=self.voices.sounding_positions,
        )
        self._retire_stop = threading.Event()
        self._retire_thread: threading.Thread | None = None
        # counters (see EngineStats)
        self.xruns = 0  # NB: written by the audio driver only
        self.callback_errors = 0
        self.events_dropped = 0
        self.blocks = 0
        self.worst_callback_ms = 0.0
        self.callback_load = 0.0
        self._apply_cfg(self._cfg)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the renderer and retire threads (idempotent)."""
        self._renderer.start()
        if self._retire_thread is None:
            self._retire_stop.clear()
            self._retire_thread = threading.Thread(
                target=self._retire_loop, name="bank-retire", daemon=True
            )
            self._retire_thread.start()

    def stop(self) -> None:
        self._renderer.stop()
        self._retire_stop.set()
        if self._retire_thread is not None:
            self._retire_thread.join()
            self._retire_thread = None

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- timbre (any thread)
    def _check_latent(self, latent: np.ndarray) -> np.ndarray:
        z = np.asarray(latent, dtype=np.float32)
        size = self.instrument.latent_size
        if z.shape != (size,):
            raise ValueError(f"a latent must have shape ({size},), got {z.shape}")
        if not np.isfinite(z).all():
            raise ValueError("the latent contains NaN or Inf values")
        return z.copy()

    def set_timbre(self, latent: np.ndarray) -> int:
        """Ask the renderer thread for a bank of ``latent`` ([latent_size] float32).

        The newest request wins; a pending older one is dropped. Returns the timbre id.
        """
        return self._renderer.request(self._check_latent(latent))

    def render_timbre(self, latent: np.ndarray, pitches=None) -> NoteBank:
        """Render ``latent`` now, in the caller's thread, and play it (offline use).

        ``pitches``: only these trained pitches (default: all). Returns the new bank.
        """
        self._renderer.render_now(self._check_latent(latent), pitches)
        return self.bank

    def wait_bank(self, timeout: float | None = None) -> bool:
        """True once every pitch of the newest requested timbre is in the bank."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._published:
            while True:
                bank = self.bank
                if bank.version == self._renderer.requested_version and bank.complete:
                    return True
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._published.wait(0.05 if left is None else min(left, 0.05))

    def _publish(self, bank: NoteBank) -> None:
        """Make ``bank`` the playing bank (renderer thread); retire the old one."""
        old = self.bank
        self.bank = bank  # NB: one reference assignment; the callback picks it up
        now = time.monotonic()
        self._retired.append((now, old))
        self._trim_retired(now)
        with self._published:
            self._published.notify_all()

    def _trim_retired(self, now: float) -> None:
        while self._retired and now - self._retired[0][0] > self.retire_grace_s:
            self._retired.popleft()

    def _retire_loop(self) -> None:
        while not self._retire_stop.wait(0.25):
            self._trim_retired(time.monotonic())

    # -- settings and events (any thread)
    @property
    def settings(self) -> EngineSettings:
        return self._cfg.settings

    def update_settings(self, settings: EngineSettings) -> None:
        """New settings from the next block on (derived tables are built here)."""
        self._renderer.loop_crossfade_ms = settings.loop_crossfade_ms
        self._cfg = _Config(settings, self.sample_rate)

    def push_event(self, event: ev.Event) -> None:
        """Queue an event for the next block (thread-safe; full: dropped, counted)."""
        if len(self._events) >= MAX_QUEUED_EVENTS:
            self.events_dropped += 1
            return
        self._events.append(event)

    def held_notes(self) -> tuple[int, ...]:
        """Keys down or held by the pedal (UI display; a racy but harmless read)."""
        return self.voices.held_keys()

    def stats(self) -> EngineStats:
        bank, r = self.bank, self._renderer
        n = len(bank.notes)
        newest = bank.version == r.requested_version
        ready = bank.pitches_ready if newest else 0
        return EngineStats(
            voices_active=self.voices.count(),
            worst_callback_ms=self.worst_callback_ms,
            callback_load=self.callback_load,
            callback_errors=self.callback_errors,
            events_dropped=self.events_dropped,
            nonfinite_blocks=self.output.scrubbed,
            limiter_gain=self.output.gain,
            peak=self.output.peak,
            bank_version=bank.version,
            bank_render_ms=r.render_ms,
            first_note_ms=r.first_ms,
            first_note_version=r.first_version,
            bank_progress=ready / n if n else 1.0,
            bank_pitches_ready=ready,
            render_errors=r.errors,
            last_render_error=r.last_error,
            xruns=self.xruns,
            blocks=self.blocks,
        )

    def reset_worst(self) -> None:
        """Start a new worst-callback-time measurement."""
        self.worst_callback_ms = 0.0

    # -- the audio callback ------------------------------------------------------------
    def process(self, out: np.ndarray) -> None:
        """Fill ``out`` ([frames, channels] float32) in place with the next block.

        The audio callback's only call: never raises, blocks, allocates per block or
        logs; after an internal error it writes silence and counts it.
        """
        t0 = time.perf_counter()
        try:
            self._process(out)
        except Exception:
            out.fill(0.0)
            self.callback_errors += 1
        used = time.perf_counter() - t0
        frames = len(out)
        self.blocks += 1
        ms = used * 1e3
        if ms > self.worst_callback_ms:
            self.worst_callback_ms = ms
        if frames:
            load = used * self.sample_rate / frames
            self.callback_load += 0.05 * (load - self.callback_load)

    def _apply_cfg(self, cfg: _Config) -> None:
        v = self.voices
        v.max_voices = cfg.settings.max_voices
        v.loop_enabled = cfg.settings.loop
        v.xf_len = cfg.xf_len
        self._applied = cfg

    def _process(self, out: np.ndarray) -> None:
        cfg = self._cfg
        if cfg is not self._applied:
            self._apply_cfg(cfg)
        bank = self.bank
        if bank is not self._playing:
            self._playing = bank
            self.voices.follow_bank(bank)
        self._drain(bank, cfg)
        frames = len(out)
        master = cfg.settings.master_gain
        if frames <= MAX_BLOCK:  # the usual case: one step, no per-block views
            self._step(out, frames, master, cfg)
            return
        done = 0
        while done < frames:
            n = min(MAX_BLOCK, frames - done)
            self._step(out[done : done + n], n, master, cfg)
            done += n

    def _step(self, out: np.ndarray, n: int, master: float, cfg: _Config) -> None:
        """Mix ``n`` <= MAX_BLOCK frames into ``out`` ([n, channels])."""
        mix = self._mix_views.get(n)
        if mix is None:  # once per block length
            mix = self._mix_views[n] = self._mix[:n]
        mix.fill(0.0)
        self.voices.render(mix, n, cfg.adsr)
        self.output.process(mix, n, master, out)
        self.scope.write(mix)

    def _drain(self, bank: NoteBank, cfg: _Config) -> None:
        q, handlers = self._events, self._handlers
        for _ in range(MAX_EVENTS_PER_BLOCK):
            if not q:  # NB: the callback is the only consumer, so this cannot race
                return
            e = q.popleft()
            handler = handlers.get(type(e))
            if handler is not None:
                handler(e, bank, cfg)

    def _on_note_on(self, e: ev.NoteOn, bank: NoteBank, cfg: _Config) -> None:
        self.voices.note_on(e.note, cfg.velocity[e.velocity], e.channel, bank)

    def _on_note_with_audio(self, e: ev.NoteOnWithAudio, bank, cfg: _Config) -> None:
        own = (e.audio, e.loop, e.pitch)
        self.voices.note_on(e.note, cfg.velocity[e.velocity], e.channel, bank, own)

    def _on_note_off(self, e: ev.NoteOff, bank, cfg: _Config) -> None:
        self.voices.note_off(e.note, e.channel, cfg.adsr)

    def _on_control(self, e: ev.ControlChange, bank, cfg: _Config) -> None:
        if e.control == ev.CC_SUSTAIN:
            self.voices.set_pedal(e.value >= 64, cfg.adsr)
        elif e.control == ev.CC_ALL_NOTES_OFF:
            self.voices.all_notes_off(cfg.adsr)
        elif e.control == ev.CC_ALL_SOUND_OFF:
            self.voices.all_sound_off()

    def _on_bend(self, e: ev.PitchBend, bank, cfg: _Config) -> None:
        semitones = e.value / 8192.0 * cfg.settings.bend_range
        self.voices.bend_ratio = 2.0 ** (semitones / 12.0)

    def _on_all_notes_off(self, e, bank, cfg: _Config) -> None:
        self.voices.all_notes_off(cfg.adsr)

    def _on_all_sound_off(self, e, bank, cfg: _Config) -> None:
        self.voices.all_sound_off()

    def _on_panic(self, e, bank, cfg: _Config) -> None:
        self.voices.all_sound_off()
        self.voices.pedal = False
        self.voices.bend_ratio = 1.0
        self.output.reset()
