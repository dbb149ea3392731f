"""Render single notes from a General MIDI SoundFont, offline, to numpy.

Used to build NSynth-format training sets (trainer), to make real instrument notes for tests,
and by ``SoundFontInstrument`` (a second instrument the host can load, with the same
interface as the neural ``Synth``). Needs the ``tinysoundfont`` package; imports no torch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["find_soundfont", "SoundFontRenderer", "DEFAULT_SOUNDFONTS"]

# Searched in this order by ``find_soundfont`` (Debian/Ubuntu paths; MIT-licensed FluidR3 first).
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
