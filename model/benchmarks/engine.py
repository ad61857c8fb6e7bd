"""Engine: the compiled ensemble integrator against per-run ``solve_ivp``, and sweep scaling.

On the same parameter sets (a Latin hypercube over every range of the baseline scenario,
seed 0), at rtol 1e-6 / atol 1e-9 with the fall event:

* the engine (:func:`model.core.engine.integrate`, all cores) for N = 1e3, 1e4, 1e5 (1e6 with
  ``--million``): runs per second, and right-hand-side evaluations per second per core
  (its counted evaluations / wall time / threads);
* the baseline a user would write: ``solve_ivp`` called once per run (RK45, the same
  Dormand-Prince pair, with the compiled generated right-hand side and the event), on one
  core, timed on a subset of the same sets and extrapolated per run; and the project's
  own ``simulate`` (LSODA with the analytic Jacobian) for reference;
* the baseline a user writes first (issue 17): ``solve_ivp`` (RK45 and LSODA) with a
  ``sympy.lambdify`` right-hand side of the same equations, on a smaller subset;
* their ratio, per run on all cores and per core by CPU time (``time.process_time``, which
  counts every engine thread), and the RHS evaluations per CPU-second, so the figures do
  not collapse when the machine is shared (the load average is printed);
* the batched point of no return (sweeps: the ``sweep`` section).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numba
import numpy as np
from scipy.integrate import solve_ivp
from scipy.stats import qmc

from ..core import _generated as gen
from ..core import engine
from ..core.equations import BUFFER_INDEX, PARAM_NAMES, build, param_vector
from ..core.simulate import simulate
from ..core.special import lambdify_modules
from ..evidence.scenarios import load_scenario

BASELINE = Path(__file__).resolve().parents[2] / "scenarios" / "baseline.toml"
RTOL, ATOL = 1e-6, 1e-9


def parameter_sets(n: int, seed: int = 0):
    """``n`` parameter vectors over the baseline's ranges (LHS), with their horizons; rows
    breaking fixed + variable cost share <= 0.99 are redrawn from the next ones."""
    scenario = load_scenario(BASELINE)
    names = [k for k in scenario.ranges if k in PARAM_NAMES or k == "horizon"]
    lo = np.array([scenario.ranges[k][0] for k in names])
    hi = np.array([scenario.ranges[k][1] for k in names])
    u = qmc.LatinHypercube(len(names), rng=seed).random(int(n * 1.1) + 10)
    x = lo + u * (hi - lo)
    base = param_vector(scenario.params)
    pvecs = np.repeat(base[None, :], x.shape[0], axis=0)
    horizons = np.full(x.shape[0], float(scenario.params.horizon))
    for j, k in enumerate(names):
        if k == "horizon":
            horizons = x[:, j].copy()
        else:
            pvecs[:, PARAM_NAMES.index(k)] = x[:, j]
    cost = pvecs[:, PARAM_NAMES.index("fixed_cost_share")] + pvecs[:, PARAM_NAMES.index("variable_cost_share")]
    keep = np.flatnonzero((cost >= 0.05) & (cost <= 0.99))[:n]
    return pvecs[keep], horizons[keep], scenario


def _event(t, y, *args):
    return y[BUFFER_INDEX]


_event.terminal = True
_event.direction = -1


def solve_ivp_baseline(pvecs, y0s, horizons):
    """Per-run solve_ivp (RK45) on one core: (seconds per run, rhs evaluations, falls)."""
    nfev = 0
    falls = []
    t0 = time.perf_counter()
    for p, y0, h in zip(pvecs, y0s, horizons):
        sol = solve_ivp(lambda t, y, p=p: gen.rhs(y, p), (0.0, h), y0, method="RK45", rtol=RTOL, atol=ATOL,
                        events=_event)
        nfev += sol.nfev
        falls.append(sol.status == 1)
    dt = time.perf_counter() - t0
    return dt / len(pvecs), nfev, np.array(falls)


def lambdify_baseline(pvecs, y0s, horizons, method: str, cse: bool = False):
    """Per-run ``solve_ivp`` with a ``sympy.lambdify`` right-hand side (the user's version):
    (CPU seconds per run, rhs evaluations, falls)."""
    import sympy as sp

    model = build(1)
    # The user's version (as in model.benchmarks.core): lambdify as it is, numpy; without
    # common-subexpression elimination (the default) or with it (a careful user).
    f = sp.lambdify([list(model.states), list(model.params)], list(model.rhs), modules=lambdify_modules("numpy"),
                    cse=cse)
    nfev, falls = 0, []
    c0 = time.process_time()
    for p, y0, h in zip(pvecs, y0s, horizons):
        p = [float(v) for v in p]
        sol = solve_ivp(lambda t, y, p=p: np.array(f(y, p), dtype=float), (0.0, h), y0, method=method,
                        rtol=RTOL, atol=ATOL, events=_event)
        nfev += sol.nfev
        falls.append(sol.status == 1)
    return (time.process_time() - c0) / len(pvecs), nfev, np.array(falls)


def _best_of(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def run(args) -> None:
    quick = bool(getattr(args, "quick", False))
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    if getattr(args, "million", False):
        sizes.append(1_000_000)
    threads = numba.get_num_threads()
    pv_all, hz_all, scenario = parameter_sets(max(sizes))
    y0_all = engine.initial_states(pv_all)
    engine.integrate(pv_all[:64], y0_all[:64], t_end=hz_all[:64])  # compile / load the cache

    n_base = 50 if quick else 300
    c_ivp = time.process_time()
    sec_ivp, nfev_ivp, falls_ivp = solve_ivp_baseline(pv_all[:n_base], y0_all[:n_base], hz_all[:n_base])
    cpu_ivp = (time.process_time() - c_ivp) / n_base
    n_user = 20 if quick else 100
    user = {(m, cse): lambdify_baseline(pv_all[:n_user], y0_all[:n_user], hz_all[:n_user], m, cse)
            for m in ("RK45", "LSODA") for cse in (False, True)}
    ivp_rate = 1.0 / sec_ivp
    ivp_rhs_rate = nfev_ivp / (sec_ivp * n_base)
    k_sim = max(10, n_base // 3)
    sim_times = []
    for k in range(k_sim):
        p = _params_from_row(scenario.params, pv_all[k], hz_all[k])
        t1 = time.perf_counter()
        simulate(p, t_eval=[0.0, p.horizon])
        sim_times.append(time.perf_counter() - t1)
    sim_rate = 1.0 / statistics.mean(sim_times)

    check = engine.integrate(pv_all[:n_base], y0_all[:n_base], t_end=hz_all[:n_base])
    agree = int(np.sum(check.falls == falls_ivp))
    print(f"parameter sets: Latin hypercube over the {len(scenario.ranges)} ranges of {BASELINE.name} (seed 0); "
          f"rtol {RTOL:g}, atol {ATOL:g}, fall event; {threads} engine threads on {numba.config.NUMBA_NUM_THREADS} "
          "cores")
    print(f"per-run solve_ivp (RK45, compiled generated RHS, 1 core), timed on {n_base} of them and extrapolated "
          f"per run: {ivp_rate:,.0f} runs/s, {ivp_rhs_rate / 1e6:.2f} M RHS evals/s; outcomes agree with the "
          f"engine on {agree}/{n_base}")
    print(f"per-run simulate() (LSODA + analytic Jacobian, 1 core), on {k_sim} of them: {sim_rate:,.0f} runs/s")
    for (m, cse), (cpu, nfev, falls) in user.items():
        print(f"the user's baseline: per-run solve_ivp {m} with a sympy.lambdify RHS ({'cse' if cse else 'no cse'}), "
              f"on {n_user} of them: "
              f"{1 / cpu:,.0f} runs per CPU-second, {nfev / (cpu * n_user) / 1e6:.3f} M RHS evals per CPU-second; "
              f"outcomes agree with the engine on {int(np.sum(falls == check.falls[:n_user]))}/{n_user}")
    print(f"load average {os.getloadavg()[0]:.2f} over {os.cpu_count()} cores at the start of the engine runs")
    print(f"{'N':>9} {'engine s':>9} {'runs/s':>10} {'M RHS/s/core':>13} {'M RHS/CPU-s':>12} {'RHS/run':>8} "
          f"{'stiff':>6} {'x solve_ivp':>11} {'x simulate':>10} {'per core: x user RK45':>22} {'(cse)':>8} "
          f"{'x user LSODA':>13} {'(cse)':>8} {'x compiled RK45':>16}")
    for n in sizes:
        pv, y0, hz = pv_all[:n], y0_all[:n], hz_all[:n]
        c0 = time.process_time()
        repeat = 1 if n >= 100_000 else 3
        seconds, res = _best_of(lambda: engine.integrate(pv, y0, t_end=hz), repeat)
        cpu_per_run = (time.process_time() - c0) / repeat / n  # CPU time of every thread
        rate = n / seconds
        rhs_core = res.nfev.sum() / seconds / threads
        rhs_cpu = res.nfev.sum() / (cpu_per_run * n)
        stiff = int(np.sum(res.solver != engine.SOLVER_DOPRI5))
        print(f"{n:>9,} {seconds:>9.3f} {rate:>10,.0f} {rhs_core / 1e6:>13.2f} {rhs_cpu / 1e6:>12.2f} "
              f"{res.nfev.mean():>8.0f} {stiff:>6} {rate / ivp_rate:>10,.0f}x {rate / sim_rate:>9,.0f}x "
              f"{user['RK45', False][0] / cpu_per_run:>21,.0f}x {user['RK45', True][0] / cpu_per_run:>7,.0f}x "
              f"{user['LSODA', False][0] / cpu_per_run:>12,.0f}x {user['LSODA', True][0] / cpu_per_run:>7,.0f}x "
              f"{cpu_ivp / cpu_per_run:>15,.0f}x")
        bad = int(np.sum(~res.success))
        if bad:
            print(f"          {bad} runs failed: {sorted(set(res.reason[i] for i in np.flatnonzero(~res.success)))}")
    print("targets (issue 17): >= 450x per core against the user's RK45 (stretch 1,000x), >= 10 M RHS evals per "
          "CPU-second")

    n_ponr = 500 if quick else 2_000
    seconds, pb = _best_of(lambda: engine.point_of_no_return_batch(pv_all[:n_ponr], y0_all[:n_ponr],
                                                                     hz_all[:n_ponr]), 1)
    outcomes = {name: int(np.sum(np.array(pb.outcome_names) == name)) for name in sorted(set(pb.outcome_names))}
    print(f"point of no return, batched: {n_ponr:,} parameter sets in {seconds:.2f} s ({n_ponr / seconds:,.0f}/s, "
          f"{pb.evaluations.mean():.1f} integrations each); outcomes {outcomes}")



def _params_from_row(base, pvec, horizon):
    changes = {name: float(pvec[PARAM_NAMES.index(name)]) for name in base.as_dict()
               if name in PARAM_NAMES and float(getattr(base, name)) != float(pvec[PARAM_NAMES.index(name)])}
    return base.replace(horizon=float(horizon), **changes)
