"""The window on a real audio server and real MIDI: JACK (dummy driver) for both."""

from __future__ import annotations

import json
import time

import pytest
import rtmidi
from PySide6 import QtCore

from tests.ui.conftest import open_window

pytestmark = pytest.mark.audio


@pytest.fixture
def jack_window(qtbot, jack_server, sf_loader, ui_settings, soundfont_path):
    rate, period = jack_server
    audio = {"device": None, "sample_rate": rate, "blocksize": period}
    ui_settings.write_text(json.dumps({"version": 1, "audio": audio}))
    w = open_window(qtbot, sf_loader, ui_settings, str(soundfont_path))
    yield w
    w.close()  # closes MIDI and the stream before the fixture stops PortAudio


def _send_to_virtual_port(messages):
    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="ui-test-sender")
    try:
        ports = out.get_ports()
        index = next(i for i, p in enumerate(ports) if "gansynth" in p and ":in" in p)
        out.open_port(index)
        time.sleep(0.2)  # JACK connects the ports on its own thread
        for m in messages:
            out.send_message(m)
        time.sleep(0.2)  # delivered in the next process cycles: stay open until then
    finally:
        out.close_port()
        out.delete()


def test_midi_through_jack_moves_the_pad_and_plays(jack_window, qtbot):
    w = jack_window
    assert w.host.engine is not None and w.host.audio_name != "no audio device"
    qtbot.waitUntil(lambda: "out: system" in w.status_panel.labels["audio"].text())
    assert w.host.engine.wait_bank(120.0)
    combo = w.devices.midi
    combo.setCurrentIndex(combo.findData(combo.itemData(1)))  # the virtual port entry
    apply = next(
        b for b in w.devices.findChildren(type(w.learn_x)) if b.text() == "Apply MIDI"
    )
    qtbot.mouseClick(apply, QtCore.Qt.LeftButton)
    assert w.host.midi is not None, w.devices.midi_error.text()
    _send_to_virtual_port([[0xB0, 1, 127], [0x90, 62, 100]])  # mod wheel up, a key
    qtbot.waitUntil(lambda: w.pad_model.x == 1.0, timeout=5000)
    qtbot.waitUntil(lambda: 62 in w.keyboard.lit_notes(), timeout=5000)
    qtbot.waitUntil(lambda: w.host.engine.stats().peak > 0.01, timeout=5000)
    _send_to_virtual_port([[0x80, 62, 0]])
    qtbot.waitUntil(lambda: 62 not in w.host.engine.held_notes(), timeout=5000)
    assert w.devices.midi_setting() is not None  # remembered at quit
