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
import hashlib
import json
import math
import time
from pathlib import Path

from ..evidence.scenarios import load_scenario
from .claims import CLAIMED_BAND, CLAIMED_SHARE
from .verdict import (
    DEFINITIONS,
    READING_LABELS,
    READINGS,
    VERDICT_RULES,
    MATERIAL_P,
    FOOTHOLD_SHARE,
    MATERIAL_RETENTION,
    MATERIAL_STAY,
    MATERIAL_TIME,
    NOT_DRAWN,
    OUTCOME_NAMES,
    RETENTION_FREEZE,
    RETENTION_YEARS,
    claim_comparisons,
    sector_verdict,
)


def compute(paths, *, draws: int, seed: int, tol: float, claim_draws: int | None, progress=None,
            critical_mass_draws: int = 200):
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
        v = sector_verdict(scenario, draws=draws, seed=seed, tol=tol, key=key, critical_mass_draws=critical_mass_draws)
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


def _iv_cells(row, label, iv):
    row.update({f"{label}_median": iv.median, f"{label}_p05": iv.low, f"{label}_p95": iv.high, f"{label}_n": iv.n})


def sector_row(v) -> dict:
    """One flat row of verdict.csv."""
    row = {"sector": v.key, "name": v.name, "file": v.origin, "start_year": v.start_year, "horizon": v.horizon,
           "network_effect": v.network_effect, "price_policy": v.price_policy, "draws": v.n_draws, "seed": v.seed,
           **{f"n_{k}": c for k, c in v.counts.items()}, "p_fall": v.p_fall,
           "p_fall_within_horizon": v.p_fall_within_horizon, "p_falls_anyway": v.p_falls_anyway,
           "fate_years": v.fate_years, "unsettled": v.unsettled, "firm_revenue_share": v.firm_revenue_share}
    for label, iv in (("break_even", v.break_even), ("ponr_share", v.ponr_share),
                      ("ponr_gross_loss", v.ponr_gross_loss), ("ponr_time", v.ponr_time)):
        _iv_cells(row, label, iv)
    row.update({"ponr_year_median": _year(v, v.ponr_time.median), "ponr_year_p05": _year(v, v.ponr_time.low),
                "ponr_year_p95": _year(v, v.ponr_time.high),
                "claim_band": f"{CLAIMED_SHARE - CLAIMED_BAND:.2f}-{CLAIMED_SHARE + CLAIMED_BAND:.2f}"})
    for r in v.readings:
        prefix = f"{r.definition}_{r.reading}"
        _iv_cells(row, prefix, r.threshold)
        row.update({f"{prefix}_n_tested": r.n_tested, f"{prefix}_n_above_band": r.n_above,
                    f"{prefix}_p_at_most_20": r.p_at_most_claim, f"{prefix}_p_15_25": r.p_near_claim,
                    f"{prefix}_verdict": r.word})
    cm = v.critical_mass
    if cm:
        row.update({"critical_mass_draws": cm["n"], "p_critical_mass": cm["p_exists"]})
        _iv_cells(row, "critical_mass_share", cm["share"])
        _iv_cells(row, "critical_mass_share_of_gross", cm["share_of_gross"])
    row.update({"sensitivity_method": "RBD-FAST S1 on the PONR share (SALib), draws that tip",
                "sensitivity_n": v.sensitivity_n, "sensitivity_noise_floor": v.noise_floor,
                "inert_parameters": " ".join(v.inert)})
    row["firms"] = v.n_firms
    if v.n_firms > 1:
        row["p_first_failure"] = v.p_first_failure
        for point, d in v.exit_points.items():
            row[f"exit_{point}_p_reached"] = d["p_reached"]
            for reading in READINGS:
                _iv_cells(row, f"exit_{point}_{reading}", d[reading])
    for i in range(3):
        s = v.sensitivity[i] if i < len(v.sensitivity) else {}
        row.update({f"top{i + 1}": s.get("parameter"), f"top{i + 1}_S1": s.get("S1"),
                    f"top{i + 1}_S1_conf": s.get("S1_conf"), f"top{i + 1}_spearman": s.get("spearman"),
                    f"top{i + 1}_above_noise": s.get("above_noise")})
    return row


def claim_row(c) -> dict:
    row = {k: getattr(c, k) for k in ("claim", "sector", "question", "arm_a", "arm_b", "n", "failed", "p_fall_a",
                                       "p_fall_b", "n_both", "median_time_a", "median_time_b", "median_time_diff",
                                       "frac_a_sooner", "answer", "other_way")}
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
    per_draw = ("time", "share", "gross_loss", "firm_gross_loss", "volume_share", "share_lo", "gross_loss_lo",
                "peak_share", "peak_gross_loss", "peak_firm_gross_loss", "peak_volume_share", "fall_time",
                "break_even", "first_failure_time", "first_failure_share", "first_failure_gross_loss",
                "ff_time", *(f"ff_{r}" for r in READINGS), *(f"ff_peak_{r}" for r in READINGS),
                "critical_mass_share", "critical_mass_share_of_gross")
    for v in verdicts:
        d = v.draws
        for i in range(v.n_draws):
            row = {"sector": v.key, "draw": i, "outcome": OUTCOME_NAMES[int(d["outcome"][i])],
                   "reason": d["reason"][i], "by_drift": bool(d["by_drift"][i])}
            if "ff_outcome" in d:
                row["first_failure_outcome"] = OUTCOME_NAMES[int(d["ff_outcome"][i])]
            for key in per_draw:
                if key in d:
                    name = {"time": "ponr_time", "share": "ponr_share", "gross_loss": "ponr_gross_loss",
                            "share_lo": "ponr_share_lo", "gross_loss_lo": "ponr_gross_loss_lo"}.get(key, key)
                    row[name] = float(d[key][i])
            row.update({name: float(d["X"][i, j]) for j, name in enumerate(v.drawn)})
            rows.append(row)
    return rows


def source_record(verdicts, meta) -> dict:
    """What a verdict was computed from: draws, seed and the sha256 of each sector file (by
    sector key), so a reader of committed results (the dashboard) can tell a stale one."""
    return {"draws": meta.get("draws"), "seed": meta.get("seed"),
            "files": {v.key: hashlib.sha256(Path(v.origin).read_bytes()).hexdigest() for v in verdicts}}


def write_outputs(out: Path, verdicts, claims, meta) -> None:
    (out / "source.json").write_text(json.dumps(source_record(verdicts, meta), indent=1) + "\n", encoding="utf-8")
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


def _table(head, rows) -> str:
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def _cm(v):
    cm = v.critical_mass
    if not cm:
        return "not computed"
    if not cm["share"].n:
        return f"none in {cm['n']} draws"
    return f"{_pct(cm['p_exists'])} of {cm['n']} draws, at {_iv(cm['share'])} of volume"


#: Columns of :func:`reading_rows` (the dashboard's table and verdict.md's).
READING_COLUMNS = ("reading", "threshold: median [5th-95th]", "P(threshold <= 20%)", "P(15% <= threshold <= 25%)",
                   "tested / finished draws", "verdict")


def reading_rows(v, definition: str = "sector") -> list[tuple[str, ...]]:
    """One row of display strings per reading: the one formatting of the verdict that the
    terminal, verdict.md and the dashboard all print."""
    return [(r.label, _iv(r.threshold), _pct(r.p_at_most_claim), _pct(r.p_near_claim),
             f"{r.n_tested} / {r.n_finished}", r.word)
            for r in v.readings if r.definition == definition]


def fate_sentence(v) -> str:
    """The sector's fate and critical mass in one sentence (dashboard and terminal)."""
    return (f"P(falls in the long run) {_pct(v.p_fall)}; within the file's {v.horizon:g}-year horizon "
            f"{_pct(v.p_fall_within_horizon)}; whatever the platform does {_pct(v.p_falls_anyway)}. "
            f"Adoption critical mass: {_cm(v)}.")


def text_table(verdicts) -> str:
    """The terminal's tables: one row per sector and reading (the sector's fall), then the
    sector's fate and its critical mass, then the first firm's failure."""
    head = ("sector", "reading", "threshold median [5-95%]", "P(<=20%)", "P(15-25%)", "tested", "verdict")
    rows = []
    for v in verdicts:
        for r in (x for x in v.readings if x.definition == "sector"):
            rows.append((v.key, r.label, _iv(r.threshold), _pct(r.p_at_most_claim), _pct(r.p_near_claim),
                         f"{r.n_tested}/{r.n_finished}", r.word))
    fate_head = ("sector", "P(falls): long run", "within horizon", "whatever the platform does", "PONR year",
                 "critical mass (adoption)", "moves the PONR share most")
    fate = []
    for v in verdicts:
        year = _iv(v.ponr_time, pct=False, offset=v.start_year) if v.start_year is not None else \
            _iv(v.ponr_time, pct=False) + " yr"
        fate.append((v.key, _pct(v.p_fall), _pct(v.p_fall_within_horizon), _pct(v.p_falls_anyway), year, _cm(v),
                     _top(v)))
    out = [_table(head, rows), "", _table(fate_head, fate)]
    ff = [(v.key, r.label, _iv(r.threshold), _pct(r.p_at_most_claim), _pct(r.p_near_claim),
           f"{r.n_tested}/{r.n_finished}", r.word)
          for v in verdicts for r in v.readings if r.definition == "first_failure"]
    if ff:
        out += ["", "The first firm's failure (sectors of several firms):", _table(head, ff)]
    out += ["", "Rules: " + VERDICT_RULES.replace("**", "")]
    return "\n".join(out)


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


def sector_sentence(v) -> str:
    """What the verdict says about one sector, in one sentence built from its numbers."""
    words = v.words
    by_word = {}
    for reading in READINGS:
        by_word.setdefault(words.get(reading, "n/a"), []).append(READING_LABELS[reading])
    if len(by_word) == 1:
        parts = [f"{next(iter(by_word))} on all four readings"]
    else:
        parts = [f"{w} on the {', the '.join(labels)}" for w, labels in by_word.items()]
    r = v.reading("share_of_gross")
    loss = v.reading("gross_loss")
    detail = ""
    if r is not None and r.n_tips:
        detail = (f" (at the point of no return the platform holds {_iv(r.threshold)} of the gross and the "
                  f"incumbents have lost {_iv(loss.threshold)} of theirs)")
    elif r is not None:
        detail = f" (no draw tips; in {r.n_above} the platform passes 25% of the gross and the incumbents stand)"
    return (f"{v.name}: the 20% claim " + "; ".join(parts) + detail
            + f"; P(falls in the long run) {_pct(v.p_fall)}, of which whatever the platform does "
              f"{_pct(v.p_falls_anyway)}.")


def markdown(verdicts, claims, meta) -> str:
    """verdict.md: the tables and how to read them; every sentence built from the numbers."""
    n = len(verdicts)
    tally = {w: sum(r.word == w for v in verdicts for r in v.readings if r.definition == "sector")
             for w in ("holds", "fails", "undetermined")}
    fate = verdicts[0].fate_years if verdicts else float("nan")
    names = {v.key: v.name for v in verdicts}  # the tables name sectors as readers do, not by file key
    # A `<key>_calibrated` file is the calibrated variant of sector `<key>`, not another sector.
    variants = sum(v.key.endswith("_calibrated") for v in verdicts)
    variants_note = f" ({n - variants} sectors, {variants} of them also as a calibrated file)" if variants else ""
    lines = [
        "# The verdict on the 20% claim",
        "",
        "The essay: \"The evolutionary Tipping Point is 20%. Each time the trust platform takes 20% of the gross "
        "out of the sector, the Highland Park alternative will fall.\" For each sector the model finds the "
        "*point of no return* (PONR): the moment after which the incumbents fall even if the platform never "
        f"acquires another customer, following the frozen system to its long-run fate ({fate:g} years past the "
        "freeze and a terminal-drift test), not to the window a file watches. \"20% of the gross\" is read four "
        "ways: the platform's share of the sector's gross; the incumbents' loss of their own sector gross; the "
        "same loss on their whole revenue, where the sector is one line of their business; and the platform's "
        "share of the sector's customers. Each reading gets its threshold's distribution over the uncertainty in "
        "the sector's numbers and a verdict word by the rules below.",
        "",
        "## In one paragraph",
        "",
        f"Over {n} sector file{'s' if n != 1 else ''}{variants_note} and four readings ({4 * n} verdicts), the claim holds in {tally['holds']}, fails in "
        f"{tally['fails']} and is undetermined in {tally['undetermined']}.",
        "",
        *[f"- {sector_sentence(v)}" for v in verdicts],
        "",
        "## The rules",
        "",
        VERDICT_RULES,
        "",
        "## Sector table: the sector's fall",
        "",
        "| sector | reading | threshold: median [5th-95th] | P(threshold <= 20%) | P(15% <= threshold <= 25%) | "
        "tested / finished draws | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        for row in reading_rows(v):
            lines.append(f"| {v.name} | " + " | ".join(row[:-1]) + f" | **{row[-1]}** |")
    lines += [
        "",
        "Threshold: the reading on the unfrozen run at the point of no return, over the draws that tip. For a "
        "sector of several firms the sector falls when half of its initial incumbent capacity has exited. The "
        "firm-wide loss is the sector loss times the share of the firms' revenue the sector's line was at the "
        "start (each file states it, with its source).",
        "",
        "## Fate, and the adoption critical mass",
        "",
        "| sector | P(falls in the long run) | P(falls within the file's horizon) | P(falls whatever the platform "
        "does) | PONR year | static break-even loss | critical mass (adoption) | survivors still declining at "
        "the end of the window |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        year = _iv(v.ponr_time, pct=False, offset=v.start_year) if v.start_year is not None else \
            _iv(v.ponr_time, pct=False) + " yr"
        lines.append(f"| {v.name} | {_pct(v.p_fall)} | {_pct(v.p_fall_within_horizon)} | {_pct(v.p_falls_anyway)} | "
                     f"{year} | {_iv(v.break_even)} | {_cm(v)} | {v.unsettled} |")
    lines += [
        "",
        "\"Whatever the platform does\": the incumbents fall even if the platform never acquires anyone after the "
        "start (a shrinking sector, or finances that do not cover the debt service): these draws do not test the "
        "claim. Critical mass: where the platform is worse stand-alone and better at scale, the unstable "
        "equilibrium (a saddle) between a low and a high stable platform share; below it the platform fails, "
        "above it it takes off (model.analysis.critical_mass), on the first draws of each sector. Static "
        "break-even loss: the share of gross the incumbent can lose at the start before its operating profit "
        "reaches zero, under the sector's price policy.",
        "",
    ]
    firm_sectors = [v for v in verdicts if v.n_firms > 1]
    if firm_sectors:
        lines += [
            "## Firms: the first failure",
            "",
            "The same readings when the point of no return is that of the sector's first firm to fail (the "
            "moment after which at least one firm exits even if the platform stops growing):",
            "",
            "| sector | reading | threshold: median [5th-95th] | P(<= 20%) | P(15-25%) | tested / finished | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for v in firm_sectors:
            for row in reading_rows(v, "first_failure"):
                lines.append(f"| {v.name} | " + " | ".join(row[:-1]) + f" | **{row[-1]}** |")
        lines += [
            "",
            "On the unfrozen run, the exit curve's points: the readings when the first firm fails and when half "
            "of the capacity has exited:",
            "",
            "| sector | firms | P(a first failure) | first failure: share of gross / gross loss / share of volume | "
            "P(half exited) | half exited: share of gross / gross loss / share of volume |",
            "|---|---|---|---|---|---|",
        ]
        for v in firm_sectors:
            a, b = v.exit_points["first_failure"], v.exit_points["half_exited"]
            lines.append(f"| {v.name} | {v.n_firms} | {_pct(a['p_reached'])} | {_iv(a['share_of_gross'])} / "
                         f"{_iv(a['gross_loss'])} / {_iv(a['volume_share'])} | {_pct(b['p_reached'])} | "
                         f"{_iv(b['share_of_gross'])} / {_iv(b['gross_loss'])} / {_iv(b['volume_share'])} |")
        lines.append("")
    lines += [
        "## Sensitivity of the PONR share",
        "",
        "| sector | draws that tip | 1st | 2nd | 3rd | noise floor (inert parameters) |",
        "|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        cells = [f"`{s['parameter']}` S1 = {s['S1']:.2f} ± {s['S1_conf']:.2f}, ρ = {s['spearman']:+.2f}"
                 + ("" if s["above_noise"] else " (within noise)") for s in v.sensitivity]
        cells += ["n/a"] * (3 - len(v.sensitivity))
        floor = "n/a" if not math.isfinite(v.noise_floor) else f"{v.noise_floor:.2f} ({', '.join(v.inert)})"
        lines.append(f"| {v.name} | {v.sensitivity_n} | " + " | ".join(cells) + f" | {floor} |")
    lines += [
        "",
        "S1: first-order index of RBD-FAST (SALib; Tarantola et al. 2006 with the bias correction of Tissot & "
        "Prieur 2012), the share of the PONR share's variance explained by the parameter alone, on the same Latin "
        "hypercube, restricted to the draws that tip; ± its bootstrap 95% half-width "
        "(30 resamples). ρ: "
        "Spearman rank correlation, for the direction. Noise floor: the largest S1 of the drawn parameters that "
        "do not enter the sector's dynamics at all (read from the sympy model under the sector's switches, e.g. "
        "the platform's own costs); an index at or below it is marked \"within noise\" (\"?\" in the table above).",
        "",
        "What moves the other readings' thresholds (the three largest indices, direction; \"?\" within noise):",
        "",
        "| sector | incumbents' gross loss | platform's share of customers | incumbents' loss of whole revenue |",
        "|---|---|---|---|",
    ]
    for v in verdicts:
        cells = []
        for reading in ("gross_loss", "volume_share", "firm_gross_loss"):
            d = v.sensitivity_by_reading.get(reading, {})
            top = d.get("top") or []
            cells.append(", ".join(f"{t['parameter']} ({'+' if t['spearman'] >= 0 else '-'})"
                                   + ("" if t["above_noise"] else "?") for t in top)
                         or f"n/a ({d.get('n', 0)} draws tip)")
        lines.append(f"| {v.name} | " + " | ".join(cells) + " |")
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
                      f"A = {sub[0].arm_a}; B = {sub[0].arm_b}. What would make it come out the other way: "
                      f"{sub[0].other_way.split(' (now')[0]}.", "",
                      "| sector | P(falls) A | P(falls) B | tip in both | median PONR A | median PONR B | "
                      "median A - B | A sooner |" + extra_head + " reading |",
                      "|---|---|---|---|---|---|---|---|" + ("---|" if claim == "C4" else "") + "---|"]
            for c in sub:
                extra = ""
                if claim == "C4":
                    extra = f" {_pct(c.extra['retention_with'])} / {_pct(c.extra['retention_without'])} " \
                            f"(n = {c.extra['retention_n']}) |"
                lines.append(f"| {names.get(c.sector, c.sector)} | {_pct(c.p_fall_a)} | {_pct(c.p_fall_b)} | {c.n_both} | "
                             f"{_num(c.median_time_a)} yr | {_num(c.median_time_b)} yr | "
                             f"{_num(c.median_time_diff, '+')} yr | "
                             f"{_pct(c.frac_a_sooner)} |{extra} {c.answer} |")
            lines.append("")
        lines += [f"Readings use fixed thresholds, stated here and not tuned: differences under {MATERIAL_TIME} yr "
                  f"in the PONR, {MATERIAL_P:.2f} in the probability of falling, and {MATERIAL_RETENTION:.0%} of "
                  f"share retained count as no material difference. C4's stay: the churn per platform user at "
                  f"year {RETENTION_FREEZE:g} without relational trust divided by the churn with it, how many "
                  f"times as long a user stays (a stay {MATERIAL_STAY:.0%} longer is material); its retention "
                  f"(acquisition stops at year {RETENTION_FREEZE:g} and the share {RETENTION_YEARS:g} years later "
                  f"is divided by the share then) stays near 100% in both arms when churn is tiny. C5's two "
                  f"network-effect forms are normalised to the same value at full share and trust and start from "
                  f"the same state. C7 is asked from the file's start and from a {FOOTHOLD_SHARE:.0%} foothold: "
                  f"from a tiny start word of mouth has no adopters to spread from, so the hard network matters "
                  f"by construction; the hard network's own cost to the platform is not in the model.", ""]
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
        lines.append(f"| {v.name} | `{v.origin}` | {v.n_draws} | {c['tips']} | {c['never_tips']} | "
                     f"{c['always_falls']} | {c['failed']} | {v.network_effect} | {v.price_policy} |")
    lines.append("")
    for item in meta.get("excluded", ()):
        lines += [f"Not in the verdict: **{item['sector']}**. {item['reason']}", ""]
    return "\n".join(lines)


def _num(x, sign=""):
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:{sign}.2f}"
