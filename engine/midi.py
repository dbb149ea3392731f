"""MIDI input with python-rtmidi, parsed by mido, pushed to the engine as events.

Threads: rtmidi calls ``MidiInput._on_bytes`` on its own thread; it parses the bytes
with mido, translates the message to an immutable engine event and calls
``sink.push_event`` (a deque append in the engine). The port watcher
(``MidiInput.start_watcher``) is a daemon thread that polls the port list every
``poll_s`` seconds, reports a port that disappears and re-opens it when it comes back.
``open``/``close`` run on the caller's thread or the watcher's thread, serialised by
``_lock`` (never taken by the rtmidi callback).

Backends: on Linux ALSA is used when its sequencer works, else JACK MIDI; macOS uses
CoreMIDI, Windows WinMM. ``--midi-backend`` or ``MIDO_BACKEND`` (for instance
``mido.backends.rtmidi/UNIX_JACK``) overrides the choice. With no MIDI system available,
``MidiError`` (an ``OSError``) says so in one sentence and the program plays on
without MIDI.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Protocol

import mido
import rtmidi

from engine.events import (
    AllNotesOff,
    AllSoundOff,
    ControlChange,
    NoteOff,
    NoteOn,
    PitchBend,
)

__all__ = [
    "MidiError",
    "EventSink",
    "BACKENDS",
    "choose_backend",
    "list_input_ports",
    "translate",
    "MidiInput",
]


class MidiError(OSError):
    """No MIDI system, no such port, or a port that cannot be opened."""


class EventSink(Protocol):
    """The engine side: ``push_event`` is thread-safe and never blocks."""

    def push_event(self, event: object) -> None: ...


# User-facing backend names -> rtmidi API constants (one table, STYLE point 2).
BACKENDS: dict[str, int] = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}
# mido's names (MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK) -> ours.
_MIDO_API_NAMES = {
    "LINUX_ALSA": "alsa",
    "UNIX_JACK": "jack",
    "MACOSX_CORE": "coremidi",
    "WINDOWS_MM": "winmm",
}
# how long the watcher lets a graph change (a port that disappeared) settle before it
# closes its own port (see ``MidiInput._check``)
GRAPH_SETTLE_S = 0.2
_PLATFORM_ORDER = {"linux": ("alsa", "jack"), "darwin": ("coremidi", "jack")}


def _backend_name(text: str) -> str:
    """'jack', 'JACK', 'UNIX_JACK' or 'mido.backends.rtmidi/UNIX_JACK' -> 'jack'."""
    key = text.strip().rsplit("/", 1)[-1]
    name = _MIDO_API_NAMES.get(key.upper(), key.lower())
    if name not in BACKENDS:
        raise MidiError(
            f"unknown MIDI backend {text!r}; use one of {', '.join(BACKENDS)}"
        )
    if BACKENDS[name] not in rtmidi.get_compiled_api():
        raise MidiError(f"this python-rtmidi build has no {name} MIDI backend")
    return name


def _probe(name: str) -> None:
    """Create and delete one client of this backend (``MidiError`` if it cannot)."""
    try:
        client = rtmidi.MidiIn(rtapi=BACKENDS[name], name="gansynth-probe")
    except (rtmidi.RtMidiError, OSError) as err:
        raise MidiError(_no_backend_sentence(name, err)) from err
    client.delete()


def _no_backend_sentence(name: str, err: BaseException) -> str:
    if name == "jack":
        return (
            "no JACK server is running, so there is no MIDI input (start jackd first)"
        )
    if name == "alsa":
        return f"the ALSA MIDI sequencer is not available ({err})"
    return f"the {name} MIDI backend is not available ({err})"


def choose_backend(override: str | None = None) -> str:
    """Backend: ``override``, else ``$MIDO_BACKEND``, else the first working one.

    Raises ``MidiError`` (one sentence) when the chosen or every candidate fails.
    """
    explicit = override or os.environ.get("MIDO_BACKEND")
    if explicit and "rtmidi" not in explicit and "/" in explicit:
        raise MidiError(f"MIDI backend {explicit!r} is not an rtmidi backend")
    if explicit and explicit.strip() not in ("mido.backends.rtmidi", "rtmidi"):
        name = _backend_name(explicit)
        _probe(name)
        return name
    if sys.platform.startswith("win"):
        order: tuple[str, ...] = ("winmm",)
    else:
        order = _PLATFORM_ORDER.get(sys.platform, ("alsa", "jack"))
    compiled = set(rtmidi.get_compiled_api())
    last: MidiError | None = None
    for name in order:
        if BACKENDS[name] not in compiled:
            continue
        try:
            _probe(name)
        except MidiError as err:
            last = err
            continue
        return name
    raise last or MidiError("python-rtmidi was built without any MIDI backend")


def list_input_ports(backend: str | None = None) -> list[str]:
    """Names of the MIDI ports one can read from (``MidiError`` with no MIDI system)."""
    name = backend or choose_backend()
    try:
        client = rtmidi.MidiIn(rtapi=BACKENDS[name], name="gansynth-list")
    except (rtmidi.RtMidiError, OSError) as err:
        raise MidiError(_no_backend_sentence(name, err)) from err
    try:
        return list(client.get_ports())
    finally:
        client.delete()


def translate(msg: mido.Message, channel: int | None = None) -> object | None:
    """The engine event for a mido message, or None (other types, other channels).

    ``channel`` 0-15 keeps only that channel; None keeps every channel.
    """
    msg_channel = getattr(msg, "channel", None)
    if msg_channel is None or (channel is not None and msg_channel != channel):
        return None
    kind = msg.type
    if kind == "note_on":
        if msg.velocity == 0:
            return NoteOff(msg.note, msg_channel)
        return NoteOn(msg.note, msg.velocity, msg_channel)
    if kind == "note_off":
        return NoteOff(msg.note, msg_channel)
    if kind == "control_change":
        if msg.control == 123:
            return AllNotesOff()
        if msg.control == 120:
            return AllSoundOff()
        return ControlChange(msg.control, msg.value, msg_channel)
    if kind == "pitchwheel":
        return PitchBend(msg.pitch, msg_channel)
    return None


class MidiInput:
    """One MIDI input that feeds ``sink.push_event``.

    Parameters
    ----------
    sink
        The engine (``push_event``).
    port
        Substring of the port to connect to (None with ``virtual``: no connection).
    virtual
        Name of a virtual port to create (others connect to it), or None.
    backend
        'alsa', 'jack', 'coremidi', 'winmm' or None (automatic, see ``choose_backend``).
    channel
        0-15 to listen to one channel only, None for all.
    client_name
        The MIDI client name others see (JACK: ``client_name:virtual``).
    on_status
        Called with one sentence when the port disappears or comes back (watcher
        thread).

    Counters (plain ints, read by others): ``received`` messages, ``malformed`` byte
    messages dropped, ``ignored`` messages of other types or channels, ``disconnects``,
    ``reconnects``.
    """

    def __init__(
        self,
        sink: EventSink,
        port: str | None = None,
        virtual: str | None = None,
        backend: str | None = None,
        channel: int | None = None,
        client_name: str = "gansynth",
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        if port is None and virtual is None:
            raise ValueError("give a MIDI port name to open or a virtual port name")
        if channel is not None and not 0 <= channel <= 15:
            raise ValueError(
                f"MIDI channel must be 0-15 here (1-16 on the CLI), got {channel}"
            )
        self._sink = sink
        self.wanted = port
        self.virtual = virtual
        self.channel = channel
        self.client_name = client_name
        self.backend = backend if backend in BACKENDS else choose_backend(backend)
        self._on_status = on_status or (lambda text: None)
        self._lock = threading.Lock()
        self._client: rtmidi.MidiIn | None = None
        self.port_name: str | None = None  # the connected port's full name
        self.received = 0  # NB: these counters are written by the rtmidi thread only
        self.malformed = 0
        self.ignored = 0
        self.disconnects = 0  # NB: written by the watcher thread only
        self.reconnects = 0
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # -- the rtmidi thread -------------------------------------------------------------
    def _on_bytes(self, packet: tuple[list[int], float], data: object = None) -> None:
        try:
            msg = mido.Message.from_bytes(packet[0])
        except (ValueError, TypeError, IndexError):
            self.malformed += 1
            return
        self.received += 1
        event = translate(msg, self.channel)
        if event is None:
            self.ignored += 1
            return
        self._sink.push_event(event)

    # -- opening and closing -----------------------------------------------------------
    def _new_client(self) -> rtmidi.MidiIn:
        try:
            client = rtmidi.MidiIn(rtapi=BACKENDS[self.backend], name=self.client_name)
        except (rtmidi.RtMidiError, OSError) as err:
            raise MidiError(_no_backend_sentence(self.backend, err)) from err
        client.ignore_types(sysex=True, timing=True, active_sense=True)
        return client

    def _find(self, ports: list[str]) -> int | None:
        needle = (self.wanted or "").lower()
        own = f"{self.client_name}:".lower()
        for i, name in enumerate(ports):
            if needle in name.lower() and not name.lower().startswith(own):
                return i
        return None

    def open(self) -> None:
        """Create the virtual port and/or connect to the wanted port (``MidiError``)."""
        with self._lock:
            if self._client is not None:
                return
            client = self._new_client()
            try:
                if self.virtual is not None:
                    client.open_virtual_port(self.virtual)
                    self.port_name = f"{self.client_name}:{self.virtual}"
                else:
                    ports = client.get_ports()
                    index = self._find(ports)
                    if index is None:
                        raise MidiError(
                            f"no MIDI input port name contains {self.wanted!r} "
                            f"(ports: {', '.join(ports) or 'none'})"
                        )
                    client.open_port(index, name="in")
                    self.port_name = ports[index]
                client.set_callback(self._on_bytes)
            except (rtmidi.RtMidiError, OSError) as err:
                client.delete()
                if isinstance(err, MidiError):
                    raise
                raise MidiError(f"cannot open MIDI input: {err}") from err
            self._client = client

    def close(self) -> None:
        """Remove the callback first, then close the port (safe to call twice)."""
        with self._lock:
            client, self._client = self._client, None
            if client is not None:
                client.cancel_callback()
                client.close_port()
                client.delete()

    @property
    def is_open(self) -> bool:
        return self._client is not None

    # -- the watcher thread ------------------------------------------------------------
    def start_watcher(self, poll_s: float = 0.5) -> None:
        """Poll the port list; report and re-open a port that disappears and returns.

        Only a named port (not a virtual one) can disappear.
        """
        if self.virtual is not None or self._watcher is not None:
            return
        self._stop.clear()
        self._watcher = threading.Thread(
            target=self._watch, args=(poll_s,), name="midi-watcher", daemon=True
        )
        self._watcher.start()

    def _watch(self, poll_s: float) -> None:
        try:
            lister = rtmidi.MidiIn(rtapi=BACKENDS[self.backend], name="gansynth-watch")
        except (rtmidi.RtMidiError, OSError) as err:
            self._on_status(f"MIDI port watcher stopped: {err}")
            return
        try:
            while not self._stop.wait(poll_s):
                self._check(lister.get_ports())
        finally:
            lister.delete()

    def _check(self, ports: list[str]) -> None:
        present = self._find(ports) is not None
        if self.is_open and self.port_name not in ports:
            # JACK2's client library walks the port list for the latency notification
            # after a graph change on its own thread, unlocked: unregistering our port
            # in the same moment can crash the process. Let the change settle first.
            if self._stop.wait(GRAPH_SETTLE_S):
                return
            self.close()
            self.disconnects += 1
            self._on_status(f"MIDI port {self.port_name!r} disappeared; waiting for it")
        elif not self.is_open and present:
            try:
                self.open()
            except MidiError as err:
                self._on_status(f"MIDI port came back but could not be opened: {err}")
                return
            self.reconnects += 1
            self._on_status(f"MIDI port {self.port_name!r} is back")

    def stop_watcher(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5.0)
            self._watcher = None

    def __enter__(self) -> MidiInput:
        self.open()
        self.start_watcher()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_watcher()
        self.close()
