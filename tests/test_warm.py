"""``python -m model warm``: the install step that compiles the numba kernels into their disk
cache. Once compiled (the suite has compiled them by the time this runs, or this compiles
them), a second pass only loads them: every job reports, and nothing is refused."""

from __future__ import annotations

from model.commands.cli import main
from model.commands.warm import JOBS


def test_warm_runs_every_job_and_refuses_no_jobs(capsys):
    assert main(["warm", "--jobs", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(JOBS) + 1
    assert {line.split(":")[0] for line in lines[:-1]} == {
        "engine, 1 firm(s)", "engine, 2 firm(s)", "engine, 4 firm(s)", "engine, 8 firm(s)", "network"}
    assert lines[-1].startswith(f"compiled {len(JOBS)} kernel families in ")
    assert main(["warm", "--jobs", "0"]) == 2
    assert "--jobs must be at least 1, got 0" in capsys.readouterr().err
