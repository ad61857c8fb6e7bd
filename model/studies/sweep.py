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
``resume=True`` after a kill (Ctrl-C, a crash, a killed worker) checks that the manifest
describes the same sweep, removes stale temporary files, and computes only the chunks
whose file is missing: no finished chunk is recomputed or lost, and no row is written
twice.

Execution: in-process by default, the engine parallel over all local cores inside each
chunk (``workers`` threads); or ``scheduler="tcp://HOST:PORT"`` sends chunks to a Dask
distributed cluster, and the client writes the files as results arrive.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Iterable, Sequence

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
FORMAT = 1
_COST_SUM_BOUNDS = (0.05, 0.99)  # Parameters.__post_init__: fixed + variable cost share

_SHARE = OUTPUT_NAMES.index("platform_share_of_gross")
_REVENUE = OUTPUT_NAMES.index("incumbent_revenue")
_VOLUME = OUTPUT_NAMES.index("incumbent_volume")
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


_ENGINE_LOCK = threading.Lock()


def _worker_threads() -> int | None:
    """Threads this Dask worker may use (None outside Dask)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


def compute_chunk(task: dict, threads: int | None = None) -> dict[str, np.ndarray]:
    """Rows of one chunk as a dict of column arrays (see :func:`columns`).

    A pure function of ``task``: the same numbers on any machine with the same code.
    ``threads`` limits the engine's threads (default: all cores, or the Dask worker's
    thread count when running on a Dask worker).
    """
    names = list(task["names"])
    values = np.asarray(task["values"], dtype=np.float64)
    n = values.shape[0]
    pvecs = np.repeat(task["base_pvec"][None, :], n, axis=0)
    horizon = np.full(n, task["base_horizon"])
    for j, name in enumerate(names):
        if name == "horizon":
            horizon = values[:, j].copy()
        else:
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

    if threads is None:
        threads = _worker_threads()
    with _ENGINE_LOCK:  # numba's thread pool serves one parallel kernel per process at a time
        before = engine.set_threads(None)
        try:
            if threads:
                engine.set_threads(threads)
            if idx.size:
                pv = pvecs[idx]
                y0 = engine.initial_states(pv)
                res = engine.integrate(pv, y0, t_end=horizon[idx], rtol=task["rtol"], atol=task["atol"])
                status[idx] = res.status
                reason[idx] = res.reason
                solver[idx] = [engine.SOLVER_NAMES[int(s)] for s in res.solver]
                falls[idx] = res.falls
                out["fall_time"][idx] = res.fall_time
                out["share_at_fall"][idx] = res.share_at_fall
                out["gross_loss_at_fall"][idx] = res.gross_loss_at_fall
                end = engine.outputs_batch(np.nan_to_num(res.y_last), pv)
                revenue0 = engine.outputs_batch(y0, pv)[:, _REVENUE]
                ok = res.success
                out["share_at_end"][idx] = np.where(ok, end[:, _SHARE], np.nan)
                out["gross_loss_at_end"][idx] = np.where(ok, 1.0 - end[:, _REVENUE] / revenue0, np.nan)
                if "break_even" in task["measures"]:
                    out["break_even_loss"][idx] = break_even_batch(pv, y0, task["policy"])
                if "ponr" in task["measures"]:
                    pb = engine.point_of_no_return_batch(pv, y0, horizon[idx], tol=task["ponr_tol"],
                                                         rtol=task["rtol"], atol=task["atol"])
                    ponr_outcome[idx] = pb.outcome_names
                    for col, arr in (("ponr_time", pb.time), ("ponr_share", pb.share),
                                     ("ponr_gross_loss", pb.gross_loss), ("ponr_lo", pb.lo), ("ponr_hi", pb.hi),
                                     ("ponr_share_lo", pb.share_lo), ("ponr_gross_loss_lo", pb.gross_loss_lo)):
                        out[col][idx] = arr
        finally:
            engine.set_threads(before)

    rows.update({"status": status, "reason": reason, "solver": solver})
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
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_chunk(out_dir: Path, chunk: int, rows: dict[str, np.ndarray], cols: Sequence[str]) -> Path:
    """Write one chunk atomically (temporary file, fsync, os.replace)."""
    import pyarrow.parquet as pq

    path = chunk_path(out_dir, chunk)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(_to_table(rows, cols), tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
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


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _expected_rows(spec: SweepSpec, chunk: int) -> int:
    c = chunk % spec.chunks_per_scenario
    return min(spec.chunk_size, spec.n_runs - c * spec.chunk_size)


def _prepare_dir(spec: SweepSpec, out_dir: Path, resume: bool) -> tuple[dict, list[int]]:
    """Create or check ``out_dir``; returns the manifest and the chunks still to compute."""
    import pyarrow.parquet as pq

    manifest_path = out_dir / MANIFEST
    config = spec.config()
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir}: exists and is not a directory")
    if manifest_path.exists():
        if not resume:
            raise ValueError(f"--out {out_dir}: already holds a sweep; add --resume to finish it, or choose another "
                             "directory")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{manifest_path}: unreadable manifest ({e})") from None
        old = manifest.get("config", {})
        for key in config:
            if old.get(key) != config[key]:
                raise ValueError(f"--resume: {out_dir} holds a different sweep (its `{key}` differs from this "
                                 "command's); rerun the original command or choose another --out")
        manifest["resumed"] = manifest.get("resumed", []) + [{"time": _now(), "code_version": code_version()}]
    else:
        if out_dir.exists() and any(out_dir.glob("chunk-*.parquet")):
            raise ValueError(f"--out {out_dir}: holds chunk files but no manifest; choose an empty directory")
        out_dir.mkdir(parents=True, exist_ok=True)
        manifest = {"format": FORMAT, "created": _now(), "code_version": code_version(),
                    "total_runs": spec.total_runs, "n_chunks": spec.n_chunks, "complete": False, "config": config}
    # Stale temporaries of a killed writer.
    for tmp in out_dir.glob(".chunk-*.tmp"):
        tmp.unlink(missing_ok=True)
    todo = []
    for chunk in range(spec.n_chunks):
        path = chunk_path(out_dir, chunk)
        if path.exists():
            try:
                if pq.read_metadata(path).num_rows == _expected_rows(spec, chunk):
                    continue
            except Exception:  # noqa: BLE001 - an unreadable file is recomputed
                pass
            path.unlink()
        todo.append(chunk)
    manifest["complete"] = not todo
    _write_atomic_bytes(manifest_path, json.dumps(manifest, indent=1).encode("utf-8"))
    return manifest, todo


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
        Local threads for the engine (default: all cores). Ignored with ``scheduler``.
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
    manifest, todo = _prepare_dir(spec, out_dir, resume)
    summary = SweepSummary(out_dir=out_dir, total_runs=spec.total_runs, n_chunks=spec.n_chunks,
                           skipped_chunks=[c for c in range(spec.n_chunks) if c not in set(todo)])
    cols = columns(spec.names, spec.measures)
    done_runs = sum(_expected_rows(spec, c) for c in summary.skipped_chunks)
    t0 = time.perf_counter()
    bar = tqdm(total=spec.total_runs, initial=done_runs, unit="run", unit_scale=True, disable=not progress,
               desc="sweep", dynamic_ncols=True, smoothing=0.1)
    try:
        if todo:
            tasks = chunk_tasks(spec)
            if scheduler is None:
                for chunk in todo:
                    rows = compute_chunk(tasks[chunk], threads=workers)
                    write_chunk(out_dir, chunk, rows, cols)
                    summary.computed_chunks.append(chunk)
                    summary.computed_runs += len(rows["run"])
                    bar.update(len(rows["run"]))
            else:
                _run_on_dask(scheduler, [tasks[c] for c in todo], out_dir, cols, summary, bar)
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - t0
    manifest["complete"] = True
    manifest["finished"] = _now()
    _write_atomic_bytes(out_dir / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
    return summary


def _run_on_dask(address: str, tasks: list[dict], out_dir: Path, cols, summary: SweepSummary, bar) -> None:
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
        futures = client.map(compute_chunk, tasks, pure=False)
        chunk_of = {f.key: t["chunk"] for f, t in zip(futures, tasks)}
        for future in as_completed(futures):
            rows = future.result()
            chunk = chunk_of[future.key]
            write_chunk(out_dir, chunk, rows, cols)
            summary.computed_chunks.append(chunk)
            summary.computed_runs += len(rows["run"])
            bar.update(len(rows["run"]))
            future.release()


def read_sweep(out_dir: str | Path):
    """All rows of a sweep as a pandas DataFrame ordered by run (finished chunks only)."""
    import pandas as pd
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    files = sorted(out_dir.glob("chunk-*.parquet"))
    if not files:
        raise ValueError(f"{out_dir}: no chunk files (is it a sweep directory?)")
    import pyarrow as pa

    # Nullable booleans: `falls` is null where a run failed or its parameters were invalid.
    mapper = {pa.bool_(): pd.BooleanDtype()}.get
    frames = [pq.read_table(f).to_pandas(types_mapper=mapper) for f in files]
    return pd.concat(frames, ignore_index=True).sort_values("run", kind="stable").reset_index(drop=True)
