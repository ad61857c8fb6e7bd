"""Scenario files: one TOML file per sector, read and validated into :class:`Scenario`.

Format (see ``scenarios/baseline.toml``)::

    [scenario]
    name = "Newspapers vs. Craigslist"
    description = "..."
    start_year = 1995                  # optional: calendar year of t = 0

    [switches]                         # optional; model choices, not numbers
    network_effect = "trust"

    [parameters.fixed_cost_share]
    value = 0.6
    source = "F. Filloux, Monday Note, 2008: at least 60% of costs are industrial"
    range = [0.5, 0.7]                 # optional with a source; swept by the verdict

    [parameters.platform_quality]
    value = 0.0
    assumption = "no stand-alone quality edge; swept"
    range = [-0.3, 0.3]                # required with an assumption

Every number carries a ``source`` or an ``assumption`` with its ``range``. A parameter
not named in the file keeps the default of :class:`model.core.parameters.Parameters`. Any
unknown key, missing source, value out of bounds or range that does not contain its value
is a ``ValueError`` naming the file and the key. TOML is parsed with :mod:`tomllib`;
nothing in a file is evaluated.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..core.parameters import PARAMETER_SPECS, SWITCHES, Parameters

#: The repository's folder of sector files (the working folder's ``scenarios/`` comes first).
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

__all__ = ["Scenario", "load_scenario", "parse_scenario", "scenario_to_toml", "MAX_SCENARIO_BYTES"]

#: Scenario files larger than this are refused before parsing (hostile uploads).
MAX_SCENARIO_BYTES = 256 * 1024

_SCENARIO_KEYS = {"name", "description", "sector", "incumbent", "platform", "start_year", "notes"}
_ENTRY_KEYS = {"value", "source", "assumption", "range"}


@dataclass(frozen=True)
class Scenario:
    """A validated sector scenario.

    Attributes
    ----------
    name : str
    origin : str
        File path or label it was read from (used in error messages and manifests).
    params : Parameters
    ranges : dict[str, tuple[float, float]]
        Uncertainty range of each parameter that has one (swept by sweeps and the verdict).
    sources : dict[str, str]
        Source of each number, or ``"assumption: ..."``.
    meta : dict
        The ``[scenario]`` table.
    """

    name: str
    origin: str
    params: Parameters
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def start_year(self) -> float | None:
        return self.meta.get("start_year")


def _fail(origin: str, key: str, msg: str) -> ValueError:
    return ValueError(f"{origin}: `{key}`: {msg}")


def parse_scenario(data: bytes | str, origin: str = "<scenario>") -> Scenario:
    """Validate scenario text (bytes or str) into a :class:`Scenario`.

    Raises
    ------
    ValueError
        With one message naming ``origin`` and the offending key.
    """
    if isinstance(data, bytes):
        if len(data) > MAX_SCENARIO_BYTES:
            raise ValueError(f"{origin}: file is {len(data):,} bytes; a scenario file may have at most "
                             f"{MAX_SCENARIO_BYTES:,}")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{origin}: not UTF-8 text (byte {e.start}); save the file as UTF-8 TOML") from None
    elif len(data) > MAX_SCENARIO_BYTES:
        raise ValueError(f"{origin}: file is {len(data):,} characters; at most {MAX_SCENARIO_BYTES:,} allowed")
    try:
        doc = tomllib.loads(data)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{origin}: malformed TOML: {e}") from None

    unknown_top = sorted(set(doc) - {"scenario", "parameters", "switches"})
    if unknown_top:
        raise _fail(origin, unknown_top[0], "unknown table; allowed: [scenario], [switches], [parameters.NAME]")
    meta = doc.get("scenario", {})
    if not isinstance(meta, dict):
        raise _fail(origin, "scenario", "must be a table")
    for key in meta:
        if key not in _SCENARIO_KEYS:
            raise _fail(origin, f"scenario.{key}", f"unknown key; allowed: {', '.join(sorted(_SCENARIO_KEYS))}")
    if "start_year" in meta and (isinstance(meta["start_year"], bool)
                                 or not isinstance(meta["start_year"], (int, float))):
        raise _fail(origin, "scenario.start_year", f"must be a number, got {meta['start_year']!r}")
    name = meta.get("name", Path(origin).stem)
    if not isinstance(name, str):
        raise _fail(origin, "scenario.name", f"must be a string, got {name!r}")

    values: dict[str, Any] = {}
    ranges: dict[str, tuple[float, float]] = {}
    sources: dict[str, str] = {}

    switches = doc.get("switches", {})
    if not isinstance(switches, dict):
        raise _fail(origin, "switches", "must be a table")
    for key, value in switches.items():
        if key not in SWITCHES:
            raise _fail(origin, f"switches.{key}", f"unknown switch; valid: {', '.join(SWITCHES)}")
        values[key] = value

    params = doc.get("parameters", {})
    if not isinstance(params, dict):
        raise _fail(origin, "parameters", "must be a table of [parameters.NAME] entries")
    for key, entry in params.items():
        where = f"parameters.{key}"
        if key not in PARAMETER_SPECS:
            raise _fail(origin, where, "unknown parameter; valid names: " + ", ".join(PARAMETER_SPECS))
        s = PARAMETER_SPECS[key]
        if s.is_switch:
            raise _fail(origin, where, "is a switch: set it in [switches]")
        if not isinstance(entry, dict):
            raise _fail(origin, where, "must be a table with `value` and `source` (or `assumption` and `range`)")
        extra = sorted(set(entry) - _ENTRY_KEYS)
        if extra:
            raise _fail(origin, f"{where}.{extra[0]}", f"unknown key; allowed: {', '.join(sorted(_ENTRY_KEYS))}")
        if "value" not in entry:
            raise _fail(origin, f"{where}.value", "missing")
        value = entry["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _fail(origin, f"{where}.value", f"must be {s.allowed()}, got {value!r}")
        lo, hi = s.bounds
        if not lo <= value <= hi:
            raise _fail(origin, f"{where}.value", f"must be in [{lo:g}, {hi:g}], got {value!r}")
        source, assumption = entry.get("source"), entry.get("assumption")
        if source is not None and assumption is not None:
            raise _fail(origin, where, "give either `source` or `assumption`, not both")
        if source is None and assumption is None:
            raise _fail(origin, f"{where}.source", "missing: every number needs a `source` (publication, "
                        "year, table or page) or an `assumption` with a `range`")
        text = source if source is not None else assumption
        label = "source" if source is not None else "assumption"
        if not isinstance(text, str) or not text.strip():
            raise _fail(origin, f"{where}.{label}", f"must be a non-empty string, got {text!r}")
        if "range" in entry:
            rng = entry["range"]
            if (not isinstance(rng, list) or len(rng) != 2
                    or any(isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x)
                           for x in rng)):
                raise _fail(origin, f"{where}.range", f"must be [low, high] (two finite numbers), got {rng!r}")
            r_lo, r_hi = float(rng[0]), float(rng[1])
            if not (lo <= r_lo <= value <= r_hi <= hi) or r_lo == r_hi:
                raise _fail(origin, f"{where}.range", f"must satisfy {lo:g} <= low <= value ({value:g}) "
                            f"<= high <= {hi:g} with low < high, got {rng!r}")
            ranges[key] = (r_lo, r_hi)
        elif assumption is not None:
            raise _fail(origin, f"{where}.range", "missing: an assumption must give the range it is swept over")
        values[key] = float(value)
        sources[key] = text if label == "source" else f"assumption: {text}"

    try:
        parameters = Parameters(**values)
    except ValueError as e:
        raise ValueError(f"{origin}: {e}") from None
    return Scenario(name=name, origin=origin, params=parameters, ranges=ranges, sources=sources, meta=dict(meta))


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises
    ------
    ValueError
        Missing or unreadable file, malformed TOML, unknown key, missing source, value out of
        bounds, or a range that does not contain its value; the message names the file and key.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise ValueError(f"{path}: file is {size:,} bytes; a scenario file may have at most "
                             f"{MAX_SCENARIO_BYTES:,}")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such scenario file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a scenario file") from None
    except PermissionError:
        raise ValueError(f"{path}: cannot be read (permission denied)") from None
    return parse_scenario(data, str(path))


def scenario_to_toml(scenario: Scenario, params: Parameters | None = None, *, note: str | None = None) -> str:
    """Write ``scenario`` (with ``params`` in place of its own, if given) as TOML text.

    Values that differ from the scenario's own keep their range only if it still contains
    them, and are marked as changed by the user. The text loads back to equal parameters.
    """
    import tomli_w

    params = params or scenario.params
    meta = dict(scenario.meta)
    if note:
        meta["notes"] = note
    doc: dict[str, Any] = {"scenario": meta,
                           "switches": {k: getattr(params, k) for k in SWITCHES}, "parameters": {}}
    for key, s in PARAMETER_SPECS.items():
        if s.is_switch:
            continue
        value = float(getattr(params, key))
        original = float(getattr(scenario.params, key))
        entry: dict[str, Any] = {"value": value}
        src = scenario.sources.get(key)
        rng = scenario.ranges.get(key)
        if value != original:
            entry["assumption"] = f"set by the user (was {original:g}" + (f"; {src}" if src else "") + ")"
            lo, hi = rng if rng and rng[0] <= value <= rng[1] else s.bounds
            entry["range"] = [float(lo), float(hi)]
        elif src is None:
            entry["assumption"] = "model default"
            entry["range"] = list(map(float, rng or s.bounds))
        elif src.startswith("assumption: "):
            entry["assumption"] = src[len("assumption: "):]
            entry["range"] = list(map(float, rng or s.bounds))
        else:
            entry["source"] = src
            if rng:
                entry["range"] = list(map(float, rng))
        doc["parameters"][key] = entry
    return tomli_w.dumps(doc)


def sector_files() -> list[Path]:
    """The sector files (every ``*.toml`` but ``baseline.toml``) of ``scenarios/`` in the working
    folder, else of the repository's; ValueError if there are none."""
    for folder in (Path("scenarios"), SCENARIOS):
        files = sorted(p for p in folder.glob("*.toml") if p.name != "baseline.toml")
        if files:
            return files
    raise ValueError("no sector files found in scenarios/; give --scenarios FILE ...")
