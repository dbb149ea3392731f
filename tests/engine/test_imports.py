"""The engine never imports torch (DESIGN.md: the model stays off the audio side)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import importlib, pkgutil, sys
import engine
assert "torch" not in sys.modules, "import engine imported torch"
for m in pkgutil.iter_modules(engine.__path__):
    importlib.import_module("engine." + m.name)
    assert "torch" not in sys.modules, "engine." + m.name + " imported torch"
import instrument.soundfont
assert "torch" not in sys.modules, "instrument.soundfont imported torch"
print("ok", len(list(pkgutil.iter_modules(engine.__path__))))
"""


def test_engine_modules_leave_torch_unimported():
    run = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ok")
