"""XMILE export (model.publish.xmile): every scenario's file is XMILE; the printer's forms;
the exported model run in PySD converges to ``simulate`` as PySD's Euler step shrinks."""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from model.commands.cli import main
from model.core.equations import STATE_NAMES, build
from model.core.firms import aggregate
from model.core.simulate import simulate
from model.core.special import binomial_tail, smooth_positive
from model.evidence.scenarios import load_scenario
from model.publish.xmile import XMILE_NAMESPACE, XmilePrinter, to_xmile, write_xmile

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
NS = {"x": XMILE_NAMESPACE}


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_exports_as_xmile(path):
    params = load_scenario(path).params
    root = ET.fromstring(to_xmile(params, name=path.stem).encode("utf-8"))
    assert root.tag == f"{{{XMILE_NAMESPACE}}}xmile" and root.get("version") == "1.0"
    assert float(root.find("x:sim_specs/x:stop", NS).text) == float(params.horizon)
    stocks = [s.get("name") for s in root.findall("x:model/x:variables/x:stock", NS)]
    assert stocks == list(STATE_NAMES)
    names = [v.get("name") for v in root.find("x:model/x:variables", NS)]
    assert len(names) == len(set(names))
    m = build()
    # Every auxiliary, flow and parameter is there, and every name an equation uses is defined.
    assert set(m.auxiliaries) | {p.name for p in m.params} <= set(names)
    text = " ".join(e.text for e in root.iter(f"{{{XMILE_NAMESPACE}}}eqn"))
    assert "binomial_tail" not in text and "smooth_positive" not in text and "Piecewise" not in text
    share = root.find("x:model/x:variables/x:stock[@name='platform_share']", NS)
    assert share.find("x:inflow", NS).text == "adoption" and share.find("x:outflow", NS).text == "churn"


def _evaluate(text: str, **values) -> float:
    """Evaluate a printed XMILE expression in Python (enough of the syntax for the tests)."""
    py = text.replace("^", "**").replace("EXP", "math.exp").replace("SQRT", "math.sqrt").replace("ABS", "abs")
    py = py.replace("MAX", "max").replace("MIN", "min").replace("<>", "!=")
    while "(IF " in py:  # innermost first: (IF c THEN a ELSE b) -> (a if c else b), one level at a time
        start = py.rindex("(IF ")
        depth, i = 0, start
        while True:
            depth += {"(": 1, ")": -1}.get(py[i], 0)
            if depth == 0:
                break
            i += 1
        body = py[start + 4:i]
        cond, rest = body.split(" THEN ", 1)
        a, b = rest.split(" ELSE ", 1)
        py = py[:start] + f"(({a}) if ({cond}) else ({b}))" + py[i + 1:]
    py = py.replace(" = ", " == ")
    return float(eval(py, {"math": math, "abs": abs, "max": max, "min": min}, values))  # noqa: S307


def test_printer_forms_evaluate_to_the_sympy_values():
    x, y, c = sp.symbols("x y c", real=True)
    p = XmilePrinter()
    cases = [
        sp.tanh(x / 3 - y),
        smooth_positive(x - y, sp.Float(1e-3)),
        sp.Piecewise((x ** 2, c > sp.Rational(1, 2)), (sp.exp(-y), True)),
        -x ** 2 + sp.Abs(1 - y) ** sp.Rational(1, 8) / (x * y),
        sp.Max(x, y, 0.5) - sp.Min(x, y),
    ]
    for expr in cases:
        text = p.doprint(expr)
        for vals in ({"x": 0.7, "y": -1.3, "c": 1.0}, {"x": -2.0, "y": 0.4, "c": 0.0}):
            formula = expr.replace(smooth_positive, lambda a, w: smooth_positive(a, w).as_formula())
            want = float(formula.subs({x: vals["x"], y: vals["y"], c: vals["c"]}))
            assert _evaluate(text, **vals) == pytest.approx(want, rel=1e-12), text
    assert p.doprint(-x) == "((-1.0) * x)"  # unary minus never bare (XMILE readers differ on -x^2)
    with pytest.raises(ValueError, match="threshold contagion"):
        p.doprint(binomial_tail(x, 15, 3))


def test_threshold_contagion_and_bad_dt_are_refused():
    params = load_scenario(ROOT / "scenarios/baseline.toml").params
    with pytest.raises(ValueError, match="contagion = 'threshold' cannot be exported"):
        to_xmile(params.replace(contagion="threshold"))
    with pytest.raises(ValueError, match="`dt` must be a positive number"):
        to_xmile(params, dt=0.0)


def test_cli_export_xmile(tmp_path, capsys):
    out = tmp_path / "newspapers.xmile"
    assert main(["export-xmile", str(ROOT / "scenarios/newspapers.toml"), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert ET.parse(out).getroot().tag == f"{{{XMILE_NAMESPACE}}}xmile"
    assert main(["export-xmile", str(ROOT / "scenarios/newspapers.toml"), "-o", str(tmp_path / "x.txt")]) == 2
    assert "must end in .xmile" in capsys.readouterr().err


@pytest.mark.parametrize("scenario", ["baseline", "newspapers"])
def test_pysd_runs_the_export_and_converges_to_simulate(scenario, tmp_path):
    # PySD integrates with fixed-step Euler: the error against simulate (tight tolerances)
    # must be first order, halving with the step, and below 1% of each state's range at
    # dt = 1/128 yr, up to the fall (the export has no stop event).
    pysd = pytest.importorskip("pysd")
    # The export is of the one-firm model (a sector of firms is exported as its aggregate).
    params = aggregate(load_scenario(ROOT / f"scenarios/{scenario}.toml").params)
    path = write_xmile(params, tmp_path / f"{scenario}.xmile")
    first = simulate(params)
    end = math.floor(first.fall_time if first.falls else float(params.horizon))
    ts = np.arange(0.0, end + 1e-9, 0.5)  # multiples of every step below
    ref = simulate(params, t_eval=ts, rtol=1e-10, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySD's own deprecation and units notices
        model = pysd.read_xmile(str(path))
        errors = []
        for dt in (1 / 32, 1 / 64, 1 / 128):
            out = model.run(time_step=dt, final_time=float(ts[-1]), return_timestamps=ts)
            errors.append(max(np.max(np.abs(out[s].to_numpy() - ref.series[s][:ts.size]))
                              / (np.ptp(ref.series[s][:ts.size]) + 1e-3) for s in STATE_NAMES))
    assert errors[-1] < 1e-2, errors
    for coarse, fine in zip(errors, errors[1:]):
        assert 1.6 < coarse / fine < 2.4, errors  # first order: halves with the step
