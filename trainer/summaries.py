"""TensorBoard summaries of training: scalars, generated audio and rainbowgrams.

Only rank 0 writes. A rainbowgram (Engel et al. 2017) shows a note's log magnitude as
brightness and its instantaneous frequency as colour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from instrument.config import SpectralConfig

__all__ = ["Summaries", "rainbowgram"]


def rainbowgram(image: np.ndarray, spectral: SpectralConfig) -> np.ndarray:
    """An RGB picture of one note.

    Parameters
    ----------
    image : np.ndarray
        [2, T, F] float, raw units (log-mel power, mel IF).
    spectral : SpectralConfig
        For the normaliser constants.

    Returns
    -------
    np.ndarray
        [3, F, T] float32 in [0, 1], low frequencies at the bottom.
    """
    (ma, mb), (ia, ib) = spectral.mag_normalizer, spectral.if_normalizer
    value = np.clip((ma * image[0] + mb + 1.0) / 2.0, 0.0, 1.0)
    hue = np.clip((ia * image[1] + ib + 1.0) / 2.0, 0.0, 1.0) * (5.0 / 6.0)
    h6 = hue * 6.0
    x = 1.0 - np.abs(h6 % 2.0 - 1.0)
    sector = np.floor(h6).astype(np.int64) % 6
    zero = np.zeros_like(hue)
    one = np.ones_like(hue)
    table = [
        (one, x, zero),
        (x, one, zero),
        (zero, one, x),
        (zero, x, one),
        (x, zero, one),
    ]
    table.append((one, zero, x))
    rgb = np.zeros((3, *hue.shape), dtype=np.float32)
    for s, (r, g, b) in enumerate(table):
        sel = sector == s
        rgb[0][sel], rgb[1][sel], rgb[2][sel] = r[sel], g[sel], b[sel]
    rgb *= value[None]
    return np.ascontiguousarray(rgb.transpose(0, 2, 1)[:, ::-1, :])


class Summaries:
    """A TensorBoard writer for one run folder (rank 0 only)."""

    def __init__(self, run_dir: str | Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(Path(run_dir) / "tb"))

    def scalars(self, values: dict[str, float], images: int) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, images)

    def notes(
        self,
        images_raw: torch.Tensor,
        pitches: list[int],
        spectral: SpectralConfig,
        step: int,
    ) -> None:
        """Audio and a rainbowgram per generated note.

        Parameters
        ----------
        images_raw : torch.Tensor
            [B, 2, T, F] float raw units from the EMA generator.
        pitches : list of int
            MIDI pitch of each note (for the tag).
        """
        from instrument.spectral import images_to_waves

        waves = images_to_waves(images_raw.float().cpu(), spectral).numpy()
        peak = float(np.abs(waves).max()) if waves.size else 0.0
        for i, pitch in enumerate(pitches):
            wave = waves[i] / max(peak, 1e-6) * 0.9
            self.writer.add_audio(
                f"notes/pitch_{pitch}",
                wave[None],
                step,
                sample_rate=spectral.sample_rate,
            )
            picture = rainbowgram(images_raw[i].float().cpu().numpy(), spectral)
            self.writer.add_image(f"rainbowgram/pitch_{pitch}", picture, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
