"""Loops That Matter scores (model.analysis.loops): a textbook case with a closed form, the
scores' sums as LTM defines them, the chain-rule rates against finite differences of the
run, and the baseline's named loops and the loop dominant at its point of no return."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from model.analysis.causal import causal_structure
from model.analysis.loops import dominance_shifts, dominant_at_point_of_no_return, loop_scores, score_loops
from model.evidence.scenarios import load_scenario

R_GROWTH, CAPACITY, X0 = 0.8, 100.0, 1.0


def logistic():
    """dx/dt = r x (1 - x/K) as an inflow r x and an outflow r x^2 / K, with its exact run."""
    x, inflow, outflow = sp.symbols("x inflow outflow")
    definitions = {"x": inflow - outflow, "inflow": R_GROWTH * x, "outflow": R_GROWTH * x ** 2 / CAPACITY}
    t = np.linspace(0.0, 12.0, 1201)
    values = {"x": CAPACITY / (1 + (CAPACITY / X0 - 1) * np.exp(-R_GROWTH * t))}
    loops = [("x", "inflow"), ("x", "outflow")]
    return score_loops(definitions, ["x"], values, loops, t, names=["R growth", "B crowding"])


def test_logistic_link_and_loop_scores_have_the_closed_form():
    # Growth loop: 1 / |1 - 2x/K|; crowding loop: -(2x/K) / |1 - 2x/K| (LTM, continuous time).
    sc = logistic()
    x = CAPACITY / (1 + (CAPACITY / X0 - 1) * np.exp(-R_GROWTH * sc.t))
    u = 2 * x / CAPACITY
    np.testing.assert_allclose(sc.links[("x", "inflow")], 1.0)
    np.testing.assert_allclose(sc.scores[0], 1 / np.abs(1 - u), rtol=1e-9)
    np.testing.assert_allclose(sc.scores[1], -u / np.abs(1 - u), rtol=1e-9)
    np.testing.assert_allclose(sc.relative[0], 1 / (1 + u), rtol=1e-9)
    np.testing.assert_allclose(sc.relative[1], -u / (1 + u), rtol=1e-9)
    np.testing.assert_allclose(np.sum(np.abs(sc.relative), axis=0), 1.0, rtol=1e-12)


def test_logistic_dominance_shifts_at_half_capacity():
    # The reinforcing loop dominates while x < K/2, the balancing one after: one shift, at
    # t = ln((K - x0) / x0) / r = 5.7439 years.
    sc = logistic()
    shifts = sc.shifts()
    assert [(a, b) for _, a, b in shifts] == [(0, 1)]
    exact = np.log((CAPACITY - X0) / X0) / R_GROWTH
    assert shifts[0][0] == pytest.approx(exact, abs=1e-4)  # linear interpolation on a 0.01-yr grid
    assert sc.dominant[0] == 0 and sc.dominant[-1] == 1


def test_two_stock_predator_prey_sums_signs_and_rates():
    # Two stocks (Lotka-Volterra): prey births R, prey deaths B, predator deaths B, and the
    # two-stock loop prey -> predator births -> predator -> prey deaths -> prey, B.
    x, y, bx, dx, by, dy = sp.symbols("x y births_x deaths_x births_y deaths_y")
    a, b, c, d = 1.0, 0.5, 0.5, 0.8
    definitions = {"x": bx - dx, "y": by - dy, "births_x": a * x, "deaths_x": b * x * y,
                   "births_y": c * x * y, "deaths_y": d * y}
    from scipy.integrate import solve_ivp
    sol = solve_ivp(lambda t, z: [a * z[0] - b * z[0] * z[1], c * z[0] * z[1] - d * z[1]], (0, 5), [1.0, 0.5],
                    t_eval=np.linspace(0, 5, 2001), rtol=1e-11, atol=1e-12)
    loops = [("x", "births_x"), ("x", "deaths_x"), ("y", "deaths_y"), ("x", "births_y", "y", "deaths_x")]
    sc = score_loops(definitions, ["x", "y"], {"x": sol.y[0], "y": sol.y[1]}, loops, sol.t)
    ok = np.all(np.isfinite(sc.relative), axis=0)
    assert ok.mean() > 0.99
    np.testing.assert_allclose(np.sum(np.abs(sc.relative[:, ok]), axis=0), 1.0, rtol=1e-12)
    assert np.all(sc.scores[0][ok] > 0) and np.all(sc.scores[1][ok] < 0) and np.all(sc.scores[2][ok] < 0)
    assert np.all(sc.scores[3][ok] < 0)
    # Closed form of one link: births_x -> x is a / (a - b y - b x dy/dx) ... checked as
    # d(births_x)/dt over d(net flow of x)/dt, the latter by central differences (two methods).
    net = a * sol.y[0] - b * sol.y[0] * sol.y[1]
    fd = np.gradient(net, sol.t)
    inner = slice(2, -2)
    np.testing.assert_allclose(sc.rates["x"][inner], fd[inner], atol=2e-5 * np.max(np.abs(fd)))
    expected = np.abs(a * net / sc.rates["x"])
    np.testing.assert_allclose(sc.links[("births_x", "x")][ok], expected[ok], rtol=1e-9)


def test_score_loops_refuses_a_stray_symbol_and_a_missing_link():
    x, f = sp.symbols("x f")
    with pytest.raises(ValueError, match="not nodes"):
        score_loops({"x": f, "f": 2 * x + sp.Symbol("q")}, ["x"], {"x": np.ones(3)}, [("x", "f")], np.arange(3.0))
    with pytest.raises(ValueError, match="does not use"):
        score_loops({"x": f, "f": 2.0 + 0 * x}, ["x"], {"x": np.ones(3)}, [("x", "f")], np.arange(3.0))
    with pytest.raises(ValueError, match="shape"):
        dominance_shifts(np.arange(3.0), np.ones((2, 4)))


def test_dominance_shift_by_interpolation():
    t = np.array([0.0, 1.0, 2.0])
    rel = np.array([[0.8, 0.55, 0.2], [0.2, 0.45, 0.8]])
    # |a| - |b| goes 0.1 -> -0.6 between t = 1 and t = 2: crossing at 1 + 0.1 / 0.7.
    assert dominance_shifts(t, rel) == [(pytest.approx(1 + 0.1 / 0.7), 0, 1)]


@pytest.fixture(scope="module")
def baseline():
    params = load_scenario("scenarios/baseline.toml").params
    return params, loop_scores(params, samples=400)


def test_baseline_loops_are_the_diagrams_and_named(baseline):
    params, sc = baseline
    structure = causal_structure(params)
    assert [lp.nodes for lp in sc.loops] == [lp.nodes for lp in structure.loops]
    names = dict(zip((lp.nodes for lp in sc.loops), sc.names))
    assert names[("platform_share", "churn")] == "B1 churn"
    assert names[("platform_share", "platform_volume", "platform_trust", "adoption")] == "R1 trust–transactions"
    assert len(set(sc.names)) == len(sc.names)
    ok = np.all(np.isfinite(sc.relative), axis=0)
    assert ok.mean() > 0.95
    np.testing.assert_allclose(np.sum(np.abs(sc.relative[:, ok]), axis=0), 1.0, rtol=1e-12)
    # Polarities hold wherever the loop's sign is determined.
    for lp, s in zip(sc.loops, sc.scores):
        s = s[np.isfinite(s) & (np.abs(s) > 1e-12 * np.nanmax(np.abs(s)))]
        if lp.polarity == "R":
            assert np.all(s > 0)
        elif lp.polarity == "B":
            assert np.all(s < 0)


def test_baseline_rates_agree_with_finite_differences_of_the_run(baseline):
    # Two methods: the chain-rule rates of change against central differences of the
    # simulated series (auxiliaries the run also reports).
    from model.core.simulate import simulate

    params, sc = baseline
    run = simulate(params, t_eval=sc.t)  # the run the scores were taken along
    n = sc.t.size  # a falling run repeats the fall time as its last entry
    np.testing.assert_array_equal(run.t[:n], sc.t)
    inner = slice(5, -5)
    for name in ("incumbent_volume", "platform_volume", "incumbent_cost"):
        fd = np.gradient(run.series[name][:n], sc.t)
        scale = np.max(np.abs(sc.rates[name][inner]))
        assert np.max(np.abs(fd[inner] - sc.rates[name][inner])) < 2e-2 * scale, name
    # A stock's rate here is d/dt of its net flow: for the share, of adoption - churn.
    net = run.series["adoption"][:n] - run.series["churn"][:n]
    fd = np.gradient(net, sc.t)
    scale = np.max(np.abs(sc.rates["platform_share"][inner]))
    assert np.max(np.abs(fd[inner] - sc.rates["platform_share"][inner])) < 2e-2 * scale


def test_baseline_dominant_loop_at_the_point_of_no_return(baseline):
    params, sc = baseline
    out = dominant_at_point_of_no_return(params, scores=sc)
    assert out["outcome"] == "tips"
    assert 0 < out["time"] < sc.t[-1]
    assert out["loop"] in sc.names
    assert 0.2 < abs(out["relative_score"]) <= 1.0
    # Dominance changes hands several times over the run, at increasing times.
    shifts = sc.shifts()
    assert len(shifts) >= 2
    times = [s[0] for s in shifts]
    assert times == sorted(times) and 0 <= times[0] and times[-1] <= sc.t[-1]


def test_loop_scores_validates_its_arguments(baseline):
    params, _ = baseline
    with pytest.raises(ValueError, match="samples"):
        loop_scores(params, samples=2)
    with pytest.raises(ValueError, match="until"):
        loop_scores(params, until=-1.0)


def test_cli_loops_names_the_loop_dominant_at_newspapers_point_of_no_return(capsys):
    import json

    from model.commands.cli import main

    assert main(["loops", "scenarios/newspapers.toml", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    at = out["point_of_no_return"]
    assert at["outcome"] == "tips" and 0 < at["time"] < out["run_end"]
    assert at["loop"] in [lp["name"] for lp in out["loops"]]
    assert at["acting_as"] == ("reinforcing" if at["relative_score"] > 0 else "balancing")
    shares = [lp["share_of_run_dominant"] for lp in out["loops"]]
    assert sum(shares) == pytest.approx(1.0)
    assert [s["time"] for s in out["shifts"]] == sorted(s["time"] for s in out["shifts"])
    assert main(["loops", "scenarios/newspapers.toml"]) == 0
    assert "At the point of no return" in capsys.readouterr().out
    assert main(["loops", "scenarios/newspapers.toml", "--samples", "2"]) == 2
    assert "--samples must be at least 3" in capsys.readouterr().err


def test_loop_names_follow_mechanism_and_polarity_in_every_sector():
    # The same mechanism gets the same code wherever its polarity is the same; the
    # fixed-charge price loop is a spiral (R) under average-cost pricing and a defence (B)
    # under the competitive price, by the sign the equations give its links.
    import glob

    from model.analysis.loops import MECHANISMS, loop_names, mechanism_of

    by_code: dict = {}
    for path in sorted(glob.glob("scenarios/*.toml")):
        structure = causal_structure(load_scenario(path).params, samples=20)
        names = loop_names(structure.loops)
        assert len(set(names)) == len(names), path
        for lp, name in zip(structure.loops, names):
            code = name.split(" ")[0]
            assert code[0] == {"R": "R", "B": "B", "?": "U"}[lp.polarity], (path, name)
            key = mechanism_of(lp)
            if key is None:
                continue
            by_code.setdefault(code, set()).add(key)
            if key == "price":
                code, words = {"R": ("R3", "price spiral"), "B": ("B2", "price defence"), "?": ("U2", "price")}[lp.polarity]
                assert name.split(" ")[0].rstrip("c") == code and words in name, name
    assert all(len(keys) == 1 for keys in by_code.values()), by_code
    assert "R1" in by_code and "B1" in by_code
    # Every mechanism's codes differ from every other's.
    codes = [c for m in MECHANISMS for c, _ in m.names.values()]
    assert len(codes) == len(set(codes))


@pytest.fixture(scope="module")
def newspaper_draws():
    from model.studies.loop_dominance import sector_loop_dominance

    scenario = load_scenario("scenarios/newspapers.toml")
    return scenario, sector_loop_dominance(scenario, draws=40, seed=3)


def test_draws_scores_sum_as_ltm_defines_and_stop_at_the_fall(newspaper_draws):
    from model.core import engine
    from model.core.equations import param_vector
    from model.core.firms import aggregate
    from model.studies.verdict import draw_parameters

    scenario, ens = newspaper_draws
    rel = ens.relative
    assert rel.shape == (len(ens.names), 40, ens.t.size)
    defined = np.all(np.isfinite(rel), axis=0)
    np.testing.assert_allclose(np.sum(np.abs(rel), axis=0)[defined], 1.0, rtol=1e-12)
    # The runs are the verdict's draws (same seed, same Latin hypercube), on the aggregate incumbent.
    _, _, params = draw_parameters(scenario, 40, 3)
    run = engine.integrate(np.array([param_vector(aggregate(p)) for p in params]), t_eval=ens.t)
    before = ens.t[None, :] < np.where(run.falls, run.fall_time, np.inf)[:, None]
    assert defined[before].mean() > 0.95  # scored wherever the incumbent stands
    for d in range(40):
        if run.falls[d]:  # nothing is scored after the fall
            assert not defined[d, ens.t > run.fall_time[d] + 1e-9].any()
        for time, a, b in ens.shifts[d]:
            assert 0.0 <= time <= (run.fall_time[d] if run.falls[d] else ens.t[-1])
        pairs = [(a, b) for _, a, b in ens.shifts[d]]
        assert all(a != b for a, b in pairs) and all(p[1] == q[0] for p, q in zip(pairs, pairs[1:]))
        assert [s[0] for s in ens.shifts[d]] == sorted(s[0] for s in ens.shifts[d])


def test_draws_dominant_at_the_point_of_no_return_is_the_argmax_there(newspaper_draws):
    from model.core import engine
    from model.studies.loop_dominance import ensemble_summary

    _, ens = newspaper_draws
    dominant = ens.dominant
    tips = ens.outcome == engine.PONR_TIPS
    assert tips.sum() >= 20
    for d in np.flatnonzero(tips):
        k = int(np.argmin(np.abs(ens.t - ens.ponr_time[d])))
        assert ens.dominant_at_ponr[d] == dominant[d, k]
    assert np.all(ens.dominant_at_ponr[~tips] == -1)
    summary = ensemble_summary(ens)
    assert sum(r["draws"] for r in summary["dominant_at_point_of_no_return"]) + \
        summary["undefined_at_point_of_no_return"] == summary["tips"] == int(tips.sum())
    assert sum(summary["outcomes"].values()) == 40
    for row in summary["shifts"]:
        assert row["p05"] <= row["median"] <= row["p95"] and 1 <= row["draws"] <= 40


def test_draws_engine_scores_agree_with_simulate_scores(newspaper_draws):
    # Two integrators, one program: the first draw's scores on the engine's trajectory
    # against the same loops scored on simulate's (LSODA) at the same times.
    from model.analysis.loops import model_program
    from model.core.equations import PARAM_NAMES, STATE_NAMES, param_vector
    from model.core.firms import aggregate
    from model.core.simulate import simulate
    from model.studies.verdict import draw_parameters

    scenario, ens = newspaper_draws
    _, _, params = draw_parameters(scenario, 40, 3)
    p = aggregate(params[0])
    run = simulate(p, t_eval=ens.t)
    # Before the fall (simulate stops there and repeats the fall time as its last entry).
    n = int(np.sum(ens.t < run.fall_time)) if run.falls else ens.t.size
    assert n >= 20
    structure = causal_structure(aggregate(scenario.params))
    program = model_program(tuple(structure.nodes), tuple(structure.loops))
    values = {s: run.series[s][:n] for s in STATE_NAMES}
    values.update(zip(PARAM_NAMES, map(float, param_vector(p))))
    rel = program.evaluate(values, (n,))["relative"]
    ours = ens.relative[:, 0, :n]
    ok = np.all(np.isfinite(rel), axis=0) & np.all(np.isfinite(ours), axis=0)
    assert ok.mean() > 0.9
    assert np.median(np.max(np.abs(rel[:, ok] - ours[:, ok]), axis=0)) < 1e-3
    agree = np.argmax(np.abs(rel[:, ok]), axis=0) == np.argmax(np.abs(ours[:, ok]), axis=0)
    assert agree.mean() > 0.95


def test_cli_loops_over_draws(capsys):
    import json

    from model.commands.cli import main

    assert main(["loops", "scenarios/newspapers.toml", "--draws", "12", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["draws"]
    assert out["draws"] == 12 and sum(out["outcomes"].values()) == 12
    names = {lp["name"] for lp in out["loops"]}
    assert all(r["loop"] in names for r in out["dominant_at_point_of_no_return"])
    assert main(["loops", "scenarios/newspapers.toml", "--draws", "1"]) == 2
    assert "--draws must be at least 2" in capsys.readouterr().err
