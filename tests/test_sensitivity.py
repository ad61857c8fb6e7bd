"""Sensitivity analysis: the shared code path on functions with known indices, and the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from SALib.test_functions import Ishigami

from model.analysis.sensitivity import (
    analyze_function,
    model_function,
    model_sensitivity,
    problem_from_vary,
    to_markdown,
)
from model.commands.cli import main
from model.evidence.scenarios import load_scenario

BASELINE = load_scenario("scenarios/baseline.toml")


def ishigami_indices(a=7.0, b=0.1):
    """Closed forms (Ishigami & Homma 1990; Sobol' & Levitan 1999): variances of the terms."""
    v1 = 0.5 * (1 + b * np.pi ** 4 / 5) ** 2
    v2 = a ** 2 / 8
    v13 = b ** 2 * np.pi ** 8 * 8 / 225
    v = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v


def test_ishigami_sobol_indices_match_the_closed_form():
    problem = problem_from_vary([(f"x{i}", -np.pi, np.pi) for i in (1, 2, 3)])
    res = analyze_function(problem, lambda X: {"y": Ishigami.evaluate(X)}, method="sobol", n=2 ** 13, seed=1)
    s1, st = ishigami_indices()
    got_s1 = np.array([res.index("y", f"x{i}")["S1"] for i in (1, 2, 3)])
    got_st = np.array([res.index("y", f"x{i}")["ST"] for i in (1, 2, 3)])
    # Saltelli estimators with 2^13 base samples: errors of order 1/sqrt(N) ~ 0.01.
    np.testing.assert_allclose(got_s1, s1, rtol=0, atol=0.03)
    np.testing.assert_allclose(got_st, st, rtol=0, atol=0.03)
    # The bootstrap intervals are honest: the exact value lies within 3 half-widths.
    for i in range(3):
        r = res.index("y", f"x{i + 1}")
        assert abs(r["S1"] - s1[i]) <= 3 * r["S1_conf"] + 1e-3
        assert abs(r["ST"] - st[i]) <= 3 * r["ST_conf"] + 1e-3
    assert res.n_base == 2 ** 13 and res.n_evaluations == 2 ** 13 * 5


def test_sobol_rounds_n_up_to_a_power_of_two():
    problem = problem_from_vary([("a", 0, 1), ("b", 0, 1)])
    res = analyze_function(problem, lambda X: {"y": X[:, 0] + 2 * X[:, 1]}, method="sobol", n=1000, seed=0)
    assert res.n_base == 1024 and res.n_evaluations == 1024 * 4
    # Additive function: S1 = ST = a_i^2 / sum a^2 for uniform inputs (1/5 and 4/5).
    np.testing.assert_allclose([res.index("y", "a")["S1"], res.index("y", "b")["S1"]], [0.2, 0.8], rtol=0, atol=0.03)


def test_morris_on_a_linear_function_is_exact():
    """Elementary effects of f = sum c_i x_i on the unit-scaled grid are c_i (high - low)
    exactly, whatever the trajectory: mu* = |c_i| (high - low), sigma = 0."""
    c = np.array([3.0, -1.0, 0.5])
    bounds = [(0.0, 2.0), (1.0, 4.0), (-1.0, 1.0)]
    problem = problem_from_vary([(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)])
    res = analyze_function(problem, lambda X: {"y": X @ c}, method="morris", n=30, seed=4)
    width = np.array([hi - lo for lo, hi in bounds])
    for i in range(3):
        r = res.index("y", f"x{i}")
        np.testing.assert_allclose(r["mu_star"], abs(c[i]) * width[i], rtol=1e-12, atol=0)
        np.testing.assert_allclose(r["mu"], c[i] * width[i], rtol=1e-12, atol=0)
        np.testing.assert_allclose(r["sigma"], 0.0, rtol=0, atol=1e-12)


def test_constant_or_nonfinite_outputs_are_errors():
    problem = problem_from_vary([("a", 0, 1), ("b", 0, 1)])
    with pytest.raises(ValueError, match="same .* for every sample"):
        analyze_function(problem, lambda X: {"y": np.ones(len(X))}, n=16)
    with pytest.raises(ValueError, match="non-finite"):
        analyze_function(problem, lambda X: {"y": np.where(X[:, 0] > 0.5, np.nan, X[:, 1])}, n=16)
    with pytest.raises(ValueError, match="--method"):
        analyze_function(problem, lambda X: {"y": X[:, 0]}, method="fast", n=16)


def test_model_function_censors_and_refuses_invalid_samples():
    f = model_function(BASELINE.params, ["platform_price", "fixed_cost_share"])
    X = np.array([[0.7, 0.6], [3.0, 0.6]])  # the second platform is far too expensive to tip
    out = f(X)
    assert out["ponr_time"][1] == BASELINE.params.horizon and out["fall_time"][1] == BASELINE.params.horizon
    assert 0 < out["ponr_time"][0] < out["fall_time"][0] < BASELINE.params.horizon
    assert "50.0% of samples never tip" in f.notes["ponr_time"]
    with pytest.raises(ValueError, match="undefined for the 1 of 2 samples"):
        model_function(BASELINE.params, ["platform_price", "fixed_cost_share"], ["ponr_share"])(X)
    g = model_function(BASELINE.params, ["fixed_cost_share", "variable_cost_share"])
    with pytest.raises(ValueError, match="1 of 1 samples .*invalid parameters"):
        g(np.array([[0.9, 0.5]]))


def test_model_sensitivity_ranks_a_parameter_that_cannot_matter_last():
    """`platform_unit_cost` enters only the platform's profit, an output, not the dynamics:
    its indices must vanish, while the adoption rate's must not."""
    vary = [("word_of_mouth_rate", 0.25, 0.6), ("platform_unit_cost", 0.02, 0.3)]
    res = model_sensitivity(BASELINE.params, vary, method="sobol", n=128, seed=2)
    for out in ("ponr_time", "fall_time"):
        inert = res.index(out, "platform_unit_cost")
        assert inert["S1"] == 0.0 and inert["ST"] == 0.0
        assert res.index(out, "word_of_mouth_rate")["ST"] > 0.9


def test_cli_writes_csv_and_markdown(tmp_path, capsys):
    code = main(["sensitivity", "scenarios/baseline.toml", "--vary", "platform_price=0.4:1.0", "--vary",
                 "word_of_mouth_rate", "--method", "morris", "--n", "8", "--out", str(tmp_path)])
    assert code == 0
    table = pd.read_csv(tmp_path / "sensitivity.csv")
    assert list(table.columns) == ["output", "parameter", "mu_star", "mu_star_conf", "mu", "sigma"]
    assert set(table["output"]) == {"ponr_time", "fall_time"} and len(table) == 4
    md = (tmp_path / "sensitivity.md").read_text()
    assert "| ponr_time | platform_price |" in md and md in capsys.readouterr().out


def test_cli_bad_vary_is_one_line(capsys):
    assert main(["sensitivity", "scenarios/baseline.toml", "--vary", "horizon=0:10"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bounds of `horizon`" in err[0]


def test_markdown_layout():
    problem = problem_from_vary([("a", 0, 1), ("b", 0, 1)])
    res = analyze_function(problem, lambda X: {"y": X[:, 0] + X[:, 1] ** 2}, n=64, seed=0)
    md = to_markdown(res, title="T")
    lines = md.splitlines()
    assert lines[0] == "## T" and lines[4] == "| output | parameter | S1 | S1 ±95% | ST | ST ±95% |"
    assert len([x for x in lines if x.startswith("| y |")]) == 2


def test_a_sector_of_firms_is_sampled_firm_by_firm():
    # Eight firms: each sample places its firms again, so the outputs are the engine's
    # points of no return of those sectors (the debt spread, inert for one firm, matters).
    from model.analysis.sensitivity import model_function
    from model.core import engine

    params = load_scenario("scenarios/newspapers.toml").params
    assert params.firm_count == 8
    X = np.array([[0.2, 0.0], [0.2, 0.9], [0.8, 0.9]])
    f = model_function(params, ["platform_price", "firm_spread_debt"], outputs=("ponr_time",))
    got = f(X)["ponr_time"]
    runs = [params.replace(platform_price=a, firm_spread_debt=b) for a, b in X]
    pv, y0, hz = engine.pvecs_from_params(runs)
    pb = engine.point_of_no_return_batch(pv, y0, hz, reorganise=params.insolvency == "reorganisation")
    expected = np.where(pb.outcome == engine.PONR_NEVER_TIPS, hz, pb.time)
    np.testing.assert_array_equal(got, expected)
    assert got[0] != got[1]  # the firms' debt spread moves the sector's point of no return
