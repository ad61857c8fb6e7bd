"""The lane-batched C kernel (issue 17 item 1) against the numba kernel on the same runs.

Both integrate with the same DOPRI5 arithmetic (the C is compiled with -ffp-contract=off and
its right-hand side printed by the same printer as the numba module's, operation for
operation); they differ only where glibc's vector exp/log/pow/tanh (libmvec, up to 4 ulp)
round differently from its scalar ones. So statuses are equal, step counts equal on all but
a few runs, and outputs differ by a few thousand ulp of the local errors at most; the runs
the lanes give up (stiff, failed) are redone from their start by the numba kernel and are
identical to the scalar engine's, bit for bit.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from model.benchmarks.engine import parameter_sets
from model.core import codegen, engine, lanes
from model.core.equations import PARAM_NAMES
from model.core.sector import generated_module
from model.evidence.scenarios import load_scenario
from model.studies.verdict import draw_parameters

from .test_engine import random_parameters

ACQ = PARAM_NAMES.index("acquisition")


def test_library_is_built_and_loads():
    # No skip: CI builds it at install (make), and this proves the build works there.
    assert lanes.available(), lanes.load_error()
    assert lanes.isa() in lanes.ISA_NAMES
    assert engine._engine_of("auto", None) == "lanes"


@pytest.mark.parametrize("n_firms", [1, 2])
def test_generated_c_is_current(n_firms):
    # The larger sizes come from the same code path (as for the generated Python).
    assert codegen.c_rhs_path(n_firms).read_text() == codegen.generate_c_source(n_firms), \
        "run `python -m model codegen`"


def test_derived_values_do_not_read_acquisition():
    # The lane kernel's parameters are extended once, before the freeze sets acquisition to
    # 0: nothing derived may depend on it.
    pvecs, _, _ = parameter_sets(50)
    gen1 = generated_module(1)
    on, off = np.empty((50, gen1.N_EXTENDED)), np.empty((50, gen1.N_EXTENDED))
    frozen = pvecs.copy()
    frozen[:, ACQ] = 0.0
    engine._extend_kernel(engine._model_key(gen1), pvecs, on)
    engine._extend_kernel(engine._model_key(gen1), frozen, off)
    assert np.array_equal(on[:, len(PARAM_NAMES):], off[:, len(PARAM_NAMES):])
    assert np.all(pvecs[:, ACQ] > 0)


def _both(pvecs, y0s, t_eval, **kw):
    return (engine.integrate(pvecs, y0s, t_eval, engine="scalar", **kw),
            engine.integrate(pvecs, y0s, t_eval, engine="lanes", **kw))


def _check_agreement(scalar, lane, max_step_diffs):
    assert np.array_equal(scalar.status, lane.status)
    both = scalar.falls & lane.falls
    assert np.array_equal(scalar.falls, lane.falls)
    assert np.all(np.abs(scalar.fall_time[both] - lane.fall_time[both]) <= 1e-6)
    # Redone runs: the numba kernel from their start, so the scalar engine's numbers exactly.
    redo = lane.redone
    assert np.array_equal(scalar.y[redo], lane.y[redo], equal_nan=True)
    assert np.array_equal(scalar.n_steps[redo], lane.n_steps[redo])
    kept = ~redo
    assert int(np.sum(scalar.n_steps[kept] != lane.n_steps[kept])) <= max_step_diffs
    # Series: within 1e-5 of each state's scale (max(|y|, 1)), ten times the error control's
    # rtol: the two differ by rounding of the same steps (3e-6 the most on 100,000 runs, near
    # falls); NaN exactly where the scalar engine has NaN (after a fall).
    assert np.array_equal(np.isnan(scalar.y), np.isnan(lane.y))
    scale = np.maximum(np.abs(scalar.y), 1.0)
    assert np.nanmax(np.abs(scalar.y - lane.y) / scale) <= 1e-5


def test_one_firm_lanes_match_scalar():
    """2,000 runs over the baseline's ranges (the bench's), a third frozen mid-run, series at
    21 times: equal statuses, fall times within 1e-6 yr, step counts equal on >= 99 %."""
    pvecs, horizons, _ = parameter_sets(2_000, seed=3)
    y0s = engine.initial_states(pvecs)
    t_eval = horizons[:, None] * np.linspace(0.0, 1.0, 21)[None, :]
    freeze = np.where(np.arange(len(pvecs)) % 3 == 0, 0.37 * horizons, np.nan)
    scalar, lane = _both(pvecs, y0s, t_eval, t_end=horizons, freeze_times=freeze)
    assert 0.1 < scalar.falls.mean() < 0.9  # both outcomes are tested
    _check_agreement(scalar, lane, max_step_diffs=len(pvecs) // 100)


def test_random_switches_and_stiff_runs_are_redone_exactly():
    """Draws within every bound (every switch setting: many groups; many stiff runs, which the
    lanes hand to the numba kernel's Rodas4), a freeze at t = 0 on some."""
    params = random_parameters(300, seed=20260402)
    pvecs, y0s, horizons = engine.pvecs_from_params(params)
    freeze = np.where(np.arange(len(pvecs)) % 4 == 0, 0.0, np.nan)
    t_eval = horizons[:, None] * np.linspace(0.0, 1.0, 11)[None, :]
    scalar, lane = _both(pvecs, y0s, t_eval, t_end=horizons, freeze_times=freeze)
    assert lane.redone.any() and (~lane.redone).any()
    assert np.array_equal(lane.redone, scalar.solver == engine.SOLVER_RODAS4) or \
        np.all(lane.redone[scalar.solver == engine.SOLVER_RODAS4])
    assert np.array_equal(scalar.status, lane.status)
    # Grazing falls (the buffer touches zero tangentially) move by more than rounding: compare
    # fall times where the two engines took the same steps.
    same = (scalar.n_steps == lane.n_steps) & scalar.falls
    assert np.all(np.abs(scalar.fall_time[same] - lane.fall_time[same]) <= 1e-3)
    redo = lane.redone
    assert np.array_equal(scalar.y[redo], lane.y[redo], equal_nan=True)


def test_pass_from_a_later_start_matches_scalar():
    """t0 > 0 (what a sector's passes between exits do): outputs before t0 untouched."""
    pvecs, horizons, _ = parameter_sets(200, seed=4)
    gen1 = generated_module(1)
    y0s = engine.initial_states(pvecs)
    n = len(pvecs)
    t0s = 0.25 * horizons
    t_out = np.ascontiguousarray(horizons[:, None] * np.linspace(0.0, 1.0, 9)[None, :])
    watch = np.full((n, 1), 5, dtype=np.int64)
    outs = []
    for eng in ("scalar", "lanes"):
        y_out = np.full((n, 9, gen1.N_STATES), -7.0)
        res = engine._pass(gen1, pvecs, y0s, t0s, horizons, np.full(n, np.nan), t_out, y_out, watch, 1e-6, 1e-9,
                           20_000, 1, 0, True, eng)
        outs.append((res, y_out))
    (sc, y_sc), (ln, y_ln) = outs
    assert np.array_equal(sc[0], ln[0])
    assert np.all(y_ln[:, :3] == -7.0)  # times before t0 (0, 1/8, 2/8 of the horizon) are not written
    falls = sc[0] == engine.FALLS
    assert np.all(np.abs(sc[1][falls] - ln[1][falls]) <= 1e-6)
    scale = np.maximum(np.abs(y_sc), 1.0)
    assert np.nanmax(np.abs(y_sc - y_ln) / scale) <= 1e-6


def test_eight_firms_lanes_match_scalar():
    """Sectors of eight firms: each firm's exit ends a pass, the exit map runs in Python, the
    next pass starts at the exit (t0 > 0) with that firm's flags at 0."""
    scenario = load_scenario("scenarios/newspapers.toml")
    sector = dataclasses.replace(scenario, params=scenario.params.replace(firm_count=8))
    _, _, params = draw_parameters(sector, 16, 0, key=scenario.name)
    pvecs, y0s, horizons = engine.pvecs_from_params(params)
    reorganise = [p.insolvency == "reorganisation" for p in params]
    t_eval = horizons[:, None] * np.linspace(0.0, 1.0, 6)[None, :]
    scalar, lane = _both(pvecs, y0s, t_eval, t_end=horizons, reorganise=reorganise, after_fall="continue")
    assert np.array_equal(scalar.status, lane.status)
    assert (scalar.firm_array("fall_time") >= 0).any()  # some firms exit: the passes are tested
    a, b = scalar.firm_array("fall_time"), lane.firm_array("fall_time")
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.nanmax(np.abs(a - b)) <= 1e-6
    scale = np.maximum(np.abs(scalar.y), 1.0)
    assert np.array_equal(np.isnan(scalar.y), np.isnan(lane.y))
    assert np.nanmax(np.abs(scalar.y - lane.y) / scale) <= 1e-6


def test_engine_choice_is_validated():
    pvecs, horizons, _ = parameter_sets(4)
    with pytest.raises(ValueError, match="engine"):
        engine.integrate(pvecs, t_end=horizons, engine="simd")
    with pytest.raises(ValueError, match="lanes"):
        engine.integrate(pvecs, t_end=horizons, engine="lanes", lanes=5)
