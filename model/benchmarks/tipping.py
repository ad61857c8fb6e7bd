"""Tipping: median time of one point of no return on the baseline scenario against the
0.5 s target; equilibria and a continuation for information."""

from __future__ import annotations

from pathlib import Path

from ..analysis.continuation import continuation
from ..analysis.equilibria import equilibria
from ..analysis.tipping import point_of_no_return
from ..evidence.scenarios import load_scenario
from . import median_time

BASELINE = Path(__file__).resolve().parents[2] / "scenarios" / "baseline.toml"
#: Target for one point of no return (median, this machine).
PONR_TARGET_S = 0.5


def run(args) -> None:
    scenario = load_scenario(BASELINE)
    params = scenario.params
    repeat = max(3, args.repeat // 4) if args.quick else args.repeat
    ponr = point_of_no_return(params)  # also the warm-up (sympy, numba caches)
    t_ponr = median_time(lambda: point_of_no_return(params), repeat)
    verdict = "meets the target" if t_ponr < PONR_TARGET_S else "MISSES the target"
    print(f"one point of no return (baseline, tol {ponr.tolerance:g} yr, {ponr.evaluations} simulations): "
          f"median {t_ponr * 1e3:.1f} ms over {repeat} runs; target < {PONR_TARGET_S * 1e3:.0f} ms: {verdict} "
          f"(ratio target/measured {PONR_TARGET_S / t_ponr:.1f}x)")
    print(f"  baseline: {ponr.outcome} at t = {ponr.time} yr, platform share of gross {ponr.share}, "
          f"incumbent gross loss {ponr.gross_loss}")
    small = max(3, repeat // 4)
    equilibria(params)
    t_eq = median_time(lambda: equilibria(params), small, warmup=0)
    t_eq_bare = median_time(lambda: equilibria(params, confirm=False), small, warmup=0)
    lo, hi = scenario.ranges.get("platform_quality", (-0.3, 0.3))
    t_cont = median_time(lambda: continuation(params, "platform_quality", lo, hi), small)
    print(f"equilibria (with confirmation by simulation): median {t_eq * 1e3:.1f} ms; without confirmation "
          f"{t_eq_bare * 1e3:.1f} ms")
    print(f"continuation in platform_quality over [{lo:g}, {hi:g}]: median {t_cont * 1e3:.1f} ms")
