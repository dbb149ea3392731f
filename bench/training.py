"""Benchmark section ``training``: images per second per train config, and DDP scaling.

Each config trains a few measured steps of its own recipe at the FINAL resolution (the
slowest stage; progressive stages are cheaper) on synthetic notes of the right shape
(speed does not depend on the content). Lazy regularisation is amortised: one
regularised step and plain steps are timed apart and combined as ``(t_reg + (k - 1)
t_plain) / k``. The DDP speed-up runs the smallest config in one process (all cores) and
in two gloo processes (half the cores each) and compares images per second.

``quick``: the smallest config only, fewer steps.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["run"]

_CONFIGS = ("quarter_2s", "half_2s", "quarter", "half", "paper")


def _notes(model: str, n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    from instrument.config import get_config

    cfg = get_config(model)
    t, f = cfg.final_shape
    rng = np.random.default_rng(0)
    mag = rng.uniform(-13.8, 5.0, (n, 1, t, f))
    ifreq = rng.uniform(-1.0, 1.0, (n, 1, t, f))
    images = np.concatenate([mag, ifreq], axis=1).astype(np.float16)
    return images, rng.integers(cfg.pitch_min, cfg.pitch_max + 1, n)


def _trainer(name: str, dist_info: Any = None):
    from trainer.config import get_train_config
    from trainer.train import Trainer

    tc = get_train_config(name).replace(progressive=False, schedule="images")
    images, pitches = _notes(tc.model)
    return Trainer(tc, images, pitches, dist_info, log=lambda _m: None)


def _timed_steps(trainer: Any, steps: int, regularised: bool) -> float:
    """Seconds per step over ``steps`` steps, all with or all without the reg."""
    total = 0.0
    for _ in range(steps):
        trainer.step_count = 0 if regularised else 1  # reg when step_count % k == 0
        t0 = time.perf_counter()
        trainer.step()
        total += time.perf_counter() - t0
    return total / steps


def images_per_s(name: str, steps: int) -> tuple[float, dict[str, Any]]:
    """Measured images/s of train config ``name`` at full resolution."""
    trainer = _trainer(name)
    k = trainer.tc.reg_interval
    _timed_steps(trainer, 1, True)  # warm-up
    t_reg = _timed_steps(trainer, 1 if k > 1 else steps, True)
    t_plain = _timed_steps(trainer, steps, False) if k > 1 else t_reg
    per_step = (t_reg + (k - 1) * t_plain) / k
    detail = {
        "s_per_step": per_step,
        "s_reg_step": t_reg,
        "s_plain_step": t_plain,
        "reg_interval": k,
        "bf16": trainer.bf16,
        "channels_last": trainer.tc.channels_last,
        "loss": trainer.tc.loss,
    }
    return trainer.tc.batch_size / per_step, detail


def _ddp_worker(
    rank: int, world: int, name: str, steps: int, threads: int, tmp: str
) -> None:
    import torch
    import torch.distributed as dist

    from trainer.distributed import Dist

    torch.set_num_threads(threads)
    if world > 1:
        dist.init_process_group(
            "gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=world
        )
    trainer = _trainer(name, Dist(rank, world, rank, world, "cpu"))
    trainer.step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    seconds = time.perf_counter() - t0
    if rank == 0:
        ips = steps * trainer.tc.batch_size * world / seconds
        with open(os.path.join(tmp, f"world{world}.txt"), "w") as f:
            f.write(repr(ips))
    if world > 1:
        dist.destroy_process_group()


def ddp_images_per_s(name: str, world: int, steps: int, cores: int) -> float:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        threads = max(1, cores // world)
        mp.spawn(_ddp_worker, args=(world, name, steps, threads, tmp), nprocs=world)
        with open(os.path.join(tmp, f"world{world}.txt")) as f:
            return float(f.read())


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    import torch

    cores = torch.get_num_threads()
    names = _CONFIGS[:1] if quick else _CONFIGS
    rates: dict[str, float] = {}
    details: dict[str, Any] = {}
    for name in names:
        steps = 1 if (quick or name in ("paper", "half")) else 3
        rate, detail = images_per_s(name, steps)
        rates[name], details[name] = rate, detail
        log(
            f"training {name}: {rate:.2f} images/s at full resolution "
            f"({detail['s_per_step']:.2f} s/step, {detail['loss']}, reg every "
            f"{detail['reg_interval']}, bf16 {detail['bf16']})"
        )
    torch.set_num_threads(1)
    single, _ = images_per_s(names[0], 2)
    torch.set_num_threads(cores)
    log(f"training {names[0]} with 1 thread: {single:.2f} images/s at full resolution")
    steps = 2 if quick else 4
    one = ddp_images_per_s(names[0], 1, steps, cores)
    two = ddp_images_per_s(names[0], 2, steps, cores)
    log(
        f"training DDP {names[0]} (gloo): 1 process {one:.2f} images/s, "
        f"2 processes {two:.2f} images/s, speed-up {two / one:.2f}x"
    )
    return {
        "training": {
            "images_per_s": rates,
            "images_per_s_1_thread": {names[0]: single},
            "detail": details,
            "ddp_speedup_1_to_2": two / one,
            "ddp_images_per_s": {"1": one, "2": two},
            "ddp_config": names[0],
            "resolution": "final",
        }
    }
