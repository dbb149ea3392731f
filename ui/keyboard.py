"""The on-screen keyboard: played with the mouse and the computer keyboard, and lit by
MIDI.

Mouse: press a key to play it, drag to glide over keys. Computer keyboard (tracker
layout): the row ``Z S X D C V G B H N J M ,`` is one octave from the base note, ``Q 2 W
3 E R 5 T 6 Y 7 U I`` the octave above; Page Up / Page Down move the base octave.
Signals ``note_on(note, velocity)`` / ``note_off(note)``; ``show_held`` lights the notes
the engine holds (MIDI and ours). Qt main thread only.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6 import QtCore, QtGui, QtWidgets

from ui.theme import COLORS

__all__ = ["KeyboardWidget", "KEY_OFFSETS"]

# computer key -> semitones above the base note (two rows, tracker style)
KEY_OFFSETS: dict[int, int] = {
    **{
        getattr(QtCore.Qt, f"Key_{k}"): i
        for i, k in enumerate(
            ["Z", "S", "X", "D", "C", "V", "G", "B", "H", "N", "J", "M", "Comma"]
        )
    },
    **{
        getattr(QtCore.Qt, f"Key_{k}"): 12 + i
        for i, k in enumerate(
            ["Q", "2", "W", "3", "E", "R", "5", "T", "6", "Y", "7", "U", "I"]
        )
    },
}
_BLACK = {1, 3, 6, 8, 10}  # pitch classes of black keys
_VELOCITY = 100  # mouse and computer-key velocity


def _is_black(note: int) -> bool:
    return note % 12 in _BLACK


class KeyboardWidget(QtWidgets.QWidget):
    """Piano keys from ``low`` to ``high`` (inclusive MIDI notes)."""

    note_on = QtCore.Signal(int, int)
    note_off = QtCore.Signal(int)

    def __init__(
        self, low: int = 24, high: int = 96, parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        if not 0 <= low < high <= 127:
            raise ValueError(
                f"keyboard range must be 0 <= low < high <= 127, got {low}-{high}"
            )
        self.low, self.high = low, high
        self.base = 48  # computer keyboard's lowest note (C3)
        self._mouse_note: int | None = None
        self._computer: dict[int, int] = {}  # Qt key -> note it plays
        self._held: frozenset[int] = frozenset()
        self._range_lo, self._range_hi = (
            low,
            high,
        )  # model's trained range (drawn brighter)
        self._rect_cache: dict[int, QtCore.QRectF] = {}
        self._rects_size: QtCore.QSize | None = None
        self.setMinimumHeight(70)
        self.setFocusPolicy(QtCore.Qt.StrongFocus)

    # -- state -------------------------------------------------------------------------
    def set_trained_range(self, low: int, high: int) -> None:
        self._range_lo, self._range_hi = low, high
        self.update()

    def show_held(self, notes: Iterable[int]) -> None:
        """Light ``notes`` (what the engine holds, from any source)."""
        held = frozenset(int(n) for n in notes)
        if held != self._held:
            self._held = held
            self.update()

    def lit_notes(self) -> frozenset[int]:
        """Notes drawn as pressed: held by the engine, the mouse or computer keys."""
        own = set(self._computer.values())
        if self._mouse_note is not None:
            own.add(self._mouse_note)
        return self._held | own

    # -- geometry ----------------------------------------------------------------------
    def _white_notes(self) -> list[int]:
        return [n for n in range(self.low, self.high + 1) if not _is_black(n)]

    def _rects(self) -> dict[int, QtCore.QRectF]:
        """Every key's rectangle, computed once per widget size."""
        if self._rects_size != self.size():
            whites = self._white_notes()
            w = self.width() / len(whites)
            h = self.height()
            rects = {}
            for n in range(self.low, self.high + 1):
                if not _is_black(n):
                    rects[n] = QtCore.QRectF(whites.index(n) * w, 0, w, h)
                else:
                    left = whites.index(n - 1) if n - 1 >= self.low else -1
                    rects[n] = QtCore.QRectF(
                        (left + 1) * w - w * 0.32, 0, w * 0.64, h * 0.6
                    )
            self._rect_cache, self._rects_size = rects, self.size()
        return self._rect_cache

    def key_rect(self, note: int) -> QtCore.QRectF:
        """Where ``note``'s key is drawn."""
        return self._rects()[note]

    def note_at(self, pos: QtCore.QPointF) -> int | None:
        """The note under ``pos`` (black keys first), or None."""
        for black in (True, False):
            for n in range(self.low, self.high + 1):
                if _is_black(n) == black and self.key_rect(n).contains(pos):
                    return n
        return None

    # -- mouse -------------------------------------------------------------------------
    def _mouse_to(self, note: int | None) -> None:
        if note == self._mouse_note:
            return
        if self._mouse_note is not None:
            self.note_off.emit(self._mouse_note)
        self._mouse_note = note
        if note is not None:
            self.note_on.emit(note, _VELOCITY)
        self.update()

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if event.button() == QtCore.Qt.LeftButton:
            self._mouse_to(self.note_at(event.position()))

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        if event.buttons() & QtCore.Qt.LeftButton:
            self._mouse_to(self.note_at(event.position()))

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802
        self._mouse_to(None)

    # -- computer keyboard (the window forwards key events here) -----------------------
    def handle_key(self, key: int, pressed: bool, auto_repeat: bool = False) -> bool:
        """Play or release computer key ``key``'s note; True when the key was ours."""
        if pressed and key in (QtCore.Qt.Key_PageUp, QtCore.Qt.Key_PageDown):
            step = 12 if key == QtCore.Qt.Key_PageUp else -12
            self.base = min(max(self.base + step, 0), 108)
            return True
        if key not in KEY_OFFSETS:
            return False
        if auto_repeat:
            return True
        if pressed and key not in self._computer:
            note = self.base + KEY_OFFSETS[key]
            if 0 <= note <= 127:
                self._computer[key] = note
                self.note_on.emit(note, _VELOCITY)
        elif not pressed and key in self._computer:
            self.note_off.emit(self._computer.pop(key))
        self.update()
        return True

    def release_all(self) -> None:
        """Release every note this widget started (focus lost, window closing)."""
        for note in self._computer.values():
            self.note_off.emit(note)
        self._computer.clear()
        self._mouse_to(None)

    # -- painting ----------------------------------------------------------------------
    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802
        p = QtGui.QPainter(self)
        lit = self.lit_notes()
        rects = self._rects()
        outline = QtGui.QPen(QtGui.QColor("#0c0d10"), 1)
        accent = QtGui.QColor(COLORS["accent"])
        for black in (False, True):
            for n in range(self.low, self.high + 1):
                if _is_black(n) != black:
                    continue
                r = rects[n].adjusted(0.5, 0, -0.5, 0)
                inside = self._range_lo <= n <= self._range_hi
                if n in lit:
                    fill = accent if not black else accent.darker(130)
                elif black:
                    fill = QtGui.QColor("#1b1d22" if inside else "#2a2c31")
                else:
                    fill = QtGui.QColor("#e9ebf0" if inside else "#a3a7b0")
                p.setPen(outline)
                p.setBrush(fill)
                p.drawRect(r)
                if not black and n % 12 == 0:
                    p.setPen(QtGui.QColor("#555a66"))
                    p.drawText(
                        r.adjusted(0, 0, 0, -3),
                        QtCore.Qt.AlignHCenter | QtCore.Qt.AlignBottom,
                        f"C{n // 12 - 1}",
                    )
        p.end()
