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


def _jack_running() -> bool:
    """Whether the server named by $JACK_DEFAULT_SERVER (else "default") answers."""
    import subprocess

    try:
        out = subprocess.run(
            ["jack_wait", "-c"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.strip() == "running"


def _jack_query(tool: str, default: int) -> int:
    import subprocess

    try:
        out = subprocess.run([tool], capture_output=True, text=True, timeout=10).stdout
        return int(out.split()[-1])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return default


@pytest.fixture(scope="session")
def jack_server():
    """A private JACK server (dummy driver) for this test session: (rate, period).

    Named ``gansynth-test-<pid>`` and exported as $JACK_DEFAULT_SERVER, so that this
    process and its subprocesses (players, MIDI senders, jack_connect) use it and no
    other session can stop it under us. PortAudio is re-initialised once the server is
    up (it lists JACK only if the server ran at initialisation) and terminated BEFORE
    the server is stopped (libportaudio aborts at interpreter exit otherwise).
    """
    import shutil
    import subprocess

    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed: run tools/setup.sh (jackd2)")
    name = f"gansynth-test-{os.getpid()}"
    previous = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name
    proc = subprocess.Popen(
        ["jackd", "-n", name, "-R", "-d", "dummy", "-r", str(JACK_RATE)]
        + ["-p", str(JACK_PERIOD)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    subprocess.run(["jack_wait", "-w", "-t", "10"], capture_output=True, timeout=20)
    if not _jack_running():
        proc.terminate()
        pytest.fail("jackd -d dummy did not start within 10 s")
    from engine.audio import reinitialize_portaudio, terminate_portaudio

    reinitialize_portaudio()
    yield JACK_RATE, _jack_query("jack_bufsize", JACK_PERIOD)
    terminate_portaudio()
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if previous is None:
        os.environ.pop("JACK_DEFAULT_SERVER", None)
    else:
        os.environ["JACK_DEFAULT_SERVER"] = previous
