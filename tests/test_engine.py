"""The ensemble engine against solve_ivp, closed forms and its own invariants."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from model.core import engine
from model.core._generated import initial as initial_state
from model.core.engine import (
    FALLS,
    MAX_STEPS,
    PONR_ALWAYS_FALLS,
    PONR_NEVER_TIPS,
    PONR_TIPS,
    SOLVER_LSODA,
    SOLVER_RODAS4,
    SURVIVES,
    integrate,
    point_of_no_return_batch,
    pvecs_from_params,
)
from model.core.equations import PARAM_NAMES, STATE_NAMES, param_vector
from model.core.parameters import PARAMETER_SPECS, Parameters
from model.core.simulate import simulate
from model.evidence.scenarios import load_scenario

BASELINE = load_scenario("scenarios/baseline.toml")
N_RANDOM = 300
RTOL, ATOL = 1e-6, 1e-9  # the engine's default tolerances, used throughout


def random_parameters(n: int, seed: int) -> list[Parameters]:
    """``n`` parameter sets drawn uniformly within every bound of PARAMETER_SPECS (switches
    too), keeping only valid ones (fixed + variable cost share in [0.05, 0.99])."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        kw = {}
        for name, s in PARAMETER_SPECS.items():
            if s.group == "firms" or name == "firm_count":
                continue  # one-firm sectors (the engine's); drawn as before they existed
            kw[name] = s.choices[rng.integers(len(s.choices))] if s.is_switch else float(rng.uniform(*s.bounds))
        try:
            out.append(Parameters(**kw))
        except ValueError:
            continue
    return out


@pytest.fixture(scope="module")
def random_runs():
    """300 random parameter sets; the engine (series at 41 times) and two LSODA references.

    The reference is LSODA at rtol 1e-8 / atol 1e-10. A second one at rtol 1e-10 /
    atol 1e-12 tells which runs are ill-conditioned: the two references disagree on the
    outcome, on the fall time by more than 0.01 yr, or on the series by more than 1e-5 of
    a state's scale. There a solver's tolerance decides the answer (the buffer grazes zero,
    or the trajectory is sensitive), and no comparison with a third solver can be exact;
    those runs are left out of the comparisons and counted.
    """
    params = random_parameters(N_RANDOM, seed=20260401)
    pvecs, y0s, horizons = pvecs_from_params(params)
    fractions = np.linspace(0.0, 1.0, 41)
    t_eval = horizons[:, None] * fractions[None, :]
    res = integrate(pvecs, y0s, t_eval, t_end=horizons, rtol=RTOL, atol=ATOL)
    refs, good = [], []
    for p, te in zip(params, t_eval):
        ref = simulate(p, t_eval=te, method="LSODA", rtol=1e-8, atol=1e-10)
        check = simulate(p, t_eval=te, method="LSODA", rtol=1e-10, atol=1e-12)
        refs.append(ref)
        good.append(_agree(ref, check))
    return params, res, refs, np.array(good)


def _states(result, n):
    return np.stack([result.series[name][:n] for name in STATE_NAMES], axis=1)


def _agree(ref, check) -> bool:
    if ref.falls != check.falls or (ref.falls and abs(ref.fall_time - check.fall_time) > 0.01):
        return False
    n = min(len(ref.t), len(check.t)) - 1  # leave out a fall point
    a, b = _states(ref, n), _states(check, n)
    scale = np.max(np.abs(b), axis=0) + 1e-12
    return bool(np.all(np.abs(a - b) <= 1e-5 * scale))


def test_random_runs_all_finish(random_runs):
    params, res, refs, good = random_runs
    assert len(res) == N_RANDOM  # nothing dropped
    assert all(r.success for r in refs)
    assert np.all(res.success), [res.reason[i] for i in np.flatnonzero(~res.success)]


def test_random_runs_outcomes_match_solve_ivp(random_runs):
    """Falls identical on every well-conditioned run; fall times within 0.01 yr (the point of
    no return's bisection tolerance) and the share and loss at the fall with them."""
    params, res, refs, good = random_runs
    # Ill-conditioned runs are rare: at most 5 %.
    assert good.sum() >= 0.95 * N_RANDOM
    good = np.flatnonzero(good)
    ref_falls = np.array([refs[i].falls for i in good])
    np.testing.assert_array_equal(res.falls[good], ref_falls)
    assert 0.1 * N_RANDOM < ref_falls.sum() < 0.9 * N_RANDOM  # both outcomes are exercised
    fell = [i for i in good if refs[i].falls]
    ref_time = np.array([refs[i].fall_time for i in fell])
    np.testing.assert_allclose(res.fall_time[fell], ref_time, rtol=0, atol=0.01)
    # Most are far closer than the bound: the median error is that of the tolerances.
    assert np.median(np.abs(res.fall_time[fell] - ref_time)) < 1e-4
    np.testing.assert_allclose(res.share_at_fall[fell], [refs[i].share_at_fall for i in fell], rtol=0, atol=1e-3)
    # (A growing sector's "loss" can be a gain of hundreds of times the initial gross.)
    np.testing.assert_allclose(res.gross_loss_at_fall[fell], [refs[i].gross_loss_at_fall for i in fell],
                               rtol=1e-4, atol=1e-3)


def test_random_runs_series_match_solve_ivp(random_runs):
    """The state at 41 output times (up to 0.01 yr before a fall) agrees with the reference
    to 2e-4 of each state's scale (its largest magnitude in the run): two hundred times the
    relative tolerance, room for the growth of local errors over decades of model time and
    for the loss of order where a run crosses one of the smoothed kinks (width 1e-3) of the
    capacity, dividend, credit and excess-cash rules."""
    params, res, refs, good = random_runs
    compared = 0
    for i in np.flatnonzero(good):
        ref = refs[i]
        n = len(ref.t) - (1 if ref.falls else 0)  # simulate appends the fall point
        engine_fall = res.fall_time[i] if res.falls[i] else np.inf
        keep = np.flatnonzero(res.t_eval[i, :n] < min(engine_fall, ref.fall_time or np.inf) - 0.01)
        y_ref = _states(ref, n)[keep]
        scale = np.max(np.abs(y_ref), axis=0)
        np.testing.assert_allclose(res.y[i, keep] / scale, y_ref / scale, rtol=0, atol=2e-4,
                                   err_msg=f"run {i}")
        compared += keep.size
    assert compared > 0.5 * N_RANDOM * 41


def test_stiff_runs_switch_to_rodas4_and_agree(random_runs):
    """Some random runs are stiff (trust gains near their bounds): they finish with Rodas4 and
    were compared above; a few of them are checked here against Radau as a third method."""
    params, res, refs, good = random_runs
    stiff = np.flatnonzero((res.solver == SOLVER_RODAS4) & good)
    assert stiff.size >= 10
    for i in stiff[:5]:
        radau = simulate(params[i], t_eval=[0.0, params[i].horizon], method="Radau", rtol=1e-9, atol=1e-11)
        assert radau.falls == res.falls[i]
        if radau.falls:
            assert abs(radau.fall_time - res.fall_time[i]) <= 0.01


def bass_params(**changes) -> Parameters:
    """Adoption is a pure Bass diffusion: attractiveness A = 1 exactly (tanh(lambda dU / 2)
    rounds to 1 for lambda dU / 2 > 19), so churn is 0; trust frozen at T0 (no gain, no
    decay). The incumbent's price does not feed back on adoption while A = 1."""
    base = dict(value_sensitivity=50.0, platform_quality=2.0, platform_price=0.5, network_value=0.0,
                trust_gain=0.0, trust_decay=0.0, initial_trust=0.8, direct_adoption_rate=0.03,
                word_of_mouth_rate=0.4, initial_platform_share=0.001, initial_buffer=10.0,
                debt_service=0.0, horizon=30.0, price_policy="fixed", captive_share=0.0, switching_cost=0.0,
                contagion="simple", sector_growth_rate=0.0, dividend_payout=0.0, excess_cash_payout_rate=0.0)
    base.update(changes)
    return BASELINE.params.replace(**base)


def bass_share(t, s0, a, b):
    """Closed form of ds/dt = (a + b s)(1 - s): (a + b s)/(1 - s) grows like e^{(a+b) t}."""
    g = (a + b * s0) / (1.0 - s0) * np.exp((a + b) * t)
    return (g - a) / (g + b)


def test_bass_closed_form():
    cases = [bass_params(), bass_params(direct_adoption_rate=0.005, word_of_mouth_rate=1.5, initial_trust=1.0),
             bass_params(soft_network=False, direct_adoption_rate=0.2)]
    pvecs, y0s, horizons = pvecs_from_params(cases)
    t = np.linspace(0.0, 30.0, 121)
    res = integrate(pvecs, y0s, t, t_end=horizons)
    for k, p in enumerate(cases):
        assert res.status[k] == SURVIVES
        b = p.word_of_mouth_rate * p.initial_trust if p.soft_network else 0.0
        exact = bass_share(t, p.initial_platform_share, p.direct_adoption_rate, b)
        # Error scaled by the tolerance (scipy's convention): global error a few times local.
        scaled = (res.y[k, :, 0] - exact) / (ATOL + RTOL * np.abs(exact))
        assert np.max(np.abs(scaled)) < 50
        np.testing.assert_allclose(res.y[k, :, 1], p.initial_trust, rtol=0, atol=1e-12)


def test_bass_convergence_with_tolerance():
    """Tightening the tolerances by 100 shrinks the error against the closed form."""
    p = bass_params(direct_adoption_rate=0.01, word_of_mouth_rate=1.0, initial_trust=1.0)
    pvecs, y0s, horizons = pvecs_from_params([p])
    t = np.linspace(0.0, 30.0, 61)
    exact = bass_share(t, p.initial_platform_share, 0.01, 1.0)
    errs = []
    for rtol in (1e-5, 1e-7, 1e-9):
        r = integrate(pvecs, y0s, t, t_end=horizons, rtol=rtol, atol=rtol * 1e-3)
        errs.append(np.max(np.abs(r.y[0, :, 0] - exact)))
    assert errs[0] > 10 * errs[1] > 100 * errs[2]
    assert errs[2] < 1e-8


def test_output_at_zero_is_initial_state_and_nan_after_fall():
    pvecs, y0s, horizons = pvecs_from_params([BASELINE.params])
    t = np.linspace(0.0, 40.0, 81)
    r = integrate(pvecs, y0s, t, t_end=horizons)
    assert r.status[0] == FALLS and r.falls[0]
    np.testing.assert_array_equal(r.y[0, 0], y0s[0])
    after = t > r.fall_time[0]
    assert np.all(np.isnan(r.y[0, after])) and np.all(np.isfinite(r.y[0, ~after]))
    assert r.y_last[0, STATE_NAMES.index("buffer")] == 0.0
    np.testing.assert_allclose(r.t_reached[0], r.fall_time[0], rtol=0, atol=0)


def test_freeze_times_match_simulate():
    params = [BASELINE.params, BASELINE.params.replace(word_of_mouth_rate=0.3, fixed_cost_share=0.5),
              BASELINE.params.replace(initial_buffer=1.5)]
    freezes = [0.0, 5.0, 8.0, 12.0, 30.0]
    pv, y0, hz = pvecs_from_params(params)
    for tf in freezes:
        r = integrate(pv, y0, t_end=hz, freeze_times=tf)
        for k, p in enumerate(params):
            ref = simulate(p, t_eval=[0.0, p.horizon], freeze_acquisition_at=tf, rtol=1e-9, atol=1e-11)
            assert ref.falls == r.falls[k], (tf, k)
            if ref.falls:
                np.testing.assert_allclose(r.fall_time[k], ref.fall_time, rtol=0, atol=1e-3)


def test_freeze_after_end_or_nan_is_no_freeze():
    pv, y0, hz = pvecs_from_params([BASELINE.params] * 3)
    r = integrate(pv, y0, t_end=hz, freeze_times=np.array([np.nan, 40.0, 1e9]))
    free = integrate(pv[:1], y0[:1], t_end=hz[:1])
    np.testing.assert_array_equal(r.fall_time, np.repeat(free.fall_time, 3))


def test_step_limit_is_reported_not_dropped():
    pv, y0, hz = pvecs_from_params([BASELINE.params, BASELINE.params.replace(trust_gain=8.0)])
    t = np.linspace(0.0, 40.0, 9)
    r = integrate(pv, y0, t, t_end=hz, max_steps=10, fallback=False)
    assert len(r) == 2
    np.testing.assert_array_equal(r.status, [MAX_STEPS, MAX_STEPS])
    assert not r.success.any() and not r.falls.any()
    assert all("max_steps" in text and "t = " in text for text in r.reason)
    # Output only up to where the run got, NaN beyond: nothing invented.
    for k in range(2):
        assert 0 < r.t_reached[k] < 40
        assert np.all(np.isnan(r.y[k, t > r.t_reached[k]]))
    assert np.all(np.isnan(r.fall_time))
    # With the fallback the same runs finish with LSODA and agree with the normal solve.
    fb = integrate(pv, y0, t, t_end=hz, max_steps=10)
    normal = integrate(pv, y0, t, t_end=hz)
    np.testing.assert_array_equal(fb.solver, [SOLVER_LSODA, SOLVER_LSODA])
    np.testing.assert_array_equal(fb.status, normal.status)
    np.testing.assert_allclose(fb.fall_time, normal.fall_time, rtol=0, atol=1e-3)
    assert all("lsoda" in text for text in fb.reason)


def test_results_do_not_depend_on_thread_count():
    params = random_parameters(64, seed=7)
    pv, y0, hz = pvecs_from_params(params)
    t = hz[:, None] * np.linspace(0, 1, 5)[None, :]
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = integrate(pv, y0, t, t_end=hz)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = integrate(pv, y0, t, t_end=hz)
    finally:
        numba.set_num_threads(before)
    for name in ("status", "fall_time", "y", "y_last", "nfev", "solver"):
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name))


def test_outputs_and_initial_batches_match_generated():
    params = random_parameters(5, seed=3)
    pv, y0, _ = pvecs_from_params(params)
    for k in range(5):
        np.testing.assert_array_equal(y0[k], initial_state(param_vector(params[k])))
    from model.core._generated import outputs

    out = engine.outputs_batch(y0, pv)
    for k in range(5):
        # The same generated function, compiled inline in a parallel loop: the last bit
        # may differ (instruction selection), nothing more.
        np.testing.assert_allclose(out[k], outputs(y0[k], pv[k]), rtol=4 * np.finfo(float).eps, atol=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(pvecs=np.zeros((2, 3))), "pvecs"),
    (dict(t_eval=[0.0, 50.0], t_end=40.0), "t_eval"),
    (dict(t_eval=[5.0, 1.0]), "t_eval"),
    (dict(rtol=0.0, t_end=40.0), "rtol"),
    (dict(max_steps=0, t_end=40.0), "max_steps"),
    (dict(stiff="maybe", t_end=40.0), "stiff"),
    (dict(freeze_times=np.zeros(5), t_end=40.0), "freeze_times"),
    (dict(y0s=np.full((1, 6), np.nan), t_end=40.0), "y0s"),
    (dict(), "t_end"),
])
def test_integrate_validation(kwargs, match):
    pv = np.atleast_2d(param_vector(BASELINE.params))
    args = dict(pvecs=pv)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        integrate(**args)


def test_nonfinite_parameter_row_is_refused():
    pv = np.atleast_2d(param_vector(BASELINE.params)).repeat(3, axis=0)
    pv[1, PARAM_NAMES.index("churn_rate")] = np.nan
    with pytest.raises(ValueError, match="row 1"):
        integrate(pv, t_end=40.0)


# --- point of no return ----------------------------------------------------------------


@pytest.fixture(scope="module")
def ponr_cases():
    from model.analysis.tipping import point_of_no_return

    params = [
        BASELINE.params,
        BASELINE.params.replace(fixed_cost_share=0.7, variable_cost_share=0.15),
        BASELINE.params.replace(initial_buffer=2.0),
        BASELINE.params.replace(word_of_mouth_rate=0.25, churn_rate=0.6),
        BASELINE.params.replace(platform_price=1.0, network_value=0.1),  # never tips
    ] + random_parameters(14, seed=11)
    pv, y0, hz = pvecs_from_params(params)
    batch = point_of_no_return_batch(pv, y0, hz, tol=0.01)
    scalar = [point_of_no_return(p, tol=0.01) for p in params]
    return params, batch, scalar


def test_ponr_batch_matches_scalar(ponr_cases):
    params, batch, scalar = ponr_cases
    names = batch.outcome_names
    assert {"tips", "never_tips"} <= set(names)
    for k, s in enumerate(scalar):
        assert names[k] == s.outcome, (k, names[k], s.outcome)
        if s.outcome == "tips":
            # Both bisect with tol 0.01 on F evaluated by different solvers: the brackets
            # overlap or touch, so the times differ by at most two tolerances.
            assert abs(batch.time[k] - s.time) <= 0.02 + 1e-9
            assert batch.hi[k] - batch.lo[k] <= 0.01
            assert abs(batch.share[k] - s.share) < 0.01
            assert abs(batch.gross_loss[k] - s.gross_loss) < 0.01


def test_ponr_batch_bracket_is_correct(ponr_cases):
    """F(lo) false and F(hi) true, checked by independent runs with simulate (LSODA, tight
    tolerances) one tolerance outside the bracket: right at the threshold the buffer only
    grazes zero, so which side lo or hi itself falls on can depend on the solver."""
    params, batch, scalar = ponr_cases
    tips = np.flatnonzero(batch.outcome == PONR_TIPS)
    assert tips.size >= 4
    for k in tips[:6]:
        p = params[k]
        ends = [0.0, p.horizon]
        before = simulate(p, t_eval=ends, freeze_acquisition_at=max(0.0, batch.lo[k] - 0.01), rtol=1e-9, atol=1e-11)
        after = simulate(p, t_eval=ends, freeze_acquisition_at=batch.hi[k] + 0.01, rtol=1e-9, atol=1e-11)
        assert not before.falls and after.falls, k
        assert 0 <= batch.lo[k] < batch.hi[k] <= batch.fall_time[k]
        assert batch.hi[k] - batch.lo[k] <= 0.01


def test_ponr_never_tips_has_no_measures(ponr_cases):
    params, batch, scalar = ponr_cases
    never = np.flatnonzero(batch.outcome == PONR_NEVER_TIPS)
    assert never.size >= 1
    for name in ("time", "share", "gross_loss", "lo", "hi", "fall_time"):
        assert np.all(np.isnan(getattr(batch, name)[never])), name


def test_ponr_always_falls_from_a_given_state():
    """A platform that already holds half the market against capacity sized for all of
    it, no churn, a thin buffer, no credit line and no growth to fill the capacity again:
    the incumbent falls even if nobody else ever switches (checked with simulate); the
    measures are those of the initial state."""
    from model.core._generated import initial, outputs

    p = BASELINE.params.replace(churn_rate=0.0, initial_buffer=0.1, credit_line=0.0, sector_growth_rate=0.0)
    pv = param_vector(p)
    y0 = initial(pv)
    y0[0] = 0.5
    assert simulate(p, y0=y0, freeze_acquisition_at=0.0).falls
    batch = point_of_no_return_batch(pv[None], y0[None], p.horizon)
    assert batch.outcome[0] == PONR_ALWAYS_FALLS
    np.testing.assert_array_equal([batch.time[0], batch.lo[0], batch.hi[0]], [0.0, 0.0, 0.0])
    out0 = outputs(y0, pv)
    revenue0 = outputs(initial(pv), pv)[engine.OUTPUT_NAMES.index("incumbent_revenue")]
    np.testing.assert_allclose(batch.share[0], out0[engine.OUTPUT_NAMES.index("platform_share_of_gross")],
                               rtol=1e-15, atol=0)
    np.testing.assert_allclose(batch.gross_loss[0], 1 - out0[engine.OUTPUT_NAMES.index("incumbent_revenue")]
                               / revenue0, rtol=1e-14, atol=0)
    assert batch.evaluations[0] == 3  # unfrozen run, F(0), the measuring run


def test_ponr_evaluations_follow_the_bisection(ponr_cases):
    params, batch, scalar = ponr_cases
    for k in np.flatnonzero(batch.outcome == PONR_TIPS):
        steps = int(np.ceil(np.log2(batch.fall_time[k] / 0.01)))
        # unfrozen run + F(0) + bisection steps + the run measuring share at lo and hi
        assert batch.evaluations[k] == 3 + steps
