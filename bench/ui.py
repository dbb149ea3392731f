"""``python main.py bench --sections ui``: what the window costs.

The window (offscreen Qt, the real widgets) plays through a real audio server (a JACK
dummy server started here when none runs, 48 kHz, 256 frames) while the pad is dragged
continuously (30 moves a second along a circle, so the bank re-renders all the time), a
chord is held (voices follow every new bank) and a new note is played every 2 s (the
note rainbowgram is recomputed). The drive runs twice, 60 s each: first with
the window hidden and its timer stopped (the baseline: the engine's own load), then with
the window shown, pulling and painting as in use; a last 10 s part forces a synchronous
repaint of the whole window inside every frame, to time a frame's worst cost. Reported:
GUI frame time of that last part (pull + full repaint; wall clock and the GUI thread's
CPU time), frames per second, and for every part the audio side: xruns, worst callback
time and callback load; the first two parts' difference is what the window costs.

The instrument is the neural ``Synth`` with a randomly initialised generator of the
``paper`` config, as the engine benchmark (no trained model ships yet): its bank renders
cost the CPU what a trained model of that size costs. ``--quick`` (a smoke run) uses the
small ``quarter_2s`` config and 2 s halves.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import instruments

__all__ = ["run"]

JACK_RATE, JACK_PERIOD = 48000, 256
MODEL_CONFIG = "paper"  # the size the engine benchmark loads the CPU with
QUICK_CONFIG = "quarter_2s"  # --quick: a smoke run


def _random_bundle(folder: Path, name: str) -> Path:
    from instrument.bundle import save_bundle
    from instrument.config import get_config
    from instrument.networks import Generator

    cfg = get_config(name)
    path = folder / f"random-{name}.safetensors"
    save_bundle(path, cfg, Generator(cfg).state_dict(), {"name": f"random {cfg.name}"})
    return path


def _pump(app, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.002)


def _drive(app, window, seconds: float) -> int:
    """Drag the pad in a circle at 30 Hz, hold a chord, play a new note every 2 s."""
    from engine.events import NoteOff, NoteOn

    for note in (48, 55, 64):
        window.host.engine.push_event(NoteOn(note, 90))
    moves, start, last_note = 0, time.monotonic(), None
    while (now := time.monotonic()) - start < seconds:
        t = now - start
        window.move_pad(0.5 + 0.4 * math.cos(t), 0.5 + 0.4 * math.sin(1.3 * t))
        moves += 1
        note = 60 + int(t / 2) % 12
        if note != last_note:
            if last_note is not None:
                window.release_note(last_note)
            window.play_note(note, 100)
            last_note = note
        _pump(app, 1 / 30)
    for note in (48, 55, 64, last_note):
        window.host.engine.push_event(NoteOff(note))
    return moves


def _phase(app, window, engine, seconds: float) -> dict[str, Any]:
    """Drive for ``seconds``; the audio side's figures over that time."""
    engine.reset_worst()
    before = engine.stats()
    t0 = time.monotonic()
    moves = _drive(app, window, seconds)
    elapsed = time.monotonic() - t0
    after = engine.stats()
    return {
        "seconds": round(elapsed, 1),
        "pad_moves": moves,
        "xruns": int(after.xruns - before.xruns),
        "blocks": int(after.blocks - before.blocks),
        "worst_callback_ms": round(after.worst_callback_ms, 3),
        "callback_load": round(after.callback_load, 3),
        "bank_render_ms": round(after.bank_render_ms, 1),
    }


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    seconds = 2.0 if quick else 60.0  # per half
    config = QUICK_CONFIG if quick else MODEL_CONFIG
    from PySide6 import QtWidgets

    from engine.jack import JackServer
    from ui.app import _application
    from ui.host import Host
    from ui.window import MainWindow

    jack = JackServer("gansynth-bench-ui", rate=JACK_RATE)
    jack.ensure(JACK_PERIOD)
    log(f"   own JACK server {jack.name} (dummy, {JACK_RATE} Hz, {JACK_PERIOD} frames)")
    tmp = Path(tempfile.mkdtemp(prefix="gansynth-bench-ui-"))
    try:
        settings = tmp / "ui.json"
        audio = {"device": None, "sample_rate": JACK_RATE, "blocksize": JACK_PERIOD}
        settings.write_text(json.dumps({"version": 1, "audio": audio}))
        os.environ["GANSYNTH_PRESET_DIR"] = str(tmp / "presets")
        model = _random_bundle(tmp, config)
        app = _application()
        window = MainWindow(Host(instruments.synth_file, render_process=True), settings)
        window.remember = False
        window.paint_in_frame = True
        window.start(str(model))
        window.show()
        host = window.host
        if host.engine is None:
            raise OSError(
                f"the ui benchmark could not load its model: {window.banner.text()}"
            )
        if host.audio_name == "no audio device":
            raise OSError(f"no JACK output: {window.devices.audio_error.text()}")
        log(
            f"   {host.instrument.name} on {host.instrument.device_name}, "
            f"output {host.audio_name} {JACK_RATE} Hz / {JACK_PERIOD} frames"
        )
        engine = host.engine
        deadline = time.monotonic() + 300
        while not engine.wait_bank(0.05) and time.monotonic() < deadline:
            app.processEvents()
        _pump(app, 1.0)
        # A: the same drive with no window (hidden, its timer stopped): the baseline
        window.timer.stop()
        window.hide()
        base = _phase(app, window, engine, seconds)
        # B: the window shown and pulling ~30 times a second, painting as in use
        window.show()
        window.paint_in_frame = False
        window.timer.start(1)
        _pump(app, 0.5)
        window.frame_cpu.clear()
        with_window = _phase(app, window, engine, seconds)
        with_window["gui_cpu_ms_per_s"] = round(
            1000 * sum(window.frame_cpu) / max(with_window["seconds"], 1e-9), 1
        )
        # C: frame time with a synchronous full repaint inside every frame (an upper
        # bound of a frame's cost; the callback waits while Qt paints holding the GIL)
        window.paint_in_frame = True
        window.frame_times.clear()
        window.frame_cpu.clear()
        full_paint = _phase(app, window, engine, min(seconds, 10.0))
        frames = window.frame_stats()
        elapsed = full_paint["seconds"]
        result = {
            "seconds_per_phase": round(with_window["seconds"], 1),
            "model": f"random {config} generator",
            "frames_per_s": round(frames["frames"] / elapsed, 1),
            "frame_ms_mean": round(frames["mean_ms"], 2),
            "frame_ms_p99": round(frames["p99_ms"], 2),
            "frame_ms_max": round(frames["max_ms"], 2),
            "frame_cpu_ms_mean": round(frames["cpu_mean_ms"], 2),
            "frame_cpu_ms_p99": round(frames["cpu_p99_ms"], 2),
            "load_average": round(os.getloadavg()[0], 2),
            "without_window": base,
            "with_window": with_window,
            "with_full_repaint_each_frame": full_paint,
            "xruns_added_by_window": with_window["xruns"] - base["xruns"],
        }
        window.close()
        QtWidgets.QApplication.processEvents()
    finally:
        jack.close()
        shutil.rmtree(tmp, ignore_errors=True)
    log(
        f"   GUI: {result['frames_per_s']} frames/s, "
        f"frame {result['frame_ms_mean']} ms "
        f"mean, {result['frame_ms_p99']} ms p99, {result['frame_ms_max']} ms max "
        f"(pull + full repaint; target <= 16 ms); GUI-thread CPU "
        f"{result['frame_cpu_ms_mean']} ms mean, {result['frame_cpu_ms_p99']} ms p99; "
        f"load average {result['load_average']}"
    )
    for name in ("without_window", "with_window", "with_full_repaint_each_frame"):
        r = result[name]
        log(
            f"   audio, pad dragged, {name.replace('_', ' ')}: {r['xruns']} xruns in "
            f"{r['blocks']} blocks, worst callback {r['worst_callback_ms']} ms, "
            f"load {r['callback_load']:.0%}, last bank {r['bank_render_ms']:.0f} ms"
        )
    log(f"   xruns added by the window: {result['xruns_added_by_window']}")
    return {"ui": result}
