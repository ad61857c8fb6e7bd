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
      target): the gross loss at which the capped full-cost price no longer covers cost;
    * the long run (``policy="long_run"``): capacity cut to the volume kept, so that only
      the indivisible fixed cost remains, and the debt service paid:
      ``(1 - d) m / (m + ι φ)`` at the start.

Dynamic point of no return (:func:`point_of_no_return`)
    Let F(t*) be "the incumbent falls when all platform acquisition is frozen from time t*
    on", where "falls" is its long-run fate, not its fate within the window a file
    watches: the frozen run is followed :data:`model.core.engine.FATE_YEARS` (200 years)
    past the freeze, and if it is still standing then, the terminal-drift test
    (:func:`model.core.engine.drift_projection`) asks whether its liquidity, at the drift
    it has at the end, runs out within another such window (for a sector of firms: whether
    the firms so projected to fail bring half of its capacity out). The unfrozen run is
    followed 200 years from the start. ``never_tips``: the unfrozen run does not fall;
    ``always_falls``: F(0) is true (the incumbent falls even if the platform never grows
    again: the fall is not the platform's doing); ``tips``: otherwise, and bisection on t*
    in [0, fall time] keeps F(lo) false and F(hi) true until hi - lo <= tol. The point of
    no return is hi; the three readings of the platform's progress (its share of the
    sector's gross, the incumbent's gross loss, its share of volume) are read on the
    unfrozen trajectory at hi (and at lo, for the bracket). F is *assumed* monotone in t*
    (freezing later never saves an incumbent that freezing earlier could not); bisection
    finds one switch of F and does not check the others. The file's horizon plays no part
    (a test moves it from 40 to 200 years in every file); ``window="horizon"`` gives the
    first version's measure, "falls within the horizon", which moved with the horizon
    (newspapers: a 42.6% gross loss at a 20-year horizon, 32% at 200).

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
from ..core.equations import CAP_SHARPNESS, OUTPUT_NAMES, PARAM_NAMES, STATE_NAMES, build, param_vector
from ..core.parameters import Parameters
from ..core.simulate import ENGINE, METHODS, simulate
from .basins import Basin, basin
from .continuation import Continuation, Fold, FoldCurve, continuation, fold_curve
from .equilibria import Equilibrium, equilibria

__all__ = [
    "break_even_loss",
    "break_even_expressions",
    "PointOfNoReturn",
    "PONR_OUTCOMES",
    "point_of_no_return",
    "point_of_no_return_by_engine",
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
_P = {name: i for i, name in enumerate(PARAM_NAMES)}


@cache
def break_even_expressions() -> dict[str, sp.Expr]:
    """Closed forms of the static break-even loss, derived from the model's definitions.

    Returns a dict of gross-loss expressions in the symbols ``G`` (incumbent revenue now),
    ``q`` (its volume now), ``F`` (its fixed cost now), ``p`` (its bill per unit now) and
    ``q_0`` (its initial volume), and the parameters ``variable_cost_share``,
    ``fixed_cost_share``, ``indivisible_cost_share``, ``willingness_to_pay`` and the debt
    service flow ``D``:

    * ``"current_prices"``: prices and capacity held, revenue and variable cost scale
      with the volume kept: ``1 - F / (G - v q)``;
    * ``"repricing"``: capacity held, the bill per unit re-priced to the capped full
      average cost (the ``average_cost`` policy; the ``two_part`` policy without
      multi-homing): the loss at which that price no longer covers cost;
    * ``"long_run"``: prices held, capacity (and the divisible fixed cost) cut to the
      volume kept, so that only the indivisible fixed cost ``ι φ q_0`` remains, and the
      debt service paid: the loss at which profit after debt service reaches zero. At the
      start it is ``(1 - d) m / (m + ι φ)``: without an indivisible cost (the first version
      of the model) it is ``1 - d``, set by the assumed payout alone.
    """
    m = build()
    W = m.symbol("willingness_to_pay")
    L, qb = sp.symbols("L q_b", positive=True)
    G, q, F, p, q0, D = sp.symbols("G q F p q_0 D", positive=True)
    qI = m.auxiliaries["incumbent_volume"][0]
    F_sym = m.auxiliaries["fixed_cost"][0]
    cost_def = m.auxiliaries["incumbent_cost"][1]

    def cost_at(volume, fixed=F):
        return cost_def.xreplace({qI: volume, F_sym: fixed})

    # 1) Prices and capacity held.
    (L_held,) = sp.solve(sp.Eq(G * (1 - L) - cost_at((1 - L) * q), 0), L)

    # 2) Re-pricing: profit(q_b) = p*_AC(q_b) q_b - C(q_b) = 0 with
    #    p*_AC = a mu1 C / (q^n + (mu1 C / W)^n)^(1/n). Dividing by C > 0 and raising to the
    #    n-th power (both sides positive) gives q_b^n ((a mu1)^n - 1) = (mu1 C(q_b) / W)^n,
    #    whose positive n-th root is linear in q_b.
    n = CAP_SHARPNESS
    a = m.auxiliaries["cap_factor"][1]
    mu1 = m.auxiliaries["markup_factor"][1]
    (q_break,) = sp.solve(sp.Eq(qb * ((a * mu1) ** n - 1) ** sp.Rational(1, n), mu1 * cost_at(qb) / W), qb)
    # At zero profit the revenue equals the cost; gross loss against the revenue now.
    L_reprice = 1 - cost_at(q_break) / G

    # 3) Long run: capacity matched to the volume kept, q_L; the fixed cost is then the
    #    model's own fixed-cost definition at K = q_L, with the initial volume q_0.
    F_def = m.auxiliaries["fixed_cost"][1].xreplace({m.auxiliaries["initial_incumbent_volume"][0]: q0})
    qL = sp.Symbol("q_L", positive=True)
    K = m.symbol("capacity")
    (q_long,) = sp.solve(sp.Eq(p * qL - cost_at(qL, F_def.xreplace({K: qL})) - D, 0), qL)
    L_long = 1 - p * q_long / G
    return {"current_prices": sp.simplify(L_held), "repricing": L_reprice, "break_even_volume": q_break,
            "long_run": sp.simplify(L_long)}


#: Arguments of the numeric break-even forms, in order.
BREAK_EVEN_ARGS = ("G", "q", "F", "p", "q_0", "D", "variable_cost_share", "fixed_cost_share",
                   "indivisible_cost_share", "willingness_to_pay")


@cache
def _break_even_functions(modules: str = "math"):
    """Numeric forms of :func:`break_even_expressions` with arguments
    :data:`BREAK_EVEN_ARGS`: ``modules="math"`` for scalars, ``"numpy"`` for arrays."""
    m = build()
    local = {s.name: s for e in break_even_expressions().values() for s in e.free_symbols}
    args = [local.get(name) or m.symbol(name) for name in BREAK_EVEN_ARGS]
    return {k: sp.lambdify(args, e, modules=modules) for k, e in break_even_expressions().items()}


def break_even_arguments(y, out, pvec):
    """Values of :data:`BREAK_EVEN_ARGS` at states ``y`` with outputs ``out`` (one state or
    arrays of them along the first axis) and parameter vectors ``pvec``."""
    y, out, pvec = np.asarray(y), np.asarray(out), np.asarray(pvec)
    revenue = out[..., _O["incumbent_revenue"]]
    volume = out[..., _O["incumbent_volume"]]
    q0 = gen.initial(pvec)[_I["capacity"]] if pvec.ndim == 1 else None
    if q0 is None:
        from ..core.engine import initial_states  # batch form

        q0 = initial_states(pvec)[:, _I["capacity"]]
    return (revenue, volume, out[..., _O["fixed_cost"]], y[..., _I["incumbent_price"]], q0,
            out[..., _O["debt_service_flow"]], pvec[..., _P["variable_cost_share"]],
            pvec[..., _P["fixed_cost_share"]], pvec[..., _P["indivisible_cost_share"]],
            pvec[..., _P["willingness_to_pay"]])


#: Which closed form each price policy's break-even uses.
BREAK_EVEN_FORM = {"average_cost": "repricing", "two_part": "repricing", "fixed": "current_prices",
                   "competitive": "current_prices", "current_prices": "current_prices", "long_run": "long_run"}


def break_even_loss(params: Parameters, state: np.ndarray | None = None, *, policy: str | None = None) -> float:
    """Static break-even loss: share of gross the incumbent can lose before profit hits zero.

    Parameters
    ----------
    params : Parameters
    state : ndarray of shape (7,), optional
        State at which to evaluate (prices, volume and capacity now); default the start.
    policy : {"average_cost", "two_part", "fixed", "competitive", "current_prices", "long_run"}, optional
        Default ``params.price_policy``. ``"fixed"``, ``"competitive"`` and
        ``"current_prices"`` hold prices and capacity at their present level;
        ``"average_cost"`` and ``"two_part"`` re-price to the capped full average cost;
        ``"long_run"`` holds prices, cuts capacity to the volume kept and counts the debt
        service (see :func:`break_even_expressions`).

    Returns
    -------
    float
        Gross loss in [.., 1]; negative if the incumbent already makes a loss.
    """
    policy = policy or params.price_policy
    if policy not in BREAK_EVEN_FORM:
        raise ValueError(f"`policy` must be one of {', '.join(BREAK_EVEN_FORM)}, got {policy!r}")
    pvec = param_vector(params)
    y = gen.initial(pvec) if state is None else np.asarray(state, dtype=float)
    args = break_even_arguments(y, gen.outputs(y, pvec), pvec)
    return float(_break_even_functions()[BREAK_EVEN_FORM[policy]](*(float(a) for a in args)))


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
        unfrozen trajectory at ``time``; ``volume_share`` is its share of the sector's
        volume there (the third reading of "20% of the gross", with ``gross_loss``).
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
        When it falls if acquisition is frozen at ``hi`` (projected where ``by_drift``).
    horizon : float
        The file's horizon (what the user watches; not used by the long-run window).
    window : str
        ``"long_run"`` or ``"horizon"``.
    by_drift : bool
        The fall of the run frozen at ``hi`` is the terminal-drift test's projection.
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
    window: str = "long_run"
    by_drift: bool = False
    volume_share: float | None = None
    volume_share_bracket: tuple | None = None

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
            "window": self.window,
            "by_drift": self.by_drift,
            "volume_share": self.volume_share,
            "volume_share_bracket": pair(self.volume_share_bracket),
        }


def point_of_no_return_by_engine(params: Parameters, *, tol: float = 0.01) -> PointOfNoReturn:
    """:func:`point_of_no_return` (long-run window) of one parameter set on the compiled
    engine (:func:`model.core.engine.point_of_no_return_batch`, the same definition and
    bisection): the same answer to the solvers' tolerance, about twenty times faster than
    bisecting with ``solve_ivp`` (what the dashboard needs after each slider move).

    A failed integration gives ``outcome="failed"`` with the engine's reason.
    """
    from ..core import engine

    pvecs, y0s, _ = engine.pvecs_from_params([params])
    b = engine.point_of_no_return_batch(pvecs, y0s, tol=tol, reorganise=params.insolvency == "reorganisation")
    outcome = engine.PONR_OUTCOMES[int(b.outcome[0])]

    def num(arr):
        return None if arr is None or not np.isfinite(arr[0]) else float(arr[0])

    common = dict(tolerance=float(tol), evaluations=int(b.evaluations[0]), horizon=float(params.horizon),
                  window="long_run", fall_time=num(b.fall_time))
    if outcome == "failed":
        return PointOfNoReturn(outcome="failed", time=None, share=None, gross_loss=None, bracket=None,
                               share_bracket=None, gross_loss_bracket=None, success=False, message=b.reason[0],
                               **common)
    if outcome == "never_tips":
        return PointOfNoReturn(outcome="never_tips", time=None, share=None, gross_loss=None, bracket=None,
                               share_bracket=None, gross_loss_bracket=None, **common,
                               message="the incumbent survives the long-run window")
    lo = 0.0 if outcome == "always_falls" else float(b.lo[0])
    share, loss, volume = num(b.share), num(b.gross_loss), num(b.volume_share)
    lo_of = (lambda hi_value, lo_value: hi_value) if outcome == "always_falls" else (lambda h, l: l)
    return PointOfNoReturn(
        outcome=outcome, time=float(b.time[0]), share=share, gross_loss=loss, volume_share=volume,
        bracket=(lo, float(b.time[0])), share_bracket=(lo_of(share, num(b.share_lo)), share),
        gross_loss_bracket=(lo_of(loss, num(b.gross_loss_lo)), loss),
        volume_share_bracket=(lo_of(volume, num(b.volume_share_lo)), volume),
        frozen_fall_time=num(b.frozen_fall_time), by_drift=bool(b.by_drift[0]) if b.by_drift is not None else False,
        message=f"bracket [{lo:.4g}, {float(b.time[0]):.4g}] yr on the engine", **common)


def _falls_eventually(params: Parameters, result, frozen: bool):
    """(falls, fall time, by drift) of one simulated run under the long-run window: its
    fall inside the window, or the terminal-drift test at its end
    (:func:`model.core.engine.drift_projection`)."""
    from ..core import engine
    from ..core.equations import state_names
    from ..core.sector import generated_module

    if result.falls:
        return True, float(result.fall_time), False
    n = int(params.firm_count)
    y_end = np.array([result[name][-1] for name in state_names(n)])
    if n > 1:
        pv = result.firms.pv_end.copy()
        sizes, exited = result.firms.sizes, result.firms.capacity_exited
    else:
        pv, sizes, exited = param_vector(params), None, 0.0
    if frozen:
        pv[_P["acquisition"]] = 0.0
    fell, runway, _ = engine.drift_projection(generated_module(n), y_end, pv, sizes, exited)
    return fell, (float(result.t[-1]) + runway if fell else None), fell


def point_of_no_return(params: Parameters, *, tol: float = 0.01, method: str = "LSODA",
                       window: str = "long_run") -> PointOfNoReturn:
    """Dynamic point of no return by bisection on the moment acquisition is frozen.

    Parameters
    ----------
    params : Parameters
    tol : float
        Width of the final bracket in years (default 0.01).
    method : str
        ``solve_ivp`` method for every simulation (see :data:`model.core.simulate.METHODS`),
        or for a sector of several firms :data:`model.core.simulate.ENGINE`.
    window : {"long_run", "horizon"}
        ``"long_run"`` (default): "falls" is the long-run fate; the unfrozen run is followed
        :data:`model.core.engine.FATE_YEARS` from the start, each frozen run as long after
        its freeze, with the terminal-drift test at its end; the horizon plays no part.
        ``"horizon"``: falls within ``params.horizon`` (the first version's measure).

    Returns
    -------
    PointOfNoReturn
        A failed solve gives ``outcome="failed"`` with the solver's message, never an
        exception or a silent NaN.

    Raises
    ------
    ValueError
        If ``tol`` is not a positive finite number, ``method`` or ``window`` is unknown.

    Notes
    -----
    F(t*) is assumed monotone in t* (see the module docstring). Each evaluation is one
    simulation (about 5-10 ms), so a point of no return costs about 2 + log2(fall time /
    tol) + 1 runs. :func:`model.core.engine.point_of_no_return_batch` computes the same
    for many parameter sets at once, on the compiled engine.
    """
    from ..core.engine import FATE_YEARS, PONR_WINDOWS

    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating, np.integer)) \
            or not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"`tol` must be a positive finite number of years, got {tol!r}")
    allowed = METHODS + ((ENGINE,) if params.firm_count > 1 else ())
    if method not in allowed:
        raise ValueError(f"`method` must be one of {', '.join(allowed)}, got {method!r}")
    if window not in PONR_WINDOWS:
        raise ValueError(f"`window` must be one of {', '.join(map(repr, PONR_WINDOWS))}, got {window!r}")
    long_run = window == "long_run"
    horizon = float(params.horizon)
    watched = FATE_YEARS if long_run else horizon
    evaluations = 0

    def failed(result, what):
        return PointOfNoReturn(outcome="failed", time=None, share=None, gross_loss=None, bracket=None,
                               share_bracket=None, gross_loss_bracket=None, tolerance=float(tol),
                               evaluations=evaluations, horizon=horizon, success=False,
                               message=f"{what}: {result.message}", window=window)

    free = simulate(params, t_eval=np.array([0.0, watched]), method=method, t_end=watched)
    evaluations += 1
    if not free.success:
        return failed(free, "unfrozen run")
    span = (f"the {FATE_YEARS:g}-year long-run window" if long_run else f"the {horizon:g}-year horizon")
    if not free.falls:
        return PointOfNoReturn(outcome="never_tips", time=None, share=None, gross_loss=None, bracket=None,
                               share_bracket=None, gross_loss_bracket=None, tolerance=float(tol),
                               evaluations=evaluations, horizon=horizon, window=window,
                               message=f"the incumbent survives {span}")
    fall_time = float(free.fall_time)

    def falls_if_frozen_at(t_star):
        """(result, falls, fall time, by drift) with acquisition frozen from t_star."""
        nonlocal evaluations
        end = t_star + FATE_YEARS if long_run else horizon
        # t* itself is an output time: simulate needs one in the frozen phase if the
        # run falls before the end (solve_ivp returns no array when no t_eval point is
        # reached).
        t_eval = np.array([0.0, end]) if t_star <= 0.0 else np.array([0.0, t_star, end])
        r = simulate(params, t_eval=t_eval, method=method, freeze_acquisition_at=t_star, t_end=end)
        evaluations += 1
        if not r.success:
            return r, False, None, False
        if not long_run:
            return r, r.falls, r.fall_time, False
        return (r, *_falls_eventually(params, r, True))

    first, f0, when0, drift0 = falls_if_frozen_at(0.0)
    if not first.success:
        return failed(first, "run frozen at t = 0")
    if f0:
        share0 = float(free["platform_share_of_gross"][0])
        loss0 = float(free["incumbent_gross_loss"][0])
        volume0 = float(free["platform_volume"][0] / free["market_size"][0])
        return PointOfNoReturn(outcome="always_falls", time=0.0, share=share0, gross_loss=loss0,
                               volume_share=volume0, volume_share_bracket=(volume0, volume0),
                               bracket=(0.0, 0.0), share_bracket=(share0, share0),
                               gross_loss_bracket=(loss0, loss0), tolerance=float(tol),
                               evaluations=evaluations, fall_time=fall_time,
                               frozen_fall_time=float(when0), horizon=horizon, window=window, by_drift=drift0,
                               message="the incumbent falls even if the platform never acquires "
                                       f"anyone after t = 0 (at t = {when0:.4g} yr"
                                       + (", projected from its terminal drift)" if drift0 else ")"))

    # F(lo) false, F(hi) true; F(fall_time) is true by construction (freezing at the
    # moment of the fall changes nothing before it).
    lo, hi, frozen_fall_time, by_drift = 0.0, fall_time, fall_time, False
    float_limited = False
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:
            # lo and hi are adjacent floats: a tol below their spacing can never be met,
            # and without this stop the loop would re-evaluate the same end forever.
            float_limited = True
            break
        r, falls, when, drift = falls_if_frozen_at(mid)
        if not r.success:
            return failed(r, f"run frozen at t = {mid:.6g}")
        if falls:
            hi, frozen_fall_time, by_drift = mid, float(when), drift
        else:
            lo = mid

    # Read the share and the gross loss at lo and hi on the unfrozen trajectory.
    times = np.unique([lo, hi])
    read = simulate(params, t_eval=times, method=method, t_end=watched)
    evaluations += 1
    if not read.success:
        return failed(read, "read-out run")

    def at(name, t):
        # hi can be the fall time itself, where the run ends on the event's own point.
        k = int(np.argmin(np.abs(read.t - t)))
        return float(read[name][k])

    def volume_share(t):
        return at("platform_volume", t) / at("market_size", t)

    share_b = (at("platform_share_of_gross", lo), at("platform_share_of_gross", hi))
    loss_b = (at("incumbent_gross_loss", lo), at("incumbent_gross_loss", hi))
    volume_b = (volume_share(lo), volume_share(hi))
    return PointOfNoReturn(outcome="tips", time=float(hi), share=share_b[1], gross_loss=loss_b[1],
                           bracket=(float(lo), float(hi)), share_bracket=share_b, gross_loss_bracket=loss_b,
                           tolerance=float(tol), evaluations=evaluations, fall_time=fall_time,
                           frozen_fall_time=frozen_fall_time, horizon=horizon, window=window, by_drift=by_drift,
                           volume_share=volume_b[1], volume_share_bracket=volume_b,
                           message=f"freezing acquisition at t = {lo:.4g} yr the incumbent survives "
                                   f"{'in the long run' if long_run else 'the horizon'}; at t = {hi:.4g} yr it "
                                   f"falls (at t = {frozen_fall_time:.4g} yr"
                                   + (", projected from its terminal drift)" if by_drift else ")")
                                   + (f"; the bracket is as narrow as floats allow ({hi - lo:.3g} yr), "
                                      f"wider than tol = {tol:g}" if float_limited else ""))
