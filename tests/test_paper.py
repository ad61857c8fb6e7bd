"""The paper: no results number typed by hand, the verdict summary read from the verdict's
real columns (one table, one paragraph, calibrated files beside their sector), the equations
grouped as a person writes them, figures included from the manifest, and an end-to-end build
(small draws, quick calibration, once per module) that prints a PDF with one figure per
manifest entry, no table wider than the text block and no code names in its prose."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

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
    assert cells["Sector B"][1] == "**fails** at 62%<br>calibrated: **undetermined**"
    assert cells["Sector B"][5] == "50%<br>calibrated: 0%"
    # The paragraph: the count of sectors and files, the tally over the sectors' own files
    # (a: 1 holds, 2 fail, 1 undetermined; b: 4 fail; c: 4 hold), and per sector where the claim
    # holds and where it fails, in the verdict's words.
    assert paragraph.startswith("The claim was tested in 3 sectors (4 sector files: Sector B has a calibrated file "
                                "as well, shown beside its own); Sector D is left out")
    assert "it holds in 5 of 12 verdicts, fails in 6 and is undetermined in 1." in paragraph
    assert ("In Sector A it holds on the platform's share of the gross and fails on the incumbents' gross loss and the "
            "incumbents' loss of whole revenue.") in paragraph
    assert "In Sector B it fails on all four readings; calibrated, it is undetermined on all four readings." in paragraph
    # The readings left undetermined in a sector that decides others (A's share of customers).
    assert paragraph.endswith("It holds on all four readings in Sector C. Every other verdict is undetermined.")
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
    # One-word names (the horizon, the insolvency switch) are words of the prose already.
    assert paper.plain_code_names("the file's horizon; a second insolvency") == "the file's horizon; a second insolvency"


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
    # Each caption under its figure, as the paper prints it (code names in words, typographic quotes).
    words = paper.code_name_words(tuple(p.stem for p in (paper.ROOT / "scenarios").glob("*.toml")))
    shown = [_plain_text(c) for c in re.findall(r"<figcaption[^>]*>(.*?)</figcaption>", html, flags=re.S)]
    assert len(shown) == len(manifest["figures"])
    for i, (f, text) in enumerate(zip(manifest["figures"], shown), 1):
        start = _plain_text(paper.plain_code_names(f["caption"], words)).split("$")[0][:40]
        assert text.startswith(f"Figure {i}. {start}"), (text[:80], start)


def _plain_text(html_text: str) -> str:
    import html

    text = html.unescape(re.sub(r"<[^>]+>", "", html_text)).replace("’", "'").replace("“", '"').replace("”", '"')
    return " ".join(text.split())


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
        assert paper.plain_code_names(recipe["why"])[:60] in md and recipe["data"] in md
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


def _print_geometry():
    """The printed page (points) and its text block, from paper.css's @page rule."""
    css = paper.CSS.read_text()
    rule = re.search(r"@page\s*\{[^}]*size:\s*A4;[^}]*margin:\s*([\d.]+)mm\s+([\d.]+)mm", css)
    assert rule, "paper.css prints on A4 with a margin of 'Ymm Xmm'"
    mm = 72 / 25.4
    return 210 * mm, 297 * mm, float(rule.group(2)) * mm  # width, height, side margin


def test_no_table_is_wider_than_the_text_block(built):
    out, pdf = built
    width, _, side = _print_geometry()
    # 1. The printed PDF: no word of any page reaches past the side margins (a table cut at
    # the right margin leaves its clipped words there).
    bbox = subprocess.run([shutil.which("pdftotext"), "-bbox", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    outside = []
    for page, text in enumerate(re.split(r"<page ", bbox)[1:], 1):
        assert abs(float(re.search(r'width="([\d.]+)"', text).group(1)) - width) < 1  # A4, as paper.css says
        for x0, x1, word in re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)',
                                       text):
            if float(x0) < side - 1 or float(x1) > width - side + 1:
                outside.append((page, word))
    assert not outside, f"words beyond the margins (page, word): {outside[:10]}"
    # 2. The HTML laid out for print at the text block's width: every table inside the body's
    # content box (a table can also overflow within the margin, or be clipped before it).
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=paper.chromium_path(), headless=True, args=paper.CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": round((width - 2 * side) / 72 * 96), "height": 1200})
            page.emulate_media(media="print")
            page.goto((out / "paper.html").resolve().as_uri())
            tables = page.evaluate("""() => {
                const body = document.body, cs = getComputedStyle(body), r = body.getBoundingClientRect();
                const right = r.right - parseFloat(cs.paddingRight), left = r.left + parseFloat(cs.paddingLeft);
                return [...document.querySelectorAll('table')].map(t => {
                    const b = t.getBoundingClientRect();
                    return {left: b.left - left, over: Math.max(b.right, b.left + t.scrollWidth) - right,
                            head: (t.querySelector('tr') || t).textContent.replace(/\\s+/g, ' ').trim().slice(0, 60)};
                });
            }""")
        finally:
            browser.close()
    assert len(tables) >= 20
    wide = [(round(t["over"]), t["head"]) for t in tables if t["over"] > 0.5 or t["left"] < -0.5]
    assert not wide, f"tables wider than the text block (px over, first row): {wide}"


class _ProseText(HTMLParser):
    """The text a reader reads: outside <pre>, math, head and the name column of the
    parameter tables (their header's first cell is "name": the key to the scenario files)."""

    SKIP = {"pre", "math", "head", "script", "style"}
    VOID = {"br", "img", "col", "meta", "link", "hr", "input", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack, self.text, self.cell, self.name_table, self.first_cell = [], [], None, False, False

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        self.stack.append(tag)
        if tag == "table":
            self.name_table, self.cell = None, None
        if tag == "tr":
            self.cell = 0
        if tag in ("td", "th"):
            self.cell += 1

    def handle_endtag(self, tag):
        if tag in self.stack:  # not a void element's (``<col />`` ends here too)
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        if self.SKIP & set(self.stack):
            return
        if "table" in self.stack and self.cell == 1:
            if self.name_table is None and "th" in self.stack and data.strip():
                self.name_table = data.strip() == "name"
            if self.name_table and "td" in self.stack:
                return
        if "table" in self.stack and self.name_table and "code" in self.stack:
            return  # a switch's values in the parameter table: what a file takes
        self.text.append(data)


def test_no_code_names_in_the_prose(built):
    out, _ = built
    reader = _ProseText()
    reader.feed((out / "paper.html").read_text())
    text = " ".join(reader.text)
    assert "fixed cost share" in text and len(text) > 50_000  # the parser read the paper
    found = sorted(set(paper.CODE_NAME.findall(text)))
    assert not found, f"code names in the prose: {found}"


def test_the_summary_states_the_verdict_in_one_table_and_one_paragraph(built):
    out, _ = built
    html = (out / "paper.html").read_text()
    summary = re.search(r'<h2 id="summary">.*?(?=<h2 )', html, flags=re.S).group(0)
    assert summary.count("<table") == 1
    with (out / "generated" / "verdict" / "verdict.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    sectors = {r["sector"].removesuffix("_calibrated") for r in rows}
    body = re.search(r"<tbody>(.*?)</tbody>", summary, flags=re.S).group(1)
    table_rows = re.findall(r"<tr.*?</tr>", body, flags=re.S)
    assert len(table_rows) == len(sectors) < len(rows)  # calibrated files are not extra sectors
    # Each row's words are the verdict's, its own file's first and its calibrated file's after.
    for row_html in table_rows:
        cells = [_plain_text(c) for c in re.findall(r"<td.*?>(.*?)</td>", row_html, flags=re.S)]
        mine = [r for r in rows if r["name"].replace(" (calibrated)", "") == cells[0]]
        assert mine, cells[0]
        for k, reading in enumerate(_READINGS, 1):
            assert re.findall(r"holds|fails|undetermined", cells[k]) == [r[f"sector_{reading}_verdict"] for r in mine]
    after = summary.split("</table>", 1)[1]
    assert after.count("<p>") == 1 and f"tested in {len(sectors)} sectors ({len(rows)} sector files" in after
