"""``python -m model figures [--only NAME ...] [--out DIR] [--draws N] [--seed S] [--verdict DIR]
[--network-customers N]``.

Writes every book figure (:data:`model.publish.book.FIGURES`) as PDF, SVG and PNG (300 dpi) to
DIR, with the manifest ``figures.json`` (files, captions, scenario files and parameter
values with their hashes, data files, draws and seeds, code version, time). The verdict
figures use the results of ``python -m model verdict`` when ``--verdict DIR`` names its
output folder, and otherwise run the verdict here with ``--draws`` draws per sector.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def add_parser(sub) -> None:
    from ..publish.book import FIGURES

    p = sub.add_parser("figures", help="write the book's figures (PDF, SVG, PNG at 300 dpi) and figures.json")
    p.add_argument("--only", nargs="+", metavar="NAME", help=f"only these figures (of: {', '.join(FIGURES)})")
    p.add_argument("--out", default="figures", metavar="DIR", help="output folder (default: figures)")
    p.add_argument("--draws", type=int, default=200,
                   help="verdict draws per sector when the verdict is run here (default 200)")
    p.add_argument("--seed", type=int, default=0, help="verdict seed when the verdict is run here (default 0)")
    p.add_argument("--verdict", metavar="DIR", default=None,
                   help="read the verdict from DIR (verdict.csv, verdict_draws.csv) instead of running it")
    p.add_argument("--network-customers", type=int, default=None, metavar="N",
                   help="customers on each graph of the network figure (default: the book's 10,000; "
                        "at least 500)")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from ..publish.book import FIGURES, Context, export_figures

    if args.list:
        for name, spec in FIGURES.items():
            print(f"{name:24s} {spec.width} width, {spec.width_in:g} x {spec.height_in:g} in")
        return 0
    if args.draws < 2:
        raise ValueError(f"--draws must be at least 2, got {args.draws}")
    if args.verdict is not None and not Path(args.verdict).is_dir():
        raise ValueError(f"--verdict {args.verdict}: no such folder")
    if args.network_customers is not None and args.network_customers < 500:
        raise ValueError(f"--network-customers must be at least 500, got {args.network_customers}")
    names = args.only or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"--only: unknown figure {', '.join(map(repr, unknown))}; valid: {', '.join(FIGURES)}")
    ctx = Context(draws=args.draws, seed=args.seed, verdict_dir=args.verdict,
                  network_customers=args.network_customers)
    t0 = time.perf_counter()

    def progress(items):
        bar = tqdm(items, desc="figures", unit="fig", file=sys.stderr, leave=True)
        for name in bar:
            bar.set_postfix_str(name)
            yield name

    manifest = export_figures(Path(args.out), names=names, context=ctx, progress=progress)
    print(f"wrote {len(names)} figure(s) x 3 formats to {args.out} and {Path(args.out) / 'figures.json'} "
          f"({len(manifest['figures'])} in the manifest) in {time.perf_counter() - t0:.1f} s")
    return 0
