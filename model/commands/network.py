"""``python -m model network SCENARIO.toml [--graph FAMILY | --edges FILE] [--n N] [--k K] [--seed S] [--json]``.

Runs the scenario's adoption on an explicit graph of close ties
(:mod:`model.analysis.network`: trust, relational trust and the incumbent's price held at
the scenario's initial values) and prints the platform's share over time from the agents
and from the ODE's mean field with the same rates, with the run's timings. With
``--critical-mass`` it also bisects the smallest seed share from which the platform takes
off on that graph, against the mean field's unstable root.
"""

from __future__ import annotations

import time

import numpy as np

from ..analysis.network import FAMILIES, critical_mass, make_graph, mean_field, mean_field_critical_mass, \
    read_edge_list, simulate_network
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
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def analyse(params, *, graph_name: str, edges: str | None, n: int, k: int | None, seed: int, dt: float,
            rewiring: float, exponent: float, with_critical_mass: bool) -> dict:
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
    t0 = time.perf_counter()
    run_ = simulate_network(params, graph, seed=seed, dt=dt)
    t_run = time.perf_counter() - t0
    field = mean_field(params, run_.t, k=graph.mean_degree, seed_share=float(run_.share[0]))
    every = max(1, int(round(5.0 / dt)))  # a row every five years
    out = {
        "graph": graph.name, "customers": graph.n, "mean_degree": graph.mean_degree, "seed": seed, "dt": dt,
        "horizon": float(run_.t[-1]),
        "contagion": params.contagion, "threshold": params.contagion_threshold if params.contagion == "threshold"
        else None,
        "held": {"platform_trust": params.initial_trust, "relational_trust": params.initial_relational_trust,
                 "incumbent_price": 1.0},
        "seconds": {"graph": t_graph, "run": t_run},
        "t": run_.t[::every].tolist(), "share": run_.share[::every].tolist(), "mean_field": field[::every].tolist(),
        "final_share": run_.final, "mean_field_final_share": float(field[-1]),
        "largest_gap": float(np.abs(run_.share - field).max()),
        "critical_mass": None,
    }
    if with_critical_mass:
        found = critical_mass(params, graph, runs=3, seed=seed, dt=dt)
        out["critical_mass"] = {"network": found.share, "bracket": list(found.bracket), "runs": found.runs,
                                "mean_field": mean_field_critical_mass(params, k=graph.mean_degree)}
    return out


def run(args) -> int:
    scenario, params = scenario_with_overrides(args.scenario, args.overrides)
    r = analyse(params, graph_name=args.graph, edges=args.edges, n=args.n, k=args.k, seed=args.seed, dt=args.dt,
                rewiring=args.rewiring, exponent=args.exponent, with_critical_mass=args.critical_mass)
    r["scenario"] = scenario.name
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
    return 0
