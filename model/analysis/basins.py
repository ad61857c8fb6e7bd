"""Basins of "incumbent survives" and "incumbent falls" in a two-dimensional slice of the state.

A slice fixes every state at its initial value except two (by default the platform's
share ``s`` and the platform's trust ``T``), which run over a grid. From each grid point
the model is simulated over the horizon and the outcome recorded (falls: the buffer
reaches zero within the horizon, the definition used everywhere). The separatrix is then
computed, not sketched: along every grid row and every grid column where the outcome
changes between neighbours, the crossing is located by bisection to ``tol`` (a fraction
of the range), using the same simulation. Failed runs are kept (``status``) and never
bracket a crossing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.firms import aggregate
from ..core import _generated as gen
from ..core.equations import STATE_NAMES, param_vector
from ..core.parameters import Parameters
from ..core.simulate import METHODS, simulate

__all__ = ["Basin", "basin"]

_S = {name: i for i, name in enumerate(STATE_NAMES)}


@dataclass(frozen=True)
class Basin:
    """Outcome on a grid of a two-dimensional slice of the state, and its separatrix.

    Attributes
    ----------
    x_name, y_name : str
        The two states that vary.
    x, y : ndarray, shapes (nx,) and (ny,)
    falls : ndarray of bool, shape (ny, nx)
        ``falls[j, i]``: started at ``(x[i], y[j])`` (other states at their initial
        values), the incumbent falls within the horizon.
    fall_time : ndarray, shape (ny, nx)
        Years to the fall; NaN where it does not fall or the run failed.
    status : ndarray of int, shape (ny, nx)
        Solver status of each run: 0 survives, 1 falls, -1 failed.
    separatrix : ndarray, shape (k, 2)
        Points (x, y) on the boundary between the two outcomes, sorted by y then x.
    tolerance : (float, float)
        Bisection tolerance in x (for row crossings) and in y (for column crossings).
    base_state : ndarray, shape (6,)
        The state the slice goes through (the initial state).
    messages : list of str
        Messages of failed runs (empty if none failed).
    """

    x_name: str
    y_name: str
    x: np.ndarray
    y: np.ndarray
    falls: np.ndarray
    fall_time: np.ndarray
    status: np.ndarray
    separatrix: np.ndarray
    tolerance: tuple
    base_state: np.ndarray
    messages: list


def _domain(name: str, params: Parameters) -> tuple[float, float]:
    if name in ("platform_share", "platform_trust", "relational_trust"):
        return 0.0, 1.0
    if name == "incumbent_price":
        return 1e-6, float(params.willingness_to_pay)
    return 1e-9, 1e3  # capacity, buffer (positive; simulate accepts at most 1000)


def _check(params: Parameters, name: str, rng, label: str) -> tuple[float, float]:
    if name not in STATE_NAMES:
        raise ValueError(f"`{label}` must be one of {', '.join(STATE_NAMES)}, got {name!r}")
    try:
        lo, hi = (float(v) for v in rng)
    except (TypeError, ValueError):
        raise ValueError(f"`{label}_range` must be two numbers, got {rng!r}") from None
    d_lo, d_hi = _domain(name, params)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi and d_lo <= lo and hi <= d_hi):
        raise ValueError(f"`{label}_range` for {name!r} must satisfy {d_lo:g} <= low < high <= {d_hi:g}, "
                         f"got {rng!r}")
    return lo, hi


def basin(
    params: Parameters,
    x: str = "platform_share",
    y: str = "platform_trust",
    x_range: tuple[float, float] = (0.0, 1.0),
    y_range: tuple[float, float] = (0.0, 1.0),
    n: int = 21,
    *,
    tol: float = 1e-3,
    method: str = "LSODA",
) -> Basin:
    """Outcome map of a two-dimensional slice of the state and the separatrix in it.

    Parameters
    ----------
    params : Parameters
    x, y : str
        Two different state names (:data:`model.core.equations.STATE_NAMES`).
    x_range, y_range : (float, float)
        Ranges within the state space (shares and trusts in [0, 1], price in (0, W],
        capacity and buffer in (0, 1000]).
    n : int
        Grid points per axis (>= 2).
    tol : float
        Bisection tolerance of the separatrix as a fraction of each range.
    method : str
        ``solve_ivp`` method.

    Returns
    -------
    Basin

    Raises
    ------
    ValueError
        Unknown or equal state names, ranges outside the state space, ``n`` < 2,
        ``tol`` not in (0, 0.5) or an unknown method.
    """
    params = aggregate(params)  # the one-firm sector (model.core.firms.aggregate)
    x_lo, x_hi = _check(params, x, x_range, "x")
    y_lo, y_hi = _check(params, y, y_range, "y")
    if x == y:
        raise ValueError(f"`x` and `y` must be different states, got {x!r} twice")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"`n` must be an integer >= 2, got {n!r}")
    if not (isinstance(tol, (int, float)) and 0 < tol < 0.5):
        raise ValueError(f"`tol` must be in (0, 0.5) (a fraction of each range), got {tol!r}")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)}, got {method!r}")

    base = gen.initial(param_vector(params))
    ix, iy = _S[x], _S[y]
    ends = np.array([0.0, float(params.horizon)])
    messages: list[str] = []

    def run(xv: float, yv: float):
        y0 = base.copy()
        y0[ix], y0[iy] = xv, yv
        r = simulate(params, y0=y0, t_eval=ends, method=method)
        if not r.success:
            messages.append(f"start ({x}={xv:.6g}, {y}={yv:.6g}): {r.message}")
            return -1, np.nan
        return (1, float(r.fall_time)) if r.falls else (0, np.nan)

    xs = np.linspace(x_lo, x_hi, n)
    ys = np.linspace(y_lo, y_hi, n)
    status = np.zeros((n, n), dtype=int)
    fall_time = np.full((n, n), np.nan)
    for j, yv in enumerate(ys):
        for i, xv in enumerate(xs):
            status[j, i], fall_time[j, i] = run(xv, yv)
    falls = status == 1

    tol_x, tol_y = tol * (x_hi - x_lo), tol * (y_hi - y_lo)
    points = []

    def bisect(a: float, b: float, outcome_a: int, width: float, at) -> float | None:
        # outcome at a is outcome_a; at b it is the other one. Returns the midpoint of
        # the final bracket, or None if a run fails on the way.
        while abs(b - a) > width:
            m = 0.5 * (a + b)
            st, _ = at(m)
            if st < 0:
                return None
            if st == outcome_a:
                a = m
            else:
                b = m
        return 0.5 * (a + b)

    for j, yv in enumerate(ys):  # crossings along rows (in x)
        for i in range(n - 1):
            s0, s1 = status[j, i], status[j, i + 1]
            if s0 >= 0 and s1 >= 0 and s0 != s1:
                xc = bisect(xs[i], xs[i + 1], s0, tol_x, lambda v, yv=yv: run(v, yv))
                if xc is not None:
                    points.append((xc, yv))
    for i, xv in enumerate(xs):  # crossings along columns (in y)
        for j in range(n - 1):
            s0, s1 = status[j, i], status[j + 1, i]
            if s0 >= 0 and s1 >= 0 and s0 != s1:
                yc = bisect(ys[j], ys[j + 1], s0, tol_y, lambda v, xv=xv: run(xv, v))
                if yc is not None:
                    points.append((xv, yc))
    separatrix = np.array(sorted(points, key=lambda p: (p[1], p[0])), dtype=float).reshape(-1, 2)
    return Basin(x_name=x, y_name=y, x=xs, y=ys, falls=falls, fall_time=fall_time, status=status,
                 separatrix=separatrix, tolerance=(tol_x, tol_y), base_state=base, messages=messages)
