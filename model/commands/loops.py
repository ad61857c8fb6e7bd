"""``python -m model loops SCENARIO.toml [--set NAME=VALUE ...] [--samples N] [--draws N [--seed S]] [--json]``.

Loops That Matter along the scenario's run (:mod:`model.analysis.loops`): the loop that
dominates at the point of no return, the moments dominance shifts, and per loop its
polarity, largest absolute relative score and share of the run it dominates. With
``--draws N``: over the verdict's N draws of the sector (:mod:`model.studies.loop_dominance`),
how often each loop dominates at the point of no return and when dominance shifts.
"""

from __future__ import annotations

import numpy as np

from .common import add_scenario_arguments, dump_json, scenario_with_overrides


def add_parser(sub) -> None:
    p = sub.add_parser("loops", help="loop dominance (Loops That Matter) and the loop dominant at the point of no return")
    add_scenario_arguments(p)
    p.add_argument("--samples", type=int, default=400, help="times along the run to score (default 400)")
    p.add_argument("--draws", type=int, default=None,
                   help="also over N of the verdict's draws of the sector: the loop dominant at the point of no "
                        "return and the shift times, as distributions")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0, the verdict's)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def analyse(params, samples: int) -> dict:
    """The command's result as a JSON-able dict."""
    from ..analysis.loops import dominant_at_point_of_no_return, loop_scores

    scores = loop_scores(params, samples=samples)
    at_ponr = dominant_at_point_of_no_return(params, scores=scores)
    if at_ponr["relative_score"] is not None:
        # A loop of undetermined polarity acts as the sign of its score says.
        at_ponr["acting_as"] = "reinforcing" if at_ponr["relative_score"] > 0 else "balancing"
    dominant = scores.dominant
    defined = dominant >= 0
    loops = []
    for i, (name, lp) in enumerate(zip(scores.names, scores.loops)):
        rel = np.abs(scores.relative[i])
        loops.append({
            "name": name, "polarity": lp.polarity, "nodes": list(lp.nodes),
            "max_abs_relative_score": float(np.nanmax(rel)) if np.any(np.isfinite(rel)) else None,
            "share_of_run_dominant": float(np.mean(dominant[defined] == i)) if defined.any() else 0.0,
        })
    shifts = [{"time": t, "from": scores.names[a], "to": scores.names[b]} for t, a, b in scores.shifts()]
    return {"point_of_no_return": at_ponr, "shifts": shifts, "loops": loops,
            "run_end": float(scores.t[-1]), "samples": int(scores.t.size)}


def run(args) -> int:
    if args.samples < 3:
        raise ValueError(f"--samples must be at least 3, got {args.samples}")
    if args.draws is not None and args.draws < 2:
        raise ValueError(f"--draws must be at least 2, got {args.draws}")
    scenario, params = scenario_with_overrides(args.scenario, args.overrides)
    result = analyse(params, args.samples)
    if args.draws is not None:
        from dataclasses import replace

        from ..studies.loop_dominance import ensemble_summary, sector_loop_dominance

        result["draws"] = ensemble_summary(sector_loop_dominance(replace(scenario, params=params),
                                                                 draws=args.draws, seed=args.seed))
    if args.json:
        print(dump_json(result))
        return 0
    at = result["point_of_no_return"]
    if at["loop"] is not None:
        print(f"At the point of no return (t = {at['time']:.2f} yr) the dominant loop is {at['loop']} "
              f"(relative score {at['relative_score']:+.2f}, acting as {at['acting_as']}).")
    else:
        print(f"Point of no return: {at['outcome']}; no dominant loop to report there.")
    print(f"\nDominance shifts over the run (0 to {result['run_end']:.2f} yr):")
    for s in result["shifts"]:
        print(f"  {s['time']:6.2f} yr  {s['from']}  ->  {s['to']}")
    if not result["shifts"]:
        print("  none")
    print("\nLoops (polarity, largest |relative score|, share of the run dominant):")
    for lp in result["loops"]:
        top = lp["max_abs_relative_score"]
        print(f"  {lp['name']:<60s} {lp['polarity']}  {top if top is None else f'{top:.2f}'}  "
              f"{lp['share_of_run_dominant']:.0%}")
    if args.draws is not None:
        _print_draws(result["draws"])
    return 0


def _print_draws(d: dict) -> None:
    tips = d["tips"]
    q = d["point_of_no_return_time"]
    print(f"\nOver {d['draws']} draws of the sector (seed {d['seed']}): {tips} tip", end="")
    print(f", point of no return median {q['median']:.2f} yr (90%: {q['p05']:.2f}-{q['p95']:.2f})." if tips else ".")
    print("Loop dominant at the point of no return (share of the draws that tip):")
    for row in d["dominant_at_point_of_no_return"]:
        print(f"  {row['share']:6.1%}  {row['loop']}")
    if d["undefined_at_point_of_no_return"]:
        print(f"  ({d['undefined_at_point_of_no_return']} draws: scores undefined there)")
    print("Dominance shifts (draws where it happens; its first time, median and 90%):")
    for row in d["shifts"][:12]:
        print(f"  {row['draws']:5d}  {row['median']:6.2f} yr ({row['p05']:.2f}-{row['p95']:.2f})  "
              f"{row['from']}  ->  {row['to']}")
