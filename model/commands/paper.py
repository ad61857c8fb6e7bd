"""``python -m model paper [--out DIR] [--draws N] [--seed S]``: regenerate and build the paper.

The pipeline (:func:`build`) runs the calibrate, verdict and figures commands and the
fragment writers of :mod:`model.publish.paper`, so the paper states what the commands write.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from ..publish import paper as P
from .checks import analyse as checks_analyse
from .effects import analyse as effects_analyse


def add_parser(sub) -> None:
    p = sub.add_parser("paper", help="regenerate everything the paper states and build paper/build/paper.pdf")
    p.add_argument("--out", default=None, metavar="DIR", help="build folder (default paper/build)")
    p.add_argument("--draws", type=int, default=None, help="verdict draws per sector (default: verdict's)")
    p.add_argument("--seed", type=int, default=0, help="verdict seed (default 0)")
    p.add_argument("--quick", action="store_true",
                   help="calibrate from one start without profile likelihoods (minutes, not hours; the "
                        "calibration tables then have no intervals); for a look at the layout")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.draws is not None and args.draws < 10:
        raise ValueError(f"--draws must be at least 10, got {args.draws}")
    build(args.out, draws=args.draws, seed=args.seed, quick=args.quick)
    return 0


def build(out: Path | None = None, *, draws: int | None = None, seed: int = 0, quick: bool = False,
          log: Callable[[str], None] = print) -> Path:
    """Regenerate everything the paper states and build ``paper.html`` and ``paper.pdf``.

    Parameters
    ----------
    out : Path, optional
        Build folder (default ``paper/build``).
    draws : int, optional
        Verdict draws per sector (default: the verdict command's). The figures use the
        same verdict files.
    seed : int
        Verdict seed.
    quick : bool
        A draft (for tests): calibrate from one start without profile likelihoods (the
        report then has no intervals), loop dominance over 8 draws a sector and the network
        figure on graphs of 2,000 customers.

    Returns
    -------
    Path
        The PDF.
    """
    from .cli import main as cli

    out = Path(out) if out else P.PAPER / "build"
    gen = out / "generated"
    gen.mkdir(parents=True, exist_ok=True)
    scenarios = P.ROOT / "scenarios"
    includes: dict[str, str] = {}
    values: dict[str, Any] = {}

    log("equations, parameters, sector sources")
    includes["equations.md"] = P.equations_markdown()
    includes["parameters.md"] = P.parameters_markdown()
    includes["sector_sources.md"] = P.sector_sources_markdown(scenarios)
    sectors_prose = P.PAPER / "sectors.md"
    includes["sectors.md"] = P._demote_headings(sectors_prose.read_text(), by=2) if sectors_prose.exists() else ""
    includes["loops.md"] = P.loops_markdown(scenarios / "baseline.toml")

    log("baseline run and tipping point")
    values.update(P.baseline_values(scenarios / "baseline.toml"))

    log("calibration")
    cal_dir = gen / "calibration"
    cal_args = ["calibrate", "--all", "--out", str(cal_dir)]
    if quick:
        cal_args += ["--starts", "1", "--profile-points", "0"]
    _run_cli(cli, cal_args)
    reports = [json.loads(p.read_text()) for p in sorted(cal_dir.glob("*_calibration.json"))]
    includes["calibration.md"] = P.calibration_summary_markdown(reports)

    log("evidence checks and effect sizes")
    includes["evidence_checks.md"] = checks_analyse()["markdown"]
    includes["effects.md"] = effects_analyse()["markdown"]

    log("verdict")
    ver_dir = gen / "verdict"
    args = ["verdict", "--out", str(ver_dir), "--seed", str(seed)]
    if draws:
        args += ["--draws", str(draws)]
    _run_cli(cli, args)
    includes["verdict.md"] = P._demote_headings((ver_dir / "verdict.md").read_text())
    from ..evidence.scenarios import load_scenario, verdict_files
    left_out = tuple(load_scenario(scenarios / f"{key}.toml").name for key, _ in verdict_files()[1])
    values.update(P.verdict_values(ver_dir, draws, seed, excluded=left_out))

    log("figures")
    fig_dir = out / "figures"
    fig_args = ["figures", "--out", str(fig_dir), "--verdict", str(ver_dir)]
    if quick:  # a draft: the network figure on graphs of 2,000 customers (its caption says so)
        fig_args += ["--network-customers", "2000"]
    _run_cli(cli, fig_args)
    includes["figures.md"] = P.figures_markdown(fig_dir, out)
    includes["network.md"] = P.network_markdown(fig_dir)
    values["figures.count"] = len(json.loads((fig_dir / "figures.json").read_text())["figures"])
    values.update(P.figure_numbers(fig_dir))

    log("loop dominance")
    from ..evidence.scenarios import verdict_files

    loop_draws = P.LOOP_DOMINANCE_DRAWS if not quick else 8  # quick: a draft (the suite builds it once)
    includes["loop_dominance.md"] = P.Template(P.loop_dominance_markdown(verdict_files()[0], draws=loop_draws,
                                                                         seed=seed)).render(values, includes)

    # The sector prose includes the generated calibration, evidence-check and effect tables.
    includes["sectors.md"] = P.Template(includes["sectors.md"]).render(values, includes)
    # Code names in words everywhere but the parameter table, whose name column is the key
    # between the paper and the scenario files.
    series = tuple(s["series"] for r in reports for s in r["series"])
    words = P.code_name_words(tuple(p.stem for p in scenarios.glob("*.toml")) + series)
    includes = {name: text if name == "parameters.md" else P.plain_code_names(text, words)
                for name, text in includes.items()}
    values = {name: P.plain_code_names(v, words) if isinstance(v, str) else v for name, v in values.items()}
    for name, text in includes.items():
        (gen / name).write_text(text)
    (gen / "values.json").write_text(json.dumps(values, indent=2, default=str))

    template = P.Template(P.TEMPLATE.read_text())
    typed = P.hand_typed_numbers(template.text)
    if typed:
        raise ValueError(f"{P.TEMPLATE}: numbers typed by hand in a results section: {', '.join(typed)}")
    md = out / "paper.md"
    template = P.Template(P.plain_code_names(template.text, words))
    md.write_text(template.render(values, includes))
    log("pandoc: HTML")
    html = out / "paper.html"
    P.render_html(md, html)
    log("chromium: PDF")
    pdf = out / "paper.pdf"
    P.print_pdf(html, pdf)
    log(f"wrote {html} and {pdf}")
    return pdf


def _run_cli(cli, args: list[str]) -> None:
    code = cli(args)
    if code not in (0, None):
        raise RuntimeError(f"`python -m model {' '.join(args)}` failed with exit code {code}")
