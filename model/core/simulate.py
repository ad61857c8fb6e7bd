"""Simulation: the only caller of the ODE solver.

:func:`simulate` integrates the model with :func:`scipy.integrate.solve_ivp` using the
generated, compiled right-hand side and analytic Jacobian, stops at the "incumbent
falls" event (buffer reaches zero; see :mod:`model.core.equations`) and returns a
:class:`SimulationResult` with the state and the derived series. A failed solve is
reported in the result (``success``, ``status``, ``message``), never as a silent NaN;
``raise_on_failure=True`` turns it into a :class:`SimulationError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.integrate import solve_ivp

from . import _generated as gen
from .equations import BUFFER_INDEX, OUTPUT_NAMES, STATE_NAMES, param_vector
from .parameters import Parameters

__all__ = ["simulate", "SimulationResult", "SimulationError", "SERIES_NAMES", "METHODS", "ENGINE", "GRAZE"]

#: A survival whose liquidity comes this close to zero (relative to its largest magnitude
#: in the run) is solved again at tighter tolerances (``simulate(check=True)``).
GRAZE = 0.01

#: Methods of solve_ivp accepted by :func:`simulate`. LSODA (default) switches between a
#: non-stiff and a stiff method by itself, which a sweep over sharp switching needs.
METHODS = ("LSODA", "Radau", "BDF", "RK45", "DOP853", "RK23")
#: A sector of several firms can also run on the compiled ensemble engine (DOPRI5/Rodas4,
#: the same exits): the dashboard's path, several times faster than solve_ivp.
ENGINE = "engine"

#: Every series a result carries, state first, then derived outputs, then the measures
#: relative to the start.
SERIES_NAMES = STATE_NAMES + OUTPUT_NAMES + ("incumbent_gross_loss",)

_SHARE, _PRICE, _VOLUME, _GROSS, _FLOW = ("1", "initial price", "initial volume/yr", "initial annual gross",
                                          "initial annual gross/yr")
#: Unit of the time column and of every series (the model's units: prices relative to the
#: incumbent's at the start, volumes to its starting volume, money to its starting gross).
SERIES_UNITS: dict[str, str] = {
    "t": "yr", "platform_share": _SHARE, "platform_trust": _SHARE, "relational_trust": _SHARE,
    "incumbent_price": _PRICE, "capacity": _VOLUME, "buffer": _GROSS, "customers": "initial customers",
    "market_size": _VOLUME, "incumbent_volume": _VOLUME, "platform_volume": _VOLUME, "marginal_price": _PRICE,
    "target_price": _PRICE, "incumbent_revenue": _FLOW, "incumbent_cost": _FLOW, "operating_profit": _FLOW,
    "platform_gross": _FLOW, "platform_share_of_gross": _SHARE, "platform_profit": _FLOW,
    "platform_network_value": _PRICE, "relative_value": _PRICE, "adoption": "share of customers/yr",
    "churn": "share of customers/yr", "fixed_cost": _FLOW, "debt_service_flow": _FLOW, "credit_interest": _FLOW,
    "restructuring": _FLOW, "dividends": _FLOW, "excess_cash_payout": _FLOW, "cash": _GROSS,
    "incumbent_gross_loss": _SHARE,
}


class SimulationError(RuntimeError):
    """Raised by ``simulate(..., raise_on_failure=True)`` when the solver fails."""


@dataclass(frozen=True)
class SimulationResult:
    """The outcome of one run.

    Attributes
    ----------
    params : Parameters
    t : ndarray, shape (n,)
        Output times in years. If the incumbent falls, they stop at the fall time, which
        is the last entry.
    series : dict[str, ndarray of shape (n,)]
        State variables, derived outputs and ``incumbent_gross_loss`` (1 - revenue /
        initial revenue), keyed by :data:`SERIES_NAMES`.
    success, status, message :
        As ``solve_ivp`` reports them, with failures of our own checks (non-finite
        state) reported the same way (status -1).
    falls : bool
        Whether the incumbent's liquidity (cash and credit) ran out within the horizon.
    fall_time : float or None
        The first insolvency.
    nfev, njev : int
        Right-hand-side and Jacobian evaluations.
    insolvencies : tuple of float
        Times at which liquidity ran out: one under liquidation (the run ends there); under
        reorganisation the run goes on after the first, and a second liquidates.
    rechecked : bool
        The run grazed a fall and was solved again at tighter tolerances (see ``check``).
    firms : SectorFirms or None
        A sector of several firms (``firm_count`` > 1): each firm's fate and the exit curve.
        Then ``falls`` and ``fall_time`` are the sector's: half of its initial incumbent
        capacity has exited (:data:`model.core.firms.SECTOR_FALL_CAPACITY`).
    """

    params: Parameters
    t: np.ndarray
    series: dict = field(repr=False)
    success: bool
    status: int
    message: str
    falls: bool
    fall_time: float | None
    nfev: int
    njev: int
    insolvencies: tuple = ()
    rechecked: bool = False
    firms: "SectorFirms | None" = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.series[name]

    def at_fall(self, name: str) -> float | None:
        """Value of series ``name`` at the moment the incumbent falls (None if it does not);
        under reorganisation, at its first insolvency."""
        if not self.falls:
            return None
        # The fall is an output point: the last one, or (reorganised) the first at its time.
        i = int(np.flatnonzero(self.t == self.fall_time)[0])
        return float(self.series[name][i])

    @property
    def share_at_fall(self) -> float | None:
        """Platform share of the sector's gross when the incumbent falls."""
        return self.at_fall("platform_share_of_gross")

    @property
    def gross_loss_at_fall(self) -> float | None:
        """Incumbent's gross loss against its starting gross when it falls."""
        return self.at_fall("incumbent_gross_loss")

    def final(self, name: str) -> float:
        return float(self.series[name][-1])

    def columns(self) -> dict[str, np.ndarray]:
        """Time and every series, for a table."""
        return {"t": self.t, **self.series}


def _series(ts: list, ys: list, pvs: list, revenue0: float) -> dict:
    y = np.concatenate(ys, axis=1)
    out = np.empty((len(OUTPUT_NAMES), y.shape[1]))
    buf = np.empty(len(OUTPUT_NAMES))
    k = 0
    for y_part, pv in zip(ys, pvs):  # each phase's outputs with the parameters then in force
        for j in range(y_part.shape[1]):
            out[:, k] = gen.outputs_into(y_part[:, j], pv, buf)
            k += 1
    series = {name: y[i] for i, name in enumerate(STATE_NAMES)}
    series.update({name: out[i] for i, name in enumerate(OUTPUT_NAMES)})
    series["incumbent_gross_loss"] = 1.0 - series["incumbent_revenue"] / revenue0
    return series


class _BudgetExceeded(Exception):
    pass


class _Budget:
    """Counts right-hand-side evaluations and stops the solver when the budget is spent."""

    def __init__(self, remaining: int):
        self.remaining = remaining
        self.calls = 0
        self.t_last = float("nan")

    def rhs(self, t, y, pv):
        self.t_last = t
        self.calls += 1
        self.remaining -= 1
        if self.remaining < 0:
            raise _BudgetExceeded
        return gen.rhs(y, pv)


_CAPACITY = STATE_NAMES.index("capacity")
_VOLUME = OUTPUT_NAMES.index("incumbent_volume")


def _initial_volume(pvec: np.ndarray) -> float:
    return float(gen.initial(pvec)[_CAPACITY])


def _check_domain(y0: np.ndarray, params: Parameters) -> None:
    """Reject initial states outside the region the model is defined on."""
    for i in range(3):
        if not 0.0 <= y0[i] <= 1.0:
            raise ValueError(f"`y0[{i}]` ({STATE_NAMES[i]}) must be in [0, 1], got {float(y0[i])!r}")
    if not 0.0 < y0[3] <= 10.0 * params.willingness_to_pay:
        raise ValueError(f"`y0[3]` (incumbent_price) must be in (0, {10 * params.willingness_to_pay:g}], "
                         f"got {float(y0[3])!r}")
    if not 0.0 < y0[4] <= 1e3:
        raise ValueError(f"`y0[4]` (capacity) must be in (0, 1000], got {float(y0[4])!r}")
    if not -1e3 <= y0[5] <= 1e3:
        raise ValueError(f"`y0[5]` (buffer) must be in [-1000, 1000], got {float(y0[5])!r}")
    if not 0.0 < y0[6] <= 1e3:
        raise ValueError(f"`y0[6]` (customers) must be in (0, 1000], got {float(y0[6])!r}")


def _buffer_event(t, y, *args):
    return y[BUFFER_INDEX]


_buffer_event.terminal = True
_buffer_event.direction = -1


def simulate(
    params: Parameters,
    *,
    t_eval: np.ndarray | None = None,
    n_points: int = 401,
    method: str = "LSODA",
    rtol: float = 1e-6,
    atol: float = 1e-9,
    y0: np.ndarray | None = None,
    freeze_acquisition_at: float | None = None,
    max_evaluations: int = 200_000,
    raise_on_failure: bool = False,
    check: bool = True,
    t_end: float | None = None,
) -> SimulationResult:
    """Integrate one sector from t = 0 to ``params.horizon`` (or ``t_end``).

    Parameters
    ----------
    params : Parameters
    t_eval : array_like, optional
        Output times in [0, horizon], increasing. Default: ``n_points`` evenly spaced.
    method : str
        One of :data:`METHODS`; for several firms also :data:`ENGINE`.
    rtol, atol : float
        Solver tolerances.
    y0 : array_like of shape (7,), optional
        Initial state; default the model's initial state for ``params``.
    freeze_acquisition_at : float, optional
        From this time on the platform acquires no new customers (hard and soft adoption
        off); churn and trust dynamics go on. Used for the point of no return.
    max_evaluations : int
        Budget of right-hand-side evaluations; a run that needs more is stopped and
        reported as failed (so that a pathological parameter set cannot hang a dashboard
        or a sweep).
    raise_on_failure : bool
        Raise :class:`SimulationError` instead of returning a failed result.
    t_end : float, optional
        End of the run instead of the horizon (the point of no return follows runs to
        their long-run fate, past any horizon a file watches).
    check : bool
        Cross-check a survival that grazes a fall (default True): the fall event is seen
        only where the liquidity changes sign between two solver steps, so a run whose
        liquidity comes within :data:`GRAZE` of zero (relative to its scale) is solved again
        at a hundredth of the tolerances, and that answer is returned (``rechecked``).

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValueError
        For an unknown method, bad tolerances, output times outside [0, horizon] or an
        initial state outside the model's domain.
    """
    if method == ENGINE and params.firm_count == 1:
        raise ValueError(f"`method` {ENGINE!r} runs sectors of several firms (firm_count > 1); for one firm use one "
                         f"of {', '.join(METHODS)}")
    if method not in METHODS + (ENGINE,):
        raise ValueError(f"`method` must be one of {', '.join(METHODS + (ENGINE,))}, got {method!r}")
    if not (np.isfinite(rtol) and np.isfinite(atol) and rtol > 0 and atol > 0):
        raise ValueError(f"`rtol` and `atol` must be positive and finite, got {rtol!r}, {atol!r}")
    if t_end is not None and not (isinstance(t_end, (int, float, np.floating, np.integer))
                                  and not isinstance(t_end, bool) and np.isfinite(t_end) and t_end > 0):
        raise ValueError(f"`t_end` must be a positive finite number of years, got {t_end!r}")
    horizon = float(params.horizon if t_end is None else t_end)
    if t_eval is None:
        t_eval = np.linspace(0.0, horizon, n_points)
    t_eval = np.asarray(t_eval, dtype=float)
    if t_eval.ndim != 1 or t_eval.size == 0 or not np.all(np.isfinite(t_eval)):
        raise ValueError("`t_eval` must be a non-empty 1-D array of finite times")
    if t_eval[0] < 0 or t_eval[-1] > horizon or np.any(np.diff(t_eval) <= 0):
        raise ValueError(f"`t_eval` must be increasing within [0, {horizon:g}] (the horizon)")

    if params.firm_count > 1:
        from .sector import simulate_firms  # several incumbents: exits one by one

        if y0 is not None:
            raise ValueError(f"`y0`: a sector of {params.firm_count} firms starts from its firms' initial state; "
                             "`y0` is for one-firm sectors")

        if method == ENGINE:
            from .sector import simulate_firms_engine

            return simulate_firms_engine(params, t_eval=t_eval, rtol=rtol, atol=atol,
                                         freeze_acquisition_at=freeze_acquisition_at,
                                         max_evaluations=max_evaluations, raise_on_failure=raise_on_failure,
                                         t_end=horizon)
        return simulate_firms(params, t_eval=t_eval, method=method, rtol=rtol, atol=atol,
                              freeze_acquisition_at=freeze_acquisition_at, max_evaluations=max_evaluations,
                              raise_on_failure=raise_on_failure, t_end=horizon)
    pvec = param_vector(params)
    if y0 is None:
        y0 = gen.initial(pvec)
    y0 = np.asarray(y0, dtype=float)
    if y0.shape != (len(STATE_NAMES),) or not np.all(np.isfinite(y0)):
        raise ValueError(f"`y0` must be {len(STATE_NAMES)} finite numbers, got {y0!r}")
    _check_domain(y0, params)
    revenue0 = float(gen.outputs(gen.initial(pvec), pvec)[OUTPUT_NAMES.index("incumbent_revenue")])
    freeze = None
    if freeze_acquisition_at is not None and 0.0 <= freeze_acquisition_at < horizon:
        freeze = float(freeze_acquisition_at)
    reorganise = params.insolvency == "reorganisation"

    def pvec_at(t_start, debt_factor):
        # Parameters in force from t_start: acquisition off after the freeze; the debt
        # service written down after a reorganisation.
        frozen = freeze is not None and t_start >= freeze
        return param_vector(params.replace(debt_service=params.debt_service * debt_factor) if debt_factor != 1.0
                            else params, acquisition=0.0 if frozen else 1.0)

    ts, ys, pvs = [], [], []  # per phase: times, states, parameter vector in force
    status, message, nfev, njev = 0, "The solver reached the end of the horizon.", 0, 0
    insolvencies: list[float] = []
    y_start, t0, debt_factor = y0, 0.0, 1.0
    implicit = method in ("LSODA", "Radau", "BDF")
    while True:
        # A phase runs to the freeze (if still ahead) or to the horizon; an insolvency
        # under reorganisation starts a new phase from the moment it happens.
        t1 = freeze if freeze is not None and t0 < freeze else horizon
        pv = pvec_at(t0, debt_factor)
        last = t1 >= horizon
        mask = (t_eval >= t0) & ((t_eval <= t1) if last else (t_eval < t1))
        # A phase that hands over to the next also reports its end state.
        t_phase = t_eval[mask] if last else np.append(t_eval[mask], t1)
        budget = _Budget(max_evaluations - nfev)
        try:
            extra = {"jac": lambda t, y, pv=pv: gen.jac(y, pv)} if implicit else {}
            sol = solve_ivp(
                lambda t, y, pv=pv: budget.rhs(t, y, pv), (t0, t1), y_start, method=method,
                t_eval=t_phase if t_phase.size else None, rtol=rtol, atol=atol,
                events=_buffer_event, **extra,
            )
        except (ValueError, ArithmeticError) as e:
            # Raised inside the solver by a state or Jacobian gone non-finite (BDF and Radau
            # factorise the Jacobian with check_finite: "array must not contain infs or
            # NaNs"). Every argument was validated above, so this is a solver failure, to be
            # reported as one, never passed on as if the input were bad.
            nfev += budget.calls
            status = -1
            message = (f"solver failed near t = {budget.t_last:.4g}: {method} raised {type(e).__name__}: {e} "
                       "(the state or its Jacobian became non-finite; try method='LSODA' or 'Radau', or a "
                       "smaller rtol)")
            ts.append(np.array([t0]))
            ys.append(np.asarray(y_start, dtype=float)[:, None])
            pvs.append(pv)
            break
        except _BudgetExceeded:
            nfev = max_evaluations
            status = -1
            message = (f"stopped after {max_evaluations} right-hand-side evaluations near t = "
                       f"{budget.t_last:.4g} (the run is too stiff or too fast-switching for the budget; "
                       "raise `max_evaluations` or try method='Radau')")
            # Keep what is known: the state this phase started from.
            ts.append(np.array([t0]))
            ys.append(np.asarray(y_start, dtype=float)[:, None])
            pvs.append(pv)
            break
        nfev += sol.nfev
        njev += sol.njev
        # solve_ivp returns an empty list, not a (n, 0) array, when no output time is reached.
        t_part = np.asarray(sol.t, dtype=float)
        y_part = np.asarray(sol.y, dtype=float).reshape(len(STATE_NAMES), -1)
        if not t_phase.size:
            t_part, y_part = t_part[:0], y_part[:, :0]
        fell = False
        if sol.status == -1:
            status, message = -1, f"solver failed at t = {sol.t[-1] if sol.t.size else t0:g}: {sol.message}"
        elif sol.status == 1 and sol.t_events[0].size:
            fell = True
            t_fall = float(sol.t_events[0][0])
            y_fall = sol.y_events[0][0].copy()
            y_fall[BUFFER_INDEX] = 0.0  # the event's root; drops a round-off of order atol
            t_part = np.append(t_part, t_fall)
            y_part = np.concatenate([y_part, y_fall[:, None]], axis=1)
            insolvencies.append(t_fall)
        elif not last:
            y_start = sol.y[:, -1]
            t_part, y_part = t_part[:-1], y_part[:, :-1]
        ts.append(t_part)
        ys.append(y_part)
        pvs.append(pv)
        if status == -1:
            break
        if fell:
            if not reorganise or len(insolvencies) > 1 or t_fall >= horizon:
                message = (f"The incumbent falls at t = {insolvencies[0]:.4g} yr (cash and credit exhausted)"
                           + (f"; reorganised, it is liquidated at t = {t_fall:.4g} yr." if len(insolvencies) > 1
                              else "."))
                break
            # Reorganisation: the debt service is written down, the incumbent emerges with
            # its initial liquidity and its capacity cut to its volume; a second insolvency
            # liquidates it.
            debt_factor = 1.0 - params.debt_haircut
            y_start = y_fall.copy()
            y_start[BUFFER_INDEX] = (params.initial_buffer + params.credit_line) * _initial_volume(pvec)
            y_start[_CAPACITY] = gen.outputs(y_fall, pv)[_VOLUME]
            t0 = t_fall
            message = (f"The incumbent falls at t = {t_fall:.4g} yr (cash and credit exhausted) and is "
                       "reorganised; it survives the horizon.")
            continue
        if last:
            break
        t0 = t1
    falls = bool(insolvencies)
    fall_time = insolvencies[0] if falls else None
    t = np.concatenate(ts)
    y = np.concatenate(ys, axis=1)
    if status == 0 and not np.all(np.isfinite(y)):
        status, message = -1, "non-finite state returned by the solver"
    series = _series(ts, ys, pvs, revenue0)
    if status == 0 and not all(np.all(np.isfinite(v)) for v in series.values()):
        status, message = -1, "non-finite derived series"
    result = SimulationResult(
        params=params, t=t, series=series, success=status >= 0, status=1 if falls else status,
        message=message, falls=falls, fall_time=fall_time, nfev=nfev, njev=njev,
        insolvencies=tuple(insolvencies),
    )
    if check and result.success and not result.falls:
        liquidity = result["buffer"]
        scale = float(np.max(np.abs(liquidity))) + 1e-12
        if float(np.min(liquidity)) < GRAZE * scale:
            # A dip to zero inside one solver step leaves no sign change at the step ends.
            tight = simulate(params, t_eval=t_eval, method=method, rtol=rtol / 100, atol=atol / 100, y0=y0,
                             freeze_acquisition_at=freeze_acquisition_at, max_evaluations=max_evaluations,
                             check=False, t_end=t_end)
            if tight.success:
                note = (f" (checked: the liquidity came within {GRAZE:.0%} of zero at rtol {rtol:g}; "
                        f"solved again at rtol {rtol / 100:g})")
                result = replace(tight, message=tight.message + note, rechecked=True)
    if raise_on_failure and not result.success:
        raise SimulationError(result.message)
    return result
