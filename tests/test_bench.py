"""`main.py bench --json --quick --sections generator` in a subprocess: JSON keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROW_KEYS = {
    "config",
    "dtype",
    "batch",
    "ms_per_note",
    "bank_ms",
    "first_note_ms",
    "gflops",
    "inverse_ms_per_note",
    "inverse_share",
}


@pytest.mark.slow
def test_bench_generator_quick_json():
    proc = subprocess.run(
        [
            sys.executable,
            "main.py",
            "bench",
            "--json",
            "--quick",
            "--sections",
            "generator",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert any("dense matmul" in line for line in lines[:-1])  # human-readable lines
    result = json.loads(lines[-1])
    assert set(result["matmul_gflops"]) == {"fp32", "bf16"}
    assert all(v > 0 for v in result["matmul_gflops"].values())
    rows = result["generator"]
    assert {(r["config"], r["dtype"]) for r in rows} >= {
        ("quarter_2s", "fp32"),
        ("quarter_2s", "bf16"),
    }
    for row in rows:
        assert ROW_KEYS <= set(row)
        assert row["batch"] == 61
        for key in ROW_KEYS - {"config", "dtype", "batch"}:
            assert row[key] > 0, key
        assert row["bank_ms"] >= 61 * row["ms_per_note"]
    assert result["system"]["torch_threads"] == result["system"]["cores"]
    assert result["system"]["allocator"] in ("jemalloc", "system malloc")


def test_bench_rejects_an_unknown_section():
    proc = subprocess.run(
        [sys.executable, "main.py", "bench", "--sections", "nonsense"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown bench section 'nonsense'" in proc.stderr
