"""Export a timbre as an SFZ multisample instrument that any SFZ sampler loads.

One 24-bit WAV per trained pitch (the bank's notes, loop crossfade baked in) and one
``.sfz`` file: each region maps the keys nearest to its pitch (21-108 in all, the end
regions stretched), velocity tracking, the sustain loop, and the engine's envelope.
Files are written to temporary names and renamed into place.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.bank import GUARD
from engine.engine import EngineSettings
from engine.interface import Instrument
from engine.renderer import render_notes
from engine.voices import KEY_RANGE

__all__ = ["export_sfz", "key_ranges"]


def key_ranges(pitch_range: tuple[int, int]) -> list[tuple[int, int, int]]:
    """(pitch, lokey, hikey) per trained pitch: KEY_RANGE by the nearest pitch."""
    lo, hi = pitch_range
    out = []
    for p in range(lo, hi + 1):
        lokey = min(KEY_RANGE[0], p) if p == lo else p
        hikey = max(KEY_RANGE[1], p) if p == hi else p
        out.append((p, lokey, hikey))
    return out


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _resample(audio: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst:
        return audio
    import soxr

    return soxr.resample(audio, src, dst, quality="HQ").astype(np.float32)


def export_sfz(
    instrument: Instrument,
    latent: np.ndarray,
    out_dir: str | os.PathLike[str],
    name: str = "gansynth",
    settings: EngineSettings | None = None,
    sample_rate: int | None = None,
) -> Path:
    """Render every trained pitch of ``latent`` and write ``OUT_DIR/<name>.sfz``.

    Parameters
    ----------
    instrument : the injected instrument.
    latent : [latent_size] float32 timbre.
    out_dir : folder (created); samples go to ``OUT_DIR/samples``.
    name : base name of the .sfz and WAV files.
    settings : envelope (ampeg opcodes) and loop crossfade; default EngineSettings().
    sample_rate : of the WAVs; default the instrument's rate.

    Returns
    -------
    Path of the .sfz file.
    """
    settings = settings or EngineSettings()
    z = np.asarray(latent, dtype=np.float32)
    if z.shape != (instrument.latent_size,) or not np.isfinite(z).all():
        raise ValueError(
            f"a latent must be {instrument.latent_size} finite values, "
            f"got shape {z.shape}"
        )
    if not name or any(c in name for c in '/\\:*?"<>|'):
        raise ValueError(f"{name!r} is not a usable file name")
    out_dir = Path(out_dir)
    samples = out_dir / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    src = instrument.sample_rate
    rate = int(sample_rate or src)
    regions = []
    for pitch, lokey, hikey in key_ranges(tuple(instrument.pitch_range)):
        [(audio, loop)] = render_notes(
            instrument, z, [pitch], settings.loop_crossfade_ms
        )
        wave = np.clip(_resample(audio[:-GUARD], src, rate), -1.0, 1.0)
        wav = samples / f"{name}_{pitch:03d}.wav"
        _write_atomic(
            wav, lambda p, w=wave: sf.write(p, w, rate, "PCM_24", format="WAV")
        )
        region = (
            f"<region> sample={wav.name} lokey={lokey} hikey={hikey} "
            f"pitch_keycenter={pitch}"
        )
        if loop is None:
            region += " loop_mode=no_loop"
        else:
            start = round(loop.start * rate / src)
            end = min(len(wave), round(loop.end * rate / src)) - 1  # SFZ: inclusive
            region += f" loop_start={start} loop_end={end}"
        regions.append(region)
    text = _header(instrument, settings, name) + "\n".join(regions) + "\n"
    sfz = out_dir / f"{name}.sfz"
    _write_atomic(sfz, lambda p: p.write_text(text, encoding="utf-8"))
    return sfz


def _header(instrument: Instrument, s: EngineSettings, name: str) -> str:
    return (
        f"// {name}: exported from {instrument.name} (model {instrument.model_id})\n"
        "<control> default_path=samples/\n"
        "<global> amp_veltrack=100 loop_mode=loop_continuous "
        f"ampeg_attack={s.attack:g} ampeg_decay={s.decay:g} "
        f"ampeg_sustain={100 * s.sustain:g} ampeg_release={s.release:g}\n"
    )
