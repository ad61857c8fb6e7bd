"""``python -m model export-xmile SCENARIO.toml -o FILE.xmile [--set NAME=VALUE ...] [--dt DT]``.

Writes the model under the scenario's parameters as an XMILE 1.0 file, generated from the
sympy equations (:mod:`model.publish.xmile`: what is exported and what is not).
"""

from __future__ import annotations

from pathlib import Path

from .common import add_scenario_arguments, check_output_file, scenario_with_overrides


def add_parser(sub) -> None:
    from ..publish.xmile import DEFAULT_DT

    p = sub.add_parser("export-xmile", help="write the model as an XMILE file (for Stella, PySD, simlin)")
    add_scenario_arguments(p)
    p.add_argument("-o", "--out", required=True, metavar="FILE.xmile", help="the file to write")
    p.add_argument("--dt", type=float, default=DEFAULT_DT,
                   help=f"Euler time step of the sim specs, years (default {DEFAULT_DT:g})")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..publish.xmile import write_xmile

    out = Path(args.out)
    if out.suffix.lower() not in (".xmile", ".xml", ".stmx"):
        raise ValueError(f"--out {args.out}: the file must end in .xmile, .xml or .stmx")
    check_output_file("--out", out)
    _, params = scenario_with_overrides(args.scenario, args.overrides)
    write_xmile(params, out, name=Path(args.scenario).stem, dt=args.dt)
    print(f"wrote {out}")
    return 0
