"""``python -m model warm [--jobs N]``: compile the numba kernels once, into numba's disk cache.

The engine, its point of no return, the firm models and the network's agent step are
compiled by numba on first use and cached on disk (``cache=True``, next to their sources).
A cold compile takes about a minute of CPU per sector size. Installing (``make``) runs this
command, so the dashboard's first visit and every test worker start from the cache instead
of compiling the same kernels side by side; the jobs run in parallel processes, one per
kernel family. numba recompiles by itself whenever a source changes, so a stale cache only
costs time, never a wrong number.
"""

from __future__ import annotations

import time


def add_parser(sub) -> None:
    p = sub.add_parser("warm", help="compile the numba kernels into their disk cache (run at install)")
    p.add_argument("--jobs", type=int, default=2, metavar="N",
                   help="processes compiling side by side (default 2; 1 compiles here, in this process)")
    p.set_defaults(func=run)


def _engine_job(firm_count: int) -> str:
    """The engine, its batched point of no return and the outputs, for sectors of
    ``firm_count`` firms (1: one aggregate incumbent); also ``simulate``'s compiled right-hand
    side for one incumbent."""
    import numpy as np

    from ..core import engine
    from ..core.parameters import Parameters

    t0 = time.process_time()
    params = Parameters().replace(firm_count=firm_count)  # the kernels depend on the size only
    pvecs, y0s, _ = engine.pvecs_from_params([params])
    # The numba kernel (the lanes redo on it, and it runs where the C kernel is not built).
    engine.integrate(pvecs, y0s, np.linspace(0.0, 5.0, 3), t_end=5.0, engine="scalar")
    engine.point_of_no_return_batch(pvecs, y0s, horizon=5.0, tol=1.0)
    if firm_count == 1:
        from ..core.simulate import simulate

        simulate(params.replace(horizon=5.0))
    return f"engine, {firm_count} firm(s): {time.process_time() - t0:.1f} s CPU"


def _network_job() -> str:
    """The agent step of the network model, held and coupled."""
    from ..analysis.network import make_graph, simulate_network
    from ..core.parameters import Parameters

    t0 = time.process_time()
    params = Parameters()
    graph = make_graph("random_regular", 200, 6, seed=0)
    simulate_network(params, graph, horizon=1.0)
    simulate_network(params, graph, horizon=1.0, coupled=True)
    return f"network: {time.process_time() - t0:.1f} s CPU"


#: The jobs, largest first (the 8-firm engine compiles longest).
JOBS = ((_engine_job, (8,)), (_engine_job, (1,)), (_network_job, ()), (_engine_job, (2,)), (_engine_job, (4,)))


def run(args) -> int:
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    t0 = time.perf_counter()
    if args.jobs == 1:
        done = [fn(*a) for fn, a in JOBS]
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # spawn: a fresh interpreter per worker, so no numba or OpenMP state is forked.
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=mp.get_context("spawn")) as pool:
            done = [f.result() for f in [pool.submit(fn, *a) for fn, a in JOBS]]
    for line in done:
        print(line)
    print(f"compiled {len(done)} kernel families in {time.perf_counter() - t0:.1f} s")
    return 0
