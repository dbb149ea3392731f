"""``python -m trainer eval --model PATH --data DIR``: how good is a trained model?

Renders ``--notes-per-pitch`` random latents at every pitch of the model (the same
latents at every pitch), and reports, against the dataset's training split:

- pitch accuracy (strict and pitch class, +-50 cents) and pitch entropy by torchcrepe,
  with the same accuracy on real training notes (a sample of them, the same length)
  as the reference the model is compared with;
- NDB (k-means, k = 50, on pooled log-mel spectrograms of the training notes);
- timbre diversity of generated notes against real ones;
- counts of generated notes that are NaN, clip or are silent, and the same over
  ``--health-latents`` more random latents (1,000 by default, each at 4 pitches spread
  over the range);
- pad contrast: the spectral distance between the four corners of a pad (``--preset``,
  by default the model's factory ``Four Families`` pad, else 4 random latents) against
  the spread within one corner (positions 0.05 of the pad away).

Human-readable lines go to stdout; ``--json`` adds one JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "configure",
    "run",
    "evaluate",
    "real_reference",
    "format_report",
    "jsonable",
]


def real_reference(
    data_dir: Path, features: Any, per_pitch: int, seed: int, roundtrip: bool = False
) -> dict[str, Any]:
    """Pitch accuracy of real training notes: up to ``per_pitch`` notes per pitch.

    The audio is read from the dataset and cut to the model's note length, as the
    generated notes are. With ``roundtrip``, the same notes are also judged after the
    IF-Mel round trip (their cached images inverted to audio): the ceiling a perfect
    generator of this representation could reach (keys ``roundtrip_*``).
    """
    from trainer.dataset import BadAudio, crop_or_pad, list_examples, load_audio
    from trainer.metrics import pitch_accuracy, spectral_by_octave
    from trainer.pitch import estimate_pitch

    spectral = features.spectral
    rng = np.random.default_rng(seed)
    pitches = np.asarray(features.pitches)
    chosen: list[int] = []
    for pitch in np.unique(pitches):
        idx = np.flatnonzero(pitches == pitch)
        chosen += rng.choice(idx, min(per_pitch, len(idx)), replace=False).tolist()
    refs = {r.note_str: r for r in list_examples(data_dir)}
    waves, targets, used = [], [], []
    for i in chosen:
        try:
            audio = load_audio(refs[features.note_strs[i]])
        except (KeyError, BadAudio):
            continue
        waves.append(crop_or_pad(audio, spectral.audio_length))
        targets.append(int(pitches[i]))
        used.append(i)
    if not waves:
        raise ValueError(f"no real note of {data_dir} could be read for the reference")
    hold = min(3.0, spectral.duration_s)
    est, _ = estimate_pitch(np.stack(waves), spectral.sample_rate, hold_s=hold)
    acc = pitch_accuracy(est, np.asarray(targets))
    profile = spectral_by_octave(np.stack(waves), np.asarray(targets), spectral)
    result = {"notes": len(waves), **acc, "spectral_by_octave": profile}
    if roundtrip:
        import torch

        from instrument.spectral import images_to_waves

        inverted = []
        with torch.inference_mode():
            for s in range(0, len(used), 16):
                images = np.asarray(features.images[used[s : s + 16]], np.float32)
                inverted.append(images_to_waves(torch.from_numpy(images), spectral))
        rt = torch.cat(inverted).numpy()
        est_rt, _ = estimate_pitch(rt, spectral.sample_rate, hold_s=hold)
        for key, value in pitch_accuracy(est_rt, np.asarray(targets)).items():
            result[f"roundtrip_{key}"] = value
    return result


def evaluate(
    model_path: Path,
    data_dir: Path,
    notes_per_pitch: int = 16,
    real_per_pitch: int = 16,
    k: int = 50,
    seed: int = 0,
    pitches: list[int] | None = None,
    roundtrip: bool = False,
    health_latents: int = 1000,
    health_per_latent: int = 4,
    preset: str | None = None,
) -> dict[str, Any]:
    """The whole evaluation as one dict (see ``trainer.metrics.evaluate_generator``).

    ``pitches`` limits the generated pitches (default: all of the model's).
    ``health_latents`` (0: skip) random latents at ``health_per_latent`` pitches each
    are checked for NaN, clipping and silence; ``preset`` names the pad whose corner
    contrast is measured (default: the factory default pad, else random corners).
    """
    from instrument.synth import Synth
    from trainer.features import load_features
    from trainer.metrics import evaluate_generator, health_sweep, pad_contrast

    if notes_per_pitch < 1 or real_per_pitch < 1:
        raise ValueError("--notes-per-pitch and --real-per-pitch must be at least 1")
    synth = Synth.load(model_path, output_rate=16000, device="cpu", precision="fp32")
    corners, pad_name = _pad_corners(synth, preset, seed)  # a bad --preset fails first
    cfg = synth.config
    features = load_features(
        data_dir, cfg.spectral, "train", pitch_range=(cfg.pitch_min, cfg.pitch_max)
    )
    if pitches is not None:
        lo, hi = cfg.pitch_min, cfg.pitch_max
        if not pitches or any(not lo <= p <= hi for p in pitches):
            raise ValueError(f"--pitches must lie in the model's range {lo}-{hi}")
    result = evaluate_generator(
        synth, features, notes_per_pitch, pitches=pitches, seed=seed, k=k
    )
    reference = real_reference(data_dir, features, real_per_pitch, seed, roundtrip)
    sweep = {}
    if health_latents > 0:
        sweep = health_sweep(synth, health_latents, health_per_latent, seed + 1)
    lo, hi = synth.pitch_range
    contrast_pitches = sorted({min(max(p, lo), hi) for p in (36, 48, 60, 72)})
    contrast = pad_contrast(synth, corners, contrast_pitches)
    return {
        "model": str(model_path),
        "model_id": synth.model_id,
        "config": cfg.name,
        "data": str(data_dir),
        "train_notes": len(features),
        "notes_per_pitch": notes_per_pitch,
        **result,
        "real_notes": reference["notes"],
        "real_pitch_accuracy": reference["strict"],
        "real_pitch_class_accuracy": reference["pitch_class"],
        "real_voiced": reference["voiced"],
        "real_spectral_by_octave": reference["spectral_by_octave"],
        **{f"real_{k}": v for k, v in reference.items() if k.startswith("roundtrip_")},
        **{f"sweep_{k}": v for k, v in sweep.items()},
        "pad": pad_name,
        **{f"pad_{k}": v for k, v in contrast.items()},
        "info": synth.bundle.info,
    }


def _pad_corners(synth: Any, preset: str | None, seed: int) -> tuple[np.ndarray, str]:
    """The corners whose contrast is measured, and what they are called."""
    from engine.presets import PresetError, load_preset, startup_preset
    from instrument.latent import random_latents

    if preset is not None:
        try:
            p = load_preset(preset, synth.model_id)
        except PresetError as err:
            raise ValueError(str(err)) from None
        return p.corners, p.name
    default = startup_preset(synth.model_id)
    if default is not None:
        return default.corners, default.name
    return random_latents(4, synth.latent_size, seed + 2), f"random (seed {seed + 2})"


def _pct(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.1f} %"


def _spectral_lines(r: dict[str, Any]) -> list[str]:
    from trainer.metrics import SPECTRAL_KEYS

    gen, real = r.get("spectral_by_octave"), r.get("real_spectral_by_octave", {})
    if not gen:
        return []
    lines = [
        "where the held power sits, by octave, generated (real): on the harmonics "
        "/ on the fundamental (of that) / above 6 f0 / near the harmonics "
        "(by how near) / on the odd harmonics (of those on the harmonics) / in the "
        "last eighth of the note / on the harmonics late in the note / on the "
        "first two harmonics late in the note"
    ]
    for name, g in gen.items():
        rr = real.get(name, {})
        lines.append(
            f"  {name}: "
            + " / ".join(
                f"{g[key]:.2f}" + (f" ({rr[key]:.2f})" if key in rr else "")
                for key in SPECTRAL_KEYS
            )
        )
    return lines


def format_report(r: dict[str, Any]) -> list[str]:
    """Human-readable lines of an ``evaluate`` result."""
    gap = r["pitch_accuracy"] - r["real_pitch_accuracy"]
    pitches = r["notes"] // max(1, r["notes_per_pitch"])
    return [
        f"model {r['model']} ({r['config']}, id {r['model_id']})",
        f"data {r['data']}: {r['train_notes']} training notes",
        f"generated: {r['notes']} notes ({r['notes_per_pitch']} latents x "
        f"{pitches} pitches) in {r['seconds']:.0f} s",
        f"pitch accuracy (+-50 cents): strict {_pct(r['pitch_accuracy'])}, "
        f"pitch class {_pct(r['pitch_class_accuracy'])}, voiced {_pct(r['voiced'])}, "
        f"median error {r['median_abs_cents']:.0f} cents",
        *(
            [
                "by octave (strict / pitch class): "
                + ", ".join(
                    f"{name} {100 * o['strict']:.0f}/{100 * o['pitch_class']:.0f} %"
                    for name, o in r["by_octave"].items()
                )
            ]
            if r.get("by_octave")
            else []
        ),
        *(
            [
                "keys off for most latents (strict; share of their notes off): "
                + (
                    ", ".join(
                        f"{pitch} ({100 * share:.0f} %)"
                        for pitch, share in r["keys_off"].items()
                    )
                    or "none"
                )
            ]
            if "keys_off" in r
            else []
        ),
        f"real training notes ({r['real_notes']}): strict "
        f"{_pct(r['real_pitch_accuracy'])}, pitch class "
        f"{_pct(r['real_pitch_class_accuracy'])}; generated - real strict = "
        f"{100 * gap:+.1f} points",
        *(
            [
                f"real notes after the IF-Mel round trip: strict "
                f"{_pct(r['real_roundtrip_strict'])}, pitch class "
                f"{_pct(r['real_roundtrip_pitch_class'])}"
            ]
            if "real_roundtrip_strict" in r
            else []
        ),
        *_spectral_lines(r),
        f"pitch entropy: {r['pitch_entropy']:.3f} nats",
        f"NDB: {r['ndb']} of {r['ndb_k']} bins differ (alpha 0.05), "
        f"{r['ndb_fraction']:.2f}",
        f"timbre diversity: {r['diversity']:.3f} generated vs {r['real_diversity']:.3f}"
        f" real (ratio {r['diversity_ratio']:.2f})",
        f"health: {r['nan']} NaN, {r['clipped']} clipped, {r['silent']} silent "
        f"of {r['notes']}",
        *(
            [
                f"health over {r['sweep_latents']} more random latents "
                f"({r['sweep_notes']} notes): {r['sweep_nan']} NaN, "
                f"{r['sweep_clipped']} clipped, {r['sweep_silent']} silent"
            ]
            if "sweep_notes" in r
            else []
        ),
        f"pad contrast ({r['pad']}): distance between corners {r['pad_between']:.3f}, "
        f"within a corner (pad radius {r['pad_radius']}) {r['pad_within']:.3f}, "
        f"ratio {r['pad_ratio']:.1f}",
    ]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="model bundle")
    parser.add_argument("--data", type=Path, required=True, help="dataset folder")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument(
        "--notes-per-pitch", type=int, default=16, help="random latents per pitch"
    )
    parser.add_argument(
        "--real-per-pitch", type=int, default=16, help="real notes per pitch"
    )
    parser.add_argument("--k", type=int, default=50, help="NDB bins")
    parser.add_argument("--seed", type=int, default=0, help="latent seed")
    parser.add_argument(
        "--roundtrip",
        action="store_true",
        help="also judge the real notes after the IF-Mel round trip (the ceiling)",
    )
    parser.add_argument(
        "--pitches", default=None, help="only these pitches, e.g. 36,60 (default: all)"
    )
    parser.add_argument(
        "--health-latents",
        type=int,
        default=1000,
        help="more random latents checked for NaN, clipping, silence (0: skip)",
    )
    parser.add_argument(
        "--health-per-latent",
        type=int,
        default=4,
        help="pitches per health latent, spread over the range (61: all)",
    )
    parser.add_argument(
        "--preset",
        default=None,
        help="pad whose corner contrast is measured (default: the factory pad)",
    )


def jsonable(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return jsonable(x.item())
    return x


def run(args: argparse.Namespace) -> int:
    pitches = None
    if args.pitches:
        from trainer.build_dataset import parse_int_list

        pitches = parse_int_list(args.pitches, 0, 127, "--pitches")
    result = evaluate(
        args.model,
        args.data,
        args.notes_per_pitch,
        args.real_per_pitch,
        args.k,
        args.seed,
        pitches,
        args.roundtrip,
        args.health_latents,
        args.health_per_latent,
        args.preset,
    )
    for line in format_report(result):
        print(line)
    if args.json:
        print(json.dumps(jsonable(result), sort_keys=True))
    sys.stdout.flush()
    return 0
