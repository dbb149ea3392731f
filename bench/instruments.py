"""Instrument factories the benchmark hands to ``ProcessInstrument``.

They live apart from the sections that use them because the renderer's child process
imports the module of its factory: this one imports no audio or GUI library, so the
child never opens PortAudio (a JACK client of its own) or Qt.
"""

from __future__ import annotations

from typing import Any

__all__ = ["random_synth", "soundfont", "synth_file"]


def random_synth(config: str, rate: int) -> Any:
    """GANSynth's generator of ``config`` with random weights (speed only)."""
    from bench.generator import _random_bundle
    from instrument.synth import Synth

    return Synth(_random_bundle(config), output_rate=rate, device="cpu")


def synth_file(path: str | None, rate: int) -> Any:
    """A model bundle file on the CPU."""
    from instrument.synth import Synth

    return Synth.load(path, output_rate=rate, device="cpu")


def soundfont(rate: int) -> Any:
    """The General MIDI SoundFont instrument (apt fluid-soundfont-gm)."""
    from instrument.soundfont import SoundFontInstrument, find_soundfont

    path = find_soundfont()
    if path is None:
        raise OSError(
            "no General MIDI SoundFont found (apt-get install fluid-soundfont-gm)"
        )
    return SoundFontInstrument(path, sample_rate=rate)
