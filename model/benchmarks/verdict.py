"""Verdict: the full ``python -m model verdict`` computation (every sector file, default
draws and claims) against its target of two minutes, and the per-draw cost of its points
of no return against the scalar way (``model.analysis.tipping.point_of_no_return`` draw by draw)."""

from __future__ import annotations

import time

from ..analysis.tipping import point_of_no_return
from ..evidence.scenarios import load_scenario, verdict_files
from ..studies.verdict import draw_parameters, sector_verdict
from ..studies.verdict_report import compute

TARGET_SECONDS = 120.0


def run(args) -> None:
    paths = verdict_files()[0]
    draws, claim_draws = (100, 30) if args.quick else (1000, 300)
    # Compile and load the engine's kernels outside the timing (numba caches them on disk).
    sector_verdict(load_scenario(paths[0]), draws=20, key="warm-up")

    t0 = time.perf_counter()
    verdicts, claims, timings = compute(paths, draws=draws, seed=0, tol=0.01, claim_draws=claim_draws)
    total = time.perf_counter() - t0
    n_draws = sum(v.n_draws for v in verdicts)
    slowest = max(timings, key=lambda k: sum(timings[k]))
    print(f"full verdict: {len(verdicts)} sectors x {draws} draws + claims on {claim_draws} draws each: "
          f"{total:.1f} s (target < {TARGET_SECONDS:.0f} s{'' if not args.quick else ', quick sizes'}); "
          f"slowest sector {slowest} {sum(timings[slowest]):.1f} s")

    # The scalar way for comparison: one point of no return per draw with solve_ivp.
    scenario = load_scenario(paths[0])
    k = 3 if args.quick else 10
    _, _, params = draw_parameters(scenario, max(k, 2), seed=1, key="bench")
    t0 = time.perf_counter()
    for p in params[:k]:
        point_of_no_return(p)
    scalar = (time.perf_counter() - t0) / k
    t0 = time.perf_counter()
    sector_verdict(scenario, draws=draws, seed=1, key="bench")
    batch = (time.perf_counter() - t0) / draws
    print(f"point of no return per draw ({scenario.name}): verdict batch {batch * 1e3:.2f} ms "
          f"(incl. break-even and sensitivity); scalar tipping.point_of_no_return {scalar * 1e3:.1f} ms; "
          f"ratio {scalar / batch:.0f}x; the scalar way would take about {scalar * n_draws:.0f} s for the "
          f"{n_draws} main draws alone")
