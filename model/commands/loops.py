"""``python -m model loops SCENARIO.toml [--set NAME=VALUE ...] [--samples N] [--json]``.

Loops That Matter along the scenario's run (:mod:`model.analysis.loops`): the loop that
dominates at the point of no return, the moments dominance shifts, and per loop its
polarity, largest absolute relative score and share of the run it dominates.
"""

from __future__ import annotations

import numpy as np

from .common import add_scenario_arguments, dump_json, scenario_with_overrides


def add_parser(sub) -> None:
    p = sub.add_parser("loops", help="loop dominance (Loops That Matter) and the loop dominant at the point of no return")
    add_scenario_arguments(p)
    p.add_argument("--samples", type=int, default=400, help="times along the run to score (default 400)")
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
    scenario, params = scenario_with_overrides(args.scenario, args.overrides)
    result = analyse(params, args.samples)
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
    return 0
