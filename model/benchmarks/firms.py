"""Firms: one run of a sector of n incumbent firms with :func:`model.core.simulate.simulate`
(solve_ivp, LSODA with the analytic Jacobian, exits by events), runs per second at
n = 1, 2, 4, 8 (16 with ``--firms-16``: its module takes minutes to compile the first time),
as ratios to n = 1 in one run, and the median of one dashboard-sized run at n = 8 against
the 10 ms target. The ensemble engine does not carry firms yet, so this is the
single-run path."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from ..core.simulate import simulate
from ..evidence.scenarios import load_scenario

SECTOR = Path(__file__).resolve().parents[2] / "scenarios" / "newspapers.toml"
#: Target for one dashboard run at 8 firms (the issue's).
DASHBOARD_TARGET_S = 0.010


def _timed(params, repeats: int) -> list[float]:
    simulate(params)  # warm-up: numba loads (or compiles) the module
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        simulate(params)
        times.append(time.perf_counter() - t0)
    return times


def run(args) -> None:
    # Firms unlike in leverage, buffer and size, so that they exit one by one.
    params = load_scenario(SECTOR).params.replace(firm_spread_debt=0.8, firm_spread_buffer=0.5,
                                                  firm_size_inequality=0.7, insolvency="liquidation")
    repeats = 3 if args.quick else 15
    counts = (1, 2, 4, 8, 16) if getattr(args, "firms_16", False) else (1, 2, 4, 8)
    medians = {}
    for n in counts:
        medians[n] = statistics.median(_timed(params.replace(firm_count=n), repeats))
    print(f"one run of {SECTOR.stem} ({params.horizon:g} years, simulate/LSODA), median of {repeats}:")
    for n in counts:
        ratio = medians[1] / medians[n]
        print(f"  {n:2d} firms: {medians[n] * 1e3:7.1f} ms, {1 / medians[n]:7.1f} runs/s, "
              f"{ratio:.2f}x the one-firm throughput" + ("  (target at 8: >= 0.25x)" if n == 8 else ""))
    verdict = "meets" if medians[8] < DASHBOARD_TARGET_S else "MISSES"
    print(f"  dashboard run at 8 firms: {medians[8] * 1e3:.1f} ms median; target < "
          f"{DASHBOARD_TARGET_S * 1e3:.0f} ms: {verdict} (needs the engine path)")
