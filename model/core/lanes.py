"""The lane-batched C kernel of the engine: DOPRI5 over SIMD lanes, loaded with ctypes.

``model/core/_lanes/liblanes.so`` is built at install time (``make``'s install stamp runs
``python -m model build-lanes``, which compiles ``model/core/_lanes/*.c`` with Debian's
gcc) from the hand-written integrator ``kernel.h`` and the right-hand sides over lanes that
:mod:`model.core.codegen` generates from the equations (``rhs_firms<n>.h``, committed like
the generated Python). One library holds an AVX-512, an AVX2 + FMA and a baseline x86-64
build; ``dispatch.c`` picks one with ``__builtin_cpu_supports``.

:func:`run` integrates a group of runs that share their switches (``chi_*``): every lane
of a call then takes the same branches of the right-hand side. The engine
(:func:`model.core.engine.integrate`, ``engine="lanes"``) groups the runs, calls this on
chunks of each group from a thread pool (ctypes releases the GIL), and redoes every run the
kernel did not finish in DOPRI5 (negative status: the stiffness test fired, the step
limit, a step too small, a non-finite state or right-hand side) from its start with the
numba kernel. :func:`available` says whether the library loaded; without it the engine
uses the numba kernel.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

__all__ = ["LIBRARY", "FIRM_COUNTS", "LANE_COUNTS", "DEFAULT_LANES", "ISA_NAMES", "available", "isa", "run", "load_error"]

LIBRARY = Path(__file__).with_name("_lanes") / "liblanes.so"
#: Lane counts compiled into the library (runs per call of the vector code).
LANE_COUNTS = (4, 8, 16)
#: Lanes of the engine's calls: two AVX2 vectors of doubles (the issue's prototype, and
#: the fastest of 4, 8 and 16 measured by ``bench --only engine``).
DEFAULT_LANES = 8
#: Sector sizes the library has a kernel for (16 firms: the numba kernel; see lanes.c).
FIRM_COUNTS = (1, 2, 4, 8)
#: Instruction sets of the library's builds, by the dispatcher's code.
ISA_NAMES = {1: "x86-64 baseline (SSE2)", 2: "AVX2 + FMA", 3: "AVX-512"}

_KERNEL_ARGS = ([ctypes.c_void_p, ctypes.c_int64] + [ctypes.c_void_p] * 6 + [ctypes.c_int64, ctypes.c_void_p,
                ctypes.c_double, ctypes.c_double, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                ctypes.c_int64] + [ctypes.c_void_p] * 5)
_KERNEL_TYPE = ctypes.CFUNCTYPE(None, *_KERNEL_ARGS)

_state: dict = {}


def _load():
    if "lib" in _state:
        return _state["lib"]
    lib = None
    try:
        lib = ctypes.CDLL(str(LIBRARY))
        lib.lanes_isa.argtypes = [ctypes.c_int]
        lib.lanes_isa.restype = ctypes.c_int
        lib.lanes_kernel.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        lib.lanes_kernel.restype = ctypes.c_void_p
        _state["error"] = None
    except OSError as e:
        lib = None
        _state["error"] = f"{LIBRARY} did not load ({e}); build it with `python -m model build-lanes` (gcc)"
    _state["lib"] = lib
    return lib


def available() -> bool:
    """Whether the lane kernel's library is built and loads."""
    return _load() is not None


def load_error() -> str | None:
    """Why the library is not available (None if it is)."""
    _load()
    return _state["error"]


def isa(force: int = 0) -> int:
    """The instruction set the kernel runs with (:data:`ISA_NAMES`): the best the CPU has,
    or ``force`` if lower."""
    lib = _load()
    if lib is None:
        raise RuntimeError(load_error())
    return int(lib.lanes_isa(int(force)))


def _kernel(n_firms: int, lanes: int, force_isa: int = 0):
    key = (n_firms, lanes, force_isa)
    fn = _state.get(key)
    if fn is None:
        lib = _load()
        if lib is None:
            raise RuntimeError(load_error())
        if lanes not in LANE_COUNTS:
            raise ValueError(f"`lanes` must be one of {', '.join(map(str, LANE_COUNTS))}, got {lanes!r}")
        address = lib.lanes_kernel(isa(force_isa), int(n_firms), int(lanes))
        if not address:
            raise ValueError(f"the lane kernel has no build of {lanes} lanes for {n_firms} firms (several firms: 8)")
        fn = _state[key] = _KERNEL_TYPE(address)
    return fn


def _ptr(a: np.ndarray, dtype) -> int:
    if a.dtype != dtype or not a.flags.c_contiguous:
        raise ValueError("lane kernel arrays must be C-contiguous of the kernel's types")
    return a.ctypes.data


def run(n_firms: int, rows, pext, y0s, t0s, t_end, t_freeze, t_out, y_out, rtol, atol, max_steps, stiff_every,
        stiff_action, watch, status, t_reached, y_last, counts, fell, *, lanes: int = DEFAULT_LANES,
        force_isa: int = 0) -> None:
    """Integrate the runs ``rows`` (indices into every per-run array, all of whose switches are
    equal) in DOPRI5 over ``lanes`` lanes, writing their rows of ``y_out``, ``status``,
    ``t_reached``, ``y_last``, ``counts`` (steps, rejected, evaluations, solver) and ``fell``
    in place: the numba kernel's contract (:func:`model.core.engine._kernel`) with
    ``pext`` the extended parameter vectors (``derive_into``). A negative status marks a run
    to redo with the numba kernel. Releases the GIL."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    f64, i64 = np.dtype(np.float64), np.dtype(np.int64)
    n_t = t_out.shape[1]
    fn = _kernel(n_firms, lanes, force_isa)
    fn(_ptr(rows, i64), rows.shape[0], _ptr(pext, f64), _ptr(y0s, f64), _ptr(t0s, f64), _ptr(t_end, f64),
       _ptr(t_freeze, f64), _ptr(t_out, f64) if n_t else 0, n_t, _ptr(y_out, f64) if n_t else 0, float(rtol),
       float(atol), int(max_steps), int(stiff_every), int(stiff_action), _ptr(watch, i64), watch.shape[1],
       _ptr(status, np.dtype(np.int8)), _ptr(t_reached, f64), _ptr(y_last, f64), _ptr(counts, i64),
       _ptr(fell, i64))
