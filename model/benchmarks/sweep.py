"""Sweeps: speed-up and efficiency from 1 to 2 workers, locally and on Dask (issue 17, item 4).

One sweep (a Latin hypercube over every range of the baseline scenario, fall and
break-even, Parquet chunks) is run with 1 and 2 workers by

* the local backend (``run_sweep``: chunks side by side in threads of this process, one
  engine thread each, :data:`model.studies.sweep.THREADS_PER_CHUNK`);
* the Dask backend (``run_sweep`` on a :func:`model.studies.sweep.local_cluster` of 1 or 2
  worker processes of one thread each; the cluster is started and warmed up outside the
  timing, its start-up printed apart);
* the former layout as the baseline: one chunk at a time on 2 engine (OpenMP) threads
  (``compute_chunk(task, threads=2)``, Parquet not written).

For each: the wall time (median of interleaved repeats), the CPU time of every process
that worked (this one by ``time.process_time``, which counts its threads, plus the Dask
worker processes by psutil), and the load average before and after. Efficiency is the
speed-up by wall time over the number of workers (the target: >= 80% at 2 workers); on a
shared machine it is only as good as the cores left free, which the load average says,
and the CPU time says whether the second worker added work of its own (spinning).
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from ..commands.sweep import load_scenarios
from ..studies.sweep import THREADS_PER_CHUNK, chunk_tasks, compute_chunk, local_cluster, make_spec, run_sweep

BASELINE = Path(__file__).resolve().parents[2] / "scenarios" / "baseline.toml"


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu_seconds(pids=()) -> float:
    """CPU time of this process (all its threads) and of the processes ``pids``."""
    total = time.process_time()
    for pid in pids:
        t = psutil.Process(pid).cpu_times()
        total += t.user + t.system
    return total


def _warm_worker() -> int:
    """Run a small chunk (kernels loaded, break-even forms built); returns the process id."""
    spec = make_spec(load_scenarios([str(BASELINE)], []), [], n=50, seed=2, chunk_size=50)
    compute_chunk(chunk_tasks(spec)[0])
    return os.getpid()


def run(args) -> None:
    quick = getattr(args, "quick", False)
    n, chunk = (4_000, 500) if quick else (40_000, 2_000)
    repeat = 1 if quick else 3
    spec = make_spec(load_scenarios([str(BASELINE)], []), [], design="lhs", n=n, seed=1, chunk_size=chunk)
    tasks = chunk_tasks(spec)
    with tempfile.TemporaryDirectory() as tmp:  # warm up: kernels, break-even forms, Parquet writer
        run_sweep(make_spec(load_scenarios([str(BASELINE)], []), [], n=200, seed=2, chunk_size=100),
                  Path(tmp) / "w", progress=False)
    print(f"sweep of {n:,} runs (all {len(spec.vary)} baseline ranges, fall + break-even, {spec.n_chunks} chunks "
          f"of {chunk:,}); {len(os.sched_getaffinity(0))} cores; load average {_load()} (1/5/15 min)", flush=True)

    from distributed import Client

    clusters, pids, addresses = {}, {}, {}
    try:
        for workers in (1, 2):
            l0, t0, c0 = _load(), time.perf_counter(), time.process_time()
            cluster = clusters[workers] = local_cluster(workers, silence_logs=logging.ERROR)
            with Client(cluster.scheduler_address) as client:
                pids[workers] = list(client.run(_warm_worker).values())
            cpu = _cpu_seconds(pids[workers]) - c0  # the workers started at none
            addresses[workers] = cluster.scheduler_address
            print(f"dask, {workers} worker(s): start and warm-up {time.perf_counter() - t0:.1f} s wall, "
                  f"{cpu:.1f} CPU-s (load {l0})", flush=True)

        def local(workers):
            with tempfile.TemporaryDirectory() as tmp:
                return run_sweep(spec, Path(tmp) / "s", workers=workers, progress=False)

        def dask(workers):
            with tempfile.TemporaryDirectory() as tmp:
                return run_sweep(spec, Path(tmp) / "s", scheduler=addresses[workers], progress=False)

        def former(workers):
            for task in tasks:
                compute_chunk(task, threads=workers)

        cases = [("local", 1, local, ()), ("local", 2, local, ()), ("dask", 1, dask, pids[1]),
                 ("dask", 2, dask, pids[2]), ("former", 2, former, ())]
        samples = {(name, w): [] for name, w, _, _ in cases}
        for _ in range(repeat):  # interleaved: a change in the machine's load hits every case alike
            for name, workers, fn, worker_pids in cases:
                l0 = os.getloadavg()[0]
                c0, t0 = _cpu_seconds(worker_pids), time.perf_counter()
                summary = fn(workers)
                wall = time.perf_counter() - t0
                samples[name, workers].append((wall, _cpu_seconds(worker_pids) - c0, l0, summary))
    finally:
        for cluster in clusters.values():
            cluster.close()

    def med(name, workers):
        rows = samples[name, workers]
        return (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows),
                statistics.median(r[2] for r in rows), rows[-1][3])

    for name, label in (("local", "local (threads of this process)"), ("dask", "dask (LocalCluster, processes)")):
        (w1, c1, l1, s1), (w2, c2, l2, s2) = med(name, 1), med(name, 2)
        speedup = w1 / w2
        layouts = ", ".join(f"{layer} x {threads}" for layer, threads in sorted(s2.layouts))
        print(f"{label}, {THREADS_PER_CHUNK} engine thread per chunk ({layouts}): 1 worker {n / w1:,.0f} runs/s "
              f"({w1:.2f} s wall, {c1:.2f} CPU-s, load {l1:.2f}); 2 workers {n / w2:,.0f} runs/s ({w2:.2f} s wall, "
              f"{c2:.2f} CPU-s, load {l2:.2f}); speed-up {speedup:.2f}x, efficiency {speedup / 2:.0%}; "
              f"CPU 2 workers / 1 worker {c2 / c1:.2f}", flush=True)
    w1, c1, _, _ = med("local", 1)
    wf, cf, lf, _ = med("former", 2)
    print(f"former layout (one chunk at a time on 2 OpenMP engine threads, no Parquet): {n / wf:,.0f} runs/s "
          f"({wf:.2f} s wall, {cf:.2f} CPU-s, load {lf:.2f}); speed-up over 1 worker {w1 / wf:.2f}x, "
          f"efficiency {w1 / wf / 2:.0%}; CPU / 1 worker {cf / c1:.2f}")
    print(f"target (issue 17): efficiency >= 80% at 2 workers on 2 free cores; load average now {_load()}")
