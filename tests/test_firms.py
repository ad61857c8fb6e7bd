"""A sector of several incumbent firms (issue 12): the one-firm model is the special case,
equal firms add up to one, every customer of an exiting firm is reassigned, the most
leveraged firm goes first, and "Highland Park falls" is half the capacity exited."""

from __future__ import annotations

import numpy as np
import pytest

from model import load_scenario
from model.core import codegen
from model.core.equations import FIRM_VARYING, build, param_names, state_names
from model.core.parameters import PARAMETER_SPECS
from model.core.firms import SECTOR_FALL_CAPACITY, firm_param_vector, population
from model.core.simulate import simulate


@pytest.fixture(scope="module")
def newspapers():
    # Firms alike unless a test spreads them (the file's own spreads set to 0).
    p = load_scenario("scenarios/newspapers.toml").params
    alike = {n: 0.0 for n, s in PARAMETER_SPECS.items() if s.group == "firms" and n.startswith("firm_spread")}
    return p.replace(insolvency="liquidation", firm_size_inequality=0.0, **alike)


def test_generated_modules_of_firms_are_current():
    # Two firms is fast to generate; the larger counts come from the same code path.
    assert codegen.generated_path(2).read_text() == codegen.generate_source(2), "run `python -m model codegen`"
    for n in codegen.FIRM_COUNTS:
        head = codegen.generated_path(n).read_text()
        assert f"N_FIRMS = {n}" in head


def test_one_firm_of_the_population_model_is_the_aggregate_model():
    # The one definition with n = 1 has the aggregate model's states, parameters and
    # right-hand side (the committed one-firm module is its generation: test_equations).
    model = build(1)
    assert tuple(s.name for s in model.states) == state_names(1)
    assert tuple(s.name for s in model.params) == param_names(1)
    two = build(2)
    assert len(two.states) == 3 + 3 * 2 + 1 + 1


def test_population_places_each_quantile_once_and_keeps_the_sector_mean():
    p = load_scenario("scenarios/baseline.toml").params.replace(
        firm_count=8, firm_spread_debt=0.5, firm_spread_fixed_cost=0.2, firm_size_inequality=0.0)
    firms = population(p)
    z = (firms.values["debt_service"] / p.debt_service - 1.0) / 0.5
    assert np.allclose(np.sort(z), (np.arange(8) + 0.5) / 4 - 1.0)  # the centred quantiles of [-1, 1]
    assert firms.values["debt_service"].mean() == pytest.approx(p.debt_service)
    assert firms.values["fixed_cost_share"].mean() == pytest.approx(p.fixed_cost_share)
    assert np.allclose(firms.sizes, 1 / 8)
    # Unequal sizes: rank^-1 normalised, the largest firm twice the second.
    sizes = np.sort(population(p.replace(firm_size_inequality=1.0)).sizes)[::-1]
    assert sizes[0] / sizes[1] == pytest.approx(2.0)
    assert sizes.sum() == pytest.approx(1.0)
    # A file always means the same firms.
    assert np.array_equal(population(p).values["debt_service"], firms.values["debt_service"])


def test_equal_firms_behave_as_one_firm_until_the_first_exit(newspapers):
    for n in (2, 4):
        one = simulate(newspapers, rtol=1e-9, atol=1e-12, method="Radau")
        many = simulate(newspapers.replace(firm_count=n), rtol=1e-9, atol=1e-12, method="Radau")
        assert one.falls and many.firms.failed == n
        assert many.firms.insolvency_time[0] == pytest.approx(one.fall_time, abs=1e-6)
        upto = one.t.size - 1
        for name in ("platform_share", "platform_trust", "incumbent_revenue", "capacity", "buffer"):
            assert np.allclose(one[name][:upto], many[name][:upto], rtol=1e-6, atol=1e-7), name


def test_every_customer_of_an_exiting_firm_is_reassigned(newspapers):
    p = newspapers.replace(firm_count=4, firm_spread_debt=0.8, firm_spread_buffer=0.6, firm_size_inequality=0.7,
                           captive_share=0.2)
    r = simulate(p)
    assert r.success and r.firms.failed >= 2
    customers = np.array([r[f"firm_customers_{i}"] for i in range(1, 5)])
    # Conservation at every output time, before and after every exit.
    assert np.allclose(r["platform_share"] + customers.sum(axis=0), 1.0, atol=1e-9)
    for point in r.firms.exit_curve[:-1]:
        after = r.t > point["t"]
        assert np.all(np.abs(customers[point["firm"] - 1, after]) < 1e-7)
    # The captive customers never reach the platform.
    assert np.max(r["platform_share"]) <= 1 - p.captive_share + 1e-9


def test_the_most_leveraged_firm_exits_first(newspapers):
    p = newspapers.replace(firm_count=4, firm_spread_debt=0.9)
    r = simulate(p)
    debt = r.firms.values["debt_service"]
    order = [point["firm"] - 1 for point in r.firms.exit_curve]
    assert len(order) >= 2
    assert order == sorted(order, key=lambda k: -debt[k])
    falls = r.firms.fall_time
    assert np.all(np.diff(falls[np.argsort(-debt)][:len(order)]) > 0)


def test_the_sector_falls_when_half_its_capacity_has_exited(newspapers):
    p = newspapers.replace(firm_count=4, firm_spread_debt=0.9, firm_size_inequality=1.0)
    r = simulate(p)
    curve = r.firms.exit_curve
    assert r.falls
    crossing = next(pt for pt in curve if pt["capacity_exited"] >= SECTOR_FALL_CAPACITY)
    assert r.fall_time == crossing["t"]
    before = [pt for pt in curve if pt["t"] < r.fall_time]
    assert all(pt["capacity_exited"] < SECTOR_FALL_CAPACITY for pt in before)
    assert r.share_at_fall == pytest.approx(crossing["platform_share_of_gross"])
    assert r.gross_loss_at_fall == pytest.approx(crossing["incumbent_gross_loss"])
    # The exit curve only rises, and each firm's insolvency is no later than its exit.
    exited = [pt["capacity_exited"] for pt in curve]
    assert exited == sorted(exited)
    done = np.isfinite(r.firms.fall_time)
    assert np.all(r.firms.insolvency_time[done] <= r.firms.fall_time[done])


def test_reorganisation_writes_a_firm_down_before_it_exits(newspapers):
    p = newspapers.replace(firm_count=2, firm_spread_debt=0.5, insolvency="reorganisation")
    r = simulate(p)
    assert r.success
    k = int(np.nanargmin(r.firms.insolvency_time))
    assert r.firms.insolvency_time[k] < (r.firms.fall_time[k] if np.isfinite(r.firms.fall_time[k]) else np.inf)


def test_the_parameter_vector_carries_each_firm(newspapers):
    p = newspapers.replace(firm_count=4, firm_spread_fixed_cost=0.3)
    pv = firm_param_vector(p)
    names = param_names(4)
    assert pv.size == len(names)
    for i in range(1, 5):
        assert pv[names.index(f"firm_alive_{i}")] == 1.0
    fixed = [pv[names.index(f"fixed_cost_share_{i}")] for i in range(1, 5)]
    assert np.allclose(sorted(fixed), sorted(population(p).values["fixed_cost_share"]))
    assert set(FIRM_VARYING) <= set(n.rsplit("_", 1)[0] for n in names if n[-1].isdigit())


def _drawn_sectors(n_firms, per_file, files, seed):
    from dataclasses import replace

    from model.studies.verdict import draw_parameters

    params = []
    for i, name in enumerate(files):
        scenario = load_scenario(f"scenarios/{name}.toml")
        scenario = replace(scenario, params=scenario.params.replace(firm_count=n_firms))
        params += draw_parameters(scenario, per_file, seed + i)[2]
    return params


def test_the_engine_follows_every_firm_as_simulate_does_on_300_sectors():
    # 300 heterogeneous sectors of 4 firms (the files' ranges, firm spreads and sizes
    # drawn): the engine (DOPRI5, exits between kernel passes) and simulate (LSODA, events)
    # agree on which firms exit and when, within the solvers' tolerances.
    from model.core import engine

    params = _drawn_sectors(4, 50, ["newspapers", "hotels", "crafts", "publishing", "universities", "chronic_care"], 7)
    pv, _, horizon = engine.pvecs_from_params(params)
    reorganise = [p.insolvency == "reorganisation" for p in params]
    res = engine.integrate(pv, t_end=horizon, reorganise=reorganise, after_fall="continue", rtol=1e-8, atol=1e-10)
    assert np.all(res.success)
    exits = 0
    for i, p in enumerate(params):
        ref = simulate(p, method="LSODA", rtol=1e-10, atol=1e-12)
        a, b = ref.firms.fall_time, res.sectors[i].fall_time
        assert np.array_equal(np.isfinite(a), np.isfinite(b)), (i, a, b)
        np.testing.assert_allclose(b[np.isfinite(b)], a[np.isfinite(a)], atol=1e-3)
        np.testing.assert_allclose(res.sectors[i].share_at_fall, ref.firms.share_at_fall, atol=1e-4)
        assert res.falls[i] == ref.falls
        if ref.falls:
            assert res.fall_time[i] == pytest.approx(ref.fall_time, abs=1e-3)
        exits += int(np.sum(np.isfinite(a)))
    # The check has teeth: many firms exit, and many sectors fall, some not.
    assert exits > 200 and 0.1 < res.falls.mean() < 0.9


def test_equal_firms_in_the_engine_fall_as_the_one_firm_engine(newspapers):
    # n equal firms are one firm of n times the size: they fall together, at the one-firm
    # fall time, and the sector falls then (all its capacity exits at once).
    from model.core import engine

    def run(p):
        pv, y0, horizon = engine.pvecs_from_params([p])
        return engine.integrate(pv, y0, t_end=horizon, rtol=1e-9, atol=1e-12)

    one, four = run(newspapers), run(newspapers.replace(firm_count=4))
    assert one.falls[0] and four.falls[0]
    assert four.fall_time[0] == pytest.approx(one.fall_time[0], rel=1e-6)
    np.testing.assert_allclose(four.firm_array("fall_time")[0], one.fall_time[0], rtol=1e-6)
    assert four.share_at_fall[0] == pytest.approx(one.share_at_fall[0], rel=1e-5)


def test_the_engine_point_of_no_return_of_a_sector_is_the_bisection_with_simulate():
    # The tipping measure reads the sector's fall: the engine's batch and the shared
    # bisection with simulate give the same point of no return for sectors of firms.
    from model.analysis.tipping import point_of_no_return
    from model.core import engine

    params = _drawn_sectors(4, 4, ["newspapers", "crafts"], 3)
    pv, y0, horizon = engine.pvecs_from_params(params)
    # Within the horizon (window="horizon"): simulate's LSODA with a difference Jacobian of
    # a sector of firms is slow over the long-run window's two centuries; the long-run
    # window itself is checked against simulate for one firm (tests/test_ponr_long_run.py).
    batch = engine.point_of_no_return_batch(pv, y0, horizon, tol=0.01, rtol=1e-8, atol=1e-10,
                                            reorganise=[p.insolvency == "reorganisation" for p in params],
                                            window="horizon")
    tips = 0
    for i, p in enumerate(params):
        ref = point_of_no_return(p, tol=0.01, window="horizon")
        assert batch.outcome_names[i] == ref.outcome, i
        if ref.outcome == "tips":
            tips += 1
            assert batch.time[i] == pytest.approx(ref.time, abs=0.03)
            assert batch.share[i] == pytest.approx(ref.share, abs=0.01)
    assert tips >= 2


def test_a_batch_holds_sectors_of_one_size(newspapers):
    from model.core.engine import integrate, pvecs_from_params

    with pytest.raises(ValueError, match="firm_count"):
        pvecs_from_params([newspapers, newspapers.replace(firm_count=4)])
    with pytest.raises(ValueError, match="param_names"):
        integrate(np.zeros((2, 60)), t_end=10.0)


def test_the_firms_study_reports_each_draws_failures(tmp_path, capsys):
    import json
    from dataclasses import replace

    from model.commands.cli import main
    from model.studies.firms import READINGS, sector_firms
    from model.studies.verdict import draw_parameters

    scenario = load_scenario("scenarios/newspapers.toml")
    study = sector_firms(scenario, draws=4, seed=3, n_firms=2)
    _, _, drawn = draw_parameters(replace(scenario, params=scenario.params.replace(firm_count=2)), 4, 3,
                                  key=scenario.name)
    for i, p in enumerate(drawn):  # the same draws, run one by one, give the same points
        first = simulate(p).firms.first_failure()
        for reading in READINGS:
            got = study.values["first_failure"][reading][i]
            assert (first is None and np.isnan(got)) or got == pytest.approx(first[reading], abs=1e-4)  # engine vs LSODA
    assert 0.0 <= study.reached["half_exited"] <= study.reached["first_failure"] <= 1.0
    assert main(["firms", "scenarios/newspapers.toml", "--n", "2", "--draws", "4", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["first_failure"]["reached"] == study.reached["first_failure"]


def test_an_exited_firm_leaves_a_finite_jacobian(newspapers):
    # Competitive pricing reads |c|^θ of a firm's customers; a firm that has exited has none,
    # and its slope must not turn the solver's Jacobian into NaN (0 · inf).
    from model.core.sector import generated_module

    p = newspapers.replace(firm_count=2, price_policy="competitive", price_response=0.5)
    gen = generated_module(2)
    pv = firm_param_vector(p)
    pv[param_names(2).index("firm_alive_2")] = 0.0
    y = gen.initial(pv)
    names = state_names(2)
    y[0] = 0.4
    y[names.index("firm_customers_1")] = 0.6  # firm 2 (the residual) has no customer left
    assert np.all(np.isfinite(gen.jac(y, pv)))
    assert np.all(np.isfinite(gen.rhs(y, pv)))
