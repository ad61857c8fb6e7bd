"""Network: the agents on a graph of close ties (:mod:`model.analysis.network`), in
agents·years per second, against a plain-Python loop over agents on the same graph (lists
of neighbours, one ``random.random()`` per customer per step), ratio in one run; and the
100,000-customer, 40-year run against the 10 s target."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path


from ..analysis import network as nw
from ..evidence.scenarios import load_scenario

BASELINE = Path(__file__).resolve().parents[2] / "scenarios" / "baseline.toml"
#: Target for 100,000 customers over 40 years (the issue's), graph generation not included.
RUN_TARGET_S = 10.0


def _plain_python(params, graph, years: float, dt: float, seed: int) -> float:
    """The same step written as a loop over agents; returns the final share."""
    rng = random.Random(seed)
    rates = nw._Rates(params, graph.mean_degree)
    a = graph.adjacency
    neighbours = [a.indices[a.indptr[i]:a.indptr[i + 1]].tolist() for i in range(graph.n)]
    m = int(params.contagion_threshold) if params.contagion == "threshold" else None
    n = graph.n
    adopted = [False] * n
    for i in rng.sample(range(n), int(round(params.initial_platform_share * n))):
        adopted[i] = True
    p_leave = -math.expm1(-rates.leave * dt)
    for _ in range(int(round(years / dt))):
        count = sum(adopted)
        a_in, a_out = rates.at(count / n)
        new = adopted[:]
        for i in range(n):
            if adopted[i]:
                if rng.random() < a_out * p_leave:
                    new[i] = False
                continue
            ties = sum(adopted[j] for j in neighbours[i])
            d = len(neighbours[i])
            x = (ties >= m) if m is not None else (ties / d if d else 0.0)
            if rng.random() < -math.expm1(-a_in * (rates.hard + rates.soft * x) * dt):
                new[i] = True
        adopted = new
    return sum(adopted) / n


def run(args) -> None:
    params = load_scenario(BASELINE).params
    n, k, years, dt = (20_000 if args.quick else 100_000), 12, 40.0, 0.05
    t0 = time.perf_counter()
    graph = nw.make_graph("watts_strogatz", n, k, seed=1)
    t_graph = time.perf_counter() - t0
    nw.simulate_network(params, graph, seed=1, dt=dt, horizon=1.0)  # warm-up (lambdify, numba caches)
    t0 = time.perf_counter()
    ours = nw.simulate_network(params, graph, seed=1, dt=dt, horizon=years)
    t_ours = time.perf_counter() - t0
    plain_years = 0.25 if args.quick else 1.0
    t0 = time.perf_counter()
    _plain_python(params, graph, plain_years, dt, seed=1)
    t_plain = time.perf_counter() - t0
    rate_ours, rate_plain = n * years / t_ours, n * plain_years / t_plain
    verdict = "meets the target" if t_ours < RUN_TARGET_S or n < 100_000 else "MISSES the target"
    print(f"watts_strogatz graph, {n} customers, k = {k}: built in {t_graph:.2f} s (networkx)")
    print(f"vectorised: {years:g} years at dt {dt:g} in {t_ours:.2f} s, {rate_ours:.3g} agents*years/s; "
          f"target < {RUN_TARGET_S:g} s for 100,000 customers: {verdict}; final share {ours.final:.3f}")
    print(f"plain Python loop over agents: {plain_years:g} years in {t_plain:.2f} s, {rate_plain:.3g} agents*years/s; "
          f"ratio {rate_ours / rate_plain:.0f}x")
