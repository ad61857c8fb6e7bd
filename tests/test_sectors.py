"""Sector files (scenarios/*.toml but the baseline): they load, run, and carry their evidence.

Also the loader's refusals on a real sector file turned bad: an unknown key, a missing
source, a value out of bounds and a range that does not contain its value each fail with
one message naming the file and the key.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from model.commands.cli import main as cli_main
from model.core.parameters import PARAMETER_SPECS, SWITCHES, Parameters
from model.core.simulate import simulate
from model.evidence.scenarios import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SECTOR_FILES = sorted(p for p in (ROOT / "scenarios").glob("*.toml") if p.name != "baseline.toml")
#: The sectors the issue names (C9 of MODEL.md), one file each.
EXPECTED = {"newspapers", "hotels", "crafts", "publishing", "payments", "universities", "chronic_care",
            "food", "artisans_vs_ford"}
NUMERIC = [n for n, s in PARAMETER_SPECS.items() if not s.is_switch]
YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


def test_every_named_sector_has_a_file():
    assert EXPECTED <= {p.stem for p in SECTOR_FILES}


@pytest.fixture(scope="module", params=SECTOR_FILES, ids=lambda p: p.stem)
def sector(request):
    return load_scenario(request.param)


def test_loads_with_metadata_and_every_number_accounted_for(sector):
    meta = sector.meta
    for key in ("name", "sector", "incumbent", "platform", "description"):
        assert isinstance(meta.get(key), str) and meta[key].strip(), key
    assert isinstance(sector.start_year, int) and 1900 <= sector.start_year <= 2025
    # Every numeric parameter is set in the file with its own source or assumption (no
    # silent model defaults), and every switch is chosen explicitly.
    assert set(sector.sources) == set(NUMERIC)
    text = Path(sector.origin).read_text(encoding="utf-8")
    for name in SWITCHES:
        assert re.search(rf"^{name}\s*=", text, re.MULTILINE), f"switch {name} not set"


def test_sources_name_a_year_and_assumptions_have_ranges(sector):
    for name, text in sector.sources.items():
        if text.startswith("assumption: "):
            assert name in sector.ranges, f"{name}: assumption without range"
        else:
            # "publication, year, table or page": a sourced number names its year, or is
            # the essay itself.
            assert YEAR.search(text) or text.startswith("Essay"), f"{name}: source without a year: {text}"


def test_ranges_contain_values_and_every_corner_is_a_valid_sector(sector):
    p = sector.params
    for name, (lo, hi) in sector.ranges.items():
        value = getattr(p, name)
        assert lo <= value <= hi and lo < hi, name
        s = PARAMETER_SPECS[name]
        assert s.bounds[0] <= lo and hi <= s.bounds[1], name
    # The verdict draws each parameter independently within its range: every combination
    # of the two cost shares must leave a valid incumbent (Parameters checks their sum).
    phi = sector.ranges["fixed_cost_share"]
    v = sector.ranges["variable_cost_share"]
    for a in phi:
        for b in v:
            Parameters(**{**p.as_dict(), "fixed_cost_share": a, "variable_cost_share": b})


def test_runs_successfully_with_sane_series(sector):
    r = simulate(sector.params)
    assert r.success, r.message
    s = r["platform_share"]
    assert np.all((s >= 0) & (s <= 1))
    assert np.all(np.isfinite(r["incumbent_revenue"]))
    # The run starts from the file's own initial share and the incumbent's price 1.
    np.testing.assert_allclose(s[0], sector.params.initial_platform_share, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r["incumbent_price"][0], 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("path", SECTOR_FILES, ids=lambda p: p.stem)
def test_cli_run(path, capsys):
    assert cli_main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert load_scenario(path).name in out


# --- refusals, on a real sector file turned bad ----------------------------------------


def _bad_copy(tmp_path: Path, old: str, new: str, name: str = "bad_sector.toml") -> Path:
    text = (ROOT / "scenarios" / "newspapers.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_unknown_parameter_is_refused(tmp_path):
    path = _bad_copy(tmp_path, "[parameters.churn_rate]", "[parameters.churn_rat]")
    with pytest.raises(ValueError, match=r"bad_sector\.toml: `parameters\.churn_rat`: unknown parameter"):
        load_scenario(path)


def test_unknown_entry_key_is_refused(tmp_path):
    path = _bad_copy(tmp_path, 'value = 0.3\nassumption = "a third',
                     'value = 0.3\nsauce = "x"\nassumption = "a third')
    with pytest.raises(ValueError, match=r"bad_sector\.toml: `parameters\.churn_rate\.sauce`: unknown key"):
        load_scenario(path)


def test_missing_source_is_refused(tmp_path):
    path = _bad_copy(tmp_path, 'assumption = "annual advertising rate cards"\n', "")
    with pytest.raises(ValueError,
                       match=r"bad_sector\.toml: `parameters\.price_adjustment_time\.source`: missing"):
        load_scenario(path)


def test_value_out_of_bounds_is_refused(tmp_path):
    path = _bad_copy(tmp_path, "[parameters.fixed_cost_share]\nvalue = 0.6",
                     "[parameters.fixed_cost_share]\nvalue = 1.3")
    with pytest.raises(ValueError, match=r"bad_sector\.toml: `parameters\.fixed_cost_share\.value`: "
                                         r"must be in \[0, 0\.95\], got 1\.3"):
        load_scenario(path)


def test_range_not_containing_value_is_refused(tmp_path):
    path = _bad_copy(tmp_path, "range = [0.48, 0.68]", "range = [0.62, 0.68]")
    with pytest.raises(ValueError, match=r"bad_sector\.toml: `parameters\.fixed_cost_share\.range`: "
                                         r"must satisfy .*value \(0\.6\)"):
        load_scenario(path)


def test_assumption_without_range_is_refused(tmp_path):
    path = _bad_copy(tmp_path, 'assumption = "annual advertising rate cards"\nrange = [0.5, 2.0]',
                     'assumption = "annual advertising rate cards"')
    with pytest.raises(ValueError,
                       match=r"bad_sector\.toml: `parameters\.price_adjustment_time\.range`: missing"):
        load_scenario(path)


def test_cli_reports_a_bad_file_in_one_line(tmp_path, capsys):
    path = _bad_copy(tmp_path, "[parameters.churn_rate]", "[parameters.churn_rat]")
    assert cli_main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "bad_sector.toml" in err and "parameters.churn_rat" in err


def test_run_tipping_and_verdict_refuse_a_bad_range_box_alike(tmp_path, capsys):
    """A file whose values are valid but whose ranges reach an invalid corner is refused by
    every command at load time, with the same one-line message."""
    path = _bad_copy(tmp_path, "[parameters.captive_share]", "[parameters.captive_share]")
    text = path.read_text()
    # Widen the initial platform share's range until its top meets the captive customers.
    import re
    text = re.sub(r"(\[parameters.initial_platform_share\][^\[]*?range = )\[[^\]]*\]", r"\1[0.0005, 0.5]", text,
                  flags=re.S)
    path.write_text(text)
    messages = []
    for command in (["run", str(path)], ["tipping", str(path)], ["verdict", "--scenarios", str(path), "--draws", "4"]):
        assert cli_main(command) == 2, command
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "bad_sector.toml" in err
        messages.append(err[err.index("bad_sector.toml"):])
    assert len(set(messages)) == 1 and "parameters.initial_platform_share.range high = 0.5" in messages[0]


def test_payments_is_left_out_of_the_verdict_with_its_reason(tmp_path):
    """The banks owned Visa: the file says the model does not fit and the verdict's default
    list leaves it out, keeping the reason; every other sector file is in."""
    from model.evidence.scenarios import sector_files, verdict_files

    kept, excluded = verdict_files()
    assert [k for k, _ in excluded] == ["payments"]
    assert "owned" in excluded[0][1] and "Visa" in excluded[0][1]
    assert {p.stem for p in kept} == {p.stem for p in sector_files()} - {"payments"}
    # A file without the key is in; with it, out.
    path = _bad_copy(tmp_path, '[switches]', 'verdict_exclusion = "not this one"\n\n[switches]', name="x.toml")
    assert verdict_files([path]) == ([], [("x", "not this one")])
