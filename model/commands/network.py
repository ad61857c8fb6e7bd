"""``python -m model network SCENARIO.toml [--graph FAMILY | --edges FILE] [--n N] [--k K] [--seed S] [--json] [--out DIR]``.

Runs the scenario on an explicit graph of close ties (:mod:`model.analysis.network`), twice:

- held (trust, relational trust and the incumbent's price at the scenario's initial
  values): the platform's share over time from the agents and from the ODE's mean field
  with the same rates, the graph alone making the difference;
- coupled (each customer's trusts, the incumbent's economics fed by the agents' share):
  whether and when the incumbent falls, against the ODE with the graph's k.

With ``--critical-mass`` it also bisects the smallest seed share from which the platform
takes off on that graph (held), against the mean field's unstable root; with ``--tipping``
the point of no return and the tipping share on the agents and in the ODE. ``--out DIR``
writes ``network.json`` (what ``--json`` prints) and ``network.csv`` (the series). A
progress bar on stderr (a terminal only) follows the runs.
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import numpy as np

from ..analysis.network import FAMILIES, critical_mass, make_graph, mean_field, mean_field_critical_mass, \
    point_of_no_return, read_edge_list, simulate_network
from .common import add_scenario_arguments, dump_json, scenario_with_overrides


def add_parser(sub) -> None:
    p = sub.add_parser("network", help="adoption on a graph of close ties, against the ODE's mean field")
    add_scenario_arguments(p)
    p.add_argument("--graph", choices=FAMILIES, default="random_regular", help="graph family (default random_regular)")
    p.add_argument("--edges", metavar="FILE", help="read the graph from an edge-list file (one `a b` per line) "
                   "instead of --graph")
    p.add_argument("--n", type=int, default=100_000, help="customers (default 100000)")
    p.add_argument("--k", type=int, help="close ties per customer (default: the scenario's close_ties)")
    p.add_argument("--seed", type=int, default=0, help="seed of the graph and of the run (default 0)")
    p.add_argument("--dt", type=float, default=0.05, help="time step, years (default 0.05)")
    p.add_argument("--rewiring", type=float, default=0.1, help="watts_strogatz rewiring probability (default 0.1)")
    p.add_argument("--exponent", type=float, default=2.5, help="configuration degree exponent (default 2.5)")
    p.add_argument("--critical-mass", action="store_true", help="also bisect the critical seed share (3 runs each)")
    p.add_argument("--tipping", action="store_true", help="also the point of no return on the agents and in the ODE "
                   "(about ten coupled runs)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--out", metavar="DIR", help="write network.json and network.csv to the folder DIR")
    p.set_defaults(func=run)


def analyse(params, *, graph_name: str, edges: str | None, n: int, k: int | None, seed: int, dt: float,
            rewiring: float, exponent: float, with_critical_mass: bool, with_tipping: bool = False,
            progress: bool = False) -> dict:
    """Everything the command reports, as a JSON-ready dict (ValueError for bad input)."""
    if k is None:
        if params.close_ties != int(params.close_ties):
            raise ValueError(f"--k: the scenario's close_ties {params.close_ties:g} is not a whole number; give --k")
        k = int(params.close_ties)
    t0 = time.perf_counter()
    if edges is not None:
        graph = read_edge_list(edges)
    else:
        graph = make_graph(graph_name, n, k, seed=seed, rewiring=rewiring, exponent=exponent)
    t_graph = time.perf_counter() - t0
    from tqdm import tqdm

    from ..analysis.tipping import point_of_no_return as ode_point_of_no_return
    from ..core.firms import aggregate
    from ..core.simulate import simulate

    bar = tqdm(total=2 * int(round(params.horizon / dt)), desc="network", unit="step", file=sys.stderr,
               disable=None if progress else True, leave=False)
    done = [0]

    def tick(step, _steps):
        bar.update(step - done[0])
        done[0] = step

    t0 = time.perf_counter()
    run_ = simulate_network(params, graph, seed=seed, dt=dt, progress=tick)
    t_run = time.perf_counter() - t0
    done[0] = 0
    t0 = time.perf_counter()
    coupled = simulate_network(params, graph, seed=seed, dt=dt, coupled=True, progress=tick)
    t_coupled = time.perf_counter() - t0
    bar.close()
    ode_params = aggregate(params).replace(close_ties=float(graph.mean_degree))
    ode = simulate(ode_params, t_eval=coupled.t)
    field = mean_field(params, run_.t, k=graph.mean_degree, seed_share=float(run_.share[0]))
    every = max(1, int(round(5.0 / dt)))  # a row every five years
    out = {
        "graph": graph.name, "customers": graph.n, "mean_degree": graph.mean_degree, "seed": seed, "dt": dt,
        "horizon": float(run_.t[-1]),
        "contagion": params.contagion, "threshold": params.contagion_threshold if params.contagion == "threshold"
        else None,
        "held": {"platform_trust": params.initial_trust, "relational_trust": params.initial_relational_trust,
                 "incumbent_price": 1.0},
        "seconds": {"graph": t_graph, "run": t_run, "coupled_run": t_coupled},
        "t": run_.t[::every].tolist(), "share": run_.share[::every].tolist(), "mean_field": field[::every].tolist(),
        "final_share": run_.final, "mean_field_final_share": float(field[-1]),
        "largest_gap": float(np.abs(run_.share - field).max()),
        "critical_mass": None,
        "coupled": {"falls": coupled.falls, "fall_time": coupled.fall_time, "ode_falls": bool(ode.falls),
                    "ode_fall_time": None if ode.fall_time is None else float(ode.fall_time),
                    "t": coupled.t[::every].tolist(), "share": coupled.share[::every].tolist(),
                    "trust": coupled.trust[::every].tolist(), "relational_trust": coupled.relational[::every].tolist(),
                    "ode_share": ode["platform_share"][::every].tolist(),
                    "ode_trust": ode["platform_trust"][::every].tolist()},
        "tipping": None,
    }
    series = {"t": run_.t, "held_share": run_.share, "held_mean_field": field,
              "coupled_share": np.concatenate([coupled.share, np.full(run_.t.size - coupled.t.size, np.nan)]),
              "coupled_trust": np.concatenate([coupled.trust, np.full(run_.t.size - coupled.t.size, np.nan)])}
    if with_critical_mass:
        found = critical_mass(params, graph, runs=3, seed=seed, dt=dt)
        out["critical_mass"] = {"network": found.share, "bracket": list(found.bracket), "runs": found.runs,
                                "mean_field": mean_field_critical_mass(params, k=graph.mean_degree)}
    if with_tipping:
        agents = point_of_no_return(params, graph, seed=seed, dt=dt)
        ode_ponr = ode_point_of_no_return(ode_params, window="horizon")
        out["tipping"] = {"agents": agents.as_dict(), "ode": ode_ponr.as_dict()}
    out["_series"] = series
    return out


def _write(folder: Path, result: dict, series: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "network.json").write_text(dump_json(result) + "\n", encoding="utf-8")
    with (folder / "network.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(list(series))
        for row in zip(*series.values()):
            w.writerow(["" if not np.isfinite(v) else f"{v:.6g}" for v in row])


def run(args) -> int:
    scenario, params = scenario_with_overrides(args.scenario, args.overrides)
    out_dir = None
    if args.out is not None:
        out_dir = Path(args.out)
        if out_dir.exists() and not out_dir.is_dir():
            raise ValueError(f"--out {out_dir}: is a file; give a folder")
        if not out_dir.parent.exists() and str(out_dir.parent):
            raise ValueError(f"--out {out_dir}: the folder {out_dir.parent} does not exist; create it first")
    r = analyse(params, graph_name=args.graph, edges=args.edges, n=args.n, k=args.k, seed=args.seed, dt=args.dt,
                rewiring=args.rewiring, exponent=args.exponent, with_critical_mass=args.critical_mass,
                with_tipping=args.tipping, progress=True)
    series = r.pop("_series")
    r["scenario"] = scenario.name
    if out_dir is not None:
        _write(out_dir, r, series)
    if args.json:
        print(dump_json(r))
        return 0
    thr = f", threshold {r['threshold']:g} ties" if r["threshold"] is not None else ""
    print(f"{scenario.name}: {r['graph']}, {r['customers']} customers, mean degree {r['mean_degree']:.2f}, "
          f"{r['contagion']} contagion{thr}, seed {r['seed']}")
    print(f"  held: platform trust {r['held']['platform_trust']:g}, relational trust "
          f"{r['held']['relational_trust']:g}, incumbent price 1")
    print(f"  graph built in {r['seconds']['graph']:.2f} s; run ({r['horizon']:g} years, dt "
          f"{r['dt']:g}) in {r['seconds']['run']:.2f} s")
    print("     year   agents   mean field")
    for t, s, f in zip(r["t"], r["share"], r["mean_field"]):
        print(f"  {t:7.1f}   {s:6.1%}   {f:6.1%}")
    print(f"  largest gap between the two: {r['largest_gap']:.1%} of customers")
    c = r["critical_mass"]
    if c is not None:
        mf = "none" if c["mean_field"] is None else f"{c['mean_field']:.1%}"
        if c["network"] is None:
            net = f"none on the graph (takes off from a seed of {c['bracket'][1]:.1%})"
        else:
            net = f"{c['network']:.1%} on the graph (bracket {c['bracket'][0]:.1%}-{c['bracket'][1]:.1%})"
        print(f"  critical mass: {net}, mean field {mf}")
    c = r["coupled"]

    def fate(falls, when):
        return f"falls at {when:.2f} yr" if falls else "survives the horizon"

    print(f"  coupled (trusts per customer, the incumbent's economics fed by the agents) in "
          f"{r['seconds']['coupled_run']:.2f} s: the incumbent {fate(c['falls'], c['fall_time'])}; in the ODE it "
          f"{fate(c['ode_falls'], c['ode_fall_time'])}")
    if r["tipping"] is not None:
        for who in ("agents", "ode"):
            t = r["tipping"][who]
            if t["outcome"] == "tips":
                print(f"  point of no return ({who}): {t['time']:.2f} yr, platform share of gross {t['share']:.1%}, "
                      f"of volume {t['volume_share']:.1%}")
            else:
                print(f"  point of no return ({who}): {t['outcome']} ({t['message']})")
    if out_dir is not None:
        print(f"  wrote {out_dir / 'network.json'} and {out_dir / 'network.csv'}")
    return 0
