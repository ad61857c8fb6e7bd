"""plotly.js for the dashboard's charts: ``static/plotly.min.js``, the script the page loads.

The dashboard draws its charts with plotly.js in the page (``app.py``'s chart element). The
full bundle that plotly.py ships is 4.8 MB of script, which a first visit parses before its
first chart (0.66 s measured here). plotly.js's *cartesian* bundle of the same version has
every trace the page draws (scatter and heatmap; also bar, box, contour, histogram, pie...)
in 1.5 MB (0.36 s). :func:`fetch_cartesian` gets it from the npm registry, checked against
the registry's sha512; :func:`ensure_full_bundle` puts plotly.py's own bundle in its place
when there is none (the page is the same, its first visit slower). The version is always the
one plotly.py ships, the version its figures are written for. ``python -m model assets``
(run by ``make``) does both.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Where the page loads plotly.js from (Streamlit's static serving: ``/app/static/``).
PLOTLY_JS = ROOT / "static" / "plotly.min.js"
BUNDLE = "plotly.js-cartesian-dist-min"
BUNDLE_FILE = "package/plotly-cartesian.min.js"
#: The first lines of a plotly.js bundle name its version ("* plotly.js v4.1.1", "* plotly.js
#: (cartesian - minified) v4.1.1").
VERSION = re.compile(rb"plotly\.js(?: \([^)]*\))? v(\d+\.\d+\.\d+)")
MAX_BYTES = 32 << 20


def shipped_bundle() -> Path:
    """plotly.py's own full plotly.js bundle."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def bundle_version(head: bytes) -> str | None:
    """The plotly.js version a bundle's first bytes name, or None."""
    m = VERSION.search(head[:400])
    return m.group(1).decode() if m else None


def file_version(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            return bundle_version(f.read(400))
    except OSError:
        return None


def _get(url: str, limit: int = MAX_BYTES) -> bytes:
    try:
        r = urllib.request.urlopen(url, timeout=30)  # noqa: S310 - the registry's https address
    except urllib.error.HTTPError as e:
        e.close()
        raise OSError(f"{url}: HTTP {e.code}") from None
    with r:
        data = r.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{url}: more than {limit} bytes")
    return data


def fetch_cartesian(version: str, registry: str) -> bytes:
    """The cartesian bundle of plotly.js ``version`` from the npm registry, checked against the
    registry's sha512 of its tarball. Raises OSError or ValueError, saying what failed."""
    meta_url = f"{registry.rstrip('/')}/{BUNDLE}/{version}"
    meta = json.loads(_get(meta_url, 1 << 20))
    tarball, integrity = meta["dist"]["tarball"], meta["dist"].get("integrity", "")
    if not integrity.startswith("sha512-"):
        raise ValueError(f"{meta_url}: no sha512 integrity for the tarball (got {integrity!r})")
    data = _get(tarball)
    if base64.b64encode(hashlib.sha512(data).digest()).decode() != integrity[len("sha512-"):]:
        raise ValueError(f"{tarball}: its sha512 is not the registry's {integrity}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile(BUNDLE_FILE)
        if member is None:
            raise ValueError(f"{tarball}: no {BUNDLE_FILE}")
        js = member.read()
    if bundle_version(js) != version:
        raise ValueError(f"{tarball}: {BUNDLE_FILE} is plotly.js {bundle_version(js)}, not {version}")
    return js


def write(path: Path, data: bytes) -> None:
    """``data`` into ``path`` at once (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def ensure_full_bundle(path: Path) -> Path:
    """``path`` holds a plotly.js of plotly.py's version (the full bundle copied if it did not):
    what the dashboard does when ``make`` has not put the cartesian bundle there."""
    shipped = shipped_bundle()
    if file_version(path) != file_version(shipped):
        write(path, shipped.read_bytes())
    return path
