"""End to end: ``main.py play --headless`` as its own process on a real JACK server.

Another process sends notes to its virtual JACK MIDI port; this test captures the
player's JACK audio output and checks, with its own pitch estimate (YIN, written here),
that each note sounds at the pitch sent, after it was sent and before the next one.
The instrument is the SoundFont instrument (real General MIDI notes), not GANSynth.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTES = ((60, 0.0), (67, 1.2), (55, 2.4))  # (MIDI key, seconds after the first)
HOLD_S = 0.8  # each key is held this long
CAPTURE_CLIENT = "h2b-e2e-capture"

SENDER = """
import json, sys, time, mido
mido.set_backend("mido.backends.rtmidi/UNIX_JACK")
notes = json.loads(sys.argv[1]); hold = float(sys.argv[2])
sent = []
with mido.open_output("gansynth:e2e_in") as out:
    t0 = time.monotonic() + 0.3
    for key, at in notes:
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        sent.append(["on", key, time.monotonic()])
        out.send(mido.Message("note_on", note=key, velocity=100))
        time.sleep(max(0.0, t0 + at + hold - time.monotonic()))
        sent.append(["off", key, time.monotonic()])
        out.send(mido.Message("note_off", note=key))
    time.sleep(0.2)
print(json.dumps(sent))
"""


def yin_f0(x: np.ndarray, sr: int, fmin: float = 60.0, fmax: float = 1500.0) -> float:
    """Fundamental frequency (Hz) of ``x`` ([samples] float) by YIN (de Cheveigné 2002).

    The cumulative mean normalised difference function, the first dip below 0.15 (else
    the global minimum) and a parabolic refinement of the lag.
    """
    x = np.asarray(x, np.float64)
    tau_max, tau_min = int(sr / fmin), int(sr / fmax)
    w = len(x) - tau_max - 1
    if w < tau_max:
        raise ValueError(f"need at least {2 * tau_max + 1} samples, got {len(x)}")
    frames = np.lib.stride_tricks.sliding_window_view(x, w)[: tau_max + 1]
    acf = frames @ x[:w]
    sq = np.concatenate([[0.0], np.cumsum(x * x)])
    energy = sq[w : w + tau_max + 1] - sq[: tau_max + 1]
    d = energy[0] + energy - 2.0 * acf
    d[0] = 0.0
    cmnd = np.ones_like(d)
    cmnd[1:] = d[1:] * np.arange(1, tau_max + 1) / np.maximum(np.cumsum(d[1:]), 1e-12)
    below = np.flatnonzero(cmnd[tau_min:] < 0.15)
    if below.size:
        tau = tau_min + int(below[0])
        while tau + 1 <= tau_max and cmnd[tau + 1] < cmnd[tau]:
            tau += 1
    else:
        tau = tau_min + int(np.argmin(cmnd[tau_min:]))
    if 1 <= tau < tau_max:
        a, b, c = cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom > 0 else 0.0
    else:
        shift = 0.0
    return sr / (tau + shift)


def test_yin_finds_a_known_pitch():
    sr = 48000
    t = np.arange(sr // 5) / sr
    tone = sum(np.sin(2 * np.pi * 220.0 * k * t) / k for k in range(1, 6))
    assert yin_f0(tone, sr) == pytest.approx(220.0, rel=0.003)


def _cents(f: float, key: int) -> float:
    return 1200.0 * np.log2(f / (440.0 * 2.0 ** ((key - 69) / 12)))


def _jack(*args: str) -> None:
    subprocess.run(list(args), capture_output=True, timeout=10)


def _wait_for_line(stream, prefix: str, timeout: float) -> str | None:
    found: list[str] = []

    def read() -> None:
        for line in stream:
            if line.startswith(prefix):
                found.append(line)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0] if found else None


@pytest.mark.audio
@pytest.mark.slow
def test_headless_play_sounds_the_notes_sent(jack_server, soundfont_path, tmp_path):
    import sounddevice as sd

    from engine.audio import resolve_device, set_jack_client_name

    rate, period = jack_server
    set_jack_client_name(CAPTURE_CLIENT)  # before the player takes "gansynth-audio"
    log = tmp_path / "play.log"
    with open(log, "w") as err:
        player = subprocess.Popen(
            [sys.executable, "main.py", "--model", str(soundfont_path), "play"]
            + ["--headless", "--virtual-port", "e2e_in", "--duration", "120"]
            + ["--blocksize", str(period), "--seed", "3"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        ready = _wait_for_line(player.stdout, "ready:", timeout=240)
        assert ready, f"player never got ready: {log.read_text()[-2000:]}"

        blocks: list[tuple[float, np.ndarray]] = []

        def on_input(indata, frames, t, status):
            blocks.append((time.monotonic(), indata[:, 0].copy()))

        with sd.InputStream(
            device=resolve_device("system").index,
            samplerate=rate,
            blocksize=period,
            channels=1,
            dtype="float32",
            callback=on_input,
        ):
            _jack("jack_disconnect", "system:capture_1", f"{CAPTURE_CLIENT}:in_0")
            _jack("jack_connect", "gansynth-audio:out_0", f"{CAPTURE_CLIENT}:in_0")
            time.sleep(0.3)
            sender = subprocess.run(
                [sys.executable, "-c", SENDER, json.dumps(NOTES), str(HOLD_S)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert sender.returncode == 0, sender.stderr[-2000:]
            time.sleep(0.8)
        player.send_signal(signal.SIGINT)
        assert player.wait(timeout=30) == 0
    finally:
        if player.poll() is None:
            player.kill()
            player.wait()
    sent = json.loads(sender.stdout.strip().splitlines()[-1])
    assert "played:" in log.read_text()

    # sample times: each block's samples end at its callback time (one block of slack)
    stamps = np.concatenate(
        [t - (len(b) - np.arange(len(b))) / rate for t, b in blocks]
    )
    audio = np.concatenate([b for _, b in blocks])
    on_times = [t for kind, _, t in sent if kind == "on"]
    off_times = [t for kind, _, t in sent if kind == "off"]
    before = audio[(stamps > stamps[0] + 0.05) & (stamps < on_times[0] - 0.02)]
    assert before.size and np.abs(before).max() < 1e-4, "sound before the first key"
    for i, (key, _) in enumerate(NOTES):
        on, off = on_times[i], off_times[i]
        after = np.flatnonzero((stamps >= on - 0.02) & (np.abs(audio) > 1e-3))
        assert after.size, f"key {key} never sounded"
        onset = stamps[after[0]]
        next_on = on_times[i + 1] if i + 1 < len(on_times) else off + 1.0
        assert on - 0.02 <= onset < min(off, next_on), (
            f"key {key} sounded at the wrong time"
        )
        held = audio[(stamps >= on + 0.25) & (stamps < off)]
        f0 = yin_f0(held[: int(0.3 * rate)], rate)
        print(f"key {key}: onset {1e3 * (onset - on):+.1f} ms, {f0:.1f} Hz")
        assert abs(_cents(f0, key)) < 40, f"key {key}: heard {f0:.1f} Hz"
    tail = audio[stamps > off_times[-1] + 0.6]
    assert tail.size and np.abs(tail).max() < 1e-3, "a note kept sounding after release"
