"""Loop dominance along a run: Loops That Matter (LTM) link and loop scores from the sympy model.

Schoenberg, Davidsen and Eberlein's *Loops That Matter* measure how much each feedback
loop contributes, moment by moment, to the behaviour of a model. In continuous time, for
a link ``x -> z`` where ``z = g(x, ...)`` is an auxiliary (or a flow):

    LS(x -> z) = |(dg/dx) dx/dt / (dz/dt)| * sign(dg/dx),

the share of the change in ``z`` that comes through ``x`` (the partial change ``Δ_x z``
over the total change ``Δz``), signed by the link's polarity. For a stock ``S`` with net
flow ``f = g(x, ...)`` the link ``x -> S`` is the link ``x -> f`` followed by the
flow-to-stock link, whose score is ``Δf / Δ(dS/dt)``: one for a single net flow, so the
link score is the partial change of the net flow through ``x`` over its total change
(with several flows, ``(df_i/dt) / (d²S/dt²)`` signed + for an inflow and - for an
outflow, which is what the partial derivative of the net flow gives). The score of a
loop is the product of its link scores; its *relative* score divides by the sum of the
absolute loop scores at that time, so the relative scores' absolute values sum to 1 and
the loop with the largest one *dominates*.

Here every derivative comes from the one model definition
(:func:`model.core.equations.build`), through the same collapsed definitions as the
causal-loop diagram (:func:`model.analysis.causal.causal_structure`): the same nodes, the
same links, the same loops. Total rates of change are exact (chain rule through the
auxiliaries, from the stocks' right-hand sides), so the signed partial changes into each
node sum to its total change. The stocks' self-dependence (first-order decay, price
adjustment) is a self-loop the diagram does not draw: it counts in each stock's total
change (the denominators) but is not one of the loops ranked, so the relative scores
rank the diagram's loops against each other (``self_loops=True`` adds them).

Scores are undefined where a node's total rate of change is zero (at an equilibrium, or
at the start of a run that begins in the incumbent's steady state): those times get NaN
and no dominant loop (see :attr:`LoopScores.dominant`).

References
----------
W. Schoenberg, P. Davidsen and R. Eberlein, "Understanding model behavior using the Loops
that Matter method", *System Dynamics Review* 36(2), 158-190 (2020).
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
from .causal import DEFAULT_NODES, CausalStructure, Loop, _collapse, causal_structure

__all__ = ["LoopScores", "ScoreProgram", "model_program", "NODE_WORDS", "MECHANISMS", "Mechanism", "mechanism_of", "score_loops", "loop_scores",
           "loop_names", "dominance_shifts", "dominant_at_point_of_no_return"]

#: The word a node lends to the name of a loop no mechanism of :data:`MECHANISMS` matches
#: (nodes without one, such as the platform share every switching loop passes, add nothing).
NODE_WORDS = {
    "platform_trust": "trust",
    "relational_trust": "relational trust",
    "incumbent_price": "price",
    "target_price": "price",
    "capacity": "capacity",
    "buffer": "liquidity",
    "customers": "customers",
    "incumbent_demand_per_customer": "demand",
    "incumbent_volume": "volume",
    "platform_volume": "transactions",
    "fixed_cost": "fixed cost",
    "incumbent_cost": "cost",
    "operating_profit": "profit",
    "platform_network_value": "network",
    "adoption": "adoption",
    "churn": "churn",
}


@dataclass(frozen=True)
class Mechanism:
    """A loop the essays tell, recognised by the nodes it passes.

    A loop is this mechanism when it passes every node of ``passes`` and none of
    ``avoids``. Its name for people depends on the polarity the scenario gives it
    (``names``: polarity -> (code, words)), so that the same mechanism keeps the same code
    in every sector: the fixed-charge price loop is ``R3 price spiral`` where the price
    follows average cost and ``B2 price defence`` where it falls toward avoidable cost.
    """

    key: str
    passes: frozenset
    avoids: frozenset
    names: dict

    def matches(self, nodes) -> bool:
        nodes = set(nodes)
        return self.passes <= nodes and not (self.avoids & nodes)


def _mechanism(key, passes, avoids, **names) -> Mechanism:
    return Mechanism(key, frozenset(passes), frozenset(avoids), {k.replace("U", "?"): v for k, v in names.items()})


_SHARE, _TRUST, _REL, _NET = "platform_share", "platform_trust", "relational_trust", "platform_network_value"
_PRICE, _COST, _CAP, _DEMAND = "incumbent_price", "incumbent_cost", "capacity", "incumbent_demand_per_customer"
_VOL = "platform_volume"

#: The mechanisms, most specific first (a loop takes the first that matches). A loop that
#: reaches the share through churn rather than adoption is the same mechanism by the other
#: door: its code gets a ``c`` and its name ``(churn)`` (not for relational trust, which
#: acts on churn alone). The codes: R for reinforcing, B
#: for balancing, U where a link changes sign along the run (the loop acts as either).
MECHANISMS = (
    # Platform side.
    _mechanism("trust_network", {_SHARE, _VOL, _TRUST, _NET}, {_REL, _PRICE}, R=("R5", "trust network effect")),
    _mechanism("trust_relational", {_SHARE, _VOL, _TRUST, _REL}, {_NET, _PRICE}, R=("R7", "trust–relational trust")),
    _mechanism("trust_transactions", {_SHARE, _VOL, _TRUST}, {_NET, _REL, _PRICE}, R=("R1", "trust–transactions")),
    _mechanism("relational_trust", {_SHARE, _VOL, _REL}, {_TRUST, _NET, _PRICE}, R=("R6", "relational trust")),
    _mechanism("network_effect", {_SHARE, _NET}, {_TRUST, _REL, _PRICE}, R=("R4", "network effect")),
    # Incumbent side, through the platform share: capacity (the fixed cost), variable cost,
    # the fixed charge spread over fewer customers (or the competitive price cut).
    _mechanism("fixed_cost", {_SHARE, _CAP, _PRICE}, {_TRUST, _NET, _REL},
               R=("R9", "fixed-cost trap"), B=("B3", "capacity cut"), U=("U3", "capacity")),
    _mechanism("variable_cost", {_SHARE, _COST, _PRICE}, {_CAP, _TRUST, _NET, _REL},
               R=("R10", "variable-cost spiral"), B=("B4", "variable-cost relief"), U=("U4", "variable cost")),
    _mechanism("price", {_SHARE, _PRICE}, {_COST, _CAP, _TRUST, _NET, _REL},
               R=("R3", "price spiral"), B=("B2", "price defence"), U=("U2", "price")),
    # Incumbent side, within its own customers: demand per customer against the price.
    _mechanism("demand_capacity", {_PRICE, _DEMAND, _CAP}, {_SHARE},
               R=("R11", "demand–fixed-cost trap"), B=("B6", "demand–capacity cut")),
    _mechanism("demand_cost", {_PRICE, _DEMAND, _COST}, {_SHARE, _CAP},
               R=("R12", "demand–cost spiral"), B=("B5", "demand–variable cost")),
    _mechanism("demand", {_PRICE, _DEMAND}, {_SHARE, _COST, _CAP},
               R=("R8", "demand spiral"), B=("B7", "demand")),
)

#: The two one-link switching loops, by their nodes.
_SWITCHING = {
    (_SHARE, "adoption"): {"R": ("R2", "word of mouth"), "B": ("B8", "saturation"),
                           "?": ("U1", "word of mouth–saturation")},
    (_SHARE, "churn"): {"B": ("B1", "churn"), "R": ("R13", "churn"), "?": ("U5", "churn")},
}


def mechanism_of(loop: Loop) -> str | None:
    """The key of the mechanism of :data:`MECHANISMS` (or ``"word_of_mouth"``, ``"churn"``)
    that ``loop`` is, or None."""
    nodes = tuple(loop.nodes)
    if nodes in _SWITCHING:
        return "word_of_mouth" if nodes[1] == "adoption" else "churn"
    for mech in MECHANISMS:
        if mech.matches(nodes):
            return mech.key
    return None


@dataclass(frozen=True)
class LoopScores:
    """Link and loop scores along a run.

    Attributes
    ----------
    t : ndarray, shape (n,)
        Times (years).
    loops : tuple of Loop
        The loops scored, in the order of the rows below.
    names : tuple of str
        One name per loop (:func:`loop_names`): a code, ``R`` reinforcing, ``B`` balancing,
        ``U`` of undetermined polarity, and the mechanism's words (for example
        ``"R1 trust–transactions"``), the same for the same loop in every sector.
    links : dict[(str, str), ndarray of shape (n,)]
        Link score of every link ``(source, target)`` of the loops.
    scores : ndarray, shape (n_loops, n)
        Loop scores (products of link scores).
    relative : ndarray, shape (n_loops, n)
        Loop scores over the sum of their absolute values at each time (NaN where that
        sum is zero or a score is undefined).
    rates : dict[str, ndarray of shape (n,)]
        Total rate of change of every node (for a stock, of its net flow: the denominator
        of its link scores), by the chain rule from the stocks' right-hand sides.
    """

    t: np.ndarray
    loops: tuple
    names: tuple
    links: dict
    scores: np.ndarray
    relative: np.ndarray
    rates: dict

    @property
    def dominant(self) -> np.ndarray:
        """Index of the loop with the largest absolute relative score at each time (-1 where
        the scores are undefined)."""
        rel = np.abs(self.relative)
        ok = np.all(np.isfinite(rel), axis=0) & (rel.shape[0] > 0)
        out = np.full(self.t.shape, -1, dtype=int)
        if rel.shape[0]:
            out[ok] = np.argmax(rel[:, ok], axis=0)
        return out

    def dominant_at(self, time: float) -> int:
        """Index of the loop dominating at ``time`` (the nearest sample; -1 if undefined there).

        Raises
        ------
        ValueError
            If ``time`` is outside the run.
        """
        time = float(time)
        if not (self.t[0] <= time <= self.t[-1]):
            raise ValueError(f"`time` must be within the run [{self.t[0]:g}, {self.t[-1]:g}] years, got {time!r}")
        return int(self.dominant[int(np.argmin(np.abs(self.t - time)))])

    def shifts(self) -> list[tuple[float, int, int]]:
        """Moments dominance changes hands: (time, loop before, loop after); see
        :func:`dominance_shifts`."""
        return dominance_shifts(self.t, self.relative)


def score_loops(definitions: dict, stocks, values: dict, loops, t, *, names=None) -> LoopScores:
    """LTM link and loop scores of any system given by sympy definitions (the engine of
    :func:`loop_scores`, usable on a textbook system).

    Parameters
    ----------
    definitions : dict[str, sympy.Expr]
        For each node, its definition (an auxiliary or flow) or, for a stock, its net rate
        of change, in terms of sympy Symbols named like the nodes (numeric constants
        otherwise). Every free symbol must be a node.
    stocks : iterable of str
        The nodes that are stocks.
    values : dict[str, ndarray of shape (n,)]
        The value of every stock along the run (auxiliaries are evaluated from them).
    loops : iterable of Loop or of tuple of str
        The loops to score, each as its nodes in order (the first repeated implicitly).
    t : ndarray, shape (n,)
        The times of ``values``.
    names : sequence of str, optional
        One name per loop (default: ``"loop 1"``, ...).

    Returns
    -------
    LoopScores

    Raises
    ------
    ValueError
        If a definition uses a symbol that is not a node, a stock has no values, the
        auxiliaries are defined in a cycle, or a loop passes a missing link.
    """
    t = np.asarray(t, dtype=float)
    stocks = tuple(stocks)
    missing = [s for s in stocks if s not in values or s not in definitions]
    if missing:
        raise ValueError(f"every stock needs a definition and values; missing for {', '.join(missing)}")
    loops = tuple(lp if isinstance(lp, Loop) else Loop(tuple(lp), "?") for lp in loops)
    program = ScoreProgram(definitions, stocks, loops)
    out = program.evaluate({s: np.asarray(values[s], dtype=float) for s in stocks}, t.shape)
    names = tuple(names) if names is not None else tuple(f"loop {i + 1}" for i in range(len(loops)))
    if len(names) != len(loops):
        raise ValueError(f"`names` must give one name per loop ({len(loops)}), got {len(names)}")
    return LoopScores(t=t, loops=loops, names=names, links=out["links"], scores=out["scores"],
                      relative=out["relative"], rates=out["change"])


class ScoreProgram:
    """The LTM scores of fixed loops of a system of sympy definitions, compiled once and
    evaluated on arrays of any shape (one run's samples, or draws x samples).

    Parameters
    ----------
    definitions : dict[str, sympy.Expr]
        As for :func:`score_loops`; the definitions may also use the symbols named in
        ``constants`` (parameters, given per evaluation and broadcast, so that one program
        serves every draw of a sector).
    stocks : tuple of str
    loops : tuple of Loop
    constants : iterable of str
        Names of the symbols that are not nodes (none for a closed textbook system).

    Raises
    ------
    ValueError
        As :func:`score_loops`.
    """

    def __init__(self, definitions: dict, stocks, loops, constants=()):
        stocks = tuple(stocks)
        constants = tuple(constants)
        defs = {name: sp.sympify(expr) for name, expr in definitions.items()}
        syms = {name: sp.Symbol(name, real=True) for name in defs}
        const_syms = {name: sp.Symbol(name, real=True) for name in constants}
        # Symbols are matched by name (whatever their assumptions), so that callers may build
        # their expressions with plain sp.Symbol.
        for name, expr in defs.items():
            rename = {s: (syms.get(s.name) or const_syms[s.name]) for s in expr.free_symbols
                      if s.name in syms or s.name in const_syms}
            stray = sorted(s.name for s in expr.free_symbols if s.name not in syms and s.name not in const_syms)
            if stray:
                raise ValueError(f"the definition of {name!r} uses {', '.join(stray)}, which are not nodes; "
                                 f"allowed: {', '.join(defs)}")
            defs[name] = expr.xreplace(rename)
        self.stocks, self.loops, self.constants = stocks, tuple(loops), constants
        self.order = _topological(defs, syms, stocks)
        self.inputs = {n: sorted(s.name for s in defs[n].free_symbols if s.name in syms) for n in defs}
        for lp in self.loops:
            for i, source in enumerate(lp.nodes):
                target = lp.nodes[(i + 1) % len(lp.nodes)]
                if source not in self.inputs.get(target, ()):
                    raise ValueError(f"loop {' -> '.join(lp.nodes)} passes {source} -> {target}, "
                                     f"but the definition of {target!r} does not use {source!r}")
        modules = lambdify_modules("numpy")
        self.arg_names = list(defs) + list(constants)
        args = [syms[n] for n in defs] + [const_syms[n] for n in constants]
        # One function for the auxiliaries in order would need them collapsed to the stocks;
        # they are few and cheap, one function each. Every partial derivative and every
        # stock's rate in one function, sharing subexpressions (cse).
        self._aux = [(n, sp.lambdify(args, defs[n], modules=modules)) for n in self.order]
        self.partial_keys = [(src, target) for target in defs for src in self.inputs[target]]
        exprs = [sp.diff(defs[target], syms[src]) for src, target in self.partial_keys] + [defs[s] for s in stocks]
        self._derivatives = sp.lambdify(args, exprs, modules=modules, cse=True)
        self.defs = defs

    def evaluate(self, values: dict, shape) -> dict:
        """Scores at ``values`` (every stock, and every constant; arrays broadcast to ``shape``).

        Returns
        -------
        dict
            ``links`` {(source, target): array}, ``scores`` (loops, *shape), ``relative``
            (loops, *shape), ``change`` {node: array} (the denominators: an auxiliary's
            total rate of change, a stock's change of its net flow).
        """
        shape = tuple(shape)
        vals = {k: np.asarray(v, dtype=float) for k, v in values.items()}

        def call(f):
            return np.broadcast_to(np.asarray(f(*[vals.get(n, np.nan) for n in self.arg_names]), dtype=float), shape)

        with np.errstate(all="ignore"):
            for name, f in self._aux:  # auxiliaries in the order they are defined from the stocks
                vals[name] = call(f)
            raw = self._derivatives(*[vals.get(n, np.nan) for n in self.arg_names])
            arrays = [np.broadcast_to(np.asarray(r, dtype=float), shape) for r in raw]
            partial = dict(zip(self.partial_keys, arrays[:len(self.partial_keys)]))
            # Total rates of change: a stock's is its definition; an auxiliary's the chain rule.
            rate = dict(zip(self.stocks, arrays[len(self.partial_keys):]))
            for target in self.order:
                total = np.zeros(shape)
                for src in self.inputs[target]:
                    total = total + partial[(src, target)] * rate[src]
                rate[target] = total
            # For a stock the score's denominator is the change of its net flow, d/dt of its rate.
            change = {}
            for target in self.defs:
                total = np.zeros(shape)
                for src in self.inputs[target]:
                    total = total + partial[(src, target)] * rate[src]
                change[target] = total  # for an auxiliary, its own rate again
            link_scores: dict = {}
            for lp in self.loops:
                for i, source in enumerate(lp.nodes):
                    target = lp.nodes[(i + 1) % len(lp.nodes)]
                    if (source, target) in link_scores:
                        continue
                    d = partial[(source, target)]
                    score = np.abs(d * rate[source] / change[target]) * np.sign(d)
                    score[~np.isfinite(score) | (change[target] == 0)] = np.nan
                    link_scores[(source, target)] = score
            scores = np.array([np.prod([link_scores[(lp.nodes[i], lp.nodes[(i + 1) % len(lp.nodes)])]
                                        for i in range(len(lp.nodes))], axis=0) for lp in self.loops])
            scores = scores.reshape((len(self.loops),) + shape)
            total = np.sum(np.abs(scores), axis=0)
            relative = scores / total
        relative[:, ~np.isfinite(total) | (total == 0)] = np.nan
        return {"links": link_scores, "scores": scores, "relative": relative, "change": change}


def _topological(defs: dict, syms: dict, stocks: tuple) -> list[str]:
    """The auxiliaries (non-stock nodes) in an order where each follows its inputs."""
    aux = [n for n in defs if n not in stocks]
    deps = {n: {s.name for s in defs[n].free_symbols} & set(aux) for n in aux}
    order, done = [], set()
    while len(order) < len(aux):
        ready = [n for n in aux if n not in done and deps[n] <= done]
        if not ready:
            cyc = sorted(n for n in aux if n not in done)
            raise ValueError(f"the auxiliaries {', '.join(cyc)} are defined in a cycle; a loop must pass a stock")
        order.extend(ready)
        done.update(ready)
    return order


def loop_names(loops) -> tuple[str, ...]:
    """Names of loops for people, stable across sectors: a code (R1, B1, ...; U where a
    link changes sign) and the mechanism's words (:data:`MECHANISMS`), derived from the
    nodes the loop passes and its polarity, so that ``R1 trust–transactions`` is the same
    loop in every sector. A loop no mechanism matches is named from its nodes' words
    (:data:`NODE_WORDS`) with a code numbered after the catalogue's (``R21``, ``B21``, ...,
    in the loops' order). Two loops that would share a name (the same mechanism by two
    paths) get ``a``, ``b``, ... after the code.
    """
    out = []
    extra = {"R": 20, "B": 20, "?": 20}
    for lp in loops:
        nodes = tuple(lp.nodes)
        pol = lp.polarity
        route = "churn" if "churn" in nodes else "adoption"
        known = _SWITCHING.get(nodes)
        if known is None:
            mech = next((m for m in MECHANISMS if m.matches(nodes)), None)
            known = mech.names if mech is not None else None
        if known is not None and pol in known:
            code, words = known[pol]
            # Relational trust acts only on churn: there the churn door is the only one.
            if route == "churn" and nodes not in _SWITCHING and _REL not in nodes:
                code, words = code + "c", f"{words} (churn)"
        else:
            extra[pol] += 1
            code = f"{ {'R': 'R', 'B': 'B', '?': 'U'}[pol] }{extra[pol]}"
            words = []
            for node in nodes:
                w = NODE_WORDS.get(node)
                if w and w not in words:
                    words.append(w)
            words = "–".join(words) or nodes[0]
        out.append(f"{code} {words}")
    seen: dict = {}
    for name in out:
        seen[name] = seen.get(name, 0) + 1
    count: dict = {}
    final = []
    for name in out:
        if seen[name] > 1:
            code, _, words = name.partition(" ")
            k = count.get(name, 0)
            count[name] = k + 1
            name = f"{code}{'abcdefghijklmnopqrstuvwxyz'[k]} {words}"
        final.append(name)
    return tuple(final)


@cache
def _model_definitions(nodes: tuple) -> dict:
    """Each node's collapsed definition (a stock's: its right-hand side), every state added as
    a node, in terms of node symbols and the parameters."""
    m = build()
    nodes = tuple(nodes) + tuple(s for s in STATE_NAMES if s not in nodes)
    hidden = {sym: expr for name, (sym, expr) in m.auxiliaries.items() if name not in nodes}
    out = {}
    for n in nodes:
        expr = m.rhs_compact[STATE_NAMES.index(n)] if n in STATE_NAMES else m.auxiliaries[n][1]
        out[n] = _collapse(expr, hidden)
    return out


def loop_scores(params: Parameters, *, samples: int = 400, structure: CausalStructure | None = None,
                self_loops: bool = False, until: float | None = None) -> LoopScores:
    """LTM loop scores of the model's feedback loops along the run of ``params``.

    Parameters
    ----------
    params : Parameters
    samples : int
        Times along the run (evenly from 0 to the fall or the horizon) at which to score.
    structure : CausalStructure, optional
        The loops to score (default: ``causal_structure(params)``, the diagram's loops).
    self_loops : bool
        Also score each stock's dependence on itself as a loop (named ``"... self"``).
    until : float, optional
        Stop the run here (years) instead of at the fall or the horizon.

    Returns
    -------
    LoopScores

    Raises
    ------
    ValueError
        If ``samples`` < 3 or ``until`` is not a positive number within the horizon.
    RuntimeError
        If the run fails (with the solver's message).
    """
    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    from ..core.simulate import simulate

    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 3:
        raise ValueError(f"`samples` must be an integer of at least 3, got {samples!r}")
    horizon = float(params.horizon)
    if until is not None and not (0 < float(until) <= horizon):
        raise ValueError(f"`until` must be a time in (0, {horizon:g}] years (the horizon), got {until!r}")
    structure = structure if structure is not None else causal_structure(params)
    first = simulate(params)
    if not first.success:
        raise RuntimeError(f"the run of the parameters failed: {first.message}")
    end = float(until) if until is not None else float(first.t[-1])
    run = simulate(params, t_eval=np.linspace(0.0, end, int(samples)))
    if not run.success:
        raise RuntimeError(f"the run of the parameters failed: {run.message}")
    loops = list(structure.loops)
    names = list(loop_names(loops))
    if self_loops:
        defs = _model_definitions(tuple(structure.nodes))
        m = build()
        for s in STATE_NAMES:
            if s in structure.nodes and m.symbol(s) in defs[s].free_symbols:
                loops.append(Loop((s,), "?"))
                names.append(f"{NODE_WORDS.get(s, s)} self")
    n = min(len(run.t), int(samples))
    program = model_program(tuple(structure.nodes), tuple(loops))
    values = {s: run.series[s][:n] for s in STATE_NAMES}
    values.update(zip(PARAM_NAMES, map(float, param_vector(params))))
    out = program.evaluate(values, (n,))
    return LoopScores(t=run.t[:n], loops=tuple(loops), names=tuple(names), links=out["links"],
                      scores=out["scores"], relative=out["relative"], rates=out["change"])


@cache
def model_program(nodes: tuple, loops: tuple) -> ScoreProgram:
    """The compiled scores of ``loops`` of the model (the diagram's ``nodes`` collapsed as
    :func:`model.analysis.causal.causal_structure` does), the parameters left as inputs:
    one program for every draw of a sector (:meth:`ScoreProgram.evaluate` with the stocks
    as (draws, samples) arrays and each parameter as a (draws, 1) column)."""
    return ScoreProgram(_model_definitions(nodes), STATE_NAMES, loops, constants=PARAM_NAMES)


def dominance_shifts(t, relative) -> list[tuple[float, int, int]]:
    """Moments the dominant loop changes: (time, loop before, loop after).

    Between two samples whose dominant loops differ, the time is where the two loops'
    absolute relative scores cross, by linear interpolation. Samples with undefined
    scores are skipped (a shift across them is placed by the samples either side).

    Parameters
    ----------
    t : ndarray, shape (n,)
    relative : ndarray, shape (n_loops, n)

    Returns
    -------
    list of (float, int, int)
    """
    t = np.asarray(t, dtype=float)
    rel = np.abs(np.asarray(relative, dtype=float))
    if rel.ndim != 2 or rel.shape[1] != t.size:
        raise ValueError(f"`relative` must have shape (loops, {t.size}), got {rel.shape}")
    ok = np.flatnonzero(np.all(np.isfinite(rel), axis=0))
    if rel.shape[0] == 0 or ok.size < 2:
        return []
    dom = np.argmax(rel[:, ok], axis=0)
    out = []
    for j in range(1, ok.size):
        a, b = int(dom[j - 1]), int(dom[j])
        if a == b:
            continue
        i0, i1 = ok[j - 1], ok[j]
        d0 = rel[a, i0] - rel[b, i0]
        d1 = rel[a, i1] - rel[b, i1]
        frac = d0 / (d0 - d1) if d0 != d1 else 0.5
        out.append((float(t[i0] + frac * (t[i1] - t[i0])), a, b))
    return out


def dominant_at_point_of_no_return(params: Parameters, *, samples: int = 400,
                                   scores: LoopScores | None = None) -> dict:
    """Which loop dominates at the point of no return of ``params``.

    Returns
    -------
    dict
        ``outcome`` and ``time`` of the point of no return
        (:func:`model.analysis.tipping.point_of_no_return`), and ``loop`` (its name),
        ``relative_score`` and ``polarity`` of the dominant loop there (None when the
        incumbent never tips, always falls, or the scores are undefined at that time).
    """
    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    from .tipping import point_of_no_return

    ponr = point_of_no_return(params)
    scores = scores if scores is not None else loop_scores(params, samples=samples)
    out = {"outcome": ponr.outcome, "time": ponr.time, "loop": None, "relative_score": None, "polarity": None}
    if ponr.time is None or not (scores.t[0] <= ponr.time <= scores.t[-1]):
        return out
    i = scores.dominant_at(ponr.time)
    if i >= 0:
        k = int(np.argmin(np.abs(scores.t - ponr.time)))
        out.update(loop=scores.names[i], relative_score=float(scores.relative[i, k]),
                   polarity=scores.loops[i].polarity)
    return out
