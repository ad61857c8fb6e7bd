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

from .parameters import NOT_IN_EQUATIONS, PARAMETER_SPECS, Parameters
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
    "FIRM_VARYING",
    "FIRM_OUTPUT_NAMES",
    "state_names",
    "param_names",
    "output_names",
    "buffer_indices",
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
# The firms' group places a sector's firms (model.core.firms); only the switching rate
# between firms enters the equations, and only when there are several.
_CONTINUOUS = tuple(n for n, s in PARAMETER_SPECS.items()
                    if not s.is_switch and n not in NOT_IN_EQUATIONS and s.group != "firms")
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
    n_firms: int = 1

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


#: Parameters that take one value per firm in a sector of several firms (each firm's value
#: is placed by :mod:`model.core.firms`); with one firm they are the sector's own.
FIRM_VARYING = ("fixed_cost_share", "indivisible_cost_share", "variable_cost_share", "debt_service",
                "initial_buffer", "credit_line")
#: Per firm of a sector of several: the varying parameters, its initial share of the
#: incumbents' customers, and whether it is still in the market (1) or has exited (0).
_FIRM_PARAMS = FIRM_VARYING + ("firm_size", "firm_alive")
_FIRM_STATES = ("incumbent_price", "capacity", "buffer")
#: Per-firm derived series of a sector of several firms (``firm_<name>_<i>``).
FIRM_OUTPUT_NAMES = ("customers", "volume", "revenue", "operating_profit", "cash", "attractiveness")


def state_names(n_firms: int = 1) -> tuple[str, ...]:
    """The state vector of a sector of ``n_firms`` incumbents: the platform's three states,
    each firm's price, capacity and liquidity, the sector's customers, then the customer
    shares of firms 1 .. n-1 (the last firm's is what the platform and the others leave).
    With one firm, :data:`STATE_NAMES`."""
    if n_firms == 1:
        return STATE_NAMES
    firms = tuple(f"{name}_{i}" for i in range(1, n_firms + 1) for name in _FIRM_STATES)
    return STATE_NAMES[:3] + firms + ("customers",) + tuple(f"firm_customers_{i}" for i in range(1, n_firms))


def param_names(n_firms: int = 1) -> tuple[str, ...]:
    """The parameter vector of a sector of ``n_firms``: :data:`PARAM_NAMES`, then (several
    firms) the switching rate between firms and each firm's block."""
    if n_firms == 1:
        return PARAM_NAMES
    return PARAM_NAMES + ("firm_switching_rate",) + tuple(
        f"{name}_{i}" for i in range(1, n_firms + 1) for name in _FIRM_PARAMS)


def output_names(n_firms: int = 1) -> tuple[str, ...]:
    """The derived series: :data:`OUTPUT_NAMES` (sector totals when there are several firms),
    then ``firm_<name>_<i>`` for each firm."""
    if n_firms == 1:
        return OUTPUT_NAMES
    return OUTPUT_NAMES + tuple(f"firm_{name}_{i}" for i in range(1, n_firms + 1) for name in FIRM_OUTPUT_NAMES)


def buffer_indices(n_firms: int = 1) -> tuple[int, ...]:
    """Positions of the firms' liquidity in the state vector (the fall events)."""
    names = state_names(n_firms)
    return (BUFFER_INDEX,) if n_firms == 1 else tuple(names.index(f"buffer_{i}") for i in range(1, n_firms + 1))


@cache
def build(n_firms: int = 1) -> Model:
    """Build the model of a sector with ``n_firms`` incumbents once (cached).

    One firm is the aggregate incumbent. Several firms share the incumbent side of the
    market: each has its own costs, finance, price and customers; customers choose between
    each firm and the platform by the same logit on value, and between firms by price (at
    the rate ``firm_switching_rate``); adoption draws on each firm's customers in proportion
    to its share of the incumbents' customers, and so does churn back from the platform.
    With one firm every sum has one term and every share of the incumbents' customers is 1:
    the expressions are those of the aggregate model, symbol for symbol (a test checks it).
    """
    if n_firms < 1:
        raise ValueError(f"`n_firms` must be at least 1, got {n_firms!r}")
    many = n_firms > 1
    names = state_names(n_firms)
    y = sp.symbols(names, real=True)
    s, T, R = y[:3]
    N = y[names.index("customers")]
    P = {n_: sp.Symbol(n_, real=True) for n_ in param_names(n_firms)}
    latex_names = {sym: tex for sym, tex in zip(y[:3], STATE_LATEX[:3])}
    latex_names[N] = "N"
    latex_names.update({P[n_]: PARAMETER_SPECS[n_].latex for n_ in _CONTINUOUS})
    latex_names.update({P[n_]: _INDICATOR_LATEX[n_] for n_ in _INDICATORS})

    eps, W = P["demand_elasticity"], P["willingness_to_pay"]
    g, kappa, ell, mu_h = P["sector_growth_rate"], P["captive_share"], P["switching_cost"], P["multihoming_share"]
    pP, dQ, beta, lam = P["platform_price"], P["platform_quality"], P["network_value"], P["value_sensitivity"]
    h, w, c = P["direct_adoption_rate"], P["word_of_mouth_rate"], P["churn_rate"]
    cP, FP, s0 = P["platform_unit_cost"], P["platform_fixed_cost"], P["initial_platform_share"]
    kT, dT, sigma, T0 = P["trust_gain"], P["trust_decay"], P["transaction_success"], P["initial_trust"]
    kR, dR, rho, R0 = P["relational_gain"], P["relational_decay"], P["churn_reduction"], P["initial_relational_trust"]
    nc, k, m_thr = P["contacts_per_user"], P["close_ties"], P["contagion_threshold"]
    tauK, rK, c_cut = P["capacity_adjustment_time"], P["addition_speed_ratio"], P["restructuring_cost"]
    taup, theta = P["price_adjustment_time"], P["price_response"]
    pi_d = P["dividend_payout"]
    B_target, r_x, r_c = P["cash_target"], P["excess_cash_payout_rate"], P["credit_interest_rate"]
    chi_trust, chi_unit, chi_fix = P["chi_trust"], P["chi_unit_price"], P["chi_fixed"]
    chi_comp, chi_tp, chi_cust, chi_thr = P["chi_competitive"], P["chi_two_part"], P["chi_per_customer"], P["chi_threshold"]
    chi_h, chi_s, alpha = P["chi_hard"], P["chi_soft"], P["acquisition"]
    n = CAP_SHARPNESS

    aux: dict[str, tuple[sp.Symbol, sp.Expr]] = {}
    sub: dict[sp.Symbol, sp.Expr] = {}  # auxiliary symbol -> fully substituted expression

    taken = set(names) | set(P)

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

    def positive_part(x, scale=1):
        # Smooth max(x, 0), >= 0 everywhere and within SMOOTHING / 2 of it; note that
        # positive_part(x) - positive_part(-x) = x exactly, so a symmetric rule stays linear.
        # A firm's flows bend over a width in proportion to its size: the rule is then
        # homogeneous, and n equal firms add up to the one firm of n times the size.
        return smooth_positive(x, sp.Float(SMOOTHING) * scale)

    # One firm: names and symbols as in the aggregate model; firm i of several: suffixed.
    def firm_name(name, i):
        return f"{name}_{i}" if many else name

    def firm_tex(tex, i):
        return f"{{{tex}}}_{{{i}}}" if many else tex

    firms = range(1, n_firms + 1)
    fp = {}  # firm -> its parameters
    fs = {}  # firm -> its states (p, K, B)
    for i in firms:
        fp[i] = {name: P[firm_name(name, i)] if many else P[name] for name in FIRM_VARYING}
        if many:
            for name in FIRM_VARYING:
                latex_names[fp[i][name]] = firm_tex(PARAMETER_SPECS[name].latex, i)
            fp[i]["size"], fp[i]["alive"] = P[f"firm_size_{i}"], P[f"firm_alive_{i}"]
            latex_names[fp[i]["size"]] = firm_tex("z", i)
            latex_names[fp[i]["alive"]] = firm_tex(r"\chi_{\mathrm{alive}}", i)
        fs[i] = tuple(y[names.index(firm_name(name, i))] for name in _FIRM_STATES)
        for sym, tex in zip(fs[i], STATE_LATEX[3:6]):
            latex_names[sym] = firm_tex(tex, i)
    if many:
        r_sw = P["firm_switching_rate"]
        latex_names[r_sw] = PARAMETER_SPECS["firm_switching_rate"].latex

    # Customer shares (of the sector's customers) and each firm's share of the incumbents'.
    cust, omega, cust0 = {}, {}, {}
    for i in firms:
        if not many:
            cust[i], omega[i], cust0[i] = 1 - s, sp.Integer(1), 1 - s0
            continue
        if i < n_firms:
            cust[i] = y[names.index(f"firm_customers_{i}")]
            latex_names[cust[i]] = firm_tex("c", i)
        else:  # the last firm has what the platform and the others leave
            cust[i] = define(f"firm_customers_{i}", firm_tex("c", i), 1 - s - sum(cust[j] for j in firms if j < i))
        omega[i] = define(f"incumbent_customer_share_{i}", firm_tex(r"\omega", i), cust[i] / (1 - s))
        cust0[i] = (1 - s0) * fp[i]["size"]

    # Normalising factor of the cap so that the capped price of a full cost of 1 is 1.
    a = define("cap_factor", "a", (1 + W ** -n) ** sp.Rational(1, n))

    # Demand. The per-unit (marginal) price is the bill under per-unit policies (average
    # cost, competitive); under a two-part tariff or a fixed price it stays at 1.
    p_u = {i: define(firm_name("marginal_price", i), firm_tex("p_u", i), chi_unit * fs[i][0] + (1 - chi_unit))
           for i in firms}
    # Per customer (v2): each side's customers buy q(x) = exp(-ε (x - 1)) at the price x
    # they pay (elasticity ε at the initial price, finite at a free platform). Sector (v1):
    # one market size from the share-weighted average price, split by share.
    p_bar = define("average_price", r"\bar{p}", sum(cust[i] * p_u[i] for i in firms) + s * pP)
    M_sector = define("sector_demand_per_customer", r"M_{\mathrm{sec}}", p_bar ** (-eps))
    d_I = {i: define(firm_name("incumbent_demand_per_customer", i), firm_tex("d_I", i),
                     choose(chi_cust, sp.exp(-eps * (p_u[i] - 1)), M_sector)) for i in firms}
    d_P = define("platform_demand_per_customer", r"d_P", choose(chi_cust, sp.exp(-eps * (pP - 1)), M_sector))
    q = {i: define(firm_name("incumbent_volume", i), firm_tex("q_I", i), N * cust[i] * d_I[i]) for i in firms}
    qI = q[1] if not many else define("incumbent_volume", "q_I", sum(q.values()))
    qP = define("platform_volume", "q_P", N * s * d_P)
    M = define("market_size", "M", qI + qP)

    # Platform value: standard network effect (grows with user count) or trust network
    # effect (grows with trust, saturates in the number of close ties on the platform),
    # normalised to the same value beta at the reference point s = 1, T = 1, so that
    # comparing the two compares their shapes, not their sizes.
    V_std = define("network_value_standard", r"V_{\mathrm{std}}", beta * s)
    V_trust = define("network_value_trust", r"V_{\mathrm{trust}}",
                     beta * T * (nc * s) / (nc * s + k) * (nc + k) / nc)
    V = define("platform_network_value", "V", (1 - chi_trust) * V_std + chi_trust * V_trust)
    # Word of mouth: simple contagion (contacts with adopters, s) or threshold contagion
    # (at least m of the k close ties adopted: the binomial tail, mean field).
    G = define("word_of_mouth_exposure", r"E_w", choose(chi_thr, binomial_tail(s, k, m_thr), s))
    reach = chi_h * h + chi_s * w * T * G

    firm = {}
    for i in firms:
        phi, v, iota = fp[i]["fixed_cost_share"], fp[i]["variable_cost_share"], fp[i]["indivisible_cost_share"]
        B0, d, L_credit = fp[i]["initial_buffer"], fp[i]["debt_service"], fp[i]["credit_line"]
        p, K, B = fs[i]

        def fdef(name, tex, expr):
            return define(firm_name(name, i), firm_tex(tex, i), expr)

        size = fp[i]["size"] if many else 1

        # Markup that makes the full-cost price equal the initial price 1.
        mu1 = fdef("markup_factor", r"(1+\mu)", 1 / (phi + v))
        # The firm's initial volume (N = 1, marginal price 1 under every policy).
        qI0 = fdef("initial_incumbent_volume", r"q_{I,0}",
                   cust0[i] * choose(chi_cust, 1, ((1 - s0) + s0 * pP) ** (-eps)))

        # Costs. The indivisible part of the fixed cost stays at its initial level whatever
        # the capacity (minimum efficient scale); the divisible part follows capacity.
        F = fdef("fixed_cost", "F", phi * (iota * qI0 + (1 - iota) * K))
        C = fdef("incumbent_cost", "C", v * q[i] + F)
        # Two-part tariff: the fixed charge is paid per connected customer, the firm's own
        # and its part of the platform users who stay connected (multi-homing), counted in
        # units of its per-customer volume.
        D_c = fdef("connected_volume", r"D_c", N * d_I[i] * (cust[i] + chi_tp * mu_h * s * omega[i]))
        # Full-cost bill per unit of a connected customer: unit revenue 1 on the volume plus
        # the fixed charge on the connected base recover (1+mu) C; per-unit pricing when
        # D_c = q_I.
        X = fdef("full_cost_revenue", "X", mu1 * C + chi_tp * (D_c - q[i]))
        # X / D_c, smoothly capped at the willingness to pay; written without dividing by
        # the volume so that it stays finite as the volume vanishes.
        p_full = fdef("target_price_average_cost", r"p^{*}_{\mathrm{AC}}",
                      a * X / (D_c ** n + (X / W) ** n) ** sp.Rational(1, n))
        # Competitive: the price falls toward avoidable (variable) cost as customers leave.
        # |.|: finite past s = 1. A firm of several can lose every customer (it exits): there
        # |c| is rounded over 1e-9 of its start, so that the slope of |c|^θ stays finite.
        kept = sp.Abs(cust[i]) if not many else sp.sqrt(cust[i] ** 2 + (sp.Float(1e-9) * cust0[i]) ** 2)
        p_comp = fdef("target_price_competitive", r"p^{*}_{\mathrm{comp}}", v + (1 - v) * (kept / cust0[i]) ** theta)
        p_star = fdef("target_price", r"p^{*}", choose(chi_fix, 1, choose(chi_comp, p_comp, p_full)))
        # Revenue: the volume at the marginal price plus the fixed charge on connected volume.
        rev = fdef("incumbent_revenue", r"G_I", p_u[i] * q[i] + (p - p_u[i]) * D_c)
        profit = fdef("operating_profit", r"\pi_I", rev - C)

        # Capacity: added r_K times faster than it is cut; every unit cut costs c_cut.
        gap = fdef("capacity_gap", r"\Delta K", q[i] - K)
        added = fdef("capacity_added", r"K^{+}", rK * positive_part(gap, size) / tauK)
        cut = fdef("capacity_cut", r"K^{-}", positive_part(-gap, size) / tauK)
        restructuring = fdef("restructuring", r"\Pi_{\mathrm{cut}}", c_cut * cut)

        # Finance. B is liquidity: cash plus the undrawn credit line (initial gross units).
        # Debt service is contractual (a share d of the initial operating profit); dividends
        # a share of positive profit after it; cash above the target is paid out; drawn
        # credit pays interest.
        D = fdef("debt_service_flow", "D", d * (1 - phi - v) * qI0)
        cash = fdef("cash", r"B_{\mathrm{cash}}", B - L_credit * qI0)
        interest = fdef("credit_interest", r"\Pi_{\mathrm{int}}", r_c * positive_part(-cash, size))
        net = fdef("net_profit", r"\pi_{\mathrm{net}}", profit - D - interest - restructuring)
        dividends = fdef("dividends", r"\Pi_{\mathrm{div}}", pi_d * positive_part(net, size))
        excess = fdef("excess_cash_payout", r"\Pi_{x}", r_x * positive_part(cash - B_target * qI0, size))

        # The bill per unit a switcher saves: multi-homers keep paying the two-part tariff's
        # fixed charge, so for them only the marginal price counts.
        p_seen = fdef("incumbent_price_seen", r"p_{\mathrm{sw}}", p_u[i] + (1 - mu_h) * (p - p_u[i]))
        dU = fdef("relative_value", r"\Delta U", dQ + V - pP + p_seen)
        # Logistic choice written with tanh: no overflow for any value difference. A
        # switching cost ell must be overcome in either direction.
        A_in = fdef("attractiveness", "A", (1 + sp.tanh(lam * (dU - ell) / 2)) / 2)
        A_out = fdef("repulsiveness", r"A_{\mathrm{out}}", (1 - sp.tanh(lam * (dU + ell) / 2)) / 2)
        # Adoption draws on the firm's part of the incumbents' customers who can switch;
        # churn returns platform users to the firms in proportion to their customers.
        adopt = fdef("adoption", r"F_{\mathrm{in}}", alpha * A_in * reach * omega[i] * (1 - kappa - s))
        churn = fdef("churn", r"F_{\mathrm{out}}", A_out * c * (1 - rho * R) * s * omega[i])
        firm[i] = dict(p=p, K=K, B=B, p_star=p_star, added=added, cut=cut, net=net, dividends=dividends,
                       excess=excess, adopt=adopt, churn=churn, rev=rev, C=C, profit=profit, F=F, D=D,
                       interest=interest, restructuring=restructuring, cash=cash, p_u=p_u[i], dU=dU,
                       p_seen=p_seen, A_in=A_in, qI0=qI0)

    adopt = firm[1]["adopt"] if not many else define("adoption", r"F_{\mathrm{in}}", sum(f["adopt"] for f in firm.values()))
    churn = firm[1]["churn"] if not many else define("churn", r"F_{\mathrm{out}}", sum(f["churn"] for f in firm.values()))
    # Trust grows with transactions per customer, so that it does not scale with the
    # sector's size.
    tx = define("platform_transactions_per_customer", r"\tau_P", qP / N)

    def firm_rhs(i):
        f = firm[i]
        rates = ((f["p_star"] - f["p"]) / taup, f["added"] - f["cut"], f["net"] - f["dividends"] - f["excess"])
        # An exited firm's books are closed: nothing of it moves any more.
        return rates if not many else tuple(fp[i]["alive"] * r for r in rates)

    def switching(j, i):
        # Customers of firm j who compare firms each year move to firm i (chosen in proportion
        # to its customers) by the logit on the price saving, against the switching cost.
        saving = firm[j]["p_seen"] - firm[i]["p_seen"]
        return r_sw * cust[j] * omega[i] * (1 + sp.tanh(lam * (saving - ell) / 2)) / 2

    rhs_compact = [adopt - churn,
                   kT * tx * (sigma * (1 - T) - (1 - sigma) * T) - dT * T,
                   kR * tx * T * (1 - R) - dR * R]
    for i in firms:
        rhs_compact += firm_rhs(i)
    rhs_compact.append(g * N)
    for i in range(1, n_firms):
        moved = sum(switching(j, i) - switching(i, j) for j in firms if j != i)
        rhs_compact.append(firm[i]["churn"] - firm[i]["adopt"] + moved)
    rhs_compact = tuple(rhs_compact)
    rhs = sp.Matrix([e.xreplace(sub) for e in rhs_compact])

    def total(key):
        # Sector totals over the firms in the market (an exited firm's costs have left it).
        if not many:
            return firm[1][key]
        return sum(fp[i]["alive"] * firm[i][key] for i in firms)

    def by_customers(key):
        # The incumbents' average, weighted by their customers.
        return firm[1][key] if not many else sum(omega[i] * firm[i][key] for i in firms)

    platform_gross = pP * qP
    rev_total = total("rev")
    outputs_compact = {
        "market_size": M,
        "incumbent_volume": qI,
        "platform_volume": qP,
        "marginal_price": by_customers("p_u"),
        "target_price": by_customers("p_star"),
        "incumbent_revenue": rev_total,
        "incumbent_cost": total("C"),
        "operating_profit": total("profit"),
        "platform_gross": platform_gross,
        "platform_share_of_gross": platform_gross / (platform_gross + rev_total),
        "platform_profit": (pP - cP) * qP - FP,
        "platform_network_value": V,
        "relative_value": by_customers("dU"),
        "adoption": adopt,
        "churn": churn,
        "fixed_cost": total("F"),
        "debt_service_flow": total("D"),
        "credit_interest": total("interest"),
        "restructuring": total("restructuring"),
        "dividends": total("dividends"),
        "excess_cash_payout": total("excess"),
        "cash": total("cash"),
    }
    assert tuple(outputs_compact) == OUTPUT_NAMES  # internal consistency, not input validation
    if many:
        for i in firms:
            per_firm = dict(customers=cust[i], volume=q[i], revenue=firm[i]["rev"],
                            operating_profit=firm[i]["profit"], cash=firm[i]["cash"], attractiveness=firm[i]["A_in"])
            assert tuple(per_firm) == FIRM_OUTPUT_NAMES
            outputs_compact.update({f"firm_{key}_{i}": e for key, e in per_firm.items()})
    outputs = {k_: sp.sympify(e).xreplace(sub) for k_, e in outputs_compact.items()}

    # Initial state: each firm starts in its steady state at price 1 with capacity matched
    # to its volume; liquidity is its buffer plus its credit line, in years of its initial
    # gross; the sector's customers are the unit.
    initial = [s0, T0, R0]
    for i in firms:
        qI0_value = sub[firm[i]["qI0"]]
        initial += [sp.Integer(1), qI0_value,
                    (fp[i]["initial_buffer"] + fp[i]["credit_line"]) * qI0_value]
    initial.append(sp.Integer(1))
    initial += [cust0[i] for i in range(1, n_firms)]

    return Model(states=tuple(y), params=tuple(P[n_] for n_ in param_names(n_firms)), auxiliaries=aux,
                 rhs=rhs, rhs_compact=rhs_compact, outputs=outputs, initial=tuple(initial),
                 latex_names=latex_names, n_firms=n_firms)


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
