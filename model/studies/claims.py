"""The essays' claims, and what one run says about each of them.

The claims C1..C9 are paraphrased from ``../shared/design/MODEL.md`` (itself from the
essays in ``../shared/seeds/``). This module holds them once, with the essay's number
(:data:`CLAIMED_SHARE`) and the band around it that counts as "about 20%"
(:data:`CLAIMED_BAND`), and describes what one run and its counterfactual runs
(:func:`claim_variants`) show about each (:func:`describe_run`, the dashboard's table).
It assesses nothing: a claim is assessed in one place only, the Monte Carlo verdict of
:mod:`model.studies.verdict` (its words are what the dashboard, the command, the figures
and the paper show).

Studies layer: imports :mod:`model.core` only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..core.parameters import PARAMETER_SPECS, Parameters

__all__ = [
    "CLAIMED_SHARE",
    "CLAIMED_BAND",
    "CLAIMS",
    "CLAIMS_ATTRIBUTION",
    "Claim",
    "RunStatement",
    "claim_variants",
    "describe_run",
    "near_claim",
]

#: The essay's tipping point: "each time the trust platform takes 20% of the gross out of
#: the sector, the Highland Park alternative will fall" (seed 000).
CLAIMED_SHARE = 0.2
#: Half-width of the band that counts as "about 20%" (15% to 25%).
CLAIMED_BAND = 0.05


def near_claim(share):
    """Whether ``share`` (a number or an array) lies within :data:`CLAIMED_BAND` of 20%."""
    return np.abs(np.asarray(share, dtype=float) - CLAIMED_SHARE) <= CLAIMED_BAND + 1e-12


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.1%}"


@dataclass(frozen=True)
class Claim:
    """One claim under test (paraphrase, with the essay it comes from)."""

    id: str
    text: str


#: Where the paraphrases come from.
CLAIMS_ATTRIBUTION = ("Claims paraphrased from the essays in ../shared/seeds/ (the central essay 000 "
                      "unless noted), as listed in ../shared/design/MODEL.md.")

#: The claims under test, C1..C9.
CLAIMS = (
    Claim("C1", "Incumbents fall once a trust platform takes about 20% of a sector's gross; 20% is "
                "the tipping point in every sector."),
    Claim("C2", "The reason is fixed process costs: lower gross spreads the same fixed cost over fewer "
                "sales."),
    Claim("C3", "Each successful platform transaction raises trust; trust growth is self-reinforcing."),
    Claim("C4", "Mediated trust becomes real trust: repeat relationships make platform users stick."),
    Claim("C5", "The trust network effect is not the standard network effect: value comes from trust "
                "and a few strong ties, not from the count of connections (also 002)."),
    Claim("C6", "Trust platforms win on price and value at very low cost."),
    Claim("C7", "A hard network (permission, direct ties) starts and amplifies a soft network "
                "(word of mouth) (003)."),
    Claim("C8", "Value networks have natural turnover (entry and exit) yet stay stable (001)."),
    Claim("C9", "The same pattern runs through many sectors: newspapers, hotels, crafts, publishing, "
                "payments, universities, medicine, food."),
)


@dataclass(frozen=True)
class RunStatement:
    """What the current run shows about one claim (a description, not an assessment)."""

    id: str
    claim: str
    this_run: str


def claim_variants(params: Parameters) -> dict[str, Parameters]:
    """The counterfactual runs :func:`describe_run` needs, as parameter sets.

    ``other_network_effect`` (C5) swaps the network effect; ``light_fixed_cost`` (C2)
    moves three quarters of the fixed cost into variable cost, keeping the margin and the
    starting cost per unit (variable share capped at its bound); ``no_transaction_trust``
    (C3) sets the trust gain to 0; ``no_stickiness`` (C4) sets the churn reduction to 0;
    ``hard_only`` and ``soft_only`` (C7) switch one adoption channel off.
    """
    phi, v = params.fixed_cost_share, params.variable_cost_share
    v_light = min(PARAMETER_SPECS["variable_cost_share"].bounds[1], v + 0.75 * phi)
    phi_light = (phi + v) - v_light
    return {
        "other_network_effect": params.replace(
            network_effect="standard" if params.network_effect == "trust" else "trust"),
        "light_fixed_cost": params.replace(fixed_cost_share=phi_light, variable_cost_share=v_light),
        "no_transaction_trust": params.replace(trust_gain=0.0),
        "no_stickiness": params.replace(churn_reduction=0.0),
        "hard_only": params.replace(hard_network=True, soft_network=False),
        "soft_only": params.replace(hard_network=False, soft_network=True),
    }


def _at(result, name: str, t: float) -> float:
    """Series ``name`` of ``result`` at time ``t`` (linear interpolation)."""
    return float(np.interp(t, result.t, result[name]))


def _common_time(a, b) -> float:
    return float(min(a.t[-1], b.t[-1]))


def _fate(result) -> str:
    if not result.success:
        return "the solver fails"
    if result.falls:
        return f"falls after {result.fall_time:.1f} yr at a {_pct(result.share_at_fall)} platform share"
    return f"survives {result.params.horizon:g} yr (platform at {_pct(result.final('platform_share_of_gross'))})"


def _share_gap(a, b) -> tuple[float, float, float]:
    """Platform share of gross of ``a`` and ``b`` at their last common time."""
    t = _common_time(a, b)
    return t, _at(a, "platform_share_of_gross", t), _at(b, "platform_share_of_gross", t)


def describe_run(params: Parameters, current, variants: Mapping[str, Any], *, ponr: Any = None,
                 break_even: float | None = None, break_even_current_prices: float | None = None,
                 sector: str = "", n_sectors: int | None = None) -> list[RunStatement]:
    """What the current run and its counterfactuals show about each claim C1..C9.

    Parameters
    ----------
    params : Parameters
        The current parameters.
    current : SimulationResult
        The run with ``params``.
    variants : mapping
        Results of the runs of :func:`claim_variants` (same keys).
    ponr : PointOfNoReturn, optional
        The current point of no return (None if the tipping analysis is not available).
    break_even, break_even_current_prices : float, optional
        Static break-even loss for the current price policy and at current prices.
    sector : str
        The scenario's name; ``n_sectors`` the number of scenario files.

    Returns
    -------
    list of RunStatement
        One per claim, in order: sentences built from the runs' numbers. No verdict: one
        run is one point of the sector's uncertainty, and the verdict
        (:mod:`model.studies.verdict`) is over all of it.
    """
    context = dict(params=params, current=current, variants=variants, ponr=ponr, break_even=break_even,
                   break_even_current_prices=break_even_current_prices, sector=sector, n_sectors=n_sectors)
    return [RunStatement(c.id, c.text, _RULES[c.id](**context)) for c in CLAIMS]


# --- one description per claim: what this run shows, in words and numbers ----------------

def _c1(*, params, current, ponr, **_) -> str:
    """C1: the point of no return, read three ways."""
    if ponr is not None and ponr.outcome not in ("tips", "never_tips", "always_falls"):
        ponr = None  # a failed analysis says nothing about the claim
    if ponr is None:
        if current.falls:
            return (f"The incumbent falls at a {_pct(current.share_at_fall)} platform share; the point of no return "
                    "(at or before it) needs the tipping analysis, not available.")
        return "The incumbent does not fall within the horizon, and the tipping analysis is not available."
    if ponr.outcome == "never_tips":
        return (f"No tipping: the incumbent survives in the long run while the platform reaches "
                f"{_pct(current.final('platform_share_of_gross'))} of the gross within the "
                f"{params.horizon:g}-year horizon.")
    if ponr.outcome == "always_falls":
        return (f"The incumbent falls even if the platform never acquires anyone after the start (share of gross "
                f"{_pct(ponr.share)}): this run does not test the claim.")
    volume = getattr(ponr, "volume_share", None)
    return (f"Point of no return after {ponr.time:.1f} years: the platform holds {_pct(ponr.share)} of the gross"
            + (f" and {_pct(volume)} of the customers" if volume is not None else "")
            + f"; the incumbent has lost {_pct(ponr.gross_loss)} of its gross.")


def _c2(*, params, current, variants, break_even, break_even_current_prices, **_) -> str:
    """C2: fixed costs as the reason."""
    light = variants["light_fixed_cost"]
    lp = light.params
    be = ""
    if break_even_current_prices is not None:
        be = f"Static break-even loss {_pct(break_even_current_prices)} of gross at today's prices"
        be += f" ({_pct(break_even)} re-pricing). " if break_even is not None else ". "
    return (be + f"With a quarter of the fixed cost (φ = {lp.fixed_cost_share:.2f}, v = "
            f"{lp.variable_cost_share:.2f}, same margin) the incumbent {_fate(light)}; as set it {_fate(current)}.")


def _c3(*, current, variants, **_) -> str:
    """C3: trust from transactions."""
    t0 = float(current["platform_trust"][0])
    t_max = float(np.max(current["platform_trust"]))
    t, s_now, s_without = _share_gap(current, variants["no_transaction_trust"])
    return (f"Platform trust goes from {t0:.2f} to at most {t_max:.2f}. Without trust from transactions "
            f"(κ_T = 0), at {t:.1f} yr the platform holds {_pct(s_without)} of gross instead of {_pct(s_now)}.")


def _c4(*, current, variants, **_) -> str:
    """C4: relational trust makes users stick."""
    r_max = float(np.max(current["relational_trust"]))
    loose = variants["no_stickiness"]
    t, s_now, s_loose = _share_gap(current, loose)
    return (f"Relational trust reaches {r_max:.2f}. Without stickiness (ρ = 0), at {t:.1f} yr the platform "
            f"holds {_pct(s_loose)} instead of {_pct(s_now)}; the incumbent {_fate(loose)}.")


def _c5(*, params, current, variants, **_) -> str:
    """C5: trust vs standard network effect."""
    other = variants["other_network_effect"]
    return (f"With the {other.params.network_effect} network effect the incumbent {_fate(other)}; with the "
            f"{params.network_effect} one it {_fate(current)}.")


def _c6(*, params, current, **_) -> str:
    """C6: price and cost."""
    return (f"Platform price {params.platform_price:.2f} against the incumbent's "
            f"{current.final('incumbent_price'):.2f} at the end; platform profit at the end "
            f"{current.final('platform_profit'):+.3f} (initial gross/yr) at a unit cost of "
            f"{params.platform_unit_cost:.2f} and a fixed cost of {params.platform_fixed_cost:.3f}.")


def _c7(*, params, current, variants, **_) -> str:
    """C7: hard starts, soft amplifies."""
    hard, soft = variants["hard_only"], variants["soft_only"]
    if params.replace(hard_network=True, soft_network=True) != params:
        return (f"Both channels are not on (hard {params.hard_network}, soft {params.soft_network}); hard only: "
                f"{_fate(hard)}; soft only: {_fate(soft)}.")
    t_h, s_both_h, s_hard = _share_gap(current, hard)
    t_s, _, s_soft = _share_gap(current, soft)
    s0 = float(soft["platform_share_of_gross"][0])
    return (f"At {t_s:.1f} yr soft only holds {_pct(s_soft)} (from {_pct(s0)}); at {t_h:.1f} yr hard only holds "
            f"{_pct(s_hard)} against {_pct(s_both_h)} with both.")


def _c8(*, current, **_) -> str:
    """C8: turnover with a stable share."""
    adopt, churn = current.final("adoption"), current.final("churn")
    share = current.final("platform_share")
    turnover = churn / share if share > 0 else float("nan")
    return (f"At {float(current.t[-1]):.1f} yr: adoption {adopt:.4f}/yr and churn {churn:.4f}/yr of the sector's "
            f"customers (turnover {_pct(turnover)} of platform users a year), net {adopt - churn:+.4f}/yr.")


def _c9(*, sector, n_sectors, **_) -> str:
    """C9: the sectors."""
    count = f"{n_sectors} sector file(s) in scenarios/; " if n_sectors is not None else ""
    return (f"This run: {sector or 'this sector'}. {count}the per-sector verdict with uncertainty is "
            "`python -m model verdict`.")


_RULES = {f'C{i}': rule for i, rule in enumerate((_c1, _c2, _c3, _c4, _c5, _c6, _c7, _c8, _c9), start=1)}
