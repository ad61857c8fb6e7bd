"""Evidence checks: the observations file's refusals, the model's values read two ways, and
the command over the committed files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.commands.cli import main as cli_main
from model.core.simulate import simulate
from model.evidence.checks import DATA, check, markdown_table, model_values, parse_observations
from model.evidence.scenarios import SCENARIOS, load_scenario

META = ("# title: t\n# units: u\n# sources: s\n# retrieved: 2026-12-02\n"
        "sector,year,compare_to,value,low,high,observation,source,relative_to,at\n")
GOOD = "hotels,2015,platform_volume_share,0.015,0.01,0.02,a note,a source,,\n"


def test_the_committed_observations_parse_and_name_existing_files():
    header, obs = parse_observations(DATA.read_text(encoding="utf-8"), "checks.csv")
    assert header["retrieved"] and len(obs) >= 10
    for o in obs:
        assert (SCENARIOS / f"{o.sector}.toml").exists(), o.sector
        assert o.low <= o.value <= o.high and o.source


@pytest.mark.parametrize("row, message", [
    ("hotels,20x5,platform_volume_share,0.015,0.01,0.02,a,b,,\n", r"line 7, column `year`: must be an integer"),
    ("hotels,2015,share,0.015,0.01,0.02,a,b,,\n", r"line 7, column `compare_to`: must be one of .*platform_volume_share"),
    ("hotels,2015,platform_volume_share,0.03,0.01,0.02,a,b,,\n", r"line 7, column `value`: must lie in \[low, high\]"),
    ("hotels,2015,platform_volume_share,0.015,,0.02,a,b,,\n", r"line 7, column `low`: must be a number"),
    ("hotels,2015,platform_volume_share,0.015,0.01,0.02,a,,,\n", r"line 7, column `source`: is empty"),
    ("hotels,2015,platform_volume_share,0.015,0.01,0.02,a,b,2016,\n", r"line 7, column `relative_to`: must be before"),
    ("hotels,2015,platform_volume_share,0.015,0.01,0.02,a,b,,noon\n", r"line 7, column `at`: must be one of mid, end"),
])
def test_bad_rows_are_refused_naming_line_and_column(row, message):
    with pytest.raises(ValueError, match=message):
        parse_observations(META + GOOD + row, "obs.csv")


def test_model_values_agree_with_a_dense_run_interpolated():
    """Two readings of the same run: the check reads the nearest point of a fine grid, the
    cross-check interpolates a separate run evaluated exactly at mid-year."""
    sc = load_scenario(SCENARIOS / "hotels.toml")
    years = [2010, 2015, 2024]
    result = simulate(sc.params, n_points=1601)
    got = model_values(result, [("platform_volume_share", y) for y in years]
                       + [("incumbent_revenue_ratio", y) for y in years], sc.start_year)
    t = np.array(years, dtype=float) - sc.start_year + 0.5
    exact = simulate(sc.params, t_eval=np.concatenate([[0.0], t]), rtol=1e-9, atol=1e-12)
    share = exact["platform_volume"] / (exact["platform_volume"] + exact["incumbent_volume"])
    ratio = exact["incumbent_revenue"] / exact["incumbent_revenue"][0]
    np.testing.assert_allclose(got, np.concatenate([share[1:], ratio[1:]]), rtol=5e-3)


def test_check_reads_each_file_of_a_sector_and_counts_inside():
    _, obs = parse_observations(META + GOOD + "hotels,2024,platform_volume_share,0.147,0.0,1.0,b,c,,\n", "o.csv")
    sc = load_scenario(SCENARIOS / "hotels.toml")
    rows = check(obs, {"hotels": sc, "hotels_calibrated": load_scenario(SCENARIOS / "hotels_calibrated.toml")})
    assert [(r["file"], r["year"]) for r in rows] == [("hotels", 2015), ("hotels", 2024),
                                                      ("hotels_calibrated", 2015), ("hotels_calibrated", 2024)]
    for r in rows:
        assert r["inside"] == (r["low"] <= r["model"] <= r["high"])
        np.testing.assert_allclose(r["ratio"], r["model"] / r["observed"])
    assert rows[1]["inside"]  # the interval [0, 1] holds any share
    md = markdown_table(rows)
    assert md.count("\n| hotels") == 4 and f"{sum(r['inside'] for r in rows)} of 4 checks" in md


def test_command_json_has_a_row_per_observation_and_file(capsys):
    assert cli_main(["checks", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    _, obs = parse_observations(DATA.read_text(encoding="utf-8"), "c.csv")
    twins = {o.sector for o in obs if (SCENARIOS / f"{o.sector}_calibrated.toml").exists()}
    assert len(out["rows"]) == len(obs) + sum(o.sector in twins for o in obs)
    assert out["inside"] == sum(r["inside"] for r in out["rows"])


def test_a_sector_without_a_file_is_refused(tmp_path, capsys):
    path = tmp_path / "o.csv"
    path.write_text(META + "atlantis,2015,platform_volume_share,0.015,0.01,0.02,a,b,,\n")
    assert cli_main(["checks", "--data", str(path)]) == 2
    assert "line 6, column `sector`: no scenario file" in capsys.readouterr().err


def test_relative_and_year_end_readings_are_ratios_of_the_run_at_year_end():
    sc = load_scenario(SCENARIOS / "newspapers.toml")
    result = simulate(sc.params, n_points=1601)
    ratio, now, then = model_values(result, [("incumbent_firm_value", 2008, 2004, "end"),
                                             ("incumbent_firm_value", 2008, None, "end"),
                                             ("incumbent_firm_value", 2004, None, "end")], sc.start_year)
    np.testing.assert_allclose(ratio, now / then, rtol=1e-12)
    mid = model_values(result, [("incumbent_firm_value", 2008)], sc.start_year)[0]
    assert mid != now  # year-end is read half a year later than mid-year
