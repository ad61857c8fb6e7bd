"""Tipping points: break-even identities, point of no return, equilibria, folds, basins, CLI.

The reduced case used for the analytic checks: standard network effect, no trust built
(``trust_gain = 0``, so T -> 0), no relational trust (``relational_gain = 0``), fixed
price. Then every equilibrium has T = R = 0, p = 1, K = q_I and platform share s solving

    λ (ΔQ + β s + 1 - p_P) = ln(c s / (h (1 - s))),

so ΔQ(s) along the branch is explicit and its folds are where dΔQ/ds = 0, which sympy
solves below: s (1 - s) = 1 / (λ β).
"""

import json

import numpy as np
import pytest
import sympy as sp
from numpy.testing import assert_allclose
from scipy.optimize import brentq

from model import Parameters, simulate
from model.analysis.continuation import continuation, fold_curve, parameter_derivative
from model.analysis.equilibria import equilibria, equilibrium_closed_forms, market_rhs
from model.analysis.tipping import basin, break_even_loss, point_of_no_return
from model.commands.cli import main
from model.core import _generated as gen
from model.core.equations import OUTPUT_NAMES, PARAM_NAMES, STATE_NAMES, param_vector

O = {n: i for i, n in enumerate(OUTPUT_NAMES)}

REDUCED = dict(network_effect="standard", trust_gain=0.0, relational_gain=0.0, price_policy="fixed",
               network_value=2.0)


@pytest.fixture(scope="module")
def reduced() -> Parameters:
    return Parameters(**REDUCED)


def analytic_folds(params: Parameters) -> list[tuple[float, float]]:
    """(s, ΔQ) at the folds of the reduced case, derived with sympy."""
    s, dq = sp.symbols("s dQ", real=True)
    lam, beta, c, h, pP = (sp.nsimplify(getattr(params, n)) for n in
                           ("value_sensitivity", "network_value", "churn_rate", "direct_adoption_rate",
                            "platform_price"))
    branch = sp.solve(sp.Eq(lam * (dq + beta * s + 1 - pP), sp.log(c * s / (h * (1 - s)))), dq)[0]
    folds = sp.solve(sp.diff(branch, s), s)
    return sorted((float(sf), float(branch.subs(s, sf))) for sf in folds)


def reduced_roots(params: Parameters) -> list[float]:
    """Equilibrium shares of the reduced case from the scalar equation (Brent on a fine grid)."""
    lam, beta, c, h, pP, dq = (params.value_sensitivity, params.network_value, params.churn_rate,
                               params.direct_adoption_rate, params.platform_price, params.platform_quality)

    def g(s):
        return lam * (dq + beta * s + 1 - pP) - np.log(c * s / (h * (1 - s)))

    grid = np.linspace(1e-9, 1 - 1e-9, 20001)
    v = g(grid)
    return [brentq(g, a, b, xtol=1e-15) for a, b, fa, fb in zip(grid[:-1], grid[1:], v[:-1], v[1:]) if fa * fb < 0]


# --- static break-even ---------------------------------------------------------------------------

def _state_with_volume(params: Parameters, volume: float, price: float) -> np.ndarray:
    """Initial state with the platform share set so that the incumbent sells ``volume`` at ``price``."""
    pvec = param_vector(params)
    y = gen.initial(pvec)
    y[3] = price

    def excess(s):
        y[0] = s
        return gen.outputs(y, pvec)[O["incumbent_volume"]] - volume

    y[0] = brentq(excess, 0.0, 1.0 - 1e-12, xtol=1e-15)
    return y


@pytest.mark.parametrize("policy", ["fixed", "two_part", "average_cost"])
def test_break_even_identity_for_each_price_policy(baseline, policy):
    """Operating profit crosses zero at the break-even loss (capacity as it is now)."""
    p = baseline.params.replace(price_policy=policy)
    pvec = param_vector(p)
    y0 = gen.initial(pvec)
    out0 = gen.outputs(y0, pvec)
    q0, revenue0 = out0[O["incumbent_volume"]], out0[O["incumbent_revenue"]]
    loss = break_even_loss(p)
    assert 0 < loss < 1
    if policy == "fixed":
        # Prices held: margin / (margin + fixed-cost share) at the start (MODEL.md).
        m = p.initial_margin
        assert_allclose(loss, m / (m + p.fixed_cost_share), rtol=1e-12, atol=0)
        assert_allclose(break_even_loss(p, policy="current_prices"), loss, rtol=1e-12, atol=0)

        def profit_at(L):
            y = _state_with_volume(p, (1 - L) * q0, 1.0)
            return gen.outputs(y, pvec)[O["operating_profit"]], y
    else:
        # Re-pricing: the bill per unit is the capped full-cost target at the lower
        # volume. The target depends on volume and capacity only, so read it at any
        # state with that volume, then put the incumbent at that price.
        def profit_at(L):
            q = (1 - L) * q0
            price = gen.outputs(_state_with_volume(p, q, 1.0), pvec)[O["target_price"]]
            y = _state_with_volume(p, q, price)
            assert_allclose(gen.outputs(y, pvec)[O["target_price"]], price, rtol=1e-12, atol=0)
            return gen.outputs(y, pvec)[O["operating_profit"]], y

    # Volume loss and gross loss differ when the price moves, so find the volume at
    # which profit is zero and check that its *gross* loss is the break-even loss.
    L_volume = brentq(lambda L: profit_at(L)[0], 0.0, 0.99, xtol=1e-14)
    _, y = profit_at(L_volume)
    gross_loss = 1 - gen.outputs(y, pvec)[O["incumbent_revenue"]] / revenue0
    assert_allclose(gross_loss, loss, rtol=1e-9, atol=1e-12)
    # And profit changes sign there: positive just before, negative just after.
    assert profit_at(L_volume - 1e-3)[0] > 0 > profit_at(L_volume + 1e-3)[0]


def test_break_even_loss_at_current_prices_along_a_simulation(baseline):
    """At every simulated state, profit = (p - v) q L with L the break-even loss at current
    prices: the loss crosses zero exactly when the simulated operating profit does."""
    for policy in ("average_cost", "two_part", "fixed"):
        p = baseline.params.replace(price_policy=policy)
        res = simulate(p, n_points=161)
        assert res.success and res.falls
        L = np.array([break_even_loss(p, np.array([res[n][k] for n in STATE_NAMES]), policy="current_prices")
                      for k in range(res.t.size)])
        margin = (res["incumbent_price"] - p.variable_cost_share) * res["incumbent_volume"]
        assert_allclose(res["operating_profit"], margin * L, rtol=1e-9, atol=1e-12)
        assert np.any(L > 0) and np.any(L < 0)  # the incumbent goes from profit to loss


# --- point of no return -------------------------------------------------------------------------

def test_point_of_no_return_is_consistent_with_simulation(baseline):
    p = baseline.params
    r = point_of_no_return(p, tol=0.01)
    assert r.outcome == "tips" and r.success
    lo, hi = r.bracket
    assert 0 < lo < hi <= lo + 0.01 and r.time == hi and r.tolerance == 0.01
    assert hi <= r.fall_time
    # A little before: the incumbent survives the horizon; a little after: it falls.
    before = simulate(p, freeze_acquisition_at=lo)
    after = simulate(p, freeze_acquisition_at=hi)
    assert before.success and not before.falls
    assert after.success and after.falls
    assert_allclose(after.fall_time, r.frozen_fall_time, rtol=1e-6, atol=1e-6)
    # Monotone in the freeze time away from the switch (the assumption of the bisection).
    assert not simulate(p, freeze_acquisition_at=0.5 * lo).falls
    assert simulate(p, freeze_acquisition_at=0.5 * (hi + r.fall_time)).falls
    # Share and gross loss are read on the unfrozen trajectory at lo and hi.
    free = simulate(p, t_eval=np.array([0.0, lo, hi]))
    assert_allclose(r.share_bracket, free["platform_share_of_gross"][1:3], rtol=1e-6, atol=1e-9)
    assert_allclose(r.gross_loss_bracket, free["incumbent_gross_loss"][1:3], rtol=1e-6, atol=1e-9)
    assert (r.share, r.gross_loss) == (r.share_bracket[1], r.gross_loss_bracket[1])
    assert 0 < r.share_bracket[0] <= r.share < 1


def test_point_of_no_return_outcomes(baseline):
    # Without direct adoption the platform never takes off from 0.1% (trust network
    # effect below its critical mass): the incumbent never falls.
    never = point_of_no_return(baseline.params.replace(direct_adoption_rate=0.0))
    assert never.outcome == "never_tips" and never.time is None and never.share is None
    assert not simulate(baseline.params.replace(direct_adoption_rate=0.0)).falls
    # A platform that already holds half the volume of a market it grew (cheap, elastic
    # demand) but loses its customers: the market shrinks back and the incumbent, with
    # capacity for the bigger market, falls even though the platform acquires nobody.
    p = baseline.params.replace(initial_platform_share=0.5, platform_price=0.05, demand_elasticity=3.0,
                                platform_quality=-2.0, initial_buffer=0.1)
    always = point_of_no_return(p)
    assert always.outcome == "always_falls" and always.time == 0.0 and always.bracket == (0.0, 0.0)
    assert simulate(p, freeze_acquisition_at=0.0).falls
    free = simulate(p)
    assert_allclose(always.share, free["platform_share_of_gross"][0], rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="`tol` must be a positive"):
        point_of_no_return(p, tol=0.0)
    with pytest.raises(ValueError, match="`method` must be one of"):
        point_of_no_return(p, method="Euler")


# --- equilibria ----------------------------------------------------------------------------------

def test_equilibrium_price_is_one_by_sympy():
    forms = equilibrium_closed_forms()
    assert forms["price_at_matched_capacity"] == 1


def _perturbed_run(params, y5, direction, years):
    y0 = np.append(y5 + 1e-4 * direction, 1000.0)  # buffer large: the run is not cut by a fall
    r = simulate(params.replace(horizon=years), y0=y0, t_eval=np.linspace(0, years, 401))
    assert r.success and not r.falls
    traj = np.stack([r[n] for n in STATE_NAMES[:5]])
    return np.max(np.abs(traj - y5[:, None]), axis=0)


@pytest.mark.parametrize("case", ["baseline", "no_direct_adoption", "reduced"])
def test_equilibria_are_zeros_with_stability_confirmed_by_simulation(baseline, case):
    params = {"baseline": baseline.params,
              "no_direct_adoption": baseline.params.replace(direct_adoption_rate=0.0),
              "reduced": Parameters(**REDUCED, platform_quality=-0.7)}[case]
    pvec = param_vector(params)
    eqs = equilibria(params)
    assert len(eqs) == {"baseline": 1, "no_direct_adoption": 3, "reduced": 3}[case]
    for e in eqs:
        # A zero of the right-hand side, with price 1 and capacity matched to volume.
        assert np.max(np.abs(market_rhs(e.state, pvec))) < 1e-10
        out = gen.outputs(np.append(e.state, 1.0), pvec)
        assert_allclose(e.state[3], 1.0, rtol=0, atol=1e-10)
        assert_allclose(e.state[4], out[O["incumbent_volume"]], rtol=1e-10, atol=1e-12)
        assert_allclose(e.buffer_drift, gen.rhs(np.append(e.state, 1.0), pvec)[5], rtol=1e-12, atol=1e-15)
        # At an equilibrium (price 1, capacity = volume) the drift is m (q_I - d q_I0): the
        # incumbent falls there iff it has lost more than a share d of its volume.
        q0 = gen.outputs(gen.initial(pvec), pvec)[O["incumbent_volume"]]
        assert_allclose(e.buffer_drift, params.initial_margin * (out[O["incumbent_volume"]] - params.committed_payout * q0),
                        rtol=1e-9, atol=1e-12)
        assert e.confirmed, e.confirmation
        # Independent check of the stability by simulation from a perturbed start.
        if e.stable:
            slow = np.min(np.abs(e.eigenvalues.real))
            dist = _perturbed_run(params, e.state, np.ones(5) / np.sqrt(5), min(200.0, 6 / slow))
            assert dist[-1] < 0.1 * dist[0]
        else:
            J = gen.jac(np.append(e.state, 1.0), pvec)[:5, :5]
            ev, vecs = np.linalg.eig(J)
            v = np.real(vecs[:, np.argmax(ev.real)])
            v = v if v[0] >= 0 else -v  # into the state space at s = 0
            dist = _perturbed_run(params, e.state, v / np.linalg.norm(v), min(200.0, 8 / ev.real.max()))
            assert dist.max() > 10 * dist[0]
    kinds = [e.kind for e in eqs]
    if case == "reduced":
        # Stable, saddle, stable (the S-shaped branch) at the analytic roots.
        assert kinds == ["stable node", "saddle", "stable node"]
        assert_allclose([e.state[0] for e in eqs], reduced_roots(params), rtol=0, atol=1e-9)
        # The Jacobian is block-triangular: its eigenvalues are dG/ds and the decay rates.
        for e in eqs:
            s = e.state[0]
            lam, beta, c, h = params.value_sensitivity, params.network_value, params.churn_rate, \
                params.direct_adoption_rate
            A = 0.5 * (1 + np.tanh(0.5 * lam * (params.platform_quality + beta * s - params.platform_price + 1)))
            dA = lam * beta * A * (1 - A)
            dG = dA * h * (1 - s) - A * h + dA * c * s - (1 - A) * c
            expected = sorted([dG, -params.trust_decay, -params.relational_decay, -1 / params.price_adjustment_time,
                               -1 / params.capacity_adjustment_time])
            assert_allclose(np.sort(e.eigenvalues.real), expected, rtol=1e-8, atol=1e-12)
    if case == "no_direct_adoption":
        # No platform (incumbent survives), the critical mass (saddle), the platform's branch.
        assert eqs[0].state[0] == 0.0 and eqs[0].stable and eqs[0].buffer_drift > 0
        assert kinds[1] == "saddle" and 0 < eqs[1].state[0] < 0.1


def test_held_trust_states(baseline):
    """trust_gain = trust_decay = 0: every trust is an equilibrium value; T is held at T0."""
    p = baseline.params.replace(trust_gain=0.0, trust_decay=0.0, relational_gain=0.0, relational_decay=0.0)
    eqs = equilibria(p)
    assert eqs and all(e.held == ("platform_trust", "relational_trust") for e in eqs)
    for e in eqs:
        assert e.state[1] == p.initial_trust and e.state[2] == p.initial_relational_trust
        assert np.max(np.abs(market_rhs(e.state, param_vector(p)))) < 1e-10
        assert len(e.eigenvalues) == 3 and e.confirmed


# --- continuation and folds ----------------------------------------------------------------------

def test_continuation_finds_the_analytic_folds(reduced):
    folds = analytic_folds(reduced)
    assert len(folds) == 2
    branch = continuation(reduced, "platform_quality", -2.0, 1.0)
    assert branch.success, branch.message
    assert len(branch.folds) == 2
    for fold, (s_f, dq_f) in zip(sorted(branch.folds, key=lambda f: f.state[0]), folds):
        assert abs(fold.parameter_value - dq_f) < 1e-6
        assert abs(fold.state[0] - s_f) < 1e-6
        # A fold: an equilibrium with a singular Jacobian.
        pvec = param_vector(reduced.replace(platform_quality=fold.parameter_value))
        assert np.max(np.abs(market_rhs(fold.state, pvec))) < 1e-10
        assert np.min(np.abs(np.linalg.eigvals(gen.jac(np.append(fold.state, 1.0), pvec)[:5, :5]))) < 1e-8
    # Hysteresis: two stable equilibria exactly between the folds.
    lo, hi = sorted(dq for _, dq in folds)
    assert_allclose(branch.hysteresis, (lo, hi), rtol=0, atol=1e-6)
    # Every branch point is an equilibrium; the middle part (between the fold shares) is unstable.
    s_lo, s_hi = folds[0][0], folds[1][0]
    for value, y, stable in zip(branch.values, branch.states, branch.stable):
        assert np.max(np.abs(market_rhs(y, param_vector(reduced.replace(platform_quality=value))))) < 1e-9
        if s_lo + 1e-3 < y[0] < s_hi - 1e-3:
            assert not stable
        elif y[0] < s_lo - 1e-3 or y[0] > s_hi + 1e-3:
            assert stable


def test_parameter_derivative_matches_finite_difference(baseline):
    p = baseline.params
    y = np.array([0.3, 0.5, 0.2, 1.3, 0.8])
    for name in ("platform_quality", "demand_elasticity", "fixed_cost_share", "value_sensitivity"):
        pvec = param_vector(p)
        i = PARAM_NAMES.index(name)
        h = 1e-6
        up, down = pvec.copy(), pvec.copy()
        up[i] += h
        down[i] -= h
        fd = (market_rhs(y, up) - market_rhs(y, down)) / (2 * h)
        # Central difference error ~ h^2 |f'''| + round-off 1e-16 / h ~ 1e-10.
        assert_allclose(parameter_derivative(name, y, pvec), fd, rtol=1e-6, atol=1e-8)


def test_fold_curve_matches_the_analytic_curve_and_one_parameter_folds(reduced):
    curve = fold_curve(reduced, "platform_quality", (-2.0, 1.0), "network_value", (1.0, 3.0), n_seeds=3)
    assert curve.success, curve.message
    assert len(np.unique(curve.curve)) == 2  # the lower and the upper fold
    lam, c, h, pP = reduced.value_sensitivity, reduced.churn_rate, reduced.direct_adoption_rate, \
        reduced.platform_price
    for (dq, beta), y in zip(curve.points, curve.states):
        s = y[0]
        # On the fold: s (1 - s) = 1 / (λ β) and ΔQ on the equilibrium branch.
        assert abs(s * (1 - s) - 1 / (lam * beta)) < 1e-8
        assert abs(dq - (np.log(c * s / (h * (1 - s))) / lam - beta * s - 1 + pP)) < 1e-8
    # Two methods agree: the one-parameter folds at β = 2.5 lie on the curves.
    branch = continuation(reduced.replace(network_value=2.5), "platform_quality", -2.0, 1.0)
    for fold in branch.folds:
        for k in np.unique(curve.curve):
            pts = curve.points[curve.curve == k]
            order = np.argsort(pts[:, 1])
            x_at = np.interp(2.5, pts[order, 1], pts[order, 0])
            if abs(x_at - fold.parameter_value) < 1e-2:  # this curve; interpolation error ~1e-4
                break
        else:
            pytest.fail(f"fold at {fold.parameter_value} is on no fold curve")


def test_fixed_cost_share_does_not_move_the_folds(baseline):
    """Equilibria have p = 1 and K = q_I whatever φ, so the fold curve in (ΔQ, φ) is vertical:
    the fixed-cost share acts only in the transient (the capacity trap and price spiral)."""
    p = baseline.params.replace(direct_adoption_rate=0.005)
    curve = fold_curve(p, "platform_quality", (-1.5, 0.3), "fixed_cost_share", (0.4, 0.75), n_seeds=2)
    assert curve.success and len(np.unique(curve.curve)) == 2
    folds = continuation(p, "platform_quality", -1.5, 0.3).folds
    assert len(folds) == 2
    fold_values = sorted(f.parameter_value for f in folds)
    curve_values = []
    for k in np.unique(curve.curve):
        x, phi = curve.points[curve.curve == k].T
        assert np.ptp(phi) == pytest.approx(0.35, abs=1e-12)  # spans the whole φ range
        assert np.ptp(x) < 1e-9  # at one value of ΔQ
        curve_values.append(x[0])
    assert_allclose(sorted(curve_values), fold_values, rtol=0, atol=1e-9)


def test_continuation_validation(baseline):
    p = baseline.params
    with pytest.raises(ValueError, match="cannot continue in 'horizon'"):
        continuation(p, "horizon", 10, 20)
    with pytest.raises(ValueError, match="cannot continue in 'price_policy'"):
        continuation(p, "price_policy", 0, 1)
    with pytest.raises(ValueError, match="low < high"):
        continuation(p, "platform_quality", 0.3, -0.3)
    with pytest.raises(ValueError, match="`network_value` must be in"):
        continuation(p, "network_value", 0.5, 5.0)
    with pytest.raises(ValueError, match="must differ"):
        fold_curve(p, "network_value", (0, 1), "network_value", (0, 1))


# --- basins --------------------------------------------------------------------------------------

def test_basin_separatrix_separates_the_outcomes(baseline):
    p = baseline.params.replace(direct_adoption_rate=0.0)
    b = basin(p, x_range=(0.0, 0.2), y_range=(0.0, 1.0), n=5, tol=1e-3)
    assert b.falls.shape == (5, 5) and np.all(b.status >= 0) and not b.messages
    # More platform share never saves the incumbent: along each row falls is monotone.
    assert np.all(np.diff(b.falls.astype(int), axis=1) >= 0)
    assert b.falls.any() and not b.falls.all()
    assert len(b.separatrix) >= 5
    base = b.base_state
    for x, y in b.separatrix:
        on_row = np.any(np.isclose(b.y, y, rtol=0, atol=1e-15))
        if not on_row:
            continue
        outcomes = []
        for dx in (-b.tolerance[0], b.tolerance[0]):
            y0 = base.copy()
            y0[0], y0[1] = x + dx, y
            outcomes.append(simulate(p, y0=y0, t_eval=np.array([0.0, p.horizon])).falls)
        assert outcomes == [False, True]
    with pytest.raises(ValueError, match="`x` must be one of"):
        basin(p, x="trust")
    with pytest.raises(ValueError, match="`y_range`"):
        basin(p, y_range=(0.0, 2.0))


# --- command line --------------------------------------------------------------------------------

def test_cli_json(baseline, baseline_path, capsys):
    code = main(["tipping", str(baseline_path), "--json", "--continue", "platform_quality", "--range=-2:0.3"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(out) >= {"break_even_loss", "point_of_no_return", "equilibria", "folds"}
    assert set(out["point_of_no_return"]) >= {"share", "gross_loss", "bracket", "outcome"}
    assert out["point_of_no_return"]["outcome"] == "tips"
    assert all(set(e) >= {"state", "stable"} for e in out["equilibria"]) and out["equilibria"]
    assert out["folds"] and all(set(f) >= {"parameter_value", "state"} for f in out["folds"])
    assert out["point_of_no_return"]["share"] == point_of_no_return(baseline.params).share


def test_cli_errors(baseline_path, capsys):
    assert main(["tipping", str(baseline_path), "--continue", "nonsense"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nonsense" in err
    assert main(["tipping", str(baseline_path), "--continue", "network_value", "--range", "1:x"]) == 2
    assert "--range" in capsys.readouterr().err
    assert main(["tipping", str(baseline_path), "--continue", "network_value", "--range", "0.5:9"]) == 2
    assert "network_value" in capsys.readouterr().err
    assert main(["tipping", str(baseline_path), "--range", "0:1"]) == 2
    assert "--range needs --continue" in capsys.readouterr().err
