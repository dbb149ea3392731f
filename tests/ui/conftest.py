"""UI fixtures: the real instrument window on the FluidR3 SoundFont instrument,
offscreen.

Each window gets its own settings file and preset folder (tmp_path) and runs with no
audio device (the engine is driven by the host's clock-paced NullDriver) at 16 kHz, so
the tests need no sound card and stay fast.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

TEST_RATE = 16000


@pytest.fixture
def sf_loader(soundfont_path):
    """``load_instrument`` as main.py gives it, for the SoundFont instrument."""
    from instrument.soundfont import SoundFontInstrument

    def load(model, sample_rate):
        if model is None:
            raise OSError("there is no shipped model yet; pass --model")
        return SoundFontInstrument(model, sample_rate=sample_rate, programs=(0, 40, 73))

    return load


@pytest.fixture
def ui_settings(tmp_path, monkeypatch):
    """A settings file that picks no audio device at 16 kHz; user presets in tmp."""
    monkeypatch.setenv("GANSYNTH_PRESET_DIR", str(tmp_path / "presets"))
    path = tmp_path / "ui.json"
    audio = {"device": "none", "sample_rate": TEST_RATE, "blocksize": 256}
    path.write_text(json.dumps({"version": 1, "audio": audio}))
    monkeypatch.setenv("GANSYNTH_UI_SETTINGS", str(path))
    return path


def open_window(qtbot, loader, settings_path, model):
    from ui.host import Host
    from ui.window import MainWindow

    window = MainWindow(Host(loader), settings_path)
    qtbot.addWidget(window)
    window.start(model)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def window(qtbot, sf_loader, ui_settings, soundfont_path):
    """The window with the SoundFont instrument loaded and its first bank rendered."""
    w = open_window(qtbot, sf_loader, ui_settings, str(soundfont_path))
    assert w.host.engine is not None, w.banner.text()
    assert w.host.engine.wait_bank(120.0), "the first bank did not render"
    yield w
    w.close()


def wait_latent(engine, latent: np.ndarray, timeout: float = 120.0) -> bool:
    """True once the engine's complete bank is the timbre ``latent``."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine.wait_bank(0.1):
            bank = engine.bank
            if bank.latent is not None and np.allclose(bank.latent, latent, atol=1e-6):
                return True
    return False
