"""Numerical continuation of equilibria: branches, folds, hysteresis and fold curves.

Method
    Pseudo-arclength continuation (Keller 1977; notation of Kuznetsov, *Elements of
    Applied Bifurcation Theory*, 3rd ed., 2004, sec. 10.2) of the equilibria of the market
    subsystem (see :mod:`model.analysis.equilibria`) in one parameter ``λ``. The unknown is
    ``x = (y, u)`` with ``y`` the states that are not held and ``u = (λ - lo)/(hi - lo)``
    (the parameter scaled to [0, 1], so that a step weighs the states and the parameter
    alike). Tangent predictor, Newton corrector on ``F(x) = 0, t·(x - x_pred) = 0`` with
    the analytic Jacobian ``∂F/∂y`` (``model.core._generated.jac``) and ``∂F/∂λ`` from sympy
    (the model's right-hand side differentiated and lambdified with common-subexpression
    elimination, once per parameter). The step length adapts to the Newton iterations.

Folds (saddle-nodes)
    Where the ``u`` component of the tangent changes sign. Each is refined by solving
    the standard extended system ``F(y, λ) = 0, J(y, λ) v = 0, c·v = 1`` (Kuznetsov, sec.
    10.2.2) with MINPACK's hybrid Newton method, to a residual below 1e-12.

Hysteresis
    The parameter interval in which at least two stable equilibria coexist (between the
    two folds of an S-shaped branch); :attr:`Continuation.bistable_intervals` lists every
    such interval, :attr:`Continuation.hysteresis` spans them.

Two-parameter fold curves
    The fold itself is continued in two parameters: pseudo-arclength on the extended
    system above with both parameters free (one more unknown than equations), its
    Jacobian by central differences. The curves bound the region of the two-parameter
    plane in which the sector is bistable. Seeds come from one-parameter continuations at
    a few values of the second parameter.

Branches are started from every equilibrium at both ends of the range, so every branch
that reaches the range's ends is found; a closed branch (isola) strictly inside the
range would be missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np
import sympy as sp
from scipy.optimize import root

from ..core.firms import aggregate
from ..core.equations import PARAM_NAMES, build, param_vector
from ..core.parameters import PARAMETER_SPECS, Parameters
from ..core.special import lambdify_modules
from .equilibria import (
    MARKET_STATES,
    N_MARKET,
    S_MAX,
    _active,
    _full,
    buffer_drift,
    classify,
    equilibria,
    held_states,
    market_jacobian,
    market_rhs,
    slaved_state,
)

__all__ = [
    "CONTINUABLE",
    "Fold",
    "Continuation",
    "FoldCurve",
    "continuation",
    "fold_curve",
    "parameter_derivative",
    "check_range",
]

_P = {name: i for i, name in enumerate(PARAM_NAMES)}
#: Parameters a continuation may move: the continuous ones (not the horizon).
CONTINUABLE = tuple(n for n in PARAM_NAMES if n in PARAMETER_SPECS and not PARAMETER_SPECS[n].is_switch)


@dataclass(frozen=True)
class Fold:
    """A saddle-node (fold) of equilibria.

    Attributes
    ----------
    parameter_value : float
    state : ndarray, shape (5,)
    branch : int
        Index of the branch it was found on.
    residual : float
        Max-norm of the extended system at the refined fold.
    """

    parameter_value: float
    state: np.ndarray
    branch: int = 0
    residual: float = field(default=0.0, repr=False)

    def as_dict(self, parameter: str | None = None) -> dict:
        out = {"parameter_value": float(self.parameter_value),
               "state": {n: float(v) for n, v in zip(MARKET_STATES, self.state)},
               "branch": int(self.branch), "residual": float(self.residual)}
        if parameter is not None:
            out = {"parameter": parameter, **out}
        return out


@dataclass(frozen=True)
class Continuation:
    """Branches of equilibria over one parameter.

    Attributes
    ----------
    parameter : str
    range : (float, float)
    values : ndarray, shape (k,)
        Parameter value at each computed point.
    states : ndarray, shape (k, 5)
    stable : ndarray of bool, shape (k,)
    buffer_drift : ndarray, shape (k,)
        dB/dt at each point (negative: the incumbent eventually falls there).
    branch : ndarray of int, shape (k,)
        Branch index of each point; points of one branch are in continuation order.
    folds : list of Fold
    hysteresis : (float, float) or None
        Span of the parameter values at which two or more stable equilibria coexist.
    bistable_intervals : list of (float, float)
    success : bool
        False if a branch stopped before reaching an end of the range or the state space.
    message : str
        How each branch ended.
    """

    parameter: str
    range: tuple
    values: np.ndarray
    states: np.ndarray
    stable: np.ndarray
    buffer_drift: np.ndarray
    branch: np.ndarray
    folds: list
    hysteresis: tuple | None
    bistable_intervals: list
    success: bool
    message: str

    def as_dict(self) -> dict:
        return {
            "parameter": self.parameter,
            "range": list(self.range),
            "points": int(self.values.size),
            "branches": int(self.branch.max() + 1) if self.branch.size else 0,
            "folds": [f.as_dict(self.parameter) for f in self.folds],
            "hysteresis": list(self.hysteresis) if self.hysteresis else None,
            "bistable_intervals": [list(i) for i in self.bistable_intervals],
            "success": self.success,
            "message": self.message,
        }


@dataclass(frozen=True)
class FoldCurve:
    """Fold curves in a two-parameter plane: the boundary of the bistable region.

    Attributes
    ----------
    x_name, y_name : str
    x_range, y_range : (float, float)
    points : ndarray, shape (k, 2)
        (x, y) parameter values on the curves.
    states : ndarray, shape (k, 5)
        Equilibrium state at each fold point.
    curve : ndarray of int, shape (k,)
        Curve index of each point; points of one curve are in continuation order.
    seeds : list of Fold
        One-parameter folds (in ``x``) the curves were started from, with their ``y``.
    success : bool
    message : str
    """

    x_name: str
    y_name: str
    x_range: tuple
    y_range: tuple
    points: np.ndarray
    states: np.ndarray
    curve: np.ndarray
    seeds: list
    success: bool
    message: str


# --- derivatives ---------------------------------------------------------------------------

@cache
def _derivative_function(name: str):
    m = build()
    sym = m.symbol(name)
    exprs = [sp.diff(e, sym) for e in m.rhs[:N_MARKET]]
    return sp.lambdify([*m.states, *m.params], exprs, modules=lambdify_modules("math"), cse=True)


def parameter_derivative(name: str, y5: np.ndarray, pvec: np.ndarray) -> np.ndarray:
    """∂(dy/dt)/∂(parameter ``name``) of the five market states, from sympy (shape (5,))."""
    _check_name(name)
    return np.array(_derivative_function(name)(*_full(np.asarray(y5, dtype=float)), *pvec), dtype=float)


def _check_name(name: str) -> None:
    if name not in CONTINUABLE:
        raise ValueError(f"cannot continue in {name!r}: the parameter must be one of {', '.join(CONTINUABLE)}")


def check_range(params: Parameters, name: str, lo: float, hi: float) -> tuple[float, float]:
    """Validate a continuation range; ValueError names the parameter, the range and the rule."""
    _check_name(name)
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise ValueError(f"range of {name!r} must be two numbers, got {lo!r}, {hi!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"range of {name!r} must be finite with low < high, got {lo!r}:{hi!r}")
    # Both ends must be valid parameters; box bounds and the linear constraint on the
    # cost shares then hold in between.
    for value in (lo, hi):
        try:
            params.replace(**{name: value})
        except ValueError as e:
            raise ValueError(f"range {lo:g}:{hi:g} of {name!r}: {e}") from None
    return lo, hi


# --- generic pseudo-arclength ------------------------------------------------------------

def _tangent(Jx: np.ndarray, previous: np.ndarray | None, sign: float = 1.0) -> np.ndarray:
    """Unit null vector of the m x (m+1) matrix ``Jx``, oriented like ``previous``."""
    _, _, vt = np.linalg.svd(Jx)
    t = vt[-1]
    if previous is not None:
        if np.dot(t, previous) < 0:
            t = -t
    elif t[-1] * sign < 0 or (t[-1] == 0 and sign < 0):
        t = -t
    return t


def _newton(F, J, x, t, x_pred, tol=1e-11, max_iter=12):
    """Corrector: Newton on (F(x) = 0, t·(x - x_pred) = 0). Returns (x, iterations) or None."""
    for k in range(max_iter):
        with np.errstate(all="ignore"):
            try:
                f = F(x)
                A = np.vstack([J(x), t])
            except (ZeroDivisionError, ValueError, OverflowError):
                return None
        r = np.append(f, np.dot(t, x - x_pred))
        if not np.all(np.isfinite(r)) or not np.all(np.isfinite(A)):
            return None
        try:
            dx = np.linalg.solve(A, -r)
        except np.linalg.LinAlgError:
            return None
        x = x + dx
        if np.max(np.abs(dx)) < tol:
            with np.errstate(all="ignore"):
                try:
                    f = F(x)
                except (ZeroDivisionError, ValueError, OverflowError):
                    return None
            if np.all(np.isfinite(f)) and np.max(np.abs(f)) < 1e-9:
                return x, k + 1
            return None
    return None


def _solve_fixed(F, J, x, k, value, tol=1e-12):
    """Solve F = 0 with coordinate ``k`` of ``x`` held at ``value`` (to land on a box edge)."""
    e = np.zeros_like(x)
    e[k] = 1.0
    x = x.copy()
    x[k] = value
    out = _newton(F, J, x, e, x, tol=tol)
    return None if out is None else out[0]


def _pal(F, J, x0, *, sign, box, valid, h0=0.01, h_max=0.03, h_min=1e-9, max_steps=3000, max_angle=0.2):
    """Pseudo-arclength continuation from ``x0``.

    ``box`` is a list of (coordinate, low, high): the curve is clipped where it leaves
    it. ``valid(x)`` is False outside the state space. ``max_angle`` (radians) bounds the
    turn of the tangent in one step. Returns (points, tangents, reason).
    """
    points = [np.asarray(x0, dtype=float)]
    tangents = [_tangent(J(points[0]), None, sign)]
    h = h0
    reason = f"stopped after {max_steps} steps"
    for _ in range(max_steps):
        x, t = points[-1], tangents[-1]
        step = None
        while h >= h_min:
            x_pred = x + h * t
            out = _newton(F, J, x_pred.copy(), t, x_pred)
            if out is not None and valid(out[0]) and np.max(np.abs(out[0] - x)) < 4 * h:
                # Angle control: a step that turns the tangent by more than max_angle may
                # have jumped over two folds at once (the sign test would miss both).
                try:
                    with np.errstate(all="ignore"):
                        t_new = _tangent(J(out[0]), t)
                except (ZeroDivisionError, ValueError, OverflowError, np.linalg.LinAlgError):
                    t_new = None
                if t_new is not None and np.all(np.isfinite(t_new)) and np.dot(t_new, t) >= np.cos(max_angle):
                    step = out + (t_new,)
                    break
            h *= 0.5
        if step is None:
            # The state space may end here (a share reaching 0 or 1): say so.
            reason = "step size underflow (the branch leaves the state space or turns too sharply)"
            break
        x_new, iterations, t_new = step
        left = [(k, lo if x_new[k] < lo else hi) for k, lo, hi in box if not lo <= x_new[k] <= hi]
        if left:
            k, edge = left[0]
            x_edge = _solve_fixed(F, J, x + (x_new - x) * (edge - x[k]) / (x_new[k] - x[k]), k, edge)
            if x_edge is not None and valid(x_edge):
                points.append(x_edge)
                tangents.append(_tangent(J(x_edge), t))
            reason = "reached the end of the range"
            break
        points.append(x_new)
        tangents.append(t_new)
        if iterations <= 3:
            h = min(h * 1.5, h_max)
        elif iterations >= 6:
            h *= 0.7
        # A closed curve comes back to its start: stop after one turn.
        if len(points) > 10 and np.max(np.abs(x_new - points[0])) < 0.5 * h:
            reason = "closed curve"
            break
    return np.array(points), np.array(tangents), reason


# --- one-parameter continuation ---------------------------------------------------------------

class _Branches:
    """The market equations in (active states, u) for one continued parameter."""

    def __init__(self, params: Parameters, name: str, lo: float, hi: float):
        self.params = params
        self.name = name
        self.index = _P[name]
        self.lo, self.hi = lo, hi
        self.base = param_vector(params)
        self.held = held_states(self.base)
        self.active = _active(self.held)
        self.template = slaved_state(self.base, 0.5)

    def value(self, u: float) -> float:
        return self.lo + u * (self.hi - self.lo)

    def pvec(self, u: float) -> np.ndarray:
        p = self.base.copy()
        p[self.index] = self.value(u)
        return p

    def state(self, x: np.ndarray) -> np.ndarray:
        y = self.template.copy()
        y[self.active] = x[:-1]
        return y

    def F(self, x):
        return market_rhs(self.state(x), self.pvec(x[-1]))[self.active]

    def J(self, x):
        y, p = self.state(x), self.pvec(x[-1])
        Jy = market_jacobian(y, p)[np.ix_(self.active, self.active)]
        Ju = parameter_derivative(self.name, y, p)[self.active] * (self.hi - self.lo)
        return np.column_stack([Jy, Ju])

    def valid(self, x) -> bool:
        y = self.state(x)
        return bool(np.all(np.isfinite(y)) and -1e-9 <= y[0] <= S_MAX and -1e-9 <= y[1] <= 1 + 1e-9
                    and -1e-9 <= y[2] <= 1 + 1e-9 and y[3] > 0 and y[4] > 0)

    # Extended system for a fold: unknowns (y_active, u, v); c fixed.
    def fold_residual(self, z, c):
        n = self.active.size
        x, v = z[: n + 1], z[n + 1:]
        y, p = self.state(x), self.pvec(x[-1])
        Jy = market_jacobian(y, p)[np.ix_(self.active, self.active)]
        return np.concatenate([market_rhs(y, p)[self.active], Jy @ v, [np.dot(c, v) - 1.0]])

    def refine_fold(self, xa, ta, xb, tb):
        """Fold between branch points a and b (tangent u-components of opposite sign)."""
        n = self.active.size
        # Start at the linear zero of the tangent's u component.
        w = ta[-1] / (ta[-1] - tb[-1])
        x0 = xa + w * (xb - xa)
        v0 = (1 - w) * ta[:n] + w * tb[:n]
        v0 /= np.linalg.norm(v0)
        c = v0.copy()
        sol = root(self.fold_residual, np.concatenate([x0, v0]), args=(c,), method="hybr",
                   options={"xtol": 1e-14})
        res = float(np.max(np.abs(self.fold_residual(sol.x, c))))
        x = sol.x[: n + 1]
        # It must be the fold between a and b, not another one elsewhere on the branch.
        near = np.max(np.abs(x - 0.5 * (xa + xb))) <= 2.0 * np.max(np.abs(xb - xa))
        if not (np.isfinite(res) and res < 1e-10 and self.valid(x) and near):
            return None, res
        return x, res


def continuation(
    params: Parameters,
    name: str,
    lo: float,
    hi: float,
    *,
    h_max: float = 0.03,
    max_steps: int = 3000,
    start: list | None = None,
) -> Continuation:
    """Continue every equilibrium branch of the market subsystem over ``name`` in [lo, hi].

    Parameters
    ----------
    params : Parameters
        All other parameters.
    name : str
        A continuous parameter (one of :data:`CONTINUABLE`).
    lo, hi : float
        The range; both ends must be valid values (with the other parameters).
    h_max : float
        Largest pseudo-arclength step, in scaled units (states and (λ - lo)/(hi - lo)).
    max_steps : int
        Largest number of steps per branch.
    start : list of Equilibrium, optional
        Starting equilibria at ``lo`` (default: :func:`model.analysis.equilibria.equilibria` at
        both ends).

    Returns
    -------
    Continuation

    Raises
    ------
    ValueError
        Unknown or non-continuous parameter, or a bad range.
    """
    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    lo, hi = check_range(params, name, lo, hi)
    sys_ = _Branches(params, name, lo, hi)
    n = sys_.active.size

    starts = []  # (x0, sign)
    ends = ((0.0, 1.0), (1.0, -1.0))
    for u, sign in ends:
        eqs = start if (start is not None and u == 0.0) else equilibria(
            params.replace(**{name: sys_.value(u)}), confirm=False)
        for e in eqs:
            starts.append((np.append(np.asarray(e.state)[sys_.active], u), sign))

    branches, reasons = [], []
    for x0, sign in starts:
        if any(np.max(np.abs(pts - x0), axis=1).min() < 1e-6 for pts, _ in branches):
            continue  # already on a computed branch
        pts, tans, reason = _pal(sys_.F, sys_.J, x0, sign=sign, box=[(n, 0.0, 1.0)], valid=sys_.valid,
                                 h_max=h_max, max_steps=max_steps)
        branches.append((pts, tans))
        reasons.append(reason)

    values, states, stable, drift, ids, marginal, folds = [], [], [], [], [], [], []
    for b, (pts, tans) in enumerate(branches):
        # Refined folds are inserted in the branch between the points that bracket them.
        rows = [(x, False) for x in pts[:1]]
        for k in range(len(pts) - 1):
            if tans[k][-1] * tans[k + 1][-1] < 0:
                x, res = sys_.refine_fold(pts[k], tans[k], pts[k + 1], tans[k + 1])
                if x is None:
                    reasons[b] += f"; a fold near {sys_.value(pts[k][-1]):.6g} did not refine (residual {res:.1e})"
                else:
                    folds.append(Fold(parameter_value=sys_.value(x[-1]), state=sys_.state(x), branch=b,
                                      residual=res))
                    rows.append((x, True))
            rows.append((pts[k + 1], False))
        for x, is_fold in rows:
            y, p = sys_.state(x), sys_.pvec(x[-1])
            ev = np.linalg.eigvals(market_jacobian(y, p)[np.ix_(sys_.active, sys_.active)])
            values.append(sys_.value(x[-1]))
            states.append(y)
            stable.append(False if is_fold else classify(ev)[0])
            marginal.append(is_fold)
            drift.append(buffer_drift(y, p))
            ids.append(b)
    values = np.array(values)
    stable = np.array(stable, dtype=bool)
    ids = np.array(ids, dtype=int)
    folds = _dedupe_folds(folds)
    intervals = _bistable_intervals(values, stable, np.array(marginal, dtype=bool), ids, lo, hi)
    hysteresis = (intervals[0][0], intervals[-1][1]) if intervals else None
    success = all(not r.startswith("step size") and "did not refine" not in r for r in reasons)
    message = "; ".join(f"branch {b}: {r}" for b, r in enumerate(reasons)) or "no equilibria"
    return Continuation(parameter=name, range=(lo, hi), values=values,
                        states=np.array(states).reshape(-1, N_MARKET), stable=stable,
                        buffer_drift=np.array(drift), branch=ids, folds=folds, hysteresis=hysteresis,
                        bistable_intervals=intervals, success=success, message=message)


def _dedupe_folds(folds: list[Fold]) -> list[Fold]:
    out: list[Fold] = []
    for f in sorted(folds, key=lambda f: f.parameter_value):
        if not any(abs(f.parameter_value - g.parameter_value) < 1e-8 and np.max(np.abs(f.state - g.state)) < 1e-6
                   for g in out):
            out.append(f)
    return out


def _bistable_intervals(values, stable, marginal, ids, lo, hi) -> list[tuple[float, float]]:
    """Parameter intervals in which at least two stable branch segments coexist.

    A segment is stable if both its ends are, or one is and the other is a fold (where
    the stable branch ends), so that the intervals end exactly at the folds.
    """
    cuts = np.unique(np.concatenate([[lo, hi], values]))
    ok = stable | marginal
    segments = [tuple(sorted((values[k], values[k + 1]))) for k in range(len(values) - 1)
                if ids[k] == ids[k + 1] and ok[k] and ok[k + 1] and (stable[k] or stable[k + 1])]
    intervals: list[list[float]] = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        mid = 0.5 * (a + b)
        if sum(v0 <= mid <= v1 for v0, v1 in segments) >= 2:
            if intervals and intervals[-1][1] == a:
                intervals[-1][1] = float(b)
            else:
                intervals.append([float(a), float(b)])
    return [tuple(i) for i in intervals]


# --- two-parameter fold curves --------------------------------------------------------------

class _FoldSystem:
    """Extended fold system in (y_active, v, ux, uy): 2n + 1 equations, 2n + 2 unknowns."""

    def __init__(self, params, x_name, x_range, y_name, y_range):
        self.params = params
        self.ix, self.iy = _P[x_name], _P[y_name]
        self.x_range, self.y_range = x_range, y_range
        self.base = param_vector(params)
        self.held = held_states(self.base)
        self.active = _active(self.held)
        self.template = slaved_state(self.base, 0.5)
        self.n = self.active.size
        self.c = None

    def values(self, z):
        return (self.x_range[0] + z[-2] * (self.x_range[1] - self.x_range[0]),
                self.y_range[0] + z[-1] * (self.y_range[1] - self.y_range[0]))

    def unpack(self, z):
        n = self.n
        y = self.template.copy()
        y[self.active] = z[:n]
        p = self.base.copy()
        p[self.ix], p[self.iy] = self.values(z)
        return y, z[n: 2 * n], p

    def F(self, z):
        y, v, p = self.unpack(z)
        Jy = market_jacobian(y, p)[np.ix_(self.active, self.active)]
        return np.concatenate([market_rhs(y, p)[self.active], Jy @ v, [np.dot(self.c, v) - 1.0]])

    def J(self, z):
        # Central differences: the equations already hold the analytic Jacobian, so this
        # is a difference of exact first derivatives (error O(h^2) ~ 1e-12 in the tangent).
        h = 1e-6
        cols = []
        for k in range(z.size):
            e = np.zeros_like(z)
            e[k] = h
            cols.append((self.F(z + e) - self.F(z - e)) / (2 * h))
        return np.column_stack(cols)

    def valid(self, z):
        y, v, _ = self.unpack(z)
        return bool(np.all(np.isfinite(z)) and -1e-9 <= y[0] <= S_MAX and -1e-9 <= y[1] <= 1 + 1e-9
                    and -1e-9 <= y[2] <= 1 + 1e-9 and y[3] > 0 and y[4] > 0)


def fold_curve(
    params: Parameters,
    x_name: str,
    x_range: tuple[float, float],
    y_name: str,
    y_range: tuple[float, float],
    *,
    n_seeds: int = 5,
    h_max: float = 0.03,
    max_steps: int = 2000,
) -> FoldCurve:
    """Fold curves of the market equilibria in the plane of two parameters.

    Each fold found by one-parameter continuation in ``x_name`` at ``n_seeds`` values of
    ``y_name`` is continued in both parameters (pseudo-arclength on the extended fold
    system) in both directions until it leaves the box. Inside the region the curves
    bound, the sector has two stable equilibria (history decides which).

    Parameters
    ----------
    params : Parameters
    x_name, y_name : str
        Two different continuous parameters (see :data:`CONTINUABLE`).
    x_range, y_range : (float, float)
        The box; its corners must be valid parameter values.
    n_seeds : int
        Values of ``y`` (evenly spaced, ends included) at which folds in ``x`` are sought.

    Returns
    -------
    FoldCurve

    Raises
    ------
    ValueError
        Unknown or equal parameter names, bad ranges or ``n_seeds`` < 1.
    """
    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    if x_name == y_name:
        raise ValueError(f"`x_name` and `y_name` must differ, got {x_name!r} twice")
    x_range = check_range(params, x_name, *x_range)
    y_range = check_range(params, y_name, *y_range)
    if int(n_seeds) < 1:
        raise ValueError(f"`n_seeds` must be a positive integer, got {n_seeds!r}")
    for xv in x_range:  # the corners (the constraint on the cost shares is linear)
        for yv in y_range:
            try:
                params.replace(**{x_name: xv, y_name: yv})
            except ValueError as e:
                raise ValueError(f"corner {x_name}={xv:g}, {y_name}={yv:g} of the box: {e}") from None

    system = _FoldSystem(params, x_name, x_range, y_name, y_range)
    n = system.n
    curves, seeds, reasons = [], [], []
    for y_value in np.linspace(y_range[0], y_range[1], int(n_seeds)):
        branch = continuation(params.replace(**{y_name: float(y_value)}), x_name, *x_range)
        for f in branch.folds:
            uy = (y_value - y_range[0]) / (y_range[1] - y_range[0])
            ux = (f.parameter_value - x_range[0]) / (x_range[1] - x_range[0])
            seeds.append((f, float(y_value)))
            ya = f.state[system.active]
            if any(_on_curve(system, pts, ya, ux, uy) for pts in curves):
                continue  # on a curve already traced
            # Null vector of J at the fold, for the normalisation c·v = 1.
            p = system.base.copy()
            p[system.ix], p[system.iy] = f.parameter_value, y_value
            Jy = market_jacobian(f.state, p)[np.ix_(system.active, system.active)]
            v = np.linalg.svd(Jy)[2][-1]
            system.c = v.copy()
            z0 = np.concatenate([ya, v, [ux, uy]])
            halves = []
            for sign in (1.0, -1.0):
                pts, _, reason = _pal(system.F, system.J, z0, sign=sign, box=[(2 * n, 0.0, 1.0), (2 * n + 1, 0.0, 1.0)],
                                      valid=system.valid, h_max=h_max, max_steps=max_steps)
                halves.append(pts)
                reasons.append(reason)
            curves.append(np.concatenate([halves[1][::-1], halves[0][1:]]))

    points, states, ids = [], [], []
    for k, pts in enumerate(curves):
        for z in pts:
            y, _, p = system.unpack(z)
            points.append(system.values(z))
            states.append(y)
            ids.append(k)
    success = all(not r.startswith("step size") for r in reasons)
    message = "; ".join(sorted(set(reasons))) if reasons else "no folds in the box"
    return FoldCurve(x_name=x_name, y_name=y_name, x_range=x_range, y_range=y_range,
                     points=np.array(points, dtype=float).reshape(-1, 2),
                     states=np.array(states, dtype=float).reshape(-1, N_MARKET),
                     curve=np.array(ids, dtype=int), seeds=[f for f, _ in seeds], success=success,
                     message=message)


def _on_curve(system: _FoldSystem, pts: np.ndarray, ya: np.ndarray, ux: float, uy: float) -> bool:
    """Whether the fold (ya, ux) at uy lies on the traced curve ``pts``.

    Where the curve crosses ``uy`` the fold system is solved with ``uy`` held, from the
    interpolated crossing, and the solution is compared with the fold (tolerance 1e-6).
    """
    n = system.n
    d = pts[:, -1] - uy
    guesses = [pts[k] for k in range(len(pts)) if abs(d[k]) < 1e-12]
    guesses += [pts[k] + d[k] / (d[k] - d[k + 1]) * (pts[k + 1] - pts[k])
                for k in range(len(pts) - 1) if d[k] * d[k + 1] < 0]
    for guess in guesses:
        z = _solve_fixed(system.F, system.J, guess, 2 * n + 1, uy)
        if z is not None and abs(z[-2] - ux) < 1e-6 and np.max(np.abs(z[:n] - ya)) < 1e-6:
            return True
    return False
