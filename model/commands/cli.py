"""Command line: ``python -m model COMMAND ...``.

Each command lives in its own module under :mod:`model.commands` and defines
``add_parser(subparsers)`` (which registers the command and sets ``func``). Bad input
exits with status 2 and one line naming what is wrong; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: Command modules, in the order ``--help`` lists them.
COMMANDS = ("run", "tipping", "network", "sweep", "sensitivity", "calibrate", "verdict", "figures", "paper", "bench",
            "codegen", "build-lanes", "warm", "assets", "loops", "export-xmile", "firms", "effects", "checks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m model",
        description="Highland Park vs. trust platforms: a system-dynamics model of platform disruption.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"model.commands.{name.replace('-', '_')}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of the output went away (`... | head`): not an error of ours. Point
        # stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
