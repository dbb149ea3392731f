"""Rainbowgram images as numpy arrays: brightness = log magnitude, hue = instantaneous
frequency. Pure numpy (no Qt, no torch), so the window can compute a note's image in a
worker process, away from the GIL that the audio callback needs.
"""

from __future__ import annotations

import numpy as np
import soxr

from instrument.config import SpectralConfig
from instrument.spectral_numpy import rainbowgram

__all__ = ["colorize", "note_image", "LiveColumns"]

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
