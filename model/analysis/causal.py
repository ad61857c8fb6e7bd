"""The model's causal-loop structure, derived from the sympy equations (not drawn by hand).

A causal-loop diagram shows which quantity drives which, with a sign: ``X -> Y (+)`` when
a rise in X, all else held, raises Y (or, for a stock Y, raises its rate of change dY/dt);
``(-)`` when it lowers it. Here every link and its sign is read from the one model
definition (:func:`model.core.equations.build`):

* the nodes are the six states and a chosen set of the model's named auxiliaries
  (:data:`DEFAULT_NODES`); auxiliaries not shown are substituted by their definitions, so
  a link can run through a hidden intermediate (for example the relative value drives
  adoption through the logit attractiveness, which is not drawn);
* the inputs of a node are the shown nodes among the free symbols of its (so collapsed)
  defining expression; for a state, of its right-hand side. A state's dependence on
  itself (decay, first-order adjustment) is a self-loop and is not drawn;
* the sign of a link is the sign of the partial derivative, taken symbolically and
  evaluated with the parameters of a scenario (the switches as its indicators) at states
  sampled along that scenario's own trajectory: ``"+"`` if it is >= 0 at every sample
  and > 0 at some, ``"-"`` likewise, ``"±"`` if it changes sign along the run; a
  derivative that is zero at every sample (a switched-off mechanism) is no link.

Feedback loops are the elementary cycles of the resulting directed graph; a loop is
reinforcing (R) when the product of its signs is +, balancing (B) when it is -, and
undetermined when one of its links changes sign. Pure model layer: sympy and numpy.

References
----------
J. D. Sterman, *Business Dynamics* (2000), chapter 5 (causal-loop diagrams, link and loop
polarity).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from ..core.firms import aggregate
from ..core.equations import PARAM_NAMES, STATE_NAMES, build, param_vector
from ..core.parameters import Parameters
from ..core.special import lambdify_modules

__all__ = ["DEFAULT_NODES", "NODE_LABELS", "Link", "Loop", "CausalStructure", "causal_structure"]

#: Nodes of the diagram: the states, then the auxiliaries that carry the essays' mechanisms
#: (demand per customer, the fixed cost, the cost and price spiral, network value,
#: switching flows).
DEFAULT_NODES = (
    "platform_share", "platform_trust", "relational_trust", "incumbent_price", "capacity", "buffer", "customers",
    "incumbent_demand_per_customer", "incumbent_volume", "platform_volume", "fixed_cost", "incumbent_cost",
    "target_price", "operating_profit", "platform_network_value", "relative_value", "adoption", "churn",
)

#: Short labels for the diagram (plotly's <sub> for subscripts).
NODE_LABELS = {
    "platform_share": "platform share s",
    "platform_trust": "platform trust T",
    "relational_trust": "relational trust R",
    "incumbent_price": "incumbent price p",
    "capacity": "capacity K",
    "buffer": "liquidity B",
    "customers": "customers N",
    "incumbent_demand_per_customer": "demand per customer d<sub>I</sub>",
    "fixed_cost": "fixed cost F",
    "incumbent_volume": "incumbent volume q<sub>I</sub>",
    "platform_volume": "platform volume q<sub>P</sub>",
    "incumbent_cost": "incumbent cost C",
    "target_price": "target price p*",
    "operating_profit": "operating profit π<sub>I</sub>",
    "platform_network_value": "network value V",
    "relative_value": "relative value ΔU",
    "adoption": "adoption F<sub>in</sub>",
    "churn": "churn F<sub>out</sub>",
}


@dataclass(frozen=True)
class Link:
    """``source -> target`` with its sign ("+", "-" or "±") and the derivative's range."""

    source: str
    target: str
    sign: str
    low: float
    high: float


@dataclass(frozen=True)
class Loop:
    """An elementary feedback loop: its nodes in order (the first is repeated implicitly)."""

    nodes: tuple
    polarity: str  # "R" reinforcing, "B" balancing, "?" a link changes sign

    def describe(self, labels=None) -> str:
        names = [(labels or {}).get(n, n) for n in self.nodes]
        return " → ".join(names + names[:1])


@dataclass(frozen=True)
class CausalStructure:
    """Nodes, signed links and feedback loops of the model under one parameter set.

    Attributes
    ----------
    nodes : tuple of str
    links : tuple of Link
    loops : tuple of Loop
        Sorted by length, then by the order of the nodes.
    samples : int
        States sampled along the trajectory to sign the links.
    """

    nodes: tuple
    links: tuple
    loops: tuple
    samples: int

    def link(self, source: str, target: str) -> Link | None:
        """The link ``source -> target``, or None."""
        for lk in self.links:
            if lk.source == source and lk.target == target:
                return lk
        return None


def _collapse(expr, hidden: dict) -> sp.Expr:
    """Substitute hidden auxiliaries by their definitions until none is left."""
    expr = sp.sympify(expr)
    for _ in range(len(hidden) + 1):
        if not (expr.free_symbols & hidden.keys()):
            return expr
        expr = expr.xreplace(hidden)
    raise RuntimeError("cyclic auxiliary definitions")  # the model defines them in order


@cache
def _symbolic_links(nodes: tuple) -> tuple:
    """(target, source, derivative expression) for every candidate link among ``nodes``."""
    m = build()
    unknown = [n for n in nodes if n not in STATE_NAMES and n not in m.auxiliaries]
    if unknown:
        raise ValueError(f"`nodes` must be states or auxiliaries of the model, got {', '.join(unknown)}")
    shown = {n: m.symbol(n) for n in nodes}
    hidden = {sym: expr for name, (sym, expr) in m.auxiliaries.items() if name not in nodes}
    out = []
    for target in nodes:
        if target in STATE_NAMES:
            expr = m.rhs_compact[STATE_NAMES.index(target)]
        else:
            expr = m.auxiliaries[target][1]
        expr = _collapse(expr, hidden)
        for source in nodes:
            if source == target or shown[source] not in expr.free_symbols:
                continue
            out.append((target, source, sp.diff(expr, shown[source])))
    return tuple(out)


@cache
def _full_definitions(nodes: tuple) -> tuple:
    """Every shown auxiliary as a function of the states and parameters only."""
    m = build()
    every = {sym: expr for (sym, expr) in m.auxiliaries.values()}
    return tuple((n, _collapse(m.auxiliaries[n][1], every)) for n in nodes if n in m.auxiliaries)


def _elementary_cycles(succ: dict[str, list[str]], order: list[str]) -> list[tuple]:
    """Elementary cycles of a small directed graph (depth-first from each node in turn).

    Each cycle is reported once, starting at its earliest node in ``order``: from node k
    the search only visits nodes later than k. Exponential in the worst case, fine for
    the twenty-odd nodes of a causal-loop diagram.
    """
    rank = {n: i for i, n in enumerate(order)}
    cycles = []
    for start in order:
        stack = [(start, iter(succ.get(start, ())))]
        path = [start]
        on_path = {start}
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                on_path.discard(path.pop())
                continue
            if nxt == start:
                cycles.append(tuple(path))
            elif nxt not in on_path and rank[nxt] > rank[start]:
                path.append(nxt)
                on_path.add(nxt)
                stack.append((nxt, iter(succ.get(nxt, ()))))
    return cycles


def causal_structure(params: Parameters, *, nodes: tuple = DEFAULT_NODES, samples: int = 60) -> CausalStructure:
    """Signed links and feedback loops of the model under ``params`` (see the module docstring).

    Parameters
    ----------
    params : Parameters
        Parameter values and switches at which the signs are evaluated.
    nodes : tuple of str
        States and auxiliaries (names in :func:`model.core.equations.build`) to show.
    samples : int
        Number of states sampled along the run of ``params`` (evenly in time, up to the
        fall or the horizon) at which each derivative is evaluated.

    Returns
    -------
    CausalStructure

    Raises
    ------
    ValueError
        If a node is not a state or an auxiliary, or ``samples`` < 2.
    RuntimeError
        If the run of ``params`` fails (its message says why).
    """
    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    from ..core.simulate import simulate  # the sampled states come from the model's own run

    nodes = tuple(nodes)
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise ValueError(f"`samples` must be an integer of at least 2, got {samples!r}")
    candidates = _symbolic_links(nodes)
    m = build()
    run = simulate(params, t_eval=np.linspace(0.0, float(params.horizon), int(samples)))
    if not run.success:
        raise RuntimeError(f"the run to sample states failed: {run.message}")
    Y = np.array([run.series[name] for name in STATE_NAMES])  # (6, k)
    pvec = param_vector(params)
    pvals = dict(zip(PARAM_NAMES, pvec))
    state_syms = [m.symbol(n) for n in STATE_NAMES]
    param_syms = [m.symbol(n) for n in PARAM_NAMES]
    # Values of the shown auxiliaries at the sampled states.
    values = {n: Y[i] for i, n in enumerate(STATE_NAMES)}
    for name, expr in _full_definitions(nodes):
        f = sp.lambdify(state_syms + param_syms, expr, modules=lambdify_modules("numpy"))
        values[name] = np.broadcast_to(np.asarray(f(*Y, *pvec), dtype=float), Y.shape[1:])
    aux_syms = [m.symbol(n) for n in nodes if n not in STATE_NAMES]
    links = []
    for target, source, deriv in candidates:
        d = deriv.xreplace({m.symbol(k): v for k, v in pvals.items()})
        if d == 0:
            continue
        f = sp.lambdify(state_syms + aux_syms, d, modules=lambdify_modules("numpy"))
        args = [values[n] for n in STATE_NAMES] + [values[s.name] for s in aux_syms]
        dv = np.broadcast_to(np.asarray(f(*args), dtype=float), Y.shape[1:])
        dv = dv[np.isfinite(dv)]
        scale = max(float(np.max(np.abs(dv))) if dv.size else 0.0, 0.0)
        if dv.size == 0 or scale < 1e-12:
            continue
        # Values within 1e-9 of the largest magnitude count as zero (rounding at a kink).
        pos, neg = bool(np.any(dv > 1e-9 * scale)), bool(np.any(dv < -1e-9 * scale))
        sign = "±" if pos and neg else ("+" if pos else "-")
        links.append(Link(source, target, sign, float(dv.min()), float(dv.max())))
    succ: dict[str, list[str]] = {}
    for lk in links:
        succ.setdefault(lk.source, []).append(lk.target)
    signs = {(lk.source, lk.target): lk.sign for lk in links}
    loops = []
    for cyc in _elementary_cycles(succ, list(nodes)):
        edge_signs = [signs[(cyc[i], cyc[(i + 1) % len(cyc)])] for i in range(len(cyc))]
        if "±" in edge_signs:
            polarity = "?"
        else:
            polarity = "R" if edge_signs.count("-") % 2 == 0 else "B"
        loops.append(Loop(tuple(cyc), polarity))
    loops.sort(key=lambda lp: (len(lp.nodes), [nodes.index(n) for n in lp.nodes]))
    return CausalStructure(nodes=nodes, links=tuple(links), loops=tuple(loops), samples=int(samples))
