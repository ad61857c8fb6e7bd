"""Published effect sizes beside the model's (model.evidence.effects, `python -m model effects`).

The elasticity's definition is checked where the answer is closed form (a fixed price with
demand per customer: d ln G_I / d ln q_P = -s / (1 - s), whatever makes the markets
differ), and elsewhere by two perturbations and two step sizes that must agree; the entry
effect by its own closed form; every parsing error by the line and column it names; the
command by its JSON against the module's numbers.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from model import load_scenario
from model.evidence.effects import (AGREEMENT_FACTOR, COLUMNS, EffectSize, agreement, anchor_time, compare,
                                    elasticity, entry_effect, markdown_table, parse_effect_sizes)

HEADER = ("# title: Published estimates of incumbents' responses to platforms\n"
          "# units: per row\n"
          "# sources: somebody, somewhere\n"
          "# retrieved: 2026-12-02\n")
GOOD_ROW = ("hotels,A & B 2017,revenue_elasticity_to_platform_volume,-0.035,-0.06,-0.01,1,0.02,volume,,2014,panel,"
            "verified,\"what it measures, with a comma\",\"where, p. 3\"")


def text(*rows: str, header: str = HEADER) -> str:
    return header + ",".join(COLUMNS) + "\n" + "".join(r + "\n" for r in rows)


def row(**changes) -> str:
    """GOOD_ROW with some fields replaced."""
    fields = dict(zip(COLUMNS, next(csv.reader([GOOD_ROW]))))
    fields.update(changes)
    return ",".join(f'"{v}"' if "," in v else v for v in fields.values())


@pytest.fixture(scope="module")
def fixed(baseline):
    """One firm, a fixed price, demand per customer: G_I = N (1 - s), q_P = N s d_P."""
    return baseline.params.replace(price_policy="fixed", horizon=20.0)


@pytest.fixture(scope="module")
def competitive(baseline):
    return baseline.params.replace(price_policy="competitive", horizon=20.0)


def effect(**changes) -> EffectSize:
    return parse_effect_sizes(text(row(**changes))).rows[0]


# --- the definition ------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["adoption", "seed"])
def test_elasticity_closed_form_under_a_fixed_price(fixed, method):
    t, shares, note = anchor_time(fixed, effect(share_at_estimate="0.05", share_basis="customers"))
    assert note == "" and t > 0
    assert_allclose(shares["customers"], 0.05, rtol=1e-3, atol=0)
    value = elasticity(fixed, t, method=method)
    s = shares["customers"]
    # Central difference of ln(1 - e^x) over x = ln s: O(step^2) relative error.
    assert_allclose(value, -s / (1 - s), rtol=1e-3, atol=0)


def test_elasticity_two_step_sizes_and_two_methods_agree(competitive):
    """A price that responds to the share lost: no closed form, but the central difference
    converges (two steps agree to O(step^2)) and the two ways of making markets differ give
    the same sign and size."""
    t, _, note = anchor_time(competitive, effect(share_at_estimate="0.1", share_basis="customers"))
    assert note == ""
    small, large = (elasticity(competitive, t, step=h) for h in (0.01, 0.04))
    assert small < 0
    assert_allclose(small, large, rtol=2e-3, atol=0)
    seed = elasticity(competitive, t, method="seed")
    assert seed < 0 and 0.5 < seed / small < 2.0


def test_entry_effect_closed_form_under_a_fixed_price(fixed):
    """G_I = N (1 - s): with against without the platform is the ratio of the incumbents'
    customer shares at the same time (N is the same in both runs)."""
    from model import simulate

    t = 6.0
    value = entry_effect(fixed, t)
    with_platform = simulate(fixed, t_eval=np.array([0.0, t]), t_end=t, rtol=1e-10, atol=1e-12)
    without = simulate(fixed, t_eval=np.array([0.0, t]), t_end=t, rtol=1e-10, atol=1e-12, freeze_acquisition_at=0.0)
    s_with, s_without = with_platform["platform_share"][-1], without["platform_share"][-1]
    assert_allclose(value, (1 - s_with) / (1 - s_without) - 1, rtol=1e-5, atol=1e-9)
    assert entry_effect(fixed, t, series="incumbent_price") == pytest.approx(0.0, abs=1e-9)


def test_anchor_not_reached_is_reported(fixed):
    e = effect(share_at_estimate="0.95", share_basis="customers")
    t, _, note = anchor_time(fixed, e)
    assert t is None and "never reaches 95.0% of customers" in note
    (c,) = compare(parse_effect_sizes(text(row(share_at_estimate="0.95", share_basis="customers"))),
                   {"hotels": fixed})
    assert c.value is None and c.agreement == "undetermined" and "n/a" in markdown_table([c])


def test_agreement_rules():
    e = effect()  # -0.035 in [-0.06, -0.01]
    assert agreement(e, -0.02) == "inside"
    assert agreement(e, -0.065) == "within_factor"  # outside the interval, within x2
    assert agreement(e, -0.005) == "outside"
    assert agreement(e, 0.035) == "outside"
    assert agreement(e, None) == "undetermined"
    sign_only = effect(estimate="", ci_low="", ci_high="0")
    assert agreement(sign_only, -0.3) == "inside" and agreement(sign_only, 0.01) == "outside"
    point = effect(ci_low="", ci_high="")
    assert agreement(point, -0.035 * AGREEMENT_FACTOR) == "within_factor"
    assert agreement(point, -0.035 * AGREEMENT_FACTOR * 1.01) == "outside"


# --- parsing -----------------------------------------------------------------------------

def test_parses_quoted_fields_and_header():
    table = parse_effect_sizes(text(GOOD_ROW), "x.csv")
    (r,) = table.rows
    assert table.title.startswith("Published estimates") and table.retrieved == "2026-12-02"
    assert r.definition == "what it measures, with a comma" and r.line == 6
    assert (r.estimate, r.ci_low, r.ci_high, r.year_at_estimate) == (-0.035, -0.06, -0.01, 2014)


@pytest.mark.parametrize("changes, column, allowed", [
    ({"quantity": "revenue_elasticity"}, "quantity", "one of revenue_elasticity_to_platform_volume"),
    ({"estimate": "about -0.04"}, "estimate", "not a number"),
    ({"estimate": "nan"}, "estimate", "a finite number"),
    ({"estimate": "-0.1"}, "estimate", "outside its interval"),
    ({"ci_low": "0.1", "ci_high": "0"}, "ci_low", "above `ci_high`"),
    ({"unit": "percent"}, "unit", "is in '1'"),
    ({"share_at_estimate": "1.5"}, "share_at_estimate", r"a share in \(0, 1\)"),
    ({"share_basis": "listings"}, "share_basis", "one of customers, volume, gross"),
    ({"share_basis": ""}, "share_basis", "together"),
    ({"share_at_estimate": "", "share_basis": ""}, "share_at_estimate", "computed at the observed share"),
    ({"year_at_estimate": "2014-15"}, "year_at_estimate", "a calendar year"),
    ({"design": "rct"}, "design", "one of panel, entry, descriptive"),
    ({"verification": "maybe"}, "verification", "one of verified, recalled"),
    ({"source": ""}, "source", "non-empty"),
    ({"sector": "../hotels"}, "sector", "a scenario file's stem"),
    ({"estimate": "", "ci_low": "", "ci_high": ""}, "estimate", "at least one bound"),
    ({"quantity": "price_change_after_entry", "unit": "fraction", "share_at_estimate": "",
      "share_basis": ""}, "years_after_entry", "observed share or the years since entry"),
    ({"quantity": "price_change_after_entry", "unit": "fraction", "years_after_entry": "0"},
     "years_after_entry", "a positive number of years"),
])
def test_row_errors_name_file_line_column_and_what_is_allowed(changes, column, allowed):
    data = text(GOOD_ROW, row(study="C 2020", **changes))
    with pytest.raises(ValueError, match=rf"^f\.csv: line 7, column `{column}`: .*{allowed}"):
        parse_effect_sizes(data, "f.csv")


@pytest.mark.parametrize("data, line, message", [
    (text(GOOD_ROW, header=HEADER.replace("# units", "# unit")), 2, "KEY one of title, units"),
    (text(GOOD_ROW, header=HEADER.replace("# units: per row\n", "")), 2, "out of order: expected `units`"),
    (text(GOOD_ROW, header=HEADER.replace("# retrieved: 2026-12-02\n", "")), 4, "missing header line"),
    (HEADER + "sector,study\n" + GOOD_ROW + "\n", 5, "expected exactly sector,study,quantity"),
    (text("hotels,A,revenue_elasticity_to_platform_volume,-0.1"), 6, "4 fields, expected 15"),
    (text(GOOD_ROW, GOOD_ROW), 7, "already has a row"),
    (text(), 6, "no estimates"),
])
def test_file_errors_name_the_line(data, line, message):
    with pytest.raises(ValueError, match=rf"^f\.csv: line {line}(, column `\w+`)?: .*{message}"):
        parse_effect_sizes(data, "f.csv")


def test_unknown_sector_is_refused(fixed):
    with pytest.raises(ValueError, match=r"line 6, column `sector`: 'hotels' has no scenario; given: books"):
        compare(parse_effect_sizes(text(GOOD_ROW)), {"books": fixed})


# --- the data file and the command -------------------------------------------------------

@pytest.fixture(scope="module")
def module_result(root):
    table = parse_effect_sizes((root / "data" / "effect_sizes.csv").read_text(encoding="utf-8"),
                               "data/effect_sizes.csv")
    scenarios = {s: load_scenario(root / "scenarios" / f"{s}.toml") for s in {r.sector for r in table.rows}}
    return table, compare(table, scenarios)


def test_data_file_header_and_rows(root, module_result):
    table, comparisons = module_result
    lines = (root / "data" / "effect_sizes.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# title: Published estimates of incumbents' responses to platforms"
    assert lines[1] == "# units: per row" and lines[3] == "# retrieved: 2026-12-02"
    assert {r.sector for r in table.rows} <= {"hotels", "newspapers", "publishing"}
    assert all(c.value is not None and math.isfinite(c.value) for c in comparisons)


def test_command_json_matches_the_module(module_result, capsys):
    from model.commands.cli import main

    assert main(["effects", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    table, comparisons = module_result
    assert out["retrieved"] == table.retrieved and len(out["comparisons"]) == len(comparisons)
    for got, want in zip(out["comparisons"], comparisons):
        assert got["effect"]["study"] == want.effect.study and got["effect"]["line"] == want.effect.line
        assert got["agreement"] == want.agreement
        assert_allclose(got["value"], want.value, rtol=1e-12, atol=0)
        assert_allclose(got["time"], want.time, rtol=1e-12, atol=0)
    assert out["markdown"] == markdown_table(comparisons)
    assert main(["effects"]) == 0
    assert capsys.readouterr().out == markdown_table(comparisons)


def test_command_bad_file_exits_2(tmp_path, capsys):
    from model.commands.cli import main

    bad = tmp_path / "e.csv"
    bad.write_text(text(row(quantity="elasticity")), encoding="utf-8")
    assert main(["effects", "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: line 6, column `quantity`") and err.count("\n") == 1
