"""The engine's command line: ``play``, ``render``, ``export-sfz`` and ``devices``.

``main.py`` parses the arguments and calls ``run(args, load_instrument)``; the
instrument is injected (``load_instrument(model, sample_rate)``), so this module never
imports torch. Errors a user can cause surface as ``OSError``/``ValueError`` with one
sentence, which ``main.py`` prints before exiting with code 2. Status lines go to
stderr; ``play`` prints one line to stdout when its bank is complete (``ready: ...``),
which scripts can wait for.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.audio import (
    AudioOutput,
    AudioSettings,
    device_sample_rate,
    list_output_devices,
    parse_latency,
    set_jack_client_name,
)
from engine.midi import MidiError, MidiInput, choose_backend, list_input_ports

__all__ = [
    "run",
    "play",
    "render",
    "export_sfz",
    "devices",
    "JACK_CLIENT",
    "MIDI_CLIENT",
]

LoadInstrument = Callable[[str | None, int], Any]

JACK_CLIENT = "gansynth-audio"  # audio ports: gansynth-audio:out_0, out_1
MIDI_CLIENT = "gansynth"  # MIDI: gansynth:<virtual port> or gansynth:in
DEFAULT_VIRTUAL_PORT = "midi_in"  # opened when neither --midi-port nor --virtual-port
BANK_TIMEOUT_S = (
    600.0  # a paper-size bank on a slow CPU still finishes well within this
)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _timbre(args: argparse.Namespace, instrument: Any) -> tuple[np.ndarray, Any]:
    """The latent ``[latent_size] float32`` and engine settings (None: defaults).

    From ``--preset`` (refused with one sentence when made for another model), else a
    random latent from ``--seed``, else the model's factory default pad
    (``engine.presets.startup_preset``), else the random latent of seed 0.
    """
    from engine.presets import load_preset, startup_preset
    from instrument.latent import random_latents

    preset_name = getattr(args, "preset", None)
    if preset_name:
        preset = load_preset(preset_name, instrument.model_id)
        return preset.latent(), preset.settings
    seed = getattr(args, "seed", None)
    if seed is None:
        preset = startup_preset(instrument.model_id)
        if preset is not None:
            return preset.latent(), preset.settings
        seed = 0
    return random_latents(1, instrument.latent_size, seed)[0], None


def _audio_settings(args: argparse.Namespace) -> AudioSettings:
    device: int | str | None = args.device
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    return AudioSettings(
        device=device,
        sample_rate=args.sample_rate,
        blocksize=args.blocksize,
        latency=parse_latency(args.latency),
    )


def _midi_channel(args: argparse.Namespace) -> int | None:
    """``--channel`` 1-16 as mido's 0-15 (None: every channel)."""
    if args.channel is None:
        return None
    if not 1 <= args.channel <= 16:
        raise ValueError(f"--channel must be 1-16, got {args.channel}")
    return args.channel - 1


def _open_midi(args: argparse.Namespace, engine: Any) -> MidiInput | None:
    """The MIDI input, or None (one sentence on stderr) when there is no MIDI system."""
    channel = _midi_channel(args)
    virtual = args.virtual_port
    if args.midi_port is None and virtual is None:
        virtual = DEFAULT_VIRTUAL_PORT
    try:
        midi = MidiInput(
            engine,
            port=args.midi_port,
            virtual=virtual,
            backend=args.midi_backend,
            channel=channel,
            client_name=MIDI_CLIENT,
            on_status=_say,
        )
        midi.open()
    except MidiError as err:
        _say(f"warning: {err}; playing on without MIDI input")
        return None
    midi.start_watcher()
    _say(f"MIDI input: {midi.port_name} ({midi.backend})")
    return midi


def _wait(duration: float | None, stop: threading.Event) -> None:
    """Until ``duration`` seconds pass (None: forever) or Ctrl-C."""
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while not stop.is_set():
            left = 0.5 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(left, 0.5))
    except KeyboardInterrupt:
        _say("stopping")


def play(args: argparse.Namespace, load_instrument: LoadInstrument) -> int:
    """``play --headless``: MIDI in, audio out, until Ctrl-C or ``--duration``."""
    from engine.engine import Engine, EngineSettings
    from engine.render_process import ProcessInstrument

    if args.duration is not None and args.duration <= 0:
        raise ValueError(f"--duration must be positive, got {args.duration}")
    _midi_channel(args)
    settings = _audio_settings(args)
    set_jack_client_name(JACK_CLIENT)
    rate = device_sample_rate(settings)  # AudioDeviceError when there is no device
    # the model renders in a child process: its GIL-holding work never delays the
    # audio callback or the MIDI thread (engine.render_process)
    instrument = ProcessInstrument(load_instrument, args.model, rate)
    try:
        latent, engine_settings = _timbre(args, instrument)
        engine = Engine(instrument, engine_settings or EngineSettings())
        audio = AudioOutput(engine, settings)
    except BaseException:
        instrument.close()
        raise
    engine.start()
    midi: MidiInput | None = None
    try:
        engine.set_timbre(latent)
        audio.start()
        _say(
            f"audio: {audio.device.name} ({audio.device.hostapi}), {rate} Hz, "
            f"blocksize {settings.blocksize}, instrument {instrument.name}"
        )
        midi = _open_midi(args, engine)
        stop = threading.Event()
        ready = threading.Thread(
            target=_report_ready, args=(engine, audio, stop), daemon=True
        )
        ready.start()
        _wait(args.duration, stop)
        stop.set()
        stats = engine.stats()
        _say(
            f"played: {audio.callbacks} blocks, {audio.xruns} xruns, "
            f"worst callback {stats.worst_callback_ms:.2f} ms"
            + (f", {midi.malformed} malformed MIDI messages" if midi else "")
        )
    finally:
        if midi is not None:
            midi.stop_watcher()
            midi.close()
        audio.stop()
        engine.stop()
        instrument.close()
    return 0


def _report_ready(engine: Any, audio: AudioOutput, stop: threading.Event) -> None:
    t0 = time.monotonic()
    while not stop.is_set():
        if engine.wait_bank(0.25):
            ms = (time.monotonic() - t0) * 1e3
            print(f"ready: bank complete in {ms:.0f} ms", flush=True)
            return


def render(args: argparse.Namespace, load_instrument: LoadInstrument) -> int:
    """``render IN.mid -o OUT.wav``: offline, through the same engine, no device."""
    from engine.offline import render_midi_file

    instrument = load_instrument(args.model, args.sample_rate)
    if args.interpolate is not None:
        render_midi_file(
            instrument,
            args.midi,
            args.output,
            interpolate_seconds=args.interpolate,
            seed=0 if args.seed is None else args.seed,
        )
    else:
        latent, settings = _timbre(args, instrument)
        kwargs = {} if settings is None else {"settings": settings}
        render_midi_file(instrument, args.midi, args.output, latent=latent, **kwargs)
    _say(f"wrote {args.output}")
    return 0


def export_sfz(args: argparse.Namespace, load_instrument: LoadInstrument) -> int:
    """``export-sfz OUT_DIR``: the timbre as an SFZ multisample instrument."""
    from engine.sfz import export_sfz as export

    instrument = load_instrument(args.model, args.sample_rate)
    latent, settings = _timbre(args, instrument)
    path = export(instrument, latent, args.out_dir, settings=settings)
    _say(f"wrote {path}")
    return 0


def devices(args: argparse.Namespace, load_instrument: LoadInstrument) -> int:
    """``devices``: audio outputs and MIDI inputs, one per line."""
    outputs = list_output_devices()
    print("audio outputs:")
    if not outputs:
        print("  none (no sound card or audio server is running)")
    for d in outputs:
        mark = "*" if d.is_default else " "
        print(
            f" {mark}{d.index:3d}  {d.name}  [{d.hostapi}, {d.channels} ch, "
            f"{d.default_sample_rate:.0f} Hz]"
        )
    try:
        backend = choose_backend(getattr(args, "midi_backend", None))
        ports = list_input_ports(backend)
    except MidiError as err:
        print(f"MIDI inputs: none ({err})")
        return 0
    print(f"MIDI inputs ({backend}):")
    if not ports:
        print("  none")
    for i, name in enumerate(ports):
        print(f"  {i:3d}  {name}")
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace, LoadInstrument], int]] = {
    "play": play,
    "render": render,
    "export-sfz": export_sfz,
    "devices": devices,
}


def run(args: argparse.Namespace, load_instrument: LoadInstrument) -> int:
    """Run one engine subcommand; returns the process exit code."""
    try:
        command = _COMMANDS[args.command]
    except KeyError as err:
        raise ValueError(f"unknown engine command {args.command!r}") from err
    return command(args, load_instrument)
