"""The paper: no results number typed by hand, the verdict summary read from the verdict's
real columns, figures included from the manifest, and an end-to-end build (small draws)
that prints a PDF of several pages with one figure per manifest entry."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess

import pytest

from model.commands.paper import build as build_paper
from model.publish import paper


def test_the_real_template_has_no_hand_typed_results_numbers():
    text = paper.TEMPLATE.read_text()
    assert paper.RESULTS.findall(text), "the template has results regions"
    assert paper.hand_typed_numbers(text) == []


def test_a_typed_number_in_a_results_region_is_found():
    text = ("Outside 20% is fine.\n<!-- results -->\nThe point of no return is {{ x | pct }} in `baseline.toml`, "
            "not 23% or 0.5.\n<!-- /results -->\n")
    assert paper.hand_typed_numbers(text) == ["23", "0.5"]


def test_every_placeholder_of_the_template_is_generated_by_the_build(tmp_path):
    # The values the build's own functions generate, against the placeholders the template uses.
    template = paper.Template(paper.TEMPLATE.read_text())
    names = {name for include, name, _ in template.placeholders() if not include}
    includes = {name for include, name, _ in template.placeholders() if include}
    # Placeholders shown inside comments are not rendered, so they need no value.
    live = paper.Template(paper.COMMENT.sub("", template.text))
    live_names = {name for include, name, _ in live.placeholders() if not include}
    row = {"sector": "a", "draws": 40, "seed": 1, "twenty_in_share_interval": "True",
           "twenty_in_gross_loss_interval": "False", "ponr_share_median": 0.3, "ponr_gross_loss_median": 0.4,
           "top1": "debt_service", "top2": "fixed_cost_share", "top3": "initial_buffer"}
    _write_verdict(tmp_path, [row])
    generated = set(paper.verdict_values(tmp_path, None, 1))
    generated |= set(paper.baseline_values(paper.ROOT / "scenarios" / "baseline.toml"))
    assert live_names <= generated, live_names - generated
    assert names >= live_names
    assert includes >= {"equations.md", "parameters.md", "loops.md", "calibration.md", "verdict.md", "figures.md",
                        "sectors.md", "sector_sources.md"}


def _write_verdict(folder, rows):
    fields = list(rows[0])
    with (folder / "verdict.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def test_verdict_values_read_the_verdict_columns(tmp_path):
    def row(sector, in_share, in_loss, share, loss):
        return {"sector": sector, "draws": 40, "seed": 1, "twenty_in_share_interval": in_share,
                "twenty_in_gross_loss_interval": in_loss, "ponr_share_median": share, "ponr_gross_loss_median": loss}

    _write_verdict(tmp_path, [row("a", "True", "False", 0.15, 0.4), row("b", "False", "False", 0.62, 0.7),
                              row("c", "", "", "", "")])  # c never tips
    values = paper.verdict_values(tmp_path, None, 1)
    assert values["verdict.sectors"] == 3 and values["verdict.draws"] == 40
    assert values["verdict.inside_share"] == 1 and values["verdict.inside_gross_loss"] == 0
    assert values["verdict.share_median_min"] == 0.15 and values["verdict.share_median_max"] == 0.62
    sentence = values["summary_sentence"]
    assert "in 1 and inside the interval of the incumbent's gross loss in 0" in sentence
    assert "from 15% to 62%" in sentence and "from 40% to 70%" in sentence
    assert "not one number shared by every sector" in sentence


def test_verdict_values_refuse_a_file_without_the_columns(tmp_path):
    _write_verdict(tmp_path, [{"sector": "a", "draws": 3}])
    with pytest.raises(ValueError, match="missing columns twenty_in_share_interval"):
        paper.verdict_values(tmp_path, None, 0)


def test_figures_markdown_follows_the_manifest(tmp_path):
    fig_dir = tmp_path / "figures"
    fig_dir.mkdir()
    manifest = {"figures": [
        {"name": "a", "caption": "First.", "files": {"svg": "a.svg", "pdf": "a.pdf", "png": "a.png"},
         "size_in": [4.5, 3.0]},
        {"name": "b", "caption": "Second.", "files": {"svg": "b.svg"}, "size_in": [2.25, 2.0]}]}
    (fig_dir / "figures.json").write_text(json.dumps(manifest))
    md = paper.figures_markdown(fig_dir, tmp_path)
    # At their book size: 4.5 and 2.25 inches of a 6.5-inch text width.
    assert md.splitlines()[0] == "![Figure 1. First.](figures/a.svg){width=69%}"
    assert "![Figure 2. Second.](figures/b.svg){width=35%}" in md


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    pdf = build_paper(out, draws=20, seed=0, quick=True, log=lambda s: None)
    return out, pdf


def test_build_prints_a_pdf_with_every_figure(built):
    out, pdf = built
    assert pdf.read_bytes()[:5] == b"%PDF-"
    info = subprocess.run([shutil.which("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages > 1
    manifest = json.loads((out / "figures" / "figures.json").read_text())
    html = (out / "paper.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) == len(manifest["figures"]) >= 9
    assert [i.split("/")[-1] for i in images] == [f["files"]["svg"] for f in manifest["figures"]]
    assert all((out / i).exists() for i in images)
    for f in manifest["figures"]:
        assert f["caption"] in html.replace("&#39;", "'").replace("’", "'") or f["caption"][:40] in html


def test_build_states_the_generated_numbers(built):
    out, _ = built
    values = json.loads((out / "generated" / "values.json").read_text())
    md = (out / "paper.md").read_text()
    assert values["summary_sentence"] in md
    assert values["verdict.draws"] == 20
    assert "{{" not in md  # every placeholder filled
    # The figures used the verdict the paper states (same files, same draws and seed).
    manifest = json.loads((out / "figures" / "figures.json").read_text())
    verdict_fig = next(f for f in manifest["figures"] if f["name"] == "verdict")
    assert verdict_fig["draws"] == 20 and verdict_fig["seed"] == 0
    assert verdict_fig["notes"]["verdict_files"][0]["file"].endswith("verdict.csv")
