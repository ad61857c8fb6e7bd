"""The one description of the model's parameters.

Every parameter is a field of the frozen, keyword-only dataclass :class:`Parameters`.
Its metadata (symbol, LaTeX, unit, bounds, group, meaning) is read by everything else:
validation here, the sympy symbols of :mod:`model.core.equations`, the CLI's ``--set``, the
scenario files, the dashboard's sliders, the sweeps and the paper's parameter table.

Units are normalised so that the incumbent starts with a price of 1 and a volume of
(almost) 1: money is in units of the incumbent's initial annual gross, prices are
relative to the incumbent's initial price, time is in years.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = [
    "ParameterSpec",
    "Parameters",
    "PARAMETER_SPECS",
    "SWITCHES",
    "NOT_IN_EQUATIONS",
    "GROUPS",
    "spec",
    "numeric_names",
    "from_first_version",
]

#: Slider groups, in display order.
GROUPS = ("demand", "platform", "trust", "incumbent", "finance", "firms", "switches", "readings", "simulation")


@dataclass(frozen=True, kw_only=True)
class ParameterSpec:
    """What one parameter is: read by validation, sliders, sweeps and the paper."""

    name: str
    symbol: str  # Unicode, for labels and sliders
    latex: str  # for the paper's equations and table
    unit: str
    group: str
    meaning: str
    default: Any
    bounds: tuple[float, float] | None = None  # closed interval; None for switches
    choices: tuple[Any, ...] | None = None  # allowed values of a switch

    @property
    def is_switch(self) -> bool:
        return self.choices is not None

    def allowed(self) -> str:
        """Human-readable statement of what values are allowed."""
        if self.is_switch:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        lo, hi = self.bounds
        return f"a finite number in [{lo:g}, {hi:g}]"


def _p(default, *, symbol, latex, unit, bounds=None, choices=None, group, meaning):
    return field(
        default=default,
        metadata={
            "spec": dict(
                symbol=symbol,
                latex=latex,
                unit=unit,
                bounds=bounds,
                choices=choices,
                group=group,
                meaning=meaning,
                default=default,
            )
        },
    )


@dataclass(frozen=True, kw_only=True)
class Parameters:
    """All parameters of one sector. Frozen; use :func:`dataclasses.replace` for variants.

    Raises
    ------
    ValueError
        On construction, if a value is non-finite, out of its bounds, not one of a
        switch's choices, or inconsistent with another value. The message names the
        field, the value and what is allowed.
    """

    # --- demand -------------------------------------------------------------------
    demand_elasticity: float = _p(
        0.3, symbol="ε", latex=r"\varepsilon", unit="1", bounds=(0.0, 3.0), group="demand",
        meaning="Price elasticity of total sector demand with respect to the average marginal price "
        "(0: fixed market; >0: a cheaper platform grows the market).")
    willingness_to_pay: float = _p(
        2.0, symbol="W", latex="W", unit="× initial price", bounds=(1.1, 10.0), group="demand",
        meaning="Customers' willingness to pay: no incumbent price can exceed it, so the "
        "average-cost spiral is capped.")
    sector_growth_rate: float = _p(
        0.0, symbol="g", latex="g", unit="1/yr", bounds=(-0.1, 0.2), group="demand",
        meaning="Exogenous growth of the sector's customers (real), whatever the platform does; "
        "0: a sector of constant size.")
    captive_share: float = _p(
        0.0, symbol="κ", latex=r"\kappa", unit="1", bounds=(0.0, 0.95), group="demand",
        meaning="Share of customers who do not switch at any value the platform offers (business "
        "travellers for hotels, say): the platform's share can never exceed 1 − κ.")
    switching_cost: float = _p(
        0.0, symbol="ℓ", latex=r"\ell", unit="price units", bounds=(0.0, 2.0), group="demand",
        meaning="Value difference a customer needs before she moves, either way (habit, loyalty "
        "programmes, contracts): loyalty on both sides.")
    multihoming_share: float = _p(
        0.0, symbol="μ_h", latex=r"\mu_h", unit="1", bounds=(0.0, 1.0), group="demand",
        meaning="Share of platform users who stay connected to the incumbent while buying from the "
        "platform: under a two-part tariff they keep paying its fixed charge.")

    # --- platform -----------------------------------------------------------------
    platform_price: float = _p(
        0.7, symbol="p_P", latex="p_P", unit="× initial price", bounds=(0.0, 3.0), group="platform",
        meaning="Price customers pay on the platform for one unit of the sector's service.")
    platform_quality: float = _p(
        0.0, symbol="ΔQ", latex=r"\Delta Q", unit="price units", bounds=(-2.0, 2.0), group="platform",
        meaning="Stand-alone quality advantage of the platform over the incumbent, valued in price units.")
    network_value: float = _p(
        0.5, symbol="β", latex=r"\beta", unit="price units", bounds=(0.0, 3.0), group="platform",
        meaning="Value to a user of the platform's network at full strength (all customers, or full "
        "trust and saturated close ties).")
    value_sensitivity: float = _p(
        5.0, symbol="λ", latex=r"\lambda", unit="1/price unit", bounds=(0.01, 50.0), group="platform",
        meaning="How sharply switching responds to the value difference (logit sensitivity).")
    direct_adoption_rate: float = _p(
        0.02, symbol="h", latex="h", unit="1/yr", bounds=(0.0, 1.0), group="platform",
        meaning="Hard network: adoption through direct, permission-based contact (Bass innovation "
        "coefficient p).")
    word_of_mouth_rate: float = _p(
        0.5, symbol="w", latex="w", unit="1/yr", bounds=(0.0, 3.0), group="platform",
        meaning="Soft network: adoption by word of mouth through trusted ties (Bass imitation "
        "coefficient q at full trust).")
    churn_rate: float = _p(
        0.3, symbol="c", latex="c", unit="1/yr", bounds=(0.0, 3.0), group="platform",
        meaning="Rate at which platform users return to the incumbent when value strongly favours it "
        "and there is no relational trust.")
    platform_unit_cost: float = _p(
        0.1, symbol="c_P", latex="c_P", unit="× initial price", bounds=(0.0, 2.0), group="platform",
        meaning="Platform's cost per unit of service (payments, hosting, support).")
    platform_fixed_cost: float = _p(
        0.01, symbol="F_P", latex="F_P", unit="initial gross/yr", bounds=(0.0, 1.0), group="platform",
        meaning="Platform's fixed cost per year (light: Craigslist ran with about 25 employees).")
    initial_platform_share: float = _p(
        0.001, symbol="s₀", latex="s_0", unit="1", bounds=(1e-6, 0.5), group="platform",
        meaning="Platform share of sector volume at the start.")

    # --- trust --------------------------------------------------------------------
    trust_gain: float = _p(
        3.0, symbol="κ_T", latex=r"\kappa_T", unit="1/yr", bounds=(0.0, 50.0), group="trust",
        meaning="Platform trust built per unit of platform volume by successful transactions.")
    trust_decay: float = _p(
        0.2, symbol="δ_T", latex=r"\delta_T", unit="1/yr", bounds=(0.0, 5.0), group="trust",
        meaning="Erosion of platform trust with time.")
    transaction_success: float = _p(
        0.97, symbol="σ", latex=r"\sigma", unit="1", bounds=(0.5, 1.0), group="trust",
        meaning="Share of platform transactions that succeed; failures erode trust.")
    initial_trust: float = _p(
        0.2, symbol="T₀", latex="T_0", unit="1", bounds=(0.0, 1.0), group="trust",
        meaning="Platform trust at the start.")
    relational_gain: float = _p(
        1.0, symbol="κ_R", latex=r"\kappa_R", unit="1/yr", bounds=(0.0, 50.0), group="trust",
        meaning="Relational (real) trust built per unit of trusted platform volume by repeat transactions.")
    relational_decay: float = _p(
        0.2, symbol="δ_R", latex=r"\delta_R", unit="1/yr", bounds=(0.0, 5.0), group="trust",
        meaning="Fading of relational trust with time.")
    churn_reduction: float = _p(
        0.7, symbol="ρ", latex=r"\rho", unit="1", bounds=(0.0, 1.0), group="trust",
        meaning="Share of churn removed at full relational trust (mediated trust becomes real: users stick).")
    initial_relational_trust: float = _p(
        0.0, symbol="R₀", latex="R_0", unit="1", bounds=(0.0, 1.0), group="trust",
        meaning="Relational trust at the start.")
    contacts_per_user: float = _p(
        150.0, symbol="n_c", latex="n_c", unit="people", bounds=(1.0, 1000.0), group="trust",
        meaning="Acquaintances per customer; n_c·s of them are on the platform.")
    close_ties: float = _p(
        15.0, symbol="k", latex="k", unit="people", bounds=(1.0, 100.0), group="trust",
        meaning="Close, trusted ties per customer (the essay: 8 to 30 people): the trust network's "
        "value is half-saturated at k of them on the platform, and threshold contagion counts them.")
    contagion_threshold: float = _p(
        1.0, symbol="m", latex="m", unit="people", bounds=(1.0, 30.0), group="trust",
        meaning="Threshold contagion: word of mouth converts a customer only once at least m of her "
        "k close ties are on the platform (\"I will only act if a few people that I know well ask me\").")

    # --- incumbent ----------------------------------------------------------------
    fixed_cost_share: float = _p(
        0.6, symbol="φ", latex=r"\varphi", unit="1", bounds=(0.0, 0.95), group="incumbent",
        meaning="Fixed process cost (maintenance included) as a share of the incumbent's initial revenue; "
        "paid whatever the volume.")
    indivisible_cost_share: float = _p(
        0.0, symbol="ι", latex=r"\iota", unit="1", bounds=(0.0, 1.0), group="incumbent",
        meaning="Share of the fixed cost that does not fall when capacity is cut (minimum efficient "
        "scale: the press, the building); only exit removes it. 0: all fixed cost follows capacity.")
    variable_cost_share: float = _p(
        0.2, symbol="v", latex="v", unit="1", bounds=(0.0, 0.95), group="incumbent",
        meaning="Variable cost per unit as a share of the initial price.")
    capacity_adjustment_time: float = _p(
        6.0, symbol="τ_K", latex=r"\tau_K", unit="yr", bounds=(0.1, 50.0), group="incumbent",
        meaning="Time to cut capacity (and with it the divisible fixed cost) to volume: the trap is that "
        "it is slow.")
    addition_speed_ratio: float = _p(
        1.0, symbol="r_K", latex="r_K", unit="1", bounds=(1.0, 20.0), group="incumbent",
        meaning="How many times faster capacity is added than cut (1: symmetric).")
    restructuring_cost: float = _p(
        0.0, symbol="c_cut", latex=r"c_{\mathrm{cut}}", unit="× initial price per unit cut", bounds=(0.0, 3.0),
        group="incumbent",
        meaning="Severance, write-offs and lease exits per unit of annual capacity cut, paid from cash.")
    price_adjustment_time: float = _p(
        1.0, symbol="τ_p", latex=r"\tau_p", unit="yr", bounds=(0.05, 10.0), group="incumbent",
        meaning="Time for the incumbent's price to reach its target.")
    price_response: float = _p(
        0.5, symbol="θ", latex=r"\theta", unit="1", bounds=(0.0, 3.0), group="incumbent",
        meaning="Competitive policy: elasticity of the incumbent's price above avoidable cost to the share "
        "of its customers it keeps (0: holds its price; 1: cuts in proportion).")
    initial_buffer: float = _p(
        0.5, symbol="B₀", latex="B_0", unit="yr of initial gross", bounds=(0.0, 10.0), group="finance",
        meaning="Cash (and equity that can be drawn) at the start; losses drain it.")
    debt_service: float = _p(
        0.5, symbol="d", latex="d", unit="1", bounds=(0.0, 1.0), group="finance",
        meaning="Contractual debt service (interest and scheduled repayment) as a share of the initial "
        "operating profit, paid whatever the result.")
    dividend_payout: float = _p(
        0.0, symbol="π_d", latex=r"\pi_d", unit="1", bounds=(0.0, 1.0), group="finance",
        meaning="Share of positive profit after debt service paid out as dividends; none when there is "
        "no profit.")
    cash_target: float = _p(
        1.0, symbol="B*", latex="B^{*}", unit="yr of initial gross", bounds=(0.0, 10.0), group="finance",
        meaning="Cash the incumbent keeps; cash above it is paid out at the excess-cash rate.")
    excess_cash_payout_rate: float = _p(
        0.0, symbol="r_x", latex="r_x", unit="1/yr", bounds=(0.0, 10.0), group="finance",
        meaning="Rate at which cash above the target is paid out (buybacks, special dividends); 0: "
        "the incumbent hoards.")
    credit_line: float = _p(
        0.0, symbol="L", latex="L", unit="yr of initial gross", bounds=(0.0, 5.0), group="finance",
        meaning="Undrawn credit line at the start: the incumbent falls when cash and credit are both "
        "exhausted.")
    credit_interest_rate: float = _p(
        0.0, symbol="r_c", latex="r_c", unit="1/yr", bounds=(0.0, 0.3), group="finance",
        meaning="Interest on drawn credit.")
    debt_haircut: float = _p(
        0.5, symbol="h_d", latex="h_d", unit="1", bounds=(0.0, 1.0), group="finance",
        meaning="Under reorganisation: share of the debt service written off when the incumbent becomes "
        "insolvent (it then continues with its initial buffer; a second insolvency liquidates it).")

    # --- firms --------------------------------------------------------------------
    # The sector's incumbents as a population (``firm_count`` > 1): firm i's fixed-cost
    # share, indivisible share, variable cost, debt service, buffer and credit line are the
    # sector's value times (1 + spread * z_i), z_i in [-1, 1] at the quantiles of a
    # deterministic design (model.core.firms), clipped to the parameter's bounds; sizes fall
    # with rank as rank^(-inequality). None of these enters a one-firm sector.
    firm_switching_rate: float = _p(
        0.2, symbol="r_sw", latex=r"r_{\mathrm{sw}}", unit="1/yr", bounds=(0.0, 2.0), group="firms",
        meaning="Share of an incumbent's customers who compare the other incumbents each year and move "
        "to a cheaper one (by the same logit choice and switching cost as toward the platform).")
    firm_spread_fixed_cost: float = _p(
        0.0, symbol="σ_φ", latex=r"\sigma_{\varphi}", unit="1", bounds=(0.0, 1.0), group="firms",
        meaning="Relative spread of the fixed-cost share across the sector's firms (0: all alike).")
    firm_spread_indivisible: float = _p(
        0.0, symbol="σ_ι", latex=r"\sigma_{\iota}", unit="1", bounds=(0.0, 1.0), group="firms",
        meaning="Relative spread of the indivisible share of fixed cost across firms.")
    firm_spread_variable_cost: float = _p(
        0.0, symbol="σ_v", latex=r"\sigma_{v}", unit="1", bounds=(0.0, 1.0), group="firms",
        meaning="Relative spread of the variable cost share (and so of the margin) across firms.")
    firm_spread_debt: float = _p(
        0.0, symbol="σ_d", latex=r"\sigma_{d}", unit="1", bounds=(0.0, 1.0), group="firms",
        meaning="Relative spread of debt service (leverage) across firms.")
    firm_spread_buffer: float = _p(
        0.0, symbol="σ_B", latex=r"\sigma_{B}", unit="1", bounds=(0.0, 1.0), group="firms",
        meaning="Relative spread of the initial cash buffer across firms.")
    firm_spread_credit: float = _p(
        0.0, symbol="σ_L", latex=r"\sigma_{L}", unit="1", bounds=(0.0, 1.0), group="firms",
        meaning="Relative spread of the credit line across firms.")
    firm_size_inequality: float = _p(
        0.0, symbol="ζ", latex=r"\zeta", unit="1", bounds=(0.0, 2.0), group="firms",
        meaning="Size concentration: the firm of size rank r has initial share ∝ r^(-ζ) of the "
        "incumbents' customers (0: equal sizes; 1: Zipf).")

    # --- switches -----------------------------------------------------------------
    network_effect: str = _p(
        "trust", symbol="NE", latex=r"\chi_{\mathrm{trust}}", unit="", choices=("standard", "trust"),
        group="switches",
        meaning="Standard network effect (value grows with user count) or trust network effect "
        "(value grows with trust and saturates in close ties).")
    price_policy: str = _p(
        "average_cost", symbol="policy", latex=r"\chi_{\mathrm{policy}}", unit="",
        choices=("average_cost", "two_part", "fixed", "competitive"), group="switches",
        meaning="Incumbent pricing: full average cost per unit; two-part tariff (a fixed charge per "
        "connected customer recovers the fixed cost, the per-unit price stays put); a fixed price; or "
        "competitive (the price that maximises profit against the platform: avoidable cost plus the "
        "logit markup, so the incumbent cuts its price as the platform gains).")
    demand_form: str = _p(
        "per_customer", symbol="demand", latex=r"\chi_{\mathrm{cust}}", unit="",
        choices=("per_customer", "sector"), group="switches",
        meaning="Per customer: each side's volume responds to the price it charges, so a cheap "
        "platform's market expansion is the platform's; sector (the first version): one market size "
        "from the average price, split by share.")
    contagion: str = _p(
        "simple", symbol="contagion", latex=r"\chi_{\mathrm{thr}}", unit="", choices=("simple", "threshold"),
        group="switches",
        meaning="Word of mouth by simple contagion (each adopter converts at a rate) or threshold "
        "contagion (at least m of k close ties must have adopted).")
    insolvency: str = _p(
        "liquidation", symbol="insolvency", latex=r"\chi_{\mathrm{reorg}}", unit="", choices=("liquidation", "reorganisation"),
        group="switches",
        meaning="What happens when cash and credit run out: liquidation (the incumbent leaves; the run "
        "ends) or reorganisation (debt written down, the incumbent continues smaller, as in Chapter 11).")
    firm_count: int = _p(
        1, symbol="n_f", latex="n_f", unit="firms", choices=(1, 2, 4, 8, 16), group="switches",
        meaning="Number of incumbent firms: 1 is one aggregate incumbent (it falls when its cash and "
        "credit run out); more is a population whose firms exit one by one, and the sector falls when "
        "half of its initial incumbent capacity has exited.")
    hard_network: bool = _p(
        True, symbol="hard", latex=r"\chi_h", unit="", choices=(True, False), group="switches",
        meaning="Direct (permission) adoption channel on or off.")
    soft_network: bool = _p(
        True, symbol="soft", latex=r"\chi_s", unit="", choices=(True, False), group="switches",
        meaning="Word-of-mouth adoption channel on or off.")

    # --- readings -----------------------------------------------------------------
    # How a result is read, not how the sector moves: no equation contains it.
    sector_share_of_firm_revenue: float = _p(
        1.0, symbol="ω", latex=r"\omega", unit="1", bounds=(0.01, 1.0), group="readings",
        meaning="Share of the incumbent firms' whole revenue that the sector's line of business was at the "
        "start (newspapers: classified advertising was a third of a paper's revenue): the incumbents' gross "
        "loss measured on the firm's whole revenue is ω times the loss on the sector, the rest of the "
        "business held at its starting revenue. 1: the sector is the firm's whole business.")
    discount_rate: float = _p(
        0.06, symbol="r_d", latex="r_d", unit="1/yr", bounds=(0.005, 0.3), group="readings",
        meaning="Investors' required return on the incumbent's equity (its cost of equity, or cost of "
        "capital), used to discount its payouts (dividends and excess-cash payouts) into its market value "
        "(model.analysis.valuation). Real, like every money flow of the model (constant prices): a nominal "
        "cost of capital less expected inflation.")

    # --- simulation ---------------------------------------------------------------
    horizon: float = _p(
        40.0, symbol="t_end", latex=r"t_{\mathrm{end}}", unit="yr", bounds=(1.0, 200.0),
        group="simulation", meaning="Length of the simulated period.")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            s = spec(f.name)
            value = getattr(self, f.name)
            _check_value(s, value)
        if self.initial_platform_share >= 1.0 - self.captive_share:
            raise ValueError(
                "`initial_platform_share` must be below 1 - `captive_share` (the captive customers are "
                f"the incumbent's), got {self.initial_platform_share:g} >= 1 - {self.captive_share:g}")
        if self.demand_form == "sector" and self.platform_price < 0.05:
            raise ValueError(
                "`platform_price` must be at least 0.05 with `demand_form` = 'sector' (its constant-"
                f"elasticity market size diverges at a price of 0), got {self.platform_price:g}")
        total = self.fixed_cost_share + self.variable_cost_share
        if not (0.05 <= total <= 0.99):
            raise ValueError(
                "`fixed_cost_share` + `variable_cost_share` must be in [0.05, 0.99] (the incumbent "
                f"starts with a positive margin and some cost), got {self.fixed_cost_share:g} + "
                f"{self.variable_cost_share:g} = {total:g}"
            )

    # Convenience -------------------------------------------------------------------
    def replace(self, **changes: Any) -> "Parameters":
        """A validated copy with ``changes`` applied; unknown names raise ``ValueError``."""
        unknown = sorted(set(changes) - set(PARAMETER_SPECS))
        if unknown:
            raise ValueError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; valid names: "
                             + ", ".join(PARAMETER_SPECS))
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def initial_margin(self) -> float:
        """Operating margin at the start, 1 - φ - v."""
        return 1.0 - self.fixed_cost_share - self.variable_cost_share


def _check_value(s: ParameterSpec, value: Any) -> None:
    if s.is_switch:
        # bool is a subclass of int: compare types too so that 1 is not taken for True.
        if not any(value == c and type(value) is type(c) for c in s.choices):
            raise ValueError(f"`{s.name}` must be {s.allowed()}, got {value!r}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"`{s.name}` must be {s.allowed()}, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"`{s.name}` must be {s.allowed()}, got {value!r}")
    lo, hi = s.bounds
    if not (lo <= value <= hi):
        raise ValueError(f"`{s.name}` must be in [{lo:g}, {hi:g}], got {value!r}")


def _build_specs() -> dict[str, ParameterSpec]:
    out = {}
    for f in dataclasses.fields(Parameters):
        out[f.name] = ParameterSpec(name=f.name, **f.metadata["spec"])
    return out


#: name -> ParameterSpec, in declaration order.
PARAMETER_SPECS: Mapping[str, ParameterSpec] = _build_specs()
#: Parameters that no equation contains: the window watched and how the result is read (the
#: firm-wide share of the loss, the discount rate of the incumbent's value).
NOT_IN_EQUATIONS: tuple[str, ...] = ("horizon", "sector_share_of_firm_revenue", "discount_rate")
#: Names of the switches (discrete choices).
SWITCHES: tuple[str, ...] = tuple(n for n, s in PARAMETER_SPECS.items() if s.is_switch)


def spec(name: str) -> ParameterSpec:
    """The description of parameter ``name``; ``ValueError`` listing valid names if unknown."""
    try:
        return PARAMETER_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown parameter {name!r}; valid names: {', '.join(PARAMETER_SPECS)}") from None


def numeric_names() -> tuple[str, ...]:
    """Names of the continuous parameters (everything but the switches)."""
    return tuple(n for n, s in PARAMETER_SPECS.items() if not s.is_switch)


def coerce(name: str, text: str) -> Any:
    """Parse a command-line value for parameter ``name`` (``--set NAME=VALUE``).

    Never evaluates the text: numbers go through ``float``, switches must match a choice.
    """
    s = spec(name)
    if s.is_switch:
        for c in s.choices:
            if text.strip().lower() == str(c).lower():
                return c
        raise ValueError(f"`{name}` must be {s.allowed()}, got {text!r}")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"`{name}` must be {s.allowed()}, got {text!r} (not a number)") from None


def from_first_version(values: Mapping[str, Any]) -> "Parameters":
    """The first version's parameter values (``Parameters.as_dict()`` of that version) as the
    same model in this one: every new mechanism at its neutral value (the defaults), demand
    per sector, the committed payout as debt service, and the trust network value rescaled
    for this version's normalisation (equal to the standard one at s = T = 1)."""
    d = dict(values)
    if "committed_payout" in d:
        d["debt_service"] = d.pop("committed_payout")
    d["demand_form"] = "sector"
    if d.get("network_effect", "trust") == "trust":
        nc = d.get("contacts_per_user", PARAMETER_SPECS["contacts_per_user"].default)
        k = d.get("close_ties", PARAMETER_SPECS["close_ties"].default)
        d["network_value"] = d.get("network_value", PARAMETER_SPECS["network_value"].default) * nc / (nc + k)
    return Parameters(**d)
