"""Shared fixtures: a seeded RNG and a General MIDI SoundFont for real notes."""

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
        pytest.fail(
            "no General MIDI SoundFont found: run tools/setup.sh (fluid-soundfont-gm)"
        )
    return path


@pytest.fixture(scope="session")
def sf_renderer(soundfont_path):
    from instrument.soundfont import SoundFontRenderer

    return SoundFontRenderer(soundfont_path, sample_rate=16000)


# -- a real audio server: JACK with its dummy driver (docs/ENVIRONMENT.md) -------------
JACK_RATE = 48000
JACK_PERIOD = 256


@pytest.fixture(scope="session")
def jack_server():
    """A private JACK server (dummy driver) for this test session: (rate, period).

    Named ``gansynth-test-<pid>`` and exported as $JACK_DEFAULT_SERVER, so that this
    process and its subprocesses (players, MIDI senders, jack_connect) use it and no
    other session can stop it under us. PortAudio is re-initialised once the server is
    up (it lists JACK only if the server ran at initialisation) and terminated BEFORE
    the server is stopped (libportaudio aborts at interpreter exit otherwise).
    """
    from engine.jack import JackServer

    try:
        server = JackServer("gansynth-test", rate=JACK_RATE)
        period = server.ensure(JACK_PERIOD)
    except OSError as err:
        pytest.fail(f"{err}: run tools/setup.sh (jackd2)")
    yield JACK_RATE, period
    server.close()
