"""``python main.py bench``: the speed benchmark, section by section, in one run.

Each section is a module ``bench/<name>.py`` with ``run(quick, log) -> dict`` returning
its top-level JSON keys; ``SECTIONS`` lists them in run order. ``run_bench`` prints
human-readable lines as it goes and, with ``--json``, one JSON object (every section
merged, plus ``"system"``) on the last line. Torch threads are pinned to the cores this
process may use, and the allocator in use (jemalloc or glibc) is reported, because it
changes torch's CPU speed 2-2.6x (ENVIRONMENT.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["SECTIONS", "run_bench", "allocator_in_use", "core_count"]

SECTIONS: tuple[str, ...] = ("generator", "ui", "engine", "training")


def core_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def allocator_in_use() -> str:
    """'jemalloc' when libjemalloc is mapped into this process, else 'system malloc'."""
    try:
        with open("/proc/self/maps") as f:
            if "libjemalloc" in f.read():
                return "jemalloc"
    except OSError:
        if "jemalloc" in os.environ.get("LD_PRELOAD", ""):
            return "jemalloc"
    return "system malloc"


def _sections(arg: str | None) -> list[str]:
    if not arg:
        return list(SECTIONS)
    names = [s.strip() for s in arg.split(",") if s.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(
            f"unknown bench section {unknown[0]!r}; known: {', '.join(SECTIONS)}"
        )
    return names


def _system(log: Callable[[str], None]) -> dict[str, Any]:
    import torch

    cores = core_count()
    torch.set_num_threads(cores)
    info = {
        "cores": cores,
        "torch_threads": torch.get_num_threads(),
        "allocator": allocator_in_use(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    log(
        f"system: {cores} cores, torch {info['torch']} with {info['torch_threads']} "
        f"threads ({info['cpu_capability']}), allocator: {info['allocator']}"
        + (f", GPU: {info['cuda']}" if info["cuda"] else "")
    )
    if info["allocator"] != "jemalloc":
        log("  note: without jemalloc torch on CPU runs 2-2.6x slower (use main.py)")
    return info


def run_bench(args: argparse.Namespace) -> int:
    """Run the sections named by ``args.sections`` (default all); 0 on success."""
    names = _sections(getattr(args, "sections", None))
    quick = bool(getattr(args, "quick", False))

    def log(line: str) -> None:
        print(line, flush=True)

    results: dict[str, Any] = {"system": _system(log)}
    results["system"]["quick"] = quick
    for name in names:
        log(f"== {name}{' (quick)' if quick else ''}")
        start = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        results.update(module.run(quick, log))
        log(f"   {name} took {time.perf_counter() - start:.1f} s")
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(results) + "\n")
        sys.stdout.flush()
    return 0
