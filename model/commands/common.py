"""Helpers shared by the commands: scenario loading with ``--set`` overrides; JSON output
(:func:`model.evidence.provenance.dump_json`)."""

from __future__ import annotations

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
