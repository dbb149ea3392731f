"""The instrument window, end to end on the real SoundFont instrument, offscreen."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from engine.events import ControlChange, NoteOn
from instrument.latent import pad_latent
from tests.ui.conftest import open_window, wait_latent


def approx(v):
    return pytest.approx(v, abs=0.01)


def _mouse(widget, kind, pos, buttons):
    button = (
        QtCore.Qt.LeftButton if kind != QtCore.QEvent.MouseMove else QtCore.Qt.NoButton
    )
    local = QtCore.QPointF(pos)
    event = QtGui.QMouseEvent(
        kind, local, widget.mapToGlobal(local), button, buttons, QtCore.Qt.NoModifier
    )
    QtWidgets.QApplication.sendEvent(widget, event)


def test_dragging_the_pad_changes_the_engines_timbre(window, qtbot):
    pad, engine = window.pad, window.host.engine
    before = engine.bank.latent.copy()
    left = QtCore.Qt.LeftButton
    _mouse(pad, QtCore.QEvent.MouseButtonPress, pad.to_widget(0.5, 0.5), left)
    for f in np.linspace(0.5, 0.9, 8):  # a drag towards the bottom-right corner
        _mouse(
            pad, QtCore.QEvent.MouseMove, pad.to_widget(f, 0.5 + (f - 0.5) / 2), left
        )
    _mouse(pad, QtCore.QEvent.MouseButtonRelease, pad.to_widget(0.9, 0.7), left)
    m = window.pad_model
    assert (m.x, m.y) == approx((0.9, 0.7))
    expected = pad_latent(m.corners, m.x, m.y)
    assert wait_latent(engine, expected), "the engine never played the dragged timbre"
    assert not np.allclose(engine.bank.latent, before)
    assert pad.position() == approx((0.9, 0.7))


def test_the_mod_wheel_moves_the_cursor_and_the_timbre(window, qtbot):
    tap = window.host.tap  # the MIDI input's sink: the path rtmidi's thread calls
    tap.push_event(ControlChange(1, 127))  # mod wheel: pad X by default
    qtbot.waitUntil(lambda: window.pad_model.x == 1.0, timeout=2000)
    assert window.pad.position()[0] == 1.0
    m = window.pad_model
    assert wait_latent(window.host.engine, pad_latent(m.corners, 1.0, m.y))


def test_midi_learn_binds_a_controller_to_an_axis(window, qtbot):
    qtbot.mouseClick(window.learn_y, QtCore.Qt.LeftButton)
    assert window.cc_map.learning == "pad_y"
    assert "move a knob" in window.learn_y.text()
    window.host.tap.push_event(ControlChange(74, 0))  # the knob the user moves
    qtbot.waitUntil(lambda: window.cc_map.controller_for("pad_y") == 74, timeout=2000)
    assert window.pad_model.y == 0.0 and window.learn_y.text() == "Y ← CC 74"
    window.host.tap.push_event(ControlChange(74, 127))
    qtbot.waitUntil(lambda: window.pad_model.y == 1.0, timeout=2000)
    window.host.tap.push_event(ControlChange(2, 0))  # the old Y controller is released
    window.host.tap.push_event(ControlChange(1, 0))
    qtbot.waitUntil(lambda: window.pad_model.x == 0.0, timeout=2000)
    assert window.pad_model.y == 1.0


def test_computer_keys_and_midi_notes_play_and_light_the_keyboard(window, qtbot):
    engine = window.host.engine
    qtbot.keyPress(window, QtCore.Qt.Key_Z)  # base C3 = MIDI 48
    qtbot.waitUntil(lambda: 48 in engine.held_notes(), timeout=2000)
    qtbot.waitUntil(lambda: 48 in window.keyboard.lit_notes(), timeout=2000)
    qtbot.keyRelease(window, QtCore.Qt.Key_Z)
    qtbot.waitUntil(lambda: 48 not in engine.held_notes(), timeout=2000)
    window.host.tap.push_event(NoteOn(67, 90))  # a note arriving by MIDI
    qtbot.waitUntil(lambda: 67 in window.keyboard.lit_notes(), timeout=2000)
    assert window.last_pitch == 67
    qtbot.waitUntil(lambda: window.note_view.shown is not None, timeout=5000)
    qtbot.waitUntil(lambda: window._pending is None, timeout=20000)
    assert window.note_view.shown[0] == 67
    assert "G4" in window.note_view.widget.title


def test_mouse_on_the_keyboard_plays_a_note(window, qtbot):
    kb, engine = window.keyboard, window.host.engine
    center = kb.key_rect(60).center().toPoint()
    qtbot.mousePress(kb, QtCore.Qt.LeftButton, pos=center)
    qtbot.waitUntil(lambda: 60 in engine.held_notes(), timeout=2000)
    qtbot.mouseRelease(kb, QtCore.Qt.LeftButton, pos=center)
    qtbot.waitUntil(lambda: 60 not in engine.held_notes(), timeout=2000)


def test_status_shows_the_engine_without_an_audio_device(window, qtbot):
    qtbot.waitUntil(lambda: "bank 100%" in window.status_panel.labels["bank"].text())
    labels = window.status_panel.labels
    assert labels["audio"].text() == "out: no audio device"
    assert labels["device"].text() == "engine: CPU"
    assert "last render" in labels["bank"].text()
    assert labels["latency"].text() == "key→sound 16.0 ms"  # 256 frames at 16 kHz


def test_the_live_view_scrolls_what_goes_out(window, qtbot):
    window.host.tap.push_event(NoteOn(60, 120))
    qtbot.waitUntil(lambda: window.host.engine.stats().peak > 0.01, timeout=3000)
    start = window.live_view.frames
    qtbot.waitUntil(lambda: window.live_view.frames > start + 10, timeout=3000)
    newest = (window.live_view.j - 1) % window.live_view.width
    assert window.live_view.ring[:, newest].max() > 60  # a bright column for the note


def test_a_failing_audio_device_is_shown_and_the_engine_plays_on(window, qtbot):
    from ui.host import AudioChoice

    window.apply_audio(AudioChoice("no such sound card", 16000, 256))
    label = window.devices.audio_error
    # "no ... device name contains 'no such sound card'", or with no server at all,
    # "no audio output device found": one sentence either way
    assert label.isVisibleTo(window.devices) and "audio output device" in label.text()
    assert "\n" not in label.text()
    assert label.text() in window.statusBar().currentMessage()
    engine = window.host.engine
    window.host.tap.push_event(NoteOn(64, 100))
    qtbot.waitUntil(lambda: 64 in engine.held_notes(), timeout=2000)


def test_without_a_model_the_window_opens_and_says_so(
    qtbot, sf_loader, ui_settings, soundfont_path
):
    w = open_window(qtbot, sf_loader, ui_settings, None)
    assert w.host.engine is None
    assert w.banner.isVisible()
    assert "no shipped model" in w.banner.text() and "Open model" in w.banner.text()
    w.move_pad(0.2, 0.3)  # the pad still works, nothing to send yet
    assert w.pad.position() == (0.2, 0.3)
    assert w.open_model(str(soundfont_path))  # what "Open model…" does with the file
    assert not w.banner.isVisible() and w.host.engine is not None
    assert "SoundFont" in w.model_label.text()
    assert wait_latent(w.host.engine, w.pad_model.latent())
    w.close()


def test_the_state_at_quit_comes_back(qtbot, sf_loader, ui_settings, soundfont_path):
    w = open_window(qtbot, sf_loader, ui_settings, str(soundfont_path))
    w.move_pad(0.8, 0.15)
    w.reroll(2)
    w.cc_map.bind(21, "pad_x")
    attack = w.controls.sliders["attack"][1]
    attack.setValue(700)
    corners = w.pad_model.corners.copy()
    settings = w.controls.settings
    w.close()
    again = open_window(qtbot, sf_loader, ui_settings, None)  # model remembered
    assert again.host.engine is not None
    assert (again.pad_model.x, again.pad_model.y) == (0.8, 0.15)
    np.testing.assert_array_equal(again.pad_model.corners, corners)
    assert again.cc_map.controller_for("pad_x") == 21
    assert again.controls.settings == settings == again.host.engine.settings
    assert again.devices.choice().device == "none"
    again.close()


def test_a_bad_model_file_is_refused_and_the_old_one_plays_on(window, tmp_path, qtbot):
    bad = tmp_path / "broken.sf2"
    bad.write_bytes(b"RIFF not really a soundfont")
    engine = window.host.engine
    assert not window.open_model(str(bad))
    text = window.banner.text()
    assert window.banner.isVisible() and "Could not open" in text and "\n" not in text
    assert window.host.engine is engine  # the old instrument plays on
    window.host.tap.push_event(NoteOn(62, 100))
    qtbot.waitUntil(lambda: 62 in engine.held_notes(), timeout=2000)


def test_computer_keys_play_while_another_widget_has_the_focus(window, qtbot):
    window.activateWindow()
    window.presets.list.setFocus()  # a list would search on letters by itself
    qtbot.waitUntil(lambda: window.presets.list.hasFocus(), timeout=2000)
    qtbot.keyPress(window.presets.list, QtCore.Qt.Key_X)  # D3 = 50
    qtbot.waitUntil(lambda: 50 in window.host.engine.held_notes(), timeout=2000)
    qtbot.keyRelease(window.presets.list, QtCore.Qt.Key_X)
    qtbot.waitUntil(lambda: 50 not in window.host.engine.held_notes(), timeout=2000)
