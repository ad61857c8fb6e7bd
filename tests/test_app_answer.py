"""The dashboard's answer first and what system-dynamics users expect (issue 16), without a
browser (streamlit.testing.v1.AppTest): the committed verdict and its figure at the top, the
fan of the sector's draws with the current run on it, the sector's value marked under each
slider, any series from a picker, named runs kept side by side and in the link, the
calibration data on the run with its hold-out, and the point of no return on the engine.

Every number on the page is checked against the model computed here another way (solve_ivp
runs, the verdict recomputed, the data file parsed)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

from model import load_scenario, simulate
from model.analysis.tipping import point_of_no_return, point_of_no_return_by_engine
from model.core.parameters import PARAMETER_SPECS
from model.core.simulate import ENGINE, SERIES_UNITS
from model.evidence.calibrate import parse_calibration_csv
from model.studies.fan import sector_fan
from model.studies.verdict import READING_LABELS, READINGS, draw_parameters, sector_verdict
from tests.test_app import charts, no_problem, open_app, series, unescape, values

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results" / "verdict"


def committed_rows() -> list[dict]:
    with (COMMITTED / "verdict.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def page_run(params):
    """The run as the page makes it (several firms on the engine)."""
    return simulate(params, method=ENGINE if params.firm_count > 1 else "LSODA")


def markdown_text(at) -> str:
    return "\n".join(unescape(m.value) for m in at.markdown)


# --- the answer first -----------------------------------------------------------------------

def test_the_answer_comes_first_with_the_committed_verdict_its_figure_and_the_fan():
    at = open_app({"sector": "newspapers"})
    no_problem(at)
    assert [h.value for h in at.header][0] == "Does 20% hold in this sector?"
    rows = committed_rows()
    row = next(r for r in rows if r["sector"] == "newspapers")
    shown = markdown_text(at)
    for k in READINGS:  # one word per reading, the committed file's
        assert f"| {READING_LABELS[k]} | **{row[f'sector_{k}_verdict']}** |" in shown
    specs = charts(at)
    keys = list(specs)
    # Above the single run: the verdict of every sector and the fan come before the run's chart.
    assert keys.index("verdict_all") < keys.index("share_and_loss") and keys.index("fan") < keys.index("share_and_loss")
    verdict = specs["verdict_all"]
    ticks = verdict["layout"]["yaxis"]["ticktext"]
    assert [t.replace("<b>", "").replace("</b>", "") for t in ticks] == [r["sector"].replace("_", " ") for r in rows]
    assert [t for t in ticks if t.startswith("<b>")] == ["<b>newspapers</b>"]
    dots = next(t for t in verdict["data"] if t["name"] == "PONR: platform share of gross")
    assert_allclose(values(dots["x"]), [float(r["ponr_share_median"] or "nan") for r in rows], rtol=1e-12)

    fan = specs["fan"]
    sc = load_scenario(ROOT / "scenarios" / "newspapers.toml")
    # By default the fan carries the sector file's own run and stays put while sliders move
    # (so the browser does not redraw it); switched on, it carries the current run.
    t, share = series(fan, "the sector file's run")
    run = page_run(sc.params)
    assert_allclose(t, run.t, rtol=1e-12)
    assert_allclose(share, run["platform_share_of_gross"], rtol=1e-12)
    at.slider(key="platform_price").set_value(round(sc.params.platform_price * 0.8, 2)).run()
    assert charts(at)["fan"] == fan  # the same figure: nothing for the browser to redraw
    at.toggle(key="fan_current").set_value(True).run()
    no_problem(at)
    moved = page_run(sc.params.replace(platform_price=round(sc.params.platform_price * 0.8, 2)))
    t, share = series(charts(at)["fan"], "current run")
    assert_allclose(t, moved.t, rtol=1e-12)
    assert_allclose(share, moved["platform_share_of_gross"], rtol=1e-12)
    fan = charts(at)["fan"]
    at.toggle(key="fan_current").set_value(False).run()
    low, high = series(fan, "90% of the draws (low)")[1], series(fan, "90% of the draws")[1]
    mid_low, mid_high = series(fan, "50% of the draws (low)")[1], series(fan, "50% of the draws")[1]
    median = series(fan, "median of the draws")[1]
    assert np.all(low <= mid_low) and np.all(mid_low <= median) and np.all(median <= mid_high)
    assert np.all(mid_high <= high)
    fallen = series(fan, "draws fallen")[1]
    assert np.all(np.diff(fallen) >= 0) and 0 <= fallen[0] <= fallen[-1] <= 1


def test_the_committed_verdict_is_the_verdicts_own_or_the_page_says_it_is_stale():
    """The committed words are what model.studies.verdict computes for the file (recomputed
    here for the quickest sector), or, if the file has changed since, the page says so."""
    source = json.loads((COMMITTED / "source.json").read_text())
    stem = "chronic_care"
    path = ROOT / "scenarios" / f"{stem}.toml"
    current = hashlib.sha256(path.read_bytes()).hexdigest() == source["files"][stem]
    if not current:
        at = open_app({"sector": stem})
        assert any("has changed since the committed verdict" in w.value for w in at.warning)
        return
    row = next(r for r in committed_rows() if r["sector"] == stem)
    v = sector_verdict(load_scenario(path), draws=int(source["draws"]), seed=int(source["seed"]), key=stem,
                       critical_mass_draws=0)
    for r in (x for x in v.readings if x.definition == "sector"):
        assert row[f"sector_{r.reading}_verdict"] == r.word
        if r.threshold.n:
            assert float(row[f"sector_{r.reading}_median"]) == pytest.approx(r.threshold.median, rel=1e-12)


def test_the_fan_is_the_sectors_draws_as_solve_ivp_runs_them():
    """The engine's fan against each draw solved one by one with solve_ivp (LSODA): the share
    of draws fallen and the median share of gross at every time."""
    sc = load_scenario(ROOT / "scenarios" / "baseline.toml")
    n = 30
    fan = sector_fan(sc, draws=n, seed=0, key="baseline", points=31)
    _, _, params = draw_parameters(sc, n, 0, key="baseline")
    shares, falls = [], []
    for p in params:
        r = simulate(p, t_eval=fan.t)
        s = np.ones(fan.t.size)  # after the fall the sector's gross is the platform's
        s[: r.t.size] = r["platform_share_of_gross"]
        if r.falls:
            s[fan.t >= r.fall_time] = 1.0
        shares.append(s)
        falls.append(np.where(r.falls, r.fall_time, np.inf))
    shares, falls = np.array(shares), np.array(falls)
    fallen = (fan.t[None, :] >= falls[:, None]).mean(axis=0)
    assert np.max(np.abs(fallen - fan.fallen)) <= 1.0 / n + 1e-12  # a fall on a grid time may go either way
    # Away from the moments some draw falls (where a quantile can jump), the medians agree.
    step = fan.t[1] - fan.t[0]
    calm = np.all(np.abs(fan.t[None, :] - falls[:, None]) > step, axis=0)
    median = np.quantile(shares, 0.5, axis=0)
    assert calm.sum() >= 10
    assert_allclose(fan.share_of_gross[fan.quantiles.index(0.5)][calm], median[calm], atol=2e-3)


# --- the point of no return on the engine ---------------------------------------------------

@pytest.mark.parametrize("stem", ["baseline", "universities", "hotels", "newspapers"])
def test_the_engines_point_of_no_return_is_the_bisections_with_solve_ivp(stem):
    params = load_scenario(ROOT / "scenarios" / f"{stem}.toml").params
    a = point_of_no_return_by_engine(params)
    b = point_of_no_return(params, method=ENGINE if params.firm_count > 1 else "LSODA")
    assert a.outcome == b.outcome and a.success and b.success
    if b.outcome in ("tips", "always_falls"):
        assert abs(a.time - b.time) <= b.tolerance
        # Two points of one trajectory within tol of each other: their readings agree closely.
        assert a.share == pytest.approx(b.share, abs=2e-3)
        assert a.gross_loss == pytest.approx(b.gross_loss, abs=2e-3)
        assert a.bracket[0] <= a.time and a.bracket[1] - a.bracket[0] <= a.tolerance + 1e-12


# --- the sector's value on each slider ------------------------------------------------------

def test_each_slider_carries_the_sectors_value_and_says_when_it_has_moved():
    at = open_app({"sector": "hotels"})
    sc = load_scenario(ROOT / "scenarios" / "hotels.toml")
    # Unmoved, each slider stands at the sector's value and its help names it with its
    # source; no mark under it.
    sliders = [n for n, s in PARAMETER_SPECS.items() if not s.is_switch]
    assert not [c for c in at.sidebar.caption if c.value.startswith("◆ sector:")]
    for name in sliders:
        w = at.slider(key=name)
        assert w.value == pytest.approx(getattr(sc.params, name), abs=w.step / 2 + 1e-12), name
        assert f"The sector's value: {getattr(sc.params, name):g}" in w.help, name
    # Moved, the slider gets a mark with the sector's value and where it is now.
    at.slider(key="platform_price").set_value(0.5).run()
    at.slider(key="initial_buffer").set_value(sc.params.initial_buffer * 2).run()
    marks = [c.value for c in at.sidebar.caption if c.value.startswith("◆ sector:")]
    assert len(marks) == 2
    mark = [m for m in marks if float(m.split(":")[1].split("·")[0]) == sc.params.platform_price]
    assert len(mark) == 1 and mark[0].endswith("now 0.50 (moved)")


# --- any variable ---------------------------------------------------------------------------

def test_any_series_of_the_run_can_be_plotted_in_its_unit():
    at = open_app({"view": "series"})
    assert "series" not in charts(at)
    at.multiselect(key="series_pick").select("buffer").select("platform_trust").select("adoption").run()
    no_problem(at)
    base = load_scenario(ROOT / "scenarios" / "baseline.toml").params
    run = simulate(base)
    spec = charts(at)["series"]
    names = {tr["name"] for tr in spec["data"]}
    # Three units picked, two fit on a chart: the first two are drawn, the page says so.
    assert names == {f"buffer [{SERIES_UNITS['buffer']}]", f"platform_trust [{SERIES_UNITS['platform_trust']}]"}
    assert any("Only two units" in i.value for i in at.info)
    for name in ("buffer", "platform_trust"):
        t, y = series(spec, f"{name} [{SERIES_UNITS[name]}]")
        assert_allclose(t, run.t, rtol=1e-12)
        assert_allclose(y, run[name], rtol=1e-12)
    assert spec["layout"]["yaxis"]["title"]["text"] == SERIES_UNITS["buffer"]
    assert spec["layout"]["yaxis2"]["title"]["text"] == SERIES_UNITS["platform_trust"]


# --- named runs -----------------------------------------------------------------------------

def test_named_runs_are_kept_side_by_side_with_deltas_and_travel_in_the_link():
    at = open_app()
    base = load_scenario(ROOT / "scenarios" / "baseline.toml").params
    at.slider(key="platform_price").set_value(0.5).run()
    at.text_input(key="run_name").input("cheap platform").run()
    at.button(key="save_run").click().run()
    at.slider(key="platform_price").set_value(base.platform_price).run()  # back to the file
    no_problem(at)
    assert at.query_params["run.cheap platform"] == "platform_price=0.5"
    saved, ref = simulate(base.replace(platform_price=0.5)), simulate(base)
    t, y = series(charts(at)["share_and_loss"], "cheap platform: platform share of gross")
    assert_allclose(t, saved.t, rtol=1e-12)
    assert_allclose(y, saved["platform_share_of_gross"], rtol=1e-12)
    falls = [m for m in at.metric if m.label == "Incumbent falls after"]
    # The summary (the file itself: no delta), then the saved run against the file.
    assert falls[0].value == f"{ref.fall_time:.1f} yr" and not falls[0].delta
    assert falls[1].value == f"{saved.fall_time:.1f} yr"
    assert falls[1].delta == f"{saved.fall_time - ref.fall_time:+.1f} yr vs the file"
    share = [m for m in at.metric if m.label == "Share of gross at the fall"][1]
    assert share.delta == f"{100 * (saved.share_at_fall - ref.share_at_fall):+.1f} pts vs the file"

    # The link reopens the saved run; hostile runs in a link are refused with a message.
    query = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    query.update({"run.<b>x</b>": "platform_price=0.4", "run.bad": "platform_price=__import__('os')",
                  "run.unknown": "no_such_setting=1"})
    other = open_app(query)
    no_problem(other)
    t2, y2 = series(charts(other)["share_and_loss"], "cheap platform: platform share of gross")
    assert_allclose(y2, saved["platform_share_of_gross"], rtol=1e-12)
    notes = " ".join(unescape(w.value) for w in other.warning)
    assert "not allowed" in notes and "unknown setting" in notes and "platform_price" in notes
    names = {tr["name"] for tr in charts(other)["share_and_loss"]["data"]}
    assert not any(n.startswith("<b>") for n in names)
    # Removing it removes it from the chart and the link.
    other.button(key="remove_run_cheap platform").click().run()
    assert "run.cheap platform" not in other.query_params
    assert not any(tr["name"].startswith("cheap platform") for tr in charts(other)["share_and_loss"]["data"])


def test_a_bad_run_name_is_refused_with_a_message():
    at = open_app()
    at.text_input(key="run_name").input("](http://evil.example)").run()
    at.button(key="save_run").click().run()
    assert not at.exception
    assert any("Not saved" in e.value for e in at.error)
    assert not any(k.startswith("run.") for k in at.query_params)


# --- calibration data on the run ----------------------------------------------------------

def test_the_calibration_data_are_drawn_on_the_run_with_the_hold_out():
    at = open_app({"sector": "newspapers_calibrated", "view": "data"})
    no_problem(at)
    spec = charts(at)["calibration"]
    data = parse_calibration_csv((ROOT / "data" / "newspapers_classified.csv").read_text(), "data")
    first = data.series[0]
    fit = np.array(first.roles) == "fit"
    dots = next(t for t in spec["data"] if t["name"] == "data (fitted)" and t.get("meta") == first.name)
    assert_allclose(values(dots["x"]), first.years[fit])
    assert_allclose(values(dots["y"]), first.values[fit] / first.reference_value, rtol=1e-12)
    held = next(t for t in spec["data"] if t["name"] == "data (held out)" and t.get("meta") == first.name)
    assert_allclose(values(held["x"]), first.years[~fit])
    assert data.holdout_from == 2009
    lines = [s for s in spec["layout"]["shapes"] if s.get("type") == "line"]
    assert lines and all(s["x0"] == data.holdout_from - 0.5 for s in lines)
    assert any(t["name"] == "model (this run)" for t in spec["data"])
    # A sector without data has no such chart.
    assert "calibration" not in charts(open_app({"sector": "chronic_care"}))
