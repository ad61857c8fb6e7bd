"""``python -m model bench``: every benchmark section, ratios against baselines in one run.

Sections live in :mod:`model.benchmarks` (one module each, with ``run(args)`` printing its
lines). Not a test: figures go in notes.
"""

from __future__ import annotations

import importlib

SECTIONS = ("core", "tipping", "engine", "verdict", "app", "revision", "network", "firms", "sweep", "loops")


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks: print timings and ratios against baselines")
    p.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    p.add_argument("--repeat", type=int, default=20, help="repetitions for medians (default 20)")
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    p.add_argument("--firms-16", action="store_true", help="firms: also 16 firms (slow first compile)")
    p.add_argument("--against", metavar="REV", help="revision: time this tree against git revision REV")
    p.set_defaults(func=run)


def run(args) -> int:
    for name in args.only or SECTIONS:
        print(f"== {name} ==", flush=True)
        importlib.import_module(f"model.benchmarks.{name}").run(args)
    return 0
