"""The dashboard's server: ``streamlit run serve.py`` (what ``make app`` runs).

Streamlit's ASGI app for ``app.py``, with one thing more: the model is loaded while the
server starts, before it answers its first request. Run as ``streamlit run app.py``, nothing
happens until the first reader's session runs the page: the imports (about 1.5 s), then the
compiled kernels loaded and the first runs, all on that reader's first visit. Here they are
done once, at start: every module ``app.py`` imports, the default sector run once through
each kernel its first page uses (the run, its point of no return, its break-even losses,
the fan's batch), and one figure of each kind the first page draws (plotly builds its
validators on first use); then everything alive is frozen out of the garbage collector's
reach, as the page does after its first run.
The page's own caches still fill on the first visit; that is the model's work, now without
its start-up.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import gc
import importlib
import logging
import time
from pathlib import Path

import streamlit as st

PAGE = Path(__file__).resolve().with_name("app.py")
log = logging.getLogger("serve")


def page_imports(page: Path = PAGE) -> list[str]:
    """The modules the page's source imports at its top level, in order."""
    names = []
    for node in ast.parse(page.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            names.append(node.module)
    return names


def page_default_sector(page: Path = PAGE) -> str:
    """The sector the page opens on (its ``DEFAULT_SECTOR``)."""
    for node in ast.parse(page.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DEFAULT_SECTOR" for t in node.targets):
            return ast.literal_eval(node.value)
    raise ValueError(f"{page}: no DEFAULT_SECTOR")


def load_the_model() -> None:
    for name in page_imports():
        importlib.import_module(name)
    from model import load_scenario
    from model.analysis.tipping import break_even_loss, point_of_no_return_by_engine
    from model.core.simulate import simulate
    from model.studies.fan import sector_fan

    import plotly.io as pio

    from model.publish import figures

    stem = page_default_sector()
    sector = load_scenario(PAGE.with_name("scenarios") / f"{stem}.toml")
    run = simulate(sector.params)
    point_of_no_return_by_engine(sector.params)
    # The break-even losses' sympy forms are solved and compiled on first use (0.6 s).
    break_even_loss(sector.params)
    break_even_loss(sector.params, policy="current_prices")
    fan = sector_fan(sector, draws=4, seed=0, key=stem)
    # plotly builds its validators on a first figure (0.18 s measured): build the first page's
    # kinds of figure once.
    for fig in (figures.share_and_loss(run), figures.trust_and_cash(run), figures.fan_chart(fan)):
        pio.to_json(fig, validate=False)
    # What is alive now lives as long as the server: out of the collector's reach (the page
    # does the same after its first run, app.freeze_loaded_objects; here it is done before).
    gc.collect()
    gc.freeze()


#: The line the server prints once the model is loaded (before it answers).
LOADED = "serve.py: the model is loaded"


@contextlib.asynccontextmanager
async def lifespan(_app):
    t0 = time.perf_counter()
    try:
        await asyncio.to_thread(load_the_model)
    except Exception:  # noqa: BLE001 - a failed warm-up must not stop the server: the page says what fails
        log.exception("loading the model at start failed; the first visit will load it")
    else:
        print(f"{LOADED} ({time.perf_counter() - t0:.1f} s), before the first visit", flush=True)
    yield


app = st.App(str(PAGE), lifespan=lifespan)
