"""model.publish.figures: the charts draw exactly what the model computed, the markers sit where
the closed forms and the tipping analysis put them, the claims table follows its rules,
and static export writes real PNG, SVG and PDF files."""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from numpy.testing import assert_allclose

from model import simulate
from model.analysis.tipping import break_even_loss, point_of_no_return
from model.publish import figures
from model.studies import claims


def trace(fig, name):
    matches = [t for t in fig.data if t.name == name]
    assert len(matches) == 1, f"expected one trace {name!r}, got {[t.name for t in fig.data]}"
    return matches[0]


@pytest.fixture(scope="module")
def run(baseline):
    return simulate(baseline.params)


@pytest.fixture(scope="module")
def ponr(baseline):
    return point_of_no_return(baseline.params)


def test_importing_the_model_loads_neither_plotly_nor_streamlit(root):
    code = ("import sys, model, model.core.simulate, model.analysis.tipping, model.evidence.scenarios; "
            "bad = [m for m in ('plotly', 'streamlit', 'kaleido') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_share_and_loss_draws_the_run_and_its_markers(baseline, run, ponr):
    params = baseline.params
    be = break_even_loss(params)
    fig = figures.share_and_loss(run, break_even=be, ponr=ponr)
    share, loss = trace(fig, "platform share of gross"), trace(fig, "incumbent gross loss")
    assert_allclose(share.x, run.t, rtol=0, atol=0)
    assert_allclose(share.y, run["platform_share_of_gross"], rtol=0, atol=0)
    assert_allclose(loss.y, run["incumbent_gross_loss"], rtol=0, atol=0)
    lines = {round(s.y0, 12) for s in fig.layout.shapes if s.y0 == s.y1}
    assert figures.ESSAY_TIPPING_SHARE in lines and round(be, 12) in lines
    # The break-even marker is the first sample at or above the break-even loss.
    mark = trace(fig, "loss reaches break-even")
    k = int(np.flatnonzero(run["incumbent_gross_loss"] >= be)[0])
    assert (mark.x[0], mark.y[0]) == (run.t[k], run["incumbent_gross_loss"][k])
    assert run["incumbent_gross_loss"][k - 1] < be
    # Point of no return: a vertical line at its time, markers at its share and loss,
    # which lie on the unfrozen run's curves (interpolated) to the solver's tolerance.
    assert ponr.outcome == "tips"
    vlines = [s for s in fig.layout.shapes if s.x0 == s.x1 and s.xref == "x"]
    assert [v.x0 for v in vlines] == [ponr.time]
    p = trace(fig, "point of no return")
    assert_allclose(p.y, [ponr.share, ponr.gross_loss], rtol=0, atol=0)
    assert_allclose(np.interp(ponr.time, run.t, run["platform_share_of_gross"]), ponr.share, rtol=0, atol=5e-3)
    fall = trace(fig, "incumbent falls")
    assert (fall.x[0], fall.y[0]) == (run.fall_time, run.share_at_fall)


def test_reference_run_is_drawn_dashed_beside_the_current_one(baseline, run):
    other = simulate(baseline.params.replace(platform_price=0.9))
    fig = figures.share_and_loss(other, reference=run)
    ref = trace(fig, "platform share of gross (sector's values)")
    assert ref.line.dash == "dash" and ref.opacity < 1
    assert_allclose(ref.y, run["platform_share_of_gross"], rtol=0, atol=0)
    assert_allclose(trace(fig, "platform share of gross").y, other["platform_share_of_gross"], rtol=0, atol=0)
    # A dearer platform (0.9 against 0.7) takes share more slowly: lower at every common time.
    t = np.linspace(1.0, min(run.t[-1], other.t[-1]), 30)
    assert np.all(np.interp(t, other.t, other["platform_share_of_gross"])
                  < np.interp(t, run.t, run["platform_share_of_gross"]))


def test_incumbent_panels_start_from_the_closed_form_initial_state(baseline, run):
    p = baseline.params
    fig = figures.trust_and_cash(run)
    # Initial state (model.core.equations): price 1, liquidity (B0 + L) q_I0 with q_I0 = 1 - s0
    # (demand per customer, one unit each at the initial price).
    assert p.demand_form == "per_customer"
    q0 = 1 - p.initial_platform_share
    assert_allclose(trace(fig, "buffer").y[0], (p.initial_buffer + p.credit_line) * q0, rtol=1e-12, atol=0)
    assert trace(fig, "incumbent price").y[0] == 1.0
    # Initial operating profit is the margin times the initial volume: (1 - phi - v) q_I0.
    assert_allclose(trace(fig, "operating profit").y[0], p.initial_margin * q0, rtol=1e-12, atol=1e-15)
    assert set(trace(fig, "platform price").y) == {p.platform_price}
    assert set(trace(fig, "willingness to pay").y) == {p.willingness_to_pay}
    assert trace(fig, "platform trust").yaxis == "y" and trace(fig, "incumbent price").yaxis == "y2"
    assert trace(fig, "platform price").yaxis == trace(fig, "willingness to pay").yaxis == "y2"
    assert trace(fig, "operating profit").yaxis == "y3" and trace(fig, "buffer").yaxis == "y4"
    # Four panels stacked on one time axis, none overlapping another.
    domains = sorted(tuple(fig.layout[a].domain) for a in ("yaxis", "yaxis2", "yaxis3", "yaxis4"))
    assert all(lo < hi for lo, hi in domains) and all(a[1] < b[0] for a, b in zip(domains, domains[1:]))


def test_legend_hides_one_line_per_click_and_lies_in_a_row_without_a_reference(baseline, run):
    """A legend click hides the line clicked, not its whole group (the current run, or the
    sector's); alone, the current run's entries flow in a row; beside the sector's run they
    stand in two columns, one per run (plotly groups them)."""
    other = simulate(baseline.params.replace(platform_price=0.3))
    for fig in (figures.share_and_loss(run), figures.trust_and_cash(run), figures.trust_and_cash(run, reference=other)):
        assert fig.layout.legend.groupclick == "toggleitem"
    alone, beside = figures.trust_and_cash(run), figures.trust_and_cash(run, reference=other)
    assert {t.legendgroup for t in alone.data} == {"current"} and alone.layout.legend.traceorder == "normal"
    assert {t.legendgroup for t in beside.data} == {"current", "reference"}
    assert beside.layout.legend.traceorder is None  # plotly's default: grouped, since groups exist


def test_trust_chart_follows_the_closed_form_decay_without_transactions(baseline):
    # With no trust from transactions (kappa_T = 0), dT/dt = -delta_T T: T = T0 exp(-delta_T t).
    p = baseline.params.replace(trust_gain=0.0)
    res = simulate(p)
    fig = figures.trust_and_cash(res)
    y = trace(fig, "platform trust").y
    assert_allclose(y, p.initial_trust * np.exp(-p.trust_decay * res.t), rtol=1e-4, atol=1e-8)


def s_curve():
    """An S-shaped branch x = y^3 - y: folds at y = ±1/sqrt(3), x = ∓2/(3 sqrt(3))."""
    y = np.linspace(-1.3, 1.3, 261)
    x = y ** 3 - y
    stable = (3 * y ** 2 - 1) > 0  # dx/dy > 0 on the outer (stable) parts
    yf = 1 / math.sqrt(3)
    folds = [SimpleNamespace(parameter_value=-2 * yf / 3, state=np.array([yf, 0, 0, 1, 1])),
             SimpleNamespace(parameter_value=2 * yf / 3, state=np.array([-yf, 0, 0, 1, 1]))]
    states = np.zeros((y.size, 5))
    states[:, 0] = y
    return SimpleNamespace(parameter="platform_quality", values=x, states=states, stable=stable,
                           branch=np.zeros(y.size, dtype=int), buffer_drift=-y, folds=folds,
                           hysteresis=(-2 * yf / 3, 2 * yf / 3))


def test_continuation_diagram_splits_stable_and_unstable_and_marks_folds():
    cont = s_curve()
    fig = figures.continuation_diagram(cont, current_value=0.1)
    stable, unstable = trace(fig, "stable equilibria"), trace(fig, "unstable equilibria")
    ys = np.array([v for v in stable.y if v is not None])
    yu = np.array([v for v in unstable.y if v is not None])
    # Every point is drawn once, plus one shared point at each of the two stability changes
    # on each line (the lines meet at the folds).
    n_stable = int(cont.stable.sum())
    assert ys.size == n_stable + 2 and yu.size == cont.stable.size - n_stable + 2
    assert list(stable.y).count(None) == 1 and list(unstable.y).count(None) == 0
    assert np.all(np.abs(yu) <= 1 / math.sqrt(3) + 0.011)
    folds = trace(fig, "fold (saddle-node)")
    assert_allclose(sorted(folds.x), [-2 / (3 * math.sqrt(3)), 2 / (3 * math.sqrt(3))], rtol=1e-12, atol=0)
    drains = trace(fig, "buffer drains (incumbent falls there)")
    assert np.all(np.asarray(drains.y) > 0)  # drift = -y < 0 exactly where y > 0
    assert [s.x0 for s in fig.layout.shapes if s.type == "line"] == [0.1]
    assert [round(s.x0, 12) for s in fig.layout.shapes if s.type == "rect"] == [round(-2 / (3 * math.sqrt(3)), 12)]


def test_basin_map_orients_and_blanks_failed_cells():
    x, y = np.linspace(0, 1, 5), np.linspace(0, 1, 3)
    falls = (x[None, :] + y[:, None]) > 1.0  # (ny, nx)
    status = falls.astype(int)
    status[0, 0] = -1
    b = SimpleNamespace(x=x, y=y, falls=falls, status=status, separatrix=np.array([[0.5, 0.5], [1.0, 0.0]]))
    fig = figures.basin_map(b, current=(0.2, 0.3), trajectory=([0.2, 0.4], [0.3, 0.5]))
    z = np.array(fig.data[0].z, dtype=float)
    assert z.shape == (3, 5)
    assert np.isnan(z[0, 0])
    assert_allclose(z[1:, :], falls[1:, :].astype(float), rtol=0, atol=0)
    # The same grid given as (nx, ny) is turned the right way.
    fig_t = figures.basin_map(SimpleNamespace(x=x, y=y, falls=falls.T, separatrix=np.empty((0, 2))))
    assert_allclose(np.array(fig_t.data[0].z, dtype=float), falls.astype(float), rtol=0, atol=0)
    assert list(trace(fig, "current start").x) == [0.2]


def test_claim_variants_keep_margin_and_switch_one_thing(baseline):
    p = baseline.params
    v = claims.claim_variants(p)
    light = v["light_fixed_cost"]
    assert_allclose(light.fixed_cost_share + light.variable_cost_share, p.fixed_cost_share + p.variable_cost_share,
                    rtol=0, atol=1e-12)
    assert_allclose(light.fixed_cost_share, p.fixed_cost_share / 4, rtol=1e-12, atol=0)
    assert v["other_network_effect"].network_effect != p.network_effect
    assert (v["hard_only"].soft_network, v["soft_only"].hard_network) == (False, False)
    assert v["no_transaction_trust"].trust_gain == 0 and v["no_stickiness"].churn_reduction == 0
    # A variable-cost share that would pass its bound is capped, the margin still kept.
    # (0.88 + 0.75 * 0.1 = 0.955 > 0.95.)
    q = p.replace(fixed_cost_share=0.1, variable_cost_share=0.88)
    lq = claims.claim_variants(q)["light_fixed_cost"]
    assert lq.variable_cost_share == 0.95
    assert_allclose(lq.fixed_cost_share, 0.03, rtol=0, atol=1e-12)


def test_claims_are_described_from_the_runs(baseline, run, ponr):
    p = baseline.params
    runs = {k: simulate(v) for k, v in claims.claim_variants(p).items()}
    rows = claims.describe_run(p, run, runs, ponr=ponr, break_even=break_even_loss(p),
                               break_even_current_prices=break_even_loss(p, policy="current_prices"),
                               sector=baseline.name, n_sectors=3)
    assert [r.id for r in rows] == [c.id for c in claims.CLAIMS]
    by = {r.id: r for r in rows}
    # A description, never an assessment: no row carries a verdict of its own.
    assert not any(hasattr(r, "verdict") for r in rows)
    # C1: the three readings at the computed point of no return, printed.
    assert f"{ponr.share:.1%} of the gross" in by["C1"].this_run
    assert f"{ponr.volume_share:.1%} of the customers" in by["C1"].this_run
    assert f"lost {ponr.gross_loss:.1%}" in by["C1"].this_run
    # C2: the static break-even at today's prices is the closed form m / (m + phi).
    m = p.initial_margin
    assert f"{m / (m + p.fixed_cost_share):.1%}" in by["C2"].this_run
    # C5: the other network effect's fall time, from its own run.
    other = runs["other_network_effect"]
    assert f"{other.fall_time:.1f} yr" in by["C5"].this_run
    assert baseline.name in by["C9"].this_run


def test_c1_description_follows_the_point_of_no_return(baseline, run):
    p = baseline.params
    runs = {k: run for k in claims.claim_variants(p)}
    tips = SimpleNamespace(outcome="tips", time=5.0, share=0.2, gross_loss=0.3, volume_share=0.4)
    assert "after 5.0 years: the platform holds 20.0% of the gross and 40.0% of the customers; the incumbent " \
           "has lost 30.0%" in claims.describe_run(p, run, runs, ponr=tips)[0].this_run
    always = SimpleNamespace(outcome="always_falls", time=0.0, share=0.01, gross_loss=0.0)
    assert "does not test the claim" in claims.describe_run(p, run, runs, ponr=always)[0].this_run
    failed = SimpleNamespace(outcome="failed", time=None, share=None, gross_loss=None)
    assert "not available" in claims.describe_run(p, run, runs, ponr=failed)[0].this_run
    # With one channel off, C7 says both are not on.
    q = p.replace(hard_network=False)
    assert "Both channels are not on" in claims.describe_run(q, simulate(q), runs)[6].this_run


def test_outcome_sentence_states_fall_or_survival(baseline, run):
    assert f"{run.fall_time:.1f} years" in figures.outcome_sentence(run)
    short = simulate(baseline.params.replace(horizon=10.0))
    assert not short.falls
    assert "survives the 10-year horizon" in figures.outcome_sentence(short)


@pytest.fixture(scope="module")
def export_server():
    figures.start_export_server()
    yield
    figures.stop_export_server()


MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_figure_bytes_writes_real_files(export_server, run, fmt):
    fig = figures.trust_and_cash(run)
    data = figures.figure_bytes(fig, fmt)
    if fmt == "svg":
        assert data.lstrip().startswith(b"<svg") and b"platform trust" in data
    else:
        assert data.startswith(MAGIC[fmt])
    if fmt == "png":
        # IHDR: width and height at scale 2 of the 1000 px default width and the figure's own height.
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert fig.layout.height == 820
        assert (w, h) == (2000, 2 * 820)
        # A figure without a height of its own gets the 520 px default.
        plain = figures.share_and_loss(run)
        assert plain.layout.height is None
        data = figures.figure_bytes(plain, fmt)
        assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (2000, 1040)


def test_figure_bytes_refuses_unknown_format(run):
    with pytest.raises(ValueError, match="`fmt` must be one of png, svg, pdf, got 'eps'"):
        figures.figure_bytes(figures.trust_and_cash(run), "eps")


def _flat_continuation(y, state_index):
    k = len(y)
    states = np.full((k, 5), 0.5)
    states[:, state_index] = y
    return SimpleNamespace(parameter="fixed_cost_share", values=np.linspace(0.3, 0.7, k), states=states,
                           stable=np.ones(k, dtype=bool))


def test_continuation_axes_draw_rounding_flat_and_never_zoom_a_share_to_a_sliver():
    """Equilibria that differ by 1e-16 (the universities case) are one value drawn flat in a
    visible span; a share between 0.999 and 1.0 gets at least a tenth of the unit interval;
    real structure keeps the automatic range."""
    noise = 0.9786465039879711 + np.array([0.0, 1.1e-16, -1.1e-16, 2.2e-16] * 5)
    fig = figures.continuation_diagram(_flat_continuation(noise, 3), state="incumbent_price")
    lo, hi = fig.layout.yaxis.range
    assert hi - lo == pytest.approx(0.1 * max(noise.mean(), 1.0)) and lo < noise.min() and hi > noise.max()
    assert fig.layout.yaxis.tickformat == ".3~g"  # no 19-digit tick labels
    sliver = np.linspace(0.999, 1.0, 20)
    fig = figures.continuation_diagram(_flat_continuation(sliver, 0), state="platform_share")
    lo, hi = fig.layout.yaxis.range
    assert hi - lo >= figures.MIN_SPAN and lo <= 0.999 and hi >= 1.0
    spread = np.linspace(0.1, 0.8, 20)
    fig = figures.continuation_diagram(_flat_continuation(spread, 0), state="platform_share")
    assert fig.layout.yaxis.range is None


def test_basin_map_has_a_colour_key():
    b = SimpleNamespace(x=np.linspace(0, 1, 4), y=np.linspace(0, 1, 3), falls=np.eye(3, 4, dtype=bool))
    fig = figures.basin_map(b)
    names = [t.name for t in fig.data if t.type == "scatter"]
    assert "incumbent falls from here" in names and "incumbent survives from here" in names
