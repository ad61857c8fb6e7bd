"""``python -m model effects [--data FILE.csv] [--scenarios DIR] [--method adoption|seed] [--json]``.

Published estimates of incumbents' responses to platforms (``data/effect_sizes.csv``)
beside the model's counterparts from each sector's scenario file
(:mod:`model.evidence.effects`): a Markdown table for the paper, or with ``--json`` one
object with the file's header and, per estimate, the published numbers, the model's value,
where it was computed and whether the two agree.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..evidence.effects import METHODS, STEP, compare, markdown_table, parse_effect_sizes
from ..evidence.provenance import ROOT
from ..evidence.scenarios import SCENARIOS, load_scenario
from .common import dump_json

#: The published estimates the command reads by default.
DATA = ROOT / "data" / "effect_sizes.csv"
#: Largest estimates file read (it is a short table).
MAX_BYTES = 1024 * 1024


def add_parser(sub) -> None:
    p = sub.add_parser("effects", help="published effect sizes of incumbents' responses beside the model's")
    p.add_argument("--data", default=str(DATA), metavar="FILE.csv",
                   help="published estimates (default: data/effect_sizes.csv)")
    p.add_argument("--scenarios", default=str(SCENARIOS), metavar="DIR",
                   help="folder of the sector files named by the rows' `sector` (default: scenarios/)")
    p.add_argument("--method", choices=METHODS, default="adoption",
                   help="how the elasticity's markets differ: adoption rates (default) or initial share")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the Markdown table")
    p.set_defaults(func=run)


def read_text(path: Path) -> str:
    """The file's text; ValueError naming it if it is missing, unreadable, too large or not UTF-8."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a file") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror or e})") from None
    if len(data) > MAX_BYTES:
        raise ValueError(f"{path}: more than {MAX_BYTES:,} bytes; an estimates file is a short table")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.start})") from None


def analyse(data: str | Path = DATA, scenarios: str | Path = SCENARIOS, method: str = "adoption") -> dict:
    """The command's result as a JSON-able dict (also what ``--json`` prints)."""
    path = Path(data)
    table = parse_effect_sizes(read_text(path), str(path))
    folder = Path(scenarios)
    loaded = {s: load_scenario(folder / f"{s}.toml") for s in sorted({e.sector for e in table.rows})}
    comparisons = compare(table, loaded, method=method)
    rows = []
    for c in comparisons:
        row = dataclasses.asdict(c)
        row["scenario"] = loaded[c.effect.sector].origin
        rows.append(row)
    return {"data": str(path), "title": table.title, "units": table.units, "sources": table.sources,
            "retrieved": table.retrieved, "method": method, "step": STEP, "comparisons": rows,
            "markdown": markdown_table(comparisons)}


def run(args) -> int:
    result = analyse(args.data, args.scenarios, args.method)
    if args.json:
        print(dump_json(result))
    else:
        print(result["markdown"], end="")
    return 0
