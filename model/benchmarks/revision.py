"""This tree against a git revision: the same probe, timed in both, interleaved, one run.

``python -m model bench --only revision --against REV`` checks REV out into a temporary
git worktree and times, in a fresh interpreter per tree and per round (alternating, so
that a change in the machine's load falls on both): the engine on N Latin-hypercube sets
of the baseline (runs/s), the batched point of no return, and one ``simulate`` of the
baseline. It prints each median and the ratio this tree / REV (> 1: this tree is faster).
The probe finds the engine under either layout (``model.core.engine`` or the flat
``model.engine`` before the layers), so it measures any revision since the engine exists.

The sets are REV's: drawn in REV's tree from REV's baseline and handed to this tree as
parameter dictionaries (converted with :func:`model.core.parameters.from_first_version`
when REV is the first version of the economics), so both trees integrate the same runs:
the ratio is the cost of this tree's equations and solver, not of a different baseline.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import importlib, json, sys, time
import numpy as np
from scipy.stats import qmc

# The layout decides the names; never fall back from one to the other, since an editable
# install can answer an import the tree itself cannot (and would time the wrong code).
layered = sys.argv[6] == "layered"
def mod(layered_name, flat_name):
    return importlib.import_module(layered_name if layered else flat_name)

engine = mod("model.core.engine", "model.engine")
equations = mod("model.core.equations", "model.equations")
scenarios = mod("model.evidence.scenarios", "model.scenarios")
parameters = mod("model.core.parameters", "model.parameters")
simulate = mod("model.core.simulate", "model.simulate").simulate
assert engine.__file__.startswith(sys.argv[7]), (engine.__file__, sys.argv[7])
n, n_ponr, mode, sets_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[4], sys.argv[5]
if mode == "draw":  # the revision's own sets, written for the other tree
    sc = scenarios.load_scenario(sys.argv[3])
    names = [k for k in sc.ranges if k in equations.PARAM_NAMES]
    lo = np.array([sc.ranges[k][0] for k in names]); hi = np.array([sc.ranges[k][1] for k in names])
    x = lo + qmc.LatinHypercube(len(names), rng=0).random(2 * n) * (hi - lo)
    sets = []
    for row in x:
        try:
            sets.append(sc.params.replace(**dict(zip(names, map(float, row)))).as_dict())
        except ValueError:
            continue
        if len(sets) == n:
            break
    json.dump(sets, open(sets_file, "w"))
sets = json.load(open(sets_file))
if "committed_payout" in sets[0] and hasattr(parameters, "from_first_version"):
    params = [parameters.from_first_version(d) for d in sets]
else:
    params = [parameters.Parameters(**d) for d in sets]
h = float(params[0].horizon)
pv = np.array([equations.param_vector(p) for p in params])
y0 = engine.initial_states(pv)
engine.integrate(pv[:64], y0[:64], t_end=h)
engine.point_of_no_return_batch(pv[:16], y0[:16], h)
simulate(params[0])
out = {}
t = time.perf_counter(); res = engine.integrate(pv, y0, t_end=h); out["engine_runs_per_s"] = n / (time.perf_counter() - t)
out["falls"] = int(np.sum(res.falls))
t = time.perf_counter(); engine.point_of_no_return_batch(pv[:n_ponr], y0[:n_ponr], h)
out["ponr_per_s"] = n_ponr / (time.perf_counter() - t)
ts = []
for _ in range(15):
    t = time.perf_counter(); simulate(params[0]); ts.append(time.perf_counter() - t)
out["simulate_runs_per_s"] = 1.0 / sorted(ts)[len(ts) // 2]
print(json.dumps(out))
"""

MEASURES = {"engine_runs_per_s": "engine, runs/s", "ponr_per_s": "batched PONR, sets/s",
            "simulate_runs_per_s": "simulate (first set), runs/s"}


def _probe(tree: Path, n: int, n_ponr: int, baseline: Path, mode: str, sets_file: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    layout = "layered" if (tree / "model" / "core").is_dir() else "flat"
    out = subprocess.run([sys.executable, "-c", PROBE, str(n), str(n_ponr), str(baseline), mode, str(sets_file),
                          layout, str(tree)],
                         cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise ValueError(f"the probe failed in {tree}: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args) -> None:
    rev = getattr(args, "against", None)
    if not rev:
        print("no --against REV given: nothing to compare (e.g. --only revision --against HEAD~1)")
        return
    quick = bool(getattr(args, "quick", False))
    n, n_ponr, rounds = (2_000, 200, 2) if quick else (20_000, 1_000, 5)
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "rev"
        made = subprocess.run(["git", "worktree", "add", "--detach", str(other), rev], cwd=ROOT,
                              capture_output=True, text=True)
        if made.returncode != 0:
            raise ValueError(f"--against {rev!r}: not a revision of {ROOT} ({made.stderr.strip()})")
        try:
            sets = Path(tmp) / "sets.json"
            baseline = other / "scenarios" / "baseline.toml"
            _probe(other, n, n_ponr, baseline, "draw", sets)  # REV draws the sets (and warms its cache)
            here, there = [], []
            for _ in range(rounds):  # alternate, so that load changes fall on both
                here.append(_probe(ROOT, n, n_ponr, baseline, "time", sets))
                there.append(_probe(other, n, n_ponr, baseline, "time", sets))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, capture_output=True)
    print(f"this tree against {rev}: {rounds} alternating rounds, fresh interpreter each; the same {n:,} sets "
          f"(a Latin hypercube over {rev}'s baseline ranges) in both; PONR on {n_ponr:,}; medians")
    if here[0]["falls"] != there[0]["falls"]:
        print(f"  note: the two trees disagree on the number of falls ({here[0]['falls']} vs {there[0]['falls']})")
    for key, label in MEASURES.items():
        a = statistics.median(r[key] for r in here)
        b = statistics.median(r[key] for r in there)
        print(f"  {label:32s} this tree {a:>12,.1f}   {rev} {b:>12,.1f}   ratio {a / b:.3f}")
