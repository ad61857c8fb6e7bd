"""Which loop makes an equilibrium what it is: the Jacobian's cycle gains, where Loops That
Matter has nothing to say.

At an equilibrium every rate of change is zero, so LTM's link scores (partial change over
total change) are 0/0 and say nothing. The linearisation does: with ``J`` the Jacobian of
the states at the equilibrium, each elementary cycle ``c`` of the graph of ``J`` (an
edge ``j -> i`` where ``J[i, j] != 0``: state j drives state i; self-loops included) has
a *gain* ``g_c``, the product of the entries along it: positive for a reinforcing loop,
negative for a balancing one. The characteristic polynomial's constant term is a sum over
the *cycle covers* (sets of disjoint cycles passing every state once):

    det(-J) = prod_i (-λ_i) = sum over covers C of  prod_{c in C} (-g_c)

(each cycle of length k enters the permutation expansion with the sign (-1)^(k-1) of a
k-cycle times (-1)^k from -J). A cover with an odd number of reinforcing cycles gives a
negative term. Where ``det(-J) < 0`` the equilibrium has an odd number of positive real
eigenvalues: with one, it is a saddle; the negative cover terms are what makes it so,
and the reinforcing cycle whose covers contribute the most negative total is *the loop
that makes the saddle a saddle* (:attr:`LoopGains.saddle_loop`). A saddle with an even
number of positive real eigenvalues has ``det(-J) > 0``, and this test does not name
its loop (:attr:`LoopGains.saddle_loop` is None there).

Beside it, the elasticities of the leading eigenvalue to every Jacobian entry (link),
``e_ij = (J_ij / λ) dλ/dJ_ij = J_ij w_i v_j / (λ w·v)`` with ``v``, ``w`` its right and
left eigenvectors; ``λ`` is homogeneous of degree one in ``J``, so they sum to 1 (Euler).

In the model the states are the market's (:data:`model.analysis.equilibria.MARKET_STATES`);
each state cycle is named by the diagram's loops (:func:`model.analysis.loops.loop_names`)
whose states, in order, are that cycle: the share's self-loop carries word of mouth,
churn and the plain network effect, ``s -> T -> s`` the trust loop, ``s -> p -> s`` the
price loop, and so on.

References
----------
C. E. Kampmann, "Feedback loop gains and system behavior (1996)", *System Dynamics Review*
28(4), 370-395 (2012); P. Gonçalves, "Behavior modes, pathways and overall trajectories:
eigenvector and eigenvalue analysis of dynamic systems", *SDR* 25(1), 35-62 (2009).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import networkx as nx
import numpy as np

from ..core.equations import PARAM_NAMES, param_vector
from ..core.firms import aggregate
from ..core.parameters import Parameters

__all__ = ["Cycle", "LoopGains", "loop_gains", "model_loop_gains", "branch_loop_gains"]


@dataclass(frozen=True)
class Cycle:
    """An elementary cycle of the Jacobian's graph: states in order (each drives the next),
    its gain, and the diagram's loops it carries."""

    states: tuple
    gain: float
    loops: tuple = ()

    @property
    def polarity(self) -> str:
        return "R" if self.gain > 0 else "B"

    @property
    def name(self) -> str:
        """The diagram's loops it carries, or its states (``s → T → s``)."""
        return " + ".join(self.loops) if self.loops else " → ".join(self.states + self.states[:1])


@dataclass(frozen=True)
class LoopGains:
    """Cycle-gain decomposition of a Jacobian.

    Attributes
    ----------
    cycles : tuple of Cycle
    covers : tuple of (tuple of int, float)
        Each cycle cover (indices into ``cycles``) with its term ``prod(-g_c)``.
    determinant : float
        ``det(-J)``, the covers' sum.
    contribution : ndarray, shape (n_cycles,)
        Per cycle, the sum of the terms of the covers it belongs to.
    negative_contribution : ndarray, shape (n_cycles,)
        The same, over the negative terms only (what pushes ``det(-J)`` below zero).
    eigenvalues : ndarray of complex
        Sorted by real part.
    link_elasticity : dict[(str, str), float]
        Elasticity of the leading eigenvalue (largest real part) to each entry, keyed
        (source state, target state); they sum to 1.
    """

    cycles: tuple
    covers: tuple
    determinant: float
    contribution: np.ndarray
    negative_contribution: np.ndarray
    eigenvalues: np.ndarray
    link_elasticity: dict

    @property
    def saddle_loop(self) -> Cycle | None:
        """The reinforcing cycle with the most negative share of ``det(-J)``, where
        ``det(-J) < 0`` and exactly one eigenvalue has a positive real part (a saddle of
        one unstable direction); None otherwise."""
        unstable = int(np.sum(self.eigenvalues.real > 0))
        if not (self.determinant < 0 and unstable == 1 and self.eigenvalues.size > 1):
            return None
        reinforcing = [i for i, c in enumerate(self.cycles) if c.gain > 0]
        if not reinforcing:
            return None
        return self.cycles[min(reinforcing, key=lambda i: self.negative_contribution[i])]


def loop_gains(J, states, *, loop_names_by_cycle: dict | None = None, zero: float = 0.0) -> LoopGains:
    """The cycle-gain decomposition of ``J`` (see the module docstring).

    Parameters
    ----------
    J : array_like, shape (n, n)
        ``J[i, j] = d(dx_i/dt)/dx_j``.
    states : sequence of str
        Names of the n states.
    loop_names_by_cycle : dict, optional
        Names of the loops each cycle carries, keyed by the cycle's states in the order of
        :func:`_canonical`.
    zero : float
        Entries with ``|J_ij|`` at or below this are no link.

    Raises
    ------
    ValueError
        If ``J`` is not square with one name per state, or has a non-finite entry.
    """
    J = np.asarray(J, dtype=float)
    states = tuple(states)
    if J.ndim != 2 or J.shape[0] != J.shape[1] or J.shape[0] != len(states):
        raise ValueError(f"`J` must be square with one row per state ({len(states)}), got shape {J.shape}")
    if not np.all(np.isfinite(J)):
        raise ValueError("`J` has a non-finite entry")
    n = len(states)
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from((j, i) for i in range(n) for j in range(n) if abs(J[i, j]) > zero)
    cycles = []
    for cyc in nx.simple_cycles(graph):
        cyc = _canonical(tuple(cyc))
        gain = float(np.prod([J[cyc[(k + 1) % len(cyc)], cyc[k]] for k in range(len(cyc))]))
        key = tuple(states[i] for i in cyc)
        cycles.append((cyc, Cycle(key, gain, tuple((loop_names_by_cycle or {}).get(key, ())))))
    cycles.sort(key=lambda c: (len(c[0]), c[0]))
    covers = []
    for k in range(1, n + 1):
        for combo in combinations(range(len(cycles)), k):
            nodes = [v for i in combo for v in cycles[i][0]]
            if len(nodes) == n and len(set(nodes)) == n:
                covers.append((combo, float(np.prod([-cycles[i][1].gain for i in combo]))))
    contribution = np.zeros(len(cycles))
    negative = np.zeros(len(cycles))
    for combo, term in covers:
        for i in combo:
            contribution[i] += term
            negative[i] += min(term, 0.0)
    ev, right = np.linalg.eig(J)
    order = np.argsort(ev.real)
    ev, right = ev[order], right[:, order]
    lead = int(np.argmax(ev.real))
    lam, v = ev[lead], right[:, lead]
    evl, left = np.linalg.eig(J.T)
    w = left[:, int(np.argmin(np.abs(evl - lam)))]
    sens = np.outer(w, v) / (w @ v)  # d lambda / d J_ij = w_i v_j / (w . v)
    elasticity = {(states[j], states[i]): float(np.real(J[i, j] * sens[i, j] / lam))
                  for i in range(n) for j in range(n) if abs(J[i, j]) > zero} if lam != 0 else {}
    return LoopGains(cycles=tuple(c for _, c in cycles), covers=tuple(covers),
                     determinant=float(sum(t for _, t in covers)), contribution=contribution,
                     negative_contribution=negative, eigenvalues=ev, link_elasticity=elasticity)


def _canonical(cyc: tuple) -> tuple:
    """A cycle rotated to start at its smallest element."""
    k = cyc.index(min(cyc))
    return cyc[k:] + cyc[:k]


def _cycle_names(params: Parameters, states: tuple) -> dict:
    """For each state cycle, the diagram's loops whose states in order are that cycle."""
    from .causal import causal_structure
    from .loops import loop_names

    structure = causal_structure(params)
    index = {s: i for i, s in enumerate(states)}
    out: dict = {}
    for lp, name in zip(structure.loops, loop_names(structure.loops)):
        cyc = tuple(index[n] for n in lp.nodes if n in index)
        if not cyc:
            continue
        key = tuple(states[i] for i in _canonical(cyc))
        out.setdefault(key, []).append(name)
    return {k: tuple(v) for k, v in out.items()}


def model_loop_gains(params: Parameters, state, *, pvec=None, names: dict | None = None) -> LoopGains:
    """The decomposition at a market state of the model (an equilibrium from
    :func:`model.analysis.equilibria.equilibria`), on the states not held, each cycle named
    by the diagram's loops it carries."""
    from .equilibria import MARKET_STATES, _active, held_states, market_jacobian

    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    pvec = param_vector(params) if pvec is None else np.asarray(pvec, dtype=float)
    active = _active(held_states(pvec))
    J = market_jacobian(np.asarray(state, dtype=float), pvec)[np.ix_(active, active)]
    states = tuple(MARKET_STATES[i] for i in active)
    names = names if names is not None else _cycle_names(params, states)
    return loop_gains(J, states, loop_names_by_cycle=names)


def branch_loop_gains(params: Parameters, cont) -> list[LoopGains]:
    """The decomposition at every point of a continuation
    (:func:`model.analysis.continuation.continuation`), its parameter set at each point."""
    params = aggregate(params)
    base = param_vector(params)
    k = PARAM_NAMES.index(cont.parameter)
    names = None
    out = []
    for value, state in zip(cont.values, cont.states):
        pvec = base.copy()
        pvec[k] = value
        if names is None:
            from .equilibria import MARKET_STATES, _active, held_states

            states = tuple(MARKET_STATES[i] for i in _active(held_states(pvec)))
            names = _cycle_names(params, states)
        out.append(model_loop_gains(params, state, pvec=pvec, names=names))
    return out
