"""Tipping-point measures.

Static break-even loss
    The share of its gross an incumbent can lose before its operating profit reaches
    zero, with its capacity (and so its fixed cost) as it is now. Two closed forms,
    derived here with sympy from the model's own cost and price definitions:

    * at the prices it charges now (the ``fixed`` policy, and the textbook measure):
      ``L = 1 - F / ((p - v) q)``; at the start ``L = m / (m + φ)`` with margin
      ``m = 1 - φ - v``;
    * re-pricing to full average cost capped by the willingness to pay (the
      ``average_cost`` and ``two_part`` policies, whose bill per unit follows the same
      target): the gross loss at which the capped full-cost price no longer covers cost.

Dynamic point of no return (:func:`point_of_no_return`)
    Let F(t*) be "the incumbent falls within the horizon when all platform acquisition is
    frozen from time t* on". ``never_tips``: the unfrozen run does not fall;
    ``always_falls``: F(0) is true; ``tips``: otherwise, and bisection on t* in
    [0, fall time] keeps F(lo) false and F(hi) true until hi - lo <= tol. The point of no
    return is hi; the platform's share of the sector's gross and the incumbent's gross
    loss are read on the unfrozen trajectory at hi (and at lo, for the bracket). F is
    *assumed* monotone in t* (freezing later never saves an incumbent that freezing
    earlier could not); bisection finds one switch of F and does not check the others.
    Note that "falls" means within the horizon: when the frozen run at hi falls only just
    before the horizon (:attr:`PointOfNoReturn.frozen_fall_time`), a longer horizon
    moves the point of no return earlier.

Equilibria, continuation, fold curves and basins
    Live in :mod:`model.analysis.equilibria`, :mod:`model.analysis.continuation` and :mod:`model.analysis.basins`
    and are re-exported here: :func:`equilibria`, :func:`continuation`,
    :func:`fold_curve`, :func:`basin`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from ..core import _generated as gen
from ..core.equations import CAP_SHARPNESS, OUTPUT_NAMES, STATE_NAMES, build, param_vector
from ..core.parameters import Parameters
from ..core.simulate import METHODS, simulate
from .basins import Basin, basin
from .continuation import Continuation, Fold, FoldCurve, continuation, fold_curve
from .equilibria import Equilibrium, equilibria

__all__ = [
    "break_even_loss",
    "break_even_expressions",
    "PointOfNoReturn",
    "PONR_OUTCOMES",
    "point_of_no_return",
    "Equilibrium",
    "equilibria",
    "Continuation",
    "Fold",
    "continuation",
    "FoldCurve",
    "fold_curve",
    "Basin",
    "basin",
]

_I = {name: i for i, name in enumerate(STATE_NAMES)}
_O = {name: i for i, name in enumerate(OUTPUT_NAMES)}


@cache
def break_even_expressions() -> dict[str, sp.Expr]:
    """Closed forms of the static break-even loss, derived from the model's definitions.

    Returns a dict with ``"current_prices"`` and ``"repricing"``: gross-loss expressions in
    the symbols ``p`` (bill per unit now), ``q`` (incumbent volume now), ``K`` (capacity),
    and the parameters ``variable_cost_share``, ``fixed_cost_share``, ``willingness_to_pay``.
    """
    m = build()
    p, q, K = m.symbol("incumbent_price"), m.symbol("incumbent_volume"), m.symbol("capacity")
    v, phi, W = m.symbol("variable_cost_share"), m.symbol("fixed_cost_share"), m.symbol("willingness_to_pay")
    L, qb = sp.symbols("L q_b", positive=True)
    cost_sym, cost_def = m.auxiliaries["incumbent_cost"]
    profit_sym, profit_def = m.auxiliaries["operating_profit"]
    revenue_def = m.auxiliaries["incumbent_revenue"][1]
    qI = m.auxiliaries["incumbent_volume"][0]

    def cost_at(volume):
        return cost_def.xreplace({qI: volume})

    # 1) Prices held: revenue and variable cost scale with the volume kept, (1 - L) q.
    profit_held = (revenue_def.xreplace({qI: (1 - L) * q}) - cost_at((1 - L) * q))
    (L_held,) = sp.solve(sp.Eq(profit_held, 0), L)

    # 2) Re-pricing: profit(q_b) = p*_AC(q_b) q_b - C(q_b) = 0 with
    #    p*_AC = a mu1 C / (q^n + (mu1 C / W)^n)^(1/n). Dividing by C > 0 and raising to the
    #    n-th power (both sides positive) gives q_b^n ((a mu1)^n - 1) = (mu1 C(q_b) / W)^n,
    #    whose positive n-th root is linear in q_b.
    n = CAP_SHARPNESS
    a = m.auxiliaries["cap_factor"][1]
    mu1 = m.auxiliaries["markup_factor"][1]
    lhs = qb * ((a * mu1) ** n - 1) ** sp.Rational(1, n)
    rhs = mu1 * cost_at(qb) / W
    (q_break,) = sp.solve(sp.Eq(lhs, rhs), qb)
    # At zero profit the revenue equals the cost; gross loss against the revenue now.
    L_reprice = 1 - cost_at(q_break) / (p * q)
    del profit_sym, profit_def, cost_sym
    return {"current_prices": sp.simplify(L_held), "repricing": L_reprice, "break_even_volume": q_break}


@cache
def _break_even_functions(modules: str = "math"):
    """Numeric forms of :func:`break_even_expressions`, with arguments (p, q, K, v, phi, W):
    ``modules="math"`` for scalars, ``"numpy"`` for arrays (the sweeps)."""
    m = build()
    args = [m.symbol("incumbent_price"), m.symbol("incumbent_volume"), m.symbol("capacity"),
            m.symbol("variable_cost_share"), m.symbol("fixed_cost_share"), m.symbol("willingness_to_pay")]
    exprs = break_even_expressions()
    return {k: sp.lambdify(args, e, modules=modules) for k, e in exprs.items()}


def break_even_loss(params: Parameters, state: np.ndarray | None = None, *, policy: str | None = None) -> float:
    """Static break-even loss: share of gross the incumbent can lose before profit hits zero.

    Parameters
    ----------
    params : Parameters
    state : ndarray of shape (6,), optional
        State at which to evaluate (prices, volume and capacity now); default the start.
    policy : {"average_cost", "two_part", "fixed", "current_prices"}, optional
        Default ``params.price_policy``. ``"fixed"`` and ``"current_prices"`` hold prices
        at their present level; the other two re-price to the capped full average cost.

    Returns
    -------
    float
        Gross loss in [.., 1]; negative if the incumbent already makes a loss.
    """
    policy = policy or params.price_policy
    allowed = ("average_cost", "two_part", "fixed", "current_prices")
    if policy not in allowed:
        raise ValueError(f"`policy` must be one of {', '.join(allowed)}, got {policy!r}")
    pvec = param_vector(params)
    y = gen.initial(pvec) if state is None else np.asarray(state, dtype=float)
    out = gen.outputs(y, pvec)
    args = (y[_I["incumbent_price"]], out[_O["incumbent_volume"]], y[_I["capacity"]],
            params.variable_cost_share, params.fixed_cost_share, params.willingness_to_pay)
    key = "current_prices" if policy in ("fixed", "current_prices") else "repricing"
    return float(_break_even_functions()[key](*args))


# --- dynamic point of no return ---------------------------------------------------------------

#: Outcomes of :func:`point_of_no_return`; "failed" only when a solve fails.
PONR_OUTCOMES = ("tips", "never_tips", "always_falls", "failed")


@dataclass(frozen=True)
class PointOfNoReturn:
    """The moment after which the incumbent falls even if the platform stops acquiring.

    Attributes
    ----------
    outcome : str
        ``"tips"``, ``"never_tips"``, ``"always_falls"`` or (only if a solve failed)
        ``"failed"``.
    time : float or None
        Point of no return in years (``hi`` of the bracket); 0 for ``always_falls``; None
        for ``never_tips`` and ``failed``.
    share : float or None
        Platform share of the sector's gross (output ``platform_share_of_gross``) on the
        unfrozen trajectory at ``time``.
    gross_loss : float or None
        Incumbent's gross loss against its starting gross (``incumbent_gross_loss``) at
        ``time``.
    bracket : (float, float) or None
        (lo, hi): freezing at lo the incumbent survives the horizon, at hi it falls.
    share_bracket, gross_loss_bracket : (float, float) or None
        The share and the gross loss at lo and at hi.
    tolerance : float
        Bisection stops when hi - lo <= tolerance (years).
    evaluations : int
        Simulations run (the unfrozen run, F(0), the bisection and the read-out run).
    fall_time : float or None
        When the incumbent falls without any freeze.
    frozen_fall_time : float or None
        When it falls if acquisition is frozen at ``hi``.
    horizon : float
    success : bool
    message : str
    """

    outcome: str
    time: float | None
    share: float | None
    gross_loss: float | None
    bracket: tuple | None
    share_bracket: tuple | None
    gross_loss_bracket: tuple | None
    tolerance: float
    evaluations: int
    fall_time: float | None = None
    frozen_fall_time: float | None = None
    horizon: float | None = None
    success: bool = True
    message: str = ""

    def as_dict(self) -> dict:
        def pair(x):
            return None if x is None else [float(x[0]), float(x[1])]

        return {
            "outcome": self.outcome,
            "time": self.time,
            "share": self.share,
            "gross_loss": self.gross_loss,
            "bracket": pair(self.bracket),
            "share_bracket": pair(self.share_bracket),
            "gross_loss_bracket": pair(self.gross_loss_bracket),
            "tolerance": self.tolerance,
            "evaluations": self.evaluations,
            "fall_time": self.fall_time,
            "frozen_fall_time": self.frozen_fall_time,
            "horizon": self.horizon,
            "success": self.success,
            "message": self.message,
        }


def point_of_no_return(params: Parameters, *, tol: float = 0.01, method: str = "LSODA") -> PointOfNoReturn:
    """Dynamic point of no return by bisection on the moment acquisition is frozen.

    Parameters
    ----------
    params : Parameters
    tol : float
        Width of the final bracket in years (default 0.01).
    method : str
        ``solve_ivp`` method for every simulation (see :data:`model.core.simulate.METHODS`).

    Returns
    -------
    PointOfNoReturn
        A failed solve gives ``outcome="failed"`` with the solver's message, never an
        exception or a silent NaN.

    Raises
    ------
    ValueError
        If ``tol`` is not a positive finite number or ``method`` is unknown.

    Notes
    -----
    F(t*) is assumed monotone in t* (see the module docstring). Each evaluation is one
    simulation (about 5-10 ms), so a point of no return costs about 2 + log2(fall time /
    tol) + 1 runs.
    """
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating, np.integer)) \
            or not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"`tol` must be a positive finite number of years, got {tol!r}")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)}, got {method!r}")
    horizon = float(params.horizon)
    ends = np.array([0.0, horizon])  # only the fall matters: no output grid to fill
    evaluations = 0

    def failed(result, what):
        return PointOfNoReturn(outcome="failed", time=None, share=None, gross_loss=None, bracket=None,
                               share_bracket=None, gross_loss_bracket=None, tolerance=float(tol),
                               evaluations=evaluations, horizon=horizon, success=False,
                               message=f"{what}: {result.message}")

    free = simulate(params, t_eval=ends, method=method)
    evaluations += 1
    if not free.success:
        return failed(free, "unfrozen run")
    if not free.falls:
        return PointOfNoReturn(outcome="never_tips", time=None, share=None, gross_loss=None, bracket=None,
                               share_bracket=None, gross_loss_bracket=None, tolerance=float(tol),
                               evaluations=evaluations, horizon=horizon,
                               message=f"the incumbent survives the {horizon:g}-year horizon")
    fall_time = float(free.fall_time)

    def falls_if_frozen_at(t_star):
        nonlocal evaluations
        # t* itself is an output time: simulate needs one in the frozen phase if the
        # run falls before the horizon (solve_ivp returns no array when no t_eval
        # point is reached).
        t_eval = ends if t_star <= 0.0 else np.array([0.0, t_star, horizon])
        r = simulate(params, t_eval=t_eval, method=method, freeze_acquisition_at=t_star)
        evaluations += 1
        return r

    first = falls_if_frozen_at(0.0)
    if not first.success:
        return failed(first, "run frozen at t = 0")
    if first.falls:
        share0 = float(free["platform_share_of_gross"][0])
        loss0 = float(free["incumbent_gross_loss"][0])
        return PointOfNoReturn(outcome="always_falls", time=0.0, share=share0, gross_loss=loss0,
                               bracket=(0.0, 0.0), share_bracket=(share0, share0),
                               gross_loss_bracket=(loss0, loss0), tolerance=float(tol),
                               evaluations=evaluations, fall_time=fall_time,
                               frozen_fall_time=float(first.fall_time), horizon=horizon,
                               message="the incumbent falls even if the platform never acquires "
                                       "anyone after t = 0")

    # F(lo) false, F(hi) true; F(fall_time) is true by construction (freezing at the
    # moment of the fall changes nothing before it).
    lo, hi, frozen_fall_time = 0.0, fall_time, fall_time
    float_limited = False
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:
            # lo and hi are adjacent floats: a tol below their spacing can never be met,
            # and without this stop the loop would re-evaluate the same end forever.
            float_limited = True
            break
        r = falls_if_frozen_at(mid)
        if not r.success:
            return failed(r, f"run frozen at t = {mid:.6g}")
        if r.falls:
            hi, frozen_fall_time = mid, float(r.fall_time)
        else:
            lo = mid

    # Read the share and the gross loss at lo and hi on the unfrozen trajectory.
    times = np.unique([lo, hi])
    read = simulate(params, t_eval=times, method=method)
    evaluations += 1
    if not read.success:
        return failed(read, "read-out run")

    def at(name, t):
        # hi can be the fall time itself, where the run ends on the event's own point.
        k = int(np.argmin(np.abs(read.t - t)))
        return float(read[name][k])

    share_b = (at("platform_share_of_gross", lo), at("platform_share_of_gross", hi))
    loss_b = (at("incumbent_gross_loss", lo), at("incumbent_gross_loss", hi))
    return PointOfNoReturn(outcome="tips", time=float(hi), share=share_b[1], gross_loss=loss_b[1],
                           bracket=(float(lo), float(hi)), share_bracket=share_b, gross_loss_bracket=loss_b,
                           tolerance=float(tol), evaluations=evaluations, fall_time=fall_time,
                           frozen_fall_time=frozen_fall_time, horizon=horizon,
                           message=f"freezing acquisition at t = {lo:.4g} yr the incumbent survives the "
                                   f"horizon; at t = {hi:.4g} yr it falls (at t = {frozen_fall_time:.4g} yr)"
                                   + (f"; the bracket is as narrow as floats allow ({hi - lo:.3g} yr), "
                                      f"wider than tol = {tol:g}" if float_limited else ""))
