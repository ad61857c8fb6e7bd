"""The verdict's outputs: sector verdicts for a list of files, and their tables.

:func:`compute` runs :func:`model.studies.verdict.sector_verdict` (and the claims C5, C7,
C4) for each sector file; :func:`write_outputs` writes ``verdict.csv`` (one row per sector,
:func:`sector_row`), ``verdict_claims.csv``, ``verdict_draws.csv`` (every draw, failed
ones with their reason) and ``verdict.md``; :func:`text_table` is the terminal's table.
The command (``python -m model verdict``), the book figures and the paper all read these.

Studies layer: imports the layers below; writes only the files it is asked to.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

from ..evidence.scenarios import load_scenario
from .claims import CLAIMED_BAND, CLAIMED_SHARE
from .verdict import (
    MATERIAL_P,
    MATERIAL_RETENTION,
    MATERIAL_TIME,
    NOT_DRAWN,
    OUTCOME_NAMES,
    RETENTION_FREEZE,
    RETENTION_YEARS,
    claim_comparisons,
    sector_verdict,
)


def compute(paths, *, draws: int, seed: int, tol: float, claim_draws: int | None, progress=None):
    """Verdicts (and claims, unless ``claim_draws`` is None) of the sector files ``paths``."""
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"--tol must be a positive number of years, got {tol!r}")
    scenarios = [load_scenario(p) for p in paths]  # all files checked before any work
    keys = [Path(s.origin).stem for s in scenarios]
    if len(set(keys)) != len(keys):
        raise ValueError("two sector files have the same name: " + ", ".join(map(str, paths)))
    verdicts, claims, timings = [], [], {}
    for key, scenario in zip(keys, scenarios):
        t0 = time.perf_counter()
        v = sector_verdict(scenario, draws=draws, seed=seed, tol=tol, key=key)
        verdicts.append(v)
        t1 = time.perf_counter()
        if claim_draws is not None:
            claims += claim_comparisons(v, claim_draws=claim_draws, tol=tol)
        timings[key] = (t1 - t0, time.perf_counter() - t1)
        if progress:
            progress(f"  {key}: {t1 - t0:.1f} s verdict" + (f", {timings[key][1]:.1f} s claims"
                                                             if claim_draws is not None else ""))
    return verdicts, claims, timings



# --- outputs ------------------------------------------------------------------------------


def _year(v, t):
    return None if v.start_year is None or not math.isfinite(t) else v.start_year + t


def sector_row(v) -> dict:
    """One flat row of verdict.csv."""
    row = {"sector": v.key, "name": v.name, "file": v.origin, "start_year": v.start_year, "horizon": v.horizon,
           "network_effect": v.network_effect, "price_policy": v.price_policy, "draws": v.n_draws, "seed": v.seed,
           **{f"n_{k}": c for k, c in v.counts.items()}, "p_fall": v.p_fall}
    for label, iv in (("break_even", v.break_even), ("ponr_share", v.ponr_share),
                      ("ponr_gross_loss", v.ponr_gross_loss), ("ponr_time", v.ponr_time)):
        row.update({f"{label}_median": iv.median, f"{label}_p05": iv.low, f"{label}_p95": iv.high, f"{label}_n": iv.n})
    row.update({"ponr_year_median": _year(v, v.ponr_time.median), "ponr_year_p05": _year(v, v.ponr_time.low),
                "ponr_year_p95": _year(v, v.ponr_time.high),
                "twenty_in_share_interval": v.twenty_in_share, "twenty_in_gross_loss_interval": v.twenty_in_gross_loss,
                "p_share_near_claim": v.p_share_near_claim, "p_gross_loss_near_claim": v.p_gross_loss_near_claim,
                "claim_band": f"{CLAIMED_SHARE - CLAIMED_BAND:.2f}-{CLAIMED_SHARE + CLAIMED_BAND:.2f}",
                "sensitivity_method": "RBD-FAST S1 on the PONR share (SALib), draws with a PONR",
                "sensitivity_n": v.sensitivity_n, "sensitivity_noise_floor": v.noise_floor,
                "inert_parameters": " ".join(v.inert)})
    row["firms"] = v.n_firms
    if v.n_firms > 1:
        row["p_first_failure"] = v.p_first_failure
        for label, iv in (("first_failure_share", v.first_failure_share),
                          ("first_failure_gross_loss", v.first_failure_gross_loss)):
            row.update({f"{label}_median": iv.median, f"{label}_p05": iv.low, f"{label}_p95": iv.high,
                        f"{label}_n": iv.n})
    for i in range(3):
        s = v.sensitivity[i] if i < len(v.sensitivity) else {}
        row.update({f"top{i + 1}": s.get("parameter"), f"top{i + 1}_S1": s.get("S1"),
                    f"top{i + 1}_S1_conf": s.get("S1_conf"), f"top{i + 1}_spearman": s.get("spearman"),
                    f"top{i + 1}_above_noise": s.get("above_noise")})
    return row


def claim_row(c) -> dict:
    row = {k: getattr(c, k) for k in ("claim", "sector", "question", "arm_a", "arm_b", "n", "failed", "p_fall_a",
                                       "p_fall_b", "n_both", "median_time_a", "median_time_b", "median_time_diff",
                                       "frac_a_sooner", "answer")}
    for k, val in c.extra.items():
        row[k] = val
    return row


def _csv_value(x):
    if x is None:
        return ""
    if isinstance(x, float):
        return "" if not math.isfinite(x) else repr(x)
    return x


def _write_csv(path: Path, rows: list[dict]) -> None:
    fields = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: _csv_value(r.get(k)) for k in fields})


def draw_rows(verdicts) -> list[dict]:
    rows = []
    for v in verdicts:
        d = v.draws
        for i in range(v.n_draws):
            row = {"sector": v.key, "draw": i, "outcome": OUTCOME_NAMES[int(d["outcome"][i])],
                   "reason": d["reason"][i],
                   "ponr_time": float(d["time"][i]), "ponr_share": float(d["share"][i]),
                   "ponr_gross_loss": float(d["gross_loss"][i]), "ponr_share_lo": float(d["share_lo"][i]),
                   "ponr_gross_loss_lo": float(d["gross_loss_lo"][i]), "fall_time": float(d["fall_time"][i]),
                   "break_even": float(d["break_even"][i])}
            if "first_failure_share" in d:
                row.update(first_failure_time=float(d["first_failure_time"][i]),
                           first_failure_share=float(d["first_failure_share"][i]),
                           first_failure_gross_loss=float(d["first_failure_gross_loss"][i]))
            row.update({name: float(d["X"][i, j]) for j, name in enumerate(v.drawn)})
            rows.append(row)
    return rows


def write_outputs(out: Path, verdicts, claims, meta) -> None:
    _write_csv(out / "verdict.csv", [sector_row(v) for v in verdicts])
    _write_csv(out / "verdict_claims.csv", [claim_row(c) for c in claims])
    _write_csv(out / "verdict_draws.csv", draw_rows(verdicts))
    (out / "verdict.md").write_text(markdown(verdicts, claims, meta), encoding="utf-8")


def _pct(x):
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


def _iv(iv, pct=True, offset=None):
    if iv.n == 0:
        return "n/a"
    f = _pct if pct else (lambda x: f"{x + (offset or 0):.0f}" if offset is not None else f"{x:.1f}")
    return f"{f(iv.median)} [{f(iv.low)}-{f(iv.high)}]"


def _yn(b):
    return "n/a" if b is None else ("yes" if b else "no")


def _top(v):
    if not v.sensitivity:
        return f"n/a ({v.sensitivity_n} draws with a PONR)"
    return ", ".join(f"{s['parameter']} ({'+' if s['spearman'] >= 0 else '-'})" + ("" if s["above_noise"] else "?")
                     for s in v.sensitivity)


def text_table(verdicts) -> str:
    """The sector table for the terminal."""
    head = ("sector", "P(falls)", "break-even loss", "PONR: share of gross", "PONR: gross loss", "PONR: year",
            "20% in share / loss", "P(15-25%) share / loss", "moves the PONR share most")
    rows = []
    for v in verdicts:
        year = _iv(v.ponr_time, pct=False, offset=v.start_year) if v.start_year is not None else \
            _iv(v.ponr_time, pct=False) + " yr"
        rows.append((v.key, _pct(v.p_fall), _iv(v.break_even), _iv(v.ponr_share), _iv(v.ponr_gross_loss), year,
                     f"{_yn(v.twenty_in_share)} / {_yn(v.twenty_in_gross_loss)}",
                     f"{_pct(v.p_share_near_claim)} / {_pct(v.p_gross_loss_near_claim)}", _top(v)))
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def claims_text(claims) -> str:
    lines = []
    for claim in ("C5", "C7", "C4"):
        sub = [c for c in claims if c.claim == claim]
        if not sub:
            continue
        lines.append(f"{claim}: {sub[0].question}")
        for c in sub:
            lines.append(f"  {c.sector:22s} {c.answer}")
    return "\n".join(lines)


def markdown(verdicts, claims, meta) -> str:
    """verdict.md: the table and how to read it; every sentence built from the numbers."""
    n = len(verdicts)
    in_share = sum(v.twenty_in_share is True for v in verdicts)
    in_loss = sum(v.twenty_in_gross_loss is True for v in verdicts)
    below = [v.key for v in verdicts if v.ponr_share.n and v.ponr_share.high < CLAIMED_SHARE]
    above = [v.key for v in verdicts if v.ponr_share.n and v.ponr_share.low > CLAIMED_SHARE]
    medians = [v.ponr_share.median for v in verdicts if v.ponr_share.n]
    loss_medians = [v.ponr_gross_loss.median for v in verdicts if v.ponr_gross_loss.n]
    lines = [
        "# The verdict on the 20% claim",
        "",
        "The essay: \"The evolutionary Tipping Point is 20%. Each time the trust platform takes 20% of the gross "
        "out of the sector, the Highland Park alternative will fall.\" For each sector the model finds the "
        "*point of no return* (PONR): the moment after which the incumbent falls within the horizon even if the "
        "platform never acquires another customer. We report where that moment lies as the platform's share of "
        "the sector's gross, and as the incumbent's loss of its own starting gross (the essay's \"20% loss of "
        "gross\"), over the uncertainty in each sector's numbers.",
        "",
        "## In one paragraph",
        "",
        f"Over {n} sectors, 20% lies inside the 90% interval of the platform's share of gross at the point of no "
        f"return in {in_share} and inside the interval of the incumbent's gross loss in {in_loss}. "
        + (f"Median shares at the point of no return run from {_pct(min(medians))} to {_pct(max(medians))}; "
           f"median gross losses from {_pct(min(loss_medians))} to {_pct(max(loss_medians))}. " if medians else "")
        + (f"The whole interval lies below 20% in: {', '.join(below)}. " if below else "")
        + (f"The whole interval lies above 20% in: {', '.join(above)}. " if above else "")
        + "The parameters that move the point of no return most are listed per sector below; a single number "
          "that holds in every sector would need intervals that all contain it and sensitivities that do not "
          "depend on the sector's own finances.",
        "",
        "## Sector table",
        "",
        "| sector | P(falls within horizon) | static break-even loss | PONR: platform share of gross | "
        "PONR: incumbent gross loss | PONR: year | 20% inside share interval? | 20% inside gross-loss interval? | "
        "moves the PONR share most (direction) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        year = _iv(v.ponr_time, pct=False, offset=v.start_year) if v.start_year is not None else \
            _iv(v.ponr_time, pct=False) + " yr"
        lines.append(f"| {v.name} | {_pct(v.p_fall)} | {_iv(v.break_even)} | {_iv(v.ponr_share)} | "
                     f"{_iv(v.ponr_gross_loss)} | {year} | {_yn(v.twenty_in_share)} | {_yn(v.twenty_in_gross_loss)} | "
                     f"{_top(v)} |")
    lines += [
        "",
        "Cells are median [5th-95th percentile] over the draws. P(falls) counts draws whose incumbent falls within "
        "the horizon (a point of no return exists; for a sector of firms: half of its incumbent capacity exits); the PONR columns are over those draws only. Static break-even "
        "loss: the share of gross the incumbent can lose at the start before its operating profit reaches zero, "
        "under the sector's price policy (re-pricing to average cost where that is the policy). (+) means the "
        "parameter raises the share at the point of no return, (-) lowers it.",
        "",
        "## Sensitivity of the PONR share",
        "",
        "| sector | draws with a PONR | 1st | 2nd | 3rd | noise floor (inert parameters) |",
        "|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        cells = [f"`{s['parameter']}` S1 = {s['S1']:.2f} ± {s['S1_conf']:.2f}, ρ = {s['spearman']:+.2f}"
                 + ("" if s["above_noise"] else " (within noise)") for s in v.sensitivity]
        cells += ["n/a"] * (3 - len(v.sensitivity))
        floor = "n/a" if not math.isfinite(v.noise_floor) else f"{v.noise_floor:.2f} ({', '.join(v.inert)})"
        lines.append(f"| {v.key} | {v.sensitivity_n} | " + " | ".join(cells) + f" | {floor} |")
    lines += [
        "",
        "S1: first-order index of RBD-FAST (SALib; Tarantola et al. 2006 with the bias correction of Tissot & "
        "Prieur 2012), the share of the PONR share's variance explained by the parameter alone, on the same Latin "
        "hypercube, restricted to the draws that have a point of no return; ± its bootstrap 95% half-width "
        "(30 resamples). ρ: "
        "Spearman rank correlation, for the direction. Noise floor: the largest S1 of the drawn parameters that "
        "do not enter the sector's dynamics at all (read from the sympy model under the sector's switches, e.g. "
        "the platform's own costs); an index at or below it is marked \"within noise\" (\"?\" in the table above).",
        "",
    ]
    firm_sectors = [v for v in verdicts if v.n_firms > 1]
    if firm_sectors:
        lines += [
            "## Firms: the first failure and the sector's fall",
            "",
            "A sector is a population of firms that differ in fixed costs, leverage, cash and size (placed "
            "deterministically from each file's spreads). \"Highland Park falls\" for a sector is the moment half "
            "of its initial incumbent capacity has exited; P(falls) and the PONR columns above read that "
            "definition. The first firm to fail comes earlier:",
            "",
            "| sector | firms | P(first failure within horizon) | first failure: platform share of gross | "
            "first failure: incumbents' gross loss | P(sector falls) |",
            "|---|---|---|---|---|---|",
        ]
        for v in firm_sectors:
            lines.append(f"| {v.name} | {v.n_firms} | {_pct(v.p_first_failure)} | {_iv(v.first_failure_share)} | "
                         f"{_iv(v.first_failure_gross_loss)} | {_pct(v.p_fall)} |")
        lines.append("")
    if claims:
        lines += ["## The essays' other claims (MODEL.md)", "",
                  f"Each on the first {meta.get('claim_draws')} draws of every sector, paired: the same draw in both "
                  "arms, one switch changed. Times are PONR times over the draws that tip in both arms.", ""]
        for claim in ("C5", "C7", "C4"):
            sub = [c for c in claims if c.claim == claim]
            if not sub:
                continue
            extra_head = " share kept 5 yr after acquisition stops (A / B) |" if claim == "C4" else ""
            lines += [f"### {claim}: {sub[0].question}", "",
                      f"A = {sub[0].arm_a}; B = {sub[0].arm_b}.", "",
                      "| sector | P(falls) A | P(falls) B | tip in both | median PONR A | median PONR B | "
                      "median A - B | A sooner |" + extra_head + " reading |",
                      "|---|---|---|---|---|---|---|---|" + ("---|" if claim == "C4" else "") + "---|"]
            for c in sub:
                extra = ""
                if claim == "C4":
                    extra = f" {_pct(c.extra['retention_with'])} / {_pct(c.extra['retention_without'])} " \
                            f"(n = {c.extra['retention_n']}) |"
                lines.append(f"| {c.sector} | {_pct(c.p_fall_a)} | {_pct(c.p_fall_b)} | {c.n_both} | "
                             f"{_num(c.median_time_a)} yr | {_num(c.median_time_b)} yr | "
                             f"{_num(c.median_time_diff, '+')} yr | "
                             f"{_pct(c.frac_a_sooner)} |{extra} {c.answer} |")
            lines.append("")
        lines += [f"Readings use fixed thresholds, stated here and not tuned: differences under {MATERIAL_TIME} yr "
                  f"in the PONR, {MATERIAL_P:.2f} in the probability of falling, and {MATERIAL_RETENTION:.0%} of "
                  f"share retained count as no material difference. C4's retention: acquisition stops at year "
                  f"{RETENTION_FREEZE:g} and the share {RETENTION_YEARS:g} years later is divided by the share "
                  f"then, over draws whose incumbent is still there in both arms.", ""]
    lines += [
        "## Method",
        "",
        f"- Draws: {meta.get('draws')} per sector, Latin hypercube (scipy.stats.qmc), uniform within each "
        f"parameter's range in the sector file; seed {meta.get('seed')}, with each sector's stream derived from "
        f"the seed and the file's name (rerunning one sector alone gives the same draws). Held at the file's "
        f"value: {', '.join(NOT_DRAWN)} (the window in which a fall is counted) and the switches.",
        f"- Point of no return: bisection on the moment acquisition is frozen, tolerance {meta.get('tol')} yr, "
        "for all draws at once (model.core.engine.point_of_no_return_batch); F is assumed monotone in the freeze time.",
        "- Draws that fail to solve are kept with their reason in verdict_draws.csv and counted below; they "
        "enter no interval.",
        f"- {meta.get('seconds', float('nan')):.1f} s for the whole verdict.",
        "",
        "| sector | file | draws | tips | never tips | always falls | failed | network effect | price policy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        c = v.counts
        lines.append(f"| {v.key} | `{v.origin}` | {v.n_draws} | {c['tips']} | {c['never_tips']} | "
                     f"{c['always_falls']} | {c['failed']} | {v.network_effect} | {v.price_policy} |")
    lines.append("")
    return "\n".join(lines)


def _num(x, sign=""):
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:{sign}.2f}"
