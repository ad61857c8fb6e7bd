"""``python -m model assets`` (model.publish.plotly_js): the dashboard's plotly.js, fetched from an npm registry (here a
local one, serving a tarball built by the test), checked by sha512 and version, and
plotly.py's full bundle when the registry cannot give it."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import tarfile
import threading
from argparse import Namespace

import plotly.offline
import pytest

from model.commands import assets as command
from model.publish import plotly_js as assets

VERSION = plotly.offline.get_plotlyjs_version()


def test_the_shipped_bundle_names_plotly_pys_plotly_js_version():
    # Two sources: the bundle's own first lines, and plotly.py's record of what it bundles.
    assert assets.file_version(assets.shipped_bundle()) == VERSION
    assert assets.bundle_version(b"/**\n* plotly.js (cartesian - minified) v4.1.1\n*/") == "4.1.1"
    assert assets.bundle_version(b"/** not plotly */ var x;") is None


def _tarball(version: str) -> bytes:
    js = f"/**\n* plotly.js (cartesian - minified) v{version}\n*/\nwindow.Plotly={{version:'{version}'}};".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(assets.BUNDLE_FILE)
        info.size = len(js)
        tar.addfile(info, io.BytesIO(js))
    return buf.getvalue()


@pytest.fixture
def registry():
    """A registry answering ``/<bundle>/<version>`` and its tarball; ``files`` can be changed."""
    files = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the base class's name
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def publish(tar_version: str, integrity_of: bytes | None = None):
        tar = _tarball(tar_version)
        digest = base64.b64encode(hashlib.sha512(integrity_of if integrity_of is not None else tar).digest())
        files[f"/{assets.BUNDLE}/{VERSION}"] = json.dumps(
            {"dist": {"tarball": f"{url}/t.tgz", "integrity": "sha512-" + digest.decode()}}).encode()
        files["/t.tgz"] = tar

    yield url, publish
    server.shutdown()
    server.server_close()


@pytest.fixture
def target(tmp_path, monkeypatch):
    path = tmp_path / "static" / "plotly.min.js"
    monkeypatch.setattr(assets, "PLOTLY_JS", path)
    monkeypatch.setattr(assets, "ROOT", tmp_path)
    return path


def test_the_cartesian_bundle_is_fetched_checked_and_written(registry, target, monkeypatch, capsys):
    url, publish = registry
    publish(VERSION)
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", url)
    assert command.run(Namespace(offline=False)) == 0
    assert assets.file_version(target) == VERSION
    assert target.stat().st_size < assets.shipped_bundle().stat().st_size
    assert "cartesian bundle" in capsys.readouterr().out
    # Run again: up to date, nothing fetched (the registry is gone).
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "http://127.0.0.1:9")
    assert command.run(Namespace(offline=False)) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.mark.parametrize("what", ["sha512", "version", "missing"])
def test_a_bad_or_absent_bundle_falls_back_to_the_full_bundle_and_says_why(registry, target, monkeypatch, capsys,
                                                                         what):
    url, publish = registry
    if what == "sha512":
        publish(VERSION, integrity_of=b"something else")
    elif what == "version":
        publish("0.0.1")
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", url)
    assert command.run(Namespace(offline=False)) == 0
    out = capsys.readouterr().out
    assert target.read_bytes() == assets.shipped_bundle().read_bytes()
    assert "full bundle" in out
    assert {"sha512": "sha512", "version": "not " + VERSION, "missing": "HTTP 404"}[what] in out


def test_the_page_keeps_a_bundle_of_the_right_version_and_replaces_another(target):
    target.parent.mkdir()
    target.write_bytes(f"/**\n* plotly.js (cartesian - minified) v{VERSION}\n*/".encode())
    assets.ensure_full_bundle(target)
    assert target.stat().st_size < 100  # kept: the version plotly.py's figures are written for
    target.write_bytes(b"/**\n* plotly.js v0.0.1\n*/")
    assets.ensure_full_bundle(target)
    assert target.read_bytes() == assets.shipped_bundle().read_bytes()
