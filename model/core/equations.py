"""The one definition of the model's equations, in sympy.

One aggregate incumbent ("Highland Park") and one aggregate trust platform share a
sector (version 2: fixed costs with an indivisible part, finance with debt service,
dividends, a cash target and a credit line, demand per customer with sector growth,
captive customers and switching costs, a competitive price policy and a two-part tariff
with multi-homing, threshold contagion through close ties; with every new mechanism at
its neutral value it is the first version, which a test checks). Everything numeric (the solver's right-hand side, the analytic Jacobian, the
derived output series) and everything printed (the LaTeX of each equation in the paper)
is derived from the expressions built here; nothing is written twice. The paper's
section "The model" explains each term and traces it to a sentence of the essays.

State (all dimensionless or in units of the incumbent's initial annual gross):

=====  ====================  ===========================================================
 s     platform_share        platform share of sector volume, in [0, 1]
 T     platform_trust        trust in the platform (mediated trust), in [0, 1]
 R     relational_trust      relational ("real") trust from repeat transactions, [0, 1]
 p     incumbent_price       incumbent's bill per unit, relative to its initial price
 K     capacity              incumbent capacity (divisible fixed cost φ(1-ι)·K)
 B     buffer                incumbent's liquidity: cash plus undrawn credit; falls at 0
 N     customers             the sector's customers, relative to the start (growth g)
=====  ====================  ===========================================================

"The incumbent falls" (used everywhere): its liquidity ``B`` reaches zero, that is its
operating losses, debt service, restructuring costs, interest and payouts have exhausted
its cash and its credit line. Under liquidation (the default) the simulation ends there:
the incumbent's equations stop. Under reorganisation (``insolvency = "reorganisation"``,
:func:`model.core.simulate.simulate` only) the debt service is written down and the
incumbent continues; "falls" still means the first insolvency.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from .parameters import PARAMETER_SPECS, Parameters
from .special import binomial_tail, smooth_positive

__all__ = [
    "STATE_NAMES",
    "STATE_LATEX",
    "PARAM_NAMES",
    "OUTPUT_NAMES",
    "CAP_SHARPNESS",
    "Model",
    "build",
    "param_vector",
    "initial_state",
]

#: Width (in units of the incumbent's initial volume or gross) over which the smooth
#: positive part max(x, 0) of the capacity, dividend, credit and excess-cash rules bends:
#: small against any flow that matters, large enough to keep the Jacobian smooth. At
#: x = 0 it is SMOOTHING / 2 instead of 0.
SMOOTHING = 1e-3

#: Sharpness of the willingness-to-pay cap on the incumbent's price (a smooth minimum,
#: an L^n norm): high enough that the cap changes a price at half the ceiling by < 0.4 %,
#: low enough to keep the right-hand side smooth for the Jacobian and continuation.
CAP_SHARPNESS = 8

STATE_NAMES = ("platform_share", "platform_trust", "relational_trust", "incumbent_price",
               "capacity", "buffer", "customers")
STATE_LATEX = ("s", "T", "R", "p", "K", "B", "N")
BUFFER_INDEX = STATE_NAMES.index("buffer")

# Parameters that enter the equations, then the switches as 0/1 indicators, then the
# internal acquisition switch used by the point-of-no-return experiment (not a user
# parameter: it turns all new adoption off from a chosen moment).
_CONTINUOUS = tuple(n for n, s in PARAMETER_SPECS.items() if not s.is_switch and n != "horizon")
_INDICATORS = ("chi_trust", "chi_unit_price", "chi_fixed", "chi_competitive", "chi_two_part", "chi_per_customer",
               "chi_threshold", "chi_hard", "chi_soft", "acquisition")
PARAM_NAMES = _CONTINUOUS + _INDICATORS
_INDICATOR_LATEX = {
    "chi_trust": r"\chi_{\mathrm{trust}}",
    "chi_unit_price": r"\chi_{u}",
    "chi_fixed": r"\chi_{\mathrm{fix}}",
    "chi_competitive": r"\chi_{\mathrm{comp}}",
    "chi_two_part": r"\chi_{\mathrm{2p}}",
    "chi_per_customer": r"\chi_{\mathrm{cust}}",
    "chi_threshold": r"\chi_{\mathrm{thr}}",
    "chi_hard": r"\chi_h",
    "chi_soft": r"\chi_s",
    "acquisition": r"\alpha",
}

#: Derived series computed from the state at every output time.
OUTPUT_NAMES = (
    "market_size", "incumbent_volume", "platform_volume", "marginal_price", "target_price",
    "incumbent_revenue", "incumbent_cost", "operating_profit", "platform_gross",
    "platform_share_of_gross", "platform_profit", "platform_network_value", "relative_value",
    "adoption", "churn", "fixed_cost", "debt_service_flow", "credit_interest", "restructuring", "dividends",
    "excess_cash_payout", "cash",
)


@dataclass(frozen=True, eq=False)  # hashed by identity: built once, cached
class Model:
    """The model as sympy objects.

    Attributes
    ----------
    states, params : tuple of sympy.Symbol
        In the order of the numeric state and parameter vectors.
    auxiliaries : dict[str, tuple[sympy.Symbol, sympy.Expr]]
        Named intermediate quantities, each as (symbol, defining expression in terms of
        states, parameters and earlier auxiliaries): the equations of the paper.
    rhs : sympy.Matrix
        dy/dt with every auxiliary substituted (what the solver integrates).
    rhs_compact : tuple[sympy.Expr]
        dy/dt written with the auxiliaries' symbols (what the paper prints).
    outputs : dict[str, sympy.Expr]
        Derived series, fully substituted.
    initial : tuple[sympy.Expr]
        The initial state as a function of the parameters.
    """

    states: tuple
    params: tuple
    auxiliaries: dict
    rhs: sp.Matrix
    rhs_compact: tuple
    outputs: dict
    initial: tuple
    latex_names: dict

    @property
    def jacobian(self) -> sp.Matrix:
        return _jacobian(self)

    def symbol(self, name: str) -> sp.Symbol:
        for s in self.states + self.params:
            if s.name == name:
                return s
        if name in self.auxiliaries:
            return self.auxiliaries[name][0]
        raise KeyError(name)

    def latex(self, expr) -> str:
        return sp.latex(expr, symbol_names=self.latex_names)

    def latex_equations(self) -> list[tuple[str, str]]:
        """(name, LaTeX) of every auxiliary definition and every state equation."""
        out = []
        for name, (sym, expr) in self.auxiliaries.items():
            out.append((name, f"{self.latex(sym)} = {self.latex(expr)}"))
        for state, expr in zip(self.states, self.rhs_compact):
            out.append((f"d{state.name}/dt",
                        rf"\frac{{d{self.latex(state)}}}{{dt}} = {self.latex(expr)}"))
        return out


@cache
def _jacobian(model: Model) -> sp.Matrix:
    return model.rhs.jacobian(sp.Matrix(model.states))


@cache
def build() -> Model:
    """Build the model once (cached)."""
    y = sp.symbols(STATE_NAMES, real=True)
    s, T, R, p, K, B, N = y
    P = {n: sp.Symbol(n, real=True) for n in PARAM_NAMES}
    latex_names = {sym: tex for sym, tex in zip(y, STATE_LATEX)}
    latex_names.update({P[n]: PARAMETER_SPECS[n].latex for n in _CONTINUOUS})
    latex_names.update({P[n]: _INDICATOR_LATEX[n] for n in _INDICATORS})

    eps, W = P["demand_elasticity"], P["willingness_to_pay"]
    g, kappa, ell, mu_h = P["sector_growth_rate"], P["captive_share"], P["switching_cost"], P["multihoming_share"]
    pP, dQ, beta, lam = P["platform_price"], P["platform_quality"], P["network_value"], P["value_sensitivity"]
    h, w, c = P["direct_adoption_rate"], P["word_of_mouth_rate"], P["churn_rate"]
    cP, FP, s0 = P["platform_unit_cost"], P["platform_fixed_cost"], P["initial_platform_share"]
    kT, dT, sigma, T0 = P["trust_gain"], P["trust_decay"], P["transaction_success"], P["initial_trust"]
    kR, dR, rho, R0 = P["relational_gain"], P["relational_decay"], P["churn_reduction"], P["initial_relational_trust"]
    nc, k, m_thr = P["contacts_per_user"], P["close_ties"], P["contagion_threshold"]
    phi, v, iota = P["fixed_cost_share"], P["variable_cost_share"], P["indivisible_cost_share"]
    tauK, rK, c_cut = P["capacity_adjustment_time"], P["addition_speed_ratio"], P["restructuring_cost"]
    taup, theta = P["price_adjustment_time"], P["price_response"]
    B0, d, pi_d = P["initial_buffer"], P["debt_service"], P["dividend_payout"]
    B_target, r_x, L_credit, r_c = (P["cash_target"], P["excess_cash_payout_rate"], P["credit_line"],
                                    P["credit_interest_rate"])
    chi_trust, chi_unit, chi_fix = P["chi_trust"], P["chi_unit_price"], P["chi_fixed"]
    chi_comp, chi_tp, chi_cust, chi_thr = P["chi_competitive"], P["chi_two_part"], P["chi_per_customer"], P["chi_threshold"]
    chi_h, chi_s, alpha = P["chi_hard"], P["chi_soft"], P["acquisition"]
    n = CAP_SHARPNESS

    aux: dict[str, tuple[sp.Symbol, sp.Expr]] = {}
    sub: dict[sp.Symbol, sp.Expr] = {}  # auxiliary symbol -> fully substituted expression

    taken = set(STATE_NAMES) | set(PARAM_NAMES)

    def define(name, tex, expr):
        # A sympy Symbol is its name: an auxiliary named like a parameter would *be* it.
        if name in taken:
            raise RuntimeError(f"auxiliary {name!r} collides with a state or parameter name")
        taken.add(name)
        sym = sp.Symbol(name, real=True)
        latex_names[sym] = tex
        aux[name] = (sym, expr)
        sub[sym] = sp.sympify(expr).xreplace(sub)
        return sym

    def choose(indicator, on, off):
        # A switch: the unused branch is never evaluated (a branch that is NaN outside the
        # model's domain, say at a solver's trial point, must not leak in as 0 * NaN).
        return sp.Piecewise((on, indicator > sp.Rational(1, 2)), (off, True))

    def positive_part(x):
        # Smooth max(x, 0), >= 0 everywhere and within SMOOTHING / 2 of it; note that
        # positive_part(x) - positive_part(-x) = x exactly, so a symmetric rule stays linear.
        return smooth_positive(x, sp.Float(SMOOTHING))

    # Markup that makes the full-cost price equal the initial price 1.
    mu1 = define("markup_factor", r"(1+\mu)", 1 / (phi + v))
    # Normalising factor of the cap so that the capped price of a full cost of 1 is 1.
    a = define("cap_factor", "a", (1 + W ** -n) ** sp.Rational(1, n))

    # Demand. The per-unit (marginal) price is the bill under per-unit policies (average
    # cost, competitive); under a two-part tariff or a fixed price it stays at 1.
    p_u = define("marginal_price", r"p_u", chi_unit * p + (1 - chi_unit))
    # Per customer (v2): each side's customers buy q(x) = exp(-ε (x - 1)) at the price x
    # they pay (elasticity ε at the initial price, finite at a free platform). Sector (v1):
    # one market size from the share-weighted average price, split by share.
    p_bar = define("average_price", r"\bar{p}", (1 - s) * p_u + s * pP)
    M_sector = define("sector_demand_per_customer", r"M_{\mathrm{sec}}", p_bar ** (-eps))
    d_I = define("incumbent_demand_per_customer", r"d_I", choose(chi_cust, sp.exp(-eps * (p_u - 1)), M_sector))
    d_P = define("platform_demand_per_customer", r"d_P", choose(chi_cust, sp.exp(-eps * (pP - 1)), M_sector))
    qI = define("incumbent_volume", "q_I", N * (1 - s) * d_I)
    qP = define("platform_volume", "q_P", N * s * d_P)
    M = define("market_size", "M", qI + qP)
    # The incumbent's initial volume (N = 1, marginal price 1 under every policy).
    qI0 = define("initial_incumbent_volume", r"q_{I,0}",
                 (1 - s0) * choose(chi_cust, 1, ((1 - s0) + s0 * pP) ** (-eps)))

    # Incumbent costs. The indivisible part of the fixed cost stays at its initial level
    # whatever the capacity (minimum efficient scale); the divisible part follows capacity.
    F = define("fixed_cost", "F", phi * (iota * qI0 + (1 - iota) * K))
    C = define("incumbent_cost", "C", v * qI + F)
    # Two-part tariff: the fixed charge is paid per connected customer, the incumbent's own
    # and the platform users who stay connected (multi-homing), counted in units of the
    # incumbent's per-customer volume.
    D_c = define("connected_volume", r"D_c", N * d_I * ((1 - s) + chi_tp * mu_h * s))
    # Full-cost bill per unit of a connected customer: unit revenue 1 on the volume plus the
    # fixed charge on the connected base recover (1+mu) C; per-unit pricing when D_c = q_I.
    X = define("full_cost_revenue", "X", mu1 * C + chi_tp * (D_c - qI))
    # X / D_c, smoothly capped at the willingness to pay; written without dividing by the
    # volume so that it stays finite as the incumbent's volume vanishes.
    p_full = define("target_price_average_cost", r"p^{*}_{\mathrm{AC}}",
                    a * X / (D_c ** n + (X / W) ** n) ** sp.Rational(1, n))
    # Competitive: the price falls toward avoidable (variable) cost as customers leave.
    p_comp = define("target_price_competitive", r"p^{*}_{\mathrm{comp}}",
                    v + (1 - v) * (sp.Abs(1 - s) / (1 - s0)) ** theta)  # |.|: finite past s = 1
    p_star = define("target_price", r"p^{*}", choose(chi_fix, 1, choose(chi_comp, p_comp, p_full)))
    # Revenue: the volume at the marginal price plus the fixed charge on connected volume.
    rev = define("incumbent_revenue", r"G_I", p_u * qI + (p - p_u) * D_c)
    profit = define("operating_profit", r"\pi_I", rev - C)

    # Capacity: added r_K times faster than it is cut; every unit cut costs c_cut.
    gap = define("capacity_gap", r"\Delta K", qI - K)
    added = define("capacity_added", r"K^{+}", rK * positive_part(gap) / tauK)
    cut = define("capacity_cut", r"K^{-}", positive_part(-gap) / tauK)
    restructuring = define("restructuring", r"\Pi_{\mathrm{cut}}", c_cut * cut)

    # Finance. B is liquidity: cash plus the undrawn credit line (initial gross units).
    # Debt service is contractual (a share d of the initial operating profit); dividends a
    # share of positive profit after it; cash above the target is paid out; drawn credit
    # pays interest.
    D = define("debt_service_flow", "D", d * (1 - phi - v) * qI0)
    cash = define("cash", r"B_{\mathrm{cash}}", B - L_credit * qI0)
    interest = define("credit_interest", r"\Pi_{\mathrm{int}}", r_c * positive_part(-cash))
    net = define("net_profit", r"\pi_{\mathrm{net}}", profit - D - interest - restructuring)
    dividends = define("dividends", r"\Pi_{\mathrm{div}}", pi_d * positive_part(net))
    excess = define("excess_cash_payout", r"\Pi_{x}", r_x * positive_part(cash - B_target * qI0))

    # Platform value: standard network effect (grows with user count) or trust network
    # effect (grows with trust, saturates in the number of close ties on the platform),
    # normalised to the same value beta at the reference point s = 1, T = 1, so that
    # comparing the two compares their shapes, not their sizes.
    V_std = define("network_value_standard", r"V_{\mathrm{std}}", beta * s)
    V_trust = define("network_value_trust", r"V_{\mathrm{trust}}",
                     beta * T * (nc * s) / (nc * s + k) * (nc + k) / nc)
    V = define("platform_network_value", "V", (1 - chi_trust) * V_std + chi_trust * V_trust)
    # The bill per unit a switcher saves: multi-homers keep paying the two-part tariff's
    # fixed charge, so for them only the marginal price counts.
    p_seen = define("incumbent_price_seen", r"p_{\mathrm{sw}}", p_u + (1 - mu_h) * (p - p_u))
    dU = define("relative_value", r"\Delta U", dQ + V - pP + p_seen)
    # Logistic choice written with tanh: no overflow for any value difference. A switching
    # cost ell must be overcome in either direction.
    A_in = define("attractiveness", "A", (1 + sp.tanh(lam * (dU - ell) / 2)) / 2)
    A_out = define("repulsiveness", r"A_{\mathrm{out}}", (1 - sp.tanh(lam * (dU + ell) / 2)) / 2)
    # Word of mouth: simple contagion (contacts with adopters, s) or threshold contagion
    # (at least m of the k close ties adopted: the binomial tail, mean field).
    G = define("word_of_mouth_exposure", r"E_w", choose(chi_thr, binomial_tail(s, k, m_thr), s))

    adopt = define("adoption", r"F_{\mathrm{in}}",
                   alpha * A_in * (chi_h * h + chi_s * w * T * G) * (1 - kappa - s))
    churn = define("churn", r"F_{\mathrm{out}}", A_out * c * (1 - rho * R) * s)
    # Trust grows with transactions per customer, so that it does not scale with the
    # sector's size.
    tx = define("platform_transactions_per_customer", r"\tau_P", qP / N)

    rhs_compact = (
        adopt - churn,
        kT * tx * (sigma * (1 - T) - (1 - sigma) * T) - dT * T,
        kR * tx * T * (1 - R) - dR * R,
        (p_star - p) / taup,
        added - cut,
        net - dividends - excess,
        g * N,
    )
    rhs = sp.Matrix([e.xreplace(sub) for e in rhs_compact])

    platform_gross = pP * qP
    outputs_compact = {
        "market_size": M,
        "incumbent_volume": qI,
        "platform_volume": qP,
        "marginal_price": p_u,
        "target_price": p_star,
        "incumbent_revenue": rev,
        "incumbent_cost": C,
        "operating_profit": profit,
        "platform_gross": platform_gross,
        "platform_share_of_gross": platform_gross / (platform_gross + rev),
        "platform_profit": (pP - cP) * qP - FP,
        "platform_network_value": V,
        "relative_value": dU,
        "adoption": adopt,
        "churn": churn,
        "fixed_cost": F,
        "debt_service_flow": D,
        "credit_interest": interest,
        "restructuring": restructuring,
        "dividends": dividends,
        "excess_cash_payout": excess,
        "cash": cash,
    }
    assert tuple(outputs_compact) == OUTPUT_NAMES  # internal consistency, not input validation
    outputs = {k_: sp.sympify(e).xreplace(sub) for k_, e in outputs_compact.items()}

    # Initial state: the incumbent starts in its steady state at price 1 with capacity
    # matched to its volume; liquidity is the buffer plus the credit line, in years of
    # initial gross; the sector's customers are the unit.
    qI0_value = sub[qI0]
    initial = (s0, T0, R0, sp.Integer(1), qI0_value, (B0 + L_credit) * qI0_value, sp.Integer(1))

    return Model(states=tuple(y), params=tuple(P[n] for n in PARAM_NAMES), auxiliaries=aux,
                 rhs=rhs, rhs_compact=rhs_compact, outputs=outputs, initial=initial,
                 latex_names=latex_names)


def param_vector(params: Parameters, *, acquisition: float = 1.0) -> np.ndarray:
    """The numeric parameter vector, in the order of ``PARAM_NAMES``."""
    values = [float(getattr(params, n)) for n in _CONTINUOUS]
    values += [
        float(params.network_effect == "trust"),
        float(params.price_policy in ("average_cost", "competitive")),
        float(params.price_policy == "fixed"),
        float(params.price_policy == "competitive"),
        float(params.price_policy == "two_part"),
        float(params.demand_form == "per_customer"),
        float(params.contagion == "threshold"),
        float(params.hard_network),
        float(params.soft_network),
        float(acquisition),
    ]
    return np.array(values, dtype=np.float64)


def initial_state(params: Parameters) -> np.ndarray:
    """The initial state vector for ``params`` (numeric form of ``Model.initial``)."""
    from ._generated import initial  # local import: the generated module needs numba

    return initial(param_vector(params))
