"""Shared fixtures: a seeded RNG and the General MIDI SoundFont for real instrument notes."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def soundfont_path():
    from instrument.soundfont import find_soundfont

    path = find_soundfont()
    if path is None:
        pytest.fail("no General MIDI SoundFont found: run tools/setup.sh (fluid-soundfont-gm)")
    return path


@pytest.fixture(scope="session")
def sf_renderer(soundfont_path):
    from instrument.soundfont import SoundFontRenderer

    return SoundFontRenderer(soundfont_path, sample_rate=16000)
