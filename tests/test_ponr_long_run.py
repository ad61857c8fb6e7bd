"""The horizon-free point of no return: the long-run window and the terminal-drift test.

The point of no return follows every frozen run to its long-run fate (FATE_YEARS past the
freeze, then the terminal-drift test), so the file's horizon, which only bounds what a
user watches, must not move it; where the frozen run falls well inside the horizon it
must agree with the first version's finite-horizon measure; and a fall the drift test
projects must be a fall that a longer integration finds.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.analysis.tipping import point_of_no_return
from model.core import engine
from model.core.firms import aggregate
from model.evidence.scenarios import load_scenario, sector_files
from model.studies.verdict import draw_parameters

TOL = 0.01
FILES = [str(p) for p in sorted(sector_files())] + ["scenarios/baseline.toml"]


def _batch(params_list, horizon, window="long_run", reorganise=False):
    pv = engine.pvecs_from_params(params_list)[0]
    return engine.point_of_no_return_batch(pv, None, horizon, TOL, reorganise=reorganise, window=window)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.split("/")[-1])
def test_horizon_does_not_move_the_point_of_no_return(path):
    scenario = load_scenario(path)
    _, _, draws = draw_parameters(scenario, 16, seed=3)
    reorg = scenario.params.insolvency == "reorganisation"
    sets = [scenario.params] + draws
    short = _batch([p.replace(horizon=40.0) for p in sets], 40.0, reorganise=reorg)
    long = _batch([p.replace(horizon=200.0) for p in sets], 200.0, reorganise=reorg)
    np.testing.assert_array_equal(short.outcome, long.outcome)
    np.testing.assert_allclose(short.time, long.time, atol=TOL, equal_nan=True)
    np.testing.assert_allclose(short.gross_loss, long.gross_loss, atol=1e-6, equal_nan=True)
    # The scalar definition (solve_ivp, the sector as one aggregate incumbent) as well.
    one = aggregate(scenario.params)
    a = point_of_no_return(one.replace(horizon=40.0))
    b = point_of_no_return(one.replace(horizon=200.0))
    assert a.outcome == b.outcome
    if a.time is not None:
        assert abs(a.time - b.time) <= TOL


@pytest.mark.parametrize("one_firm", [False, True], ids=["8 firms", "one aggregate firm"])
def test_agrees_with_the_finite_horizon_where_the_frozen_run_falls_inside_it(one_firm):
    # Newspapers: the file whose draws tip most often, as a sector of firms and as one.
    scenario = load_scenario("scenarios/newspapers.toml")
    _, _, draws = draw_parameters(scenario, 60, seed=5)
    if one_firm:
        draws = [aggregate(p) for p in draws]
    reorg = scenario.params.insolvency == "reorganisation" and not one_firm
    horizon = float(scenario.params.horizon)
    lr = _batch(draws, horizon, reorganise=reorg)
    fh = _batch(draws, horizon, window="horizon", reorganise=reorg)
    tips = lambda r: (r.outcome == engine.PONR_TIPS) | (r.outcome == engine.PONR_ALWAYS_FALLS)  # noqa: E731
    # Falling within the horizon implies falling in the long run, never the reverse.
    assert np.all(tips(lr)[tips(fh)])
    both = tips(lr) & tips(fh)
    assert both.sum() >= 10
    # Freezing at the finite-horizon point falls within the horizon, so in the long run:
    # the long-run point of no return is never later.
    assert np.all(lr.time[both] <= fh.time[both] + TOL)
    # Where the long-run frozen run at hi falls inside the horizon (not by drift), the
    # finite-horizon F is true at hi too and false at lo (it survives forever): the same
    # bracket, the same point.
    inside = both & (lr.frozen_fall_time < horizon - 1.0) & ~lr.by_drift
    assert inside.sum() >= 5
    np.testing.assert_allclose(lr.time[inside], fh.time[inside], atol=TOL)
    np.testing.assert_allclose(lr.gross_loss[inside], fh.gross_loss[inside], atol=0.01)


def test_scalar_and_batch_long_run_agree():
    # Two methods: solve_ivp (LSODA) draw by draw and the compiled engine's batch.
    scenario = load_scenario("scenarios/universities.toml")
    _, _, draws = draw_parameters(scenario, 8, seed=2)
    draws = [aggregate(p) for p in draws]
    batch = _batch(draws, 40.0, reorganise=False)
    for i, p in enumerate(draws):
        one = point_of_no_return(p)
        assert one.outcome == engine.PONR_OUTCOMES[int(batch.outcome[i])]
        if one.outcome == "tips":
            assert abs(one.time - batch.time[i]) <= 2 * TOL
            assert abs(one.volume_share - batch.volume_share[i]) < 0.01


def test_a_fall_projected_by_drift_is_a_fall_a_longer_run_finds():
    scenario = load_scenario("scenarios/universities.toml")
    _, _, draws = draw_parameters(scenario, 150, seed=0)
    pv = engine.pvecs_from_params(draws)[0]
    frozen = engine.integrate(pv, t_end=engine.FATE_YEARS, freeze_times=0.0)
    falls, when, unsettled = engine.terminal_drift(frozen, pv, True)
    idx = np.flatnonzero(falls)
    assert idx.size >= 2  # a shrinking sector: some incumbents bleed out slowly
    assert np.all(when[idx] > engine.FATE_YEARS)
    longer = engine.integrate(pv[idx], t_end=2 * engine.FATE_YEARS, freeze_times=0.0)
    assert np.all(longer.falls)
    # A projected fall is never a survivor's, and an unsettled survivor is not a fall.
    assert not np.any(falls & unsettled)
    assert not np.any(falls & (frozen.status != engine.SURVIVES))
