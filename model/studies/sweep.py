"""Headless parameter sweeps: designs, chunked Parquet output, resume, local or Dask execution.

A sweep varies some continuous parameters of one or more scenarios over ranges
(``--vary NAME=LOW:HIGH``), draws a design in the unit cube (a grid, a Latin hypercube or
a scrambled Sobol' sequence from :mod:`scipy.stats.qmc`), integrates every run with the
ensemble engine (:mod:`model.core.engine`) and writes one row per run: its inputs and its
outcomes (status and reason, whether and when the incumbent falls, the platform's share
of the sector's gross and the incumbent's gross loss at the fall, the static break-even
loss, and the point of no return when asked).

Layout of the output directory::

    DIR/manifest.json          what was asked (scenario contents, design, seed, ranges,
                               measures, chunking, tolerances), code version, times
    DIR/chunk-00000.parquet    rows of runs [0, chunk_size), then the next chunk, ...

Each chunk is a deterministic function of (scenario, ranges, design, seed, chunk index):
the design is drawn once from the seed and sliced, and runs do not interact in the
engine, so the rows are bit for bit the same whatever the backend (in-process, Dask) and
the number of workers or threads. A chunk file is written to a temporary name and moved
into place with :func:`os.replace`, so a chunk file either is complete or does not exist.
The manifest records each chunk's sha256, first run and row count before the file is
moved into place. ``resume=True`` after a kill (Ctrl-C, a crash, a killed worker, a full
disk) checks that the manifest describes the same sweep, removes stale temporary files,
and computes the chunks whose file is missing or does not match its entry (damaged,
copied over, unknown: moved aside as ``*.rejected``, and reported); :func:`read_sweep`
refuses such a file. No finished chunk is lost, and no row is written twice. A sweep
whose design or output would not fit in the memory or on the disk is refused before it
starts.

Execution: in-process by default, ``workers`` chunks at a time (default: one per core),
each on one engine thread (see :data:`THREADS_PER_CHUNK` for why); or
``scheduler="tcp://HOST:PORT"`` sends chunks to a Dask distributed cluster (each task on
one engine thread, as many at a time as the workers have threads; :func:`local_cluster`
starts one on this machine), and the client writes the files as results arrive.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import numba
import numpy as np

from ..core import engine
from ..core.equations import OUTPUT_NAMES, PARAM_NAMES, param_vector
from ..core.parameters import PARAMETER_SPECS, Parameters
from ..evidence import provenance
from ..evidence.scenarios import Scenario

__all__ = [
    "DESIGNS",
    "MEASURES",
    "DEFAULT_MEASURES",
    "INVALID",
    "SweepScenario",
    "SweepSpec",
    "SweepSummary",
    "parse_vary",
    "unit_design",
    "make_spec",
    "chunk_tasks",
    "compute_chunk",
    "run_sweep",
    "read_sweep",
    "code_version",
]

DESIGNS = ("grid", "lhs", "sobol")
#: Groups of outcome columns. "fall" is always computed.
MEASURES = ("fall", "break_even", "ponr")
DEFAULT_MEASURES = ("fall", "break_even")
#: Status of a row whose sampled parameters break a rule between parameters (the design
#: draws each range independently); it is kept, with its reason, and not integrated.
INVALID = -10
MANIFEST = "manifest.json"
#: 2: the manifest records each chunk's sha256, first run and row count (``chunks``).
FORMAT = 2
_COST_SUM_BOUNDS = (0.05, 0.99)  # Parameters.__post_init__: fixed + variable cost share

_SHARE = OUTPUT_NAMES.index("platform_share_of_gross")
_REVENUE = OUTPUT_NAMES.index("incumbent_revenue")
_P = {name: i for i, name in enumerate(PARAM_NAMES)}


# --------------------------------------------------------------------------------------
# Specification
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepScenario:
    """One scenario of a sweep: where it came from, its text, and its (overridden) values."""

    name: str
    origin: str
    contents: str
    params: Parameters
    overrides: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.contents.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SweepSpec:
    """Everything that determines a sweep's rows (compared on resume).

    ``vary`` maps parameter names to (low, high), in column order. ``n`` is the number of
    design points asked for; ``n_runs`` per scenario is ``n`` except for a grid
    (``levels ** d`` points).
    """

    scenarios: tuple[SweepScenario, ...]
    vary: tuple[tuple[str, float, float], ...]
    design: str
    n: int
    seed: int
    measures: tuple[str, ...] = DEFAULT_MEASURES
    chunk_size: int = 5000
    rtol: float = 1e-6
    atol: float = 1e-9
    ponr_tol: float = 0.01

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v[0] for v in self.vary)

    @property
    def n_runs(self) -> int:
        """Runs per scenario."""
        return len(unit_design(self.design, len(self.vary), self.n, self.seed))

    @property
    def total_runs(self) -> int:
        return self.n_runs * len(self.scenarios)

    @property
    def chunks_per_scenario(self) -> int:
        return math.ceil(self.n_runs / self.chunk_size)

    @property
    def n_chunks(self) -> int:
        return self.chunks_per_scenario * len(self.scenarios)

    def config(self) -> dict:
        """The JSON-able description compared on resume."""
        return {
            "scenarios": [{"name": s.name, "origin": s.origin, "sha256": s.sha256, "overrides": list(s.overrides),
                           "contents": s.contents} for s in self.scenarios],
            "vary": [[name, lo, hi] for name, lo, hi in self.vary],
            "design": self.design,
            "n": self.n,
            "n_runs_per_scenario": self.n_runs,
            "seed": self.seed,
            "measures": list(self.measures),
            "chunk_size": self.chunk_size,
            "rtol": self.rtol,
            "atol": self.atol,
            "ponr_tol": self.ponr_tol,
            "columns": list(columns(self.names, self.measures)),
        }


def parse_vary(items: Sequence[str], scenario: Scenario | None = None) -> tuple[tuple[str, float, float], ...]:
    """Parse ``--vary`` items: ``NAME=LOW:HIGH``, or ``NAME`` for the scenario's own range.

    Without items, every parameter the scenario gives a range is varied over it.

    Raises
    ------
    ValueError
        One line naming the item and what is wrong: an unknown name (listing the valid
        ones), a switch, a range that is not two numbers LOW < HIGH within the parameter's
        bounds, a name given twice, or a bare NAME without a range in the scenario.
    """
    if not items:
        if scenario is None or not scenario.ranges:
            raise ValueError("nothing to vary: give --vary NAME=LOW:HIGH (the scenario has no ranges)")
        return tuple((name, float(lo), float(hi)) for name, (lo, hi) in scenario.ranges.items())
    out: dict[str, tuple[float, float]] = {}
    valid = [n for n, s in PARAMETER_SPECS.items() if not s.is_switch]
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        where = f"--vary {item!r}"
        if name not in PARAMETER_SPECS:
            raise ValueError(f"{where}: unknown parameter {name!r}; valid names: {', '.join(valid)}")
        spec = PARAMETER_SPECS[name]
        if spec.is_switch:
            raise ValueError(f"{where}: `{name}` is a switch ({spec.allowed()}); only continuous parameters "
                             "can be varied (set a switch with --set)")
        if name in out:
            raise ValueError(f"{where}: `{name}` is varied twice")
        if not sep:
            rng = scenario.ranges.get(name) if scenario is not None else None
            if rng is None:
                raise ValueError(f"{where}: the scenario gives no range for `{name}`; write {name}=LOW:HIGH")
            out[name] = (float(rng[0]), float(rng[1]))
            continue
        parts = text.split(":")
        if len(parts) != 2:
            raise ValueError(f"{where}: expected NAME=LOW:HIGH, e.g. {name}={spec.bounds[0]:g}:{spec.bounds[1]:g}")
        try:
            lo, hi = float(parts[0]), float(parts[1])
        except ValueError:
            raise ValueError(f"{where}: LOW and HIGH must be numbers, got {parts[0]!r} and {parts[1]!r}") from None
        b_lo, b_hi = spec.bounds
        if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
            raise ValueError(f"{where}: need finite LOW < HIGH, got {lo:g}:{hi:g}")
        if lo < b_lo or hi > b_hi:
            raise ValueError(f"{where}: the range must lie within the bounds of `{name}`, [{b_lo:g}, {b_hi:g}]")
        out[name] = (lo, hi)
    return tuple((name, lo, hi) for name, (lo, hi) in out.items())


@cache
def _unit_design_cached(design: str, d: int, n: int, seed: int) -> np.ndarray:
    from scipy.stats import qmc

    if design == "lhs":
        points = qmc.LatinHypercube(d, rng=seed).random(n)
    elif design == "sobol":
        # Sobol' points are balanced in blocks of 2^m: draw the next power of two, keep n.
        m = max(0, math.ceil(math.log2(n)))
        points = qmc.Sobol(d, scramble=True, rng=seed).random_base2(m)[:n]
    else:  # grid: k levels per axis, k^d <= n points, the corners included
        k = max(2, int(math.floor(n ** (1.0 / d) + 1e-9)))
        axes = [np.linspace(0.0, 1.0, k)] * d
        points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, d)
    points = np.ascontiguousarray(points, dtype=np.float64)
    points.setflags(write=False)
    return points


def unit_design(design: str, d: int, n: int, seed: int) -> np.ndarray:
    """Design points in the unit cube, shape (n_runs, d); a pure function of its arguments.

    ``lhs``: Latin hypercube; ``sobol``: scrambled Sobol' sequence (the first ``n`` of the
    next power of two); ``grid``: ``k = floor(n ** (1/d))`` levels per axis (at least 2),
    ``k ** d`` points.
    """
    if design not in DESIGNS:
        raise ValueError(f"`design` must be one of {', '.join(DESIGNS)}, got {design!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"`n` must be a positive integer, got {n!r}")
    if d < 1:
        raise ValueError("nothing to vary: a design needs at least one parameter")
    if design == "grid" and n < 2 ** d:
        raise ValueError(f"a grid over {d} parameters needs --n >= 2^{d} = {2 ** d} (two levels each), got {n}")
    return _unit_design_cached(design, int(d), int(n), int(seed))


#: Rough costs used to refuse a sweep that cannot fit, before anything is allocated or
#: written (measured: about 8 bytes per column per row in the Parquet files, 7 kB of
#: working memory per run of a chunk in the engine, its outputs and the table).
_DISK_BYTES_PER_CELL = 8
_DISK_BYTES_PER_ROW = 64
_MEMORY_BYTES_PER_CHUNK_RUN = 8192


def _design_points(design: str, d: int, n: int) -> int:
    """Points :func:`unit_design` draws (Sobol' draws the next power of two), without drawing them."""
    if design == "sobol":
        return 2 ** max(0, math.ceil(math.log2(n)))
    if design == "grid":
        k = max(2, int(math.floor(n ** (1.0 / d) + 1e-9)))
        return k ** d
    return n


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _free_disk(path: Path) -> int | None:
    """Free bytes on the file system that holds ``path`` (or its nearest existing parent)."""
    import shutil

    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _size(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} PB"  # pragma: no cover


def _check_memory(design: str, d: int, n: int, chunk_size: int, n_scenarios: int) -> None:
    """ValueError if the design and one chunk would not fit in the memory available: the
    design (and the chunk tasks sliced from it) is held whole, so ``--n 10**12`` would
    otherwise die of an out-of-memory kill instead of a message."""
    points = _design_points(design, d, n)
    need = 2 * points * d * 8 + min(chunk_size, points) * _MEMORY_BYTES_PER_CHUNK_RUN
    available = _available_memory()
    if available is not None and need > available:
        fit = max(1, int((available - min(chunk_size, points) * _MEMORY_BYTES_PER_CHUNK_RUN) / (16 * d)))
        raise ValueError(f"--n {n}: a {design} design of {points:,} points over {d} parameter(s) "
                         f"({n_scenarios} scenario(s)) needs about {_size(need)} of memory; "
                         f"{_size(available)} is available; use --n of at most about {max(1, fit):,}")


def check_disk(spec: "SweepSpec", out_dir: Path, chunks: Sequence[int] | None = None) -> None:
    """ValueError if the rows still to write would not fit in the free space under ``out_dir``."""
    n_cols = len(columns(spec.names, spec.measures))
    if chunks is None:
        rows = spec.total_runs
    else:
        rows = sum(_expected_rows(spec, c) for c in chunks)
    need = rows * (n_cols * _DISK_BYTES_PER_CELL + _DISK_BYTES_PER_ROW)
    free = _free_disk(out_dir)
    if free is not None and need > free:
        raise ValueError(f"--out {out_dir}: {rows:,} rows of {n_cols} columns need about {_size(need)} of disk; "
                         f"{_size(free)} is free there; free space, choose another --out or a smaller --n")


def make_spec(scenarios: Sequence[tuple[Scenario, Parameters, str, Sequence[str]]], vary_items: Sequence[str], *,
              design: str = "lhs", n: int = 1000, seed: int = 0, measures: Iterable[str] = DEFAULT_MEASURES,
              chunk_size: int = 5000, rtol: float = 1e-6, atol: float = 1e-9, ponr_tol: float = 0.01) -> SweepSpec:
    """Build and validate a :class:`SweepSpec`.

    Parameters
    ----------
    scenarios : sequence of (Scenario, Parameters, contents, overrides)
        Each scenario, its parameters after ``--set`` overrides, the text of its file and
        the overrides as given.
    vary_items : sequence of str
        ``--vary`` items (see :func:`parse_vary`); read against the first scenario.
    """
    if not scenarios:
        raise ValueError("give at least one scenario file")
    if design not in DESIGNS:
        raise ValueError(f"--design must be one of {', '.join(DESIGNS)}, got {design!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"--n must be a positive integer, got {n!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"--chunk-size must be a positive integer, got {chunk_size!r}")
    measures = tuple(dict.fromkeys(["fall", *measures]))
    bad = [m for m in measures if m not in MEASURES]
    if bad:
        raise ValueError(f"--measures: unknown {bad[0]!r}; choose from {', '.join(MEASURES)}")
    for name, value in (("rtol", rtol), ("atol", atol), ("ponr_tol", ponr_tol)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"`{name}` must be positive and finite, got {value!r}")
    vary = parse_vary(vary_items, scenarios[0][0])
    if vary and not (design == "grid" and n < 2 ** len(vary)):
        _check_memory(design, len(vary), int(n), int(chunk_size), len(scenarios))
    unit_design(design, len(vary), n, seed)  # validates design-specific limits
    entries = tuple(SweepScenario(name=sc.name, origin=sc.origin, contents=contents, params=params,
                                  overrides=tuple(overrides))
                    for sc, params, contents, overrides in scenarios)
    return SweepSpec(scenarios=entries, vary=vary, design=design, n=int(n), seed=int(seed), measures=measures,
                     chunk_size=int(chunk_size), rtol=float(rtol), atol=float(atol), ponr_tol=float(ponr_tol))


# --------------------------------------------------------------------------------------
# Chunks
# --------------------------------------------------------------------------------------


def columns(names: Sequence[str], measures: Sequence[str]) -> tuple[str, ...]:
    """Column names of a sweep's rows, in order."""
    cols = ["run", "scenario", *names, "status", "reason", "solver", "falls", "fall_time", "share_at_fall",
            "gross_loss_at_fall", "share_at_end", "gross_loss_at_end"]
    if "break_even" in measures:
        cols.append("break_even_loss")
    if "ponr" in measures:
        cols += ["ponr_outcome", "ponr_time", "ponr_share", "ponr_gross_loss", "ponr_lo", "ponr_hi",
                 "ponr_share_lo", "ponr_gross_loss_lo"]
    return tuple(cols)


def chunk_tasks(spec: SweepSpec) -> list[dict]:
    """One self-contained task per chunk (what a Dask worker needs), in chunk order."""
    unit = unit_design(spec.design, len(spec.vary), spec.n, spec.seed)
    lo = np.array([v[1] for v in spec.vary])
    hi = np.array([v[2] for v in spec.vary])
    tasks = []
    for s_idx, sc in enumerate(spec.scenarios):
        base = param_vector(sc.params)
        for c in range(spec.chunks_per_scenario):
            start = c * spec.chunk_size
            stop = min(spec.n_runs, start + spec.chunk_size)
            tasks.append({
                "chunk": s_idx * spec.chunks_per_scenario + c,
                "scenario": sc.name,
                "first_run": s_idx * spec.n_runs + start,
                "names": spec.names,
                # lo + u (hi - lo): exactly the same numbers wherever the task runs.
                "values": lo + unit[start:stop] * (hi - lo),
                "base_pvec": base,
                # A sector of several firms: the varied values re-place its firms (a firm's
                # fixed-cost share is the sector's times its spread), so rows are built from
                # the parameters, not by setting columns of one vector.
                "base_params": sc.params if sc.params.firm_count > 1 else None,
                "base_horizon": float(sc.params.horizon),
                "policy": sc.params.price_policy,
                "measures": spec.measures,
                "rtol": spec.rtol,
                "atol": spec.atol,
                "ponr_tol": spec.ponr_tol,
            })
    return tasks


@cache
def _break_even_numpy():
    """Vectorised closed forms of the static break-even loss (model.analysis.tipping's sympy forms)."""
    from ..analysis.tipping import _break_even_functions

    return _break_even_functions("numpy")


def break_even_batch(pvecs: np.ndarray, y0s: np.ndarray, policy: str) -> np.ndarray:
    """Static break-even loss at the initial state for each row (see model.analysis.tipping)."""
    from ..analysis.tipping import BREAK_EVEN_FORM, break_even_arguments

    out0 = engine.outputs_batch(y0s, pvecs)
    with np.errstate(all="ignore"):
        value = _break_even_numpy()[BREAK_EVEN_FORM[policy]](*break_even_arguments(y0s, out0, pvecs))
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (pvecs.shape[0],)).copy()


#: The layout of a sweep on the cores (issue 17): chunks run side by side, each on this
#: many engine (numba) threads, as many chunks at a time as there are workers (local
#: threads, or the threads of the Dask workers). Why not one chunk at a time on all the
#: engine's threads (the former layout): numba's OpenMP threads spin while they wait
#: between kernels (on 2 cores, 2 engine threads per chunk took 38-57% more CPU time than
#: 1 for the same chunks, measured under load), and ``prange`` splits a chunk evenly, so
#: when another process holds one core the thread there finishes last and the other
#: waits: 2 workers were slower than 1 with one core free. One thread per chunk has no
#: OpenMP team to spin, and the next chunk goes to whichever worker is free. Threads of one
#: process, not processes, locally: the engine's kernels release the GIL (the rest of a
#: chunk is about 4% of its time), and a fresh worker process spends about 3.4 CPU-seconds
#: importing and building the break-even forms before its first row.
THREADS_PER_CHUNK = 1
#: numba threading layers whose kernels may run from several threads at once (the
#: workqueue layer aborts the process then: with it, chunks run one at a time).
_THREAD_SAFE_LAYERS = ("omp", "tbb")

# Held around the engine when the threading layer is not thread-safe (see above).
_ENGINE_LOCK = threading.Lock()
_NO_LOCK = contextlib.nullcontext()


def concurrent_kernels() -> bool:
    """Whether engine kernels may run in several threads of this process at once."""
    numba.get_num_threads()  # launches numba's threading layer, so that it has a name
    return numba.threading_layer() in _THREAD_SAFE_LAYERS


def _on_dask_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


def local_cluster(workers: int, **kwargs):
    """A Dask ``LocalCluster`` of ``workers`` processes of one thread each on this machine
    (pass its ``scheduler_address`` to :func:`run_sweep`); each task runs on
    :data:`THREADS_PER_CHUNK` engine threads, as on any Dask worker."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, **kwargs)


def _firm_rows(base, names, values, idx, reason, status):
    """Parameter vectors of a sector of firms for rows ``idx`` (the firms placed again for
    each row's values); rows whose values break a rule of the parameters stay invalid with
    the rule as their reason. Returns (the rows kept, their vectors)."""
    from ..core.firms import firm_param_vector, firm_param_vector_with

    kept, vectors = [], []
    for i in idx.tolist():
        try:
            vectors.append(firm_param_vector_with(base, names, values[i]))
        except ValueError as e:
            reason[i] = f"invalid parameters: {e}"
            status[i] = INVALID
            continue
        kept.append(i)
    width = len(firm_param_vector(base))
    return np.array(kept, dtype=np.int64), np.array(vectors, dtype=np.float64).reshape(-1, width)


def compute_chunk(task: dict, threads: int | None = None) -> dict[str, np.ndarray]:
    """Rows of one chunk as a dict of column arrays (see :func:`columns`).

    A pure function of ``task``: the same numbers on any machine with the same code.
    ``threads`` limits the engine's threads (default: all cores, or
    :data:`THREADS_PER_CHUNK` on a Dask worker). ``rows["layout"]`` reports the engine's
    threading layer and threads used (not a column).
    """
    names = list(task["names"])
    values = np.asarray(task["values"], dtype=np.float64)
    n = values.shape[0]
    pvecs = np.repeat(task["base_pvec"][None, :], n, axis=0)
    horizon = np.full(n, task["base_horizon"])
    for j, name in enumerate(names):
        if name == "horizon":
            horizon = values[:, j].copy()
        elif name in _P:  # the firms' spreads, sizes and switching rate are not columns of one firm
            pvecs[:, _P[name]] = values[:, j]
    cost_sum = pvecs[:, _P["fixed_cost_share"]] + pvecs[:, _P["variable_cost_share"]]
    valid = (cost_sum >= _COST_SUM_BOUNDS[0]) & (cost_sum <= _COST_SUM_BOUNDS[1])
    idx = np.flatnonzero(valid)

    rows: dict[str, Any] = {
        "run": np.arange(task["first_run"], task["first_run"] + n, dtype=np.int64),
        "scenario": np.full(n, task["scenario"], dtype=object),
    }
    for j, name in enumerate(names):
        rows[name] = values[:, j].copy()
    status = np.full(n, INVALID, dtype=np.int8)
    reason = np.array([f"invalid parameters: fixed_cost_share + variable_cost_share = {c:.6g} is outside "
                       f"[{_COST_SUM_BOUNDS[0]:g}, {_COST_SUM_BOUNDS[1]:g}]" for c in cost_sum], dtype=object)
    solver = np.full(n, "", dtype=object)
    nan = np.full(n, np.nan)
    out = {k: nan.copy() for k in ("fall_time", "share_at_fall", "gross_loss_at_fall", "share_at_end",
                                   "gross_loss_at_end", "break_even_loss", "ponr_time", "ponr_share",
                                   "ponr_gross_loss", "ponr_lo", "ponr_hi", "ponr_share_lo", "ponr_gross_loss_lo")}
    falls = np.zeros(n, dtype=bool)
    ponr_outcome = np.full(n, "", dtype=object)

    if threads is None and _on_dask_worker():
        threads = THREADS_PER_CHUNK
    with (_NO_LOCK if concurrent_kernels() else _ENGINE_LOCK):
        before = engine.set_threads(None)
        try:
            layout = {"threading_layer": numba.threading_layer(), "threads": engine.set_threads(threads)}
            firms = task.get("base_params")
            reorganise = False
            if firms is not None and idx.size:
                idx, pv = _firm_rows(firms, names, values, idx, reason, status)
                reorganise = firms.insolvency == "reorganisation"
            elif idx.size:
                pv = pvecs[idx]
            if idx.size:
                y0 = engine.initial_states(pv)
                res = engine.integrate(pv, y0, t_end=horizon[idx], rtol=task["rtol"], atol=task["atol"],
                                       reorganise=reorganise)
                status[idx] = res.status
                reason[idx] = res.reason
                solver[idx] = [engine.SOLVER_NAMES[int(s)] for s in res.solver]
                falls[idx] = res.falls
                out["fall_time"][idx] = res.fall_time
                out["share_at_fall"][idx] = res.share_at_fall
                out["gross_loss_at_fall"][idx] = res.gross_loss_at_fall
                ok = res.success
                if firms is None:
                    end = engine.outputs_batch(np.nan_to_num(res.y_last), pv)
                    revenue0 = engine.outputs_batch(y0, pv)[:, _REVENUE]
                    out["share_at_end"][idx] = np.where(ok, end[:, _SHARE], np.nan)
                    out["gross_loss_at_end"][idx] = np.where(ok, 1.0 - end[:, _REVENUE] / revenue0, np.nan)
                else:
                    # As for one firm, a run ends at the (sector's) fall or the horizon.
                    at_end = engine.integrate(pv, y0, horizon[idx][:, None], t_end=horizon[idx], rtol=task["rtol"],
                                              atol=task["atol"], reorganise=reorganise, after_fall="continue")
                    last = at_end.outputs[:, 0, :]
                    share_end = np.where(res.falls, res.share_at_fall, last[:, _SHARE])
                    revenue0 = engine.outputs_batch(y0, pv)[:, _REVENUE]
                    loss_end = np.where(res.falls, res.gross_loss_at_fall, 1.0 - last[:, _REVENUE] / revenue0)
                    out["share_at_end"][idx] = np.where(ok, share_end, np.nan)
                    out["gross_loss_at_end"][idx] = np.where(ok, loss_end, np.nan)
                if "break_even" in task["measures"]:
                    # The static break-even of the sector's aggregate incumbent (one firm).
                    one = pvecs[idx]
                    out["break_even_loss"][idx] = break_even_batch(one, engine.initial_states(one), task["policy"])
                if "ponr" in task["measures"]:
                    pb = engine.point_of_no_return_batch(pv, y0, horizon[idx], tol=task["ponr_tol"],
                                                         rtol=task["rtol"], atol=task["atol"], reorganise=reorganise)
                    ponr_outcome[idx] = pb.outcome_names
                    for col, arr in (("ponr_time", pb.time), ("ponr_share", pb.share),
                                     ("ponr_gross_loss", pb.gross_loss), ("ponr_lo", pb.lo), ("ponr_hi", pb.hi),
                                     ("ponr_share_lo", pb.share_lo), ("ponr_gross_loss_lo", pb.gross_loss_lo)):
                        out[col][idx] = arr
        finally:
            engine.set_threads(before)

    rows.update({"status": status, "reason": reason, "solver": solver, "layout": layout})
    # Whether the incumbent falls is unknown (null) where the run failed or was invalid.
    rows["falls"] = falls
    rows["falls_known"] = status >= 0
    for col in ("fall_time", "share_at_fall", "gross_loss_at_fall", "share_at_end", "gross_loss_at_end"):
        rows[col] = out[col]
    if "break_even" in task["measures"]:
        rows["break_even_loss"] = out["break_even_loss"]
    if "ponr" in task["measures"]:
        rows["ponr_outcome"] = ponr_outcome
        for col in ("ponr_time", "ponr_share", "ponr_gross_loss", "ponr_lo", "ponr_hi", "ponr_share_lo",
                    "ponr_gross_loss_lo"):
            rows[col] = out[col]
    return rows


def _to_table(rows: dict[str, np.ndarray], cols: Sequence[str]):
    import pyarrow as pa

    arrays = []
    for col in cols:
        if col == "falls":
            arrays.append(pa.array(rows["falls"], type=pa.bool_(), mask=~rows["falls_known"]))
        elif col in ("scenario", "reason", "solver", "ponr_outcome"):
            arrays.append(pa.array(list(rows[col]), type=pa.string()))
        else:
            arrays.append(pa.array(rows[col]))
    return pa.Table.from_arrays(arrays, names=list(cols))


def chunk_path(out_dir: Path, chunk: int) -> Path:
    return out_dir / f"chunk-{chunk:05d}.parquet"


def _write_atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        # A failed write (a full disk) must not leave its temporary behind.
        tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_chunk(out_dir: Path, chunk: int, rows: dict[str, np.ndarray], cols: Sequence[str],
                record=None) -> Path:
    """Write one chunk atomically (temporary file, fsync, os.replace).

    ``record(chunk, entry)``, if given, is called with the chunk's manifest entry (content
    hash, first run, rows) after the file is complete and before it is moved into place:
    a chunk file in place always has its entry in the manifest, so resume and
    :func:`read_sweep` can tell it from a damaged, copied-over or stray file.
    """
    import pyarrow.parquet as pq

    path = chunk_path(out_dir, chunk)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(_to_table(rows, cols), tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if record is not None:
            run = rows["run"]
            record(chunk, {"sha256": _sha256(tmp), "first_run": int(run[0]) if len(run) else 0,
                           "rows": int(len(run))})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------


code_version = provenance.code_version


@dataclass
class SweepSummary:
    """What :func:`run_sweep` did."""

    out_dir: Path
    total_runs: int
    n_chunks: int
    computed_chunks: list[int] = field(default_factory=list)
    skipped_chunks: list[int] = field(default_factory=list)
    computed_runs: int = 0
    seconds: float = 0.0
    #: Chunk files found bad on resume (and recomputed) or not part of the sweep, with why.
    rejected: list[str] = field(default_factory=list)
    #: Chunks computed at a time (locally; with a scheduler: its workers' threads).
    concurrent_chunks: int = 1
    #: (numba threading layer, engine threads) that the computed chunks reported.
    layouts: set[tuple[str, int]] = field(default_factory=set)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _expected_rows(spec: SweepSpec, chunk: int) -> int:
    c = chunk % spec.chunks_per_scenario
    return min(spec.chunk_size, spec.n_runs - c * spec.chunk_size)


def _expected_first_run(n_runs: int, chunk_size: int, chunks_per_scenario: int, chunk: int) -> int:
    return (chunk // chunks_per_scenario) * n_runs + (chunk % chunks_per_scenario) * chunk_size


def _manifest_error(path: Path, what: str) -> ValueError:
    return ValueError(f"{path}: not a sweep manifest ({what}); it was damaged or written by something else: "
                      "rerun the sweep into a new --out")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def read_manifest(out_dir: Path) -> dict:
    """The manifest of the sweep in ``out_dir``, its shape checked; ValueError naming the
    file and the field otherwise (never an AttributeError on a JSON list or a number)."""
    path = Path(out_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{out_dir}: no {MANIFEST} (is it a sweep directory?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path}: unreadable manifest ({type(e).__name__}: {e})") from None
    if not isinstance(manifest, dict):
        raise _manifest_error(path, f"a JSON {type(manifest).__name__}, not an object")
    config = manifest.get("config")
    if not isinstance(config, dict):
        raise _manifest_error(path, "`config` must be an object")
    for key in ("n_runs_per_scenario", "chunk_size"):
        if not _is_int(config.get(key)) or config[key] < 1:
            raise _manifest_error(path, f"`config.{key}` must be a positive integer")
    if not isinstance(config.get("scenarios"), list) or not config["scenarios"]:
        raise _manifest_error(path, "`config.scenarios` must be a non-empty list")
    if not isinstance(manifest.get("resumed", []), list):
        raise _manifest_error(path, "`resumed` must be a list")
    chunks = manifest.get("chunks", {})
    if not isinstance(chunks, dict):
        raise _manifest_error(path, "`chunks` must be an object")
    for key, entry in chunks.items():
        if (not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str)
                or not _is_int(entry.get("first_run")) or not _is_int(entry.get("rows"))):
            raise _manifest_error(path, f"`chunks.{key[:20]}` must be an object with `sha256`, `first_run`, `rows`")
    return manifest


def _check_chunk(path: Path, entry, first_run: int, rows: int) -> str | None:
    """Why the chunk file ``path`` is not the one the manifest recorded (None if it is)."""
    if not path.is_file():
        return "is not a file"
    if entry is None:
        return "has no entry in the manifest (copied in, or written by another sweep)"
    if entry["first_run"] != first_run or entry["rows"] != rows:
        return (f"its manifest entry says runs {entry['first_run']}..+{entry['rows']}, this chunk holds "
                f"runs {first_run}..+{rows}")
    try:
        digest = _sha256(path)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if digest != entry["sha256"]:
        return "its content differs from the hash in the manifest (damaged, or another chunk copied over it)"
    return None


def _reject(path: Path) -> None:
    """Move a bad chunk file aside (never merged, kept for inspection) as ``NAME.rejected``."""
    target = path.with_name(path.name + ".rejected")
    if target.is_dir() or path.is_dir():
        raise ValueError(f"{path}: a folder where a chunk file belongs; remove it and run with --resume again")
    os.replace(path, target)


def _prepare_dir(spec: SweepSpec, out_dir: Path, resume: bool) -> tuple[dict, list[int], list[str]]:
    """Create or check ``out_dir``; returns the manifest, the chunks still to compute, and
    the chunk files rejected (with why)."""
    manifest_path = out_dir / MANIFEST
    config = spec.config()
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir}: exists and is not a directory")
    rejected: list[str] = []
    if manifest_path.exists():
        if not resume:
            raise ValueError(f"--out {out_dir}: already holds a sweep; add --resume to finish it, or choose another "
                             "directory")
        manifest = read_manifest(out_dir)
        old = manifest["config"]
        for key in config:
            if old.get(key) != config[key]:
                raise ValueError(f"--resume: {out_dir} holds a different sweep (its `{key}`, in {manifest_path}, "
                                 "differs from this command's); rerun the original command or choose another --out")
        manifest["resumed"] = manifest.get("resumed", []) + [{"time": _now(), "code_version": code_version()}]
    else:
        if out_dir.exists() and any(out_dir.glob("chunk-*.parquet")):
            raise ValueError(f"--out {out_dir}: holds chunk files but no manifest; choose an empty directory")
        check_disk(spec, out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        manifest = {"format": FORMAT, "created": _now(), "code_version": code_version(),
                    "total_runs": spec.total_runs, "n_chunks": spec.n_chunks, "complete": False, "config": config}
    records = manifest.setdefault("chunks", {})
    # Stale temporaries of a killed writer (chunks and the manifest itself).
    for pattern in (".chunk-*.tmp", f".{MANIFEST}.*.tmp"):
        for tmp in out_dir.glob(pattern):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
    todo = []
    for chunk in range(spec.n_chunks):
        path = chunk_path(out_dir, chunk)
        first = _expected_first_run(spec.n_runs, spec.chunk_size, spec.chunks_per_scenario, chunk)
        if path.exists() or path.is_symlink():
            problem = _check_chunk(path, records.get(str(chunk)), first, _expected_rows(spec, chunk))
            if problem is None:
                continue
            _reject(path)
            rejected.append(f"{path.name} {problem}: recomputed (the file is kept as {path.name}.rejected)")
        records.pop(str(chunk), None)
        todo.append(chunk)
    # Files named like chunks that no chunk of this sweep has: never merged.
    known = {chunk_path(out_dir, c).name for c in range(spec.n_chunks)}
    for path in sorted(out_dir.glob("chunk-*.parquet")):
        if path.name not in known:
            _reject(path)
            rejected.append(f"{path.name} is not a chunk of this sweep ({spec.n_chunks} chunks): moved aside "
                            f"as {path.name}.rejected")
    for key in [k for k in records if not (k.isdigit() and int(k) < spec.n_chunks)]:
        del records[key]
    if todo:
        check_disk(spec, out_dir, todo)
    manifest["complete"] = not todo
    _write_atomic_bytes(manifest_path, json.dumps(manifest, indent=1).encode("utf-8"))
    return manifest, todo, rejected


def run_sweep(spec: SweepSpec, out_dir: str | Path, *, resume: bool = False, workers: int | None = None,
              scheduler: str | None = None, progress: bool = True) -> SweepSummary:
    """Run (or finish, with ``resume``) a sweep into ``out_dir``.

    Parameters
    ----------
    spec : SweepSpec
    out_dir : path
        Output directory (created); see the module docstring for its layout.
    resume : bool
        Finish the sweep already in ``out_dir`` (which must describe the same ``spec``).
    workers : int, optional
        Chunks computed at a time locally, each on :data:`THREADS_PER_CHUNK` engine
        threads (default: one per core; a single chunk left uses ``workers`` engine
        threads). Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://HOST:PORT``): chunks run there.
    progress : bool
        Show a progress bar (runs, runs per second, time left) on stderr.

    Returns
    -------
    SweepSummary

    Raises
    ------
    ValueError
        If ``out_dir`` already holds a sweep and ``resume`` is false, holds a different
        sweep, or ``workers`` is not a positive integer.
    """
    import time

    from tqdm import tqdm

    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"--workers must be a positive integer, got {workers!r}")
    out_dir = Path(out_dir)
    try:
        manifest, todo, rejected = _prepare_dir(spec, out_dir, resume)
    except OSError as e:  # an unwritable folder, a full disk, a file where a folder belongs
        raise ValueError(f"--out {out_dir}: {e.strerror or e}"
                         + (f" ({e.filename})" if getattr(e, "filename", None) else "")) from None
    summary = SweepSummary(out_dir=out_dir, total_runs=spec.total_runs, n_chunks=spec.n_chunks,
                           skipped_chunks=[c for c in range(spec.n_chunks) if c not in set(todo)],
                           rejected=rejected)

    def record(chunk: int, entry: dict) -> None:
        # The entry goes to disk before the chunk file is moved into place (see write_chunk).
        manifest["chunks"][str(chunk)] = entry
        _write_atomic_bytes(out_dir / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))

    cols = columns(spec.names, spec.measures)

    def store(chunk: int, rows: dict) -> None:
        write_chunk(out_dir, chunk, rows, cols, record)
        summary.computed_chunks.append(chunk)
        summary.computed_runs += len(rows["run"])
        summary.layouts.add((rows["layout"]["threading_layer"], rows["layout"]["threads"]))
        bar.update(len(rows["run"]))
    done_runs = sum(_expected_rows(spec, c) for c in summary.skipped_chunks)
    t0 = time.perf_counter()
    bar = tqdm(total=spec.total_runs, initial=done_runs, unit="run", unit_scale=True, disable=not progress,
               desc="sweep", dynamic_ncols=True, smoothing=0.1)
    try:
        if todo:
            tasks = chunk_tasks(spec)
            if scheduler is None:
                _run_locally([tasks[c] for c in todo], workers or _local_cores(), summary, store)
            else:
                _run_on_dask(scheduler, [tasks[c] for c in todo], summary, store)
    except OSError as e:  # a full disk, the folder removed: what is done stays done
        done = len(summary.skipped_chunks) + len(summary.computed_chunks)
        raise ValueError(f"--out {out_dir}: cannot write ({e.strerror or e}); {done} of {spec.n_chunks} chunks "
                         "are complete and kept: free space and run the same command with --resume") from None
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - t0
    manifest["complete"] = True
    manifest["finished"] = _now()
    _write_atomic_bytes(out_dir / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
    return summary


def _local_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _run_locally(tasks: list[dict], workers: int, summary: SweepSummary, store) -> None:
    """Compute ``tasks`` in this process, ``workers`` chunks at a time (see THREADS_PER_CHUNK)."""
    at_once = min(workers, len(tasks)) if concurrent_kernels() else 1
    summary.concurrent_chunks = at_once
    if at_once == 1:  # one chunk at a time, on all the threads asked for
        for task in tasks:
            store(task["chunk"], compute_chunk(task, threads=workers))
        return
    # A few chunks queued per worker, not all: finished rows are written and freed as they come.
    queue = iter(tasks)
    pool = ThreadPoolExecutor(at_once, thread_name_prefix="sweep")
    try:
        pending = {}

        def submit() -> None:
            task = next(queue, None)
            if task is not None:
                pending[pool.submit(compute_chunk, task, THREADS_PER_CHUNK)] = task["chunk"]

        for _ in range(2 * at_once):
            submit()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                store(pending.pop(future), future.result())
                submit()
    finally:  # an error or Ctrl-C: chunks not started are dropped; finished ones are on disk
        pool.shutdown(wait=True, cancel_futures=True)


def _run_on_dask(address: str, tasks: list[dict], summary: SweepSummary, store) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - dask is a dependency
        raise ValueError("--scheduler needs dask.distributed (pip install 'dask[distributed]')") from None
    if not isinstance(address, str) or "://" not in address:
        raise ValueError(f"--scheduler must be an address like tcp://HOST:PORT, got {address!r}")
    try:
        client = Client(address, timeout=30)
    except OSError as e:
        raise ValueError(f"--scheduler {address}: cannot connect ({e})") from None
    with client:
        summary.concurrent_chunks = sum(client.nthreads().values())
        # As locally, a few chunks queued per worker thread, the next sent as one finishes:
        # the scheduler never holds the whole design (one graph of every chunk's values).
        queue, chunk_of, running = iter(tasks), {}, as_completed()

        def submit() -> None:
            task = next(queue, None)
            if task is not None:
                future = client.submit(compute_chunk, task, pure=False)
                chunk_of[future.key] = task["chunk"]
                running.add(future)

        for _ in range(2 * max(1, summary.concurrent_chunks)):
            submit()
        for future in running:
            store(chunk_of.pop(future.key), future.result())
            future.release()
            submit()


def read_sweep(out_dir: str | Path):
    """All rows of a sweep as a pandas DataFrame ordered by run (finished chunks only).

    Only chunk files the manifest lists, with the content hash and run range it recorded,
    are read: a damaged, copied-over or stray chunk file is a ValueError naming it (run
    the sweep with ``--resume`` to recompute it), never merged.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    config, records = manifest["config"], manifest.get("chunks", {})
    n_runs, size = config["n_runs_per_scenario"], config["chunk_size"]
    per_scenario = math.ceil(n_runs / size)
    n_chunks = per_scenario * len(config["scenarios"])
    files = sorted(out_dir.glob("chunk-*.parquet"))
    if not files:
        raise ValueError(f"{out_dir}: no chunk files (is it a sweep directory?)")
    names = {chunk_path(out_dir, c).name: c for c in range(n_chunks)}
    # Nullable booleans: `falls` is null where a run failed or its parameters were invalid.
    mapper = {pa.bool_(): pd.BooleanDtype()}.get
    frames = []
    for f in files:
        chunk = names.get(f.name)
        if chunk is None:
            raise ValueError(f"{f}: not a chunk of the sweep in {out_dir} ({n_chunks} chunks); remove it, or run "
                             "the sweep with --resume, which moves it aside")
        c = chunk % per_scenario
        problem = _check_chunk(f, records.get(str(chunk)), _expected_first_run(n_runs, size, per_scenario, chunk),
                               min(size, n_runs - c * size))
        if problem is not None:
            raise ValueError(f"{f}: {problem}; run the sweep with --resume to recompute it")
        try:
            frames.append(pq.read_table(f).to_pandas(types_mapper=mapper))
        except (OSError, pa.ArrowException) as e:
            raise ValueError(f"{f}: unreadable chunk ({e}); run the sweep with --resume to recompute it") from None
    df = pd.concat(frames, ignore_index=True).sort_values("run", kind="stable").reset_index(drop=True)
    if not df["run"].is_unique:  # the hashes make this impossible short of a forged manifest
        raise ValueError(f"{out_dir}: some runs appear twice; run the sweep with --resume")
    return df
