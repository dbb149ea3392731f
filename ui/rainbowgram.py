"""Rainbowgrams: brightness = log magnitude, colour = instantaneous frequency.

``NoteRainbowgram`` shows the bank's note of the last played pitch, from the
generator's own output, through the numpy twin of the model's spectral representation.
``LiveRainbowgram`` scrolls the audio going out: each GUI frame reads the newest samples
from the engine's scope ring and adds one column. Both are pulled by the window's single
timer; images are uint8 RGB arrays wrapped by a QImage without a copy. Qt main thread
only, except ``note_image``, a pure function the window runs on a worker thread.
"""

from __future__ import annotations

import numpy as np
import soxr
from PySide6 import QtCore, QtGui, QtWidgets

from instrument.config import SpectralConfig
from instrument.spectral_numpy import rainbowgram
from ui.theme import COLORS

__all__ = [
    "colorize",
    "note_image",
    "NoteRainbowgram",
    "LiveRainbowgram",
    "LiveColumns",
]

_DYNAMIC_RANGE = 8.0  # natural-log units of magnitude shown below the peak (~70 dB)


def colorize(
    log_mag: np.ndarray, inst_freq: np.ndarray, peak: float | None = None
) -> np.ndarray:
    """RGB image of a rainbowgram.

    Parameters
    ----------
    log_mag, inst_freq
        ``[T, F] float32``: log magnitude (natural log) and instantaneous
        frequency (phase advance per hop over pi, in [-1, 1]).
    peak
        Log magnitude drawn at full brightness (default: the maximum of ``log_mag``).

    Returns
    -------
    ``[T, F, 3] uint8``: hue from ``inst_freq``, value from ``log_mag``.
    """
    log_mag = np.asarray(log_mag, np.float32)
    inst_freq = np.asarray(inst_freq, np.float32)
    if log_mag.shape != inst_freq.shape or log_mag.ndim != 2:
        raise ValueError(
            f"rainbowgram needs two [T, F] arrays of one shape, got {log_mag.shape} "
            f"and {inst_freq.shape}"
        )
    top = float(np.max(log_mag)) if peak is None else float(peak)
    value = np.clip((log_mag - (top - _DYNAMIC_RANGE)) / _DYNAMIC_RANGE, 0.0, 1.0)
    hue = np.mod((inst_freq + 1.0) * 0.5, 1.0) * 6.0  # HSV with saturation 0.85
    i = np.floor(hue).astype(np.int8) % 6
    f = hue - np.floor(hue)
    s = 0.85
    p, q, t = value * (1 - s), value * (1 - s * f), value * (1 - s * (1 - f))
    r = np.choose(i, [value, q, p, p, t, value])
    g = np.choose(i, [t, value, value, q, p, p])
    b = np.choose(i, [p, p, t, value, value, q])
    return np.ascontiguousarray((np.stack([r, g, b], -1) * 255).astype(np.uint8))


def note_image(note: np.ndarray, sample_rate: int, cfg: SpectralConfig) -> np.ndarray:
    """The rainbowgram of one bank note ``[N] float32`` at ``sample_rate``.

    Resampled to the model's rate and cut or padded to its note length, then transformed
    exactly as the model's spectral representation. Returns ``[F, T, 3] uint8``
    (frequency rows from low to high, time columns).
    """
    wave = np.asarray(note, np.float32).reshape(-1)
    if sample_rate != cfg.sample_rate:
        wave = soxr.resample(wave, sample_rate, cfg.sample_rate).astype(np.float32)
    fitted = np.zeros(cfg.audio_length, np.float32)
    n = min(len(wave), cfg.audio_length)
    fitted[:n] = wave[:n]
    log_mag, inst_freq = rainbowgram(fitted, cfg)
    return np.ascontiguousarray(colorize(log_mag, inst_freq).transpose(1, 0, 2))


class ImageView(QtWidgets.QWidget):
    """A titled RGB image scaled into the widget (a part of it: ``source`` columns).

    Drawn with ``QPainter.drawImage`` from a QImage that wraps a uint8 array (no copy).
    pyqtgraph's ``ImageItem.setImage`` was the first choice (STYLE 6), but with PySide6
    6.12 and pyqtgraph 0.14 every call leaks a reference to ``False`` and the
    interpreter aborts at exit after a few thousand frames (``bool_dealloc``), so the
    window paints its images itself.
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


class LiveColumns:
    """Turns the newest output samples into one rainbowgram column per frame.

    Log-spaced frequency rows from 30 Hz to 0.45 x the sample rate; colour from the
    phase advance between two FFTs ``hop`` samples apart (the idea of the note's IF).
    """

    def __init__(
        self, sample_rate: int, rows: int = 192, n_fft: int = 2048, hop: int = 256
    ):
        self.sample_rate, self.n_fft, self.hop = int(sample_rate), int(n_fft), int(hop)
        freqs = np.geomspace(30.0, 0.45 * self.sample_rate, rows)
        self.bins = np.clip(
            np.round(freqs * n_fft / self.sample_rate), 1, n_fft // 2
        ).astype(np.intp)
        self.window = np.hanning(n_fft).astype(np.float32)
        self.expected = (
            2 * np.pi * self.bins * hop / n_fft
        )  # phase advance of a bin centre
        self.peak = -2.0  # slowly falling reference level (natural log)

    @property
    def needed(self) -> int:
        """Samples one column reads."""
        return self.n_fft + self.hop

    def column(self, mono: np.ndarray) -> np.ndarray:
        """``[rows, 3] uint8`` from the newest samples ``[needed] float32``."""
        a = np.fft.rfft(mono[: self.n_fft] * self.window)[self.bins]
        b = np.fft.rfft(mono[self.hop : self.hop + self.n_fft] * self.window)[self.bins]
        log_mag = np.log(np.abs(b) + 1e-6).astype(np.float32)
        advance = np.angle(b) - np.angle(a) - self.expected
        inst = (np.mod(advance + np.pi, 2 * np.pi) - np.pi) / np.pi
        self.peak = max(self.peak - 0.02, float(log_mag.max()), 2.0)
        return colorize(log_mag[None], inst[None].astype(np.float32), self.peak)[0]


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
