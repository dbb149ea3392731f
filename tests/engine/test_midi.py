"""engine.midi: translation, channel filter, malformed bytes, backends, JACK MIDI."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import mido
import pytest

from engine.events import (
    AllNotesOff,
    AllSoundOff,
    ControlChange,
    NoteOff,
    NoteOn,
    PitchBend,
)
from engine.midi import (
    MidiError,
    MidiInput,
    choose_backend,
    list_input_ports,
    translate,
)

ROOT = Path(__file__).resolve().parents[2]


def settle() -> None:
    """Wait a few JACK cycles after a graph change (a new connection, a port removed).

    JACK applies a new connection from a later cycle on (bytes sent before are lost),
    and JACK2's client library walks a client's port list for the latency notification
    that follows a graph change on its own thread, unlocked: a port unregistered at the
    same moment crashed the process (SIGSEGV in ``JackClient::HandleLatencyCallback``,
    1 in ~200 tries here; none in 500 with this wait). A keyboard's user never connects
    and plays, or unplugs and quits, within one cycle.
    """
    time.sleep(0.2)


class Sink:
    """Collects pushed events (the engine's ``push_event`` contract)."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self._cv = threading.Condition()

    def push_event(self, event: object) -> None:
        with self._cv:
            self.events.append(event)
            self._cv.notify_all()

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: len(self.events) >= n, timeout)


@pytest.mark.parametrize(
    ("msg", "event"),
    [
        (mido.Message("note_on", note=60, velocity=90, channel=2), NoteOn(60, 90, 2)),
        (mido.Message("note_on", note=61, velocity=0), NoteOff(61, 0)),
        (mido.Message("note_off", note=62, velocity=30, channel=1), NoteOff(62, 1)),
        (mido.Message("control_change", control=64, value=127), ControlChange(64, 127)),
        (mido.Message("control_change", control=123, value=0), AllNotesOff()),
        (mido.Message("control_change", control=120, value=0), AllSoundOff()),
        (mido.Message("pitchwheel", pitch=-8192, channel=3), PitchBend(-8192, 3)),
        (mido.Message("program_change", program=5), None),
        (mido.Message("clock"), None),
    ],
)
def test_translate(msg, event):
    assert translate(msg) == event


def test_channel_filter():
    on = mido.Message("note_on", note=60, velocity=90, channel=4)
    assert translate(on, channel=4) == NoteOn(60, 90, 4)
    assert translate(on, channel=0) is None


@pytest.mark.parametrize(
    "packet",
    [[0x90, 200, 10], [0x90, 60], [0x45, 0x10], [0xF7], []],
)
def test_malformed_bytes_are_dropped_and_counted(packet):
    sink = Sink()
    midi = MidiInput(sink, virtual="unopened", backend="jack")  # opens nothing yet
    midi._on_bytes((packet, 0.0))
    midi._on_bytes(([0x90, 60, 100], 0.0))
    assert midi.malformed == 1 and midi.received == 1
    assert sink.events == [NoteOn(60, 100)]


def test_unknown_backend_is_one_sentence():
    with pytest.raises(MidiError, match="unknown MIDI backend 'bogus'"):
        choose_backend("bogus")


def test_no_jack_server_is_one_sentence():
    code = (
        "from engine.midi import choose_backend, MidiError\n"
        "for override in ('jack', None):\n"
        "    try:\n"
        "        choose_backend(override)\n"
        "    except MidiError as err:\n"
        "        print('ERR', err)\n"
    )
    env = dict(os.environ, JACK_DEFAULT_SERVER="no-such-server-h2b")
    env.pop("MIDO_BACKEND", None)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    errors = [x for x in out.stdout.splitlines() if x.startswith("ERR")]
    assert len(errors) == 2, out.stdout + out.stderr
    assert all("no JACK server is running" in e for e in errors)
    assert "Traceback" not in out.stderr


@pytest.mark.audio
@pytest.mark.parametrize(
    "override", [None, "jack", "UNIX_JACK", "mido.backends.rtmidi/UNIX_JACK"]
)
def test_backend_choice_on_this_machine(jack_server, override):
    # No ALSA sequencer here: the automatic choice falls back to JACK.
    assert choose_backend(override) == "jack"


@pytest.mark.audio
def test_virtual_port_receives_from_another_process(jack_server):
    sink = Sink()
    with MidiInput(sink, virtual="h2b_in", client_name="h2b-synth", channel=None) as m:
        sender = (
            "import mido, time\n"
            "mido.set_backend('mido.backends.rtmidi/UNIX_JACK')\n"
            "with mido.open_output('h2b-synth:h2b_in') as out:\n"
            "    time.sleep(0.2)\n"
            "    out.send(mido.Message('note_on', note=64, velocity=80, channel=1))\n"
            "    out.send(mido.Message('pitchwheel', pitch=4096, channel=1))\n"
            "    out.send(mido.Message('note_off', note=64, channel=1))\n"
            "    time.sleep(0.2)\n"
        )
        subprocess.run([sys.executable, "-c", sender], check=True, timeout=60)
        assert sink.wait_for(3)
        assert m.malformed == 0
    assert sink.events == [NoteOn(64, 80, 1), PitchBend(4096, 1), NoteOff(64, 1)]


@pytest.mark.audio
def test_malformed_bytes_over_jack_are_counted(jack_server):
    import rtmidi

    sink = Sink()
    with MidiInput(sink, virtual="h2b_bad", client_name="h2b-rx", channel=0) as m:
        out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="h2b-tx")
        ports = out.get_ports()
        out.open_port(next(i for i, p in enumerate(ports) if p == "h2b-rx:h2b_bad"))
        settle()
        for packet in ([0x90, 200, 10], [0x90, 60], [0x45, 0x10], [0xF7]):
            out.send_message(packet)
        out.send_message([0x91, 61, 100])  # channel 2: filtered out, not malformed
        out.send_message([0x90, 60, 100])
        assert sink.wait_for(1)
        out.close_port()
        out.delete()
        settle()
    assert sink.events == [NoteOn(60, 100, 0)]
    assert (m.malformed, m.ignored, m.received) == (4, 1, 2)


@pytest.mark.audio
def test_unknown_port_is_one_sentence(jack_server):
    with pytest.raises(MidiError, match="no MIDI input port name contains 'nope-h2b'"):
        MidiInput(Sink(), port="nope-h2b", backend="jack").open()


@pytest.mark.audio
def test_port_that_disappears_is_reopened_when_it_returns(jack_server):
    import rtmidi

    def source() -> rtmidi.MidiOut:
        out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="h2b-keyboard")
        out.open_virtual_port("keys")
        return out

    statuses: list[str] = []
    sink = Sink()
    keyboard = source()
    assert "h2b-keyboard:keys" in list_input_ports("jack")
    midi = MidiInput(
        sink, port="h2b-keyboard", backend="jack", on_status=statuses.append
    )
    midi.open()
    midi.start_watcher(poll_s=0.05)
    try:
        assert midi.port_name == "h2b-keyboard:keys"
        settle()
        keyboard.send_message([0x90, 60, 100])
        assert sink.wait_for(1)
        keyboard.close_port()
        keyboard.delete()  # the keyboard is unplugged
        deadline = time.monotonic() + 10
        while midi.disconnects == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert midi.disconnects == 1 and not midi.is_open
        keyboard = source()  # ... and plugged in again
        while midi.reconnects == 0 and time.monotonic() < deadline + 10:
            time.sleep(0.02)
        assert midi.reconnects == 1 and midi.is_open
        settle()
        keyboard.send_message([0x90, 62, 100])
        assert sink.wait_for(2)
    finally:
        midi.stop_watcher()
        midi.close()
        keyboard.delete()
    assert sink.events == [NoteOn(60, 100), NoteOn(62, 100)]
    assert "disappeared" in statuses[0] and "is back" in statuses[1]
