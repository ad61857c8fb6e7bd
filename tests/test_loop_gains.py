"""Cycle-gain decomposition at equilibria (model.analysis.loop_gains): a two-stock textbook
saddle in closed form, and the model's critical-mass saddle (food) and its continuation
branch, where LTM's scores are 0/0."""

from __future__ import annotations

import numpy as np
import pytest

from model.analysis.loop_gains import branch_loop_gains, loop_gains, model_loop_gains
from model.evidence.scenarios import load_scenario


def two_stock(r, b, c, d):
    # x grows by itself (R self-loop, gain r); y decays (B, -d); x raises y, y lowers x: the
    # two-stock loop x -> y -> x is balancing with gain -b c.
    return np.array([[r, -b], [c, -d]])


@pytest.mark.parametrize("r, b, c, d", [(0.5, 0.4, 0.5, 1.0), (0.3, 2.0, 1.0, 0.5)])
def test_two_stock_cover_terms_eigenvalue_and_elasticities_have_the_closed_form(r, b, c, d):
    g = loop_gains(two_stock(r, b, c, d), ("x", "y"))
    gains = {cy.states: cy.gain for cy in g.cycles}
    assert gains == {("x",): pytest.approx(r), ("y",): pytest.approx(-d), ("x", "y"): pytest.approx(-b * c)}
    terms = sorted(t for _, t in g.covers)
    assert terms == pytest.approx(sorted([-r * d, b * c]))  # {x}{y}: (-r)(d); {x y}: -(-b c)
    disc = (r + d) ** 2 - 4 * b * c
    lam = np.array([(r - d - np.sqrt(complex(disc))) / 2, (r - d + np.sqrt(complex(disc))) / 2])
    assert g.determinant == pytest.approx(b * c - r * d)
    assert g.determinant == pytest.approx(float(np.prod(-lam).real))
    if b * c < r * d:  # a saddle, made so by the reinforcing self-loop of x
        assert g.saddle_loop is not None and g.saddle_loop.states == ("x",) and g.saddle_loop.polarity == "R"
        # Elasticity of the unstable root to r: (r / λ) dλ/dr, dλ/dr = 1/2 + (r + d) / (2 sqrt(disc)).
        lam_plus = lam[1].real
        assert g.link_elasticity[("x", "x")] == pytest.approx(r * (0.5 + (r + d) / (2 * np.sqrt(disc))) / lam_plus)
    else:  # a focus or node with det(-J) > 0: no saddle to name
        assert g.saddle_loop is None
    assert sum(g.link_elasticity.values()) == pytest.approx(1.0)


def test_loop_gains_refuses_a_bad_jacobian():
    with pytest.raises(ValueError, match="square"):
        loop_gains(np.ones((2, 3)), ("x", "y"))
    with pytest.raises(ValueError, match="non-finite"):
        loop_gains(np.array([[np.nan]]), ("x",))


def test_the_food_critical_mass_saddle_is_made_by_the_trust_loop():
    from model.analysis.equilibria import equilibria

    params = load_scenario("scenarios/food.toml").params
    saddles = [eq for eq in equilibria(params, confirm=False) if eq.kind == "saddle"]
    assert len(saddles) == 1
    eq = saddles[0]
    g = model_loop_gains(params, eq.state)
    # The covers' sum is det(-J), the product of the negated eigenvalues of the equilibrium.
    assert g.determinant == pytest.approx(float(np.prod(-eq.eigenvalues).real), rel=1e-8)
    assert g.determinant < 0
    # Each cover term counted once per cycle in it.
    assert np.sum(g.contribution) == pytest.approx(sum(t * len(c) for c, t in g.covers))
    loop = g.saddle_loop
    assert loop is not None and loop.gain > 0
    assert loop.states == ("platform_share", "platform_trust") and "R1 trust–transactions" in loop.loops


def test_along_the_food_branch_the_saddle_side_is_where_det_is_negative():
    from model.analysis.continuation import continuation

    scenario = load_scenario("scenarios/food.toml")
    lo, hi = scenario.ranges["platform_quality"]
    cont = continuation(scenario.params, "platform_quality", lo, hi)
    gains = branch_loop_gains(scenario.params, cont)
    assert len(gains) == cont.values.size
    unstable = np.array([np.sum(g.eigenvalues.real > 0) for g in gains])
    det = np.array([g.determinant for g in gains])
    prod = np.array([np.prod(-g.eigenvalues).real for g in gains])
    np.testing.assert_allclose(det, prod, rtol=1e-8, atol=1e-14)
    saddle = unstable == 1
    assert saddle.sum() >= 5 and np.all(det[saddle] < 0) and np.all(det[cont.stable] > 0)
    names = {g.saddle_loop.states for g in np.array(gains)[saddle]}
    assert names == {("platform_share", "platform_trust")}
