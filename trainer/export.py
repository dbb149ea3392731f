"""``python -m trainer export RUN --out PATH``: a run's EMA generator as a model bundle.

The bundle (``instrument.bundle``, safetensors only) holds the EMA generator's weights
in fp32, its ``ModelConfig`` and the training facts: images trained, hours, dataset,
train config and the checkpoint it came from, and the output gain measured on the
exported generator (``instrument.level``: its notes' median peak brought to 0.5,
never a measured note past 0.9). ``Synth.load(PATH)`` and ``main.py --model
PATH`` load it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from instrument.bundle import save_bundle
from instrument.config import ModelConfig
from trainer.checkpoint import CheckpointManager, load_checkpoint

__all__ = ["export_run", "configure", "run"]


# latents per pitch the output gain is measured on: at 450k images the default run's
# loudest note of 122 (2 per pitch) peaked at 4.4x the median, and 10 of 4,488 more
# notes passed it (clipped at the gain that kept the 122 under 0.9); 8 per pitch (488
# notes) reach further into that tail for ~30 s more at export; at 560k the loudest
# of 976 notes (16 per pitch) peaked 19 % above the loudest of 488, and the gain
# measured on those 488 let 1 of 4,000 more notes clip: 16 per pitch (~1 min)
LEVEL_LATENTS = 16


def export_run(
    run_dir: str | Path,
    out: str | Path,
    which: str = "latest",
    level_latents: int = LEVEL_LATENTS,
) -> tuple[str, dict[str, Any]]:
    """Write the EMA generator of ``run_dir``'s checkpoint ``which`` to ``out``.

    Parameters
    ----------
    run_dir : path
        A training run folder (``latest.pt``, ``best.pt``...).
    out : path
        The ``.safetensors`` bundle to write.
    which : str
        ``latest``, ``best`` or the path of a checkpoint file.
    level_latents : int
        Random latents per pitch the output gain is measured on (0: no gain stored,
        the notes play at the generator's own level).

    Returns
    -------
    model_id : str
        The bundle's content hash.
    info : dict
        The training facts stored in the bundle.
    """
    run_dir = Path(run_dir)
    if which in ("latest", "best") and not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    if which in ("latest", "best"):
        state = CheckpointManager(run_dir).load(which)
    else:
        state = load_checkpoint(which)
    try:
        cfg = ModelConfig.from_dict(state["model_config"])
        weights = {k: v.float().contiguous() for k, v in state["G_ema"].items()}
        train_config = state["train_config"]
        info = {
            "images": int(state["images"]),
            "hours": round(float(state["elapsed_s"]) / 3600.0, 4),
            "dataset": str(state.get("dataset", "")),
            "notes": int(state.get("num_notes", 0)),
            "train_config": train_config,
            "checkpoint": which,
            "best_metric": state.get("best_metric"),
        }
        progress = _progress(train_config, state)
        if progress < cfg.num_resolutions - 1:  # mid-growing: render as it trained
            info["progress"] = progress
    except (KeyError, AttributeError, TypeError) as err:
        raise ValueError(f"{run_dir}: the checkpoint lacks the field {err}") from err
    if level_latents > 0:
        info.update(_measure_level(cfg, weights, info, level_latents))
    model_id = save_bundle(out, cfg, weights, info)
    return model_id, info


def _measure_level(
    cfg: ModelConfig, weights: dict[str, Any], info: dict[str, Any], latents: int
) -> dict[str, Any]:
    """The ``output_gain`` facts of the generator about to be exported."""
    from instrument.bundle import Bundle, model_id_of
    from instrument.level import measure_output_level
    from instrument.synth import Synth

    bundle = Bundle(cfg, weights, model_id_of(cfg, weights), dict(info), Path("-"))
    synth = Synth(bundle, output_rate=cfg.spectral.sample_rate, device="cpu")
    return measure_output_level(synth, latents_per_pitch=latents).as_info()


def _progress(train_config: dict[str, Any], state: dict[str, Any]) -> float:
    """Progressive-growing progress the checkpoint was trained to."""
    from trainer.config import TrainConfig
    from trainer.schedule import Schedule

    schedule = Schedule.from_config(TrainConfig.from_dict(train_config))
    return float(schedule.progress(int(state["images"]), float(state["elapsed_s"])))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, help="training run folder")
    parser.add_argument("--out", type=Path, required=True, help="bundle to write")
    parser.add_argument(
        "--checkpoint",
        default="latest",
        help="latest (default), best, or a checkpoint file",
    )
    parser.add_argument(
        "--level-latents",
        type=int,
        default=LEVEL_LATENTS,
        help=f"random latents per pitch the output gain is measured on (0: none; "
        f"default {LEVEL_LATENTS})",
    )


def run(args: argparse.Namespace) -> int:
    if args.level_latents < 0:
        raise ValueError("--level-latents must be 0 or more")
    model_id, info = export_run(
        args.run, args.out, args.checkpoint, level_latents=args.level_latents
    )
    gain = info.get("output_gain")
    level = "" if gain is None else f", output gain {gain:.3g}"
    print(
        f"wrote {args.out}: model {model_id}, {info['images']:,} images, "
        f"{info['hours']:.2f} h, config {info['train_config']['name']}{level}"
    )
    return 0
