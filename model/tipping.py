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
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp

from . import _generated as gen
from .equations import CAP_SHARPNESS, OUTPUT_NAMES, STATE_NAMES, build, param_vector
from .parameters import Parameters

__all__ = ["break_even_loss", "break_even_expressions"]

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
def _break_even_functions():
    m = build()
    args = [m.symbol("incumbent_price"), m.symbol("incumbent_volume"), m.symbol("capacity"),
            m.symbol("variable_cost_share"), m.symbol("fixed_cost_share"), m.symbol("willingness_to_pay")]
    exprs = break_even_expressions()
    return {k: sp.lambdify(args, e, modules="math") for k, e in exprs.items()}


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
