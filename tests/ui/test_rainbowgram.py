"""Rainbowgram colouring of real SoundFont notes, and the live view's columns."""

from __future__ import annotations

import numpy as np
import pytest

from instrument.config import SpectralConfig
from ui.rainbowgram import LiveColumns, colorize, note_image


def test_colorize_maps_magnitude_to_brightness_and_if_to_hue():
    log_mag = np.array([[0.0, -4.0, -20.0]], np.float32)
    inst = np.array([[-0.5, 0.5, 0.0]], np.float32)
    rgb = colorize(log_mag, inst)
    assert rgb.shape == (1, 3, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].max() == 255 and rgb[0, 2].max() == 0  # peak bright, floor black
    assert rgb[0, 1].max() < rgb[0, 0].max()
    assert np.argmax(rgb[0, 0]) != np.argmax(colorize(log_mag, -inst)[0, 0])  # hue


def test_colorize_refuses_mismatched_planes():
    with pytest.raises(ValueError, match=r"two \[T, F\] arrays"):
        colorize(np.zeros((4, 5)), np.zeros((4, 6)))


@pytest.mark.parametrize("rate", [16000, 48000])
def test_a_real_note_gives_a_bright_line_near_its_pitch(sf_renderer, rate):
    cfg = SpectralConfig(mel=False)
    from instrument.soundfont import SoundFontRenderer

    renderer = (
        sf_renderer if rate == 16000 else SoundFontRenderer(sf_renderer.path, rate)
    )
    note = renderer.render_note(73, 69)  # flute A4, 440 Hz
    rgb = note_image(note, rate, cfg)
    assert rgb.shape == (cfg.n_bins, cfg.n_frames, 3) and rgb.dtype == np.uint8
    value = rgb[:, 20:90].max(axis=2).mean(axis=1)  # brightness over the held part
    hz = (np.arange(cfg.n_bins) + 1) * cfg.sample_rate / cfg.n_fft  # DC dropped
    strong = hz[value > 0.6 * value.max()]
    assert abs(strong.min() - 440) < 20  # the lowest strong line is the fundamental
    assert rgb[:, 120:].max() < rgb[:, 20:90].max()  # silence after the release


def test_live_columns_show_a_sine_at_its_frequency():
    cols = LiveColumns(48000, rows=192)
    t = np.arange(cols.needed) / 48000
    col = cols.column((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    assert col.shape == (192, 3)
    brightest = int(np.argmax(col.astype(int).sum(axis=1)))
    freqs = np.geomspace(30.0, 0.45 * 48000, 192)
    assert abs(freqs[brightest] / 1000 - 1) < 0.06
