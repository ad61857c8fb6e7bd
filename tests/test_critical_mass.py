"""The adoption critical mass: the saddle between the platform's low and high equilibria.

Checked against the equilibrium solver (the same saddle), by simulation of the full model
from either side of it (it separates the platforms that take off from those that fade), and
for its absence where the platform is the better deal from the start.
"""

from __future__ import annotations

import numpy as np
import pytest

from model.analysis.critical_mass import critical_mass, separation
from model.analysis.equilibria import equilibria, slaved_state
from model.core.equations import param_vector
from model.core.firms import aggregate
from model.core.simulate import simulate
from model.evidence.scenarios import load_scenario

# Hotels with Airbnb worse stand-alone (quality -0.3 price units): better only at scale.
WORSE = aggregate(load_scenario("scenarios/hotels.toml").params.replace(platform_quality=-0.3))


@pytest.fixture(scope="module")
def cm():
    return critical_mass(WORSE)


def test_the_critical_mass_is_the_solvers_saddle(cm):
    assert cm.exists
    eqs = equilibria(WORSE)  # confirmed by simulation, independent starts
    saddles = [e for e in eqs if e.kind == "saddle"]
    stable = sorted(e.state[0] for e in eqs if e.stable)
    assert len(saddles) == 1 and saddles[0].confirmed
    assert cm.share == pytest.approx(saddles[0].state[0], abs=1e-9)
    assert stable[0] < cm.share < stable[-1]
    assert cm.lower == pytest.approx(stable[0], abs=1e-9) and cm.upper == pytest.approx(stable[-1], abs=1e-9)
    # Its share of gross is the model's output at the saddle: at a fixed incumbent price
    # and a cheaper platform, below its share of volume.
    assert 0 < cm.share_of_gross < cm.share


@pytest.mark.parametrize("delta", [0.01, 0.03])
def test_it_separates_platforms_that_take_off_from_those_that_fade(cm, delta):
    # The market subsystem from the equilibrium curve just below and just above.
    below, above = separation(WORSE, cm, delta=delta)
    assert below == pytest.approx(cm.lower, abs=1e-3) and above == pytest.approx(cm.upper, abs=1e-3)
    # The full model (no sector growth: the equilibria are of a sector of constant size),
    # started at that share with the trust stocks of the curve there.
    pv = param_vector(WORSE)
    ends = []
    for s in (cm.share - delta, cm.share + delta):
        y = slaved_state(pv, s)
        run = simulate(WORSE.replace(initial_platform_share=s, initial_trust=float(y[1]),
                                     initial_relational_trust=float(y[2]), horizon=200.0, sector_growth_rate=0.0))
        assert run.success
        ends.append(float(run["platform_share"][-1]))
    assert ends[0] == pytest.approx(cm.lower, abs=2e-3)
    assert ends[1] == pytest.approx(cm.upper, abs=2e-3)


def test_no_critical_mass_where_the_platform_is_better_from_the_start():
    better = aggregate(load_scenario("scenarios/hotels.toml").params.replace(platform_quality=0.3))
    none = critical_mass(better)
    assert not none.exists and none.share is None
    stable = [e for e in equilibria(better, confirm=False) if e.stable]
    assert len(stable) == 1 and "no critical mass" in none.message
    with pytest.raises(ValueError, match="no critical mass"):
        separation(better, none)
    assert np.isfinite(stable[0].state[0])
