"""Evidence checks: public observations beside the sector files' central runs.

``data/evidence_checks.csv`` holds observations that no fit has seen (a provenance header
as in the calibration data, then ``sector, year, compare_to, value, low, high,
observation, source, relative_to, at``). :func:`check` runs each sector's file (and its calibrated twin,
where there is one) at its own values and reads the compared quantity at mid-year, so
the table in the paper is regenerated from the files rather than typed from an old run.

Evidence layer: it reads files; the model below never imports it.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..core.simulate import SERIES_NAMES, simulate
from .calibrate import DERIVED_SERIES, _parse_header, _read
from .provenance import ROOT

__all__ = ["Observation", "parse_observations", "check", "markdown_table", "DATA", "DERIVED"]

DATA = ROOT / "data" / "evidence_checks.csv"
COLUMNS = ("sector", "year", "compare_to", "value", "low", "high", "observation", "source", "relative_to", "at")
#: When in its year an observation is read: ``mid`` (annual totals and averages) or ``end``
#: (year-end levels such as share prices).
TIMINGS = {"mid": 0.5, "end": 1.0}
#: Quantities computed from the run's series: the incumbents' revenue relative to t = 0
#: (real, as the model's money is) and the platform's share of the units sold.
DERIVED = ("incumbent_revenue_ratio", "platform_volume_share")


@dataclass(frozen=True)
class Observation:
    sector: str
    year: int
    compare_to: str
    value: float
    low: float
    high: float
    observation: str
    source: str
    line: int
    relative_to: int | None = None  # the observation and the run are both ratios to that year
    at: str = "mid"


def _fail(origin, line, column, msg):
    where = f"{origin}, line {line}" + (f", column `{column}`" if column else "")
    return ValueError(f"{where}: {msg}")


def parse_observations(text: str, origin: str = "<observations>") -> tuple[dict, tuple[Observation, ...]]:
    """The header and rows of an observations file; ``ValueError`` names the line and column
    of a bad year, number, interval (``low <= value <= high``), quantity or empty text."""
    lines = text.splitlines(keepends=True)
    n = 0
    while n < len(lines) and lines[n].startswith("#"):
        n += 1
    header = _parse_header([line.rstrip("\r\n") for line in lines[:n]], origin)
    reader = csv.DictReader(io.StringIO("".join(lines[n:])))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise _fail(origin, n + 1, None, f"columns must be {', '.join(COLUMNS)}")
    allowed = SERIES_NAMES + DERIVED + DERIVED_SERIES
    out = []
    for k, raw in enumerate(reader, start=n + 2):
        if None in raw or any(v is None for v in raw.values()):
            raise _fail(origin, k, None, f"expected {len(COLUMNS)} fields")
        row = {key: (val or "").strip() for key, val in raw.items()}
        for column in ("sector", "observation", "source"):
            if not row[column]:
                raise _fail(origin, k, column, "is empty")
        try:
            year = int(row["year"])
        except ValueError:
            raise _fail(origin, k, "year", f"must be an integer, got {row['year']!r}") from None
        if row["compare_to"] not in allowed:
            raise _fail(origin, k, "compare_to", f"must be one of {', '.join(allowed)}, got {row['compare_to']!r}")
        numbers = {}
        for column in ("value", "low", "high"):
            try:
                numbers[column] = float(row[column])
            except ValueError:
                raise _fail(origin, k, column, f"must be a number, got {row[column]!r}") from None
            if not math.isfinite(numbers[column]):
                raise _fail(origin, k, column, f"must be finite, got {row[column]!r}")
        if not numbers["low"] <= numbers["value"] <= numbers["high"]:
            raise _fail(origin, k, "value", f"must lie in [low, high] = [{numbers['low']:g}, {numbers['high']:g}], "
                                            f"got {numbers['value']:g}")
        relative_to = None
        if row["relative_to"]:
            try:
                relative_to = int(row["relative_to"])
            except ValueError:
                raise _fail(origin, k, "relative_to", f"must be a year or empty, got {row['relative_to']!r}") from None
            if relative_to >= year:
                raise _fail(origin, k, "relative_to", f"must be before the row's year {year}, got {relative_to}")
        at = row["at"] or "mid"
        if at not in TIMINGS:
            raise _fail(origin, k, "at", f"must be one of {', '.join(TIMINGS)} (or empty: mid), got {row['at']!r}")
        out.append(Observation(sector=row["sector"], year=year, compare_to=row["compare_to"], line=k,
                               observation=row["observation"], source=row["source"], relative_to=relative_to,
                               at=at, **numbers))
    return header, tuple(out)


def model_values(result, names_years: list[tuple], start_year: float) -> list[float]:
    """The run's value of each (quantity, calendar year[, relative_to year[, at]]), read at
    mid-year (or year-end with at = "end"); with a relative_to year, the ratio of the value
    in the year to the value in that year (read at the same point of the year)."""
    out = []
    for item in names_years:
        name, year = item[0], item[1]
        relative_to = item[2] if len(item) > 2 else None
        at = item[3] if len(item) > 3 else "mid"
        if relative_to is not None:
            now, then = model_values(result, [(name, year, None, at), (name, relative_to, None, at)], start_year)
            out.append(now / then if then and math.isfinite(then) else math.nan)
            continue
        t = np.array([year - start_year + TIMINGS[at]])
        if t[0] < 0 or t[0] > result.params.horizon:
            out.append(math.nan)
        elif name == "incumbent_revenue_ratio":
            out.append(float(_read(result, "incumbent_revenue", t)[0] / result.series["incumbent_revenue"][0]))
        elif name == "platform_volume_share":
            p, i = _read(result, "platform_volume", t)[0], _read(result, "incumbent_volume", t)[0]
            out.append(float(p / (p + i)) if p + i > 0 else math.nan)
        else:
            out.append(float(_read(result, name, t)[0]))
    return out


def check(observations, scenarios: Mapping[str, object]) -> list[dict]:
    """Per observation and per scenario file of its sector (``scenarios``: label -> Scenario,
    where label is the sector's stem or ``<stem>_calibrated``): the central run's value, its
    ratio to the observation and whether it falls inside the observation's interval."""
    rows = []
    by_label = {}
    for label, sc in scenarios.items():
        mine = [o for o in observations if label in (o.sector, f"{o.sector}_calibrated")]
        if not mine:
            continue
        if sc.start_year is None:
            raise ValueError(f"{sc.origin}: no [scenario] start_year, so its runs have no calendar years")
        result = simulate(sc.params, n_points=max(401, int(40 * sc.params.horizon) + 1))
        values = model_values(result, [(o.compare_to, o.year, o.relative_to, o.at) for o in mine], sc.start_year)
        by_label[label] = list(zip(mine, values))
    for label, pairs in by_label.items():
        for o, v in pairs:
            rows.append({"file": label, "sector": o.sector, "year": o.year, "compare_to": o.compare_to,
                         "relative_to": o.relative_to, "at": o.at,
                         "observed": o.value, "low": o.low, "high": o.high, "model": v,
                         "ratio": v / o.value if o.value else math.nan,
                         "inside": bool(o.low <= v <= o.high) if math.isfinite(v) else False,
                         "observation": o.observation, "source": o.source})
    return rows


_QUANTITY = {"incumbent_revenue_ratio": "incumbent revenue (× start, real)",
             "platform_volume_share": "platform's share of volume",
             "platform_share_of_gross": "platform's share of gross",
             "platform_share": "platform's share of customers",
             "incumbent_firm_value": "incumbents' market value (firm-wide)",
             "incumbent_market_value": "incumbents' market value (the sector's line)"}


def _fmt(name, x, relative=False):
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.3g}" if relative or name == "incumbent_revenue_ratio" else f"{100 * x:.3g}%"


def markdown_table(rows) -> str:
    """The checks as a Markdown table: file, year, quantity, observation [interval], the
    central run's value, the ratio and whether the run is inside the interval."""
    lines = ["| File | Year | Quantity | Observed [interval] | Central run | Run / observed | Inside? |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        name, rel = r["compare_to"], r.get("relative_to") is not None
        quantity = _QUANTITY.get(name, name) + (f" (× {r['relative_to']})" if rel else "")
        lines.append(f"| {r['file'].replace('_', ' ')} | {r['year']} | {quantity}: "
                     f"{r['observation']} | {_fmt(name, r['observed'], rel)} [{_fmt(name, r['low'], rel)}, "
                     f"{_fmt(name, r['high'], rel)}] | {_fmt(name, r['model'], rel)} | "
                     f"{r['ratio']:.2g}× | {'yes' if r['inside'] else 'no'} |")
    inside = sum(r["inside"] for r in rows)
    lines.append("")
    lines.append(f"{inside} of {len(rows)} checks inside the observation's interval. Sources: "
                 "`data/evidence_checks.csv`; no fit has seen these numbers except the calibrated files' own "
                 "fit years (each data file's header gives its hold-out year).")
    return "\n".join(lines) + "\n"
