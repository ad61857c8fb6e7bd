"""``python -m model verdict [--draws N] [--seed S] [--out DIR] [--scenarios FILE ...]``.

For every sector file (default: ``scenarios/*.toml`` but the baseline) the Monte Carlo
verdict of :mod:`model.studies.verdict` and the claims C5, C7, C4; writes ``verdict.csv`` (one row
per sector), ``verdict_claims.csv``, ``verdict_draws.csv`` (every draw, failed ones with
their reason) and ``verdict.md`` (the table a reader of the book can follow) to DIR, and
prints the table.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..evidence.scenarios import verdict_files
from ..studies.verdict import VERDICT_RULES
from ..studies.verdict_report import claim_row, claims_text, compute, text_table, write_outputs


def _plain(x):
    """JSON for what json cannot write: numpy numbers, NaN as None."""
    import math

    import numpy as np

    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    if isinstance(x, np.floating):
        return float(x) if math.isfinite(x) else None
    raise TypeError(f"{type(x).__name__} is not JSON")


def add_parser(sub) -> None:
    p = sub.add_parser("verdict", help="the verdict on the 20%% claim: Monte Carlo over every sector's ranges")
    p.add_argument("--draws", type=int, default=1000, help="Latin-hypercube draws per sector (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0); each sector's stream derives from it")
    p.add_argument("--out", default="verdict", metavar="DIR", help="output folder (default: verdict)")
    p.add_argument("--claim-draws", type=int, default=300,
                   help="draws per sector for the claims C5, C7, C4 (the first of the sector's draws; default 300)")
    p.add_argument("--no-claims", action="store_true", help="skip the claims C5, C7, C4")
    p.add_argument("--critical-mass-draws", type=int, default=200,
                   help="draws per sector (the first of its draws) on which the adoption critical mass is computed "
                        "(default 200; 0 skips it)")
    p.add_argument("--tol", type=float, default=0.01, help="point-of-no-return bisection tolerance in years")
    p.add_argument("--json", action="store_true",
                   help="print the verdict as JSON (every sector's readings, words, fate and critical mass; the "
                        "claims) instead of the tables")
    p.add_argument("--scenarios", nargs="+", metavar="FILE",
                   help="sector files (default: every scenarios/*.toml but baseline.toml)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.claim_draws < 2:
        raise ValueError(f"--claim-draws must be at least 2, got {args.claim_draws}")
    # A file that says the model's structure does not fit its sector stays out of the default
    # verdict; named explicitly with --scenarios it runs.
    paths, excluded = ([Path(p) for p in args.scenarios], []) if args.scenarios else verdict_files()
    t0 = time.perf_counter()
    if args.critical_mass_draws < 0:
        raise ValueError(f"--critical-mass-draws must be 0 or more, got {args.critical_mass_draws}")
    verdicts, claims, timings = compute(paths, draws=args.draws, seed=args.seed, tol=args.tol,
                                        claim_draws=None if args.no_claims else args.claim_draws,
                                        critical_mass_draws=args.critical_mass_draws,
                                        progress=lambda s: print(s, file=sys.stderr, flush=True))
    seconds = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"draws": args.draws, "seed": args.seed, "tol": args.tol, "claim_draws": None if args.no_claims
            else args.claim_draws, "critical_mass_draws": args.critical_mass_draws, "seconds": seconds,
            "excluded": [{"sector": k, "reason": r} for k, r in excluded]}
    write_outputs(out, verdicts, claims, meta)
    if args.json:
        print(json.dumps({"rules": VERDICT_RULES, "meta": meta, "sectors": [v.as_dict() for v in verdicts],
                          "claims": [claim_row(c) for c in claims]}, indent=1, default=_plain))
        return 0
    print(text_table(verdicts))
    if claims:
        print()
        print(claims_text(claims))
    for key, reason in excluded:
        print(f"\n{key}: not in the verdict: {reason}")
    print(f"\n{len(verdicts)} sectors x {args.draws} draws in {seconds:.1f} s; wrote {out / 'verdict.csv'}, "
          f"{out / 'verdict.md'}, {out / 'verdict_claims.csv'}, {out / 'verdict_draws.csv'}")
    return 0


