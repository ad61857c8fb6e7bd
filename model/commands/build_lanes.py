"""``python -m model build-lanes``: compile the engine's lane-batched C kernel.

``model/core/_lanes/liblanes.so`` from ``lanes.c`` (the integrator ``kernel.h`` and the
generated right-hand sides ``rhs_firms<n>.h``) three times, for AVX-512, AVX2 + FMA and the
x86-64 baseline, and ``dispatch.c`` (baseline flags) that picks one at run time; linked
with glibc's vector math (libmvec). On another architecture: the baseline build only.
Flags: -O3, no -ffast-math (the kernel needs IEEE NaN tests and comparisons),
-ffp-contract=off (no fused multiply-adds: the arithmetic of the numba kernel),
-fno-math-errno (square roots inline; errno is never read). The make install stamp runs
this; ``make test`` reruns it when a source is newer than the library.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..core.lanes import LIBRARY

SOURCE_DIR = LIBRARY.parent
COMMON_FLAGS = ("-O3", "-std=gnu11", "-fPIC", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wno-unused-function")
#: Instruction sets built into the library on x86-64 (name for -DLANES_ISA, flags).
X86_BUILDS = (("avx512", ("-mavx512f", "-mavx512dq", "-mavx2", "-mfma")), ("avx2", ("-mavx2", "-mfma")),
              ("base", ()))


def sources() -> list[Path]:
    """Every file the library is built from."""
    return sorted(p for p in SOURCE_DIR.iterdir() if p.suffix in (".c", ".h"))


def stale(library: Path = LIBRARY) -> bool:
    """Whether the library is missing or older than one of its sources."""
    if not library.exists():
        return True
    built = library.stat().st_mtime
    return any(p.stat().st_mtime > built for p in sources())


def build(library: Path = LIBRARY, cc: str | None = None, jobs: int | None = None) -> Path:
    """Compile and link the library (atomically: a process that has the old one loaded keeps it)."""
    cc = cc or os.environ.get("CC") or "gcc"
    if shutil.which(cc) is None:
        raise ValueError(f"no C compiler `{cc}` on PATH: install Debian's gcc and libc6-dev "
                         "(sudo apt-get install -y gcc libc6-dev), or set CC")
    x86 = platform.machine() in ("x86_64", "AMD64")
    builds = X86_BUILDS if x86 else (("base", ()),)
    with tempfile.TemporaryDirectory(prefix="lanes-") as tmp:
        tmp = Path(tmp)

        def compile_one(job):
            name, flags, source = job
            obj = tmp / f"{name}.o"
            cmd = [cc, *COMMON_FLAGS, *flags, f"-DLANES_ISA={name}", f"-I{SOURCE_DIR}", "-c", str(source), "-o", str(obj)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise ValueError(f"compiling {source.name} for {name} failed:\n{' '.join(cmd)}\n{done.stderr}")
            return obj

        jobs_list = [(name, flags, SOURCE_DIR / "lanes.c") for name, flags in builds]
        jobs_list.append(("dispatch", () if x86 else ("-DLANES_BASE_ONLY",), SOURCE_DIR / "dispatch.c"))
        with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            objects = list(pool.map(compile_one, jobs_list))
        out = tmp / "liblanes.so"
        cmd = [cc, "-shared", "-o", str(out), *map(str, objects), "-lmvec" if x86 else "", "-lm"]
        done = subprocess.run([c for c in cmd if c], capture_output=True, text=True)
        if done.returncode != 0:
            raise ValueError(f"linking {library.name} failed:\n{' '.join(cmd)}\n{done.stderr}")
        staged = library.with_suffix(f".so.{os.getpid()}")
        shutil.copyfile(out, staged)
        os.replace(staged, library)
    return library


def add_parser(sub) -> None:
    p = sub.add_parser("build-lanes", help="compile the engine's lane-batched C kernel (model/core/_lanes) with gcc")
    p.add_argument("--if-stale", action="store_true", help="only if a source is newer than the library")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.if_stale and not stale():
        print(f"{LIBRARY} is current", flush=True)
        return 0
    print(f"wrote {build()}", flush=True)
    return 0
