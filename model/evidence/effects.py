"""Published causal effect sizes of the incumbent's response to a platform, beside the model's.

Where a study estimates how incumbents respond to a platform (the elasticity of their
revenue to the platform's size, or the change in their revenue, price or volume after the
platform entered), :func:`compare` computes the same quantity from the sector's scenario at
the point the study measured (the platform's observed share, else the years since entry)
and :func:`markdown_table` sets both side by side for the paper.

The estimates are a CSV text (``data/effect_sizes.csv``): four comment lines
(``# title:``, ``# units:``, ``# sources:``, ``# retrieved:``), then the columns
:data:`COLUMNS`, one estimate per row:

==================== ========================================================================
 sector               the scenario file's stem (``hotels`` for ``scenarios/hotels.toml``)
 study                authors and year, as the table prints them
 quantity             one of :data:`QUANTITIES`
 estimate             the published point estimate (empty if only an interval or a sign is
                      published)
 ci_low, ci_high      the published interval (a confidence interval or a published range;
                      either end may be empty: ``ci_high = 0`` alone says "negative")
 unit                 the quantity's unit, checked: ``1`` for elasticities, ``fraction`` for
                      changes (-0.207 is a 20.7% fall)
 share_at_estimate    the platform's share of the sector at the time and place of the study
 share_basis          what that share is of: one of :data:`SHARE_BASES`
 years_after_entry    years between the platform's entry and the measurement
 year_at_estimate     calendar year of the measurement (for the timing check only)
 design               one of :data:`DESIGNS`
 verification         one of :data:`VERIFICATIONS`
 definition, source   what the study measures; publication, table or page
==================== ========================================================================

Nothing here reads a file or draws: the callers give the text and the scenarios.

The model's counterparts (all at the anchor time ``t*``: the first time the model's
platform reaches the row's observed share on its basis, else ``years_after_entry``):

``revenue_elasticity_to_platform_volume``
    d ln G_I / d ln q_P at ``t*``: two runs of the same sector whose platform spreads a
    little faster or slower (its direct and word-of-mouth adoption rates scaled by
    e^{+h} and e^{-h}; ``method="seed"`` scales its initial share instead), compared at
    the same date, as a central difference of the logarithms. This is what a panel
    regression of log incumbent revenue on log platform size across otherwise-identical
    markets estimates: markets with more or less platform at the same date, every feedback
    (prices, capacity, trust) having had the time since entry to act. Platform volume
    stands in for the listings the studies count. Under a fixed price with demand per
    customer, G_I = N (1 - s) and q_P = N s d_P, so the answer is -s / (1 - s) whatever
    the perturbation (a test checks it).
``revenue_change_after_entry``, ``price_change_after_entry``, ``volume_change_after_entry``
    X_with(t*) / X_without(t*) - 1 for the incumbents' revenue, price (bill per unit,
    customer-weighted) and volume, where "without" is the same sector whose platform never
    acquires a customer (acquisition frozen from t = 0, as the point-of-no-return experiment
    freezes it; its seed share churns away), so both runs start from the same state.

A comparison "agrees" when the model's value is inside the published interval
(``inside``), or else within a factor of :data:`AGREEMENT_FACTOR` of the estimate, same
sign (``within_factor``); otherwise ``outside``; ``undetermined`` when the model has no
value (its platform never reaches the share, or the incumbent has fallen by then).

References
----------
Zervas, Proserpio & Byers, J. Marketing Research 54(5), 2017. Farronato & Fradkin, American
Economic Review 112(6), 2022. Seamans & Zhu, Management Science 60(2), 2014. Kroft & Pope,
J. Labor Economics 32(2), 2014. Reimers & Waldfogel, Information Economics and Policy, 2015.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..core.parameters import Parameters
from ..core.simulate import simulate

__all__ = [
    "Quantity",
    "QUANTITIES",
    "SHARE_BASES",
    "DESIGNS",
    "VERIFICATIONS",
    "COLUMNS",
    "HEADER_KEYS",
    "AGREEMENT_FACTOR",
    "METHODS",
    "EffectSize",
    "EffectTable",
    "Comparison",
    "parse_effect_sizes",
    "anchor_time",
    "elasticity",
    "entry_effect",
    "agreement",
    "compare",
    "markdown_table",
]


@dataclass(frozen=True, kw_only=True)
class Quantity:
    """A quantity a study estimates and the model can compute."""

    name: str
    kind: str  # "elasticity" or "entry"
    series: str  # the incumbent's series it is about
    unit: str
    meaning: str


#: The quantities a row may name.
QUANTITIES = {q.name: q for q in (
    Quantity(name="revenue_elasticity_to_platform_volume", kind="elasticity", series="incumbent_revenue", unit="1",
             meaning="d ln(incumbent revenue) / d ln(platform volume) across otherwise-identical markets"),
    Quantity(name="revenue_change_after_entry", kind="entry", series="incumbent_revenue", unit="fraction",
             meaning="incumbent revenue with the platform / without it - 1"),
    Quantity(name="price_change_after_entry", kind="entry", series="incumbent_price", unit="fraction",
             meaning="incumbent price (bill per unit) with the platform / without it - 1"),
    Quantity(name="volume_change_after_entry", kind="entry", series="incumbent_volume", unit="fraction",
             meaning="incumbent volume with the platform / without it - 1"),
)}

#: What an observed share is a share of, and how to read it from a run.
SHARE_BASES = {
    "customers": "platform share of the sector's customers (the state s)",
    "volume": "platform volume / (platform + incumbent volume)",
    "gross": "platform gross / (platform + incumbent gross)",
}

#: How the study identifies the effect.
DESIGNS = {
    "panel": "regression on platform size across markets and time (difference in differences)",
    "entry": "difference in differences around the platform's entry",
    "descriptive": "before-after, no control market (not causal)",
}

#: Whether the number was read in a source or is remembered.
VERIFICATIONS = {
    "verified": "read in a source named in the row",
    "recalled": "recalled, to be verified",
}

#: The CSV's columns, in order.
COLUMNS = ("sector", "study", "quantity", "estimate", "ci_low", "ci_high", "unit", "share_at_estimate",
           "share_basis", "years_after_entry", "year_at_estimate", "design", "verification", "definition",
           "source")

#: The comment lines the file opens with, in order (``# key: value``).
HEADER_KEYS = ("title", "units", "sources", "retrieved")

#: A model value within this factor of the estimate (same sign) is "within_factor".
AGREEMENT_FACTOR = 2.0

#: Ways of making a market with more or less platform (see the module docstring).
METHODS = ("adoption", "seed")

#: Log step of the perturbation.
STEP = 0.02

#: Tolerances of the runs compared (a log difference of 1e-4 must be resolved).
RTOL, ATOL = 1e-8, 1e-11

#: Output points per simulated year of the run that finds the anchor time.
POINTS_PER_YEAR = 20

_SECTOR = re.compile(r"^[A-Za-z0-9_\-]+$")
_YEAR_BOUNDS = (1000, 3000)


@dataclass(frozen=True, kw_only=True)
class EffectSize:
    """One published estimate (a row of the CSV)."""

    sector: str
    study: str
    quantity: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    unit: str
    share_at_estimate: float | None
    share_basis: str | None
    years_after_entry: float | None
    year_at_estimate: int | None
    design: str
    verification: str
    definition: str
    source: str
    line: int


@dataclass(frozen=True, kw_only=True)
class EffectTable:
    """The parsed file: its header and rows."""

    origin: str
    title: str
    units: str
    sources: str
    retrieved: str
    rows: tuple[EffectSize, ...]


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """A published estimate and the model's counterpart.

    Attributes
    ----------
    effect : EffectSize
    value : float or None
        The model's value of ``effect.quantity`` at the anchor; None if it has none (``note``).
    anchor : str
        ``"share"`` (the model's platform reaches the observed share) or ``"years"``.
    time, year : float or None
        The anchor time (years from the scenario's t = 0) and its calendar year.
    customer_share, volume_share, gross_share : float or None
        The model's platform shares at the anchor.
    agreement : str
        ``inside``, ``within_factor``, ``outside`` or ``undetermined`` (see :func:`agreement`).
    ratio : float or None
        Model value / published estimate.
    method : str
        How the elasticity's markets differ (:data:`METHODS`); unused for entry effects.
    note : str
        Why there is no value, or "".
    """

    effect: EffectSize
    value: float | None
    anchor: str
    time: float | None
    year: float | None
    customer_share: float | None
    volume_share: float | None
    gross_share: float | None
    agreement: str
    ratio: float | None
    method: str
    note: str = ""


# --- parsing ------------------------------------------------------------------------------

def _show(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _fail(origin: str, line: int, column: str | None, msg: str) -> ValueError:
    where = f"{origin}: line {line}" + (f", column `{column}`" if column else "")
    return ValueError(f"{where}: {msg}")


def parse_effect_sizes(text: str, origin: str = "<effect sizes>") -> EffectTable:
    """Parse the CSV text of published effect sizes.

    Parameters
    ----------
    text : str
        The file's content: the header comments :data:`HEADER_KEYS`, then the columns
        :data:`COLUMNS` (see the module docstring).
    origin : str
        File name or label, for messages.

    Returns
    -------
    EffectTable

    Raises
    ------
    ValueError
        Naming the file (``origin``), the line, the column, the value and what is allowed:
        a missing or unknown header line, wrong columns, a wrong number of fields, an unknown
        quantity, basis, design or verification, a unit that is not the quantity's, a number
        that is not finite or out of range, an estimate outside its own interval, or a row
        without the anchor its quantity needs.
    """
    if not isinstance(text, str):
        raise ValueError(f"{origin}: expected text, got {type(text).__name__}")
    lines = text.splitlines()
    header: dict[str, str] = {}
    i = 0
    while i < len(lines) and (lines[i].startswith("#") or not lines[i].strip()):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        body = line[1:].strip()
        key, sep, value = body.partition(":")
        key = key.strip()
        if not sep or key not in HEADER_KEYS:
            raise _fail(origin, i, None, f"header line {_show(line)}: expected `# KEY: VALUE` with KEY one of "
                        + ", ".join(HEADER_KEYS))
        if key in header:
            raise _fail(origin, i, None, f"header key `{key}` given twice")
        expected = HEADER_KEYS[len(header)]
        if key != expected:
            raise _fail(origin, i, None, f"header key `{key}` out of order: expected `{expected}` here "
                        f"(order: {', '.join(HEADER_KEYS)})")
        if not value.strip():
            raise _fail(origin, i, None, f"header key `{key}` has no value")
        header[key] = value.strip()
    missing = [k for k in HEADER_KEYS if k not in header]
    if missing:
        raise _fail(origin, i + 1, None, f"missing header line(s) {', '.join('# ' + k + ':' for k in missing)} "
                    "before the column names")
    if i >= len(lines):
        raise _fail(origin, i + 1, None, "no column names after the header: expected " + ",".join(COLUMNS))
    offset = i  # lines before the column-name line
    reader = csv.reader(lines[i:], strict=True)
    try:
        columns = next(reader)
    except csv.Error as e:
        raise _fail(origin, offset + 1, None, f"malformed CSV ({e})") from None
    if tuple(c.strip() for c in columns) != COLUMNS:
        raise _fail(origin, offset + 1, None, f"column names {_show(','.join(columns), 200)}: expected exactly "
                    + ",".join(COLUMNS))
    rows = []
    seen = set()
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise _fail(origin, offset + reader.line_num, None, f"malformed CSV ({e})") from None
        lineno = offset + reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(COLUMNS):
            raise _fail(origin, lineno, None, f"{len(fields)} fields, expected {len(COLUMNS)} ({', '.join(COLUMNS)}); "
                        "quote a field that contains a comma")
        row = _parse_row(dict(zip(COLUMNS, (f.strip() for f in fields))), origin, lineno)
        key = (row.sector, row.study, row.quantity)
        if key in seen:
            raise _fail(origin, lineno, "quantity", f"{row.study!r} already has a row for `{row.quantity}` in "
                        f"sector {row.sector!r}")
        seen.add(key)
        rows.append(row)
    if not rows:
        raise _fail(origin, offset + 2, None, "no estimates: at least one row is needed")
    return EffectTable(origin=origin, rows=tuple(rows), **header)


def _number(raw: dict, column: str, origin: str, line: int, *, lo: float = -math.inf, hi: float = math.inf,
            open_lo: bool = False, open_hi: bool = False, allowed: str = "a finite number") -> float | None:
    text = raw[column]
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise _fail(origin, line, column, f"{_show(text)} is not a number; allowed: {allowed} or empty") from None
    if not math.isfinite(value) or value < lo or value > hi or (open_lo and value == lo) or (open_hi and value == hi):
        raise _fail(origin, line, column, f"{_show(text)}: allowed: {allowed}")
    return value


def _choice(raw: dict, column: str, choices, origin: str, line: int, *, optional: bool = False) -> str | None:
    text = raw[column]
    if text == "" and optional:
        return None
    if text not in choices:
        raise _fail(origin, line, column, f"{_show(text)}: allowed: one of " + ", ".join(choices)
                    + (" or empty" if optional else ""))
    return text


def _text(raw: dict, column: str, origin: str, line: int) -> str:
    if not raw[column]:
        raise _fail(origin, line, column, "empty; allowed: non-empty text")
    return raw[column]


def _parse_row(raw: dict, origin: str, line: int) -> EffectSize:
    sector = raw["sector"]
    if not _SECTOR.match(sector):
        raise _fail(origin, line, "sector", f"{_show(sector)}: allowed: a scenario file's stem (letters, digits, "
                    "_ and -), e.g. hotels for scenarios/hotels.toml")
    study = _text(raw, "study", origin, line)
    quantity = _choice(raw, "quantity", QUANTITIES, origin, line)
    q = QUANTITIES[quantity]
    estimate = _number(raw, "estimate", origin, line)
    ci_low = _number(raw, "ci_low", origin, line)
    ci_high = _number(raw, "ci_high", origin, line)
    if raw["unit"] != q.unit:
        raise _fail(origin, line, "unit", f"{_show(raw['unit'])}: `{quantity}` is in {q.unit!r}"
                    + (" (write a 20% fall as -0.2)" if q.unit == "fraction" else ""))
    if estimate is None and ci_low is None and ci_high is None:
        raise _fail(origin, line, "estimate", "empty, and so are `ci_low` and `ci_high`: give the estimate, "
                    "its interval, or at least one bound")
    if ci_low is not None and ci_high is not None and ci_low > ci_high:
        raise _fail(origin, line, "ci_low", f"{raw['ci_low']} is above `ci_high` {raw['ci_high']}")
    if estimate is not None and ((ci_low is not None and estimate < ci_low)
                                 or (ci_high is not None and estimate > ci_high)):
        raise _fail(origin, line, "estimate", f"{raw['estimate']} is outside its interval "
                    f"[{raw['ci_low'] or '-inf'}, {raw['ci_high'] or 'inf'}]")
    if q.kind == "entry" and estimate is not None and estimate <= -1:
        raise _fail(origin, line, "estimate", f"{raw['estimate']}: a change is a fraction above -1")
    share = _number(raw, "share_at_estimate", origin, line, lo=0.0, hi=1.0, open_lo=True, open_hi=True,
                    allowed="a share in (0, 1)")
    basis = _choice(raw, "share_basis", SHARE_BASES, origin, line, optional=True)
    if (share is None) != (basis is None):
        raise _fail(origin, line, "share_basis", f"{_show(raw['share_basis'])}: give `share_at_estimate` and "
                    "`share_basis` together (basis one of " + ", ".join(SHARE_BASES) + ") or neither")
    years = _number(raw, "years_after_entry", origin, line, lo=0.0, open_lo=True, allowed="a positive number of years")
    year_raw = raw["year_at_estimate"]
    year = None
    if year_raw:
        if not re.fullmatch(r"\d{4}", year_raw) or not _YEAR_BOUNDS[0] <= int(year_raw) <= _YEAR_BOUNDS[1]:
            raise _fail(origin, line, "year_at_estimate", f"{_show(year_raw)}: allowed: a calendar year "
                        f"({_YEAR_BOUNDS[0]}-{_YEAR_BOUNDS[1]}) or empty")
        year = int(year_raw)
    if q.kind == "elasticity" and share is None:
        raise _fail(origin, line, "share_at_estimate", f"empty: `{quantity}` is computed at the observed share; "
                    "give it with its `share_basis`")
    if q.kind == "entry" and share is None and years is None:
        raise _fail(origin, line, "years_after_entry", f"empty, and so is `share_at_estimate`: `{quantity}` "
                    "needs the observed share or the years since entry")
    return EffectSize(
        sector=sector, study=study, quantity=quantity, estimate=estimate, ci_low=ci_low, ci_high=ci_high,
        unit=q.unit, share_at_estimate=share, share_basis=basis, years_after_entry=years, year_at_estimate=year,
        design=_choice(raw, "design", DESIGNS, origin, line),
        verification=_choice(raw, "verification", VERIFICATIONS, origin, line),
        definition=_text(raw, "definition", origin, line), source=_text(raw, "source", origin, line), line=line)


# --- the model's counterparts ------------------------------------------------------------

def _basis_series(result, basis: str) -> np.ndarray:
    if basis == "customers":
        return result["platform_share"]
    if basis == "volume":
        qp, qi = result["platform_volume"], result["incumbent_volume"]
        return qp / (qp + qi)
    return result["platform_share_of_gross"]


def _run_to(params: Parameters, t: float, **kwargs):
    """One run to ``t`` at the comparison tolerances; None if it does not reach ``t``."""
    if t <= 0.0:
        r = simulate(params, t_eval=np.array([0.0]), rtol=RTOL, atol=ATOL, **kwargs)
    else:
        r = simulate(params, t_eval=np.array([0.0, t]), t_end=t, rtol=RTOL, atol=ATOL, **kwargs)
    if not r.success or abs(r.t[-1] - t) > 1e-9 * max(1.0, t):
        return None
    return r


def anchor_time(params: Parameters, effect: EffectSize) -> tuple[float | None, dict, str]:
    """The time at which the model's counterpart of ``effect`` is computed.

    The first time the platform's share on ``effect.share_basis`` reaches
    ``effect.share_at_estimate`` (linear interpolation between output points
    :data:`POINTS_PER_YEAR` a year apart), else ``effect.years_after_entry``.

    Returns
    -------
    time : float or None
        Years from the scenario's t = 0; None when the model has no such time.
    shares : dict
        ``customers``, ``volume`` and ``gross`` shares of the platform at that time.
    note : str
        Why there is no time, or "".
    """
    horizon = float(params.horizon)
    r = simulate(params, n_points=int(horizon * POINTS_PER_YEAR) + 1, rtol=RTOL, atol=ATOL)
    if not r.success:
        return None, {}, f"the model run failed: {r.message}"
    if effect.share_at_estimate is not None:
        target = effect.share_at_estimate
        x = _basis_series(r, effect.share_basis)
        above = np.flatnonzero(x >= target)
        if above.size == 0:
            stop = "before the incumbent falls" if r.t[-1] < horizon else f"within the horizon ({horizon:g} yr)"
            return None, {}, (f"the model's platform never reaches {target:.1%} of {effect.share_basis} {stop} "
                              f"(at most {float(np.max(x)):.1%})")
        k = int(above[0])
        if k == 0:
            t = 0.0
        else:
            t0, t1, x0, x1 = r.t[k - 1], r.t[k], x[k - 1], x[k]
            t = float(t0 + (target - x0) * (t1 - t0) / (x1 - x0)) if x1 > x0 else float(t1)
    else:
        t = float(effect.years_after_entry)
        if t > r.t[-1]:
            stop = "the incumbent's fall" if r.t[-1] < horizon else f"the horizon ({horizon:g} yr)"
            return None, {}, f"{t:g} years after entry is beyond {stop}"
    shares = {b: float(np.interp(t, r.t, _basis_series(r, b))) for b in SHARE_BASES}
    return t, shares, ""


def elasticity(params: Parameters, t: float, *, series: str = "incumbent_revenue", method: str = "adoption",
               step: float = STEP) -> float | None:
    """d ln(series) / d ln(platform volume) at time ``t`` across otherwise-identical markets.

    Two runs whose platform spreads faster and slower (``method="adoption"``: the direct and
    word-of-mouth adoption rates times e^{+step} and e^{-step}) or starts larger and smaller
    (``"seed"``: the initial share times e^{+step}, e^{-step}), compared at the same time
    ``t``: [ln X(+) - ln X(-)] / [ln q_P(+) - ln q_P(-)], a central difference (error
    O(step^2)).

    Returns
    -------
    float or None
        None when a run fails or stops before ``t`` (the incumbent fell), or the perturbation
        does not move the platform's volume.

    Raises
    ------
    ValueError
        For an unknown ``method`` or a ``step`` that is not a small positive number, or when
        the perturbed parameters leave their bounds.
    """
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)}, got {method!r}")
    if not (isinstance(step, (int, float)) and 0.0 < step <= 0.5):
        raise ValueError(f"`step` must be in (0, 0.5], got {step!r}")
    values = []
    for sign in (-1.0, 1.0):
        f = math.exp(sign * step)
        if method == "adoption":
            # Clipped at the rates' upper bounds (1/yr and 3/yr), far above any sector file's.
            p = params.replace(direct_adoption_rate=min(params.direct_adoption_rate * f, 1.0),
                               word_of_mouth_rate=min(params.word_of_mouth_rate * f, 3.0))
        else:
            p = params.replace(initial_platform_share=params.initial_platform_share * f)
        r = _run_to(p, t)
        if r is None:
            return None
        values.append((float(r[series][-1]), float(r["platform_volume"][-1])))
    (x_lo, q_lo), (x_hi, q_hi) = values
    if min(x_lo, x_hi, q_lo, q_hi) <= 0.0:
        return None
    dq = math.log(q_hi / q_lo)
    if abs(dq) < 1e-9:
        return None
    return math.log(x_hi / x_lo) / dq


def entry_effect(params: Parameters, t: float, *, series: str = "incumbent_revenue") -> float | None:
    """X_with(t) / X_without(t) - 1: the sector with its platform against the same sector
    whose platform never acquires a customer (acquisition frozen from t = 0).

    Returns
    -------
    float or None
        None when a run fails or stops before ``t`` (the incumbent fell).
    """
    with_platform = _run_to(params, t)
    without = _run_to(params, t, freeze_acquisition_at=0.0)
    if with_platform is None or without is None:
        return None
    x_with, x_without = float(with_platform[series][-1]), float(without[series][-1])
    if x_without <= 0.0:
        return None
    return x_with / x_without - 1.0


def agreement(effect: EffectSize, value: float | None, *, factor: float = AGREEMENT_FACTOR) -> str:
    """``inside`` the published interval; else ``within_factor`` (model / estimate in
    [1 / factor, factor]); else ``outside``; ``undetermined`` without a model value."""
    if value is None:
        return "undetermined"
    if effect.ci_low is not None or effect.ci_high is not None:
        lo = -math.inf if effect.ci_low is None else effect.ci_low
        hi = math.inf if effect.ci_high is None else effect.ci_high
        if lo <= value <= hi:
            return "inside"
    if effect.estimate is not None and effect.estimate != 0.0:
        ratio = value / effect.estimate
        if 1.0 / factor <= ratio <= factor:
            return "within_factor"
    return "outside"


def compare(table: EffectTable, scenarios: Mapping, *, method: str = "adoption",
            step: float = STEP) -> tuple[Comparison, ...]:
    """The model's counterpart of every estimate in ``table``.

    Parameters
    ----------
    table : EffectTable
    scenarios : mapping of str to Scenario (or Parameters)
        Each row's sector, keyed by its ``sector`` (a :class:`~model.evidence.scenarios.Scenario`
        also gives the calendar year of t = 0).
    method, step :
        How elasticities are computed (:func:`elasticity`).

    Raises
    ------
    ValueError
        A row's sector is not in ``scenarios``; or ``method`` or ``step`` is invalid.
    """
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)}, got {method!r}")
    out = []
    for e in table.rows:
        if e.sector not in scenarios:
            raise ValueError(f"{table.origin}: line {e.line}, column `sector`: {e.sector!r} has no scenario; "
                             f"given: {', '.join(sorted(scenarios)) or 'none'}")
        scenario = scenarios[e.sector]
        params = getattr(scenario, "params", scenario)
        start_year = getattr(scenario, "start_year", None)
        q = QUANTITIES[e.quantity]
        t, shares, note = anchor_time(params, e)
        value = None
        if t is not None:
            if q.kind == "elasticity":
                value = elasticity(params, t, series=q.series, method=method, step=step)
                if value is None:
                    note = "a perturbed run failed or stopped before the anchor time"
            else:
                value = entry_effect(params, t, series=q.series)
                if value is None:
                    note = "a run failed or stopped (the incumbent fell) before the anchor time"
        out.append(Comparison(
            effect=e, value=value, anchor="share" if e.share_at_estimate is not None else "years", time=t,
            year=None if t is None or start_year is None else float(start_year) + t,
            customer_share=shares.get("customers"), volume_share=shares.get("volume"), gross_share=shares.get("gross"),
            agreement=agreement(e, value),
            ratio=None if value is None or not e.estimate else value / e.estimate,
            method=method if q.kind == "elasticity" else "", note=note))
    return tuple(out)


# --- the paper's table -------------------------------------------------------------------

_AGREE_TEXT = {"inside": "yes", "within_factor": f"within ×{AGREEMENT_FACTOR:g}", "outside": "no",
               "undetermined": "n/a"}
_QUANTITY_TEXT = {
    "revenue_elasticity_to_platform_volume": "revenue elasticity to platform size",
    "revenue_change_after_entry": "revenue change after entry",
    "price_change_after_entry": "price change after entry",
    "volume_change_after_entry": "volume change after entry",
}


def _fmt(value: float, unit: str) -> str:
    text = f"{value:.3f}" if unit == "1" else f"{100 * value:.1f}%"
    return text.replace("-", "−")


def _published(e: EffectSize) -> str:
    if e.estimate is None:
        if e.ci_low is None:
            return "negative (sign only)" if e.ci_high == 0 else f"≤ {_fmt(e.ci_high, e.unit)}"
        if e.ci_high is None:
            return "positive (sign only)" if e.ci_low == 0 else f"≥ {_fmt(e.ci_low, e.unit)}"
        return f"[{_fmt(e.ci_low, e.unit)}, {_fmt(e.ci_high, e.unit)}]"
    text = _fmt(e.estimate, e.unit)
    if e.ci_low is not None or e.ci_high is not None:
        lo = "−∞" if e.ci_low is None else _fmt(e.ci_low, e.unit)
        hi = "∞" if e.ci_high is None else _fmt(e.ci_high, e.unit)
        text += f" [{lo}, {hi}]"
    return text


def _observed_at(e: EffectSize) -> str:
    parts = []
    if e.share_at_estimate is not None:
        parts.append(f"{e.share_at_estimate:.1%} of {e.share_basis}")
    if e.years_after_entry is not None:
        parts.append(f"{e.years_after_entry:g} yr after entry")
    if e.year_at_estimate is not None:
        parts.append(str(e.year_at_estimate))
    return ", ".join(parts)


def _model_at(c: Comparison) -> str:
    if c.value is None:
        return f"none: {c.note}"
    e = c.effect
    where = []
    if c.anchor == "share":
        where.append(f"reached at t = {c.time:.1f} yr" + (f", {c.year:.0f}" if c.year is not None else ""))
    else:
        share = {"customers": c.customer_share, "volume": c.volume_share, "gross": c.gross_share}
        where.append(f"t = {c.time:g} yr, platform {share['volume']:.1%} of volume, {share['gross']:.1%} of gross")
    return f"{_fmt(c.value, e.unit)} ({'; '.join(where)})"


def markdown_table(comparisons) -> str:
    """The comparisons as a Markdown table (study, quantity, published estimate [interval],
    where it was observed, the model's value there, agreement), with its legend."""
    head = ("| Sector | Study | Quantity | Published [interval] | Observed at | Model at that point | Agree? |\n"
            "|---|---|---|---|---|---|---|")
    lines = [head]
    for c in comparisons:
        e = c.effect
        marks = ("†" if e.verification == "recalled" else "") + ("‡" if e.design == "descriptive" else "")
        lines.append(f"| {e.sector} | {e.study}{marks} | {_QUANTITY_TEXT[e.quantity]} | {_published(e)} | "
                     f"{_observed_at(e)} | {_model_at(c)} | {_AGREE_TEXT[c.agreement]} |")
    legend = (f"\nAgree: yes, the model's value is inside the published interval; within ×{AGREEMENT_FACTOR:g}, "
              f"within a factor {AGREEMENT_FACTOR:g} of the estimate (same sign); no, neither. "
              "The model's value is computed when its platform reaches the observed share (else at the years after "
              "entry): elasticities from two otherwise-identical markets whose platform spreads slightly faster or "
              "slower, changes against the same sector whose platform never acquires a customer. "
              "† recalled, to be verified. ‡ descriptive (before-after, no control market).")
    return "\n".join(lines) + "\n" + legend + "\n"
