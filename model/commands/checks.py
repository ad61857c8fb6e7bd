"""``python -m model checks [--data FILE.csv] [--scenarios DIR] [--json]``.

Public observations that no fit has seen (``data/evidence_checks.csv``) beside the central
run of each sector's file and of its calibrated twin (:mod:`model.evidence.checks`): a
Markdown table for the paper, or one JSON object with every row.
"""

from __future__ import annotations

from pathlib import Path

from ..evidence.checks import DATA, check, markdown_table, parse_observations
from ..evidence.scenarios import SCENARIOS, load_scenario
from .common import dump_json
from .effects import read_text


def add_parser(sub) -> None:
    p = sub.add_parser("checks", help="public observations beside each sector file's central run")
    p.add_argument("--data", default=str(DATA), metavar="FILE.csv",
                   help="observations (default: data/evidence_checks.csv)")
    p.add_argument("--scenarios", default=str(SCENARIOS), metavar="DIR",
                   help="folder of the sector files named by the rows' `sector` (default: scenarios/)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the Markdown table")
    p.set_defaults(func=run)


def analyse(data: str | Path = DATA, scenarios: str | Path = SCENARIOS) -> dict:
    """The command's result as a JSON-able dict (also what ``--json`` prints)."""
    path, folder = Path(data), Path(scenarios)
    header, observations = parse_observations(read_text(path), str(path))
    loaded = {}
    for sector in sorted({o.sector for o in observations}):
        base = folder / f"{sector}.toml"
        if not base.exists():
            line = next(o.line for o in observations if o.sector == sector)
            raise ValueError(f"{path}, line {line}, column `sector`: no scenario file {base}")
        loaded[sector] = load_scenario(base)
        twin = folder / f"{sector}_calibrated.toml"
        if twin.exists():
            loaded[f"{sector}_calibrated"] = load_scenario(twin)
    rows = check(observations, loaded)
    return {"data": str(path), "header": header, "rows": rows, "inside": sum(r["inside"] for r in rows),
            "markdown": markdown_table(rows)}


def run(args) -> int:
    result = analyse(args.data, args.scenarios)
    print(dump_json(result) if args.json else result["markdown"], end="" if not args.json else "\n")
    return 0
