"""``python -m model sweep SCENARIO.toml [more] --vary NAME=LOW:HIGH ... --out DIR``.

Runs a design (grid, Latin hypercube or Sobol') over the varied parameters of each
scenario with the ensemble engine and writes chunked Parquet files and a manifest to DIR
(see :mod:`model.studies.sweep`). ``--resume`` finishes a sweep that was stopped.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .common import scenario_with_overrides


def add_parser(sub) -> None:
    from ..studies.sweep import DEFAULT_MEASURES, DESIGNS, MEASURES

    p = sub.add_parser("sweep", help="headless parameter sweep to chunked Parquet files (resumable)",
                       description="Sweep parameters of one or more scenarios with the compiled ensemble engine.")
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario TOML file(s)")
    p.add_argument("--vary", action="append", default=[], metavar="NAME=LOW:HIGH",
                   help="parameter to vary (repeatable); NAME alone uses the scenario's range; none: every "
                        "parameter with a range in the scenario")
    p.add_argument("--design", choices=DESIGNS, default="lhs", help="design in the unit cube (default lhs)")
    p.add_argument("--n", type=int, default=1000, help="design points per scenario (grid: floor(N^(1/d)) levels "
                                                       "per axis); default 1000")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (manifest.json, chunk-*.parquet)")
    p.add_argument("--seed", type=int, default=0, help="seed of the design (default 0)")
    p.add_argument("--measures", nargs="+", choices=MEASURES, default=list(DEFAULT_MEASURES),
                   help=f"outcome groups (default {' '.join(DEFAULT_MEASURES)}; 'ponr' adds the point of no return)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameter of every scenario (repeatable)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="chunks computed at a time in this process, one engine thread each "
                                                    "(default: one per core)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--resume", action="store_true", help="finish the sweep already in DIR")
    p.add_argument("--chunk-size", type=int, default=5000, help="runs per Parquet chunk (default 5000)")
    p.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance (default 1e-6)")
    p.add_argument("--atol", type=float, default=1e-9, help="absolute tolerance (default 1e-9)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def load_scenarios(paths, overrides):
    """(Scenario, Parameters, file text, overrides) for each path; ValueError names the bad one."""
    out = []
    for path in paths:
        scenario, params = scenario_with_overrides(path, overrides)
        contents = Path(path).read_text(encoding="utf-8")
        out.append((scenario, params, contents, tuple(overrides)))
    return out


def run(args) -> int:
    from ..studies.sweep import make_spec, run_sweep

    scenarios = load_scenarios(args.scenarios, args.overrides)
    spec = make_spec(scenarios, args.vary, design=args.design, n=args.n, seed=args.seed, measures=args.measures,
                     chunk_size=args.chunk_size, rtol=args.rtol, atol=args.atol)
    try:
        summary = run_sweep(spec, args.out, resume=args.resume, workers=args.workers, scheduler=args.scheduler,
                            progress=not args.no_progress)
    except KeyboardInterrupt:
        done = len(list(Path(args.out).glob("chunk-*.parquet")))
        print(f"sweep stopped: {done} of {spec.n_chunks} chunks are complete in {args.out}; run the same command "
              "with --resume to finish it", file=sys.stderr)
        raise
    for note in summary.rejected:
        print(f"warning: {note}", file=sys.stderr)
    rate = summary.computed_runs / summary.seconds if summary.seconds > 0 else float("nan")
    over = ", ".join(spec.names) if len(spec.names) <= 6 else f"{len(spec.names)} parameters"
    print(f"{spec.total_runs} runs ({len(spec.scenarios)} scenario(s) x {spec.n_runs}, {spec.design} design over "
          f"{over}) in {summary.out_dir}: {len(summary.computed_chunks)} chunk(s) computed "
          f"({summary.computed_runs} runs, {rate:,.0f} runs/s), {len(summary.skipped_chunks)} already done")
    if summary.layouts:
        layouts = ", ".join(f"{threads} engine thread(s) each ({layer})" for layer, threads in sorted(summary.layouts))
        print(f"{summary.concurrent_chunks} chunk(s) at a time, {layouts}")
    return 0
