"""Firms: the ensemble engine's throughput on sectors of n incumbent firms, and one dashboard run.

* Engine (:func:`model.core.engine.integrate`, all cores): 512 draws of the newspapers file's
  ranges (the firms' spreads, sizes and switching rate drawn too) at n = 1, 4, 8 (and 16 with
  ``--firms-16``: its generated module and kernel take many minutes to compile the first
  time), each run followed to the sector's fall (what the verdict's points of no return
  need) and, separately, to the horizon (the whole exit curve). Runs per second, as ratios
  to n = 1 in the same process; target at n = 8: at least a quarter of the one-firm rate.
* One dashboard run at n = 8 (``simulate(..., method="engine")``, the page's path) against
  the 10 ms target, beside the same run with solve_ivp (LSODA), the reference path.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from pathlib import Path

from ..core import engine
from ..core.simulate import ENGINE, simulate
from ..evidence.scenarios import load_scenario
from ..studies.verdict import draw_parameters

SECTOR = Path(__file__).resolve().parents[2] / "scenarios" / "newspapers.toml"
#: Targets of the issue: the 8-firm engine rate against the one-firm rate, one dashboard run.
RATIO_TARGET = 0.25
DASHBOARD_TARGET_S = 0.010


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _median(fn, repeats: int) -> float:
    fn()  # warm-up: numba loads (or compiles) the module
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(args) -> None:
    scenario = load_scenario(SECTOR)
    draws = 128 if args.quick else 512
    repeats = 2 if args.quick else 5
    counts = (1, 4, 8, 16) if getattr(args, "firms_16", False) else (1, 4, 8)
    rates = {}
    for n in counts:
        sector = replace(scenario, params=scenario.params.replace(firm_count=n))
        _, _, params = draw_parameters(sector, draws, 0, key=scenario.name)
        pv, y0, horizon = engine.pvecs_from_params(params)
        reorganise = [p.insolvency == "reorganisation" for p in params]
        engine.integrate(pv[:8], y0[:8], t_end=horizon[:8], reorganise=reorganise[:8])  # compile / load
        rates[n] = {mode: draws / _best(lambda: engine.integrate(pv, y0, t_end=horizon, reorganise=reorganise,
                                                                 after_fall=mode), repeats)
                    for mode in ("stop", "continue")}
    print(f"engine, {draws} draws of {SECTOR.stem} ({scenario.params.horizon:g} years), best of {repeats}, "
          f"{engine.set_threads(None)} threads:")
    for n in counts:
        cells = []
        for mode, label in (("stop", "to the sector's fall"), ("continue", "to the horizon")):
            ratio = rates[n][mode] / rates[1][mode]
            cells.append(f"{label}: {rates[n][mode]:8.0f} runs/s ({ratio:.2f}x)")
        note = ""
        if n == 8:
            ok = rates[8]["stop"] / rates[1]["stop"] >= RATIO_TARGET
            note = f"  target >= {RATIO_TARGET:.2f}x: {'meets' if ok else 'MISSES'}"
        print(f"  {n:2d} firms: " + "; ".join(cells) + note)

    params = scenario.params.replace(firm_count=8)
    page = _median(lambda: simulate(params, method=ENGINE), 5 if args.quick else 31)
    lsoda = _median(lambda: simulate(params), 3 if args.quick else 11)
    verdict = "meets" if page < DASHBOARD_TARGET_S else "MISSES"
    print(f"  dashboard run at 8 firms (engine): {page * 1e3:.1f} ms median; target < "
          f"{DASHBOARD_TARGET_S * 1e3:.0f} ms: {verdict}; the same run with LSODA: {lsoda * 1e3:.1f} ms "
          f"({lsoda / page:.1f}x slower)")
