"""Our LTM loop scores against simlin's (pysimlin) on the exported XMILE file.

Simlin scores the full variable graph of the file (every auxiliary and flow a node, 125
loops for newspapers); ours collapse the auxiliaries the diagram does not draw. In
continuous time link scores compose along a chain (the chain rule), so the score of one
of our loops is the sum of the signed scores of simlin's loops that pass its nodes in its
order (each path through the hidden auxiliaries is one of simlin's loops); simlin's loops
that pass no loop of ours run through switched-off mechanisms and score 0. Simlin's scores
are discrete (one Euler step), so the agreement is first order in the file's time step.
"""

from __future__ import annotations

import numpy as np
import pytest

import simlin  # pysimlin, in the dev extra

from model.analysis.causal import causal_structure
from model.analysis.loops import loop_scores
from model.core.firms import aggregate
from model.evidence.scenarios import load_scenario
from model.publish.xmile import write_xmile


def simlin_scores_by_our_loops(path, nodes):
    """Simlin's raw loop scores summed by the loop of ours each reduces to (its variables
    restricted to ``nodes``, rotated to start at the earliest in ``nodes``)."""
    rank = {n: i for i, n in enumerate(nodes)}
    with simlin.load(path).simulate(enable_ltm=True) as sim:
        sim.run_to_end()
        t = np.asarray(sim.get_series("time"))
        grouped = {}
        for lp in sim.get_loops_runtime():
            red = [v for v in lp.variables if v in rank]
            if len(red) > 1 and red[0] == red[-1]:
                red = red[:-1]
            if not red:
                continue
            k = red.index(min(red, key=rank.get))
            key = tuple(red[k:] + red[:k])
            grouped[key] = grouped.get(key, 0.0) + np.nan_to_num(np.asarray(sim.get_loop_score(lp.id)))
    return t, grouped


@pytest.fixture(scope="module")
def newspapers(tmp_path_factory):
    params = aggregate(load_scenario("scenarios/newspapers.toml").params)
    ours = loop_scores(params, samples=400)
    nodes = causal_structure(params).nodes
    out = {}
    for dt in (1 / 64, 1 / 256):
        path = tmp_path_factory.mktemp("xmile") / "newspapers.xmile"
        write_xmile(params, path, dt=dt)
        out[dt] = simlin_scores_by_our_loops(str(path), nodes)
    return ours, out


def _errors(ours, t, grouped):
    inside = (ours.t > 0.2) & (ours.t < ours.t[-1] - 0.2)  # the file runs past the fall: compare before it
    errs = {}
    for i, lp in enumerate(ours.loops):
        theirs = np.interp(ours.t[inside], t, grouped[lp.nodes])
        mine = ours.scores[i][inside]
        ok = np.isfinite(mine) & (np.abs(mine) > 0)
        errs[ours.names[i]] = float(np.median(np.abs(theirs[ok] - mine[ok]) / np.abs(mine[ok])))
    return errs


def test_every_loop_of_ours_is_simlins_and_the_rest_score_zero(newspapers):
    ours, runs = newspapers
    t, grouped = runs[1 / 256]
    keys = {lp.nodes for lp in ours.loops}
    assert keys <= set(grouped)
    before = t < ours.t[-1]
    for key, series in grouped.items():
        if key not in keys and len(key) > 1:  # a loop through a switched-off mechanism
            assert np.max(np.abs(series[before])) == 0.0, key


def test_loop_scores_agree_with_simlins_to_first_order_in_the_step(newspapers):
    ours, runs = newspapers
    coarse = _errors(ours, *runs[1 / 64])
    fine = _errors(ours, *runs[1 / 256])
    for name in fine:
        assert fine[name] < 0.01, (name, fine[name])
        # A quarter of the step: the error falls by about four (first order), at least by two.
        assert fine[name] < coarse[name] / 2, (name, coarse[name], fine[name])
    # The same dominant loop at nearly every time before the fall.
    t, grouped = runs[1 / 256]
    inside = (ours.t > 0.2) & (ours.t < ours.t[-1] - 0.2)
    theirs = np.array([np.interp(ours.t[inside], t, grouped[lp.nodes]) for lp in ours.loops])
    mine = ours.scores[:, inside]
    ok = np.all(np.isfinite(mine), axis=0)
    agree = np.argmax(np.abs(theirs[:, ok]), axis=0) == np.argmax(np.abs(mine[:, ok]), axis=0)
    assert agree.mean() > 0.97
