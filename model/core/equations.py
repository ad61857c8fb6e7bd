"""The one definition of the model's equations, in sympy.

One aggregate incumbent ("Highland Park") and one aggregate trust platform share a
sector. Everything numeric (the solver's right-hand side, the analytic Jacobian, the
derived output series) and everything printed (the LaTeX of each equation in the paper)
is derived from the expressions built here; nothing is written twice. The paper's
section "The model" explains each term and traces it to a sentence of the essays.

State (all dimensionless or in units of the incumbent's initial annual gross):

=====  ====================  ===========================================================
 s     platform_share        platform share of sector volume, in [0, 1]
 T     platform_trust        trust in the platform (mediated trust), in [0, 1]
 R     relational_trust      relational ("real") trust from repeat transactions, [0, 1]
 p     incumbent_price       incumbent's bill per unit, relative to its initial price
 K     capacity              incumbent capacity (its fixed cost is φ·K)
 B     buffer                incumbent's financial buffer; the incumbent falls at B = 0
=====  ====================  ===========================================================

"The incumbent falls" (used everywhere): its financial buffer ``B`` reaches zero, that is
its cumulated operating losses and committed payouts exhaust its cash, equity and credit.
The simulation ends there: the incumbent's equations stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp

from .parameters import PARAMETER_SPECS, Parameters

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

#: Sharpness of the willingness-to-pay cap on the incumbent's price (a smooth minimum,
#: an L^n norm): high enough that the cap changes a price at half the ceiling by < 0.4 %,
#: low enough to keep the right-hand side smooth for the Jacobian and continuation.
CAP_SHARPNESS = 8

STATE_NAMES = ("platform_share", "platform_trust", "relational_trust", "incumbent_price",
               "capacity", "buffer")
STATE_LATEX = ("s", "T", "R", "p", "K", "B")
BUFFER_INDEX = STATE_NAMES.index("buffer")

# Parameters that enter the equations, then the switches as 0/1 indicators, then the
# internal acquisition switch used by the point-of-no-return experiment (not a user
# parameter: it turns all new adoption off from a chosen moment).
_CONTINUOUS = tuple(n for n, s in PARAMETER_SPECS.items() if not s.is_switch and n != "horizon")
_INDICATORS = ("chi_trust", "chi_average_cost", "chi_fixed", "chi_hard", "chi_soft", "acquisition")
PARAM_NAMES = _CONTINUOUS + _INDICATORS
_INDICATOR_LATEX = {
    "chi_trust": r"\chi_{\mathrm{trust}}",
    "chi_average_cost": r"\chi_{\mathrm{AC}}",
    "chi_fixed": r"\chi_{\mathrm{fix}}",
    "chi_hard": r"\chi_h",
    "chi_soft": r"\chi_s",
    "acquisition": r"\alpha",
}

#: Derived series computed from the state at every output time.
OUTPUT_NAMES = (
    "market_size", "incumbent_volume", "platform_volume", "marginal_price", "target_price",
    "incumbent_revenue", "incumbent_cost", "operating_profit", "platform_gross",
    "platform_share_of_gross", "platform_profit", "platform_network_value", "relative_value",
    "adoption", "churn",
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
    s, T, R, p, K, B = y
    P = {n: sp.Symbol(n, real=True) for n in PARAM_NAMES}
    latex_names = {sym: tex for sym, tex in zip(y, STATE_LATEX)}
    latex_names.update({P[n]: PARAMETER_SPECS[n].latex for n in _CONTINUOUS})
    latex_names.update({P[n]: _INDICATOR_LATEX[n] for n in _INDICATORS})

    eps, W = P["demand_elasticity"], P["willingness_to_pay"]
    pP, dQ, beta, lam = P["platform_price"], P["platform_quality"], P["network_value"], P["value_sensitivity"]
    h, w, c = P["direct_adoption_rate"], P["word_of_mouth_rate"], P["churn_rate"]
    cP, FP, s0 = P["platform_unit_cost"], P["platform_fixed_cost"], P["initial_platform_share"]
    kT, dT, sigma, T0 = P["trust_gain"], P["trust_decay"], P["transaction_success"], P["initial_trust"]
    kR, dR, rho, R0 = P["relational_gain"], P["relational_decay"], P["churn_reduction"], P["initial_relational_trust"]
    nc, k = P["contacts_per_user"], P["close_ties"]
    phi, v = P["fixed_cost_share"], P["variable_cost_share"]
    tauK, taup, B0, d = (P["capacity_adjustment_time"], P["price_adjustment_time"],
                         P["initial_buffer"], P["committed_payout"])
    chi_trust, chi_ac, chi_fix = P["chi_trust"], P["chi_average_cost"], P["chi_fixed"]
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

    # Markup that makes the full-cost price equal the initial price 1.
    mu1 = define("markup_factor", r"(1+\mu)", 1 / (phi + v))
    # Normalising factor of the cap so that the capped price of a full cost of 1 is 1.
    a = define("cap_factor", "a", (1 + W ** -n) ** sp.Rational(1, n))

    # Demand. Under average-cost pricing the per-unit (marginal) price is the bill; under
    # a two-part tariff or a fixed price it stays at its initial level 1.
    p_u = define("marginal_price", r"p_u", chi_ac * p + (1 - chi_ac))
    p_bar = define("average_price", r"\bar{p}", (1 - s) * p_u + s * pP)
    M = define("market_size", "M", p_bar ** (-eps))
    qI = define("incumbent_volume", "q_I", (1 - s) * M)
    qP = define("platform_volume", "q_P", s * M)

    # Incumbent costs and prices.
    C = define("incumbent_cost", "C", v * qI + phi * K)
    # Full-cost price (1+mu) C / q_I, smoothly capped at the willingness to pay W. Written
    # without dividing by q_I so that it stays finite as the incumbent's volume vanishes.
    p_full = define("target_price_average_cost", r"p^{*}_{\mathrm{AC}}",
                    a * mu1 * C / (qI ** n + (mu1 * C / W) ** n) ** sp.Rational(1, n))
    p_star = define("target_price", r"p^{*}", chi_fix * 1 + (1 - chi_fix) * p_full)
    rev = define("incumbent_revenue", r"G_I", p * qI)
    profit = define("operating_profit", r"\pi_I", rev - C)
    # Committed payout: a fixed share d of the initial operating profit (initial revenue
    # is the initial volume at price 1; the margin is 1 - phi - v).
    qI0 = define("initial_incumbent_volume", r"q_{I,0}",
                 (1 - s0) * ((1 - s0) + s0 * pP) ** (-eps))  # initial marginal price is 1 under every policy
    D = define("committed_payout_flow", "D", d * (1 - phi - v) * qI0)

    # Platform value: standard network effect (grows with user count) or trust network
    # effect (grows with trust, saturates in the number of close ties on the platform).
    V_std = define("network_value_standard", r"V_{\mathrm{std}}", beta * s)
    V_trust = define("network_value_trust", r"V_{\mathrm{trust}}", beta * T * (nc * s) / (nc * s + k))
    V = define("platform_network_value", "V", (1 - chi_trust) * V_std + chi_trust * V_trust)
    dU = define("relative_value", r"\Delta U", dQ + V - pP + p)
    # Logistic choice written with tanh: no overflow for any value difference.
    A = define("attractiveness", "A", (1 + sp.tanh(lam * dU / 2)) / 2)

    adopt = define("adoption", r"F_{\mathrm{in}}",
                   alpha * A * (chi_h * h + chi_s * w * T * s) * (1 - s))
    churn = define("churn", r"F_{\mathrm{out}}", (1 - A) * c * (1 - rho * R) * s)

    rhs_compact = (
        adopt - churn,
        kT * qP * (sigma * (1 - T) - (1 - sigma) * T) - dT * T,
        kR * qP * T * (1 - R) - dR * R,
        (p_star - p) / taup,
        (qI - K) / tauK,
        profit - D,
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
    }
    assert tuple(outputs_compact) == OUTPUT_NAMES  # internal consistency, not input validation
    outputs = {k_: sp.sympify(e).xreplace(sub) for k_, e in outputs_compact.items()}

    # Initial state: the incumbent starts in its steady state at price 1 with capacity
    # matched to its volume; buffer in years of initial gross.
    qI0_value = sub[qI0]
    initial = (s0, T0, R0, sp.Integer(1), qI0_value, B0 * qI0_value)

    return Model(states=tuple(y), params=tuple(P[n] for n in PARAM_NAMES), auxiliaries=aux,
                 rhs=rhs, rhs_compact=rhs_compact, outputs=outputs, initial=initial,
                 latex_names=latex_names)


def param_vector(params: Parameters, *, acquisition: float = 1.0) -> np.ndarray:
    """The numeric parameter vector, in the order of ``PARAM_NAMES``."""
    values = [float(getattr(params, n)) for n in _CONTINUOUS]
    values += [
        float(params.network_effect == "trust"),
        float(params.price_policy == "average_cost"),
        float(params.price_policy == "fixed"),
        float(params.hard_network),
        float(params.soft_network),
        float(acquisition),
    ]
    return np.array(values, dtype=np.float64)


def initial_state(params: Parameters) -> np.ndarray:
    """The initial state vector for ``params`` (numeric form of ``Model.initial``)."""
    from ._generated import initial  # local import: the generated module needs numba

    return initial(param_vector(params))
