"""The incumbent's market value (model.analysis.valuation) against closed forms, and on runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from model.analysis.valuation import discounted_value, first_below, tail_growth, value
from model.core.parameters import NOT_IN_EQUATIONS, Parameters
from model.core.simulate import SimulationResult, simulate
from model.evidence.scenarios import load_scenario

from .conftest import SCENARIOS


def synthetic(t, payout, *, falls=False, fall_time=None, insolvency="liquidation", r=0.06, growth=0.0,
              excess_share=0.0):
    """A one-firm run whose only series are its payouts (split between dividends and excess
    cash, which the value adds up)."""
    t = np.asarray(t, dtype=float)
    payout = np.asarray(payout, dtype=float)
    params = Parameters(discount_rate=r, insolvency=insolvency, sector_growth_rate=growth)
    series = {"dividends": (1 - excess_share) * payout, "excess_cash_payout": excess_share * payout}
    return SimulationResult(params=params, t=t, series=series, success=True, status=1 if falls else 0, message="",
                            falls=falls, fall_time=fall_time, nfev=0, njev=0,
                            insolvencies=(fall_time,) if falls else ())


def test_a_constant_payout_forever_is_a_perpetuity():
    # Horizon and tail together: D / r at every time, on an irregular grid too (the exact
    # weights make a constant payout exact for any step).
    r, D = 0.06, 0.3
    for t in (np.linspace(0.0, 40.0, 401), np.array([0.0, 0.3, 2.0, 2.05, 9.0, 17.5, 40.0])):
        v = value(synthetic(t, np.full(t.size, D), r=r, excess_share=0.4))
        np.testing.assert_allclose(v.value, D / r, rtol=1e-12)
        assert v.alive_at_end and abs(v.tail_growth) < 1e-12
        np.testing.assert_allclose(v.tail_value, D / r, rtol=1e-12)
        assert v.half_time is None and v.lead_time is None
        np.testing.assert_allclose(v.relative, 1.0, rtol=1e-12)


def test_an_exponentially_decaying_payout_is_worth_d_over_r_plus_g():
    r, g, D0 = 0.07, 0.1, 0.5
    t = np.linspace(0.0, 20.0, 401)
    v = value(synthetic(t, D0 * np.exp(-g * t), r=r))
    # The tail's trend is the decay itself (the log-linear fit is exact on it).
    assert v.tail_growth == pytest.approx(-g, rel=1e-9)
    # P is taken piecewise linear between output times: relative error of order (g h)^2 / 12.
    np.testing.assert_allclose(v.value, D0 * np.exp(-g * t) / (r + g), rtol=1e-5)
    # Without the tail V(0) would be short by e^{-(r+g) T} = 3.3 %: the tail is what closes it.
    assert abs(v.start - v.tail_value * math.exp(-r * 20.0) - D0 / (r + g)) > 1e-2 * D0 / (r + g)
    # The value halves when the payout does: t = ln 2 / g.
    assert v.half_time == pytest.approx(math.log(2) / g, abs=1e-3)


def test_liquidation_ends_the_value():
    # A constant payout until liquidation at T_L, nothing after: D (1 - e^{-r (T_L - t)}) / r.
    r, D, TL = 0.05, 0.2, 12.5
    t = np.linspace(0.0, TL, 251)
    v = value(synthetic(t, np.full(t.size, D), falls=True, fall_time=TL, r=r))
    np.testing.assert_allclose(v.value, D * -np.expm1(-r * (TL - t)) / r, rtol=1e-12, atol=1e-15)
    assert v.end == 0.0 and v.tail_value == 0.0 and not v.alive_at_end and math.isnan(v.tail_growth)
    # Half of the start value is left when 1 - e^{-r (T_L - t)} = (1 - e^{-r T_L}) / 2.
    half = TL + math.log(1 - 0.5 * -math.expm1(-r * TL)) / r
    assert v.half_time == pytest.approx(half, abs=1e-4)
    assert v.lead_time == pytest.approx(TL - half, abs=1e-4)


def test_a_reorganised_incumbent_keeps_its_tail():
    # The same fall under reorganisation: the firm goes on, so the constant payout is a perpetuity.
    r, D = 0.05, 0.2
    t = np.linspace(0.0, 30.0, 301)
    v = value(synthetic(t, np.full(t.size, D), falls=True, fall_time=12.5, insolvency="reorganisation", r=r))
    assert v.alive_at_end
    np.testing.assert_allclose(v.value, D / r, rtol=1e-12)


def test_a_growing_tail_is_capped_below_the_discount_rate():
    # Payouts growing at 10 %/yr against r = 6 %: the uncapped perpetuity would be negative.
    # The cap is the sector's growth (0 here) and r / 2.
    r = 0.06
    t = np.linspace(0.0, 10.0, 101)
    p = 0.1 * np.exp(0.1 * t)
    assert tail_growth(t, p, r, cap=0.0) == 0.0
    assert tail_growth(t, p, r, cap=1.0) == pytest.approx(r / 2)
    assert tail_growth(t, p, r, cap=0.02) == pytest.approx(0.02)
    v = value(synthetic(t, p, r=r, growth=0.02))
    assert v.tail_growth == pytest.approx(0.02)
    assert v.tail_value == pytest.approx(p[-1] / (r - 0.02), rel=1e-12)


def test_discounted_value_checks_its_input():
    with pytest.raises(ValueError, match="non-decreasing"):
        discounted_value([0.0, 2.0, 1.0], [1.0, 1.0, 1.0], 0.05)
    with pytest.raises(ValueError, match="positive"):
        discounted_value([0.0, 1.0], [1.0, 1.0], 0.0)
    with pytest.raises(ValueError, match="same"):
        discounted_value([0.0, 1.0], [1.0], 0.05)
    # A repeated time (an insolvency's) is an interval of length 0: it adds nothing.
    np.testing.assert_allclose(discounted_value([0.0, 1.0, 1.0, 2.0], [1.0, 1.0, 3.0, 3.0], 0.05)[2],
                               3 * -math.expm1(-0.05) / 0.05, rtol=1e-14)
    assert first_below([0.0, 1.0, 2.0], [4.0, 2.0, 0.0], 1.0) == pytest.approx(1.5)
    assert first_below([0.0, 1.0], [4.0, 2.0], 1.0) is None


@pytest.fixture(scope="module")
def newspapers():
    """Eight firms that exit one by one (liquidation of the second insolvency)."""
    return simulate(load_scenario(SCENARIOS / "newspapers.toml").params)


def test_the_firms_values_add_up_to_the_sector(newspapers):
    res = newspapers
    assert res.firms is not None and res.firms.n == 8 and res.firms.failed >= 4
    v = value(res)
    # Each firm's payout is read from the run's own compiled outputs; together they are the
    # sector's series, at every output time.
    np.testing.assert_allclose(v.firm_payout.sum(axis=0), v.payout, rtol=0, atol=1e-12)
    np.testing.assert_allclose(v.firm_value.sum(axis=0), v.value, rtol=1e-12)
    for i in range(8):
        fall = res.firms.fall_time[i]
        if np.isfinite(fall):
            assert np.all(v.firm_value[i, res.t > fall] == 0.0) and np.all(v.firm_payout[i, res.t > fall] == 0.0)
            assert v.firm_half_time[i] is not None and v.firm_half_time[i] < fall
    # Asset prices fall long before the cash runs out: half the value is gone years before the fall.
    assert v.half_time is not None and v.lead_time > 2.0


def test_identical_firms_have_identical_values():
    # The newspapers' eight firms made alike in everything and of equal size: the split must
    # give each an eighth (a wrong attribution, say all to one firm, would still add up).
    params = load_scenario(SCENARIOS / "newspapers.toml").params
    alike = params.replace(**{n: 0.0 for n in ("firm_spread_fixed_cost", "firm_spread_indivisible",
                                               "firm_spread_variable_cost", "firm_spread_debt", "firm_spread_buffer",
                                               "firm_spread_credit", "firm_size_inequality")}, horizon=15.0)
    v = value(simulate(alike))
    assert v.firm_payout.shape[0] == 8 and v.payout.max() > 0.01
    np.testing.assert_allclose(v.firm_payout, np.broadcast_to(v.payout / 8, v.firm_payout.shape), rtol=1e-9,
                               atol=1e-12)


def test_the_discount_rate_changes_the_value_and_nothing_else():
    assert "discount_rate" in NOT_IN_EQUATIONS
    base = load_scenario(SCENARIOS / "baseline.toml").params
    low, high = simulate(base.replace(discount_rate=0.03)), simulate(base.replace(discount_rate=0.12))
    assert low.t.shape == high.t.shape and np.array_equal(low.t, high.t)
    for name in low.series:
        assert np.array_equal(low[name], high[name]), name
    assert (low.falls, low.fall_time) == (high.falls, high.fall_time)
    v_low, v_high = value(low), value(high)
    assert v_low.start > v_high.start > 0
    # An independent quadrature of the same series: V(0) = ∫ e^{-rτ} P dτ (no tail: it falls).
    assert low.falls
    payout = low["dividends"] + low["excess_cash_payout"]
    for r, v in ((0.03, v_low), (0.12, v_high)):
        direct = float(np.trapezoid(np.exp(-r * low.t) * payout, low.t))
        assert v.start == pytest.approx(direct, rel=1e-3)
    # The explicit rate overrides the run's own.
    assert value(low, discount_rate=0.12).start == pytest.approx(v_high.start, rel=1e-14)


def test_a_failed_run_has_no_value():
    res = simulate(load_scenario(SCENARIOS / "baseline.toml").params, max_evaluations=5)
    assert not res.success
    with pytest.raises(ValueError, match="run failed"):
        value(res)


def test_run_json_reports_the_market_value(baseline_path, capsys):
    from model.commands.cli import main

    assert main(["run", str(baseline_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    mv = out["market_value"]
    res = simulate(load_scenario(baseline_path).params)
    v = value(res)
    assert mv["discount_rate"] == res.params.discount_rate
    assert len(mv["t"]) == len(mv["value"]) == res.t.size
    np.testing.assert_allclose(mv["value"], v.value, rtol=1e-12)
    assert mv["value_start"] == pytest.approx(v.start) and mv["half_time"] == pytest.approx(v.half_time)
    assert mv["fall_time"] == pytest.approx(out["fall_time"])
    assert main(["run", str(baseline_path)]) == 0
    assert "Market value (payouts discounted at 6.0%/yr)" in capsys.readouterr().out


def test_the_book_figure_draws_each_sectors_value_and_its_fall():
    from model.publish import book

    files = [SCENARIOS / "newspapers.toml", SCENARIOS / "hotels.toml"]
    built = book.build_market_value(book.Context(sector_files=files))
    traces = {(d.meta, d.name): d for d in built.figure.data}
    for path in files:
        sc = load_scenario(path)
        v = value(simulate(sc.params, t_eval=np.linspace(0.0, sc.params.horizon, 241)))
        line = traces[(path.stem, "market value")]
        np.testing.assert_allclose(line.x, v.t + sc.start_year, rtol=1e-12)
        np.testing.assert_allclose(line.y, v.value / v.start, rtol=1e-12)
        assert built.notes[path.stem]["half_time"] == v.half_time
        if v.fall_time is not None:
            assert traces[(path.stem, "incumbent falls")].x[0] == pytest.approx(v.fall_time + sc.start_year)
            assert traces[(path.stem, "value halved")].x[0] == pytest.approx(v.half_time + sc.start_year)
            assert f"newspapers {v.half_time:.1f} against {v.fall_time:.1f}" in built.caption
    # Newspapers fall (after their value has halved); hotels do not within the run.
    assert (("newspapers", "incumbent falls") in traces) and (("hotels", "incumbent falls") not in traces)
    assert "market_value" in book.FIGURES
