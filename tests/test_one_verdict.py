"""One verdict, one source: a sector (crafts) through the command's JSON, verdict.md, the dashboard,
the book figure and the paper, which must agree word for word and number for number."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from model.commands.cli import main as cli_main
from model.evidence.scenarios import load_scenario
from model.publish import book, paper
from model.studies.verdict import (
    QUICK_CLAIM_DRAWS,
    QUICK_CRITICAL_MASS_DRAWS,
    QUICK_DRAWS,
    CLAIMED_BAND,
    CLAIMED_SHARE,
    READING_LABELS,
    READINGS,
    reading_verdict,
    sector_verdict,
)
from model.studies.verdict_report import READING_COLUMNS, _iv, _pct

ROOT = Path(__file__).resolve().parents[1]
# Crafts: a sector of eight firms whose quick verdict is among the cheapest (newspapers' most draws tip: 5x the time).
FILE = ROOT / "scenarios" / "crafts.toml"
APP = str(ROOT / "app.py")


def _run_command(out, capsys):
    code = cli_main(["verdict", "--draws", str(QUICK_DRAWS), "--claim-draws",
                     str(QUICK_CLAIM_DRAWS), "--critical-mass-draws",
                     str(QUICK_CRITICAL_MASS_DRAWS), "--scenarios", str(FILE), "--out", str(out),
                     "--json"])
    assert code == 0
    return json.loads(capsys.readouterr().out)


def test_command_markdown_dashboard_figure_and_paper_agree(tmp_path, capsys):
    data = _run_command(tmp_path, capsys)
    (sector,) = data["sectors"]
    readings = [r for r in sector["readings"] if r["definition"] == "sector"]
    assert [r["reading"] for r in readings] == list(READINGS)

    def cells(r):
        iv = type("I", (), {"median": _nan(r["median"]), "low": _nan(r["p05"]), "high": _nan(r["p95"]),
                            "n": r["n_tips"]})
        return (r["label"], _iv(iv), _pct(_nan(r["p_at_most_20"])), _pct(_nan(r["p_15_25"])),
                f"{r['n_tested']} / {r['n_finished']}", r["verdict"])

    expected = [cells(r) for r in readings]

    # verdict.md: the same rows, word for word.
    md = (tmp_path / "verdict.md").read_text()
    for row in expected:
        assert f"| {sector['name']} | " + " | ".join(row[:-1]) + f" | **{row[-1]}** |" in md

    # The dashboard: the same table.
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["sector"] = FILE.stem
    at.query_params["view"] = "claims"  # the claims table is a view under the main chart
    at.run()
    at.toggle(key="verdict").set_value(True).run()
    assert not at.exception
    table = at.table[0].value
    assert list(table.columns) == list(READING_COLUMNS[1:])
    shown = [(idx, *map(str, row)) for idx, row in zip(table.index, table.itertuples(index=False))]
    assert shown == expected
    claims_table = at.table[-1].value
    c1 = claims_table.loc["C1"].iloc[-1]
    assert all(f"{r['verdict']} on the {READING_LABELS[r['reading']]}" in c1 for r in readings)
    for claim in data["claims"]:  # C5, C7, C4: the paired tests' answers
        assert claims_table.loc[claim["claim"]].iloc[-1] == claim["answer"]

    # The paper's summary and the book figure's caption, from the files the command wrote.
    values = paper.verdict_values(tmp_path, None, 0)
    words = {r["verdict"] for r in readings}
    if len(words) == 1:
        assert f"It {words.pop()} on all four readings in {sector['name']}." in values["summary_sentence"]
    tally = {w: sum(r["verdict"] == w for r in readings) for w in ("holds", "fails", "undetermined")}
    assert (values["verdict.holds"], values["verdict.fails"], values["verdict.undetermined"]) == \
        (tally["holds"], tally["fails"], tally["undetermined"])
    ctx = book.Context(verdict_dir=tmp_path, sector_files=[FILE])
    built = book.build_verdict(ctx)
    assert (f"holds in {tally['holds']} of 4 sector verdicts, fails in {tally['fails']} and is undetermined in "
            f"{tally['undetermined']}") in built.caption


def _nan(x):
    return math.nan if x is None else float(x)


def test_verdict_probabilities_against_a_recount_of_the_draws():
    v = sector_verdict(load_scenario(FILE), draws=120, seed=4, key="recount", critical_mass_draws=0,
                       first_failure=False)
    d = v.draws
    top = CLAIMED_SHARE + CLAIMED_BAND
    for reading, value_key, peak_key in (("share_of_gross", "share", "peak_share"),
                                         ("gross_loss", "gross_loss", "peak_gross_loss"),
                                         ("volume_share", "volume_share", "peak_volume_share")):
        r = v.reading(reading)
        tested_thresholds, above = [], 0
        for i in range(v.n_draws):  # one draw at a time, by the rules' words
            if d["outcome"][i] == 0 and math.isfinite(d[value_key][i]):
                tested_thresholds.append(d[value_key][i])
            elif d["outcome"][i] == 1 and d[peak_key][i] > top:
                above += 1
        n = len(tested_thresholds) + above
        assert r.n_tested == n and r.n_above == above
        assert r.p_at_most_claim == pytest.approx(sum(x <= 0.2 for x in tested_thresholds) / n, abs=1e-15)
        assert r.p_near_claim == pytest.approx(sum(0.15 <= x <= 0.25 for x in tested_thresholds) / n, abs=1e-12)
    # The words follow the stated rules, at their edges too.
    tips = np.zeros(100, dtype=np.int8)
    values = np.r_[np.full(50, 0.2), np.full(50, 0.6)]
    assert reading_verdict("share_of_gross", "sector", tips, values, np.full(100, np.nan)).word == "holds"
    values = np.r_[np.full(24, 0.2), np.full(76, 0.6)]
    assert reading_verdict("share_of_gross", "sector", tips, values, np.full(100, np.nan)).word == "fails"
    values = np.r_[np.full(25, 0.2), np.full(75, 0.6)]
    assert reading_verdict("share_of_gross", "sector", tips, values, np.full(100, np.nan)).word == "undetermined"
    # Too few draws test it: 20 tips, 80 never tip below the band.
    outcome = np.r_[np.zeros(20), np.ones(80)].astype(np.int8)
    few = reading_verdict("share_of_gross", "sector", outcome, np.full(100, 0.2), np.full(100, 0.1))
    assert few.word == "undetermined" and few.n_tested == 20 and few.n_below_band == 80
