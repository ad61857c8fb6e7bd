"""App: the dashboard's latency in a real browser, against the ``main`` branch in the same run.

Serves this tree's page, a ``git worktree`` of ``main`` (or of ``$BENCH_APP_BASELINE``) and
Streamlit's floor (below) with ``streamlit run`` on the same machine, each as ``make app``
serves it (``serve.py``, the page with the model loaded as the server starts, where the tree
has one; else ``app.py``; the time until a server answers is printed too), and drives each with
Playwright and Debian's Chromium. Each server's first visit is measured as it starts (the
others idle); then the warm visits and the slider moves run in **interleaved rounds**, one
round per server in turn, the order reversed every round. Measured one tree after the other,
the machine's load drifting in between moved the ratio by 20% from run to run; interleaved,
every tree sees the same drift.

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

import contextlib
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


def entry(root: Path) -> str:
    """What ``make app`` serves in ``root``: ``serve.py`` (the page with the model loaded at
    the server's start) where the tree has one, else ``app.py``."""
    return "serve.py" if (Path(root) / "serve.py").exists() else "app.py"


class Server:
    """``streamlit run <entry>`` in ``root`` on a free port, in its own process group;
    ``ready``: seconds from the start until it answers its health check."""

    def __init__(self, root: Path):
        self.root, self.port = Path(root), _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc, self.ready = None, None

    def __enter__(self):
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", entry(self.root), "--server.headless", "true", "--server.port",
             str(self.port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=self.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                if urllib.request.urlopen(self.url + "_stcore/health", timeout=2).read() == b"ok":
                    self.ready = time.perf_counter() - t0
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


class _Mover:
    """One page of a server, kept open across rounds: each round moves its slider further
    right, so every move asks for a value no earlier move ran (uncached)."""

    def __init__(self, browser, server: Server):
        self.server = server
        self.context = browser.new_context(viewport={"width": 1400, "height": 1100})
        self.page = self.context.new_page()
        self.page.goto(server.url)
        self.page.wait_for_selector(MAIN_CHART, timeout=180_000)
        self.page.wait_for_function(IDLE_JS, timeout=180_000)

    def moves(self, n: int) -> tuple[list[float], float]:
        """Wall seconds of each of ``n`` slider moves until the main chart holds the new run
        and the page is idle, and the server's CPU seconds per move."""
        page = self.page
        page.bring_to_front()
        page.locator(f'input[type=range][aria-label="{SLIDER_LABEL}"]').focus()
        times = []
        cpu0 = _cpu_seconds(self.server.proc.pid)
        for _ in range(n):
            before = page.evaluate(SUM_JS)
            t0 = time.perf_counter()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(f"(b) => {{ const s = ({SUM_JS})(); return s !== null && s !== b && ({IDLE_JS})(); }}",
                                   arg=before, timeout=120_000, polling="raf")
            times.append(time.perf_counter() - t0)
        return times, (_cpu_seconds(self.server.proc.pid) - cpu0) / n

    def close(self) -> None:
        self.context.close()


def _measure(browser, trees: dict[str, tuple[Path, bool, bool]], rounds: int, moves: int) -> dict:
    """``trees``: name -> (root, whether it has the answer's words, whether a first server
    must compile its kernels before it is measured). Per name: the fresh server's first
    visit, the warm visits (one per round), the moves' times and the server CPU per move."""
    for root, answer, prime in trees.values():
        if prime:
            # A new checkout: numba's disk cache is keyed by the source's path, so its first
            # server compiles every kernel (a minute). Compile once, then measure as for this tree.
            with Server(root) as server:
                _visit(browser, server.url, answer)
    out = {name: {"warm": [], "redraw": [], "cpu": []} for name in trees}
    with contextlib.ExitStack() as stack:
        movers = {}
        for name, (root, answer, _) in trees.items():
            server = stack.enter_context(Server(root))
            out[name]["ready"], out[name]["entry"] = server.ready, entry(root)
            out[name]["cold"] = _visit(browser, server.url, answer)
            movers[name] = _Mover(browser, server)
            stack.callback(movers[name].close)
        names = list(trees)
        for r in range(rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                out[name]["warm"].append(_visit(browser, movers[name].server.url, trees[name][1]))
                # The visit's session goes on drawing below the main chart after it is timed, and
                # its end is cleaned up: let that finish outside the moves' CPU and wall time.
                time.sleep(2.0)
                times, cpu = movers[name].moves(moves)
                out[name]["redraw"] += times
                out[name]["cpu"].append(cpu)
    for r in out.values():
        r["cpu"] = statistics.mean(r["cpu"])
        # The median warm visit, each of its three times the median of its own column.
        r["warm"] = tuple(None if any(v[i] is None for v in r["warm"]) else statistics.median(v[i] for v in r["warm"])
                          for i in range(3))
    return out


def _baseline_tree(ref: str, where: Path) -> Path | None:
    try:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), ref], check=True,
                       capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"no baseline: cannot check out {ref!r} ({getattr(e, 'stderr', '') or e})")
        return None
    if (where / "model" / "commands" / "assets.py").exists():
        # A tree whose page loads plotly.js from static/ gets it as `make` would give it (the
        # checkout has no static/, and the page would fall back to the full bundle).
        subprocess.run([sys.executable, "-m", "model", "assets"], cwd=where, check=False, capture_output=True)
    return where


def run(args) -> None:
    from playwright.sync_api import sync_playwright

    # Rounds of moves per server: 2 x 4 moves (--quick) or 3 x 5, and one warm visit a round.
    rounds, moves = (2, 4) if args.quick else (3, max(1, min(args.repeat, 15) // 3))
    ref = os.environ.get("BENCH_APP_BASELINE", "main")
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        baseline = _baseline_tree(ref, Path(tmp) / "baseline")
        floor = Path(tmp) / "floor"
        floor.mkdir()
        (floor / "app.py").write_text(FLOOR_APP)
        trees = {"this tree": (ROOT, True, False)}
        if baseline is not None:
            trees[ref] = (baseline, True, True)
        trees["floor"] = (floor, False, False)
        try:
            results = _measure(browser, trees, rounds, moves)
        finally:
            browser.close()
            if baseline is not None:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)],
                               capture_output=True)
    print(f"{rounds} interleaved rounds of {moves} moves and one warm visit per server")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs (browser timings are wall "
          "time)")
    def paint(v):
        words = "" if v[1] is None else f", the answer {v[1]:.2f} s"
        return f"message {v[0]:.2f} s{words}, main chart {v[2]:.2f} s"

    for name, r in results.items():
        med = statistics.median(r["redraw"]) * 1e3
        print(f"{name}: server started ({r['entry']}) in {r['ready']:.2f} s, then its first visit: "
              f"{paint(r['cold'])}; fresh visit to a warm server (median of {rounds}): "
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
