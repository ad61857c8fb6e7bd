"""App: the dashboard's latency in a real browser, against the ``main`` branch in the same run.

Serves this tree's ``app.py`` and a ``git worktree`` of ``main`` (or of ``$BENCH_APP_BASELINE``)
with ``streamlit run``, one after the other on the same machine, and drives each with
Playwright and Debian's Chromium:

- **first meaningful paint**: from navigation until the run's main chart (the platform's share
  of the gross) is drawn, for the first visit to a freshly started server (imports, compiled
  kernels loaded, the first runs) and for a fresh visit to a warm server (a new browser
  context: a new session); with the time the first message (a spinner, the title) appears.
  Goals: under 3 s, with a message until then.
- **slider -> redraw**: the word-of-mouth slider moved one step (a value the server has not
  run: the model, its point of no return and the claims' runs are computed, not read from
  the cache) until the main chart holds the new run and the page is idle; the median over
  ``repeat`` moves, and the server process's CPU time per move. Goal: under 300 ms.

Also measured in the same run, the same way: **Streamlit's floor on this machine**, an app of
one slider and one plotly chart (:data:`FLOOR_APP`). No page of Streamlit and plotly redraws
or paints faster than it here; the dashboard's figures are printed against it too.

The first meaningful paint is given twice: until **the answer** (the sector's verdict words,
the table at the top) is drawn, and until the main chart is. The answer is text, so it does
not wait for plotly.js (about 4 MB of script to parse on a first visit).

Browser timings are wall time by nature; the machine's load average is printed with them.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SLIDER_LABEL = "word of mouth rate (w, 1/yr)"
#: The main chart: keyed "share_and_loss" on both trees (Streamlit's class st-key-<key>).
MAIN_CHART = ".st-key-share_and_loss .js-plotly-plot"
#: Something the page says while it works: a spinner, or the title drawn.
MESSAGE = "[data-testid='stSpinner'], h1"
IDLE_JS = "() => document.querySelectorAll(\"[data-testid='stStatusWidget']\").length === 0"
#: A checksum of the main chart's share trace (an array, a typed array, or plotly.py's
#: {dtype, bdata} as the browser receives numpy arrays).
SUM_JS = """() => { const gd = document.querySelector('%s');
    if (!gd || !gd.data) return null;
    const t = gd.data.find(d => d.name === 'platform share of gross');
    if (!t || !t.y) return null;
    if (t.y.bdata !== undefined) return t.y.bdata;  // plotly.py's base64 form
    if (t.y.length === undefined) return null;
    let s = 0; for (let i = 0; i < t.y.length; i++) s += +t.y[i];
    return s + ':' + t.y.length; }""" % MAIN_CHART
GOAL_REDRAW_MS, GOAL_PAINT_S = 300.0, 3.0
#: The answer at the top of the page: the table of the sector's verdict words, or the note
#: that takes its place (the default page's baseline is not in the verdict: "turn on the
#: verdict below"). The floor app has none: its chart is its answer.
ANSWER = "[data-testid='stMarkdownContainer'] table, [data-testid='stAlert']"
#: Streamlit's floor: one slider and one plotly chart, named as the dashboard's so the same
#: measurement drives it.
FLOOR_APP = f"""import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(layout="wide")
st.title("floor")
w = st.sidebar.slider({SLIDER_LABEL!r}, 0.0, 3.0, 0.5, 0.01)
t = np.linspace(0, 30, 400)
fig = go.Figure(go.Scatter(x=t, y=1 / (1 + np.exp(-w * (t - 10))), name="platform share of gross"))
with st.container(key="share_and_loss"):
    st.plotly_chart(fig)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its waited-for children (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


class Server:
    """``streamlit run app.py`` in ``root`` on a free port, in its own process group."""

    def __init__(self, root: Path):
        self.root, self.port = Path(root), _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
             str(self.port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=self.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                if urllib.request.urlopen(self.url + "_stcore/health", timeout=2).read() == b"ok":
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit in {self.root} did not start")
            time.sleep(0.2)

    def __exit__(self, *exc):
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def _visit(browser, url: str, answer: bool = True) -> tuple[float, float | None, float]:
    """(seconds to the first message, to the answer's words or None, to the main chart) of
    a fresh browser context."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    try:
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_selector(MESSAGE, timeout=180_000)
        message = time.perf_counter() - t0
        words = None
        if answer:
            page.wait_for_selector(ANSWER, timeout=180_000)
            words = time.perf_counter() - t0
        page.wait_for_selector(MAIN_CHART, timeout=180_000)
        return message, words, time.perf_counter() - t0
    finally:
        context.close()


def _redraws(browser, server: Server, moves: int) -> tuple[list[float], float]:
    """Wall seconds of each slider move until the main chart holds the new run and the page
    is idle, and the server's CPU seconds per move."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    try:
        page.goto(server.url)
        page.wait_for_selector(MAIN_CHART, timeout=180_000)
        page.wait_for_function(IDLE_JS, timeout=180_000)
        slider = page.locator(f'input[type=range][aria-label="{SLIDER_LABEL}"]')
        slider.focus()
        times = []
        cpu0 = _cpu_seconds(server.proc.pid)
        for _ in range(moves):
            before = page.evaluate(SUM_JS)
            t0 = time.perf_counter()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(f"(b) => {{ const s = ({SUM_JS})(); return s !== null && s !== b && ({IDLE_JS})(); }}",
                                   arg=before, timeout=120_000, polling="raf")
            times.append(time.perf_counter() - t0)
        return times, (_cpu_seconds(server.proc.pid) - cpu0) / moves
    finally:
        context.close()


def _measure(browser, root: Path, moves: int, answer: bool = True, prime: bool = False) -> dict:
    if prime:
        # A new checkout: numba's disk cache is keyed by the source's path, so its first
        # server compiles every kernel (a minute). Compile once, then measure as for this tree.
        with Server(root) as server:
            _visit(browser, server.url, answer)
    with Server(root) as server:
        cold = _visit(browser, server.url, answer)
        warm = _visit(browser, server.url, answer)
        redraw, cpu = _redraws(browser, server, moves)
    return {"cold": cold, "warm": warm, "redraw": redraw, "cpu": cpu}


def _baseline_tree(ref: str, where: Path) -> Path | None:
    try:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), ref], check=True,
                       capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"no baseline: cannot check out {ref!r} ({getattr(e, 'stderr', '') or e})")
        return None
    return where


def run(args) -> None:
    from playwright.sync_api import sync_playwright

    moves = max(3, min(args.repeat, 8) if args.quick else min(args.repeat, 15))
    ref = os.environ.get("BENCH_APP_BASELINE", "main")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        baseline = _baseline_tree(ref, Path(tmp) / "baseline")
        floor = Path(tmp) / "floor"
        floor.mkdir()
        (floor / "app.py").write_text(FLOOR_APP)
        try:
            results["this tree"] = _measure(browser, ROOT, moves)
            if baseline is not None:
                results[ref] = _measure(browser, baseline, moves, prime=True)
            results["floor"] = _measure(browser, floor, moves, answer=False)
        finally:
            browser.close()
            if baseline is not None:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)],
                               capture_output=True)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs (browser timings are wall "
          "time)")
    def paint(v):
        words = "" if v[1] is None else f", the answer {v[1]:.2f} s"
        return f"message {v[0]:.2f} s{words}, main chart {v[2]:.2f} s"

    for name, r in results.items():
        med = statistics.median(r["redraw"]) * 1e3
        print(f"{name}: first visit to a fresh server: {paint(r['cold'])}; fresh visit to a warm server: "
              f"{paint(r['warm'])} (goal < {GOAL_PAINT_S:g} s)")
        print(f"{name}: slider -> redraw, uncached: median {med:.0f} ms over {len(r['redraw'])} (min "
              f"{min(r['redraw']) * 1e3:.0f}, max {max(r['redraw']) * 1e3:.0f}; goal < {GOAL_REDRAW_MS:g} ms); "
              f"server CPU {r['cpu'] * 1e3:.0f} ms per move")
    mine = results["this tree"]
    for other in [k for k in results if k != "this tree"]:
        ro = results[other]
        print(f"ratio this tree / {other}: redraw median "
              f"{statistics.median(mine['redraw']) / statistics.median(ro['redraw']):.2f}x, server CPU per move "
              f"{mine['cpu'] / ro['cpu']:.2f}x, main chart on a warm server's fresh visit "
              f"{mine['warm'][2] / ro['warm'][2]:.2f}x, on a fresh server {mine['cold'][2] / ro['cold'][2]:.2f}x")
