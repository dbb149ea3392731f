"""python -m trainer SUBCOMMAND: build datasets, train, export and evaluate models.

Each subcommand lives in its own module, which provides ``configure(parser)`` (its
arguments) and ``run(args) -> int`` (exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "build-dataset": (
        "trainer.build_dataset",
        "render or collect an NSynth-format dataset",
    ),
    "train": ("trainer.train", "train a GANSynth model (resumable; torchrun for DDP)"),
    "export": ("trainer.export", "export a run's EMA generator as a model bundle"),
    "eval": ("trainer.evaluate", "pitch accuracy, pitch entropy, NDB and diversity"),
    "make-presets": (
        "trainer.factory_presets",
        "factory presets: latents nearest chosen training instruments",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        importlib.import_module(module).configure(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(importlib.import_module(args._module).run(args))
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from instrument.allocator import reexec

    reexec()
    sys.exit(main())
