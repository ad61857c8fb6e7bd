"""Verdict: the Monte Carlo's sampling, reproducibility and summaries, the inert-parameter
negative controls checked against simulation, the batched point of no return against the
scalar one, the claims, and a new sector file through run, tipping and verdict."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from model.core.parameters import PARAMETER_SPECS
from model.analysis.tipping import point_of_no_return
from model.commands.cli import main as cli_main
from model.core.simulate import simulate
from model.evidence.scenarios import load_scenario
from model.studies.verdict import (
    CLAIMED_SHARE,
    Interval,
    claim_comparisons,
    draw_parameters,
    inert_parameters,
    sector_verdict,
)

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


CRAFTS_DRAWS = 700


@pytest.fixture(scope="module")
def crafts():
    return load_scenario(SCENARIOS / "crafts.toml")


@pytest.fixture(scope="module")
def crafts_verdict(crafts):
    # Enough draws that over a hundred have a point of no return (the sensitivity needs them:
    # crafts' sector of eight firms falls in about a fifth of its draws).
    return sector_verdict(crafts, draws=CRAFTS_DRAWS, seed=7, key="crafts")


def test_interval_is_median_and_5th_95th_percentiles():
    iv = Interval.of(np.r_[np.arange(101.0), np.nan])  # NaN (no PONR) is left out
    assert (iv.median, iv.low, iv.high, iv.n) == (50.0, 5.0, 95.0, 101)
    assert iv.contains(20.0) is True and iv.contains(99.0) is False
    empty = Interval.of([np.nan])
    assert empty.n == 0 and empty.contains(CLAIMED_SHARE) is None


def test_draws_are_a_latin_hypercube_within_the_ranges(crafts):
    n = 50
    names, X, params = draw_parameters(crafts, n, seed=3, key="crafts")
    # A sector of eight firms: the firms' spreads, sizes and switching rate are drawn too;
    # a one-firm sector does not draw them (they do not enter).
    firms = {k for k in crafts.ranges if PARAMETER_SPECS[k].group == "firms"}
    assert crafts.params.firm_count == 8 and firms
    # Neither the window watched nor the discount rate (it prices payouts, which no reading uses).
    assert "horizon" not in names and set(names) == set(crafts.ranges) - {"horizon", "discount_rate"}
    assert "discount_rate" in crafts.ranges
    from dataclasses import replace

    one = replace(crafts, params=crafts.params.replace(firm_count=1))
    assert set(draw_parameters(one, 4, seed=3)[0]) == set(names) - firms
    for j, name in enumerate(names):
        lo, hi = crafts.ranges[name]
        # One draw in each of n equal strata of every parameter: the Latin hypercube property.
        strata = np.floor((X[:, j] - lo) / (hi - lo) * n).astype(int)
        assert sorted(strata) == list(range(n)), name
        np.testing.assert_allclose([getattr(p, name) for p in params], X[:, j], rtol=0, atol=0)
    assert all(p.horizon == crafts.params.horizon for p in params)
    with pytest.raises(ValueError, match="`draws` must be an integer of at least 2"):
        draw_parameters(crafts, 1, seed=0)


def test_verdict_is_reproducible_for_a_seed(crafts, crafts_verdict):
    again = sector_verdict(crafts, draws=CRAFTS_DRAWS, seed=7, key="crafts")
    for key in ("X", "outcome", "time", "share", "gross_loss", "break_even"):
        np.testing.assert_array_equal(crafts_verdict.draws[key], again.draws[key])
    assert again.ponr_share == crafts_verdict.ponr_share and again.sensitivity == crafts_verdict.sensitivity
    other = sector_verdict(crafts, draws=20, seed=8, key="crafts")
    assert not np.array_equal(other.draws["X"], crafts_verdict.draws["X"][:20])


def test_summaries_are_consistent(crafts_verdict):
    v = crafts_verdict
    assert sum(v.counts.values()) == v.n_draws
    finished = v.n_draws - v.counts["failed"]
    np.testing.assert_allclose(v.p_fall, (v.counts["tips"] + v.counts["always_falls"]) / finished, rtol=0, atol=1e-15)
    for iv in (v.break_even, v.ponr_share, v.ponr_gross_loss, v.ponr_time):
        assert iv.n > 0 and iv.low <= iv.median <= iv.high
    # The thresholds are over the draws that tip (an incumbent that falls whatever the
    # platform does has no threshold the platform set).
    assert v.ponr_share.n == v.counts["tips"]
    assert v.p_falls_anyway * finished == pytest.approx(v.counts["always_falls"])
    assert v.p_fall_within_horizon <= v.p_fall
    # Shares and losses are fractions; the PONR precedes the unfrozen fall.
    d = v.draws
    tipped = np.isfinite(d["share"])
    assert np.all((d["share"][tipped] >= 0) & (d["share"][tipped] <= 1))
    assert np.all(d["time"][tipped] <= d["fall_time"][tipped] + 1e-12)
    # Static break-even at the start, current prices: m / (m + phi) (closed form).
    phi = d["X"][:, v.drawn.index("fixed_cost_share")]
    vc = d["X"][:, v.drawn.index("variable_cost_share")]
    m = 1 - phi - vc
    np.testing.assert_allclose(d["break_even"], m / (m + phi), rtol=1e-12, atol=1e-12)  # crafts: fixed price policy


def test_sensitivity_ranks_parameters_above_the_noise_floor():
    # Newspapers: most draws tip, enough for RBD-FAST on every reading.
    v = sector_verdict(load_scenario(SCENARIOS / "newspapers.toml"), draws=300, seed=1, key="newspapers",
                       critical_mass_draws=0, first_failure=False)
    names = [s["parameter"] for s in v.sensitivity]
    assert len(names) == 3 and not set(names) & set(v.inert)
    for reading in ("share_of_gross", "gross_loss", "volume_share"):
        top = v.sensitivity_by_reading[reading]["top"]
        assert len(top) == 3 and not {s["parameter"] for s in top} & set(v.inert)


def test_batched_point_of_no_return_matches_the_scalar_one(crafts_verdict, crafts):
    _, _, params = draw_parameters(crafts, CRAFTS_DRAWS, seed=7, key="crafts")
    d = crafts_verdict.draws
    for i in np.flatnonzero(d["outcome"] == 0)[:3]:  # draws that tip
        scalar = point_of_no_return(params[i])
        assert scalar.outcome == "tips"
        # Two bisections with tolerance 0.01 yr on solvers at rtol 1e-6: brackets overlap.
        np.testing.assert_allclose(d["time"][i], scalar.time, rtol=0, atol=0.02)
        np.testing.assert_allclose(d["share"][i], scalar.share, rtol=0, atol=0.01)


@pytest.mark.parametrize("file, expected", [
    # Standard network effect, fixed price, simple contagion: no close ties, no willingness to
    # pay, no competitive response, no threshold; the debt write-down acts only after an
    # insolvency (in simulate), never before one; the platform's own costs never.
    ("artisans_vs_ford.toml", {"sector_share_of_firm_revenue", "discount_rate", "close_ties", "contacts_per_user", "willingness_to_pay", "platform_unit_cost",
                               "platform_fixed_cost", "price_response", "contagion_threshold", "debt_haircut"}),
    # Competitive pricing: no willingness-to-pay cap, and a per-unit price, so a multi-homer
    # saves the whole bill (multi-homing matters only under a two-part tariff).
    ("newspapers.toml", {"sector_share_of_firm_revenue", "discount_rate", "platform_unit_cost", "platform_fixed_cost", "willingness_to_pay", "contagion_threshold",
                         "debt_haircut", "multihoming_share"}),
])
def test_inert_parameters_do_not_change_the_run(file, expected):
    """Symbolic (sympy) against numeric: doubling an inert parameter leaves the run as it was,
    doubling a parameter that enters changes it."""
    scenario = load_scenario(SCENARIOS / file)
    inert = set(inert_parameters(scenario.params))
    # A sector of eight firms: the firms' spreads, sizes and switching rate enter; in a
    # one-firm sector they do not.
    firms = {n for n, s in PARAMETER_SPECS.items() if s.group == "firms"}
    assert scenario.params.firm_count == 8
    assert inert == expected
    assert set(inert_parameters(scenario.params.replace(firm_count=1))) == expected | firms
    base = simulate(scenario.params)
    for name in sorted(inert):
        spec_hi = {"close_ties": 100.0, "contacts_per_user": 1000.0, "willingness_to_pay": 10.0,
                   "platform_unit_cost": 2.0, "platform_fixed_cost": 1.0, "price_response": 3.0,
                   "contagion_threshold": 30.0, "debt_haircut": 1.0, "multihoming_share": 1.0}.get(
                       name, PARAMETER_SPECS[name].bounds[1])
        # Up to the first insolvency (after it a reorganisation may read the write-down).
        changed = simulate(scenario.params.replace(**{name: spec_hi}, insolvency="liquidation"))
        base = simulate(scenario.params.replace(insolvency="liquidation"))
        np.testing.assert_allclose(changed["platform_share"], base["platform_share"], rtol=0, atol=0)
        np.testing.assert_allclose(changed["buffer"], base["buffer"], rtol=0, atol=0)
    moved = simulate(scenario.params.replace(debt_service=scenario.params.debt_service / 2,
                                             insolvency="liquidation"))
    assert (moved.fall_time, moved["buffer"][-1]) != (base.fall_time, base["buffer"][-1])


def test_claims_pair_the_same_draws(crafts_verdict):
    claims = claim_comparisons(crafts_verdict, claim_draws=40)
    assert [c.claim for c in claims] == ["C5", "C7", "C4"]
    for c in claims:
        assert c.n + c.failed == 40 and 0 <= c.n_both <= c.n
        assert 0 <= c.p_fall_a <= 1 and 0 <= c.p_fall_b <= 1
        assert isinstance(c.answer, str) and c.answer
    # The file's own arm (trust, hard on, relational trust as drawn) is the verdict's.
    base_p = float(np.mean(np.isin(crafts_verdict.draws["outcome"][:40], (0, 2))))
    for c in claims:
        np.testing.assert_allclose(c.p_fall_a, base_p, rtol=0, atol=1e-15)
    c4 = claims[2]
    assert 0 <= c4.extra["retention_n"] <= 40
    with pytest.raises(ValueError, match="must match the verdict"):
        claim_comparisons(crafts_verdict, claim_draws=10, tol=0.05)


def test_new_sector_file_runs_through_run_tipping_and_verdict(tmp_path, capsys):
    # A new user copies a sector file and changes numbers.
    text = (SCENARIOS / "crafts.toml").read_text(encoding="utf-8")
    text = text.replace('name = "Crafts retail vs. Etsy"', 'name = "Bicycle shops vs. a repair-sharing platform"')
    text = text.replace("[parameters.fixed_cost_share]\nvalue = 0.38", "[parameters.fixed_cost_share]\nvalue = 0.4")
    path = tmp_path / "bicycles.toml"
    path.write_text(text, encoding="utf-8")
    assert load_scenario(path).params.fixed_cost_share == 0.4

    assert cli_main(["run", str(path)]) == 0
    assert cli_main(["tipping", str(path), "--no-continue"]) == 0
    capsys.readouterr()

    out = tmp_path / "verdict"
    args = ["verdict", "--draws", "30", "--claim-draws", "10", "--seed", "5", "--scenarios", str(path),
            "--out", str(out)]
    assert cli_main(args) == 0
    printed = capsys.readouterr().out
    assert "bicycles" in printed and "C5" in printed
    rows = list(csv.DictReader((out / "verdict.csv").read_text().splitlines()))
    assert len(rows) == 1 and rows[0]["sector"] == "bicycles" and rows[0]["draws"] == "30"
    assert {rows[0][f"sector_{r}_verdict"] for r in ("share_of_gross", "gross_loss", "firm_gross_loss",
                                                      "volume_share")} <= {"holds", "fails", "undetermined"}
    if rows[0]["ponr_share_median"]:
        med, lo, hi = (float(rows[0][f"ponr_share_{k}"]) for k in ("median", "p05", "p95"))
        assert lo <= med <= hi
    draws = list(csv.DictReader((out / "verdict_draws.csv").read_text().splitlines()))
    assert len(draws) == 30 and {d["outcome"] for d in draws} <= {"tips", "never_tips", "always_falls", "failed"}
    claims = list(csv.DictReader((out / "verdict_claims.csv").read_text().splitlines()))
    assert [c["claim"] for c in claims] == ["C5", "C7", "C4"]
    md = (out / "verdict.md").read_text()
    assert "Bicycle shops vs. a repair-sharing platform" in md and "## Sector table" in md
    # One file, no calibrated variant: counted as one sector file, with no variants note.
    assert "Over 1 sector file and four readings (4 verdicts)" in md

    # Same seed, same numbers.
    first = (out / "verdict.csv").read_bytes()
    assert cli_main(args) == 0
    assert (out / "verdict.csv").read_bytes() == first


def test_verdict_command_refuses_bad_input(tmp_path, capsys):
    assert cli_main(["verdict", "--draws", "1", "--scenarios", str(SCENARIOS / "crafts.toml"),
                     "--out", str(tmp_path)]) == 2
    assert "`draws` must be an integer of at least 2" in capsys.readouterr().err
    assert cli_main(["verdict", "--scenarios", str(tmp_path / "missing.toml"), "--out", str(tmp_path)]) == 2
    assert "no such scenario file" in capsys.readouterr().err
