"""Small immutable events that drive the engine (MIDI thread or UI -> audio callback).

Events are made outside the audio callback (the MIDI thread translates ``mido`` messages
into them) and pushed onto the engine's event deque; the callback only reads them.
Channels are 0-15 as in mido.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "NoteOn",
    "NoteOff",
    "ControlChange",
    "PitchBend",
    "AllNotesOff",
    "AllSoundOff",
    "Panic",
    "NoteOnWithAudio",
    "Event",
    "CC_SUSTAIN",
    "CC_ALL_SOUND_OFF",
    "CC_ALL_NOTES_OFF",
]

CC_SUSTAIN = 64  # sustain (damper) pedal: value >= 64 is down
CC_ALL_SOUND_OFF = 120  # silence now, no release tails
CC_ALL_NOTES_OFF = 123  # release every note (the pedal still holds sustained ones)


def _check(name: str, value: int, lo: int, hi: int) -> None:
    if not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer {lo}-{hi}, got {value!r}")


@dataclass(frozen=True, slots=True)
class NoteOn:
    """A key pressed. Velocity 0 is not allowed here: it means NoteOff in MIDI."""

    note: int  # MIDI key 0-127
    velocity: int  # 1-127
    channel: int = 0  # 0-15

    def __post_init__(self) -> None:
        _check("note", self.note, 0, 127)
        _check("velocity", self.velocity, 1, 127)
        _check("channel", self.channel, 0, 15)


@dataclass(frozen=True, slots=True)
class NoteOff:
    """A key released."""

    note: int  # MIDI key 0-127
    channel: int = 0  # 0-15

    def __post_init__(self) -> None:
        _check("note", self.note, 0, 127)
        _check("channel", self.channel, 0, 15)


@dataclass(frozen=True, slots=True)
class ControlChange:
    """A controller moved (CC64 sustain, CC120 all sound off, CC123 all notes off)."""

    control: int  # controller number 0-127
    value: int  # 0-127
    channel: int = 0  # 0-15

    def __post_init__(self) -> None:
        _check("control", self.control, 0, 127)
        _check("value", self.value, 0, 127)
        _check("channel", self.channel, 0, 15)


@dataclass(frozen=True, slots=True)
class PitchBend:
    """The pitch wheel: -8192..8191, 0 is centre (mido's convention)."""

    value: int  # -8192..8191
    channel: int = 0  # 0-15

    def __post_init__(self) -> None:
        _check("pitch bend", self.value, -8192, 8191)
        _check("channel", self.channel, 0, 15)


@dataclass(frozen=True, slots=True)
class AllNotesOff:
    """Release every note, as CC123 (sustained notes stay while the pedal is down)."""


@dataclass(frozen=True, slots=True)
class AllSoundOff:
    """Silence every voice now, as CC120 (no release tail)."""


@dataclass(frozen=True, slots=True)
class Panic:
    """All sound off, pedal up, pitch bend centred: the emergency button."""


@dataclass(frozen=True, slots=True, eq=False)
class NoteOnWithAudio:
    """A key pressed with its own rendered note instead of the bank's (offline render).

    ``--interpolate`` gives every note its own latent; the note is rendered outside the
    callback and the voice plays it for as long as it sounds (bank changes leave it be).
    """

    note: int  # MIDI key 0-127
    velocity: int  # 1-127
    audio: (
        np.ndarray
    )  # [samples + guard] float32, prepared by ``engine.bank.prepare_note``
    loop: object  # engine.bank.LoopPoints or None (no loop)
    pitch: int  # the trained pitch the audio was rendered at (transposed to ``note``)
    channel: int = 0  # 0-15

    def __post_init__(self) -> None:
        _check("note", self.note, 0, 127)
        _check("velocity", self.velocity, 1, 127)
        _check("pitch", self.pitch, 0, 127)
        _check("channel", self.channel, 0, 15)
        if self.audio.ndim != 1 or self.audio.dtype != np.float32:
            raise ValueError(
                "note audio must be 1-D float32, got "
                f"{self.audio.dtype}{self.audio.shape}"
            )


Event = (
    NoteOn
    | NoteOff
    | ControlChange
    | PitchBend
    | AllNotesOff
    | AllSoundOff
    | Panic
    | NoteOnWithAudio
)
