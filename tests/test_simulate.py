import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.integrate import cumulative_trapezoid

from model import Parameters, SimulationError, simulate
from model.core import _generated as gen
from model.core.equations import param_vector
from model.core.simulate import SERIES_NAMES


def test_falls_event_is_the_buffer_reaching_zero(baseline):
    res = simulate(baseline.params)
    assert res.success and res.falls
    assert res.t[-1] == res.fall_time and res["buffer"][-1] == 0.0
    assert np.all(res["buffer"][:-1] > 0)
    assert res.share_at_fall == res["platform_share_of_gross"][-1]
    assert res.gross_loss_at_fall == res["incumbent_gross_loss"][-1]


def test_invariants_along_trajectories(baseline):
    for policy in ("average_cost", "two_part", "fixed", "competitive"):
        for effect in ("trust", "standard"):
            p = baseline.params.replace(price_policy=policy, network_effect=effect, initial_buffer=5.0)
            res = simulate(p)
            assert res.success
            for name in ("platform_share", "platform_trust", "relational_trust", "platform_share_of_gross"):
                assert np.all(res[name] >= -1e-9) and np.all(res[name] <= 1 + 1e-9), (policy, effect, name)
            # The captive customers never leave: the platform's share stays below 1 - κ.
            assert np.all(res["platform_share"] <= 1 - p.captive_share + 1e-9)
            assert np.all(res["capacity"] > 0)
            assert np.all(res["incumbent_price"] > 0)
            assert np.all(res["incumbent_price"] <= p.willingness_to_pay * 1.001)
            if policy != "two_part":  # (a two-part tariff also bills connected multi-homers)
                assert_allclose(res["incumbent_revenue"], res["incumbent_price"] * res["incumbent_volume"],
                                rtol=1e-12, atol=0)


def test_buffer_accounting_identity(baseline):
    """B(t) = B(0) + integral of (operating profit - debt service - interest - restructuring
    - dividends - excess cash paid out), with a credit line drawn and cash above target."""
    p = baseline.params.replace(initial_buffer=3.0, credit_line=0.5, credit_interest_rate=0.08, cash_target=2.0,
                                excess_cash_payout_rate=0.5, restructuring_cost=0.5)
    res = simulate(p, t_eval=np.linspace(0, p.horizon, 4001), rtol=1e-9, atol=1e-12)
    revenue0 = res["incumbent_revenue"][0]
    payout = p.debt_service * p.initial_margin * revenue0
    assert_allclose(res["debt_service_flow"], payout, rtol=1e-12, atol=0)
    flows = (res["operating_profit"] - res["debt_service_flow"] - res["credit_interest"] - res["restructuring"]
             - res["dividends"] - res["excess_cash_payout"])
    integral = cumulative_trapezoid(flows, res.t, initial=0.0)
    # Trapezoid error ~ (dt^2 / 12) * T * max|pi''| ~ 1e-5 here.
    assert_allclose(res["buffer"], res["buffer"][0] + integral, rtol=0, atol=2e-5)
    assert_allclose(res["buffer"][0], (p.initial_buffer + p.credit_line) * revenue0, rtol=1e-12, atol=0)
    # Every kind of payment happened in this run (the identity is not vacuous).
    for name in ("credit_interest", "restructuring", "dividends", "excess_cash_payout"):
        assert res[name].max() > 1e-3, name


def test_incumbent_starts_in_steady_state(baseline):
    res = simulate(baseline.params.replace(initial_platform_share=1e-6, direct_adoption_rate=0.0))
    # Price 1, capacity matched to volume, profit = initial margin times revenue.
    assert_allclose(res["incumbent_price"][0], 1.0, rtol=0, atol=1e-12)
    assert_allclose(res["operating_profit"][0], baseline.params.initial_margin * res["incumbent_revenue"][0],
                    rtol=1e-9, atol=0)
    assert_allclose(res["incumbent_gross_loss"][0], 0.0, rtol=0, atol=1e-15)


def test_halving_tolerances_moves_results_less_than_tolerance(baseline):
    rtol, atol = 1e-6, 1e-9
    a = simulate(baseline.params, rtol=rtol, atol=atol)
    b = simulate(baseline.params, rtol=rtol / 2, atol=atol / 2)
    assert a.falls == b.falls
    assert abs(a.fall_time - b.fall_time) < rtol * a.fall_time
    n = min(len(a.t), len(b.t)) - 1  # common output times before the fall
    for name in ("platform_share", "platform_trust", "incumbent_price", "buffer"):
        diff = np.abs(a[name][:n] - b[name][:n])
        # Scaled by the series' magnitude: the buffer passes through zero at the fall.
        assert np.all(diff <= 10 * (atol + rtol * np.abs(b[name][:n]).max())), name


@pytest.mark.parametrize("method", ["Radau", "BDF", "DOP853"])
def test_methods_agree(baseline, method):
    a = simulate(baseline.params, rtol=1e-8, atol=1e-11)
    b = simulate(baseline.params, method=method, rtol=1e-8, atol=1e-11)
    assert a.falls and b.falls
    assert_allclose(b.fall_time, a.fall_time, rtol=1e-5, atol=0)


def test_freezing_acquisition_stops_adoption(baseline):
    res = simulate(baseline.params, freeze_acquisition_at=5.0)
    after = res.t > 5.0
    assert np.all(res["adoption"][after] == 0.0)
    assert np.all(np.diff(res["platform_share"][after]) <= 1e-12)  # churn only
    before = simulate(baseline.params)
    n = int(np.sum(res.t <= 5.0))
    assert_allclose(res["platform_share"][:n], before["platform_share"][:n], rtol=1e-6, atol=1e-9)


def test_failed_solve_is_reported_not_raised(baseline):
    res = simulate(baseline.params, max_evaluations=40)
    assert not res.success and res.status == -1
    assert "right-hand-side evaluations" in res.message
    assert res.t.size >= 1 and np.all(np.isfinite(res["platform_share"]))  # what is known, no NaN
    with pytest.raises(SimulationError, match="stopped after 40 right-hand-side evaluations"):
        simulate(baseline.params, max_evaluations=40, raise_on_failure=True)


def test_bad_arguments(baseline):
    p = baseline.params
    with pytest.raises(ValueError, match=r"`method` must be one of LSODA"):
        simulate(p, method="Euler")
    with pytest.raises(ValueError, match=r"`t_eval` must be increasing within \[0, 40\]"):
        simulate(p, t_eval=[0.0, 50.0])
    with pytest.raises(ValueError, match=r"`rtol` and `atol` must be positive"):
        simulate(p, rtol=0.0)
    with pytest.raises(ValueError, match=r"`y0\[0\]` \(platform_share\) must be in \[0, 1\], got 1.5"):
        simulate(p, y0=[1.5, 0.1, 0.0, 1.0, 1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match=r"`y0\[6\]` \(customers\) must be in \(0, 1000\], got 0.0"):
        simulate(p, y0=[0.1, 0.1, 0.0, 1.0, 1.0, 0.5, 0.0])


def test_no_nan_over_random_parameters():
    """Well-posed everywhere: no NaN and no stall over random draws within the bounds."""
    from tests.test_equations import random_params

    rng = np.random.default_rng(3)
    failures = 0
    for _ in range(150):
        params = random_params(rng)
        res = simulate(params, n_points=81)
        assert all(np.all(np.isfinite(v)) for v in res.series.values())
        failures += not res.success
    assert failures == 0


def test_static_break_even_at_start_is_margin_over_margin_plus_fixed_share():
    from model.analysis.tipping import break_even_loss

    p = Parameters(fixed_cost_share=0.5, variable_cost_share=0.3, initial_platform_share=1e-6)
    m = p.initial_margin
    assert_allclose(break_even_loss(p, policy="fixed"), m / (m + p.fixed_cost_share), rtol=1e-5, atol=0)


def test_fall_before_any_output_time_after_a_freeze(baseline):
    # Only two output times: the run falls between them, after the freeze phase began.
    freeze = simulate(baseline.params).fall_time - 0.5  # late enough that the frozen run still falls
    res = simulate(baseline.params, t_eval=[0.0, 40.0], freeze_acquisition_at=freeze)
    assert res.success and res.falls and freeze < res.fall_time < 40.0
    assert list(res.t) == [0.0, res.fall_time]


def test_a_survival_that_grazes_a_fall_is_solved_again(baseline):
    """Just before the point of no return the frozen run survives with its liquidity close
    to zero: simulate solves it again at a hundredth of the tolerances and says so; the
    answer is the tighter solve's (fate and series)."""
    from model import point_of_no_return

    p = baseline.params
    lo = point_of_no_return(p).bracket[0]
    first = simulate(p, freeze_acquisition_at=lo, check=False)
    assert first.success and not first.falls
    assert first["buffer"].min() < 0.01 * np.abs(first["buffer"]).max()  # it grazes
    checked = simulate(p, freeze_acquisition_at=lo)
    tight = simulate(p, freeze_acquisition_at=lo, rtol=1e-6 / 100, atol=1e-9 / 100, check=False)
    assert checked.rechecked and "solved again at rtol 1e-08" in checked.message
    assert checked.falls == tight.falls
    assert_allclose(checked["buffer"], tight["buffer"], rtol=0, atol=0)
    # A run far from a fall is not solved twice.
    assert not simulate(p.replace(initial_buffer=10.0, debt_service=0.0)).rechecked


def test_engine_and_simulate_agree_on_2000_random_sets():
    """Fate and fall time from two solvers (the compiled DOPRI5/Rodas4 engine and LSODA),
    both at rtol 1e-7, on 2,000 Latin-hypercube sets over every sector file's ranges:
    no disagreement on falls or survives, fall times within 1e-3 yr."""
    from pathlib import Path

    from scipy.stats import qmc

    from model import load_scenario
    from model.core.engine import integrate, pvecs_from_params

    files = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.toml"))
    params = []
    for k, f in enumerate(files):
        sc = load_scenario(f)
        # One-firm sectors (the firms have their own 300-sector test in test_firms.py): the
        # firms' parameters do not enter, so are not drawn.
        names = [n for n in sc.ranges if n != "horizon" and not n.startswith("firm_")]
        lo = np.array([sc.ranges[n][0] for n in names])
        hi = np.array([sc.ranges[n][1] for n in names])
        for row in qmc.LatinHypercube(len(names), rng=k).random(2000 // len(files) + 1):
            try:
                params.append(sc.params.replace(insolvency="liquidation", firm_count=1,
                                                **dict(zip(names, map(float, lo + row * (hi - lo))))))
            except ValueError:
                continue  # a corner that breaks a cross-field rule (cost shares, captive share)
    params = params[:2000]
    assert len(params) == 2000
    pv, y0, hz = pvecs_from_params(params)
    engine = integrate(pv, y0, t_end=hz, rtol=1e-7, atol=1e-10)
    runs = [simulate(p, rtol=1e-7, atol=1e-10, n_points=2) for p in params]
    assert np.all(engine.success) and all(r.success for r in runs)
    falls = np.array([r.falls for r in runs])
    np.testing.assert_array_equal(engine.falls, falls)
    assert 0.1 * len(params) < falls.sum() < 0.9 * len(params)  # both fates are exercised
    times = np.array([r.fall_time for r in runs if r.falls])
    np.testing.assert_allclose(engine.fall_time[falls], times, rtol=0, atol=1e-3)


def test_every_series_has_a_unit():
    from model.core.simulate import SERIES_UNITS

    r = simulate(Parameters())
    assert set(SERIES_UNITS) == {"t", *r.series} == {"t", *SERIES_NAMES}
    assert all(SERIES_UNITS[n] for n in SERIES_UNITS)
