"""The window's engine host: the instrument, the engine, its audio driver and MIDI
input.

Threads: the Qt main thread calls every method here. The engine runs its own renderer
and retire threads; PortAudio calls ``engine.process`` on its real-time thread, or, with
no audio device, ``NullDriver`` (a daemon thread paced by the clock) does the same into
a buffer nobody hears, so the window, the bank and the meters still work. rtmidi calls
``MidiTap.push_event`` on its own thread: a deque append for the engine and one for the
window, which drains its deque on its timer (the GUI pulls; nothing is pushed into Qt).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.audio import (
    AudioDeviceError,
    AudioOutput,
    AudioSettings,
    device_sample_rate,
)
from engine.engine import Engine, EngineSettings
from engine.events import ControlChange, NoteOn
from engine.midi import MidiError, MidiInput
from engine.render_process import ProcessInstrument

__all__ = ["Host", "NullDriver", "MidiTap", "AudioChoice", "DEFAULT_RATE"]

DEFAULT_RATE = 48000  # Hz when no device says otherwise
LoadInstrument = Callable[[str | None, int], object]


@dataclass(frozen=True, slots=True)
class AudioChoice:
    """The output the user picked in the devices panel."""

    device: str | None = None  # name substring or index as text; None: default device
    sample_rate: int | None = None  # Hz; None: the device's own rate
    blocksize: int = 256  # frames per callback

    def __post_init__(self) -> None:
        if self.sample_rate is not None and not 8000 <= self.sample_rate <= 192000:
            raise ValueError(
                f"sample rate must be 8000-192000 Hz, got {self.sample_rate}"
            )
        if not 16 <= self.blocksize <= 8192:
            raise ValueError(f"blocksize must be 16-8192 frames, got {self.blocksize}")


class NullDriver:
    """Calls ``engine.process`` from a clock-paced thread when there is no device."""

    def __init__(self, engine: Engine, sample_rate: int, blocksize: int) -> None:
        self._engine = engine
        self.sample_rate, self.blocksize = int(sample_rate), int(blocksize)
        self._buf = np.zeros((self.blocksize, 2), np.float32)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="null-audio", daemon=True
        )
        self.callbacks = 0  # NB: written by the driver thread only
        self.latency_s = 0.0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        period = self.blocksize / self.sample_rate
        due = time.perf_counter()
        while not self._stop.is_set():
            self._engine.process(self._buf)
            self.callbacks += 1
            due += period
            delay = due - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)
            elif delay < -0.5:  # fell far behind (suspended): do not race to catch up
                due = time.perf_counter()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)


class MidiTap:
    """The MIDI input's sink: events go to the engine; CCs and notes also to the UI.

    NB: ``push_event`` runs on rtmidi's thread; both targets are deque appends (atomic).
    """

    def __init__(self, engine: Engine, maxlen: int = 4096) -> None:
        self._engine = engine
        self.for_ui: collections.deque = collections.deque(maxlen=maxlen)

    def push_event(self, event: object) -> None:
        self._engine.push_event(event)
        if isinstance(event, ControlChange | NoteOn):
            self.for_ui.append(event)

    def drain(self) -> list[object]:
        """The events that arrived since the last call (Qt main thread)."""
        out = []
        while self.for_ui:
            out.append(self.for_ui.popleft())
        return out


class Host:
    """Owns the instrument, the engine, the audio driver and the MIDI input.

    Every ``open_*`` method returns None on success or one sentence saying what failed;
    the window shows it. Nothing here raises for a device or port the user picked.
    """

    def __init__(
        self, load_instrument: LoadInstrument, render_process: bool = False
    ) -> None:
        self._load_instrument = load_instrument
        # True: the instrument renders in a child process (engine.render_process), so
        # the generator never holds the GIL the audio callback and the GUI need;
        # ``load_instrument`` must then be picklable (a module-level function)
        self.render_process = render_process
        self.model: str | None = None
        self.instrument: object | None = None
        self.engine: Engine | None = None
        self.settings = EngineSettings()
        self.audio: AudioOutput | NullDriver | None = None
        self.audio_name = "no audio device"
        self.audio_choice = AudioChoice()
        self.midi: MidiInput | None = None
        self.midi_name = "no MIDI input"
        self.tap: MidiTap | None = None
        self.load_error: str | None = None

    # -- model -------------------------------------------------------------------------
    def load(self, model: str | None, choice: AudioChoice) -> str | None:
        """Load ``model``, start the engine on the ``choice`` output; error sentence.

        When the model fails to load, ``load_error`` holds the sentence and whatever
        played before plays on. When the audio device fails the engine still runs on
        the ``NullDriver``; the returned sentence then says so.
        """
        rate, audio_error = self._device_rate(choice)
        try:
            if self.render_process:
                instrument = ProcessInstrument(self._load_instrument, model, rate)
            else:
                instrument = self._load_instrument(model, rate)
        except (OSError, ValueError, ImportError, RuntimeError) as err:
            self.load_error = _sentence(err)
            return self.load_error
        self.shutdown()
        self.model, self.audio_choice = model, choice
        self.instrument, self.load_error = instrument, None
        self.engine = Engine(instrument, self.settings)
        self.engine.start()
        self.tap = MidiTap(self.engine)
        return audio_error or self._start_audio(choice, rate)

    def _device_rate(self, choice: AudioChoice) -> tuple[int, str | None]:
        if choice.device == "none":
            return choice.sample_rate or DEFAULT_RATE, None
        try:
            settings = AudioSettings(
                choice.device, choice.sample_rate, choice.blocksize
            )
            return device_sample_rate(settings), None
        except (AudioDeviceError, ValueError) as err:
            return choice.sample_rate or DEFAULT_RATE, _sentence(err)

    def _start_audio(self, choice: AudioChoice, rate: int) -> str | None:
        assert self.engine is not None
        error = None
        if choice.device != "none":
            try:
                out = AudioOutput(
                    self.engine, AudioSettings(choice.device, rate, choice.blocksize)
                )
                out.start()
                self.audio, self.audio_name = out, out.device.name
                return None
            except (AudioDeviceError, ValueError) as err:
                error = _sentence(err)
        null = NullDriver(self.engine, rate, choice.blocksize)
        null.start()
        self.audio, self.audio_name = null, "no audio device"
        return error

    def set_audio(self, choice: AudioChoice) -> str | None:
        """Reopen the output (the instrument is reloaded when the rate changes)."""
        if self.engine is None:
            self.audio_choice = choice
            return self.load_error
        rate, error = self._device_rate(choice)
        if rate != self.engine.sample_rate:
            return self.load(self.model, choice)
        self._stop_audio()
        self.audio_choice = choice
        return error or self._start_audio(choice, rate)

    # -- MIDI --------------------------------------------------------------------------
    def set_midi(self, port: str | None, virtual: str | None) -> str | None:
        """Listen to ``port`` (a name substring) or a new ``virtual`` port, or none."""
        self._stop_midi()
        if self.tap is None or (port is None and virtual is None):
            return None
        try:
            midi = MidiInput(self.tap, port=port, virtual=virtual)
            midi.open()
            midi.start_watcher()
        except (MidiError, ValueError) as err:
            return _sentence(err)
        self.midi, self.midi_name = midi, midi.port_name or str(port or virtual)
        return None

    # -- settings and shutdown ---------------------------------------------------------
    def update_settings(self, settings: EngineSettings) -> None:
        self.settings = settings
        if self.engine is not None:
            self.engine.update_settings(settings)

    @property
    def latency_ms(self) -> float:
        """Key-to-sound latency estimate: one block plus the driver's output latency."""
        if self.engine is None or self.audio is None:
            return 0.0
        block = self.audio_choice.blocksize / self.engine.sample_rate
        return 1000.0 * (block + self.audio.latency_s)

    def _stop_audio(self) -> None:
        audio, self.audio = self.audio, None
        if audio is not None:
            audio.stop()

    def _stop_midi(self) -> None:
        midi, self.midi = self.midi, None
        self.midi_name = "no MIDI input"
        if midi is not None:
            midi.stop_watcher()
            midi.close()

    def shutdown(self) -> None:
        """Stop MIDI, audio and the engine (safe to call twice)."""
        self._stop_midi()
        self._stop_audio()
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.stop()
            close = getattr(engine.instrument, "close", None)
            if close is not None:  # a ProcessInstrument's child process ends here
                close()
        self.tap = None


def _sentence(err: BaseException) -> str:
    """One line for the user: the message of ``err`` without a traceback."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[0].upper() + text[1:] if text else text
