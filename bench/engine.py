"""Engine section of ``main.py bench``: the host's real-time figures through JACK.

- key-to-sound: a note sent on a JACK MIDI port to its first sample at the output, in ms
  and blocks, on PortAudio's JACK clock (the stream time at sending against the DAC time
  of the first non-silent sample). The same path with a trivial processor (MIDI ->
  a click in the next block) is the server's own figure; the engine's excess over it is
  what the software adds.
- timbre change -> the held note re-rendered and published (ms, the renderer's own clock
  from the request to that publish; the benchmark waits by sleeping, so it does not take
  the cores it measures), and full bank time, for GANSynth's paper-size generator with
  random weights (the speed does not depend on the weights), the SoundFont instrument
  and the shipped model.
- xruns and worst callback time at blocksize 256 and 128 while the timbre changes 30
  times a second (paper generator rendering all the while), 60 s each (quick: 3 s).
- a MIDI flood: 10,000 events/s for 10 s (quick: 1 s) -> xruns, stuck notes, memory.

Runs on its own named ``jackd -R -d dummy`` (restarted per period), never on a server
that another program could stop.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench import instruments
from engine.audio import (
    AudioOutput,
    AudioSettings,
    reinitialize_portaudio,
    set_jack_client_name,
)
from engine.engine import Engine
from engine.events import NoteOn
from engine.jack import JackServer
from engine.midi import MidiInput
from engine.render_process import ProcessInstrument

__all__ = ["run"]

RATE = 48000
CLIENT = "gansynth-bench"
MIDI_CLIENT = "gansynth-bench-midi"
Log = Callable[[str], None]


# -- the JACK server -----------------------------------------------------------------
class _Server(JackServer):
    """The benchmark's own named JACK server (dummy driver), restarted per period; this
    process's JACK client is named ``CLIENT`` so its ports are easy to find."""

    def __init__(self) -> None:
        super().__init__("gansynth-bench", rate=RATE)

    def ensure(self, period: int) -> int:
        period = super().ensure(period)
        set_jack_client_name(CLIENT)  # also re-initialises PortAudio
        return period


# -- instruments -----------------------------------------------------------------------
# Every instrument renders in a child process (engine.render_process), as in live play.
def _random_synth(config: str) -> ProcessInstrument:
    return ProcessInstrument(instruments.random_synth, config, RATE)


def _shipped_synth() -> ProcessInstrument | None:
    """The shipped default model, or None when there is none."""
    from instrument.bundle import default_model_path

    path = default_model_path()
    if not path.exists():
        return None
    return ProcessInstrument(instruments.synth_file, str(path), RATE)


def _soundfont() -> ProcessInstrument:
    return ProcessInstrument(instruments.soundfont, RATE)


def _latents(instrument: Any, n: int, seed: int) -> np.ndarray:
    from instrument.latent import random_latents

    return random_latents(n, instrument.latent_size, seed)


class _Probe(AudioOutput):
    """The real driver; when armed it notes the DAC time of the first sound.

    ``silent_blocks`` counts the silent blocks in a row: a trial arms only after two,
    so a tail of the previous note is never taken for the new one's onset.
    """

    armed = False
    onset: float | None = None
    server_latency = 0.0
    silent_blocks = 0

    def _callback(self, outdata, frames, time_info, status) -> None:
        AudioOutput._callback(self, outdata, frames, time_info, status)
        hits = np.flatnonzero(np.abs(outdata[:, 0]) > 1e-7)
        self.silent_blocks = 0 if hits.size else self.silent_blocks + 1
        if self.armed:
            if hits.size:
                dac = time_info.outputBufferDacTime
                self.server_latency = dac - time_info.currentTime
                self.onset = dac + hits[0] / self.sample_rate
                self.armed = False


class _Click:
    """The least software possible: a NoteOn makes the next block a click."""

    def __init__(self) -> None:
        self.pending = False
        self.xruns = 0

    def push_event(self, event: object) -> None:
        if isinstance(event, NoteOn):
            self.pending = True

    def process(self, out: np.ndarray) -> None:
        out.fill(0.5 if self.pending else 0.0)
        self.pending = False


def _midi_sender(port: str) -> Any:
    import rtmidi

    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="gansynth-bench-keys")
    ports = out.get_ports()
    out.open_port(ports.index(port))
    return out


def _summary(values_ms: list[float], block_ms: float) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values_ms), 3),
        "min_ms": round(min(values_ms), 3),
        "max_ms": round(max(values_ms), 3),
        "median_blocks": round(statistics.median(values_ms) / block_ms, 3),
        "jitter_blocks": round((max(values_ms) - min(values_ms)) / block_ms, 3),
    }


# -- key to sound ----------------------------------------------------------------------
def _key_to_sound_path(processor: Any, sink: Any, period: int, trials: int) -> tuple:
    probe = _Probe(processor, AudioSettings(sample_rate=RATE, blocksize=period))
    rng = np.random.default_rng(0)
    latencies: list[float] = []
    with (
        MidiInput(sink, virtual="keys", client_name=MIDI_CLIENT, backend="jack") as m,
        probe,
    ):
        keys = _midi_sender(f"{MIDI_CLIENT}:keys")
        try:
            time.sleep(0.3)
            for i in range(trials):
                time.sleep(0.05 + rng.uniform(0.0, 0.05))  # any phase of the cycle
                key = 60 + i % 12
                deadline = time.monotonic() + 2.0
                while probe.silent_blocks < 2 and time.monotonic() < deadline:
                    time.sleep(0.001)
                probe.onset, probe.armed = None, True
                sent = probe._stream.time
                keys.send_message([0x90, key, 100])
                deadline = time.monotonic() + 2.0
                while probe.onset is None and time.monotonic() < deadline:
                    time.sleep(0.0005)
                keys.send_message([0x80, key, 0])
                if probe.onset is not None:
                    latencies.append((probe.onset - sent) * 1e3)
                probe.armed = False
                _wait_silent(processor)
        finally:
            keys.close_port()
            keys.delete()
        return latencies, probe.server_latency * 1e3, m.malformed


def _wait_silent(processor: Any, timeout: float = 3.0) -> None:
    if not hasattr(processor, "stats"):
        time.sleep(0.02)
        return
    deadline = time.monotonic() + timeout
    while processor.stats().voices_active and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.02)


def key_to_sound(server: _Server, instrument: Any, quick: bool, log: Log) -> dict:
    period = server.ensure(256)
    block_ms = period / RATE * 1e3
    trials = 10 if quick else 40
    click = _Click()
    base, server_ms, _ = _key_to_sound_path(click, click, period, trials)
    engine = Engine(instrument)
    engine.start()
    try:
        engine.render_timbre(_latents(instrument, 1, 1)[0])
        lat, _, malformed = _key_to_sound_path(engine, engine, period, trials)
    finally:
        engine.stop()
    if not base or not lat:
        raise OSError("no sound came out of the JACK stream during key-to-sound")
    out = {
        "period": period,
        "trials": trials,
        "server_output_latency_ms": round(server_ms, 3),
        "baseline": _summary(base, block_ms),
        "engine": _summary(lat, block_ms),
        "missed": 2 * trials - len(base) - len(lat),
    }
    added = (statistics.median(lat) - statistics.median(base)) / block_ms
    out["added_blocks"] = round(added, 3)
    log(
        f"  key-to-sound at {period} frames ({block_ms:.2f} ms blocks): engine median "
        f"{out['engine']['median_ms']:.2f} ms ({out['engine']['median_blocks']:.2f} "
        f"blocks), min {out['engine']['min_ms']:.2f}, "
        f"max {out['engine']['max_ms']:.2f}; "
        f"baseline (MIDI -> click) {out['baseline']['median_ms']:.2f} ms "
        f"(jitter {out['baseline']['jitter_blocks']:.2f} blocks); "
        f"server output latency {server_ms:.2f} ms"
    )
    log(
        f"  targets: software adds {added:.2f} blocks (<= 1), jitter "
        f"{out['engine']['jitter_blocks']:.2f} blocks (<= 1)"
    )
    return out


# -- timbre change and bank ------------------------------------------------------------
def timbre_change(server: _Server, label: str, instrument: Any, reps: int, log: Log):
    period = server.ensure(256)
    engine = Engine(instrument)
    audio = AudioOutput(engine, AudioSettings(sample_rate=RATE, blocksize=period))
    latents = _latents(instrument, reps + 1, 7)
    key = 60
    slot = key - instrument.pitch_range[0]
    held, whole, banks, firsts = [], [], [], []
    previewed = 0
    engine.start()
    try:
        audio.start()
        engine.set_timbre(latents[0])
        engine.wait_bank(600)
        banks.append(engine.stats().bank_render_ms)
        engine.push_event(NoteOn(key, 100))
        time.sleep(0.1)
        for z in latents[1:]:
            t0 = time.perf_counter()
            version = engine.set_timbre(z)
            # the renderer times its first publish (the held note) itself: waiting
            # here sleeps, so the measuring does not take the cores it measures
            while engine.stats().first_note_version != version:
                time.sleep(0.002)
            assert (
                engine.bank.note_versions[slot] == version
            )  # the held note came first
            held.append(engine.stats().first_note_ms)
            previewed += engine.bank.is_preview(key)
            while engine.bank.is_preview(key) and engine.bank.version == version:
                time.sleep(0.002)
            whole.append((time.perf_counter() - t0) * 1e3)
            firsts.append(engine.stats().first_note_ms)
            time.sleep(0.25)  # a pad moved now and then: the bank need not finish
        engine.wait_bank(600)
        banks.append(engine.stats().bank_render_ms)
    finally:
        audio.stop()
        engine.stop()
    out = {
        "instrument": instrument.name,
        "device": instrument.device_name,
        "held_note_ms": _summary(held, period / RATE * 1e3),
        "held_whole_note_ms": round(statistics.median(whole), 1),
        "previews": previewed,
        "changes": len(held),
        "first_notes_published_ms": round(statistics.median(firsts), 1),
        "bank_ms": round(statistics.median(banks), 1),
        "bank_pitches": len(engine.bank.notes),
    }
    out["held_note_ms"].pop("median_blocks")
    out["held_note_ms"].pop("jitter_blocks")
    log(
        f"  {label}: full bank ({out['bank_pitches']} pitches) "
        f"{out['bank_ms']:.0f} ms; "
        f"timbre change -> held note published: median "
        f"{out['held_note_ms']['median_ms']:.1f} ms, max "
        f"{out['held_note_ms']['max_ms']:.1f} ms (sounds from the next block, "
        f"<= {period / RATE * 1e3:.1f} ms later); {previewed} of {len(held)} as a "
        f"preview, whole held note {out['held_whole_note_ms']:.0f} ms"
    )
    return out


# -- xruns under timbre changes --------------------------------------------------
def xruns_under_load(
    server: _Server, instrument: Any, period: int, seconds: float, log
):
    from instrument.latent import slerp

    period = server.ensure(period)
    engine = Engine(instrument)
    audio = AudioOutput(engine, AudioSettings(sample_rate=RATE, blocksize=period))
    walk = _latents(instrument, 2, 11)
    engine.start()
    changes = 0
    try:
        engine.set_timbre(walk[0])
        engine.wait_bank(600)
        audio.start()
        for key in (48, 55, 60, 64):
            engine.push_event(NoteOn(key, 90))
        time.sleep(0.2)
        xruns0 = audio.xruns
        engine.reset_worst()
        t0 = time.monotonic()
        while (now := time.monotonic()) - t0 < seconds:
            t = 0.5 + 0.5 * np.sin(2 * np.pi * 0.2 * (now - t0))
            engine.set_timbre(slerp(walk[0], walk[1], float(t)).astype(np.float32))
            changes += 1
            time.sleep(max(0.0, t0 + changes / 30.0 - time.monotonic()))
        stats = engine.stats()
        xruns = audio.xruns - xruns0
    finally:
        audio.stop()
        engine.stop()
    out = {
        "period": period,
        "seconds": seconds,
        "timbre_changes": changes,
        "xruns": xruns,
        "worst_callback_ms": round(stats.worst_callback_ms, 3),
        "callback_load": round(stats.callback_load, 4),
        "callback_errors": stats.callback_errors,
        "render_errors": stats.render_errors,
    }
    log(
        f"  blocksize {period}: {xruns} xruns in {seconds:.0f} s with {changes} timbre "
        f"changes ({changes / seconds:.0f}/s, {instrument.name}); worst callback "
        f"{out['worst_callback_ms']:.2f} ms of {period / RATE * 1e3:.2f} ms"
    )
    return out


# -- MIDI flood ------------------------------------------------------------------
def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


FLOOD_SENDER = """
import sys, time
import numpy as np
import rtmidi
port, seconds, rate = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="gansynth-bench-flood")
out.open_port(out.get_ports().index(port))
rng = np.random.default_rng(3)
kinds = rng.integers(0, 100, size=int(seconds * rate) + 1)
values = rng.integers(0, 128, size=(len(kinds), 2))
down, sent = [], 0
t0 = time.monotonic()
while sent < len(kinds) - 1:
    for _ in range(rate // 1000):
        r, v = kinds[sent], values[sent]
        sent += 1
        if r < 8:
            out.send_message([0xE0, int(v[0]), 64])
        elif r < 12:
            out.send_message([0xB0, 1, int(v[0])])
        elif down and r < 56:
            out.send_message([0x80, down.pop(), 0])
        else:
            key = 21 + int(v[0]) % 88
            down.append(key)
            out.send_message([0x90, key, 1 + int(v[1]) % 127])
    time.sleep(max(0.0, t0 + sent / rate - time.monotonic()))
elapsed = time.monotonic() - t0
for key in sorted(set(down)):
    out.send_message([0x80, key, 0])
    sent += 1
time.sleep(0.2)
print(sent, elapsed)
"""


def midi_flood(server: _Server, instrument: Any, seconds: float, log: Log) -> dict:
    """10,000 MIDI events/s from another process into the playing engine."""
    import sys

    period = server.ensure(256)
    engine = Engine(instrument)
    audio = AudioOutput(engine, AudioSettings(sample_rate=RATE, blocksize=period))
    engine.start()
    try:
        engine.render_timbre(_latents(instrument, 1, 2)[0])
        with MidiInput(engine, virtual="flood", client_name=MIDI_CLIENT) as midi, audio:
            time.sleep(0.3)
            rss0, xruns0 = _rss_mb(), audio.xruns
            engine.reset_worst()
            sender = subprocess.run(
                [sys.executable, "-c", FLOOD_SENDER, f"{MIDI_CLIENT}:flood"]
                + [str(seconds), "10000"],
                capture_output=True,
                text=True,
                timeout=seconds * 4 + 60,
            )
            if sender.returncode != 0:
                raise OSError(f"the MIDI flood sender failed: {sender.stderr[-300:]}")
            sent, elapsed = sender.stdout.split()[-2:]
            sent, elapsed = int(sent), float(elapsed)
            deadline = time.monotonic() + 5.0
            while engine.stats().voices_active and time.monotonic() < deadline:
                time.sleep(0.05)
            rss1 = _rss_mb()
            stats, held = engine.stats(), engine.held_notes()
            out = {
                "events_sent": sent,
                "events_per_s": round(sent / elapsed),
                "received": midi.received,
                "malformed": midi.malformed,
                "events_dropped": stats.events_dropped,
                "xruns": audio.xruns - xruns0,
                "stuck_notes": len(held),
                "voices_after": stats.voices_active,
                "rss_growth_mb": round(rss1 - rss0, 2),
                "worst_callback_ms": round(stats.worst_callback_ms, 3),
            }
    finally:
        engine.stop()
    log(
        f"  MIDI flood: {sent} events at {out['events_per_s']}/s, {out['received']} "
        f"received, {out['events_dropped']} dropped by the engine, "
        f"{out['xruns']} xruns, worst callback {out['worst_callback_ms']:.2f} ms, "
        f"{out['stuck_notes']} stuck notes, {out['voices_after']} voices left, "
        f"memory +{out['rss_growth_mb']:.1f} MB"
    )
    return out


def run(quick: bool, log: Log) -> dict[str, Any]:
    """Measure and return ``{"engine": {...}}``."""
    server = _Server()
    log(f"  JACK: own server {server.name} (jackd -R -d dummy -r {RATE})")
    result: dict[str, Any] = {}
    instruments: list[ProcessInstrument] = []
    try:
        reinitialize_portaudio()
        soundfont = _soundfont()
        instruments.append(soundfont)
        result["key_to_sound"] = key_to_sound(server, soundfont, quick, log)
        reps = 3 if quick else 8
        result["timbre_soundfont"] = timbre_change(
            server, "SoundFont", soundfont, reps, log
        )
        config = "quarter_2s" if quick else "paper"
        neural = _random_synth(config)
        instruments.append(neural)
        result["timbre_neural"] = timbre_change(
            server, f"{config} generator (random weights)", neural, reps, log
        )
        result["timbre_neural"]["config"] = config
        held = result["timbre_neural"]["held_note_ms"]["median_ms"]
        log(f"  target: {config} timbre change -> held {held:.0f} ms (paper: <= 60)")
        shipped = None if quick else _shipped_synth()
        if shipped is not None:
            instruments.append(shipped)
            result["timbre_shipped"] = timbre_change(
                server, f"shipped model ({shipped.name})", shipped, reps, log
            )
        seconds = 3.0 if quick else 60.0
        result["xruns"] = [
            xruns_under_load(server, neural, period, seconds, log)
            for period in (256, 128)
        ]
        result["midi_flood"] = midi_flood(
            server, soundfont, 1.0 if quick else 10.0, log
        )
    finally:
        for instrument in instruments:
            instrument.close()
        server.close()
    return {"engine": result}
