"""The paper's pieces: generated fragments, the template, HTML and PDF rendering.

``python -m model paper`` (``make paper``):

1. writes generated fragments to ``paper/build/generated/``: the equations (LaTeX from the
   sympy model), the parameter table (from the parameter descriptions), the sector source
   tables (from the scenario files), the baseline's run and tipping numbers;
2. (in :mod:`model.commands.paper`, the pipeline) runs ``calibrate`` (with ``--search
   bounds``, which reproduces the committed ``scenarios/newspapers_calibrated.toml``),
   ``verdict`` and ``figures`` (on that verdict's own files, ``--verdict``) through the CLI,
   so the paper shows exactly what those commands write; the feedback loops come from
   :mod:`model.analysis.causal`;
3. fills ``paper/paper.md`` (``{{ name | format }}`` placeholders and ``{{> file }}``
   includes) into ``paper/build/paper.md``;
4. renders ``paper/build/paper.html`` with pandoc (MathML, offline) and prints it to
   ``paper/build/paper.pdf`` with the headless Debian chromium.

Publish layer (it does file I/O and runs pandoc and chromium); the layers below never import
it. The build that ties the steps together is :func:`model.commands.paper.build`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "paper"
TEMPLATE = PAPER / "paper.md"
CSS = PAPER / "paper.css"

PLACEHOLDER = re.compile(r"\{\{\s*(?P<include>>)?\s*(?P<name>[A-Za-z0-9_.\-]+)\s*(?:\|\s*(?P<fmt>\w+)\s*)?\}\}")
RESULTS = re.compile(r"<!-- results -->(.*?)<!-- /results -->", re.S)
COMMENT = re.compile(r"<!--.*?-->", re.S)

#: Text width of the printed paper (A4 with the margins of paper.css), in inches: figures
#: are included at their book size relative to it.
PAPER_TEXT_WIDTH_IN = 6.5

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

FORMATS: dict[str, Callable[[Any], str]] = {
    "pct": lambda x: f"{100 * float(x):.0f}%",
    "pct1": lambda x: f"{100 * float(x):.1f}%",
    "yr": lambda x: f"{float(x):.1f} years",
    "f2": lambda x: f"{float(x):.2f}",
    "int": lambda x: f"{int(x):d}",
    "str": str,
}


# --- generated fragments -------------------------------------------------------------

def equations_markdown() -> str:
    from ..core.equations import build

    model = build()
    lines = []
    for name, tex in model.latex_equations():
        lines.append(f"$$ {tex} $$")
    return "\n\n".join(lines) + "\n"


def parameters_markdown() -> str:
    from ..core.parameters import GROUPS, PARAMETER_SPECS

    out = []
    for group in GROUPS:
        specs = [s for s in PARAMETER_SPECS.values() if s.group == group]
        if not specs:
            continue
        out.append(f"**{group.capitalize()}**\n")
        out.append("| name | symbol | unit | allowed | default | meaning |")
        # Dash counts set pandoc's relative column widths: the meaning gets half the page.
        out.append("|------------|----|-------|--------|----|----------------------------------|")
        for s in specs:
            allowed = ", ".join(map(str, s.choices)) if s.is_switch else f"[{s.bounds[0]:g}, {s.bounds[1]:g}]"
            default = s.default if s.is_switch else f"{s.default:g}"
            out.append(f"| `{s.name}` | ${s.latex}$ | {s.unit} | {allowed} | {default} | {s.meaning} |")
        out.append("")
    return "\n".join(out)


def loops_markdown(scenario_path: Path) -> str:
    """The model's feedback loops (derived from the sympy equations) as a Markdown table."""
    from ..analysis.causal import NODE_LABELS, causal_structure
    from ..evidence.scenarios import load_scenario

    cs = causal_structure(load_scenario(scenario_path).params)
    plain = {k: re.sub(r"<sub>(.*?)</sub>", r"_\1", v) for k, v in NODE_LABELS.items()}
    kinds = {"R": "reinforcing", "B": "balancing", "?": "mixed sign"}
    r = sum(lp.polarity == "R" for lp in cs.loops)
    b = sum(lp.polarity == "B" for lp in cs.loops)
    out = [f"Derived from the equations at the baseline ({scenario_path.name}): {len(cs.links)} signed links "
           f"among {len(cs.nodes)} quantities form {len(cs.loops)} feedback loops, {r} reinforcing and {b} "
           f"balancing. The shortest of each kind:", "",
           "| kind | length | loop |", "|---|---|---|"]
    shown = 0
    for kind in ("R", "B", "?"):
        for lp in [lp for lp in cs.loops if lp.polarity == kind][:6]:
            out.append(f"| {kinds[kind]} | {len(lp.nodes)} | {_escape_cell(lp.describe(plain))} |")
            shown += 1
    out.append("")
    return "\n".join(out)


#: Draws per sector for the paper's loop-dominance table (the bench's size; about 6 s a sector).
LOOP_DOMINANCE_DRAWS = 1000


def loop_dominance_markdown(paths, *, draws: int = LOOP_DOMINANCE_DRAWS, seed: int = 0) -> str:
    """Which loop dominates at each sector's point of no return: at the file's values
    (:func:`model.analysis.loops.dominant_at_point_of_no_return`) and over the verdict's
    draws (:func:`model.studies.loop_dominance.sector_loop_dominance`), as Markdown."""
    from ..analysis.loops import dominant_at_point_of_no_return
    from ..evidence.scenarios import load_scenario
    from ..studies.loop_dominance import ensemble_summary, sector_loop_dominance

    out = [f"Loops That Matter (Schoenberg, Davidsen and Eberlein 2020) score each feedback loop of the "
           f"aggregate incumbent's model along a run; the loop with the largest share of the scores dominates. "
           f"Per sector, the loop dominating at the point of no return at the file's values, and over "
           f"{draws} of the verdict's draws (seed {seed}) how often each loop does among the draws that tip, "
           f"with the median time of the most common shift of dominance into it "
           f"({{{{ fig.loop_dominance }}}} shows one run).", "",
           "| sector | at the file's values | over the draws: most often | next |", "|---|---|---|---|"]
    tally: dict = {}
    for path in paths:
        scenario = load_scenario(path)
        at = dominant_at_point_of_no_return(scenario.params)
        here = (f"{at['loop']} (at {at['time']:.1f} yr)" if at["loop"] else at["outcome"].replace("_", " "))
        summary = ensemble_summary(sector_loop_dominance(scenario, draws=draws, seed=seed))
        rows = summary["dominant_at_point_of_no_return"]
        cells = []
        for row in rows[:2]:
            into = [r for r in summary["shifts"] if r["to"] == row["loop"]]
            when = f", shift into it at {into[0]['median']:.1f} yr" if into else ""
            cells.append(f"{row['loop']} ({row['share']:.0%}{when})")
        cells += ["—"] * (2 - len(cells))
        if rows:
            tally[rows[0]["loop"]] = tally.get(rows[0]["loop"], 0) + 1
        tips = summary["tips"]
        out.append(f"| {_escape_cell(scenario.name)} ({tips} of {draws} tip) | {_escape_cell(here)} | "
                   f"{_escape_cell(cells[0])} | {_escape_cell(cells[1])} |")
    out.append("")
    if tally:
        top = max(tally, key=tally.get)
        out.append(f"Across the {len(paths)} sectors, {top} is the loop most often dominant at the point of no "
                   f"return in {tally[top]} of them. The incumbent's liquidity is in no loop: it is drained, not "
                   f"fed back, so the loop that brings the incumbent down is the one that moves the platform's "
                   f"share when the fall becomes certain.")
        out.append("")
    return "\n".join(out)


def _escape_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def sector_sources_markdown(scenario_dir: Path) -> str:
    from ..core.parameters import PARAMETER_SPECS
    from ..evidence.scenarios import load_scenario

    out = []
    for path in sorted(scenario_dir.glob("*.toml")):
        sc = load_scenario(path)
        out.append(f"### {sc.name} (`{path.name}`)\n")
        out.append("| parameter | value | range | source or assumption |")
        out.append("|----------|----|--------|--------------------------------|")
        for name, src in sc.sources.items():
            value = getattr(sc.params, name)
            rng = sc.ranges.get(name)
            rng_text = f"[{rng[0]:g}, {rng[1]:g}]" if rng else ""
            out.append(f"| `{name}` | {value:g} | {rng_text} | {_escape_cell(src)} |")
        unset = [n for n, s in PARAMETER_SPECS.items() if not s.is_switch and n not in sc.sources]
        if unset:
            out.append(f"\nModel defaults (assumptions, at their default): {', '.join(unset)}.")
        out.append("")
    return "\n".join(out)


def baseline_values(scenario_path: Path) -> dict[str, Any]:
    from ..analysis.tipping import break_even_loss, point_of_no_return
    from ..core.simulate import simulate
    from ..evidence.scenarios import load_scenario

    sc = load_scenario(scenario_path)
    res = simulate(sc.params)
    ponr = point_of_no_return(sc.params)
    values: dict[str, Any] = {
        "baseline.break_even_loss": break_even_loss(sc.params),
        "baseline.break_even_current": break_even_loss(sc.params, policy="current_prices"),
        "baseline.falls": res.falls,
        "baseline.fall_time": res.fall_time,
        "baseline.ponr_outcome": ponr.outcome,
    }
    if res.falls:
        values["baseline.fall_sentence"] = (
            f"Left alone, the incumbent falls after {res.fall_time:.1f} years, when the platform "
            f"holds {res.share_at_fall:.0%} of the sector's gross and the incumbent has lost "
            f"{res.gross_loss_at_fall:.0%} of its gross.")
    else:
        values["baseline.fall_sentence"] = (
            f"Left alone, the incumbent survives the {sc.params.horizon:g}-year horizon.")
    if ponr.outcome == "tips":
        side = "above" if ponr.share > 0.2 else "below"
        values["baseline.ponr_sentence"] = (
            f"Its point of no return comes after {ponr.time:.1f} years, when the platform holds "
            f"{ponr.share:.0%} of the sector's gross and the incumbent has lost {ponr.gross_loss:.0%} "
            f"of its own: {side} the essay's 20%.")
    elif ponr.outcome == "never_tips":
        values["baseline.ponr_sentence"] = "It has no point of no return within the horizon: it never tips."
    else:
        values["baseline.ponr_sentence"] = ("It falls even if the platform never acquires another "
                                            "customer: there is no point of no return to find.")
    return values


# --- template ------------------------------------------------------------------------

@dataclass
class Template:
    text: str

    def placeholders(self) -> list[tuple[bool, str, str | None]]:
        return [(bool(m["include"]), m["name"], m["fmt"]) for m in PLACEHOLDER.finditer(self.text)]

    def results_regions(self) -> list[str]:
        return RESULTS.findall(self.text)

    def render(self, values: dict[str, Any], includes: dict[str, str]) -> str:
        def repl(m: re.Match) -> str:
            name = m["name"]
            if m["include"]:
                if name not in includes:
                    raise ValueError(f"{TEMPLATE}: include `{name}` was not generated")
                return includes[name]
            if name not in values:
                raise ValueError(f"{TEMPLATE}: placeholder `{name}` has no generated value")
            fmt = m["fmt"] or "str"
            if fmt not in FORMATS:
                raise ValueError(f"{TEMPLATE}: placeholder `{name}`: unknown format `{fmt}`; "
                                 f"allowed: {', '.join(FORMATS)}")
            return FORMATS[fmt](values[name])

        # Comments are notes to the authors (they may show placeholder syntax): not rendered.
        return PLACEHOLDER.sub(repl, COMMENT.sub("", self.text))


def hand_typed_numbers(template_text: str) -> list[str]:
    """Numbers typed by hand inside ``results`` regions (there must be none)."""
    found = []
    for region in RESULTS.findall(template_text):
        stripped = PLACEHOLDER.sub("", region)
        stripped = re.sub(r"`[^`]*`", "", stripped)  # file names such as baseline.toml
        found += re.findall(r"\d+(?:\.\d+)?", stripped)
    return found


# --- rendering -----------------------------------------------------------------------

def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("chromium is needed to print the paper: apt-get install -y chromium")


def render_html(markdown_path: Path, html_path: Path) -> None:
    if not shutil.which("pandoc"):
        raise RuntimeError("pandoc is needed to build the paper: apt-get install -y pandoc")
    cmd = ["pandoc", str(markdown_path), "--standalone", "--mathml", "--toc",
           "--from", "markdown+tex_math_dollars+pipe_tables", "--resource-path", str(markdown_path.parent),
           "--metadata", "pagetitle=Highland Park vs. trust platforms", "-o", str(html_path)]
    if CSS.exists():
        cmd[2:2] = ["--css", CSS.name]
        shutil.copy(CSS, html_path.parent / CSS.name)
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)


def print_pdf(html_path: Path, pdf_path: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--no-pdf-header-footer",
               "--virtual-time-budget=10000", f"--print-to-pdf={pdf_path}", html_path.resolve().as_uri()]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    if not pdf_path.exists() or pdf_path.read_bytes()[:5] != b"%PDF-":
        raise RuntimeError(f"chromium did not write a PDF to {pdf_path}")


_SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


def balance_table_widths(markdown: str) -> str:
    """Give each pipe table's columns dash counts proportional to their content.

    Pandoc sets the relative widths of a wide pipe table from the dashes of its separator
    row; equal dashes squeeze a long text column into a narrow one.
    """
    lines = markdown.split("\n")
    for i, line in enumerate(lines):
        if i == 0 or not _SEPARATOR.match(line.strip()):
            continue
        n = line.strip().count("|") - 1
        block = [lines[i - 1]]
        j = i + 1
        while j < len(lines) and lines[j].strip().startswith("|"):
            block.append(lines[j])
            j += 1
        widths = [3] * n
        for row in block:
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]
            for k, cell in enumerate(cells[:n]):
                widths[k] = max(widths[k], min(len(cell), 60))
        lines[i] = "|" + "|".join("-" * w for w in widths) + "|"
    return "\n".join(lines)


def _demote_headings(text: str, by: int = 2) -> str:
    return re.sub(r"^(#+)", lambda m: m[1] + "#" * by, text, flags=re.M)


#: The four readings of "20% of the gross", as verdict.csv names them (model.studies.verdict.READINGS).
_READINGS = ("share_of_gross", "gross_loss", "firm_gross_loss", "volume_share")
_READING_WORDS = {"share_of_gross": "the platform's share of the gross", "gross_loss": "the incumbents' gross loss",
                  "firm_gross_loss": "their loss of whole revenue", "volume_share": "the platform's share of customers"}


def calibration_summary_markdown(reports: list[dict]) -> str:
    """What each calibration fits and fixes, and how it forecast the years it never saw.

    ``reports``: the JSON reports of ``calibrate --all`` (one per sector). Two tables and
    the recipes' reasons: per sector, the fitted parameters (value, 95% profile interval,
    identified) and the fit and hold-out years; per sector and series, the hold-out
    forecast errors (model minus data after normalisation), their bias and the share of
    hold-out points inside their 95% prediction intervals.
    """
    def years(report, role):
        ys = sorted({r["year"] for s in report["series"] for r in s["rows"] if r["role"] == role})
        return f"{ys[0]}-{ys[-1]}" if ys else "none"

    fit = ["| Sector | Fitted (95% profile interval) | Identified? | Fit years | Hold-out years | Forecast |",
           "|---|---|---|---|---|---|"]
    errors = ["| Sector | Series (compared with) | Hold-out points | RMSE | Bias | Inside 95% interval |",
              "|---|---|---|---|---|---|"]
    reasons = []
    for r in reports:
        sector = r["scenario"].replace(" (calibrated)", "")
        def interval(f):  # no profile (a quick build) gives no interval
            lo, hi = f.get("interval") or (None, None)
            return "no profile" if lo is None or hi is None else f"{lo:.3g} to {hi:.3g}"

        fitted = "; ".join(f"{n} = {f['value']:.3g} ({interval(f)})" for n, f in r["calibrated"].items())
        ident = ", ".join("yes" if f.get("identified") else "no" for f in r["calibrated"].values())
        fc = r["forecast"]
        forecast = ("survives the horizon" if fc["fall_year"] is None
                    else f"falls in {fc['fall_year']:.0f} ({fc['fall_year_range'][0]:.0f}-{fc['fall_year_range'][1]:.0f})")
        fit.append(f"| {sector} | {fitted} | {ident} | {years(r, 'fit')} | {years(r, 'holdout')} | {forecast} |")
        compared = {s["series"]: s["compare_to"] for s in r["series"]}
        for name, row in r["holdout"]["summary"].items():
            errors.append(f"| {sector} | {name} (`{compared.get(name, '')}`) | {row['n']} | {row['rmse']:.3g} | "
                          f"{row['bias']:+.3g} | {row['coverage']:.0%} |")
        if r.get("why"):
            reasons.append(f"- **{sector}** ({r['data_file']}): {r['why']}")
    return ("\n".join(fit) + "\n\n" + "\n".join(errors) + "\n\n"
            + "Why these parameters are fitted and the others fixed (from `data/calibrations.toml`):\n\n"
            + "\n".join(reasons) + "\n")


def _pct_cell(cell) -> str:
    return "n/a" if cell in ("", None) else f"{float(cell):.0%}"


def verdict_values(ver_dir: Path, draws: int | None, seed: int) -> dict[str, Any]:
    """Numbers the paper states about the verdict, read from what ``verdict`` wrote.

    Reads ``verdict.csv`` (columns of :func:`model.studies.verdict_report.sector_row`):
    per sector ``name``, ``draws``, ``p_fall`` and, for each reading of "20% of the gross",
    ``sector_<reading>_verdict`` (holds / fails / undetermined) and
    ``sector_<reading>_median`` (empty when no draw tips). A file whose key ends in
    ``_calibrated`` is the calibrated variant of a sector, not another sector.

    Raises
    ------
    ValueError
        If the file has no rows or lacks one of those columns.
    """
    import csv

    path = ver_dir / "verdict.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    need = ("sector", "name", "draws", "p_fall") + tuple(f"sector_{r}_{k}" for r in _READINGS
                                                        for k in ("verdict", "median"))
    if not rows:
        raise ValueError(f"{path}: no sector rows")
    missing = [c for c in need if c not in rows[0]]
    if missing:
        raise ValueError(f"{path}: missing columns {', '.join(missing)}")
    n = len(rows)
    variants = sum(r["sector"].endswith("_calibrated") for r in rows)
    tally = {w: sum(r[f"sector_{k}_verdict"] == w for r in rows for k in _READINGS)
             for w in ("holds", "fails", "undetermined")}
    counts = sorted({int(float(r["draws"])) for r in rows})
    values: dict[str, Any] = {
        "verdict.seed": seed, "verdict.sectors": n, "verdict.draws": counts[0] if len(counts) == 1 else draws,
        "verdict.variants": variants, "verdict.holds": tally["holds"], "verdict.fails": tally["fails"],
        "verdict.undetermined": tally["undetermined"],
    }
    files = f"{n} sector files" + (f" ({n - variants} sectors and {variants} calibrated variants)" if variants else "")
    lines = [f"Across {files} and four readings of \"20% of the gross\", the claim holds in {tally['holds']} of the "
             f"{4 * n} verdicts, fails in {tally['fails']} and is undetermined in {tally['undetermined']} (rules in "
             "section 6). Sector by sector:", ""]
    for r in rows:
        words = {k: r[f"sector_{k}_verdict"] for k in _READINGS}
        kinds = sorted(set(words.values()))
        if len(kinds) == 1:
            said = f"{kinds[0]} on all four readings"
        else:
            said = "; ".join(f"{w} on " + ", ".join(_READING_WORDS[k] for k in _READINGS if words[k] == w)
                             for w in kinds)
        at = ""
        if r["sector_share_of_gross_median"] != "":
            at = (f" (at the point of no return the platform holds {_pct_cell(r['sector_share_of_gross_median'])} of "
                  f"the gross, the incumbents have lost {_pct_cell(r['sector_gross_loss_median'])} of theirs and the "
                  f"platform serves {_pct_cell(r['sector_volume_share_median'])} of the customers, medians)")
        lines.append(f"- **{r['name']}**: {said}{at}; the sector falls in the long run in "
                     f"{_pct_cell(r['p_fall'])} of the draws.")
    if all(f"top{k}" in rows[0] for k in (1, 2, 3)):
        values["verdict.top1_debt_service"] = sum(r["top1"] == "debt_service" for r in rows)
        values["verdict.fixed_cost_in_top3"] = sum(
            bool({"fixed_cost_share", "indivisible_cost_share"} & {r["top1"], r["top2"], r["top3"]}) for r in rows)
        values["verdict.with_ponr"] = sum(bool(r["top1"]) for r in rows)
    values["summary_sentence"] = "\n".join(lines)
    return values


def figure_numbers(fig_dir: Path) -> dict[str, str]:
    """``fig.<name>`` -> "Figure N" in the order :func:`figures_markdown` numbers them, so the
    text cites each figure by a number that follows the figures when they are reordered."""
    manifest = fig_dir / "figures.json"
    if not manifest.exists():
        return {}
    data = json.loads(manifest.read_text())
    figures = data["figures"] if isinstance(data, dict) and "figures" in data else data
    return {f"fig.{fig['name']}": f"Figure {i}" for i, fig in enumerate(figures, 1)}


def figures_markdown(fig_dir: Path, out: Path) -> str:
    manifest = fig_dir / "figures.json"
    if not manifest.exists():
        return ""
    data = json.loads(manifest.read_text())
    figures = data["figures"] if isinstance(data, dict) and "figures" in data else data
    lines = []
    for i, fig in enumerate(figures, 1):
        files = fig.get("files", {})
        svg = files.get("svg") if isinstance(files, dict) else next((f for f in files if f.endswith(".svg")), None)
        if not svg:
            continue
        rel = os.path.relpath(fig_dir / Path(svg).name, out)
        caption = fig.get("caption", fig.get("name", ""))
        # Printed at its book size (inches) against the paper's text width.
        size = fig.get("size_in") or [PAPER_TEXT_WIDTH_IN, 0]
        width = max(20, min(100, round(100 * float(size[0]) / PAPER_TEXT_WIDTH_IN)))
        lines.append(f"![Figure {i}. {caption}]({rel}){{width={width}%}}\n")
    return "\n".join(lines)
