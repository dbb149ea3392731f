"""engine.audio: settings, device lookup, a real stream on JACK captured bit-exactly."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.audio import (
    SWITCH_INTERVAL_S,
    AudioDeviceError,
    AudioOutput,
    AudioSettings,
    parse_latency,
    resolve_device,
    set_jack_client_name,
)

ROOT = Path(__file__).resolve().parents[2]
PERIOD = 4096  # the test signal's period in samples


class Sawtooth:
    """A small real block processor: a sawtooth whose sample n is (n % PERIOD) / PERIOD.

    Fills ``out`` in place from a preallocated ramp, like the engine's ``process``.
    """

    def __init__(self, max_frames: int = 8192) -> None:
        self._ramp = np.arange(max_frames, dtype=np.int64)
        self._idx = np.empty(max_frames, np.int64)
        self._val = np.empty(max_frames, np.float32)
        self.n = 0
        self.xruns = 0

    def process(self, out: np.ndarray) -> None:
        frames = out.shape[0]
        idx = self._idx[:frames]
        np.add(self._ramp[:frames], self.n, out=idx)
        np.remainder(idx, PERIOD, out=idx)
        val = self._val[:frames]
        np.multiply(idx, 1.0 / PERIOD, out=val, casting="unsafe")
        out[:, 0] = val
        out[:, 1:] = 0.0
        self.n += frames


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sample_rate": 100},
        {"blocksize": -1},
        {"channels": 0},
        {"latency": "medium"},
        {"latency": 5.0},
    ],
)
def test_settings_refuse_bad_values(kwargs):
    with pytest.raises(ValueError, match="must be"):
        AudioSettings(**kwargs)


def test_parse_latency():
    assert parse_latency("low") == "low"
    assert parse_latency("0.01") == pytest.approx(0.01)
    with pytest.raises(ValueError, match="latency must be"):
        parse_latency("soon")


def test_no_device_is_one_sentence():
    # A JACK server name that does not exist and no sound card: PortAudio lists nothing.
    code = (
        "from engine.audio import resolve_device, AudioDeviceError\n"
        "try:\n"
        "    resolve_device(None)\n"
        "except AudioDeviceError as err:\n"
        "    print('ERR', err)\n"
    )
    env = dict(
        os.environ, JACK_DEFAULT_SERVER="no-such-server-h2b", JACK_NO_START_SERVER="1"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    line = [x for x in out.stdout.splitlines() if x.startswith("ERR")]
    assert line and "no audio output device" in line[0]
    assert "Traceback" not in out.stderr


@pytest.mark.audio
def test_device_by_name_and_index(jack_server):
    dev = resolve_device("system")
    assert "JACK" in dev.hostapi
    assert resolve_device(dev.index) == dev
    assert resolve_device(str(dev.index)) == dev
    with pytest.raises(AudioDeviceError, match="contains 'no-such-card'"):
        resolve_device("no-such-card")
    with pytest.raises(AudioDeviceError, match="index 999"):
        resolve_device(999)


def _jack(*args: str) -> None:
    subprocess.run(list(args), capture_output=True, timeout=10)


def _play_and_capture(rate: int) -> tuple[np.ndarray, AudioOutput, Sawtooth]:
    """Play a sawtooth through JACK and capture it at the server's input (0.5 s)."""
    import sounddevice as sd

    set_jack_client_name("h2b-audio-test")
    captured: list[np.ndarray] = []
    enough = threading.Event()

    def on_input(indata, frames, time, status):
        captured.append(indata[:, 0].copy())
        if len(captured) * frames >= rate // 2:
            enough.set()

    saw = Sawtooth()
    out = AudioOutput(
        saw, AudioSettings(device="system", sample_rate=rate, blocksize=256)
    )
    with sd.InputStream(
        device=out.device.index,
        samplerate=rate,
        blocksize=256,
        channels=1,
        dtype="float32",
        callback=on_input,
    ) as rec:
        assert rec.active
        with out:
            _jack("jack_disconnect", "system:capture_1", "h2b-audio-test:in_0")
            _jack("jack_connect", "h2b-audio-test:out_0", "h2b-audio-test:in_0")
            captured.clear()
            assert enough.wait(timeout=20), "no audio came back through JACK"
            assert out.active
            # a playing stream: old objects frozen for the collector, short GIL turns
            assert gc.get_freeze_count() > 0
            assert sys.getswitchinterval() <= SWITCH_INTERVAL_S
    return np.concatenate(captured), out, saw


@pytest.mark.audio
def test_stream_plays_the_processor_bit_exactly(jack_server):
    rate, _ = jack_server
    # an xrun (a busy shared machine) legitimately loses a block: take the first of up
    # to three captures that had none, and check that one sample by sample
    for _ in range(3):
        signal, out, saw = _play_and_capture(rate)
        if out.xruns == 0:
            break
    assert out.callbacks > 0 and not out.active
    assert saw.xruns == out.xruns  # the driver mirrors its count into the processor
    signal = signal[np.flatnonzero(signal)[0] :]  # from the first sample that arrived
    steps = np.diff(signal[: rate // 4].astype(np.float64)) * PERIOD
    # every step is +1 sample of the sawtooth or a wrap: nothing lost, nothing altered
    assert np.all(np.isclose(steps, 1.0) | np.isclose(steps, 1.0 - PERIOD))


@pytest.fixture(scope="module")
def playing_engine(soundfont_path, jack_server):
    """An engine at the server's rate with a complete SoundFont bank, 8 keys held, bent.

    The bank is rendered in this thread and the engine's own threads are not started,
    so that tracemalloc sees only the audio callback path (and PortAudio's wrapper).
    """
    from engine.engine import Engine
    from engine.events import NoteOn, PitchBend
    from instrument.latent import random_latents
    from instrument.soundfont import SoundFontInstrument

    rate, _ = jack_server
    instrument = SoundFontInstrument(soundfont_path, sample_rate=rate)
    engine = Engine(instrument)
    engine.render_timbre(random_latents(1, instrument.latent_size, 5)[0])
    for key in range(48, 64, 2):
        engine.push_event(NoteOn(key, 100))
    engine.push_event(PitchBend(1000))
    return engine


def _peak_growth(run) -> tuple[int, int]:
    """(peak, retained) bytes traced above the start while ``run(None)`` runs."""
    import tracemalloc

    run(400)  # warm up, untraced: numpy's first-call caches, the loop and xrun paths
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        run(None)
        current, peak = tracemalloc.get_traced_memory()
        return peak - base, current - base
    finally:
        tracemalloc.stop()


@pytest.mark.audio
def test_callback_allocates_less_than_one_block(playing_engine, jack_server):
    import sounddevice as sd

    rate, _ = jack_server
    out = AudioOutput(playing_engine, AudioSettings(sample_rate=rate, blocksize=256))
    outdata = np.zeros((256, 2), np.float32)
    flags, xrun = sd.CallbackFlags(), sd.CallbackFlags(sd._lib.paOutputUnderflow)

    def run(n):
        for i in range(n or 3000):
            out._callback(outdata, 256, None, xrun if i % 100 == 99 else flags)

    growth, retained = _peak_growth(run)
    assert np.abs(outdata).max() > 0.0  # the notes sound
    assert out.xruns == 34 and playing_engine.stats().xruns == 34  # (400 + 3000) / 100
    assert growth < outdata.nbytes, f"callback path allocated {growth} bytes"
    assert retained < 256, f"callback path kept {retained} bytes"


@pytest.mark.audio
def test_running_stream_allocates_less_than_one_block(playing_engine, jack_server):
    rate, _ = jack_server
    block = 256  # PortAudio adapts it to the server's period
    out = AudioOutput(playing_engine, AudioSettings(sample_rate=rate, blocksize=block))

    def run(n):
        target = out.callbacks + (n or 400)
        while out.callbacks < target:
            time.sleep(0.01)

    with out:
        growth, _ = _peak_growth(run)
        assert out.active
    assert playing_engine.voices.count() > 0
    assert growth < block * 2 * 4, f"a running stream allocated {growth} bytes"
