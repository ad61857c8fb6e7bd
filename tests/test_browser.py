"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

Starts ``streamlit run serve.py`` (as ``make app`` does: the page, with the model loaded as
the server starts) on a free port, loads the page, moves a slider and sees
the chart change, downloads a chart as PNG (rendered server-side by kaleido) and checks
the file, and opens the page's own link in a fresh browser context to see the same
settings and the same chart. Screenshots and the downloaded file go to
``test-artifacts/`` (gitignored) for a person to look at.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from playwright.sync_api import sync_playwright

from PIL import Image

from model import load_scenario, simulate
from model.publish import book

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SLIDER = "word_of_mouth_rate"
SLIDER_LABEL = "word of mouth rate (w, 1/yr)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "streamlit.log", "w")
    # Own process group, so that teardown ends the server and the Chromium that kaleido
    # starts under it; no file watcher, so edits elsewhere in the tree do not rerun it.
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.headless", "true", "--server.port",
         str(port), "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if urllib.request.urlopen(url + "_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            assert proc.poll() is None, f"streamlit exited; see {ARTIFACTS / 'streamlit.log'}"
            assert time.monotonic() < deadline, "streamlit did not answer /_stcore/health within 90 s"
            time.sleep(0.3)
        # The model was loaded as the server started, before it answered (serve.py).
        log.flush()
        assert "serve.py: the model is loaded" in (ARTIFACTS / "streamlit.log").read_text(), \
            "serve.py did not load the model at start"
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def settle(page) -> None:
    """Wait until the page has finished a run (no status widget) and shows its main chart
    (charts are drawn one per task: another chart may be there before it)."""
    page.wait_for_selector(".st-key-share_and_loss .js-plotly-plot", timeout=120_000)
    page.wait_for_function("() => document.querySelectorAll(\"[data-testid='stStatusWidget']\").length === 0",
                           timeout=120_000)


def decode(v) -> np.ndarray:
    """A plotly array: a list, or {"dtype", "bdata" (base64)} as plotly.py sends numpy arrays."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).astype(float)
    return np.asarray(v, dtype=float)


#: A chart's traces as the browser holds them (gd.data), by name; the chart by its key
#: (Streamlit gives each keyed element the class st-key-<key>).
CHART_JS = """(key) => {
    const gd = document.querySelector('.st-key-' + key + ' .js-plotly-plot');
    return gd.data.map(t => ({name: t.name, x: t.x, y: t.y}));
}"""


def chart_traces(page, key: str) -> dict:
    page.wait_for_selector(f".st-key-{key} .js-plotly-plot", timeout=60_000)  # drawn (one chart per task)
    return {d["name"]: (decode(d["x"]), decode(d["y"])) for d in page.evaluate(CHART_JS, key)}


def first_chart(page) -> dict:
    """x and y of each trace of the run's main chart (platform share, gross loss, markers)."""
    return chart_traces(page, "share_and_loss")


def slider(page):
    return page.locator(f'input[type=range][aria-label="{SLIDER_LABEL}"]')


def test_load_move_download_share(server, browser, baseline_path):
    base = load_scenario(baseline_path).params
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    page = context.new_page()
    page.goto(server)
    settle(page)
    before = first_chart(page)
    t, share = before["platform share of gross"]
    expected = simulate(base)
    assert_allclose(t, expected.t, rtol=1e-12, atol=0)
    assert_allclose(share, expected["platform_share_of_gross"], rtol=1e-12, atol=0)
    page.screenshot(path=ARTIFACTS / "browser_1_loaded.png")

    # Move the word-of-mouth slider ten steps to the right.
    assert slider(page).input_value() == "0.4"
    step = float(slider(page).get_attribute("step"))
    target = repr(round(0.4 + 10 * step, 9))
    slider(page).focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => window.location.search.includes('{SLIDER}={target}')", timeout=60_000)
    settle(page)
    # The chart is redrawn with new data (polled: the rerun streams in after the URL).
    deadline = time.monotonic() + 60
    while True:
        after = first_chart(page)
        if after["platform share of gross"][1].shape != share.shape or np.any(
                after["platform share of gross"][1] != share):
            break
        assert time.monotonic() < deadline, "the chart did not change after the slider moved"
        page.wait_for_timeout(250)
    moved = simulate(base.replace(**{SLIDER: float(slider(page).input_value())}))
    assert slider(page).input_value() == target
    t2, share2 = after["platform share of gross"]
    assert_allclose(t2, moved.t, rtol=1e-12, atol=0)
    assert_allclose(share2, moved["platform_share_of_gross"], rtol=1e-12, atol=0)
    assert moved.fall_time < expected.fall_time  # faster word of mouth: an earlier fall
    # The run's sentence (the answer's notes above it are alerts too).
    sentence = page.locator("[data-testid='stAlert']", has_text="The incumbent falls after").first.inner_text()
    assert f"falls after {moved.fall_time:.1f} years" in sentence
    page.screenshot(path=ARTIFACTS / "browser_2_slider_moved.png")

    # Download the first chart as PNG: rendered by kaleido when the button is clicked.
    # By role: Streamlit also keeps a hidden copy of each button (to measure its width).
    button = page.locator(".st-key-download_share_and_loss").get_by_role("button", name="Download PNG",
                                                                         exact=True).first
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=180_000) as info:
        button.click()
    download = info.value
    # A book figure: named by sector, chart and settings; the book's width at 300 dpi; grays only.
    assert re.fullmatch(r"baseline_share_and_loss_[0-9a-f]{8}\.png", download.suggested_filename)
    png = ARTIFACTS / "browser_share_and_loss.png"
    download.save_as(png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert int.from_bytes(data[16:20], "big") == round(book.FULL_WIDTH_IN * book.DPI)
    assert book.png_dpi(data) == pytest.approx(book.DPI, rel=1e-3)
    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=int)
    assert np.abs(pixels - pixels.mean(axis=2, keepdims=True)).max() <= 2  # no colour, antialiasing aside

    # The run as CSV: every series of the current run, exactly (pandas writes floats in
    # their shortest round-trip form).
    settle(page)
    button = page.get_by_role("button", name="Run as CSV", exact=True)
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=60_000) as info:
        button.click()
    csv = ARTIFACTS / "browser_run.csv"
    info.value.save_as(csv)
    header = csv.read_text().splitlines()[0].split(",")
    # Every column says its unit: "name [unit]".
    assert all(re.fullmatch(r"[a-z_]+ \[[^\]]+\]", h) for h in header), header
    header = [h.split(" [")[0] for h in header]
    table = np.loadtxt(csv, delimiter=",", skiprows=1, ndmin=2)
    assert header[0] == "t" and table.shape == (moved.t.size, len(header))
    assert_allclose(table[:, 0], moved.t, rtol=0, atol=0)
    for name in ("platform_share_of_gross", "buffer", "incumbent_price"):
        assert_allclose(table[:, header.index(name)], moved[name], rtol=0, atol=0)

    # The page's link, opened in a fresh context, shows the same settings and chart.
    link = page.url
    assert "sector=baseline" in link and f"{SLIDER}={target}" in link
    other = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    other.goto(link)
    settle(other)
    assert slider(other).input_value() == target
    shared = first_chart(other)
    assert_allclose(shared["platform share of gross"][1], share2, rtol=1e-12, atol=0)
    assert_allclose(shared["incumbent gross loss"][1], after["incumbent gross loss"][1], rtol=1e-12, atol=0)
    other.screenshot(path=ARTIFACTS / "browser_3_shared_link.png")
    other.context.close()
    context.close()


def test_the_answer_first_the_sectors_marks_and_saved_runs_in_a_real_browser(server, browser):
    """Above the fold: the verdict's words, the verdict figure and the fan with the current
    run; under a slider the sector's value; a named run saved, drawn on the main chart, kept
    in the link and reopened from it in a fresh browser."""
    sc = load_scenario(ROOT / "scenarios" / "newspapers.toml")
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.goto(server + "?sector=newspapers")
    settle(page)
    page.wait_for_selector(".st-key-fan .js-plotly-plot", timeout=120_000)
    for key in ("verdict_all", "fan"):  # both start within the first screen
        page.wait_for_selector(f".st-key-{key} .js-plotly-plot", timeout=60_000)
        box = page.locator(f".st-key-{key} .js-plotly-plot").bounding_box()
        assert box is not None and box["y"] < 1100, (key, box)
    words = page.get_by_role("table").first.inner_text()
    assert "platform's share of the sector's gross" in words
    fan = chart_traces(page, "fan")
    run = simulate(sc.params, method="engine")
    assert_allclose(fan["the sector file's run"][1], run["platform_share_of_gross"], rtol=1e-12)
    page.screenshot(path=ARTIFACTS / "browser_4_answer_first.png")
    # A moved slider carries the sector's value under it, visible; moved back, the mark goes.
    price = page.locator(".st-key-platform_price input[type=range]")
    price.focus()
    price.press("ArrowRight")
    mark = page.locator("[data-testid='stSidebar'] [data-testid='stCaptionContainer']",
                        has_text=f"sector: {sc.params.platform_price:.2f}").first
    mark.wait_for(timeout=60_000)
    assert mark.is_visible() and "(moved)" in mark.inner_text()
    price.press("ArrowLeft")
    mark.wait_for(state="detached", timeout=60_000)
    settle(page)

    # Save the current settings under a name.
    name_box = page.get_by_placeholder("e.g. cheaper platform")
    name_box.scroll_into_view_if_needed()
    name_box.fill("as filed")
    name_box.press("Enter")
    settle(page)
    page.get_by_role("button", name="Save these settings", exact=True).click()
    page.wait_for_function("() => decodeURIComponent(window.location.search).includes('run.as')", timeout=60_000)
    settle(page)
    page.wait_for_function("() => { const gd = document.querySelector('.st-key-share_and_loss .js-plotly-plot');"
                           " return gd && gd.data.some(t => t.name === 'as filed: platform share of gross'); }",
                           timeout=60_000)
    page.locator(".st-key-share_and_loss").scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "browser_5_saved_run.png")
    link = page.url
    other = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    other.goto(link)
    settle(other)
    other.wait_for_function("() => { const gd = document.querySelector('.st-key-share_and_loss .js-plotly-plot');"
                            " return gd && gd.data.some(t => t.name === 'as filed: platform share of gross'); }",
                            timeout=60_000)
    saved = chart_traces(other, "share_and_loss")["as filed: platform share of gross"][1]
    assert_allclose(saved, run["platform_share_of_gross"], rtol=1e-12)
    other.context.close()
    context.close()


#: Every long task (over 50 ms) of the page from its start, and every chart the page's chart
#: element has drawn ("chart drawn: <key>" marks), as the page records them.
LONG_TASKS_INIT = """
window.__longTasks = [];
new PerformanceObserver(list => { for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]); })
    .observe({type: 'longtask', buffered: true});
"""
DRAWN_JS = """() => performance.getEntriesByType('mark').filter(m => m.name.startsWith('chart drawn: '))
    .map(m => [m.name.slice('chart drawn: '.length), m.startTime])"""


def drawn(page) -> list[tuple[str, float]]:
    return [tuple(d) for d in page.evaluate(DRAWN_JS)]


def test_charts_load_plotly_once_draw_one_per_task_and_update_in_place(server, browser):
    """The page's chart element: plotly.js (the version plotly.py ships, with the traces the
    page draws) loaded once by a loader that takes no room; the first visit's charts drawn
    each in its own task, never two in one; a slider move redraws the changed charts in place
    (the same plot, ``Plotly.react``), once each, and leaves the unchanged ones alone."""
    from model.publish.plotly_js import file_version, shipped_bundle

    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    context.add_init_script(LONG_TASKS_INIT)
    page = context.new_page()
    page.goto(server)
    settle(page)
    first = ("verdict_all", "share_and_loss", "fan", "trust_and_cash")  # the default page's charts
    page.wait_for_function(f"() => {{ const d = ({DRAWN_JS})().map(x => x[0]); "
                           f"return {list(first)}.every(k => d.includes(k)); }}", timeout=120_000)
    page.wait_for_timeout(500)
    # plotly.js once, of plotly.py's version, with the page's traces; the loader is not seen.
    assert page.evaluate("() => document.querySelectorAll('script[src$=\"app/static/plotly.min.js\"]').length") == 1
    assert page.evaluate("() => Plotly.version") == file_version(shipped_bundle())
    traces = page.evaluate("() => Object.keys(Plotly.PlotSchema.get().traces)")
    assert {"scatter", "heatmap"} <= set(traces)
    loader = page.locator(".st-key-plotly_loader")
    assert loader.count() == 1 and loader.bounding_box() is None  # display: none
    # Each chart drawn once, and no long task holds two of the draws.
    marks = drawn(page)
    assert sorted(k for k, _ in marks) == sorted(first), marks
    tasks = page.evaluate("() => window.__longTasks")
    for start, duration in tasks:
        inside = [k for k, t in marks if start <= t <= start + duration]
        assert len(inside) <= 1, (inside, start, duration)

    # A move: the run's charts redrawn in place, each once; the answer's figures untouched.
    page.evaluate("() => { for (const gd of document.querySelectorAll('.js-plotly-plot')) gd.__probe = true; }")
    before = chart_traces(page, "share_and_loss")["platform share of gross"][1]
    slider(page).focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => ({DRAWN_JS})().filter(x => x[0] === 'trust_and_cash').length === 2 && "
                           f"({DRAWN_JS})().filter(x => x[0] === 'share_and_loss').length === 2", timeout=60_000)
    settle(page)
    page.wait_for_timeout(500)
    counts = {k: [m for m, _ in drawn(page)].count(k) for k in first}
    assert counts == {"verdict_all": 1, "share_and_loss": 2, "fan": 1, "trust_and_cash": 2}, counts
    after = chart_traces(page, "share_and_loss")["platform share of gross"][1]
    assert after.shape != before.shape or np.any(after != before)
    kept = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => gd.__probe === true)")
    assert kept and all(kept), kept  # the same plots: updated, not remounted
    for key in first:  # each as tall as its figure says, redrawn or not (once collapsed to 0 px)
        tall = page.evaluate(f"() => document.querySelector('.st-key-{key} .js-plotly-plot')._fullLayout.height")
        box = page.locator(f".st-key-{key} .js-plotly-plot").bounding_box()
        assert tall >= 300 and box is not None and abs(box["height"] - tall) <= 1, (key, tall, box)

    # The sidebar closed: the main chart takes its column's new width (the window's is the same).
    width = "() => { const gd = document.querySelector('.st-key-share_and_loss .js-plotly-plot');" \
            " return [gd._fullLayout.width, gd.parentElement.clientWidth]; }"
    drawn_at, column = page.evaluate(width)
    assert abs(drawn_at - column) <= 1, (drawn_at, column)
    page.locator("[data-testid='stSidebar']").hover()  # the collapse button shows on hover
    page.locator("[data-testid='stSidebarCollapseButton'] button").click()
    page.wait_for_function(f"() => {{ const [w, c] = ({width})(); return c > {column} + 100 && Math.abs(w - c) <= 1; }}",
                           timeout=30_000)
    page.screenshot(path=ARTIFACTS / "browser_6_sidebar_closed.png")
    context.close()
