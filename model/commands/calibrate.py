"""``python -m model calibrate SCENARIO.toml --data FILE.csv [--fit NAME ...] [--out DIR]``.

Fits chosen parameters of a scenario to observed series (format: ``data/README.md``) and
writes three files to DIR: the fitted scenario (``<stem>_calibrated.toml``, the fitted
values' source says "calibrated to ..."), and the report as Markdown and JSON
(``<stem>_calibration.md`` / ``.json``): calibrated and assumed parameters, residuals,
goodness of fit, profile-likelihood intervals, and the forecast beyond the data, kept
apart from the fit.

``python -m model calibrate --all`` reruns every committed calibration from its recipe
in ``data/calibrations.toml`` (scenario, data, fitted parameters, search, and why the
rest are fixed), writing the fitted scenarios to ``scenarios/`` and the reports to
``data/calibration/``.
"""

from __future__ import annotations

import dataclasses
import math
import time
import tomllib
from pathlib import Path

from ..analysis.tipping import point_of_no_return
from ..core.parameters import PARAMETER_SPECS
from ..evidence.calibrate import calibrate, forecast, holdout_check, parse_calibration_csv
from ..evidence.scenarios import Scenario, scenario_to_toml
from .common import add_scenario_arguments, dump_json, scenario_with_overrides

#: Calibrated by default: the two adoption rates, which the data identify (the newspaper
#: fit leaves the initial share at its bound with an interval spanning its whole range).
DEFAULT_FIT = ("direct_adoption_rate", "word_of_mouth_rate")
MAX_DATA_BYTES = 1024 * 1024
#: The committed calibrations, one ``[[calibration]]`` table each.
RECIPES_FILE = Path(__file__).resolve().parents[2] / "data" / "calibrations.toml"
_RECIPE_KEYS = {"scenario": str, "data": str, "fit": list, "search": str, "why": str}


def add_parser(sub) -> None:
    p = sub.add_parser("calibrate", help="fit scenario parameters to observed series (least squares)")
    add_scenario_arguments(p)
    for action in p._actions:  # the scenario comes from the recipes with --all
        if action.dest == "scenario":
            action.nargs = "?"
    p.add_argument("--data", metavar="FILE.csv", help="observed series (see data/README.md)")
    p.add_argument("--all", action="store_true",
                   help="rerun every calibration of data/calibrations.toml (fitted scenarios to scenarios/, "
                        "reports to data/calibration/)")
    p.add_argument("--recipes", default=str(RECIPES_FILE), metavar="FILE.toml",
                   help="the recipes read by --all (default: data/calibrations.toml)")
    p.add_argument("--fit", nargs="+", default=list(DEFAULT_FIT), metavar="NAME",
                   help="parameters to calibrate (default: %(default)s)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output folder (default: calibration; with --all, scenarios/ and data/calibration/)")
    p.add_argument("--weight", action="append", default=[], metavar="SERIES=W",
                   help="residual weight of a data series (repeatable; default 1)")
    p.add_argument("--starts", type=int, default=4, help="starting points of the fit (default 4)")
    p.add_argument("--profile-points", type=int, default=13,
                   help="grid points per profile-likelihood curve (default 13; 0 skips)")
    p.add_argument("--seed", type=int, default=0, help="seed of the starting points (default 0)")
    p.add_argument("--search", choices=("ranges", "bounds"), default="ranges",
                   help="search each fitted parameter within the scenario's range (default) or within the "
                        "model's full bounds")
    p.add_argument("--start-year", type=float, default=None,
                   help="calendar year of t = 0 (default: the scenario's start_year)")
    p.set_defaults(func=run)


def _read_data(path: str, origin: str | None = None):
    p = Path(path)
    try:
        if p.stat().st_size > MAX_DATA_BYTES:
            raise ValueError(f"{p}: file is larger than {MAX_DATA_BYTES:,} bytes")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{p}: no such data file") from None
    except IsADirectoryError:
        raise ValueError(f"{p}: is a directory, not a data file") from None
    except UnicodeDecodeError:
        raise ValueError(f"{p}: not UTF-8 text") from None
    return parse_calibration_csv(text, origin or str(p))


def _weights(items):
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        try:
            w = float(text)
        except ValueError:
            w = math.nan
        if not sep or not name.strip() or not (math.isfinite(w) and w > 0):
            raise ValueError(f"--weight {item!r}: expected SERIES=W with W a positive number")
        out[name.strip()] = w
    return out


def load_recipes(path) -> list[dict]:
    """The ``[[calibration]]`` tables of a recipes file, checked: every key present, of its
    type, and ``search`` one of ranges/bounds. ``ValueError`` names the file, the entry and the key."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such recipes file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    entries = doc.get("calibration")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected one or more [[calibration]] tables")
    for k, entry in enumerate(entries, start=1):
        where = f"{path}: calibration {k}"
        for key, kind in _RECIPE_KEYS.items():
            if not isinstance(entry.get(key), kind):
                raise ValueError(f"{where}: `{key}` must be a {kind.__name__}, got {entry.get(key)!r}")
        unknown = sorted(set(entry) - set(_RECIPE_KEYS))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_RECIPE_KEYS)}")
        if entry["search"] not in ("ranges", "bounds"):
            raise ValueError(f"{where}: `search` must be ranges or bounds, got {entry['search']!r}")
        if not entry["fit"] or not all(isinstance(n, str) and n in PARAMETER_SPECS for n in entry["fit"]):
            raise ValueError(f"{where}: `fit` must list parameter names, got {entry['fit']!r}")
    return entries


def run(args) -> int:
    if args.starts < 1:
        raise ValueError(f"--starts must be at least 1, got {args.starts}")
    if args.profile_points < 0 or args.profile_points == 1:
        raise ValueError(f"--profile-points must be 0 or at least 2, got {args.profile_points}")
    weights = _weights(args.weight)
    if args.all:
        if args.scenario or args.data:
            raise ValueError("--all reads the scenarios and data from the recipes; give neither SCENARIO nor --data")
        root = RECIPES_FILE.parents[1]
        scenario_dir = Path(args.out) if args.out else root / "scenarios"
        report_dir = Path(args.out) if args.out else root / "data" / "calibration"
        for recipe in load_recipes(args.recipes):
            _calibrate_one(args, root / recipe["scenario"], root / recipe["data"], recipe["fit"], recipe["search"],
                           weights, scenario_dir=scenario_dir, report_dir=report_dir,
                           why=recipe["why"], origin_root=root)
        return 0
    if not args.scenario or not args.data:
        raise ValueError("give SCENARIO and --data FILE.csv (or --all to rerun data/calibrations.toml)")
    out = Path(args.out or "calibration")
    return _calibrate_one(args, args.scenario, args.data, args.fit, args.search, weights,
                          scenario_dir=out, report_dir=out)


def _calibrate_one(args, scenario_path, data_path, fit, search, weights, *, scenario_dir, report_dir,
                   why=None, origin_root=None) -> int:
    def shown(path):  # repository-relative names in the reports, never this machine's paths
        path = Path(path)
        if origin_root is not None and path.is_absolute():
            return str(path.relative_to(origin_root))
        return str(path)

    scenario, params = scenario_with_overrides(str(scenario_path), args.overrides)
    scenario = dataclasses.replace(scenario, origin=shown(scenario_path))
    start_year = args.start_year if args.start_year is not None else scenario.start_year
    if start_year is None:
        raise ValueError(f"{scenario.origin}: no [scenario] start_year; give --start-year")
    data = _read_data(str(data_path), shown(data_path))
    t0 = time.perf_counter()
    ranges = scenario.ranges if search == "ranges" else {}
    result = calibrate(params, data, fit, start_year=start_year, ranges=ranges, weights=weights,
                       starts=args.starts, seed=args.seed, profile_points=args.profile_points)
    fc = forecast(result, data)
    hold = holdout_check(result, data)
    ponr = point_of_no_return(result.params)
    seconds = time.perf_counter() - t0

    scenario_dir, report_dir = Path(scenario_dir), Path(report_dir)
    scenario_dir.mkdir(parents=True, exist_ok=True)
    report_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(scenario.origin).stem
    toml_path = scenario_dir / f"{stem}_calibrated.toml"
    md_path = report_dir / f"{stem}_calibration.md"
    json_path = report_dir / f"{stem}_calibration.json"
    toml_path.write_text(fitted_scenario_toml(scenario, result, data, why=why, search=search), encoding="utf-8")
    report = report_dict(scenario, result, data, fc, ponr, seconds, hold)
    report["search"] = search
    report["why"] = why
    json_path.write_text(dump_json(report) + "\n", encoding="utf-8")
    md_path.write_text(report_markdown(report), encoding="utf-8")

    print(f"Calibrated {', '.join(result.fitted)} of {scenario.name} to {data.origin} "
          f"({result.n} residuals, {seconds:.1f} s):")
    for name, f in result.fitted.items():
        lo, hi = f["interval"]
        print(f"  {name} = {f['value']:.4g} (95% profile interval {lo:.4g} to {hi:.4g}; was {f['start']:.4g})"
              + ("  [at the edge of its range]" if f["at_bound"] else "")
              + ("" if report["calibrated"][name]["identified"] else "  [not identified: the profile does not close]"))
    print(f"  fit: RMSE {result.rmse:.3g}, R^2 {result.r2:.3f}")
    for s in result.series:
        hold = "" if math.isnan(s["holdout_rmse"]) else f", holdout RMSE {s['holdout_rmse']:.3g}"
        print(f"    {s['series']} ({s['normalise']} vs {s['compare_to']}): RMSE {s['rmse']:.3g}, "
              f"R^2 {s['r2']:.3f}{hold}")
    h = report["holdout"]
    if h["n"]:
        print(f"  hold-out (from {h['holdout_from']}, never fitted): {h['n']} points, "
              f"{h['coverage']:.0%} inside their {h['level']:.0%} prediction intervals")
        for name, row in h["summary"].items():
            print(f"    {name}: RMSE {row['rmse']:.3g}, bias {row['bias']:+.3g}, coverage {row['coverage']:.0%} "
                  f"of {row['n']}")
    print(f"  forecast: {_fall_sentence(report['forecast'])}")
    print(f"Wrote {toml_path}, {md_path}, {json_path}")
    return 0


def fitted_scenario_toml(scenario: Scenario, result, data, *, why: str | None = None,
                         search: str = "ranges") -> str:
    """The scenario with the fitted values in place, sourced "calibrated to ..."."""
    sources = dict(scenario.sources)
    ranges = dict(scenario.ranges)
    series = ", ".join(s.name for s in data.series)
    for name, f in result.fitted.items():
        lo, hi = f["interval"]
        value = f["value"]
        b_lo, b_hi = PARAMETER_SPECS[name].bounds
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= value <= hi and lo < hi):
            lo, hi = f["bounds"]
        lo, hi = max(lo, b_lo), min(hi, b_hi)
        old = scenario.sources.get(name, "model default")
        sources[name] = (f"calibrated to {data.origin} (least squares on {series}; {result.n} residuals; "
                         f"RMSE {result.rmse:.3g}); range = 95% profile-likelihood interval; was "
                         f"{f['start']:g} ({old})")
        ranges[name] = (float(lo), float(hi))
    meta = dict(scenario.meta)
    meta["name"] = f"{scenario.name} (calibrated)"
    fitted = Scenario(name=meta["name"], origin=scenario.origin, params=result.params, ranges=ranges,
                      sources=sources, meta=meta)
    note = (f"Calibrated with python -m model calibrate to {data.origin}: "
            + ", ".join(f"{n} = {f['value']:.4g}" for n, f in result.fitted.items())
            + "; every other value as in " + scenario.origin + "."
            + (f" Why these and not others: {why}" if why else ""))
    command = ("python -m model calibrate --all" if why else
               f"python -m model calibrate {scenario.origin} --data {data.origin}"
               + (" --search bounds" if search == "bounds" else ""))
    header = (f"# Generated by `{command}`: the scenario\n"
              f"# with {', '.join(result.fitted)} fitted to the data (sources say so; ranges are the 95%\n"
              "# profile-likelihood intervals). Rerun the command rather than editing by hand.\n\n")
    return header + scenario_to_toml(fitted, note=note)


def _fall_sentence(fc: dict) -> str:
    if fc["fall_year"] is None:
        return f"the incumbent survives to the end of the horizon ({fc['falls_in_envelope'][0]} of " \
               f"{fc['falls_in_envelope'][1]} parameter sets in the 95% region fall)"
    lo, hi = fc["fall_year_range"]
    return (f"the incumbent falls in {fc['fall_year']:.1f} (range {lo:.1f} to {hi:.1f} over "
            f"{fc['falls_in_envelope'][0]} of {fc['falls_in_envelope'][1]} parameter sets in the 95% region)")


def report_dict(scenario, result, data, fc, ponr, seconds, hold=None) -> dict:
    """Everything in the report, JSON-ready."""
    start_year = result.start_year
    hold = hold if hold is not None else holdout_check(result, data)
    profiles = {p.name: p for p in result.profiles}
    pon = ponr.as_dict()
    if pon.get("time") is not None:
        pon["year"] = start_year + pon["time"]
    return {
        "scenario": scenario.name,
        "scenario_file": scenario.origin,
        "data_file": data.origin,
        "start_year": start_year,
        "method": ("scipy.optimize.least_squares (trf) within the search ranges, best of "
                   f"{result.starts} starts; residuals: model minus data after each series' normalisation; "
                   "year y compared with the model at t = y - start_year + 0.5"),
        "data_header": data.header,
        "calibrated": {name: {**f, "symbol": PARAMETER_SPECS[name].symbol,
                              # Identified: the profile likelihood's 95% interval closes inside
                              # the searched range on both sides.
                              "identified": bool(name in profiles and not profiles[name].open_low
                                                 and not profiles[name].open_high)}
                       for name, f in result.fitted.items()},
        "assumed": {name: {"value": getattr(result.params, name), "source": scenario.sources.get(name, "model default")}
                    for name in result.assumed},
        "goodness_of_fit": {"n": result.n, "k": result.k, "ssr": result.ssr, "rmse": result.rmse, "r2": result.r2,
                            "fit_message": result.fit_message, "weights": result.weights},
        "series": result.series,
        "profiles": [{"parameter": p.name, "grid": p.grid, "ssr": p.ssr, "interval": p.interval,
                      "open_low": p.open_low, "open_high": p.open_high} for p in result.profiles],
        "forecast": {
            "note": "beyond the last data year: the fitted model run forward, not fitted to anything",
            "years": fc.years, "central": fc.central, "low": fc.low, "high": fc.high,
            "fall_year": fc.fall_year, "fall_year_range": fc.fall_year_range,
            "falls_in_envelope": fc.falls_in_envelope, "last_data_year": fc.last_data_year,
            "point_of_no_return": pon,
        },
        "holdout": {
            "note": ("rows the fit never saw (the data file's hold-out, chosen before fitting): model minus "
                     "data after normalisation, with delta-method prediction intervals"),
            "holdout_from": data.holdout_from, "level": hold.level, "n": hold.n, "coverage": hold.coverage,
            "summary": hold.summary, "rows": hold.rows,
        },
        "context": [{"year": y, "series": s, "value": v, "unit": u, "source": src} for y, s, v, u, src in data.context],
        "seconds": seconds,
        "nfev": result.nfev,
    }


def _f(x, digits=3):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}g}"


def report_markdown(r: dict) -> str:
    """The report as Markdown (the same content as the JSON)."""
    g = r["goodness_of_fit"]
    lines = [
        f"# Calibration: {r['scenario']}",
        "",
        f"Scenario `{r['scenario_file']}` fitted to `{r['data_file']}` (t = 0 is {r['start_year']:g}). "
        f"Method: {r['method']}.",
        "",
        "## Calibrated parameters",
        "",
        "| parameter | symbol | scenario value | fitted | std. error (asymptotic) | 95% profile interval | searched | identified |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, f in r["calibrated"].items():
        lo, hi = f["interval"]
        flag = " (at edge)" if f["at_bound"] else ""
        lines.append(f"| `{name}` | {f['symbol']} | {_f(f['start'], 4)} | **{_f(f['value'], 4)}**{flag} | "
                     f"{_f(f['se'])} | {_f(lo, 4)} to {_f(hi, 4)} | {_f(f['bounds'][0])} to {_f(f['bounds'][1])} | "
                     f"{'yes' if f['identified'] else 'no'} |")
    lines += ["", "An interval reaching the end of the searched range is open on that side: the data do not "
              "bound the parameter there.", "",
              "## Assumed parameters (held at the scenario's values)", "",
              "| parameter | value | source or assumption |", "|---|---|---|"]
    for name, a in r["assumed"].items():
        lines.append(f"| `{name}` | {_f(a['value'], 4)} | {a['source']} |")
    lines += ["", "## Goodness of fit", "",
              f"{g['n']} fit residuals, {g['k']} parameters: SSR {_f(g['ssr'])}, RMSE {_f(g['rmse'])}, "
              f"R² {_f(g['r2'])} (against each series' mean). Solver: {g['fit_message']}", "",
              "| series | compared with | normalised | fit points | RMSE | R² | holdout RMSE |",
              "|---|---|---|---|---|---|---|"]
    for s in r["series"]:
        norm = s["normalise"] + (f" (to {s['reference_year']}" + (", in its prices by the CPI-U" if s["normalise"].startswith("real_") else "") + ")" if s["reference_year"] is not None else "")
        lines.append(f"| {s['series']} | `{s['compare_to']}` | {norm} | {s['n_fit']} | {_f(s['rmse'])} | "
                     f"{_f(s['r2'])} | {_f(s['holdout_rmse'])} |")
    lines += ["", "## Residuals", ""]
    for s in r["series"]:
        lines += [f"### {s['series']} ({s['unit']})", "",
                  "| year | role | observed | data (normalised) | model | residual |", "|---|---|---|---|---|---|"]
        for row in s["rows"]:
            role = row["role"] + (" (reference)" if row["reference"] else "")
            lines.append(f"| {row['year']} | {role} | {_f(row['observed'], 4)} | {_f(row['data'])} | "
                         f"{_f(row['model'])} | {_f(row['residual'])} |")
        lines.append("")
    if r["profiles"]:
        lines += ["## Profile likelihood", "",
                  "Each parameter fixed on a grid, the others refitted; the 95% interval is where "
                  "n log(SSR / SSR_min) <= 3.84.", ""]
        for p in r["profiles"]:
            pairs = ", ".join(f"{_f(x, 3)}: {_f(y, 3)}" for x, y in zip(p["grid"], p["ssr"]))
            lines += [f"- `{p['parameter']}` (value: SSR): {pairs}"]
        lines.append("")
    h = r["holdout"]
    if h["n"]:
        lines += [f"## Hold-out: the years the fit never saw (from {h['holdout_from']})", "",
                  f"Chosen before fitting and written in the data file's header"
                  + (f" ({r['data_header']['holdout_note']})" if r["data_header"].get("holdout_note") else "")
                  + f". {h['n']} points; {h['coverage']:.0%} lie inside their {h['level']:.0%} prediction "
                  "intervals (delta method: parameter and noise uncertainty, not the model's structural error).", "",
                  "| series | points | RMSE | MAE | mean error (bias) | coverage |", "|---|---|---|---|---|---|"]
        for name, row in h["summary"].items():
            lines.append(f"| {name} | {row['n']} | {_f(row['rmse'])} | {_f(row['mae'])} | {_f(row['bias'])} | "
                         f"{row['coverage']:.0%} |")
        lines += ["", "| series | year | data | model | error | 95% interval | inside |", "|---|---|---|---|---|---|---|"]
        for row in h["rows"]:
            lines.append(f"| {row['series']} | {row['year']} | {_f(row['data'])} | {_f(row['model'])} | "
                         f"{_f(row['error'])} | {_f(row['low'])} to {_f(row['high'])} | {'yes' if row['inside'] else 'no'} |")
        lines.append("")
    fc = r["forecast"]
    pon = fc["point_of_no_return"]
    lines += [f"## Forecast beyond the data (after {fc['last_data_year']}; not fitted)", "",
              f"The fitted model run forward: {_fall_sentence(fc)}. Values are central [low, high] over the "
              "parameter sets met on the profiles inside the joint 95% region.", ""]
    if pon["outcome"] == "tips":
        lines += [f"Point of no return of the fitted scenario: {pon['year']:.2f} (t = {pon['time']:.2f} yr), when "
                  f"the platform holds {pon['share']:.1%} of the sector's gross and the incumbent has lost "
                  f"{pon['gross_loss']:.1%} of its starting gross.", ""]
    else:
        lines += [f"Point of no return of the fitted scenario: {pon['outcome']} ({pon['message']}).", ""]
    keys = list(fc["central"])
    if len(fc["years"]):
        lines += ["| year | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for i, year in enumerate(fc["years"]):
            cells = [f"{_f(fc['central'][k][i])} [{_f(fc['low'][k][i])}, {_f(fc['high'][k][i])}]" for k in keys]
            lines.append(f"| {year:g} | " + " | ".join(cells) + " |")
        lines.append("")
    if r["context"]:
        lines += ["## Context rows (kept for the record, not fitted)", "",
                  "| year | series | value | unit | source |", "|---|---|---|---|---|"]
        for c in r["context"]:
            lines.append(f"| {c['year']} | {c['series']} | {_f(c['value'], 4)} | {c['unit']} | {c['source']} |")
        lines.append("")
    lines += ["## Caveats", "",
              "- The model has one sector and no business cycle: residuals that follow recessions are not "
              "the platform's doing, and the fit cannot tell them apart.",
              "- Series are compared as ratios to their reference year (or logs of them): levels in dollars "
              "are not fitted, and nominal series carry inflation the model does not have.",
              "- A platform's revenue is a proxy for its volume only while its prices stay put.",
              f"- {r['nfev']} model evaluations in {r['seconds']:.1f} s.", ""]
    return "\n".join(lines)
