"""``python -m model firms SCENARIO.toml [--n 8] [--draws 100] [--seed 0] [--json]``.

The sector as a population of firms over its uncertainty (:mod:`model.studies.firms`): how
often the first firm fails and half of the incumbent capacity exits within the horizon,
and where, in the three readings of the platform's progress (its share of the sector's
gross, the incumbents' gross loss, its share of volume), with 90 % intervals.
"""

from __future__ import annotations

from dataclasses import replace

from ..core.parameters import PARAMETER_SPECS
from ..studies.firms import MOMENTS, READINGS, sector_firms
from .common import add_scenario_arguments, dump_json, scenario_with_overrides

_LABELS = {"first_failure": "first failure", "half_exited": "half of capacity exited (Highland Park falls)",
           "platform_share_of_gross": "platform share of gross", "incumbent_gross_loss": "incumbents' gross loss",
           "platform_volume_share": "platform share of volume"}


def add_parser(sub) -> None:
    p = sub.add_parser("firms", help="the sector as a population of firms: where they fail, over its ranges")
    add_scenario_arguments(p)
    choices = [c for c in PARAMETER_SPECS["firm_count"].choices if c > 1]
    p.add_argument("--n", type=int, default=8, choices=choices, help="firms (default 8)")
    p.add_argument("--draws", type=int, default=100, help="draws within the file's ranges (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def run(args) -> int:
    scenario, params = scenario_with_overrides(args.scenario, args.overrides)
    study = sector_firms(replace(scenario, params=params), draws=args.draws, seed=args.seed, n_firms=args.n)
    summary = study.summary()
    if args.json:
        print(dump_json(summary))
        return 0
    print(f"{scenario.name}: {args.n} firms, {args.draws} draws ({study.failed_runs} failed runs); "
          f"on average {summary['mean_firms_failed']:.1f} firms fail within {params.horizon:g} years")
    for moment in MOMENTS:
        m = summary[moment]
        print(f"  {_LABELS[moment]}: reached in {m['reached']:.0%} of draws")
        for reading in READINGS:
            r = m[reading]
            if r["median"] == r["median"]:
                print(f"    {_LABELS[reading]}: median {r['median']:.1%} [90%: {r['p5']:.1%} to {r['p95']:.1%}]")
    return 0
