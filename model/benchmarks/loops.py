"""Loops: LTM loop scores over 1,000 draws of a sector (newspapers) against the 10 s
target, by CPU time (``time.process_time``: every thread's), with the one-run path
(``loop_scores`` on ``simulate`` plus the point of no return, draw by draw) as the
baseline ratio."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..analysis.loops import dominant_at_point_of_no_return, loop_scores
from ..evidence.scenarios import load_scenario
from ..studies.loop_dominance import sector_loop_dominance
from ..studies.verdict import draw_parameters

SECTOR = Path(__file__).resolve().parents[2] / "scenarios" / "newspapers.toml"
#: Target for the loop scores of 1,000 draws (CPU seconds, warm).
TARGET_S = 10.0


def _cpu(fn):
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def run(args) -> None:
    scenario = load_scenario(SECTOR)
    draws = 200 if args.quick else 1000
    cold, _ = _cpu(lambda: sector_loop_dominance(scenario, draws=draws))  # sympy + numba compile
    warm, ens = _cpu(lambda: sector_loop_dominance(scenario, draws=draws))
    verdict = "meets the target" if warm < TARGET_S * draws / 1000 else "MISSES the target"
    print(f"loop scores over {draws} draws of {SECTOR.name} ({len(ens.names)} loops, {ens.t.size} times, with "
          f"each draw's point of no return): {warm:.2f} s CPU warm, {cold:.2f} s cold (first call: compiles); "
          f"target < {TARGET_S * draws / 1000:.0f} s: {verdict} (ratio target/measured "
          f"{TARGET_S * draws / 1000 / warm:.1f}x)")
    few = 3 if args.quick else 10
    _, _, params = draw_parameters(scenario, few, 0)
    one, _ = _cpu(lambda: [dominant_at_point_of_no_return(p, scores=loop_scores(p)) for p in params])
    per = one / few
    print(f"  baseline, draw by draw (simulate + loop_scores + point_of_no_return): {per * 1e3:.0f} ms CPU a draw, "
          f"{per * draws:.0f} s for {draws} (ratio baseline/ensemble {per * draws / warm:.0f}x)")
    print(f"  load average {tuple(round(x, 2) for x in os.getloadavg())}")
