"""``Synth``: a model bundle as an instrument, ``latents x pitches -> float32 notes``.

The engine's renderer thread owns one ``Synth`` (the engine never imports torch; it gets
the instrument by injection). ``render`` runs the generator under
``torch.inference_mode`` with channels_last weights, the inverse spectral path
(``SpectralTransform.inverse``: mel to linear, phase from IF, overlap-add) and resamples
the 16 kHz notes to the output rate with soxr (high quality).

Precision ("auto" picks; "fp32" or "bf16" force it):

- bf16 is used where the hardware runs it natively *and* the net is wide enough: CUDA
  with bf16 support, or a CPU with AVX-512 BF16 / AMX (``/proc/cpuinfo`` flags), and at
  least 256 channels in the widest block (the ``paper`` preset). ENVIRONMENT.md measured
  bf16 at about half the paper generator's fp32 time on a Zen 5 CPU; narrow nets (half,
  quarter) gain little there and their rounding error grows, so they stay fp32. On a CPU
  without native bf16 (AVX2 only) bf16 ran 4-15x *slower* than fp32 (measured on the
  AVX2 development machine of this code), so auto never picks it there.
- The error bf16 adds, measured on random weights (2 notes, |bf16 - fp32| of the
  generator's tanh output, range [-1, 1]): see ``BF16_ERROR_NOTE`` (paper: mean 8e-3,
  max 0.095; quarter: max 0.82). Check it again on a trained model.
- Only the generator runs in bf16; its tanh output is widened to float32 before
  de-normalising, and the inverse path and resampling always run in float32.

Batching: ``batch_size`` notes per generator call. On a 2-core CPU batching gains
nothing (ENVIRONMENT.md), so the CPU default is small (the first note of a bank is ready
sooner); GPUs get large batches. ``compile=True`` wraps the generator in
``torch.compile`` (slow first call: 5-17 s per shape on an idle machine, 50-100 s
measured on a busy 2-core one; batches are padded to ``batch_size`` so one shape is
compiled). On CPU it mostly helps narrow nets, whose time goes to element-wise work.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from instrument.bundle import Bundle, BundleError, default_model_path, load_bundle
from instrument.networks import EqualizedConv2d, Generator

__all__ = [
    "Synth",
    "RenderInterrupted",
    "PRECISIONS",
    "pick_device",
    "native_bf16",
    "BF16_ERROR_NOTE",
]


class RenderInterrupted(RuntimeError):
    """A render stopped by ``Synth.set_interrupt``'s check."""


PRECISIONS = ("auto", "fp32", "bf16")
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
_BF16_MIN_WIDTH = 256  # widest block's channels for auto to pick bf16

# Measured here (random weights, 2 notes, |bf16 - fp32| of the tanh output, whose range
# is [-1, 1]); ENVIRONMENT.md found mean 7e-3 / max 0.1 for paper on another machine.
BF16_ERROR_NOTE = (
    "bf16 vs fp32 generator output on random weights, tanh units: "
    "paper mean 8.1e-3, 99th percentile 3.4e-2, max 0.095; "
    "half mean 6.7e-3, p99 3.7e-2, max 0.13; "
    "quarter mean 1.4e-2, p99 9.4e-2, max 0.82"
)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The given device, else the best one here: cuda, then mps, then cpu."""
    if device is not None:
        try:
            return torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"unknown torch device {device!r}") from err
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _cpu_flags() -> set[str]:
    if not sys.platform.startswith("linux"):
        return set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 convolutions natively (fast)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        flags = _cpu_flags()
        if flags:
            return bool({"avx512_bf16", "amx_bf16"} & flags)
        return False
    return False


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return "CPU"


def _output_gain(bundle: Bundle) -> float:
    """The bundle's ``output_gain`` (default 1), or one ``BundleError`` sentence."""
    gain = bundle.info.get("output_gain", 1.0)
    if (
        isinstance(gain, bool)
        or not isinstance(gain, (int, float))
        or not math.isfinite(gain)
        or not 0.0 < gain <= 1e4
    ):
        raise BundleError(
            f"{bundle.path}: output_gain {gain!r} in its info is not a number "
            "in (0, 10000]"
        )
    return float(gain)


class Synth:
    """A GANSynth model bundle as a playable instrument.

    Parameters
    ----------
    bundle : Bundle
        A loaded model bundle (``instrument.bundle.load_bundle``).
    output_rate : int
        Rate of ``render``'s output in Hz (16000 = the model's own, no resampling).
    device : str or torch.device, optional
        Default: cuda, then mps, then cpu.
    precision : {"auto", "fp32", "bf16"}
        Generator precision; see the module docstring for what "auto" picks.
    batch_size : int, optional
        Notes per generator call (default 4 on CPU, 64 on a GPU).
    compile : bool
        Wrap the generator in ``torch.compile`` (batches are padded to ``batch_size``).

    Attributes
    ----------
    sample_rate, pitch_range, latent_size, note_length, model_id, name, device_name
        The instrument interface the engine uses.
    """

    can_preview = True  # render_window: a held note's next moments, cheaply

    def __init__(
        self,
        bundle: Bundle,
        output_rate: int = 48000,
        device: str | torch.device | None = None,
        precision: str = "auto",
        batch_size: int | None = None,
        compile: bool = False,
    ) -> None:
        from instrument.spectral import SpectralTransform

        if precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
            )
        self.bundle = bundle
        self.config = bundle.config
        self.device = pick_device(device)
        self.device_name = _device_name(self.device)
        self.precision = self._resolve_precision(precision)
        default_batch = 64 if self.device.type != "cpu" else 4
        self.batch_size = int(batch_size or default_batch)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        cfg = self.config
        self.latent_size = cfg.latent_size
        self.pitch_range = (cfg.pitch_min, cfg.pitch_max)
        self.model_id = bundle.model_id
        self.name = str(bundle.info.get("name") or f"{cfg.name} {self.model_id[:8]}")
        self.model_rate = cfg.spectral.sample_rate
        self.model_length = cfg.spectral.audio_length
        self.compiled = bool(compile)
        # a bundle exported during progressive growing renders at the progress it was
        # trained to (lower blocks blended and upsampled), as its training samples did
        progress = bundle.info.get("progress")
        self.progress: float | None = None if progress is None else float(progress)
        # the level trainer export measured (instrument.level); 1 for older bundles
        self.output_gain = _output_gain(bundle)

        gen = Generator(cfg)
        gen.load_state_dict(bundle.state_dict)
        gen = gen.eval().requires_grad_(False)
        for module in gen.modules():  # inference: no run-time weight scaling
            if isinstance(module, EqualizedConv2d):
                module.fold_scale()
        gen = gen.to(self.device, _DTYPES[self.precision])
        self.generator = gen.to(memory_format=torch.channels_last)
        self._forward = (
            torch.compile(self.generator, dynamic=False) if compile else self.generator
        )
        self.spectral = SpectralTransform(cfg.spectral, device=self.device).eval()
        self._interrupt_hooks: list = []
        self.sample_rate = self.model_rate
        self.note_length = self.model_length
        self.set_output_rate(output_rate)

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        output_rate: int = 48000,
        device: str | torch.device | None = None,
        precision: str = "auto",
        **kwargs,
    ) -> Synth:
        """Load a bundle file; a missing shipped model gets its own sentence."""
        path = Path(path)
        if not path.is_file() and path.resolve() == default_model_path():
            raise BundleError(
                f"there is no shipped model yet ({path} does not exist); "
                "pass a trained bundle with --model PATH (python -m trainer makes one)"
            )
        bundle = load_bundle(path)
        return cls(bundle, output_rate, device, precision, **kwargs)

    def _resolve_precision(self, precision: str) -> str:
        if precision != "auto":
            return precision
        wide = max(self.config.channels) >= _BF16_MIN_WIDTH
        return "bf16" if wide and native_bf16(self.device) else "fp32"

    def set_output_rate(self, sample_rate: int) -> None:
        """Change the rate of ``render``'s output (Hz); ``note_length`` follows."""
        sr = int(sample_rate)
        if sr != sample_rate or not 8000 <= sr <= 384000:
            raise ValueError(f"output rate must be 8000-384000 Hz, got {sample_rate}")
        self.sample_rate = sr
        self.note_length = round(self.model_length * sr / self.model_rate)

    # ------------------------------------------------------------------ input checks
    def _check(
        self, latents: np.ndarray | torch.Tensor, pitches: np.ndarray | torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(latents, torch.Tensor):
            latents = latents.detach().to("cpu").numpy()
        if isinstance(pitches, torch.Tensor):
            pitches = pitches.detach().to("cpu").numpy()
        z = np.asarray(latents)
        p = np.asarray(pitches)
        if z.ndim != 2 or z.shape[1] != self.latent_size:
            raise ValueError(
                f"latents must have shape [batch, {self.latent_size}], "
                f"got {list(z.shape)}"
            )
        if not np.issubdtype(z.dtype, np.floating):
            raise ValueError(f"latents must be floating point, got {z.dtype}")
        if p.ndim != 1 or p.shape[0] != z.shape[0]:
            raise ValueError(
                f"pitches must have shape [{z.shape[0]}] to match the latents, "
                f"got {list(p.shape)}"
            )
        if not np.issubdtype(p.dtype, np.integer):
            raise ValueError(f"pitches must be integer MIDI notes, got {p.dtype}")
        lo, hi = self.pitch_range
        bad = (p < lo) | (p > hi)
        if bad.any():
            raise ValueError(
                f"pitch {int(p[bad][0])} is outside this model's range {lo}-{hi}"
            )
        if not np.all(np.isfinite(z)):
            raise ValueError("latents contain NaN or Inf")
        return z.astype(np.float32, copy=False), p.astype(np.int64, copy=False)

    # ------------------------------------------------------------------ rendering
    def _images(self, z: np.ndarray, p: np.ndarray) -> torch.Tensor:
        """Raw images for one batch, float32 ``[b, 2, T, F]`` on the device."""
        n = len(z)
        zt = torch.from_numpy(z).to(self.device)
        labels = torch.from_numpy(p - self.config.pitch_min).to(self.device)
        if self.compiled and n < self.batch_size:  # one compiled shape
            pad = self.batch_size - n
            zt = torch.cat([zt, zt.new_zeros(pad, zt.shape[1])])
            labels = torch.cat([labels, labels.new_zeros(pad)])
        return self._forward(zt, labels, self.progress)[:n].float()

    def _waves(self, images: torch.Tensor) -> np.ndarray:
        """Raw images -> ``[b, note_length] float32`` at the output rate."""
        waves = self.spectral.inverse(images).to("cpu", torch.float32).numpy()
        return self._resample(self._gained(waves))

    def _gained(self, waves: np.ndarray) -> np.ndarray:
        """Model-rate waves times the bundle's output gain (in place)."""
        if self.output_gain != 1.0:
            waves *= np.float32(self.output_gain)
        return waves

    def _resample(self, waves: np.ndarray) -> np.ndarray:
        import soxr

        if self.sample_rate == self.model_rate:
            out = waves
        else:  # soxr takes [frames, channels]: every note is a channel
            out = soxr.resample(
                np.ascontiguousarray(waves.T), self.model_rate, self.sample_rate, "HQ"
            ).T
        n = self.note_length
        if out.shape[1] < n:
            out = np.pad(out, ((0, 0), (0, n - out.shape[1])))
        return np.ascontiguousarray(out[:, :n], dtype=np.float32)

    def _batches(self, n: int):
        for start in range(0, n, self.batch_size):
            yield slice(start, min(n, start + self.batch_size))

    def render(
        self, latents: np.ndarray | torch.Tensor, pitches: np.ndarray | torch.Tensor
    ) -> np.ndarray:
        """Render notes.

        Parameters
        ----------
        latents : [B, latent_size] float (numpy or torch)
        pitches : [B] int
            MIDI pitches inside ``pitch_range``.

        Returns
        -------
        [B, note_length] float32 at ``sample_rate``.
        """
        z, p = self._check(latents, pitches)
        out = np.empty((len(z), self.note_length), np.float32)
        with torch.inference_mode():
            for s in self._batches(len(z)):
                out[s] = self._waves(self._images(z[s], p[s]))
        return out

    # ------------------------------------------------------------------ previews
    def frames_for(self, start: int, length: int) -> tuple[int, int]:
        """Frames ``[lo, hi)`` whose overlap-add makes output samples
        ``[start, start + length)`` exactly (a frame's reach, plus one frame on each
        side for the resampler's filter)."""
        spec = self.config.spectral
        scale = self.model_rate / self.sample_rate
        first = math.floor(start * scale) + spec.pad_left  # in padded model samples
        last = math.ceil((start + length) * scale) + spec.pad_left
        lo = (first - spec.n_fft) // spec.hop_length
        hi = last // spec.hop_length + 2
        return max(0, lo), min(spec.n_frames, hi)

    def render_window(
        self,
        latents: np.ndarray | torch.Tensor,
        pitches: np.ndarray | torch.Tensor,
        starts: np.ndarray,
        length: int,
    ) -> np.ndarray:
        """Samples ``[start, start + length)`` of notes, at a fraction of a note's cost.

        Only the frames those samples need go through the generator's expensive top
        blocks (``Generator.forward_window``); the rest of the image is silence, so
        the samples equal ``render``'s but for a constant phase offset per frequency
        (the instantaneous frequency is summed from the window's first frame). The
        engine plays this under a held note while the whole note renders.
        A generator not fully grown renders whole notes and slices them.

        Returns ``[B, length]`` float32 at ``sample_rate``.
        """
        z, p = self._check(latents, pitches)
        starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        if starts.shape != (len(z),) or (starts < 0).any() or length < 1:
            raise ValueError(
                f"need one start >= 0 per note ({len(z)}) and a positive length"
            )
        out = np.zeros((len(z), length), np.float32)
        full = self.progress is not None and self.progress < (
            self.config.num_resolutions - 1
        )
        with torch.inference_mode():
            for i in range(len(z)):
                start = int(min(starts[i], self.note_length - 1))
                stop = min(self.note_length, start + length)
                if full or self.compiled:
                    wave = self._waves(self._images(z[i : i + 1], p[i : i + 1]))[0]
                    out[i, : stop - start] = wave[start:stop]
                else:
                    lo, hi = self.frames_for(start, stop - start)
                    zt = torch.from_numpy(z[i : i + 1]).to(self.device)
                    label = torch.from_numpy(p[i : i + 1] - self.config.pitch_min)
                    part = self.generator.forward_window(
                        zt, label.to(self.device), lo, hi
                    ).float()
                    out[i, : stop - start] = self._window_samples(part, lo, start, stop)
        return out

    def _window_samples(
        self, part: torch.Tensor, lo: int, start: int, stop: int
    ) -> np.ndarray:
        """Output samples ``[start, stop)`` of the image frames ``part`` (from frame
        ``lo``): only those frames go through the inverse and the resampler."""
        waves, first = self.spectral.inverse_window(part, lo)  # model samples first..
        wave = self._gained(waves[0].to("cpu", torch.float32).numpy())
        # the note is samples [0, model_length): the padding and past the end go
        wave = wave[max(0, -first) : self.model_length - first]
        first = max(0, first)
        mr, sr = self.model_rate, self.sample_rate
        if sr == mr:
            begin, seg = first, wave
        else:  # resample from a model sample that falls on an output sample
            import soxr

            step = mr // math.gcd(mr, sr)
            a = -(-first // step) * step
            begin = a * sr // mr
            seg = soxr.resample(wave[a - first :], mr, sr, "HQ")
        got = np.asarray(seg[max(0, start - begin) : max(0, stop - begin)], np.float32)
        if len(got) < stop - start:  # the window reaches the note's end
            got = np.pad(got, (0, stop - start - len(got)))
        return got

    def set_interrupt(self, check: Callable[[], bool] | None) -> None:
        """Make rendering stop between generator layers once ``check()`` is true.

        The stopped call raises ``RenderInterrupted``; None removes the check. The
        engine's renderer process uses it to drop a note of a timbre the player has
        already moved away from, so the new timbre starts a layer later, not a note.
        """
        for handle in self._interrupt_hooks:
            handle.remove()
        self._interrupt_hooks = []
        if check is None:
            return

        def hook(module, args):
            if check():
                raise RenderInterrupted("the render was interrupted")

        for module in self.generator.modules():
            if isinstance(module, EqualizedConv2d):
                self._interrupt_hooks.append(module.register_forward_pre_hook(hook))

    def render_images(
        self, latents: np.ndarray | torch.Tensor, pitches: np.ndarray | torch.Tensor
    ) -> np.ndarray:
        """The generator's raw images ``[B, 2, frames, bins] float32`` (log-mel, IF)."""
        z, p = self._check(latents, pitches)
        cfg = self.config.spectral
        out = np.empty((len(z), 2, cfg.n_frames, cfg.n_bins), np.float32)
        with torch.inference_mode():
            for s in self._batches(len(z)):
                out[s] = self._images(z[s], p[s]).to("cpu").numpy()
        return out

    def images_to_waves(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """Raw images ``[B, 2, frames, bins]`` -> ``[B, note_length] float32`` notes."""
        cfg = self.config.spectral
        x = torch.as_tensor(images, dtype=torch.float32)
        if x.dim() != 4 or tuple(x.shape[1:]) != (2, cfg.n_frames, cfg.n_bins):
            raise ValueError(
                f"images must have shape [batch, 2, {cfg.n_frames}, {cfg.n_bins}], "
                f"got {list(x.shape)}"
            )
        with torch.inference_mode():
            return self._waves(x.to(self.device))

    def __repr__(self) -> str:
        return (
            f"Synth({self.name!r}, id={self.model_id}, {self.device_name}, "
            f"{self.precision}, {self.sample_rate} Hz)"
        )
