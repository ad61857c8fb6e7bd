"""``python -m model sensitivity SCENARIO.toml --vary NAME=LOW:HIGH ... --method sobol|morris``.

First-order and total Sobol' indices (or Morris mu*, sigma) with confidence intervals for
the point of no return and the fall time, written as a table (CSV and Markdown); see
:mod:`model.analysis.sensitivity`.
"""

from __future__ import annotations

from pathlib import Path

from .common import add_scenario_arguments, scenario_with_overrides


def add_parser(sub) -> None:
    from ..analysis.sensitivity import DEFAULT_OUTPUTS, METHODS, OUTPUTS

    p = sub.add_parser("sensitivity", help="global sensitivity (SALib Sobol' or Morris) of the tipping point",
                       description="Sobol' or Morris sensitivity of the point of no return and the fall time.")
    add_scenario_arguments(p)
    p.add_argument("--vary", action="append", default=[], metavar="NAME=LOW:HIGH",
                   help="parameter to vary (repeatable); NAME alone uses the scenario's range; none: every "
                        "parameter with a range in the scenario")
    p.add_argument("--method", choices=METHODS, default="sobol", help="sobol (default) or morris")
    p.add_argument("--n", type=int, default=1024,
                   help="base samples (Sobol': rounded up to a power of two, N(d+2) runs) or Morris trajectories "
                        "(N(d+1) runs); default 1024")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and the bootstrap (default 0)")
    p.add_argument("--outputs", nargs="+", choices=OUTPUTS, default=list(DEFAULT_OUTPUTS),
                   help=f"outputs to analyse (default {' '.join(DEFAULT_OUTPUTS)})")
    p.add_argument("--conf-level", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--out", metavar="DIR", help="write DIR/sensitivity.csv and DIR/sensitivity.md")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..analysis.sensitivity import model_sensitivity, to_markdown
    from ..studies.sweep import parse_vary

    scenario, params = scenario_with_overrides(args.scenario, args.overrides)
    vary = parse_vary(args.vary, scenario)
    result = model_sensitivity(params, vary, method=args.method, n=args.n, seed=args.seed, outputs=args.outputs,
                               conf_level=args.conf_level)
    text = to_markdown(result, title=f"Sensitivity: {scenario.name}")
    if args.out:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out}: exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        result.to_frame().to_csv(out / "sensitivity.csv", index=False)
        (out / "sensitivity.md").write_text(text, encoding="utf-8")
    print(text, end="")
    if args.out:
        print(f"\nwritten: {Path(args.out) / 'sensitivity.csv'}, {Path(args.out) / 'sensitivity.md'}")
    return 0
