"""The network test: the adoption part of the model as agents on an explicit graph of close ties.

The ODE carries word of mouth as a mean field: a non-adopter's exposure is the platform
share ``s`` (simple contagion) or the probability ``tail(s, k, m)`` that at least ``m`` of
``k`` close ties chosen at random have adopted (threshold contagion). Here each of ``n``
customers has her own close ties, the edges of a graph, and her own exposure:

- simple contagion: ``x_i`` = the fraction of her ties on the platform;
- threshold contagion: ``x_i`` = 1 if at least ``m`` of her ties are on the platform, else 0.

Per time step ``dt`` a non-captive non-adopter joins with probability ``1 - exp(-a_i dt)``,
``a_i = α A_in (χ_h h + χ_s w T x_i)``, and an adopter leaves with probability
``1 - exp(-b dt)``, ``b = A_out c (1 - ρ R)``: the ODE's ``F_in`` and ``F_out`` per customer
(a share κ of the customers, drawn at random, is captive and never joins, which is the
ODE's factor ``1 - κ - s``). ``A_in`` and ``A_out`` are the model's own attractiveness and
repulsiveness (lambdified from :mod:`model.core.equations`), evaluated at the agents'
aggregate share: the platform's network value is platform-wide, as in the ODE.

What is held, and what is coupled. A *held* run (``coupled=False``, the default) keeps
platform trust ``T``, relational trust ``R`` and the incumbent's price ``p`` at their
initial (scenario) values, in the agents and in the mean field they are compared with
(:func:`mean_field`: the model's own ``ds/dt`` with every other state held): the comparison
isolates the graph (adoption curves, critical mass). A *coupled* run (``coupled=True``) is
the agent twin of the whole model:

- each customer has her own platform trust ``T_i`` and relational trust ``R_i``, moved by
  the ODE's equations with the platform's transactions per customer ``s d_P`` replaced by
  what she sees among her close ties, ``d_P x_i`` (``x_i`` the share of her ties on the
  platform): ``dT_i/dt = k_T d_P x_i (σ(1 - T_i) - (1 - σ) T_i) - δ_T T_i``,
  ``dR_i/dt = k_R d_P x_i T_i (1 - R_i) - δ_R R_i``. Her word of mouth is weighted by her
  own ``T_i``, her churn reduced by her own ``R_i``. With ties drawn anew every step
  ``E[x_i] = s`` and the mean trusts obey the ODE's equations (a test checks it);
- the incumbent's and the sector's states (price, capacity, liquidity, customers) are the
  ODE's own, advanced every step by the compiled right-hand side of
  :mod:`model.core.equations` with the agents' share and mean trusts in place of ``s``,
  ``T`` and ``R``; ``A_in``, ``A_out`` and ``d_P`` are evaluated at that state (the
  platform's value is platform-wide). "The incumbent falls" means what it means in the ODE
  (its liquidity reaches zero); the run stops there, and :func:`point_of_no_return` is the
  ODE's measure (:func:`model.analysis.tipping.point_of_no_return`, ``window="horizon"``)
  on the agents.

The sector's incumbents are one aggregate firm here (:func:`model.core.firms.aggregate`).

Graphs (:func:`make_graph`): ``mixed`` (annealed: every step each customer's ``k`` close
ties are drawn anew, uniformly from the others, so that the exposure is exactly the mean
field's in expectation: the well-mixed limit), ``random_regular``, ``erdos_renyi``,
``watts_strogatz`` (clustered), ``configuration`` (heavy-tailed degree) from networkx
generators, and any graph from an edge-list file (:func:`read_edge_list`).

The dynamics are compiled (numba): per step one pass over the ties (each customer's
adopted ties, a CSR row sum) and one over the customers (join or leave, then her trusts),
with one uniform draw per customer per step (two on a ``mixed`` graph) from a seeded
:class:`numpy.random.Generator`, so a run reproduces exactly from its seed.

References
----------
.. [1] D. J. Watts, "A simple model of global cascades on random networks", PNAS 99(9),
       5766-5771, 2002.
.. [2] J. P. Gleeson and D. J. Cahalane, "Seed size strongly affects cascades on random
       networks", Physical Review E 75, 056103, 2007.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import scipy.sparse as sparse
from numba import njit
from scipy.integrate import solve_ivp
from scipy.special import bdtr  # the binomial CDF as a ufunc (scipy.stats.binom.cdf costs 0.4 ms a call)

from ..core.firms import aggregate
from ..core import _generated as gen
from ..core.equations import STATE_NAMES, build, param_vector
from ..core.parameters import Parameters
from ..core.special import lambdify_modules

__all__ = ["FAMILIES", "Graph", "NetworkRun", "CriticalMass", "make_graph", "read_edge_list", "graph_from_edges",
           "simulate_network", "mean_field", "mean_field_steps", "cascade_size", "critical_mass", "mean_field_critical_mass",
           "point_of_no_return"]

#: Graph families :func:`make_graph` builds.
FAMILIES = ("mixed", "random_regular", "erdos_renyi", "watts_strogatz", "configuration")

_S = STATE_NAMES.index("platform_share")


# --- graphs ---------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Graph:
    """Close ties among ``n`` customers.

    Attributes
    ----------
    name : str
        The family (or ``edge_list:<file>``).
    n : int
        Customers.
    adjacency : scipy.sparse.csr_array or None
        Symmetric 0/1 adjacency without self-loops; None for ``mixed`` (ties drawn anew every
        step).
    k : int or None
        Ties per customer for ``mixed``; None otherwise (see ``degree``).
    degree : ndarray of int, shape (n,)
        Close ties of each customer.
    """

    name: str
    n: int
    adjacency: sparse.csr_array | None = field(repr=False)
    k: int | None
    degree: np.ndarray = field(repr=False)

    @property
    def mean_degree(self) -> float:
        return float(self.degree.mean())


def _int_at_least(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) or not math.isfinite(value) \
            or value != int(value) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}, got {value!r}")
    return int(value)


def graph_from_edges(n: int, u: np.ndarray, v: np.ndarray, name: str) -> Graph:
    """A :class:`Graph` on ``n`` nodes from edge end points ``u``, ``v`` (0-based; duplicates
    and both directions merged, self-loops dropped)."""
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    keep = u != v
    u, v = u[keep], v[keep]
    rows = np.concatenate([u, v])
    cols = np.concatenate([v, u])
    a = sparse.csr_array((np.ones(rows.size), (rows, cols)), shape=(n, n))
    a.sum_duplicates()
    a.data[:] = 1.0  # a tie listed twice is one tie
    degree = np.diff(a.indptr).astype(np.int64)
    return Graph(name=name, n=n, adjacency=a, k=None, degree=degree)


def _from_networkx(g, name: str) -> Graph:
    edges = np.array(list(g.edges()), dtype=np.int64).reshape(-1, 2)
    return graph_from_edges(g.number_of_nodes(), edges[:, 0], edges[:, 1], name)


def _heavy_tailed_degrees(n: int, k: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Degrees with P(d) ∝ d^-exponent on [d_min, sqrt(n k)], d_min chosen so that the mean is
    closest to ``k`` (the cap keeps the configuration model nearly simple)."""
    d_max = max(k + 1, int(math.sqrt(n * k)))
    best = None
    for d_min in range(1, k + 1):
        d = np.arange(d_min, d_max + 1, dtype=float)
        p = d ** -exponent
        p /= p.sum()
        gap = abs(float(p @ d) - k)
        if best is None or gap < best[0]:
            best = (gap, d, p)
    _, d, p = best
    seq = rng.choice(d, size=n, p=p).astype(np.int64)
    if seq.sum() % 2:
        seq[rng.integers(n)] += 1  # a configuration needs an even number of stubs
    return seq


def make_graph(family: str, n: int, k: int, *, seed: int = 0, rewiring: float = 0.1,
               exponent: float = 2.5) -> Graph:
    """Close ties of ``n`` customers with (on average) ``k`` each.

    Parameters
    ----------
    family : str
        One of :data:`FAMILIES`: ``mixed`` (ties drawn anew every step), ``random_regular``
        (exactly ``k`` each), ``erdos_renyi`` (G(n, k/(n-1))), ``watts_strogatz`` (ring of
        ``k`` nearest, a share ``rewiring`` of ties rewired: clustered), ``configuration``
        (degree P(d) ∝ d^-``exponent``, mean about ``k``; multi-edges and self-loops dropped).
    n, k : int
        Customers and close ties per customer; ``watts_strogatz`` needs an even ``k``.
    seed : int
        Seed of the generator (the same seed gives the same graph).
    rewiring : float
        Watts-Strogatz rewiring probability, in [0, 1].
    exponent : float
        Degree exponent of ``configuration``, > 2 (a finite mean).

    Returns
    -------
    Graph

    Raises
    ------
    ValueError
        For an unknown family or a bad ``n``, ``k``, ``rewiring`` or ``exponent``.
    """
    if family not in FAMILIES:
        raise ValueError(f"`family` must be one of {', '.join(FAMILIES)}, got {family!r}")
    n = _int_at_least("n", n, 2)
    k = _int_at_least("k", k, 1)
    seed = _int_at_least("seed", seed, 0)
    if k >= n:
        raise ValueError(f"`k` must be below `n` (ties to others), got k={k}, n={n}")
    if family == "mixed":
        return Graph(name=family, n=n, adjacency=None, k=k, degree=np.full(n, k, dtype=np.int64))
    import networkx as nx  # only for the generators (it loads nothing heavy, but is slow to import)

    if family == "random_regular":
        if (n * k) % 2:
            raise ValueError(f"`random_regular` needs n*k even, got n={n}, k={k}")
        g = nx.random_regular_graph(k, n, seed=seed)
    elif family == "erdos_renyi":
        g = nx.fast_gnp_random_graph(n, k / (n - 1), seed=seed)
    elif family == "watts_strogatz":
        if k % 2:
            raise ValueError(f"`watts_strogatz` needs an even `k` (k/2 neighbours each side), got {k}")
        if not (isinstance(rewiring, (int, float)) and 0.0 <= rewiring <= 1.0):
            raise ValueError(f"`rewiring` must be a probability in [0, 1], got {rewiring!r}")
        g = nx.watts_strogatz_graph(n, k, float(rewiring), seed=seed)
    else:
        if not (isinstance(exponent, (int, float)) and math.isfinite(exponent) and exponent > 2.0):
            raise ValueError(f"`exponent` must be a finite number > 2 (a finite mean degree), got {exponent!r}")
        seq = _heavy_tailed_degrees(n, k, float(exponent), np.random.default_rng(seed))
        g = nx.configuration_model(seq.tolist(), seed=seed)
    return _from_networkx(g, family)


def read_edge_list(path: str | Path) -> Graph:
    """A graph from a text file with one tie per line, ``a b`` (two labels, whitespace
    separated); blank lines and lines starting with ``#`` are skipped. Labels are any tokens;
    customers are numbered in order of first appearance. A tie listed twice is one tie.

    Raises
    ------
    ValueError
        For a line that is not two labels, or a tie of a customer with herself, naming the
        file and the line; for a file with no tie.
    """
    path = Path(path)
    index: dict[str, int] = {}
    u, v = [], []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            words = text.split()
            if len(words) != 2:
                raise ValueError(f"{path}: line {number}: a tie is two labels separated by whitespace, got {text!r}")
            if words[0] == words[1]:
                raise ValueError(f"{path}: line {number}: a customer cannot be her own close tie, got {text!r}")
            u.append(index.setdefault(words[0], len(index)))
            v.append(index.setdefault(words[1], len(index)))
    if not u:
        raise ValueError(f"{path}: no tie in the file (one `a b` per line)")
    return graph_from_edges(len(index), np.array(u), np.array(v), f"edge_list:{path.name}")


# --- the rates ------------------------------------------------------------------------------------

@cache
def _choice_functions():
    """A_in(y, p), A_out(y, p) and the platform's demand per customer d_P(y, p), lambdified
    once from the model's own expressions."""
    import sympy as sp

    model = build()
    sub = {}
    for sym, expr in model.auxiliaries.values():
        sub[sym] = sp.sympify(expr).xreplace(sub)
    args = list(model.states) + list(model.params)
    out = []
    for name in ("attractiveness", "repulsiveness", "platform_demand_per_customer"):
        sym = model.auxiliaries[name][0]
        out.append(sp.lambdify(args, sub[sym], modules=lambdify_modules("math")))
    return tuple(out)


_T = STATE_NAMES.index("platform_trust")
_R = STATE_NAMES.index("relational_trust")
_B = STATE_NAMES.index("buffer")
#: The agents' own states: share, platform trust, relational trust (the rest is the ODE's).
_AGENT_STATES = 3


class _Rates:
    """The per-customer rates of the model: at aggregate share ``s`` with everything else
    held (:meth:`at`), or at the coupled state ``y`` (:meth:`at_state`)."""

    def __init__(self, params: Parameters, k: float):
        self.pv = param_vector(params.replace(close_ties=float(k)))
        self.y = np.asarray(gen.initial(self.pv), dtype=float)
        self.a_in, self.a_out, self.d_p = _choice_functions()
        self.hard = float(params.hard_network) * params.direct_adoption_rate
        self.word_of_mouth = float(params.soft_network) * params.word_of_mouth_rate
        self.soft = self.word_of_mouth * params.initial_trust
        self.churn, self.reduction = params.churn_rate, params.churn_reduction
        self.leave = params.churn_rate * (1.0 - params.churn_reduction * params.initial_relational_trust)
        self.trust_gain, self.trust_decay = params.trust_gain, params.trust_decay
        self.success = params.transaction_success
        self.relational_gain, self.relational_decay = params.relational_gain, params.relational_decay

    def at(self, s: float) -> tuple[float, float]:
        """(A_in, A_out) at share ``s``, every other state at its initial value."""
        self.y[_S] = s
        args = (*self.y, *self.pv)
        return float(self.a_in(*args)), float(self.a_out(*args))

    def at_state(self, y: np.ndarray) -> tuple[float, float, float]:
        """(A_in, A_out, d_P) at the full state ``y``."""
        args = (*y, *self.pv)
        return float(self.a_in(*args)), float(self.a_out(*args)), float(self.d_p(*args))


def _threshold(params: Parameters) -> int | None:
    if params.contagion != "threshold":
        return None
    m = params.contagion_threshold
    if m != int(m):
        raise ValueError("`contagion_threshold` must be a whole number of close ties on a graph, "
                         f"got {m:g}")
    return int(m)


@njit(cache=True, nogil=True)
def _adopted_ties(indptr, indices, adopted, out):
    """out[i] = her close ties on the platform (a CSR row sum over the adoption vector)."""
    for i in range(indptr.size - 1):
        c = 0
        for j in range(indptr[i], indptr[i + 1]):
            c += adopted[indices[j]]
        out[i] = c


@njit(cache=True, nogil=True)
def _mixed_ties(v, adopted, cdf_on, cdf_off, out):
    """Annealed ties: out[i] ~ Bin(k, q_i) by inversion of the uniform ``v[i]``, with the CDF
    of her k ties drawn from the others (``cdf_on`` if she is on the platform, else
    ``cdf_off``; q_i = (count - [she is]) / (n - 1))."""
    k = cdf_on.size - 1
    for i in range(v.size):
        cdf = cdf_on if adopted[i] else cdf_off
        j = 0
        while j < k and v[i] > cdf[j]:
            j += 1
        out[i] = j


@njit(cache=True, nogil=True)
def _relaxed(value, source, rate, dt):
    """``value`` after ``dt`` of d value/dt = source - rate * value, source and rate held: the
    exact solution (no overshoot at any step)."""
    if rate <= 0.0:
        return value + source * dt
    decay = math.exp(-rate * dt)
    return value * decay + source * (1.0 - decay) / rate


@njit(cache=True, nogil=True)
def _step(adopted, open_, trust, relational, ties, inv_degree, m, u, joining, a_in, a_out, hard, word_of_mouth,
          churn, reduction, dt, coupled, d_p, trust_gain, trust_decay, success, relational_gain, relational_decay):
    """One step of every customer, in place; returns the customers on the platform after it.

    She is either on the platform (leaves at the rate A_out c (1 - ρ R_i)) or not (joins,
    if she is not captive and acquisition is on, at α A_in (χ_h h + χ_s w T_i x_i)), one
    uniform ``u[i]`` deciding; coupled runs then move her trusts with the platform's
    transactions among her close ties, ``d_P`` times the share of her ties on it."""
    count = 0
    for i in range(adopted.size):
        x_share = ties[i] * inv_degree[i]
        if m < 0:
            x = x_share
        else:
            x = 1.0 if ties[i] >= m else 0.0
        if adopted[i]:
            if u[i] < -math.expm1(-a_out * churn * (1.0 - reduction * relational[i]) * dt):
                adopted[i] = False
        elif joining and open_[i]:
            if u[i] < -math.expm1(-a_in * (hard + word_of_mouth * trust[i] * x) * dt):
                adopted[i] = True
        count += adopted[i]
        if coupled:
            seen = d_p * x_share
            gain = trust_gain * seen
            trust_before = trust[i]
            trust[i] = _relaxed(trust_before, gain * success, gain + trust_decay, dt)
            bond = relational_gain * seen * trust_before
            relational[i] = _relaxed(relational[i], bond, bond + relational_decay, dt)
    return count


def _advance_incumbent(y: np.ndarray, pv: np.ndarray, dt: float) -> np.ndarray:
    """The ODE's own incumbent and sector states (price, capacity, liquidity, customers)
    after ``dt``, one classical Runge-Kutta step of the compiled right-hand side with the
    agents' share and trust held over the step."""
    def f(z):
        d = np.array(gen.rhs(z, pv))
        d[:_AGENT_STATES] = 0.0
        return d

    k1 = f(y)
    k2 = f(y + 0.5 * dt * k1)
    k3 = f(y + 0.5 * dt * k2)
    k4 = f(y + dt * k3)
    return y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


# --- the agents -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class NetworkRun:
    """One run of the agents.

    Attributes
    ----------
    t : ndarray, shape (steps + 1,)
        Times in years (up to the fall, if the incumbent falls).
    share : ndarray, shape (steps + 1,)
        Share of all customers on the platform.
    graph : str
    n : int
    seed : int
    dt : float
    trust, relational : ndarray, shape (steps + 1,)
        Mean platform trust and mean relational trust over the customers.
    state : ndarray, shape (steps + 1, 7) or None
        Coupled runs: the model's state, its first three entries the agents' share and mean
        trusts, the rest the ODE's incumbent and sector states; None for a held run.
    pv : ndarray or None
        The parameter vector of the coupled run's economics (acquisition on).
    falls : bool
        The incumbent's liquidity reached zero (coupled runs only).
    fall_time : float or None
        When, interpolated linearly within the step.
    adopted : ndarray of bool, shape (n,)
        Who is on the platform at the end of the run.
    """

    t: np.ndarray
    share: np.ndarray
    graph: str
    n: int
    seed: int
    dt: float
    trust: np.ndarray | None = None
    relational: np.ndarray | None = None
    state: np.ndarray | None = None
    pv: np.ndarray | None = None
    falls: bool = False
    fall_time: float | None = None
    adopted: np.ndarray | None = field(default=None, repr=False)

    @property
    def final(self) -> float:
        return float(self.share[-1])

    def output(self, name: str) -> np.ndarray:
        """A derived series of the model (:data:`model.core.equations.OUTPUT_NAMES`) along a
        coupled run, from the compiled outputs at each recorded state."""
        if self.state is None:
            raise ValueError("a held run has no incumbent economics: run with `coupled=True`")
        from ..core.equations import OUTPUT_NAMES

        j = OUTPUT_NAMES.index(name)
        return np.array([gen.outputs(y, self.pv)[j] for y in self.state])


def simulate_network(params: Parameters, graph: Graph, *, seed: int = 0, dt: float = 0.05,
                     horizon: float | None = None, seed_share: float | None = None, coupled: bool = False,
                     freeze_acquisition_at: float | None = None, progress=None) -> NetworkRun:
    """Run the adoption of the platform on ``graph`` (see the module's docstring).

    Parameters
    ----------
    params : Parameters
        The scenario: rates, switches, contagion, threshold ``m`` (a whole number), captive
        share, initial trust, relational trust and price.
    graph : Graph
        The close ties; its degree, not ``params.close_ties``, is what the agents count.
    seed : int
        Seed of the run's generator (captives, first adopters, every draw).
    dt : float
        Time step in years, in (0, 1].
    horizon : float, optional
        Years; default ``params.horizon``.
    seed_share : float, optional
        Share of customers on the platform at the start (chosen at random among the
        non-captive); default ``params.initial_platform_share``.
    coupled : bool
        False (default): trust, relational trust and the incumbent's price held at their
        initial values (the graph isolated). True: each customer's trusts move with the
        platform's transactions among her close ties, and the incumbent's economics
        (the ODE's own equations) are fed every step by the agents' share and mean trusts;
        the run stops when the incumbent falls, as the ODE's does.
    freeze_acquisition_at : float, optional
        From this time on nobody joins (the point-of-no-return experiment); churn and trust
        go on.
    progress : callable, optional
        Called as ``progress(steps_done, steps)`` every step (a progress bar).

    Returns
    -------
    NetworkRun

    Raises
    ------
    ValueError
        For a bad ``seed``, ``dt``, ``horizon``, ``seed_share`` or freeze time, or a
        threshold that is not a whole number.
    """
    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    seed = _int_at_least("seed", seed, 0)
    if not (isinstance(dt, (int, float)) and 0.0 < dt <= 1.0):
        raise ValueError(f"`dt` must be in (0, 1] years, got {dt!r}")
    horizon = float(params.horizon if horizon is None else horizon)
    if not (math.isfinite(horizon) and horizon > 0):
        raise ValueError(f"`horizon` must be a positive number of years, got {horizon!r}")
    s0 = float(params.initial_platform_share if seed_share is None else seed_share)
    if not (0.0 <= s0 < 1.0 - params.captive_share):
        raise ValueError(f"`seed_share` must be in [0, 1 - captive_share) = [0, {1 - params.captive_share:g}), "
                         f"got {s0!r}")
    if freeze_acquisition_at is not None and not (isinstance(freeze_acquisition_at, (int, float))
                                                  and math.isfinite(freeze_acquisition_at)
                                                  and freeze_acquisition_at >= 0):
        raise ValueError(f"`freeze_acquisition_at` must be a time >= 0 in years, got {freeze_acquisition_at!r}")
    m = _threshold(params)
    n = graph.n
    rng = np.random.default_rng(seed)
    rates = _Rates(params, graph.mean_degree)
    steps = int(round(horizon / dt))
    # Nobody joins in the steps that start at or after the freeze.
    freeze_step = steps if freeze_acquisition_at is None else int(math.ceil(freeze_acquisition_at / dt - 1e-9))

    order = rng.permutation(n)
    n_captive = int(round(params.captive_share * n))
    open_ = np.ones(n, dtype=bool)
    open_[order[:n_captive]] = False
    adopted = np.zeros(n, dtype=bool)
    adopted[order[n_captive:n_captive + int(round(s0 * n))]] = True
    degree = graph.degree
    if graph.adjacency is None:
        inv_degree = np.full(n, 1.0 / graph.k)
    else:
        inv_degree = np.divide(1.0, degree, out=np.zeros(n), where=degree > 0)
        indptr, indices = graph.adjacency.indptr, graph.adjacency.indices
    trust = np.full(n, float(params.initial_trust))
    relational = np.full(n, float(params.initial_relational_trust))
    y = rates.y.copy()
    pv = rates.pv
    ties = np.empty(n, dtype=np.int64)
    open_u8, adopted_u8 = open_.view(np.uint8), adopted.view(np.uint8)

    share = np.empty(steps + 1)
    mean_trust = np.empty(steps + 1)
    mean_relational = np.empty(steps + 1)
    states = np.empty((steps + 1, y.size)) if coupled else None
    count = int(adopted.sum())

    def record(j):
        share[j] = count / n
        mean_trust[j] = trust.mean()
        mean_relational[j] = relational.mean()
        if coupled:
            y[_S], y[_T], y[_R] = share[j], mean_trust[j], mean_relational[j]
            states[j] = y

    record(0)
    fall_time, last = None, steps
    m_arg = -1 if m is None else m
    unit = None if coupled else np.ones(n)
    d_p = 0.0
    for step in range(steps):
        if coupled:
            a_in, a_out, d_p = rates.at_state(y)
            hard, word_of_mouth, churn, reduction = rates.hard, rates.word_of_mouth, rates.churn, rates.reduction
        else:
            # Everything held: the initial trusts are folded into the rates (trust of 1 each).
            a_in, a_out = rates.at(count / n)
            hard, word_of_mouth, churn, reduction = rates.hard, rates.soft, rates.leave, 0.0
        if graph.adjacency is None:
            # Annealed ties: k drawn from the n - 1 others, with replacement.
            support = np.arange(graph.k + 1)
            _mixed_ties(rng.random(n), adopted_u8, bdtr(support, graph.k, max(count - 1, 0) / (n - 1)),
                        bdtr(support, graph.k, count / (n - 1)), ties)
        else:
            _adopted_ties(indptr, indices, adopted_u8, ties)
        u = rng.random(n)
        count = _step(adopted_u8, open_u8, trust if coupled else unit, relational, ties, inv_degree, m_arg, u,
                      step < freeze_step, a_in, a_out, hard, word_of_mouth, churn, reduction, float(dt), coupled,
                      d_p, rates.trust_gain, rates.trust_decay, rates.success, rates.relational_gain,
                      rates.relational_decay)
        if coupled:
            buffer_before = y[_B]
            y = _advance_incumbent(y, pv, dt)
        record(step + 1)
        if progress is not None:
            progress(step + 1, steps)
        if coupled and y[_B] <= 0.0:
            fall_time = (step + buffer_before / (buffer_before - y[_B])) * dt
            last = step + 1
            break
    t = np.arange(last + 1) * dt
    cut = slice(0, last + 1)
    return NetworkRun(t=t, share=share[cut], graph=graph.name, n=n, seed=seed, dt=float(dt),
                      trust=mean_trust[cut], relational=mean_relational[cut],
                      state=None if states is None else states[cut], pv=pv if coupled else None,
                      falls=fall_time is not None, fall_time=fall_time, adopted=adopted.copy())

# --- the mean field -------------------------------------------------------------------------------

def mean_field(params: Parameters, t: np.ndarray, *, k: float | None = None, seed_share: float | None = None,
               rtol: float = 1e-10, atol: float = 1e-12) -> np.ndarray:
    """The model's own ``ds/dt`` with every other state held at its initial value, integrated
    from ``seed_share`` (default the scenario's) and evaluated at times ``t``: the ODE the
    agents are compared with. ``k`` (default ``params.close_ties``) is the close ties of the
    binomial tail."""
    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    params = params.replace(close_ties=float(params.close_ties if k is None else k))
    pv = param_vector(params)
    y = np.asarray(gen.initial(pv), dtype=float)
    s0 = float(params.initial_platform_share if seed_share is None else seed_share)

    def rhs(_, s):
        y[_S] = s[0]
        return [gen.rhs(y, pv)[_S]]

    t = np.asarray(t, dtype=float)
    sol = solve_ivp(rhs, (0.0, float(t[-1])), [s0], t_eval=t, method="LSODA", rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"the mean-field integration failed: {sol.message}")
    return sol.y[0]


def mean_field_steps(params: Parameters, *, k: int, dt: float, steps: int,
                     seed_share: float | None = None) -> np.ndarray:
    """The expected step of the agents on a ``mixed`` graph of ``k`` ties, iterated: the
    discrete-time mean field the agents follow exactly in expectation (as n grows), which
    tends to :func:`mean_field` as ``dt`` does (first order: the agents hold each customer's
    exposure over a step).

    With ``a = α A_in(s)``, ``H = χ_h h``, ``W = χ_s w T`` and ``X ~ Bin(k, s)`` her adopted ties,
    a non-captive non-adopter joins with probability ``1 - E[exp(-a (H + W x(X)) dt)]``:
    simple contagion (``x = X/k``, the binomial's generating function)
    ``1 - exp(-a H dt) (1 - s + s exp(-a W dt / k))^k``; threshold contagion (``x = [X >= m]``)
    ``1 - exp(-a H dt) (1 - tail(s) + tail(s) exp(-a W dt))``. An adopter leaves with
    probability ``1 - exp(-A_out c (1 - ρ R) dt)``.

    Returns
    -------
    ndarray, shape (steps + 1,)
        The share at times ``0, dt, ..., steps dt``.
    """
    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    from ..core.special import tail

    k = _int_at_least("k", k, 1)
    steps = _int_at_least("steps", steps, 0)
    m = _threshold(params)
    rates = _Rates(params, k)
    kappa = params.captive_share
    s = float(params.initial_platform_share if seed_share is None else seed_share)
    out = np.empty(steps + 1)
    out[0] = s
    for j in range(steps):
        a_in, a_out = rates.at(s)
        stay_out = math.exp(-a_in * rates.hard * dt)
        if m is None:
            stay_out *= (1.0 - s + s * math.exp(-a_in * rates.soft * dt / k)) ** k
        else:
            q = tail(s, float(k), float(m))
            stay_out *= 1.0 - q + q * math.exp(-a_in * rates.soft * dt)
        leave = -math.expm1(-a_out * rates.leave * dt)
        s = s + (1.0 - kappa - s) * (1.0 - stay_out) - s * leave
        out[j + 1] = s
    return out


def cascade_size(seed_share: float, k: int, m: int) -> float:
    """Final share of a threshold cascade (no churn, adoption certain once ``m`` of ``k`` ties
    have adopted) from a random seed on a random ``k``-regular graph, tree-like limit [2]:
    ``q = ρ0 + (1 - ρ0) P(Bin(k-1, q) >= m)`` (the least fixed point, iterated from ρ0), then
    ``ρ = ρ0 + (1 - ρ0) P(Bin(k, q) >= m)``."""
    from ..core.special import tail  # P(Bin(k, q) >= m) = I_q(m, k - m + 1)

    rho0 = float(seed_share)
    q = rho0
    for _ in range(100_000):  # monotone increasing to the least fixed point; slow only near the jump
        q_next = rho0 + (1.0 - rho0) * tail(q, float(k - 1), float(m))
        if abs(q_next - q) < 1e-13:
            break
        q = q_next
    return float(rho0 + (1.0 - rho0) * tail(q, float(k), float(m)))


# --- critical mass --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CriticalMass:
    """The smallest seed share from which the platform takes off (its share at the horizon
    is above its seed share, in at least half the runs), by bisection.

    Attributes
    ----------
    share : float or None
        Midpoint of the final bracket; None if the platform takes off even from a seed share
        of ``tol`` (no critical mass that the bisection can resolve: bracket (0, tol)).
    bracket : tuple of float
        (largest seed that does not take off, smallest seed that does).
    runs : int
        Runs per seed share.
    """

    share: float | None
    bracket: tuple
    runs: int


def mean_field_critical_mass(params: Parameters, *, k: float | None = None) -> float | None:
    """The mean field's unstable interior root of ``ds/dt`` (T, R, p held): the critical mass
    of the ODE, where ``ds/dt`` turns from negative to positive; None if it never does in
    (0, 1 - κ) (no critical mass: the platform grows from any seed, or from none)."""
    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    from scipy.optimize import brentq

    params = params.replace(close_ties=float(params.close_ties if k is None else k))
    pv = param_vector(params)
    y = np.asarray(gen.initial(pv), dtype=float)

    def f(s):
        y[_S] = s
        return float(gen.rhs(y, pv)[_S])

    grid = np.linspace(1e-6, 1.0 - params.captive_share - 1e-6, 4001)
    v = np.array([f(s) for s in grid])
    for a, b, fa, fb in zip(grid[:-1], grid[1:], v[:-1], v[1:]):
        if fa < 0 <= fb:  # ds/dt turns positive: above it the platform grows
            return float(brentq(f, a, b, xtol=1e-12))
    return None


def critical_mass(params: Parameters, graph: Graph, *, runs: int = 3, seed: int = 0, dt: float = 0.05,
                  horizon: float | None = None, low: float = 0.0, high: float = 0.5, tol: float = 0.005
                  ) -> CriticalMass:
    """Bisection on the seed share between ``low`` and ``high`` (to ``tol``): the smallest
    share from which the platform's share at the horizon exceeds its seed share in at least
    half of ``runs`` runs (seeds ``seed``, ``seed + 1``, ...). With ``low = 0`` a seed share of
    ``tol`` is tried first: if the platform takes off from it, ``share`` is None.

    Raises
    ------
    ValueError
        For a bad bracket, ``runs`` or ``tol``, or a bracket whose ends do not differ
        (nothing to bisect: ``high`` does not take off, or ``low`` already does).
    """
    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    runs = _int_at_least("runs", runs, 1)
    if not (0.0 <= low < high < 1.0 - params.captive_share):
        raise ValueError(f"`low` < `high` must lie in [0, 1 - captive_share), got {low!r}, {high!r}")
    if not (isinstance(tol, (int, float)) and 0.0 < tol):
        raise ValueError(f"`tol` must be positive, got {tol!r}")

    def takes_off(s0: float) -> bool:
        up = sum(simulate_network(params, graph, seed=seed + r, dt=dt, horizon=horizon, seed_share=s0).final > s0
                 for r in range(runs))
        return 2 * up >= runs

    if not takes_off(high):
        raise ValueError(f"the platform does not take off even from a seed share of {high:g}: no critical mass "
                         "below it")
    if low > 0 and takes_off(low):
        raise ValueError(f"the platform takes off already from a seed share of {low:g}: the critical mass is lower")
    if low == 0 and takes_off(tol):
        # From (almost) nothing: direct adoption, or a graph whose hubs tip at once.
        return CriticalMass(share=None, bracket=(0.0, tol), runs=runs)
    while high - low > tol:
        mid = 0.5 * (low + high)
        if takes_off(mid):
            high = mid
        else:
            low = mid
    return CriticalMass(share=0.5 * (low + high), bracket=(low, high), runs=runs)


# --- the incumbent's fall and the point of no return -----------------------------------------------

def point_of_no_return(params: Parameters, graph: Graph, *, seed: int = 0, dt: float = 0.05,
                       progress=None):
    """The agents' point of no return, the ODE's measure
    (:func:`model.analysis.tipping.point_of_no_return`, ``window="horizon"``) on the coupled
    agent model: the first step from which freezing all acquisition still lets the incumbent
    fall within the file's horizon, by bisection on the step (every frozen run has the same
    seed, so it follows the unfrozen run exactly up to the freeze: common random numbers).

    The shares are read on the unfrozen run at the point of no return: the platform's share
    of the sector's gross (``share``, the ODE's tipping share) and of its volume
    (``volume_share``); the tolerance is one step.

    Returns
    -------
    model.analysis.tipping.PointOfNoReturn
        ``outcome`` ``"tips"``, ``"never_tips"`` (the unfrozen agents' incumbent survives the
        horizon) or ``"always_falls"`` (it falls even if nobody joins after the start).
    """
    from .tipping import PointOfNoReturn

    params = aggregate(params)
    evaluations = 0

    def run(freeze_step=None):
        nonlocal evaluations
        evaluations += 1
        freeze = None if freeze_step is None else freeze_step * dt
        return simulate_network(params, graph, seed=seed, dt=dt, coupled=True, freeze_acquisition_at=freeze)

    free = run()
    horizon = float(params.horizon)
    common = dict(tolerance=float(dt), horizon=horizon, window="horizon")
    if progress is not None:
        progress("unfrozen run", free)
    if not free.falls:
        return PointOfNoReturn(outcome="never_tips", time=None, share=None, gross_loss=None, bracket=None,
                               share_bracket=None, gross_loss_bracket=None, evaluations=evaluations,
                               message=f"the incumbent survives the {horizon:g}-year horizon", **common)
    gross = free.output("platform_share_of_gross")
    revenue = free.output("incumbent_revenue")
    volume = free.output("platform_volume") / free.output("market_size")

    def readings(j):
        return float(gross[j]), float(1.0 - revenue[j] / revenue[0]), float(volume[j])

    first = run(0)
    if first.falls:
        g, loss, v = readings(0)
        return PointOfNoReturn(outcome="always_falls", time=0.0, share=g, gross_loss=loss, volume_share=v,
                               bracket=(0.0, 0.0), share_bracket=(g, g), gross_loss_bracket=(loss, loss),
                               volume_share_bracket=(v, v), evaluations=evaluations, fall_time=free.fall_time,
                               frozen_fall_time=first.fall_time,
                               message="the incumbent falls even if nobody joins the platform after t = 0", **common)
    lo, hi = 0, free.t.size - 1  # freezing at the fall's step changes nothing before it
    frozen_fall = free.fall_time
    while hi - lo > 1:
        mid = (lo + hi) // 2
        r = run(mid)
        if progress is not None:
            progress(f"frozen at {mid * dt:.2f} yr", r)
        if r.falls:
            hi, frozen_fall = mid, r.fall_time
        else:
            lo = mid
    lo_read, hi_read = readings(lo), readings(hi)
    return PointOfNoReturn(outcome="tips", time=hi * dt, share=hi_read[0], gross_loss=hi_read[1],
                           volume_share=hi_read[2], bracket=(lo * dt, hi * dt),
                           share_bracket=(lo_read[0], hi_read[0]), gross_loss_bracket=(lo_read[1], hi_read[1]),
                           volume_share_bracket=(lo_read[2], hi_read[2]), evaluations=evaluations,
                           fall_time=free.fall_time, frozen_fall_time=frozen_fall,
                           message=f"freezing acquisition at t = {lo * dt:.4g} yr the incumbent survives the "
                                   f"horizon; at t = {hi * dt:.4g} yr it falls (at t = {frozen_fall:.4g} yr)", **common)
