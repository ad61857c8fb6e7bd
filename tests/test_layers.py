"""The package's layers, enforced: each layer imports only the layers below it.

Two checks. Statically, every ``import`` in every module of ``model/`` (lazy ones inside
functions included) is resolved to its target and the target's layer must not be above the
importer's. Dynamically, each module is imported in a fresh interpreter and what it loaded
is inspected: no module of a higher layer, and for ``core`` and ``analysis`` none of the
plotting, UI or file-format libraries.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "model"

#: Rank of each layer: a module may import its own rank and below. ``evidence`` sits above
#: ``analysis`` (it may use it "if it must"); the package root only re-exports, lazily.
RANKS = {"core": 0, "analysis": 1, "evidence": 2, "studies": 3, "publish": 4, "commands": 5, "benchmarks": 5}
#: What the pure layers must never load.
HEAVY = ("plotly", "streamlit", "kaleido", "pyarrow", "pandas", "dask", "tomli_w", "matplotlib")
PURE = ("core", "analysis")


def modules() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


def layer(module: str) -> str | None:
    """The layer of ``model.<layer>...``; None for the package root and ``__main__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANKS else None


def source_of(module: str) -> Path:
    path = PACKAGE.parent / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def imported_modules(module: str, path: Path | None = None) -> set[str]:
    """Absolute names of the ``model`` modules that ``module`` (source at ``path``) imports
    anywhere in its source, lazy imports inside functions included."""
    path = path or source_of(module)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "model"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "model":
                continue
            # ``from model.core import engine`` imports a module too: count the names.
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}
    # ``from .x import name`` names a module or an attribute: keep what names a module (or
    # the package a name comes from).
    return {m for m in found if m in MODULES or m.rsplit(".", 1)[0] in MODULES}


MODULES = modules()


def test_every_module_belongs_to_a_layer():
    stray = [m for m in MODULES if layer(m) is None and m not in ("model", "model.__main__")]
    assert stray == [], f"modules outside the layers: {stray}"
    assert {layer(m) for m in MODULES} - {None} == set(RANKS)


@pytest.mark.parametrize("module", [m for m in MODULES if layer(m)])
def test_imports_only_its_own_layer_and_below(module):
    mine = RANKS[layer(module)]
    upward = sorted(t for t in imported_modules(module) if layer(t) and RANKS[layer(t)] > mine)
    assert upward == [], f"{module} (layer {layer(module)}) imports from a layer above: {upward}"


def test_the_static_check_sees_upward_imports(tmp_path):
    # The checker must be able to fail: lazy, relative and absolute imports of a higher layer.
    fake = tmp_path / "probe.py"
    fake.write_text("from ..core import engine\n"
                    "def f():\n    from ..studies.verdict import sector_verdict\n"
                    "def g():\n    import model.publish.figures\n"
                    "def h():\n    from model.evidence import scenarios\n")
    found = imported_modules("model.analysis.probe", fake)
    assert {"model.core.engine", "model.studies.verdict", "model.publish.figures", "model.evidence.scenarios"} <= found
    upward = {m for m in found if RANKS[layer(m)] > RANKS["analysis"] and m in MODULES}
    assert upward == {"model.studies.verdict", "model.publish.figures", "model.evidence", "model.evidence.scenarios"}


_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(module: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE, module], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


# One fresh interpreter per subpackage's deepest modules would be slow; the modules that
# import the most of their layer stand for it (a subpackage's __init__ imports nothing).
DYNAMIC = ["model", "model.core.engine", "model.core.simulate", "model.core.codegen", "model.analysis.tipping",
           "model.analysis.sensitivity", "model.analysis.causal", "model.analysis.network", "model.evidence.calibrate",
           "model.evidence.scenarios", "model.studies.sweep", "model.studies.verdict_report"]


@pytest.mark.parametrize("module", DYNAMIC)
def test_a_fresh_import_loads_nothing_above_its_layer(module):
    loaded = loaded_by(module)
    mine = RANKS.get(layer(module), -1) if module != "model" else -1
    above = sorted(m for m in loaded if m.startswith("model.") and layer(m) and RANKS[layer(m)] > mine)
    assert above == [], f"importing {module} loaded {above}"
    if module == "model" or layer(module) in PURE:
        heavy = sorted({m.split(".")[0] for m in loaded} & set(HEAVY))
        assert heavy == [], f"importing {module} loaded {heavy}"


def test_only_publish_and_the_app_import_plotly():
    for module in MODULES:
        tree = ast.parse(source_of(module).read_text(encoding="utf-8"))
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        if "plotly" in names or "kaleido" in names:
            assert layer(module) == "publish", f"{module} imports plotly"


def test_the_readme_layout_matches_the_package():
    # README "## Layout": a line "      <folder>/   <modules it holds>" per subpackage.
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = {}
    for line in section.splitlines():
        words = line.split()
        if line.startswith("      ") and words and words[0].endswith("/"):
            listed[words[0].rstrip("/")] = set(w.strip(",.;:()") for w in words[1:])
    on_disk = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert set(listed) == on_disk
    for folder in on_disk:
        if folder in ("commands", "benchmarks"):
            continue  # "one module per command / section"
        names = {p.stem for p in (PACKAGE / folder).glob("*.py") if p.stem != "__init__"}
        assert names <= listed[folder], f"README's layout misses {sorted(names - listed[folder])} in model/{folder}/"
