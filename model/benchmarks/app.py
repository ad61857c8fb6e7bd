"""App: the time of one rerun of the dashboard after a slider move.

Drives ``app.py`` with :class:`streamlit.testing.v1.AppTest` (the script runs as it does
for a browser session, without the network and the browser's drawing): one warm-up run,
then ``repeat`` reruns, each with the platform price slider moved to a value not seen
before (so the run, the point of no return and the claims' counterfactual runs are
computed, not read from the cache), then as many reruns that revisit cached values.
Target: well under a second.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app.py"


def _rerun_times(at, values) -> list[float]:
    times = []
    for v in values:
        at.slider(key="platform_price").set_value(v)
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        if at.exception:
            raise RuntimeError(f"the page raised: {at.exception[0].message}")
    return times


def run(args) -> None:
    from streamlit.testing.v1 import AppTest

    # AppTest runs the script outside a server; Streamlit says so once per run.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    repeat = max(3, min(args.repeat, 8) if args.quick else args.repeat)
    t0 = time.perf_counter()
    at = AppTest.from_file(str(APP), default_timeout=300).run()
    first = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(f"the page raised: {at.exception[0].message}")
    # Fresh values on the slider's 0.02 grid around the baseline's 0.7 (never 0.7 itself).
    fresh = [round(0.50 + 0.02 * k, 2) for k in range(repeat + 1) if round(0.50 + 0.02 * k, 2) != 0.7][:repeat]
    new = _rerun_times(at, fresh)
    cached = _rerun_times(at, fresh)
    print(f"first page load (imports, JIT, first run): {first:.2f} s")
    print(f"rerun after a slider move, uncached (run + point of no return + 6 claim runs + charts): "
          f"median {statistics.median(new) * 1e3:.0f} ms over {len(new)} (min {min(new) * 1e3:.0f}, "
          f"max {max(new) * 1e3:.0f}); target well under 1 s")
    print(f"rerun revisiting a cached setting: median {statistics.median(cached) * 1e3:.0f} ms; "
          f"ratio uncached/cached {statistics.median(new) / statistics.median(cached):.1f}x")
