"""The instrument interface the engine plays: any object with these members works.

The neural ``instrument.synth.Synth`` and ``instrument.soundfont.SoundFontInstrument``
both provide it; the engine receives one by injection and never imports torch.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["Instrument", "REQUIRED_FIELDS", "FIELDS"]

# the data members below that the engine needs, and all of them (device_name is shown)
REQUIRED_FIELDS = (
    "sample_rate",
    "pitch_range",
    "latent_size",
    "note_length",
    "model_id",
    "name",
)
FIELDS = (*REQUIRED_FIELDS, "device_name")


class Instrument(Protocol):
    """Renders notes for latents (the renderer thread is its only caller)."""

    sample_rate: int  # Hz of render()'s output (the device rate)
    pitch_range: tuple[
        int, int
    ]  # trained MIDI pitches, inclusive (24, 84 for GANSynth)
    latent_size: int  # length of a latent
    note_length: int  # samples per note at sample_rate
    model_id: str  # identifies the model (presets refuse other models)
    name: str  # for people
    device_name: str  # where it renders ("CPU", a GPU's name)

    def render(self, latents: np.ndarray, pitches: np.ndarray) -> np.ndarray:
        """Latents [B, latent_size] float32, MIDI pitches [B] int -> notes.

        Returns [B, note_length] float32 at ``sample_rate``.
        """
        ...
