"""Regression tests of issue 15 (reliability): no hang, no traceback, no silent wrong
answer, no lost or doubled sweep row. Each test reproduces one reported failure."""

from __future__ import annotations

import numpy as np
import pytest

from model.core import engine
from model.core.equations import param_vector
from model.evidence.scenarios import load_scenario
from model.analysis import tipping

from .conftest import SCENARIOS

NEWSPAPERS = SCENARIOS / "newspapers.toml"


class _Budget:
    """Wraps a function and raises after ``limit`` calls: turns a would-be hang into a failure."""

    def __init__(self, fn, limit):
        self.fn, self.limit, self.calls = fn, limit, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls > self.limit:
            raise RuntimeError(f"more than {self.limit} calls: the bisection does not terminate")
        return self.fn(*args, **kwargs)


# --- 1. the hang: bisection below the float spacing --------------------------------------------

@pytest.mark.parametrize("tol", [1e-15, 5e-324])
def test_ponr_bisection_terminates_below_float_spacing(monkeypatch, tol):
    params = load_scenario(NEWSPAPERS).params
    budget = _Budget(tipping.simulate, 200)
    monkeypatch.setattr(tipping, "simulate", budget)
    p = tipping.point_of_no_return(params, tol=tol)
    assert p.outcome == "tips"
    lo, hi = p.bracket
    # The bracket is as narrow as floats allow: adjacent (or equal) floats.
    assert lo < hi and np.nextafter(lo, np.inf) == hi
    assert p.evaluations < 200
    assert "float" in p.message


@pytest.mark.parametrize("tol", [0.0, -1.0, float("nan"), float("inf"), True, "0.01"])
def test_ponr_rejects_bad_tol(tol):
    params = load_scenario(NEWSPAPERS).params
    with pytest.raises(ValueError, match="tol"):
        tipping.point_of_no_return(params, tol=tol)


def test_engine_ponr_batch_terminates_below_float_spacing(monkeypatch):
    params = load_scenario(NEWSPAPERS).params
    pvecs = np.stack([param_vector(params)] * 2)
    budget = _Budget(engine.integrate, 200)
    monkeypatch.setattr(engine, "integrate", budget)
    b = engine.point_of_no_return_batch(pvecs, horizon=params.horizon, tol=1e-15)
    assert b.outcome_names == ["tips", "tips"]
    assert np.all(np.nextafter(b.lo, np.inf) == b.hi)
    # agrees with the scalar bisection at a normal tolerance
    p = tipping.point_of_no_return(params, tol=1e-6)
    assert abs(b.time[0] - p.time) < 1e-3


@pytest.mark.parametrize("tol", [0.0, -1.0, float("nan"), float("inf"), True])
def test_engine_ponr_rejects_bad_tol(tol):
    params = load_scenario(NEWSPAPERS).params
    with pytest.raises(ValueError, match="tol"):
        engine.point_of_no_return_batch(param_vector(params)[None, :], horizon=params.horizon, tol=tol)
