"""Equilibria of the market subsystem and their stability.

Why a subsystem
    The buffer ``B`` is a pure integrator, dB/dt = operating profit - committed payout,
    and no other right-hand side depends on it, so the full six-state system generically
    has no equilibrium. Its first five states (``s, T, R, p, K``: the market, trust and
    the incumbent's price and capacity) do have equilibria. We compute those, classify
    them from the eigenvalues of the analytic Jacobian restricted to the five states (the
    buffer's column of the full 6 x 6 Jacobian is zero, so these are the eigenvalues of
    the full system apart from the buffer's zero), and report at each the *buffer drift*
    dB/dt: a negative drift means that the incumbent eventually falls when the sector
    settles there, a positive drift that it survives there for ever.

Closed forms (derived with sympy in :func:`equilibrium_closed_forms`)
    At an equilibrium ``K = q_I`` (capacity matches volume). The full average cost per
    unit is then ``φ + v`` and the markup ``1/(φ + v)`` returns a price of exactly 1 under
    every price policy (the willingness-to-pay cap is normalised so that a full cost of 1
    maps to 1), so ``p* = 1``. With ``p = 1`` the trust equations are linear in ``T`` and
    ``R``: ``T*(s)`` and ``R*(s, T)`` are explicit, and every equilibrium lies on the
    curve ``y*(s) = (s, T*(s), R*(s), 1, q_I(s))``. The equilibria are the roots of the
    scalar function ``G(s) = ds/dt(y*(s))`` on [0, 1), found by a scan for sign changes
    and Brent's method, then polished by Newton's method on the five equations with the
    analytic Jacobian. Independent starts of a five-dimensional root finder
    (``scipy.optimize.root``) from a Halton design add a check that nothing was missed;
    duplicates are merged.

Held states
    If a trust stock has neither gain nor decay (``trust_gain = trust_decay = 0``, or
    the same for relational trust) its equation is identically zero: every value is an
    equilibrium value. Such a state is *held* at its initial value; the analysis runs on
    the remaining states and the result lists the held ones.

Confirmation by simulation
    Each equilibrium is checked with :func:`model.core.simulate.simulate` from a nearby start
    (buffer set large so the fall event does not stop the run): from a stable one a small
    perturbation must decay; from an unstable one a perturbation along the unstable
    eigenvector must grow by a factor 10.

The boundary ``s = 1`` is excluded: there the incumbent's volume and capacity are zero
and its average cost is 0/0 (the model is not defined there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
import sympy as sp
from scipy.optimize import brentq, root

from ..core.firms import aggregate
from ..core import _generated as gen
from ..core.equations import BUFFER_INDEX, CAP_SHARPNESS, OUTPUT_NAMES, PARAM_NAMES, STATE_NAMES, build, param_vector
from ..core.parameters import Parameters
from ..core.special import smooth_positive

__all__ = [
    "MARKET_STATES",
    "Equilibrium",
    "equilibria",
    "equilibrium_closed_forms",
    "slaved_state",
    "reduced_rhs",
    "market_rhs",
    "market_jacobian",
    "held_states",
    "classify",
]

#: The states of the market subsystem, in order (all but the liquidity and the sector's
#: size, which no market equation reads: the sector's size is held at its initial 1).
MARKET_STATES = STATE_NAMES[:BUFFER_INDEX]
N_MARKET = len(MARKET_STATES)
N_STATE = len(STATE_NAMES)

_P = {name: i for i, name in enumerate(PARAM_NAMES)}
_S = {name: i for i, name in enumerate(STATE_NAMES)}
_O = {name: i for i, name in enumerate(OUTPUT_NAMES)}

#: Largest platform share the analysis looks at: s = 1 is outside the model (0/0 cost).
S_MAX = 1.0 - 1e-9
#: Buffer used when simulating for confirmation: large enough never to be exhausted in
#: one 200-year piece (|dB/dt| < 5 initial gross a year), so that the fall event does not
#: cut the run (the buffer feeds back on nothing); simulate accepts at most 1000.
_CONFIRM_BUFFER = 1000.0
#: Residual (max-norm of the five right-hand sides, 1/yr) an equilibrium must meet.
RESIDUAL_TOL = 1e-10
#: Two equilibria closer than this (max-norm of the state) are the same one.
MERGE_TOL = 1e-7


@dataclass(frozen=True)
class Equilibrium:
    """One equilibrium of the market subsystem.

    Attributes
    ----------
    state : ndarray, shape (5,)
        ``platform_share, platform_trust, relational_trust, incumbent_price, capacity``.
    stable : bool
        All eigenvalues (of the states not held) have negative real parts.
    eigenvalues : ndarray of complex, shape (n_active,)
        Of the analytic Jacobian restricted to the states not held, sorted by real part.
    kind : str
        ``"stable node"``, ``"stable focus"``, ``"saddle"``, ``"unstable node"``,
        ``"unstable focus"`` or ``"non-hyperbolic"``.
    buffer_drift : float
        dB/dt at the equilibrium (operating profit - committed payout), in initial gross
        per year: negative means the incumbent eventually falls if the sector stays here.
    confirmed : bool
        Whether a simulation from a nearby start agrees with ``stable``.
    confirmation : str
        What that simulation showed.
    residual : float
        Max-norm of the right-hand side of the states not held, 1/yr.
    held : tuple of str
        States with no dynamics for these parameters, held at their initial values.
    """

    state: np.ndarray
    stable: bool
    eigenvalues: np.ndarray = field(repr=False)
    kind: str
    buffer_drift: float
    confirmed: bool
    confirmation: str = field(repr=False)
    residual: float = field(repr=False)
    held: tuple = ()

    def state_dict(self) -> dict[str, float]:
        return {name: float(v) for name, v in zip(MARKET_STATES, self.state)}

    def as_dict(self) -> dict:
        """Plain-Python form (for JSON): eigenvalues as ``[real, imag]`` pairs."""
        return {
            "state": self.state_dict(),
            "stable": bool(self.stable),
            "kind": self.kind,
            "eigenvalues": [[float(e.real), float(e.imag)] for e in self.eigenvalues],
            "buffer_drift": float(self.buffer_drift),
            "incumbent_falls_here": bool(self.buffer_drift < 0),
            "confirmed": bool(self.confirmed),
            "confirmation": self.confirmation,
            "residual": float(self.residual),
            "held": list(self.held),
        }


# --- closed forms ------------------------------------------------------------------------

@cache
def equilibrium_closed_forms() -> dict[str, sp.Expr]:
    """Equilibrium values of the slaved states, derived with sympy from the model.

    Returns
    -------
    dict
        ``"price_at_matched_capacity"``: the full-cost target price with ``K = q_I``,
        simplified (it is 1: the proof that ``p* = 1``); ``"platform_trust"``: ``T*(s)``
        at ``p = 1``; ``"relational_trust"``: ``R*(s, T)`` at ``p = 1``; ``"capacity"``:
        ``K*(s)`` at ``p = 1``. Expressions in the model's state and parameter symbols.
    """
    m = build()
    s, T, R, p, K = m.states[:5]
    aux = m.auxiliaries
    # The first version's case: no indivisible fixed cost, no two-part multi-homing,
    # demand per sector, at the sector's initial size.
    special = {m.symbol("indivisible_cost_share"): 0, m.symbol("chi_two_part"): 0, m.symbol("customers"): 1,
               m.symbol("chi_per_customer"): 0, m.symbol("addition_speed_ratio"): 1}
    # Full-cost price with capacity matched to volume; positive stand-ins for the volume
    # and the cost shares let sympy take the n-th root of a product of powers.
    q = sp.Symbol("q", positive=True)
    W, phi, v = sp.symbols("W phi v", positive=True)
    qI, C = aux["incumbent_volume"][0], aux["incumbent_cost"][0]
    a, mu1 = aux["cap_factor"][0], aux["markup_factor"][0]
    X, D_c, F = aux["full_cost_revenue"][0], aux["connected_volume"][0], aux["fixed_cost"][0]
    price = aux["target_price_average_cost"][1].xreplace({X: aux["full_cost_revenue"][1], D_c: aux["connected_volume"][1]})
    price = price.xreplace({C: aux["incumbent_cost"][1]}).xreplace({F: aux["fixed_cost"][1]}).xreplace(special)
    # With multi-homing off the connected volume is the incumbent's volume q_I = (1 - s) d_I.
    price = price.xreplace({aux["incumbent_demand_per_customer"][0]: qI / (1 - s)})
    price = price.xreplace({K: qI})
    price = price.xreplace({a: aux["cap_factor"][1], mu1: aux["markup_factor"][1]})
    price = price.xreplace({qI: q, m.symbol("willingness_to_pay"): W,
                            m.symbol("fixed_cost_share"): phi, m.symbol("variable_cost_share"): v})
    price = sp.simplify(price)
    at_p1 = [e.subs(p, 1).xreplace(special) for e in m.rhs]
    (T_star,) = sp.solve(at_p1[1], T)
    (R_star,) = sp.solve(at_p1[2], R)
    # The smooth positive parts as formulas: with r_K = 1 they cancel to the gap q_I - K.
    dK = at_p1[4].replace(smooth_positive, lambda x, width: smooth_positive(x, width).as_formula())
    (K_star,) = sp.solve(sp.simplify(dK), K)
    return {"price_at_matched_capacity": price, "platform_trust": T_star,
            "relational_trust": R_star, "capacity": K_star}


def held_states(pvec: np.ndarray) -> tuple[str, ...]:
    """Trust stocks whose equation is identically zero (no gain and no decay)."""
    held = []
    if pvec[_P["trust_gain"]] == 0 and pvec[_P["trust_decay"]] == 0:
        held.append("platform_trust")
    if pvec[_P["relational_gain"]] == 0 and pvec[_P["relational_decay"]] == 0:
        held.append("relational_trust")
    return tuple(held)


def _active(held: tuple[str, ...]) -> np.ndarray:
    return np.array([i for i, n in enumerate(MARKET_STATES) if n not in held], dtype=int)


def _linear_root(f, lo: float = 0.0, hi: float = 1.0) -> float | None:
    """Root of ``f``, known to be affine in its argument, from two evaluations."""
    f0, f1 = f(lo), f(hi)
    slope = (f1 - f0) / (hi - lo)
    if slope == 0.0 or not np.isfinite(slope):
        return None
    return lo - f0 / slope


def _price_at(pvec: np.ndarray, s: float) -> float:
    """The incumbent's equilibrium price at share ``s``: the lowest root of
    ``p*(s, p) - p`` with capacity matched to the volume at that price.

    The target price depends on ``s`` and ``p`` only (through the volume, the matched
    capacity and the fixed cost), not on trust, so the root is one-dimensional. It exists
    (``p*`` is positive and at most the capped maximum) but need not be unique: under
    average-cost pricing with elastic demand a high-price equilibrium (the spiral) can sit
    above the low one; the lowest is the branch the incumbent starts on, and the
    multi-start search of :func:`equilibria` finds the others."""
    y = np.empty(N_STATE)
    y[:] = 1.0
    y[0] = s
    y[BUFFER_INDEX] = 1.0

    def excess(p):
        y[_S["incumbent_price"]] = p
        y[_S["capacity"]] = 1.0
        y[_S["capacity"]] = gen.outputs(y, pvec)[_O["incumbent_volume"]]
        return float(gen.outputs(y, pvec)[_O["target_price"]]) - p

    # The matched-capacity target price is 1 in the first version's cases (no indivisible
    # cost, no multi-homing, full-cost or fixed pricing): check the cheap answer first.
    if abs(excess(1.0)) <= 1e-13:
        return 1.0
    top = 1.1 * pvec[_P["willingness_to_pay"]] * (1.0 + pvec[_P["willingness_to_pay"]] ** -CAP_SHARPNESS) ** (
        1.0 / CAP_SHARPNESS) + 1.0
    grid = np.concatenate([np.geomspace(1e-3, 1.0, 40), np.linspace(1.0, top, 80)[1:]])
    values = np.array([excess(p) for p in grid])
    for k in range(len(grid) - 1):
        if values[k] == 0.0:
            return float(grid[k])
        if values[k] * values[k + 1] < 0:
            return float(brentq(excess, grid[k], grid[k + 1], xtol=1e-15, rtol=1e-15))
    return float(grid[int(np.argmin(np.abs(values)))])


def slaved_state(pvec: np.ndarray, s: float) -> np.ndarray:
    """The point ``y*(s)`` of the curve on which the equilibria lie (shape (5,)).

    At an equilibrium capacity matches volume (``K = q_I``) and the price is its target
    (:func:`_price_at`); with the price fixed the trust equations are affine in ``T`` and
    in ``R``, so ``T*`` and ``R*`` follow from two evaluations of the right-hand side
    each. Where such a root is 0/0 (a trust stock without decay at ``s = 0``) its limit
    from ``s > 0`` is used; held states take their initial values.
    """
    held = held_states(pvec)
    y = np.empty(N_STATE)
    y[:] = 1.0
    y[0] = s
    y[BUFFER_INDEX] = 1.0
    y[_S["incumbent_price"]] = _price_at(pvec, s)
    y[_S["capacity"]] = 1.0
    y[_S["capacity"]] = gen.outputs(y, pvec)[_O["incumbent_volume"]]

    def rate(i, value):
        y[i] = value
        return float(gen.rhs(y, pvec)[i])

    if "platform_trust" in held:
        y[1] = pvec[_P["initial_trust"]]
    else:
        T = _linear_root(lambda x: rate(1, x))
        # No root only if trust_decay = 0 and s = 0: the limit s -> 0+ is the success rate.
        y[1] = T if T is not None else pvec[_P["transaction_success"]]
    if "relational_trust" in held:
        y[2] = pvec[_P["initial_relational_trust"]]
    else:
        R = _linear_root(lambda x: rate(2, x))
        # None only if relational_decay = 0 and s T = 0: every R is then an equilibrium
        # value; the limit from s T > 0 is 1.
        y[2] = R if R is not None else 1.0
    return y[:N_MARKET].copy()


def _full(y5: np.ndarray, buffer: float = 1.0) -> np.ndarray:
    """The full state from the market states: the given liquidity, the sector's size 1."""
    y = np.ones(N_STATE)
    y[:N_MARKET] = y5
    y[BUFFER_INDEX] = buffer
    return y


def market_rhs(y5: np.ndarray, pvec: np.ndarray) -> np.ndarray:
    """Right-hand side of the five market states (1/yr)."""
    return gen.rhs(_full(np.asarray(y5, dtype=float)), pvec)[:N_MARKET]


def market_jacobian(y5: np.ndarray, pvec: np.ndarray) -> np.ndarray:
    """Analytic Jacobian of the five market states, shape (5, 5)."""
    return gen.jac(_full(np.asarray(y5, dtype=float)), pvec)[:N_MARKET, :N_MARKET]


def reduced_rhs(pvec: np.ndarray, s: float) -> float:
    """``G(s)``: ds/dt on the equilibrium curve ``y*(s)``; its roots are the equilibria."""
    return float(market_rhs(slaved_state(pvec, s), pvec)[0])


def buffer_drift(y5: np.ndarray, pvec: np.ndarray) -> float:
    """dB/dt at market state ``y5`` with the cash at zero (no credit drawn, no excess cash to
    pay out): operating profit less debt service, restructuring and dividends."""
    q0 = gen.initial(pvec)[_S["capacity"]]
    return float(gen.rhs(_full(y5, pvec[_P["credit_line"]] * q0), pvec)[BUFFER_INDEX])


def classify(eigenvalues: np.ndarray, rel_tol: float = 1e-8) -> tuple[bool, str]:
    """Stability and kind from eigenvalues; ``|Re| <= rel_tol * max(1, |λ|max)`` is zero."""
    ev = np.asarray(eigenvalues)
    if ev.size == 0:
        return False, "non-hyperbolic"
    zero = rel_tol * max(1.0, float(np.max(np.abs(ev))))
    re = ev.real
    if np.any(np.abs(re) <= zero):
        return False, "non-hyperbolic"
    oscillates = bool(np.any(np.abs(ev.imag) > zero))
    if np.all(re < 0):
        return True, "stable focus" if oscillates else "stable node"
    if np.all(re > 0):
        return False, "unstable focus" if oscillates else "unstable node"
    return False, "saddle"


# --- search --------------------------------------------------------------------------------

def _s_grid(n: int) -> np.ndarray:
    # Equilibria crowd near the edges when adoption or churn is weak (s ~ h/c e^{λΔU}),
    # so the uniform grid is joined by geometric ones towards 0 and 1.
    edge = np.logspace(-10, -1, max(n // 8, 10))
    return np.unique(np.concatenate([[0.0], edge, np.linspace(0.0, 1.0, n)[1:-1], 1.0 - edge, [S_MAX]]))


def _in_domain(y5: np.ndarray, pvec: np.ndarray) -> bool:
    s, T, R, p, K = y5
    tol = 1e-9
    return bool(-tol <= s <= S_MAX and -tol <= T <= 1 + tol and -tol <= R <= 1 + tol and p > 0 and K > 0
                and np.all(np.isfinite(y5)))


def _polish(x0: np.ndarray, pvec: np.ndarray, active: np.ndarray, template: np.ndarray):
    """Newton (MINPACK hybrid) on the active equations from ``x0``; None if it fails."""

    def assemble(x):
        y = template.copy()
        y[active] = x
        return y

    def fun(x):
        return market_rhs(assemble(x), pvec)[active]

    def jac(x):
        return market_jacobian(assemble(x), pvec)[np.ix_(active, active)]

    try:
        with np.errstate(all="ignore"):
            sol = root(fun, x0, jac=jac, method="hybr", options={"xtol": 1e-13})
    except (ZeroDivisionError, ValueError, OverflowError, FloatingPointError):
        return None
    y = assemble(sol.x)
    if not _in_domain(y, pvec):
        return None
    # Round-off below zero (a share or trust at exactly 0) is clipped; the residual is
    # checked on the clipped state.
    y[:3] = np.clip(y[:3], 0.0, None)
    with np.errstate(all="ignore"):
        try:
            res = float(np.max(np.abs(fun(y[active]))))
        except (ZeroDivisionError, ValueError, OverflowError):
            return None
    if not np.isfinite(res) or res > RESIDUAL_TOL:
        return None
    return y, res


def _merge(found: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
    out: list[tuple[np.ndarray, float]] = []
    for y, res in sorted(found, key=lambda item: item[0][0]):
        for k, (z, r) in enumerate(out):
            if np.max(np.abs(y - z)) <= MERGE_TOL:
                if res < r:
                    out[k] = (y, res)
                break
        else:
            out.append((y, res))
    return out


def _candidates_on_curve(pvec: np.ndarray, n_grid: int) -> list[float]:
    grid = _s_grid(n_grid)
    g = np.array([reduced_rhs(pvec, s) for s in grid])
    roots = [float(s) for s, v in zip(grid, g) if v == 0.0]
    for k in np.nonzero(np.sign(g[:-1]) * np.sign(g[1:]) < 0)[0]:
        roots.append(brentq(lambda s: reduced_rhs(pvec, s), grid[k], grid[k + 1], xtol=1e-15, rtol=1e-15))
    # A root where G touches zero without crossing (at a fold) has no sign change; local
    # minima of |G| are handed to Newton as extra starts.
    a = np.abs(g)
    scale = max(float(np.max(a)), 1e-300)
    for k in range(1, len(grid) - 1):
        if a[k] < a[k - 1] and a[k] <= a[k + 1] and a[k] < 1e-3 * scale:
            roots.append(float(grid[k]))
    return roots


def equilibria(
    params: Parameters,
    *,
    n_grid: int = 801,
    n_starts: int = 16,
    confirm: bool = True,
    pvec: np.ndarray | None = None,
) -> list[Equilibrium]:
    """All equilibria of the market subsystem, classified and confirmed by simulation.

    Parameters
    ----------
    params : Parameters
    n_grid : int
        Points of the scan of ``G(s)`` on [0, 1) (plus geometric refinements at the ends).
    n_starts : int
        Extra starts of the five-dimensional root finder (a scrambled-free Halton design
        over the state box), a check that the scan missed nothing.
    confirm : bool
        Confirm each equilibrium by a simulation from a nearby start (default True).
    pvec : ndarray, optional
        Parameter vector to use instead of ``param_vector(params)`` (continuation uses
        this to move one parameter without building a :class:`Parameters`).

    Returns
    -------
    list of Equilibrium
        Sorted by platform share.

    Raises
    ------
    ValueError
        If ``n_grid`` < 10 or ``n_starts`` < 0.
    """
    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    if int(n_grid) < 10:
        raise ValueError(f"`n_grid` must be an integer >= 10, got {n_grid!r}")
    if int(n_starts) < 0:
        raise ValueError(f"`n_starts` must be a non-negative integer, got {n_starts!r}")
    pvec = param_vector(params) if pvec is None else np.asarray(pvec, dtype=float)
    held = held_states(pvec)
    active = _active(held)
    template = slaved_state(pvec, 0.5)  # supplies the held values

    found = []
    for s in _candidates_on_curve(pvec, int(n_grid)):
        y = slaved_state(pvec, s)
        polished = _polish(y[active], pvec, active, template)
        if polished is not None:
            found.append(polished)
    if n_starts:
        from scipy.stats import qmc  # imported here: scipy.stats takes about a second to import

        W = pvec[_P["willingness_to_pay"]]
        lo = np.array([0.0, 0.0, 0.0, 0.5, 0.05])
        hi = np.array([S_MAX, 1.0, 1.0, W, 1.5])
        starts = qmc.scale(qmc.Halton(d=N_MARKET, scramble=False).random(int(n_starts) + 1)[1:], lo, hi)
        for y in starts:
            polished = _polish(y[active], pvec, active, template)
            if polished is not None:
                found.append(polished)

    result = []
    for y, res in _merge(found):
        J = market_jacobian(y, pvec)[np.ix_(active, active)]
        ev, vecs = np.linalg.eig(J)
        order = np.argsort(ev.real)
        ev, vecs = ev[order], vecs[:, order]
        stable, kind = classify(ev)
        if confirm:
            confirmed, note = _confirm(params, pvec, y, active, ev, vecs, stable, kind)
        else:
            confirmed, note = False, "not checked"
        result.append(Equilibrium(state=y, stable=stable, eigenvalues=ev, kind=kind,
                                  buffer_drift=buffer_drift(y, pvec), confirmed=confirmed,
                                  confirmation=note, residual=res, held=held))
    return result


# --- confirmation ------------------------------------------------------------------------

def _confirm(params, pvec, y, active, ev, vecs, stable, kind) -> tuple[bool, str]:
    if kind == "non-hyperbolic":
        return False, "non-hyperbolic: linear stability undecided, not confirmed"
    run_params = _params_for(params, pvec)
    delta = 1e-4
    if stable:
        # Long enough for the slowest mode to decay by e^-5 (at most CONFIRM_MAX_YEARS).
        t_end = float(np.clip(5.0 / float(np.min(np.abs(ev.real))), 10.0, CONFIRM_MAX_YEARS))
        direction = np.zeros(N_MARKET)
        direction[active] = 1.0
        # Keep the start inside [0, 1] for the shares and trusts.
        for i in (0, 1, 2):
            if y[i] + delta > (S_MAX if i == 0 else 1.0):
                direction[i] = -1.0
        directions = [direction / np.linalg.norm(direction)]
    else:
        # Long enough for the fastest unstable mode to grow by e^8.
        t_end = float(np.clip(8.0 / float(ev.real[-1]), 10.0, CONFIRM_MAX_YEARS))
        v = np.zeros(N_MARKET)
        v[active] = np.real(vecs[:, -1])
        v /= np.linalg.norm(v)
        directions = [d for d in (v, -v) if _in_domain(y + delta * d, pvec)]
        if not directions:
            return False, "no perturbation along the unstable direction stays in the state space"
    notes = []
    for d in directions:
        traj, message = _trajectory(run_params, y + delta * d, t_end)
        if traj is None:
            return False, f"confirmation run failed: {message}"
        dist = np.max(np.abs(traj - y[:, None]), axis=0)
        d0 = dist[0]
        if stable:
            ok = dist[-1] < 0.5 * d0
            notes.append(f"perturbation {d0:.1e} -> {dist[-1]:.1e} after {t_end:.3g} yr")
        else:
            ok = dist.max() > 10.0 * d0
            notes.append(f"perturbation {d0:.1e} -> max {dist.max():.2e} within {t_end:.3g} yr")
        if not ok:
            return False, "; ".join(notes) + " (disagrees with the eigenvalues)"
    return True, "; ".join(notes)


#: Longest confirmation run, years (run in pieces: a Parameters horizon is at most 200).
CONFIRM_MAX_YEARS = 1000.0


def _trajectory(params: Parameters, y5: np.ndarray, t_end: float):
    """Market states from ``y5`` over ``t_end`` years, shape (5, n); (None, message) on failure."""
    from ..core.simulate import simulate  # late import: simulate is only needed for confirmation

    pieces, y0, done = [], _full(y5, _CONFIRM_BUFFER), 0.0
    while done < t_end - 1e-12:
        span = min(200.0, t_end - done)
        span = max(span, 1.0)  # the shortest horizon a Parameters accepts
        # The market subsystem at a fixed sector size, with the big confirmation buffer left
        # alone: no growth, no payout of the excess cash (neither feeds back on the market).
        r = simulate(params.replace(horizon=span, sector_growth_rate=0.0, excess_cash_payout_rate=0.0), y0=y0,
                     t_eval=np.linspace(0.0, span, 101))
        if not r.success or r.falls:
            return None, r.message
        pieces.append(np.stack([r.series[n] for n in MARKET_STATES]))
        # The solver's round-off can leave a share or trust a hair outside [0, 1].
        y0 = _full(np.concatenate([np.clip(pieces[-1][:3, -1], 0.0, 1.0), pieces[-1][3:, -1]]), _CONFIRM_BUFFER)
        done += span
    return np.concatenate(pieces, axis=1), ""


def _params_for(params: Parameters, pvec: np.ndarray) -> Parameters:
    """``params`` with the continuous values of ``pvec`` (continuation moves one of them)."""
    changes = {}
    for name, i in _P.items():
        if i < len(pvec) and hasattr(params, name):
            value = float(pvec[i])
            if value != float(getattr(params, name)):
                changes[name] = value
    return params.replace(**changes) if changes else params
