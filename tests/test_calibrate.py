"""Calibration: recovery of known parameters from model-generated data, the uncertainty
measures against each other, the data format's refusals, and the command's report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from model.commands.cli import main as cli_main
from model.core.parameters import PARAMETER_SPECS
from model.core.simulate import simulate
from model.commands.calibrate import RECIPES_FILE, load_recipes
from model.evidence.calibrate import calibrate, forecast, load_price_index, model_series, parse_calibration_csv
from model.evidence.scenarios import load_scenario

ROOT = Path(__file__).resolve().parents[1]
NEWSPAPERS = ROOT / "scenarios" / "newspapers.toml"
DATA = ROOT / "data" / "newspapers_classified.csv"
COLUMNS_LINE = "year,series,value,unit,role,compare_to,normalise,source\n"
META = ("# title: synthetic series\n# units: revenue: x; share: 1\n# sources: the model itself\n"
        "# retrieved: 2026-12-02\n")
HEADER = META + COLUMNS_LINE
TRUTH = {"direct_adoption_rate": 0.01, "word_of_mouth_rate": 0.4}  # no fall inside the data (2000-2009)
START = 2000


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(NEWSPAPERS)


def _synthetic_csv(params, noise=None, seed=0) -> str:
    """Revenue (2000-2009) and platform gross (2003-2009) of the model at ``params``, as data.

    Values are the model's own, in arbitrary units (times 19.6 and 55, like the real
    series), so only the normalisation connects them to the model. ``noise``: standard
    deviation of Gaussian errors added to the normalised values.
    """
    rev_years = np.arange(2000, 2010)
    gross_years = np.arange(2003, 2010)
    t = np.unique(np.concatenate([rev_years, gross_years]) - START + 0.5)
    r = simulate(params, t_eval=t, rtol=1e-10, atol=1e-12)
    assert r.success and (not r.falls or r.fall_time > t[-1])  # no fall inside the data
    rev = np.interp(rev_years - START + 0.5, r.t, r["incumbent_revenue"])
    gross = np.interp(gross_years - START + 0.5, r.t, r["platform_gross"])
    rng = np.random.default_rng(seed)
    rev_ratio = rev / rev[0]
    log_gross = np.log(gross / gross[0])
    if noise:
        rev_ratio[1:] += rng.normal(0, noise, rev_ratio.size - 1)
        log_gross[1:] += rng.normal(0, noise, log_gross.size - 1)
    lines = [HEADER]
    for y, v in zip(rev_years, 19.6 * rev_ratio):
        lines.append(f"{y},revenue,{float(v)!r},USD bn,fit,incumbent_revenue,ratio,synthetic (model) {y}\n")
    for y, v in zip(gross_years, 55 * np.exp(log_gross)):
        lines.append(f"{y},platform,{float(v)!r},USD m,fit,platform_gross,log_ratio,synthetic (model) {y}\n")
    lines.append("2012,platform,1,USD m,context,,,kept for the record\n")
    return "".join(lines)


def test_recovers_known_parameters_from_model_data(scenario):
    truth = scenario.params.replace(**TRUTH)
    data = parse_calibration_csv(_synthetic_csv(truth), "synthetic.csv")
    # Start from the scenario's own values (0.02, 0.5), not from the truth.
    res = calibrate(scenario.params, data, list(TRUTH), start_year=START, ranges=scenario.ranges,
                    starts=1, profile_points=0)
    for name, value in TRUTH.items():
        np.testing.assert_allclose(res.fitted[name]["value"], value, rtol=1e-3, atol=0)
    # Exact data: the residuals vanish to the solver's accuracy and R^2 is 1.
    assert res.rmse < 1e-4
    np.testing.assert_allclose(res.r2, 1.0, rtol=0, atol=1e-6)
    assert res.n == 9 + 6 and res.k == 2
    assert set(res.assumed) == {n for n, s in PARAMETER_SPECS.items() if not s.is_switch} - set(TRUTH)


def test_profile_and_asymptotic_intervals_agree_for_small_noise(scenario):
    """Two uncertainty methods against each other. With small noise the problem is nearly
    linear, and then the profile interval (n log(SSR/SSR_min) <= 3.84) and the Wald
    interval (1.96 SE with s^2 = SSR/(n-k)) differ by the factor
    sqrt((n-k)(exp(3.84/n)-1)/3.84) only (0.99 for n=15, k=2). One aggregate incumbent: the
    statistics do not depend on the firms, and a run is 5x cheaper."""
    start = scenario.params.replace(firm_count=1)
    truth = start.replace(**TRUTH)
    data = parse_calibration_csv(_synthetic_csv(truth, noise=0.002, seed=3), "noisy.csv")
    res = calibrate(start, data, list(TRUTH), start_year=START, ranges=scenario.ranges,
                    starts=1, profile_points=3)
    n, k = res.n, res.k
    factor = np.sqrt((n - k) * (np.exp(3.84 / n) - 1) / 3.84)
    for prof in res.profiles:
        f = res.fitted[prof.name]
        lo, hi = f["interval"]
        assert not (prof.open_low or prof.open_high)
        assert lo < f["value"] < hi
        np.testing.assert_allclose(f["value"] - lo, 1.96 * f["se"] * factor, rtol=0.15, atol=0)
        np.testing.assert_allclose(hi - f["value"], 1.96 * f["se"] * factor, rtol=0.15, atol=0)
        # The profile is a minimum over the other parameters: never below the joint minimum.
        assert np.all(prof.ssr >= res.ssr * (1 - 1e-6))


def test_fall_inside_the_data_counts_incumbent_series_as_gone(scenario):
    # One incumbent that falls early: its revenue after the fall is 0, the platform's
    # gross keeps its value at the fall.
    params = scenario.params.replace(firm_count=1, word_of_mouth_rate=1.0, direct_adoption_rate=0.05,
                                     initial_buffer=0.2)
    r = simulate(params)
    assert r.falls and r.fall_time < 15
    year_after = int(START + r.fall_time + 2)
    text = HEADER + (f"2000,rev,1,x,fit,incumbent_revenue,ratio,s 2000\n{year_after},rev,1,x,fit,incumbent_revenue,"
                     f"ratio,s 2000\n2000,g,1,x,fit,platform_gross,none,s 2000\n{year_after},g,1,x,fit,"
                     "platform_gross,none,s 2000\n")
    data = parse_calibration_csv(text, "fall.csv")
    values, run = model_series(params, data, START)
    assert run.falls
    np.testing.assert_allclose(values["rev"][1], 0.0, rtol=0, atol=0)
    np.testing.assert_allclose(values["g"][1], r.final("platform_gross"), rtol=1e-5, atol=1e-9)


def test_after_a_sector_of_firms_falls_its_survivors_are_read_as_they_are(scenario):
    # Eight firms: the sector falls when half its capacity has exited, the survivors go on
    # selling, so the incumbents' revenue after the fall is theirs (not 0) until the last exits.
    params = scenario.params.replace(firm_count=8, word_of_mouth_rate=1.0, direct_adoption_rate=0.05,
                                     initial_buffer=0.2)
    r = simulate(params)
    assert r.falls and r.fall_time < 15
    last_exit = np.nanmax(r.firms.fall_time)
    # A data year after the sector's fall, before the last firm's exit.
    year_after = int(np.ceil(START + r.fall_time - 0.5))
    assert r.fall_time < year_after - START + 0.5 < last_exit
    text = HEADER + (f"2000,rev,1,x,fit,incumbent_revenue,ratio,s 2000\n{year_after},rev,1,x,fit,incumbent_revenue,"
                     "ratio,s 2000\n")
    values, _ = model_series(params, parse_calibration_csv(text, "fall.csv"), START)
    t = year_after - START + 0.5
    expected = r.series["incumbent_revenue"][np.argmin(np.abs(r.t - t))]
    assert values["rev"][1] == pytest.approx(expected, rel=1e-4) and expected > 0  # two runs, two tolerances


#: A small data file; the refusals below edit it (line numbers are the file's own, header included).
SMALL = (META + "# holdout_from: 2004\n" + COLUMNS_LINE +                                   # lines 1-6
         "2000,revenue,19.6,USD bn,fit,incumbent_revenue,ratio,NAA 2000\n"                    # line 7
         "2002,revenue,15.9,USD bn,fit,incumbent_revenue,ratio,NAA 2002\n"                    # line 8
         "2003,revenue,15.8,USD bn,fit,incumbent_revenue,ratio,\"NAA release for 2003\"\n"     # line 9
         "2005,revenue,17.3,USD bn,holdout,incumbent_revenue,ratio,NAA 2005\n"                # line 10
         "2001,gross,55,USD m,fit,platform_gross,log_ratio,estimate 2001\n"                    # line 11
         "2003,gross,81,USD m,fit,platform_gross,log_ratio,estimate 2003\n"                    # line 12
         "2006,cities,10,cities,context,,,fact sheet\n")                                       # line 13


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("normalise,source", "normalise"), r"bad\.csv, line 6: columns must be"),
    (lambda t: t.replace("2003,revenue", "20x3,revenue"), r"bad\.csv, line 9: `year` must be an integer"),
    (lambda t: t.replace(",fit,incumbent_revenue,ratio,\"NAA release", ",fitt,incumbent_revenue,ratio,\"NAA release"),
     r"line 9: `role` must be one of"),
    (lambda t: t.replace("2002,revenue,15.9,USD bn,fit,incumbent_revenue", "2002,revenue,15.9,USD bn,fit,incumbent_revenu"),
     r"line 8: `compare_to` must be a model series"),
    (lambda t: t.replace("2002,revenue,15.9,", "2002,revenue,-15.9,"), r"line 8: `value` must be positive for normalise=ratio"),
    (lambda t: t.replace("2002,revenue,15.9,USD bn", "2002,revenue,15.9,USD"), r"series 'revenue': `unit`"),
    (lambda t: t.replace("2003,revenue", "2002,revenue"), r"year 2002 appears twice"),
    (lambda t: t.replace(",estimate 2003", ","), r"line 12: `source` is empty"),
    # The header: provenance required, the hold-out fixed before fitting and obeyed.
    (lambda t: t.replace("# retrieved: 2026-12-02\n", ""), r"bad\.csv, line 1: header misses `# retrieved: \.\.\.`"),
    (lambda t: t.replace("# retrieved: 2026-12-02", "# retrieved: last week"), r"line 4: `retrieved` must be a date"),
    (lambda t: t.replace("# units:", "# unit:"), r"line 2: header lines read `# key: value`"),
    (lambda t: t.replace("# holdout_from: 2004", "# holdout_from: 2003"),
     r"line 9: `role` is fit but 2003 is in the hold-out \(holdout_from: 2003\)"),
    (lambda t: t.replace("# holdout_from: 2004", "# holdout_from: 2006"),
     r"line 10: `role` is holdout but 2005 is before holdout_from \(2006\)"),
    (lambda t: t.replace("# holdout_from: 2004\n", ""), r"line 9: `role` is holdout but the header has no"),
    (lambda t: t.replace("# holdout_from: 2004", "# holdout_from: soon"), r"line 5: `holdout_from` must be a year"),
])
def test_data_file_refusals(edit, message):
    assert parse_calibration_csv(SMALL, "good.csv").holdout_from == 2004  # the unedited text is valid
    text = edit(SMALL)
    with pytest.raises(ValueError, match=message):
        parse_calibration_csv(text, "bad.csv")


def test_calibrate_refuses_switches_and_too_few_residuals(scenario):
    data = parse_calibration_csv(DATA.read_text(encoding="utf-8"), "d.csv")
    with pytest.raises(ValueError, match="cannot calibrate 'network_effect'"):
        calibrate(scenario.params, data, ["network_effect"], start_year=START)
    tiny = parse_calibration_csv(HEADER + "2000,a,1,x,fit,incumbent_revenue,ratio,s 2000\n"
                                 "2001,a,1,x,fit,incumbent_revenue,ratio,s 2000\n", "tiny.csv")
    with pytest.raises(ValueError, match="1 fit residuals cannot determine 2 parameters"):
        calibrate(scenario.params, tiny, list(TRUTH), start_year=START)


def _one_incumbent_copy(folder: Path) -> Path:
    """The newspapers file with one aggregate incumbent instead of eight firms: the command's
    plumbing is the same and a run is 5x cheaper (the paper's build calibrates the real file)."""
    text = NEWSPAPERS.read_text()
    assert text.count("firm_count = 8") == 1
    copy = folder / NEWSPAPERS.name
    copy.write_text(text.replace("firm_count = 8", "firm_count = 1"))
    return copy


def test_command_writes_fitted_scenario_and_report(tmp_path, capsys):
    out = tmp_path / "cal"
    scenario_file = _one_incumbent_copy(tmp_path)
    code = cli_main(["calibrate", str(scenario_file), "--data", str(DATA), "--out", str(out),
                     "--starts", "1", "--profile-points", "3"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "direct_adoption_rate" in printed and "RMSE" in printed

    report = json.loads((out / "newspapers_calibration.json").read_text())
    assert set(report["calibrated"]) == set(TRUTH)
    assert len(report["assumed"]) == sum(not s.is_switch for s in PARAMETER_SPECS.values()) - 2
    names = {s["series"] for s in report["series"]}
    data = parse_calibration_csv(DATA.read_text(encoding="utf-8"), "d.csv")
    assert names == {s.name for s in data.series} >= {"newspaper_classified_revenue", "craigslist_revenue"}
    roles = {r["role"] for s in report["series"] for r in s["rows"]}
    assert roles == {"fit", "holdout"}
    last_fit = max(int(y) for s in data.series for y, r in zip(s.years, s.roles) if r == "fit")
    assert last_fit < data.holdout_from
    g = report["goodness_of_fit"]
    assert g["n"] == data.fit_count() and g["k"] == 2 and 0 < g["rmse"] and g["r2"] <= 1
    fc = report["forecast"]
    assert fc["last_data_year"] == last_fit and all(y > last_fit for y in fc["years"])
    # The hold-out: every holdout row is forecast, with its interval, and summarised.
    h = report["holdout"]
    n_hold = sum(r == "holdout" for s in data.series for r in s.roles)
    assert h["holdout_from"] == data.holdout_from and h["n"] == n_hold == len(h["rows"]) > 0
    assert all(r["low"] <= r["model"] <= r["high"] and r["year"] >= data.holdout_from for r in h["rows"])
    assert h["coverage"] == np.mean([r["inside"] for r in h["rows"]])
    assert set(report["calibrated"][n]["identified"] for n in TRUTH) <= {True, False}
    assert fc["point_of_no_return"]["outcome"] in ("tips", "never_tips", "always_falls")

    md = (out / "newspapers_calibration.md").read_text()
    for heading in ("## Calibrated parameters", "## Assumed parameters", "## Goodness of fit", "## Residuals",
                    "## Profile likelihood", "## Hold-out: the years the fit never saw", "## Forecast beyond the data",
                    "## Caveats"):
        assert heading in md

    fitted = load_scenario(out / "newspapers_calibrated.toml")
    for name, f in report["calibrated"].items():
        np.testing.assert_allclose(getattr(fitted.params, name), f["value"], rtol=1e-12, atol=0)
        assert fitted.sources[name].startswith("calibrated to ")
        lo, hi = fitted.ranges[name]
        assert lo <= f["value"] <= hi
    # Everything else is the scenario's own.
    original = load_scenario(scenario_file)
    assert original.params.firm_count == 1
    for name in report["assumed"]:
        assert getattr(fitted.params, name) == getattr(original.params, name)


def test_forecast_starts_after_the_last_fit_year(scenario):
    data = parse_calibration_csv(DATA.read_text(encoding="utf-8"), "d.csv")
    res = calibrate(scenario.params, data, ["word_of_mouth_rate"], start_year=START, ranges=scenario.ranges,
                    starts=1, profile_points=3)
    fc = forecast(res, data)
    last_fit = max(int(y) for s in data.series for y, r in zip(s.years, s.roles) if r == "fit")
    assert fc.last_data_year == last_fit
    assert fc.years[0] == last_fit + 1
    for key in fc.central:
        lo, mid, hi = fc.low[key], fc.central[key], fc.high[key]
        ok = np.isfinite(mid)
        assert np.all(lo[ok] <= mid[ok] + 1e-12) and np.all(mid[ok] <= hi[ok] + 1e-12)


def test_search_within_model_bounds_on_the_hotels_data():
    data = parse_calibration_csv((ROOT / "data" / "hotels_airbnb.csv").read_text(encoding="utf-8"), "h.csv")
    fit_rows = sum(r == "fit" for s in data.series for r in s.roles)
    references = sum(s.reference_year is not None for s in data.series)  # a ratio's reference row is 1 by definition
    assert data.fit_count() == fit_rows - references >= 2 and data.holdout_from == 2018
    hotels = load_scenario(ROOT / "scenarios" / "hotels.toml")
    res = calibrate(hotels.params, data, ["word_of_mouth_rate"], start_year=2008, ranges={}, starts=1,
                    profile_points=0)
    assert res.fitted["word_of_mouth_rate"]["bounds"] == PARAMETER_SPECS["word_of_mouth_rate"].bounds


RECIPES = load_recipes(RECIPES_FILE)


@pytest.mark.parametrize("recipe", RECIPES, ids=[Path(r["scenario"]).stem for r in RECIPES])
def test_committed_calibrations_follow_their_recipes(recipe):
    """The committed fitted scenarios and reports are the recipes' (rerun with
    ``calibrate --all`` after a change) and keep the identification rule: every fitted
    parameter's profile closes inside the searched range."""
    stem = Path(recipe["scenario"]).stem
    fitted = load_scenario(ROOT / "scenarios" / f"{stem}_calibrated.toml")
    original = load_scenario(ROOT / recipe["scenario"])
    calibrated = {n for n, s in fitted.sources.items() if s.startswith("calibrated to ")}
    assert calibrated == set(recipe["fit"])
    for name in calibrated:
        assert recipe["data"] in fitted.sources[name] and (ROOT / recipe["data"]).exists()
    # Everything else is the original file's.
    for name in PARAMETER_SPECS:
        if name not in calibrated:
            assert getattr(fitted.params, name) == getattr(original.params, name), name
    assert fitted.start_year == original.start_year
    report = json.loads((ROOT / "data" / "calibration" / f"{stem}_calibration.json").read_text())
    assert report["data_file"] == recipe["data"] and report["scenario_file"] == recipe["scenario"]
    assert report["why"] == recipe["why"] and report["search"] == recipe["search"]
    for name, f in report["calibrated"].items():
        assert f["identified"], f"{stem}: {name} is fitted but its profile does not close"
        np.testing.assert_allclose(getattr(fitted.params, name), f["value"], rtol=1e-12)
    # The hold-out is the data file's, and it was forecast, not fitted.
    data = parse_calibration_csv((ROOT / recipe["data"]).read_text(encoding="utf-8"), recipe["data"])
    n_hold = sum(r == "holdout" for s in data.series for r in s.roles)
    assert report["holdout"]["holdout_from"] == data.holdout_from and report["holdout"]["n"] == n_hold > 0
    assert report["goodness_of_fit"]["n"] == data.fit_count()


def test_real_series_are_deflated_to_the_reference_year():
    """``real_ratio``: value x P(reference) / P(year); the ratio to the reference year is then
    the real growth, and a year the price index lacks is refused naming the line."""
    index = {2000: 100.0, 2001: 110.0, 2002: 121.0}
    text = HEADER + ("2000,rev,50,USD,fit,incumbent_revenue,real_ratio,s\n"
                     "2001,rev,55,USD,fit,incumbent_revenue,real_ratio,s\n"
                     "2002,rev,72.6,USD,fit,incumbent_revenue,real_ratio,s\n"
                     "2001,nom,55,USD,fit,incumbent_revenue,ratio,s\n"
                     "2002,nom,72.6,USD,fit,incumbent_revenue,ratio,s\n")
    data = parse_calibration_csv(text, "r.csv", price_index=index)
    real, nominal = data.series
    np.testing.assert_allclose(real.normalised(real.values), [1.0, 1.0, 1.2], rtol=1e-12)
    np.testing.assert_allclose(nominal.normalised(nominal.values), [1.0, 72.6 / 55], rtol=1e-12)
    assert real.price_index == (100.0, 110.0, 121.0)
    with pytest.raises(ValueError, match=r"r\.csv, line 11: .*price index has no 2003 \(it covers 2000-2002\)"):
        parse_calibration_csv(text + "2003,rev,80,USD,fit,incumbent_revenue,real_ratio,s\n", "r.csv",
                              price_index=index)
    # The committed CPI-U covers every real row of the committed data (parsing them proves it).
    cpi = load_price_index()
    assert all(cpi[y] > cpi[y - 1] for y in range(1996, 2025) if y != 2009)  # only 2009 fell


@pytest.mark.parametrize("change, message", [
    (('search = "bounds"', 'search = "all"'), r"calibration 1: `search` must be ranges or bounds"),
    (('fit = ["word_of_mouth_rate"]', 'fit = ["word_of_mouth"]'), r"calibration 1: `fit` must list parameter names"),
    (('why = ', 'reason = '), r"calibration 1: `why` must be a str"),
])
def test_bad_recipes_are_refused_naming_the_entry(tmp_path, change, message):
    text = RECIPES_FILE.read_text(encoding="utf-8").replace(*change, 1)
    path = tmp_path / "recipes.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_recipes(path)


def test_a_reorganised_incumbent_is_compared_after_its_first_insolvency(scenario):
    """Under liquidation the incumbent's revenue is 0 after the fall; a reorganised one goes
    on, and its revenue after the first insolvency is the run's own, not 0."""
    from model.evidence.calibrate import model_series

    years = np.arange(2000, 2021)
    lines = [HEADER] + [f"{y},revenue,1.0,USD bn,fit,incumbent_revenue,ratio,synthetic {y}\n" for y in years]
    data = parse_calibration_csv("".join(lines), "synthetic.csv")
    for insolvency in ("liquidation", "reorganisation"):
        p = scenario.params.replace(insolvency=insolvency, firm_count=1)  # one incumbent: the fall is its own
        values, result = model_series(p, data, START)
        rev = values[data.series[0].name]
        after = years - START + 0.5 > result.fall_time
        assert result.falls and after.any() and not after.all()
        if insolvency == "liquidation":
            assert np.all(rev[after] == 0.0)
        else:
            # Read as it is while the run goes on; 0 once a second insolvency liquidates it.
            t = years - START + 0.5
            going = after & (t <= result.t[-1])
            nearest = [result["incumbent_revenue"][int(np.argmin(np.abs(result.t - ti)))] for ti in t[going]]
            assert going.sum() >= 2 and np.all(rev[going] > 0)
            np.testing.assert_allclose(rev[going], nearest, rtol=0, atol=0)
            if len(result.insolvencies) > 1:
                assert np.all(rev[t > result.t[-1]] == 0.0)


def test_holdout_intervals_cover_synthetic_holdout_points_at_their_nominal_rate(scenario):
    """Model data with known Gaussian noise, fitted on 2000-2009 and forecast for the
    hold-out 2010-2014 over repeated seeds: the delta-method intervals cover about as often
    as they say (95% and 50%; the points of one seed share its parameter error, so the
    effective sample is a few dozen and the bands allow for it)."""
    from model.evidence.calibrate import holdout_check

    params = scenario.params.replace(firm_count=1, **TRUTH)
    years = np.arange(2000, 2015)
    run = simulate(params, t_eval=years - START + 0.5, rtol=1e-10, atol=1e-12)
    assert run.success and run.fall_time > years[-1] - START + 0.5  # no fall inside the data
    rev = np.interp(years - START + 0.5, run.t, run["incumbent_revenue"])
    share = np.interp(years - START + 0.5, run.t, run["platform_share"])
    box = {"direct_adoption_rate": (0.001, 0.05), "word_of_mouth_rate": (0.1, 1.0)}
    inside95, inside50, errors = [], [], []
    for seed in range(24):
        rng = np.random.default_rng(seed)
        ratio = rev / rev[0] + np.r_[0.0, rng.normal(0, 0.01, years.size - 1)]
        noisy_share = share + rng.normal(0, 0.01, years.size)
        lines = [META, "# holdout_from: 2010\n", COLUMNS_LINE]
        for y, a, b in zip(years, ratio, noisy_share):
            role = "fit" if y < 2010 else "holdout"
            lines.append(f"{y},rev,{float(a)!r},x,{role},incumbent_revenue,ratio,synthetic {y}\n")
            lines.append(f"{y},share,{float(b)!r},1,{role},platform_share,none,synthetic {y}\n")
        data = parse_calibration_csv("".join(lines), "synthetic.csv")
        res = calibrate(params, data, list(TRUTH), start_year=START, ranges=box, starts=1, profile_points=0)
        h95, h50 = holdout_check(res, data, level=0.95), holdout_check(res, data, level=0.5)
        assert h95.n == h50.n == 10 and set(h95.summary) == {"rev", "share"}
        inside95 += [r["inside"] for r in h95.rows]
        inside50 += [r["inside"] for r in h50.rows]
        errors += [r["error"] for r in h95.rows]
        for a, b in zip(h95.rows, h50.rows):  # the same forecast, nested intervals
            assert a["model"] == b["model"] and a["low"] < b["low"] < b["high"] < a["high"]
    assert 0.85 <= np.mean(inside95) <= 1.0
    assert 0.35 <= np.mean(inside50) <= 0.65
    assert abs(np.mean(errors)) < 0.01  # unbiased forecasts on the model's own data


def test_derived_series_firm_revenue_and_firms_remaining(scenario):
    """incumbent_firm_revenue adds the rest of the business, (1 - ω)/ω of the sector's
    starting revenue, to the sector's; firms_remaining_share counts the firms still in."""
    params = scenario.params.replace(firm_count=4, word_of_mouth_rate=1.0, direct_adoption_rate=0.05,
                                     initial_buffer=0.2, sector_share_of_firm_revenue=0.25, horizon=25.0)
    years = np.arange(2000, 2025)
    lines = [HEADER] + [f"{y},a,1,x,fit,incumbent_revenue,ratio,s\n{y},b,1,x,fit,incumbent_firm_revenue,ratio,s\n"
                        f"{y},c,1,x,fit,firms_remaining_share,ratio,s\n" for y in years]
    values, run = model_series(params, parse_calibration_csv("".join(lines), "d.csv"), START)
    r0 = float(run.series["incumbent_revenue"][0])
    np.testing.assert_allclose(values["b"], values["a"] + 3.0 * r0, rtol=1e-12)
    exits = np.sort(run.firms.fall_time[np.isfinite(run.firms.fall_time)])
    assert exits.size >= 2  # the test needs exits inside the window
    t = years - START + 0.5
    expected = np.array([1.0 - np.sum(exits <= ti) / 4 for ti in t])
    np.testing.assert_array_equal(values["c"], expected)
    assert values["c"][0] == 1.0 and np.all(np.diff(values["c"]) <= 0)


def test_derived_market_values_follow_the_valuation_and_hit_zero_at_exit(scenario):
    """incumbent_market_value is the valuation's sector value at mid-year; the firm-wide
    value adds the rest of the business at (1 - ω)/ω of the start value; a liquidated
    incumbent's value is 0 after its exit, and the value falls years before the exit."""
    from model.analysis.valuation import value as market_value

    params = scenario.params.replace(firm_count=1, insolvency="liquidation", word_of_mouth_rate=1.5,
                                     direct_adoption_rate=0.05, sector_share_of_firm_revenue=0.25, horizon=30.0)
    years = np.arange(2000, 2030)
    lines = [HEADER] + [f"{y},v,1,x,fit,incumbent_market_value,ratio,s\n{y},f,1,x,fit,incumbent_firm_value,ratio,s\n"
                        for y in years]
    values, run = model_series(params, parse_calibration_csv("".join(lines), "d.csv"), START)
    assert run.falls and run.fall_time < 29.0  # the test needs a liquidation inside the window
    v = market_value(run)
    t = years - START + 0.5
    alive = t <= run.fall_time
    np.testing.assert_allclose(values["v"][alive], np.interp(t[alive], v.t, v.value), rtol=1e-12)
    assert np.all(values["v"][~alive] == 0.0) and np.all(values["f"][~alive] == 0.0)
    np.testing.assert_allclose(values["f"][alive] - values["v"][alive], 3.0 * v.start, rtol=1e-12)
    # The price falls first: the value has halved well before the cash runs out.
    assert v.half_time is not None and v.half_time < run.fall_time - 1.0
