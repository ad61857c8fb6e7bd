"""Engine: the compiled ensemble integrator against per-run ``solve_ivp``.

On the same parameter sets (a Latin hypercube over every range of the baseline scenario,
seed 0), at rtol 1e-6 / atol 1e-9 with the fall event, every figure by CPU time
(``time.process_time``, which counts every engine thread), so that the ratios are per core
and do not collapse when the machine is shared (the load average is printed at the start
and the end):

* the engine (:func:`model.core.engine.integrate`, all cores) for N = 1e3 ... 1e6 (1e4 with
  ``--quick``), its scalar (numba) and lanes (C, SIMD) engines on the same runs: runs per
  second (wall and CPU), right-hand-side evaluations per CPU-second, stiff runs, runs the
  lanes redid with the numba kernel, the bytes it holds per run (inputs and result arrays)
  and the growth of the peak resident memory; lanes against scalar (statuses, fall times,
  step counts); the lane kernel at 4, 8 and 16 lanes per call;
* the baselines, on one core, timed on the first of the same sets and extrapolated per run
  to every N: the user's (issue 17), ``solve_ivp`` RK45 and LSODA with a ``sympy.lambdify``
  right-hand side of the same equations, without and with ``cse``; ``solve_ivp`` RK45 with
  the compiled generated right-hand side; the project's ``simulate`` (LSODA with the
  analytic Jacobian);
* one and eight firms on the same draws of a sector file, against ``simulate``;
* the batched point of no return (sweeps: the ``sweep`` section).
"""

from __future__ import annotations

import os
import resource
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
    """Per-run solve_ivp (RK45) with the compiled generated RHS, on one core: (CPU seconds per
    run, rhs evaluations, falls)."""
    nfev = 0
    falls = []
    gen.rhs(y0s[0], pvecs[0])  # numba loads (or compiles) it outside the timing
    c0 = time.process_time()
    for p, y0, h in zip(pvecs, y0s, horizons):
        sol = solve_ivp(lambda t, y, p=p: gen.rhs(y, p), (0.0, h), y0, method="RK45", rtol=RTOL, atol=ATOL,
                        events=_event)
        nfev += sol.nfev
        falls.append(sol.status == 1)
    return (time.process_time() - c0) / len(pvecs), nfev, np.array(falls)


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
    f(y0s[0], [float(v) for v in pvecs[0]])  # its special functions are numba kernels: load them untimed
    c0 = time.process_time()
    for p, y0, h in zip(pvecs, y0s, horizons):
        p = [float(v) for v in p]
        sol = solve_ivp(lambda t, y, p=p: np.array(f(y, p), dtype=float), (0.0, h), y0, method=method,
                        rtol=RTOL, atol=ATOL, events=_event)
        nfev += sol.nfev
        falls.append(sol.status == 1)
    return (time.process_time() - c0) / len(pvecs), nfev, np.array(falls)


def _timed(fn, repeat):
    """(CPU seconds of the best of ``repeat`` calls, counting every thread; its wall seconds;
    the result)."""
    best = None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        if best is None or cpu < best[0]:
            best = (cpu, wall, out)
    return best


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def _result_bytes(res) -> int:
    return sum(v.nbytes for v in vars(res).values() if isinstance(v, np.ndarray))


def run(args) -> None:
    quick = bool(getattr(args, "quick", False))
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000, 1_000_000]
    threads = numba.get_num_threads()
    load_start = os.getloadavg()
    pv_all, hz_all, scenario = parameter_sets(max(sizes))
    y0_all = engine.initial_states(pv_all)
    engine.integrate(pv_all[:64], y0_all[:64], t_end=hz_all[:64])  # compile / load the cache

    # Baselines on the first parameter sets (the same the engine's rows start with), one
    # core each, by CPU time; per run, extrapolated to every N (said so below).
    n_base = 50 if quick else 300
    cpu_ivp, nfev_ivp, falls_ivp = solve_ivp_baseline(pv_all[:n_base], y0_all[:n_base], hz_all[:n_base])
    n_user = 20 if quick else 100
    user = {(m, cse): lambdify_baseline(pv_all[:n_user], y0_all[:n_user], hz_all[:n_user], m, cse)
            for m in ("RK45", "LSODA") for cse in (False, True)}
    k_sim = max(10, n_base // 3)
    simulate(_params_from_row(scenario.params, pv_all[0], hz_all[0]), t_eval=[0.0, 1.0])  # warm up
    c0 = time.process_time()
    for k in range(k_sim):
        p = _params_from_row(scenario.params, pv_all[k], hz_all[k])
        simulate(p, t_eval=[0.0, p.horizon])
    cpu_sim = (time.process_time() - c0) / k_sim

    check = engine.integrate(pv_all[:n_base], y0_all[:n_base], t_end=hz_all[:n_base])
    agree = int(np.sum(check.falls == falls_ivp))
    print(f"parameter sets: Latin hypercube over the {len(scenario.ranges)} ranges of {BASELINE.name} (seed 0); "
          f"rtol {RTOL:g}, atol {ATOL:g}, fall event; {threads} engine threads on {os.cpu_count()} cores; "
          "all times are CPU time (time.process_time, every thread counted), so 'per core'")
    print(f"baselines, each on one core, timed on the first parameter sets and extrapolated per run to every N "
          f"(never run at N):")
    print(f"  solve_ivp RK45 with the compiled generated RHS, on {n_base}: {1 / cpu_ivp:,.0f} runs per CPU-second, "
          f"{nfev_ivp / (cpu_ivp * n_base) / 1e6:.2f} M RHS evals per CPU-second; outcomes agree with the engine on "
          f"{agree}/{n_base}")
    print(f"  simulate() (LSODA + analytic Jacobian), on {k_sim}: {1 / cpu_sim:,.0f} runs per CPU-second")
    for (m, cse), (cpu, nfev, falls) in user.items():
        print(f"  the user's baseline: solve_ivp {m} with a sympy.lambdify RHS ({'cse' if cse else 'no cse'}), "
              f"on {n_user}: {1 / cpu:,.0f} runs per CPU-second, {nfev / (cpu * n_user) / 1e6:.3f} M RHS evals per "
              f"CPU-second; outcomes agree with the engine on {int(np.sum(falls == check.falls[:n_user]))}/{n_user}")
    print(f"load average {load_start[0]:.2f} (1 min), {load_start[1]:.2f} (5 min) over {os.cpu_count()} cores at "
          "the start")
    from ..core import lanes

    engines = ["scalar"] + (["lanes"] if lanes.available() else [])
    if lanes.available():
        print(f"engines: scalar (the numba kernel, one run per thread at a time) and lanes (the C kernel, "
              f"{lanes.DEFAULT_LANES} runs per SIMD call, {lanes.ISA_NAMES[lanes.isa()]}; the runs it gives up, "
              "stiff or failed, redone from their start by the numba kernel: 'redone')")
    else:
        print(f"engines: scalar only (the lane kernel did not load: {lanes.load_error()})")
    print(f"{'N':>9} {'engine':>7} {'wall s':>8} {'CPU s':>8} {'runs/s':>9} {'runs/CPU-s':>10} {'M RHS/CPU-s':>11} "
          f"{'RHS/run':>7} {'stiff':>6} {'redone':>6} {'bytes/run':>9} {'x user RK45':>11} {'(cse)':>7} "
          f"{'x user LSODA':>12} {'(cse)':>7} {'x compiled RK45':>15} {'x simulate':>10}")
    for n in sizes:
        pv, y0, hz = pv_all[:n], y0_all[:n], hz_all[:n]
        results = {}
        for eng in engines:
            rss0 = _peak_rss_bytes()
            cpu, wall, res = _timed(lambda: engine.integrate(pv, y0, t_end=hz, engine=eng), 1 if n >= 100_000 else 3)
            results[eng] = res
            held = (pv.nbytes + y0.nbytes + hz.nbytes + _result_bytes(res)) / n
            grown = max(0, _peak_rss_bytes() - rss0) / n
            per_run = cpu / n
            stiff = int(np.sum(res.solver != engine.SOLVER_DOPRI5))
            redone = int(np.sum(res.redone)) if res.redone is not None else 0
            print(f"{n:>9,} {eng:>7} {wall:>8.2f} {cpu:>8.2f} {n / wall:>9,.0f} {n / cpu:>10,.0f} "
                  f"{res.nfev.sum() / cpu / 1e6:>11.2f} {res.nfev.mean():>7.0f} {stiff:>6} {redone:>6} {held:>9,.0f} "
                  f"{user['RK45', False][0] / per_run:>10,.0f}x {user['RK45', True][0] / per_run:>6,.0f}x "
                  f"{user['LSODA', False][0] / per_run:>11,.0f}x {user['LSODA', True][0] / per_run:>6,.0f}x "
                  f"{cpu_ivp / per_run:>14,.0f}x {cpu_sim / per_run:>9,.0f}x")
            if grown:
                print(f"          peak resident memory grew by {grown:,.0f} bytes per run")
            bad = int(np.sum(~res.success))
            if bad:
                print(f"          {bad} runs failed: {sorted(set(res.reason[i] for i in np.flatnonzero(~res.success)))}")
        if len(results) == 2:
            _agreement(results["scalar"], results["lanes"])
    if lanes.available():
        _lane_counts(pv_all[:sizes[1]], y0_all[:sizes[1]], hz_all[:sizes[1]])
    print("bytes/run: the inputs (parameters, initial state, horizon) and every array of the result, per run")
    print("targets (issue 17): >= 450x per core against the user's RK45 (stretch 1,000x), >= 10 M RHS evals per "
          "CPU-second")
    _firms_rows(quick)

    n_ponr = 500 if quick else 2_000
    cpu, wall, pb = _timed(lambda: engine.point_of_no_return_batch(pv_all[:n_ponr], y0_all[:n_ponr],
                                                                    hz_all[:n_ponr]), 1)
    outcomes = {name: int(np.sum(np.array(pb.outcome_names) == name)) for name in sorted(set(pb.outcome_names))}
    print(f"point of no return, batched: {n_ponr:,} parameter sets in {wall:.2f} s wall, {cpu:.2f} CPU-s "
          f"({n_ponr / cpu:,.0f} per CPU-second, {pb.evaluations.mean():.1f} integrations each); outcomes {outcomes}")

    load_end = os.getloadavg()
    print(f"load average {load_end[0]:.2f} (1 min), {load_end[1]:.2f} (5 min) at the end")


def _agreement(scalar, lanes_res) -> None:
    """Lanes against scalar on the same runs: statuses, fall times, step counts, and the cost
    of the runs the lane kernel gave up (the numba kernel's redo, from their start)."""
    same = scalar.status == lanes_res.status
    both = scalar.falls & lanes_res.falls
    fall = float(np.max(np.abs(scalar.fall_time[both] - lanes_res.fall_time[both]))) if both.any() else 0.0
    kept = ~lanes_res.redone
    steps = int(np.sum(scalar.n_steps[kept] != lanes_res.n_steps[kept]))
    redo_fev = lanes_res.nfev[lanes_res.redone].sum() / max(1, lanes_res.nfev.sum())
    print(f"          lanes vs scalar: statuses equal {int(same.sum()):,}/{same.size:,}, falls {int(both.sum()):,}, "
          f"largest fall-time difference {fall:.2e} yr, {int(np.sum(np.abs(scalar.fall_time[both] - lanes_res.fall_time[both]) > 1e-6))} "
          f"beyond 1e-6 yr; step counts differ on {steps:,} of the {int(kept.sum()):,} runs the lanes finished "
          f"(libmvec rounding); redone {int(lanes_res.redone.sum()):,} runs ({lanes_res.redone.mean():.2%}), "
          f"{redo_fev:.1%} of the RHS evaluations")


def _lane_counts(pv, y0, hz) -> None:
    """The lane kernel at 4, 8 and 16 runs per call on the same runs (CPU time, best of 3)."""
    from ..core import lanes

    parts = []
    for width in lanes.LANE_COUNTS:
        cpu, _, res = _timed(lambda: engine.integrate(pv, y0, t_end=hz, engine="lanes", lanes=width), 3)
        parts.append(f"{width} lanes {len(pv) / cpu:,.0f} runs/CPU-s ({res.nfev.sum() / cpu / 1e6:.1f} M RHS/CPU-s)")
    print(f"lanes per call, N = {len(pv):,}: " + "; ".join(parts))


def _firms_rows(quick: bool) -> None:
    """Engine at N = 1 and N = 8 firms on the same draws of a sector file (8 firms: passes of
    the kernel between the firms' exits, to the sector's fall), against per-run simulate()
    (LSODA, the events and exit map of the reference path) on a sample of them."""
    from dataclasses import replace

    from ..core.simulate import simulate as simulate_firms
    from ..studies.verdict import draw_parameters

    sector_file = BASELINE.with_name("newspapers.toml")
    scenario = load_scenario(sector_file)
    draws = 256 if quick else 2_000
    n_sim = 5 if quick else 20
    print(f"sectors of firms: {draws:,} draws of {sector_file.name}'s ranges, to the sector's fall; simulate() "
          f"(LSODA) on {n_sim} of them, extrapolated per run")
    from ..core import lanes

    engines = ["scalar"] + (["lanes"] if lanes.available() else [])
    print(f"{'firms':>6} {'engine':>7} {'CPU s':>8} {'runs/CPU-s':>10} {'M RHS/CPU-s':>11} {'RHS/run':>8} "
          f"{'x simulate':>10}")
    for n_firms in (1, 8):
        sector = replace(scenario, params=scenario.params.replace(firm_count=n_firms))
        _, _, params = draw_parameters(sector, draws, 0, key=scenario.name)
        pv, y0, horizon = engine.pvecs_from_params(params)
        reorganise = [p.insolvency == "reorganisation" for p in params]
        simulate_firms(params[0], t_eval=[0.0, 1.0])  # warm up
        c0 = time.process_time()
        for p in params[:n_sim]:
            simulate_firms(p, t_eval=[0.0, p.horizon])
        cpu_sim = (time.process_time() - c0) / n_sim
        results = {}
        for eng in engines:
            engine.integrate(pv[:8], y0[:8], t_end=horizon[:8], reorganise=reorganise[:8], engine=eng)  # load
            cpu, _, res = _timed(lambda: engine.integrate(pv, y0, t_end=horizon, reorganise=reorganise, engine=eng), 1)
            results[eng] = res
            print(f"{n_firms:>6} {eng:>7} {cpu:>8.2f} {draws / cpu:>10,.0f} {res.nfev.sum() / cpu / 1e6:>11.2f} "
                  f"{res.nfev.mean():>8.0f} {cpu_sim / (cpu / draws):>9,.0f}x")
        if len(results) == 2:
            _agreement(results["scalar"], results["lanes"])


def _params_from_row(base, pvec, horizon):
    changes = {name: float(pvec[PARAM_NAMES.index(name)]) for name in base.as_dict()
               if name in PARAM_NAMES and float(getattr(base, name)) != float(pvec[PARAM_NAMES.index(name)])}
    return base.replace(horizon=float(horizon), **changes)
