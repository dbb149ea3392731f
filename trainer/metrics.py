"""Quality metrics of generated notes: pitch accuracy, pitch entropy, NDB, diversity.

Pure functions over arrays, plus ``evaluate_generator`` which renders notes from a
``Synth`` or a ``Generator`` and applies them (used by ``python -m trainer eval`` and by
the training loop's snapshot evaluation).

- **Pitch accuracy** (GANSynth's PA, judged here by torchcrepe instead of the unreleased
  NSynth pitch classifier): the fraction of notes whose estimated pitch is within
  +-50 cents of the conditioning pitch (``strict``), and within +-50 cents ignoring
  the octave (``pitch_class``). A note with no voiced frame counts as wrong.
- **Pitch entropy** (the paper's PE is the mean entropy of a pitch classifier's output):
  here the entropy, in nats, of the histogram of the frame-wise pitch (rounded to
  semitones) over a note's held frames, averaged over notes. A steady tone gives 0; a
  pitch that wanders or a noise gives more.
- **NDB** (Richardson & Weiss 2018, GANSYNTH.md 6.3): k-means with k = 50 on the
  training notes' log spectrograms; every generated note goes to its nearest centre; a
  bin is statistically different when a two-proportion z-test rejects equal proportions
  at alpha = 0.05. The log spectrogram is the log-mel power channel average-pooled to
  ``[32, 64]`` (frames x mel bands).
- **Timbre diversity**: the mean RMS distance (in log-mel power units, i.e. nepers of
  power) between the pooled log spectrograms of notes that share a pitch, averaged over
  pitches. Reported for generated and real notes; their ratio is the diversity measure.
- **Health**: counts of notes with NaN/Inf, clipping (peak >= 0.999) or silence
  (peak < 1e-3, -60 dBFS).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "POOLED_SHAPE",
    "GEN_SILENT_PEAK",
    "GEN_CLIP_PEAK",
    "pitch_accuracy",
    "accuracy_by_octave",
    "keys_off",
    "spectral_by_octave",
    "SPECTRAL_KEYS",
    "note_entropies",
    "pitch_entropy",
    "pooled",
    "log_spectrogram_features",
    "real_features",
    "kmeans",
    "real_bins",
    "ndb",
    "timbre_diversity",
    "audio_health",
    "random_latents",
    "evaluate_generator",
    "health_sweep",
    "pad_contrast",
]

POOLED_SHAPE = (32, 64)  # [frames, mel bands] of the pooled log spectrogram
GEN_SILENT_PEAK = 1e-3  # a generated note below this peak (-60 dBFS) is silent
GEN_CLIP_PEAK = 0.999  # a generated note reaching this peak clips


def pitch_accuracy(
    estimated: np.ndarray, target: np.ndarray, tolerance_cents: float = 50.0
) -> dict[str, float]:
    """Fractions of notes in tune.

    Parameters
    ----------
    estimated : np.ndarray
        ``[N] float`` estimated MIDI pitch; NaN where no pitch was found.
    target : np.ndarray
        ``[N] int`` conditioning MIDI pitch.

    Returns
    -------
    dict
        ``strict`` (within the tolerance), ``pitch_class`` (within it modulo an
        octave), ``voiced`` (fraction with an estimate) and ``median_abs_cents``.
    """
    est = np.asarray(estimated, np.float64)
    tgt = np.asarray(target, np.float64)
    if est.shape != tgt.shape or est.ndim != 1:
        raise ValueError(
            f"estimated and target must be [N] alike, got {est.shape} and {tgt.shape}"
        )
    if est.size == 0:
        raise ValueError("pitch accuracy of zero notes is undefined")
    cents = 100.0 * (est - tgt)
    voiced = np.isfinite(cents)
    c = np.where(voiced, cents, np.inf)
    folded = np.full_like(c, np.inf)
    folded[voiced] = np.mod(c[voiced] + 600.0, 1200.0) - 600.0
    return {
        "strict": float(np.mean(np.abs(c) <= tolerance_cents)),
        "pitch_class": float(np.mean(np.abs(folded) <= tolerance_cents)),
        "voiced": float(np.mean(voiced)),
        "median_abs_cents": float(np.median(np.abs(cents[voiced])))
        if voiced.any()
        else math.nan,
    }


def accuracy_by_octave(
    estimated: np.ndarray, target: np.ndarray, tolerance_cents: float = 50.0
) -> dict[str, dict[str, float]]:
    """``pitch_accuracy`` per octave of the target (C to B, named by its C, e.g.
    "C2" for MIDI 36-47), plus ``octave_off``: the share of the octave's notes heard a
    whole number of octaves away (pitch class right, octave wrong).

    Why: one figure over 61 pitches hides where a model fails; a generator that
    sounds a harmonic instead of the note fails in some registers only."""
    est = np.asarray(estimated, np.float64)
    tgt = np.asarray(target, np.int64)
    out: dict[str, dict[str, float]] = {}
    for c in np.unique(tgt // 12):
        here = tgt // 12 == c
        acc = pitch_accuracy(est[here], tgt[here], tolerance_cents)
        out[f"C{c - 1}"] = {
            "notes": int(here.sum()),
            **acc,
            "octave_off": acc["pitch_class"] - acc["strict"],
        }
    return out


def keys_off(
    estimated: np.ndarray,
    target: np.ndarray,
    tolerance_cents: float = 50.0,
    most: float = 0.5,
) -> dict[int, float]:
    """The pitches (keys) whose notes are off (strict) more often than ``most``:
    ``{MIDI pitch: share of its notes off}``, lowest pitch first.

    Why: a conditional generator fails per key as much as per register: at 710k images
    the default model played MIDI 27-35, 37, 42 and 82 off for most latents (27,
    29-32, 34, 35 and 42 for every one), and MIDI 24, 25, 36 and 38 in tune for every
    one (docs/MODEL.md, session 12). A musician meets those as keys that are wrong in
    every timbre."""
    est = np.asarray(estimated, np.float64)
    tgt = np.asarray(target, np.int64)
    off = ~(np.abs(100.0 * (est - tgt)) <= tolerance_cents)  # NaN: off
    out: dict[int, float] = {}
    for pitch in np.unique(tgt):
        share = float(off[tgt == pitch].mean())
        if share > most:
            out[int(pitch)] = share
    return out


# what spectral_by_octave reports per octave, in this order
SPECTRAL_KEYS = (
    "harmonic",
    "fundamental",
    "above_6f0",
    "tuned",
    "odd",
    "last_eighth",
    "late_harmonic",
    "late_first_two",
)


def spectral_by_octave(
    waves: np.ndarray, pitches: np.ndarray, spectral: Any, batch: int = 64
) -> dict[str, dict[str, float]]:
    """Per octave of the pitch (named as in ``accuracy_by_octave``), medians over its
    notes of where their held power sits (``trainer.salience``): ``harmonic`` (share
    on the pitch's harmonics), ``fundamental`` (the first harmonic's part of that)
    ``above_6f0`` (share above 6 times the fundamental), ``tuned`` (share near the
    harmonics, by how near: ``trainer.salience.tuning_mask``), ``odd`` (the odd
    harmonics' part of the power on the harmonics), ``last_eighth``
    (the last eighth's share of the whole note's energy: 1/8 when held level) and
    ``late_harmonic`` (the share on the harmonics of a later part of the note,
    whatever its level) and ``late_first_two`` (that part's share on its first two
    harmonics: docs/MODEL.md, session 11).

    Why: a note heard an octave up has its power on harmonics 2-4, not on the
    fundamental; a whistle above a note puts it far above; both pass a harmonic
    sum. Set beside the same figures for the real notes, they say which a model
    does (docs/MODEL.md, session 7)."""
    import torch

    from trainer.salience import ENVELOPE_EDGES, AudioSalience

    p = np.asarray(pitches, np.int64)
    lo, hi = int(p.min()), int(p.max())
    sal = AudioSalience(spectral, lo, hi)
    above = ENVELOPE_EDGES.index(6.0)
    parts: list[np.ndarray] = []
    with torch.inference_mode():
        for s in range(0, len(p), batch):
            w = torch.as_tensor(np.asarray(waves[s : s + batch], np.float32))
            labels = torch.as_tensor(p[s : s + batch] - lo)
            sh = sal.shares_waves(w, labels)
            above_6f0 = sh.envelope[:, above:].sum(1)
            parts.append(
                torch.stack(  # in the order of SPECTRAL_KEYS
                    [
                        sh.harmonic,
                        sh.fundamental,
                        above_6f0,
                        sh.tuned,
                        sh.odd,
                        sh.time[:, -1],
                        sh.late,
                        sh.late_profile[:, 1:3].sum(1),
                    ],
                    1,
                ).numpy()
            )
    values = np.concatenate(parts)
    out: dict[str, dict[str, float]] = {}
    for c in np.unique(p // 12):
        med = np.median(values[p // 12 == c], 0)
        out[f"C{c - 1}"] = {
            k: float(v) for k, v in zip(SPECTRAL_KEYS, med, strict=True)
        }
    return out


def note_entropies(frame_midi: np.ndarray) -> np.ndarray:
    """``[N] float64`` entropy (nats) of each note's semitone histogram.

    ``frame_midi`` is ``[N, frames]`` float MIDI pitch per frame (NaN frames ignored;
    a note with no finite frame gets NaN).
    """
    m = np.asarray(frame_midi, np.float64)
    if m.ndim != 2:
        raise ValueError(f"frame_midi must be [notes, frames], got shape {m.shape}")
    out = np.full(len(m), np.nan)
    for i, row in enumerate(m):
        row = row[np.isfinite(row)]
        if row.size:
            _, counts = np.unique(np.round(row), return_counts=True)
            p = counts / counts.sum()
            out[i] = float(-(p * np.log(p)).sum())
    return out


def pitch_entropy(frame_midi: np.ndarray) -> float:
    """Mean over notes of ``note_entropies`` (nats); lower = steadier pitch."""
    e = note_entropies(frame_midi)
    if not np.isfinite(e).any():
        raise ValueError("pitch entropy needs at least one note with a pitch track")
    return float(np.nanmean(e))


def pooled(images: Any) -> Any:
    """``[N, 2, T, F]`` raw images (a torch tensor) -> ``[N, 32 * 64]`` pooled
    log-mel power, differentiable (the latent search descends through it)."""
    n, _, t, f = images.shape
    pt, pf = POOLED_SHAPE
    if t % pt or f % pf:
        raise ValueError(f"images of {t}x{f} do not pool to {pt}x{pf}")
    mag = images[:, 0].float()
    return mag.reshape(n, pt, t // pt, pf, f // pf).mean(dim=(2, 4)).reshape(n, -1)


def log_spectrogram_features(images: np.ndarray) -> np.ndarray:
    """Pooled log spectrograms for NDB and diversity.

    Parameters
    ----------
    images : np.ndarray
        ``[N, 2, T, F]`` RAW images (channel 0 = log-mel power); any float dtype.

    Returns
    -------
    np.ndarray
        ``[N, 32 * 64] float32``: channel 0 average-pooled to 32 frames x 64 bands.
    """
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[1] != 2:
        raise ValueError(f"images must be [N, 2, T, F], got shape {x.shape}")
    import torch

    n = x.shape[0]
    out = np.empty((n, POOLED_SHAPE[0] * POOLED_SHAPE[1]), np.float32)
    for s in range(0, n, 256):  # chunks: a memmap is never loaded whole
        chunk = torch.from_numpy(np.asarray(x[s : s + 256], np.float32))
        out[s : s + 256] = pooled(chunk).numpy()
    return out


def real_features(features: Any) -> np.ndarray:
    """``log_spectrogram_features`` of a ``Features`` split, cached beside its images.

    Pooling reads every cached image once (gigabytes for a full set), so the result is
    kept in the feature cache folder, keyed by the split's notes.
    """
    cache_dir = getattr(features, "cache_dir", None)
    if cache_dir is None:
        return log_spectrogram_features(features.images)
    import hashlib

    names = "\n".join(features.note_strs).encode()
    key = hashlib.sha256(names).hexdigest()[:16]
    path = Path(cache_dir) / f"pooled-{POOLED_SHAPE[0]}x{POOLED_SHAPE[1]}-{key}.npy"
    if path.is_file():
        try:
            cached = np.load(path)
            if cached.shape == (len(features), POOLED_SHAPE[0] * POOLED_SHAPE[1]):
                return cached
        except (OSError, ValueError):
            pass
    pooled = log_spectrogram_features(features.images)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, pooled)
    os.replace(tmp, path)
    return pooled


def real_bins(
    features: Any, real: np.ndarray, k: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``kmeans(real, k, seed)``, kept in the feature cache folder (fit once per set).

    The same bins for every snapshot of a run make their NDBs comparable, and a fit
    on a full set takes minutes on two cores.
    """
    cache_dir = getattr(features, "cache_dir", None)
    if cache_dir is None:
        return kmeans(real, k, seed)
    import hashlib

    key = hashlib.sha256("\n".join(features.note_strs).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"ndb-bins-k{k}-s{seed}-{key}.npz"
    try:
        with np.load(path) as f:
            centres, labels = f["centres"], f["labels"]
        if centres.shape == (k, real.shape[1]) and labels.shape == (len(real),):
            return centres, labels
    except (OSError, ValueError, KeyError):
        pass
    centres, labels = kmeans(real, k, seed)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, centres=centres, labels=labels)
    os.replace(tmp, path)
    return centres, labels


def _sq_dists(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans(
    x: np.ndarray, k: int, seed: int = 0, iters: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """k-means (k-means++ seeding, Lloyd iterations) on ``[N, D]`` points.

    Returns ``(centres [k, D] float64, labels [N] int64)``.
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise ValueError(f"k-means needs [N, D] points, got shape {x.shape}")
    if not 1 <= k <= len(x):
        raise ValueError(f"k-means with k={k} needs at least k points, got {len(x)}")
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    d2 = _sq_dists(x, np.array(centres))[:, 0]
    for _ in range(1, k):
        total = d2.sum()
        i = rng.choice(len(x), p=d2 / total) if total > 0 else rng.integers(len(x))
        centres.append(x[i])
        d2 = np.minimum(d2, _sq_dists(x, x[i : i + 1])[:, 0])
    c = np.array(centres)
    labels = np.full(len(x), -1)
    for _ in range(iters):
        new = _sq_dists(x, c).argmin(1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = x[labels == j]
            if len(members):
                c[j] = members.mean(0)
    return c, labels


def ndb(
    real: np.ndarray,
    fake: np.ndarray,
    k: int = 50,
    alpha: float = 0.05,
    seed: int = 0,
    bins: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Number of statistically different bins (Richardson & Weiss 2018).

    Parameters
    ----------
    real, fake : np.ndarray
        ``[N, D]`` and ``[M, D]`` features (``log_spectrogram_features``).
    k : int
        k-means bins fitted on ``real``.
    alpha : float
        Significance of the two-sided two-proportion z-test per bin.
    bins : (centres [k, D], real labels [N]), optional
        A k-means fit of ``real`` made before (``kmeans(real, k, seed)``).

    Returns
    -------
    dict
        ``ndb`` (int), ``ndb_fraction`` (ndb / k), ``k``, ``real_proportions`` and
        ``fake_proportions`` ([k] lists), ``different`` ([k] bool list).
    """
    from scipy.stats import norm

    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real and fake features must be [N, D] alike, got {real.shape}, "
            f"{fake.shape}"
        )
    if len(fake) == 0:
        raise ValueError("NDB needs at least one generated note")
    centres, real_labels = kmeans(real, k, seed) if bins is None else bins
    if centres.shape != (k, real.shape[1]) or real_labels.shape != (len(real),):
        raise ValueError(f"bins do not fit {len(real)} real notes and k={k}")
    fake_labels = _sq_dists(fake, centres).argmin(1)
    n1, n2 = len(real), len(fake)
    p1 = np.bincount(real_labels, minlength=k) / n1
    p2 = np.bincount(fake_labels, minlength=k) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p1 - p2) / se, 0.0)
    different = np.abs(z) > norm.ppf(1 - alpha / 2)
    count = int(different.sum())
    return {
        "ndb": count,
        "ndb_fraction": count / k,
        "k": k,
        "real_proportions": p1.tolist(),
        "fake_proportions": p2.tolist(),
        "different": different.tolist(),
    }


def timbre_diversity(features: np.ndarray, pitches: np.ndarray) -> float:
    """Mean pairwise RMS distance between notes of the same pitch, over pitches.

    ``features`` is ``[N, D]`` (``log_spectrogram_features``), ``pitches`` ``[N]`` int.
    Pitches with fewer than two notes are ignored.
    """
    x = np.asarray(features, np.float64)
    p = np.asarray(pitches)
    if x.ndim != 2 or p.shape != (len(x),):
        raise ValueError(
            f"need [N, D] features and [N] pitches, got {x.shape}, {p.shape}"
        )
    spreads = []
    for pitch in np.unique(p):
        g = x[p == pitch]
        if len(g) < 2:
            continue
        d = np.sqrt(_sq_dists(g, g) / x.shape[1])
        spreads.append(d[np.triu_indices(len(g), 1)].mean())
    if not spreads:
        raise ValueError("timbre diversity needs two notes at one pitch at least")
    return float(np.mean(spreads))


def audio_health(waves: np.ndarray) -> dict[str, int]:
    """Counts of ``[N, samples]`` notes that are not finite, clip or are silent."""
    w = np.asarray(waves)
    if w.ndim != 2:
        raise ValueError(f"waves must be [notes, samples], got shape {w.shape}")
    finite = np.isfinite(w).all(axis=1)
    peak = np.where(finite, np.abs(np.where(np.isfinite(w), w, 0)).max(axis=1), 0.0)
    return {
        "notes": int(len(w)),
        "nan": int((~finite).sum()),
        "clipped": int((finite & (peak >= GEN_CLIP_PEAK)).sum()),
        "silent": int((finite & (peak < GEN_SILENT_PEAK)).sum()),
    }


def random_latents(n: int, latent_size: int, seed: int) -> np.ndarray:
    """``[n, latent_size] float32`` z ~ N(0, I), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, latent_size)).astype(np.float32)


# --- rendering and the whole evaluation -----------------------------------------------


def _render(model: Any, z: np.ndarray, pitches: np.ndarray, progress: float | None):
    """Waves ``[B, N] float32`` at 16 kHz and RAW images from a Synth or a Generator."""
    import torch

    if hasattr(model, "render") and hasattr(model, "spectral"):  # a Synth
        rate = model.sample_rate
        model.set_output_rate(model.model_rate)
        try:
            return model.render(z, pitches), model.config.spectral
        finally:
            model.set_output_rate(rate)
    from instrument.spectral import images_to_waves

    cfg = model.cfg
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    waves = []
    try:
        with torch.no_grad():
            for s in range(0, len(z), 8):
                zt = torch.from_numpy(z[s : s + 8]).to(device)
                labels = torch.from_numpy(pitches[s : s + 8] - cfg.pitch_min).to(device)
                images = model(zt, labels.long(), progress).float()
                waves.append(images_to_waves(images, cfg.spectral).cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(waves).astype(np.float32), cfg.spectral


def evaluate_generator(
    model: Any,
    features: Any,
    n: int = 2,
    pitches: Sequence[int] | None = None,
    seed: int = 0,
    k: int = 50,
    progress: float | None = None,
    real_diversity: float | None = None,
) -> dict[str, Any]:
    """Render ``n`` notes per pitch and score them against the training ``features``.

    Parameters
    ----------
    model : Synth or Generator
        A ``instrument.synth.Synth`` or an ``instrument.networks.Generator``.
    features : trainer.features.Features
        Training-set images (the NDB bins and the real diversity come from them).
    n : int
        Random latents per pitch (the same latents at every pitch).
    pitches : sequence of int, optional
        Default: every pitch of the model.
    k : int
        NDB bins (reduced to the number of real notes when there are fewer).
    progress : float, optional
        Progressive-growing progress for a Generator (default: all blocks).
    real_diversity : float, optional
        Precomputed ``timbre_diversity`` of the real notes (computed when None).

    Returns
    -------
    dict
        ``pitch_accuracy`` (strict), ``pitch_class_accuracy``, ``voiced``,
        ``median_abs_cents``, ``by_octave``, ``keys_off``, ``pitch_entropy``,
        ``ndb``, ``ndb_k``,
        ``ndb_fraction``, ``diversity``, ``real_diversity``, ``diversity_ratio``,
        ``nan``/``clipped``/``silent``/``notes`` counts, ``seconds``, and ``score``
        (higher is better: pitch-class accuracy minus half the NDB fraction).
    """
    from trainer.features import images_of
    from trainer.pitch import pitch_of_track, track_pitch

    start = time.perf_counter()
    cfg = model.config if hasattr(model, "config") else model.cfg
    pitch_list = list(pitches) if pitches is not None else list(cfg.pitches)
    if n < 1 or not pitch_list:
        raise ValueError(f"need at least one note per pitch, got n={n}")
    z = np.repeat(random_latents(n, cfg.latent_size, seed)[None], len(pitch_list), 0)
    z = z.reshape(-1, cfg.latent_size)
    p = np.repeat(np.asarray(pitch_list, np.int64), n)
    waves, spectral = _render(model, z, p, progress)
    health = audio_health(waves)
    clean = np.nan_to_num(waves, nan=0.0, posinf=0.0, neginf=0.0)
    hold = min(3.0, spectral.duration_s)
    track = track_pitch(clean, spectral.sample_rate)
    est, _ = pitch_of_track(track, hold, spectral.duration_s)
    held = track.held(hold, spectral.duration_s)
    acc = pitch_accuracy(est, p)
    by_octave = accuracy_by_octave(est, p)
    off_keys = keys_off(est, p)
    spectral_profile = spectral_by_octave(clean, p, spectral)
    fake = log_spectrogram_features(images_of(clean, spectral))
    real = real_features(features)
    k_used = min(k, len(real))
    nd = ndb(
        real, fake, k_used, seed=seed, bins=real_bins(features, real, k_used, seed)
    )
    div = timbre_diversity(fake, p) if n > 1 else math.nan
    if real_diversity is None:
        real_diversity = timbre_diversity(real, np.asarray(features.pitches))
    return {
        "pitch_accuracy": acc["strict"],
        "pitch_class_accuracy": acc["pitch_class"],
        "voiced": acc["voiced"],
        "median_abs_cents": acc["median_abs_cents"],
        "by_octave": by_octave,
        "keys_off": off_keys,
        "spectral_by_octave": spectral_profile,
        "pitch_entropy": pitch_entropy(track.midi[:, held]),
        "ndb": nd["ndb"],
        "ndb_k": nd["k"],
        "ndb_fraction": nd["ndb_fraction"],
        "diversity": div,
        "real_diversity": real_diversity,
        "diversity_ratio": div / real_diversity if real_diversity else math.nan,
        **health,
        "seconds": time.perf_counter() - start,
        "score": acc["pitch_class"] - 0.5 * nd["ndb_fraction"],
    }


def health_sweep(
    model: Any, latents: int, per_latent: int = 4, seed: int = 1, batch: int = 256
) -> dict[str, int]:
    """``audio_health`` of ``latents`` random latents, each at ``per_latent`` pitches.

    Latent ``i`` plays pitches ``lo + (i + k * stride) % n`` for ``k < per_latent``
    (``n`` pitches, ``stride = n // per_latent``): spread over the range, and together
    every pitch about equally often. Rendered in batches, so memory stays small.
    ``model`` is a ``Synth`` (rendered at its own rate).
    """
    lo, hi = model.pitch_range
    n = hi - lo + 1
    if latents < 1 or not 1 <= per_latent <= n:
        raise ValueError(f"need latents >= 1 and 1-{n} pitches per latent")
    stride = max(1, n // per_latent)
    z = random_latents(latents, model.latent_size, seed)
    idx = np.arange(latents)[:, None] + stride * np.arange(per_latent)[None]
    pitches = (lo + idx % n).reshape(-1)
    zz = np.repeat(z, per_latent, axis=0)
    total = {"notes": 0, "nan": 0, "clipped": 0, "silent": 0}
    for s in range(0, len(zz), batch):
        waves, _ = _render(model, zz[s : s + batch], pitches[s : s + batch], None)
        for key, value in audio_health(waves).items():
            total[key] += value
    total["latents"] = latents
    return total


def pad_contrast(
    model: Any,
    corners: np.ndarray,
    pitches: Sequence[int],
    radius: float = 0.05,
) -> dict[str, float]:
    """How different the pad's corners sound, against the spread within one corner.

    Each corner's note and the notes at three pad positions ``radius`` from it (along
    each edge and the diagonal, towards the middle) are rendered at ``pitches``.
    ``between``: mean RMS distance of pooled log spectrograms between the four corner
    notes at the same pitch; ``within``: mean distance from each corner note to its
    three neighbours'. ``ratio = between / within``: corners that are audibly
    different score well above 1.
    """
    from instrument.latent import pad_latent
    from trainer.features import images_of

    corners = np.asarray(corners, np.float32)
    if not 0.0 < radius <= 0.5:
        raise ValueError(f"radius must be in (0, 0.5], got {radius}")
    spots = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]
    latents = []
    for cx, cy in spots:
        sx, sy = (1 if cx == 0 else -1) * radius, (1 if cy == 0 else -1) * radius
        for dx, dy in ((0, 0), (sx, 0), (0, sy), (sx, sy)):
            latents.append(pad_latent(corners, cx + dx, cy + dy))
    z = np.repeat(np.asarray(latents, np.float32), len(pitches), axis=0)
    p = np.tile(np.asarray(pitches, np.int64), len(latents))
    waves, spectral = _render(model, z, p, None)
    clean = np.nan_to_num(waves, nan=0.0, posinf=0.0, neginf=0.0)
    f = log_spectrogram_features(images_of(clean, spectral))
    f = f.reshape(4, 4, len(pitches), -1).astype(np.float64)  # corner, spot, pitch

    def rms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.sqrt(((a - b) ** 2).mean(axis=-1))

    between = [rms(f[i, 0], f[j, 0]).mean() for i in range(4) for j in range(i + 1, 4)]
    within = [rms(f[i, 0], f[i, k]).mean() for i in range(4) for k in (1, 2, 3)]
    b, w = float(np.mean(between)), float(np.mean(within))
    return {
        "between": b,
        "within": w,
        "ratio": b / w if w > 0 else math.inf,
        "radius": radius,
    }
