"""The v2 economics, against closed forms and second methods.

* the first version is a special case: every scenario file's stored v1 results are
  reproduced with every new mechanism at its neutral value;
* long-run average cost falls with scale once part of the fixed cost is indivisible;
* the long-run break-even loss (sympy) against the generated right-hand side;
* the binomial tail of threshold contagion against direct summation and scipy;
* the death spiral: a per-unit average-cost tariff spirals past a closed-form threshold
  where a two-part tariff stays put;
* threshold contagion makes a critical mass: below it the platform dies out, above it
  grows (the separatrix is the unstable root of the reduced equation);
* captive customers cap the platform's share; reorganisation writes the debt down;
  the competitive policy cuts the price as the platform gains; the two network effects
  are normalised to the same value at s = T = 1.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import brentq
from scipy.special import betainc, comb

from model import Parameters, point_of_no_return, simulate
from model.analysis.tipping import break_even_loss
from model.core import _generated as gen
from model.core.equations import OUTPUT_NAMES, STATE_NAMES, param_vector
from model.core.special import tail, tail_density
from tests.conftest import v1_parameters

O = {n: i for i, n in enumerate(OUTPUT_NAMES)}
S = {n: i for i, n in enumerate(STATE_NAMES)}


# --- the first version is a special case -----------------------------------------------------

def test_every_file_reproduces_the_first_version(v1_reference):
    """Fall times, shares and losses at the fall, the point of no return and the state at
    four times, for every scenario file as it was at the v1 commit."""
    assert len(v1_reference["scenarios"]) >= 12
    times = v1_reference["times"]
    for name, ref in v1_reference["scenarios"].items():
        p = v1_parameters(ref["parameters"])
        r = simulate(p, rtol=1e-9, atol=1e-12)
        assert r.success and r.falls == ref["falls"], name
        if ref["falls"]:
            assert_allclose(r.fall_time, ref["fall_time"], rtol=1e-8, atol=0, err_msg=name)
            assert_allclose(r.share_at_fall, ref["share_at_fall"], rtol=1e-7, atol=1e-10, err_msg=name)
            assert_allclose(r.gross_loss_at_fall, ref["gross_loss_at_fall"], rtol=1e-7, atol=1e-10, err_msg=name)
        for series, values in ref["series"].items():
            for t, v in zip(times, values):
                if v is not None:
                    assert_allclose(np.interp(t, r.t, r[series]), v, rtol=1e-6, atol=1e-9, err_msg=(name, series, t))
        # The first version's point of no return: "falls within the horizon".
        ponr = point_of_no_return(p, tol=0.01, window="horizon")
        assert ponr.outcome == ref["ponr"]["outcome"], name
        if ref["ponr"]["time"] is not None:
            # Two bisections to 0.01 yr with solvers at rtol 1e-6: the brackets overlap.
            assert_allclose(ponr.time, ref["ponr"]["time"], rtol=0, atol=0.011, err_msg=name)
            assert_allclose(ponr.share, ref["ponr"]["share"], rtol=0, atol=5e-3, err_msg=name)


# --- fixed costs that are fixed -----------------------------------------------------------------

def _matched_state(params: Parameters, share: float, price: float = 1.0) -> np.ndarray:
    """A state at platform share ``share`` with capacity matched to the incumbent's volume."""
    pv = param_vector(params)
    y = gen.initial(pv)
    y[S["platform_share"]], y[S["incumbent_price"]] = share, price
    y[S["capacity"]] = gen.outputs(y, pv)[O["incumbent_volume"]]
    return y


@pytest.mark.parametrize("iota", [0.0, 0.5, 1.0])
def test_long_run_average_cost_falls_with_scale(iota):
    """With capacity matched to volume q, unit cost is v + phi (1 - iota) + phi iota q0 / q:
    constant without an indivisible cost (the first version), falling with scale with one."""
    p = Parameters(fixed_cost_share=0.6, variable_cost_share=0.2, indivisible_cost_share=iota,
                   initial_platform_share=0.01, price_policy="fixed")
    pv = param_vector(p)
    q0 = gen.initial(pv)[S["capacity"]]
    shares = np.linspace(0.01, 0.9, 12)
    unit = []
    for s in shares:
        y = _matched_state(p, s)
        out = gen.outputs(y, pv)
        q = out[O["incumbent_volume"]]
        unit.append(out[O["incumbent_cost"]] / q)
        assert_allclose(unit[-1], 0.2 + 0.6 * (1 - iota) + 0.6 * iota * q0 / q, rtol=1e-12, atol=0)
    unit = np.array(unit)
    if iota == 0.0:
        assert np.ptp(unit) < 1e-12
    else:
        assert np.all(np.diff(unit) > 0)  # less volume (more platform share): dearer units


@pytest.mark.parametrize("iota, d", [(0.0, 0.5), (0.4, 0.3), (1.0, 0.0), (0.7, 0.8)])
def test_long_run_break_even_closed_form_against_the_right_hand_side(iota, d):
    """(1 - d) m / (m + iota phi) at the start, from sympy; the generated right-hand side has
    zero liquidity drift (capacity matched, prices held, no payouts but debt service) exactly
    at that loss of volume."""
    p = Parameters(fixed_cost_share=0.6, variable_cost_share=0.2, indivisible_cost_share=iota, debt_service=d,
                   initial_platform_share=0.01, price_policy="fixed", dividend_payout=0.0)
    m = p.initial_margin
    closed = (1 - d) * m / (m + iota * 0.6)
    assert_allclose(break_even_loss(p, policy="long_run"), closed, rtol=1e-12, atol=1e-15)
    pv = param_vector(p)
    q0 = gen.initial(pv)[S["capacity"]]

    def drift(loss):
        share = 1 - (1 - loss) * (1 - p.initial_platform_share)  # volume (1 - loss) q0
        y = _matched_state(p, share)
        y[S["buffer"]] = 1.0  # cash positive: no credit, no excess payout at the defaults
        return gen.rhs(y, pv)[S["buffer"]]

    if closed < 0.995:
        root = brentq(drift, 0.0, min(0.999, closed + 0.2), xtol=1e-14)
        assert_allclose(root, closed, rtol=1e-9, atol=1e-12)
    # The first version's finding, as a limit: without an indivisible cost the long-run
    # threshold is 1 - d whatever the fixed-cost share.
    if iota == 0.0:
        assert_allclose(closed, 1 - d, rtol=1e-12, atol=0)


def test_capacity_cuts_are_slower_and_cost_money():
    """Cut at 1/tau_K, added at r_K/tau_K; every unit cut costs c_cut out of cash."""
    p = Parameters(addition_speed_ratio=4.0, capacity_adjustment_time=5.0, restructuring_cost=0.8,
                   initial_platform_share=0.01, price_policy="fixed")
    pv = param_vector(p)
    y = gen.initial(pv)
    q = gen.outputs(y, pv)[O["incumbent_volume"]]
    for gap in (0.2, -0.2):
        y[S["capacity"]] = q - gap
        dK = gen.rhs(y, pv)[S["capacity"]]
        rate = 4.0 / 5.0 if gap > 0 else 1.0 / 5.0
        # Within the smoothing of the positive part (1e-3 wide) of the exact rule.
        assert_allclose(dK, rate * gap, rtol=1e-4, atol=0)
        restructuring = gen.outputs(y, pv)[O["restructuring"]]
        assert_allclose(restructuring, 0.8 * max(-gap, 0) / 5.0, rtol=0, atol=1e-3 * 0.8 / 5.0)


# --- strong ties in adoption --------------------------------------------------------------------

def test_binomial_tail_against_direct_summation_and_scipy():
    rng = np.random.default_rng(5)
    for k in (1, 2, 8, 15, 30):
        for m in range(1, k + 1):
            for s in np.concatenate([[0.0, 1e-9, 0.5, 1.0], rng.uniform(0, 1, 5)]):
                direct = sum(comb(k, j, exact=True) * s ** j * (1 - s) ** (k - j) for j in range(m, k + 1))
                assert_allclose(tail(s, float(k), float(m)), direct, rtol=1e-12, atol=1e-14)
    # Real k and m (swept continuously): the regularised incomplete beta I_s(m, k - m + 1).
    for _ in range(200):
        k = rng.uniform(1, 100)
        m = rng.uniform(1, min(k, 30))
        s = rng.uniform(0, 1)
        assert_allclose(tail(s, k, m), betainc(m, k - m + 1, s), rtol=1e-10, atol=1e-14)
        h = 1e-6
        if h < s < 1 - h:
            fd = (tail(s + h, k, m) - tail(s - h, k, m)) / (2 * h)
            assert_allclose(tail_density(s, k, m), fd, rtol=1e-5, atol=1e-7)
    # Safe outside the domain (a solver's trial point) and for fewer ties than the threshold.
    assert tail(-1e-9, 15.0, 3.0) == 0.0 and tail(1 + 1e-9, 15.0, 3.0) == 1.0 and tail(0.5, 2.0, 3.0) == 0.0
    assert tail_density(-0.1, 15.0, 3.0) == 0.0 and tail_density(0.5, 2.0, 3.0) == 0.0


def _contagion_params(**extra) -> Parameters:
    """Adoption through close ties only (no direct adoption), trust and price frozen."""
    base = dict(direct_adoption_rate=0.0, contagion="threshold", close_ties=15.0, contagion_threshold=3.0,
                word_of_mouth_rate=1.0, churn_rate=0.1, trust_gain=0.0, trust_decay=0.0, initial_trust=1.0,
                relational_gain=0.0, relational_decay=0.0, initial_relational_trust=0.0, network_value=0.0,
                platform_quality=0.0, platform_price=1.0, price_policy="fixed", initial_buffer=10.0,
                debt_service=0.0, horizon=200.0, initial_platform_share=0.01)
    base.update(extra)
    return Parameters(**base)


def test_threshold_contagion_has_a_critical_mass():
    """ds/dt = A w T tail(s) (1 - s) - (1 - A) c s with A = 1/2 here: s = 0 is stable and
    the unstable interior root is the critical mass; simulations from either side of it go
    their own way. Simple contagion with the same rates has no critical mass."""
    p = _contagion_params()
    k, m, w, c = 15.0, 3.0, 1.0, 0.1

    def G(s):
        return 0.5 * w * tail(s, k, m) * (1 - s) - 0.5 * c * s

    grid = np.linspace(1e-6, 0.99, 2000)
    v = np.array([G(s) for s in grid])
    roots = [brentq(G, a, b, xtol=1e-14) for a, b, fa, fb in zip(grid[:-1], grid[1:], v[:-1], v[1:]) if fa * fb < 0]
    assert len(roots) == 2  # the critical mass, then the platform's stable share
    critical, ceiling = roots
    assert 0.0 < critical < 0.2 < ceiling
    # The model's own right-hand side has the same roots.
    pv = param_vector(p)
    y = gen.initial(pv)
    for s in roots:
        y[S["platform_share"]] = s
        assert abs(gen.rhs(y, pv)[S["platform_share"]]) < 1e-12
    below = simulate(_contagion_params(initial_platform_share=0.8 * critical))
    above = simulate(_contagion_params(initial_platform_share=1.2 * critical))
    assert below.final("platform_share") < 0.1 * critical
    assert_allclose(above.final("platform_share"), ceiling, rtol=1e-3, atol=0)
    simple = simulate(_contagion_params(contagion="simple", initial_platform_share=0.8 * critical))
    assert simple.final("platform_share") > 0.5  # simple contagion takes off from any seed here


# --- the two-part tariff against the per-unit tariff ----------------------------------------------

def _spiral_params(policy: str) -> Parameters:
    """Platform share held (no adoption, no churn), all fixed cost indivisible, elastic demand."""
    return Parameters(price_policy=policy, fixed_cost_share=0.6, variable_cost_share=0.2, indivisible_cost_share=1.0,
                      demand_elasticity=1.0, willingness_to_pay=3.0, direct_adoption_rate=0.0,
                      word_of_mouth_rate=0.0, churn_rate=0.0, initial_platform_share=0.01, multihoming_share=0.5,
                      initial_buffer=10.0, debt_service=0.0, horizon=150.0, price_adjustment_time=1.0)


def test_per_unit_tariff_spirals_past_a_threshold_the_two_part_tariff_does_not():
    """Average-cost pricing per unit: p = mu1 v + c e^{eps (p - 1)} with c = mu1 F / (N (1 - s)),
    which has a fixed point iff c <= e^{eps (1 - mu1 v) - 1} / eps, i.e. iff the incumbent has
    kept at least a share of its customers given in closed form; past it the bill runs up to
    the willingness to pay. A two-part tariff bills the fixed cost per connected customer, who
    buys at the marginal price 1: it settles at its finite target on either side.

    (eps = 1 < (phi + v) / phi keeps the starting price on the stable, lower root: the
    slope of the map at p = 1 is eps phi / (phi + v) = 0.75.)"""
    phi, v, eps, s0 = 0.6, 0.2, 1.0, 0.01
    mu1 = 1 / (phi + v)
    c_star = math.exp(eps * (1 - mu1 * v) - 1) / eps
    # c = mu1 phi q0 / (1 - s) with q0 = 1 - s0: the critical platform share.
    s_crit = 1 - mu1 * phi * (1 - s0) / c_star
    p_tangent = 1 + math.log(1 / (c_star * eps)) / eps  # the double root at the threshold
    assert 0.03 < s_crit < 0.1 and 1.0 < p_tangent < 2.0
    for policy in ("average_cost", "two_part"):
        p = _spiral_params(policy)
        pv = param_vector(p)
        for s in (s_crit - 0.015, s_crit + 0.015):
            y0 = gen.initial(pv)
            y0[S["platform_share"]] = s
            r = simulate(p, y0=y0, rtol=1e-9, atol=1e-12)
            assert r.success
            price = r.final("incumbent_price")
            # The fixed point of the model's own (capped) target, by a root finder.
            y = y0.copy()

            def excess(x):
                y[S["incumbent_price"]] = x
                return gen.outputs(y, pv)[O["target_price"]] - x

            if policy == "average_cost" and s > s_crit:
                # The spiral, stopped only by the cap: volume melts, losses follow.
                assert r["incumbent_price"].max() > 0.9 * p.willingness_to_pay
            else:
                assert not r.falls
                low = brentq(excess, 0.5, p_tangent if policy == "average_cost" else 2.0, xtol=1e-14)
                assert_allclose(price, low, rtol=1e-6, atol=0)
                assert price < p_tangent if policy == "average_cost" else price < 2.0


# --- customers, pricing, finance, network effects -----------------------------------------------

def test_captive_customers_cap_the_platform_share(baseline):
    for kappa in (0.0, 0.3, 0.6):
        p = baseline.params.replace(captive_share=kappa, initial_buffer=10.0, direct_adoption_rate=0.2)
        r = simulate(p)
        assert np.all(r["platform_share"] <= 1 - kappa + 1e-9)
        assert r.final("platform_share") > 0.8 * (1 - kappa)  # a strong platform reaches near its ceiling


def test_switching_cost_keeps_customers_both_ways():
    """A switching cost lowers adoption and churn at the same value difference."""
    p0 = Parameters()
    p1 = Parameters(switching_cost=0.3)
    y = gen.initial(param_vector(p0))
    y[S["platform_share"]] = 0.3
    a0, a1 = gen.outputs(y, param_vector(p0)), gen.outputs(y, param_vector(p1))
    assert a1[O["adoption"]] < a0[O["adoption"]] and a1[O["churn"]] < a0[O["churn"]]


def test_competitive_price_falls_toward_avoidable_cost():
    p = Parameters(price_policy="competitive", price_response=0.7, variable_cost_share=0.25,
                   initial_platform_share=0.05)
    pv = param_vector(p)
    y = gen.initial(pv)
    assert_allclose(gen.outputs(y, pv)[O["target_price"]], 1.0, rtol=1e-12, atol=0)
    for s in (0.2, 0.5, 0.9):
        y[S["platform_share"]] = s
        target = gen.outputs(y, pv)[O["target_price"]]
        assert_allclose(target, 0.25 + 0.75 * ((1 - s) / 0.95) ** 0.7, rtol=1e-12, atol=0)


def test_network_effects_are_equal_at_the_reference_point():
    for k, nc in ((8.0, 50.0), (15.0, 150.0), (30.0, 1000.0)):
        values = []
        for effect in ("standard", "trust"):
            p = Parameters(network_effect=effect, close_ties=k, contacts_per_user=nc, network_value=0.7)
            pv = param_vector(p)
            y = gen.initial(pv)
            y[S["platform_share"]], y[S["platform_trust"]] = 1.0 - 1e-12, 1.0
            values.append(gen.outputs(y, pv)[O["platform_network_value"]])
        assert_allclose(values, [0.7, 0.7], rtol=1e-9, atol=0)


def test_reorganisation_writes_the_debt_down_and_goes_on(baseline):
    liquidated = simulate(baseline.params.replace(insolvency="liquidation"))
    reorganised = simulate(baseline.params.replace(insolvency="reorganisation", debt_haircut=0.6))
    assert liquidated.falls and reorganised.falls
    assert_allclose(reorganised.fall_time, liquidated.fall_time, rtol=1e-9, atol=0)  # same first insolvency
    assert len(liquidated.insolvencies) == 1 and liquidated.t[-1] == liquidated.fall_time
    assert reorganised.t[-1] > reorganised.fall_time
    after = reorganised.t > reorganised.fall_time
    before = reorganised.t < reorganised.fall_time
    assert_allclose(reorganised["debt_service_flow"][after], 0.4 * reorganised["debt_service_flow"][before][0],
                    rtol=1e-12, atol=0)
    assert_allclose(reorganised.share_at_fall, liquidated.share_at_fall, rtol=1e-9, atol=0)
    # Liquidity restarts at the initial buffer plus the credit line.
    q0 = reorganised["capacity"][0]
    i = int(np.flatnonzero(after)[0])
    assert reorganised["buffer"][i] > 0
    assert reorganised["buffer"][i] <= (baseline.params.initial_buffer + baseline.params.credit_line) * q0 + 1e-9


def test_sector_growth_grows_every_volume():
    p = Parameters(sector_growth_rate=0.03, horizon=20.0, initial_buffer=5.0)
    r = simulate(p, t_eval=np.linspace(0, 20, 41))
    assert_allclose(r["customers"], np.exp(0.03 * r.t), rtol=1e-6, atol=0)


def test_a_free_platform_is_defined():
    """Demand per customer is finite at a price of 0 (free listings): e^eps per customer."""
    p = Parameters(platform_price=0.0, demand_elasticity=0.8)
    pv = param_vector(p)
    y = gen.initial(pv)
    y[S["platform_share"]] = 0.4
    out = gen.outputs(y, pv)
    assert_allclose(out[O["platform_volume"]], 0.4 * math.exp(0.8), rtol=1e-12, atol=0)
    assert out[O["platform_gross"]] == 0.0 and np.isfinite(out[O["platform_share_of_gross"]])
    r = simulate(p)
    assert r.success
    with pytest.raises(ValueError, match="`platform_price` must be at least 0.05 with `demand_form` = 'sector'"):
        Parameters(platform_price=0.0, demand_form="sector")
