"""Frozen, validated configs for the spectral representation and the generator.

Named presets live in one table (``PRESETS``); ``paper`` is exactly the published
IF-Mel + H model (GANSynth, ICLR 2019, as its reference code computes it). The smaller
presets keep the same representation (16 kHz, nfft 2048, hop 512, 1024 mel bins,
log-mel power + mel IF) and change only the channel widths and, for the ``*_2s`` ones,
the note length (64 frames = 2 s instead of 128 frames = 4 s).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SpectralConfig",
    "ModelConfig",
    "PRESETS",
    "get_config",
    "config_names",
]


def _exact_div(a: int, b: int, what: str) -> int:
    if b == 0 or a % b:
        raise ValueError(f"{what}: {a} is not divisible by {b}")
    return a // b


@dataclass(frozen=True, slots=True)
class SpectralConfig:
    """The IF-Mel image of one note: [frames, bins, 2] = [log-mel power, mel IF]."""

    sample_rate: int = 16000  # Hz of the model's audio
    audio_length: int = 64000  # samples per note (4 s at 16 kHz)
    n_fft: int = (
        2048  # STFT frame length = FFT length; bins kept = n_fft // 2 (DC dropped)
    )
    hop_length: int = 512  # 75 % overlap, as the reference
    n_frames: int = 128  # time frames of the image
    # True: IF-Mel (log mel power, mel IF); False: linear IF (log magnitude, IF)
    mel: bool = True
    mag_normalizer: tuple[float, float] = (
        0.0661371661726,
        0.113718730221,
    )  # a, b: y = a*x+b
    if_normalizer: tuple[float, float] = (0.8, 0.0)  # a, b for the IF channel

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.n_fft <= 0 or self.n_fft & (self.n_fft - 1):
            raise ValueError(f"n_fft must be a power of two, got {self.n_fft}")
        if self.hop_length != self.n_fft // 4:
            raise ValueError(
                f"hop_length must be n_fft // 4 (75 % overlap), got {self.hop_length}"
            )
        if self.pad_left < 0:
            raise ValueError(
                f"{self.n_frames} frames of hop {self.hop_length} cannot cover "
                f"{self.audio_length} samples"
            )
        for name in ("mag_normalizer", "if_normalizer"):
            a, _ = getattr(self, name)
            if a == 0:
                raise ValueError(f"{name} scale must be non-zero")

    @property
    def n_bins(self) -> int:
        """Frequency bins of the image (DC dropped, Nyquist kept)."""
        return self.n_fft // 2

    @property
    def padded_length(self) -> int:
        """Samples spanned by the frames: hop * (frames - 1) + n_fft."""
        return self.hop_length * (self.n_frames - 1) + self.n_fft

    @property
    def pad_left(self) -> int:
        """Zeros put before the audio (the reference pads only on the left)."""
        return self.padded_length - self.audio_length

    @property
    def duration_s(self) -> float:
        return self.audio_length / self.sample_rate

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """[frames, bins, channels] of one note's image."""
        return (self.n_frames, self.n_bins, 2)


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """A progressive GANSynth generator (and its discriminator) for one image."""

    name: str
    spectral: SpectralConfig = field(default_factory=SpectralConfig)
    latent_size: int = 256  # z ~ N(0, I)
    pitch_min: int = 24  # lowest MIDI pitch of the one-hot
    pitch_max: int = 84  # highest MIDI pitch of the one-hot (inclusive)
    start_shape: tuple[int, int] = (2, 16)  # [frames, bins] of the first block
    channels: tuple[int, ...] = (
        256,
        256,
        256,
        256,
        128,
        64,
        32,
    )  # per block, low res first
    kernel_size: int = 3

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a model config needs a name")
        if self.latent_size <= 0:
            raise ValueError(f"latent_size must be positive, got {self.latent_size}")
        if not 0 <= self.pitch_min <= self.pitch_max <= 127:
            raise ValueError(
                f"pitch range {self.pitch_min}-{self.pitch_max} "
                "is not inside MIDI 0-127"
            )
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ValueError(f"channels must be positive, got {self.channels}")
        if self.kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")
        h, w = self.final_shape
        if (h, w) != (self.spectral.n_frames, self.spectral.n_bins):
            raise ValueError(
                f"start {self.start_shape} x 2^{self.num_resolutions - 1} "
                f"gives {h}x{w}, but the spectral image is "
                f"{self.spectral.n_frames}x{self.spectral.n_bins}"
            )

    @property
    def num_resolutions(self) -> int:
        return len(self.channels)

    @property
    def num_pitches(self) -> int:
        """Depth of the pitch one-hot."""
        return self.pitch_max - self.pitch_min + 1

    @property
    def pitches(self) -> range:
        return range(self.pitch_min, self.pitch_max + 1)

    @property
    def final_shape(self) -> tuple[int, int]:
        scale = 2 ** (self.num_resolutions - 1)
        return (self.start_shape[0] * scale, self.start_shape[1] * scale)

    def block_shape(self, block: int) -> tuple[int, int]:
        """[frames, bins] at block ``block`` (1-based, as the reference counts)."""
        if not 1 <= block <= self.num_resolutions:
            raise ValueError(f"block must be 1..{self.num_resolutions}, got {block}")
        scale = 2 ** (block - 1)
        return (self.start_shape[0] * scale, self.start_shape[1] * scale)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Rebuild a config from ``to_dict`` output (e.g. from a model bundle)."""
        try:
            spectral = dict(data["spectral"])
            for key in ("mag_normalizer", "if_normalizer"):
                if key in spectral:
                    spectral[key] = tuple(float(v) for v in spectral[key])
            fields = {k: v for k, v in data.items() if k != "spectral"}
            for key in ("start_shape", "channels"):
                if key in fields:
                    fields[key] = tuple(int(v) for v in fields[key])
            return cls(spectral=SpectralConfig(**spectral), **fields)
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a valid model config: {err}") from err


_FOUR_S = SpectralConfig()
_TWO_S = SpectralConfig(audio_length=32000, n_frames=64)

# name -> config; smallest first is the order of ``config_names``.
PRESETS: dict[str, ModelConfig] = {
    "paper": ModelConfig(name="paper"),
    "half": ModelConfig(name="half", channels=(128, 128, 128, 128, 64, 32, 16)),
    "quarter": ModelConfig(name="quarter", channels=(64, 64, 64, 64, 32, 16, 8)),
    "half_2s": ModelConfig(
        name="half_2s",
        spectral=_TWO_S,
        start_shape=(1, 16),
        channels=(128, 128, 128, 128, 64, 32, 16),
    ),
    "quarter_2s": ModelConfig(
        name="quarter_2s",
        spectral=_TWO_S,
        start_shape=(1, 16),
        channels=(64, 64, 64, 64, 32, 16, 8),
    ),
}


def _cost(cfg: ModelConfig) -> int:
    """A rough size key (multiply-adds per note) to order configs smallest first."""
    total = 0
    for b, c in enumerate(cfg.channels, start=1):
        h, w = cfg.block_shape(b)
        total += h * w * c * c
    return total


def config_names() -> list[str]:
    """Preset names, smallest model first."""
    return sorted(PRESETS, key=lambda n: _cost(PRESETS[n]))


def get_config(name: str) -> ModelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown model config {name!r}; known: {', '.join(config_names())}"
        ) from None
