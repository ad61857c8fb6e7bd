"""Helpers shared by the commands: scenario loading with ``--set`` overrides, JSON output."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ..core.parameters import coerce
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
    return json.dumps(to_jsonable(obj), indent=2, allow_nan=False)
