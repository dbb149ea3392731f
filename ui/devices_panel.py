"""Audio output and MIDI input pickers, with the last failure shown in the panel.

Emits ``audio_chosen(AudioChoice)`` and ``midi_chosen(port, virtual)`` when the user
applies a choice; the window opens the devices and calls ``show_audio_error`` /
``show_midi_error`` with a sentence (or None). Qt main thread only.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from engine.audio import list_output_devices
from engine.midi import MidiError, list_input_ports
from ui.host import AudioChoice

__all__ = ["DevicesPanel", "NO_DEVICE", "VIRTUAL", "NO_MIDI"]

NO_DEVICE = "none"  # AudioChoice.device value: run without a sound card
VIRTUAL = "\u2295 virtual port 'gansynth:in'"  # MIDI combo entry: create a virtual port
NO_MIDI = "(no MIDI input)"
RATES = (0, 44100, 48000, 88200, 96000)  # 0: the device's own rate
BLOCKSIZES = (64, 128, 256, 512, 1024, 2048)


class DevicesPanel(QtWidgets.QWidget):
    """Output device, rate, blocksize; MIDI input port or a virtual port."""

    audio_chosen = QtCore.Signal(object)  # AudioChoice
    midi_chosen = QtCore.Signal(object, object)  # port name or None, virtual or None

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.device = QtWidgets.QComboBox()
        self.rate = QtWidgets.QComboBox()
        for r in RATES:
            self.rate.addItem("device rate" if r == 0 else f"{r} Hz", r)
        self.blocksize = QtWidgets.QComboBox()
        for b in BLOCKSIZES:
            self.blocksize.addItem(f"{b} frames", b)
        self.midi = QtWidgets.QComboBox()
        self.audio_error = _error_label()
        self.midi_error = _error_label()
        apply_audio = QtWidgets.QPushButton("Apply audio")
        apply_midi = QtWidgets.QPushButton("Apply MIDI")
        rescan = QtWidgets.QPushButton("Rescan")
        apply_audio.clicked.connect(self._apply_audio)
        apply_midi.clicked.connect(self._apply_midi)
        rescan.clicked.connect(self.rescan)
        form = QtWidgets.QFormLayout(self)
        form.addRow("Output", self.device)
        form.addRow("Rate", self.rate)
        form.addRow("Block", self.blocksize)
        form.addRow("", apply_audio)
        form.addRow(self.audio_error)
        form.addRow("MIDI in", self.midi)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(apply_midi)
        row.addWidget(rescan)
        form.addRow("", row)
        form.addRow(self.midi_error)
        self.rescan()

    # -- lists -------------------------------------------------------------------------
    def rescan(self) -> None:
        """Re-read the device and port lists (keeping the current choices)."""
        keep_dev, keep_midi = self.device.currentData(), self.midi.currentData()
        self.device.clear()
        self.device.addItem("system default", None)
        for d in list_output_devices():
            self.device.addItem(f"{d.name} ({d.hostapi})", d.name)
        self.device.addItem("no audio device (silent)", NO_DEVICE)
        self.midi.clear()
        self.midi.addItem(NO_MIDI, None)
        self.midi.addItem(VIRTUAL, VIRTUAL)
        try:
            for port in list_input_ports():
                self.midi.addItem(port, port)
        except MidiError as err:
            self.show_midi_error(str(err))
        _select(self.device, keep_dev)
        _select(self.midi, keep_midi)

    # -- choices -----------------------------------------------------------------------
    def choice(self) -> AudioChoice:
        rate = self.rate.currentData()
        return AudioChoice(
            self.device.currentData(), rate or None, self.blocksize.currentData()
        )

    def set_choice(self, choice: AudioChoice, midi: str | None) -> None:
        """Show a remembered choice (an entry is added when a device is absent now)."""
        if choice.device is not None and self.device.findData(choice.device) < 0:
            self.device.insertItem(1, f"{choice.device} (not found)", choice.device)
        _select(self.device, choice.device)
        _select(self.rate, choice.sample_rate or 0)
        _select(self.blocksize, choice.blocksize)
        if midi is not None and self.midi.findData(midi) < 0:
            self.midi.addItem(f"{midi} (not found)", midi)
        _select(self.midi, midi)

    def midi_choice(self) -> tuple[str | None, str | None]:
        """(port, virtual) for ``Host.set_midi``."""
        data = self.midi.currentData()
        if data == VIRTUAL:
            return None, "in"
        return data, None

    def midi_setting(self) -> str | None:
        """What to remember: a port name, ``VIRTUAL`` or None."""
        return self.midi.currentData()

    def _apply_audio(self) -> None:
        self.audio_chosen.emit(self.choice())

    def _apply_midi(self) -> None:
        self.midi_chosen.emit(*self.midi_choice())

    # -- feedback ----------------------------------------------------------------------
    def show_audio_error(self, text: str | None) -> None:
        self.audio_error.setText(text or "")
        self.audio_error.setVisible(bool(text))

    def show_midi_error(self, text: str | None) -> None:
        self.midi_error.setText(text or "")
        self.midi_error.setVisible(bool(text))


def _error_label() -> QtWidgets.QLabel:
    label = QtWidgets.QLabel()
    label.setObjectName("error")
    label.setWordWrap(True)
    label.setVisible(False)
    return label


def _select(combo: QtWidgets.QComboBox, data: object) -> None:
    i = combo.findData(data)
    if i >= 0:
        combo.setCurrentIndex(i)
