"""Where results came from, and how they are written down: the code version recorded in
sweep and figure manifests, and strict JSON (no NaN) for manifests and ``--json`` output."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def code_version() -> str:
    """``"git <describe --always --dirty>"`` of the repository, else ``"model <version>"``."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True,
                             timeout=30, check=True)
        if out.stdout.strip():
            return f"git {out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"model {version('model')}"
    except PackageNotFoundError:
        return "unknown"


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats (to None) for strict JSON."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def dump_json(obj: Any) -> str:
    """``obj`` as indented strict JSON (numpy values converted, non-finite floats as null)."""
    return json.dumps(to_jsonable(obj), indent=2, allow_nan=False)
