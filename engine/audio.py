"""Audio output through PortAudio (python-sounddevice): the engine's sound card driver.

Threads: ``AudioOutput.start``/``stop`` run on the caller's thread; ``_callback`` runs
on PortAudio's real-time thread and calls only ``engine.process(outdata)`` plus an int
increment when PortAudio reports a status flag (an xrun). Nothing here imports torch.

Works with any host API PortAudio offers (JACK, ALSA, PulseAudio/PipeWire through ALSA,
CoreAudio, WASAPI). With no device at all every function that needs one raises
``AudioDeviceError`` (an ``OSError``) with one sentence; offline rendering never touches
this module.

PortAudio lists only the servers that were up when it was initialised: after starting a
JACK server in this process's lifetime call ``reinitialize_portaudio()``, and call
``terminate_portaudio()`` before stopping that server (else libportaudio aborts at
exit).

Garbage collection: a full collection scans every object of the process (torch's
included) in whichever thread happens to allocate, and the benchmark caught one inside
the audio callback (88 ms). ``AudioOutput.start`` therefore moves every object alive at
that moment out of the collector's reach (``gc.freeze``): later full collections scan
only what was made since, a few ms at most. It also lowers the interpreter's thread
switch interval to ``SWITCH_INTERVAL_S`` (never raises it): the callback enters
Python only once it holds the GIL, and a thread that keeps it (the renderer's glue)
is asked to let go after this interval, not after CPython's default 5 ms.
"""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import sounddevice as sd

__all__ = [
    "AudioDeviceError",
    "AudioSettings",
    "AudioOutput",
    "OutputDevice",
    "BlockProcessor",
    "list_output_devices",
    "resolve_device",
    "device_sample_rate",
    "reinitialize_portaudio",
    "terminate_portaudio",
    "set_jack_client_name",
]

SWITCH_INTERVAL_S = 0.001  # the GIL switch interval while a stream plays (at most)

_LATENCY_NAMES = ("low", "high")


class AudioDeviceError(OSError):
    """No usable audio output (no device, unknown name, refused settings)."""


class BlockProcessor(Protocol):
    """What the driver calls: the engine's ``process`` (fills ``out`` in place)."""

    def process(self, out: np.ndarray) -> None: ...


@dataclass(frozen=True, slots=True)
class AudioSettings:
    """How to open the output stream."""

    device: int | str | None = None  # index, name substring, or None for the default
    sample_rate: int | None = None  # Hz; None: the device's default rate
    blocksize: int = 256  # frames per callback (0: PortAudio chooses)
    latency: str | float = "low"  # 'low', 'high' or seconds
    channels: int = 2  # output channels (the engine fills all of them)

    def __post_init__(self) -> None:
        if self.sample_rate is not None and not 8000 <= self.sample_rate <= 384000:
            raise ValueError(
                f"sample rate must be 8000-384000 Hz, got {self.sample_rate}"
            )
        if not 0 <= self.blocksize <= 16384:
            raise ValueError(f"blocksize must be 0-16384 frames, got {self.blocksize}")
        if not 1 <= self.channels <= 32:
            raise ValueError(f"channels must be 1-32, got {self.channels}")
        if isinstance(self.latency, str):
            if self.latency not in _LATENCY_NAMES:
                raise ValueError(
                    f"latency must be 'low', 'high' or seconds, got {self.latency!r}"
                )
        elif not 0.0 < float(self.latency) <= 2.0:
            raise ValueError(f"latency must be 0-2 seconds, got {self.latency}")


def parse_latency(text: str | float) -> str | float:
    """'low'/'high' as is, anything else as seconds (else one-sentence ValueError)."""
    if isinstance(text, str) and text in _LATENCY_NAMES:
        return text
    try:
        return float(text)
    except ValueError as err:
        raise ValueError(
            f"latency must be 'low', 'high' or seconds, got {text!r}"
        ) from err


@dataclass(frozen=True, slots=True)
class OutputDevice:
    """One PortAudio output device."""

    index: int  # PortAudio device index
    name: str  # device name, e.g. 'system'
    hostapi: str  # host API name, e.g. 'JACK Audio Connection Kit'
    channels: int  # maximum output channels
    default_sample_rate: float  # Hz
    is_default: bool  # PortAudio's default output


def reinitialize_portaudio() -> None:
    """Re-scan devices (PortAudio sees JACK only if it was up at initialisation)."""
    while sd._initialized > 0:
        sd._terminate()
    sd._initialize()


def terminate_portaudio() -> None:
    """Release PortAudio completely (call before stopping a JACK server)."""
    while sd._initialized > 0:
        sd._terminate()


_client_name: bytes | None = None  # NB: PortAudio keeps the pointer; keep it alive


def set_jack_client_name(name: str) -> bool:
    """Name this process's JACK client (re-initialises PortAudio; False if unsupported).

    PortAudio's JACK host API registers one client per process, "PortAudio" by default;
    a name makes the ports easy to find (``name:out_0``). JACK appends a suffix when the
    name is taken.
    """
    global _client_name
    import ctypes

    try:
        setter = ctypes.CDLL(sd._libname).PaJack_SetClientName
    except (OSError, AttributeError):
        return False
    _client_name = name.encode()
    setter.argtypes = [ctypes.c_char_p]
    if setter(_client_name) != 0:
        return False
    reinitialize_portaudio()
    return True


def _default_output_index() -> int:
    try:
        return int(sd.default.device[1])
    except (TypeError, IndexError, ValueError):
        return -1


def list_output_devices() -> list[OutputDevice]:
    """Every device with output channels (empty with no sound card or server)."""
    if sd._initialized == 0:
        sd._initialize()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except sd.PortAudioError:
        return []
    default = _default_output_index()
    if default < 0:
        try:
            default = int(sd.query_hostapis(0)["default_output_device"])
        except (sd.PortAudioError, IndexError, KeyError):
            default = -1
    return [
        OutputDevice(
            index=int(d["index"]),
            name=str(d["name"]),
            hostapi=str(hostapis[d["hostapi"]]["name"]),
            channels=int(d["max_output_channels"]),
            default_sample_rate=float(d["default_samplerate"]),
            is_default=int(d["index"]) == default,
        )
        for d in devices
        if d["max_output_channels"] > 0
    ]


def resolve_device(device: int | str | None) -> OutputDevice:
    """The output device for an index, a digit string, a name substring or None.

    Raises ``AudioDeviceError`` with one sentence when none matches.
    """
    devices = list_output_devices()
    if not devices:
        raise AudioDeviceError(
            "no audio output device found (no sound card or audio server is running); "
            "offline commands such as 'render' still work"
        )
    if device is None or device == "":
        chosen = [d for d in devices if d.is_default] or devices[:1]
        return chosen[0]
    if isinstance(device, int) or str(device).strip().isdigit():
        index = int(device)
        for d in devices:
            if d.index == index:
                return d
        raise AudioDeviceError(
            f"no audio output device has index {index}; "
            "'python main.py devices' lists them"
        )
    needle = str(device).lower()
    matches = [d for d in devices if needle in d.name.lower()]
    if not matches:
        raise AudioDeviceError(
            f"no audio output device name contains {device!r}; "
            "'python main.py devices' lists them"
        )
    return matches[0]


def device_sample_rate(settings: AudioSettings) -> int:
    """The rate the stream will run at: the setting, else the device's default rate."""
    if settings.sample_rate is not None:
        return int(settings.sample_rate)
    return int(round(resolve_device(settings.device).default_sample_rate))


class AudioOutput:
    """An output stream that asks ``processor.process(outdata)`` for every block.

    Parameters
    ----------
    processor
        The engine (anything with ``process(out)``, ``out`` ``[frames, channels]``
        float32).
    settings
        Device, rate, blocksize and latency.

    ``xruns`` counts callbacks that PortAudio flagged (underflow/overflow/priming). When
    the processor has an ``xruns`` attribute it is kept equal (the engine's stats).
    """

    def __init__(self, processor: BlockProcessor, settings: AudioSettings) -> None:
        self._processor = processor
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.sample_rate = device_sample_rate(settings)
        self.xruns = 0  # NB: written only by the callback thread; others read an int
        self.callbacks = 0  # NB: same
        self._mirror = hasattr(processor, "xruns")
        self._process = processor.process  # bound once: no allocation per callback
        self._stream: sd.OutputStream | None = None

    @property
    def active(self) -> bool:
        return self._stream is not None and self._stream.active

    @property
    def latency_s(self) -> float:
        """The stream's output latency as PortAudio reports it (s; 0 when closed)."""
        return float(self._stream.latency) if self._stream is not None else 0.0

    def _callback(
        self, outdata: np.ndarray, frames: int, time: Any, status: Any
    ) -> None:
        # The real-time path: no allocation, no lock, no logging, never raises.
        if status:
            self.xruns += 1
            if self._mirror:
                self._processor.xruns = self.xruns
        self.callbacks += 1
        self._process(outdata)

    def start(self) -> None:
        """Open and start the stream (one-sentence ``AudioDeviceError`` on failure)."""
        if self._stream is not None:
            return
        s = self.settings
        gc.freeze()  # see the module docstring: no long collection in the callback
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        try:
            stream = sd.OutputStream(
                device=self.device.index,
                samplerate=self.sample_rate,
                blocksize=s.blocksize,
                channels=min(s.channels, self.device.channels),
                dtype="float32",
                latency=s.latency,
                callback=self._callback,
            )
            stream.start()
        except sd.PortAudioError as err:
            raise AudioDeviceError(
                f"cannot open audio output {self.device.name!r} "
                f"at {self.sample_rate} Hz, "
                f"blocksize {s.blocksize} ({err.args[0] if err.args else err})"
            ) from err
        self._stream = stream

    def stop(self) -> None:
        """Stop and close the stream (safe to call twice)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
            finally:
                stream.close()

    def __enter__(self) -> AudioOutput:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
