"""GANSynth instrument: the command line.

    python main.py                     open the instrument window with the shipped model
    python main.py play --headless     play from MIDI with no window
    python main.py render IN.mid -o OUT.wav
    python main.py export-sfz OUT_DIR
    python main.py devices             audio devices and MIDI ports
    python main.py bench [--json]      the speed and memory benchmark

A global ``--model PATH`` selects a model bundle (default: the shipped model).
Errors a user can cause (a missing file, a bad preset, no audio device) print one
sentence and exit with a non-zero code; they never end in a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _add_play(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("play", help="play from MIDI input (headless)")
    p.add_argument(
        "--headless", action="store_true", help="no window (the only mode here)"
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--midi-port", metavar="NAME", help="open the input port containing NAME"
    )
    g.add_argument(
        "--virtual-port", metavar="NAME", help="open a virtual MIDI input port"
    )
    p.add_argument("--midi-backend", metavar="API", help="alsa, jack, coremidi, winmm")
    p.add_argument(
        "--channel", type=int, metavar="N", help="listen to MIDI channel 1-16 only"
    )
    p.add_argument("--preset", metavar="P", help="preset name or JSON file")
    p.add_argument("--seed", type=int, help="random timbre from this seed (no preset)")
    p.add_argument("--device", metavar="D", help="audio output device name or index")
    p.add_argument("--sample-rate", type=int, metavar="SR", help="output rate (Hz)")
    p.add_argument("--blocksize", type=int, default=256, metavar="N")
    p.add_argument("--latency", default="low", help="'low', 'high' or seconds")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a MIDI file to a WAV file, offline")
    p.add_argument("midi", metavar="IN.mid")
    p.add_argument("-o", "--output", required=True, metavar="OUT.wav")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", metavar="P")
    g.add_argument("--seed", type=int)
    p.add_argument(
        "--interpolate",
        type=float,
        metavar="SECONDS",
        help="a new random timbre every SECONDS, slerped, one latent per note",
    )
    p.add_argument("--sample-rate", type=int, default=48000, metavar="SR")


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-sfz", help="export the timbre as an SFZ multisample")
    p.add_argument("out_dir", metavar="OUT_DIR")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", metavar="P")
    g.add_argument("--seed", type=int)
    p.add_argument("--sample-rate", type=int, default=48000, metavar="SR")


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure speed (prints figures)")
    p.add_argument(
        "--json", action="store_true", help="one JSON object on the last line"
    )
    p.add_argument("--sections", metavar="A,B", help="only these sections")
    p.add_argument(
        "--quick", action="store_true", help="shorter runs (for smoke tests)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", metavar="PATH", help="model bundle (.safetensors)")
    parser.add_argument(
        "--screenshot",
        metavar="FILE.png",
        help="open the window, play a note, save a screenshot, exit",
    )
    sub = parser.add_subparsers(dest="command")
    _add_play(sub)
    _add_render(sub)
    _add_export(sub)
    sub.add_parser("devices", help="list audio devices and MIDI ports")
    _add_bench(sub)
    return parser


class UserError(Exception):
    """A problem the user can fix; printed as one sentence."""


def load_instrument(model: str | None, sample_rate: int):
    """The instrument the engine plays, by injection (the engine never imports torch).

    A ``.sf2``/``.sf3`` path loads a SoundFont instrument with the same interface;
    anything else is a GANSynth model bundle (default: the shipped model).
    """
    if model and model.lower().endswith((".sf2", ".sf3")):
        from instrument.soundfont import SoundFontInstrument

        return SoundFontInstrument(model, sample_rate=sample_rate)
    from instrument.bundle import default_model_path
    from instrument.synth import Synth

    return Synth.load(model or default_model_path(), output_rate=sample_rate)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "bench":
        from bench import run_bench

        return run_bench(args)
    if args.command in ("play", "render", "export-sfz", "devices"):
        from engine import commands

        return commands.run(args, load_instrument)
    from ui import app

    return app.run(args, load_instrument)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        return 130
    except (UserError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from instrument.allocator import reexec

    reexec()
    sys.exit(main())
