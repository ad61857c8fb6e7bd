import dataclasses
import math

import pytest

from model.core.parameters import PARAMETER_SPECS, SWITCHES, Parameters, coerce, numeric_names, spec


def test_defaults_are_valid_and_frozen():
    p = Parameters()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.fixed_cost_share = 0.1  # type: ignore[misc]
    assert p.initial_margin == pytest.approx(1 - p.fixed_cost_share - p.variable_cost_share, abs=1e-15)


def test_keyword_only():
    with pytest.raises(TypeError):
        Parameters(0.3)  # type: ignore[misc]


def test_every_field_is_described():
    for name, s in PARAMETER_SPECS.items():
        assert s.name == name
        assert s.symbol and s.latex and s.meaning and s.group
        if s.is_switch:
            assert s.default in s.choices
        else:
            lo, hi = s.bounds
            assert lo < hi and lo <= s.default <= hi
    assert set(SWITCHES) == {"network_effect", "price_policy", "hard_network", "soft_network", "demand_form",
                             "contagion", "insolvency", "firm_count"}
    assert "horizon" in numeric_names() and "price_policy" not in numeric_names()


@pytest.mark.parametrize("name", [n for n, s in PARAMETER_SPECS.items() if not s.is_switch])
def test_out_of_range_rejected_with_field_value_and_bounds(name):
    lo, hi = spec(name).bounds
    bad = hi + abs(hi) + 1.0
    with pytest.raises(ValueError, match=rf"`{name}` must be in \[{lo:g}, {hi:g}\], got {bad!r}"):
        Parameters(**{name: bad})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_rejected(bad):
    with pytest.raises(ValueError, match=r"`churn_rate` must be a finite number in \[0, 3\]"):
        Parameters(churn_rate=bad)


def test_wrong_type_rejected():
    with pytest.raises(ValueError, match=r"`churn_rate` must be a finite number .* got '0.3' \(str\)"):
        Parameters(churn_rate="0.3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`churn_rate` .* got True"):
        Parameters(churn_rate=True)  # type: ignore[arg-type]


def test_switch_choices():
    with pytest.raises(ValueError, match=r"`price_policy` must be one of 'average_cost', 'two_part', 'fixed', "
                                         r"'competitive', got 'cheap'"):
        Parameters(price_policy="cheap")
    with pytest.raises(ValueError, match=r"`hard_network` must be one of True, False, got 1"):
        Parameters(hard_network=1)  # type: ignore[arg-type]


def test_inconsistent_cost_shares_rejected():
    with pytest.raises(ValueError, match=r"`fixed_cost_share` \+ `variable_cost_share` must be in \[0.05, 0.99\].*0.8 \+ 0.3 = 1.1"):
        Parameters(fixed_cost_share=0.8, variable_cost_share=0.3)
    with pytest.raises(ValueError, match=r"0 \+ 0 = 0"):
        Parameters(fixed_cost_share=0.0, variable_cost_share=0.0)


def test_replace_validates_and_names_unknown():
    p = Parameters().replace(fixed_cost_share=0.5)
    assert p.fixed_cost_share == 0.5
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) 'fixed_cost'; valid names: demand_elasticity"):
        Parameters().replace(fixed_cost=0.5)
    with pytest.raises(ValueError, match=r"`fixed_cost_share` must be in"):
        Parameters().replace(fixed_cost_share=1.5)


def test_coerce_parses_without_eval():
    assert coerce("fixed_cost_share", "0.7") == 0.7
    assert coerce("price_policy", "FIXED") == "fixed"
    assert coerce("hard_network", "false") is False
    with pytest.raises(ValueError, match=r"`fixed_cost_share` .* got '__import__\(\"os\"\)' \(not a number\)"):
        coerce("fixed_cost_share", '__import__("os")')
    with pytest.raises(ValueError, match=r"unknown parameter 'nope'"):
        coerce("nope", "1")
