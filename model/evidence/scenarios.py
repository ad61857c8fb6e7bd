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

import itertools
import math
import os
import re
import sys
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

_SCENARIO_KEYS = {"name", "description", "sector", "incumbent", "platform", "start_year", "notes",
                  "verdict_exclusion"}
_ENTRY_KEYS = {"value", "source", "assumption", "range"}

#: Calendar years a ``[scenario] start_year`` may take.
START_YEAR_BOUNDS = (1000, 3000)


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

    @property
    def verdict_exclusion(self) -> str | None:
        """Why the sector is left out of the verdict (``[scenario] verdict_exclusion``), if it
        is: a reading of the sector the model's structure does not fit (payments: the banks
        owned the card networks, so the incumbent was the platform)."""
        return self.meta.get("verdict_exclusion") or None


def _fail(origin: str, key: str, msg: str) -> ValueError:
    if len(key) > 80:  # a hostile key name must not flood the message
        key = key[:80] + "..."
    return ValueError(f"{origin}: `{key}`: {msg}")


def _show(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: a hostile value must not flood a message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


_AT_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]*?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def _key_at(lines: list[str], lineno: int) -> str | None:
    """The dotted key on line ``lineno`` (1-based) with its table, as far as a line shows it."""
    if not 1 <= lineno <= len(lines):
        return None
    m = _KEY.match(lines[lineno - 1])
    header = None
    for line in reversed(lines[:lineno - 1] if m else lines[:lineno]):
        h = _HEADER.match(line)
        if h:
            header = h.group(1)
            break
    if m is None:
        return header
    key = m.group(1).strip()
    return f"{header}.{key}" if header else key


def _toml_error(origin: str, text: str, e: Exception) -> ValueError:
    """A TOML parse error as one message naming the file, the line and (if a line shows
    one) the key: tomllib's own message gives only line and column."""
    msg = str(e)
    m = _AT_LINE.search(msg)
    if m is None:
        return ValueError(f"{origin}: malformed TOML: {msg}")
    lineno = int(m.group(1))
    key = _key_at(text.splitlines(), lineno)
    where = f"line {lineno}" + (f", `{key}`" if key else "")
    hint = ""
    if msg.startswith("Cannot overwrite a value") or "twice" in msg:
        hint = "; each key and table may be given only once"
    return ValueError(f"{origin}: malformed TOML: {where}: {msg}{hint}")


def _digits_error(origin: str, text: str, e: ValueError) -> ValueError:
    """Python refuses to convert integers of more than ``sys.get_int_max_str_digits()``
    digits (tomllib raises a bare ValueError, naming neither file nor key): find the line."""
    limit = sys.get_int_max_str_digits()
    lines = text.splitlines()
    for i, line in enumerate(lines, 1):
        if re.search(r"\d[\d_]{%d,}" % max(limit, 1), line):
            key = _key_at(lines, i)
            return ValueError(f"{origin}: line {i}" + (f", `{key}`" if key else "")
                              + f": an integer of more than {limit:,} digits; numbers must be finite "
                                f"values within the parameter's bounds (e.g. 0.6 or 2008)")
    return ValueError(f"{origin}: malformed TOML: {e}")


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
    if data.startswith("\ufeff"):
        # Windows editors start UTF-8 files with a byte-order mark; the TOML is the text after it.
        data = data[1:]
    try:
        doc = tomllib.loads(data)
    except tomllib.TOMLDecodeError as e:
        raise _toml_error(origin, data, e) from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively: thousands of levels
        # exhaust the stack. No scenario value nests deeper than one list.
        raise ValueError(f"{origin}: malformed TOML: arrays or inline tables nested too deeply; scenario "
                         f"values are numbers, strings or [low, high] lists") from None
    except ValueError as e:  # the integer digit limit, raised by int() inside tomllib
        raise _digits_error(origin, data, e) from None
    if not doc:
        raise ValueError(f"{origin}: empty scenario (no tables or keys); a scenario file has a [scenario] "
                         f"table and [parameters.NAME] entries (see scenarios/baseline.toml)")

    unknown_top = sorted(set(doc) - {"scenario", "parameters", "switches"})
    if unknown_top:
        raise _fail(origin, unknown_top[0], "unknown table; allowed: [scenario], [switches], [parameters.NAME]")
    meta = doc.get("scenario", {})
    if not isinstance(meta, dict):
        raise _fail(origin, "scenario", "must be a table")
    for key in meta:
        if key not in _SCENARIO_KEYS:
            raise _fail(origin, f"scenario.{key}", f"unknown key; allowed: {', '.join(sorted(_SCENARIO_KEYS))}")
    if "start_year" in meta:
        year = meta["start_year"]
        # A year is a finite number: nan or inf would pass here and fail later, far from
        # the file, in calibrate's alignment of data years.
        if (isinstance(year, bool) or not isinstance(year, (int, float)) or not math.isfinite(year)
                or not START_YEAR_BOUNDS[0] <= year <= START_YEAR_BOUNDS[1]):
            raise _fail(origin, "scenario.start_year",
                        f"must be a calendar year, a finite number in [{START_YEAR_BOUNDS[0]}, "
                        f"{START_YEAR_BOUNDS[1]}], got {_show(year)}")
    for key in sorted(_SCENARIO_KEYS - {"start_year"}):
        if key in meta and not isinstance(meta[key], str):
            raise _fail(origin, f"scenario.{key}", f"must be a string, got {_show(meta[key])}")
    name = meta.get("name", Path(origin).stem)

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
            raise _fail(origin, f"{where}.value", f"must be {s.allowed()}, got {_show(value)}")
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
            raise _fail(origin, f"{where}.{label}", f"must be a non-empty string, got {_show(text)}")
        if "range" in entry:
            rng = entry["range"]
            if (not isinstance(rng, list) or len(rng) != 2
                    or any(isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x)
                           for x in rng)):
                raise _fail(origin, f"{where}.range", f"must be [low, high] (two finite numbers), got {_show(rng)}")
            r_lo, r_hi = float(rng[0]), float(rng[1])
            if not (lo <= r_lo <= value <= r_hi <= hi) or r_lo == r_hi:
                raise _fail(origin, f"{where}.range", f"must satisfy {lo:g} <= low <= value ({value:g}) "
                            f"<= high <= {hi:g} with low < high, got {_show(rng)}")
            ranges[key] = (r_lo, r_hi)
        elif assumption is not None:
            raise _fail(origin, f"{where}.range", "missing: an assumption must give the range it is swept over")
        values[key] = float(value)
        sources[key] = text if label == "source" else f"assumption: {text}"

    try:
        parameters = Parameters(**values)
    except ValueError as e:
        raise ValueError(f"{origin}: {e}") from None
    _check_range_box(origin, parameters, ranges)
    return Scenario(name=name, origin=origin, params=parameters, ranges=ranges, sources=sources, meta=dict(meta))


#: Parameters tied by the rules between parameters (``Parameters.__post_init__``): each rule
#: is linear in them, so a box of ranges is valid everywhere if it is valid at its corners.
RULE_PARAMETERS = ("initial_platform_share", "captive_share", "platform_price", "fixed_cost_share",
                   "variable_cost_share")


def _check_range_box(origin: str, params: Parameters, ranges: dict) -> None:
    """ValueError unless every draw of the ranges is a valid parameter set.

    The verdict, sweeps and sensitivity draw anywhere in the box of ranges; a file whose
    value is valid but whose ranges reach an invalid corner would be accepted by ``run``
    and fail there. The message names the corner and the bound to move.
    """
    tied = [n for n in RULE_PARAMETERS if n in ranges]
    if not tied:
        return
    for corner in itertools.product((0, 1), repeat=len(tied)):
        values = {n: ranges[n][c] for n, c in zip(tied, corner)}
        try:
            params.replace(**values)
        except ValueError as e:
            where = ", ".join(f"parameters.{n}.range {'high' if c else 'low'} = {ranges[n][c]:g}"
                              for n, c in zip(tied, corner))
            rule = str(e).split(", got")[0]
            raise ValueError(f"{origin}: the ranges allow draws that break a rule between parameters: at "
                             f"{where}: {rule}. Narrow one of these ranges (every draw of the ranges must be "
                             f"a valid sector)") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises
    ------
    ValueError
        Missing or unreadable file, malformed TOML, unknown key, missing source, value out of
        bounds, or a range that does not contain its value; the message names the file and key.
    """
    path = Path(path)
    if "\0" in str(path):
        raise ValueError(f"{str(path)!r}: not a file name (it contains a NUL character)")
    try:
        size = path.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise ValueError(f"{path}: file is {size:,} bytes; a scenario file may have at most "
                             f"{MAX_SCENARIO_BYTES:,}")
        # The reported size can lie (0 for /dev/zero, pipes and /proc files): read at most one
        # byte more than allowed, so parse_scenario refuses an oversized file without the
        # whole of it ever being in memory.
        # O_NONBLOCK: opening a named pipe with no writer would otherwise wait forever; once
        # open, reads block again (a pipe without a writer then reads as empty).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_SCENARIO_BYTES + 1)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such scenario file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a scenario file") from None
    except PermissionError:
        raise ValueError(f"{path}: cannot be read (permission denied)") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror or e})") from None
    if len(data) > MAX_SCENARIO_BYTES:
        raise ValueError(f"{path}: file has more than {MAX_SCENARIO_BYTES:,} bytes (the most a scenario "
                         f"file may have)")
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


def verdict_files(paths=None) -> tuple[list[Path], list[tuple[str, str]]]:
    """The sector files the verdict runs by default, and those it leaves out with the reason
    their ``[scenario] verdict_exclusion`` gives (``paths``: default :func:`sector_files`)."""
    kept, excluded = [], []
    for path in (sector_files() if paths is None else [Path(p) for p in paths]):
        reason = load_scenario(path).verdict_exclusion
        if reason:
            excluded.append((path.stem, reason))
        else:
            kept.append(path)
    return kept, excluded
