"""Start the process under jemalloc when it is installed (2-2.6x faster torch on CPU).

glibc's malloc returns every large activation buffer to the kernel, so each forward pass
pays for page faults. jemalloc must be loaded before the process starts: ``reexec()``
re-executes the current command once with ``LD_PRELOAD`` and jemalloc's settings, and
does nothing when jemalloc is missing, already loaded, or the platform is not Linux.
"""

from __future__ import annotations

import glob
import os
import sys

__all__ = ["find_jemalloc", "reexec", "JEMALLOC_CONF"]

JEMALLOC_CONF = (
    "oversize_threshold:0,background_thread:true,metadata_thp:auto,"
    "dirty_decay_ms:-1,muzzy_decay_ms:-1"
)
_MARK = "GANSYNTH_ALLOCATOR_REEXEC"


def find_jemalloc() -> str | None:
    """Path of libjemalloc.so.2 on this Linux machine, or None."""
    if not sys.platform.startswith("linux"):
        return None
    patterns = (
        "/usr/lib/*-linux-gnu/libjemalloc.so.2",
        "/usr/lib64/libjemalloc.so.2",
        "/usr/lib/libjemalloc.so.2",
    )
    for pattern in patterns:
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[0]
    return None


def reexec() -> None:
    """Re-execute this process under jemalloc once; returns if that is not possible."""
    if os.environ.get(_MARK) or os.environ.get("GANSYNTH_NO_JEMALLOC"):
        return
    lib = find_jemalloc()
    if lib is None or lib in os.environ.get("LD_PRELOAD", ""):
        return
    env = dict(os.environ)
    env[_MARK] = "1"
    env["LD_PRELOAD"] = ":".join(p for p in (lib, env.get("LD_PRELOAD", "")) if p)
    env.setdefault("MALLOC_CONF", JEMALLOC_CONF)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
    except OSError:
        return
