import json
import subprocess
import sys

import pytest

from model.commands.cli import main


def test_run_json(baseline_path, capsys):
    assert main(["run", str(baseline_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("falls", "fall_time", "share_at_fall", "gross_loss_at_fall", "break_even_loss"):
        assert key in out
    assert isinstance(out["falls"], bool)
    if out["falls"]:
        assert out["fall_time"] > 0 and 0 <= out["share_at_fall"] <= 1


def test_run_text_and_outputs(baseline_path, tmp_path, capsys):
    import pandas as pd

    csv, pq = tmp_path / "r.csv", tmp_path / "r.parquet"
    assert main(["run", str(baseline_path), "--set", "initial_buffer=9", "--out", str(csv)]) == 0
    text = capsys.readouterr().out
    assert "Static break-even loss" in text
    frame = pd.read_csv(csv)
    assert {"t", "platform_share", "incumbent_revenue", "buffer"} <= set(frame.columns)
    assert main(["run", str(baseline_path), "--out", str(pq)]) == 0
    assert len(pd.read_parquet(pq)) > 10


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--set", "nope=1"], "unknown parameter 'nope'"),
        (["--set", "fixed_cost_share=2"], "`fixed_cost_share` must be in [0, 0.95], got 2.0"),
        (["--set", "fixed_cost_share"], "expected NAME=VALUE"),
        (["--set", "churn_rate=abc"], "(not a number)"),
        (["--out", "x.xlsx"], "must end in .csv or .parquet"),
    ],
)
def test_bad_input_one_line_exit_2(baseline_path, capsys, args, pattern):
    assert main(["run", str(baseline_path), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and pattern in err


def test_missing_and_malformed_files(tmp_path, capsys):
    assert main(["run", str(tmp_path / "none.toml")]) == 2
    assert "no such scenario file" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[parameters\n")
    assert main(["run", str(bad)]) == 2
    assert "malformed TOML" in capsys.readouterr().err


def test_module_entry_point(baseline_path):
    proc = subprocess.run([sys.executable, "-m", "model", "run", str(baseline_path), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "break_even_loss" in json.loads(proc.stdout)


def test_import_model_loads_no_ui_or_plotting():
    code = "import model, sys; print(any(m.split('.')[0] in ('streamlit', 'plotly') for m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
