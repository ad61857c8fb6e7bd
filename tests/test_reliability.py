"""Regression tests of issue 15 (reliability): no hang, no traceback, no silent wrong
answer, no lost or doubled sweep row. Each test reproduces one reported failure."""

from __future__ import annotations

import numpy as np
import pytest

from model.analysis import tipping
from model.core import engine
from model.core.equations import param_vector
from model.evidence.scenarios import load_scenario

from .conftest import SCENARIOS

NEWSPAPERS = SCENARIOS / "newspapers.toml"


class _Budget:
    """Wraps a function and raises after ``limit`` calls: turns a would-be hang into a failure."""

    def __init__(self, fn, limit):
        self.fn, self.limit, self.calls = fn, limit, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls > self.limit:
            raise RuntimeError(f"more than {self.limit} calls: the bisection does not terminate")
        return self.fn(*args, **kwargs)


# --- 1. the hang: bisection below the float spacing --------------------------------------------

@pytest.mark.parametrize("tol", [1e-15, 5e-324])
def test_ponr_bisection_terminates_below_float_spacing(monkeypatch, tol):
    params = load_scenario(NEWSPAPERS).params
    budget = _Budget(tipping.simulate, 200)
    monkeypatch.setattr(tipping, "simulate", budget)
    p = tipping.point_of_no_return(params, tol=tol)
    assert p.outcome == "tips"
    lo, hi = p.bracket
    # The bracket is as narrow as floats allow: adjacent (or equal) floats.
    assert lo < hi and np.nextafter(lo, np.inf) == hi
    assert p.evaluations < 200
    assert "float" in p.message


@pytest.mark.parametrize("tol", [0.0, -1.0, float("nan"), float("inf"), True, "0.01"])
def test_ponr_rejects_bad_tol(tol):
    params = load_scenario(NEWSPAPERS).params
    with pytest.raises(ValueError, match="tol"):
        tipping.point_of_no_return(params, tol=tol)


def test_engine_ponr_batch_terminates_below_float_spacing(monkeypatch):
    params = load_scenario(NEWSPAPERS).params.replace(firm_count=1)  # one-firm vectors below
    pvecs = np.stack([param_vector(params)] * 2)
    budget = _Budget(engine.integrate, 200)
    monkeypatch.setattr(engine, "integrate", budget)
    b = engine.point_of_no_return_batch(pvecs, horizon=params.horizon, tol=1e-15)
    assert b.outcome_names == ["tips", "tips"]
    assert np.all(np.nextafter(b.lo, np.inf) == b.hi)
    # agrees with the scalar bisection at a normal tolerance
    p = tipping.point_of_no_return(params, tol=1e-6)
    assert abs(b.time[0] - p.time) < 1e-3


@pytest.mark.parametrize("tol", [0.0, -1.0, float("nan"), float("inf"), True])
def test_engine_ponr_rejects_bad_tol(tol):
    params = load_scenario(NEWSPAPERS).params
    with pytest.raises(ValueError, match="tol"):
        engine.point_of_no_return_batch(param_vector(params)[None, :], horizon=params.horizon, tol=tol)


# --- 2 and 6. scenario files: every hostile input is one ValueError naming file and key --------

from model.evidence.scenarios import MAX_SCENARIO_BYTES, parse_scenario  # noqa: E402

DEEP = "[scenario]\nname = " + "[" * 20_000 + "]" * 20_000 + "\n"


@pytest.mark.parametrize("text, pattern", [
    (DEEP, r"^deep.toml: malformed TOML: arrays or inline tables nested too deeply"),
    ("[scenario]\nname = " + "{a = " * 20_000 + "1" + "}" * 20_000, r"^deep.toml: .*nested too deeply"),
    ("[parameters.fixed_cost_share]\nvalue = " + "9" * 5000 + "\nsource = 'x'\n",
     r"^deep.toml: line 2, `parameters.fixed_cost_share.value`: an integer of more than 4,300 digits"),
    ("[scenario]\nstart_year = nan\n",
     r"^deep.toml: `scenario.start_year`: must be a calendar year, a finite number in \[1000, 3000\], got nan"),
    ("[scenario]\nstart_year = -inf\n", r"`scenario.start_year`: must be a calendar year.*got -inf"),
    ("[scenario]\nstart_year = 1e9\n", r"`scenario.start_year`: must be a calendar year.*got 1000000000.0"),
    ("", r"^deep.toml: empty scenario \(no tables or keys\)"),
    ("# only a comment\n\n", r"^deep.toml: empty scenario"),
    ("[scenario]\nname = 'a'\nname = 'b'\n",
     r"^deep.toml: malformed TOML: line 3, `scenario.name`: Cannot overwrite a value .*given only once"),
    ("[parameters.churn_rate]\nvalue = 0.1\nvalue = 0.2\n", r"malformed TOML: line 3, `parameters.churn_rate.value`: Cannot overwrite"),
    ("[scenario]\ndescription = 1\n", r"`scenario.description`: must be a string, got 1"),
    ("[scenario]\nname = '" + "x" * 100_000 + "'\nstart_year = '" + "y" * 100_000 + "'\n",
     r"`scenario.start_year`: .*\.\.\. \(100,002 characters\)$"),
])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_hostile_scenario_text_is_one_clear_error(text, pattern, as_bytes):
    with pytest.raises(ValueError, match=pattern):
        parse_scenario(text.encode() if as_bytes else text, "deep.toml")


def test_utf8_bom_is_accepted():
    text = "[scenario]\nname = 'with a BOM'\nstart_year = 2008\n"
    for data in ("\ufeff" + text, b"\xef\xbb\xbf" + text.encode()):
        assert parse_scenario(data, "bom.toml").name == "with a BOM"


def test_load_scenario_reads_a_bounded_amount(tmp_path, monkeypatch):
    from model.evidence import scenarios

    reads = []
    real_fdopen = scenarios.os.fdopen

    def spy(fd, *a, **k):
        f = real_fdopen(fd, *a, **k)
        real_read = f.read

        def read(n=-1):
            reads.append(n)
            return real_read(n)
        f.read = read
        return f

    path = tmp_path / "s.toml"
    path.write_text("[scenario]\nname = 'x'\n")
    monkeypatch.setattr(scenarios.os, "fdopen", spy)
    assert scenarios.load_scenario(path).name == "x"
    assert reads == [MAX_SCENARIO_BYTES + 1]


def test_dev_zero_is_refused_without_reading_it_all():
    import resource
    import subprocess
    import sys

    # /dev/zero reports size 0 and never ends. In a child with 1.5 GB of address space, so
    # that reading it unbounded is a MemoryError there rather than the machine running out.
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))

    code = ("from model.evidence.scenarios import load_scenario\n"
            "try:\n    load_scenario('/dev/zero')\nexcept ValueError as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       preexec_fn=limit, cwd=str(SCENARIOS.parent))
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("/dev/zero: file has more than 262,144 bytes")


def test_named_pipe_without_writer_does_not_hang(tmp_path):
    import os
    import subprocess
    import sys

    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    code = ("from model.evidence.scenarios import load_scenario\n"
            f"try:\n    load_scenario({str(fifo)!r})\nexcept ValueError as e:\n    print(e)\n")
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           cwd=str(SCENARIOS.parent))
    except subprocess.TimeoutExpired:
        pytest.fail("load_scenario on a named pipe without a writer hangs")
    assert r.stdout.startswith(f"{fifo}: empty scenario"), r.stderr[-2000:]


@pytest.mark.parametrize("name, pattern", [("a\0b.toml", r"contains a NUL character"),
                                           ("/proc/self/mem", r"^/proc/self/mem: cannot be read")])
def test_unreadable_scenario_paths(name, pattern):
    from model.evidence.scenarios import load_scenario as load

    with pytest.raises(ValueError, match=pattern):
        load(name)


def test_cli_deeply_nested_scenario_exits_2_with_one_line(tmp_path, capsys):
    from model.commands.cli import main

    path = tmp_path / "deep.toml"
    path.write_text(DEEP)
    for cmd in (["run", str(path)], ["tipping", str(path), "--no-continue"]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {path}: malformed TOML: arrays or inline tables nested too deeply")
        assert err.count("\n") == 1


# --- 2. run --out into a missing folder or onto a folder ----------------------------------------

def test_run_out_bad_targets_are_refused_before_the_run(tmp_path, capsys, monkeypatch):
    from model.commands import cli
    from model.commands import run as run_cmd

    calls = []
    monkeypatch.setattr(run_cmd, "simulate", lambda *a, **k: calls.append(1))
    (tmp_path / "adir.csv").mkdir()
    (tmp_path / "afile").write_text("x")
    cases = [(tmp_path / "missing" / "x.csv", "does not exist"),
             (tmp_path / "adir.csv", "is a directory"),
             (tmp_path / "afile" / "x.parquet", "is not a folder")]
    for out, fragment in cases:
        assert cli.main(["run", str(NEWSPAPERS), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --out {out}: ") and fragment in err, err
    assert not calls  # refused before simulating


def test_run_out_write_failure_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import pandas as pd

    from model.commands import cli

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    out = tmp_path / "x.csv"
    assert cli.main(["run", str(NEWSPAPERS), "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: --out {out}: cannot be written (No space left on device)\n"


# --- 2 and 4. sweeps: refused up front when too big; resume verifies what it keeps ------------

import json  # noqa: E402
import shutil  # noqa: E402

import pandas as pd  # noqa: E402

from model.commands.sweep import load_scenarios  # noqa: E402
from model.studies import sweep as sw  # noqa: E402

BASELINE = SCENARIOS / "baseline.toml"


def _spec(**kw):
    kw = {"n": 100, "seed": 4, "chunk_size": 25, **kw}
    return sw.make_spec(load_scenarios([str(BASELINE)], []), ["churn_rate=0.05:0.6"], **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref"
    sw.run_sweep(_spec(), out, progress=False)
    return out


def test_sweep_n_too_large_is_refused_up_front(tmp_path, capsys):
    from model.commands.cli import main

    out = tmp_path / "big"
    assert main(["sweep", str(BASELINE), "--n", "1000000000000", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --n 1000000000000: a lhs design of 1,000,000,000,000 points") and "memory" in err
    assert "available; use --n of at most about" in err
    assert not out.exists()


def test_sweep_that_cannot_fit_on_disk_is_refused_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(sw, "_free_disk", lambda path: 10_000)
    with pytest.raises(ValueError, match=r"--out .*: 100 rows of \d+ columns need about .* of disk; 10.0 kB is free"):
        sw.run_sweep(_spec(), tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()


def test_full_disk_mid_sweep_is_a_message_no_temporaries_and_resume_finishes(tmp_path, monkeypatch, reference):
    import pyarrow.parquet as pq

    real = pq.write_table
    calls = []

    def write(table, where, *a, **k):
        calls.append(where)
        if len(calls) == 3:
            Path(where).write_bytes(b"half a chunk")
            raise OSError(28, "No space left on device")
        return real(table, where, *a, **k)

    from pathlib import Path

    monkeypatch.setattr(pq, "write_table", write)
    out = tmp_path / "full"
    with pytest.raises(ValueError, match=r"cannot write \(No space left on device\); 2 of 4 chunks are complete"):
        # One worker: the third write is chunk 2's (with two, which chunk writes third is a race).
        sw.run_sweep(_spec(), out, progress=False, workers=1)
    assert not list(out.glob(".*.tmp"))
    monkeypatch.setattr(pq, "write_table", real)
    summary = sw.run_sweep(_spec(), out, resume=True, progress=False)  # chunks side by side finish in any order
    assert sorted(summary.computed_chunks) == [2, 3] and summary.rejected == []
    pd.testing.assert_frame_equal(sw.read_sweep(out), sw.read_sweep(reference), check_exact=True)


def _copy(reference, tmp_path):
    out = tmp_path / "c"
    shutil.copytree(reference, out)
    return out


def _flip(path, at=200):
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "chunk copied over another": lambda out: shutil.copyfile(out / "chunk-00000.parquet", out / "chunk-00001.parquet"),
    "flipped byte": lambda out: _flip(out / "chunk-00001.parquet"),
    "flipped byte in the data pages": lambda out: _flip(out / "chunk-00001.parquet", at=40),
    "truncated": lambda out: (out / "chunk-00001.parquet").write_bytes((out / "chunk-00001.parquet").read_bytes()[:99]),
    "emptied": lambda out: (out / "chunk-00001.parquet").write_bytes(b""),
    "replaced by a folder": lambda out: ((out / "chunk-00001.parquet").unlink(),
                                         (out / "chunk-00001.parquet").mkdir()),
    "manifest entry removed": lambda out: _edit_manifest(out, lambda m: m["chunks"].pop("1")),
    "manifest hash changed": lambda out: _edit_manifest(out, lambda m: m["chunks"]["1"].update(sha256="0" * 64)),
}


def _edit_manifest(out, change):
    m = json.loads((out / "manifest.json").read_text())
    change(m)
    (out / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_bad_chunk_is_refused_by_read_sweep_and_recomputed_on_resume(case, reference, tmp_path):
    out = _copy(reference, tmp_path)
    CORRUPTIONS[case](out)
    if case != "replaced by a folder":
        with pytest.raises(ValueError, match=r"chunk-00001.parquet: .*run the sweep with --resume"):
            sw.read_sweep(out)
        summary = sw.run_sweep(_spec(), out, resume=True, progress=False)
        assert summary.computed_chunks == [1], summary.rejected
        assert len(summary.rejected) == 1 and summary.rejected[0].startswith("chunk-00001.parquet ")
        assert (out / "chunk-00001.parquet.rejected").exists()
        pd.testing.assert_frame_equal(sw.read_sweep(out), sw.read_sweep(reference), check_exact=True)
    else:
        with pytest.raises(ValueError, match=r"chunk-00001.parquet: a folder where a chunk file belongs"):
            sw.run_sweep(_spec(), out, resume=True, progress=False)


def test_stray_chunk_is_never_merged(reference, tmp_path, capsys):
    from model.commands.cli import main

    out = _copy(reference, tmp_path)
    shutil.copyfile(out / "chunk-00000.parquet", out / "chunk-00099.parquet")
    with pytest.raises(ValueError, match=r"chunk-00099.parquet: not a chunk of the sweep .* \(4 chunks\)"):
        sw.read_sweep(out)
    (out / ".manifest.json.12345.tmp").write_text("{")  # a writer killed on a full disk
    summary = sw.run_sweep(_spec(), out, resume=True, progress=False)
    assert summary.computed_chunks == [] and "chunk-00099.parquet is not a chunk" in summary.rejected[0]
    assert not list(out.glob(".*.tmp"))
    pd.testing.assert_frame_equal(sw.read_sweep(out), sw.read_sweep(reference), check_exact=True)


@pytest.mark.parametrize("text, fragment", [
    ("[]", "a JSON list, not an object"), ("3", "a JSON int"), ('"x"', "a JSON str"), ("null", "NoneType"),
    ('{"config": 1}', "`config` must be an object"),
    ('{"config": {"n_runs_per_scenario": "100", "chunk_size": 25, "scenarios": [1]}}', "n_runs_per_scenario"),
    ("{", "unreadable manifest"), ("[" * 100_000, "unreadable manifest"),
])
def test_manifest_of_the_wrong_shape_is_a_clear_error(reference, tmp_path, text, fragment):
    out = _copy(reference, tmp_path)
    (out / "manifest.json").write_text(text)
    for call in (lambda: sw.read_sweep(out), lambda: sw.run_sweep(_spec(), out, resume=True, progress=False)):
        with pytest.raises(ValueError, match="manifest.json: ") as e:
            call()
        assert fragment in str(e.value)


def test_manifest_entries_of_the_wrong_shape_are_a_clear_error(reference, tmp_path):
    for change in (lambda m: m.update(chunks=[]), lambda m: m["chunks"].update({"1": 5}),
                   lambda m: m["chunks"]["1"].update(rows="25"), lambda m: m.update(resumed={})):
        out = _copy(reference, tmp_path)
        _edit_manifest(out, change)
        with pytest.raises(ValueError, match="manifest.json: not a sweep manifest"):
            sw.run_sweep(_spec(), out, resume=True, progress=False)
        shutil.rmtree(out)


# --- 3. a solver failure is a solver failure, never "bad input" -------------------------------

@pytest.fixture
def nan_jacobian(monkeypatch):
    """The Jacobian goes non-finite (as it does for a state blown up to NaN): BDF and Radau
    then raise "array must not contain infs or NaNs" from inside solve_ivp."""
    from model.core import _generated as gen

    real = gen.jac
    monkeypatch.setattr(gen, "jac", lambda y, pv: np.full_like(real(y, pv), np.nan))


@pytest.mark.parametrize("method", ["BDF", "Radau"])
def test_solver_nan_is_a_failed_result(nan_jacobian, method):
    from model.core.simulate import SimulationError, simulate

    params = load_scenario(NEWSPAPERS).params.replace(firm_count=1)  # the one-firm module is patched
    r = simulate(params, method=method)
    assert not r.success and r.status == -1 and not r.falls
    assert r.message.startswith("solver failed near t = ") and "must not contain infs or NaNs" in r.message
    with pytest.raises(SimulationError, match="solver failed"):
        simulate(params, method=method, raise_on_failure=True)
    p = tipping.point_of_no_return(params, method=method)
    assert p.outcome == "failed" and not p.success and "solver failed" in p.message


def test_cli_solver_nan_exits_1_not_2(nan_jacobian, capsys):
    from model.commands.cli import main

    assert main(["run", str(NEWSPAPERS), "--method", "BDF", "--set", "firm_count=1"]) == 1  # 2 is for bad input
    out = capsys.readouterr()
    assert "Solver failure: solver failed near t = " in out.out and not out.err


def test_output_into_a_closed_pipe_is_no_traceback():
    import subprocess
    import sys

    # `python -m model tipping ... | head -c 600`: the reader closes the pipe before the
    # command writes; the command must stop quietly (141, as a shell reports SIGPIPE).
    proc = subprocess.Popen([sys.executable, "-m", "model", "tipping", str(NEWSPAPERS), "--json", "--no-continue"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(SCENARIOS.parent))
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err
