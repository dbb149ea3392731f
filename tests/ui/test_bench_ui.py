"""`main.py bench --json --quick --sections ui` in a subprocess: the figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.audio
def test_bench_ui_quick_json(jack_server):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "main.py", "bench", "--json", "--quick", "--sections", "ui"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert any(line.strip().startswith("GUI:") for line in lines[:-1])
    ui = json.loads(lines[-1])["ui"]
    assert ui["frames_per_s"] > 5
    assert 0 < ui["frame_cpu_ms_mean"] <= ui["frame_ms_max"]
    for phase in ("without_window", "with_window"):
        r = ui[phase]
        assert r["pad_moves"] > 15 and r["bank_render_ms"] > 0
        assert r["blocks"] > 0.5 * r["seconds"] * 48000 / 256  # the stream really ran
    assert ui["xruns_added_by_window"] == (
        ui["with_window"]["xruns"] - ui["without_window"]["xruns"]
    )
