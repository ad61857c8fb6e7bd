"""Calibration of a sector scenario to observed time series.

Data (see ``data/README.md`` for the file format): rows of ``year, series, value, unit,
role, compare_to, normalise, source``. Each *series* is compared with one model series
(``compare_to``, a name in :data:`model.core.simulate.SERIES_NAMES`) after a normalisation:

``ratio``
    data / data at the series' reference year against model / model at the same year
    (the reference year is the series' first ``fit`` row): shape, not level, so the data
    can be in dollars while the model is in units of the incumbent's initial gross.
``log_ratio``
    the logarithm of the same ratios: for growth over orders of magnitude (a platform's
    revenue), and the honest choice when only the growth of a proxy is known.
``real_ratio``, ``real_log_ratio``
    the same after the data are deflated to the reference year's prices with the US
    CPI-U (``data/cpi_u.csv``): the model's money is real (prices relative to the
    incumbent's at the start), so nominal revenue series are compared in real terms.
``none``
    data and model compared as they are (shares, prices).

Rows with role ``fit`` enter the least-squares fit, ``holdout`` rows are only compared
afterwards, ``context`` rows are kept for the record. Year ``y`` is compared with the
model at ``t = y - start_year + 0.5`` (annual totals against the mid-year rate). After the
incumbent is liquidated, its revenue and volume are 0 and every other series keeps its
value at the liquidation (a reorganised incumbent's run goes on and is compared as it is).

The fit (:func:`calibrate`) is :func:`scipy.optimize.least_squares` over chosen
parameters within their ranges, from several starts (the scenario's values and a Latin
hypercube); the rest of the parameters stay at the scenario's values (they are
*assumed*). Uncertainty: the asymptotic standard errors from the Jacobian, and profile
likelihood intervals (each parameter fixed on a grid, the others refitted; with Gaussian
errors of unknown variance the 95% interval is where n log(SSR / SSR_min) <= 3.84).
:func:`forecast` runs the fitted model beyond the data, kept apart from the fit, with the
envelope of the parameter sets inside the joint profile region.

Pure model layer: parses text, never opens files (the command does the I/O).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import chi2, qmc

from ..core.parameters import PARAMETER_SPECS, Parameters
from ..core.simulate import SERIES_NAMES, simulate

__all__ = [
    "COLUMNS",
    "ROLES",
    "NORMALISATIONS",
    "Series",
    "CalibrationData",
    "parse_calibration_csv",
    "model_series",
    "Fit",
    "Profile",
    "CalibrationResult",
    "calibrate",
    "forecast",
    "Forecast",
    "HoldoutCheck",
    "holdout_check",
    "HEADER_KEYS",
    "COMPARED_NAMES",
    "DERIVED_SERIES",
]

#: Columns of a calibration data file, in order.
COLUMNS = ("year", "series", "value", "unit", "role", "compare_to", "normalise", "source")
ROLES = ("fit", "holdout", "context")
#: Keys of the ``# key: value`` header that opens a data file, in order; the first four
#: are required.
HEADER_KEYS = ("title", "units", "sources", "retrieved", "holdout_from", "holdout_note")
REQUIRED_HEADER_KEYS = HEADER_KEYS[:4]
#: Series a data row can be compared with besides the simulation's own: derived here.
#: ``incumbent_firm_revenue``: the incumbents' whole revenue, the sector's line plus the
#: rest of their business held at its start (a share 1 - ω of the whole); ``firms_remaining_share``:
#: the share of the sector's starting firms still operating; ``incumbent_market_value``: the
#: incumbents' payouts discounted (:mod:`model.analysis.valuation`), and
#: ``incumbent_firm_value`` the same plus the rest of their business valued as at the start
#: (a share 1 - ω, like the firm-wide revenue): to compare with share prices, which fall long
#: before the cash runs out.
DERIVED_SERIES = ("incumbent_firm_revenue", "firms_remaining_share", "incumbent_market_value",
                  "incumbent_firm_value")
COMPARED_NAMES = SERIES_NAMES + DERIVED_SERIES
NORMALISATIONS = ("ratio", "log_ratio", "real_ratio", "real_log_ratio", "none")
#: The price index that deflates ``real_*`` series (annual averages; see the file's header).
PRICE_INDEX_FILE = Path(__file__).resolve().parents[2] / "data" / "cpi_u.csv"
#: Model series that are zero once the incumbent has fallen (it is gone).
_GONE_AFTER_FALL = {"incumbent_revenue", "incumbent_volume", "incumbent_cost", "capacity", "buffer"}
#: Residual used for a run the solver could not finish (large, finite, so the fit moves away).
_FAILED_RESIDUAL = 10.0
#: Solver tolerances for the fit: tighter than the default so that finite-difference
#: Jacobians of the residuals are not dominated by the solver's error.
_RTOL, _ATOL = 1e-8, 1e-11


@dataclass(frozen=True)
class Series:
    """One observed series and how it is compared with the model.

    Attributes
    ----------
    name, unit : str
    compare_to : str
        Model series (a name in :data:`model.core.simulate.SERIES_NAMES`).
    normalise : str
        One of :data:`NORMALISATIONS`.
    years, values : ndarray
        Rows with role fit or holdout, sorted by year.
    roles : tuple of str
        ``"fit"`` or ``"holdout"`` per row.
    sources : tuple of str
    reference_year : int or None
        The first fit year (the normalisation's reference), None for ``none``.
    """

    name: str
    unit: str
    compare_to: str
    normalise: str
    years: np.ndarray
    values: np.ndarray
    roles: tuple
    sources: tuple
    reference_year: int | None
    #: Price index per row when the series was deflated (``real_*``); the values are then
    #: in the reference year's prices.
    price_index: tuple = ()

    @property
    def reference_value(self) -> float | None:
        if self.reference_year is None:
            return None
        return float(self.values[list(self.years).index(self.reference_year)])

    def normalised(self, values: np.ndarray) -> np.ndarray:
        """Data-side normalisation of ``values`` (same rule for model values)."""
        return _normalise(np.asarray(values, dtype=float), self.reference_value, self.normalise)


@dataclass(frozen=True)
class CalibrationData:
    """Parsed calibration data: the compared series and the context rows kept for the record."""

    origin: str
    series: tuple
    context: tuple = field(default=())  # (year, series, value, unit, source) of context rows
    header: dict = field(default_factory=dict)  # title, units, sources, retrieved, holdout_from, holdout_note

    @property
    def holdout_from(self) -> int | None:
        return self.header.get("holdout_from")

    def fit_count(self) -> int:
        """Number of residuals in the fit (fit rows other than reference rows)."""
        return sum(int(np.sum(np.array(s.roles) == "fit")) - (s.reference_year is not None) for s in self.series)


def _fail(origin: str, line: int | None, msg: str) -> ValueError:
    where = f"{origin}" + (f", line {line}" if line is not None else "")
    return ValueError(f"{where}: {msg}")


def _parse_header(lines: list[str], origin: str) -> dict:
    """The ``# key: value`` lines that open a data file: its provenance and hold-out."""
    meta: dict = {}
    for k, line in enumerate(lines, start=1):
        key, sep, value = line[1:].partition(":")
        key, value = key.strip(), value.strip()
        if not sep or key not in HEADER_KEYS:
            raise _fail(origin, k, f"header lines read `# key: value` with key one of {', '.join(HEADER_KEYS)}; "
                                   f"got {line.strip()[:60]!r}")
        if key in meta:
            raise _fail(origin, k, f"header key `{key}` appears twice")
        if not value:
            raise _fail(origin, k, f"header key `{key}` is empty")
        if key == "retrieved" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise _fail(origin, k, f"`retrieved` must be a date YYYY-MM-DD, got {value!r}")
        if key == "holdout_from":
            try:
                value = int(value)
            except ValueError:
                raise _fail(origin, k, f"`holdout_from` must be a year (integer), got {value!r}") from None
        meta[key] = value
    missing = [key for key in REQUIRED_HEADER_KEYS if key not in meta]
    if missing:
        raise _fail(origin, 1, f"header misses {', '.join(f'`# {m}: ...`' for m in missing)}: every data file "
                               "opens with its title, units, sources and retrieval date (see data/README.md)")
    return meta


def load_price_index(path=None) -> dict[int, float]:
    """Year -> index from a ``year,<index>`` CSV with ``#`` provenance lines (default: the CPI-U)."""
    path = Path(path) if path is not None else PRICE_INDEX_FILE
    out: dict[int, float] = {}
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    for k, line in enumerate(lines[1:], start=2):
        year, _, value = line.partition(",")
        try:
            index = float(value)
            out[int(year)] = index
        except ValueError:
            raise ValueError(f"{path}: data line {k}: expected `year,index` numbers, got {line!r}") from None
        if not (math.isfinite(index) and index > 0):
            raise ValueError(f"{path}: data line {k}: the index must be positive, got {value!r}")
    return out


def parse_calibration_csv(text: str, origin: str = "<data>", *,
                          price_index: dict[int, float] | None = None) -> CalibrationData:
    """Parse and validate calibration data: a header of ``# key: value`` lines
    (:data:`HEADER_KEYS`; title, units, sources and retrieved required), then CSV with the
    columns :data:`COLUMNS`.

    ``# holdout_from: YEAR`` fixes the hold-out before any fit: every ``fit`` row must be
    earlier and every ``holdout`` row that year or later.

    Raises
    ------
    ValueError
        Naming the file, the line and the column: a bad or incomplete header, missing or
        extra columns, a year or value that is not a number, an unknown role, model series
        or normalisation, a row on the wrong side of the hold-out year, a series whose rows
        disagree on unit, model series or normalisation, a ratio series with non-positive
        values, a duplicated year, a compared series without fit rows, or a ``real_*``
        row in a year the price index does not cover.

    ``price_index`` (year -> index) deflates ``real_*`` series; by default the CPI-U
    of :data:`PRICE_INDEX_FILE`.
    """
    all_lines = text.splitlines(keepends=True)
    n_header = 0
    while n_header < len(all_lines) and all_lines[n_header].startswith("#"):
        n_header += 1
    meta = _parse_header([line.rstrip("\r\n") for line in all_lines[:n_header]], origin)
    holdout_from = meta.get("holdout_from")
    reader = csv.DictReader(io.StringIO("".join(all_lines[n_header:])))
    header = tuple(h.strip() for h in (reader.fieldnames or ()))
    if header != COLUMNS:
        raise _fail(origin, n_header + 1, f"columns must be {', '.join(COLUMNS)}; got {', '.join(header) or 'none'}")
    rows: dict[str, list] = {}
    context = []
    for k, raw in enumerate(reader, start=n_header + 2):
        if None in raw or any(v is None for v in raw.values()):
            raise _fail(origin, k, f"expected {len(COLUMNS)} fields")
        row = {key.strip(): (val or "").strip() for key, val in raw.items()}
        try:
            year = int(row["year"])
        except ValueError:
            raise _fail(origin, k, f"`year` must be an integer, got {row['year']!r}") from None
        try:
            value = float(row["value"])
        except ValueError:
            raise _fail(origin, k, f"`value` must be a number, got {row['value']!r}") from None
        if not math.isfinite(value):
            raise _fail(origin, k, f"`value` must be finite, got {row['value']!r}")
        if not row["series"]:
            raise _fail(origin, k, "`series` is empty")
        if not row["source"]:
            raise _fail(origin, k, "`source` is empty: every number needs its source")
        role = row["role"]
        if role not in ROLES:
            raise _fail(origin, k, f"`role` must be one of {', '.join(ROLES)}, got {role!r}")
        if holdout_from is not None and role == "fit" and year >= holdout_from:
            raise _fail(origin, k, f"`role` is fit but {year} is in the hold-out (holdout_from: {holdout_from}); "
                                   "make the row holdout or context")
        if holdout_from is not None and role == "holdout" and year < holdout_from:
            raise _fail(origin, k, f"`role` is holdout but {year} is before holdout_from ({holdout_from}); "
                                   "make the row fit or context, or move the header's holdout_from")
        if role == "holdout" and holdout_from is None:
            raise _fail(origin, k, "`role` is holdout but the header has no `# holdout_from: YEAR` (the hold-out "
                                   "is chosen before fitting and written in the header)")
        if role == "context":
            context.append((year, row["series"], value, row["unit"], row["source"]))
            continue
        if row["compare_to"] not in COMPARED_NAMES:
            raise _fail(origin, k, f"`compare_to` must be a model series ({', '.join(COMPARED_NAMES)}), "
                                   f"got {row['compare_to']!r}")
        if row["normalise"] not in NORMALISATIONS:
            raise _fail(origin, k, f"`normalise` must be one of {', '.join(NORMALISATIONS)}, "
                                   f"got {row['normalise']!r}")
        if row["normalise"] != "none" and value <= 0:
            raise _fail(origin, k, f"`value` must be positive for normalise={row['normalise']}, got {value!r}")
        if row["normalise"].startswith("real_"):
            if price_index is None:
                price_index = load_price_index()
            if year not in price_index:
                raise _fail(origin, k, f"`normalise` is {row['normalise']} but the price index has no {year} "
                                       f"(it covers {min(price_index)}-{max(price_index)})")
        rows.setdefault(row["series"], []).append((k, year, value, row))

    series = []
    for name, items in rows.items():
        first = items[0][3]
        for k, year, value, row in items:
            for key in ("unit", "compare_to", "normalise"):
                if row[key] != first[key]:
                    raise _fail(origin, k, f"series {name!r}: `{key}` is {row[key]!r} here but "
                                           f"{first[key]!r} on line {items[0][0]}")
        items.sort(key=lambda item: item[1])
        years = [item[1] for item in items]
        if len(set(years)) != len(years):
            dup = next(y for y in years if years.count(y) > 1)
            raise _fail(origin, None, f"series {name!r}: year {dup} appears twice")
        roles = tuple(item[3]["role"] for item in items)
        fit_years = [y for y, r in zip(years, roles) if r == "fit"]
        if not fit_years:
            raise _fail(origin, None, f"series {name!r} has no `fit` row")
        normalise = first["normalise"]
        reference = fit_years[0] if normalise != "none" else None
        values = np.array([i[2] for i in items])
        index: tuple = ()
        if normalise.startswith("real_"):
            # In the reference year's prices: value x P(reference) / P(year).
            index = tuple(price_index[y] for y in years)
            values = values * price_index[reference] / np.array(index)
        series.append(Series(name=name, unit=first["unit"], compare_to=first["compare_to"], normalise=normalise,
                             years=np.array(years, dtype=int), values=values,
                             roles=roles, sources=tuple(i[3]["source"] for i in items),
                             reference_year=reference, price_index=index))
    if not series:
        raise _fail(origin, None, "no `fit` or `holdout` rows: nothing to compare with the model")
    data = CalibrationData(origin=origin, series=tuple(series), context=tuple(context), header=meta)
    if data.fit_count() < 1:
        raise _fail(origin, None, "no residuals: each ratio series needs a fit row besides its reference year")
    return data


def _normalise(values: np.ndarray, reference: float | None, how: str) -> np.ndarray:
    if how == "none":
        return values
    ratio = values / reference
    if how in ("ratio", "real_ratio"):  # real_*: the data were deflated when parsed
        return ratio
    return np.log(np.maximum(ratio, 1e-12))  # a vanished series is far below any data, not NaN


def _time(year, start_year) -> np.ndarray:
    return np.asarray(year, dtype=float) - float(start_year) + 0.5


def model_series(params: Parameters, data: CalibrationData, start_year: float, *,
                 extra_times: np.ndarray | None = None):
    """Model values at the data's years (raw, before normalisation).

    Returns
    -------
    values : dict[str, ndarray]
        Per data series, the model's ``compare_to`` series at each of its years.
    result : SimulationResult
        The run (``success``, ``falls``, ``fall_time`` ...).

    Raises
    ------
    ValueError
        If a data year falls outside [start_year - 0.5, start_year + horizon - 0.5].
    """
    times = [_time(s.years, start_year) for s in data.series]
    all_t = np.unique(np.concatenate(times + ([np.asarray(extra_times, float)] if extra_times is not None else [])))
    if all_t[0] < 0 or all_t[-1] > params.horizon:
        raise ValueError(f"data years must lie within the simulated period {start_year:g} to "
                         f"{start_year + params.horizon:g} (t = year - start_year + 0.5)")
    result = simulate(params, t_eval=all_t, rtol=_RTOL, atol=_ATOL)
    values = {}
    for s, t in zip(data.series, times):
        values[s.name] = _read(result, s.compare_to, t)
    return values, result


def _read(result, name: str, t: np.ndarray) -> np.ndarray:
    """Series ``name`` at times ``t``; after the incumbent is liquidated (the run ends at an
    insolvency), the incumbent's are 0 and the others frozen. A reorganised incumbent's run
    goes on past its first insolvency and is read as it is."""
    out = np.empty(t.shape)
    end = float(result.t[-1])
    liquidated = bool(result.insolvencies) and end == result.insolvencies[-1]
    if name == "firms_remaining_share":
        # Firms counted, not weighted by size: the data count newspapers, not their pages.
        firms = getattr(result, "firms", None)
        if firms is not None:
            exits = np.asarray(firms.fall_time, dtype=float)
            return np.array([np.mean(~(exits <= ti)) for ti in t])
        return np.where(liquidated & (t > end), 0.0, 1.0)
    if name in ("incumbent_market_value", "incumbent_firm_value"):
        from ..analysis.valuation import value as market_value

        v = market_value(result)
        sector = np.where(liquidated & (t > end), 0.0, np.interp(t, v.t, v.value))
        if name == "incumbent_market_value":
            return sector
        omega = float(result.params.sector_share_of_firm_revenue)
        return np.where(liquidated & (t > end), 0.0, sector + v.start * (1.0 - omega) / omega)
    if name == "incumbent_firm_revenue":
        # The rest of the firms' business, (1 - ω) of their starting revenue, held flat.
        omega = float(result.params.sector_share_of_firm_revenue)
        rest = float(result.series["incumbent_revenue"][0]) * (1.0 - omega) / omega
        sector = _read(result, "incumbent_revenue", t)
        return np.where(liquidated & (t > end), 0.0, sector + rest)
    series = result.series[name]
    for i, ti in enumerate(t):
        if liquidated and ti > end:
            out[i] = 0.0 if name in _GONE_AFTER_FALL else series[-1]
        else:
            k = int(np.argmin(np.abs(result.t - ti)))
            out[i] = series[k]
    return out


def _residual_layout(data: CalibrationData, role: str):
    """(series index, row index) of the rows that give residuals for ``role``."""
    layout = []
    for j, s in enumerate(data.series):
        for i, (y, r) in enumerate(zip(s.years, s.roles)):
            if r == role and not (role == "fit" and y == s.reference_year):
                layout.append((j, i))
    return layout


def _residuals(params, data, start_year, weights, role="fit"):
    values, result = model_series(params, data, start_year)
    layout = _residual_layout(data, role)
    if not result.success:
        return np.full(len(layout), _FAILED_RESIDUAL), result
    res = np.empty(len(layout))
    for n, (j, i) in enumerate(layout):
        s = data.series[j]
        model_ref = None
        if s.reference_year is not None:
            model_ref = float(values[s.name][list(s.years).index(s.reference_year)])
            if not model_ref > 0:
                return np.full(len(layout), _FAILED_RESIDUAL), result
        m = _normalise(values[s.name][i:i + 1], model_ref, s.normalise)[0]
        d = s.normalised(s.values[i:i + 1])[0]
        res[n] = weights.get(s.name, 1.0) * (m - d)
    return res, result


@dataclass(frozen=True)
class Fit:
    """One least-squares fit: values, residuals and goodness of fit."""

    names: tuple
    values: np.ndarray
    ssr: float
    residuals: np.ndarray
    jacobian: np.ndarray = field(repr=False)
    success: bool
    message: str
    nfev: int


@dataclass(frozen=True)
class Profile:
    """Profile likelihood of one fitted parameter.

    ``grid`` values of the parameter, ``ssr`` the refitted sum of squares at each, and the
    95% interval ``interval`` where n log(SSR / SSR_min) <= chi2(1, 0.95); ``open_low`` /
    ``open_high`` say the interval reaches the edge of the searched range.
    """

    name: str
    grid: np.ndarray
    ssr: np.ndarray
    others: np.ndarray  # refitted values of the other parameters at each grid point
    interval: tuple
    open_low: bool
    open_high: bool


@dataclass(frozen=True)
class CalibrationResult:
    """Everything the calibration found, for the report.

    Attributes
    ----------
    params : Parameters
        The scenario's parameters with the fitted values in place.
    fitted : dict[str, dict]
        Per fitted parameter: value, start (the scenario's), bounds, se (asymptotic),
        interval (95% profile), at_bound.
    assumed : tuple of str
        Parameters held at the scenario's values.
    series : list[dict]
        Per data series: year, role, data and model (normalised), residual; rmse, r2 on
        the fit rows; holdout errors.
    n, k : int
        Number of fit residuals and fitted parameters.
    ssr, rmse, r2 : float
        Over all fit residuals (r2 against the mean of each series' normalised data).
    profiles : list[Profile]
    starts : int
        Starting points tried; ``fit_message`` from the best.
    """

    params: Parameters
    fitted: dict
    assumed: tuple
    series: list
    n: int
    k: int
    ssr: float
    rmse: float
    r2: float
    profiles: list
    starts: int
    fit_message: str
    weights: dict
    start_year: float
    nfev: int
    #: s² (JᵀJ)⁻¹ at the best fit, in the order of ``fitted`` (the asymptotic covariance).
    covariance: np.ndarray | None = field(default=None, repr=False)


def _bounds_for(names, ranges, bounds):
    lo, hi = [], []
    for name in names:
        s = PARAMETER_SPECS.get(name)
        if s is None or s.is_switch or name == "horizon":
            raise ValueError(f"cannot calibrate {name!r}: give continuous model parameters "
                             f"(one of {', '.join(n for n, sp in PARAMETER_SPECS.items() if not sp.is_switch)})")
        b = (bounds or {}).get(name) or (ranges or {}).get(name) or s.bounds
        if not (s.bounds[0] <= b[0] < b[1] <= s.bounds[1]):
            raise ValueError(f"bounds for `{name}` must lie within [{s.bounds[0]:g}, {s.bounds[1]:g}] "
                             f"with low < high, got {b}")
        lo.append(float(b[0]))
        hi.append(float(b[1]))
    return np.array(lo), np.array(hi)


def _fit(params, names, x0, lo, hi, data, start_year, weights, fixed=None):
    """least_squares over ``names`` from x0 (``fixed``: extra name -> value held)."""
    fixed = fixed or {}
    base = params.replace(**fixed) if fixed else params

    def fun(x):
        return _residuals(base.replace(**dict(zip(names, map(float, x)))), data, start_year, weights)[0]

    sol = least_squares(fun, np.clip(x0, lo, hi), bounds=(lo, hi), x_scale=hi - lo, method="trf",
                        diff_step=1e-4, xtol=1e-10, ftol=1e-10, gtol=1e-10, max_nfev=400)
    return Fit(names=tuple(names), values=sol.x.copy(), ssr=float(2 * sol.cost), residuals=sol.fun.copy(),
               jacobian=sol.jac.copy(), success=bool(sol.success), message=str(sol.message), nfev=int(sol.nfev))


def calibrate(params: Parameters, data: CalibrationData, fit: list[str] | tuple[str, ...], *,
              start_year: float, ranges: dict | None = None, bounds: dict | None = None,
              weights: dict | None = None, starts: int = 4, seed: int = 0,
              profile_points: int = 13) -> CalibrationResult:
    """Fit parameters ``fit`` of a scenario to ``data`` by least squares, with uncertainty.

    Parameters
    ----------
    params : Parameters
        The scenario's parameters; those not in ``fit`` are held (assumed).
    data : CalibrationData
    fit : sequence of str
        Continuous parameters to calibrate.
    start_year : float
        Calendar year of t = 0.
    ranges, bounds : dict[str, (float, float)], optional
        Search box per fitted parameter: ``bounds`` first, else the scenario's ``ranges``,
        else the parameter's own bounds.
    weights : dict[str, float], optional
        Residual weight per data series (default 1).
    starts : int
        Starting points: the scenario's values plus ``starts - 1`` Latin-hypercube points
        in the box (seeded); the best fit is kept.
    profile_points : int
        Grid points per profile (0 skips the profiles).

    Returns
    -------
    CalibrationResult

    Raises
    ------
    ValueError
        For an unknown or discrete parameter, bad bounds, no residuals, or data years
        outside the simulated period.
    """
    names = list(dict.fromkeys(fit))
    if not names:
        raise ValueError("give at least one parameter to calibrate")
    weights = dict(weights or {})
    unknown = sorted(set(weights) - {s.name for s in data.series})
    if unknown:
        raise ValueError(f"weights given for unknown series {', '.join(unknown)}; series: "
                         + ", ".join(s.name for s in data.series))
    lo, hi = _bounds_for(names, ranges, bounds)
    n = data.fit_count()
    k = len(names)
    if n < k:
        raise ValueError(f"{n} fit residuals cannot determine {k} parameters; fit fewer")

    x_start = np.array([float(getattr(params, name)) for name in names])
    candidates = [np.clip(x_start, lo, hi)]
    if starts > 1:
        lhs = qmc.LatinHypercube(d=k, seed=seed).random(starts - 1)
        candidates += list(qmc.scale(lhs, lo, hi))
    fits = [_fit(params, names, x0, lo, hi, data, start_year, weights) for x0 in candidates]
    best = min(fits, key=lambda f: f.ssr)
    nfev = sum(f.nfev for f in fits)
    fitted_params = params.replace(**dict(zip(names, map(float, best.values))))

    # Asymptotic standard errors: cov = s^2 (J^T J)^-1 with s^2 = SSR / (n - k).
    dof = max(n - k, 1)
    s2 = best.ssr / dof
    J = best.jacobian
    cov = s2 * np.linalg.pinv(J.T @ J)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))

    profiles = []
    if profile_points:
        for i, name in enumerate(names):
            prof, pfev = _profile(params, names, i, best, lo, hi, data, start_year, weights, n, profile_points,
                                  float(se[i]))
            profiles.append(prof)
            nfev += pfev

    fitted = {}
    for i, name in enumerate(names):
        interval = next((p.interval for p in profiles if p.name == name), (math.nan, math.nan))
        width = hi[i] - lo[i]
        fitted[name] = {
            "value": float(best.values[i]),
            "start": float(x_start[i]),
            "bounds": (float(lo[i]), float(hi[i])),
            "se": float(se[i]),
            "interval": (float(interval[0]), float(interval[1])),
            "at_bound": bool(best.values[i] - lo[i] < 1e-6 * width or hi[i] - best.values[i] < 1e-6 * width),
        }

    table, total_res = _series_table(fitted_params, data, start_year, weights)
    all_fit = np.array(total_res)
    ssr = float(np.sum(all_fit ** 2))
    tss = 0.0
    for row in table:
        d = np.array([r["data"] for r in row["rows"] if r["role"] == "fit" and not r["reference"]])
        if d.size:
            tss += float(np.sum((d - d.mean()) ** 2)) * weights.get(row["series"], 1.0) ** 2
    return CalibrationResult(
        params=fitted_params, fitted=fitted,
        assumed=tuple(nm for nm, s in PARAMETER_SPECS.items() if not s.is_switch and nm not in names),
        series=table, n=n, k=k, ssr=ssr, rmse=float(math.sqrt(ssr / n)),
        r2=float(1.0 - ssr / tss) if tss > 0 else math.nan, profiles=profiles, starts=len(candidates),
        fit_message=best.message, weights=weights, start_year=float(start_year), nfev=nfev, covariance=cov)


#: Extra profile points around the optimum, in standard errors: dense near the 95% crossing
#: (about 1.96 SE when the problem is nearly linear) so that interpolating the statistic
#: between grid points locates it well.
_PROFILE_SE_STEPS = (0.5, 1.0, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0, 4.0, 6.0)


def _profile(params, names, i, best, lo, hi, data, start_year, weights, n, points, se):
    """Profile of parameter i: fix it on a grid, refit the others (warm-started outwards)."""
    name = names[i]
    fine = []
    if math.isfinite(se) and se > 0:
        steps = np.array(_PROFILE_SE_STEPS) * se
        fine = np.clip(np.concatenate([best.values[i] - steps, best.values[i] + steps]), lo[i], hi[i])
    grid = np.unique(np.concatenate([np.linspace(lo[i], hi[i], points), fine, [best.values[i]]]))
    others_idx = [j for j in range(len(names)) if j != i]
    ssr = np.empty(grid.size)
    others = np.empty((grid.size, len(others_idx)))
    nfev = 0
    k0 = int(np.argmin(np.abs(grid - best.values[i])))
    for direction in (range(k0, grid.size), range(k0 - 1, -1, -1)):
        x_prev = best.values[others_idx]
        for g in direction:
            if others_idx:
                f = _fit(params, [names[j] for j in others_idx], x_prev, lo[others_idx], hi[others_idx],
                         data, start_year, weights, fixed={name: float(grid[g])})
                ssr[g], others[g], x_prev = f.ssr, f.values, f.values
                nfev += f.nfev
            else:
                res, _ = _residuals(params.replace(**{name: float(grid[g])}), data, start_year, weights)
                ssr[g] = float(np.sum(res ** 2))
                nfev += 1
    ssr_min = min(float(ssr.min()), best.ssr)
    limit = chi2.ppf(0.95, 1)
    stat = n * np.log(np.maximum(ssr, 1e-300) / max(ssr_min, 1e-300))
    inside = stat <= limit
    # Interval: the connected run of grid points around the optimum inside the region,
    # with linear interpolation of the statistic at the crossings.
    a = b = k0
    while a > 0 and inside[a - 1]:
        a -= 1
    while b < grid.size - 1 and inside[b + 1]:
        b += 1

    def cross(j_in, j_out):
        s_in, s_out = stat[j_in], stat[j_out]
        w = (limit - s_in) / (s_out - s_in) if s_out != s_in else 0.0
        return float(grid[j_in] + w * (grid[j_out] - grid[j_in]))

    low = cross(a, a - 1) if a > 0 else float(grid[0])
    high = cross(b, b + 1) if b < grid.size - 1 else float(grid[-1])
    return Profile(name=name, grid=grid, ssr=ssr, others=others, interval=(low, high),
                   open_low=a == 0, open_high=b == grid.size - 1), nfev


def _series_table(params, data, start_year, weights):
    values, result = model_series(params, data, start_year)
    table = []
    fit_res = []
    for s in data.series:
        ref = None
        if s.reference_year is not None:
            ref = float(values[s.name][list(s.years).index(s.reference_year)])
        m = _normalise(values[s.name], ref, s.normalise) if (ref is None or ref > 0) else np.full(s.years.size, np.nan)
        d = s.normalised(s.values)
        rows = []
        for i, y in enumerate(s.years):
            is_ref = bool(y == s.reference_year)
            rows.append({"year": int(y), "role": s.roles[i], "reference": is_ref, "observed": float(s.values[i]),
                         "data": float(d[i]), "model": float(m[i]), "residual": float(m[i] - d[i]),
                         "source": s.sources[i]})
        fit_r = np.array([r["residual"] for r in rows if r["role"] == "fit" and not r["reference"]])
        fit_d = np.array([r["data"] for r in rows if r["role"] == "fit" and not r["reference"]])
        hold_r = np.array([r["residual"] for r in rows if r["role"] == "holdout"])
        fit_res += list(weights.get(s.name, 1.0) * fit_r)
        tss = float(np.sum((fit_d - fit_d.mean()) ** 2)) if fit_d.size else 0.0
        table.append({
            "series": s.name, "unit": s.unit, "compare_to": s.compare_to, "normalise": s.normalise,
            "reference_year": s.reference_year, "weight": weights.get(s.name, 1.0), "rows": rows,
            "n_fit": int(fit_r.size),
            "rmse": float(np.sqrt(np.mean(fit_r ** 2))) if fit_r.size else math.nan,
            "r2": float(1 - np.sum(fit_r ** 2) / tss) if tss > 0 else math.nan,
            "holdout_rmse": float(np.sqrt(np.mean(hold_r ** 2))) if hold_r.size else math.nan,
        })
    return table, fit_res


@dataclass(frozen=True)
class Forecast:
    """The fitted model beyond the last fit year (not fitted: a forecast).

    ``years`` with, per compared series, the model's normalised value (central) and the
    envelope (low, high) over the parameter sets on the profiles inside the 95% region;
    the platform's share of the sector's gross likewise; the fall year (central, and its
    range over the envelope; None where the incumbent survives the horizon).
    """

    years: np.ndarray
    central: dict
    low: dict
    high: dict
    fall_year: float | None
    fall_year_range: tuple
    falls_in_envelope: tuple  # (number of envelope sets that fall, number of sets)
    last_data_year: int


def forecast(result: CalibrationResult, data: CalibrationData, *, step: float = 1.0) -> Forecast:
    """Run the fitted model from the last data year to the horizon, with its envelope.

    The envelope runs every parameter set met on the profiles whose statistic
    n log(SSR / SSR_min) is within chi2(k, 0.95) (a joint 95% region), besides the best fit.
    """
    start_year = result.start_year
    # Beyond the last *fit* year: holdout rows lie inside the forecast, which is their point.
    last = int(max(max(int(y) for y, r in zip(s.years, s.roles) if r == "fit") for s in data.series))
    end_year = start_year + result.params.horizon - 0.5
    years = np.arange(last + 1, math.floor(end_year) + 1, step, dtype=float)
    names = list(result.fitted)
    sets = [result.params]
    limit = chi2.ppf(0.95, len(names))
    for prof in result.profiles:
        i = names.index(prof.name)
        others = [nm for nm in names if nm != prof.name]
        stat = result.n * np.log(np.maximum(prof.ssr, 1e-300) / max(result.ssr, 1e-300))
        for g in np.flatnonzero(stat <= limit):
            values = {prof.name: float(prof.grid[g]), **dict(zip(others, map(float, prof.others[g])))}
            sets.append(result.params.replace(**values))
        del i
    keys = [s.name for s in data.series] + ["platform_share_of_gross"]
    runs = []
    falls = []
    for p in sets:
        values, run = model_series(p, data, start_year, extra_times=_time(years, start_year))
        t = _time(years, start_year)
        row = {}
        for s in data.series:
            ref = None
            if s.reference_year is not None:
                ref = float(values[s.name][list(s.years).index(s.reference_year)])
            raw = _read(run, s.compare_to, t)
            row[s.name] = _normalise(raw, ref, s.normalise) if (ref is None or ref > 0) else np.full(t.size, np.nan)
        row["platform_share_of_gross"] = _read(run, "platform_share_of_gross", t)
        runs.append(row)
        falls.append(start_year + run.fall_time if run.falls else None)
    fell = [f for f in falls if f is not None]
    if len(fell) == len(falls) and years.size:
        # Every set has fallen by then: later rows would only repeat the values at the fall.
        keep = years <= math.ceil(max(fell)) + 1
        years = years[keep]
        runs = [{key: row[key][keep] for key in keys} for row in runs]
    central = {key: runs[0][key] for key in keys}
    low = {key: np.nanmin([r[key] for r in runs], axis=0) for key in keys}
    high = {key: np.nanmax([r[key] for r in runs], axis=0) for key in keys}
    return Forecast(years=years, central=central, low=low, high=high, fall_year=falls[0],
                    fall_year_range=(min(fell), max(fell)) if fell else (None, None),
                    falls_in_envelope=(len(fell), len(falls)), last_data_year=last)


@dataclass(frozen=True)
class HoldoutCheck:
    """The fitted model against the rows it never saw (role ``holdout``).

    ``rows``: per hold-out row, year, series, data and model (normalised), error (model
    minus data), the prediction interval (low, high) at ``level`` and whether the datum is
    inside. ``summary``: per series, n, RMSE, MAE, mean error (bias) and coverage (share
    of its rows inside their interval); ``coverage`` over all rows.

    The interval is the delta method's for a nonlinear least-squares fit (Seber & Wild,
    *Nonlinear Regression*, 1989, sec. 5.1): model ± t(n - k) · sqrt(g Σ gᵀ + σ²), with g
    the gradient of the prediction in the fitted parameters (central differences), Σ =
    s² (JᵀJ)⁻¹ the fit's covariance, and σ² the series' own residual variance (its fit
    residuals' SSR over their share of the degrees of freedom; the pooled s² divided by the
    series' squared weight when it has fewer than three). It covers parameter and noise
    uncertainty, not the model's structural error: coverage far below the level is the
    test that exposes the latter.
    """

    level: float
    rows: list
    summary: dict
    coverage: float
    n: int


def holdout_check(result: CalibrationResult, data: CalibrationData, *, level: float = 0.95) -> HoldoutCheck:
    """Forecast errors and interval coverage on the hold-out rows (see :class:`HoldoutCheck`)."""
    from scipy.stats import t as student_t

    if not 0 < level < 1:
        raise ValueError(f"`level` must be in (0, 1), got {level!r}")
    layout = _residual_layout(data, "holdout")
    if not layout:
        return HoldoutCheck(level=level, rows=[], summary={}, coverage=math.nan, n=0)
    names = list(result.fitted)
    x = np.array([result.fitted[nm]["value"] for nm in names])
    lo = np.array([result.fitted[nm]["bounds"][0] for nm in names])
    hi = np.array([result.fitted[nm]["bounds"][1] for nm in names])

    def predict(values):
        res, run = _residuals(result.params.replace(**dict(zip(names, map(float, values)))), data,
                              result.start_year, {}, role="holdout")
        return res, run

    centre, _ = predict(x)
    grad = np.zeros((len(layout), len(names)))
    for i in range(len(names)):
        h = 1e-3 * (hi[i] - lo[i])
        up, down = min(x[i] + h, hi[i]), max(x[i] - h, lo[i])
        xu, xd = x.copy(), x.copy()
        xu[i], xd[i] = up, down
        grad[:, i] = (predict(xu)[0] - predict(xd)[0]) / (up - down)

    dof = max(result.n - result.k, 1)
    s2 = result.ssr / dof
    cov = result.covariance if result.covariance is not None else np.full((len(names),) * 2, np.nan)
    noise = {}
    for row in result.series:
        r = np.array([q["residual"] for q in row["rows"] if q["role"] == "fit" and not q["reference"]])
        w = result.weights.get(row["series"], 1.0)
        if r.size >= 3:
            share = r.size * dof / max(result.n, 1)
            noise[row["series"]] = float(np.sum(r ** 2)) / max(share, 1.0)
        else:
            noise[row["series"]] = s2 / w ** 2
    q = float(student_t.ppf(0.5 + level / 2, dof))
    rows = []
    for n_row, (j, i) in enumerate(layout):
        s = data.series[j]
        d = float(s.normalised(s.values)[i])
        m = d + float(centre[n_row])
        g = grad[n_row]
        half = q * math.sqrt(max(float(g @ cov @ g), 0.0) + noise[s.name])
        rows.append({"series": s.name, "year": int(s.years[i]), "data": d, "model": m, "error": m - d,
                     "low": m - half, "high": m + half, "inside": bool(m - half <= d <= m + half)})
    summary = {}
    for name in dict.fromkeys(r["series"] for r in rows):
        e = np.array([r["error"] for r in rows if r["series"] == name])
        inside = [r["inside"] for r in rows if r["series"] == name]
        summary[name] = {"n": int(e.size), "rmse": float(np.sqrt(np.mean(e ** 2))), "mae": float(np.mean(np.abs(e))),
                         "bias": float(np.mean(e)), "coverage": float(np.mean(inside))}
    return HoldoutCheck(level=level, rows=rows, summary=summary,
                        coverage=float(np.mean([r["inside"] for r in rows])), n=len(rows))

