"""``python -m trainer train``: the GANSynth training loop (resumable; torchrun for
DDP).

One step, as the reference (GANSYNTH.md section 4): one generator update, then one
discriminator update on a fresh real batch, then ``images += batch * world``. The
generator's EMA is updated after each G step and is what gets exported. Progressive
growing follows ``trainer.schedule``; only blocks with a non-zero weight are computed.

Speed on CPU: the process runs under jemalloc (``trainer/__main__`` re-executes itself),
uses every core (split between local ranks), bf16 autocast for the main passes with the
regulariser in fp32, channels_last, and reads batches from the float16 feature cache (no
STFT per epoch).

Usage::

    python -m trainer train --config quarter_2s --data DATA --out runs/q2s
    python -m trainer train --out runs/q2s --data DATA --resume
    torchrun --nproc_per_node 2 -m trainer train --config quarter_2s \
        --data DATA --out RUN
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import importlib
import json
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from instrument.networks import Generator
from trainer import losses
from trainer.augment import augment
from trainer.checkpoint import CheckpointManager
from trainer.config import TrainConfig, get_train_config, train_config_names
from trainer.discriminator import Discriminator
from trainer.distributed import (
    Dist,
    all_reduce_grads,
    broadcast_float,
    broadcast_params,
    setup,
    teardown,
)
from trainer.salience import (
    AudioSalience,
    make_salience,
    pooled_means,
    pooled_quantiles,
)
from trainer.schedule import Schedule, blend_images

__all__ = ["Trainer", "configure", "run", "apply_overrides", "native_bf16"]

_CHECKPOINT_FORMAT = 1
STEP_CAP = 10.0  # a step longer than this many typical steps was paused (time schedule)
FIRST_STEP_CAP_S = 120.0  # the same for the first step, which has no typical one yet


def native_bf16(device: torch.device) -> bool:
    """True where bf16 matmuls run natively (CUDA with bf16, AVX512-BF16 or AMX CPUs).

    Without them (e.g. AVX2-only CPUs) bf16 is emulated and ~10x slower than fp32.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class Trainer:
    """GANSynth's G/D pair, their optimisers, EMA, data order and schedule.

    Parameters
    ----------
    tc : TrainConfig
        The recipe (names the model config).
    images : np.ndarray
        [N, 2, T, F] float16 (or float32) raw-unit features, e.g. a memmap.
    pitches : np.ndarray
        [N] int MIDI pitches of the notes, inside the model's pitch range.
    dist_info : Dist
        Rank and world of this process (default: single process on the CPU).
    seed : int
        Seeds the weights, the data order and the noise.
    features : object, optional
        The ``trainer.features.Features`` (for the snapshot evaluation hook).
    dataset : str
        Where the data came from (recorded in checkpoints and bundles).
    log : callable
        One-line messages (rank 0 prints).
    """

    def __init__(
        self,
        tc: TrainConfig,
        images: np.ndarray,
        pitches: np.ndarray,
        dist_info: Dist | None = None,
        seed: int = 0,
        features: Any = None,
        dataset: str = "",
        log: Callable[[str], None] = print,
    ) -> None:
        self.tc = tc
        self.cfg = tc.model_config
        self.dist = dist_info or Dist()
        self.log = log if self.dist.main else (lambda _msg: None)
        self.features = features
        self.dataset = dataset
        self.seed = int(broadcast_float(float(seed), self.dist))  # rank 0's seed
        self._check_data(images, pitches)
        self.images = images
        self.labels = np.asarray(pitches).astype(np.int64) - self.cfg.pitch_min
        self.device = torch.device(self.dist.device)
        self.schedule = Schedule.from_config(tc)
        self.bf16 = tc.precision == "bf16" or (
            tc.precision == "auto" and native_bf16(self.device)
        )
        torch.manual_seed(self.seed)
        self.G = Generator(self.cfg).to(self.device)
        self.D = Discriminator(self.cfg, projection=tc.projection).to(self.device)
        if tc.channels_last:
            self.G = self.G.to(memory_format=torch.channels_last)
            self.D = self.D.to(memory_format=torch.channels_last)
        broadcast_params(self.G, self.dist)
        broadcast_params(self.D, self.dist)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.salience = make_salience(
            tc.salience_source,
            self.cfg.spectral,
            self.cfg.pitch_min,
            self.cfg.pitch_max,
            tuning_sharpness=tc.tuning_sharpness,
        ).to(self.device)
        if tc.sound_terms:
            self._set_real_targets()
        counts = np.bincount(self.labels, minlength=self.cfg.num_pitches)
        self.pitch_weights = torch.as_tensor(counts, dtype=torch.float64)
        self.rng = torch.Generator().manual_seed(self.seed * 1_000_003 + self.dist.rank)
        # training position (all saved in checkpoints)
        self.images_seen = 0
        self.step_count = 0
        self.elapsed_s = 0.0
        self.epoch = 0
        self.cursor = 0
        self.stage = self.schedule.stage(0, 0.0)
        self.best_metric: float | None = None
        self._typical_step_s: float | None = None  # running mean (time schedule)
        self._real_diversity: float | None = None
        self._perm = self._permutation(self.epoch)
        self._make_optimizers()

    # ----------------------------------------------------------------- setup
    def _set_real_targets(self, per_pitch: int = 16, pool: int = 3) -> None:
        """What G's notes are held to near each pitch, from up to ``per_pitch`` real
        notes a pitch pooled over +-``pool`` semitones (trainer.salience): their
        ``fundamental_quantile`` of the fundamental share, their ``tuning_quantile``
        of the tuned share, their ``envelope_quantile`` to ``1 - envelope_quantile``
        of each envelope band, the same (``time_quantile``) of each time share, and
        their ``odd_quantile`` of the odd share, their mean profile (one share per
        harmonic), their ``late_quantile`` of the late part's harmonic share, and
        their ``presence_quantile`` of the first harmonics' shares, in the held part
        and in the late part."""
        rng = np.random.default_rng(0)  # the same notes on every rank and resume
        picked = np.concatenate(
            [
                rng.permutation(np.flatnonzero(self.labels == j))[:per_pitch]
                for j in range(self.cfg.num_pitches)
            ]
        )
        parts: dict[str, list[torch.Tensor]] = {
            key: []
            for key in (
                "fundamental",
                "envelope",
                "tuned",
                "time",
                "odd",
                "profile",
                "late",
                "presence",
                "late_presence",
            )
        }
        with torch.no_grad():
            for chunk in np.array_split(picked, max(1, len(picked) // 32)):
                images = torch.as_tensor(self.images[chunk]).float().to(self.device)
                labels = torch.as_tensor(self.labels[chunk]).to(self.device)
                shares = self.salience.shares(images, labels)
                for key, got in parts.items():
                    got.append(getattr(shares, key).cpu())
        labels, tc, n = self.labels[picked], self.tc, self.cfg.num_pitches
        real = {key: torch.cat(got).numpy() for key, got in parts.items()}

        def near(key: str, quantile: float) -> np.ndarray:
            return pooled_quantiles(real[key], labels, n, quantile, pool)

        fundamental = near("fundamental", tc.fundamental_quantile)
        tuning = near("tuned", tc.tuning_quantile)
        odd = near("odd", tc.odd_quantile)
        low, high = (
            near("envelope", tc.envelope_quantile),
            near("envelope", 1.0 - tc.envelope_quantile),
        )
        time_low, time_high = (
            near("time", tc.time_quantile),
            near("time", 1.0 - tc.time_quantile),
        )
        if tc.fundamental_weight > 0:
            self.salience.set_fundamental_targets(fundamental)
        if tc.envelope_weight > 0:
            self.salience.set_envelope_targets(low, high)
        if tc.tuning_weight > 0:
            self.salience.set_tuning_targets(tuning)
        if tc.time_weight > 0:
            self.salience.set_time_targets(time_low, time_high)
        if tc.odd_weight > 0:
            self.salience.set_odd_targets(odd)
        late = near("late", tc.late_quantile)
        if tc.late_weight > 0:
            self.salience.set_late_targets(late)
        profile = pooled_means(real["profile"], labels, n, pool)
        if tc.profile_weight > 0:
            self.salience.set_profile_targets(profile)
        presence = near("presence", tc.presence_quantile)
        if tc.presence_weight > 0:
            self.salience.set_presence_targets(presence)
        late_presence = near("late_presence", tc.presence_quantile)
        if tc.late_presence_weight > 0:
            self.salience.set_late_presence_targets(late_presence)
        self.log(
            f"real-note targets from {len(picked)} notes: fundamental share "
            f"({tc.fundamental_quantile:.0%}) lowest pitch {fundamental[0]:.2f}, "
            f"middle {fundamental[n // 2]:.2f}, highest {fundamental[-1]:.2f}; "
            f"envelope ({tc.envelope_quantile:.0%}-{1 - tc.envelope_quantile:.0%}) "
            f"above 6 f0 at the highest pitch {low[-1, -3:].sum():.3f}-"
            f"{high[-1, -3:].sum():.3f}; tuned share ({tc.tuning_quantile:.0%}) "
            f"lowest {tuning[0]:.3f}, middle {tuning[n // 2]:.3f}, "
            f"highest {tuning[-1]:.3f}; last of {time_low.shape[1]} time segments "
            f"({tc.time_quantile:.0%}-{1 - tc.time_quantile:.0%}) in the middle "
            f"{time_low[n // 2, -1]:.3f}-{time_high[n // 2, -1]:.3f}; odd share "
            f"({tc.odd_quantile:.0%}) lowest {odd[0]:.2f}, middle {odd[n // 2]:.2f}, "
            f"highest {odd[-1]:.2f}; mean share of harmonics 1/2/3 at the lowest "
            f"pitch {'/'.join(f'{x:.2f}' for x in profile[0, 1:4])}, middle "
            f"{'/'.join(f'{x:.2f}' for x in profile[n // 2, 1:4])}; the late part's "
            f"harmonic share ({tc.late_quantile:.0%}) lowest {late[0]:.2f}, middle "
            f"{late[n // 2]:.2f}, highest {late[-1]:.2f}; share of harmonics 1/2 "
            f"({tc.presence_quantile:.0%}) at the lowest pitch "
            f"{'/'.join(f'{x:.3f}' for x in presence[0])}, middle "
            f"{'/'.join(f'{x:.3f}' for x in presence[n // 2])}, late in the note "
            f"{'/'.join(f'{x:.3f}' for x in late_presence[0])} and "
            f"{'/'.join(f'{x:.3f}' for x in late_presence[n // 2])}"
        )

    def _check_data(self, images: np.ndarray, pitches: np.ndarray) -> None:
        t, f = self.cfg.final_shape
        if images.ndim != 4 or tuple(images.shape[1:]) != (2, t, f):
            raise ValueError(
                f"features must have shape [notes, 2, {t}, {f}] for model config "
                f"{self.cfg.name!r}, got {list(images.shape)}"
            )
        if len(pitches) != len(images) or len(images) == 0:
            raise ValueError(
                f"need one pitch per note and at least one note, got {len(images)} "
                f"notes and {len(pitches)} pitches"
            )
        p = np.asarray(pitches)
        if p.min() < self.cfg.pitch_min or p.max() > self.cfg.pitch_max:
            raise ValueError(
                f"pitches {int(p.min())}-{int(p.max())} leave the model's range "
                f"{self.cfg.pitch_min}-{self.cfg.pitch_max}"
            )

    def _make_optimizers(self) -> None:
        tc = self.tc
        self.opt_g = torch.optim.Adam(
            self.G.parameters(), lr=tc.lr_g, betas=tc.betas, eps=tc.eps
        )
        lr_d, betas_d = tc.d_adam()
        self.opt_d = torch.optim.Adam(
            self.D.parameters(), lr=lr_d, betas=betas_d, eps=tc.eps
        )

    def _apply_hyperparameters(self) -> None:
        lr_d, betas_d = self.tc.d_adam()
        for group in self.opt_g.param_groups:
            group.update(lr=self.tc.lr_g, betas=self.tc.betas, eps=self.tc.eps)
        for group in self.opt_d.param_groups:
            group.update(lr=lr_d, betas=betas_d, eps=self.tc.eps)

    def _permutation(self, epoch: int) -> np.ndarray:
        """This rank's share of the notes in epoch ``epoch``'s shuffled order."""
        g = torch.Generator().manual_seed(self.seed * 7919 + epoch)
        perm = torch.randperm(len(self.labels), generator=g).numpy()
        return perm[self.dist.rank :: self.dist.world]

    # ------------------------------------------------------------------ data
    def _next_indices(self, n: int) -> np.ndarray:
        out: list[np.ndarray] = []
        while n > 0:
            if self.cursor >= len(self._perm):
                self.epoch += 1
                self.cursor = 0
                self._perm = self._permutation(self.epoch)
                if len(self._perm) == 0:
                    raise ValueError(
                        f"{len(self.labels)} notes cannot be shared by "
                        f"{self.dist.world} processes"
                    )
            take = self._perm[self.cursor : self.cursor + n]
            self.cursor += len(take)
            n -= len(take)
            out.append(take)
        return np.concatenate(out)

    def real_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next real batch: [B, 2, T, F] float32 raw units and [B] long labels."""
        idx = np.sort(self._next_indices(self.tc.batch_size))
        x = torch.from_numpy(np.asarray(self.images[idx], dtype=np.float32))
        y = torch.from_numpy(self.labels[idx])
        return x.to(self.device), y.to(self.device)

    def fake_inputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents [B, latent] and pitch labels [B] for the generator."""
        b = self.tc.batch_size
        z = torch.randn(b, self.cfg.latent_size, generator=self.rng)
        if self.tc.fake_pitch_sampling == "uniform":
            y = torch.randint(0, self.cfg.num_pitches, (b,), generator=self.rng)
        else:
            y = torch.multinomial(
                self.pitch_weights, b, replacement=True, generator=self.rng
            )
        return z.to(self.device), y.to(self.device)

    # ------------------------------------------------------------- schedule
    @property
    def progress(self) -> float:
        return self.schedule.progress(self.images_seen, self.elapsed_s)

    def ac_weight_g(self) -> float:
        ramp = self.tc.ac_g_ramp_images
        if ramp <= 0:
            return self.tc.ac_weight_g
        return self.tc.ac_weight_g * min(1.0, self.images_seen / ramp)

    def ema_decay(self) -> float:
        """Per-step EMA decay (with the StyleGAN2-ADA half-life ramp if enabled)."""
        decay = self.tc.ema_decay
        if self.tc.ema_rampup <= 0 or decay == 0.0:
            return decay
        batch = self.tc.batch_size * self.dist.world
        half_life = batch * math.log(0.5) / math.log(decay)
        half_life = min(half_life, self.images_seen * self.tc.ema_rampup)
        return 0.5 ** (batch / half_life) if half_life > 0 else 0.0

    def _autocast(self):
        if not self.bf16:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _check_stage(self) -> None:
        stage = self.schedule.stage(self.images_seen, self.elapsed_s)
        if stage != self.stage:
            self.stage = stage
            if self.tc.reset_adam_per_stage:
                self._make_optimizers()
            self.log(
                f"stage {stage} (progress {self.progress:.3f}) at "
                f"{self.images_seen:,} images"
            )

    # ----------------------------------------------------------------- step
    @torch.no_grad()
    def _update_ema(self) -> float:
        decay = self.ema_decay()
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
            p_ema.lerp_(p.detach().to(p_ema.dtype), 1.0 - decay)
        return decay

    def _d_scores(self, x: torch.Tensor, progress: float, labels: torch.Tensor):
        x, augmented = augment(x, self.tc, self.rng)
        logits, cls = self.D(x, progress, labels=labels)
        return x, augmented, logits, cls

    def step(self) -> dict[str, float]:
        """One G update and one D update; returns the step's scalars."""
        if self.schedule.kind == "time":
            self.elapsed_s = broadcast_float(self.elapsed_s, self.dist)
        self._check_stage()
        tc, p = self.tc, self.progress
        out: dict[str, float] = {"progress": p}
        # generator
        self.G.train()
        self.D.requires_grad_(False)
        z, y_fake = self.fake_inputs()
        with self._autocast():
            fake = self.G(z, y_fake, p)
            _, aug_fake, fake_logits, fake_cls = self._d_scores(fake, p, y_fake)
            adv_g = losses.g_loss(tc.loss, fake_logits)
            ac_g = losses.classification_loss(
                fake_cls, y_fake, ~aug_fake.to(y_fake.device)
            )
        loss_g = adv_g + self.ac_weight_g() * ac_g
        if p >= tc.salience_from_progress and tc.sound_terms:
            # a fixed pitch estimator G cannot fool, and where its notes' power sits:
            # on the harmonics, the first harmonic's part, the envelope, how near
            terms = self.salience.losses(fake.float(), y_fake, tc.harmonic_target)
            loss_g = (
                loss_g
                + tc.salience_weight * terms.ce
                + tc.late_salience_weight * terms.late_ce
                + tc.harmonic_weight * terms.harmonic
                + tc.fundamental_weight * terms.fundamental
                + tc.envelope_weight * terms.envelope
                + tc.tuning_weight * terms.tuning
                + tc.time_weight * terms.time
                + tc.odd_weight * terms.odd
                + tc.profile_weight * terms.profile
                + tc.late_weight * terms.late
                + tc.presence_weight * terms.presence
                + tc.late_presence_weight * terms.late_presence
            )
            if tc.profile_weight > 0:
                self.salience.track_profile(terms.shares.profile, y_fake)
                gap = self.salience.profile_gap().abs().sum(1)
                out["profile_g"] = float(terms.profile.detach())
                out["profile_gap_g"] = float(gap.mean())
            out["salience_g"] = float(terms.ce.detach())
            out["late_salience_g"] = float(terms.late_ce.detach())
            out["harmonic_g"] = float(terms.harmonic.detach())
            out["harmonic_fraction_g"] = float(terms.shares.harmonic.mean())
            out["fundamental_g"] = float(terms.fundamental.detach())
            out["fundamental_share_g"] = float(terms.shares.fundamental.mean())
            out["envelope_g"] = float(terms.envelope.detach())
            out["tuning_g"] = float(terms.tuning.detach())
            out["tuned_share_g"] = float(terms.shares.tuned.mean())
            out["time_g"] = float(terms.time.detach())
            out["odd_g"] = float(terms.odd.detach())
            out["odd_share_g"] = float(terms.shares.odd.mean())
            out["late_g"] = float(terms.late.detach())
            out["late_share_g"] = float(terms.shares.late.mean())
            out["presence_g"] = float(terms.presence.detach())
            out["late_presence_g"] = float(terms.late_presence.detach())
        elif p >= tc.salience_from_progress and tc.salience_weight > 0:
            sal_g = self.salience.loss(fake.float(), y_fake)
            loss_g = loss_g + tc.salience_weight * sal_g
            out["salience_g"] = float(sal_g.detach())
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        all_reduce_grads(self.G, self.dist)
        self.opt_g.step()
        out["ema_decay"] = self._update_ema()
        self.D.requires_grad_(True)
        # discriminator
        real, y_real = self.real_batch()
        real = blend_images(real, p, self.cfg.num_resolutions)
        if tc.reuse_fakes:
            fake_d, y_d = fake.detach(), y_fake
        else:
            z, y_d = self.fake_inputs()
            with torch.no_grad(), self._autocast():
                fake_d = self.G(z, y_d, p)
        with self._autocast():
            real_in, aug_real, real_logits, real_cls = self._d_scores(real, p, y_real)
            fake_in, _, fake_logits_d, _ = self._d_scores(fake_d.float(), p, y_d)
            adv_d = losses.d_loss(tc.loss, real_logits, fake_logits_d, tc.drift)
            ac_d = losses.classification_loss(
                real_cls, y_real, ~aug_real.to(y_real.device)
            )
        loss_d = adv_d + tc.ac_weight_d * ac_d
        if self.step_count % tc.reg_interval == 0:
            loss_d = loss_d + self._regulariser(real_in, fake_in, p, out, y_real)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        all_reduce_grads(self.D, self.dist)
        self.opt_d.step()
        self.step_count += 1
        self.images_seen += tc.batch_size * self.dist.world
        out.update(
            loss_g=float(loss_g.detach()),
            loss_d=float(loss_d.detach()),
            ac_loss_g=float(ac_g.detach()),
            ac_loss_d=float(ac_d.detach()),
            d_real=float(real_logits.detach().float().mean()),
            d_fake=float(fake_logits_d.detach().float().mean()),
            ac_acc_real=losses.accuracy(real_cls, y_real),
            ac_acc_fake=losses.accuracy(fake_cls, y_fake),
        )
        return out

    def _regulariser(
        self,
        real: torch.Tensor,
        fake: torch.Tensor,
        p: float,
        out: dict[str, float],
        labels: torch.Tensor,
    ) -> torch.Tensor:
        """GP or R1 in fp32, times reg_interval (lazy regularisation); a projection
        D scores the GP's interpolates with the real notes' labels."""
        tc, k = self.tc, self.tc.reg_interval
        real, fake = real.detach().float(), fake.detach().float()
        if tc.loss == "wgan_gp":
            alpha = torch.rand(real.shape[0], generator=self.rng).to(self.device)
            gp, norm = losses.gradient_penalty(
                lambda x: self.D(x, p, labels=labels), real, fake, alpha, tc.gp_target
            )
            out["gp"], out["grad_norm"] = float(gp.detach()), float(norm)
            return tc.gp_weight * k * gp
        r1, _ = losses.r1_penalty(
            lambda x: self.D(x, p, normalized=True, labels=labels),
            self.D.normalize(real),
        )
        out["r1"] = float(r1.detach())
        return 0.5 * tc.r1_gamma * k * r1

    # ----------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": _CHECKPOINT_FORMAT,
            "train_config": self.tc.to_dict(),
            "model_config": self.cfg.to_dict(),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(),
            "images": self.images_seen,
            "step": self.step_count,
            "elapsed_s": self.elapsed_s,
            "stage": self.stage,
            "epoch": self.epoch,
            "cursor": self.cursor,
            "seed": self.seed,
            "world": self.dist.world,
            "best_metric": self.best_metric,
            "dataset": self.dataset,
            "num_notes": len(self.labels),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("format") != _CHECKPOINT_FORMAT:
            raise ValueError(
                f"checkpoint format {state.get('format')!r} is not supported"
            )
        stored = TrainConfig.from_dict(state["train_config"])
        if stored.model != self.tc.model:
            raise ValueError(
                f"the checkpoint is for model config {stored.model!r}, "
                f"not {self.tc.model!r}"
            )
        d_state = dict(state["D"])
        # a run that turns on the projection D: its embedding starts at zero (an
        # unconditional score, as before) and D's optimiser starts afresh
        new_projection = self.tc.projection and "embed_weight" not in d_state
        if new_projection:
            d_state["embed_weight"] = torch.zeros_like(self.D.embed_weight)
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(d_state)
            self.G_ema.load_state_dict(state["G_ema"])
        except RuntimeError as err:
            raise ValueError(
                f"checkpoint weights do not fit this model: {str(err).splitlines()[0]}"
            ) from err
        self.images_seen = int(state["images"])
        self.step_count = int(state["step"])
        self.elapsed_s = float(state["elapsed_s"])
        self.stage = int(state["stage"])
        self.seed = int(state["seed"])
        self.best_metric = state.get("best_metric")
        self._make_optimizers()
        self.opt_g.load_state_dict(state["opt_g"])
        if new_projection:
            self.log("projection discriminator from here on: D's optimiser restarts")
        else:
            self.opt_d.load_state_dict(state["opt_d"])
        self._apply_hyperparameters()  # a resumed run may change lr or betas (--set)
        if int(state.get("world", 1)) == self.dist.world:
            self.rng.set_state(state["rng"])
            self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        else:  # a new world size: new shards, the same epoch
            self.log(
                f"resuming with {self.dist.world} processes instead of {state['world']}"
            )
            self.epoch, self.cursor = int(state["epoch"]) + 1, 0
        self._perm = self._permutation(self.epoch)

    # ------------------------------------------------------------- loop
    def _counted(self, seconds: float) -> float:
        """A step's wall time as the time schedule counts it.

        A step that took far longer than the recent ones was suspended (SIGSTOP to
        free the cores for a benchmark, a laptop asleep): it counts as a typical step,
        so the schedule measures training, not the pause.
        """
        typical = self._typical_step_s
        cap = FIRST_STEP_CAP_S if typical is None else STEP_CAP * typical
        counted = min(seconds, cap)
        counted = max(counted, 0.0)
        if typical is None:
            self._typical_step_s = counted
        else:
            self._typical_step_s = typical + 0.05 * (counted - typical)
        return counted

    def fit(
        self,
        checkpoints: CheckpointManager | None = None,
        summaries: Any = None,
        max_images: int | None = None,
        progress_bar: bool = True,
    ) -> dict[str, float]:
        """Train until the schedule (or ``max_images``) ends; returns last scalars."""
        from tqdm import tqdm

        tc = self.tc
        per_step = tc.batch_size * self.dist.world
        total = max_images if max_images else None
        if total is None and self.schedule.kind == "images":
            total = tc.total_images
        bar = tqdm(
            total=total,
            initial=self.images_seen,
            unit="img",
            dynamic_ncols=True,
            disable=not (progress_bar and self.dist.main),
        )
        sums: dict[str, float] = {}
        count, last = 0, {}
        start_images, start_time = self.images_seen, time.perf_counter()
        while not self.schedule.finished(self.images_seen, self.elapsed_s):
            if max_images and self.images_seen >= max_images:
                break
            t0 = time.perf_counter()
            last = self.step()
            self.elapsed_s += self._counted(time.perf_counter() - t0)
            for key, value in last.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
            if self.schedule.kind == "time":
                left = max(0.0, self.schedule.end_s - self.elapsed_s)
                bar.set_postfix_str(
                    f"p={last['progress']:.2f} left {left / 3600:.2f} h", refresh=False
                )
            else:
                bar.set_postfix_str(f"p={last['progress']:.2f}", refresh=False)
            bar.update(per_step)
            before, now = self.images_seen - per_step, self.images_seen
            if _crossed(before, now, tc.summary_every) and summaries and count:
                rate = (now - start_images) / max(
                    time.perf_counter() - start_time, 1e-9
                )
                means = {f"train/{k}": v / count for k, v in sums.items()}
                means["train/images_per_s"] = rate
                summaries.scalars(means, now)
                sums, count = {}, 0
            if _crossed(before, now, tc.samples_every) and summaries:
                self._sample_summaries(summaries)
            if tc.eval_every and _crossed(before, now, tc.eval_every):
                self._evaluate(checkpoints, summaries)
            if checkpoints and self.dist.main:
                if _crossed(before, now, tc.checkpoint_every):
                    checkpoints.save_latest(self.state_dict())
                if _crossed(before, now, tc.keep_every):
                    checkpoints.save_kept(self.state_dict(), now)
        bar.close()
        seconds = time.perf_counter() - start_time
        done = self.images_seen - start_images
        if checkpoints and self.dist.main:
            checkpoints.save_latest(self.state_dict())
        self.log(
            f"trained {done:,} images in {seconds:.1f} s "
            f"({done / max(seconds, 1e-9):.2f} images/s); {self.images_seen:,} in total"
        )
        return last

    def _sample_summaries(self, summaries: Any) -> None:
        pitches = [
            p for p in (36, 48, 60, 72) if self.cfg.pitch_min <= p <= self.cfg.pitch_max
        ]
        g = torch.Generator().manual_seed(12345)
        z = torch.randn(len(pitches), self.cfg.latent_size, generator=g).to(self.device)
        y = torch.tensor([p - self.cfg.pitch_min for p in pitches], device=self.device)
        with torch.no_grad():
            images = self.G_ema(z, y, self.progress)
        try:
            summaries.notes(images, pitches, self.cfg.spectral, self.images_seen)
        except (ImportError, AttributeError) as err:
            self.log(f"no audio summaries: {err}")

    def classifier_check(self, per_pitch: int = 2) -> dict[str, float]:
        """How often D's pitch classifier calls the generators' notes the asked pitch.

        Set beside torchcrepe's pitch accuracy in the snapshot evaluation, a high
        ``d_pitch_acc_g`` with chance-level torchcrepe accuracy shows the generator
        satisfying the classifier without the pitch (docs/MODEL.md, session 3).
        """
        labels = torch.arange(self.cfg.num_pitches).repeat(per_pitch).to(self.device)
        gen = torch.Generator().manual_seed(12345)
        z = torch.randn(len(labels), self.cfg.latent_size, generator=gen)
        out = {}
        with torch.no_grad():
            for name, g in (("g", self.G), ("ema", self.G_ema)):
                fake = g(z.to(self.device), labels, self.progress).float()
                _, cls = self.D(fake, self.progress, labels=labels)
                out[f"d_pitch_acc_{name}"] = losses.accuracy(cls, labels)
                out[f"salience_acc_{name}"] = self.salience.accuracy(fake, labels)
                if isinstance(self.salience, AudioSalience):
                    shares = self.salience.shares(fake, labels)
                    out[f"harmonic_fraction_{name}"] = float(shares.harmonic.mean())
                    out[f"fundamental_share_{name}"] = float(shares.fundamental.mean())
                    out[f"tuned_share_{name}"] = float(shares.tuned.mean())
                    out[f"odd_share_{name}"] = float(shares.odd.mean())
        return out

    def _evaluate(self, checkpoints: CheckpointManager | None, summaries: Any) -> None:
        """Snapshot evaluation by ``trainer.metrics.evaluate_generator`` if present."""
        if not self.dist.main or self.features is None:
            return
        try:
            metrics = importlib.import_module("trainer.metrics")
            evaluate = metrics.evaluate_generator
        except (ImportError, AttributeError):
            return
        try:
            result = evaluate(
                self.G_ema,
                self.features,
                n=2,
                progress=self.progress,
                real_diversity=self._real_diversity,
            )
        except Exception as err:  # evaluation must never stop a long run
            self.log(f"snapshot evaluation failed: {err}")
            return
        scores = {k: float(v) for k, v in result.items() if isinstance(v, (int, float))}
        try:
            scores.update(self.classifier_check())
        except Exception as err:  # as above: never stops the run
            self.log(f"classifier check failed: {err}")
        self._real_diversity = scores.get("real_diversity")
        if summaries:
            summaries.scalars(
                {f"eval/{k}": v for k, v in scores.items()}, self.images_seen
            )
        score = scores.get("score", scores.get("pitch_accuracy"))
        self.log(f"snapshot at {self.images_seen:,} images: {json.dumps(scores)}")
        if score is not None and (self.best_metric is None or score > self.best_metric):
            self.best_metric = score
            if checkpoints:
                checkpoints.save_best(self.state_dict())


def _crossed(before: int, now: int, every: int) -> bool:
    """True when ``now`` passed a multiple of ``every`` since ``before``."""
    return every > 0 and now // every > before // every


# ---------------------------------------------------------------------- CLI
def apply_overrides(tc: TrainConfig, pairs: list[str]) -> TrainConfig:
    """``["batch_size=4", "augment=gain,time_shift"]`` -> a changed config."""
    changes: dict[str, Any] = {}
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in fields or key in ("name", "model"):
            raise ValueError(
                f"--set expects FIELD=VALUE with a train config field, got {pair!r}"
            )
        current = getattr(tc, key)
        try:
            if isinstance(current, bool):
                value: Any = text.lower() in ("1", "true", "yes", "on")
            elif isinstance(current, int):
                value = int(float(text))
            elif isinstance(current, float):
                value = float(text)
            elif key == "betas":
                value = tuple(float(v) for v in text.split(","))
            elif isinstance(current, tuple):
                value = tuple(v for v in text.split(",") if v)
            else:
                value = text
        except ValueError:
            raise ValueError(
                f"--set {key}: cannot read {text!r} as {type(current).__name__}"
            ) from None
        changes[key] = value
    return tc.replace(**changes) if changes else tc


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="train config name (see --list-configs)")
    parser.add_argument("--data", help="NSynth-format dataset folder")
    parser.add_argument("--out", help="run folder (checkpoints, TensorBoard)")
    parser.add_argument(
        "--max-images", type=int, default=None, help="stop after N images"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out"
    )
    parser.add_argument(
        "--list-configs", action="store_true", help="print configs, smallest first"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a train config field (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads per process (default: cores / local processes; "
        "1 when the CPU is already busy; 1 is faster when other jobs share it)",
    )


def run(args: argparse.Namespace) -> int:
    if args.list_configs:
        for name in train_config_names():
            print(name)
        return 0
    if not args.out or not args.data:
        raise ValueError(
            "train needs --data DIR and --out RUN (and --config NAME for a new run)"
        )
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}")
    dist_info = setup(args.threads)
    try:
        return _train(args, dist_info)
    finally:
        teardown(dist_info)


def _train(args: argparse.Namespace, dist_info: Dist) -> int:
    from trainer.features import load_features

    log = print if dist_info.main else (lambda _m: None)
    checkpoints = CheckpointManager(args.out, log=log)
    state = None
    if checkpoints.exists():
        if not args.resume:
            raise ValueError(
                f"{args.out} already holds a run; pass --resume to continue it "
                "or choose "
                "another --out"
            )
        state = checkpoints.load_resume()
    if state is not None:
        tc = TrainConfig.from_dict(state["train_config"])
        if args.config and args.config != tc.name:
            raise ValueError(
                f"{args.out} was trained with config {tc.name!r}, not {args.config!r}"
            )
        tc = apply_overrides(tc, args.set)
    else:
        if not args.config:
            raise ValueError("a new run needs --config NAME (see --list-configs)")
        tc = apply_overrides(get_train_config(args.config), args.set)
    cfg = tc.model_config
    features = load_features(
        Path(args.data),
        cfg.spectral,
        split="train",
        pitch_range=(cfg.pitch_min, cfg.pitch_max),
    )
    trainer = Trainer(
        tc,
        features.images,
        features.pitches,
        dist_info,
        seed=args.seed,
        features=features,
        dataset=str(Path(args.data).resolve()),
        log=log,
    )
    if state is not None:
        trainer.load_state_dict(state)
        log(f"resumed {args.out} at {trainer.images_seen:,} images")
    summaries = None
    if dist_info.main:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        info = {
            "train_config": tc.to_dict(),
            "data": trainer.dataset,
            "notes": len(features),
        }
        (Path(args.out) / "run.json").write_text(json.dumps(info, indent=1))
        from trainer.summaries import Summaries

        summaries = Summaries(args.out)
    log(
        f"training {tc.name} (model {cfg.name}) on {len(features)} notes, "
        f"{dist_info.world} process(es), {torch.get_num_threads()} threads each"
    )
    try:
        trainer.fit(checkpoints, summaries, args.max_images, not args.no_progress)
    finally:
        if summaries:
            summaries.close()
    return 0
