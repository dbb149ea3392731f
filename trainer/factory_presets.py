"""``python -m trainer make-presets``: factory presets found in a model's latent space.

For each named target (a GM program of the training set, e.g. "Violin" = program 40) the
latent whose notes come closest to that instrument's real notes is found in two steps:

1. **Search.** ``--candidates`` random latents are rendered at a few pitches (36, 48,
   60, 72 by default) and scored against the instrument's real notes at the same
   pitches (velocity nearest 100): the distance is the RMS difference of pooled
   log-mel spectrograms (``trainer.metrics.log_spectrogram_features``, the features of
   NDB and timbre diversity), averaged over the pitches.
2. **Optimisation.** The best ``--starts`` candidates are refined by gradient descent on
   the latent through the generator (Adam on the same distance, the latent projected
   back onto the prior's shell, norm sqrt(latent_size), after every step, so pad
   morphs between presets stay where the generator was trained).

A latent whose notes (every pitch of the model) are not all healthy (finite, not
clipped, not silent) is passed over for the next start (up to 4 x ``--starts``; if none
is healthy, the one with the fewest bad notes is kept with a warning; a target left
with more than ``--max-unhealthy`` bad notes gets no preset, and so does one whose
notes sound nearer ``--max-rank`` or more other real instruments than its own). Each
target kept becomes a preset: its latent in the top-left corner (the pad's position)
and the three kept targets that sound nearest to it in the other corners, so the pad
morphs into related timbres.
The first four targets (one per family: keys, bowed strings, brass, winds) also make
``engine.presets.DEFAULT_PRESET``, the pad the instrument starts with for this model.

The report says, for each target, which real training instrument its notes are nearest
to (rank of the target among all instruments of the set) and how that distance
compares with the nearest *other* real instrument's. Presets carry the model's id:
re-run this after exporting a new model (``tools/train_default.sh --save`` does).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.metrics import pooled

__all__ = [
    "Target",
    "TARGETS",
    "PITCHES",
    "LatentSearch",
    "real_notes",
    "make_presets",
    "configure",
    "run",
]

PITCHES = (36, 48, 60, 72)


@dataclass(frozen=True, slots=True)
class Target:
    """A named timbre to look for: a GM program of the training set."""

    name: str  # the preset's name
    program: int  # GM program (0-based) of the training instrument it imitates
    release: float = 0.3  # the preset's envelope release in seconds

    def __post_init__(self) -> None:
        if not 0 <= self.program <= 127:
            raise ValueError(f"GM program must be 0-127, got {self.program}")
        if not 0.0 <= self.release <= 30.0:
            raise ValueError(f"release must be 0-30 seconds, got {self.release}")


# The first four (one per family) are the corners of the default pad.
TARGETS: tuple[Target, ...] = (
    Target("Grand Piano", 0, 0.6),
    Target("String Ensemble", 48, 0.8),
    Target("Trumpet", 56, 0.25),
    Target("Flute", 73, 0.3),
    Target("Harpsichord", 6, 0.4),
    Target("Marimba", 12, 0.5),
    Target("Nylon Guitar", 24, 0.6),
    Target("Upright Bass", 32, 0.4),
    Target("Violin", 40, 0.5),
    Target("Pizzicato Strings", 45, 0.4),
    Target("French Horn", 60, 0.4),
    Target("Tenor Sax", 66, 0.25),
    Target("Clarinet", 71, 0.25),
    Target("Pan Flute", 75, 0.4),
)


def _rms(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """RMS difference over the last axis, averaged over pitches (axis -2)."""
    return ((a - b) ** 2).mean(dim=-1).sqrt().mean(dim=-1)


def real_notes(
    features: Any, program: int, pitches: Sequence[int], velocity: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """One real note of ``program`` per pitch: ``(pitches [P], features [P, D])``.

    Per pitch, the note at that pitch (else the nearest pitch the instrument has) whose
    velocity is nearest ``velocity``. ``features`` is a ``trainer.features.Features``.
    """
    from trainer.gm import instrument_str
    from trainer.metrics import log_spectrogram_features

    name = instrument_str(program)
    idx = np.array([i for i, s in enumerate(features.instruments) if s == name])
    if idx.size == 0:
        raise ValueError(f"the data set has no notes of GM program {program} ({name})")
    have = np.asarray(features.pitches)[idx].astype(int)
    vel = np.asarray(features.velocities)[idx].astype(int)
    chosen, used = [], []
    for p in pitches:
        nearest = have[np.argmin(np.abs(have - p))]
        if int(nearest) in used:
            continue
        at = np.flatnonzero(have == nearest)
        chosen.append(int(idx[at[np.argmin(np.abs(vel[at] - velocity))]]))
        used.append(int(nearest))
    feats = log_spectrogram_features(features.images[np.asarray(chosen)])
    return np.asarray(used, np.int64), feats


class LatentSearch:
    """Scores latents against target features through a generator, and refines them.

    Parameters
    ----------
    generator : instrument.networks.Generator
        Any precision; run in float32 on its device.
    progress : float or None
        The progressive-growing progress the model renders at (a bundle's).
    batch : int
        Notes per generator call while searching.
    """

    def __init__(self, generator: Any, progress: float | None, batch: int = 16):
        self.generator = generator.float().eval()
        self.progress = progress
        self.batch = int(batch)
        self.cfg = generator.cfg
        self.device = next(generator.parameters()).device

    @property
    def shell(self) -> float:
        """The prior's typical latent norm, sqrt(latent_size)."""
        return math.sqrt(self.cfg.latent_size)

    def _labels(self, pitches: np.ndarray) -> torch.Tensor:
        p = torch.as_tensor(np.asarray(pitches, np.int64) - self.cfg.pitch_min)
        return p.to(self.device)

    def features(self, z: np.ndarray, pitches: Sequence[int]) -> np.ndarray:
        """``[N, P, D]`` pooled features of latents ``[N, d]`` at each pitch."""
        z = np.asarray(z, np.float32)
        p = np.asarray(pitches, np.int64)
        zz = np.repeat(z, len(p), axis=0)
        pp = np.tile(p, len(z))
        out = []
        with torch.inference_mode():
            for s in range(0, len(zz), self.batch):
                zt = torch.from_numpy(zz[s : s + self.batch]).to(self.device)
                images = self.generator(
                    zt, self._labels(pp[s : s + self.batch]), self.progress
                )
                out.append(pooled(images).cpu().numpy())
        return np.concatenate(out).reshape(len(z), len(p), -1)

    @staticmethod
    def distance(feats: np.ndarray, target: np.ndarray) -> np.ndarray:
        """``[N]`` distances of ``[N, P, D]`` features to a ``[P, D]`` target."""
        return _rms(torch.from_numpy(feats), torch.from_numpy(target)[None]).numpy()

    def refine(
        self,
        z0: np.ndarray,
        pitches: Sequence[int],
        target: np.ndarray,
        steps: int = 60,
        lr: float = 0.03,
    ) -> tuple[np.ndarray, float]:
        """Gradient descent from ``z0`` ``[d]``; the best latent on the shell and its
        distance (never worse than ``z0`` projected to the shell)."""
        labels = self._labels(np.asarray(pitches))
        goal = torch.as_tensor(np.asarray(target, np.float32), device=self.device)
        z = torch.tensor(np.asarray(z0, np.float32)[None], device=self.device)
        with torch.no_grad():
            z *= self.shell / z.norm()
        z.requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        best_z, best = z.detach().clone(), math.inf
        with torch.enable_grad():
            for step in range(steps + 1):
                images = self.generator(
                    z.expand(len(labels), -1), labels, self.progress
                )
                dist = _rms(pooled(images), goal)
                if float(dist.detach()) < best:
                    best, best_z = float(dist.detach()), z.detach().clone()
                if step == steps:
                    break
                opt.zero_grad(set_to_none=True)
                dist.backward()
                opt.step()
                with torch.no_grad():
                    z *= self.shell / z.norm()
        return best_z[0].cpu().numpy().astype(np.float32), best


def _unhealthy(synth: Any, z: np.ndarray, pitches: Sequence[int]) -> int:
    """How many of ``pitches`` at ``z`` are NaN, clipped or silent."""
    from trainer.metrics import audio_health

    pitches = np.asarray(pitches, np.int64)
    waves = synth.render(np.repeat(z[None], len(pitches), 0), pitches)
    h = audio_health(waves)
    return h["nan"] + h["clipped"] + h["silent"]


def make_presets(
    model_path: Path,
    data_dir: Path,
    out_dir: Path,
    targets: Sequence[Target] = TARGETS,
    pitches: Sequence[int] = PITCHES,
    candidates: int = 512,
    starts: int = 2,
    steps: int = 60,
    seed: int = 0,
    health_pitches: Sequence[int] | None = None,
    max_unhealthy: int = 3,
    max_rank: int = 2,
    log: Any = print,
) -> dict[str, Any]:
    """Find each target's latent, write the presets to ``out_dir``; a report dict.

    ``health_pitches``: where a latent's notes must be healthy (default: every pitch
    of the model); a target whose best latent has more than ``max_unhealthy``
    unhealthy notes there, or whose instrument is not among the ``max_rank``
    instruments its notes are nearest to, gets no preset (``kept_targets``). The
    default pad takes the first four targets that have one."""
    from engine.engine import EngineSettings
    from engine.presets import DEFAULT_PRESET, Preset, save_preset
    from instrument.latent import random_latents
    from instrument.synth import Synth
    from trainer.features import load_features
    from trainer.gm import GM_PROGRAMS

    if len(targets) < 4:
        raise ValueError("make-presets needs at least 4 targets (the default pad)")
    if len({t.name for t in targets}) != len(targets):
        raise ValueError("target names must be different")
    if max_rank < 1:
        raise ValueError(f"--max-rank must be >= 1, got {max_rank}")
    if candidates < 1 or starts < 1 or steps < 0:
        raise ValueError("--candidates and --starts must be >= 1, --steps >= 0")
    start_time = time.perf_counter()
    synth = Synth.load(model_path, output_rate=16000, device="cpu", precision="fp32")
    cfg = synth.config
    lo, hi = synth.pitch_range
    pitches = sorted({min(max(int(p), lo), hi) for p in pitches})
    if health_pitches is None:
        health_pitches = range(lo, hi + 1)
    if any(not lo <= p <= hi for p in health_pitches):
        raise ValueError(f"--health-pitches must lie in the model's range {lo}-{hi}")
    features = load_features(
        data_dir, cfg.spectral, "all", pitch_range=(lo, hi), progress=False
    )
    search = LatentSearch(synth.generator, synth.progress)
    programs = sorted({int(s.rsplit("_", 1)[1]) for s in features.instruments})
    reals = {prog: real_notes(features, prog, pitches) for prog in programs}
    for t in targets:
        if t.program not in reals:
            raise ValueError(
                f"target {t.name!r}: the data set has no notes of GM program "
                f"{t.program}"
            )
    pool = random_latents(candidates, cfg.latent_size, seed)
    union = sorted({int(p) for r in reals.values() for p in r[0]})
    pool_feats = search.features(pool, union)  # [N, U, D]
    col = {p: i for i, p in enumerate(union)}

    found: dict[str, dict[str, Any]] = {}
    for t in targets:
        t_pitches, t_feats = reals[t.program]
        cols = [col[int(p)] for p in t_pitches]
        dists = search.distance(pool_feats[:, cols], t_feats)
        order = np.argsort(dists)
        best_random = float(dists[order[0]])
        tried: list[tuple[int, float, np.ndarray]] = []  # (bad notes, distance, z)
        for rank in order[: starts * 4]:
            z, d = search.refine(pool[rank], t_pitches, t_feats, steps)
            tried.append((_unhealthy(synth, z, health_pitches), d, z))
            if sum(bad == 0 for bad, _, _ in tried) >= starts:
                break
        bad, d, z = min(tried, key=lambda r: (r[0], r[1]))
        if bad:
            log(
                f"{t.name}: warning: the best latent found has {bad} unhealthy "
                "(silent or clipped) notes"
            )
        gen = search.features(z[None], t_pitches)[0]
        ranking = sorted(
            programs,
            key=lambda prog: _nearest_distance(gen, t_pitches, reals[prog]),
        )
        others = [
            _real_distance(reals[t.program], reals[prog])
            for prog in programs
            if prog != t.program
        ]
        nearest = ranking[0]
        found[t.name] = {
            "program": t.program,
            "instrument": GM_PROGRAMS[t.program][0],
            "latent": z,
            "pitches": [int(p) for p in t_pitches],
            "best_random": best_random,
            "distance": d,
            "nearest_program": nearest,
            "nearest_instrument": GM_PROGRAMS[nearest][0],
            "rank": ranking.index(t.program) + 1,
            "instruments": len(programs),
            "nearest_other_real": float(min(others)) if others else math.nan,
            "unhealthy_notes": bad,
        }
        f = found[t.name]
        log(
            f"{t.name}: distance {d:.3f} (best of {candidates} random "
            f"{best_random:.3f}); nearest real instrument {f['nearest_instrument']} "
            f"(target rank {f['rank']} of {f['instruments']}); nearest other real "
            f"instrument to it {f['nearest_other_real']:.3f}"
        )

    kept = kept_targets(targets, found, max_unhealthy, max_rank, out_dir, log)
    # corners: each target with the three that sound nearest to it
    names = [t.name for t in kept]
    sounds = {n: search.features(found[n]["latent"][None], pitches)[0] for n in names}
    written = []
    for t in kept:
        near = sorted(
            (n for n in names if n != t.name),
            key=lambda n: float(search.distance(sounds[t.name][None], sounds[n])[0]),
        )[:3]
        corners = np.stack([found[n]["latent"] for n in [t.name, *near]])
        preset = Preset.create(
            t.name,
            synth.model_id,
            corners,
            (0.0, 0.0),
            EngineSettings(release=t.release),
            [t.name, *near],
        )
        written.append(save_preset(preset, out_dir))
        found[t.name]["corners"] = [t.name, *near]
    four = names[:4]
    default = Preset.create(
        DEFAULT_PRESET,
        synth.model_id,
        np.stack([found[n]["latent"] for n in four]),
        (0.0, 0.0),
        EngineSettings(release=kept[0].release),
        four,
    )
    written.append(save_preset(default, out_dir))
    log(f"{DEFAULT_PRESET}: corners {', '.join(four)}")
    return {
        "model": str(model_path),
        "model_id": synth.model_id,
        "data": str(data_dir),
        "candidates": candidates,
        "starts": starts,
        "steps": steps,
        "pitches": pitches,
        "targets": {
            n: {k: v for k, v in f.items() if k != "latent"} for n, f in found.items()
        },
        "default_corners": four,
        "written": [str(p) for p in written],
        "seconds": time.perf_counter() - start_time,
    }


def kept_targets(
    targets: Sequence[Target],
    found: dict[str, dict[str, Any]],
    max_unhealthy: int,
    max_rank: int,
    out_dir: Path,
    log: Any = print,
) -> list[Target]:
    """The targets worth a preset, in order; a left-out target's old preset file in
    ``out_dir`` (made for an earlier model) is removed.

    A timbre with more than ``max_unhealthy`` silent or clipped notes is not worth
    one, and neither is a name the timbre does not sound like: its notes nearer
    ``max_rank`` or more other real instruments than its own. Why: at 750k images
    the latent found for Tenor Sax sounded nearest String Ensemble 1 and the one for
    Harpsichord nearest Cello; their names, also shown on the other presets' corners,
    would mislead (docs/MODEL.md)."""
    from engine.presets import delete_preset

    kept: list[Target] = []
    for t in targets:
        f = found[t.name]
        if f["unhealthy_notes"] > max_unhealthy:
            why = f"{f['unhealthy_notes']} unhealthy notes, more than {max_unhealthy}"
        elif f["rank"] > max_rank:
            why = (
                f"its notes sound nearest {f['nearest_instrument']}; its own "
                f"instrument ranks {f['rank']}, below the first {max_rank}"
            )
        else:
            kept.append(t)
            continue
        log(f"{t.name}: left out ({why})")
        if (out_dir / f"{t.name}.json").is_file():
            delete_preset(t.name, out_dir)
            log(f"{t.name}: removed its old preset from {out_dir}")
    if len(kept) < 4:
        raise ValueError(
            f"only {len(kept)} targets have at most {max_unhealthy} unhealthy notes "
            f"and their instrument in the nearest {max_rank}; the default pad needs "
            "4 (train the model longer, or raise --max-unhealthy or --max-rank)"
        )
    return kept


def _nearest_distance(
    gen: np.ndarray, gen_pitches: np.ndarray, real: tuple[np.ndarray, np.ndarray]
) -> float:
    """Distance of generated features ``[P, D]`` to a real instrument's notes at the
    same pitches (its nearest pitches where it lacks one)."""
    r_pitches, r_feats = real
    rows = [int(np.argmin(np.abs(r_pitches - p))) for p in gen_pitches]
    return float(LatentSearch.distance(gen[None], r_feats[rows])[0])


def _real_distance(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
) -> float:
    """Distance between two real instruments' notes at ``a``'s pitches."""
    return _nearest_distance(a[1], a[0], b)


def parse_targets(text: str) -> list[Target]:
    """``"Name=program[:release],..."`` -> targets (one sentence on a bad entry)."""
    out = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        name, sep, rest = item.partition("=")
        program, _, release = rest.partition(":")
        try:
            if not sep or not name.strip():
                raise ValueError
            target = Target(name.strip(), int(program), float(release or 0.3))
        except ValueError:
            raise ValueError(
                f"--targets entry {item!r} must look like Name=program[:release], "
                "e.g. Violin=40:0.5"
            ) from None
        out.append(target)
    return out


def configure(parser: argparse.ArgumentParser) -> None:
    from engine.presets import FACTORY_DIR

    parser.add_argument("--model", type=Path, required=True, help="model bundle")
    parser.add_argument("--data", type=Path, required=True, help="its data set")
    parser.add_argument(
        "--out", type=Path, default=FACTORY_DIR, help="preset folder (factory presets)"
    )
    parser.add_argument(
        "--targets",
        default=None,
        help="Name=program[:release],... (default: 14 GM instruments; the first "
        "four make the default pad)",
    )
    parser.add_argument(
        "--pitches", default=",".join(map(str, PITCHES)), help="pitches compared"
    )
    parser.add_argument("--candidates", type=int, default=512, help="random latents")
    parser.add_argument("--starts", type=int, default=2, help="candidates refined")
    parser.add_argument("--steps", type=int, default=60, help="refinement steps")
    parser.add_argument("--seed", type=int, default=0, help="candidate seed")
    parser.add_argument(
        "--health-pitches",
        default=None,
        help="pitches whose notes must be healthy (default: all of the model's)",
    )
    parser.add_argument(
        "--max-unhealthy",
        type=int,
        default=3,
        help="leave out a timbre with more silent or clipped notes than this",
    )
    parser.add_argument(
        "--max-rank",
        type=int,
        default=2,
        help="leave out a timbre whose own instrument is not among this many "
        "real instruments nearest its notes (1: only the nearest)",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line")


def run(args: argparse.Namespace) -> int:
    from trainer.build_dataset import parse_int_list

    targets = parse_targets(args.targets) if args.targets else list(TARGETS)
    pitches = parse_int_list(args.pitches, 0, 127, "--pitches")
    health = None
    if args.health_pitches:
        health = parse_int_list(args.health_pitches, 0, 127, "--health-pitches")
    report = make_presets(
        args.model,
        args.data,
        args.out,
        targets,
        pitches,
        args.candidates,
        args.starts,
        args.steps,
        args.seed,
        health,
        args.max_unhealthy,
        args.max_rank,
    )
    print(
        f"wrote {len(report['written'])} presets to {args.out} "
        f"in {report['seconds']:.0f} s"
    )
    if args.json:
        from trainer.evaluate import jsonable

        print(json.dumps(jsonable(report), sort_keys=True))
    sys.stdout.flush()
    return 0
