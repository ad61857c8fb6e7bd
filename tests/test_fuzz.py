"""Fuzz tests (hypothesis, derandomized so CI is deterministic): random TOML documents,
text and bytes into parse_scenario, random link values into the parser the dashboard and
``--set`` use, random corruptions of a finished sweep folder into ``--resume``. The only
exception allowed is the project's own error, ValueError, naming the file; a resumed
sweep has exactly the rows of an uninterrupted one (none lost, none doubled)."""

from __future__ import annotations

import json
import shutil
import string

import pandas as pd
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.commands.sweep import load_scenarios
from model.core.parameters import PARAMETER_SPECS, coerce
from model.evidence.scenarios import Scenario, parse_scenario
from model.studies import sweep as sw

from .conftest import BASELINE

FUZZ = settings(derandomize=True, deadline=None, max_examples=300, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Keys a scenario file uses, and some it does not: the fuzzer reaches past the first check.
NAMES = sorted(PARAMETER_SPECS)
KEYS = st.sampled_from(["scenario", "parameters", "switches", "name", "description", "start_year", "value",
                        "source", "assumption", "range", "notes", "x", *NAMES])
SCALARS = (st.integers(min_value=-10 ** 30, max_value=10 ** 30) | st.floats(allow_nan=True, allow_infinity=True)
           | st.booleans() | st.text(max_size=20) | st.dates() | st.datetimes())
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
                      max_leaves=12)


def entry():
    """A [parameters.NAME] table close to a valid one."""
    return st.fixed_dictionaries({"value": st.floats(allow_nan=True) | st.integers(-5, 5) | SCALARS},
                                 optional={"source": st.text(max_size=10) | SCALARS,
                                           "assumption": st.text(max_size=10),
                                           "range": st.lists(st.floats(-2, 50) | SCALARS, min_size=0, max_size=3),
                                           "unit": SCALARS})


DOCUMENTS = st.fixed_dictionaries({}, optional={
    "scenario": st.dictionaries(st.sampled_from(["name", "description", "start_year", "sector", "y"]), SCALARS,
                                max_size=4),
    "switches": st.dictionaries(st.sampled_from([n for n in NAMES if PARAMETER_SPECS[n].is_switch] + ["z"]),
                                SCALARS | st.sampled_from(["trust", "fixed", "two_part", "standard"]), max_size=3),
    "parameters": st.dictionaries(st.sampled_from(NAMES + ["nope"]), entry() | VALUES, max_size=4),
}) | st.dictionaries(KEYS, VALUES, max_size=4)

COUNTS: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    """Print what the fuzzers tried (run with -s to see it): the counts of the issue's note."""
    yield
    print(f"\nfuzz: parse_scenario {COUNTS}; sweep faults {FAULT_COUNTS}")


def check(data) -> None:
    """parse_scenario gives a Scenario or one ValueError naming the file; nothing else."""
    try:
        result = parse_scenario(data, "fuzz.toml")
    except ValueError as e:
        assert str(e).startswith("fuzz.toml: "), str(e)
        assert len(str(e)) < 2000, len(str(e))  # a hostile value does not flood the message
        COUNTS["ValueError"] = COUNTS.get("ValueError", 0) + 1
        return
    assert isinstance(result, Scenario)
    COUNTS["accepted"] = COUNTS.get("accepted", 0) + 1


@FUZZ
@given(DOCUMENTS)
def test_random_toml_documents(doc):
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):  # not representable in TOML (e.g. a list of tables with a scalar)
        return
    check(text)
    check(text.encode("utf-8"))


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(list("[]{}=\"'.,#\n \t0123456789e+-_"))
               , max_size=300))
def test_random_text(text):
    check(text)
    check("[scenario]\n" + text)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data):
    check(data)
    check(b"\xef\xbb\xbf" + data)


@FUZZ
@given(st.sampled_from(NAMES), st.text(max_size=60) | st.sampled_from(["nan", "inf", "-0", "1e309", "1" * 5000,
                                                                        "[x](http://e)", " trust ", "True"]))
def test_random_link_and_set_values(name, text):
    # coerce is the parser of link values in the dashboard (parse_query_value) and of --set.
    try:
        coerce(name, text)
    except ValueError as e:
        assert str(e).startswith(f"`{name}` must be "), str(e)


# --- random corruptions of a finished sweep, then --resume ---------------------------------------

def _spec():
    return sw.make_spec(load_scenarios([str(BASELINE)], []), ["churn_rate=0.05:0.6"], n=60, seed=5, chunk_size=20)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzzref") / "ref"
    sw.run_sweep(_spec(), out, progress=False)
    return out, sw.read_sweep(out)


CHUNKS = [f"chunk-{i:05d}.parquet" for i in range(3)]
FAULTS = st.lists(st.one_of(
    st.tuples(st.just("flip"), st.sampled_from(CHUNKS + ["manifest.json"]), st.integers(0, 10 ** 6), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.sampled_from(CHUNKS + ["manifest.json"]), st.integers(0, 10 ** 6)),
    st.tuples(st.just("delete"), st.sampled_from(CHUNKS)),
    st.tuples(st.just("copy"), st.sampled_from(CHUNKS), st.sampled_from(CHUNKS + ["chunk-00099.parquet"])),
    st.tuples(st.just("garbage"), st.sampled_from(CHUNKS + ["chunk-00007.parquet", ".chunk-00001.parquet.1.tmp",
                                                            ".manifest.json.1.tmp"]), st.binary(max_size=64)),
    st.tuples(st.just("manifest"), st.sampled_from(["config", "chunks", "resumed", "format"]),
              st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2)),
), min_size=1, max_size=3)

FAULT_COUNTS = {"faults": 0, "resumed equal": 0, "ValueError": 0}


def _apply(out, fault):
    kind, target = fault[0], out / fault[1]
    if kind == "flip" and target.exists():
        data = bytearray(target.read_bytes())
        if data:
            data[fault[2] % len(data)] ^= fault[3]
            target.write_bytes(bytes(data))
    elif kind == "truncate" and target.exists():
        target.write_bytes(target.read_bytes()[: fault[2] % (target.stat().st_size + 1)])
    elif kind == "delete":
        target.unlink(missing_ok=True)
    elif kind == "copy" and target.exists() and fault[1] != fault[2]:
        shutil.copyfile(target, out / fault[2])
    elif kind == "garbage":
        target.write_bytes(fault[2])
    elif kind == "manifest":
        try:
            m = json.loads((out / "manifest.json").read_text())
            m[fault[1]] = fault[2]
            (out / "manifest.json").write_text(json.dumps(m))
        except (ValueError, TypeError, OSError):  # already damaged by an earlier fault
            pass


@settings(derandomize=True, deadline=None, max_examples=40, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(FAULTS)
def test_random_sweep_corruptions_then_resume(reference, tmp_path_factory, faults):
    ref_dir, ref_rows = reference
    out = tmp_path_factory.mktemp("fuzz") / "s"
    shutil.copytree(ref_dir, out)
    for fault in faults:
        _apply(out, fault)
    FAULT_COUNTS["faults"] += len(faults)
    try:
        sw.run_sweep(_spec(), out, resume=True, progress=False)
    except ValueError as e:
        # Only a manifest too damaged to trust: the message names it.
        assert "manifest.json" in str(e), str(e)
        FAULT_COUNTS["ValueError"] += 1
        return
    rows = sw.read_sweep(out)
    pd.testing.assert_frame_equal(rows, ref_rows, check_exact=True)  # none lost, none doubled, none changed
    assert not list(out.glob(".*.tmp"))
    FAULT_COUNTS["resumed equal"] += 1
    shutil.rmtree(out.parent)
