"""Where results came from: the code version recorded in sweep and figure manifests."""

from __future__ import annotations

import subprocess
from pathlib import Path

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
