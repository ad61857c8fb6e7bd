"""Highland Park vs. trust platforms: the dashboard.

A thin layer: widgets -> :class:`model.Parameters` -> cached :func:`model.core.simulate` (and
the tipping analysis) -> figures from :mod:`model.publish.figures`. Run it with ``make app``.

The page's full state (sector, every parameter that differs from the sector's value,
the switches) lives in the URL's query parameters, so a copied link opens the same view.
Query values are parsed with :func:`model.core.parameters.coerce` and uploaded scenarios with
:func:`model.evidence.scenarios.parse_scenario`: nothing from a user is evaluated as code.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import json
import math
import re
import string
import tomllib
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import pandas as pd
import streamlit as st

from model.analysis.tipping import basin, break_even_loss, continuation, point_of_no_return_by_engine
from model.analysis.valuation import value
from model.core.parameters import GROUPS, PARAMETER_SPECS, Parameters, coerce, numeric_names
from model.core.simulate import ENGINE, SERIES_UNITS, simulate
from model.evidence.calibrate import parse_calibration_csv
from model.evidence.scenarios import MAX_SCENARIO_BYTES, Scenario, load_scenario, parse_scenario, scenario_to_toml
from model.publish import book, figures
from model.publish.plotly_js import PLOTLY_JS, ensure_full_bundle
from model.studies import claims
from model.studies.fan import sector_fan
from model.studies.verdict import (
    QUICK_CLAIM_DRAWS,
    QUICK_CRITICAL_MASS_DRAWS,
    QUICK_DRAWS,
    READING_LABELS,
    READINGS,
    VERDICT_RULES,
    claim_comparisons,
    claim_words,
    sector_verdict,
)
from model.studies.verdict import Interval
from model.studies.verdict_report import READING_COLUMNS, _iv, fate_sentence, reading_rows

SCENARIOS = Path(__file__).resolve().with_name("scenarios")
ROOT = SCENARIOS.parent
#: The committed verdict of every sector (``python -m model verdict``; see its README): the
#: answer at the top of the page without minutes of Monte Carlo on a first visit.
VERDICT_RESULTS = ROOT / "results" / "verdict"
#: The calibration recipes: which sector file was fitted to which data.
CALIBRATIONS = ROOT / "data" / "calibrations.toml"
#: Draws of the fan chart: the verdict's first draws of the file's ranges (seed 0), run to
#: the horizon on the engine (one firm: about 0.1 s; eight firms: about 2 s, cached).
FAN_DRAWS = 400
DEFAULT_SECTOR = "baseline"
#: The first parameter offered by the continuation view: the platform's value advantage.
DEFAULT_CONTINUATION = "platform_quality"
GROUP_TITLES = {"demand": "Demand", "platform": "Platform", "trust": "Trust", "incumbent": "Incumbent",
                "firms": "Firms (a sector of several incumbents)", "switches": "Model switches", "readings": "How the result is read", "simulation": "Simulation"}
SWITCH_LABELS = {
    "network_effect": {"trust": "trust network effect", "standard": "standard network effect"},
    "price_policy": {"average_cost": "average-cost pricing", "two_part": "two-part tariff",
                     "fixed": "fixed price"},
}
#: Largest sector of firms the page runs: the engine's kernel for 16 firms takes over ten
#: minutes and several GB to compile the first time (measured), too long for a page.
MAX_PAGE_FIRMS = 8
#: Keys of the page's own widgets (everything else in the URL must be a parameter).
SECTOR_KEY, UPLOAD_KEY = "sector", "upload"
#: The run's views under its main chart, one open at a time (lazy tabs): only the open view
#: is computed and sent, so a slider move redraws the main chart and one view, not fifteen
#: charts (the page's redraw was 1.5 s with every view drawn). Key in the URL -> tab label.
VIEW_KEY = "view"
VIEWS = {
    "trust": "Trust and cash",
    "series": "Any variable",
    "data": "Data beside the run",
    "value": "Market value",
    "firms": "Firm by firm",
    "loops": "Feedback loops",
    "tipping": "Tipping view",
    "network": "Network test",
    "claims": "The essays' claims",
}
#: Query parameters that Streamlit itself reads (embedding options): not ours to judge.
STREAMLIT_QUERY_KEYS = ("embed", "embed_options")

#: Every ASCII punctuation character; CommonMark lets each be backslash-escaped.
_MARKDOWN_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")


def plain(text) -> str:
    """``text`` from a user (a link's values, an uploaded file's name or contents) made
    safe for a Markdown element (st.warning, st.error, st.caption, ...): every ASCII
    punctuation character is backslash-escaped and line breaks become spaces, so no link,
    autolink, image, HTML, heading, emphasis or ``:color[...]`` directive can start in it;
    it shows exactly as typed."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", " ".join(str(text).splitlines()))


# --- cached model calls (keyed on the frozen, hashable Parameters) -------------------------

def parameters_key(params: Parameters) -> str:
    """A cache key of ``params``: the exact text of every field (``repr`` of a float reads
    back to the same float, so two settings share a key only if they are equal). Streamlit's
    own hasher walks the dataclass field by field: 3-4 ms per call, ten calls per rerun."""
    return repr(tuple(getattr(params, f.name) for f in dataclasses.fields(params)))


#: ``hash_funcs`` of every cached function that takes Parameters.
FAST_KEYS = {Parameters: parameters_key}

def method_for(params: Parameters) -> str:
    """A sector of several firms runs on the compiled engine (the same exits as solve_ivp, to
    the solvers' tolerance, several times faster); one firm on LSODA."""
    return ENGINE if params.firm_count > 1 else "LSODA"


@st.cache_data(show_spinner=False, hash_funcs=FAST_KEYS, max_entries=512)
def run_model(params: Parameters):
    return simulate(params, method=method_for(params))


@st.cache_data(show_spinner=False, hash_funcs=FAST_KEYS, max_entries=256)
def run_ponr(params: Parameters):
    # On the engine: the same definition and bisection as model.analysis.tipping's
    # point_of_no_return with solve_ivp (tests/test_app.py checks that they agree), all its
    # runs compiled: about 10 ms instead of 50-200 ms after each slider move.
    return point_of_no_return_by_engine(params)


@st.cache_data(show_spinner=False, max_entries=32)
def run_fan(toml_text: bytes, origin: str):
    """The fan of the sector file whose text is ``toml_text`` (model.studies.fan): its
    verdict's draws run to the horizon on the engine, which gives every run's trajectory at
    shared output times in one compiled call."""
    return sector_fan(parse_scenario(toml_text, origin), draws=FAN_DRAWS, seed=0, key=Path(origin).stem)


@st.cache_resource(show_spinner=False, max_entries=32)
def fan_figure(toml_text: bytes, origin: str, start_year: float | None):
    """The fan of the sector file whose text is ``toml_text``, with the file's own run on it:
    the same figure on every rerun, so the browser does not redraw it (shared: never
    mutated)."""
    fan = run_fan(toml_text, origin)
    scenario = parse_scenario(toml_text, origin)
    own = run_model(scenario.params)
    t_end = float(own.t[-1]) if own.t.size else float(scenario.params.horizon)
    return shared(figures.calendar_axis(
        figures.fan_chart(fan, current=own if own.success else None, current_name="the sector file's run"),
        start_year, max(t_end, float(fan.t[-1]))))


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@st.cache_data(show_spinner=False)
def committed_verdict(mtime: float):
    """(sector rows of results/verdict/verdict.csv by sector, the source: draws, seed and the
    sha256 of each sector file it was computed from), or why it cannot be read."""
    try:
        rows = book.verdict_sector_rows(VERDICT_RESULTS / "verdict.csv")
        source = json.loads((VERDICT_RESULTS / "source.json").read_text(encoding="utf-8"))
    except (ValueError, OSError, KeyError) as e:
        return f"{shown_path(str(VERDICT_RESULTS))}: {e}"
    return {r["sector"]: r for r in rows}, source


def committed_mtime() -> float | None:
    try:
        return (VERDICT_RESULTS / "verdict.csv").stat().st_mtime
    except OSError:
        return None


def read_committed_verdict():
    mtime = committed_mtime()
    if mtime is None:
        return (f"no committed verdict ({shown_path(str(VERDICT_RESULTS / 'verdict.csv'))}): run "
                "`python -m model verdict --out results/verdict`")
    return committed_verdict(mtime)


@st.cache_resource(show_spinner=False, max_entries=32)
def verdict_figure(mtime: float, current: str | None):
    """The verdict figure of every sector (the same for every rerun: built once, ~25 ms, and
    shared; nothing downstream changes a figure it is given)."""
    rows, _ = committed_verdict(mtime)
    return shared(figures.verdict_chart(list(rows.values()), current=current))


@st.cache_data(show_spinner=False)
def calibration_recipes(mtime: float) -> dict[str, str]:
    """Sector stem -> its calibration data file (repository path), for the file the recipe
    fitted and for the calibrated file it wrote (``<stem>_calibrated``)."""
    with CALIBRATIONS.open("rb") as f:
        recipes = tomllib.load(f).get("calibration", [])
    out = {}
    for r in recipes:
        stem = Path(r["scenario"]).stem
        out[stem] = out[f"{stem}_calibrated"] = r["data"]
    return out


@st.cache_data(show_spinner=False, hash_funcs=FAST_KEYS, max_entries=64)
def run_calibration_panels(params: Parameters, data_path: str, start_year: float):
    """The calibration data against the run of ``params`` (book.calibration_panels), and the
    data's hold-out year."""
    path = ROOT / data_path
    data = parse_calibration_csv(path.read_text(encoding="utf-8"), data_path)
    return book.calibration_panels(params, data, start_year), data.holdout_from


#: The dashboard's verdict: a quick one (model.studies.verdict.QUICK_DRAWS, seed 0).
DASHBOARD_VERDICT_DRAWS = QUICK_DRAWS
DASHBOARD_CLAIM_DRAWS = QUICK_CLAIM_DRAWS
DASHBOARD_CRITICAL_MASS_DRAWS = QUICK_CRITICAL_MASS_DRAWS


@st.cache_data(show_spinner=False, max_entries=32)
def run_sector_verdict(toml_text: bytes, origin: str):
    """The verdict (model.studies.verdict, the one assessment) of the sector file whose text
    is ``toml_text``, and its paired claim tests."""
    scenario = parse_scenario(toml_text, origin)
    key = Path(origin).stem
    v = sector_verdict(scenario, draws=DASHBOARD_VERDICT_DRAWS, seed=0, key=key,
                       critical_mass_draws=DASHBOARD_CRITICAL_MASS_DRAWS)
    return v, claim_comparisons(v, claim_draws=DASHBOARD_CLAIM_DRAWS)


@st.cache_data(show_spinner=False, hash_funcs=FAST_KEYS, max_entries=64)
def run_continuation(params: Parameters, name: str, lo: float, hi: float):
    return continuation(params, name, lo, hi)


#: Grid of the basin map per axis: the separatrix is found by bisection between grid
#: cells (to 1e-3 of each range), so a coarse grid keeps the boundary sharp and the map
#: fast (15 x 15 runs: about 1.5 s; 21 x 21: about 3 s).
BASIN_GRID = 15


@st.cache_data(show_spinner=False, hash_funcs=FAST_KEYS, max_entries=64)
def run_basin(params: Parameters):
    return basin(params, n=BASIN_GRID)


@st.cache_data(show_spinner=False, hash_funcs=FAST_KEYS, max_entries=128)
def run_csv(params: Parameters) -> bytes:
    """The run as CSV, each column headed ``name [unit]`` (units of model.core.simulate.SERIES_UNITS)."""
    columns = run_model(params).columns()
    named = {f"{k} [{SERIES_UNITS.get(k, '?')}]": v for k, v in columns.items()}
    return pd.DataFrame(named).to_csv(index=False).encode("utf-8")


@st.cache_data(show_spinner=False)
def read_sector(path: str, mtime: float) -> Scenario | str:
    """The scenario in ``path``, or the error message (``mtime`` refreshes the cache)."""
    try:
        return load_scenario(path)
    except ValueError as e:
        return str(e)


def sector_files() -> dict[str, Path]:
    """Scenario files by stem, the default sector first."""
    files = {p.stem: p for p in sorted(SCENARIOS.glob("*.toml"))}
    if DEFAULT_SECTOR in files:
        files = {DEFAULT_SECTOR: files[DEFAULT_SECTOR], **files}
    return files


def load_sector(stem: str) -> Scenario | str:
    path = sector_files().get(stem)
    if path is None:
        return f"no scenario file {stem!r} in {SCENARIOS}"
    try:
        mtime = path.stat().st_mtime
    except OSError as e:
        return f"{path}: {e.strerror}"
    return read_sector(str(path), mtime)


# --- widget state ----------------------------------------------------------------------------

def slider_step(name: str, value: float | None = None) -> float:
    """A round step (1, 2 or 5 x 10^k) giving about 100 stops and resolving the default, and
    finer where needed so that ``value`` (the sector's) lies on the slider's grid and can be
    chosen again after moving away from it."""
    s = PARAMETER_SPECS[name]
    lo, hi = s.bounds
    target = (hi - lo) / 100
    if s.default and s.default > 0:
        target = min(target, s.default / 5)
    k = math.floor(math.log10(target))
    step = 10.0 ** k
    for m in (5, 2, 1):
        if m * 10 ** k <= target:
            step = float(round(m * 10.0 ** k, 12))
            break
    if value is None:
        return step
    finest = (hi - lo) / 1e6
    while not _on_grid(value, lo, step) and step > finest:
        step = next((c for c in (step / 2, step / 5, step / 10) if _on_grid(value, lo, c)), step / 10)
        step = float(f"{step:.12g}")
    return step


def _on_grid(value: float, lo: float, step: float) -> bool:
    k = (value - lo) / step
    return abs(k - round(k)) < 1e-6


def slider_format(step: float) -> str:
    return f"%.{max(0, -math.floor(math.log10(step)))}f"


def widget_label(name: str) -> str:
    s = PARAMETER_SPECS[name]
    unit = f", {s.unit}" if s.unit and s.unit != "1" and not s.is_switch else ""
    return f"{name.replace('_', ' ')} ({s.symbol}{unit})"


def set_widgets(params: Parameters) -> None:
    """Put every parameter of ``params`` into its widget (before the widgets are drawn)."""
    for name in PARAMETER_SPECS:
        st.session_state[name] = getattr(params, name)


def current_base() -> Scenario | str:
    """The scenario the widgets start from: an uploaded one, else the chosen sector file."""
    uploaded = st.session_state.get("_uploaded")
    return uploaded if uploaded is not None else load_sector(st.session_state[SECTOR_KEY])


def on_sector_change() -> None:
    # Saved runs are changes to one sector's file: another sector starts a new list.
    st.session_state["_saved_runs"] = {}
    st.session_state["_uploaded"] = None
    st.session_state["_upload_error"] = None
    base = load_sector(st.session_state[SECTOR_KEY])
    if isinstance(base, Scenario):
        set_widgets(base.params)


def on_reset() -> None:
    base = current_base()
    if isinstance(base, Scenario):
        set_widgets(base.params)


def on_upload() -> None:
    """Validate an uploaded scenario; on success its values replace the widgets'."""
    f = st.session_state.get(UPLOAD_KEY)
    st.session_state["_upload_error"] = None
    if f is None:  # upload removed: back to the sector file
        st.session_state["_uploaded"] = None
        on_reset()
        return
    if f.size > MAX_SCENARIO_BYTES:  # refuse before reading it
        st.session_state["_upload_error"] = (f"{f.name}: file is {f.size:,} bytes; a scenario file may have "
                                             f"at most {MAX_SCENARIO_BYTES:,}")
        return
    try:
        scenario = parse_scenario(f.getvalue(), origin=f.name)
    except ValueError as e:
        st.session_state["_upload_error"] = str(e)
        return
    st.session_state["_uploaded"] = scenario
    st.session_state["_uploaded_text"] = bytes(f.getvalue())  # what the verdict reads, exactly
    set_widgets(scenario.params)


def parse_query_value(name: str, text: str):
    """A parameter value from the URL: parsed, never evaluated; ValueError if not allowed."""
    value = coerce(name, text)
    s = PARAMETER_SPECS[name]
    if not s.is_switch:
        lo, hi = s.bounds
        if not (math.isfinite(value) and lo <= value <= hi):
            raise ValueError(f"`{name}` must be in [{lo:g}, {hi:g}], got {text!r}")
    return value


def init_session(files: dict[str, Path]) -> None:
    """First run of a session: the sector and parameters from the URL's query parameters."""
    query = {k: st.query_params[k] for k in st.query_params if k not in STREAMLIT_QUERY_KEYS}
    notes = []
    stem = query.pop(SECTOR_KEY, None)
    if stem is not None and stem not in files:
        notes.append(f"unknown sector {stem!r} in the link; showing {next(iter(files))!r}")
    if stem not in files:
        stem = next(iter(files))
    st.session_state[SECTOR_KEY] = stem
    st.session_state["_uploaded"] = None
    st.session_state["_upload_error"] = None
    base = load_sector(stem)
    set_widgets(base.params if isinstance(base, Scenario) else Parameters())
    runs = {}
    for key in [k for k in query if k.startswith(RUN_PREFIX)]:
        values, run_notes = parse_run_query(key[len(RUN_PREFIX):], query.pop(key), base.params if isinstance(
            base, Scenario) else Parameters())
        notes += run_notes
        if values is not None and len(runs) < MAX_SAVED_RUNS:
            runs[key[len(RUN_PREFIX):]] = values
    st.session_state["_saved_runs"] = runs
    view = query.pop(VIEW_KEY, None)
    if view is not None:
        if view in VIEWS:
            st.session_state[VIEW_KEY] = VIEWS[view]
        else:
            notes.append(f"unknown view {view!r} in the link; the views are {', '.join(VIEWS)}")
    for key, text in query.items():
        if key not in PARAMETER_SPECS:
            notes.append(f"unknown setting {key!r} in the link (ignored)")
            continue
        try:
            st.session_state[key] = parse_query_value(key, text)
        except ValueError as e:
            notes.append(f"{e} (ignored)")
    st.session_state["_url_notes"] = notes
    st.session_state["_initialised"] = True


def query_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float
    return str(value)


def page_query(values: dict, base: Scenario | str) -> dict[str, str]:
    """Sector plus every value that differs from the scenario the page starts from."""
    reference = base.params if isinstance(base, Scenario) else Parameters()
    if st.session_state.get("_uploaded") is not None:
        # An upload cannot travel in a link: its values go as changes to the sector file.
        sector = load_sector(st.session_state[SECTOR_KEY])
        reference = sector.params if isinstance(sector, Scenario) else Parameters()
    query = {SECTOR_KEY: st.session_state[SECTOR_KEY]}
    query.update({k: st.query_params[k] for k in STREAMLIT_QUERY_KEYS if k in st.query_params})
    for name, value in values.items():
        if value != getattr(reference, name):
            query[name] = query_text(value)
    for name, run in saved_runs().items():
        query[RUN_PREFIX + name] = run_query(run, reference)
    view = next((k for k, label in VIEWS.items() if label == st.session_state.get(VIEW_KEY)), None)
    if view is not None and view != next(iter(VIEWS)):
        query[VIEW_KEY] = view
    return query


# --- page sections ---------------------------------------------------------------------------

def controls(files: dict[str, Path]) -> None:
    """Sidebar: sector, upload, reset, and one widget per parameter, grouped."""
    st.sidebar.header("Sector")

    def sector_label(stem):
        scenario = load_sector(stem)
        return f"{scenario.name} ({stem})" if isinstance(scenario, Scenario) else f"{stem} (invalid file)"

    st.sidebar.selectbox("Sector", list(files), key=SECTOR_KEY, format_func=sector_label,
                         on_change=on_sector_change, help="One scenario file per sector in scenarios/.")
    st.sidebar.file_uploader(
        "Or upload a scenario file (TOML)", type=["toml"], key=UPLOAD_KEY, on_change=on_upload,
        max_upload_size=1, help=f"Same format as scenarios/*.toml; at most {MAX_SCENARIO_BYTES // 1024} kB. "
        "It is parsed and validated, never run.")
    if st.session_state.get("_upload_error"):
        st.sidebar.error(f"Upload refused: {plain(st.session_state['_upload_error'])}")
    elif st.session_state.get("_uploaded") is not None:
        st.sidebar.success(f"Using the uploaded scenario {plain(repr(st.session_state['_uploaded'].name))}.")
    st.sidebar.button("Reset to the sector's values", key="reset", on_click=on_reset,
                      help="Every slider and switch back to the sector's (or upload's) values.")
    base = current_base()
    asked = st.session_state.pop("_firms_asked", None)
    if asked is not None:
        st.sidebar.warning(f"{asked} firms run from the command line only (its "
                           f"compiled model takes many minutes to build the first time); this page shows "
                           f"{MAX_PAGE_FIRMS}.")
    for group in GROUPS:
        names = [n for n, s in PARAMETER_SPECS.items() if s.group == group]
        if not names:
            continue
        # A closed group draws nothing (its values are kept by keep_parameter_state): the
        # page's reruns send the sliders of the open groups only.
        box = st.sidebar.expander(GROUP_TITLES.get(group, group), expanded=group in OPEN_GROUPS,
                                  key=f"{GROUP_KEY_PREFIX}{group}", on_change="rerun")
        if not box.open:
            if isinstance(base, Scenario):
                left = [n for n in names if not PARAMETER_SPECS[n].is_switch
                        and moved(getattr(base.params, n), st.session_state.get(n), slider_step(n, getattr(base.params, n)))]
                left += [n for n in names if PARAMETER_SPECS[n].is_switch
                         and st.session_state.get(n) != getattr(base.params, n)]
                if left:
                    st.sidebar.caption("◆ moved in this closed group: " + ", ".join(n.replace("_", " ") for n in left))
            continue
        with box:
            for name in names:
                s = PARAMETER_SPECS[name]
                if s.is_switch and isinstance(s.default, bool):
                    st.toggle(widget_label(name), key=name, help=s.meaning)
                elif s.is_switch:
                    labels = SWITCH_LABELS.get(name, {})
                    choices = s.choices
                    if name == "firm_count":
                        choices = tuple(c for c in choices if c <= MAX_PAGE_FIRMS)
                    st.selectbox(widget_label(name), choices, key=name, help=s.meaning,
                                 format_func=lambda c, labels=labels: labels.get(c, str(c)))
                else:
                    own = getattr(base.params, name) if isinstance(base, Scenario) else None
                    step = slider_step(name, own)
                    # The value comes from the session state (set from the sector, the link or the
                    # user); ``value`` is only the slider's shape. Without it Streamlit copies the
                    # whole session state per slider to learn that it is not a range slider: 54
                    # copies per rerun, half the sidebar's time.
                    st.slider(widget_label(name), min_value=float(s.bounds[0]), max_value=float(s.bounds[1]),
                              value=float(s.bounds[0]), step=step, format=slider_format(step), key=name,
                              help=s.meaning + ("" if own is None else f"\n\n**The sector's value: {own:g}** "
                                                f"({plain(base.sources.get(name, 'model default'))})"))
                    # Marked once moved: an unmoved slider stands at the sector's value (its help
                    # says so with the source). Fifty-four captions on every rerun cost the page
                    # a fifth of its messages.
                    if own is not None and moved(own, st.session_state.get(name), step):
                        st.caption(sector_mark(own, st.session_state.get(name), step))


def moved(own: float, now, step: float) -> bool:
    """Whether a slider has left the sector's value (by more than rounding)."""
    return now is not None and abs(float(now) - float(own)) > step * 1e-6


#: Parameter groups open on a first visit; each group's expander is keyed group_<name>.
OPEN_GROUPS, GROUP_KEY_PREFIX = ("platform", "incumbent"), "group_"


def keep_parameter_state() -> None:
    """Keep every parameter's value across reruns in which its slider is not drawn (a
    closed group): Streamlit drops the state of a widget that a run does not draw, and a
    key written back before its widget keeps it. Also bring a sector of more firms than the
    page runs down to the page's largest (said in the sidebar)."""
    for name in PARAMETER_SPECS:
        if name in st.session_state:
            st.session_state[name] = st.session_state[name]
    firms = st.session_state.get("firm_count")
    if firms is not None and firms > MAX_PAGE_FIRMS:
        st.session_state["_firms_asked"] = firms
        st.session_state["firm_count"] = MAX_PAGE_FIRMS


def sector_mark(own: float, now, step: float) -> str:
    """The mark under a moved slider: the sector's value, and where the slider is now (a
    slider cannot carry a tick of its own)."""
    fmt = slider_format(step)
    mark = f"◆ sector: {fmt % own}"
    if moved(own, now, step):
        mark += f" · now {fmt % now} (moved)"
    return mark


def tick_labels_unmeasured(fig):
    """``fig`` with its tick labels allowed past the chart's div (the margins leave them room).

    Plotly's default ("hide past div") measures every tick label's box on every draw, forcing
    the page's layout each time: measured, a tenth of the browser's work per slider move. The
    run's time charts have it from ``model.publish.figures`` already (set in their dicts: an
    update of a built figure costs as much as building it) and the shared cached figures get
    it when built; for them this only reads."""
    if fig.layout.xaxis.ticklabeloverflow is None:
        fig.update_xaxes(ticklabeloverflow="allow").update_yaxes(ticklabeloverflow="allow")
    return fig


# plotly.js for the page is PLOTLY_JS (model.publish.plotly_js): the cartesian bundle of
# plotly.py's plotly.js version, put into ``static/`` by ``make``, or plotly.py's full bundle
# if it is missing. Served by Streamlit's static serving (``/app/static/``), loaded once per page.

#: Charts drawn before the others waiting with them (the run's main chart).
FIRST_CHARTS = ("share_and_loss",)
#: The page's chart element, in the page's DOM (no iframe). Streamlit's own plotly element
#: rebuilds a changed chart (its theme applied to a JSON round trip of the figure, then a new
#: plot) and sizes it in a second render; this one hands the new figure to ``Plotly.react``,
#: which redraws only what changed, and Streamlit calls it only when a chart's bytes changed.
#: Charts are drawn one per task (the browser paints each as it is drawn, instead of all of
#: them in one task at the end), those of FIRST_CHARTS first, then in the page's order. The
#: page asks for plotly.js as its first element arrives (``plotly_loader``), while the model
#: runs, not when the first chart comes.
PLOTLY_CHART_JS = """
// Sizes are set here, not left to plotly's autosize: the chart takes its column's width (as
// Streamlit's element does) and its figure's height (450 px if it has none). plotly's
// "responsive" sizes a plot to its div, and this div's height is the plot's: it collapsed
// to 0 px on the first redraw.
const CONFIG = {displaylogo: false, responsive: false};
const HEIGHT = 450;
const FIRST = %s;
function plotly() {
  if (!window.__pagePlotly) {
    window.__pagePlotly = window.Plotly ? Promise.resolve(window.Plotly) : new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = new URL('app/static/plotly.min.js', document.baseURI).href;
      s.async = true;
      s.onload = () => resolve(window.Plotly);
      s.onerror = () => { window.__pagePlotly = null; reject(new Error('plotly.js did not load from ' + s.src)); };
      document.head.appendChild(s);
    });
  }
  return window.__pagePlotly;
}
const waiting = new Set();
let drawing = false;
function rank(gd) { const i = FIRST.indexOf(gd.__pageKey); return i < 0 ? FIRST.length : i; }
function drawNext(P) {
  const ready = [...waiting].filter(gd => gd.isConnected);
  waiting.clear();
  if (!ready.length) { drawing = false; return; }
  ready.sort((a, b) => rank(a) - rank(b) || (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1));
  const gd = ready.shift();
  ready.forEach(g => waiting.add(g));
  const text = gd.__pageText;
  gd.__drawnText = text;
  let done;
  try {
    const fig = JSON.parse(text);
    const layout = fig.layout || {};
    const width = gd.clientWidth;
    layout.width = width;
    if (layout.height === undefined) layout.height = HEIGHT;
    done = P.react(gd, fig.data, layout, CONFIG).then(() => { gd.__drawnWidth = width; });
  } catch (e) { done = Promise.reject(e); }
  Promise.resolve(done).then(() => performance.mark('chart drawn: ' + gd.__pageKey),
                             e => { gd.textContent = 'This chart could not be drawn: ' + e.message; })
    .finally(() => setTimeout(() => drawNext(P), 0));
}
export default function(component) {
  const { data, parentElement } = component;
  const box = parentElement.closest('[class*="st-key-"]');
  const key = box ? (box.className.match(/st-key-(\\S+)/) || [])[1] : undefined;
  const P = plotly();
  if (data === undefined || data === null) return;  // the loader: plotly.js asked for, nothing drawn
  let gd = parentElement.querySelector('.page-chart');
  if (!gd) {
    gd = document.createElement('div');
    gd.className = 'page-chart';
    parentElement.appendChild(gd);
    // The column's width changes with the window and when the sidebar opens or closes: the
    // plot is laid out again at the new width then, and only then.
    gd.__resized = new ResizeObserver(() => {
      const width = gd.clientWidth;
      if (window.Plotly && gd._fullLayout && gd.__drawnWidth !== undefined && width > 0 && width !== gd.__drawnWidth) {
        gd.__drawnWidth = width;
        window.Plotly.relayout(gd, {width});
      }
    });
    gd.__resized.observe(parentElement);
  }
  gd.__pageKey = key;
  gd.__pageText = typeof data === 'string' ? data : new TextDecoder().decode(data);
  // Unmounted (another view, or a rerun that ended without it): the plot goes, and so does its
  // div, so that a later mount of the same element draws afresh.
  const cleanup = () => {
    waiting.delete(gd);
    gd.__resized.disconnect();
    if (window.Plotly) window.Plotly.purge(gd);
    gd.remove();
  };
  // Streamlit calls again with the same bytes (a new array) when the element is re-sent in
  // another order of a run: the chart as drawn is kept.
  if (gd.__pageText === gd.__drawnText) { waiting.delete(gd); return cleanup; }
  waiting.add(gd);
  P.then(P => { if (!drawing) { drawing = true; setTimeout(() => drawNext(P), 0); } },
         e => { gd.textContent = 'This chart could not be drawn: ' + e.message; });
  return cleanup;
}
""" % json.dumps(list(FIRST_CHARTS))
#: The loader's CSS: the element that asks for plotly.js early takes no room on the page.
PLOTLY_LOADER_CSS = ".st-key-plotly_loader { display: none; }"
#: The page's plotly template: Streamlit's light chart theme (its fonts, greys and colours, as
#: its own chart element applies them in the browser), as plain values. Streamlit's "streamlit"
#: template holds placeholder colours that only its own chart element replaces.
PAGE_INK, PAGE_FADED, PAGE_GRID = "#31333F", "rgba(49, 51, 63, 0.6)", "#e6eaf1"
PAGE_FONT = '"Source Sans", sans-serif'
PAGE_TEMPLATE = dict(layout=dict(
    font=dict(family=PAGE_FONT, size=12, color=PAGE_FADED),
    colorway=["#0068c9", "#83c9ff", "#ff2b2b", "#ffabab", "#29b09d", "#7defa1", "#ff8700", "#ffd16a",
              "#6d3fc0", "#d5dae5"],
    paper_bgcolor="#ffffff", plot_bgcolor="#ffffff",
    title=dict(x=0, xanchor="left", font=dict(size=16, color=PAGE_INK, weight=600), pad=dict(l=4)),
    legend=dict(font=dict(color=PAGE_INK), bordercolor="rgba(0,0,0,0)", borderwidth=0, valign="top"),
    xaxis=dict(gridcolor=PAGE_GRID, zerolinecolor=PAGE_GRID, tickcolor=PAGE_GRID, showgrid=False, zeroline=False,
               automargin=True, title=dict(font=dict(size=14), standoff=16)),
    yaxis=dict(gridcolor=PAGE_GRID, zerolinecolor=PAGE_GRID, tickcolor=PAGE_GRID, automargin=True,
               ticklabelposition="outside", title=dict(font=dict(size=14), standoff=20)),
    hoverlabel=dict(bgcolor="#ffffff", bordercolor=PAGE_GRID, font=dict(family=PAGE_FONT, size=12, color=PAGE_INK)),
    margin=dict(l=0, r=0, pad=8),
))


@st.cache_resource(show_spinner=False)
def page_template() -> str:
    """Register the page's template (once per server) and return its name."""
    import plotly.io as pio

    pio.templates["dashboard"] = PAGE_TEMPLATE
    return "dashboard"


#: The chart element's name (tests read the charts by it).
CHART_COMPONENT = "hp_plotly_chart"


@st.cache_resource(show_spinner=False)
def plotly_component():
    """The chart element's mount function, registered once per server, with a plotly.js of
    plotly.py's version where the page loads it from."""
    ensure_full_bundle(PLOTLY_JS)
    return st.components.v2.component(CHART_COMPONENT, js=PLOTLY_CHART_JS, css=PLOTLY_LOADER_CSS,
                                      isolate_styles=False)


def page_json(fig) -> bytes:
    """The figure as the chart element receives it: plotly's JSON (numpy arrays as base64)."""
    import plotly.io as pio

    return pio.to_json(tick_labels_unmeasured(fig), validate=False).encode()


def shared(fig):
    """A figure cached across reruns and sessions (never mutated): serialised once, here,
    instead of on every rerun that shows it."""
    fig._page_json = page_json(fig)
    return fig


def chart(fig, key: str, caption: str | None = None) -> None:
    """One chart, how to read it, and its PNG/SVG/PDF downloads (rendered only on click)."""
    plotly_component()(key=key, data=getattr(fig, "_page_json", None) or page_json(fig))
    if caption:
        st.caption(caption)
    # One button in the page's one format (picked under "Share and download"): three buttons
    # in four columns per chart were a third of every rerun's messages.
    fmt = figure_format()
    st.download_button(f"Download {fmt.upper()}", data=functools.partial(export, fig, fmt),
                       file_name=f"{download_stem(key)}.{fmt}", mime=figures.EXPORT_FORMATS[fmt],
                       key=f"download_{key}", on_click="ignore",
                       help=f"This chart as a book figure in {fmt.upper()}, rendered by Chromium when you click "
                            "(the format of every chart's download is picked under 'Share and download').")


#: The chart downloads' format, one for the page (a widget under "Share and download").
FIGURE_FORMAT_KEY = "figure_format"


def figure_format() -> str:
    fmt = st.session_state.get(FIGURE_FORMAT_KEY)
    return fmt if fmt in figures.EXPORT_FORMATS else next(iter(figures.EXPORT_FORMATS))


def shown_path(origin: str) -> str:
    """A scenario's file as the repository names it (scenarios/x.toml), never this machine's path."""
    if not Path(origin).is_absolute():  # an upload's own name, shown as given
        return origin
    try:
        return str(Path(origin).relative_to(ROOT))
    except ValueError:
        return Path(origin).name


def settings_hash(query: dict[str, str]) -> str:
    """Eight hex digits of the page's settings (its link's query): two downloads of different
    settings never share a name, the same settings always do."""
    return hashlib.sha256(urlencode(sorted(query.items())).encode("utf-8")).hexdigest()[:8]


def download_stem(key: str) -> str:
    """``<sector>_<chart>_<settings hash>``: the file says what it shows and under which settings."""
    return f"{st.session_state.get(SECTOR_KEY, 'sector')}_{key}_{st.session_state.get('_settings_hash', 'default')}"


def export(fig, fmt: str) -> bytes:
    # A book figure: the book's template and size, grays and dashes, no title. One Chromium
    # kept for the whole server: first file ~3 s, then ~0.2 s each.
    figures.start_export_server()
    return book.book_bytes(fig, fmt)


def safe_break_even(params: Parameters, policy: str | None = None) -> float | None:
    try:
        value = break_even_loss(params, policy=policy)
    except (ValueError, ArithmeticError):
        return None
    return value if math.isfinite(value) else None


def ponr_or_message(params: Parameters):
    """The point of no return, or (None, message) when it cannot be had."""
    try:
        with st.spinner("Finding the point of no return..."):
            return run_ponr(params), None
    except Exception as e:  # noqa: BLE001 - the page must stay up; say what failed
        return None, f"The point of no return could not be computed: {type(e).__name__}: {e}"


def _names(base) -> tuple[str, str, float | None]:
    """The sector's incumbent and platform as its file names them, and its calendar start."""
    meta = getattr(base, "meta", None) or {}
    incumbent = plain(meta.get("incumbent") or "the incumbents")
    platform = plain(meta.get("platform") or "the platform")
    return incumbent, platform, getattr(base, "start_year", None)


def _when(t: float, start_year: float | None) -> str:
    """A time of the run in calendar years where the sector has them, else years from the start."""
    return f"{start_year + t:.0f}" if start_year is not None else f"year {t:.1f} of the run"


def ponr_sentence(ponr, base=None) -> str:
    """The point of no return in plain words: when, and what the platform and the incumbent
    hold then, with the sector's own names and calendar years where it has them."""
    incumbent, platform, start = _names(base)
    if ponr.outcome not in ("tips", "never_tips", "always_falls"):
        return f"The point of no return could not be computed: {getattr(ponr, 'message', '') or ponr.outcome}."
    if ponr.outcome == "never_tips":
        return f"No point of no return: {incumbent} do not fall, even in the long run."
    if ponr.outcome == "always_falls":
        return (f"{incumbent[:1].upper() + incumbent[1:]} fall even with no customers for {platform} after the "
                f"start ({ponr.share:.1%} of the gross then): the fall is not the platform's doing.")
    volume = getattr(ponr, "volume_share", None)
    frozen = getattr(ponr, "frozen_fall_time", None)
    return (f"After {_when(ponr.time, start)}, {incumbent} fall even with no further customers for {platform}"
            + (f" (they would fall in {_when(frozen, start)})" if frozen is not None else "")
            + f". By then the platform's share: {ponr.share:.1%} of the sector's gross"
            + (f" and {volume:.1%} of its customers" if volume is not None else "")
            + f"; the incumbents' loss: {ponr.gross_loss:.1%} of their gross.")


#: A survivor that has lost at least this share of its sector gross is not shown as safe.
SHRUNK_LOSS = 0.5
#: Years at the end of a run over which a still-falling buffer is looked for, and the fall
#: over them that counts (a few percent is the noise of a steady state).
BUFFER_TREND_YEARS, BUFFER_FALL = 5.0, 0.05


def survivor_caveat(result) -> str | None:
    """Why a run's survivor is not simply safe: most of its gross gone, or its cash and
    credit still falling at the end of the window (None when it fell, failed, or is fine)."""
    if not result.success or result.falls:
        return None
    loss = float(result.final("incumbent_gross_loss"))
    t, buffer = np.asarray(result.t, dtype=float), np.asarray(result["buffer"], dtype=float)
    late = t >= t[-1] - BUFFER_TREND_YEARS
    falling = bool(late.sum() >= 2 and buffer[late][-1] < (1.0 - BUFFER_FALL) * buffer[late][0])
    parts = []
    if loss >= SHRUNK_LOSS:
        parts.append(f"it has lost {loss:.1%} of its sector gross")
    if falling:
        parts.append(f"its cash and credit fell {1 - buffer[late][-1] / buffer[late][0]:.0%} in the last "
                     f"{BUFFER_TREND_YEARS:g} years and are still falling")
    if not parts:
        return None
    return "Survives the window, but not unharmed: " + " and ".join(parts) + "."


def summary(params: Parameters, result, ponr, ponr_note, be, be_now, base=None, reference=None,
            ref_ponr=None) -> None:
    sentence = figures.outcome_sentence(result)
    caveat = survivor_caveat(result)
    if caveat:
        sentence += " " + caveat
    # Surviving the window watched is not surviving: the point of no return follows the
    # incumbent to its long-run fate.
    doomed = (result.success and not result.falls and ponr is not None
              and ponr.outcome in ("tips", "always_falls"))
    if doomed:
        when = getattr(ponr, "fall_time", None)
        sentence += (" It falls after the horizon" + (f", at {when:.1f} years" if when is not None else "")
                     + ": past its point of no return it cannot recover.")
    (st.error if not result.success else st.warning if result.falls or doomed or caveat else st.success)(sentence)
    # "20% of the gross" has two readings that part ways (a cheap platform takes volume, not
    # gross): the platform's share of the sector's gross and the incumbents' loss of theirs.
    c = st.columns(5)
    # Against the sector's file once a setting differs from it (deltas; none on the file itself).
    differs = reference is not None and reference.params != params
    run_metrics(c[:4], result, ponr, reference if differs else None, ref_ponr, caveat)
    c[4].metric("Static break-even loss", "n/a" if be is None else f"{be:.1%}",
                help=(f"{params.price_policy.replace('_', '-')} pricing; at today's prices "
                      + ("n/a" if be_now is None else f"{be_now:.1%}")))
    if ponr is not None:
        ok = ponr.outcome in ("tips", "never_tips", "always_falls")
        (st.markdown if ok else st.warning)(ponr_sentence(ponr, base))
    elif ponr_note:
        st.info(ponr_note)


def compare_controls(params: Parameters, reference) -> tuple[bool, str]:
    """The compare switch and its layout, above the main chart (they hold for the views too)."""
    compare = st.toggle("Compare with the sector's values", key="compare",
                        help="The sector's (or upload's) own values against your changes.")
    layout = "overlaid"
    if compare:
        layout = st.radio("Compare", ["overlaid", "side by side"], key="compare_layout", horizontal=True,
                          label_visibility="collapsed")
        if reference.params == params:
            st.info("Nothing differs from the sector's values yet: move a slider to compare.")
    return compare, layout


def time_charts(keys, params, result, ponr, be, reference, ref_ponr, ref_be, start_year=None, saved=None,
                compare=False, layout="overlaid") -> None:
    """The run's time charts named in ``keys`` (share_and_loss, trust_and_cash), against
    the sector's values when comparing, overlaid or side by side on one time axis."""
    label = f"static break-even loss ({params.price_policy.replace('_', '-')})"
    builders = {
        "share_and_loss": lambda r, ref, p, b: figures.share_and_loss(r, break_even=b, ponr=p, reference=ref,
                                                                      break_even_label=label),
        "trust_and_cash": lambda r, ref, p, b: figures.trust_and_cash(r, reference=ref),
    }
    # Calendar years on every time axis; compared side by side, one time axis for both.
    t_end = float(result.t[-1]) if result.t.size else float(params.horizon)
    ref_end = float(reference.t[-1]) if reference.t.size else float(reference.params.horizon)
    shared = (0.0, max(t_end, ref_end))
    for key in keys:
        build = builders[key]
        if compare and layout == "side by side":
            left, right = st.columns(2)
            with left:
                st.markdown("**Sector's values**")
                chart(figures.calendar_axis(build(reference, None, ref_ponr, ref_be), start_year, ref_end,
                                            x_range=shared), f"{key}_sector")
            with right:
                st.markdown("**Your settings**")
                chart(figures.calendar_axis(build(result, None, ponr, be), start_year, t_end, x_range=shared), key)
            st.caption(figures.HOW_TO_READ[key])
        else:
            fig = build(result, reference if compare else None, ponr, be)
            if key == "share_and_loss" and saved:
                figures.add_saved_runs(fig, saved)
            chart(figures.calendar_axis(fig, start_year, max(t_end, ref_end) if compare else t_end), key,
                  figures.HOW_TO_READ[key])


def loops_panel(params: Parameters, result, ponr, start_year=None) -> None:
    """Which feedback loop dominates when (Loops That Matter on the sector's aggregate
    incumbent): the stacked loop dominance over the run, and the causal diagram with the
    loop dominant at a chosen year drawn over it."""
    from model.analysis.causal import causal_structure
    from model.analysis.loops import loop_scores

    if not st.toggle("Show which feedback loop dominates when (Loops That Matter; a few seconds the first time)",
                     key="loops", help="Link and loop scores along this run, from the model's sympy equations, on "
                                       "the sector's incumbents taken as one firm."):
        return

    @st.cache_data(show_spinner=False, hash_funcs=FAST_KEYS, max_entries=64)
    def scores_and_structure(p: Parameters):
        return loop_scores(p), causal_structure(p)

    try:
        with st.spinner("Scoring the feedback loops..."):
            scores, structure = scores_and_structure(params)
    except (ValueError, RuntimeError) as e:
        st.info(f"The loop scores could not be computed for these settings: {plain(e)}")
        return
    end = float(scores.t[-1])
    ponr_time = getattr(ponr, "time", None) if ponr is not None else None
    default = float(ponr_time) if ponr_time is not None and 0 <= ponr_time <= end else end / 2
    offset = float(start_year) if start_year is not None else 0.0
    chosen = st.slider("Year to show on the diagram", min_value=float(round(offset, 1)),
                       max_value=float(round(offset + end, 1)),
                       value=float(round(offset + default, 1)), step=0.1, key="loops_year",
                       help="The loop dominant at this year is drawn over the causal diagram.") - offset
    chosen = min(max(chosen, 0.0), end)
    chart(figures.loop_dominance(scores, start_year=start_year, ponr_time=ponr_time, at_time=chosen),
          "loop_dominance", "Each loop's share of the loop scores (they add to 1 at each time); the point of no "
                            "return dashed, the chosen year dotted.")
    i = scores.dominant_at(chosen)
    st.markdown(f"In {_when(chosen, start_year)} the dominant loop is **{plain(scores.names[i])}**."
                if i >= 0 else f"In {_when(chosen, start_year)} the loop scores are undefined (no change to share).")
    chart(figures.causal_loop(structure, highlight=i if i >= 0 else None), "causal_loop_dominant",
          "The model's causal-loop diagram (derived from its equations), the dominant loop drawn thick.")


def value_panel(result) -> None:
    """The incumbents' market value: their payouts discounted at the discount rate (a failed
    run has none: its payouts stop short)."""
    st.header("Market value of the incumbents")
    if not result.success:
        st.info("The run failed, so its payouts stop short: no market value is shown.")
        return
    v = value(result)
    if v.start <= 0:
        st.info("The incumbents pay their owners nothing in this run (no dividends, no excess cash paid out): "
                "their market value is 0. Raise the dividend payout or the excess-cash payout rate.")
        return
    c = st.columns(3)
    c[0].metric("Market value at the start", f"{v.start:.2f}", help="Years of the sector's starting gross.")
    c[1].metric("Market value at the end of the run", f"{v.end:.2f}", delta=f"{v.end / v.start - 1:+.0%} vs the start",
                help="Including, for incumbents still in the market, the payouts after the run (a perpetuity "
                     "of the last payout at its late trend).")
    c[2].metric("Value halved after", "never" if v.half_time is None else f"{v.half_time:.1f} yr",
                help=(f"{v.lead_time:.1f} years before the fall." if v.lead_time is not None
                      else "The incumbents do not fall within the run." if v.fall_time is None else None))
    chart(figures.market_value(v), "market_value", figures.HOW_TO_READ["market_value"])


def _reading(point) -> str:
    return (f"after {point['t']:.1f} years, at a platform share of gross of {point['platform_share_of_gross']:.1%}, "
            f"an incumbents' gross loss of {point['incumbent_gross_loss']:.1%} and a platform share of volume of "
            f"{point['platform_volume_share']:.1%}")


def firms_panel(result, start_year=None) -> None:
    """The sector's firms: who fails when, and the exit curve (sectors of several firms)."""
    firms = result.firms
    if firms is None:
        st.info("This run has one aggregate incumbent: raise the number of firms (Firms, in the sidebar) to see "
                "who fails when.")
        return
    st.header("The incumbents, firm by firm")
    first, half = firms.first_failure(), firms.at_exited(0.5)
    words = [f"{firms.failed} of {firms.n} firms fail within the {result.params.horizon:g}-year horizon."]
    if first is not None:
        words.append(f"The first (firm {first['firm']}) fails {_reading(first)}.")
    if half is not None:
        words.append(f"Half of the sector's incumbent capacity is gone (\"Highland Park falls\") {_reading(half)}.")
    else:
        words.append("Less than half of the sector's incumbent capacity exits: the sector does not fall.")
    last = firms.last_survivor()
    if firms.failed < firms.n and last is not None:
        words.append(f"Firm {last} (the largest survivor) is still in the market at the end.")
    st.markdown(" ".join(words))
    t_end = float(result.t[-1]) if result.t.size else float(result.params.horizon)
    chart(figures.calendar_axis(figures.firms_cash(result), start_year, t_end), "firms_cash",
          figures.HOW_TO_READ["firms_cash"])
    chart(figures.exit_curve(firms), "exit_curve", figures.HOW_TO_READ["exit_curve"])
    rows = firms.summary()["per_firm"]
    table = pd.DataFrame([{"firm": r["firm"], "size (share of customers)": r["size"],
                           "fixed-cost share": r["fixed_cost_share"], "debt service": r["debt_service"],
                           "cash": r["initial_buffer"], "credit line": r["credit_line"],
                           "exits after (yr)": r["fall_time"], "platform share of gross then": r["share_at_fall"],
                           "incumbents' gross loss then": r["gross_loss_at_fall"]} for r in rows])
    st.dataframe(table, hide_index=True, column_config={
        c: st.column_config.NumberColumn(format="%.3f") for c in table.columns if c != "firm"})


def tipping_view(params: Parameters, result, base: Scenario) -> None:
    st.header("Tipping view")
    show = st.toggle("Show the continuation diagram and the basin (a few seconds the first time)",
                     key="tipping", help="Heavy computations, cached per setting.")
    if not show:
        return
    names = [n for n in numeric_names() if n != "horizon"]
    name = st.selectbox("Parameter to vary", names, index=names.index(DEFAULT_CONTINUATION),
                        key="continuation_parameter", format_func=widget_label)
    value = float(getattr(params, name))
    lo, hi = base.ranges.get(name, PARAMETER_SPECS[name].bounds)
    lo, hi = min(lo, value), max(hi, value)
    try:
        with st.spinner(f"Following the equilibria over {name} in [{lo:g}, {hi:g}]..."):
            cont = run_continuation(params, name, float(lo), float(hi))
        chart(figures.continuation_diagram(cont, current_value=value), "continuation",
              figures.HOW_TO_READ["continuation"])
    except Exception as e:  # noqa: BLE001 - keep the page up, say what failed
        st.error(f"The continuation over {name} failed: {type(e).__name__}: {e}")
    try:
        with st.spinner("Mapping the basin of the current state..."):
            b = run_basin(params)
        start = (float(result["platform_share"][0]), float(result["platform_trust"][0]))
        ok = np.asarray(b.status) >= 0
        if ok.any() and np.all(np.asarray(b.falls)[ok]):
            st.markdown("In this slice the incumbent falls from every starting point: no separatrix.")
        elif ok.any() and not np.any(np.asarray(b.falls)[ok]):
            st.markdown("In this slice the incumbent survives from every starting point: no separatrix.")
        if getattr(b, "messages", None):
            st.warning(f"{len(b.messages)} run(s) of the basin failed (blank cells): {b.messages[0]}")
        chart(figures.basin_map(b, current=start,
                                trajectory=(result["platform_share"], result["platform_trust"])),
              "basin", figures.HOW_TO_READ["basin"])
    except Exception as e:  # noqa: BLE001
        st.error(f"The basin could not be mapped: {type(e).__name__}: {e}")


# --- the answer first -------------------------------------------------------------------------

def _sector_text(base: Scenario) -> bytes | None:
    """The text the verdict and the fan read: an upload's own bytes, else the file's."""
    if st.session_state.get("_uploaded") is not None:
        return st.session_state.get("_uploaded_text")
    try:
        return Path(base.origin).read_bytes()
    except OSError:
        return None


def answer_first(base: Scenario, params: Parameters, result):
    """At the top: the committed verdict's word per reading of "20% of the gross" with its
    threshold interval, the verdict figure of every sector, and the fan of this sector's
    draws. Draws the words and the verdict figure now, and returns a function that draws
    the fan in its place, called after the main chart: on a fresh server the fan is its
    draws' runs (up to seconds for a sector of eight firms), which must not hold back the run's
    own chart. The verdict figure only
    reads the committed file; drawn first, it makes the browser fetch plotly's script (4.7 MB)
    while the rest of the page arrives rather than after it."""
    stem = st.session_state[SECTOR_KEY]
    uploaded = st.session_state.get("_uploaded") is not None
    committed = read_committed_verdict()
    text = _sector_text(base)
    left, right = st.columns([5, 6])
    with left:
        if isinstance(committed, str):
            st.info(f"No committed verdict: {plain(committed)}")
        else:
            rows, source = committed
            row = None if uploaded else rows.get(stem)
            if row is None:
                st.info("An uploaded file is not in the committed verdict: turn on the verdict below to compute it."
                        if uploaded else f"{plain(stem)} is not in the committed verdict (the baseline and the files "
                        "that leave themselves out are not): turn on the verdict below to compute one.")
            else:
                # A table, not metrics: the readings' names are sentences and must not be cut.
                lines = ["| reading of \"20% of the gross\" | verdict | threshold, median [90%] |", "|---|---|---|"]
                for k in READINGS:
                    iv = Interval(*(book._num(row[f"sector_{k}_{c}"]) for c in ("median", "p05", "p95")),
                                  int(book._num(row[f"sector_{k}_n"]) or 0))
                    lines.append(f"| {READING_LABELS[k]} | **{row[f'sector_{k}_verdict']}** | {_iv(iv)} |")
                st.markdown("\n".join(lines))
                st.caption(f"The committed verdict ({shown_path(str(VERDICT_RESULTS / 'verdict.csv'))}): "
                           f"{source['draws']} Latin-hypercube draws (seed {source['seed']}) within the ranges of "
                           "the sector's file; the threshold is the platform's progress at the point of no return, "
                           "median [90% interval].")
                if text is not None and source.get("files", {}).get(stem) != file_sha256(text):
                    st.warning("The sector's file has changed since the committed verdict was computed: its words "
                               "are the old file's. Turn on the verdict below for this file's.")
            chart(verdict_figure(committed_mtime(), None if uploaded else stem), "verdict_all",
                  "Every sector's point of no return (median and 90% interval over its draws that tip) as "
                  "the platform's share of the gross (dots) and as the incumbents' gross loss (squares), "
                  "against the essay's 20%; this sector's name in bold. "
                  f"{source['draws']} draws per sector, seed {source['seed']}.")

    def fan_panel():
        with right:
            fan_chart_here(base, params, result, text)
    return fan_panel


def fan_chart_here(base: Scenario, params: Parameters, result, text: bytes | None) -> None:
    """The fan of the sector's draws, with the file's own run (or the current one)."""
    if text is None:
        st.info("The sector's file cannot be read: no fan of its uncertainty.")
        return
    try:
        with st.spinner(f"Running the sector's {FAN_DRAWS} draws on the engine..."):
            fan = run_fan(text, str(base.origin))
    except ValueError as e:  # a file without ranges, a draw that breaks a rule
        st.info(f"No fan of the sector's uncertainty: {plain(e)}")
        return
    # The fan redraws only if the current run is on it: a fan that follows every slider
    # move cost the browser 100-300 ms per move, a third of the redraw (measured). By
    # default it carries the sector file's own run, and the current run is the main chart.
    follow = st.session_state.get("fan_current", False)
    if follow:
        t_end = float(result.t[-1]) if result.t.size else float(params.horizon)
        fig = figures.calendar_axis(figures.fan_chart(fan, current=result if result.success else None),
                                    getattr(base, "start_year", None), max(t_end, float(fan.t[-1])))
    else:
        fig = fan_figure(text, str(base.origin), getattr(base, "start_year", None))
    chart(fig, "fan", figures.HOW_TO_READ["fan"] + f" {fan.n_finished} of {fan.n_draws} draws finished (seed "
          f"{fan.seed}, the verdict's first draws).")
    st.toggle("Draw the current run on the fan", key="fan_current",
              help="Off, the fan carries the sector file's own run and stays put while you move sliders (the "
                   "current run is the main chart below); on, the fan is redrawn after every move, which "
                   "slows the page.")


# --- named runs ------------------------------------------------------------------------------

#: A saved run's name: shown on the page and kept in the URL, so plain words only.
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}")
#: Query parameters of saved runs: ``run.<name>`` = the run's changes to the sector file.
RUN_PREFIX = "run."
MAX_SAVED_RUNS = 6


def saved_runs() -> dict[str, dict]:
    return st.session_state.setdefault("_saved_runs", {})


def on_save_run(values: dict) -> None:
    name = " ".join(str(st.session_state.get("run_name") or "").split())
    st.session_state["_save_error"] = None
    if not RUN_NAME.fullmatch(name):
        st.session_state["_save_error"] = ("a run's name is 1 to 40 letters, digits, spaces, '_', '-' or '.', "
                                           f"starting with a letter or digit; got {name!r}")
        return
    runs = saved_runs()
    if name not in runs and len(runs) >= MAX_SAVED_RUNS:
        st.session_state["_save_error"] = f"at most {MAX_SAVED_RUNS} saved runs: remove one first"
        return
    try:
        Parameters(**values)
    except ValueError as e:
        st.session_state["_save_error"] = f"these settings are inconsistent ({e}): not saved"
        return
    runs[name] = dict(values)
    st.session_state["run_name"] = ""


def on_remove_run(name: str) -> None:
    saved_runs().pop(name, None)


def run_query(values: dict, reference: Parameters) -> str:
    """A saved run in the URL: its changes to the sector file, as a query string."""
    return urlencode({k: query_text(v) for k, v in values.items() if v != getattr(reference, k)})


def parse_run_query(name: str, text: str, reference: Parameters) -> tuple[dict | None, list[str]]:
    """A saved run from the URL (``run.<name>=<changes>``): its values, or None, and notes.
    Parsed like the page's own settings, never evaluated."""
    if not RUN_NAME.fullmatch(name):
        return None, [f"saved run name {name!r} is not allowed (ignored)"]
    values = {n: getattr(reference, n) for n in PARAMETER_SPECS}
    notes = []
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key not in PARAMETER_SPECS:
            notes.append(f"saved run {name!r}: unknown setting {key!r} (ignored)")
            continue
        try:
            values[key] = parse_query_value(key, value)
        except ValueError as e:
            notes.append(f"saved run {name!r}: {e} (ignored)")
    try:
        Parameters(**values)
    except ValueError as e:
        return None, notes + [f"saved run {name!r}: {e} (ignored)"]
    return values, notes


def _fall_delta(a, b) -> str | None:
    if a.falls and b.falls:
        d = a.fall_time - b.fall_time
        return "as the file" if abs(d) < 0.05 else f"{d:+.1f} yr vs the file"
    if a.falls != b.falls:
        return "the file's " + (f"falls after {b.fall_time:.1f} yr" if b.falls else "survives")
    return None


def _pct_delta(a: float | None, b: float | None) -> str | None:
    if a is None or b is None:
        return None
    d = 100 * (a - b)
    return "as the file" if abs(d) < 0.05 else f"{d:+.1f} pts vs the file"


def _ponr_share(ponr) -> float | None:
    return ponr.share if ponr is not None and ponr.outcome in ("tips", "always_falls") else None


def run_metrics(cols, result, ponr, reference=None, ref_ponr=None, caveat=None) -> None:
    """Fall, both readings at the fall and the point of no return, with their change against
    the sector's file (``reference``) when given."""
    ref = reference

    def delta(fn):
        return None if ref is None else fn()

    cols[0].metric("Incumbents fall after" if result.firms is not None else "Incumbent falls after",
                   f"{result.fall_time:.1f} yr" if result.falls else "survives, shrunk" if caveat else "survives",
                   delta=delta(lambda: _fall_delta(result, ref)), delta_color="off",
                   help=("The sector's fall: half of its initial incumbent capacity has exited."
                         if result.firms is not None else "The incumbent's cash and credit are exhausted."))
    cols[1].metric("Share of gross at the fall", f"{result.share_at_fall:.1%}" if result.falls else "n/a",
                   delta=delta(lambda: _pct_delta(result.share_at_fall if result.falls else None,
                                                  ref.share_at_fall if ref.falls else None)), delta_color="off",
                   help="The platform's share of the sector's gross (platform plus incumbents) when the incumbents "
                        "fall: one reading of '20%'.")
    cols[2].metric("Gross lost at the fall", f"{result.gross_loss_at_fall:.1%}" if result.falls else "n/a",
                   delta=delta(lambda: _pct_delta(result.gross_loss_at_fall if result.falls else None,
                                                  ref.gross_loss_at_fall if ref.falls else None)), delta_color="off",
                   help="The incumbents' loss of their own starting gross when they fall: the other reading of '20%'.")
    share = _ponr_share(ponr)
    cols[3].metric("Point of no return (share)", "n/a" if share is None else f"{share:.1%}",
                   delta=delta(lambda: _pct_delta(share, _ponr_share(ref_ponr))), delta_color="off")


def saved_runs_panel(values: dict, base: Scenario, reference, ref_ponr) -> dict:
    """Save the current settings under a name; the saved runs listed with their metrics
    against the sector's file. Returns the saved runs' results by name (drawn on the main
    chart)."""
    st.subheader("Saved runs")
    c = st.columns([3, 1])
    c[0].text_input("Name for these settings", key="run_name", max_chars=40, placeholder="e.g. cheaper platform",
                    label_visibility="collapsed")
    c[1].button("Save these settings", key="save_run", on_click=on_save_run, args=(dict(values),),
                help="Keeps the current settings under this name: drawn on the main chart, listed here with their "
                     "change against the sector's file, and kept in the link.")
    if st.session_state.get("_save_error"):
        st.error(f"Not saved: {plain(st.session_state['_save_error'])}")
    out = {}
    runs = saved_runs()
    if not runs:
        st.caption("No saved runs yet: name the current settings and save them to keep them side by side.")
        return out
    for name, vals in list(runs.items()):
        p = Parameters(**vals)
        res = run_model(p)
        ponr = run_ponr(p) if res.success else None
        out[name] = res
        changed = [f"{k} = {query_text(v)}" for k, v in vals.items() if v != getattr(base.params, k)]
        cols = st.columns([2, 2, 2, 2, 2, 1])
        cols[0].markdown(f"**{plain(name)}**  \n<small>{plain(', '.join(changed) or 'the sector file as it is')}"
                         "</small>", unsafe_allow_html=True)
        run_metrics(cols[1:5], res, ponr, reference, ref_ponr, survivor_caveat(res))
        cols[5].button("✕", key=f"remove_run_{name}", on_click=on_remove_run, args=(name,),
                       help=f"Remove the saved run {plain(name)!r}")
    return out


# --- any series; the data ----------------------------------------------------------------------

def series_panel(result, start_year) -> None:
    st.header("Any variable of the run")
    names = [n for n in SERIES_UNITS if n != "t" and n in result.series]
    picked = st.multiselect("Series to plot (their units in brackets; at most two units on one chart)", names,
                            key="series_pick", format_func=lambda n: f"{n} [{SERIES_UNITS[n]}]",
                            placeholder="Pick any state or derived series of the current run")
    if not picked:
        return
    units = list(dict.fromkeys(SERIES_UNITS[n] for n in picked))
    if len(units) > 2:
        st.info(f"Only two units fit on one chart: showing {units[0]} and {units[1]}; pick the rest separately.")
        picked = [n for n in picked if SERIES_UNITS[n] in units[:2]]
    t_end = float(result.t[-1]) if result.t.size else 0.0
    chart(figures.calendar_axis(figures.series_chart(result, picked, SERIES_UNITS), start_year, t_end), "series",
          figures.HOW_TO_READ["series"])


def calibration_panel(params: Parameters, base: Scenario) -> None:
    """The sector's calibration data beside the current run, with the held-out years, where
    a recipe in data/calibrations.toml names data for this sector."""
    if st.session_state.get("_uploaded") is not None or getattr(base, "start_year", None) is None:
        st.info("No data to set beside this run: " + ("an uploaded file has no calibration recipe."
                if st.session_state.get("_uploaded") is not None else "the sector's file has no start year, so "
                "no calibration recipe in data/calibrations.toml."))
        return
    try:
        recipes = calibration_recipes(CALIBRATIONS.stat().st_mtime)
    except (OSError, ValueError, KeyError) as e:
        st.info(f"The calibration recipes cannot be read: {plain(e)}")
        return
    data_path = recipes.get(st.session_state[SECTOR_KEY])
    if data_path is None:
        st.info("No data to set beside this run: no recipe in data/calibrations.toml names this sector.")
        return
    st.header("The data beside this run")
    try:
        with st.spinner("Running the model at the data's years..."):
            panels, holdout = run_calibration_panels(params, data_path, float(base.start_year))
    except (ValueError, OSError) as e:
        st.info(f"The data cannot be set beside this run: {plain(e)}")
        return
    fig = figures.calibration_fit(panels, holdout_from=holdout, model_name="model (this run)")
    # Stacked panels need room on a screen: about 230 px each, or their titles overlap.
    fig.update_layout(height=230 * max(1, len(panels)) + 80)
    chart(fig, "calibration",
          f"The observed series of {data_path} (sources in the file) beside this run, each as a ratio to its first "
          "fitted year (money deflated by the CPI-U; log scale where the series grows by orders). Filled dots: the "
          "years the calibration fitted; open dots and the years right of the dotted line: held out, chosen before "
          "any fit. Move a slider and the line moves; the dots do not.")


def sector_verdict_or_message(base: Scenario):
    """(verdict, comparisons, None), or (None, None, why) if it cannot be computed."""
    try:
        uploaded = st.session_state.get("_uploaded")
        # The file's own text (the command reads the same): not scenario_to_toml, which
        # writes the defaults of parameters the file leaves out, with ranges.
        text = st.session_state.get("_uploaded_text") if uploaded is not None else Path(base.origin).read_bytes()
        with st.spinner(f"The sector's verdict: {DASHBOARD_VERDICT_DRAWS} draws over the file's ranges (a few "
                        "seconds the first time)..."):
            v, comparisons = run_sector_verdict(text, str(base.origin))
        return v, comparisons, None
    except (ValueError, OSError) as e:  # a file without ranges, ranges that break a rule, a file gone
        return None, None, str(e)


def verdict_panel(verdict, note) -> None:
    if verdict is None:
        st.info(f"No verdict for this file: {plain(note)}")
        return
    # At a glance: the word per reading of "20% of the gross", with the threshold's interval.
    readings = [r for r in verdict.readings if r.definition == "sector"]
    rows = reading_rows(verdict)
    for col, r, row in zip(st.columns(len(readings)), readings, rows):
        col.metric(r.label, r.word, help=f"Threshold {row[1]}; P(threshold <= 20%) {row[2]}; "
                                         f"P(15% <= threshold <= 25%) {row[3]}; {row[4]} tested / finished draws.")
        col.caption(f"threshold {row[1]}")
    table = pd.DataFrame(rows, columns=READING_COLUMNS).set_index("reading")
    st.table(table)
    st.markdown(fate_sentence(verdict))
    st.caption(f"The sector's verdict over {verdict.n_draws} Latin-hypercube draws (seed {verdict.seed}) within the "
               f"ranges of its file, whatever the sliders say: the same computation as `python -m model verdict "
               f"--draws {verdict.n_draws} --scenarios {plain(verdict.origin)}`. The threshold is the platform's "
               "progress at the point of no return, read four ways.")
    with st.expander("The rules behind the words"):
        st.markdown(VERDICT_RULES)


def claims_table(params: Parameters, result, ponr, be, be_now, base: Scenario, n_sectors: int, verdict,
                 comparisons) -> None:
    st.header("The essays' claims, against this run")
    variants = {k: run_model(p) for k, p in claims.claim_variants(params).items()}
    rows = claims.describe_run(params, result, variants, ponr=ponr, break_even=be,
                               break_even_current_prices=be_now, sector=base.name, n_sectors=n_sectors)
    words = claim_words(verdict, comparisons) if verdict is not None else {}
    missing = ("not assessed by the verdict" if verdict is not None
               else "turn on the sector's verdict above to see its words")
    # A static table: the statements are sentences and must wrap, not be cut.
    table = pd.DataFrame([{"claim": r.id, "what the essays say": r.claim, "what this run shows": r.this_run,
                           "the sector's verdict": words.get(r.id, missing)}
                          for r in rows]).set_index("claim")
    st.table(table)
    st.caption(claims.CLAIMS_ATTRIBUTION + " One run is one point of the sector's uncertainty: it shows, it "
               "does not assess. The verdict column is the Monte Carlo over the file's ranges "
               "(model.studies.verdict), the same as the command's and the paper's.")


def share_and_export(params: Parameters, base: Scenario, query: dict[str, str]) -> None:
    st.header("Share and download")
    url = st.context.url or "http://localhost:8501/"
    parts = urlsplit(url)
    link = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))
    st.markdown("This link opens the page with the same sector and settings (the address bar holds it too):")
    # Inline code, not st.code: st.code's highlighter cost the browser 250 ms on a first visit
    # (its script loaded and run) and a redraw on every move, for a line of plain text.
    st.markdown(f"`{link.replace('`', '%60')}`")  # no backtick can end the code span early
    if st.session_state.get("_uploaded") is not None:
        st.caption("An uploaded file cannot travel in a link: its values are in the link as changes to the "
                   "sector file; download the TOML below to keep its sources.")
    c = st.columns(2)
    c[0].download_button("Run as CSV", data=functools.partial(run_csv, params), file_name=f"{st.session_state[SECTOR_KEY]}_run.csv",
                         mime="text/csv", key="download_csv", on_click="ignore",
                         help="Time and every state and derived series of the current run.")
    toml_text = scenario_to_toml(base, params, note="saved from the dashboard")
    c[1].download_button("Settings as scenario TOML", data=toml_text, file_name=f"{st.session_state[SECTOR_KEY]}"
                         "_settings.toml", mime="application/toml", key="download_toml", on_click="ignore",
                         help="Loads back (python -m model run FILE, or upload it here) to the same parameters.")
    st.segmented_control("Chart downloads as", list(figures.EXPORT_FORMATS), key=FIGURE_FORMAT_KEY,
                         default=figure_format(), required=True, format_func=str.upper,
                         help="The file format of every chart's download button: PNG (300 dpi), SVG or PDF, "
                              "in the book's template and sizes.")
    # Drawn only when opened: a highlighted TOML of 60 lines cost the browser 3 s on every
    # visit, even in a closed expander.
    shown = st.expander("Settings as scenario TOML", key="settings_toml", on_change="rerun")
    if shown.open:
        shown.code(toml_text, language="toml")


# --- the page --------------------------------------------------------------------------------

def network_panel(params: Parameters) -> None:
    """Optional (computed only when opened): the sector as customers on a graph of close ties
    (model.analysis.network, coupled: each customer's trusts, the incumbent's economics fed
    by the agents), the share over time against the ODE, and a small graph of the same family."""
    if not st.toggle("Show the network test: the sector as customers on a graph of close ties (a few seconds)",
                     key="network_panel"):
        return
    import networkx as nx

    from model.analysis import network as nw
    from model.core.firms import aggregate

    st.header("The network test: customers on a graph of close ties")
    c = st.columns(3)
    family = c[0].selectbox("Graph", nw.FAMILIES, index=nw.FAMILIES.index("watts_strogatz"), key="network_family",
                            help="mixed: ties drawn anew every step (the ODE's mean field); watts_strogatz: "
                                 "clustered (10% of ties rewired); configuration: a heavy-tailed degree.")
    k = c[1].select_slider("Close ties per customer", options=list(range(4, 32, 2)), key="network_k",
                           value=min(30, max(4, 2 * round(float(params.close_ties) / 2))))
    n = c[2].select_slider("Customers", options=[1000, 2000, 5000, 10000, 20000], value=5000, key="network_n")
    try:
        p = aggregate(params)
        graph = nw.make_graph(family, n, k, seed=1)
        run = nw.simulate_network(p, graph, seed=1, coupled=True)
        ode = simulate(p.replace(close_ties=float(graph.mean_degree)), n_points=401)
        small = nw.make_graph(family, 60, min(k, 8), seed=1)
        shown = nw.simulate_network(p, small, seed=1, coupled=True, horizon=float(run.t[-1]) / 2)
    except ValueError as e:
        st.info(f"The network test cannot run these settings: {plain(e)}")
        return

    def fate(falls, when):
        return f"falls after {when:.1f} years" if falls else "survives the horizon"

    st.write(f"On {n:,} customers the incumbent {fate(run.falls, run.fall_time)}; in the ODE it "
             f"{fate(ode.falls, ode.fall_time)}.")
    fig = figures.network_shares(run.t, run.share, {"t": ode.t, "share": ode["platform_share"]},
                                 fall_time=run.fall_time, ode_fall_time=ode.fall_time, label=f"agents ({family})")
    chart(fig, "network_shares", "The platform's share of customers: agents on the graph (solid) and the ODE (dashed); "
                                 "dotted lines mark each model's fall of the incumbent.")
    g = nx.from_scipy_sparse_array(small.adjacency) if small.adjacency is not None else nx.empty_graph(60)
    pos = nx.circular_layout(g) if family == "watts_strogatz" else nx.spring_layout(g, seed=1)
    fig = figures.network_graph(np.array([pos[i] for i in range(small.n)]), np.array(list(g.edges()), dtype=int).reshape(-1, 2),
                                shown.adopted)
    chart(fig, "network_graph", f"Sixty customers on a {family} graph, filled: on the platform after "
                                f"{shown.t[-1]:.0f} years (an illustration; the share above is from {n:,}).")


@st.cache_resource(show_spinner=False)
def freeze_loaded_objects() -> None:
    """Once per server, after a first full run: move every object alive then (the imported
    libraries, compiled kernels, the first runs' caches, ~200k objects) out of the garbage
    collector's reach. Its full collections then look only at what later reruns make:
    ~0 ms instead of ~100 ms each, every one of them holding the GIL (with
    runner.postScriptGC off in .streamlit/config.toml, Streamlit no longer forces one per
    rerun either)."""
    gc.collect()
    gc.freeze()


def main() -> None:
    st.set_page_config(page_title="Highland Park vs. trust platforms", layout="wide")
    # Every figure of the page is built with the page's template (importing streamlit made
    # its own, with placeholder colours, the default).
    import plotly.io as pio

    pio.templates.default = page_template()
    plotly_component()(key="plotly_loader")  # the browser fetches plotly.js while the model runs
    files = sector_files()
    if not files:
        st.error(f"No scenario files in {SCENARIOS}.")
        st.stop()
    if not st.session_state.get("_initialised"):
        init_session(files)
    elif st.session_state.get(SECTOR_KEY) not in files:  # a sector file vanished
        st.session_state[SECTOR_KEY] = next(iter(files))
    keep_parameter_state()

    # The title first, the sidebar after the answer's words: a first visit shows a message at
    # once and the answer before the sliders (they read their values from the session state,
    # which already holds them). Every early stop draws the sidebar first, to recover from.
    st.title("Highland Park vs. trust platforms")
    st.caption("Does an incumbent with fixed process costs fall once a trust platform takes 20% of its "
               "sector's gross? Move the sliders on the left; every chart follows.")
    for note in st.session_state.get("_url_notes", []):
        st.warning(f"Link: {plain(note)}")

    values = {name: st.session_state[name] for name in PARAMETER_SPECS}
    base = current_base()
    query = page_query(values, base)
    st.query_params.from_dict(query)
    st.session_state["_settings_hash"] = settings_hash(query)
    if not isinstance(base, Scenario):
        st.error(f"This sector's file cannot be used: {plain(base)}. Pick another sector or upload a file.")
        controls(files)
        st.stop()
    try:
        params = Parameters(**values)
        st.session_state["_last_valid"] = dict(values)
    except ValueError as e:
        st.error(f"These settings are inconsistent: {e}. Move the slider back or press "
                 "'Reset to the sector's values'.")
        last = st.session_state.get("_last_valid")
        if last is None:
            controls(files)
            st.stop()
        # Keep the last run that was valid on the page rather than blanking every chart.
        params = Parameters(**last)
        changed = [f"`{n}`" for n in PARAMETER_SPECS if last.get(n) != values.get(n)]
        st.info("Showing the last valid settings" + (f" (before the change to {', '.join(changed)})" if changed else "")
                + ": the charts below are theirs, not the sliders'.")

    st.caption(f"Sector: **{plain(base.name)}** ({plain(shown_path(base.origin))})")
    # The first run of a session compiles the engine (several seconds): say so instead of
    # leaving grey boxes.
    with st.spinner("Running the model (the first run of a session compiles the engine: about 10 s)..."):
        result = run_model(params)
    # The answer first: the sector's verdict on the claim and its uncertainty, above the single run.
    verdict, comparisons, verdict_note = None, None, None
    st.header("Does 20% hold in this sector?")
    if base.verdict_exclusion:
        st.warning(f"This sector is not in the project's verdict. {plain(base.verdict_exclusion)}")
    fan_panel = answer_first(base, params, result)
    controls(files)
    if st.toggle(f"Compute the sector's verdict here ({QUICK_DRAWS} draws over the file's ranges, also for an "
                 "uploaded file; about ten seconds the first time for each sector)", key="verdict",
                 help="The Monte Carlo verdict of model.studies.verdict, the same as `python -m model verdict`."):
        verdict, comparisons, verdict_note = sector_verdict_or_message(base)
        verdict_panel(verdict, verdict_note)

    st.header("This run")
    be, be_now = safe_break_even(params), safe_break_even(params, "current_prices")
    ponr, ponr_note = (None, None)
    if result.success:
        ponr, ponr_note = ponr_or_message(params)
    reference = run_model(base.params)
    ref_ponr = None
    if reference.success:
        ref_ponr, _ = ponr_or_message(base.params)
    summary(params, result, ponr, ponr_note, be, be_now, base, reference, ref_ponr)
    compare, layout = compare_controls(params, reference)
    ref_be = safe_break_even(base.params) if compare else None
    saved = saved_runs_panel(values, base, reference, ref_ponr)
    start_year = getattr(base, "start_year", None)
    charts = dict(params=params, result=result, ponr=ponr, be=be, reference=reference, ref_ponr=ref_ponr,
                  ref_be=ref_be, start_year=start_year, compare=compare, layout=layout)
    time_charts(("share_and_loss",), saved=saved, **charts)
    fan_panel()  # in its place above, drawn after the main chart
    panels = {
        "trust": lambda: time_charts(("trust_and_cash",), **charts),
        "series": lambda: series_panel(result, start_year),
        "data": lambda: calibration_panel(params, base),
        "value": lambda: value_panel(result),
        "firms": lambda: firms_panel(result, start_year),
        "loops": lambda: loops_panel(params, result, ponr, start_year),
        "tipping": lambda: tipping_view(params, result, base),
        "network": lambda: network_panel(params),
        "claims": lambda: claims_table(params, result, ponr, be, be_now, base, len(files), verdict, comparisons),
    }
    # Only the open view runs: the others cost nothing until they are picked.
    for key, tab in zip(VIEWS, st.tabs(list(VIEWS.values()), key=VIEW_KEY, on_change="rerun")):
        if tab.open:
            with tab:
                panels[key]()
    share_and_export(params, base, query)
    freeze_loaded_objects()


main()
