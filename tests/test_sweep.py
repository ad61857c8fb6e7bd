"""Sweeps: designs, rows against the engine and the closed forms, kill and resume, Dask, CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pytest

from model.analysis.tipping import break_even_loss
from model.commands.cli import main
from model.commands.sweep import load_scenarios
from model.core import engine
from model.evidence.scenarios import load_scenario
from model.studies import sweep as sweep_module
from model.studies.sweep import (INVALID, THREADS_PER_CHUNK, local_cluster, make_spec, parse_vary, read_sweep,
                                 run_sweep, unit_design)

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"


def spec_for(vary, *, paths=(BASELINE,), overrides=(), **kw):
    return make_spec(load_scenarios([str(p) for p in paths], list(overrides)), vary, **kw)


# --- --vary parsing -------------------------------------------------------------------


@pytest.mark.parametrize("item, match", [
    ("fixed_cost=0.1:0.2", r"unknown parameter 'fixed_cost'; valid names: .*fixed_cost_share"),
    ("price_policy=0:1", "is a switch"),
    ("fixed_cost_share=0.7:0.5", "LOW < HIGH"),
    ("fixed_cost_share=0.5:0.5", "LOW < HIGH"),
    ("fixed_cost_share=0.5:0.99", r"within the bounds of `fixed_cost_share`, \[0, 0.95\]"),
    ("fixed_cost_share=-0.1:0.5", "within the bounds"),
    ("fixed_cost_share=a:b", "must be numbers"),
    ("fixed_cost_share=0.5", "expected NAME=LOW:HIGH"),
    ("fixed_cost_share=nan:0.5", "finite"),
])
def test_parse_vary_errors(item, match):
    with pytest.raises(ValueError, match=match):
        parse_vary([item], load_scenario(BASELINE))


def test_parse_vary_bare_name_needs_a_range():
    scenario = load_scenario(BASELINE)
    no_ranges = type(scenario)(name=scenario.name, origin=scenario.origin, params=scenario.params, ranges={})
    with pytest.raises(ValueError, match="gives no range for `churn_rate`"):
        parse_vary(["churn_rate"], no_ranges)
    with pytest.raises(ValueError, match="nothing to vary"):
        parse_vary([], no_ranges)


def test_parse_vary_forms():
    scenario = load_scenario(BASELINE)
    assert parse_vary(["fixed_cost_share=0.4:0.7", "churn_rate"], scenario) == (
        ("fixed_cost_share", 0.4, 0.7), ("churn_rate", *scenario.ranges["churn_rate"]))
    everything = parse_vary([], scenario)
    assert [v[0] for v in everything] == list(scenario.ranges)
    with pytest.raises(ValueError, match="varied twice"):
        parse_vary(["churn_rate", "churn_rate=0.1:0.2"], scenario)


@pytest.mark.parametrize("argv, match", [
    (["--vary", "nonsense=1:2"], "unknown parameter 'nonsense'"),
    (["--vary", "fixed_cost_share=0.9:0.2"], "LOW < HIGH"),
    (["--vary", "fixed_cost_share=0.1:1.5"], "bounds"),
    (["--vary", "fixed_cost_share=0.1:0.5", "--design", "grid", "--n", "1"], "grid"),
])
def test_cli_bad_vary_is_one_line_and_exit_2(argv, match, tmp_path, capsys):
    code = main(["sweep", str(BASELINE), "--out", str(tmp_path / "out"), "--no-progress", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and re.search(match, err[0])
    assert not (tmp_path / "out").exists()  # nothing written


def test_cli_bad_vary_exits_nonzero_in_a_real_process(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "model", "sweep", str(BASELINE), "--vary", "bogus=0:1",
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown parameter 'bogus'" in lines[0]


# --- designs ------------------------------------------------------------------------------


def test_lhs_is_a_latin_hypercube_and_seeded():
    u = unit_design("lhs", 3, 200, 5)
    assert u.shape == (200, 3)
    for j in range(3):  # one point in each of the 200 strata of every axis
        np.testing.assert_array_equal(np.sort(np.floor(u[:, j] * 200)), np.arange(200))
    np.testing.assert_array_equal(u, unit_design("lhs", 3, 200, 5))
    assert not np.array_equal(u, unit_design("lhs", 3, 200, 6))


def test_sobol_is_balanced_at_powers_of_two():
    u = unit_design("sobol", 2, 256, 1)
    for j in range(2):  # a (0, m, s)-net: each of 256 strata of an axis holds one point
        np.testing.assert_array_equal(np.sort(np.floor(u[:, j] * 256)), np.arange(256))
    # n not a power of two: the first n points of the next power of two
    np.testing.assert_array_equal(unit_design("sobol", 2, 100, 1), unit_design("sobol", 2, 128, 1)[:100])


def test_grid_levels():
    u = unit_design("grid", 2, 30, 0)  # floor(sqrt(30)) = 5 levels per axis
    assert u.shape == (25, 2)
    np.testing.assert_allclose(np.unique(u[:, 0]), np.linspace(0, 1, 5), rtol=0, atol=1e-15)
    assert unit_design("grid", 3, 1000, 0).shape == (1000, 3)  # 10^3, corners included


# --- rows -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    spec = spec_for(["fixed_cost_share=0.4:0.75", "platform_price=0.4:1.0", "initial_buffer=0.1:2.0"],
                    n=300, seed=3, measures=("fall", "break_even", "ponr"), chunk_size=64)
    summary = run_sweep(spec, out, progress=False)
    return spec, out, summary, read_sweep(out)


def test_rows_are_complete_and_ordered(small_sweep):
    spec, out, summary, df = small_sweep
    assert len(df) == 300 and summary.n_chunks == 5 and len(summary.computed_chunks) == 5
    np.testing.assert_array_equal(df["run"], np.arange(300))
    assert set(df["status"]) <= {0, 1}
    assert df["falls"].notna().all()
    u = unit_design("lhs", 3, 300, 3)
    np.testing.assert_array_equal(df["fixed_cost_share"], 0.4 + u[:, 0] * (0.75 - 0.4))


def test_rows_match_the_engine_and_simulate(small_sweep):
    """A row's outcome is what the engine gives for its parameters; spot checks against
    simulate (solve_ivp) and the scalar break-even closed form."""
    from model.core.simulate import simulate

    spec, out, summary, df = small_sweep
    base = spec.scenarios[0].params
    params = [base.replace(fixed_cost_share=float(r.fixed_cost_share), platform_price=float(r.platform_price),
                           initial_buffer=float(r.initial_buffer)) for r in df.itertuples()]
    pv, y0, hz = engine.pvecs_from_params(params)
    res = engine.integrate(pv, y0, t_end=hz)
    np.testing.assert_array_equal(df["falls"].to_numpy(dtype=bool), res.falls)
    np.testing.assert_array_equal(df["fall_time"], res.fall_time)
    for k in range(0, 300, 37):
        ref = simulate(params[k], t_eval=[0.0, params[k].horizon], rtol=1e-9, atol=1e-11)
        assert ref.falls == bool(df["falls"][k])
        if ref.falls:
            np.testing.assert_allclose(df["fall_time"][k], ref.fall_time, rtol=0, atol=1e-3)
            np.testing.assert_allclose(df["share_at_fall"][k], ref.share_at_fall, rtol=0, atol=1e-4)
        np.testing.assert_allclose(df["break_even_loss"][k], break_even_loss(params[k]), rtol=1e-12, atol=1e-14)


def test_ponr_columns_match_the_batch(small_sweep):
    spec, out, summary, df = small_sweep
    base = spec.scenarios[0].params
    params = [base.replace(fixed_cost_share=float(r.fixed_cost_share), platform_price=float(r.platform_price),
                           initial_buffer=float(r.initial_buffer)) for r in df.itertuples()][:64]
    pv, y0, hz = engine.pvecs_from_params(params)
    pb = engine.point_of_no_return_batch(pv, y0, hz)
    assert list(df["ponr_outcome"][:64]) == pb.outcome_names
    np.testing.assert_array_equal(df["ponr_time"][:64], pb.time)
    np.testing.assert_array_equal(df["ponr_share"][:64], pb.share)
    tips = df["ponr_outcome"] == "tips"
    assert tips.sum() > 100
    assert np.all(df.loc[tips, "ponr_hi"] - df.loc[tips, "ponr_lo"] <= 0.01)
    # The point of no return is the long run's; the fall column is the horizon's: where the
    # run falls within the horizon, the point of no return comes first.
    within = tips & np.isfinite(df["fall_time"])
    assert within.sum() > 50
    assert np.all(df.loc[within, "ponr_time"] <= df.loc[within, "fall_time"])


def test_manifest(small_sweep):
    spec, out, summary, df = small_sweep
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["n_chunks"] == 5 and manifest["total_runs"] == 300
    config = manifest["config"]
    assert config["design"] == "lhs" and config["seed"] == 3 and config["n"] == 300
    assert config["scenarios"][0]["contents"] == BASELINE.read_text()
    assert config["vary"][0] == ["fixed_cost_share", 0.4, 0.75]
    assert manifest["code_version"].startswith(("git ", "model "))
    assert "created" in manifest and "finished" in manifest
    assert not list(out.glob(".*.tmp"))


def test_invalid_parameter_rows_are_kept_with_reason(tmp_path):
    """Ranges drawn independently can break fixed + variable cost share <= 0.99: those rows
    are kept, marked, not integrated; the rule agrees with Parameters' own validation."""
    spec = spec_for(["fixed_cost_share=0.5:0.95", "variable_cost_share=0.2:0.6"], n=200, seed=1)
    run_sweep(spec, tmp_path, progress=False)
    df = read_sweep(tmp_path)
    base = spec.scenarios[0].params
    for r in df.itertuples():
        try:
            base.replace(fixed_cost_share=r.fixed_cost_share, variable_cost_share=r.variable_cost_share)
            ok = True
        except ValueError:
            ok = False
        assert ok == (r.status != INVALID)
    bad = df[df["status"] == INVALID]
    assert 10 < len(bad) < 200
    assert bad["falls"].isna().all() and bad["fall_time"].isna().all()
    assert bad["reason"].str.contains("fixed_cost_share \\+ variable_cost_share").all()


def test_threads_and_multiple_scenarios(tmp_path):
    sectors = sorted((ROOT / "scenarios").glob("*.toml"))
    other = next(p for p in sectors if p.name != "baseline.toml")
    kw = dict(paths=(BASELINE, other), n=100, seed=9, chunk_size=40)
    one = spec_for(["churn_rate=0.05:0.6", "trust_gain=0.5:10"], **kw)
    serial = run_sweep(one, tmp_path / "a", workers=1, progress=False)
    side_by_side = run_sweep(one, tmp_path / "b", workers=2, progress=False)
    a, b = read_sweep(tmp_path / "a"), read_sweep(tmp_path / "b")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # The layout: two chunks at a time, each on one engine thread, as the workers report.
    layer = numba.threading_layer()
    assert layer in ("omp", "tbb")
    assert (serial.concurrent_chunks, side_by_side.concurrent_chunks) == (1, 2)
    assert serial.layouts == {(layer, 1)} and side_by_side.layouts == {(layer, THREADS_PER_CHUNK)} == {(layer, 1)}
    assert len(a) == 200 and list(a["scenario"].unique()) == [load_scenario(BASELINE).name,
                                                                load_scenario(other).name]
    np.testing.assert_array_equal(a["run"], np.arange(200))
    # the same design points for both scenarios
    np.testing.assert_array_equal(a["churn_rate"][:100].to_numpy(), a["churn_rate"][100:].to_numpy())


# --- resume ---------------------------------------------------------------------------------


def test_existing_directory_needs_resume_and_the_same_sweep(tmp_path):
    spec = spec_for(["churn_rate=0.05:0.6"], n=50, seed=1, chunk_size=25)
    run_sweep(spec, tmp_path, progress=False)
    with pytest.raises(ValueError, match="already holds a sweep; add --resume"):
        run_sweep(spec, tmp_path, progress=False)
    other = spec_for(["churn_rate=0.05:0.6"], n=50, seed=2, chunk_size=25)
    with pytest.raises(ValueError, match="different sweep .*`seed`"):
        run_sweep(other, tmp_path, resume=True, progress=False)
    again = run_sweep(spec, tmp_path, resume=True, progress=False)
    assert again.computed_chunks == [] and again.skipped_chunks == [0, 1]


def test_resume_recomputes_only_missing_chunks(tmp_path):
    spec = spec_for(["churn_rate=0.05:0.6"], n=100, seed=4, chunk_size=25)
    run_sweep(spec, tmp_path / "full", progress=False)
    part = tmp_path / "part"
    run_sweep(spec, part, progress=False)
    (part / "chunk-00002.parquet").unlink()
    (part / ".chunk-00002.parquet.999.tmp").write_bytes(b"half a file")  # a killed writer's leftover
    mtime = (part / "chunk-00000.parquet").stat().st_mtime_ns
    summary = run_sweep(spec, part, resume=True, progress=False)
    assert summary.computed_chunks == [2]
    assert (part / "chunk-00000.parquet").stat().st_mtime_ns == mtime
    assert not list(part.glob(".*.tmp"))
    pd.testing.assert_frame_equal(read_sweep(part), read_sweep(tmp_path / "full"), check_exact=True)


def test_sweep_killed_part_way_and_resumed_equals_uninterrupted(tmp_path):
    """Start the CLI in a process, kill it (SIGKILL) once the first chunk is on disk, resume:
    exactly the rows of an uninterrupted sweep, none lost, none twice."""
    out = tmp_path / "killed"
    args = ["sweep", str(BASELINE), "--vary", "fixed_cost_share=0.4:0.75", "--vary", "word_of_mouth_rate=0.25:0.6",
            "--n", "10000", "--chunk-size", "100", "--measures", "fall", "--seed", "12", "--out", str(out),
            "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "model", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / "chunk-00000.parquet").exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no chunk written in 120 s"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    done = sorted(out.glob("chunk-*.parquet"))
    assert 1 <= len(done) < 100, "the kill must land part-way"
    assert json.loads((out / "manifest.json").read_text())["complete"] is False

    assert main([*args, "--resume"]) == 0
    resumed = read_sweep(out)
    reference = tmp_path / "reference"
    assert main([*[a if a != str(out) else str(reference) for a in args]]) == 0
    pd.testing.assert_frame_equal(resumed, read_sweep(reference), check_exact=True)
    assert resumed["run"].is_unique and len(resumed) == 10000


# --- Dask -----------------------------------------------------------------------------------


def test_dask_local_cluster_gives_the_same_rows(tmp_path):
    spec = spec_for(["fixed_cost_share=0.4:0.75", "platform_price=0.4:1.0"], n=400, seed=21, chunk_size=50,
                    measures=("fall", "break_even", "ponr"))
    run_sweep(spec, tmp_path / "local", workers=2, progress=False)
    with local_cluster(2) as cluster:
        summary = run_sweep(spec, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)
    assert sorted(summary.computed_chunks) == list(range(8))
    pd.testing.assert_frame_equal(read_sweep(tmp_path / "dask"), read_sweep(tmp_path / "local"), check_exact=True)
    # Each worker process ran its chunks on one engine thread, with a layer that allows it.
    assert summary.concurrent_chunks == 2
    assert {threads for _, threads in summary.layouts} == {THREADS_PER_CHUNK}
    assert {layer for layer, _ in summary.layouts} <= {"omp", "tbb"}


def test_without_a_thread_safe_layer_chunks_run_one_at_a_time_on_all_threads(tmp_path, monkeypatch):
    # numba's workqueue layer aborts the process if two threads launch kernels at once.
    spec = spec_for(["churn_rate=0.05:0.6"], n=60, seed=3, chunk_size=20)
    run_sweep(spec, tmp_path / "a", workers=2, progress=False)
    monkeypatch.setattr(sweep_module, "concurrent_kernels", lambda: False)
    summary = run_sweep(spec, tmp_path / "b", workers=2, progress=False)
    assert summary.concurrent_chunks == 1 and summary.layouts == {(numba.threading_layer(), 2)}
    pd.testing.assert_frame_equal(read_sweep(tmp_path / "a"), read_sweep(tmp_path / "b"), check_exact=True)


def test_bad_scheduler_address_is_a_value_error(tmp_path):
    spec = spec_for(["churn_rate=0.05:0.6"], n=10, seed=1)
    with pytest.raises(ValueError, match="--scheduler"):
        run_sweep(spec, tmp_path, scheduler="localhost-no-scheme", progress=False)


def test_a_sector_of_firms_is_swept_firm_by_firm(tmp_path):
    # The newspapers file runs eight firms: each row's values place its firms again (a
    # firm's debt service is the sector's times its spread), and the row's outcome is
    # the engine's for that sector of firms, its sector's fall included.
    newspapers = BASELINE.parent / "newspapers.toml"
    spec = spec_for(["platform_price=0.0:1.5", "firm_spread_debt=0.0:0.9"], paths=(newspapers,), n=40, seed=2,
                    measures=("fall", "ponr"), chunk_size=16)
    run_sweep(spec, tmp_path / "s", progress=False)
    df = read_sweep(tmp_path / "s")
    base = spec.scenarios[0].params
    assert base.firm_count == 8
    params = [base.replace(platform_price=float(r.platform_price), firm_spread_debt=float(r.firm_spread_debt))
              for r in df.itertuples()]
    pv, y0, hz = engine.pvecs_from_params(params)
    reorganise = base.insolvency == "reorganisation"
    res = engine.integrate(pv, y0, t_end=hz, reorganise=reorganise)
    np.testing.assert_array_equal(df["falls"].to_numpy(dtype=bool), res.falls)
    np.testing.assert_array_equal(df["fall_time"], res.fall_time)
    assert 0 < res.falls.sum() < len(params)  # the rows differ in outcome
    pb = engine.point_of_no_return_batch(pv, y0, hz, tol=spec.ponr_tol, reorganise=reorganise)
    np.testing.assert_array_equal(df["ponr_time"], pb.time)
