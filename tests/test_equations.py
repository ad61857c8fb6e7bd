"""The one sympy definition, its generated numeric forms, and closed-form special cases."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from model import Parameters, simulate
from model.core import _generated as gen
from model.core.codegen import GENERATED_PATH, generate_source
from model.core.equations import OUTPUT_NAMES, PARAM_NAMES, STATE_NAMES, build, param_vector
from model.core.parameters import PARAMETER_SPECS

O = {n: i for i, n in enumerate(OUTPUT_NAMES)}
S = {n: i for i, n in enumerate(STATE_NAMES)}


def test_generated_module_is_up_to_date():
    # The numeric model must be derived from the sympy model, never edited by hand.
    assert GENERATED_PATH.read_text() == generate_source(), "run `python -m model codegen`"


def test_latex_of_every_equation():
    m = build()
    eqs = m.latex_equations()
    assert len(eqs) == len(m.auxiliaries) + len(STATE_NAMES)
    tex = dict(eqs)
    assert r"\frac{ds}{dt}" in tex["dplatform_share/dt"]
    assert "F" in tex["incumbent_cost"] and r"\varphi" in tex["fixed_cost"] and "K" in tex["fixed_cost"]
    assert r"\iota" in tex["fixed_cost"]


def random_params(rng) -> Parameters:
    """Parameters drawn uniformly within the bounds, redrawn until they pass the
    cross-field checks (cost shares, captive share, the sector demand form's price floor)."""
    while True:
        values = {}
        for name, s in PARAMETER_SPECS.items():
            if s.group == "firms" or name == "firm_count":
                continue  # the aggregate model (sectors of firms: test_firms), drawn as before
            values[name] = (s.choices[rng.integers(len(s.choices))] if s.is_switch
                            else float(rng.uniform(*s.bounds)))
        try:
            return Parameters(**values)
        except ValueError:
            continue


def random_state(rng, params) -> np.ndarray:
    return np.array([rng.uniform(0, 1 - params.captive_share), rng.uniform(0, 1), rng.uniform(0, 1),
                     rng.uniform(0.05, params.willingness_to_pay * 1.05), rng.uniform(0.01, 2.0),
                     rng.uniform(-1, 3), rng.uniform(0.3, 3.0)])


def test_invariants_at_random_states():
    rng = np.random.default_rng(20261123)
    for _ in range(300):
        params = random_params(rng)
        pv = param_vector(params)
        y = random_state(rng, params)
        out = gen.outputs(y, pv)
        # Revenue is price times quantity (a two-part tariff's fixed charge is also paid on
        # the multi-homers' connected volume); the market splits into the two volumes.
        p_now, p_u, q = y[S["incumbent_price"]], out[O["marginal_price"]], out[O["incumbent_volume"]]
        if params.price_policy != "two_part":
            assert_allclose(out[O["incumbent_revenue"]], p_now * q, rtol=1e-12, atol=0)
        else:
            connected = q + params.multihoming_share * y[S["platform_share"]] * y[S["customers"]] * q / (
                y[S["customers"]] * (1 - y[S["platform_share"]])) if y[S["platform_share"]] < 1 else q
            assert_allclose(out[O["incumbent_revenue"]], p_u * q + (p_now - p_u) * connected, rtol=1e-10, atol=1e-14)
        # Liquidity accounting: dB/dt is operating profit less every payment out of cash.
        flows = (out[O["operating_profit"]] - out[O["debt_service_flow"]] - out[O["credit_interest"]]
                 - out[O["restructuring"]] - out[O["dividends"]] - out[O["excess_cash_payout"]])
        assert_allclose(gen.rhs(y, pv)[S["buffer"]], flows, rtol=1e-12, atol=1e-12)
        assert min(out[O["credit_interest"]], out[O["restructuring"]], out[O["dividends"]],
                   out[O["excess_cash_payout"]]) >= 0.0
        assert_allclose(out[O["incumbent_volume"]] + out[O["platform_volume"]], out[O["market_size"]],
                        rtol=1e-12, atol=0)
        assert_allclose(out[O["operating_profit"]], out[O["incumbent_revenue"]] - out[O["incumbent_cost"]],
                        rtol=1e-12, atol=1e-12)
        # (A two-part bill far below its target can make revenue negative at a random state;
        # on a trajectory the bill tracks a target at which revenue is (1 + mu) C > 0.)
        if out[O["incumbent_revenue"]] >= 0:
            assert 0.0 <= out[O["platform_share_of_gross"]] <= 1.0
        # Willingness to pay caps the price target (the cap's normalisation adds < 1e-2 %).
        # The competitive target is not the capped full cost: it follows the customers kept,
        # and rises above 1 only where the platform's share is below its start.
        cap = params.willingness_to_pay * (1 + params.willingness_to_pay ** -8) ** 0.125
        if params.price_policy == "competitive":
            v, kept = params.variable_cost_share, (1 - y[S["platform_share"]]) / (1 - params.initial_platform_share)
            cap = max(cap, v + (1 - v) * kept ** params.price_response)
        assert 0.0 < out[O["target_price"]] <= cap * (1 + 1e-12)
        # The flows point into [0, 1] at the edges of every bounded stock (the platform's
        # share into [0, 1 - captive share]).
        for i in range(3):
            top = 1.0 - params.captive_share if i == 0 else 1.0
            for edge, sign in ((0.0, 1.0), (top, -1.0)):
                y_edge = y.copy()
                y_edge[i] = edge
                # (1 - κ) - s at s = 1 - κ is a round-off, not 0.
                assert sign * gen.rhs(y_edge, pv)[i] >= -1e-15


def test_analytic_jacobian_equals_finite_differences():
    rng = np.random.default_rng(7)
    for _ in range(50):
        params = random_params(rng)
        pv = param_vector(params)
        y = random_state(rng, params)
        J = gen.jac(y, pv)
        h = 1e-6 * np.maximum(1.0, np.abs(y))
        J_fd = np.empty_like(J)
        for j in range(len(y)):
            e = np.zeros_like(y)
            e[j] = h[j]
            J_fd[:, j] = (gen.rhs(y + e, pv) - gen.rhs(y - e, pv)) / (2 * h[j])
        # Central differences: error O(h^2 f''') ~ 1e-10 relative; round-off ~ eps/h ~ 1e-10.
        assert_allclose(J, J_fd, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(J).max()))


def bass_params(**extra) -> Parameters:
    """Incumbent feedback off: fixed price, no network value, trust stocks frozen."""
    base = dict(price_policy="fixed", network_value=0.0, trust_gain=0.0, trust_decay=0.0,
                relational_gain=0.0, relational_decay=0.0, initial_trust=0.8, initial_relational_trust=0.5,
                platform_price=0.8, platform_quality=0.1, value_sensitivity=3.0, direct_adoption_rate=0.03,
                word_of_mouth_rate=0.6, churn_rate=0.2, churn_reduction=0.6, initial_platform_share=0.01,
                initial_buffer=10.0, debt_service=0.0, horizon=40.0)
    base.update(extra)
    return Parameters(**base)


def bass_closed_form(params: Parameters, t: np.ndarray) -> np.ndarray:
    """Bass diffusion with churn: ds/dt = P + (Q - P - C) s - Q s^2 (a Riccati equation)."""
    dU = params.platform_quality - params.platform_price + 1.0
    A = (1 + np.tanh(params.value_sensitivity * dU / 2)) / 2
    P = A * params.direct_adoption_rate * params.hard_network
    Q = A * params.word_of_mouth_rate * params.initial_trust * params.soft_network
    C = (1 - A) * params.churn_rate * (1 - params.churn_reduction * params.initial_relational_trust)
    s0 = params.initial_platform_share
    if Q == 0:
        s_inf = P / (P + C)
        return s_inf + (s0 - s_inf) * np.exp(-(P + C) * t)
    disc = np.sqrt((Q - P - C) ** 2 + 4 * Q * P)
    r1, r2 = ((Q - P - C) + disc) / (2 * Q), ((Q - P - C) - disc) / (2 * Q)
    X = (s0 - r1) / (s0 - r2) * np.exp(-Q * (r1 - r2) * t)
    return (r1 - r2 * X) / (1 - X)


@pytest.mark.parametrize("extra", [{}, {"soft_network": False}, {"hard_network": False},
                                   {"demand_elasticity": 1.5, "network_effect": "standard"}])
def test_platform_share_follows_closed_form_bass_when_feedback_is_off(extra):
    params = bass_params(**extra)
    rtol, atol = 1e-8, 1e-11
    res = simulate(params, rtol=rtol, atol=atol)
    assert res.success and not res.falls
    s_true = bass_closed_form(params, res.t)
    e = (res["platform_share"] - s_true) / (atol + rtol * np.abs(s_true))
    # Global error of a tolerance-controlled solve: a small multiple of the tolerance.
    assert np.max(np.abs(e)) < 50
    # The closed form is a real check: it moves far from the start.
    assert abs(s_true[-1] - s_true[0]) > 0.05


def test_parameter_vector_order():
    pv = param_vector(Parameters(churn_rate=0.123, price_policy="fixed"))
    assert len(pv) == len(PARAM_NAMES) == gen.N_PARAMS
    assert pv[PARAM_NAMES.index("churn_rate")] == 0.123
    assert pv[PARAM_NAMES.index("chi_fixed")] == 1.0 and pv[PARAM_NAMES.index("chi_unit_price")] == 0.0
    assert pv[PARAM_NAMES.index("acquisition")] == 1.0


def test_generated_code_equals_the_sympy_expressions_under_every_switch():
    # The generated forms skip the branches of switches that are off (their values are NaN
    # there), write roots as square roots and share exp(n a) with exp(a): at random states
    # under every setting of the switches they equal the sympy expressions evaluated as they
    # stand, and a wrongly gated value would show as NaN.
    import sympy as sp

    from model.core.special import lambdify_modules

    model = build()
    args = [list(model.states), list(model.params)]
    f_rhs = sp.lambdify(args, list(model.rhs), modules=lambdify_modules("math"))
    f_out = sp.lambdify(args, [model.outputs[k] for k in OUTPUT_NAMES], modules=lambdify_modules("math"))
    rng = np.random.default_rng(20261203)
    switches = [n for n in PARAM_NAMES if n.startswith("chi_")]
    checked = 0
    for _ in range(400):
        params = random_params(rng)
        pv = param_vector(params)
        pv[[PARAM_NAMES.index(n) for n in switches]] = rng.integers(0, 2, len(switches))  # every combination
        y = random_state(rng, params)
        try:
            want_rhs, want_out = np.array(f_rhs(y, pv)), np.array(f_out(y, pv))
        except (ValueError, ZeroDivisionError, OverflowError):
            continue  # outside the model's domain at this state (a power of a negative price mix)
        if not (np.all(np.isfinite(want_rhs)) and np.all(np.isfinite(want_out))):
            continue
        assert_allclose(gen.rhs(y, pv), want_rhs, rtol=1e-9, atol=1e-12)
        assert_allclose(gen.outputs(y, pv), want_out, rtol=1e-9, atol=1e-12)
        assert np.all(np.isfinite(gen.jac(y, pv)))  # its values: test_analytic_jacobian_equals_finite_differences
        checked += 1
    assert checked >= 200
