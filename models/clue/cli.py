"""The `clue` command line: one entry point, one sub-command per module.

Each sub-command lives in its own module and exposes ``register(subparsers)``, which adds
its parser and sets ``func``. Modules are imported only when listed here, so a sub-command's
heavy imports (torch, onnx, highdicom) cost nothing to the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from clue.errors import UserFacingError

# In the order `clue --help` shows them.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "clue.train",
    "clue.evaluate",
    "clue.export",
    "clue.variants",
    "clue.pretrain",
    "clue.demo_model",
    "clue.synth.cli",
    "clue.golden",
    "clue.golden_metrics",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clue",
        description="CLUE: train image-conditioned prompts on a frozen CLIP, evaluate anomaly "
        "maps, export ONNX + manifest for the OHIF viewer.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        module = importlib.import_module(module_name)
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserFacingError as error:
        print(f"clue {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
