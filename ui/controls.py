"""Sound controls: envelope, gain, velocity curve, bend range, loop ->
``EngineSettings``.

One table describes every control (field, label, range, scale, unit); the widget builds
a row per entry and emits ``changed(EngineSettings)`` with ``dataclasses.replace`` of
the current settings. Qt main thread only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from PySide6 import QtCore, QtGui, QtWidgets

from engine.engine import EngineSettings
from engine.voices import VELOCITY_CURVES
from ui.theme import COLORS

__all__ = ["SoundControls", "SLIDERS", "Slider", "EnvelopeView", "envelope_points"]

_STEPS = 1000  # slider resolution


@dataclass(frozen=True, slots=True)
class Slider:
    """One numeric control of ``EngineSettings``."""

    field: str  # EngineSettings field name
    label: str  # shown to the left
    lo: float  # smallest value
    hi: float  # largest value
    unit: str  # shown after the value
    log: bool = False  # logarithmic slider (times)

    def __post_init__(self) -> None:
        if not self.lo < self.hi or (self.log and self.lo <= 0):
            raise ValueError(f"bad range {self.lo}..{self.hi} for control {self.field}")

    def to_pos(self, value: float) -> int:
        v = min(max(float(value), self.lo), self.hi)
        if self.log:
            f = math.log(v / self.lo) / math.log(self.hi / self.lo)
        else:
            f = (v - self.lo) / (self.hi - self.lo)
        return round(f * _STEPS)

    def to_value(self, pos: int) -> float:
        f = pos / _STEPS
        if self.log:
            return self.lo * (self.hi / self.lo) ** f
        return self.lo + f * (self.hi - self.lo)


SLIDERS = (
    Slider("attack", "Attack", 0.001, 4.0, "s", log=True),
    Slider("decay", "Decay", 0.005, 4.0, "s", log=True),
    Slider("sustain", "Sustain", 0.0, 1.0, ""),
    Slider("release", "Release", 0.005, 8.0, "s", log=True),
    Slider("master_gain", "Gain", 0.0, 2.0, "×"),
    Slider("bend_range", "Bend range", 0.0, 24.0, "st"),
)


def envelope_points(
    settings: EngineSettings, hold: float = 0.6
) -> list[tuple[float, float]]:
    """The ADSR shape as (seconds, level) corners; the key is held ``hold`` s."""
    a, d, r = settings.attack, settings.decay, settings.release
    held = max(hold, a + d)
    return [
        (0.0, 0.0),
        (a, 1.0),
        (a + d, settings.sustain),
        (held, settings.sustain),
        (held + r, 0.0),
    ]


class EnvelopeView(QtWidgets.QWidget):
    """A small drawing of the envelope the sliders describe."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(70)
        self.points: list[tuple[float, float]] = []

    def show_settings(self, settings: EngineSettings) -> None:
        self.points = envelope_points(settings)
        self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.Antialiasing)
        box = QtCore.QRectF(self.rect()).adjusted(2, 6, -2, -4)
        p.fillRect(box, QtGui.QColor(COLORS["raised"]))
        if self.points:
            end = self.points[-1][0] or 1.0
            path = QtGui.QPainterPath(QtCore.QPointF(box.left(), box.bottom()))
            for t, level in self.points:
                x = box.left() + box.width() * t / end
                path.lineTo(x, box.bottom() - level * box.height())
            fill = QtGui.QColor(COLORS["accent"])
            fill.setAlpha(50)
            p.fillPath(path, fill)
            p.setPen(QtGui.QPen(QtGui.QColor(COLORS["accent"]), 2))
            p.drawPath(path)
        p.end()


def _fields() -> set[str]:
    return {f.name for f in dataclasses.fields(EngineSettings)}


class SoundControls(QtWidgets.QWidget):
    """Sliders, a velocity-curve menu and a loop switch for the engine's settings."""

    changed = QtCore.Signal(object)  # EngineSettings

    def __init__(
        self, settings: EngineSettings, parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        fields = _fields()
        form = QtWidgets.QFormLayout(self)
        self.envelope = EnvelopeView()
        form.addRow(self.envelope)
        self.sliders: dict[str, tuple[Slider, QtWidgets.QSlider, QtWidgets.QLabel]] = {}
        for spec in SLIDERS:
            if spec.field not in fields:
                continue
            s = QtWidgets.QSlider(QtCore.Qt.Horizontal)
            s.setRange(0, _STEPS)
            value = QtWidgets.QLabel()
            value.setMinimumWidth(58)
            value.setObjectName("dim")
            row = QtWidgets.QHBoxLayout()
            row.addWidget(s, 1)
            row.addWidget(value)
            form.addRow(spec.label, row)
            self.sliders[spec.field] = (spec, s, value)
            s.valueChanged.connect(lambda pos, spec=spec: self._slid(spec, pos))
        self.curve = QtWidgets.QComboBox()
        self.curve.addItems(list(VELOCITY_CURVES))
        self.curve.currentTextChanged.connect(lambda t: self._set("velocity_curve", t))
        form.addRow("Velocity", self.curve)
        self.loop = QtWidgets.QCheckBox("loop held notes")
        self.loop.toggled.connect(lambda on: self._set("loop", bool(on)))
        form.addRow("Sustain loop", self.loop)
        self.show_settings(settings)

    def show_settings(self, settings: EngineSettings) -> None:
        """Set every control from ``settings`` without emitting ``changed``."""
        self.settings = settings
        self.envelope.show_settings(settings)
        for field, (spec, s, label) in self.sliders.items():
            value = getattr(settings, field)
            s.blockSignals(True)
            s.setValue(spec.to_pos(value))
            s.blockSignals(False)
            label.setText(_fmt(value, spec.unit))
        for w, value in (
            (self.curve, settings.velocity_curve),
            (self.loop, settings.loop),
        ):
            w.blockSignals(True)
            if isinstance(w, QtWidgets.QComboBox):
                w.setCurrentText(value)
            else:
                w.setChecked(value)
            w.blockSignals(False)

    def _slid(self, spec: Slider, pos: int) -> None:
        value = spec.to_value(pos)
        self.sliders[spec.field][2].setText(_fmt(value, spec.unit))
        self._set(spec.field, value)

    def _set(self, field: str, value: object) -> None:
        try:
            new = dataclasses.replace(self.settings, **{field: value})
        except (TypeError, ValueError):
            self.show_settings(self.settings)  # the engine refused it: show what holds
            return
        self.settings = new
        self.envelope.show_settings(new)
        self.changed.emit(new)

    def to_json(self) -> dict:
        return {
            f: getattr(self.settings, f)
            for f in [*self.sliders, "velocity_curve", "loop"]
        }

    def restore(self, data: object) -> None:
        """Take saved values; unknown or refused ones are ignored."""
        if not isinstance(data, dict):
            return
        settings = self.settings
        for field, value in data.items():
            if field in _fields():
                try:
                    settings = dataclasses.replace(settings, **{field: value})
                except (TypeError, ValueError):
                    continue
        self.show_settings(settings)
        self.changed.emit(settings)


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:.2f} {unit}".strip()
