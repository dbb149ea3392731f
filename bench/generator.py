"""Bench section "generator": dense-matmul peak, then bank speed per preset and dtype.

Every figure is measured in this run on this machine, with random weights (speed does
not depend on the weights), through the same ``Synth`` the engine uses:

- ``matmul_gflops``: a large dense square product, the practical peak per dtype;
- per config and dtype, a bank of 61 notes (one per pitch) at 48 kHz:
  ``ms_per_note`` (generator only), ``gflops`` (counted conv FLOPs / generator time),
  ``inverse_ms_per_note`` (mel -> linear, phase, overlap-add, resampling to 48 kHz),
  ``inverse_share`` (inverse / generator time), ``bank_ms`` (generator + inverse for the
  61 notes), ``first_note_ms`` (one note rendered alone: the wait for the first held key
  after a timbre change).

Where bf16 is not native (no AVX-512 BF16/AMX on the CPU) it runs many times slower than
fp32, so those rows time a few notes and scale to 61 (``notes_measured`` says how many).
``--quick`` times fewer notes of the smallest preset only (smoke test, < 60 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from instrument.bundle import Bundle, default_model_path, load_bundle, model_id_of
from instrument.config import config_names, get_config
from instrument.networks import Generator, generator_macs
from instrument.synth import Synth, native_bf16

__all__ = ["run", "matmul_gflops", "time_synth"]

BANK = 61  # one note per pitch of the paper's range
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_gflops(dtype: torch.dtype, n: int, seconds: float) -> float:
    """Best GFLOP/s of ``[n, n] @ [n, n]`` products over about ``seconds``."""
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    end = time.perf_counter() + seconds
    reps = 0
    while reps < 2 or time.perf_counter() < end:
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
        reps += 1
    return 2.0 * n**3 / best / 1e9


def _random_bundle(name: str) -> Bundle:
    cfg = get_config(name)
    torch.manual_seed(0)
    state = Generator(cfg).state_dict()
    return Bundle(
        config=cfg,
        state_dict=state,
        model_id=model_id_of(cfg, state),
        info={"name": f"random {name}"},
        path=Path(f"<random {name}>"),
    )


def time_synth(synth: Synth, notes: int) -> dict[str, float]:
    """Time ``notes`` notes (one per pitch, cycling) in the Synth's batches.

    Returns seconds: ``generator`` and ``inverse`` (inverse path + resampling) totals,
    ``first_note`` (one note alone, generator + inverse) and ``warmup`` (the first call,
    which includes ``torch.compile``'s compilation when the Synth compiles).
    """
    lo, hi = synth.pitch_range
    rng = np.random.default_rng(0)
    z = rng.standard_normal((notes, synth.latent_size), dtype=np.float32)
    z[:] = z[:1]  # one timbre, as a bank
    pitches = lo + np.arange(notes) % (hi - lo + 1)
    t0 = time.perf_counter()
    synth.render(z[:1], pitches[:1])  # warm-up (allocator, caches, compile)
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    synth.render(z[:1], pitches[:1])
    first = time.perf_counter() - t0
    gen = inv = 0.0
    for start in range(0, notes, synth.batch_size):
        s = slice(start, min(notes, start + synth.batch_size))
        t0 = time.perf_counter()
        images = synth.render_images(z[s], pitches[s])
        t1 = time.perf_counter()
        synth.images_to_waves(images)
        t2 = time.perf_counter()
        gen += t1 - t0
        inv += t2 - t1
    return {"generator": gen, "inverse": inv, "first_note": first, "warmup": warmup}


def _row(
    label: str, synth: Synth, notes: int, log: Callable[[str], None]
) -> dict[str, Any]:
    t = time_synth(synth, notes)
    flops = 2.0 * generator_macs(synth.config)
    ms_note = t["generator"] / notes * 1000
    inv_note = t["inverse"] / notes * 1000
    row = {
        "config": label,
        "dtype": synth.precision,
        "batch": BANK,
        "ms_per_note": round(ms_note, 2),
        "bank_ms": round((ms_note + inv_note) * BANK, 1),
        "first_note_ms": round(t["first_note"] * 1000, 1),
        "gflops": round(flops / (ms_note / 1000) / 1e9, 1),
        "inverse_ms_per_note": round(inv_note, 2),
        "inverse_share": round(inv_note / ms_note, 3),
        "notes_measured": notes,
        "synth_batch_size": synth.batch_size,
        "compiled": synth.compiled,
        "warmup_s": round(t["warmup"], 2),
        "device": synth.device_name,
        "output_rate": synth.sample_rate,
    }
    scaled = "" if notes == BANK else f" (timed {notes} notes, scaled to {BANK})"
    log(
        f"  {label:<12} {row['dtype']:<5}{' compiled' if synth.compiled else ''}: "
        f"{row['ms_per_note']:8.1f} ms/note, {row['gflops']:7.1f} GFLOP/s, "
        f"bank {row['bank_ms'] / 1000:6.2f} s{scaled}, first note "
        f"{row['first_note_ms']:.0f} ms, inverse {row['inverse_ms_per_note']:.1f} "
        f"ms/note ({100 * row['inverse_share']:.0f} % of the generator)"
    )
    return row


def _notes_for(dtype: str, quick: bool, device: torch.device) -> int:
    slow_bf16 = dtype == "bf16" and not native_bf16(device)
    if quick:
        return 2 if slow_bf16 else 8
    return 4 if slow_bf16 else BANK


def _compiled_rows(log: Callable[[str], None]) -> list[dict[str, Any]]:
    """The paper preset through ``torch.compile`` (as ``Synth(compile=True)``)."""
    synth = Synth(_random_bundle("paper"), output_rate=48000, device="cpu")
    try:
        synth = Synth(
            synth.bundle,
            output_rate=48000,
            device="cpu",
            precision=synth.precision,
            batch_size=synth.batch_size,
            compile=True,
        )
        return [_row("paper", synth, BANK, log)]
    except Exception as err:  # compile needs a C compiler; report and go on
        log(f"  paper compiled: skipped ({type(err).__name__}: {err})"[:200])
        return []


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Measure and return ``{"matmul_gflops": {...}, "generator": [rows]}``.

    Other processes may share the CPU, so the matmul is also timed right after every
    row (``matmul_gflops_now``) and ``matmul_fraction`` compares the generator with
    that; ``matmul_gflops`` is the best matmul figure of the whole run.
    """
    device = torch.device("cpu")
    n, secs = (512, 0.3) if quick else (2048, 2.0)
    # emulated bf16 runs at ~1 GFLOP/s: a 2048^3 product would take half a minute
    sizes = {"fp32": n, "bf16": n if native_bf16(device) else 512}
    samples = {k: [matmul_gflops(dt, sizes[k], secs)] for k, dt in _DTYPES.items()}
    log(
        f"  dense matmul: fp32 {samples['fp32'][0]:.1f} GFLOP/s ({sizes['fp32']}^2), "
        f"bf16 {samples['bf16'][0]:.1f} GFLOP/s ({sizes['bf16']}^2)"
    )
    rows: list[dict[str, Any]] = []

    def add(row: dict[str, Any]) -> None:
        dtype = row["dtype"]
        now = matmul_gflops(_DTYPES[dtype], sizes[dtype], 0.2 if quick else 0.5)
        samples[dtype].append(now)
        row["matmul_gflops_now"] = round(now, 1)
        row["matmul_fraction"] = round(row["gflops"] / now, 3)
        rows.append(row)

    for name in ["quarter_2s"] if quick else config_names():
        bundle = _random_bundle(name)
        for dtype in _DTYPES:
            synth = Synth(bundle, output_rate=48000, device="cpu", precision=dtype)
            add(_row(name, synth, _notes_for(dtype, quick, device), log))
            del synth
    if not quick:
        for row in _compiled_rows(log):
            add(row)
    if (
        torch.cuda.is_available()
    ):  # the engine renders banks on the GPU when there is one
        for name in ["quarter_2s", "paper"] if quick else config_names():
            synth = Synth(_random_bundle(name), output_rate=48000, device="cuda")
            synth.render(np.zeros((1, synth.latent_size), np.float32), np.array([60]))
            torch.cuda.synchronize()
            rows.append(_row(name, synth, BANK, log))
            rows[-1]["matmul_fraction"] = None  # the matmul peak above is the CPU's
    shipped = default_model_path()
    if not quick and shipped.is_file():
        synth = Synth(load_bundle(shipped), output_rate=48000, device="cpu")
        label = f"shipped:{synth.config.name}"
        add(_row(label, synth, _notes_for(synth.precision, False, device), log))
    paper = [r for r in rows if r["config"] == "paper"]
    if paper:
        best = min(paper, key=lambda r: r["ms_per_note"])
        log(
            f"  targets: paper {best['ms_per_note']:.1f} ms/note ({best['dtype']}; "
            f"target <= 35), {100 * best['matmul_fraction']:.0f} % of the matmul "
            f"timed beside it (target >= 70 %), inverse "
            f"{100 * best['inverse_share']:.0f} % of the generator (target <= 20 %)"
        )
    peak = {k: round(max(v), 1) for k, v in samples.items()}
    return {"matmul_gflops": peak, "generator": rows}
