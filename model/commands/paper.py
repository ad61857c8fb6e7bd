"""``python -m model paper [--out DIR] [--draws N] [--seed S]``: regenerate and build the paper."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("paper", help="regenerate everything the paper states and build paper/build/paper.pdf")
    p.add_argument("--out", default=None, metavar="DIR", help="build folder (default paper/build)")
    p.add_argument("--draws", type=int, default=None, help="verdict draws per sector (default: verdict's)")
    p.add_argument("--seed", type=int, default=0, help="verdict seed (default 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..publish.paper import build

    if args.draws is not None and args.draws < 10:
        raise ValueError(f"--draws must be at least 10, got {args.draws}")
    build(args.out, draws=args.draws, seed=args.seed)
    return 0
