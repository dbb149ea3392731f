"""The status line: engine device, bank render time and progress, latency, xruns,
voices, callback load. Filled from an ``EngineStats`` snapshot on the window's timer.
"""

from __future__ import annotations

from PySide6 import QtWidgets

__all__ = ["StatusPanel", "format_status"]


def format_status(
    stats: object, device_name: str, audio_name: str, latency_ms: float
) -> dict[str, str]:
    """The texts of the status fields from an ``EngineStats`` snapshot."""
    progress = float(getattr(stats, "bank_progress", 0.0))
    render_ms = float(getattr(stats, "bank_render_ms", 0.0))
    bank = f"bank {100 * progress:3.0f}%"
    if render_ms > 0:
        bank += f" · last render {render_ms / 1000:.2f} s"
    return {
        "device": f"engine: {device_name}",
        "audio": f"out: {audio_name}",
        "bank": bank,
        "latency": f"key→sound {latency_ms:.1f} ms",
        "xruns": f"xruns {int(getattr(stats, 'xruns', 0))}",
        "voices": f"voices {int(getattr(stats, 'voices_active', 0))}",
        "load": f"load {100 * float(getattr(stats, 'callback_load', 0.0)):.0f}%",
    }


class StatusPanel(QtWidgets.QWidget):
    """One row of small labels; ``show`` updates them."""

    FIELDS = ("device", "audio", "bank", "latency", "xruns", "voices", "load")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        self.labels: dict[str, QtWidgets.QLabel] = {}
        idle = {"device": "engine: no model loaded", "audio": "out: -"}
        for name in self.FIELDS:
            label = QtWidgets.QLabel(idle.get(name, f"{name} -"))
            label.setObjectName("dim")
            self.labels[name] = label
            row.addWidget(label)
            if name != self.FIELDS[-1]:
                sep = QtWidgets.QLabel("|")
                sep.setObjectName("dim")
                row.addWidget(sep)
        row.addStretch(1)

    def show_texts(self, texts: dict[str, str]) -> None:
        for name, text in texts.items():
            label = self.labels[name]
            if label.text() != text:
                label.setText(text)
