"""Frozen training recipes (``TrainConfig``) and their named presets, in one table.

``paper`` is exactly the GANSynth reference recipe (GANSYNTH.md section 4): WGAN-GP 10
every step, drift 0.001, auxiliary pitch losses 10/10, Adam 8e-4 betas (0, 0.99) eps
1e-8, batch 8, generator EMA 0.999, progressive growing 800k stable + 800k transition
images per stage, 11M images, Adam reset at every stage, fake pitches drawn from the
training histogram.

The CPU recipes for the smaller model configs follow CPU-TRAINING.md sections 15/16: the
non-saturating (or hinge) loss with lazy R1 every 16 D steps and StyleGAN2's Adam
correction, no drift, a wall-clock progressive schedule, label-preserving augmentation
on the adversarial head, a ramped generator AC weight, uniform fake pitches, bf16
autocast, channels_last and an EMA with a StyleGAN2-ADA ramp. Every field defaults to
the reference value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from instrument.config import ModelConfig, get_config

__all__ = [
    "TrainConfig",
    "TRAIN_PRESETS",
    "LOSSES",
    "AUGMENTS",
    "SOUND_WEIGHTS",
    "get_train_config",
    "train_config_names",
]

LOSSES = ("wgan_gp", "ns_r1", "hinge_r1")
AUGMENTS = ("time_shift", "gain", "time_mask")
_SCHEDULES = ("images", "time")
_PITCH_SAMPLING = ("data", "uniform")
_PRECISIONS = ("fp32", "bf16", "auto")
# G's losses on where its notes' held power sits (trainer.salience.SoundShares)
SOUND_WEIGHTS = (
    "harmonic_weight",
    "fundamental_weight",
    "envelope_weight",
    "tuning_weight",
    "time_weight",
    "odd_weight",
    "profile_weight",
    "late_weight",
    "presence_weight",
    "late_presence_weight",
    "late_salience_weight",
)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """One training recipe; ``model`` names an ``instrument.config`` preset."""

    name: str
    model: str  # model config preset (instrument.config.PRESETS)
    # --- loss and regularisation
    loss: str = "wgan_gp"  # wgan_gp | ns_r1 | hinge_r1
    gp_weight: float = 10.0  # WGAN-GP lambda (wgan_gp only)
    gp_target: float = 1.0  # gradient norm target of the GP
    drift: float = 0.001  # weight of mean(D(real)^2) (WGAN only)
    r1_gamma: float = 0.0  # R1 weight gamma: gamma/2 * |grad D(x_real)|^2 (r1 losses)
    reg_interval: int = 1  # regularise every k-th D step with weight * k (lazy, k > 1)
    ac_weight_d: float = 10.0  # D's auxiliary pitch loss on real notes
    ac_weight_g: float = 10.0  # G's auxiliary pitch loss on fakes
    ac_g_ramp_images: int = 0  # ramp G's AC weight 0 -> ac_weight_g over these images
    fake_pitch_sampling: str = "data"  # data (training histogram) | uniform
    projection: bool = False  # D's real/fake score also conditioned on the pitch
    # G's loss on a fixed harmonic-sum pitch estimate of its notes (trainer.salience),
    # from this progress on (below 8 x 128 the image is too coarse for harmonics),
    # read from the mel magnitudes ("mel") or from the notes' sound ("audio")
    salience_weight: float = 0.0
    salience_from_progress: float = 3.0
    salience_source: str = "mel"
    # G's loss on the share of its notes' held power off their pitch's harmonics
    # (trainer.salience.harmonic_mask): relu(harmonic_target - share), audio source only
    harmonic_weight: float = 0.0
    harmonic_target: float = 0.9
    # G's loss on the share of that power on the fundamental, below the
    # fundamental_quantile of the real notes' share near the same pitch
    # (trainer.salience.fundamental_mask): audio source only
    fundamental_weight: float = 0.0
    fundamental_quantile: float = 0.25
    # G's loss on its notes' spectral envelope (shares of power in bands of multiples
    # of f0, trainer.salience.ENVELOPE_EDGES) outside the real notes' range near the
    # same pitch: their envelope_quantile and 1 - envelope_quantile; audio source only
    envelope_weight: float = 0.0
    envelope_quantile: float = 0.1
    # G's loss on the share of its notes' held power near their pitch's harmonics by
    # how near (trainer.salience.tuning_mask, sloping over the whole spacing), below
    # the tuning_quantile of the real notes' share near the same pitch; audio only
    tuning_weight: float = 0.0
    tuning_quantile: float = 0.1
    # how sharply that mask falls from a harmonic: cos^(2 tuning_sharpness) of the
    # distance (1: over the whole spacing; 8: a semitone-off fundamental counts 0.79)
    tuning_sharpness: float = 1.0
    # G's loss on its notes' energy over time (shares in trainer.salience.
    # TIME_SEGMENTS equal segments of the note) outside the real notes' range near the
    # same pitch: their time_quantile and 1 - time_quantile; audio source only
    time_weight: float = 0.0
    time_quantile: float = 0.1
    # G's loss on the odd harmonics' part of its notes' power on the harmonics
    # (trainer.salience.odd_mask), below the odd_quantile of the real notes' near the
    # same pitch: a note on its even harmonics alone is the octave up; audio only
    odd_weight: float = 0.0
    odd_quantile: float = 0.25
    # G's loss drawing its notes' mean share of each harmonic (trainer.salience.
    # PROFILE_EDGES) near each pitch to the real notes' mean: a running mean of G's,
    # no per-note target (PitchTerms.profile); audio source only
    profile_weight: float = 0.0
    # G's loss on the share of a later part of its notes' power on the harmonics
    # (trainer.salience.AudioSalience's late part, whatever its level), below the
    # late_quantile of the real notes' near the same pitch; audio source only
    late_weight: float = 0.0
    late_quantile: float = 0.1
    # G's loss on the log of its notes' share of power on each of their first
    # trainer.salience.PRESENCE_HARMONICS harmonics (profile bands), below the log of
    # the presence_quantile of the real notes' share near the same pitch: a share's
    # own gradient vanishes with a harmonic's power, a log's does not; audio only
    presence_weight: float = 0.0
    presence_quantile: float = 0.4
    # the same on the late part of the note (AudioSalience's late part), against the
    # presence_quantile of the real notes' late shares: a note can hold its first
    # harmonics in its loud first half only; audio source only
    late_presence_weight: float = 0.0
    # G's cross-entropy of the salience's pitch scores on the late part of the note
    # (salience_weight's reads the held part): a note can score its pitch in its loud
    # first half and another one after it; audio source only
    late_salience_weight: float = 0.0
    # --- optimiser
    lr_g: float = 8e-4
    lr_d: float = 8e-4
    betas: tuple[float, float] = (0.0, 0.99)
    eps: float = 1e-8
    batch_size: int = 8  # per process
    reset_adam_per_stage: bool = True  # the reference rebuilds its optimisers per stage
    # --- generator EMA
    ema_decay: float = 0.999  # per step
    ema_rampup: float = 0.0  # > 0: EMA half-life at most this share of images seen
    # --- progressive schedule
    progressive: bool = True  # False: all blocks from the start
    schedule: str = "images"  # images | time
    stable_images: int = 800_000  # per resolution (images schedule)
    transition_images: int = 800_000  # per fade-in (images schedule)
    total_images: int = 11_000_000  # end of training (images schedule)
    time_limit_s: float = 0.0  # whole run (time schedule)
    # a time schedule's run continued at full resolution past time_limit_s (the
    # stages stay where time_limit_s put them)
    extra_time_s: float = 0.0
    stage_multiplier: float = (
        1.0  # each stage lasts this much longer than the one before
    )
    # --- augmentation (adversarial head only; label-preserving)
    augment: tuple[str, ...] = ()  # subset of AUGMENTS
    aug_p: float = 0.0  # probability per note and op
    aug_shift_frames: int = 2  # time shift range +-frames, silence padded
    aug_gain_db: float = 6.0  # gain range +-dB on the log-magnitude channel
    aug_mask_frames: int = 4  # longest time mask, frames
    # --- speed
    precision: str = (
        "fp32"  # fp32 | bf16 | auto (bf16 autocast of the main passes where
    )
    # the hardware has native bf16: CUDA, AVX512-BF16/AMX CPUs; the regulariser stays
    # fp32)
    channels_last: bool = False
    reuse_fakes: bool = False  # D step reuses the G step's fakes (saves one G forward)
    # --- bookkeeping (images)
    summary_every: int = 10_000  # TensorBoard scalars
    samples_every: int = 100_000  # TensorBoard audio + rainbowgrams
    checkpoint_every: int = 50_000  # latest.pt
    keep_every: int = 1_000_000  # a kept copy ckpt-<images>.pt
    eval_every: int = 0  # snapshot evaluation (0: never)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a train config needs a name")
        get_config(self.model)  # raises with the known names
        _choice("loss", self.loss, LOSSES)
        _choice("schedule", self.schedule, _SCHEDULES)
        _choice("fake_pitch_sampling", self.fake_pitch_sampling, _PITCH_SAMPLING)
        _choice("salience_source", self.salience_source, ("mel", "audio"))
        for key in SOUND_WEIGHTS:
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)}")
            if getattr(self, key) > 0 and self.salience_source != "audio":
                raise ValueError(
                    f"{key} needs salience_source 'audio' (the notes' sound), "
                    f"got {self.salience_source!r}"
                )
        for key in (
            "fundamental_quantile",
            "tuning_quantile",
            "odd_quantile",
            "late_quantile",
            "presence_quantile",
        ):
            if not 0.0 < getattr(self, key) < 1.0:
                raise ValueError(f"{key} must be in (0, 1), got {getattr(self, key)}")
        for key in ("envelope_quantile", "time_quantile"):
            if not 0.0 < getattr(self, key) < 0.5:
                raise ValueError(f"{key} must be in (0, 0.5), got {getattr(self, key)}")
        if self.tuning_sharpness < 1.0:
            raise ValueError(
                f"tuning_sharpness must be >= 1, got {self.tuning_sharpness}"
            )
        if not 0.0 < self.harmonic_target <= 1.0:
            raise ValueError(
                f"harmonic_target must be in (0, 1], got {self.harmonic_target}"
            )
        _choice("precision", self.precision, _PRECISIONS)
        for op in self.augment:
            _choice("augment", op, AUGMENTS)
        for key in ("gp_weight", "drift", "r1_gamma", "ac_weight_d", "ac_weight_g"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key} must be >= 0, got {getattr(self, key)}")
        for key in ("lr_g", "lr_d", "batch_size", "reg_interval", "stable_images"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if self.loss != "wgan_gp" and self.r1_gamma <= 0:
            raise ValueError(
                f"loss {self.loss} needs r1_gamma > 0, got {self.r1_gamma}"
            )
        if not all(0.0 <= b < 1.0 for b in self.betas) or len(self.betas) != 2:
            raise ValueError(f"betas must be two values in [0, 1), got {self.betas}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0.0 <= self.aug_p <= 1.0:
            raise ValueError(f"aug_p must be in [0, 1], got {self.aug_p}")
        if self.schedule == "time" and self.time_limit_s <= 0:
            raise ValueError(
                f"the time schedule needs time_limit_s > 0, got {self.time_limit_s}"
            )
        if self.stage_multiplier <= 0:
            raise ValueError(
                f"stage_multiplier must be positive, got {self.stage_multiplier}"
            )
        if self.transition_images < 0 or self.total_images <= 0:
            raise ValueError(
                f"image counts must be positive, got transition "
                f"{self.transition_images}, "
                f"total {self.total_images}"
            )
        for key in ("summary_every", "samples_every", "checkpoint_every", "keep_every"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")

    @property
    def model_config(self) -> ModelConfig:
        return get_config(self.model)

    @property
    def sound_terms(self) -> bool:
        """Whether G has any loss on where its notes' held power sits."""
        return any(getattr(self, key) > 0 for key in SOUND_WEIGHTS)

    @property
    def adam_reg_ratio(self) -> float:
        """StyleGAN2's lazy-regularisation correction c = k / (k + 1) (1 when k = 1)."""
        k = self.reg_interval
        return 1.0 if k == 1 else k / (k + 1)

    def d_adam(self) -> tuple[float, tuple[float, float]]:
        """D's Adam (lr, betas) with the lazy correction: lr * c, beta ** c."""
        c = self.adam_reg_ratio
        return self.lr_d * c, (self.betas[0] ** c, self.betas[1] ** c)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        try:
            fields = dict(data)
            fields["betas"] = tuple(float(b) for b in fields.get("betas", (0.0, 0.99)))
            fields["augment"] = tuple(str(a) for a in fields.get("augment", ()))
            return cls(**fields)
        except TypeError as err:
            raise ValueError(f"not a valid train config: {err}") from err


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")


def _cpu_recipe(name: str, model: str, hours: float, **changes: Any) -> TrainConfig:
    """CPU-TRAINING.md sec. 16: NS + lazy R1, time schedule, augmentation, ramps."""
    recipe: dict[str, Any] = {
        "loss": "ns_r1",
        "r1_gamma": 1.6,  # 0.0002 * 64 * 1024 / 8 (StyleGAN2-ADA's heuristic)
        "reg_interval": 16,
        "drift": 0.0,
        "gp_weight": 0.0,
        "ac_weight_d": 1.0,
        "ac_weight_g": 1.0,
        "ac_g_ramp_images": 100_000,
        # a pitch estimate G cannot fool (docs/MODEL.md, session 4)
        "salience_weight": 1.0,
        "salience_source": "audio",
        # and most of their held power on its harmonics (docs/MODEL.md, session 6),
        # with the real notes' part of it on the fundamental and their envelope
        # (session 7; the default run has them from 530k/540k images on), and near
        # the harmonics by how near, their level over time and their odd harmonics
        # (session 8; from 580k/590k/610k on, with harmonic 5)
        "harmonic_weight": 5.0,
        "fundamental_weight": 10.0,
        "fundamental_quantile": 0.4,
        "envelope_weight": 5.0,
        "envelope_quantile": 0.1,
        "tuning_weight": 10.0,
        "tuning_quantile": 0.1,
        "time_weight": 5.0,
        "time_quantile": 0.1,
        "odd_weight": 10.0,
        "odd_quantile": 0.25,
        # and their mean share of each harmonic, and the harmonics' share late in
        # the note (session 9; from 630k/640k on; profile 20 to 660k)
        "profile_weight": 50.0,
        "late_weight": 5.0,
        "late_quantile": 0.1,
        # and the log of the first two harmonics' shares (session 10; from 660k on)
        "presence_weight": 2.0,
        "presence_quantile": 0.4,
        # and in the late part of the note (session 11; from 680k on)
        "late_presence_weight": 2.0,
        # and the pitch scores of the late part (session 12; from 710k on)
        "late_salience_weight": 1.0,
        "fake_pitch_sampling": "uniform",
        "ema_rampup": 0.05,
        "schedule": "time",
        "time_limit_s": hours * 3600.0,
        "stage_multiplier": 1.4,
        "augment": ("time_shift", "gain"),
        "aug_p": 0.3,
        "precision": "auto",
        # channels_last measured slower than NCHW for fp32 on the AVX2 CPU here
        "channels_last": False,
        "reuse_fakes": True,
        "summary_every": 2_000,
        "samples_every": 25_000,
        "checkpoint_every": 10_000,
        "keep_every": 100_000,
        "eval_every": 50_000,
    }
    recipe.update(changes)
    return TrainConfig(name=name, model=model, **recipe)


# name -> recipe. `paper` is the reference; the rest are CPU recipes for smaller models.
TRAIN_PRESETS: dict[str, TrainConfig] = {
    "paper": TrainConfig(name="paper", model="paper"),
    "half": _cpu_recipe("half", "half", hours=20.0),
    "quarter": _cpu_recipe("quarter", "quarter", hours=16.0),
    "half_2s": _cpu_recipe("half_2s", "half_2s", hours=16.0),
    "quarter_2s": _cpu_recipe("quarter_2s", "quarter_2s", hours=12.0),
    # the faithful loss on the small model (pilot (a) of CPU-TRAINING.md sec. 16)
    "quarter_2s_wgan": TrainConfig(
        name="quarter_2s_wgan",
        model="quarter_2s",
        schedule="time",
        time_limit_s=1.5 * 3600.0,
        stage_multiplier=1.4,
        precision="auto",
        summary_every=2_000,
        samples_every=25_000,
        checkpoint_every=10_000,
        keep_every=100_000,
        eval_every=50_000,
    ),
    # the CPU recipe as a 1.5 h pilot (pilot (c))
    "quarter_2s_pilot": _cpu_recipe(
        "quarter_2s_pilot", "quarter_2s", hours=1.5, ac_g_ramp_images=15_000
    ),
}


def train_config_names() -> list[str]:
    """Train presets, smallest model first (ties: table order)."""
    from instrument.config import config_names

    order = {m: i for i, m in enumerate(config_names())}
    names = list(TRAIN_PRESETS)
    return sorted(names, key=lambda n: (order[TRAIN_PRESETS[n].model], names.index(n)))


def get_train_config(name: str) -> TrainConfig:
    try:
        return TRAIN_PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown train config {name!r}; known: {', '.join(train_config_names())}"
        ) from None
