"""Benchmark sections for ``python -m model bench``; each module has ``run(args)``.

The top layer, beside :mod:`model.commands` and ``app.py``: timings and ratios against
baselines in one run, never a test."""

import statistics
import time


def median_time(fn, repeat: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
