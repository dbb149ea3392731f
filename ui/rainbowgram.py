"""Rainbowgrams: brightness = log magnitude, colour = instantaneous frequency.

``NoteRainbowgram`` shows the bank's note of the last played pitch, from the
generator's own output, through the numpy twin of the model's spectral representation.
``LiveRainbowgram`` scrolls the audio going out: each GUI frame reads the newest samples
from the engine's scope ring and adds one column. Both are pulled by the window's single
timer; images are uint8 RGB arrays wrapped by a QImage without a copy. Qt main thread
only; the image maths is in ``ui.rainbowgram_image`` (the note's runs in a worker
process).
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from ui.rainbowgram_image import LiveColumns, colorize, note_image
from ui.theme import COLORS

__all__ = [
    "colorize",
    "note_image",
    "NoteRainbowgram",
    "LiveRainbowgram",
    "LiveColumns",
]


class ImageView(QtWidgets.QWidget):
    """A titled RGB image scaled into the widget (a part of it: ``source`` columns).

    Drawn with ``QPainter.drawImage`` from a QImage that wraps a uint8 array (no copy).
    pyqtgraph's ``ImageItem`` was the first choice (STYLE 6); drawing the ring through a
    source rectangle needs no copy, no level mapping and few Python calls per frame
    (each one holds the GIL that the audio callback needs).
    """

    def __init__(
        self, title: str, caption: str = "", parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.title = title
        self.caption = caption  # small text under the image (axes)
        self.smooth = False  # filtered scaling (for images drawn rarely)
        self._rgb: np.ndarray | None = None  # keeps the QImage's memory alive
        self._image: QtGui.QImage | None = None
        self._source = QtCore.QRectF()

    def set_rgb(
        self, rgb: np.ndarray, first: int = 0, width: int | None = None
    ) -> None:
        """Show columns ``first .. first + width`` of ``rgb`` ``[H, W, 3] uint8``.

        Row 0 is drawn at the top; ``rgb`` must stay unchanged in shape while shown
        (its contents may change: the next repaint shows them).
        """
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(
                f"image must be [H, W, 3] uint8, got {rgb.dtype} {rgb.shape}"
            )
        if not rgb.flags.c_contiguous:
            rgb = np.ascontiguousarray(rgb)
        h, w = rgb.shape[:2]
        if self._rgb is not rgb:
            self._rgb = rgb
            self._image = QtGui.QImage(
                rgb.data, w, h, 3 * w, QtGui.QImage.Format_RGB888
            )
        self._source = QtCore.QRectF(first, 0, w - first if width is None else width, h)
        self.update()

    def set_title(self, title: str) -> None:
        self.title = title
        self.update()

    def image_rect(self) -> QtCore.QRectF:
        return QtCore.QRectF(self.rect()).adjusted(4, 22, -4, -18)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802
        p = QtGui.QPainter(self)
        p.fillRect(self.rect(), QtGui.QColor(COLORS["panel"]))
        p.setPen(QtGui.QColor(COLORS["dim"]))
        p.drawText(
            QtCore.QRectF(0, 2, self.width(), 18), QtCore.Qt.AlignCenter, self.title
        )
        target = self.image_rect()
        p.fillRect(target, QtGui.QColor("#000000"))
        if self._image is not None:
            p.setRenderHint(QtGui.QPainter.SmoothPixmapTransform, self.smooth)
            p.drawImage(target, self._image, self._source)
        p.setPen(QtGui.QColor(COLORS["dim"]))
        font = p.font()
        font.setPointSizeF(8.0)
        p.setFont(font)
        p.drawText(
            QtCore.QRectF(4, self.height() - 16, self.width() - 8, 14),
            QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter,
            self.caption,
        )
        p.end()


class NoteRainbowgram:
    """The bank note of one pitch as a rainbowgram (widget: ``.widget``)."""

    def __init__(self) -> None:
        self.widget = ImageView(
            "note rainbowgram: play a key",
            "time 0-4 s →  ·  mel frequency ↑  ·  hue = instantaneous frequency",
        )
        self.widget.setMinimumHeight(150)
        self.widget.smooth = True
        self.shown: tuple[int, int] | None = None  # (pitch, note version) now drawn

    def show(self, rgb: np.ndarray, label: str) -> None:
        """Draw ``rgb`` ``[F, T, 3] uint8`` (low frequencies first) titled ``label``."""
        self.widget.set_rgb(np.ascontiguousarray(rgb[::-1]))
        self.widget.set_title(label)


class LiveRainbowgram:
    """A scrolling rainbowgram of the output (widget: ``.widget``).

    A double-length ring of columns: column ``j`` is written at ``j`` and ``j + width``
    so the newest ``width`` columns are always one contiguous range (no ``np.roll``),
    drawn straight from the ring.
    """

    def __init__(self, sample_rate: int, width: int = 180, rows: int = 192) -> None:
        self.widget = ImageView(
            "output (live)", "last 6 s →  ·  30 Hz - 20 kHz (log) ↑"
        )
        self.widget.setMinimumHeight(120)
        self.columns = LiveColumns(sample_rate, rows)
        self.width = width
        self.ring = np.zeros((rows, 2 * width, 3), np.uint8)  # [freq high->low, time]
        self.j = 0
        self.frames = 0

    def reset(self, sample_rate: int) -> None:
        """Follow a new output rate."""
        self.columns = LiveColumns(sample_rate, self.ring.shape[0])

    def push(self, mono: np.ndarray) -> None:
        """Add a column from the newest samples ``[columns.needed] float32``; redraw."""
        col = self.columns.column(mono)[::-1]
        self.ring[:, self.j] = col
        self.ring[:, self.j + self.width] = col
        self.j = (self.j + 1) % self.width
        self.widget.set_rgb(self.ring, self.j, self.width)
        self.frames += 1
