"""``python -m model assets``: the dashboard's plotly.js into ``static/`` (run at install).

The cartesian bundle of plotly.py's plotly.js version from the npm registry (the registry
``$NPM_CONFIG_REGISTRY`` names, else registry.npmjs.org), checked by sha512; without it,
plotly.py's full bundle, and a line saying why. See :mod:`model.publish.plotly_js`.
"""

from __future__ import annotations

import os
import tarfile

from ..publish import plotly_js
from ..publish.plotly_js import ensure_full_bundle, fetch_cartesian, file_version, shipped_bundle


def add_parser(sub) -> None:
    p = sub.add_parser("assets", help="put plotly.js for the dashboard's charts into static/ (run at install)")
    p.add_argument("--offline", action="store_true",
                   help="do not ask the npm registry: copy plotly.py's full bundle")
    p.set_defaults(func=run)


def run(args) -> int:
    target, shipped = plotly_js.PLOTLY_JS, shipped_bundle()
    shown = target.relative_to(plotly_js.ROOT)
    version = file_version(shipped)
    if version is None:
        raise ValueError(f"{shipped}: no plotly.js version in its first lines")
    if file_version(target) == version and target.stat().st_size < shipped.stat().st_size:
        print(f"{shown}: plotly.js {version}, cartesian bundle, up to date")
        return 0
    why = "--offline"
    if not args.offline:
        registry = os.environ.get("NPM_CONFIG_REGISTRY") or "https://registry.npmjs.org"
        try:
            js = fetch_cartesian(version, registry)
        except (OSError, ValueError, KeyError, tarfile.TarError) as e:
            why = f"{type(e).__name__}: {e}"
        else:
            plotly_js.write(target, js)
            print(f"{shown}: plotly.js {version}, cartesian bundle ({len(js) / 1e6:.1f} MB) from {registry}")
            return 0
    ensure_full_bundle(target)
    print(f"{shown}: plotly.js {version}, plotly.py's full bundle ({shipped.stat().st_size / 1e6:.1f} MB; the "
          f"cartesian bundle could not be had: {why})")
    return 0
