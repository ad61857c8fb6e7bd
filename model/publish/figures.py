"""Figures: the one code path from model results to plotly figures.

Every chart of the dashboard (``app.py``) and of the book and paper (``make figures``,
sized and exported by :mod:`model.publish.book`) is built by a named function here, from model
results only (a :class:`~model.core.simulate.SimulationResult`, a point of no return, a
continuation, a basin, a fold curve, the verdict's rows, the causal structure). The
functions compute nothing about the model themselves: they draw what they are given. Static files (PNG, SVG, PDF) come from
:func:`figure_bytes` through kaleido and a Chromium (Debian's ``/usr/bin/chromium``).

The claims themselves, and the rules that assess them, are not here: they live in
:mod:`model.studies.claims` (one run) and :mod:`model.studies.verdict` (a sector's Monte
Carlo); this module only draws what those give it.

Publish layer: :mod:`model.publish` and ``app.py`` are the only importers of plotly; the
layers below never import this module.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go

from ..core.equations import STATE_NAMES
from ..core.parameters import PARAMETER_SPECS
from ..studies.claims import CLAIMED_BAND, CLAIMED_SHARE

__all__ = [
    "ESSAY_TIPPING_SHARE",
    "EXPORT_FORMATS",
    "HOW_TO_READ",
    "share_and_loss",
    "trust_and_cash",
    "firms_cash",
    "exit_curve",
    "market_value",
    "continuation_diagram",
    "basin_map",
    "axis_label",
    "outcome_sentence",
    "SeriesFit",
    "SectorRun",
    "calibration_fit",
    "sector_runs",
    "ValueRun",
    "value_runs",
    "verdict_chart",
    "fan_chart",
    "add_saved_runs",
    "series_chart",
    "fold_map",
    "phase_portrait",
    "network_effects",
    "sensitivity_indices",
    "causal_loop",
    "circle_order",
    "node_label_boxes",
    "loop_dominance",
    "figure_bytes",
    "start_export_server",
    "stop_export_server",
]

#: The essay's tipping point, drawn as a reference line (defined once, with the claims).
ESSAY_TIPPING_SHARE = CLAIMED_SHARE

#: Static formats :func:`figure_bytes` writes, with their MIME types.
EXPORT_FORMATS = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}

# One palette for every chart: the platform teal, the incumbent red, markers of the
# analysis (20 %, break-even, point of no return) in neutral or accent colours.
PLATFORM = "#00897b"
INCUMBENT = "#c62828"
RELATIONAL = "#5e35b1"
ESSAY = "#616161"
BREAK_EVEN = "#ef6c00"
PONR = "#6a1b9a"
FALL = "#000000"
REFERENCE_OPACITY = 0.45

#: What each chart shows and how to read it (the dashboard prints these under the charts).
HOW_TO_READ = {
    "share_and_loss": (
        "Teal: the platform's share of the sector's gross (platform gross over platform plus "
        "incumbent gross). Red: the incumbent's gross loss against its own starting gross. "
        "Grey dashes: the essay's 20 %. Orange dots: the static break-even loss, the share of "
        "gross the incumbent can lose (re-pricing as its policy says) before its operating profit "
        "reaches zero; the diamond marks when the loss gets there. Purple: the point of no return, after which the incumbent falls even if the "
        "platform never acquires another customer. A black cross marks the fall (buffer exhausted)."),
    "trust_and_cash": (
        "Top: platform (mediated) trust is raised by successful transactions and eroded by "
        "failures and time; relational (real) trust grows from repeat business on a trusted "
        "platform and makes platform users stick (both from 0 to 1). Below it, the incumbent's "
        "bill per unit (relative to its starting price), capped by the customers' willingness to "
        "pay, beside the platform's price; then its operating profit per year (revenue minus "
        "fixed and variable cost) in units of the starting gross; last, the financial buffer that "
        "losses and committed payouts drain: the incumbent falls when it reaches zero."),
    "continuation": (
        "Equilibria of the model as one parameter moves, with everything else held: solid "
        "lines are stable, dashed ones unstable. A fold (saddle-node) is where a stable and an "
        "unstable branch meet and vanish; between two folds the sector is bistable (shaded), "
        "and which outcome it reaches depends on where it starts. The vertical line is the "
        "current value."),
    "basin": (
        "Each cell starts the model from that platform share and trust (everything else as "
        "now) and records whether the incumbent falls within the horizon. The boundary "
        "between the two regions (the separatrix) is the tipping point in state space. The "
        "line is the current run's path; the marker its start."),
    "firms_cash": (
        "Each incumbent firm's cash and unused credit (in units of the sector's starting gross), thicker for larger firms. A firm whose cash and credit run out exits (a cross); under reorganisation its first time is a write-down and it goes on. The vertical line is the sector's fall: half of its initial incumbent capacity gone."),
    "market_value": (
        "The incumbents' market value: their payouts to owners (dividends and excess-cash payouts) from each "
        "moment on, discounted at the discount rate r_d, in units of the sector's starting annual gross "
        "(after the run, a perpetuity of the last payout at its late trend for an incumbent still in the "
        "market; nothing for one that has left it). Red: the sector; thin lines: each firm. Grey dashes: half "
        "the starting value; the diamond marks when the value gets there, the black line the fall. Share and "
        "asset prices read this way fall long before the cash runs out."),
    "fan": (
        "Top: the platform's share of the sector's gross over the sector's uncertainty: the verdict's draws "
        "within the ranges of its file, each run to the horizon on the engine. Light band: 90% of the draws; "
        "darker band: the middle 50%; thin line: the median; thick teal line: the sector file's own run, or "
        "the current run (the sliders) once it is switched on under the chart. "
        "Once the incumbents are gone the sector's gross is all the platform's (share 1). Grey dashes: the "
        "essay's 20%. Bottom: the share of the draws in which the incumbents have fallen by each year."),
    "series": (
        "Any series of the current run, picked above, in its unit (series with the same unit share an axis). "
        "The CSV download holds every series."),
    "exit_curve": (
        "How much of the sector's incumbent capacity has exited (up the side) against three readings of the platform's progress at each exit: its share of the sector's gross (teal), the incumbents' loss of their starting gross (red) and its share of the volume (purple). Grey dashes: the essay's 20 %; the dotted line: half the capacity gone, the sector's fall."),
}


# --- labels -----------------------------------------------------------------------------

def axis_label(name: str) -> str:
    """Label of a parameter or state for an axis: "meaningful name (symbol, unit)"."""
    if name in PARAMETER_SPECS:
        s = PARAMETER_SPECS[name]
        unit = f", {s.unit}" if s.unit and s.unit != "1" else ""
        return f"{name.replace('_', ' ')} ({s.symbol}{unit})"
    return name.replace("_", " ")


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.1%}"


def outcome_sentence(result) -> str:
    """One sentence: when and whether the incumbent falls, at what share and gross loss."""
    if not result.success:
        return (f"The solver failed before the end of the run ({result.message}); the charts show "
                f"the run up to t = {result.t[-1]:.2f} years.")
    if result.falls:
        return (f"The incumbent falls after {result.fall_time:.1f} years, when the platform holds "
                f"{_pct(result.share_at_fall)} of the sector's gross and the incumbent has lost "
                f"{_pct(result.gross_loss_at_fall)} of its starting gross.")
    return (f"The incumbent survives the {result.params.horizon:g}-year horizon; the platform ends "
            f"with {_pct(result.final('platform_share_of_gross'))} of the sector's gross and the "
            f"incumbent has lost {_pct(result.final('incumbent_gross_loss'))} of its starting gross.")


# --- time series ------------------------------------------------------------------------
#
# The time-series charts are redrawn on every slider move, so they are assembled as plain
# trace and layout dicts and validated once by one ``go.Figure`` call: adding traces and
# lines one by one (``add_scatter``, ``add_hline``) costs about ten times as much.

def _line(x, y, *, name, color, dash="solid", reference=False, yaxis="y") -> dict:
    """One line trace; a reference run is drawn dashed and faded beside the current one."""
    return dict(
        type="scatter", x=np.asarray(x, dtype=float), y=np.asarray(y, dtype=float), mode="lines",
        name=f"{name} (sector's values)" if reference else name,
        line=dict(color=color, dash="dash" if reference else dash, width=2),
        opacity=REFERENCE_OPACITY if reference else 1.0,
        legendgroup="reference" if reference else "current", xaxis="x", yaxis=yaxis)


def _marker(x, y, *, name, color, symbol, size=10, **marker) -> dict:
    return dict(type="scatter", x=list(map(float, x)), y=list(map(float, y)), mode="markers", name=name,
                marker=dict(color=color, size=size, symbol=symbol, **marker))


def _hline(y: float, *, color, dash, text=None, position="left", yref="y") -> tuple[dict, dict | None]:
    """A horizontal line across the plot (a layout shape) and its label (an annotation)."""
    shape = dict(type="line", xref="x domain", x0=0, x1=1, yref=yref, y0=y, y1=y,
                 line=dict(color=color, dash=dash, width=1.5))
    if text is None:
        return shape, None
    left = position == "left"
    note = dict(xref="x domain", x=0 if left else 1, xanchor="left" if left else "right", yref=yref, y=y,
                yanchor="bottom" if left else "top", text=text, showarrow=False)
    return shape, note


def _vline(x: float, *, color, text) -> tuple[dict, dict]:
    shape = dict(type="line", yref="y domain", y0=0, y1=1, xref="x", x0=x, x1=x,
                 line=dict(color=color, width=1.5))
    note = dict(yref="y domain", y=1, yanchor="top", xref="x", x=x, xanchor="right", text=text,
                showarrow=False)
    return shape, note


def _layout(title: str | None, **kw) -> dict:
    layout = dict(
        title=dict(text=title) if title else None, hovermode="x unified",
        # A click on a legend entry hides that line only, not its whole group (plotly's default
        # hides every line of the current run, or of the sector's, at once).
        legend=dict(orientation="h", yanchor="top", y=-0.15, xanchor="left", x=0, groupclick="toggleitem"),
        margin=dict(l=60, r=30, t=60 if title else 30, b=40))
    layout.update(kw)
    return layout


def _figure(data: list, layout: dict, shapes=(), annotations=()) -> go.Figure:
    layout = dict(layout, shapes=[s for s in shapes if s], annotations=[a for a in annotations if a])
    # Tick labels may pass the chart's div (the margins leave them room): plotly's default,
    # "hide past div", measures every tick label's box on each draw in the browser, forcing the
    # page's layout (a tenth of the dashboard's work per slider move). Set here, in the dicts:
    # updating a built figure's axes costs as much as building it.
    axes = {k for k in layout if k.startswith(("xaxis", "yaxis"))} | {"xaxis", "yaxis"}
    for k in axes:
        layout[k] = dict(layout.get(k) or {}, ticklabeloverflow="allow")
    if len({d["legendgroup"] for d in data if d.get("legendgroup")}) <= 1 and isinstance(layout.get("legend"), dict):
        # At most one legend group (no reference run beside the current one; markers have none):
        # plotly stacks a group's entries in one column even in a horizontal legend; in a row
        # they take a line, not seven.
        layout["legend"] = dict(layout["legend"], traceorder="normal")
    return go.Figure(data=data, layout=layout)


def calendar_axis(fig: go.Figure, start_year: float | None, t_end: float, *, x_range: tuple | None = None) -> go.Figure:
    """Label the time axes (years from the start, the data's coordinates) with calendar years.

    Ticks sit on round calendar years (every 1, 2, 5 or 10 years, about six to a chart);
    the data stay in years from the start, so shapes and markers placed in run time keep
    their place. ``x_range``: a shared range (compared charts side by side). Without a
    ``start_year`` (a file with no calendar) only the range is set.
    """
    if x_range is not None:
        fig.update_xaxes(range=list(x_range))
    if start_year is None:
        return fig
    span = float(x_range[1] - x_range[0]) if x_range is not None else float(t_end)
    step = next(s for s in (1, 2, 5, 10, 20, 50) if span / s <= 8)
    first = math.ceil(start_year / step) * step
    years = np.arange(first, start_year + (x_range[1] if x_range is not None else t_end) + 1e-9, step)
    fig.update_xaxes(tickmode="array", tickvals=[float(y - start_year) for y in years],
                     ticktext=[f"{y:.0f}" for y in years])
    fig.update_xaxes(title=dict(text=f"year (t = 0 is {start_year:.0f})"), selector=lambda a: a.title.text)
    return fig


def share_and_loss(result, *, break_even: float | None = None, ponr: Any = None, reference=None,
                   break_even_label: str = "static break-even loss",
                   title: str | None = "Platform share of gross and incumbent gross loss") -> go.Figure:
    """Platform share of the sector's gross and the incumbent's gross loss over time.

    Parameters
    ----------
    result : SimulationResult
        The run to draw.
    break_even : float, optional
        Static break-even loss (share of gross) drawn as a horizontal line, with a marker
        where the gross-loss curve first reaches it, labelled ``break_even_label``.
    ponr : PointOfNoReturn, optional
        Drawn as a vertical line at ``ponr.time`` with markers at ``ponr.share`` and
        ``ponr.gross_loss`` when ``ponr.outcome`` is ``"tips"`` or ``"always_falls"``.
    reference : SimulationResult, optional
        A second run (the sector's own values) drawn dashed and faded (compare mode).
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure
        Named traces ("platform share of gross", "incumbent gross loss", their
        "(sector's values)" twins, "loss reaches break-even", "point of no return",
        "incumbent falls"); the 20 % line, the break-even and the point of no return are
        layout shapes with annotations.
    """
    data, shapes, notes = [], [], []
    for res, ref in ((reference, True), (result, False)):
        if res is not None:
            data.append(_line(res.t, res["platform_share_of_gross"], name="platform share of gross",
                              color=PLATFORM, reference=ref))
            data.append(_line(res.t, res["incumbent_gross_loss"], name="incumbent gross loss",
                              color=INCUMBENT, reference=ref))
    for shape, note in [_hline(ESSAY_TIPPING_SHARE, color=ESSAY, dash="dash", text="the essay's 20%")]:
        shapes.append(shape)
        notes.append(note)
    if break_even is not None and math.isfinite(break_even):
        shape, note = _hline(break_even, color=BREAK_EVEN, dash="dot", position="right",
                             text=f"{break_even_label} {break_even:.0%}")
        shapes.append(shape)
        notes.append(note)
        loss = np.asarray(result["incumbent_gross_loss"])
        above = np.flatnonzero(loss >= break_even)
        if above.size:
            k = above[0]
            data.append(_marker([result.t[k]], [loss[k]], name="loss reaches break-even", color=BREAK_EVEN,
                                symbol="diamond"))
    if ponr is not None and getattr(ponr, "outcome", None) in ("tips", "always_falls"):
        shape, note = _vline(ponr.time, color=PONR, text=f"point of no return: {ponr.share:.0%} share")
        shapes.append(shape)
        notes.append(note)
        data.append(_marker([ponr.time, ponr.time], [ponr.share, ponr.gross_loss], name="point of no return",
                            color=PONR, symbol="circle-open", line=dict(width=2)))
    if result.falls:
        data.append(_marker([result.fall_time], [result.share_at_fall], name="incumbent falls", color=FALL,
                            symbol="x", size=12))
    lows = [float(np.nanmin(r["incumbent_gross_loss"])) for r in (result, reference) if r is not None]
    layout = _layout(title, xaxis=dict(title=dict(text="years")), yaxis=dict(
        title=dict(text="share of gross"), tickformat=".0%", range=[min(0.0, *lows) - 0.02, 1.02]))
    return _figure(data, layout, shapes, notes)


#: Colours of saved runs drawn beside the current one (the current run keeps teal and red).
SAVED_COLORS = ("#1565c0", "#6d4c41", "#f9a825", "#ad1457", "#2e7d32", "#37474f")


def add_saved_runs(fig: go.Figure, runs: Mapping[str, Any]) -> go.Figure:
    """Draw saved runs on a :func:`share_and_loss` chart: per run, its platform share of gross
    (thin solid) and incumbent gross loss (thin dotted), one colour per run, named
    ``"<name>: platform share of gross"`` and ``"<name>: incumbent gross loss"``, and its fall."""
    for (name, res), color in zip(runs.items(), SAVED_COLORS * (1 + len(runs) // len(SAVED_COLORS))):
        for series, label, dash in (("platform_share_of_gross", "platform share of gross", "solid"),
                                    ("incumbent_gross_loss", "incumbent gross loss", "dot")):
            fig.add_scatter(x=np.asarray(res.t, float), y=np.asarray(res[series], float), mode="lines",
                            name=f"{name}: {label}", legendgroup=f"saved {name}",
                            line=dict(color=color, width=1.5, dash=dash))
        if res.falls:
            fig.add_scatter(x=[float(res.fall_time)], y=[float(res.share_at_fall)], mode="markers",
                            name=f"{name}: falls", legendgroup=f"saved {name}", showlegend=False,
                            marker=dict(color=color, size=10, symbol="x"))
    return fig


#: Vertical extent of the four panels of :func:`trust_and_cash` (trust, price, profit, buffer).
_PANELS = {"y": (0.79, 1.0), "y2": (0.53, 0.72), "y3": (0.27, 0.46), "y4": (0.0, 0.20)}


def trust_and_cash(result, *, reference=None,
                   title: str | None = "Trust, and the incumbent's price, operating profit and buffer") -> go.Figure:
    """Trust and the incumbent's cash over time, in four stacked panels on one time axis.

    One figure rather than two: a browser redraws each chart of the page from scratch after
    every slider move, so the panels cost one chart's redraw, not two.

    Panels, top to bottom: platform (mediated) and relational (real) trust, both in [0, 1]
    (traces "platform trust" and "relational trust", axis ``y``); the incumbent's price
    beside the platform's and the willingness to pay ("incumbent price", "platform price",
    "willingness to pay", ``y2``); its operating profit ("operating profit", ``y3``); its
    financial buffer ("buffer", ``y4``). ``reference``: the sector's own run, drawn dashed
    and faded as "<name> (sector's values)".
    """
    p = result.params
    data = []
    for res, ref in ((reference, True), (result, False)):
        if res is not None:
            data.append(_line(res.t, res["platform_trust"], name="platform trust", color=PLATFORM,
                              reference=ref))
            data.append(_line(res.t, res["relational_trust"], name="relational trust", color=RELATIONAL,
                              reference=ref))
            data.append(_line(res.t, res["incumbent_price"], name="incumbent price", color=INCUMBENT,
                              reference=ref, yaxis="y2"))
            data.append(_line(res.t, res["operating_profit"], name="operating profit", color=INCUMBENT,
                              reference=ref, yaxis="y3"))
            data.append(_line(res.t, res["buffer"], name="buffer", color=INCUMBENT, reference=ref, yaxis="y4"))
    t_end = float(result.t[-1]) if result.t.size else p.horizon
    data.append(_line([0.0, t_end], [p.platform_price] * 2, name="platform price", color=PLATFORM, dash="dot",
                      yaxis="y2"))
    data.append(_line([0.0, t_end], [p.willingness_to_pay] * 2, name="willingness to pay", color=ESSAY,
                      dash="dot", yaxis="y2"))
    shapes = [_hline(0.0, color=ESSAY, dash="solid", yref=axis)[0] for axis in ("y3", "y4")]
    titles = {"y": "trust (0 to 1)", "y2": "price per unit (× initial)",
              "y3": "operating profit (initial gross/yr)", "y4": "buffer (initial gross)"}
    notes = [dict(xref="paper", x=0.5, xanchor="center", yref="paper", y=_PANELS[a][1], yanchor="bottom",
                  text=text, showarrow=False) for a, text in titles.items()]
    axes = {("yaxis" if a == "y" else f"yaxis{a[1:]}"): dict(domain=list(_PANELS[a]), anchor="x")
            for a in _PANELS}
    axes["yaxis"]["range"] = [0, 1.02]
    layout = _layout(title, height=820, xaxis=dict(title=dict(text="years"), anchor="y4"), **axes)
    return _figure(data, layout, shapes, notes)


def firms_cash(result, *, title: str | None = "Each firm's cash and credit") -> go.Figure:
    """Each firm's liquidity (``buffer_<i>``) over time, its exit marked; for a run of a
    sector of several firms (``result.firms``)."""
    firms = result.firms
    if firms is None:
        raise ValueError("`firms_cash` draws a sector of several firms (firm_count > 1); this run has one firm")
    data, shapes, notes = [], [], []
    widths = 1.0 + 3.0 * firms.sizes / max(float(firms.sizes.max()), 1e-12)
    for i in range(firms.n):
        cash = np.array(result[f"buffer_{i + 1}"], dtype=float)
        fall = firms.fall_time[i]
        if np.isfinite(fall):
            cash = np.where(result.t <= fall, cash, np.nan)  # the books are closed after the exit
        data.append(dict(type="scatter", x=result.t, y=cash, mode="lines", name=f"firm {i + 1}",
                         line=dict(color=INCUMBENT, width=float(widths[i])), opacity=0.35 + 0.65 * i / max(firms.n - 1, 1),
                         legendgroup="firms"))
    gone = np.isfinite(firms.fall_time)
    if gone.any():
        data.append(_marker(firms.fall_time[gone], np.zeros(int(gone.sum())), name="exit", color=FALL,
                            symbol="x", size=9))
    if result.falls and result.fall_time is not None:
        shape, note = _vline(float(result.fall_time), color=FALL, text="sector falls")
        shapes.append(shape)
        notes.append(note)
    shapes.append(_hline(0.0, color=ESSAY, dash="solid")[0])
    layout = _layout(title, xaxis=dict(title=dict(text="years")),
                     yaxis=dict(title=dict(text="cash and credit (sector's initial gross)")))
    return _figure(data, layout, shapes, notes)


#: The three readings of the platform's progress on the exit curve, with their colours.
_READINGS = (("platform_share_of_gross", "platform share of gross", PLATFORM),
             ("incumbent_gross_loss", "incumbents' gross loss", INCUMBENT),
             ("platform_volume_share", "platform share of volume", RELATIONAL))


def exit_curve(firms, *, title: str | None = "Capacity exited against the platform's progress") -> go.Figure:
    """The exit curve of a :class:`model.core.sector.SectorFirms`: capacity exited after each
    exit against the three readings of the platform's progress at that moment."""
    data = []
    for key, name, color in _READINGS:
        x = [0.0] + [p[key] for p in firms.exit_curve]
        y = [0.0] + [p["capacity_exited"] for p in firms.exit_curve]
        data.append(dict(type="scatter", x=x, y=y, mode="lines+markers", name=name, line=dict(color=color, shape="hv"),
                         marker=dict(size=6, color=color)))
    shapes, notes = [], []
    shape, note = _vline(ESSAY_TIPPING_SHARE, color=ESSAY, text="20 %")
    shape["line"]["dash"] = "dash"
    shapes.append(shape)
    notes.append(note)
    half, half_note = _hline(0.5, color=FALL, dash="dot", text="half the capacity gone: the sector falls")
    shapes.append(half)
    notes.append(half_note)
    layout = _layout(title, hovermode="closest",
                     xaxis=dict(title=dict(text="platform's progress (share)"), range=[0, 1], tickformat=".0%"),
                     yaxis=dict(title=dict(text="incumbent capacity exited"), range=[0, 1.02], tickformat=".0%"))
    return _figure(data, layout, shapes, notes)


def market_value(valuation, *, title: str | None = "Market value of the incumbents") -> go.Figure:
    """The sector's value over time (a :class:`model.analysis.valuation.Valuation`), each firm's
    beside it when there are several, half the starting value, when the value gets there and
    the fall."""
    t = np.asarray(valuation.t, dtype=float)
    data = []
    if valuation.firm_value is not None:
        n = valuation.firm_value.shape[0]
        for i in range(n):
            data.append(dict(type="scatter", x=t, y=np.asarray(valuation.firm_value[i], dtype=float), mode="lines",
                             name=f"firm {i + 1}", line=dict(color=INCUMBENT, width=1),
                             opacity=0.3 + 0.5 * i / max(n - 1, 1), legendgroup="firms"))
    data.append(_line(t, valuation.value, name="sector" if valuation.firm_value is not None else "incumbent",
                      color=INCUMBENT))
    half_line, half_note = _hline(0.5 * valuation.start, color=ESSAY, dash="dash", text="half the start", position="right")
    shapes, notes = [half_line], [half_note]
    if valuation.half_time is not None:
        data.append(_marker([valuation.half_time], [0.5 * valuation.start], name="value halved", color=INCUMBENT,
                            symbol="diamond"))
    if valuation.fall_time is not None:
        shape, note = _vline(valuation.fall_time, color=FALL, text="falls")
        shapes.append(shape)
        notes.append(note)
    layout = _layout(title, xaxis=dict(title=dict(text="years")),
                     yaxis=dict(title=dict(text=f"value (initial gross), r_d = {valuation.discount_rate:.1%}/yr"),
                                rangemode="tozero"))
    return _figure(data, layout, shapes, notes)


# --- tipping view -----------------------------------------------------------------------

def _segments(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> tuple[list, list]:
    """Points where ``mask`` holds, as one polyline with None between separate runs.

    Each run is extended by one point into its neighbours so that the stable and unstable
    lines meet at the change of stability (a fold) instead of leaving a gap.
    """
    xs, ys = [], []
    n = len(x)
    k = 0
    while k < n:
        if not mask[k]:
            k += 1
            continue
        j = k
        while j + 1 < n and mask[j + 1]:
            j += 1
        lo, hi = max(k - 1, 0), min(j + 1, n - 1)
        if xs:
            xs.append(None)
            ys.append(None)
        xs.extend(float(v) for v in x[lo:hi + 1])
        ys.extend(float(v) for v in y[lo:hi + 1])
        k = j + 1
    return xs, ys


def continuation_diagram(cont, *, current_value: float | None = None, state: str = "platform_share",
                         title: str | None = None) -> go.Figure:
    """Equilibrium branches against one parameter, stable solid and unstable dashed.

    Parameters
    ----------
    cont : Continuation
        ``cont.parameter`` (name), ``cont.values`` (k,), ``cont.states`` (k, m) with the
        state variables in the order of :data:`model.core.equations.STATE_NAMES` (the market
        states, m = 5), ``cont.stable`` (k,) bool, optionally ``cont.branch`` (k,) int
        (points of one branch in continuation order) and ``cont.buffer_drift`` (k,),
        ``cont.folds`` (each with ``parameter_value`` and ``state``) and
        ``cont.hysteresis`` ((a, b) or None).
    current_value : float, optional
        The parameter's current value, drawn as a vertical line.
    state : str
        Which state variable to put on the y axis.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces "stable equilibria", "unstable equilibria" (None between branches and
        stability changes), "buffer drains" (equilibria where dB/dt < 0, so that the
        incumbent falls if the sector stays there) and "fold (saddle-node)".
    """
    idx = STATE_NAMES.index(state)
    x = np.asarray(cont.values, dtype=float)
    states = np.asarray(cont.states, dtype=float)
    y = states[:, idx] if states.ndim == 2 else states
    stable = np.asarray(cont.stable, dtype=bool)
    branch = np.asarray(getattr(cont, "branch", np.zeros(x.size, dtype=int)))
    fig = go.Figure()
    for mask, name, line in ((stable, "stable equilibria", dict(color=PLATFORM, width=3)),
                             (~stable, "unstable equilibria", dict(color=INCUMBENT, width=2, dash="dash"))):
        xs, ys = [], []
        for b in np.unique(branch):
            on = branch == b
            bx, by = _segments(x[on], y[on], mask[on])
            if bx and xs:
                xs.append(None)
                ys.append(None)
            xs.extend(bx)
            ys.extend(by)
        fig.add_scatter(x=xs, y=ys, mode="lines", name=name, line=line)
    drift = getattr(cont, "buffer_drift", None)
    if drift is not None:
        drains = np.asarray(drift, dtype=float) < 0
        if drains.any():
            fig.add_scatter(x=x[drains], y=y[drains], mode="markers", name="buffer drains (incumbent falls there)",
                            marker=dict(color=INCUMBENT, size=4, symbol="circle"), opacity=0.6)
    folds = list(getattr(cont, "folds", None) or [])
    if folds:
        fig.add_scatter(x=[float(f.parameter_value) for f in folds],
                        y=[float(np.asarray(f.state, dtype=float).ravel()[idx]) for f in folds],
                        mode="markers", name="fold (saddle-node)",
                        marker=dict(color=FALL, size=11, symbol="diamond"))
    hyst = getattr(cont, "hysteresis", None)
    if hyst is not None:
        a, b = sorted(map(float, hyst))
        fig.add_vrect(x0=a, x1=b, fillcolor=PONR, opacity=0.10, line_width=0,
                      annotation_text="bistable (hysteresis)", annotation_position="top left")
    if current_value is not None:
        fig.add_vline(x=float(current_value), line=dict(color=ESSAY, dash="dash", width=1.5),
                      annotation_text=f"now: {current_value:g}", annotation_position="top right")
    if title is None:
        title = f"Equilibria against {cont.parameter.replace('_', ' ')}"
    yaxis = dict(title=dict(text=f"equilibrium {state.replace('_', ' ')}"), tickformat=".3~g")
    yaxis.update(_visible_range(y, unit_interval=state in UNIT_STATES))
    fig.update_layout(**_layout(title, hovermode="closest", xaxis=dict(title=dict(text=axis_label(cont.parameter))),
                                yaxis=yaxis))
    return fig


#: States that live in [0, 1] (shares and trusts): their axes never zoom below MIN_SPAN.
UNIT_STATES = ("platform_share", "platform_trust", "relational_trust")
#: Smallest y span drawn for a unit-interval state, and the relative spread below which a
#: set of values is one value (rounding of the solver, not structure).
MIN_SPAN, FLAT_SPREAD = 0.1, 1e-6


def _visible_range(y, *, unit_interval: bool) -> dict:
    """An axis range that shows structure, not rounding: values that differ by less than
    :data:`FLAT_SPREAD` (relative) are drawn flat in a span around them, and a
    unit-interval state is never zoomed below :data:`MIN_SPAN` (a sliver such as 0.999-1.0
    looks like a cliff). Empty dict: the automatic range is right."""
    y = np.asarray([v for v in np.ravel(np.asarray(y, dtype=float)) if np.isfinite(v)])
    if y.size == 0:
        return {}
    lo, hi = float(y.min()), float(y.max())
    centre, spread = 0.5 * (lo + hi), hi - lo
    scale = max(abs(centre), 1.0)
    if unit_interval:
        if spread >= MIN_SPAN:
            return {}
        a = min(max(centre - MIN_SPAN / 2, 0.0), 1.0 - MIN_SPAN)
        return {"range": [a - 0.01, a + MIN_SPAN + 0.01]}
    if spread < FLAT_SPREAD * scale:
        pad = 0.05 * scale
        return {"range": [centre - pad, centre + pad]}
    return {}


def basin_map(basin, *, x: str = "platform_share", y: str = "platform_trust", current=None,
              trajectory=None, title: str | None = "Basin of the current state") -> go.Figure:
    """Which starting states lead to the incumbent's fall, with the separatrix.

    Parameters
    ----------
    basin : Basin
        ``basin.x`` (nx,), ``basin.y`` (ny,), ``basin.falls`` (ny, nx) bool (row i is
        ``basin.y[i]``; an (nx, ny) array with nx != ny is transposed), ``basin.separatrix``
        (k, 2) points (x, y) on the boundary.
    x, y : str
        Names of the state variables on the axes.
    current : (float, float), optional
        The current starting state, drawn as a marker.
    trajectory : (array, array), optional
        The current run's path in the same two variables.
    """
    bx = np.asarray(basin.x, dtype=float)
    by = np.asarray(basin.y, dtype=float)
    falls = np.asarray(basin.falls, dtype=bool)
    if falls.shape == (bx.size, by.size) and bx.size != by.size:
        falls = falls.T
    fig = go.Figure()
    z = falls.astype(float)
    status = getattr(basin, "status", None)
    if status is not None:
        status = np.asarray(status)
        if status.shape != z.shape and status.T.shape == z.shape:
            status = status.T
        z[status < 0] = np.nan  # a failed run says nothing: leave the cell blank
    fig.add_heatmap(x=bx, y=by, z=z, zmin=0, zmax=1, showscale=False,
                    colorscale=[[0, "#e0f2f1"], [0.5, "#e0f2f1"], [0.5, "#ffcdd2"], [1, "#ffcdd2"]],
                    name="falls (red) / survives (green)",
                    hovertemplate=f"{x}=%{{x:.3g}}<br>{y}=%{{y:.3g}}<br>falls=%{{z}}<extra></extra>")
    # The colour key: a legend entry per colour (the heatmap itself has no legend entry).
    for colour, label in (("#ffcdd2", "incumbent falls from here"), ("#e0f2f1", "incumbent survives from here")):
        fig.add_scatter(x=[None], y=[None], mode="markers", name=label,
                        marker=dict(color=colour, size=14, symbol="square", line=dict(color="#9e9e9e", width=1)))
    sep = np.asarray(getattr(basin, "separatrix", np.empty((0, 2))), dtype=float).reshape(-1, 2)
    if sep.size:
        # Points on the boundary, sorted by y then x: a boundary that folds back would
        # zig-zag as a line, so they are drawn as points.
        fig.add_scatter(x=sep[:, 0], y=sep[:, 1], mode="markers", name="separatrix",
                        marker=dict(color=FALL, size=5))
    if trajectory is not None:
        fig.add_scatter(x=np.asarray(trajectory[0], dtype=float), y=np.asarray(trajectory[1], dtype=float),
                        mode="lines", name="current run", line=dict(color=PLATFORM, width=2))
    if current is not None:
        fig.add_scatter(x=[float(current[0])], y=[float(current[1])], mode="markers", name="current start",
                        marker=dict(color=PLATFORM, size=12, symbol="star"))
    fig.update_layout(**_layout(title, hovermode="closest",
                                xaxis=dict(title=dict(text=axis_label(x)), range=[bx[0], bx[-1]]),
                                yaxis=dict(title=dict(text=axis_label(y)), range=[by[0], by[-1]])))
    return fig


# --- book and paper figures -------------------------------------------------------------
#
# Drawn for print: every series is told apart by line style and marker as well as by
# shade, so that a grayscale page reads as well as the screen. No titles (captions live
# in the figures manifest); the book template (model.publish.book) sets the face and the sizes.

INK = "#000000"
DARK = "#404040"
MID = "#808080"
LIGHT = "#bdbdbd"
FILL = "#e3e3e3"
#: Sector lines of the ECDF figure: three shades, then four dash patterns (twelve styles).
GRAYS = (INK, DARK, MID)
DASHES = ("solid", "dash", "dot", "dashdot")


@dataclass(frozen=True)
class SeriesFit:
    """One observed series beside the calibrated model, both normalised the same way.

    ``data`` and ``model`` are ratios to the value at ``reference_year`` (for a
    ``log_ratio`` series the ratio itself, drawn on a log axis); ``roles`` says which data
    rows were fitted ("fit") and which held out ("holdout"); ``fall_year`` is when the
    model's incumbent falls (None if it survives the span drawn).
    """

    name: str
    label: str
    log: bool
    years: np.ndarray
    data: np.ndarray
    roles: tuple
    model_years: np.ndarray
    model: np.ndarray
    reference_year: int | None = None
    fall_year: float | None = None


def calibration_fit(series: list[SeriesFit], *, holdout_from: float | None = None,
                    model_name: str = "model (calibrated)") -> go.Figure:
    """Observed series against the calibrated model, one panel per series (stacked).

    ``holdout_from``: the first held-out year, drawn as a dotted line on every panel (the
    years the fit never saw start there). ``model_name``: the model trace's name.

    Traces per panel ``k`` (axes ``x{k}``/``y{k}``): "data (fitted)", "data (held out)"
    (if any row is held out) and "model (calibrated)"; "incumbent falls (model)" where the
    model's incumbent falls inside the panel. Legend entries are shown once.
    """
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=len(series), cols=1, vertical_spacing=min(0.16, 0.36 / len(series)))
    seen = set()

    def add(trace, row):
        trace.showlegend = trace.name not in seen
        seen.add(trace.name)
        fig.add_trace(trace, row=row, col=1)

    for k, s in enumerate(series, 1):
        years = np.asarray(s.years, dtype=float)
        data = np.asarray(s.data, dtype=float)
        roles = np.asarray(s.roles)
        add(go.Scatter(x=np.asarray(s.model_years, float), y=np.asarray(s.model, float), mode="lines",
                       name=model_name, meta=s.name, line=dict(color=INK, width=1.5, dash="solid")), k)
        fit = roles == "fit"
        add(go.Scatter(x=years[fit], y=data[fit], mode="markers", name="data (fitted)", meta=s.name,
                       marker=dict(color=INK, size=6, symbol="circle")), k)
        if np.any(~fit):
            add(go.Scatter(x=years[~fit], y=data[~fit], mode="markers", name="data (held out)", meta=s.name,
                           marker=dict(color=INK, size=7, symbol="circle-open", line=dict(width=1.5))), k)
        if s.fall_year is not None and s.model_years.size and s.fall_year <= float(np.max(s.model_years)):
            add(go.Scatter(x=[float(s.fall_year)], y=[float(np.interp(s.fall_year, s.model_years, s.model))],
                           mode="markers", name="incumbent falls (model)", meta=s.name,
                           marker=dict(color=INK, size=9, symbol="x-thin", line=dict(width=2, color=INK))), k)
        yaxis = dict(title=dict(text=s.label))
        if s.log:
            yaxis.update(type="log", dtick=1)  # decades only: 0.01, 0.1, 1
        fig.update_yaxes(row=k, col=1, **yaxis)
        fig.update_xaxes(row=k, col=1, title=dict(text="year"), dtick=2)
        if holdout_from is not None:
            fig.add_vline(x=float(holdout_from) - 0.5, line=dict(color=MID, width=1, dash="dot"), row=k, col=1)
            if k == 1:
                fig.add_annotation(x=float(holdout_from) - 0.5, xref="x", y=1, yref="y domain", yanchor="bottom",
                                   xanchor="left", text=f"held out from {holdout_from:.0f}", showarrow=False)
    lo = min(float(np.min(s.years)) for s in series) - 0.5
    hi = max(max(float(np.max(s.years)), float(np.max(s.model_years))) for s in series) + 0.5
    fig.update_xaxes(range=[lo, hi])
    fig.update_layout(hovermode="closest", legend=dict(orientation="h", y=-0.12, x=0, yanchor="top"))
    return fig


@dataclass(frozen=True)
class SectorRun:
    """A sector's run as its file sets it, with its point of no return, for :func:`sector_runs`."""

    key: str
    label: str
    result: Any
    ponr: Any
    start_year: float | None = None


def _small_multiples(runs, cols: int, **grid):
    """A grid of panels, one per run (``label``, ``key``, ``start_year``), and an iterator of
    (run, add, row, col, t0): ``add(trace)`` puts a trace in the run's panel, tagged with its
    key, each legend entry shown once; t0 is the calendar year of t = 0 (0 without one)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=math.ceil(len(runs) / cols), cols=cols, subplot_titles=[r.label for r in runs],
                        vertical_spacing=0.09, **grid)
    seen = set()

    def panels():
        for k, run in enumerate(runs):
            row, col = k // cols + 1, k % cols + 1

            def add(trace, row=row, col=col, key=run.key):
                trace.showlegend = trace.name not in seen
                seen.add(trace.name)
                trace.meta = key
                fig.add_trace(trace, row=row, col=col)

            yield run, add, row, col, float(run.start_year) if run.start_year is not None else 0.0

    return fig, panels()


def sector_runs(runs: list[SectorRun], *, cols: int = 3) -> go.Figure:
    """Platform share of gross and incumbent gross loss over time, one small panel per sector.

    Each panel ``k`` (axes ``x{k}``/``y{k}``, in the order of ``runs``) has the traces
    "platform share of gross" (solid) and "incumbent gross loss" (dashed), the essay's 20%
    as a dotted line, and, where the sector tips, "point of no return" (open circles at the
    share and the gross loss, on a vertical line) and "incumbent falls" (a cross). Time
    is the calendar year when the file gives a start year, else years from the start.
    """
    fig, panels = _small_multiples(runs, cols, shared_yaxes=True, horizontal_spacing=0.04)
    for run, add, row, col, t0 in panels:
        res = run.result
        t = np.asarray(res.t, dtype=float) + t0
        add(go.Scatter(x=t, y=np.asarray(res["platform_share_of_gross"], float), mode="lines",
                       name="platform share of gross", line=dict(color=INK, width=1.5, dash="solid")))
        add(go.Scatter(x=t, y=np.asarray(res["incumbent_gross_loss"], float), mode="lines",
                       name="incumbent gross loss", line=dict(color=DARK, width=1.5, dash="dash")))
        fig.add_hline(y=ESSAY_TIPPING_SHARE, row=row, col=col, line=dict(color=MID, width=1, dash="dot"))
        ponr = run.ponr
        if ponr is not None and getattr(ponr, "outcome", None) in ("tips", "always_falls"):
            x = float(ponr.time) + t0
            fig.add_vline(x=x, row=row, col=col, line=dict(color=MID, width=1))
            add(go.Scatter(x=[x, x], y=[float(ponr.share), float(ponr.gross_loss)], mode="markers",
                           name="point of no return",
                           marker=dict(color=INK, size=6, symbol="circle-open", line=dict(width=1.5))))
        if res.falls:
            add(go.Scatter(x=[float(res.fall_time) + t0], y=[float(res.share_at_fall)], mode="markers",
                           name="incumbent falls",
                           marker=dict(color=INK, size=7, symbol="x-thin", line=dict(width=1.5, color=INK))))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", dtick=0.25)
    fig.update_yaxes(title=dict(text="share of gross"), col=1)
    last_row = {k // cols + 1 for k in range(len(runs))}
    for k in range(len(runs)):
        row, col = k // cols + 1, k % cols + 1
        # The x title under the lowest panel of each column.
        if row == max(r for r in last_row if (r - 1) * cols + col <= len(runs)):
            fig.update_xaxes(title=dict(text="year"), row=row, col=col)
    fig.update_xaxes(nticks=3)
    fig.update_annotations(font=dict(size=10))  # the panel labels
    fig.update_layout(hovermode="closest", legend=dict(orientation="h", y=-0.08, x=0, yanchor="top"))
    return fig


@dataclass(frozen=True)
class ValueRun:
    """A sector's market value at its file's values, for :func:`value_runs`."""

    key: str
    label: str
    valuation: Any
    start_year: float | None = None


def value_runs(runs: list[ValueRun], *, cols: int = 3) -> go.Figure:
    """Each sector's market value relative to its start, one small panel per sector.

    Each panel ``k`` (axes ``x{k}``/``y{k}``, its own scale from 0) has the trace "market
    value" (solid), half the start as a dotted line, "value halved" (an open diamond) where it falls below it and
    "incumbent falls" (a cross, on the value's line) at the run's fall. Time is the calendar
    year when the file gives a start year.
    """
    # Each panel its own scale from 0: a sector whose market outgrows the discount rate
    # (artisans against Ford: the car market) would flatten every other panel.
    fig, panels = _small_multiples(runs, cols, shared_yaxes=False, horizontal_spacing=0.1)
    for run, add, row, col, t0 in panels:
        v = run.valuation
        t = np.asarray(v.t, dtype=float) + t0
        rel = np.asarray(v.relative, dtype=float)
        add(go.Scatter(x=t, y=rel, mode="lines", name="market value", line=dict(color=INK, width=1.5, dash="solid")))
        fig.add_hline(y=0.5, row=row, col=col, line=dict(color=MID, width=1, dash="dot"))
        if v.half_time is not None:
            add(go.Scatter(x=[float(v.half_time) + t0], y=[0.5], mode="markers", name="value halved",
                           marker=dict(color=INK, size=6, symbol="diamond-open", line=dict(width=1.5))))
        if v.fall_time is not None:
            y = float(np.interp(v.fall_time, v.t, rel))
            add(go.Scatter(x=[float(v.fall_time) + t0], y=[y], mode="markers", name="incumbent falls",
                           marker=dict(color=INK, size=7, symbol="x-thin", line=dict(width=1.5, color=INK))))
    fig.update_yaxes(rangemode="tozero", tickformat=".0%", nticks=4)
    fig.update_yaxes(title=dict(text="value / start"), col=1)
    for k in range(len(runs)):
        row, col = k // cols + 1, k % cols + 1
        if k + cols >= len(runs):  # the lowest panel of its column
            fig.update_xaxes(title=dict(text="year"), row=row, col=col)
    fig.update_xaxes(nticks=3)
    fig.update_annotations(font=dict(size=10))
    fig.update_layout(hovermode="closest", legend=dict(orientation="h", y=-0.08, x=0, yanchor="top"))
    return fig


def verdict_chart(rows: list[Mapping[str, Any]], *, current: str | None = None) -> go.Figure:
    """Each sector's point of no return, median and 90% interval, against the essay's 20%.

    Parameters
    ----------
    rows : list of mapping
        One per sector, with the keys of ``verdict.csv``: ``sector``,
        ``ponr_share_median``/``_p05``/``_p95`` and ``ponr_gross_loss_median``/``_p05``/
        ``_p95`` (floats, NaN where the sector never tips).
    current : str, optional
        A sector of ``rows`` to pick out (its label in bold): the dashboard's sector.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces "PONR: platform share of gross" and "PONR: incumbent gross loss" (a marker
        at each median with the interval as error bars; sector ``i`` of ``rows`` is drawn
        at ``y = i`` from the top, shares just above, losses just below), and the 20% line.
    """
    n = len(rows)
    fig = go.Figure()
    for key, name, offset, marker in (
            ("ponr_share", "PONR: platform share of gross", -0.17, dict(color=INK, size=7, symbol="circle")),
            ("ponr_gross_loss", "PONR: incumbent gross loss", 0.17,
             dict(color=INK, size=7, symbol="square-open", line=dict(width=1.5)))):
        med = np.array([float(r[f"{key}_median"]) for r in rows])
        lo = np.array([float(r[f"{key}_p05"]) for r in rows])
        hi = np.array([float(r[f"{key}_p95"]) for r in rows])
        y = np.arange(n, dtype=float) + offset
        fig.add_scatter(x=med, y=y, mode="markers", name=name, marker=marker,
                        error_x=dict(type="data", symmetric=False, array=hi - med, arrayminus=med - lo,
                                     color=INK if "share" in key else DARK, thickness=1.2, width=3))
    fig.add_vline(x=ESSAY_TIPPING_SHARE, line=dict(color=MID, width=1.2, dash="dash"))
    fig.add_annotation(x=ESSAY_TIPPING_SHARE, xref="x", y=1.0, yref="paper", yanchor="bottom",
                       text="the essay's 20%", showarrow=False, font=dict(size=10))
    fig.update_layout(
        hovermode="closest", showlegend=True,
        legend=dict(orientation="h", y=-0.16, x=0, yanchor="top"),
        xaxis=dict(title=dict(text="share at the point of no return (median, 90% interval)"), range=[0, 1.005],
                   tickformat=".0%", dtick=0.2),
        yaxis=dict(tickmode="array", tickvals=list(range(n)),
                   ticktext=[(f"<b>{label}</b>" if r["sector"] == current else label)
                             for r, label in ((r, str(r["sector"]).replace("_", " ")) for r in rows)],
                   range=[n - 0.5, -0.5], showgrid=False))
    return fig


def fan_chart(fan, *, current=None, current_name: str = "current run", title: str | None = None) -> go.Figure:
    """Bands of a sector's draws over time (:class:`model.studies.fan.Fan`), one run on them.

    Two panels sharing the time axis (years from the start): the platform's share of the
    sector's gross (``y``: traces "90% of the draws", "50% of the draws", "median of the
    draws", and ``current`` named ``current_name``) and the share of the draws whose
    incumbents have fallen (``y2``: "draws fallen"; "<current_name> falls" marks that run's
    fall).
    """
    # Built from plain dicts on two y axes of one x axis (not make_subplots, whose traces are
    # validated one by one): this figure is redrawn after every slider move.
    q = {p: np.asarray(row, dtype=float) for p, row in zip(fan.quantiles, fan.share_of_gross)}
    t = np.asarray(fan.t, dtype=float)
    data = []
    for lo, hi, name, alpha in ((0.05, 0.95, "90% of the draws", 0.18), (0.25, 0.75, "50% of the draws", 0.38)):
        data.append(dict(type="scatter", x=t, y=q[lo], mode="lines", line=dict(width=0), hoverinfo="skip",
                         showlegend=False, legendgroup=name, name=f"{name} (low)"))
        data.append(dict(type="scatter", x=t, y=q[hi], mode="lines", line=dict(width=0), fill="tonexty",
                         fillcolor=f"rgba(0,137,123,{alpha})", name=name, legendgroup=name))
    data.append(dict(type="scatter", x=t, y=q[0.5], mode="lines", name="median of the draws",
                     line=dict(color=PLATFORM, width=1, dash="dot")))
    if current is not None:
        data.append(dict(type="scatter", x=np.asarray(current.t, float),
                         y=np.asarray(current["platform_share_of_gross"], float), mode="lines", name=current_name,
                         line=dict(color=PLATFORM, width=3)))
    data.append(dict(type="scatter", x=t, y=np.asarray(fan.fallen, float), mode="lines", name="draws fallen",
                     yaxis="y2", line=dict(color=INCUMBENT, width=2)))
    if current is not None and current.falls:
        k = int(np.searchsorted(t, float(current.fall_time)))
        data.append(dict(type="scatter", x=[float(current.fall_time)], y=[float(fan.fallen[min(k, t.size - 1)])],
                         mode="markers", name=f"{current_name} falls", yaxis="y2",
                         marker=dict(color=FALL, size=11, symbol="x")))
    shape, note = _hline(ESSAY_TIPPING_SHARE, color=ESSAY, dash="dash", text="the essay's 20%")
    layout = _layout(title, hovermode="x unified",
                     xaxis=dict(title=dict(text="years"), anchor="y2"),
                     yaxis=dict(title=dict(text="share of gross"), tickformat=".0%", range=[-0.02, 1.02],
                                domain=[0.34, 1.0]),
                     yaxis2=dict(title=dict(text="draws fallen"), tickformat=".0%", range=[-0.02, 1.02],
                                 domain=[0.0, 0.26]))
    return _figure(data, layout, [shape], [note])


def series_chart(result, names, units: Mapping[str, str], *, start_year: float | None = None) -> go.Figure:
    """Series ``names`` of a run over time, one axis per unit (left, then right).

    Traces are named ``"<name> [<unit>]"``; at most two units (the picker says so).
    """
    by_unit: dict[str, list[str]] = {}
    for name in names:
        by_unit.setdefault(units.get(name, "?"), []).append(name)
    if len(by_unit) > 2:
        raise ValueError(f"at most two units on one chart, got {', '.join(by_unit)}")
    colors = (PLATFORM, INCUMBENT, RELATIONAL, BREAK_EVEN, PONR, ESSAY, FALL)
    data, layout = [], _layout(None, xaxis=dict(title=dict(text="years")))
    k = 0
    for axis, (unit, members) in zip(("y", "y2"), by_unit.items()):
        for name in members:
            data.append(dict(type="scatter", x=np.asarray(result.t, float), y=np.asarray(result[name], float),
                             mode="lines", name=f"{name} [{unit}]", yaxis=axis,
                             line=dict(color=colors[k % len(colors)], width=2, dash="solid" if axis == "y" else "dash")))
            k += 1
        spec = dict(title=dict(text=unit))
        if axis == "y2":
            spec.update(overlaying="y", side="right", showgrid=False)
        layout["yaxis" if axis == "y" else "yaxis2"] = spec
    return _figure(data, layout)


def threshold_ecdf_chart(panels: Mapping[str, list]) -> go.Figure:
    """The whole distribution of each reading's threshold, sector by sector (ECDFs).

    Parameters
    ----------
    panels : mapping
        Reading label -> list of ``(sector, x, F)``: the thresholds of the draws that tip,
        sorted, and the ECDF over the draws that test the claim (so F stops short of 1 by
        the share of draws whose threshold lies above any level the platform reached;
        :func:`model.studies.verdict.threshold_ecdf`).

    Returns
    -------
    plotly.graph_objects.Figure
        One panel per reading, one step line per sector (named by sector), the essay's
        15-25% band shaded and its 20% dashed.
    """
    from plotly.subplots import make_subplots

    labels = list(panels)
    cols = 2 if len(labels) > 1 else 1
    rows = int(math.ceil(len(labels) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=labels, horizontal_spacing=0.1,
                        vertical_spacing=0.2)
    sectors = sorted({name for curves in panels.values() for name, _, _ in curves})
    styles = {name: (GRAYS[i % len(GRAYS)], DASHES[(i // len(GRAYS)) % len(DASHES)]) for i, name in enumerate(sectors)}
    for k, label in enumerate(labels):
        r, c = k // cols + 1, k % cols + 1
        for name, x, F in panels[label]:
            if len(x) == 0:
                continue
            color, dash = styles[name]
            xs = np.r_[0.0, np.repeat(np.asarray(x, dtype=float), 2)]
            ys = np.r_[0.0, 0.0, np.repeat(np.asarray(F, dtype=float), 2)[:-1]]
            fig.add_scatter(x=xs, y=ys, mode="lines", name=str(name).replace("_", " "), legendgroup=name,
                            showlegend=k == 0, line=dict(color=color, dash=dash, width=1.3), row=r, col=c)
        fig.add_vrect(x0=ESSAY_TIPPING_SHARE - CLAIMED_BAND, x1=ESSAY_TIPPING_SHARE + CLAIMED_BAND,
                      fillcolor=LIGHT, opacity=0.35, line_width=0, row=r, col=c)
        fig.add_vline(x=ESSAY_TIPPING_SHARE, line=dict(color=MID, width=1.0, dash="dash"), row=r, col=c)
        fig.update_xaxes(range=[0, 1.0], tickformat=".0%", dtick=0.2, row=r, col=c,
                         title=dict(text="threshold") if r == rows else None)
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%", dtick=0.25, row=r, col=c,
                         title=dict(text="share of tested draws") if c == 1 else None)
    fig.update_annotations(font=dict(size=10))
    fig.update_layout(hovermode="closest", legend=dict(orientation="h", y=-0.14, x=0, yanchor="top"))
    return fig


def fold_map(curve, *, current: tuple[float, float] | None = None, slice_value: float | None = None,
             x_title: str | None = None, y_title: str | None = None) -> go.Figure:
    """Fold (saddle-node) curves of the equilibria in the plane of two parameters.

    Parameters
    ----------
    curve : FoldCurve
        ``x_name``, ``y_name``, ``x_range``, ``y_range``, ``points`` (k, 2), ``curve`` (k,).
    current : (float, float), optional
        The scenario's values of the two parameters (a star).
    slice_value : float, optional
        The value of the second parameter at which a one-parameter diagram is drawn
        (a dashed horizontal line).
    x_title, y_title : str, optional
        Axis titles (default :func:`axis_label` of the parameters; shorter ones for a
        half-width figure).

    Returns
    -------
    plotly.graph_objects.Figure
        Trace "fold curve" (one polyline per curve, None between curves), and optionally
        "this sector" and "one-parameter diagram".
    """
    pts = np.asarray(curve.points, dtype=float).reshape(-1, 2)
    ids = np.asarray(curve.curve)
    xs, ys = [], []
    for c in np.unique(ids):
        on = ids == c
        if xs:
            xs.append(None)
            ys.append(None)
        xs.extend(map(float, pts[on, 0]))
        ys.extend(map(float, pts[on, 1]))
    fig = go.Figure()
    fig.add_scatter(x=xs, y=ys, mode="lines", name="fold curve", line=dict(color=INK, width=2, dash="solid"))
    if slice_value is not None:
        fig.add_scatter(x=list(curve.x_range), y=[float(slice_value)] * 2, mode="lines",
                        name="one-parameter diagram", line=dict(color=MID, width=1.2, dash="dash"))
    if current is not None:
        fig.add_scatter(x=[float(current[0])], y=[float(current[1])], mode="markers", name="this sector",
                        marker=dict(color=INK, size=10, symbol="star-open", line=dict(width=1.5)))
    fig.update_layout(hovermode="closest", legend=dict(orientation="h", y=-0.22, x=0, yanchor="top"),
                      xaxis=dict(title=dict(text=x_title or axis_label(curve.x_name)), range=list(curve.x_range)),
                      yaxis=dict(title=dict(text=y_title or axis_label(curve.y_name)), range=list(curve.y_range)))
    return fig


def phase_portrait(basin, trajectories: list[tuple[Any, Any, bool]], *, x: str = "platform_share",
                   y: str = "platform_trust") -> go.Figure:
    """Trajectories in a two-state plane over the basins of falling and surviving.

    Parameters
    ----------
    basin : Basin
        As for :func:`basin_map` (``x``, ``y``, ``falls``, ``status``, ``separatrix``).
    trajectories : list of (array, array, bool)
        Paths in the two states, each with whether the incumbent falls on it.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces "basin" (the region where the incumbent falls, shaded: a polygon through
        the separatrix when each grid row changes outcome once, else the grid cells as a
        heatmap), "separatrix" (points
        on the boundary), one line per trajectory named "path: incumbent falls" (solid) or
        "path: incumbent survives" (dashed), and "start" markers. Legend entries once.
    """
    bx = np.asarray(basin.x, dtype=float)
    by = np.asarray(basin.y, dtype=float)
    falls = np.asarray(basin.falls, dtype=bool)
    if falls.shape == (bx.size, by.size) and bx.size != by.size:
        falls = falls.T
    z = falls.astype(float)
    status = getattr(basin, "status", None)
    if status is not None:
        z[np.asarray(status).reshape(z.shape) < 0] = np.nan
    sep = np.asarray(getattr(basin, "separatrix", np.empty((0, 2))), dtype=float).reshape(-1, 2)
    fig = go.Figure()
    polygon = _fall_region(bx, by, z, sep)
    if polygon is not None:
        # The region where the incumbent falls, bounded by the separatrix itself.
        fig.add_scatter(x=polygon[0], y=polygon[1], mode="lines", fill="toself", fillcolor=FILL, name="basin",
                        line=dict(width=0, color=FILL, dash="solid"), hoverinfo="skip", showlegend=False)
    else:
        fig.add_heatmap(x=bx, y=by, z=z, zmin=0, zmax=1, showscale=False, name="basin",
                        colorscale=[[0, "#ffffff"], [0.5, "#ffffff"], [0.5, FILL], [1, FILL]],
                        hovertemplate="falls=%{z}<extra></extra>")
    if sep.size:
        fig.add_scatter(x=sep[:, 0], y=sep[:, 1], mode="markers", name="separatrix",
                        marker=dict(color=INK, size=4, symbol="circle"), line=dict(dash="solid"))
    seen = set()
    for tx, ty, fell in trajectories:
        tx, ty = np.asarray(tx, dtype=float), np.asarray(ty, dtype=float)
        name = "path: incumbent falls" if fell else "path: incumbent survives"
        fig.add_scatter(x=tx, y=ty, mode="lines", name=name, legendgroup=name, showlegend=name not in seen,
                        line=dict(color=INK if fell else DARK, width=1.3, dash="solid" if fell else "dash"))
        seen.add(name)
        fig.add_scatter(x=[float(tx[0])], y=[float(ty[0])], mode="markers", name="start", legendgroup="start",
                        showlegend="start" not in seen, marker=dict(color=INK, size=5, symbol="circle-open"))
        seen.add("start")
    fig.add_annotation(xref="paper", yref="paper", x=0.99, y=0.99, xanchor="right", yanchor="top",
                       text="shaded: incumbent falls", showarrow=False, font=dict(size=10),
                       bgcolor="rgba(255,255,255,0.8)")
    fig.update_layout(hovermode="closest", legend=dict(orientation="h", y=-0.18, x=0, yanchor="top"),
                      xaxis=dict(title=dict(text=axis_label(x)), range=[bx[0], bx[-1]]),
                      yaxis=dict(title=dict(text=axis_label(y)), range=[by[0], by[-1]]))
    return fig


def _fall_region(bx, by, z, sep):
    """Outline of the fall region when, row by row, it is one interval reaching one side.

    Returns (xs, ys) of a polygon whose inner edge runs through the separatrix points
    found on the grid's rows, or None when the pattern is not that simple (the caller
    then shades the grid cells).
    """
    if not np.isfinite(z).all() or sep.size == 0:
        return None
    falls = z > 0.5
    changes = np.sum(falls[:, 1:] != falls[:, :-1], axis=1)
    if np.any(changes > 1) or not np.any(changes == 1):
        return None
    sides = {bool(row[-1]) for row, c in zip(falls, changes) if c == 1}
    if len(sides) != 1:
        return None
    right = sides.pop()  # the fall region touches the right edge (else the left)
    near, far = (bx[-1], bx[0]) if right else (bx[0], bx[-1])
    edge = []
    for j, yv in enumerate(by):
        if changes[j] == 0:
            edge.append(far if falls[j, 0] else near)  # all fall: to the far side; none: empty
            continue
        on_row = sep[np.isclose(sep[:, 1], yv, rtol=0, atol=1e-12)]
        if on_row.shape[0] != 1:
            return None
        edge.append(float(on_row[0, 0]))
    xs = [float(near), *map(float, edge), float(near)]
    ys = [float(by[0]), *map(float, by), float(by[-1])]
    return xs, ys


def network_effects(results: Mapping[str, Any]) -> go.Figure:
    """The same sector under the trust and the standard network effect, side by side.

    ``results`` maps a label (e.g. "trust network effect") to a run. Left panel (axes
    ``x``/``y``): the platform's share of gross; right (``x2``/``y2``): the platform's
    network value V. Trace names are the labels; the first is solid, the next dashed, a
    third dotted; a cross marks each fall ("incumbent falls"). The 20% line is dotted.
    """
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.16)
    styles = [dict(color=INK, dash="solid"), dict(color=DARK, dash="dash"), dict(color=MID, dash="dot")]
    seen = set()
    for (label, res), style in zip(results.items(), styles):
        for col, series in ((1, "platform_share_of_gross"), (2, "platform_network_value")):
            fig.add_trace(go.Scatter(x=np.asarray(res.t, float), y=np.asarray(res[series], float), mode="lines",
                                     name=label, legendgroup=label, showlegend=col == 1,
                                     line=dict(width=1.6, **style)), row=1, col=col)
        if res.falls:
            fig.add_trace(go.Scatter(x=[float(res.fall_time)], y=[float(res.share_at_fall)], mode="markers",
                                     name="incumbent falls", showlegend="falls" not in seen,
                                     marker=dict(color=INK, size=8, symbol="x-thin", line=dict(width=1.5,
                                                                                               color=INK))),
                          row=1, col=1)
            seen.add("falls")
    fig.add_hline(y=ESSAY_TIPPING_SHARE, row=1, col=1, line=dict(color=MID, width=1, dash="dot"))
    fig.update_xaxes(title=dict(text="years"))
    fig.update_yaxes(title=dict(text="platform share of gross"), tickformat=".0%", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(title=dict(text="network value V (price units)"), rangemode="tozero", row=1, col=2)
    fig.update_layout(hovermode="closest", legend=dict(orientation="h", y=-0.22, x=0, yanchor="top"))
    return fig


def network_critical_mass(by_rewiring: list[Mapping[str, Any]], by_k: Mapping[str, list[Mapping[str, Any]]],
                          mean_field: list[Mapping[str, Any]]) -> go.Figure:
    """Critical mass on graphs against the mean field, two panels.

    Left (``x``/``y``): against the clustering coefficient of Watts-Strogatz graphs (one
    point per rewiring probability, ``by_rewiring`` rows with ``clustering``, ``rewiring``,
    ``network``, ``mean_field``); right (``x2``/``y2``): against the close ties k per family
    (``by_k`` maps a label to rows with ``k`` and ``network``) and the mean field
    (``mean_field`` rows with ``k`` and ``mean_field``). A graph on which the platform takes
    off from any seed the bisection tries has ``network`` None and is left out.
    """
    from plotly.subplots import make_subplots

    def y_of(rows, key):
        return [None if r[key] is None else float(r[key]) for r in rows]

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14)
    styles = [dict(color=INK, dash="solid"), dict(color=DARK, dash="dash"), dict(color=MID, dash="dashdot")]
    symbols = ["circle", "square", "diamond"]
    fig.add_trace(go.Scatter(x=[float(r["clustering"]) for r in by_rewiring], y=y_of(by_rewiring, "network"),
                             mode="lines+markers", name="Watts-Strogatz (k = 12)", legendgroup="ws", showlegend=False,
                             text=[f"rewiring {r['rewiring']:g}" for r in by_rewiring],
                             line=dict(width=1.4, **styles[0]), marker=dict(symbol=symbols[0], size=6)), row=1, col=1)
    fig.add_trace(go.Scatter(x=[float(r["clustering"]) for r in by_rewiring], y=y_of(by_rewiring, "mean_field"),
                             mode="lines", name="mean field (ODE)", legendgroup="mf", showlegend=False,
                             line=dict(width=1.2, color=MID, dash="dot")), row=1, col=1)
    for (label, rows), style, symbol in zip(by_k.items(), styles, symbols):
        fig.add_trace(go.Scatter(x=[r["k"] for r in rows], y=y_of(rows, "network"), mode="lines+markers", name=label,
                                 line=dict(width=1.4, **style), marker=dict(symbol=symbol, size=6)), row=1, col=2)
    fig.add_trace(go.Scatter(x=[r["k"] for r in mean_field], y=y_of(mean_field, "mean_field"), mode="lines",
                             name="mean field (ODE)", line=dict(width=1.2, color=MID, dash="dot")), row=1, col=2)
    fig.update_xaxes(title=dict(text="clustering coefficient"), row=1, col=1)
    fig.update_xaxes(title=dict(text="close ties k"), row=1, col=2)
    fig.update_yaxes(title=dict(text="critical mass (seed share)"), tickformat=".0%", rangemode="tozero")
    fig.update_layout(hovermode="closest", legend=dict(orientation="h", y=-0.24, x=0, yanchor="top"))
    return fig


def network_shares(t, agents, mean_field, *, fall_time: float | None = None, ode_fall_time: float | None = None,
                   label: str = "agents on the graph") -> go.Figure:
    """The platform's share of customers over time from the agents and from the ODE."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=np.asarray(t, float), y=np.asarray(agents, float), mode="lines", name=label,
                             line=dict(color=INK, width=1.6)))
    fig.add_trace(go.Scatter(x=np.asarray(mean_field["t"], float), y=np.asarray(mean_field["share"], float),
                             mode="lines", name="ODE", line=dict(color=MID, width=1.6, dash="dash")))
    for when, name, color in ((fall_time, "falls (agents)", INK), (ode_fall_time, "falls (ODE)", MID)):
        if when is not None:
            fig.add_vline(x=float(when), line=dict(color=color, width=1, dash="dot"))
    fig.update_xaxes(title=dict(text="years"))
    fig.update_yaxes(title=dict(text="platform share of customers"), tickformat=".0%", rangemode="tozero")
    fig.update_layout(hovermode="x unified", legend=dict(orientation="h", y=-0.22, x=0, yanchor="top"))
    return fig


def network_graph(positions, edges, adopted) -> go.Figure:
    """A small graph of close ties: ``positions`` (n, 2), ``edges`` (m, 2) node pairs,
    ``adopted`` a boolean per node (filled: on the platform)."""
    positions = np.asarray(positions, float)
    xs, ys = [], []
    for a, b in np.asarray(edges, int):
        xs += [positions[a, 0], positions[b, 0], None]
        ys += [positions[a, 1], positions[b, 1], None]
    adopted = np.asarray(adopted, bool)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=LIGHT, width=0.7), hoverinfo="skip",
                             showlegend=False))
    for mask, name, color in ((adopted, "on the platform", INK), (~adopted, "not", "#ffffff")):
        fig.add_trace(go.Scatter(x=positions[mask, 0], y=positions[mask, 1], mode="markers", name=name,
                                 marker=dict(size=7, color=color, line=dict(color=INK, width=0.8))))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig.update_layout(legend=dict(orientation="h", y=-0.05, x=0, yanchor="top"), margin=dict(l=4, r=4, t=4, b=4))
    return fig


def sensitivity_indices(table: Mapping[str, Mapping[str, float]], *, counts: Mapping[str, int] | None = None,
                        noise_floor: Mapping[str, float] | None = None, threshold: float = 0.1) -> go.Figure:
    """First-order sensitivity indices of the PONR share: parameters (rows) by sectors (columns).

    Parameters
    ----------
    table : mapping sector -> mapping parameter -> S1
        Missing entries (a parameter the sector does not draw, or a sector with too few
        tipping draws) stay blank.
    counts : mapping sector -> int, optional
        Draws with a point of no return per sector (shown on hover).
    noise_floor : mapping sector -> float, optional
        Per sector, the largest index of a parameter that does not enter its dynamics (an
        index at or below it is estimation noise): its value is not printed.
    threshold : float
        Rows are the parameters whose index exceeds both ``threshold`` and the sector's
        noise floor in at least one sector, ordered by their largest index.

    Returns
    -------
    plotly.graph_objects.Figure
        One heatmap trace "S1" (darker is larger; negative estimates shade as 0), the
        value printed (as ".45") in each cell above the noise floor and 0.05.
    """
    sectors = list(table)
    floor = {k: max(float(noise_floor[k]) if noise_floor and k in noise_floor and np.isfinite(noise_floor[k])
                     else 0.0, 0.0) for k in sectors}

    def value(k, p):
        v = table[k].get(p, np.nan)
        return float(v) if v is not None and np.isfinite(v) else np.nan

    candidates = {p for k in sectors for p in table[k]}
    params = [p for p in candidates
              if any(value(k, p) > max(threshold, floor[k]) for k in sectors)]
    params.sort(key=lambda p: (-np.nanmax([value(k, p) for k in sectors]), p))
    z = np.array([[value(k, p) for k in sectors] for p in params], dtype=float).reshape(len(params), len(sectors))
    # Printed without the leading zero (".45") to fit narrow cells; only above the noise
    # floor and 0.05.
    text = [["" if not (np.isfinite(v) and v > max(floor[k], 0.05)) else f"{v:.2f}".lstrip("0")
             for v, k in zip(row, sectors)] for row in z]
    custom = [[counts.get(k, 0) if counts else 0 for k in sectors] for _ in params]
    fig = go.Figure(go.Heatmap(
        x=[k.replace("_", " ") for k in sectors], y=[p.replace("_", " ") for p in params],
        z=np.clip(z, 0.0, None), text=text, texttemplate="%{text}", textfont=dict(size=9), customdata=custom,
        hovertemplate="%{y} in %{x}: S1 = %{z:.2f} (%{customdata} draws)<extra></extra>",
        zmin=0, zmax=max(0.5, float(np.nanmax(z)) if np.isfinite(z).any() else 0.5),
        colorscale=[[0, "#ffffff"], [1, "#303030"]], name="S1",
        colorbar=dict(title=dict(text="S1", side="right"), thickness=8, len=0.7)))
    fig.update_layout(xaxis=dict(side="top", tickangle=-90, showgrid=False),
                      yaxis=dict(autorange="reversed", showgrid=False), hovermode="closest")
    return fig


def causal_loop(structure, *, labels: Mapping[str, str] | None = None, loop_labels: bool = True,
                highlight: int | None = None) -> go.Figure:
    """The model's causal-loop diagram: nodes on a circle, signed arrows between them, the
    main loops labelled with their codes (R1, B2, ...) inside the circle and named in a key.

    Parameters
    ----------
    structure : CausalStructure
        From :func:`model.analysis.causal.causal_structure` (links derived from the equations).
    labels : mapping, optional
        Display label per node (default :data:`model.analysis.causal.NODE_LABELS`).
    loop_labels : bool
        Label the main loops (one per mechanism of :data:`model.analysis.loops.MECHANISMS`,
        through adoption: their names by :func:`model.analysis.loops.loop_names`) near the
        middle of their nodes, and name them in a key.
    highlight : int, optional
        Index into ``structure.loops`` of a loop to draw thick (the dominant loop); its
        label is boxed.

    Returns
    -------
    plotly.graph_objects.Figure
        Traces "nodes" (one marker per node, ``customdata`` the node names, placed around
        the circle by :func:`circle_order`), "link (+)" (solid), "link (−)" (dashed) and
        "link (±)" (dotted), each a polyline with None
        between links; "loop" (the highlighted loop's links, thick) if ``highlight``; one
        arrowhead annotation and one sign label per link; the loop codes, the key and the
        counts of reinforcing and balancing loops in notes.
    """
    from ..analysis.causal import NODE_LABELS
    from ..analysis.loops import loop_names

    labels = dict(NODE_LABELS, **(labels or {}))
    nodes = circle_order(structure.nodes, [(lk.source, lk.target) for lk in structure.links])
    n = len(nodes)
    # Half a step round: no node sits at the very top or bottom, where a centred label would
    # meet its neighbours'.
    angle = np.pi / 2 - 2 * np.pi * (np.arange(n) + 0.5) / n
    # An ellipse, wider than tall: the labels beside the top and bottom nodes stay apart.
    pos = {name: (float(WIDE * np.cos(a)), float(TALL * np.sin(a))) for name, a in zip(nodes, angle)}
    styles = {"+": ("link (+)", dict(color=INK, width=1.0, dash="solid")),
              "-": ("link (−)", dict(color=DARK, width=1.0, dash="dash")),
              "±": ("link (±)", dict(color=MID, width=1.0, dash="dot"))}
    paths = {s: ([], []) for s in styles}
    notes = []
    pairs = {(lk.source, lk.target) for lk in structure.links}
    for lk in structure.links:
        (x0, y0), (x1, y1) = pos[lk.source], pos[lk.target]
        dx, dy = x1 - x0, y1 - y0
        length = math.hypot(dx, dy)
        # Bend every link a little to its right, more when the opposite link exists, so
        # that A -> B and B -> A stay apart.
        bend = 0.10 if (lk.target, lk.source) in pairs else 0.05
        cx, cy = (x0 + x1) / 2 + bend * dy, (y0 + y1) / 2 - bend * dx
        u = np.linspace(0.0, 1.0, 24)
        bx = (1 - u) ** 2 * x0 + 2 * (1 - u) * u * cx + u ** 2 * x1
        by = (1 - u) ** 2 * y0 + 2 * (1 - u) * u * cy + u ** 2 * y1
        # Stop short of the nodes (their markers and labels).
        gap = min(0.075 / max(length, 1e-9), 0.3)
        keep = (u >= gap) & (u <= 1 - gap)
        px, py = paths[lk.sign]
        if px:
            px.append(None)
            py.append(None)
        px.extend(map(float, bx[keep]))
        py.extend(map(float, by[keep]))
        k_end = int(np.flatnonzero(keep)[-1])
        notes.append(dict(x=float(bx[k_end]), y=float(by[k_end]), ax=float(bx[k_end - 2]), ay=float(by[k_end - 2]),
                          xref="x", yref="y", axref="x", ayref="y", showarrow=True, arrowhead=2, arrowsize=1.3,
                          arrowwidth=1, arrowcolor=styles[lk.sign][1]["color"], text=""))
        # The sign sits beside the middle of the link, on the side it bends to.
        mid = len(u) // 2
        off = 0.055 / max(length, 1e-9)
        notes.append(dict(x=float(bx[mid] + off * dy), y=float(by[mid] - off * dx),
                          text=f"<b>{_SIGN_TEXT[lk.sign]}</b>", showarrow=False, font=dict(size=9), xref="x",
                          yref="y"))
    fig = go.Figure()
    for sign, (name, line) in styles.items():
        xs, ys = paths[sign]
        if xs:
            fig.add_scatter(x=xs, y=ys, mode="lines", name=name, line=line, hoverinfo="skip")
    names = loop_names(structure.loops)
    if highlight is not None:
        lp = structure.loops[int(highlight)]
        hx, hy = [], []
        for i, a in enumerate(lp.nodes):
            b = lp.nodes[(i + 1) % len(lp.nodes)]
            hx += [pos[a][0], pos[b][0], None]
            hy += [pos[a][1], pos[b][1], None]
        fig.add_scatter(x=hx, y=hy, mode="lines", name=f"dominant: {names[int(highlight)]}", hoverinfo="skip",
                        line=dict(color=PONR, width=4), opacity=0.45)
    if loop_labels:
        key = []
        for (x, y, code), i in zip(*_loop_label_points(structure.loops, names, pos)):
            boxed = highlight is not None and i == int(highlight)
            notes.append(dict(x=x, y=y, xref="x", yref="y", showarrow=False, text=f"<b>⟲{code}</b>",
                              font=dict(size=9), bgcolor="white", bordercolor=INK if boxed else "white",
                              borderwidth=1, borderpad=1))
            key.append(names[i])
        columns = 3  # the key under the circle, in columns
        rows = -(-len(key) // columns)
        for c in range(columns):
            part = sorted(key, key=_code_order)[c * rows:(c + 1) * rows]
            if part:
                notes.append(dict(xref="x", yref="y", x=-2.2 + c * 4.4 / columns, y=-1.75, xanchor="left",
                                  yanchor="top", showarrow=False, align="left", font=dict(size=8),
                                  text="<br>".join(part)))
    fig.add_scatter(x=[pos[nm][0] for nm in nodes], y=[pos[nm][1] for nm in nodes], mode="markers+text",
                    name="nodes", text=[labels.get(nm, nm) for nm in nodes], customdata=nodes,
                    textposition=[_label_position(pos[nm][0] / WIDE, pos[nm][1] / TALL) for nm in nodes],
                    textfont=dict(size=9),
                    marker=dict(color="white", size=9, symbol="circle", line=dict(color=INK, width=1.5)),
                    showlegend=False)
    r = sum(lp.polarity == "R" for lp in structure.loops)
    b = sum(lp.polarity == "B" for lp in structure.loops)
    u_ = sum(lp.polarity == "?" for lp in structure.loops)
    notes.append(dict(xref="paper", yref="paper", x=0, y=0, xanchor="left", yanchor="bottom", showarrow=False,
                      align="left", font=dict(size=9),
                      text=f"{len(structure.links)} links, {len(structure.loops)} feedback loops:<br>"
                           f"{r} reinforcing, {b} balancing" + (f", {u_} of mixed sign" if u_ else "")))
    fig.update_layout(annotations=notes, hovermode="closest",
                      legend=dict(orientation="h", y=-0.02, x=1, xanchor="right", yanchor="top",
                                  entrywidthmode="fraction", entrywidth=0.2),
                      xaxis=dict(visible=False, range=[-2.25, 2.25]),
                      yaxis=dict(visible=False, range=[-2.4 if loop_labels else -1.6, 1.55], scaleanchor="x",
                                 scaleratio=1))
    return fig


_SIGN_TEXT = {"+": "+", "-": "−", "±": "±"}
#: Radii of the causal-loop diagram's ellipse of nodes (the page is taller than the labels
#: let the diagram be wide).
WIDE, TALL = 1.15, 1.3


def circle_order(nodes, edges) -> list:
    """Order of ``nodes`` around a circle that keeps linked nodes close.

    Starts from the given order and swaps pairs of positions while a swap shortens the
    total chord length of the ``edges`` (pairs of node names); deterministic. Only the
    drawing depends on it: the links are the same in any order.
    """
    order = list(nodes)
    n = len(order)
    angle = 2 * np.pi * np.arange(n) / n
    chord = np.abs(2 * np.sin((angle[:, None] - angle[None, :]) / 2))
    idx = {name: i for i, name in enumerate(order)}
    pairs = [(idx[a], idx[b]) for a, b in edges if a in idx and b in idx and a != b]
    place = np.arange(n)  # place[node] = position

    def total():
        return sum(chord[place[a], place[b]] for a, b in pairs)

    best = total()
    improved = True
    while improved:
        improved = False
        for i in range(n):
            for j in range(i + 1, n):
                place[[i, j]] = place[[j, i]]
                value = total()
                if value < best - 1e-12:
                    best, improved = value, True
                else:
                    place[[i, j]] = place[[j, i]]
    return [order[k] for k in np.argsort(place)]


def _label_position(x: float, y: float) -> str:
    """Place a node's label outside the circle."""
    vertical = "top" if y > 0.3 else ("bottom" if y < -0.3 else "middle")
    horizontal = "right" if x > 0.15 else ("left" if x < -0.15 else "center")
    if vertical == "middle" and horizontal == "center":
        return "top center"
    return f"{vertical} {horizontal}"


def _code_order(name: str):
    """R before B before U, then by number (``R2`` before ``R10``)."""
    code = name.split(" ")[0]
    digits = "".join(ch for ch in code if ch.isdigit())
    return ("RBU".index(code[0]), int(digits or 0), code)


def _loop_label_points(loops, names, pos):
    """Where the main loops' codes go: one loop per code without a door suffix (``R1``,
    not ``R1c``), at the mean of its nodes' positions drawn 45% of the way to the circle's
    centre (the loops all pass near the platform share), then pushed apart until no two
    are closer than 0.3 (a label's width)."""
    picked = [i for i, name in enumerate(names) if not name.split(" ")[0].endswith(("c", "a", "b"))
              and name.split(" ")[0][1:].isdigit() and int(name.split(" ")[0][1:]) <= 20]
    pts = np.array([np.mean([pos[n] for n in loops[i].nodes], axis=0) * 0.55 for i in picked]).reshape(-1, 2)
    for _ in range(200):  # deterministic repulsion
        moved = False
        for a in range(len(pts)):
            for b in range(a + 1, len(pts)):
                d = pts[b] - pts[a]
                dist = float(np.hypot(*d))
                if dist < 0.3:
                    step = (d / dist if dist > 1e-9 else np.array([1.0, 0.0])) * (0.3 - dist) / 2
                    pts[a] -= step
                    pts[b] += step
                    moved = True
        if not moved:
            break
    return [(float(x), float(y), names[i].split(" ")[0]) for (x, y), i in zip(pts, picked)], picked


def node_label_boxes(fig: go.Figure) -> dict:
    """Pixel boxes (x0, y0, x1, y1) of the causal-loop diagram's node labels at the figure's
    layout size, estimated from the text (0.65 em a character, what the book's serif takes, 1.25 em a line) and its
    position beside the marker: for checking that no two overlap.

    The axes keep x and y at one scale (``scaleanchor``), so a data unit is the smaller of
    the plot area's width and height over its range in pixels.
    """
    import re

    lay = fig.layout
    m = lay.margin
    w = (lay.width or 700) - (m.l or 0) - (m.r or 0)
    h = (lay.height or 450) - (m.t or 0) - (m.b or 0)
    xr, yr = lay.xaxis.range, lay.yaxis.range
    unit = min(w / (xr[1] - xr[0]), h / (yr[1] - yr[0]))
    cx, cy = (xr[0] + xr[1]) / 2, (yr[0] + yr[1]) / 2
    trace = next(t for t in fig.data if t.name == "nodes")
    size = trace.textfont.size or 12
    marker = (trace.marker.size or 6) / 2 + 2
    out = {}
    for x, y, text, position, name in zip(trace.x, trace.y, trace.text, trace.textposition, trace.customdata):
        plain = re.sub(r"<sub>(.*?)</sub>", r"\1", text)
        plain = re.sub(r"<[^>]+>", "", plain)
        width, height = 0.65 * size * len(plain), 1.25 * size
        px, py = w / 2 + (x - cx) * unit, h / 2 - (y - cy) * unit  # y down
        vertical, _, horizontal = position.partition(" ")
        x0 = {"left": px - marker - width, "right": px + marker, "center": px - width / 2}[horizontal]
        y0 = {"top": py - marker - height, "bottom": py + marker, "middle": py - height / 2}[vertical]
        out[name] = (x0, y0, x0 + width, y0 + height)
    return out


def loop_dominance(scores, *, top: int = 5, start_year: float | None = None, ponr_time: float | None = None,
                   at_time: float | None = None) -> go.Figure:
    """Stacked loop dominance over a run: each loop's absolute relative LTM score (they sum
    to 1 at each time), the ``top`` loops by their mean share, the rest as "other loops".

    Parameters
    ----------
    scores : LoopScores
        From :func:`model.analysis.loops.loop_scores`.
    top : int
    start_year : float, optional
        Calendar year of t = 0 (time axis in calendar years).
    ponr_time, at_time : float, optional
        The point of no return, and a chosen time, marked by vertical lines.

    Returns
    -------
    plotly.graph_objects.Figure
        One filled trace per loop shown (named by the loop), stacked to 1.
    """
    rel = np.abs(np.asarray(scores.relative, dtype=float))
    ok = np.all(np.isfinite(rel), axis=0)
    mean = np.nanmean(np.where(ok, rel, np.nan), axis=1) if ok.any() else np.zeros(rel.shape[0])
    order = [int(i) for i in np.argsort(-np.nan_to_num(mean))[: int(top)]]
    rest = [i for i in range(rel.shape[0]) if i not in order]
    t = np.asarray(scores.t, dtype=float)
    grays = ["#1a1a1a", "#555555", "#8c8c8c", "#b3b3b3", "#d9d9d9", "#efefef"]
    fig = go.Figure()
    series = [(scores.names[i], rel[i]) for i in order]
    if rest:
        series.append(("other loops", rel[rest].sum(axis=0)))
    for k, (name, y) in enumerate(series):
        fig.add_scatter(x=t, y=np.where(ok, y, np.nan), mode="lines", name=name, stackgroup="loops",
                        line=dict(width=0.5, color=INK), fillcolor=grays[k % len(grays)], hovertemplate="%{y:.2f}")
    for when, label, dash in ((ponr_time, "point of no return", "dash"), (at_time, "chosen year", "dot")):
        if when is not None and np.isfinite(when):
            fig.add_vline(x=float(when), line=dict(color=PONR, width=1.5, dash=dash),
                          annotation=dict(text=label, font=dict(size=9)), annotation_position="top")
    fig.update_yaxes(title=dict(text="share of loop dominance"), range=[0, 1])
    fig.update_xaxes(title=dict(text="years"))
    calendar_axis(fig, start_year, float(t[-1]))
    fig.update_layout(legend=dict(orientation="h", y=-0.3, yanchor="top", entrywidthmode="fraction", entrywidth=0.5,
                                  traceorder="reversed"), hovermode="x unified")
    return fig


# --- static export ----------------------------------------------------------------------

#: kaleido's sync server is one browser shared by every caller; its queue hands results
#: back in order, so two threads (two dashboard sessions) must not interleave.
_EXPORT_LOCK = threading.Lock()
_server_running = False


def start_export_server() -> None:
    """Keep one Chromium running for :func:`figure_bytes` (first export ~3 s, then ~0.2 s).

    Idempotent. kaleido stops it at interpreter exit; :func:`stop_export_server` stops
    it earlier. MathJax is off: labels use Unicode symbols, and its CDN is not reachable
    offline.
    """
    import kaleido

    global _server_running
    with _EXPORT_LOCK:
        kaleido.start_sync_server(mathjax=False, silence_warnings=True)
        _server_running = True


def stop_export_server() -> None:
    """Stop the browser started by :func:`start_export_server` (no-op if none)."""
    import kaleido

    global _server_running
    with _EXPORT_LOCK:
        kaleido.stop_sync_server(silence_warnings=True)
        _server_running = False


def figure_bytes(fig: go.Figure, fmt: str, *, width: int = 1000, height: int | None = None,
                 scale: float = 2.0, template: Any = "plotly_white") -> bytes:
    """The figure as a static PNG, SVG or PDF file, rendered by kaleido (Chromium).

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
    fmt : {"png", "svg", "pdf"}
    width, height : int
        Size in CSS pixels; the height defaults to the figure's own or 520.
    scale : float
        Pixel density of PNG files.
    template : str or plotly template
        Applied before rendering (default plotly's white one; the book has its own,
        :data:`model.publish.book.BOOK_TEMPLATE`).

    Raises
    ------
    ValueError
        For an unknown format.
    RuntimeError
        If no Chrome/Chromium is installed (kaleido's message says what to install).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"`fmt` must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    import kaleido

    # The page leaves the styling to Streamlit's theme; a file gets plotly's white template.
    spec = go.Figure(fig).update_layout(template=template).to_dict()
    height = height or spec.get("layout", {}).get("height") or 520
    opts = dict(format=fmt, width=int(width), height=int(height), scale=float(scale))
    with _EXPORT_LOCK:
        if _server_running:
            # The shared browser's options were fixed when it started (passing them again
            # only makes kaleido warn).
            return kaleido.calc_fig_sync(spec, opts=opts)
        # A one-shot browser, without MathJax (its CDN is not reachable offline).
        return kaleido.calc_fig_sync(spec, opts=opts, kopts={"mathjax": False})
