"""The XY pad: a painted square with four named corners, the cursor and the morph
weights.

The widget only draws and reports: a mouse press or drag emits ``moved(x, y)`` (x: 0
left .. 1 right, y: 0 top .. 1 bottom); the window turns that into a timbre.
``show_state`` sets what is drawn (cursor, names, weights) without emitting. Qt main
thread only.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from ui.theme import COLORS, corner_color

__all__ = ["PadWidget"]

_MARGIN = 12  # px between the widget edge and the pad square
_GLOW = 28  # px radius of the cursor's glow


class PadWidget(QtWidgets.QWidget):
    """Square morph pad. Signal ``moved(float, float)`` on mouse press/drag."""

    moved = QtCore.Signal(float, float)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(260, 260)
        self.setSizePolicy(
            QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Expanding
        )
        self.setCursor(QtCore.Qt.CrossCursor)
        self._x, self._y = 0.5, 0.5
        self._names: list[str] = ["", "", "", ""]
        self._weights: list[float] = [0.25] * 4
        self._dragging = False
        self._bg: QtGui.QPixmap | None = None  # cached background (see _background)
        self._bg_key: tuple | None = None
        self._sprite: QtGui.QPixmap | None = None  # cached cursor

    # -- state -------------------------------------------------------------------------
    def show_state(
        self, x: float, y: float, names: Sequence[str], weights: Sequence[float]
    ) -> None:
        """Draw the cursor at ``(x, y)`` with these corner names and weights ``[4]``."""
        self._x, self._y = float(x), float(y)
        self._names = [str(n) for n in names]
        self._weights = [float(w) for w in weights]
        self.update()

    def position(self) -> tuple[float, float]:
        return self._x, self._y

    def pad_rect(self) -> QtCore.QRectF:
        """The square area of the pad in widget coordinates."""
        side = min(self.width(), self.height()) - 2 * _MARGIN
        left = (self.width() - side) / 2
        top = (self.height() - side) / 2
        return QtCore.QRectF(left, top, side, side)

    def to_widget(self, x: float, y: float) -> QtCore.QPointF:
        """Widget coordinates of pad position ``(x, y)``."""
        r = self.pad_rect()
        return QtCore.QPointF(r.left() + x * r.width(), r.top() + y * r.height())

    # -- mouse -------------------------------------------------------------------------
    def _emit_at(self, pos: QtCore.QPointF) -> None:
        r = self.pad_rect()
        x = min(max((pos.x() - r.left()) / r.width(), 0.0), 1.0)
        y = min(max((pos.y() - r.top()) / r.height(), 0.0), 1.0)
        self.moved.emit(x, y)

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if event.button() == QtCore.Qt.LeftButton:
            self._dragging = True
            self._emit_at(event.position())

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if self._dragging:
            self._emit_at(event.position())

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        self._dragging = False

    # -- painting ----------------------------------------------------------------------
    def _background(self) -> QtGui.QPixmap:
        """The field, corner glows and grid: drawn once per size, then reused."""
        ratio = self.devicePixelRatioF()
        key = (self.width(), self.height(), ratio)
        if self._bg_key != key:
            pix = QtGui.QPixmap(
                round(self.width() * ratio), round(self.height() * ratio)
            )
            pix.setDevicePixelRatio(ratio)
            pix.fill(QtCore.Qt.transparent)
            p = QtGui.QPainter(pix)
            p.setRenderHint(QtGui.QPainter.Antialiasing)
            self._paint_field(p, self.pad_rect())
            self._paint_grid(p, self.pad_rect())
            p.end()
            self._bg, self._bg_key = pix, key
        return self._bg

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802
        p = QtGui.QPainter(self)
        p.drawPixmap(0, 0, self._background())
        p.setRenderHint(QtGui.QPainter.Antialiasing)
        self._paint_corners(p, self.pad_rect())
        self._paint_cursor(p)
        p.end()

    def _paint_field(self, p: QtGui.QPainter, r: QtCore.QRectF) -> None:
        p.setPen(QtGui.QPen(QtGui.QColor(COLORS["border"]), 1.5))
        p.setBrush(QtGui.QColor(COLORS["panel"]))
        p.drawRoundedRect(r, 10, 10)
        corners = (r.topLeft(), r.topRight(), r.bottomLeft(), r.bottomRight())
        for i, c in enumerate(corners):  # a soft glow of each corner's colour
            g = QtGui.QRadialGradient(c, r.width() * 0.75)
            col = corner_color(i)
            col.setAlpha(70)
            g.setColorAt(0.0, col)
            col.setAlpha(0)
            g.setColorAt(1.0, col)
            p.setPen(QtCore.Qt.NoPen)
            p.setBrush(g)
            p.drawRoundedRect(r, 10, 10)

    def _paint_grid(self, p: QtGui.QPainter, r: QtCore.QRectF) -> None:
        pen = QtGui.QPen(QtGui.QColor(255, 255, 255, 22), 1)
        p.setPen(pen)
        for k in range(1, 8):
            f = k / 8
            p.drawLine(
                QtCore.QPointF(r.left() + f * r.width(), r.top()),
                QtCore.QPointF(r.left() + f * r.width(), r.bottom()),
            )
            p.drawLine(
                QtCore.QPointF(r.left(), r.top() + f * r.height()),
                QtCore.QPointF(r.right(), r.top() + f * r.height()),
            )

    def _paint_corners(self, p: QtGui.QPainter, r: QtCore.QRectF) -> None:
        font = p.font()
        font.setPointSizeF(9.5)
        p.setFont(font)
        fm = QtGui.QFontMetricsF(font)
        for i in range(4):
            right, bottom = i % 2 == 1, i >= 2
            name = fm.elidedText(self._names[i], QtCore.Qt.ElideRight, r.width() * 0.45)
            text = f"{name}  {100 * self._weights[i]:.0f}%"
            w, h = fm.horizontalAdvance(text) + 14, fm.height() + 8
            x = r.right() - w - 8 if right else r.left() + 8
            y = r.bottom() - h - 8 if bottom else r.top() + 8
            box = QtCore.QRectF(x, y, w, h)
            col = corner_color(i)
            p.setPen(QtCore.Qt.NoPen)
            p.setBrush(QtGui.QColor(0, 0, 0, 150))
            p.drawRoundedRect(box, 4, 4)
            bar = QtCore.QRectF(x, y + h - 3, w * self._weights[i], 3)  # weight bar
            p.setBrush(col)
            p.drawRect(bar)
            p.setPen(col.lighter(130))
            p.drawText(box.adjusted(7, 0, -7, -2), QtCore.Qt.AlignVCenter, text)

    def _cursor_sprite(self) -> QtGui.QPixmap:
        """The cursor (glow, ring, dot) drawn once into a small pixmap."""
        if self._sprite is None:
            ratio = self.devicePixelRatioF()
            size = 2 * _GLOW
            pix = QtGui.QPixmap(round(size * ratio), round(size * ratio))
            pix.setDevicePixelRatio(ratio)
            pix.fill(QtCore.Qt.transparent)
            p = QtGui.QPainter(pix)
            p.setRenderHint(QtGui.QPainter.Antialiasing)
            c = QtCore.QPointF(_GLOW, _GLOW)
            glow = QtGui.QRadialGradient(c, _GLOW)
            glow.setColorAt(0.0, QtGui.QColor(240, 168, 60, 160))
            glow.setColorAt(1.0, QtGui.QColor(240, 168, 60, 0))
            p.setPen(QtCore.Qt.NoPen)
            p.setBrush(glow)
            p.drawEllipse(c, _GLOW, _GLOW)
            p.setPen(QtGui.QPen(QtGui.QColor("#ffffff"), 2))
            p.setBrush(QtGui.QColor(COLORS["accent"]))
            p.drawEllipse(c, 8, 8)
            p.end()
            self._sprite = pix
        return self._sprite

    def _paint_cursor(self, p: QtGui.QPainter) -> None:
        c = self.to_widget(self._x, self._y)
        r = self.pad_rect()
        line = QtGui.QColor(COLORS["accent"])
        line.setAlpha(70)
        p.setRenderHint(QtGui.QPainter.Antialiasing, False)  # straight lines: no AA
        p.setPen(QtGui.QPen(line, 1))
        x, y = round(c.x()), round(c.y())
        p.drawLine(x, round(r.top()), x, round(r.bottom()))
        p.drawLine(round(r.left()), y, round(r.right()), y)
        corner = QtCore.QPointF(c.x() - _GLOW, c.y() - _GLOW)
        p.drawPixmap(corner, self._cursor_sprite())
