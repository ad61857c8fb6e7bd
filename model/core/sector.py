"""A sector of several incumbent firms: one run with exits, and what the sector's fall is.

:func:`simulate_firms` integrates the model of ``firm_count`` firms
(:func:`model.core.equations.build` with n firms, compiled into
``_generated_firms<n>.py``) with :func:`scipy.integrate.solve_ivp`. Each firm's liquidity
is an event. When a firm's cash and credit run out it exits (under ``insolvency =
"reorganisation"`` its first insolvency writes its debt service down by ``debt_haircut``
and it goes on with its initial liquidity and its capacity cut to its volume; a second
exits it): its books close (its parameter ``firm_alive`` goes to 0, so its fixed cost and
capacity leave the sector's totals) and its customers choose again, at that moment, among
the platform and the survivors: those who may switch (all but the captive share) take the
platform with the survivors' customer-weighted attractiveness, the rest go to the
survivors in proportion to their customers, so every customer is reassigned. The run goes
on after each exit until the horizon or the last firm's exit.

"Highland Park falls" for the sector: at least :data:`model.core.firms.SECTOR_FALL_CAPACITY`
(half) of its initial incumbent capacity has exited. The first failure and the last
survivor are reported beside it (:class:`SectorFirms`).

Imports numpy and scipy only (the pure model's rule).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp

from .equations import FIRM_VARYING, OUTPUT_NAMES, PARAM_NAMES, buffer_indices, output_names, state_names
from .firms import BLOCK, SECTOR_FALL_CAPACITY, block_start, firm_param_vector, population
from .parameters import Parameters

__all__ = ["simulate_firms", "SectorFirms", "ExitBook", "generated_module", "EXIT_LEVELS"]

#: Exit-curve points reported by the sector keys: capacity exited at 10 %, 50 %, 90 %.
EXIT_LEVELS = (0.1, 0.5, 0.9)


def generated_module(n_firms: int):
    """The compiled model of a sector of ``n_firms`` (imported on first use: numba compiles it)."""
    name = "_generated" if n_firms == 1 else f"_generated_firms{n_firms}"
    return importlib.import_module(f".{name}", __package__)


@dataclass(frozen=True)
class SectorFirms:
    """Each firm's fate and the sector's exit curve.

    Attributes
    ----------
    sizes : ndarray
        Initial shares of the incumbents' customers (and capacity, and gross).
    fall_time : ndarray
        Each firm's exit (NaN: it survives the horizon).
    insolvency_time : ndarray
        Each firm's first insolvency (the exit under liquidation; under reorganisation the
        write-down).
    share_at_fall, gross_loss_at_fall, volume_share_at_fall : ndarray
        At each firm's first insolvency: the platform's share of the sector's gross, the
        incumbents' gross loss against their starting gross, the platform's share of volume.
    firm_gross_loss_at_fall : ndarray
        The firm's own gross loss at its first insolvency.
    exit_curve : list of dict
        One point per exit, in order: time, firm, capacity (and initial gross) exited so
        far, and the three readings of the platform's progress at that moment.
    moments : list of tuple
        (time, state, parameter vector) just before each insolvency was booked.
    """

    sizes: np.ndarray
    fall_time: np.ndarray
    insolvency_time: np.ndarray
    share_at_fall: np.ndarray
    gross_loss_at_fall: np.ndarray
    volume_share_at_fall: np.ndarray
    firm_gross_loss_at_fall: np.ndarray
    exit_curve: list = field(default_factory=list)
    values: dict = field(default_factory=dict)
    moments: list = field(default_factory=list, repr=False)
    #: The parameter vector as the run ended (exited firms' flags at 0, debt written down).
    pv_end: np.ndarray | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return int(self.sizes.size)

    @property
    def failed(self) -> int:
        return int(np.sum(np.isfinite(self.fall_time)))

    @property
    def capacity_exited(self) -> float:
        return float(np.sum(self.sizes[np.isfinite(self.fall_time)]))

    def first_failure(self) -> dict | None:
        return self.exit_curve[0] if self.exit_curve else None

    def at_exited(self, level: float) -> dict | None:
        """The exit-curve point at which at least ``level`` of the capacity has exited."""
        for point in self.exit_curve:
            if point["capacity_exited"] >= level - 1e-12:
                return point
        return None

    def last_survivor(self) -> int | None:
        """The firm (1-based) that exits last or survives; ties: the largest."""
        if self.failed == self.n:
            return int(self.exit_curve[-1]["firm"])
        alive = np.flatnonzero(~np.isfinite(self.fall_time))
        return int(alive[np.argmax(self.sizes[alive])]) + 1

    def summary(self) -> dict:
        """The sector keys (plain numbers; None where a level is not reached)."""
        def point(p):
            return None if p is None else {k: p[k] for k in ("t", "firm", "capacity_exited", "platform_share_of_gross",
                                                             "incumbent_gross_loss", "platform_volume_share")}
        return {
            "firms": self.n,
            "firms_failed": self.failed,
            "capacity_exited": self.capacity_exited,
            "first_failure": point(self.first_failure()),
            "last_survivor": self.last_survivor(),
            "exit_curve": {f"{level:.0%}": point(self.at_exited(level)) for level in EXIT_LEVELS},
            "per_firm": [
                {"firm": i + 1, "size": float(self.sizes[i]),
                 "fall_time": None if not np.isfinite(self.fall_time[i]) else float(self.fall_time[i]),
                 "insolvency_time": (None if not np.isfinite(self.insolvency_time[i])
                                     else float(self.insolvency_time[i])),
                 "share_at_fall": _num(self.share_at_fall[i]), "gross_loss_at_fall": _num(self.gross_loss_at_fall[i]),
                 "volume_share_at_fall": _num(self.volume_share_at_fall[i]),
                 "firm_gross_loss_at_fall": _num(self.firm_gross_loss_at_fall[i]),
                 **{k: float(v[i]) for k, v in self.values.items()}}
                for i in range(self.n)],
        }


def _num(x) -> float | None:
    return float(x) if np.isfinite(x) else None


def buffer_events(indices):
    """solve_ivp events, terminal and falling through 0, on the states ``indices`` (the
    firms' liquidity)."""
    def make(i):
        def event(t, y, *args):
            return y[i]

        event.terminal = True
        event.direction = -1
        return event

    return [make(i) for i in indices]


class ExitBook:
    """The books of one run's firms: who has exited when, and what moves at an exit.

    The one exit map of the model, shared by :func:`simulate_firms` (solve_ivp) and the
    ensemble engine (:func:`model.core.engine.integrate` for several firms): at a firm's
    insolvency it writes the firm down (reorganisation, first time) or closes it, records
    the three readings of the platform's progress, and reassigns its customers.

    Parameters
    ----------
    gen : module
        The generated model of ``n`` firms.
    pv : ndarray
        The run's parameter vector (:func:`model.core.equations.param_names` of ``n``);
        changed in place at exits (``firm_alive_<i>`` to 0, debt written down).
    y0 : ndarray
        The run's initial state (its outputs are the reference of the gross losses).
    reorganise : bool
        ``insolvency = "reorganisation"``.
    fall_level : float
        Share of the initial capacity exited at which the sector falls (:attr:`sector_fall`).
    """

    def __init__(self, gen, pv, y0, reorganise: bool, fall_level: float = SECTOR_FALL_CAPACITY):
        n = int(gen.N_FIRMS)
        #: Share of the initial capacity whose exit is "the sector falls" (default half;
        #: any exit, a level below the smallest firm, is the first failure).
        self.fall_level = float(fall_level)
        self.gen, self.n, self.pv, self.reorganise = gen, n, pv, bool(reorganise)
        names, outs = state_names(n), output_names(n)
        self.names = names
        self.o_index = {name: i for i, name in enumerate(outs)}
        out0 = gen.outputs(np.asarray(y0, dtype=float), pv)
        self.revenue0 = float(out0[self.o_index["incumbent_revenue"]])
        self.firm_revenue0 = np.array([out0[self.o_index[f"firm_revenue_{i + 1}"]] for i in range(n)])
        self.capacity0 = np.array([y0[names.index(f"capacity_{i + 1}")] for i in range(n)])
        self.buffers = buffer_indices(n)
        self.alive_at = [block_start(i) + BLOCK - 1 for i in range(n)]
        self._alive_idx = np.array(self.alive_at)
        self._buffer_idx = np.array(self.buffers)
        # Where each firm's customers and attractiveness are among the outputs.
        self._customers_out = np.array([self.o_index[f"firm_customers_{i + 1}"] for i in range(n)])
        self._attract_out = np.array([self.o_index[f"firm_attractiveness_{i + 1}"] for i in range(n)])
        self.debt_at = [block_start(i) + FIRM_VARYING.index("debt_service") for i in range(n)]
        self.liquidity_at = [(block_start(i) + FIRM_VARYING.index("initial_buffer"),
                              block_start(i) + FIRM_VARYING.index("credit_line")) for i in range(n)]
        self.capacity_state = [names.index(f"capacity_{i + 1}") for i in range(n)]
        self.customers_at = {i: names.index(f"firm_customers_{i + 1}") for i in range(n - 1)}
        self.sizes = np.array([pv[block_start(i) + BLOCK - 2] for i in range(n)])
        self.values = {name: np.array([pv[block_start(i) + j] for i in range(n)]) for j, name in enumerate(FIRM_VARYING)}
        self.captive = float(pv[PARAM_NAMES.index("captive_share")])
        self.haircut = float(pv[PARAM_NAMES.index("debt_haircut")])
        self.fall = np.full(n, np.nan)
        self.insolvent = np.full(n, np.nan)
        self.share_f, self.loss_f, self.vol_f, self.own_f = (np.full(n, np.nan) for _ in range(4))
        self.curve: list[dict] = []
        #: (time, state, parameter vector) just before each insolvency is booked.
        self.moments: list[tuple] = []
        self.ended = False  # the last firm has exited

    def watched(self, y) -> list[int]:
        """The firms whose liquidity is watched from state ``y`` on: in the market and above
        zero now (a firm just written down starts a new watch; an exited one has none)."""
        return np.flatnonzero((self.pv[self._alive_idx] > 0.5) & (np.asarray(y)[self._buffer_idx] > 0.0)).tolist()

    def hit(self, t_hit: float, y_hit, k0: int, watched) -> np.ndarray:
        """Firm ``k0``'s liquidity reached 0 at ``t_hit`` (state ``y_hit``): it and every
        watched firm out of liquidity at the same moment (firms alike fall together) become
        insolvent. Returns the state the run resumes from."""
        y_start = np.array(y_hit, dtype=float)
        scale = max(float(np.max(np.abs(y_start[self._buffer_idx]))), 1.0)
        falling = [k0] + [k for k in watched if k != k0 and y_start[self.buffers[k]] <= 1e-9 * scale]
        for k in falling:
            y_start[self.buffers[k]] = 0.0
        self.moments.append((float(t_hit), y_start.copy(), self.pv.copy()))
        out = self.gen.outputs(y_start, self.pv)
        for k in falling:
            self._insolvency(k, t_hit, y_start, out)
            if self.ended:
                break
        return y_start

    def _insolvency(self, k, t_hit, y_start, out):
        o = self.o_index
        first = not np.isfinite(self.insolvent[k])
        share = float(out[o["platform_share_of_gross"]])
        loss = float(1.0 - out[o["incumbent_revenue"]] / self.revenue0)
        volume = float(out[o["platform_volume"]] / out[o["market_size"]])
        if first:
            self.insolvent[k] = t_hit
            self.share_f[k], self.loss_f[k], self.vol_f[k] = share, loss, volume
            self.own_f[k] = 1.0 - out[o[f"firm_revenue_{k + 1}"]] / self.firm_revenue0[k]
        if self.reorganise and first:
            # Chapter 11: debt written down, initial liquidity, capacity cut to volume.
            self.pv[self.debt_at[k]] *= 1.0 - self.haircut
            lo, hi = self.liquidity_at[k]
            y_start[self.buffers[k]] = (self.pv[lo] + self.pv[hi]) * self.capacity0[k]
            y_start[self.capacity_state[k]] = out[o[f"firm_volume_{k + 1}"]]
            return
        self.fall[k] = t_hit
        self.pv[self.alive_at[k]] = 0.0
        self.curve.append({"t": float(t_hit), "firm": k + 1,
                           "capacity_exited": float(np.sum(self.sizes[np.isfinite(self.fall)])),
                           "platform_share_of_gross": share, "incumbent_gross_loss": loss,
                           "platform_volume_share": volume})
        survivors = np.flatnonzero(self.pv[self._alive_idx] > 0.5)
        if not survivors.size:
            self.ended = True
            return
        _reassign(y_start, out[self._customers_out], out[self._attract_out], k, survivors, self.customers_at,
                  self.captive)

    @property
    def sector_fall(self) -> dict | None:
        """The exit-curve point at which half the initial capacity has exited (the sector falls)."""
        return next((p for p in self.curve if p["capacity_exited"] >= self.fall_level - 1e-12), None)

    def result(self) -> SectorFirms:
        return SectorFirms(sizes=self.sizes, fall_time=self.fall, insolvency_time=self.insolvent,
                           share_at_fall=self.share_f, gross_loss_at_fall=self.loss_f,
                           volume_share_at_fall=self.vol_f, firm_gross_loss_at_fall=self.own_f,
                           exit_curve=self.curve, values=self.values, moments=self.moments, pv_end=self.pv.copy())


def simulate_firms(params: Parameters, *, t_eval, method, rtol, atol, freeze_acquisition_at, max_evaluations,
                   raise_on_failure, t_end=None):
    """One run of a sector of ``params.firm_count`` firms; see the module docstring.

    Arguments as :func:`model.core.simulate.simulate` (which calls this for several firms).
    Returns a :class:`model.core.simulate.SimulationResult` whose series are the states
    (``incumbent_price_<i>``, ``capacity_<i>``, ``buffer_<i>``, ``firm_customers_<i>``),
    the sector totals of :data:`OUTPUT_NAMES` and ``firm_<name>_<i>``, plus ``incumbent_price``
    (customer-weighted), ``capacity`` and ``buffer`` (sums over the firms in the market), and
    whose ``firms`` is the :class:`SectorFirms`.
    """
    from .simulate import SimulationError, SimulationResult, _BudgetExceeded

    n = int(params.firm_count)
    gen = generated_module(n)
    names, outs = state_names(n), output_names(n)
    horizon = float(params.horizon if t_end is None else t_end)
    t_eval = np.asarray(t_eval, dtype=float)  # validated by simulate

    pv = firm_param_vector(params, firms=population(params))
    y0 = gen.initial(pv)
    book = ExitBook(gen, pv, y0, params.insolvency == "reorganisation")
    freeze = None
    if freeze_acquisition_at is not None and 0.0 <= freeze_acquisition_at < horizon:
        freeze = float(freeze_acquisition_at)
    acquisition_at = PARAM_NAMES.index("acquisition")

    ts, ys, pvs = [], [], []
    status, message, nfev, njev = 0, "The solver reached the end of the horizon.", 0, 0
    t0, y_start = 0.0, y0
    while True:
        if freeze is not None and t0 >= freeze:
            pv[acquisition_at] = 0.0
        t1 = freeze if freeze is not None and t0 < freeze else horizon
        last = t1 >= horizon
        mask = (t_eval >= t0) & ((t_eval <= t1) if last else (t_eval < t1))
        t_phase = t_eval[mask] if last else np.append(t_eval[mask], t1)
        pv_now = pv.copy()
        calls = [0]

        def rhs(t, y, pv=pv_now):
            calls[0] += 1
            if calls[0] + nfev > max_evaluations:
                raise _BudgetExceeded
            return gen.rhs(y, pv)

        # No analytic Jacobian: the implicit solvers difference the right-hand side. The n-firm
        # Jacobian takes numba about a minute to compile at 8 firms (many at 16); the
        # difference Jacobian needs n right-hand sides, and LSODA reuses it over many steps.
        extra = {}
        watched = book.watched(y_start)
        try:
            sol = solve_ivp(rhs, (t0, t1), y_start, method=method, t_eval=t_phase if t_phase.size else None,
                            rtol=rtol, atol=atol, events=buffer_events([book.buffers[k] for k in watched]), **extra)
        except _BudgetExceeded:
            status, message = -1, (f"stopped after {max_evaluations} right-hand-side evaluations near t = {t0:.4g}")
            nfev = max_evaluations
            ts.append(np.array([t0]))
            ys.append(np.asarray(y_start, dtype=float)[:, None])
            pvs.append(pv_now)
            break
        except (ValueError, ArithmeticError) as e:
            status, message = -1, f"solver failed after t = {t0:.4g}: {method} raised {type(e).__name__}: {e}"
            ts.append(np.array([t0]))
            ys.append(np.asarray(y_start, dtype=float)[:, None])
            pvs.append(pv_now)
            break
        nfev += sol.nfev
        njev += sol.njev
        t_part = np.asarray(sol.t, dtype=float)
        y_part = np.asarray(sol.y, dtype=float).reshape(len(names), -1)
        if not t_phase.size:
            t_part, y_part = t_part[:0], y_part[:, :0]
        hit = None
        if sol.status == -1:
            status, message = -1, f"solver failed: {sol.message}"
        elif sol.status == 1:
            # The earliest of the firms' events (several in one step: the first in time).
            times = [(float(te[0]), e) for e, te in enumerate(sol.t_events) if te.size]
            if times:
                t_hit, e = min(times)
                k = watched[e]
                y_hit = sol.y_events[e][0].copy()
                y_hit[book.buffers[k]] = 0.0  # the event's root
                hit = (t_hit, k, y_hit)
                t_part = np.append(t_part[t_part < t_hit], t_hit)
                y_part = np.concatenate([y_part[:, :t_part.size - 1], y_hit[:, None]], axis=1)
        elif not last:
            y_start = sol.y[:, -1]
            t_part, y_part = t_part[:-1], y_part[:, :-1]
        ts.append(t_part)
        ys.append(y_part)
        pvs.append(pv_now)
        if status == -1:
            break
        if hit is None:
            if last:
                break
            t0 = t1
            continue
        t_hit, k0, y_hit = hit
        y_start = book.hit(t_hit, y_hit, k0, watched)
        if book.ended:
            message = f"The last incumbent exits at t = {t_hit:.4g} yr."
        if book.ended or t_hit >= horizon:
            break
        t0 = t_hit

    t = np.concatenate(ts)
    series = _series(gen, names, outs, ts, ys, pvs, book.revenue0, n)
    fall_point = book.sector_fall
    sector_fall = None if fall_point is None else fall_point["t"]
    if status == 0 and not all(np.all(np.isfinite(v)) for v in series.values()):
        status, message = -1, "non-finite state or derived series"
    if sector_fall is not None and status == 0:
        message = (f"Half of the sector's incumbent capacity has exited at t = {sector_fall:.4g} yr "
                   f"({len(book.curve)} of {n} firms failed by the end). " + message)
    insolvent = book.insolvent
    falls = sector_fall is not None
    result = SimulationResult(params=params, t=t, series=series, success=status >= 0,
                              status=1 if falls else status, message=message, falls=falls, fall_time=sector_fall,
                              nfev=nfev, njev=njev, insolvencies=tuple(float(x) for x in np.sort(insolvent[np.isfinite(insolvent)])),
                              firms=book.result())
    if raise_on_failure and not result.success:
        raise SimulationError(result.message)
    return result


def _reassign(y, customers, attractiveness, k, survivors, customers_at, captive):
    """Move the customers of exiting firm ``k`` to the platform and the survivors (in place).

    ``customers`` and ``attractiveness``: every firm's, at the moment of the exit."""
    movers = max(customers[k], 0.0)
    s = y[0]
    incumbents = max(1.0 - s, 1e-300)
    can_switch = min(max((1.0 - captive - s) / incumbents, 0.0), 1.0)
    weights = np.maximum(customers[survivors], 0.0)
    total = float(weights.sum())
    if total <= 0:
        weights = np.ones(survivors.size)
        total = float(survivors.size)
    to_platform = movers * can_switch * float(weights @ attractiveness[survivors] / total)
    rest = movers - to_platform
    y[0] = s + to_platform
    if k in customers_at:
        y[customers_at[k]] = 0.0
    for j, wgt in zip(survivors.tolist(), weights.tolist()):
        if j in customers_at:  # the last firm's customers are what the others leave
            y[customers_at[j]] = customers[j] + rest * wgt / total


def _series(gen, names, outs, ts, ys, pvs, revenue0, n):
    y = np.concatenate(ys, axis=1)
    out = np.empty((len(outs), y.shape[1]))
    col = 0
    for y_part, pv in zip(ys, pvs):
        for j in range(y_part.shape[1]):
            out[:, col] = gen.outputs(y_part[:, j], pv)
            col += 1
    alive = np.concatenate([np.repeat(pv[[block_start(i) + BLOCK - 1 for i in range(n)]][:, None], yp.shape[1], 1)
                            for yp, pv in zip(ys, pvs)], axis=1)
    return _with_totals(names, outs, y, out, alive, revenue0, n)


def _with_totals(names, outs, y, out, alive, revenue0, n):
    """The series of a run of n firms: states ``y`` (states x times), outputs ``out``, and the
    sector's capacity, liquidity and bill per unit over the firms in the market (``alive``,
    firms x times)."""
    series = {name: y[i] for i, name in enumerate(names)}
    series.update({name: out[i] for i, name in enumerate(outs)})
    series["capacity"] = np.sum(alive * np.array([series[f"capacity_{i + 1}"] for i in range(n)]), axis=0)
    series["buffer"] = np.sum(alive * np.array([series[f"buffer_{i + 1}"] for i in range(n)]), axis=0)
    customers = np.array([series[f"firm_customers_{i + 1}"] for i in range(n)])
    prices = np.array([series[f"incumbent_price_{i + 1}"] for i in range(n)])
    # The bill per unit, weighted by the firms' customers (the survivors' once all is gone).
    weight = np.clip(customers, 0.0, None) * alive
    total = weight.sum(axis=0)
    series["incumbent_price"] = np.where(total > 0, (weight * prices).sum(axis=0) / np.where(total > 0, total, 1.0),
                                         (alive * prices).sum(axis=0) / np.maximum(alive.sum(axis=0), 1.0))
    series["incumbent_gross_loss"] = 1.0 - series["incumbent_revenue"] / revenue0
    return series


def simulate_firms_engine(params: Parameters, *, t_eval, rtol, atol, freeze_acquisition_at, max_evaluations,
                          raise_on_failure, t_end=None):
    """:func:`simulate_firms` on the compiled ensemble engine (``simulate(..., method="engine")``):
    DOPRI5 (Rodas4 where stiff) with the same exits, so the same run to the solvers'
    tolerances (checked on 300 sectors in the tests), at several times the speed. The
    series are at ``t_eval`` (no extra points at the exits)."""
    from . import engine
    from .simulate import SimulationError, SimulationResult

    n = int(params.firm_count)
    gen = generated_module(n)
    names, outs = state_names(n), output_names(n)
    pv, y0, horizon = engine.pvecs_from_params([params])
    if t_end is not None:
        horizon = np.full(1, float(t_end))
    freeze = np.nan if freeze_acquisition_at is None else float(freeze_acquisition_at)
    res = engine.integrate(pv, y0, t_eval, t_end=horizon, rtol=rtol, atol=atol, freeze_times=freeze,
                           max_steps=max(1, int(max_evaluations) // 6), reorganise=params.insolvency == "reorganisation",
                           after_fall="continue")
    firms = res.sectors[0]
    ok = np.all(np.isfinite(res.y[0]), axis=1)  # output times the run reached (none after the last exit)
    t = np.asarray(t_eval, dtype=float)[ok]
    y, out = res.y[0][ok].T, res.outputs[0][ok].T
    fall_times = np.where(np.isfinite(firms.fall_time), firms.fall_time, np.inf)
    alive = (fall_times[:, None] >= t[None, :]).astype(float)
    # The moments of the exits are points of the series too (as the events' are in
    # simulate_firms): the state just before each exit is booked.
    alive_at = [block_start(i) + BLOCK - 1 for i in range(n)]
    extra = [(tm, ym, pm) for tm, ym, pm in firms.moments if not np.any(t == tm)]
    if extra:
        t = np.concatenate([t, [m[0] for m in extra]])
        y = np.concatenate([y, np.array([m[1] for m in extra]).T], axis=1)
        out = np.concatenate([out, np.array([gen.outputs(m[1], m[2]) for m in extra]).T], axis=1)
        alive = np.concatenate([alive, np.array([m[2][alive_at] for m in extra]).T], axis=1)
        order = np.argsort(t, kind="stable")
        t, y, out, alive = t[order], y[:, order], out[:, order], alive[:, order]
    out0 = gen.outputs(y0[0], pv[0])
    revenue0 = float(out0[outs.index("incumbent_revenue")])
    series = _with_totals(names, outs, y, out, alive, revenue0, n)
    point = firms.at_exited(SECTOR_FALL_CAPACITY)
    success = bool(res.success[0])
    status = 1 if point is not None and success else (0 if success else -1)
    if not success:
        message = f"the engine failed: {res.reason[0]}"
    elif point is not None:
        message = (f"Half of the sector's incumbent capacity has exited at t = {point['t']:.4g} yr "
                   f"({firms.failed} of {n} firms failed by the end).")
    else:
        message = "The solver reached the end of the horizon."
    insolvent = firms.insolvency_time
    result = SimulationResult(params=params, t=t, series=series, success=success, status=status, message=message,
                              falls=point is not None, fall_time=None if point is None else point["t"],
                              nfev=int(res.nfev[0]), njev=0,
                              insolvencies=tuple(float(x) for x in np.sort(insolvent[np.isfinite(insolvent)])),
                              firms=firms)
    if raise_on_failure and not success:
        raise SimulationError(result.message)
    return result
