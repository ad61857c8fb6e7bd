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
   includes) into ``paper/build/paper.md``, with the model's code names in words
   (:func:`plain_code_names`) everywhere but the parameter table;
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

#: The model's equations as a person writes them: what customers buy, how they choose between
#: the incumbent and the platform, the platform's trust, the incumbent's cost, price and
#: capacity, and its finances. Each group: its title, the sentence that opens it, and its
#: equations in reading order (auxiliary names and ``d<state>/dt`` of the one-firm sympy model,
#: :meth:`model.core.equations.Model.latex_equations`). :func:`equations_markdown` refuses a
#: model whose equations these groups do not cover exactly once.
EQUATION_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Demand",
     "The sector's customers $N$ grow at the rate $g$ whatever the platform does; each side's customers buy at "
     "the price they pay, so the incumbent's and the platform's volumes follow from their shares and prices.",
     ("dcustomers/dt", "marginal_price", "average_price", "sector_demand_per_customer",
      "incumbent_demand_per_customer", "platform_demand_per_customer", "incumbent_volume", "platform_volume",
      "market_size")),
    ("Choice",
     "Customers weigh the platform's quality, network value and price against the price the incumbent's "
     "customers see; the difference sets adoption (through the hard network and word of mouth) and churn, and "
     "with them the platform's share $s$.",
     ("network_value_standard", "network_value_trust", "platform_network_value", "word_of_mouth_exposure",
      "incumbent_price_seen", "relative_value", "attractiveness", "repulsiveness", "adoption", "churn",
      "dplatform_share/dt")),
    ("Trust",
     "Platform trust $T$ grows with the transactions per customer, toward the share that succeed, and decays; "
     "relational trust $R$ grows with transactions on a trusted platform and fades.",
     ("platform_transactions_per_customer", "dplatform_trust/dt", "drelational_trust/dt")),
    ("The incumbent: cost, price and capacity",
     "The incumbent's fixed cost has an indivisible part; its price moves toward a target (full cost capped by "
     "the willingness to pay, or a competitive price, or a fixed one), and its capacity follows its volume, "
     "added faster than it is cut.",
     ("markup_factor", "initial_incumbent_volume", "fixed_cost", "incumbent_cost", "connected_volume",
      "full_cost_revenue", "cap_factor", "target_price_average_cost", "target_price_competitive", "target_price",
      "dincumbent_price/dt", "incumbent_revenue", "operating_profit", "capacity_gap", "capacity_added",
      "capacity_cut", "dcapacity/dt")),
    ("Finance",
     "Liquidity $B$ (cash plus the undrawn credit line) receives the operating profit and pays the debt service, "
     "the cost of cutting capacity, interest on drawn credit, dividends and cash above the target.",
     ("restructuring", "debt_service_flow", "cash", "credit_interest", "net_profit", "dividends",
      "excess_cash_payout", "dbuffer/dt")),
)


def equations_markdown() -> str:
    """The equations of the sympy model (one firm), grouped and ordered by :data:`EQUATION_GROUPS`.

    Raises
    ------
    ValueError
        If an equation of the model is in no group, in two, or a group names one the model lacks.
    """
    from ..core.equations import build

    tex = dict(build().latex_equations())
    placed = [name for _, _, names in EQUATION_GROUPS for name in names]
    twice = sorted({n for n in placed if placed.count(n) > 1})
    missing = [n for n in tex if n not in placed]
    unknown = [n for n in placed if n not in tex]
    if twice or missing or unknown:
        raise ValueError("model.publish.paper.EQUATION_GROUPS must place every equation of model.core.equations "
                         f"exactly once: in no group {missing}, in two {twice}, not in the model {unknown}")
    out = []
    for title, sentence, names in EQUATION_GROUPS:
        out.append(f"**{title}.** {sentence}")
        out += [f"$$ {tex[name]} $$" for name in names]
    return "\n\n".join(out) + "\n"


def parameters_markdown() -> str:
    from ..core.parameters import GROUPS, PARAMETER_SPECS

    out = []
    for group in GROUPS:
        specs = [s for s in PARAMETER_SPECS.values() if s.group == group]
        if not specs:
            continue
        out.append(f"**{group.capitalize()}**\n")
        out.append("| name | symbol | unit | allowed | default | meaning |")
        out.append("|---|---|---|---|---|---|")
        for s in specs:
            # A switch's values are what a scenario file takes: code, like the names.
            allowed = ", ".join(f"`{c}`" for c in s.choices) if s.is_switch else f"[{s.bounds[0]:g}, {s.bounds[1]:g}]"
            default = f"`{s.default}`" if s.is_switch else f"{s.default:g}"
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
    """Free text as one pipe-table cell: a ``|`` would end the cell and a ``$`` (a price in a
    source) would open TeX math, which never wraps and pushes the table past the margin."""
    return text.replace("|", "\\|").replace("$", "\\$").replace("\n", " ")


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
    # --columns: no pipe table's source line is "long", so pandoc gives no column widths and
    # the browser's table layout sizes the columns by their content and never below their
    # longest unbreakable item (a formula, a file name), which keeps tables in the text block.
    cmd = ["pandoc", str(markdown_path), "--standalone", "--mathml", "--toc", "--columns=100000",
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


#: A code name as the test of the built paper finds it: two or more lower-case words of at
#: least two characters joined by underscores (``committed_payout``); subscripted symbols
#: such as ``n_c`` or ``q_I`` are not code names.
CODE_NAME = re.compile(r"(?<![\w./\\-])[a-z][a-z0-9]+(?:_[a-z0-9]{2,})+(?![\w/\\-]|\.\w)")


def code_name_words(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """What the paper prints for each code name of the model: a parameter as its name in words
    and its symbol (``fixed cost share $\varphi$``; the parameter table of section 2.3 pairs
    them), a model output, a switch's value or one of ``extra`` (sector file keys, data series)
    in words."""
    from ..core.equations import OUTPUT_NAMES, STATE_NAMES
    from ..core.parameters import PARAMETER_SPECS

    words = {name: name.replace("_", " ") for name in OUTPUT_NAMES + STATE_NAMES + tuple(extra)}
    for spec in PARAMETER_SPECS.values():
        words.update({str(c): str(c).replace("_", " ") for c in spec.choices or () if CODE_NAME.fullmatch(str(c))})
        words[spec.name] = f"{spec.name.replace('_', ' ')} ${spec.latex}$"
    # Only code names: a one-word name (``horizon``, ``churn``) is already a word of the prose.
    return {name: text for name, text in words.items() if CODE_NAME.fullmatch(name)}


def plain_code_names(markdown: str, words: dict[str, str] | None = None) -> str:
    """``markdown`` with every known code name (bare or in backticks) in words, outside fenced
    code blocks, math, file names and paths. Names it does not know are left for the test of
    the built paper to find."""
    words = code_name_words() if words is None else words
    names = "|".join(sorted(map(re.escape, words), key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w./\\`$-])`({names})`(?![\w`])|(?<![\w./\\`$-])({names})(?![\w/\\-]|\.\w)")
    parts = re.split(r"(^```.*?^```$|(?<!\\)\$\$.*?\$\$|(?<!\\)\$[^$\n]+?(?<!\\)\$)", markdown, flags=re.S | re.M)
    return "".join(part if i % 2 else pattern.sub(lambda m: words[m[1] or m[2]], part)
                   for i, part in enumerate(parts))


def _demote_headings(text: str, by: int = 2) -> str:
    return re.sub(r"^(#+)", lambda m: m[1] + "#" * by, text, flags=re.M)


#: The four readings of "20% of the gross", as verdict.csv names them (model.studies.verdict.READINGS).
_READINGS = ("share_of_gross", "gross_loss", "firm_gross_loss", "volume_share")
_READING_WORDS = {"share_of_gross": "the platform's share of the gross", "gross_loss": "the incumbents' gross loss",
                  "firm_gross_loss": "the incumbents' loss of whole revenue", "volume_share": "the platform's share of customers"}


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

        fitted = "; ".join(f"`{n}` = {f['value']:.3g} ({interval(f)})" for n, f in r["calibrated"].items())
        ident = ", ".join("yes" if f.get("identified") else "no" for f in r["calibrated"].values())
        fc = r["forecast"]
        forecast = ("survives the horizon" if fc["fall_year"] is None
                    else f"falls in {fc['fall_year']:.0f} ({fc['fall_year_range'][0]:.0f}-{fc['fall_year_range'][1]:.0f})")
        fit.append(f"| {sector} | {fitted} | {ident} | {years(r, 'fit')} | {years(r, 'holdout')} | {forecast} |")
        compared = {s["series"]: s["compare_to"] for s in r["series"]}
        for name, row in r["holdout"]["summary"].items():
            # Series and model quantities in words: the report's keys are code names.
            series = f"{name} ({compared.get(name, '')})".replace("_", " ")
            errors.append(f"| {sector} | {series} | {row['n']} | {row['rmse']:.3g} | "
                          f"{row['bias']:+.3g} | {row['coverage']:.0%} |")
        if r.get("why"):
            reasons.append(f"- **{sector}** ({r['data_file']}): {r['why']}")
    return ("\n".join(fit) + "\n\n" + "\n".join(errors) + "\n\n"
            + "Why these parameters are fitted and the others fixed (from `data/calibrations.toml`):\n\n"
            + "\n".join(reasons) + "\n")


def _pct_cell(cell) -> str:
    return "n/a" if cell in ("", None) else f"{float(cell):.0%}"


def verdict_values(ver_dir: Path, draws: int | None, seed: int, excluded: tuple[str, ...] = ()) -> dict[str, Any]:
    """Numbers the paper states about the verdict, read from what ``verdict`` wrote.

    Reads ``verdict.csv`` (columns of :func:`model.studies.verdict_report.sector_row`):
    per sector ``name``, ``draws``, ``p_fall`` and, for each reading of "20% of the gross",
    ``sector_<reading>_verdict`` (holds / fails / undetermined) and
    ``sector_<reading>_median`` (empty when no draw tips). A file whose key ends in
    ``_calibrated`` is the calibrated variant of a sector, not another sector. ``excluded``:
    the names of the sectors the verdict leaves out (their files say why).

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
    values["summary_sentence"] = verdict_summary(rows, excluded)
    values["verdict.sector_count"] = len(_by_sector(rows))
    if all(f"top{k}" in rows[0] for k in (1, 2, 3)):
        values["verdict.top1_debt_service"] = sum(r["top1"] == "debt_service" for r in rows)
        values["verdict.fixed_cost_in_top3"] = sum(
            bool({"fixed_cost_share", "indivisible_cost_share"} & {r["top1"], r["top2"], r["top3"]}) for r in rows)
        values["verdict.with_ponr"] = sum(bool(r["top1"]) for r in rows)
    return values


#: The summary table's column heads, one per reading (in :data:`_READINGS` order).
_READING_HEADS = {"share_of_gross": "platform's share of the gross", "gross_loss": "incumbents' loss of gross",
                  "firm_gross_loss": "incumbents' loss of whole revenue", "volume_share": "platform's share of customers"}


def _by_sector(rows: list[dict]) -> dict[str, tuple[dict | None, dict | None]]:
    """Sector key -> (its own file's row, its calibrated file's row), in the rows' order; a
    ``<key>_calibrated`` file is the calibrated variant of ``<key>``, not another sector."""
    out: dict[str, list] = {}
    for r in rows:
        key, calibrated = re.subn(r"_calibrated$", "", r["sector"])
        out.setdefault(key, [None, None])[calibrated] = r
    return {k: (a, b) for k, (a, b) in out.items()}


def _word_cell(row: dict, reading: str) -> str:
    word, median = row[f"sector_{reading}_verdict"], row[f"sector_{reading}_median"]
    return f"**{word}**" + ("" if median in ("", None) else f" at {_pct_cell(median)}")


_WORD_ORDER = ("holds", "fails", "undetermined")


def _verb(word: str) -> str:
    return word if word in ("holds", "fails") else f"is {word}"


def _readings_said(row: dict) -> str:
    """Where one file's claim holds and where it fails: "holds on A and fails on B and C",
    "fails on all four readings"; its undetermined readings are left to the summary's last
    sentence ("is undetermined on all four readings" when it decides none)."""
    by_word: dict[str, list[str]] = {}
    for k in _READINGS:
        by_word.setdefault(row[f"sector_{k}_verdict"], []).append(_READING_WORDS[k])
    if len(by_word) == 1:
        return f"{_verb(next(iter(by_word)))} on all four readings"
    decided = [w for w in ("holds", "fails") if w in by_word]
    if not decided:
        return _and([f"{_verb(w)} on " + _and(by_word[w]) for w in by_word])
    return _and([f"{w} on " + _and(by_word[w]) for w in decided])


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def verdict_summary(rows: list[dict], excluded: tuple[str, ...] = ()) -> str:
    """The summary's verdict: one table (a row per sector, its calibrated file's result beside
    its own) and one paragraph that says, sector by sector, where the claim holds and where
    it fails, in the verdict's own words (``verdict.csv`` rows, see :func:`verdict_values`)."""
    sectors = _by_sector(rows)
    head = ["Sector", *(_READING_HEADS[k] for k in _READINGS), "falls in the long run"]
    table = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for own, cal in sectors.values():
        first = own or cal
        cells = [first["name"].replace(" (calibrated)", "")]
        # The calibrated file's result on a line of its own under the sector file's.
        files = [(label, r) for label, r in (("", own), ("calibrated: ", cal)) if r is not None]
        cells += ["<br>".join(f"{label}{_word_cell(r, k)}" for label, r in files) for k in _READINGS]
        cells.append("<br>".join(f"{label}{_pct_cell(r['p_fall'])}" for label, r in files))
        table.append("| " + " | ".join(_escape_cell(c) for c in cells) + " |")
    own_rows = [own for own, _ in sectors.values() if own is not None]
    tally = {w: sum(r[f"sector_{k}_verdict"] == w for r in own_rows for k in _READINGS)
             for w in ("holds", "fails", "undetermined")}
    calibrated = [sectors[k][1]["name"].replace(" (calibrated)", "") for k in sectors if sectors[k][1] is not None]
    said = [f"The claim was tested in {len(sectors)} sectors ({len(rows)} sector files"
            + (f": {_and(calibrated)} {'has' if len(calibrated) == 1 else 'have'} a calibrated file as well, shown "
               f"beside {'its' if len(calibrated) == 1 else 'their'} own" if calibrated else "") + ")"
            + (f"; {_and(list(excluded))} {'is' if len(excluded) == 1 else 'are'} left out, as its file says"
               if excluded else "")
            + f". On the sectors' own files and the four readings of \"20% of the gross\" (the table gives each "
              f"verdict word and, where draws tip, the median threshold) it holds in "
              f"{tally['holds']} of {4 * len(own_rows)} verdicts, fails in {tally['fails']} and is undetermined in "
              f"{tally['undetermined']}."]
    uniform: dict[str, list[str]] = {}  # sectors with one word on every reading (and file)
    same: dict[str, list[str]] = {}  # the other sectors, by what is said of them
    for own, cal in sectors.values():
        name = (own or cal)["name"].replace(" (calibrated)", "")
        words = {r[f"sector_{k}_verdict"] for r in (own, cal) if r is not None for k in _READINGS}
        if len(words) == 1:
            uniform.setdefault(words.pop(), []).append(name + (" (both files)" if own and cal else ""))
            continue
        parts = [_readings_said(r) for r in (own, cal) if r is not None]
        if len(parts) == 2 and parts[0] == parts[1]:
            name, parts = f"{name} (both files)", parts[:1]
        clause = parts[0] + (f"; calibrated, it {parts[1]}" if len(parts) > 1 else "")
        same.setdefault(clause, []).append(name)
    said += [f"In {_and(names)} it {clause}." for clause, names in same.items()]
    for word, names in sorted(uniform.items(), key=lambda item: _WORD_ORDER.index(item[0])
                              if item[0] in _WORD_ORDER else len(_WORD_ORDER)):
        said.append(f"It {_verb(word)} on all four readings in {_and(names)}.")
    mixed = [r for own, cal in sectors.values() for r in (own, cal) if r is not None
             and len({r[f"sector_{k}_verdict"] for k in _READINGS}) > 1]
    if any(r[f"sector_{k}_verdict"] == "undetermined" for r in mixed for k in _READINGS):
        said.append("Every other verdict is undetermined.")
    return "\n".join(table) + "\n\n" + " ".join(said) + "\n"


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


def _cm(x) -> str:
    return "below 0.5%" if x is None else f"{100 * float(x):.1f}%"


def _family_name(family: str) -> str:
    return {"mixed": "well mixed", "random_regular": "random regular", "erdos_renyi": "Erdős–Rényi",
            "watts_strogatz": "Watts–Strogatz (rewiring 0.1)", "configuration": "heavy-tailed configuration"}.get(
        family, family)


def network_markdown(fig_dir: Path) -> str:
    """The network section's numbers, from the ``network_critical_mass`` figure's record in
    the manifest (the figure and the text show one computation): the critical mass by graph
    family and against clustering, the incumbent's fall and the tipping share by family,
    agents against the ODE. Empty if the figure was not built."""
    manifest = fig_dir / "figures.json"
    if not manifest.exists():
        return ""
    data = json.loads(manifest.read_text())
    figures = data["figures"] if isinstance(data, dict) and "figures" in data else data
    record = next((f for f in figures if f.get("name") == "network_critical_mass"), None)
    if record is None:
        return ""
    d = record["notes"]["network"]
    lines = [f"Critical mass (seed share from which the platform takes off; threshold {d['threshold']:g} close "
             f"ties, no direct adoption; {d['n']:,} customers, seed {d['seed']}):", "",
             "| Graph | k | Clustering | Critical mass, agents | Mean field (ODE) | Agents − mean field |",
             "|---|---|---|---|---|---|"]
    for r in d["families"]:
        c = "—" if r["clustering"] is None else f"{r['clustering']:.3f}"
        gap = "—" if r["network"] is None or r["mean_field"] is None else \
            f"{100 * (r['network'] - r['mean_field']):+.1f} points"
        lines.append(f"| {_family_name(r['family'])} | {r['k']} | {c} | {_cm(r['network'])} | {_cm(r['mean_field'])} "
                     f"| {gap} |")
    ws = d["by_rewiring"]
    lines += ["", "Against clustering (Watts–Strogatz, k = 12): "
              + "; ".join(f"rewiring {r['rewiring']:g} (clustering {r['clustering']:.2f}): {_cm(r['network'])}"
                          for r in ws) + f". The mean field: {_cm(ws[0]['mean_field'])}.", ""]
    for label, rows in d["by_k"].items():
        lines.append(f"Against k ({label}): " + "; ".join(f"k = {r['k']}: {_cm(r['network'])} (mean field "
                                                          f"{_cm(r['mean_field'])})" for r in rows) + ".")
        lines.append("")
    lines += ["The incumbent's fall and the tipping share (share of the sector's gross at the point of no return, "
              "freezing within the horizon), the baseline as it is, coupled agents against the ODE with the same k:",
              "", "| Graph | Falls at, agents | ODE | Point of no return, agents | ODE | Tipping share, agents | ODE |",
              "|---|---|---|---|---|---|---|"]

    def yr(x):
        return "—" if x is None else f"{x:.1f} yr"

    def pc(x):
        return "—" if x is None else f"{100 * x:.1f}%"

    for r in d["tipping"]:
        lines.append(f"| {_family_name(r['family'])} | {yr(r['fall_time'])} | {yr(r['ode_fall_time'])} | "
                     f"{yr(r['ponr_time'])} | {yr(r['ode_ponr_time'])} | {pc(r['share'])} | {pc(r['ode_share'])} |")
    return "\n".join(lines) + "\n"
