"""Helpers shared by the commands: scenario loading with ``--set`` overrides; JSON output
(:func:`model.evidence.provenance.dump_json`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.parameters import coerce
from ..evidence.provenance import dump_json, to_jsonable  # noqa: F401  (re-exported for the commands)
from ..evidence.scenarios import Scenario, load_scenario


def add_scenario_arguments(parser) -> None:
    parser.add_argument("scenario", help="scenario TOML file (see scenarios/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="override a parameter (repeatable), e.g. --set fixed_cost_share=0.7")


def scenario_with_overrides(path: str, overrides: list[str]) -> tuple[Scenario, Any]:
    """Load ``path`` and apply ``NAME=VALUE`` overrides; ValueError names the bad one."""
    scenario = load_scenario(path)
    changes = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE")
        name, text = item.split("=", 1)
        name = name.strip()
        try:
            changes[name] = coerce(name, text)
        except ValueError as e:
            raise ValueError(f"--set {item!r}: {e}") from None
    try:
        params = scenario.params.replace(**changes) if changes else scenario.params
    except ValueError as e:
        raise ValueError(f"--set: {e}") from None
    return scenario, params


def check_output_file(option: str, path: Path) -> None:
    """ValueError unless ``path`` can be created or replaced as a file: checked before any
    computation, so a typo in the folder costs no run and gives no traceback."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a directory; give a file name, e.g. {path / 'series.csv'}")
    if not parent.exists():
        raise ValueError(f"{option} {path}: the folder {parent} does not exist; create it first")
    if not parent.is_dir():
        raise ValueError(f"{option} {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: the folder {parent} is not writable")
