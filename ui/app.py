"""``python main.py``: open the instrument window (``--screenshot FILE.png``: save one,
exit).

``run(args, load_instrument)`` is called by main.py with the parsed arguments and the
instrument loader (the engine never imports torch; the loader does). Everything runs on
the Qt main thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtWidgets

__all__ = ["run", "take_screenshot", "SWITCH_INTERVAL_S"]

SWITCH_INTERVAL_S = 0.001  # sys.setswitchinterval while the window runs


def _display_available() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _application() -> QtWidgets.QApplication:
    from ui.theme import apply_theme

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["gansynth"])
    # The audio callback is Python and shares the GIL with the GUI thread: hand the GIL
    # over every SWITCH_INTERVAL_S (default 5 ms, near a 256-frame period) so a paint
    # running Python never keeps the callback waiting for a whole period.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    apply_theme(app)
    return app


def _wait(
    app: QtWidgets.QApplication, seconds: float, done: Callable[[], bool]
) -> bool:
    """Run the event loop until ``done()`` or ``seconds`` pass; True when done."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        if done():
            return True
        time.sleep(0.01)
    return done()


def take_screenshot(window, path: Path, bank_timeout: float = 180.0) -> None:
    """Render a bank, play a note so the rainbowgram shows it, save the whole window."""
    app = QtWidgets.QApplication.instance()
    engine = window.host.engine
    if engine is not None:
        _wait(app, bank_timeout, lambda: engine.bank.complete)
        window.move_pad(0.32, 0.4)
        _wait(app, bank_timeout, lambda: engine.wait_bank(0.0))
        for note in (48, 55, 60, 64, 67, 72):  # an arpeggio fills the live view
            window.play_note(note, 105)
            _wait(app, 0.35, lambda: False)
        for note in (48, 55, 64, 67, 72):
            window.release_note(note)
        window.play_note(60, 110)  # the last note: its bank note is drawn
        _wait(app, 1.0, lambda: False)
        _wait(
            app,
            20.0,
            lambda: window.note_view.shown is not None and not window._pending,
        )
        _wait(app, 0.3, lambda: False)
    else:
        _wait(app, 0.5, lambda: False)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path)):
        raise OSError(f"cannot write the screenshot {path}")


def run(args: argparse.Namespace, load_instrument: Callable) -> int:
    """Open the window (or take a screenshot); returns the exit code."""
    shot = getattr(args, "screenshot", None)
    if shot and not _display_available():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if not _display_available():
        raise OSError(
            "no display found (DISPLAY is not set); run on a desktop, or use "
            "'python main.py play --headless' or '--screenshot FILE.png'"
        )
    from ui.host import Host
    from ui.settings import default_settings_path
    from ui.window import MainWindow

    app = _application()
    window = MainWindow(
        Host(load_instrument, render_process=True), default_settings_path()
    )
    window.start(getattr(args, "model", None))
    window.show()
    if shot:
        try:
            take_screenshot(window, Path(shot))
        finally:
            window.remember = False  # a screenshot run leaves the saved state alone
            window.close()
        print(f"screenshot saved to {shot}")
        return 0
    return int(app.exec())
