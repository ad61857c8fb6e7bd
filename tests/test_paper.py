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
    row = _row("a", "Sector A", ["fails"] * 4, [0.3, 0.4, 0.2, 0.5])
    row.update({"top1": "debt_service", "top2": "fixed_cost_share", "top3": "initial_buffer"})
    _write_verdict(tmp_path, [row])
    generated = set(paper.verdict_values(tmp_path, None, 1))
    generated |= set(paper.baseline_values(paper.ROOT / "scenarios" / "baseline.toml"))
    from model.publish.book import FIGURES
    generated |= {f"fig.{name}" for name in FIGURES}  # paper.figure_numbers of the built manifest
    assert live_names <= generated, live_names - generated
    assert names >= live_names
    # The sector prose is rendered too: it includes the calibration, checks and effect tables.
    sectors = paper.Template((paper.PAPER / "sectors.md").read_text())
    assert all(include for include, _, _ in sectors.placeholders())
    includes |= {name for _, name, _ in sectors.placeholders()}
    assert includes >= {"equations.md", "parameters.md", "loops.md", "calibration.md", "verdict.md", "figures.md",
                        "sectors.md", "sector_sources.md", "evidence_checks.md", "effects.md"}


def _write_verdict(folder, rows):
    fields = list(rows[0])
    with (folder / "verdict.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


_READINGS = ("share_of_gross", "gross_loss", "firm_gross_loss", "volume_share")


def _row(sector, name, words, medians, p_fall=0.5):
    row = {"sector": sector, "name": name, "draws": 40, "seed": 1, "p_fall": p_fall}
    for reading, word, median in zip(_READINGS, words, medians):
        row[f"sector_{reading}_verdict"] = word
        row[f"sector_{reading}_median"] = median
    return row


def test_verdict_values_read_the_verdict_columns(tmp_path):
    _write_verdict(tmp_path, [
        _row("a", "Sector A", ["holds", "fails", "fails", "undetermined"], [0.21, 0.4, 0.13, 0.6], 0.75),
        _row("b", "Sector B", ["fails"] * 4, [0.62, 0.7, 0.7, 0.8]),
        _row("b_calibrated", "Sector B (calibrated)", ["undetermined"] * 4, ["", "", "", ""], 0.0),  # never tips
        _row("c", "Sector C", ["holds"] * 4, [0.2, 0.19, 0.18, 0.22], 0.9)])
    values = paper.verdict_values(tmp_path, None, 1, excluded=("Sector D",))
    assert values["verdict.sectors"] == 4 and values["verdict.draws"] == 40 and values["verdict.variants"] == 1
    assert values["verdict.sector_count"] == 3  # the calibrated file is not another sector
    # 16 verdicts over the four files: 1 + 4 hold, 2 + 4 fail, 1 + 4 undetermined (a recount by hand).
    assert (values["verdict.holds"], values["verdict.fails"], values["verdict.undetermined"]) == (5, 6, 5)

    # The summary: one table, a row per sector with its calibrated file beside it, then one paragraph.
    table, paragraph = values["summary_sentence"].strip().split("\n\n")
    rows = table.splitlines()
    assert len(rows) == 2 + 3 and all(r.startswith("|") and r.endswith("|") for r in rows) and "\n" not in paragraph
    cells = {r.split(" | ")[0][2:]: r.strip("| ").split(" | ") for r in rows[2:]}
    assert list(cells) == ["Sector A", "Sector B", "Sector C"]
    assert cells["Sector A"][1:] == ["**holds** at 21%", "**fails** at 40%", "**fails** at 13%",
                                     "**undetermined** at 60%", "75%"]
    assert cells["Sector B"][1] == "**fails** at 62%; calibrated: **undetermined**"
    assert cells["Sector B"][5] == "50%; calibrated: 0%"
    # The paragraph: the count of sectors and files, the tally over the sectors' own files
    # (a: 1 holds, 2 fail, 1 undetermined; b: 4 fail; c: 4 hold), and per sector where the claim
    # holds and where it fails, in the verdict's words.
    assert paragraph.startswith("The claim was tested in 3 sectors (4 sector files: Sector B has a calibrated file "
                                "as well, shown beside its own); Sector D is left out")
    assert "it holds in 5 of 12 verdicts, fails in 6 and is undetermined in 1." in paragraph
    assert ("In Sector A it holds on the platform's share of the gross, fails on the incumbents' gross loss and the "
            "incumbents' loss of whole revenue and is undetermined on the platform's share of customers.") in paragraph
    assert "In Sector B it fails on all four readings; calibrated, it is undetermined on all four readings." in paragraph
    assert paragraph.endswith("It holds on all four readings in Sector C.")
    assert not re.search(r"\b(may|might|perhaps|suggests?|seems?|appears?|likely|arguably)\b", paragraph)


def test_equations_are_grouped_as_a_person_writes_them():
    from model.core.equations import build

    md = paper.equations_markdown()
    titles = re.findall(r"^\*\*(.+?)\.\*\* ", md, flags=re.M)
    assert [t.split(":")[0].split()[-1].lower() for t in titles] == ["demand", "choice", "trust", "incumbent",
                                                                     "finance"]
    # Every equation of the sympy model once, and nothing else.
    equations = build().latex_equations()
    blocks = re.findall(r"^\$\$ (.+) \$\$$", md, flags=re.M)
    assert len(blocks) == len(equations) == len(set(blocks))
    assert sorted(blocks) == sorted(tex for _, tex in equations)
    # Each stock's equation sits in the group of its mechanism (after its title, before the next).
    chunks = dict(zip(titles, re.split(r"^\*\*.+?\.\*\* ", md, flags=re.M)[1:]))
    tex = dict(equations)
    where = {state: next(t for t, chunk in chunks.items() if f"$$ {tex[state]} $$" in chunk) for state in
             ("dcustomers/dt", "dplatform_share/dt", "dplatform_trust/dt", "drelational_trust/dt",
              "dincumbent_price/dt", "dcapacity/dt", "dbuffer/dt")}
    assert [where[s].split()[-1] for s in where] == ["Demand", "Choice", "Trust", "Trust", "capacity", "capacity",
                                                      "Finance"]


def test_an_equation_left_out_of_the_groups_is_refused(monkeypatch):
    groups = list(paper.EQUATION_GROUPS)
    title, sentence, names = groups[2]
    groups[2] = (title, sentence, tuple(n for n in names if n != "drelational_trust/dt"))
    monkeypatch.setattr(paper, "EQUATION_GROUPS", tuple(groups))
    with pytest.raises(ValueError, match=r"in no group \['drelational_trust/dt'\]"):
        paper.equations_markdown()
    groups[2] = (title, sentence, names + ("cash",))
    monkeypatch.setattr(paper, "EQUATION_GROUPS", tuple(groups))
    with pytest.raises(ValueError, match=r"in two \['cash'\]"):
        paper.equations_markdown()


def test_code_names_are_put_in_words_outside_math_code_and_file_names():
    text = ("The `firm_count` and fixed_cost_share, not fixed_cost_share.toml, a/fixed_cost_share or "
            "$x_{fixed_cost_share}$; prices \\$4M of debt_service, two_part, platform_gross.\n"
            "```\nfixed_cost_share = 0.4\n```\n")
    assert paper.plain_code_names(text) == (
        "The firm count $n_f$ and fixed cost share $\\varphi$, not fixed_cost_share.toml, a/fixed_cost_share or "
        "$x_{fixed_cost_share}$; prices \\$4M of debt service $d$, two part, platform gross.\n"
        "```\nfixed_cost_share = 0.4\n```\n")
    assert paper.CODE_NAME.findall("committed_payout, n_c, q_I0, p_u and verdict_draws.csv") == ["committed_payout"]


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
    # Per calibrated sector: what is fitted, the hold-out errors and why the rest is fixed;
    # the evidence checks and the effect sizes beside the model's.
    from model.commands.calibrate import RECIPES_FILE, load_recipes
    recipes = load_recipes(RECIPES_FILE)
    assert md.count("| Hold-out points |") == 1 and md.count("checks inside the observation's interval") == 1
    for recipe in recipes:
        assert recipe["why"][:60] in md and recipe["data"] in md
    assert "| Published [interval] |" in md
    # Every figure is cited in the text (its number appears beyond its own caption), no
    # path of the machine that built it, and every heading once.
    n_figures = len(json.loads((out / "figures" / "figures.json").read_text())["figures"])
    for i in range(1, n_figures + 1):
        assert len(re.findall(rf"Figure {i}\b", md)) >= 2, f"Figure {i} is never cited"
    html = (out / "paper.html").read_text()
    for text in (md, html):
        assert str(paper.ROOT) not in text and "/tmp/" not in text
    headings = [line.strip() for line in md.splitlines() if re.match(r"#{1,6} ", line)]
    assert len(headings) == len(set(headings)), [h for h in headings if headings.count(h) > 1]
    # The figures used the verdict the paper states (same files, same draws and seed).
    manifest = json.loads((out / "figures" / "figures.json").read_text())
    verdict_fig = next(f for f in manifest["figures"] if f["name"] == "verdict")
    assert verdict_fig["draws"] == 20 and verdict_fig["seed"] == 0
    assert verdict_fig["notes"]["verdict_files"][0]["file"].endswith("verdict.csv")
