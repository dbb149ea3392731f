"""Render single notes from a General MIDI SoundFont, offline, to numpy.

Used to build NSynth-format training sets (trainer), to make real instrument notes for
tests, and by ``SoundFontInstrument`` (a second instrument the host can load, with the
same interface as the neural ``Synth``). Needs the ``tinysoundfont`` package; imports
no torch.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np

__all__ = [
    "find_soundfont",
    "SoundFontRenderer",
    "DEFAULT_SOUNDFONTS",
    "SoundFontInstrument",
    "DEFAULT_PROGRAMS",
    "resolve_soundfont",
]

# Searched in this order by ``find_soundfont`` (Debian/Ubuntu paths; MIT-licensed
# FluidR3 first).
DEFAULT_SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
)


def find_soundfont() -> Path | None:
    """The first General MIDI SoundFont found ($GANSYNTH_SOUNDFONT first), or None."""
    env = os.environ.get("GANSYNTH_SOUNDFONT")
    for candidate in ((env,) if env else ()) + DEFAULT_SOUNDFONTS:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    try:  # pretty_midi's wheel ships a small GM SoundFont
        import importlib.util

        spec = importlib.util.find_spec("pretty_midi")
        if spec and spec.origin:
            p = Path(spec.origin).parent / "TimGM6mb.sf2"
            if p.is_file():
                return p
    except ImportError:
        pass
    return None


def resolve_soundfont(path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or a bare file name found in the system SoundFont folders.

    So ``--model FluidR3_GM.sf2`` works where Debian installs it. Unknown names are
    returned unchanged (the caller reports them).
    """
    p = Path(path)
    if p.is_file() or p.parent != Path("."):
        return p
    for folder in dict.fromkeys(Path(c).parent for c in DEFAULT_SOUNDFONTS):
        if (folder / p.name).is_file():
            return folder / p.name
    return p


class SoundFontRenderer:
    """One SoundFont loaded once; renders mono float32 notes at ``sample_rate``.

    Not thread-safe: use one renderer per thread.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int = 16000) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"SoundFont not found: {path}")
        try:
            import tinysoundfont
        except ImportError as err:
            raise ImportError(
                "rendering SoundFonts needs the 'tinysoundfont' package "
                "(pip install --no-deps tinysoundfont)"
            ) from err
        self.path = path
        self.sample_rate = int(sample_rate)
        self._synth = tinysoundfont.Synth(samplerate=self.sample_rate, gain=0.0)
        try:
            self._sfid = self._synth.sfload(str(path))
        except Exception as err:  # tinysoundfont raises its own error types
            raise ValueError(f"{path} is not a readable SoundFont ({err})") from err

    def preset_name(self, program: int, bank: int = 0) -> str:
        """The SoundFont's own name for a GM program (e.g. 'Acoustic Grand Piano')."""
        try:
            return str(self._synth.sfpreset_name(self._sfid, bank, program))
        except Exception:
            return f"program {program}"

    def render_note(
        self,
        program: int,
        pitch: int,
        velocity: int = 100,
        length: int | None = None,
        hold: int | None = None,
    ) -> np.ndarray:
        """One note: ``[length] float32`` mono, key held for ``hold`` samples.

        Defaults follow NSynth: 4 s notes held for 3 s.
        """
        if not 0 <= program <= 127:
            raise ValueError(f"GM program must be 0-127, got {program}")
        if not 0 <= pitch <= 127:
            raise ValueError(f"MIDI pitch must be 0-127, got {pitch}")
        if not 1 <= velocity <= 127:
            raise ValueError(f"velocity must be 1-127, got {velocity}")
        length = 4 * self.sample_rate if length is None else int(length)
        hold = min(length, 3 * self.sample_rate if hold is None else int(hold))
        s = self._synth
        s.notes_off()
        s.sounds_off()
        s.generate(256)  # flush any tail of the previous note
        s.program_select(0, self._sfid, 0, int(program))
        s.noteon(0, int(pitch), int(velocity))
        held = np.frombuffer(s.generate(hold), np.float32).reshape(-1, 2)
        s.noteoff(0, int(pitch))
        rest = np.frombuffer(s.generate(length - hold), np.float32).reshape(-1, 2)
        stereo = np.concatenate([held, rest]) if len(rest) else held.copy()
        return stereo.mean(axis=1).astype(np.float32)


# GM programs mixed by SoundFontInstrument: piano, vibraphone, violin, trumpet, flute.
DEFAULT_PROGRAMS = (0, 11, 40, 56, 73)

_HASHES: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 prefix


def _file_hash(path: Path) -> str:
    """The file's SHA-256, first 16 hex digits (cached per path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASHES[key] = h.hexdigest()[:16]
    return _HASHES[key]


class SoundFontInstrument:
    """A SoundFont played through the instrument interface of the neural ``Synth``.

    Not GANSynth: a second, real instrument for users and tests without a trained model.
    A latent picks a smooth mixture of a few General MIDI programs: the weights are a
    softmax of the latent projected on fixed random directions (one per program), so a
    latent moving continuously (the XY pad) morphs the sound continuously. Each note is
    a real SoundFont note (NSynth-like: held 3 s of 4 s, velocity 100) rendered directly
    at ``sample_rate``; each program is scaled once so its middle C peaks at 0.5, so the
    programs mix at comparable loudness.

    Thread-safe: ``render`` takes a lock (tinysoundfont's synth is not thread-safe).

    Parameters
    ----------
    path : a .sf2/.sf3 General MIDI SoundFont.
    sample_rate : Hz of the rendered notes (the device rate).
    programs : GM programs (0-127) mixed by the latent.
    latent_size : length of the latent vectors accepted.
    temperature : sharpness of the softmax (higher: closer to one program per latent).
    """

    pitch_range = (24, 84)  # as GANSynth
    device_name = "CPU"
    note_seconds = 4.0

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int = 48000,
        programs: tuple[int, ...] = DEFAULT_PROGRAMS,
        latent_size: int = 256,
        temperature: float = 2.0,
    ) -> None:
        if not programs or any(not 0 <= p <= 127 for p in programs):
            raise ValueError(f"programs must be GM programs 0-127, got {programs}")
        if not 8000 <= int(sample_rate) <= 192000:
            raise ValueError(f"sample rate must be 8000-192000 Hz, got {sample_rate}")
        if latent_size < 1:
            raise ValueError(f"latent size must be positive, got {latent_size}")
        path = resolve_soundfont(path)
        self._renderer = SoundFontRenderer(path, sample_rate=int(sample_rate))
        self.path = self._renderer.path
        self.sample_rate = int(sample_rate)
        self.programs = tuple(int(p) for p in programs)
        self.latent_size = int(latent_size)
        self.temperature = float(temperature)
        self.note_length = int(round(self.note_seconds * self.sample_rate))
        programs_id = "-".join(map(str, self.programs))
        self.model_id = f"sf2:{_file_hash(self.path)}:{programs_id}"
        names = [self._renderer.preset_name(p) for p in self.programs]
        self.name = f"SoundFont {self.path.name} ({', '.join(names)})"
        rng = np.random.default_rng(0)  # fixed: the same latent gives the same sound
        dirs = rng.standard_normal((len(self.programs), self.latent_size))
        self._directions = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
        self._lock = threading.Lock()
        self._gains = {}  # program -> gain that brings its middle C to a 0.5 peak
        for prog in self.programs:
            peak = float(np.abs(self._renderer.render_note(prog, 60)).max())
            self._gains[prog] = 0.5 / peak if peak > 1e-6 else 1.0

    def weights(self, latents: np.ndarray) -> np.ndarray:
        """Program mixture per latent: [B, programs] float64, rows sum to 1."""
        z = np.asarray(latents, dtype=np.float64)
        # a N(0, I) latent projects on a unit direction as N(0, 1): scores ~ N(0, T^2)
        scores = self.temperature * (z @ self._directions.T)
        scores -= scores.max(axis=1, keepdims=True)
        w = np.exp(scores)
        return w / w.sum(axis=1, keepdims=True)

    def program_latent(self, program: int, strength: float = 0.25) -> np.ndarray:
        """A latent that selects mostly ``program`` ([latent_size] float32).

        It points along the program's direction with ``strength`` times the norm of a
        typical N(0, I) latent, so the program's weight is above 0.99 (a pad corner that
        is one clear instrument).
        """
        if program not in self.programs:
            raise ValueError(f"program {program} is not one of {self.programs}")
        d = self._directions[self.programs.index(program)]
        return (d * np.sqrt(self.latent_size) * strength).astype(np.float32)

    def _check(
        self, latents: np.ndarray, pitches: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        z = np.asarray(latents)
        p = np.asarray(pitches)
        if z.ndim != 2 or z.shape[1] != self.latent_size:
            raise ValueError(
                f"latents must have shape [batch, {self.latent_size}], got {z.shape}"
            )
        if p.shape != (z.shape[0],):
            raise ValueError(f"pitches must have shape [{z.shape[0]}], got {p.shape}")
        if not np.isfinite(z).all():
            raise ValueError("latents contain NaN or Inf values")
        if not np.issubdtype(p.dtype, np.integer):
            raise ValueError(f"pitches must be integers, got {p.dtype}")
        lo, hi = self.pitch_range
        bad = p[(p < lo) | (p > hi)]
        if len(bad):
            raise ValueError(f"pitch {int(bad[0])} is outside the range {lo}-{hi}")
        return z.astype(np.float32), p.astype(np.int64)

    def render(self, latents: np.ndarray, pitches: np.ndarray) -> np.ndarray:
        """Notes for latents and MIDI pitches.

        Parameters
        ----------
        latents : [B, latent_size] float32.
        pitches : [B] int MIDI pitches inside ``pitch_range``.

        Returns
        -------
        [B, note_length] float32 at ``sample_rate``.
        """
        z, p = self._check(latents, pitches)
        weights = self.weights(z)
        out = np.zeros((len(p), self.note_length), np.float32)
        with self._lock:
            for b, pitch in enumerate(p):
                for program, w in zip(self.programs, weights[b], strict=True):
                    if w < 1e-3:  # below -60 dB: skip the render
                        continue
                    note = self._renderer.render_note(
                        program, int(pitch), 100, length=self.note_length
                    )
                    out[b] += np.float32(w * self._gains[program]) * note
        return out
