"""``main.py --screenshot FILE.png``: the whole window, a bank, a note, exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_screenshot_command(tmp_path, soundfont_path, ui_settings):
    shot = tmp_path / "window.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [
            sys.executable,
            "main.py",
            "--model",
            str(soundfont_path),
            "--screenshot",
            str(shot),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    from PySide6 import QtGui

    image = QtGui.QImage(str(shot))
    assert image.width() >= 1000 and image.height() >= 700
    image = image.convertToFormat(QtGui.QImage.Format_RGB888)
    a = (
        np.frombuffer(image.constBits(), np.uint8)
        .reshape(image.height(), image.bytesPerLine())[:, : 3 * image.width()]
        .reshape(image.height(), image.width(), 3)
    )
    right = a[:, a.shape[1] // 2 :]  # the rainbowgrams: coloured, not grey, not black
    saturation = right.max(axis=2).astype(int) - right.min(axis=2)
    assert (saturation > 80).mean() > 0.01
    assert not ui_settings.read_text().count(
        "pad"
    )  # a screenshot keeps the saved state


def test_without_a_display_the_window_says_so(monkeypatch):
    import argparse

    from ui import app

    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    with pytest.raises(OSError, match="no display found"):
        app.run(argparse.Namespace(model=None, screenshot=None), lambda m, sr: None)
