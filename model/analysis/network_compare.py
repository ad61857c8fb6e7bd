"""The network test's comparison: on each graph family, the agents against the ODE's mean
field (:mod:`model.analysis.network`).

Two questions, two settings of the same scenario:

- **Critical mass** (held runs: trust, relational trust and price at their scenario
  values, so that only the graph differs). A critical mass exists only without direct
  adoption (with ``h > 0`` the platform grows from any seed), so the scenario is read with
  its soft network alone and threshold contagion (:func:`threshold_setting`: adopt once at
  least ``m`` of the ``k`` close ties have, ``m`` the scenario's ``contagion_threshold``).
  The mean field's critical mass is the unstable root of its ``ds/dt``
  (:func:`model.analysis.network.mean_field_critical_mass`), the agents' the bisected seed
  share (:func:`model.analysis.network.critical_mass`).
- **Tipping share** (coupled runs, the scenario as it is): the platform's share of the
  sector's gross at the incumbent's point of no return, the ODE's
  (:func:`model.analysis.tipping.point_of_no_return`, ``window="horizon"``) against the
  agents' (:func:`model.analysis.network.point_of_no_return`).

Clustering is the graph's average local clustering coefficient (the share of a customer's
pairs of ties who are tied to each other), computed from the sparse adjacency.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..core.firms import aggregate
from ..core.parameters import Parameters
from . import network as nw

__all__ = ["FIGURE_REWIRING", "FIGURE_K", "TABLE_K", "TIPPING_K", "comparison", "threshold_setting", "clustering", "CriticalMassRow", "critical_mass_row", "TippingRow", "tipping_row",
           "adoption_gap"]


def threshold_setting(params: Parameters) -> Parameters:
    """The scenario's soft network alone, with threshold contagion (see the module's
    docstring): the setting in which a critical mass can exist."""
    return aggregate(params).replace(hard_network=False, contagion="threshold")


def clustering(graph: nw.Graph) -> float | None:
    """Average local clustering coefficient (customers with fewer than two ties count 0,
    as networkx's ``average_clustering``); None for a ``mixed`` graph (no fixed ties: 0 in
    the limit)."""
    a = graph.adjacency
    if a is None:
        return None
    triangles = np.asarray((a @ a).multiply(a).sum(axis=1)).ravel() / 2.0
    d = graph.degree.astype(float)
    pairs = d * (d - 1.0) / 2.0
    local = np.divide(triangles, pairs, out=np.zeros_like(pairs), where=pairs > 0)
    return float(local.mean())


@dataclass(frozen=True)
class CriticalMassRow:
    """Critical mass on one graph against the mean field at the graph's mean degree."""

    family: str
    n: int
    k: int
    mean_degree: float
    clustering: float | None
    rewiring: float | None
    network: float | None
    bracket: tuple
    mean_field: float | None
    runs: int

    def as_dict(self) -> dict:
        out = asdict(self)
        out["bracket"] = list(self.bracket)
        return out


def critical_mass_row(params: Parameters, family: str, *, n: int, k: int, seed: int = 0, rewiring: float = 0.1,
                      runs: int = 1, dt: float = 0.1, tol: float = 0.005, high: float = 0.5) -> CriticalMassRow:
    """The critical mass of :func:`threshold_setting` on one graph of ``family`` and in the mean
    field. A graph on which even ``high`` does not take off has ``network`` None and the
    bracket (high, 1)."""
    p = threshold_setting(params)
    graph = nw.make_graph(family, n, k, seed=seed, rewiring=rewiring)
    try:
        found = nw.critical_mass(p, graph, runs=runs, seed=seed, dt=dt, high=high, tol=tol)
        share, bracket = found.share, found.bracket
    except ValueError:
        share, bracket = None, (high, 1.0)
    return CriticalMassRow(family=family, n=n, k=k, mean_degree=graph.mean_degree, clustering=clustering(graph),
                           rewiring=rewiring if family == "watts_strogatz" else None, network=share,
                           bracket=tuple(float(b) for b in bracket),
                           mean_field=nw.mean_field_critical_mass(p, k=graph.mean_degree), runs=runs)


@dataclass(frozen=True)
class TippingRow:
    """The incumbent's fall and the tipping share on one graph (coupled agents) and in the ODE."""

    family: str
    n: int
    k: int
    clustering: float | None
    outcome: str
    fall_time: float | None
    ponr_time: float | None
    share: float | None
    volume_share: float | None
    ode_outcome: str
    ode_fall_time: float | None
    ode_ponr_time: float | None
    ode_share: float | None
    ode_volume_share: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def tipping_row(params: Parameters, family: str, *, n: int, k: int, seed: int = 0, rewiring: float = 0.1,
                dt: float = 0.05, progress=None) -> TippingRow:
    """Point of no return of the scenario as it is, on one graph (agents) and in the ODE."""
    from .tipping import point_of_no_return

    p = aggregate(params).replace(close_ties=float(k))  # the ODE's k is the graph's
    graph = nw.make_graph(family, n, k, seed=seed, rewiring=rewiring)
    agents = nw.point_of_no_return(p, graph, seed=seed, dt=dt, progress=progress)
    ode = point_of_no_return(p, window="horizon")
    return TippingRow(family=family, n=n, k=k, clustering=clustering(graph), outcome=agents.outcome,
                      fall_time=agents.fall_time, ponr_time=agents.time, share=agents.share,
                      volume_share=agents.volume_share, ode_outcome=ode.outcome, ode_fall_time=ode.fall_time,
                      ode_ponr_time=ode.time, ode_share=ode.share, ode_volume_share=ode.volume_share)


def adoption_gap(params: Parameters, graph: nw.Graph, *, seed: int = 0, dt: float = 0.05) -> dict:
    """A held run on ``graph`` against the mean field at its mean degree: both curves (every
    year) and the largest gap between them."""
    run = nw.simulate_network(params, graph, seed=seed, dt=dt)
    field = nw.mean_field(params, run.t, k=graph.mean_degree, seed_share=float(run.share[0]))
    every = max(1, int(round(1.0 / dt)))
    return {"t": run.t[::every].tolist(), "agents": run.share[::every].tolist(), "mean_field": field[::every].tolist(),
            "largest_gap": float(np.abs(run.share - field).max())}


#: Watts-Strogatz rewiring probabilities of the critical mass against clustering (k = TABLE_K).
FIGURE_REWIRING = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: Close ties of the critical mass against k (even: Watts-Strogatz needs k/2 on each side).
FIGURE_K = (6, 8, 12, 16, 20, 30)
#: Close ties of the table by family.
TABLE_K = 12
#: Close ties of the tipping comparison: the nearest even number to the scenario's (the ODE
#: is run with the same k).
TIPPING_K = 14


def comparison(params: Parameters, *, n: int = 20_000, seed: int = 1, progress=None) -> dict:
    """Everything the book figure and the paper's network section show, JSON-ready: the
    critical mass against clustering (Watts-Strogatz, ``FIGURE_REWIRING``) and against k
    (random regular and Watts-Strogatz at rewiring 0.1, ``FIGURE_K``), by family at
    ``TABLE_K``, and the tipping share by family at ``TIPPING_K`` (coupled agents and ODE).
    ``progress(label)`` is called before each graph."""
    def note(label):
        if progress is not None:
            progress(label)

    by_rewiring = []
    for q in FIGURE_REWIRING:
        note(f"critical mass, watts_strogatz rewiring {q:g}")
        by_rewiring.append(critical_mass_row(params, "watts_strogatz", n=n, k=TABLE_K, rewiring=q, seed=seed))
    by_k = {"random regular": [], "Watts-Strogatz (rewiring 0.1)": []}
    for k in FIGURE_K:
        for label, family in (("random regular", "random_regular"), ("Watts-Strogatz (rewiring 0.1)", "watts_strogatz")):
            note(f"critical mass, {family} k {k}")
            by_k[label].append(critical_mass_row(params, family, n=n, k=k, seed=seed))
    families = []
    for family in nw.FAMILIES:
        if family == "random_regular" or family == "watts_strogatz":
            label = "random regular" if family == "random_regular" else "Watts-Strogatz (rewiring 0.1)"
            families.append(next(r for r in by_k[label] if r.k == TABLE_K))
            continue
        note(f"critical mass, {family} k {TABLE_K}")
        families.append(critical_mass_row(params, family, n=n, k=TABLE_K, seed=seed))
    tipping = []
    for family in nw.FAMILIES:
        note(f"point of no return, {family} k {TIPPING_K}")
        tipping.append(tipping_row(params, family, n=n, k=TIPPING_K, seed=seed))
    setting = threshold_setting(params)
    return {"n": n, "seed": seed, "threshold": setting.contagion_threshold,
            "by_rewiring": [r.as_dict() for r in by_rewiring],
            "by_k": {label: [r.as_dict() for r in rows] for label, rows in by_k.items()},
            "families": [r.as_dict() for r in families], "tipping": [r.as_dict() for r in tipping]}
