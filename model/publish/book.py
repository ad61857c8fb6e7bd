"""Figures for the book and the paper: what each one shows, how it is sized, and its export.

Every figure is named in :data:`FIGURES` with its size on a 6 x 9 inch book page (full
text width 4.5 in, or half width) and a builder that runs the model and draws the result
with the one figure code path, :mod:`model.publish.figures`. :func:`export_figures` writes each
one as PDF and SVG (vector) and PNG at 300 dpi through one kaleido browser, and a manifest
``figures.json`` that says, per figure, which files, which caption, which scenario files
(with their content hash) and parameter values, which data files, draws and seed, and the
code version; the only field that changes between two runs with nothing changed is the
time (``created``).

A layer over the model (plotly, file I/O, a browser); the model never imports it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import plotly.graph_objects as go

from ..evidence import provenance
from . import figures as F

__all__ = [
    "BOOK_TEMPLATE",
    "FULL_WIDTH_IN",
    "HALF_WIDTH_IN",
    "DPI",
    "CSS_DPI",
    "FigureSpec",
    "Built",
    "Context",
    "FIGURES",
    "to_book",
    "png_with_dpi",
    "png_size",
    "png_dpi",
    "code_version",
    "file_sha256",
    "export_figures",
    "read_manifest",
    "write_manifest",
    "verdict_rows_from_dir",
]

ROOT = Path(__file__).resolve().parents[2]

#: Text width of a 6 x 9 inch book page (0.75 in margins), and half of it. Sizes are
#: multiples of 1/12 in (8 CSS pixels), so that the PNG is exactly inches x 300 pixels.
FULL_WIDTH_IN = 4.5
HALF_WIDTH_IN = 2.25
#: Print resolution of the PNG files, and plotly's CSS pixels per inch (sizes and fonts
#: are laid out in CSS pixels; the PNG is rendered at DPI / CSS_DPI times that).
DPI = 300
CSS_DPI = 96

_SERIF = "DejaVu Serif, Liberation Serif, Georgia, serif"
_AXIS = dict(showline=True, linecolor="#000000", linewidth=0.8, ticks="outside", tickcolor="#000000", ticklen=3,
             showgrid=True, gridcolor="#e6e6e6", gridwidth=0.6, zeroline=False, automargin=True,
             title=dict(standoff=4, font=dict(size=11)), tickfont=dict(size=10))
#: The book's plotly template: a serif face at about 8 pt, black axes, light grid, gray
#: shades, and for traces that set no style of their own a cycle of line dashes and
#: markers, so that no two series differ by colour alone.
BOOK_TEMPLATE = go.layout.Template(
    layout=dict(
        font=dict(family=_SERIF, size=11, color="#000000"),
        paper_bgcolor="#ffffff", plot_bgcolor="#ffffff",
        colorway=["#000000", "#404040", "#808080", "#a0a0a0"],
        xaxis=_AXIS, yaxis=_AXIS,
        legend=dict(font=dict(size=10), bgcolor="rgba(255,255,255,0)", itemwidth=30, tracegroupgap=2),
        margin=dict(l=50, r=12, t=12, b=40),
        hoverlabel=dict(font=dict(family=_SERIF)),
    ),
    data=dict(scatter=[go.Scatter(line=dict(dash=d, simplify=False), marker=dict(symbol=m))
                       for d, m in (("solid", "circle"), ("dash", "square"), ("dot", "diamond"),
                                    ("dashdot", "triangle-up"))]),
)


@dataclass(frozen=True)
class Built:
    """A built figure with its caption and what it was made from (for the manifest)."""

    figure: go.Figure
    caption: str
    scenarios: tuple = ()           # repository-relative paths of the scenario files read
    parameters: dict = field(default_factory=dict)  # per scenario: the changes made to its values
    data: tuple = ()                # repository-relative paths of data files read
    draws: int | None = None
    seed: int | None = None
    notes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FigureSpec:
    """A named figure: its size on the page and its builder ``build(context) -> Built``.

    ``height_in`` must be a multiple of 1/12 in (see :data:`FULL_WIDTH_IN`).
    """

    name: str
    width: str  # "full" or "half"
    height_in: float
    build: Callable[["Context"], Built]
    margin: dict | None = None

    def __post_init__(self):
        if self.width not in ("full", "half"):
            raise ValueError(f"`width` of figure {self.name!r} must be 'full' or 'half', got {self.width!r}")
        if abs(self.height_in * 12 - round(self.height_in * 12)) > 1e-9 or self.height_in <= 0:
            raise ValueError(f"`height_in` of figure {self.name!r} must be a positive multiple of 1/12 in, "
                             f"got {self.height_in!r}")

    @property
    def width_in(self) -> float:
        return FULL_WIDTH_IN if self.width == "full" else HALF_WIDTH_IN

    @property
    def pixels(self) -> tuple[int, int]:
        """Size of the PNG at :data:`DPI`."""
        return round(self.width_in * DPI), round(self.height_in * DPI)


# --- the verdict's results, computed here or read from the verdict command's files --------

_FLOAT_COLUMNS = ("ponr_share_median", "ponr_share_p05", "ponr_share_p95", "ponr_gross_loss_median",
                  "ponr_gross_loss_p05", "ponr_gross_loss_p95", "p_fall", "ponr_share")


def _num(x) -> float:
    if x is None or x == "":
        return math.nan
    return float(x)


def verdict_sector_rows(path: Path) -> list[dict]:
    """The sector rows of a ``verdict.csv`` (numbers of the figures' columns as floats).

    Raises
    ------
    ValueError
        If the file lacks the columns the figures need.
    """
    with Path(path).open(newline="", encoding="utf-8") as f:
        sectors = list(csv.DictReader(f))
    need = {"sector", "draws", "seed", *_FLOAT_COLUMNS[:-1]}
    missing = need - set(sectors[0] if sectors else ())
    if missing:
        raise ValueError(f"{path}: missing columns {', '.join(sorted(missing))}")
    for r in sectors:
        for c in _FLOAT_COLUMNS[:-1]:
            r[c] = _num(r[c])
    return sectors


def verdict_rows_from_dir(folder: Path) -> tuple[list[dict], list[dict], dict]:
    """Read ``verdict.csv`` and ``verdict_draws.csv`` written by ``python -m model verdict``.

    Returns the sector rows, the draw rows (numbers as floats, empty cells as NaN) and a
    description of the source (the files and their hashes, draws and seed).

    Raises
    ------
    ValueError
        If a file is missing or lacks the columns the figures need.
    """
    folder = Path(folder)
    files = {name: folder / name for name in ("verdict.csv", "verdict_draws.csv")}
    for name, path in files.items():
        if not path.exists():
            raise ValueError(f"--verdict {folder}: no {name} (write it with `python -m model verdict --out {folder}`)")
    sectors = verdict_sector_rows(files["verdict.csv"])
    with files["verdict_draws.csv"].open(newline="", encoding="utf-8") as f:
        draws = list(csv.DictReader(f))
    fixed = {"sector", "draw", "outcome", "reason", "first_failure_outcome", "by_drift"}
    for r in draws:
        for k in list(r):
            if k not in fixed:
                r[k] = _num(r[k])
    seeds = {int(float(r["seed"])) for r in sectors}
    counts = {int(float(r["draws"])) for r in sectors}
    source = {"verdict_files": [{"file": _rel(p), "sha256": file_sha256(p)} for p in files.values()],
              "draws": counts.pop() if len(counts) == 1 else sorted(counts),
              "seed": seeds.pop() if len(seeds) == 1 else sorted(seeds)}
    return sectors, draws, source


def _verdict_in_process(paths, draws: int, seed: int) -> tuple[list[dict], list[dict], dict]:
    from ..studies.verdict_report import compute, draw_rows, sector_row

    verdicts, _, _ = compute(paths, draws=draws, seed=seed, tol=0.01, claim_draws=None)
    return [sector_row(v) for v in verdicts], draw_rows(verdicts), {"draws": draws, "seed": seed}


# --- context shared by the builders ----------------------------------------------------------

class Context:
    """What the builders share: the scenario folder, the verdict (computed once, lazily)."""

    def __init__(self, *, root: Path = ROOT, draws: int = 200, seed: int = 0, verdict_dir: Path | None = None,
                 sector_files: Iterable[Path] | None = None, network_customers: int | None = None):
        self.root = Path(root)
        self.draws = int(draws)
        self.seed = int(seed)
        # Customers on each graph of the network figure (a draft can take fewer; the caption
        # says how many).
        self.network_customers = int(network_customers) if network_customers else NETWORK_CUSTOMERS
        self.verdict_dir = Path(verdict_dir) if verdict_dir else None
        self._sector_files = [Path(p) for p in sector_files] if sector_files else None
        self._verdict = None

    @property
    def scenario_dir(self) -> Path:
        return self.root / "scenarios"

    def sector_files(self) -> list[Path]:
        """The sector files as the verdict takes them (``scenarios/*.toml`` but the baseline and
        the files that leave themselves out of the verdict)."""
        if self._sector_files is not None:
            return self._sector_files
        from ..evidence.scenarios import verdict_files

        return verdict_files(sorted(p for p in self.scenario_dir.glob("*.toml") if p.name != "baseline.toml"))[0]

    def verdict(self) -> tuple[list[dict], list[dict], dict]:
        if self._verdict is None:
            if self.verdict_dir is not None:
                self._verdict = verdict_rows_from_dir(self.verdict_dir)
            else:
                self._verdict = _verdict_in_process(self.sector_files(), self.draws, self.seed)
        return self._verdict


def _rel(path: Path) -> str:
    path = Path(path).resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def _load(ctx: Context, name: str):
    from ..evidence.scenarios import load_scenario

    path = ctx.scenario_dir / name if not Path(name).is_absolute() else Path(name)
    return path, load_scenario(path)


def _pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


# --- builders -------------------------------------------------------------------------------

def calibration_panels(params, data, start_year: float, labels: dict | None = None) -> list:
    """Each observed series of ``data`` beside the run of ``params``, both as ratios to their
    first fitted year (:class:`model.publish.figures.SeriesFit`), over the data's whole span
    with the hold-out (the years the fit never saw are the test). ``labels``: axis titles
    by model series, ``{y}`` the reference year."""
    from ..evidence.calibrate import _read, model_series

    labels = labels or {}
    start = float(start_year)
    first = min(int(s.years.min()) for s in data.series)
    span_last = max(int(s.years.max()) for s in data.series)
    # The model between the data, on a fine grid (t = year - start_year + 0.5).
    grid_years = np.arange(first, span_last + 1e-9, 0.1)
    grid_years = grid_years[(grid_years - start + 0.5 >= 0) & (grid_years - start + 0.5 <= params.horizon)]
    values, run = model_series(params, data, start, extra_times=grid_years - start + 0.5)
    t_model = np.asarray(run.t, dtype=float)
    years_model = t_model + start - 0.5
    fall_year = float(run.fall_time) + start - 0.5 if run.falls else None
    panels = []
    for s in data.series:
        # A series compared as it is (no reference year, say a share) is drawn as it is.
        ref_model = 1.0 if s.reference_year is None else float(values[s.name][list(s.years).index(s.reference_year)])
        keep = (years_model >= first - 1e-9) & (years_model <= span_last + 1e-9)
        model = _read(run, s.compare_to, t_model[keep]) / ref_model  # derived series too
        data_norm = s.values / (1.0 if s.reference_year is None else s.reference_value)
        in_span = s.years <= span_last
        panels.append(F.SeriesFit(
            name=s.name, label=labels.get(s.compare_to, s.compare_to + ("" if s.reference_year is None else " (× {y})"))
            .format(y=s.reference_year),
            log=s.normalise.endswith("log_ratio"), years=s.years[in_span], data=data_norm[in_span],
            roles=tuple(np.array(s.roles)[in_span]), model_years=years_model[keep], model=model,
            reference_year=s.reference_year, fall_year=fall_year))
    return panels


def build_calibration(ctx: Context) -> Built:
    from ..evidence.calibrate import parse_calibration_csv

    path, sc = _load(ctx, "newspapers_calibrated.toml")
    data_path = ctx.root / "data" / "newspapers_classified.csv"
    data = parse_calibration_csv(data_path.read_text(encoding="utf-8"), _rel(data_path))
    labels = {"incumbent_revenue": "classifieds (× {y})", "platform_gross": "Craigslist (× {y})",
              "incumbent_firm_revenue": "all newspaper ads (× {y})", "firms_remaining_share": "dailies (× {y})"}
    panels = calibration_panels(sc.params, data, float(sc.start_year), labels)
    fall_year = panels[0].fall_year if panels else None
    span_last = max(int(s.years.max()) for s in data.series)
    fitted = [n for n, src in sc.sources.items() if "calibrated" in src.lower()]
    fitted_text = ", ".join(f"{n.replace('_', ' ')} = {getattr(sc.params, n):.3g}" for n in fitted)
    held = sorted({int(y) for s in data.series for y, r in zip(s.years, s.roles) if r == "holdout" and y <= span_last})
    caption = (f"US newspapers' classified revenue, Craigslist's revenue (log scale), all newspaper advertising "
               f"revenue and the count of dailies, money deflated by the CPI-U, as ratios to their first fitted "
               f"year, against the model calibrated to them ({path.name}"
               + (f"; fitted: {fitted_text}" if fitted_text else "") + "). Filled dots were fitted"
               + (f"; open dots ({', '.join(map(str, held))}) were held out" if held else "")
               + (f". In the calibrated model the incumbent falls in {fall_year:.1f}." if fall_year else ".")
               + f" Data and sources: {_rel(data_path)}.")
    return Built(F.calibration_fit(panels), caption, scenarios=(_rel(path),), parameters={_rel(path): {}},
                 data=(_rel(data_path),))


def build_sectors(ctx: Context) -> Built:
    from ..analysis.tipping import point_of_no_return
    from ..core.simulate import simulate
    from ..evidence.scenarios import load_scenario

    runs, shares, files = [], [], []
    for path in ctx.sector_files():
        sc = load_scenario(path)
        res = simulate(sc.params, t_eval=np.linspace(0.0, float(sc.params.horizon), 241))
        ponr = point_of_no_return(sc.params)
        if ponr.outcome == "tips":
            shares.append(ponr.share)
        runs.append(F.SectorRun(key=path.stem, label=path.stem.replace("_", " "), result=res, ponr=ponr,
                                start_year=sc.start_year))
        files.append(_rel(path))
    span = (f" At the files' values the share at the point of no return runs from {_pct(min(shares))} to "
            f"{_pct(max(shares))}." if shares else "")
    caption = ("Each sector at its file's values: the platform's share of the sector's gross (solid) and the "
               "incumbent's loss of its own starting gross (dashed), with the essay's 20% (dotted). The vertical "
               "line and open circles mark the point of no return (after it the incumbent falls even if the "
               "platform acquires no one else); the cross marks the fall." + span)
    return Built(F.sector_runs(runs), caption, scenarios=tuple(files), parameters={f: {} for f in files})


def build_market_value(ctx: Context) -> Built:
    from ..analysis.valuation import value
    from ..core.simulate import simulate
    from ..evidence.scenarios import load_scenario

    runs, files, leads, notes = [], [], [], {}
    for path in ctx.sector_files():
        sc = load_scenario(path)
        v = value(simulate(sc.params, t_eval=np.linspace(0.0, float(sc.params.horizon), 241)))
        runs.append(F.ValueRun(key=path.stem, label=path.stem.replace("_", " "), valuation=v,
                               start_year=sc.start_year))
        files.append(_rel(path))
        notes[path.stem] = {"discount_rate": v.discount_rate, "half_time": v.half_time, "fall_time": v.fall_time}
        if v.lead_time is not None:
            leads.append(f"{path.stem.replace('_', ' ')} {v.half_time:.1f} against {v.fall_time:.1f}")
    span = (" Where the incumbents fall, the years until their value has halved against the years until the fall: "
            + "; ".join(leads) + "." if leads else "")
    caption = ("Each sector's market value at its file's values, relative to its start: the incumbents' payouts to "
               "their owners (dividends and excess cash) from each moment on, discounted at the file's discount "
               "rate, with a perpetuity after the run for those still in the market. The dotted line is half the "
               "starting value, the open diamond when the value gets there, the cross the fall (cash and credit "
               "gone; several firms: half the capacity exited)." + span)
    return Built(F.value_runs(runs), caption, scenarios=tuple(files), parameters={f: {} for f in files}, notes=notes)


def _from_verdict(ctx: Context, fig, caption: str, rows, source) -> Built:
    """A figure drawn from the verdict, with its sector files, draws and seed as provenance."""
    files = [_rel(ctx.scenario_dir / f"{r['sector']}.toml") for r in rows]
    return Built(fig, caption, scenarios=tuple(files), parameters={f: {} for f in files}, draws=source["draws"],
                 seed=source["seed"], notes={k: v for k, v in source.items() if k not in ("draws", "seed")})


#: The readings of the ECDF figure: the draw-table columns of their threshold and their peak.
_ECDF_READINGS = (("share_of_gross", "ponr_share", "peak_share"), ("gross_loss", "ponr_gross_loss", "peak_gross_loss"),
                  ("firm_gross_loss", "firm_gross_loss", "peak_firm_gross_loss"),
                  ("volume_share", "volume_share", "peak_volume_share"))


def build_verdict(ctx: Context) -> Built:
    from ..studies.verdict import READINGS

    sectors, _, source = ctx.verdict()
    rows = [r for r in sectors]
    words = {w: sum(r.get(f"sector_{k}_verdict") == w for r in rows for k in READINGS)
             for w in ("holds", "fails", "undetermined")}
    caption = (f"The verdict: for each sector, the point of no return as the platform's share of the sector's gross "
               f"(dots) and as the incumbent's gross loss (squares), median and 90% interval over the draws that "
               f"tip, of {source['draws']} Latin-hypercube draws per sector (seed {source['seed']}) within the "
               f"ranges of its file, against the essay's 20% (dashed). Over four readings of \"20% of the gross\" "
               f"the claim holds in {words['holds']} of {4 * len(rows)} sector verdicts, fails in {words['fails']} "
               f"and is undetermined in {words['undetermined']} (the rules and the table are in section 6).")
    return _from_verdict(ctx, F.verdict_chart(rows), caption, rows, source)


def build_verdict_ecdf(ctx: Context) -> Built:
    from ..studies.verdict import OUTCOME_NAMES, READING_LABELS, threshold_ecdf

    sectors, draws, source = ctx.verdict()
    code = {name: c for c, name in OUTCOME_NAMES.items()}
    panels = {}
    for reading, value_col, peak_col in _ECDF_READINGS:
        curves = []
        for r in sectors:
            mine = [d for d in draws if d["sector"] == r["sector"]]
            outcome = np.array([code[d["outcome"]] for d in mine])
            value = np.array([d.get(value_col, math.nan) for d in mine], dtype=float)
            peak = np.array([d.get(peak_col, math.nan) for d in mine], dtype=float)
            x, F_ = threshold_ecdf(outcome, value, peak)
            curves.append((r["sector"], x, F_))
        panels[READING_LABELS[reading]] = curves
    caption = (f"The whole distribution of the tipping threshold, four readings of \"20% of the gross\": for each "
               f"sector, the share of its tested draws (of {source['draws']} per sector, seed {source['seed']}) whose "
               f"threshold lies below a level. A draw tests the claim when its incumbents tip, or when they stand "
               f"though the platform passed 25% (their threshold lies beyond the platform's reach, so a curve stops "
               f"short of 100%). The essay's 15-25% band is shaded, its 20% dashed; a claim that held would put "
               f"every curve's rise inside the band.")
    return _from_verdict(ctx, F.threshold_ecdf_chart(panels), caption, sectors, source)


#: The tipping figures use the stylised baseline with a fixed price: under average-cost
#: pricing its high-share equilibria lose stability without a second fold, while a fixed
#: price shows the textbook S-curve (two folds, hysteresis) that the essay's "tipping
#: point" describes.
TIPPING_CHANGES = {"price_policy": "fixed"}
BIFURCATION = ("platform_quality", (-2.0, 0.3))
FOLD_Y = ("direct_adoption_rate", (0.0, 0.05))
FOLD_X_RANGE = (-1.2, 0.3)
PHASE_QUALITY = -0.6


def build_bifurcation(ctx: Context) -> Built:
    from ..analysis.tipping import continuation

    path, sc = _load(ctx, "baseline.toml")
    params = sc.params.replace(**TIPPING_CHANGES)
    name, (lo, hi) = BIFURCATION
    cont = continuation(params, name, lo, hi)
    if not cont.success:
        raise RuntimeError(f"continuation over {name} failed: {cont.message}")
    fig = _book_continuation(F.continuation_diagram(cont, current_value=float(getattr(params, name)), title=""))
    folds = ", ".join(f"{f.parameter_value:.2f}" for f in cont.folds) or "none"
    hyst = (f"; between {cont.hysteresis[0]:.2f} and {cont.hysteresis[1]:.2f} the sector is bistable (shaded): "
            "which equilibrium it reaches depends on its history (hysteresis)" if cont.hysteresis else "")
    caption = (f"Equilibrium platform share against the platform's stand-alone quality edge ({name.replace('_', ' ')}),"
               f" stylised baseline with a fixed incumbent price: stable equilibria solid, unstable dashed; folds "
               f"(saddle-nodes, diamonds) at {folds}{hyst}. Small dots: equilibria where the incumbent's buffer "
               "drains, so that it falls if the sector settles there. The dashed vertical line is the baseline value.")
    return Built(fig, caption, scenarios=(_rel(path),), parameters={_rel(path): dict(TIPPING_CHANGES)},
                 notes={"parameter": name, "range": [lo, hi], "folds": [float(f.parameter_value) for f in cont.folds]})


def _book_continuation(fig: go.Figure) -> go.Figure:
    """The dashboard's continuation diagram in the book's grays, its notes clear of each other."""
    styles = {"stable equilibria": dict(line=dict(color=F.INK, width=2.2, dash="solid")),
              "unstable equilibria": dict(line=dict(color=F.DARK, width=1.6, dash="dash")),
              "fold (saddle-node)": dict(marker=dict(color=F.INK, size=8, symbol="diamond")),
              "buffer drains (incumbent falls there)": dict(marker=dict(color=F.MID, size=3, symbol="circle"),
                                                            opacity=1.0)}
    for name, style in styles.items():
        fig.update_traces(selector=dict(name=name), **style)
    fig.update_shapes(selector=dict(type="rect"), fillcolor=F.FILL, opacity=0.7, layer="below")
    fig.update_traces(selector=dict(name="buffer drains (incumbent falls there)"), name="buffer drains (falls there)")
    notes = []
    for a in fig.layout.annotations:
        if a.text and a.text.startswith("bistable"):
            a = a.update(text="bistable", y=0.5, yanchor="middle", yref="paper", xanchor="center", textangle=-90,
                         x=None)
        elif a.text and a.text.startswith("now"):
            a = a.update(y=0.35, yanchor="middle", yref="paper", text=a.text.replace("now", "baseline"))
        notes.append(a)
    fig.layout.annotations = notes
    shape = next((sh for sh in fig.layout.shapes if sh.type == "rect"), None)
    if shape is not None:  # centre the rotated "bistable" in its band
        fig.layout.annotations[[a.text for a in fig.layout.annotations].index("bistable")].x = (shape.x0 + shape.x1) / 2
        fig.layout.annotations[[a.text for a in fig.layout.annotations].index("bistable")].xref = "x"
    fig.update_layout(legend=dict(orientation="h", y=-0.2, x=0, yanchor="top", entrywidthmode="pixels",
                                  entrywidth=0))
    return fig


def build_fold_map(ctx: Context) -> Built:
    from ..analysis.tipping import fold_curve

    path, sc = _load(ctx, "baseline.toml")
    params = sc.params.replace(**TIPPING_CHANGES)
    (xn, _), (yn, yr) = BIFURCATION, FOLD_Y
    xr = FOLD_X_RANGE
    curve = fold_curve(params, xn, xr, yn, yr, n_seeds=5)
    if not curve.success:
        raise RuntimeError(f"fold curve failed: {curve.message}")
    current = (float(getattr(params, xn)), float(getattr(params, yn)))
    fig = F.fold_map(curve, current=current, slice_value=current[1], x_title="quality edge ΔQ",
                     y_title="direct adoption h (1/yr)")
    caption = (f"Fold curves in the plane of the platform's quality edge and the direct (hard-network) adoption "
               f"rate, stylised baseline with a fixed price: between the curves the sector has two stable "
               f"equilibria and history decides between them; outside, one. The dashed line is the slice drawn "
               f"in the one-parameter diagram, the star the baseline's values.")
    return Built(fig, caption, scenarios=(_rel(path),), parameters={_rel(path): dict(TIPPING_CHANGES)},
                 notes={"x": xn, "x_range": list(xr), "y": yn, "y_range": list(yr)})


def build_phase_portrait(ctx: Context) -> Built:
    from ..analysis.tipping import basin
    from ..core.equations import STATE_NAMES, initial_state
    from ..core.simulate import simulate

    path, sc = _load(ctx, "baseline.toml")
    changes = dict(TIPPING_CHANGES, platform_quality=PHASE_QUALITY)
    params = sc.params.replace(**changes)
    b = basin(params, n=21)
    y0 = initial_state(params)
    i_s, i_t = STATE_NAMES.index("platform_share"), STATE_NAMES.index("platform_trust")
    trajectories = []
    for s0 in (0.05, 0.25, 0.45, 0.65):
        for t0 in (0.1, 0.9):
            y = y0.copy()
            y[i_s], y[i_t] = s0, t0
            res = simulate(params, y0=y, t_eval=np.linspace(0.0, float(params.horizon), 401))
            trajectories.append((res["platform_share"], res["platform_trust"], bool(res.falls)))
    n_fall = sum(f for *_, f in trajectories)
    caption = (f"Phase portrait in the platform's share of volume and its trust, stylised baseline with a fixed "
               f"price and a quality edge of {PHASE_QUALITY:g} (inside the bistable range): shaded starting "
               f"states lead to the incumbent's fall within the horizon, white ones to its survival; the dots "
               f"trace the separatrix between them (located by bisection). Lines are trajectories from "
               f"{len(trajectories)} starts (open circles), {n_fall} of them ending in the fall (solid). Other "
               f"states start at their initial values; along a path they move, which is why a path can cross the "
               f"boundary drawn for starting states.")
    return Built(F.phase_portrait(b, trajectories), caption, scenarios=(_rel(path),),
                 parameters={_rel(path): changes})


def build_network_effect(ctx: Context) -> Built:
    from ..core.simulate import simulate

    path, sc = _load(ctx, "baseline.toml")
    grid = np.linspace(0.0, float(sc.params.horizon), 401)
    runs = {f"{kind} network effect": simulate(sc.params.replace(network_effect=kind), t_eval=grid)
            for kind in ("trust", "standard")}

    def fate(r):
        return f"falls after {r.fall_time:.1f} years" if r.falls else "survives the horizon"

    trust_run, std_run = runs.values()
    caption = ("The stylised baseline under the trust network effect (value grows with trust and saturates in "
               "a few close ties) and the standard one (value grows with the count of users): the platform's "
               f"share of gross (left) and its network value (right). With the trust effect the incumbent "
               f"{fate(trust_run)}; with the standard effect it {fate(std_run)}.")
    return Built(F.network_effects(runs), caption, scenarios=(_rel(path),),
                 parameters={_rel(path): {"network_effect": ["trust", "standard"]}})


#: Customers of the network figure's graphs, and their seed.
NETWORK_CUSTOMERS = 10_000
NETWORK_SEED = 1


def _share_text(x) -> str:
    return "none (it takes off from any seed)" if x is None else f"{100 * x:.1f}%"


def build_network_critical_mass(ctx: Context) -> Built:
    from ..analysis.network_compare import FIGURE_K, TABLE_K, comparison, threshold_setting

    path, sc = _load(ctx, "baseline.toml")
    data = comparison(sc.params, n=ctx.network_customers, seed=NETWORK_SEED)
    first = next(iter(data["by_k"].values()))
    fig = F.network_critical_mass(data["by_rewiring"], data["by_k"], first)
    setting = threshold_setting(sc.params)
    ws = data["by_rewiring"]
    caption = (f"Critical mass on graphs of {data['n']:,} customers against the ODE's mean field (dotted): the "
               f"smallest seed share from which the platform takes off, stylised baseline with its soft network "
               f"alone and threshold contagion (adopt once {setting.contagion_threshold:g} close ties have; trust, "
               f"relational trust and price held). Left: Watts-Strogatz graphs with k = {TABLE_K}, rewiring "
               f"{ws[0]['rewiring']:g} to {ws[-1]['rewiring']:g} (clustering {ws[0]['clustering']:.2f} to "
               f"{ws[-1]['clustering']:.2f}): {_share_text(ws[0]['network'])} to {_share_text(ws[-1]['network'])}, "
               f"mean field {_share_text(ws[0]['mean_field'])}. Right: against k = {FIGURE_K[0]} to {FIGURE_K[-1]} "
               f"on random regular and Watts-Strogatz (rewiring 0.1) graphs; a missing point is a graph on which the "
               f"platform takes off from the smallest seed tried (0.5%). One run per seed share, seed "
               f"{data['seed']}, bisection to half a percentage point.")
    changes = {"hard_network": False, "contagion": "threshold"}
    return Built(fig, caption, scenarios=(_rel(path),), parameters={_rel(path): changes}, seed=data["seed"],
                 notes={"network": data})


#: Settings of the RBD-FAST indices, as in the verdict (model.studies.verdict._sensitivity).
RBD_FAST = dict(M=10, num_resamples=30)
MIN_SENSITIVITY_DRAWS = 100


def sensitivity_table(draw_rows: list[dict], sector_rows: list[dict], seed: int) -> tuple[dict, dict]:
    """RBD-FAST first-order indices of the PONR share for every drawn parameter, per sector.

    Same method and settings as the verdict's ranking (SALib ``rbd_fast``, M = 10, the
    draws that have a point of no return), for all parameters instead of the top three.
    Returns (table sector -> parameter -> S1, counts sector -> draws used); a sector with
    fewer than 100 such draws gets an empty row.
    """
    from SALib.analyze import rbd_fast

    fixed = {"sector", "draw", "outcome", "reason", "ponr_time", "ponr_share", "ponr_gross_loss", "ponr_share_lo",
             "ponr_gross_loss_lo", "fall_time", "break_even"}
    table, counts = {}, {}
    for row in sector_rows:
        key = row["sector"]
        rows = [r for r in draw_rows if r["sector"] == key]
        names = sorted(k for k in {k for r in rows for k in r} - fixed
                       if all(isinstance(r.get(k), float) and math.isfinite(r[k]) for r in rows))
        y = np.array([float(r["ponr_share"]) for r in rows])
        ok = np.isfinite(y)
        counts[key] = int(ok.sum())
        table[key] = {}
        if ok.sum() < MIN_SENSITIVITY_DRAWS or not names or np.ptp(y[ok]) == 0:
            continue
        X = np.array([[float(r[k]) for k in names] for r in rows])[ok]
        problem = {"num_vars": len(names), "names": names,
                   "bounds": [[float(X[:, j].min()), float(X[:, j].max())] for j in range(len(names))]}
        si = rbd_fast.analyze(problem, X, y[ok], seed=seed, **RBD_FAST)
        table[key] = {nm: float(v) for nm, v in zip(names, si["S1"])}
    return table, counts


def build_sensitivity(ctx: Context) -> Built:
    sectors, draws, source = ctx.verdict()
    seed = source["seed"] if isinstance(source["seed"], int) else 0
    table, counts = sensitivity_table(draws, sectors, seed)
    floors = {r["sector"]: _num(r.get("sensitivity_noise_floor")) for r in sectors}
    empty = [k for k, v in table.items() if not v]
    caption = ("Which parameters move the point of no return: first-order sensitivity indices (RBD-FAST, SALib) of "
               f"the platform's share of gross at the point of no return, per sector, over the verdict's "
               f"{source['draws']} draws (seed {source['seed']}); n is the number of draws with a point of no "
               f"return ({', '.join(f'{k} {n}' for k, n in counts.items())}). Shown: the parameters whose index "
               f"exceeds 0.1 and the sector's noise floor (the largest index of a parameter that does not enter "
               f"its dynamics) somewhere; values at or below the floor (or 0.05) are not printed. Darker is larger."
               + (f" Too few tipping draws (under {MIN_SENSITIVITY_DRAWS}) for: {', '.join(empty)}." if empty else ""))
    files = [_rel(ctx.scenario_dir / f"{r['sector']}.toml") for r in sectors]
    return Built(F.sensitivity_indices(table, counts=counts, noise_floor=floors), caption, scenarios=tuple(files),
                 parameters={f: {} for f in files}, draws=source["draws"], seed=source["seed"],
                 notes={k: v for k, v in source.items() if k not in ("draws", "seed")})


def build_causal_loop(ctx: Context) -> Built:
    from ..analysis.causal import causal_structure

    path, sc = _load(ctx, "baseline.toml")
    cs = causal_structure(sc.params)
    r = sum(lp.polarity == "R" for lp in cs.loops)
    b = sum(lp.polarity == "B" for lp in cs.loops)
    caption = (f"Causal-loop diagram of the model, derived from its sympy equations: an arrow X → Y means Y's "
               f"definition (or, for a stock, its rate of change) depends on X; the sign is that of the partial "
               f"derivative along the baseline run (+ solid, − dashed, ± dotted where it changes sign). "
               f"{len(cs.links)} links form {len(cs.loops)} feedback loops, {r} reinforcing and {b} balancing. "
               f"Intermediate quantities not shown (the logit attractiveness, the average price) are folded into "
               f"the links.")
    caption += (" The main loops carry their codes (⟲R1 ...) at the middle of their nodes and are named in the "
                "key: the same code is the same mechanism in every sector (model.analysis.loops.MECHANISMS).")
    return Built(F.causal_loop(cs), caption, scenarios=(_rel(path),), parameters={_rel(path): {}},
                 notes={"nodes": list(cs.nodes), "links": len(cs.links), "loops": len(cs.loops)})


#: The sector whose loop dominance the book shows (newspapers: the essay's first example).
LOOP_DOMINANCE_SECTOR = "newspapers.toml"


def build_loop_dominance(ctx: Context) -> Built:
    from ..analysis.loops import dominant_at_point_of_no_return, loop_scores

    path, sc = _load(ctx, LOOP_DOMINANCE_SECTOR)
    scores = loop_scores(sc.params)
    at = dominant_at_point_of_no_return(sc.params, scores=scores)
    fig = F.loop_dominance(scores, start_year=sc.start_year, ponr_time=at["time"])
    where = (f"At the point of no return ({at['time']:.1f} years in) the dominant loop is {at['loop']}."
             if at["loop"] else f"The point of no return: {at['outcome']}.")
    caption = (f"Loop dominance in {sc.name} (its aggregate incumbent, the file's values): each loop's absolute "
               f"relative Loops-That-Matter score (Schoenberg, Davidsen and Eberlein 2020), stacked to 1, up to the "
               f"fall; the five largest on average, the rest together. {where}")
    return Built(fig, caption, scenarios=(_rel(path),), parameters={_rel(path): {}},
                 notes={"loop_at_point_of_no_return": at["loop"], "point_of_no_return": at["time"],
                        "shifts": [[t, scores.names[a], scores.names[b]] for t, a, b in scores.shifts()]})


#: Every figure, in the order of the paper.
FIGURES: dict[str, FigureSpec] = {spec.name: spec for spec in (
    FigureSpec("causal_loop", "full", 5.0, build_causal_loop, margin=dict(l=4, r=4, t=4, b=4)),
    FigureSpec("loop_dominance", "full", 3.25, build_loop_dominance, margin=dict(l=50, r=10, t=20, b=40)),
    FigureSpec("calibration_newspapers", "full", 4.25, build_calibration),
    FigureSpec("sectors_over_time", "full", 6.5, build_sectors, margin=dict(l=50, r=8, t=22, b=40)),
    FigureSpec("market_value", "full", 6.5, build_market_value, margin=dict(l=50, r=8, t=22, b=40)),
    FigureSpec("verdict", "full", 3.5, build_verdict, margin=dict(l=120, r=12, t=12, b=40)),
    FigureSpec("verdict_ecdf", "full", 5.0, build_verdict_ecdf, margin=dict(l=50, r=12, t=24, b=40)),
    FigureSpec("bifurcation", "full", 3.25, build_bifurcation),
    FigureSpec("fold_map", "half", 2.75, build_fold_map, margin=dict(l=10, r=8, t=8, b=10)),
    FigureSpec("phase_portrait", "full", 3.5, build_phase_portrait),
    FigureSpec("network_effect", "full", 2.75, build_network_effect),
    FigureSpec("network_critical_mass", "full", 2.75, build_network_critical_mass),
    FigureSpec("sensitivity", "full", 3.5, build_sensitivity, margin=dict(l=10, r=10, t=10, b=10)),
)}


# --- export ---------------------------------------------------------------------------------

def to_book(fig: go.Figure, spec: FigureSpec) -> go.Figure:
    """The figure with the book template, no title, and the page size of ``spec``."""
    out = go.Figure(fig)
    out.update_layout(template=BOOK_TEMPLATE, title=None, width=round(spec.width_in * CSS_DPI),
                      height=round(spec.height_in * CSS_DPI), margin=spec.margin or BOOK_TEMPLATE.layout.margin)
    if out.layout.legend.orientation == "h" and out.layout.legend.entrywidth is None:
        # Entries as wide as their text, as many to a row as fit.
        out.update_layout(legend=dict(entrywidthmode="pixels", entrywidth=0))
    return out


#: Dashboard colours whose gray by luminance would lose a distinction the figure draws:
#: the basin map's falls (red) and survives (green) become gray and white.
_BOOK_SHADES = {"#ffcdd2": "#bdbdbd", "#e0f2f1": "#ffffff"}
#: Line styles given, in order, to the solid lines of a dashboard figure after the first.
_BOOK_DASHES = ("dash", "dot", "dashdot", "longdash", "longdashdot")


def _gray(color):
    """A colour as the gray of its luminance (Rec. 601), kept at most 62% light so a line stays
    visible; the alpha of an rgba colour is kept. Anything that is not a colour is returned."""
    if not isinstance(color, str):
        return color
    text = color.strip().lower()
    if text in _BOOK_SHADES:
        return _BOOK_SHADES[text]
    alpha = None
    if text.startswith("#") and len(text) in (4, 7):
        h = text[1:] if len(text) == 7 else "".join(c * 2 for c in text[1:])
        r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    elif text.startswith(("rgb(", "rgba(")):
        parts = [float(x) for x in text[text.index("(") + 1:text.rindex(")")].split(",")]
        r, g, b = parts[:3]
        alpha = parts[3] if len(parts) > 3 else None
    else:
        return color
    level = round(min(0.299 * r + 0.587 * g + 0.114 * b, 0.62 * 255))
    return f"#{level:02x}{level:02x}{level:02x}" if alpha is None else f"rgba({level},{level},{level},{alpha:g})"


def for_book(fig: go.Figure) -> go.Figure:
    """A dashboard figure as a book figure: the book template, no title, the full text width
    and a height in proportion to the screen's, every colour a gray, and the lines of each
    panel told apart by their dash (grayscale pages must not rely on colour): within a panel
    the first line of a dash keeps it, the next one takes the first dash the panel has not
    used. Panels may reuse each other's dashes, as their titles say which is which."""
    height_px = fig.layout.height or 450
    height_in = max(2.0, round(height_px * FULL_WIDTH_IN / 900 * 12) / 12)
    out = to_book(fig, FigureSpec("dashboard", "full", height_in, build=lambda ctx: None))
    used: dict[tuple, set] = {}  # (x axis, y axis) -> the dashes of its lines so far
    for trace in out.data:
        line = getattr(trace, "line", None)
        if line is not None:
            line.color = _gray(line.color)
            if trace.type == "scatter" and "lines" in (trace.mode or "lines"):
                panel = used.setdefault((trace.xaxis or "x", trace.yaxis or "y"), set())
                dash = line.dash or "solid"
                if dash in panel:
                    dash = next((d for d in ("solid",) + _BOOK_DASHES if d not in panel),
                                _BOOK_DASHES[len(panel) % len(_BOOK_DASHES)])
                    line.dash = dash
                panel.add(dash)
        marker = getattr(trace, "marker", None)
        if marker is not None and isinstance(marker.color, str):
            marker.color = _gray(marker.color)
            if marker.line is not None and isinstance(marker.line.color, str):
                marker.line.color = _gray(marker.line.color)
        if trace.type == "heatmap" and trace.colorscale is not None:
            trace.colorscale = [[stop, _gray(c)] for stop, c in trace.colorscale]
    for shape in out.layout.shapes:
        shape.line.color = _gray(shape.line.color)
        shape.fillcolor = _gray(shape.fillcolor)
    for note in out.layout.annotations:
        note.font.color = "#000000"
    return out


def book_bytes(fig: go.Figure, fmt: str) -> bytes:
    """:func:`for_book` rendered as PNG (300 dpi, recorded in the file), SVG or PDF."""
    book = for_book(fig)
    data = F.figure_bytes(book, fmt, width=book.layout.width, height=book.layout.height,
                          scale=DPI / CSS_DPI, template=BOOK_TEMPLATE)
    return png_with_dpi(data) if fmt == "png" else data


def _chunks(png: bytes):
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    k = 8
    while k < len(png):
        (length,) = struct.unpack(">I", png[k:k + 4])
        kind = png[k + 4:k + 8]
        yield kind, png[k:k + 12 + length]
        k += 12 + length


def png_with_dpi(png: bytes, dpi: float = DPI) -> bytes:
    """The PNG with a pHYs chunk saying ``dpi`` (replacing any), so print software sizes it."""
    ppm = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    out = [png[:8]]
    for kind, raw in _chunks(png):
        if kind == b"pHYs":
            continue
        out.append(raw)
        if kind == b"IHDR":
            out.append(chunk)
    return b"".join(out)


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels from the IHDR chunk."""
    for kind, raw in _chunks(png):
        if kind == b"IHDR":
            return struct.unpack(">II", raw[8:16])
    raise ValueError("PNG without IHDR")


def png_dpi(png: bytes) -> float | None:
    """Resolution from the pHYs chunk (dots per inch), None if there is none."""
    for kind, raw in _chunks(png):
        if kind == b"pHYs":
            x, _, unit = struct.unpack(">IIB", raw[8:17])
            return x * 0.0254 if unit == 1 else None
    return None


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


code_version = provenance.code_version


def _parameter_record(built: Built) -> dict:
    """Per scenario file: its content hash, the changes made, and a hash of the values used."""
    from ..evidence.scenarios import load_scenario

    out = {}
    for rel in built.scenarios:
        path = ROOT / rel if not Path(rel).is_absolute() else Path(rel)
        changes = built.parameters.get(rel, {})
        values = load_scenario(path).params
        variants = []
        # A change with a list of values is a comparison of runs (one per value).
        listed = {k: v for k, v in changes.items() if isinstance(v, list)}
        single = {k: v for k, v in changes.items() if not isinstance(v, list)}
        combos = [dict(single)] if not listed else [dict(single, **{k: v[i] for k, v in listed.items()})
                                                     for i in range(len(next(iter(listed.values()))))]
        for combo in combos:
            p = values.replace(**combo) if combo else values
            text = json.dumps({k: getattr(p, k) for k in sorted(vars(p))}, sort_keys=True, default=str)
            variants.append(hashlib.sha256(text.encode()).hexdigest())
        out[rel] = {"sha256": file_sha256(path), "changes": changes, "parameter_values_sha256": variants}
    return out


def figure_record(spec: FigureSpec, built: Built, files: dict, png_px: tuple[int, int]) -> dict:
    """The manifest entry of one figure."""
    return {
        "name": spec.name,
        "caption": built.caption,
        "files": files,
        "size_in": [spec.width_in, spec.height_in],
        "width": spec.width,
        "dpi": DPI,
        "png_px": list(png_px),
        "scenarios": _parameter_record(built),
        "data": [{"file": rel, "sha256": file_sha256(ROOT / rel)} for rel in built.data],
        "draws": built.draws,
        "seed": built.seed,
        "notes": built.notes,
    }


def write_manifest(path: Path, manifest: dict) -> None:
    from ..evidence.provenance import dump_json

    Path(path).write_text(dump_json(manifest) + "\n", encoding="utf-8")


def read_manifest(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def export_figures(out: Path, *, names: Iterable[str] | None = None, context: Context | None = None,
                   progress: Callable[[Iterable], Iterable] | None = None) -> dict:
    """Build and write the figures ``names`` (default all) to ``out``, and the manifest.

    Each figure ``NAME`` becomes ``NAME.pdf``, ``NAME.svg`` and ``NAME.png`` (300 dpi, with a
    pHYs chunk), all rendered by one kaleido browser. ``figures.json`` lists them; entries of
    figures not rebuilt this time are kept if their files are still there.

    Raises
    ------
    ValueError
        For an unknown figure name (the message lists the valid ones).
    """
    names = list(names) if names else list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure {', '.join(map(repr, unknown))}; valid: {', '.join(FIGURES)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = context or Context()
    version = code_version()  # before writing anything, so the run does not see its own files
    records = {}
    F.start_export_server()
    try:
        for name in (progress(names) if progress else names):
            spec = FIGURES[name]
            built = spec.build(ctx)
            fig = to_book(built.figure, spec)
            w, h = fig.layout.width, fig.layout.height
            files = {}
            png_px = (0, 0)
            for fmt in ("pdf", "svg", "png"):
                # Vector files at the page size (CSS pixels at 96 per inch, PDF points at
                # 72); only the PNG is rendered at print resolution.
                scale = DPI / CSS_DPI if fmt == "png" else 1.0
                data = F.figure_bytes(fig, fmt, width=w, height=h, scale=scale, template=BOOK_TEMPLATE)
                if fmt == "png":
                    data = png_with_dpi(data)
                    png_px = png_size(data)
                    if png_px != spec.pixels:
                        raise RuntimeError(f"{name}.png is {png_px[0]} x {png_px[1]} px, expected "
                                           f"{spec.pixels[0]} x {spec.pixels[1]} for {DPI} dpi")
                (out / f"{name}.{fmt}").write_bytes(data)
                files[fmt] = f"{name}.{fmt}"
            records[name] = figure_record(spec, built, files, png_px)
    finally:
        F.stop_export_server()
    manifest_path = out / "figures.json"
    kept = {}
    if manifest_path.exists():
        try:
            old = read_manifest(manifest_path)
            for rec in old.get("figures", []):
                if rec.get("name") in FIGURES and rec["name"] not in records and all(
                        (out / f).exists() for f in rec.get("files", {}).values()):
                    kept[rec["name"]] = rec
        except (ValueError, KeyError, TypeError):
            kept = {}
    ordered = [records.get(n) or kept.get(n) for n in FIGURES if n in records or n in kept]
    manifest = {"generator": "python -m model figures", "code_version": version,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "figures": ordered}
    write_manifest(manifest_path, manifest)
    return manifest
