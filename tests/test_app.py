"""The dashboard, driven without a browser (streamlit.testing.v1.AppTest).

Every control group moves the charts the way the model says (the chart data equal a run
of :func:`model.core.simulate` with the same parameters, plus a closed form or a direction
per group); links restore the settings; downloads load back; every bad input (extreme
sliders, inconsistent settings, a failed solve, hostile uploads and links) gives a
message in the page and no exception."""

from __future__ import annotations

import ast

import base64
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import streamlit as st
from numpy.testing import assert_allclose
from streamlit.testing.v1 import AppTest

from model import load_scenario, simulate
from model.analysis.tipping import basin, break_even_loss, continuation, point_of_no_return
from model.analysis.tipping import point_of_no_return_by_engine as page_ponr  # the page's (tests/test_app_answer.py)
from model.core.parameters import GROUPS, PARAMETER_SPECS, Parameters
from model.evidence.scenarios import MAX_SCENARIO_BYTES, parse_scenario, scenario_to_toml
from model.publish import figures
from model.studies import claims

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIME_CHARTS = ("share_and_loss", "trust_and_cash")


# --- helpers ---------------------------------------------------------------------------

def open_app(query: dict | None = None, *, groups_open: bool = True) -> AppTest:
    """The page after its first run. ``groups_open``: every parameter group's expander open,
    so every slider is there to move (a closed group draws none)."""
    at = AppTest.from_file(APP, default_timeout=120)
    if query:
        at.query_params.update(query)
    if groups_open:
        for group in GROUPS:
            at.session_state[f"group_{group}"] = True
    at.run()
    assert not at.exception, at.exception
    return at


def _app_views() -> dict[str, str]:
    """The run's views (lazy tabs) as app.py names them: URL key -> tab label (read from its
    source with ast.literal_eval, since importing app.py draws the page)."""
    tree = ast.parse(Path(APP).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "VIEWS")
    return ast.literal_eval(node.value)


#: URL key -> tab label of the run's views.
VIEWS = _app_views()


def open_view(at: AppTest, key: str) -> AppTest:
    """Open one of the run's views, as a click on its tab does (only the open view is drawn)."""
    at.session_state["view"] = VIEWS[key]
    at.run()
    assert not at.exception, at.exception
    return at


#: The page's chart element (app.py's ``plotly_component``): a component whose payload is the
#: figure's plotly JSON as bytes, drawn in the browser with ``Plotly.react``.
CHART_COMPONENT = "hp_plotly_chart"


def charts(at) -> dict[str, dict]:
    """Plotly specs of the page by chart key, as the browser receives them."""
    out = {}
    for el in at.get("bidi_component"):
        if el.proto.component_name == CHART_COMPONENT and el.proto.WhichOneof("data") == "bytes":  # not the loader
            out[el.proto.id.rsplit("-", 1)[-1]] = json.loads(el.proto.bytes)
    return out


def values(v):
    if isinstance(v, dict) and "bdata" in v:
        arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        return arr.reshape(v["shape"]) if "shape" in v and isinstance(v["shape"], list) else arr
    return np.asarray([np.nan if x is None else x for x in v], dtype=float)


def series(spec: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    found = [d for d in spec["data"] if d.get("name") == name]
    assert len(found) == 1, [d.get("name") for d in spec["data"]]
    return values(found[0]["x"]), values(found[0]["y"])


def page_params(at) -> Parameters:
    return Parameters(**{n: at.session_state[n] for n in PARAMETER_SPECS})


def assert_charts_show(at, params: Parameters, reference: Parameters | None = None) -> None:
    """The three time-series charts carry exactly the model's run for ``params`` (a sector of
    several firms: on the engine, as the dashboard runs it)."""
    res = run_as_the_page(params)
    spec = charts(at)
    assert set(TIME_CHARTS) <= set(spec)
    pairs = [("share_and_loss", "platform share of gross", "platform_share_of_gross"),
             ("share_and_loss", "incumbent gross loss", "incumbent_gross_loss"),
             ("trust_and_cash", "platform trust", "platform_trust"),
             ("trust_and_cash", "relational trust", "relational_trust"),
             ("trust_and_cash", "incumbent price", "incumbent_price"),
             ("trust_and_cash", "operating profit", "operating_profit"), ("trust_and_cash", "buffer", "buffer")]
    for key, name, series_name in pairs:
        t, y = series(spec[key], name)
        assert_allclose(t, res.t, rtol=1e-12, atol=0)
        assert_allclose(y, res[series_name], rtol=1e-12, atol=1e-15)
        if reference is not None:
            ref = run_as_the_page(reference)
            _, yr = series(spec[key], f"{name} (sector's values)")
            assert_allclose(yr, ref[series_name], rtol=1e-12, atol=1e-15)


def run_as_the_page(params: Parameters):
    return simulate(params, method="engine" if params.firm_count > 1 else "LSODA")


def unescape(markdown: str) -> str:
    """What a reader sees of Markdown text with backslash escapes (the app escapes user text)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def texts(elements) -> str:
    return "\n".join(unescape(str(e.value)) for e in elements)


def no_problem(at) -> None:
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)


@pytest.fixture(scope="module")
def base(baseline):
    return baseline.params


# --- the default page ------------------------------------------------------------------

def test_default_page_shows_the_baseline_run_and_its_measures(base):
    at = open_app()
    no_problem(at)
    assert_charts_show(at, base)
    res = simulate(base)
    assert f"falls after {res.fall_time:.1f} years" in texts(at.warning)
    ponr = page_ponr(base)
    assert f"{ponr.share:.1%}" in texts(at.markdown)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Static break-even loss"] == f"{break_even_loss(base):.1%}"
    assert metrics["Point of no return (share)"] == f"{ponr.share:.1%}"
    # The PONR's vertical line sits at its time.
    shapes = charts(at)["share_and_loss"]["layout"]["shapes"]
    assert [s["x0"] for s in shapes if s.get("xref") == "x"] == [ponr.time]
    assert at.query_params == {"sector": "baseline"}
    assert "firms_cash" not in charts(at)  # one firm: no firms panel
    # No chart asks the browser to measure its tick labels on each draw (plotly's "hide past
    # div" default does, a tenth of a redraw): every axis of every chart lets them overflow.
    specs = charts(at)
    assert {"share_and_loss", "trust_and_cash", "verdict_all", "fan"} <= set(specs)
    for key, spec in specs.items():
        axes = [k for k in spec["layout"] if k.startswith(("xaxis", "yaxis"))]
        assert axes and all(spec["layout"][a].get("ticklabeloverflow") == "allow" for a in axes), key
    # Every parameter has its control, keyed by its name, with the spec's bounds.
    for name, s in PARAMETER_SPECS.items():
        if s.is_switch:
            assert at.session_state[name] == getattr(base, name)
        else:
            w = at.slider(key=name)
            assert (w.min, w.max) == s.bounds and name in w.label.replace(" ", "_") and w.help.startswith(s.meaning)


def test_claims_table_describes_the_run_and_shows_the_verdicts_words(base, baseline):
    at = open_app({"view": "claims"})
    assert set(at.table[-1].value["the sector's verdict"]) == {"turn on the sector's verdict above to see its words"}
    at.toggle(key="verdict").set_value(True).run()
    assert not at.exception
    table = at.table[-1].value
    res = simulate(base)
    runs = {k: simulate(v) for k, v in claims.claim_variants(base).items()}
    rows = claims.describe_run(base, res, runs, ponr=page_ponr(base), break_even=break_even_loss(base),
                               break_even_current_prices=break_even_loss(base, policy="current_prices"),
                               sector=baseline.name, n_sectors=len(list((ROOT / "scenarios").glob("*.toml"))))
    assert list(table.index) == [r.id for r in rows]
    assert list(table["what this run shows"]) == [r.this_run for r in rows]
    # The words are the sector verdict's (model.studies.verdict), never the run's own.
    from model.studies.verdict import (QUICK_CLAIM_DRAWS, QUICK_CRITICAL_MASS_DRAWS, QUICK_DRAWS, claim_comparisons,
                                       claim_words, sector_verdict)

    v = sector_verdict(baseline, draws=QUICK_DRAWS, seed=0, key="baseline",
                       critical_mass_draws=QUICK_CRITICAL_MASS_DRAWS)
    words = claim_words(v, claim_comparisons(v, claim_draws=QUICK_CLAIM_DRAWS))
    assert list(table["the sector's verdict"]) == [words.get(r.id, "not assessed by the verdict") for r in rows]
    # The answer first: a word per reading of "20% of the gross", above the run's summary.
    metrics = {m.label: m.value for m in at.metric}
    for r in (x for x in v.readings if x.definition == "sector"):
        assert metrics[r.label] == r.word
    headers = [h.value for h in at.header]
    assert headers[0] == "Does 20% hold in this sector?"


# --- every control group moves the charts as the model says ----------------------------

def check_demand(at, p, base):
    # Willingness to pay caps the price: the smooth cap of model.core.equations never exceeds
    # a W with a = (1 + W^-8)^(1/8).
    _, price = series(charts(at)["trust_and_cash"], "incumbent price")
    cap = p.willingness_to_pay * (1 + p.willingness_to_pay ** -8) ** (1 / 8)
    assert price.max() <= cap + 1e-6 and simulate(base)["incumbent_price"].max() > cap


def check_platform(at, p, base):
    # Faster word of mouth (Bass q 0.8 against 0.4): the platform's share of gross is
    # higher at every common time and the incumbent falls earlier.
    t, share = series(charts(at)["share_and_loss"], "platform share of gross")
    ref = simulate(base)
    common = np.linspace(1.0, min(t[-1], ref.t[-1]), 40)
    assert np.all(np.interp(common, t, share) > np.interp(common, ref.t, ref["platform_share_of_gross"]))
    assert t[-1] < ref.fall_time


def check_trust(at, p, base):
    # No trust from transactions: dT/dt = -delta_T T, so T = T0 exp(-delta_T t).
    t, trust = series(charts(at)["trust_and_cash"], "platform trust")
    assert_allclose(trust, p.initial_trust * np.exp(-p.trust_decay * t), rtol=1e-4, atol=1e-8)


def check_incumbent(at, p, base):
    # An indivisible fixed cost cannot be cut with capacity: the incumbent's fixed cost is
    # phi (iota q_I0 + (1 - iota) K) on the page, and it falls no later than with none.
    run = simulate(p)
    t, _ = series(charts(at)["trust_and_cash"], "buffer")
    q0 = run["capacity"][0]
    assert_allclose(run["fixed_cost"], p.fixed_cost_share * (p.indivisible_cost_share * q0 + (1 - p.indivisible_cost_share)
                                                            * run["capacity"]), rtol=1e-12, atol=1e-15)
    assert run.falls and simulate(base).falls and run.fall_time <= simulate(base).fall_time
    assert_allclose(t[-1], run.fall_time, rtol=1e-9, atol=0)


def check_finance(at, p, base):
    # Liquidity starts at (B0 + L) q_I0 (initial state) and a bigger buffer falls later.
    s0, pp, eps = p.initial_platform_share, p.platform_price, p.demand_elasticity
    q0 = (1 - s0) * (1.0 if p.demand_form == "per_customer" else ((1 - s0) + s0 * pp) ** -eps)
    t, buffer = series(charts(at)["trust_and_cash"], "buffer")
    assert_allclose(buffer[0], (p.initial_buffer + p.credit_line) * q0, rtol=1e-12, atol=0)
    assert t[-1] > simulate(base).fall_time


def check_switches(at, p, base):
    # A fixed price policy holds the price at its initial 1 (p* = 1 = p(0)).
    _, price = series(charts(at)["trust_and_cash"], "incumbent price")
    assert_allclose(price, 1.0, rtol=0, atol=1e-9)


def check_simulation(at, p, base):
    t, _ = series(charts(at)["share_and_loss"], "platform share of gross")
    assert t[-1] == p.horizon == 15.0
    # It survives the 15 years watched, but it is past its (horizon-free) point of no return
    # at 18 years: the page says so instead of a green "survives".
    ponr = page_ponr(p)
    assert ponr.outcome == "tips" and ponr.time < ponr.fall_time
    said = texts(at.warning)
    assert "survives the 15-year horizon" in said and f"It falls after the horizon, at {ponr.fall_time:.1f} years" in said
    assert not at.success


def check_readings(at, p, base):
    # How the result is read changes no equation: the same run, the same point of no return.
    _, share = series(charts(at)["share_and_loss"], "platform share of gross")
    assert_allclose(share, simulate(base)["platform_share_of_gross"], rtol=0, atol=0)
    assert {m.label: m.value for m in at.metric}["Point of no return (share)"] == \
        f"{page_ponr(base).share:.1%}"


def check_firms(at, p, base):
    # Four firms: the firms panel draws each firm's cash, its exits at the run's fall times,
    # and the exit curve's steps at the capacity exited after each exit.
    res = run_as_the_page(p)
    # The engine's run is LSODA's to the solvers' tolerance (both at rtol 1e-6 here; the
    # tight comparison is test_firms' 300 sectors).
    ref = simulate(p)
    assert_allclose(res.firms.fall_time, ref.firms.fall_time, atol=1e-2)
    spec = charts(open_view(at, "firms"))
    assert {"firms_cash", "exit_curve"} <= set(spec)
    assert "The incumbents, firm by firm" in texts(at.header)
    names = [d.get("name") for d in spec["firms_cash"]["data"]]
    assert [n for n in names if n.startswith("firm ")] == [f"firm {i}" for i in range(1, 5)]
    exited = np.sort(res.firms.fall_time[np.isfinite(res.firms.fall_time)])
    assert exited.size >= 2  # the check has something to compare
    exit_x, _ = series(spec["firms_cash"], "exit")
    assert_allclose(np.sort(exit_x), exited, rtol=1e-12)
    _, steps = series(spec["exit_curve"], "platform share of gross")
    assert_allclose(steps, [0.0] + [pt["capacity_exited"] for pt in res.firms.exit_curve], rtol=1e-12)
    labels = {m.label for m in at.metric}
    assert "Incumbents fall after" in labels


GROUP_CHANGES = {
    "firms": ({"firm_count": 4, "firm_spread_debt": 0.6}, check_firms),
    "demand": ({"willingness_to_pay": 1.3}, check_demand),
    "platform": ({"word_of_mouth_rate": 0.8}, check_platform),
    "trust": ({"trust_gain": 0.0}, check_trust),
    "incumbent": ({"indivisible_cost_share": 0.5}, check_incumbent),
    "finance": ({"initial_buffer": 2.0}, check_finance),
    "switches": ({"price_policy": "fixed"}, check_switches),
    "simulation": ({"horizon": 15.0}, check_simulation),
    "readings": ({"sector_share_of_firm_revenue": 0.4}, check_readings),
}


def test_every_parameter_group_is_tested():
    assert {PARAMETER_SPECS[n].group for change, _ in GROUP_CHANGES.values() for n in change} == \
        {s.group for s in PARAMETER_SPECS.values()}


@pytest.mark.parametrize("group", list(GROUP_CHANGES))
def test_control_group_moves_the_charts_as_the_model_says(group, base):
    change, check = GROUP_CHANGES[group]
    at = open_app()
    for name, value in change.items():
        if PARAMETER_SPECS[name].is_switch:
            at.selectbox(key=name).set_value(value)
        else:
            at.slider(key=name).set_value(value)
    at.run()
    no_problem(at)
    p = base.replace(**change)
    assert page_params(at) == p
    assert_charts_show(at, p)
    check(at, p, base)
    # The link holds the changes, and the view the check opened (the default view is not said).
    opened = {"view": "firms"} if group == "firms" else {}
    assert at.query_params == {"sector": "baseline", **{k: str(v) for k, v in change.items()}, **opened}


def test_switch_toggles_and_network_effect(base):
    at = open_app()
    at.toggle(key="hard_network").set_value(False)
    at.selectbox(key="network_effect").set_value("standard")
    at.run()
    no_problem(at)
    p = base.replace(hard_network=False, network_effect="standard")
    assert_charts_show(at, p)
    assert at.query_params == {"sector": "baseline", "hard_network": "false", "network_effect": "standard"}


# --- sectors, reset, links -------------------------------------------------------------

def test_sector_picker_loads_each_sectors_values():
    at = open_app()
    stems = sorted(p.stem for p in (ROOT / "scenarios").glob("*.toml") if p.stem != "baseline")
    assert stems, "the page needs sector files besides the baseline"
    for stem in (stems[0], stems[-1]):
        at.selectbox(key="sector").set_value(stem).run()
        no_problem(at)
        expected = load_scenario(ROOT / "scenarios" / f"{stem}.toml").params
        assert page_params(at) == expected
        assert_charts_show(at, expected)
        assert at.query_params == {"sector": stem}


def test_reset_returns_to_the_sectors_values(base):
    at = open_app()
    at.slider(key="fixed_cost_share").set_value(0.5)
    at.slider(key="close_ties").set_value(30.0)
    at.toggle(key="soft_network").set_value(False)
    at.run()
    assert page_params(at) != base
    at.button(key="reset").click().run()
    no_problem(at)
    assert page_params(at) == base
    assert at.query_params == {"sector": "baseline"}


def test_a_copied_link_restores_sector_settings_and_switches():
    at = open_app()
    stem = sorted(p.stem for p in (ROOT / "scenarios").glob("*.toml") if p.stem != "baseline")[0]
    at.selectbox(key="sector").set_value(stem).run()
    at.slider(key="churn_rate").set_value(0.41)
    at.slider(key="platform_price").set_value(0.63)
    at.selectbox(key="price_policy").set_value("two_part")
    at.toggle(key="soft_network").set_value(False)
    at.run()
    no_problem(at)
    link = dict(at.query_params)
    assert link["sector"] == stem and link["price_policy"] == "two_part" and link["soft_network"] == "false"
    other = open_app(link)
    no_problem(other)
    assert page_params(other) == page_params(at)
    assert other.session_state["sector"] == stem
    assert_charts_show(other, page_params(at))
    # The page shows the link itself, with the same query, as one inline code span.
    shown = [m.value[1:-1] for m in at.markdown if m.value.startswith("`http") and m.value.endswith("`")]
    assert shown and f"/?sector={stem}&" in shown[0]
    assert all(f"{k}={v}" in shown[0] for k, v in link.items())


def test_hostile_links_are_refused_with_a_message(base):
    at = open_app({"sector": "../../etc/passwd", "fixed_cost_share": "__import__('os').system('true')",
                   "platform_price": "nan", "trust_gain": "1e999", "churn_rate": "7", "mystery": "1",
                   "hard_network": "maybe"})
    no_problem(at)
    warned = texts(at.warning)
    for fragment in ("unknown sector '../../etc/passwd'", "`fixed_cost_share`", "`platform_price`",
                     "`trust_gain`", "`churn_rate` must be in [0, 3]", "unknown setting 'mystery'",
                     "`hard_network`"):
        assert fragment in warned
    assert page_params(at) == base
    assert_charts_show(at, base)


def test_a_link_to_sixteen_firms_runs_eight_and_says_so(base):
    # 16 firms is a valid setting, but its compiled model takes many minutes to build: the
    # page says so and runs the largest sector it offers.
    at = open_app({"firm_count": "16"})
    no_problem(at)
    assert "16 firms run from the command line" in texts(at.warning)
    assert at.selectbox(key="firm_count").value == 8
    assert page_params(at) == base.replace(firm_count=8)


# --- bad input -------------------------------------------------------------------------

def test_inconsistent_sliders_give_a_message_and_the_page_recovers(base):
    at = open_app()
    at.slider(key="fixed_cost_share").set_value(0.9).run()  # + variable 0.2 = 1.1 > 0.99
    assert not at.exception
    assert "`fixed_cost_share` + `variable_cost_share` must be in [0.05, 0.99]" in texts(at.error)
    assert at.slider(key="variable_cost_share")  # controls stay
    # The charts are not blanked: they keep the last valid run and say so, naming the change.
    assert_charts_show(at, base)
    assert any("last valid settings" in i.value and "`fixed_cost_share`" in i.value for i in at.info)
    assert at.query_params["fixed_cost_share"] == "0.9"  # the link reproduces what is seen
    at.slider(key="variable_cost_share").set_value(0.05).run()
    no_problem(at)
    assert_charts_show(at, base.replace(fixed_cost_share=0.9, variable_cost_share=0.05))


def extreme_settings(seed: int, n: int) -> list[dict]:
    """Every slider at its lowest or highest, and random corners, with some switches."""
    rng = np.random.default_rng(seed)
    sliders = [k for k, s in PARAMETER_SPECS.items() if not s.is_switch and s.group != "firms"]
    lows = {k: PARAMETER_SPECS[k].bounds[0] for k in sliders}
    highs = {k: PARAMETER_SPECS[k].bounds[1] for k in sliders}
    out = [dict(highs, variable_cost_share=0.0, horizon=200.0), dict(lows, fixed_cost_share=0.05)]
    for _ in range(n):
        out.append({k: (lows[k] if rng.random() < 0.5 else highs[k]) for k in sliders})
    return out


def test_extreme_slider_combinations_never_raise():
    at = open_app()
    for setting in extreme_settings(seed=7, n=4):
        for name, value in setting.items():
            at.slider(key=name).set_value(float(value))
        at.run()
        assert not at.exception, (setting, at.exception)
        try:
            Parameters(**{**{n: at.session_state[n] for n in PARAMETER_SPECS}})
        except ValueError as e:
            assert str(e) in texts(at.error)  # inconsistent: said so, the last valid run kept
            assert any("last valid settings" in i.value for i in at.info)
            assert set(TIME_CHARTS) <= set(charts(at))
        else:
            assert set(TIME_CHARTS) <= set(charts(at))
            assert at.warning or at.success or at.error  # the one-sentence outcome


@pytest.fixture
def failing_solver(monkeypatch):
    """Every solve fails half a year in, as scipy reports a step-size failure."""
    mod = sys.modules["model.core.simulate"]

    def solve_ivp(fun, t_span, y0, **kw):
        t = np.array([t_span[0], t_span[0] + 0.5])
        return SimpleNamespace(status=-1, message="Required step size is less than spacing between numbers.",
                               t=t, y=np.tile(np.asarray(y0, dtype=float)[:, None], 2), nfev=7, njev=1,
                               t_events=[np.array([])], y_events=[np.empty((0, 6))])

    st.cache_data.clear()
    monkeypatch.setattr(mod, "solve_ivp", solve_ivp)
    yield
    st.cache_data.clear()


def test_a_failed_solve_is_reported_not_raised(failing_solver):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    message = texts(at.error)
    assert "The solver failed" in message and "Required step size" in message
    assert set(TIME_CHARTS) <= set(charts(at))  # what was computed is still drawn
    open_view(at, "claims")
    assert at.table  # and the rest of the page is there


def upload(at, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="upload").set_value((name, data, "application/toml"))
    at.run()
    assert not at.exception, at.exception
    return at


def test_an_uploaded_scenario_drives_the_page(baseline):
    changed = baseline.params.replace(fixed_cost_share=0.7, variable_cost_share=0.1, network_effect="standard")
    text = scenario_to_toml(baseline, changed)
    at = upload(open_app(), "mine.toml", text.encode())
    no_problem(at)
    assert page_params(at) == changed
    assert_charts_show(at, changed)
    assert "Using the uploaded scenario" in texts(at.sidebar.success)
    # Compare mode compares with the upload's own values, and the link carries them as
    # changes to the sector file.
    assert at.query_params["fixed_cost_share"] == "0.7"


HOSTILE = {
    "unknown key": (b'[parameters.fixed_costs]\nvalue = 0.5\nsource = "x"\n', "unknown parameter"),
    "wrong type": (b'[parameters.fixed_cost_share]\nvalue = "__import__(\'os\').system(\'true\')"\nsource = "x"\n',
                   "`parameters.fixed_cost_share.value`"),
    "huge number": (b'[parameters.trust_gain]\nvalue = 1e308\nsource = "x"\n', "must be in [0, 50]"),
    "not a number": (b'[parameters.trust_gain]\nvalue = nan\nsource = "x"\n', "`parameters.trust_gain.value`"),
    "non-UTF-8": ("[scenario]\nname = 'Zürich'\n".encode("latin-1"), "not UTF-8"),
    "malformed": (b"[parameters.fixed_cost_share\nvalue = 0.5", "malformed TOML"),
    "50 MB": (b"#" * 50_000_000, f"at most {MAX_SCENARIO_BYTES:,}"),
    # tomllib recursed until RecursionError, which wiped the whole page (issue 15)
    "nested 20,000 deep": (b"[scenario]\nname = " + b"[" * 20_000 + b"]" * 20_000, "nested too deeply"),
    "inconsistent": (b'[parameters.fixed_cost_share]\nvalue = 0.9\nsource = "x"\n'
                     b'[parameters.variable_cost_share]\nvalue = 0.2\nsource = "y"\n', "must be in [0.05, 0.99]"),
}


def test_hostile_uploads_are_refused_and_the_page_keeps_working(base):
    at = open_app()
    for case, (data, fragment) in HOSTILE.items():
        upload(at, f"{case}.toml", data)
        refused = texts(at.sidebar.error)
        assert "Upload refused" in refused and fragment in refused, case
        assert page_params(at) == base, case  # nothing changed
        assert not at.main.error, case  # the main page is fine
        assert_charts_show(at, base)
    at.slider(key="platform_price").set_value(0.6).run()  # and still responds
    assert not at.exception and not at.main.error
    assert_charts_show(at, base.replace(platform_price=0.6))


# --- downloads and views ---------------------------------------------------------------

def test_settings_toml_loads_back_to_equal_parameters(base):
    at = open_app()
    at.slider(key="fixed_cost_share").set_value(0.47)
    at.slider(key="trust_gain").set_value(7.5)
    at.selectbox(key="network_effect").set_value("standard")
    at.toggle(key="hard_network").set_value(False)
    at.run()
    no_problem(at)
    # The TOML is drawn only once its expander is opened (a highlighted file on every visit
    # cost the browser seconds).
    assert not [c for c in at.code if c.language == "toml"]
    at.session_state["settings_toml"] = True
    at.run()
    no_problem(at)
    toml_text = [c.value for c in at.code if c.language == "toml"]
    assert len(toml_text) == 1
    back = parse_scenario(toml_text[0], "download.toml")
    assert back.params == page_params(at) == base.replace(fixed_cost_share=0.47, trust_gain=7.5,
                                                          network_effect="standard", hard_network=False)
    labels = [b.label for b in at.get("download_button")]
    assert "Run as CSV" in labels and "Settings as scenario TOML" in labels
    # Each chart (the answer's two, the time charts of the default view) offers its download
    # in the page's format, PNG until another is picked; the closed views draw nothing.
    shown = set(TIME_CHARTS) | {"verdict_all", "fan"}
    assert set(charts(at)) == shown
    downloads = {b.key: b.label for b in at.get("download_button") if b.key.removeprefix("download_") in shown}
    assert downloads == {f"download_{k}": "Download PNG" for k in shown}
    at.button_group(key="figure_format").set_value("svg").run()
    no_problem(at)
    assert {b.key: b.label for b in at.get("download_button") if b.key in downloads} == \
        {k: "Download SVG" for k in downloads}


def test_compare_mode_overlays_and_sets_side_by_side(base):
    at = open_app()
    at.toggle(key="compare").set_value(True)
    at.slider(key="platform_price").set_value(0.55)
    at.run()
    no_problem(at)
    p = base.replace(platform_price=0.55)
    assert_charts_show(at, p, reference=base)
    at.radio(key="compare_layout").set_value("side by side").run()
    no_problem(at)
    spec = charts(at)
    assert {f"{k}_sector" for k in TIME_CHARTS} <= set(spec)
    _, y = series(spec["share_and_loss_sector"], "platform share of gross")
    assert_allclose(y, simulate(base)["platform_share_of_gross"], rtol=1e-12, atol=0)
    assert_charts_show(at, p)


def test_tipping_view_draws_the_continuation_and_the_basin(base, baseline):
    at = open_app({"view": "tipping"})
    at.toggle(key="tipping").set_value(True).run()
    no_problem(at)
    spec = charts(at)
    lo, hi = baseline.ranges["platform_quality"]
    cont = continuation(base, "platform_quality", lo, hi)
    xs, ys = series(spec["continuation"], "stable equilibria")
    xu, yu = series(spec["continuation"], "unstable equilibria")
    drawn = np.concatenate([xs[~np.isnan(xs)], xu[~np.isnan(xu)]])
    assert set(np.round(cont.values, 12)) <= set(np.round(drawn, 12))
    assert [s["x0"] for s in spec["continuation"]["layout"]["shapes"] if s["type"] == "line"] == [0.0]
    b = basin(base, n=15)  # the page's grid (app.BASIN_GRID)
    z = values(spec["basin"]["data"][0]["z"])
    assert_allclose(np.asarray(z, dtype=float).reshape(b.falls.shape), b.falls.astype(float), rtol=0, atol=0)
    # Another parameter: the diagram follows, with the current value marked.
    at.selectbox(key="continuation_parameter").set_value("platform_price").run()
    no_problem(at)
    layout = charts(at)["continuation"]["layout"]
    assert "platform price" in layout["xaxis"]["title"]["text"]
    assert [s["x0"] for s in layout["shapes"] if s["type"] == "line"] == [base.platform_price]


# --- user text is plain text (issue 15: Markdown injection) ------------------------------------

EVIL = "[Click here to log in again](http://evil.example/login)"
# Markdown that would make a live link, an image, HTML, a heading or a colour directive.
LIVE = re.compile(r"(?<!\\)\]\(|(?<!\\)<(?!/?small>)[a-z/]|(?<![\\/])(https?|www)(?!\\)[:.]|(?<!\\):[a-z]+\[|^#", re.I | re.M)


#: The share link as the page shows it: one code span, no backtick inside to close it early.
SHARE_LINK = re.compile(r"`https?://[^`\s]+`")


def markdown_bodies(at) -> list[str]:
    """The Markdown source of every element that renders Markdown, sidebar included."""
    kinds = ("markdown", "caption", "warning", "error", "success", "info", "title", "header", "subheader")
    return [str(e.value) for kind in kinds for e in at.get(kind)]


def assert_no_live_markup(at, *user_texts) -> None:
    bodies = markdown_bodies(at)
    for body in bodies:
        if SHARE_LINK.fullmatch(body):
            continue  # the page's own link: a code span shows its text literally (CommonMark 6.1)
        for text in user_texts:
            assert text not in body, body  # only in escaped form
        # The page's own text has no links, HTML (but its <small> labels) or directives: any
        # found came from the user.
        assert not LIVE.search(body), body
    shown = "\n".join(unescape(b) for b in bodies)
    for text in user_texts:
        assert text in shown  # and the reader still sees it as typed


def test_link_values_are_shown_as_plain_text():
    at = open_app({"churn_rate": EVIL, "[x](http://evil.example)": "1", "sector": "**bold**<b>x</b>"})
    warned = texts(at.warning)
    assert EVIL in warned and "http://evil.example)" in warned and "<b>x</b>" in warned
    assert_no_live_markup(at, EVIL, "[x](http://evil.example)", "**bold**<b>x</b>")


def test_uploaded_names_are_shown_as_plain_text(baseline):
    name = "[Click](http://evil.example) :red[x] <img src=x>"
    text = scenario_to_toml(baseline).replace('name = "', f"name = {json.dumps(name)}\nold_name = \"", 1)
    text = re.sub(r"old_name = .*\n", "", text)
    at = upload(open_app(), "[Log in](http://evil.example).toml", text.encode())
    assert name in texts(at.sidebar.success)
    assert_no_live_markup(at, name, "[Log in](http://evil.example).toml")
    refused = upload(open_app(), "[Log in](http://evil.example).toml", b"[scenario]\nname = 1\n")
    assert "[Log in](http://evil.example).toml" in texts(refused.sidebar.error)
    assert_no_live_markup(refused, "[Log in](http://evil.example).toml")


def test_a_sector_left_out_of_the_verdict_says_so_above_its_verdict():
    """Payments: the banks owned the platform; the page says why the sector is not in the
    project's verdict (the reason from the file), and the other sectors carry no such note."""
    at = open_app({"sector": "payments"})
    reason = load_scenario(ROOT / "scenarios" / "payments.toml").verdict_exclusion
    warnings = [w.value.replace("\\", "") for w in at.warning]  # the page escapes the file's text
    assert any("not in the project's verdict" in w and reason in w for w in warnings), warnings
    at = open_app({"sector": "hotels"})
    assert not any("not in the project's verdict" in w.value for w in at.warning)


def test_market_value_chart_and_metrics_follow_the_discount_rate(base):
    # The value panel draws model.analysis.valuation's sector value of the page's run; moving
    # the discount rate moves the value and nothing of the run.
    from model.analysis.valuation import value

    at = open_app({"view": "value"})
    no_problem(at)
    v = value(simulate(base))
    spec = charts(at)["market_value"]
    t, y = series(spec, "incumbent")
    assert_allclose(t, v.t, rtol=1e-12)
    assert_allclose(y, v.value, rtol=1e-12)
    hx, _ = series(spec, "value halved")
    assert_allclose(hx, [v.half_time], rtol=1e-12)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Market value at the start"] == f"{v.start:.2f}"
    assert metrics["Value halved after"] == f"{v.half_time:.1f} yr"
    assert "Market value of the incumbents" in texts(at.header)
    assert figures.HOW_TO_READ["market_value"] in texts(at.caption)
    at.slider(key="discount_rate").set_value(0.12)
    at.run()
    no_problem(at)
    high = value(simulate(base.replace(discount_rate=0.12)))
    assert high.start < v.start
    _, y_high = series(charts(at)["market_value"], "incumbent")
    assert_allclose(y_high, high.value, rtol=1e-12)
    _, share = series(charts(at)["share_and_loss"], "platform share of gross")
    assert_allclose(share, simulate(base)["platform_share_of_gross"], rtol=0, atol=0)


@pytest.mark.parametrize("stem", ["chronic_care", "universities"])
def test_a_survivor_is_shown_as_safe_only_if_it_kept_its_gross_and_cash(stem):
    """A run that survives its window green only if it kept most of its gross and its cash
    and credit are not still falling (universities: they fall by a tenth in the last five
    years); otherwise a warning that says which. The colour follows the run's own numbers."""
    at = open_app()
    at.selectbox(key="sector").set_value(stem).run()
    no_problem(at)
    r = simulate(load_scenario(ROOT / "scenarios" / f"{stem}.toml").params)
    assert r.success and not r.falls  # both files' central runs survive the window
    late = r.t >= r.t[-1] - 5.0
    drop = 1 - r["buffer"][late][-1] / r["buffer"][late][0]
    harmed = r.final("incumbent_gross_loss") >= 0.5 or drop > 0.05
    greens = [s.value for s in at.success]
    caveats = [w.value for w in at.warning if "not unharmed" in w.value]
    if harmed:
        assert not greens and caveats
        assert f"{r.final('incumbent_gross_loss'):.1%}" in caveats[0] or f"fell {drop:.0%}" in caveats[0]
    else:
        assert greens and not caveats
    assert harmed == (stem == "universities")  # the test needs one case of each


def test_the_point_of_no_return_is_said_in_the_sectors_words_and_calendar_years():
    """'After 2009, the newspapers fall even if Craigslist never gains another customer':
    the file's names and start year, the year the tipping analysis computes, no jargon."""
    at = open_app()
    at.selectbox(key="sector").set_value("newspapers").run()
    no_problem(at)
    sc = load_scenario(ROOT / "scenarios" / "newspapers.toml")
    ponr = page_ponr(sc.params)
    assert ponr.outcome == "tips"  # the sentence under test
    year = f"{sc.start_year + ponr.time:.0f}"
    expected = f"After {year}, {sc.meta['incumbent']} fall even with no further customers for {sc.meta['platform']}"
    shown = [m.value.replace("\\", "") for m in at.markdown]  # markdown escapes of the page's plain text
    assert any(expected in m for m in shown), expected
    assert any(f"{ponr.share:.1%} of the sector's gross" in m for m in shown)
    assert not any("bracket" in m.value or "tolerance" in m.value for m in at.markdown)
    metrics = {m.label: m.value for m in at.metric}
    res = simulate(sc.params)
    if res.falls:  # both readings of "20% of the gross" get a metric
        assert metrics["Share of gross at the fall"] == f"{res.share_at_fall:.1%}"
        assert metrics["Gross lost at the fall"] == f"{res.gross_loss_at_fall:.1%}"


def test_time_axes_carry_calendar_years_and_compared_charts_share_one_axis():
    """Newspapers start in 2000: the time charts' ticks read calendar years at their run
    times (t = year - 2000, data untouched); side by side, both charts span the longer run."""
    at = open_app()
    at.selectbox(key="sector").set_value("newspapers").run()
    no_problem(at)
    sc = load_scenario(ROOT / "scenarios" / "newspapers.toml")
    for key in TIME_CHARTS:
        xaxis = charts(at)[key]["layout"]["xaxis"]
        years = [int(v) for v in xaxis["ticktext"]]
        assert_allclose(xaxis["tickvals"], np.array(years, dtype=float) - sc.start_year, atol=1e-12)
        assert all(y % (years[1] - years[0]) == 0 for y in years) and "t = 0 is 2000" in xaxis["title"]["text"]
    # A slower platform: the two runs end at different times, yet share the axis.
    at.toggle(key="compare").set_value(True)
    at.slider(key="initial_buffer").set_value(sc.params.initial_buffer * 3).run()
    at.radio(key="compare_layout").set_value("side by side").run()
    no_problem(at)
    spec = charts(at)
    mine, theirs = simulate(sc.params.replace(initial_buffer=sc.params.initial_buffer * 3)), simulate(sc.params)
    end = max(float(mine.t[-1]), float(theirs.t[-1]))
    assert abs(float(mine.t[-1]) - float(theirs.t[-1])) > 1.0  # the runs end apart: the case under test
    for key in TIME_CHARTS:
        assert spec[key]["layout"]["xaxis"]["range"] == spec[f"{key}_sector"]["layout"]["xaxis"]["range"]
        assert spec[key]["layout"]["xaxis"]["range"] == pytest.approx([0.0, end], abs=1e-2)  # the page's engine


@pytest.mark.parametrize("stem", ["hotels", "newspapers", "universities"])
def test_every_slider_can_reselect_the_sectors_value_and_names_it(stem):
    """The file's value lies on its slider's grid (a value between two stops could never be
    chosen again after moving away), and the slider's help gives it with its source."""
    at = open_app()
    at.selectbox(key="sector").set_value(stem).run()
    no_problem(at)
    sc = load_scenario(ROOT / "scenarios" / f"{stem}.toml")
    for name, s in PARAMETER_SPECS.items():
        if s.is_switch:
            continue
        slider = at.slider(key=name)
        own = getattr(sc.params, name)
        assert slider.value == pytest.approx(own)
        k = (own - slider.min) / slider.step
        assert abs(k - round(k)) < 1e-6, (name, own, slider.step)
        assert f"The sector's value: {own:g}" in slider.help


def test_the_page_names_the_sector_file_as_the_repository_does():
    at = open_app()
    no_problem(at)
    captions = [c.value for c in at.caption if c.value.startswith("Sector:")]
    assert captions and "(scenarios/baseline.toml)" in captions[0].replace("\\", "")
    assert str(ROOT) not in captions[0]


def test_only_the_open_view_is_drawn_and_the_link_keeps_it():
    # The views under the main chart are lazy tabs: the default draws the trust and cash
    # charts and nothing of the others; a link's view opens that view and only it.
    at = open_app()
    assert "trust_and_cash" in charts(at) and "market_value" not in charts(at)
    assert "view" not in at.query_params  # the default view is not said
    at = open_app({"view": "value"})
    spec = charts(at)
    assert "market_value" in spec and "trust_and_cash" not in spec
    assert "share_and_loss" in spec  # the main chart is above every view
    assert at.query_params["view"] == "value"
    at = open_app({"view": "nonsense"})
    assert any("unknown view 'nonsense'" in unescape(w.value) for w in at.warning)
    assert "trust_and_cash" in charts(at)


def test_a_closed_group_draws_no_slider_and_keeps_its_values(base):
    # On a first visit only the platform and incumbent groups are open; the other groups'
    # sliders are not drawn (nor sent), yet their values hold, in the run and in the link.
    at = open_app(groups_open=False)
    drawn = {w.key for w in at.slider}
    platform = {n for n, s in PARAMETER_SPECS.items() if s.group == "platform" and not s.is_switch}
    demand = {n for n, s in PARAMETER_SPECS.items() if s.group == "demand" and not s.is_switch}
    assert platform <= drawn and not demand & drawn
    at.session_state["group_demand"] = True
    at.run()
    at.slider(key="willingness_to_pay").set_value(1.3).run()
    at.session_state["group_demand"] = False
    at.run()
    no_problem(at)
    assert "willingness_to_pay" not in {w.key for w in at.slider}
    at.slider(key="word_of_mouth_rate").set_value(0.8).run()  # another rerun with the group closed
    no_problem(at)
    assert page_params(at) == base.replace(willingness_to_pay=1.3, word_of_mouth_rate=0.8)
    assert at.query_params["willingness_to_pay"] == "1.3"
    assert any("moved in this closed group: willingness to pay" in c.value for c in at.sidebar.caption)


def test_the_firms_cash_chart_carries_calendar_years():
    at = open_app({"sector": "newspapers", "view": "firms"})
    no_problem(at)
    start = load_scenario(ROOT / "scenarios" / "newspapers.toml").start_year
    axis = charts(at)["firms_cash"]["layout"]["xaxis"]
    assert axis["title"]["text"] == f"year (t = 0 is {start:.0f})"
    assert_allclose([float(y) - start for y in axis["ticktext"]], axis["tickvals"], rtol=0, atol=1e-9)


def test_a_slider_move_serialises_only_the_charts_it_changes(monkeypatch):
    """The answer's figures (the verdict of every sector, the sector's fan) are the same on
    every rerun: serialised once, when built, and sent as the same bytes; a move serialises
    the run's two charts of the default page (the main chart, the trust view), no more."""
    import plotly.io as pio

    at = open_app(groups_open=False)
    before = charts(at)
    assert set(before) == {"verdict_all", "fan", "share_and_loss", "trust_and_cash"}
    real, serialised = pio.to_json, []

    def counting(fig, *args, **kwargs):
        serialised.append(fig)
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(pio, "to_json", counting)
    at.slider(key="word_of_mouth_rate").set_value(at.session_state["word_of_mouth_rate"] + 0.05).run()
    no_problem(at)
    after = charts(at)
    assert len(serialised) == 2, [f.layout.height for f in serialised]
    assert after["verdict_all"] == before["verdict_all"] and after["fan"] == before["fan"]
    assert after["share_and_loss"] != before["share_and_loss"]
