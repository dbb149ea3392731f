"""The instrument window: pad, rainbowgrams, keyboard, presets, sound, devices, status.

Threads: everything here runs on the Qt main thread. One single-shot ``QTimer``,
re-armed after each frame (so frames never pile up), pulls all that changes: MIDI
controllers and notes from the host's ``MidiTap`` deque, the engine's held notes, scope
samples, bank and stats. The note rainbowgram is computed in one worker process
(``concurrent.futures``; numpy's FFT holds the GIL, which the audio callback needs) and
picked up by a later frame. Nothing is pushed into Qt from the audio or MIDI threads.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import gc
import multiprocessing
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from engine.events import AllNotesOff, ControlChange, NoteOff, NoteOn
from engine.presets import Preset, startup_preset
from instrument.config import SpectralConfig
from instrument.latent import pad_latent
from ui.controls import SoundControls
from ui.devices_panel import DevicesPanel
from ui.host import AudioChoice, Host
from ui.keyboard import KeyboardWidget
from ui.midi_learn import CCMap
from ui.pad import PadWidget
from ui.presets_panel import PresetsPanel
from ui.rainbowgram import LiveRainbowgram, NoteRainbowgram
from ui.rainbowgram_image import note_image
from ui.settings import load_settings, save_settings
from ui.status import StatusPanel, format_status
from ui.theme import corner_color
from ui.timbre import CORNER_LABELS, PadModel

__all__ = ["MainWindow", "FRAME_MS", "note_name"]

FRAME_MS = 30  # GUI frame period: ~33 frames a second (>= 30 with some load)
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_DEFAULT_LATENT = 256  # pad size before any model is loaded


def note_name(pitch: int) -> str:
    return f"{_NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


class MainWindow(QtWidgets.QMainWindow):
    """The whole instrument. ``host`` is loaded by ``start`` (or ``open_model``)."""

    def __init__(self, host: Host, settings_path: Path) -> None:
        super().__init__()
        self.host = host
        self.settings_path = settings_path
        self.state, warning = load_settings(settings_path)
        self.cc_map = CCMap.from_json(self.state.get("cc_map", {}))
        self.pad_model = PadModel(_DEFAULT_LATENT, seed=0)
        self.last_pitch: int | None = None
        self.frame_times: deque[float] = deque(maxlen=4000)  # wall seconds per frame
        self.frame_cpu: deque[float] = deque(maxlen=4000)  # GUI-thread CPU s per frame
        self._frame = 0
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None  # lazily
        self._pending: tuple[tuple[int, int], concurrent.futures.Future] | None = None
        self._spectral = SpectralConfig()
        self.remember = True  # False: closing does not overwrite the saved state
        self.paint_in_frame = False  # True: tick() repaints the window synchronously
        self.setWindowTitle("GANSynth Instrument")
        self._build()
        if warning:
            self.flash(warning)
        self.timer = QtCore.QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.tick)
        QtWidgets.QApplication.instance().installEventFilter(self)

    # -- layout ------------------------------------------------------------------------
    def _build(self) -> None:
        central = QtWidgets.QWidget()
        root = QtWidgets.QVBoxLayout(central)
        root.setContentsMargins(10, 8, 10, 6)
        root.addLayout(self._build_top())
        self.banner = QtWidgets.QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        root.addWidget(self.banner)
        middle = QtWidgets.QHBoxLayout()
        middle.addWidget(self._build_side(), 0)
        middle.addWidget(self._build_pad_group(), 3)
        middle.addWidget(self._build_views(), 4)
        root.addLayout(middle, 1)
        kb_group = QtWidgets.QGroupBox("KEYBOARD  ·  Z-M / Q-I play, PgUp/PgDn octave")
        kb_layout = QtWidgets.QVBoxLayout(kb_group)
        self.keyboard = KeyboardWidget(24, 96)
        self.keyboard.setFixedHeight(88)
        self.keyboard.note_on.connect(self.play_note)
        self.keyboard.note_off.connect(self.release_note)
        kb_layout.addWidget(self.keyboard)
        root.addWidget(kb_group)
        self.status_panel = StatusPanel()
        self.statusBar().addPermanentWidget(self.status_panel, 1)
        self.setCentralWidget(central)
        self.resize(1360, 860)
        self.send_timbre()  # draws the pad's corners before any model is loaded

    def _build_top(self) -> QtWidgets.QHBoxLayout:
        top = QtWidgets.QHBoxLayout()
        title = QtWidgets.QLabel("GANSynth")
        title.setObjectName("title")
        self.model_label = QtWidgets.QLabel("no model")
        self.model_label.setObjectName("dim")
        open_model = QtWidgets.QPushButton("Open model…")
        open_model.clicked.connect(self._pick_model)
        panic = QtWidgets.QPushButton("Panic")
        panic.setToolTip("All notes off")
        panic.clicked.connect(self.panic)
        top.addWidget(title)
        top.addSpacing(12)
        top.addWidget(self.model_label, 1)
        top.addWidget(open_model)
        top.addWidget(panic)
        return top

    def _build_side(self) -> QtWidgets.QTabWidget:
        tabs = QtWidgets.QTabWidget()
        tabs.setFixedWidth(300)
        self.presets = PresetsPanel(self)
        self.controls = SoundControls(self.host.settings)
        self.controls.changed.connect(self.host.update_settings)
        self.devices = DevicesPanel()
        self.devices.audio_chosen.connect(self.apply_audio)
        self.devices.midi_chosen.connect(self.apply_midi)
        tabs.addTab(self.presets, "Presets")
        tabs.addTab(self.controls, "Sound")
        tabs.addTab(self.devices, "Devices")
        return tabs

    def _build_pad_group(self) -> QtWidgets.QGroupBox:
        group = QtWidgets.QGroupBox("TIMBRE PAD")
        lay = QtWidgets.QVBoxLayout(group)
        self.pad = PadWidget()
        self.pad.moved.connect(self.move_pad)
        lay.addWidget(self.pad, 1)
        corners = QtWidgets.QHBoxLayout()
        self.corner_buttons = []
        for i, label in enumerate(CORNER_LABELS):
            b = QtWidgets.QToolButton()
            b.setText(f"{label} ▾")
            b.setPopupMode(QtWidgets.QToolButton.InstantPopup)
            b.setStyleSheet(f"color: {corner_color(i).name()};")
            menu = QtWidgets.QMenu(b)
            menu.addAction("Re-roll (random)", lambda i=i: self.reroll(i))
            menu.addAction("Take the sound now playing", lambda i=i: self.capture(i))
            menu.addAction("From preset…", lambda i=i: self.corner_from_preset(i))
            b.setMenu(menu)
            corners.addWidget(b)
            self.corner_buttons.append(b)
        lay.addLayout(corners)
        row = QtWidgets.QHBoxLayout()
        mutate = QtWidgets.QPushButton("Mutate")
        mutate.setToolTip("Nudge the current timbre a little in a random direction")
        mutate.clicked.connect(self.mutate)
        self.learn_x = QtWidgets.QPushButton()
        self.learn_y = QtWidgets.QPushButton()
        for b, axis in ((self.learn_x, "pad_x"), (self.learn_y, "pad_y")):
            b.setCheckable(True)
            b.clicked.connect(
                lambda checked, axis=axis: self.learn(axis if checked else None)
            )
        row.addWidget(mutate)
        row.addStretch(1)
        row.addWidget(self.learn_x)
        row.addWidget(self.learn_y)
        lay.addLayout(row)
        self._show_cc_map()
        return group

    def _build_views(self) -> QtWidgets.QGroupBox:
        group = QtWidgets.QGroupBox("RAINBOWGRAM")
        lay = QtWidgets.QVBoxLayout(group)
        self.note_view = NoteRainbowgram()
        self.live_view = LiveRainbowgram(48000)
        lay.addWidget(self.note_view.widget, 3)
        lay.addWidget(self.live_view.widget, 2)
        return group

    # -- start, model, devices ---------------------------------------------------------
    def start(self, model: str | None) -> None:
        """Restore the remembered state, load ``model`` and start the frame timer."""
        s = self.state
        try:
            choice = AudioChoice(**s.get("audio", {}))
        except (TypeError, ValueError):
            choice = AudioChoice()
        self.devices.set_choice(choice, s.get("midi"))
        if isinstance(s.get("preset"), str):
            self.presets.current = s["preset"]
        self.controls.restore(s.get("sound", {}))
        self.host.settings = self.controls.settings
        geometry = s.get("geometry")
        if isinstance(geometry, str):
            self.restoreGeometry(QtCore.QByteArray.fromHex(geometry.encode()))
        self.presets.refresh()
        self.open_model(model or s.get("model"), choice)
        self.timer.start(FRAME_MS)

    def open_model(self, model: str | None, choice: AudioChoice | None = None) -> bool:
        """Load ``model`` (None: the shipped model); the banner tells what failed."""
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.WaitCursor)
        try:
            error = self.host.load(model, choice or self.devices.choice())
        finally:
            QtWidgets.QApplication.restoreOverrideCursor()
        inst = self.host.instrument
        if self.host.load_error is not None:
            if inst is None:
                self.model_label.setText("no model loaded")
                start = "No model loaded"
            else:
                start = f"Could not open {model} (still playing {inst.name})"
            reason = error if error.endswith((".", "!", "?")) else f"{error}."
            self.banner.setText(
                f"{start}: {reason} Choose a GANSynth model bundle (.safetensors) "
                "or a SoundFont (.sf2) with “Open model…”."
            )
            self.banner.setVisible(True)
            return False
        self.banner.setVisible(False)
        self.model_label.setText(
            f"{inst.name}  ·  {inst.model_id}  ·  {inst.device_name}"
        )
        self.devices.show_audio_error(error)
        if error:
            self.flash(f"Audio: {error}", 15000)
        self.live_view.reset(self.host.engine.sample_rate)
        lo, hi = inst.pitch_range
        self.keyboard.set_trained_range(lo, hi)
        self._adopt_pad(inst.latent_size)
        self.presets.refresh()
        self.apply_midi(*self.devices.midi_choice())
        # the objects that live for the session (model, widgets) leave the collector's
        # generations: later collections, which hold the GIL, stay short
        gc.freeze()
        return True

    def _adopt_pad(self, latent_size: int) -> None:
        """The pad remembered for this model, else its factory default, else random."""
        if self.pad_model.latent_size != latent_size:
            self.pad_model = PadModel(latent_size, seed=0)
        model_id = self.host.instrument.model_id
        saved = self.state.get("pad")
        if isinstance(saved, dict) and saved.get("model_id") == model_id:
            self.pad_model.restore(saved)
        elif (preset := startup_preset(model_id)) is not None:
            self.apply_preset(preset)
            self.presets.current = preset.name
            return  # apply_preset sent the timbre
        self.send_timbre()

    def _pick_model(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self,
            "Open model",
            "",
            "GANSynth models and SoundFonts (*.safetensors *.sf2 *.sf3);;All files (*)",
        )
        if path:
            self.open_model(path)

    def apply_audio(self, choice: AudioChoice) -> None:
        error = self.host.set_audio(choice)
        self.devices.show_audio_error(error)
        if error:
            self.flash(f"Audio: {error}", 15000)
        if self.host.engine is not None:
            self.live_view.reset(self.host.engine.sample_rate)
            self.apply_midi(*self.devices.midi_choice())
            self.send_timbre()

    def apply_midi(self, port: str | None, virtual: str | None) -> None:
        error = self.host.set_midi(port, virtual)
        self.devices.show_midi_error(error)
        if error:
            self.flash(f"MIDI: {error}", 15000)

    # -- timbre ------------------------------------------------------------------------
    def move_pad(self, x: float, y: float) -> None:
        self.pad_model.move(x, y)
        self.send_timbre()

    def send_timbre(self) -> None:
        """Ask the engine for the pad's timbre and redraw the pad."""
        m = self.pad_model
        if self.host.engine is not None:
            self.host.engine.set_timbre(m.latent())
        self.pad.show_state(m.x, m.y, m.names, m.weights())

    def reroll(self, corner: int) -> None:
        self.pad_model.reroll(corner)
        self.send_timbre()

    def capture(self, corner: int) -> None:
        self.pad_model.capture(corner)
        self.send_timbre()

    def mutate(self) -> None:
        self.pad_model.mutate()
        self.send_timbre()

    def corner_from_preset(self, corner: int, name: str | None = None) -> None:
        """Put a preset's timbre (its corners at its position) into ``corner``."""
        name = name or self.presets.ask_preset(
            f"Preset for the {CORNER_LABELS[corner]} corner"
        )
        preset = self.presets.load(name) if name else None
        if preset is not None:
            x, y = preset.position
            latent = pad_latent(np.asarray(preset.corners, np.float32), x, y)
            self.pad_model.set_corner(corner, latent, preset.name)
            self.send_timbre()

    # -- presets -----------------------------------------------------------------------
    def model_id(self) -> str | None:
        inst = self.host.instrument
        return None if inst is None else inst.model_id

    def apply_preset(self, preset) -> None:
        """Take a loaded preset's pad and sound settings."""
        x, y = preset.position
        names = list(preset.corner_names or ()) or [
            f"{preset.name} {label}" for label in ("A", "B", "C", "D")
        ]
        self.pad_model.load(np.asarray(preset.corners, np.float32), names, x, y)
        self.controls.show_settings(preset.settings)
        self.host.update_settings(preset.settings)
        self.send_timbre()

    def preset_state(self, name: str):
        """A ``Preset`` of the current pad and sound, named ``name``."""
        m = self.pad_model
        return Preset.create(
            name,
            self.model_id() or "",
            m.corners,
            (m.x, m.y),
            self.controls.settings,
            [(n or "corner")[:64] for n in m.names],
        )

    # -- MIDI learn --------------------------------------------------------------------
    def learn(self, axis: str | None) -> None:
        self.cc_map.learn(axis)
        self._show_cc_map()

    def _show_cc_map(self) -> None:
        for b, axis, name in (
            (self.learn_x, "pad_x", "X"),
            (self.learn_y, "pad_y", "Y"),
        ):
            cc = self.cc_map.controller_for(axis)
            waiting = self.cc_map.learning == axis
            b.setChecked(waiting)
            b.setText(f"{name}: move a knob…" if waiting else f"{name} ← CC {cc}")
            b.setToolTip(f"MIDI learn: click, then move the controller for pad {name}")

    def handle_cc(self, control: int, value: int) -> None:
        """A controller from MIDI: move the pad when it drives an axis (or learn it)."""
        action = self.cc_map.handle(control, value)
        if action is None:
            return
        m = self.pad_model
        x, y = (action.value, m.y) if action.target == "pad_x" else (m.x, action.value)
        self.move_pad(x, y)
        if action.learned:
            self._show_cc_map()
            self.flash(
                f"CC {control} now moves the pad's {action.target[-1].upper()} axis"
            )

    # -- notes -------------------------------------------------------------------------
    def play_note(self, note: int, velocity: int) -> None:
        if self.host.engine is not None:
            self.host.engine.push_event(NoteOn(note, velocity))
        self.last_pitch = note

    def release_note(self, note: int) -> None:
        if self.host.engine is not None:
            self.host.engine.push_event(NoteOff(note))

    def panic(self) -> None:
        self.keyboard.release_all()
        if self.host.engine is not None:
            self.host.engine.push_event(AllNotesOff())

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        """Computer keys play notes whichever widget has the focus (not text fields)."""
        kind = event.type()
        if kind in (QtCore.QEvent.KeyPress, QtCore.QEvent.KeyRelease):
            focus = QtWidgets.QApplication.focusWidget()
            typing = isinstance(focus, QtWidgets.QLineEdit | QtWidgets.QAbstractSpinBox)
            if (
                not typing
                and focus is not None
                and focus.window() is self
                and obj is focus
                and self.keyboard.handle_key(
                    event.key(), kind == QtCore.QEvent.KeyPress, event.isAutoRepeat()
                )
            ):
                return True
        return super().eventFilter(obj, event)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802
        if not self.keyboard.handle_key(event.key(), True, event.isAutoRepeat()):
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802
        if not self.keyboard.handle_key(event.key(), False, event.isAutoRepeat()):
            super().keyReleaseEvent(event)

    # -- the frame ---------------------------------------------------------------------
    def tick(self) -> None:
        """One GUI frame: pull MIDI, notes, scope, bank, stats; re-arm the timer."""
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            if self.host.engine is not None:
                self._pull_midi()
                self.keyboard.show_held(self.host.engine.held_notes())
                self.live_view.push(
                    self.host.engine.scope.read(self.live_view.columns.needed)
                )
                self._pull_note()
                if self._frame % 4 == 0:
                    self._pull_stats()
            self._frame += 1
            if self.paint_in_frame:  # the benchmark counts painting in the frame
                self.repaint()
        finally:
            self.frame_times.append(time.perf_counter() - t0)
            self.frame_cpu.append(time.thread_time() - c0)
            self.timer.start(max(1, FRAME_MS - int(1000 * (time.perf_counter() - t0))))

    def _pull_midi(self) -> None:
        for event in self.host.tap.drain():
            if isinstance(event, ControlChange):
                self.handle_cc(event.control, event.value)
            elif isinstance(event, NoteOn):
                self.last_pitch = event.note

    def _pull_note(self) -> None:
        engine = self.host.engine
        if self._pending is not None and self._pending[1].done():
            (pitch, _), future = self._pending
            self._pending = None
            try:
                self.note_view.show(future.result(), self._note_label(pitch))
            except (
                ValueError,
                OSError,
                RuntimeError,
            ) as err:  # RuntimeError: pool died
                self.flash(f"Rainbowgram failed: {err}")
                self._stop_pool()
        if self.last_pitch is None or self._pending is not None:
            return
        bank = engine.bank
        lo, hi = bank.pitch_min, bank.pitch_max
        pitch = min(max(self.last_pitch, lo), hi)
        key = (pitch, bank.note_versions[pitch - lo])
        note = bank.note(pitch)
        if note is None or key == self.note_view.shown:
            return
        self.note_view.shown = key
        if self._pool is None:
            spawn = multiprocessing.get_context(
                "spawn"
            )  # no fork of a threaded process
            self._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn)
        future = self._pool.submit(note_image, note, bank.sample_rate, self._spectral)
        self._pending = (key, future)

    def _stop_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _note_label(self, pitch: int) -> str:
        return f"note rainbowgram · {note_name(pitch)} (MIDI {pitch}) from the bank"

    def _pull_stats(self) -> None:
        stats = self.host.engine.stats()
        inst = self.host.instrument
        texts = format_status(
            stats, inst.device_name, self.host.audio_name, self.host.latency_ms
        )
        self.status_panel.show_texts(texts)

    def frame_stats(self) -> dict[str, float]:
        """GUI frame cost so far: wall and GUI-thread CPU milliseconds, frame count."""
        t = np.array(self.frame_times) * 1000.0
        c = np.array(self.frame_cpu) * 1000.0
        if len(t) == 0:
            return dict.fromkeys(("frames", "mean_ms", "p99_ms", "max_ms"), 0.0) | {
                "cpu_mean_ms": 0.0,
                "cpu_p99_ms": 0.0,
            }
        return {
            "frames": float(len(t)),
            "mean_ms": float(t.mean()),
            "p99_ms": float(np.percentile(t, 99)),
            "max_ms": float(t.max()),
            "cpu_mean_ms": float(c.mean()),
            "cpu_p99_ms": float(np.percentile(c, 99)),
        }

    # -- messages and quitting ---------------------------------------------------------
    def flash(self, text: str, ms: int = 6000) -> None:
        """A short message in the status bar."""
        self.statusBar().showMessage(text, ms)

    def snapshot_state(self) -> dict:
        """What is remembered for the next start."""
        choice = self.host.audio_choice
        pad = self.pad_model.to_json()
        if self.host.instrument is not None:
            pad["model_id"] = self.host.instrument.model_id
        return {
            "model": self.host.model,
            "audio": dataclasses.asdict(choice),
            "midi": self.devices.midi_setting(),
            "cc_map": self.cc_map.to_json(),
            "sound": self.controls.to_json(),
            "pad": pad,
            "preset": self.presets.current,
            "geometry": bytes(self.saveGeometry().toHex()).decode(),
        }

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        self.timer.stop()
        if self.remember:
            try:
                save_settings(self.settings_path, self.snapshot_state())
            except OSError as err:
                print(f"warning: settings not saved ({err})", file=sys.stderr)
        self.keyboard.release_all()
        self.host.shutdown()
        self._stop_pool()
        QtWidgets.QApplication.instance().removeEventFilter(self)
        super().closeEvent(event)
