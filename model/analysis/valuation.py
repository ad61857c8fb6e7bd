"""The incumbent's market value: its expected payouts to shareholders, discounted.

Share and asset prices fall long before a firm's cash runs out: investors price the
payouts they expect, and a business whose customers leave loses its value while it still
has money in the bank. This module turns a run into that reading. For the sector and for
each of its firms,

    V(t) = ∫_t^T e^{-r (τ - t)} P(τ) dτ + e^{-r (T - t)} V_tail,

where P is the payout (``dividends`` + ``excess_cash_payout``: all that leaves the firm for
its owners; debt service goes to creditors and is not the owners'), r the discount rate
(parameter ``discount_rate``, real like every flow of the model) and T the end of the run.

The tail
    A firm still in the market at T is worth the payouts it goes on making: a perpetuity of
    its final payout P(T) growing at g, V_tail = P(T) / (r - g). g is the trend of the
    payout over the run's last :data:`TREND_YEARS` years (least squares on log P), so a
    payout still decaying keeps decaying and one that has levelled off stays level. A
    growing trend is capped at the sector's own growth (``sector_growth_rate``, at least 0)
    and at r / 2: a firm cannot outgrow its market forever, and the cap keeps the
    perpetuity finite (at most 2 P(T) / r) however fast a late recovery runs. A decay is
    not capped: a firm whose payouts vanish is worth what it pays until then. A firm that
    has left the market (liquidated, or exited a sector of several) has no tail and is
    worth 0 from its exit on: its owners are last in line and its cash and credit are gone.

Discounting on the output grid
    P is taken as piecewise linear between output times (what the run's series are), and
    the integral over each interval is done exactly, V_k = e^{-r h} V_{k+1} + w0 P_k + w1
    P_{k+1} with the weights of ∫_0^h e^{-r x} (linear) dx, backwards from T. Exact rather
    than ``scipy.integrate.cumulative_trapezoid``: the trapezoid rule would need the
    integrand e^{-r(τ-t)} P(τ) anew for every t (or a recursion that errs by O((r h)^2) per
    step), while the exact weights make a constant or linear payout exact for any step, so
    the closed forms of the tests hold to rounding, and an interval of length zero (the
    repeated time of an insolvency) simply adds nothing.

Per firm (``firm_count`` > 1) the series hold only the sector's payouts, so each firm's
payout is evaluated from the run's states with the same compiled outputs, every other
firm's ``firm_alive`` flag set to 0 (a sector total is the sum over the firms in the
market, so this leaves firm i's own term), and the parameter vector in force at each time
taken from the exits the run recorded (:attr:`model.core.sector.SectorFirms.moments`):
the sum over the firms is the sector's payout to rounding (a test checks it).

Under reorganisation the value is that of the firm that goes on: its payouts after the
write-down count. (In a real Chapter 11 the old shareholders are usually wiped out, so
their shares would be worth nothing from the first insolvency.)

Imports numpy and the model's core only (no UI, plotting or file formats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Valuation", "value", "discounted_value", "tail_growth", "first_below", "TREND_YEARS", "HALF"]

#: Years at the end of a run over which the payout's trend (the tail's growth) is fitted.
TREND_YEARS = 5.0
#: The fall in value reported: the first time the value is below this share of its start.
HALF = 0.5
#: Below this r h the exact weights are evaluated by their Taylor series (the closed forms
#: lose digits to cancellation there).
_SMALL_RH = 1e-4


@dataclass(frozen=True)
class Valuation:
    """The incumbent's market value over a run (see the module docstring).

    Attributes
    ----------
    t : ndarray, shape (n,)
        The run's output times (years).
    discount_rate : float
    payout : ndarray, shape (n,)
        Sector payout (dividends + excess-cash payout), initial gross per year.
    value : ndarray, shape (n,)
        Sector value V(t), in units of the sector's initial annual gross: the sum of the
        firms' values.
    relative : ndarray, shape (n,)
        ``value / value[0]`` (NaN if the start value is 0).
    half_time : float or None
        First time the sector value is below :data:`HALF` of its start (linear
        interpolation between output times); None if it never is.
    fall_time : float or None
        The run's fall (the incumbent's cash and credit exhausted; several firms: half of
        the capacity exited).
    lead_time : float or None
        ``fall_time - half_time``: how long before the fall the value has halved.
    alive_at_end : bool
        Some incumbent is still in the market at the end of the run.
    tail_value : float
        Sector value of the payouts after the end of the run, at the end.
    tail_growth : float
        The tail's growth rate (the largest firm's that is alive, or the sector's with one
        firm; NaN if no tail).
    firm_payout, firm_value : ndarray, shape (n_firms, n) or None
        Per firm (``firm_count`` > 1).
    firm_half_time, firm_fall_time : tuple of (float or None), or None
        Per firm: its value's halving and its exit (None: never).
    firm_tail_growth : ndarray or None
    """

    t: np.ndarray
    discount_rate: float
    payout: np.ndarray
    value: np.ndarray
    relative: np.ndarray
    half_time: float | None
    fall_time: float | None
    lead_time: float | None
    alive_at_end: bool
    tail_value: float
    tail_growth: float
    firm_payout: np.ndarray | None = None
    firm_value: np.ndarray | None = None
    firm_half_time: tuple | None = None
    firm_fall_time: tuple | None = None
    firm_tail_growth: np.ndarray | None = None

    @property
    def start(self) -> float:
        return float(self.value[0])

    @property
    def end(self) -> float:
        return float(self.value[-1])

    def at(self, time: float) -> float:
        """Sector value at ``time`` (linear between output times)."""
        return float(np.interp(float(time), self.t, self.value))

    def summary(self) -> dict:
        """Plain numbers (None where a level is not reached), for ``run --json``."""
        out = {
            "discount_rate": self.discount_rate,
            "value_start": self.start,
            "value_end": self.end,
            "value_end_relative": _num(self.relative[-1]),
            "half_time": self.half_time,
            "fall_time": self.fall_time,
            "lead_time": self.lead_time,
            "alive_at_end": self.alive_at_end,
            "tail_value": self.tail_value,
            "tail_growth": _num(self.tail_growth),
        }
        if self.firm_value is not None:
            out["per_firm"] = [
                {"firm": i + 1, "value_start": float(self.firm_value[i, 0]), "value_end": float(self.firm_value[i, -1]),
                 "half_time": self.firm_half_time[i], "fall_time": self.firm_fall_time[i],
                 "lead_time": (None if self.firm_half_time[i] is None or self.firm_fall_time[i] is None
                               else self.firm_fall_time[i] - self.firm_half_time[i]),
                 "tail_growth": _num(self.firm_tail_growth[i])}
                for i in range(self.firm_value.shape[0])]
        return out


def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


# --- the arithmetic ------------------------------------------------------------------------

def _weights(r: float, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """w0, w1 with ∫_0^h e^{-r x} (P0 (1 - x/h) + P1 x/h) dx = w0 P0 + w1 P1, per interval."""
    h = np.asarray(h, dtype=float)
    rh = r * h
    small = rh < _SMALL_RH
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = -np.expm1(-rh) / r                                  # ∫_0^h e^{-rx} dx
        # ∫_0^h x e^{-rx} dx / h = (1 - e^{-rh} (1 + rh)) / (r^2 h)
        e2h = (-np.expm1(-rh) - rh * np.exp(-rh)) / (r * rh)
    # Taylor series where rh is small (exact to O((rh)^3) relative): no cancellation.
    e1 = np.where(small, h * (1 - rh / 2 + rh ** 2 / 6), e1)
    e2h = np.where(small, h * (0.5 - rh / 3 + rh ** 2 / 8), e2h)
    e2h = np.where(h > 0, e2h, 0.0)
    return e1 - e2h, e2h


def discounted_value(t, payout, r: float, tail: float = 0.0) -> np.ndarray:
    """V(t_k) = ∫_{t_k}^{T} e^{-r(τ - t_k)} P(τ) dτ + e^{-r(T - t_k)} tail, P piecewise linear.

    Parameters
    ----------
    t : array_like, shape (n,)
        Non-decreasing times (a repeated time is an interval of length 0).
    payout : array_like, shape (n,)
    r : float
        Discount rate, > 0.
    tail : float
        Value at ``t[-1]`` of everything after it.
    """
    t = np.asarray(t, dtype=float)
    p = np.asarray(payout, dtype=float)
    if t.ndim != 1 or t.shape != p.shape or t.size == 0:
        raise ValueError("`t` and `payout` must be 1-D arrays of the same, non-zero length")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(p))):
        raise ValueError("`t` and `payout` must be finite")
    h = np.diff(t)
    if np.any(h < 0):
        raise ValueError("`t` must be non-decreasing")
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"`r` must be a positive finite rate, got {r!r}")
    w0, w1 = _weights(r, h)
    decay = np.exp(-r * h)
    v = np.empty_like(p)
    v[-1] = float(tail)
    for k in range(p.size - 2, -1, -1):  # backwards: each value is the next one discounted plus the interval
        v[k] = decay[k] * v[k + 1] + w0[k] * p[k] + w1[k] * p[k + 1]
    return v


def tail_growth(t, payout, r: float, *, cap: float, years: float = TREND_YEARS) -> float:
    """The payout's growth rate over the last ``years`` of ``t`` (least squares on log P),
    capped above at ``min(cap, r / 2)``; 0 if there are fewer than two positive points."""
    t = np.asarray(t, dtype=float)
    p = np.asarray(payout, dtype=float)
    keep = (t >= t[-1] - years) & (p > 0)
    tt, pp = t[keep], p[keep]
    if tt.size < 2 or np.ptp(tt) <= 0:
        g = 0.0
    else:
        g = float(np.polyfit(tt - tt[-1], np.log(pp), 1)[0])
    return min(g, cap, 0.5 * r)


def first_below(t, v, level: float) -> float | None:
    """First time ``v`` is below ``level`` (linear interpolation between points); None if never."""
    t = np.asarray(t, dtype=float)
    v = np.asarray(v, dtype=float)
    below = np.flatnonzero(v < level)
    if not below.size:
        return None
    k = int(below[0])
    if k == 0:
        return float(t[0])
    v0, v1 = v[k - 1], v[k]
    return float(t[k - 1] + (t[k] - t[k - 1]) * (v0 - level) / (v0 - v1))


# --- from a run ----------------------------------------------------------------------------

def _firm_payouts(result) -> np.ndarray:
    """Each firm's payout at every output time, shape (n_firms, n) (see the module docstring)."""
    from ..core.equations import OUTPUT_NAMES, state_names
    from ..core.firms import BLOCK, block_start
    from ..core.sector import generated_module

    firms = result.firms
    n = firms.n
    gen = generated_module(n)
    names = state_names(n)
    y = np.array([result.series[name] for name in names])  # states x times
    alive_at = np.array([block_start(i) + BLOCK - 1 for i in range(n)])
    div, exc = OUTPUT_NAMES.index("dividends"), OUTPUT_NAMES.index("excess_cash_payout")
    # The parameter vector in force up to and at each recorded insolvency, then the final one.
    moments = sorted(firms.moments, key=lambda m: m[0])
    times = np.array([m[0] for m in moments])
    pvs = [m[2] for m in moments] + [firms.pv_end]
    out = np.zeros((n, result.t.size))
    for j, tj in enumerate(result.t):
        pv = pvs[int(np.searchsorted(times, tj, side="left"))]  # t <= t_event: the books before it
        for i in range(n):
            if pv[alive_at[i]] < 0.5:
                continue  # exited: its books are closed
            own = pv.copy()
            own[alive_at] = 0.0
            own[alive_at[i]] = 1.0
            o = gen.outputs(y[:, j], own)
            out[i, j] = o[div] + o[exc]
    return out


def _one_firm_alive_at_end(result) -> bool:
    if not result.falls:
        return True
    # Liquidated at its (first or second) insolvency; a reorganised firm goes on.
    liquidated = result.params.insolvency == "liquidation" or len(result.insolvencies) > 1
    return not liquidated


def value(result, discount_rate: float | None = None) -> Valuation:
    """The market value of the incumbent (sector and firms) over ``result``.

    Parameters
    ----------
    result : SimulationResult
        A successful run (:func:`model.core.simulate.simulate`).
    discount_rate : float, optional
        Default ``result.params.discount_rate``.

    Raises
    ------
    ValueError
        If the run failed (its series stop short of its end: no value can be read from them)
        or the rate is not positive.
    """
    if not result.success:
        raise ValueError(f"the run failed ({result.message}): its payouts stop short, so it has no value")
    params = result.params
    r = float(params.discount_rate if discount_rate is None else discount_rate)
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"`discount_rate` must be a positive finite rate, got {discount_rate!r}")
    t = np.asarray(result.t, dtype=float)
    cap = max(float(params.sector_growth_rate), 0.0)
    sector_payout = np.asarray(result["dividends"], dtype=float) + np.asarray(result["excess_cash_payout"], dtype=float)
    if result.firms is None:
        alive = _one_firm_alive_at_end(result)
        g = tail_growth(t, sector_payout, r, cap=cap) if alive else math.nan
        tail = sector_payout[-1] / (r - g) if alive else 0.0
        v = discounted_value(t, sector_payout, r, tail)
        firm_payout = firm_value = firm_half = firm_fall = firm_g = None
    else:
        firms = result.firms
        firm_payout = _firm_payouts(result)
        firm_value = np.empty_like(firm_payout)
        firm_g = np.full(firms.n, math.nan)
        tail = 0.0
        for i in range(firms.n):
            if np.isfinite(firms.fall_time[i]):
                firm_value[i] = discounted_value(t, firm_payout[i], r, 0.0)
                # Closed books: nothing from the exit on (the series may carry the exit's point).
                firm_value[i, t > firms.fall_time[i]] = 0.0
                continue
            firm_g[i] = tail_growth(t, firm_payout[i], r, cap=cap)
            tail_i = firm_payout[i, -1] / (r - firm_g[i])
            tail += tail_i
            firm_value[i] = discounted_value(t, firm_payout[i], r, tail_i)
        v = firm_value.sum(axis=0)
        alive = bool(np.any(~np.isfinite(firms.fall_time)))
        living = np.flatnonzero(~np.isfinite(firms.fall_time))
        g = float(firm_g[living[np.argmax(firms.sizes[living])]]) if living.size else math.nan
        firm_half = tuple(first_below(t, firm_value[i], HALF * firm_value[i, 0]) if firm_value[i, 0] > 0 else None
                          for i in range(firms.n))
        firm_fall = tuple(float(x) if np.isfinite(x) else None for x in firms.fall_time)
    v0 = float(v[0])
    relative = v / v0 if v0 > 0 else np.full_like(v, np.nan)
    half = first_below(t, v, HALF * v0) if v0 > 0 else None
    fall = float(result.fall_time) if result.falls and result.fall_time is not None else None
    lead = fall - half if fall is not None and half is not None else None
    return Valuation(t=t, discount_rate=r, payout=sector_payout, value=v, relative=relative, half_time=half,
                     fall_time=fall, lead_time=lead, alive_at_end=bool(alive), tail_value=float(tail),
                     tail_growth=float(g), firm_payout=firm_payout, firm_value=firm_value, firm_half_time=firm_half,
                     firm_fall_time=firm_fall, firm_tail_growth=firm_g)
