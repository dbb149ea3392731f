"""Engine events: immutable, validated values."""

import dataclasses

import numpy as np
import pytest

from engine import events as ev


@pytest.mark.parametrize(
    "make",
    [
        lambda: ev.NoteOn(128, 100),
        lambda: ev.NoteOn(60, 0),
        lambda: ev.NoteOn(60, 128),
        lambda: ev.NoteOn(60, 100, channel=16),
        lambda: ev.NoteOff(-1),
        lambda: ev.ControlChange(64, 200),
        lambda: ev.ControlChange(130, 0),
        lambda: ev.PitchBend(8192),
        lambda: ev.PitchBend(-8193),
        lambda: ev.NoteOn(60.5, 100),
        lambda: ev.NoteOnWithAudio(60, 100, np.zeros((2, 3), np.float32), None, 60),
        lambda: ev.NoteOnWithAudio(60, 100, np.zeros(8, np.float64), None, 60),
    ],
)
def test_bad_values_are_refused_with_one_sentence(make):
    with pytest.raises(ValueError) as info:
        make()
    assert "\n" not in str(info.value)


def test_events_are_frozen_and_compare_by_value():
    e = ev.NoteOn(60, 100)
    assert e == ev.NoteOn(60, 100, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.note = 61  # type: ignore[misc]
    assert ev.PitchBend(-8192).value == -8192
    assert ev.ControlChange(ev.CC_SUSTAIN, 127).control == 64
    assert ev.Panic() == ev.Panic()
