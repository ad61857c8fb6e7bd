"""Core: one 40-year baseline run and one right-hand-side evaluation, against the way a
typical user would write it (a plain ``sympy.lambdify`` of the right-hand side without
common subexpressions, called from ``solve_ivp``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

from ..core import _generated as gen
from ..core.equations import build, param_vector
from ..core.simulate import simulate
from ..core.special import lambdify_modules
from ..evidence.scenarios import load_scenario
from . import median_time

BASELINE = Path(__file__).resolve().parents[2] / "scenarios" / "baseline.toml"


def run(args) -> None:
    params = load_scenario(BASELINE).params
    pvec = param_vector(params)
    y0 = gen.initial(pvec)
    model = build()

    # The typical user's version: lambdify the matrix as it is, numpy module, no cse.
    naive = sp.lambdify((model.states, model.params), list(model.rhs), modules=lambdify_modules("numpy"), cse=False)

    def naive_rhs(t, y):
        return np.array(naive(y, pvec), dtype=float)

    def naive_run():
        return solve_ivp(naive_rhs, (0.0, params.horizon), y0, method="LSODA", rtol=1e-6, atol=1e-9,
                         t_eval=np.linspace(0.0, params.horizon, 401))

    ours = median_time(lambda: simulate(params), args.repeat)
    theirs = median_time(naive_run, max(3, args.repeat // 4))
    rhs_ours = median_time(lambda: gen.rhs(y0, pvec), 2000) if not args.quick else median_time(
        lambda: gen.rhs(y0, pvec), 200)
    rhs_theirs = median_time(lambda: naive_rhs(0.0, y0), 2000 if not args.quick else 200)
    r = simulate(params)
    print(f"one {params.horizon:g}-year baseline run (LSODA, rtol 1e-6, atol 1e-9, {r.nfev} RHS evals): "
          f"median {ours * 1e3:.2f} ms (target < 10 ms); plain lambdify + solve_ivp {theirs * 1e3:.2f} ms; "
          f"ratio {theirs / ours:.1f}x")
    print(f"one right-hand-side evaluation: median {rhs_ours * 1e6:.2f} us; plain lambdify "
          f"{rhs_theirs * 1e6:.2f} us; ratio {rhs_theirs / rhs_ours:.1f}x")
