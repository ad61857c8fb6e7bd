"""Global sensitivity analysis with SALib: Sobol' indices and Morris screening.

The workflow reads in SALib's order: a ``problem`` (names and bounds), a sample, an
evaluation ``Y = f(X)``, an analysis. :func:`analyze_function` runs it for any vectorised
function returning named outputs; :func:`model_function` is the model's (the ensemble
engine for every row: the point of no return and the fall time). The test suite runs
the Ishigami function, whose indices are known in closed form, through the very same
:func:`analyze_function`.

Outputs of the model. ``ponr_time``: the point of no return in years (shared definition
in :mod:`model.analysis.tipping`), 0 where the incumbent falls even without further acquisition,
and *censored at the horizon* where it never tips; ``fall_time``: the year the incumbent
falls, censored at the horizon where it survives. Censoring keeps every row (Sobol'
estimators need them all); the share of censored rows is reported with the table.
``ponr_share`` (the platform's share of the sector's gross at the point of no return) is
defined only where the incumbent tips; asking for it when some rows do not is an error.
A run that fails in the engine is an error too, never a silently dropped row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from ..core import engine
from ..core.equations import PARAM_NAMES, param_vector
from ..core.parameters import Parameters

__all__ = ["METHODS", "OUTPUTS", "DEFAULT_OUTPUTS", "SensitivityResult", "problem_from_vary", "sample",
           "analyze_function", "model_function", "model_sensitivity", "to_markdown"]

METHODS = ("sobol", "morris")
OUTPUTS = ("ponr_time", "fall_time", "ponr_share")
DEFAULT_OUTPUTS = ("ponr_time", "fall_time")
_P = {name: i for i, name in enumerate(PARAM_NAMES)}


def problem_from_vary(vary: Sequence[tuple[str, float, float]]) -> dict:
    """SALib problem dict from (name, low, high) triples."""
    if not vary:
        raise ValueError("nothing to vary: give --vary NAME=LOW:HIGH")
    return {"num_vars": len(vary), "names": [v[0] for v in vary], "bounds": [[float(v[1]), float(v[2])] for v in vary]}


def _base_samples(method: str, n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"--n must be an integer >= 2, got {n!r}")
    # Saltelli's scheme on Sobol' points is balanced only for powers of two.
    return 2 ** math.ceil(math.log2(n)) if method == "sobol" else int(n)


def sample(problem: dict, method: str, n: int, seed: int) -> np.ndarray:
    """The SALib sample for ``method``: Saltelli/Sobol' (first and total order, ``n``
    rounded up to a power of two, n (d + 2) rows) or Morris (``n`` trajectories of d + 1
    points on 4 levels)."""
    if method not in METHODS:
        raise ValueError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    n = _base_samples(method, n)
    if method == "sobol":
        from SALib.sample import sobol as sobol_sample

        return sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
    from SALib.sample import morris as morris_sample

    return morris_sample.sample(problem, n, num_levels=4, seed=seed)


@dataclass(frozen=True)
class SensitivityResult:
    """Indices per (output, parameter), as rows of a table.

    ``rows``: dicts with ``output``, ``parameter`` and, for Sobol', ``S1``, ``S1_conf``,
    ``ST``, ``ST_conf`` (the confidence half-widths at ``conf_level``); for Morris,
    ``mu_star``, ``mu_star_conf``, ``mu``, ``sigma``. ``notes``: one line per output
    (censoring, sample size).
    """

    method: str
    problem: dict
    n_base: int
    n_evaluations: int
    conf_level: float
    rows: list[dict]
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        if self.method == "sobol":
            return ["output", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
        return ["output", "parameter", "mu_star", "mu_star_conf", "mu", "sigma"]

    def index(self, output: str, parameter: str) -> dict:
        for r in self.rows:
            if r["output"] == output and r["parameter"] == parameter:
                return r
        raise KeyError((output, parameter))

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)


def analyze_function(problem: dict, func: Callable[[np.ndarray], Mapping[str, np.ndarray]], *,
                     method: str = "sobol", n: int = 1024, seed: int = 0, conf_level: float = 0.95,
                     num_resamples: int = 200) -> SensitivityResult:
    """Sample, evaluate ``func`` (X of shape (rows, d) -> {output: values of shape (rows,)}),
    analyse each output with SALib.

    Raises
    ------
    ValueError
        For an unknown method, a bad ``n``, non-finite outputs, or an output that does not
        vary over the sample (its indices are undefined).
    """
    if not (0 < conf_level < 1):
        raise ValueError(f"`conf_level` must be in (0, 1), got {conf_level!r}")
    X = sample(problem, method, n, seed)
    outputs = func(X)
    rows: list[dict] = []
    for name, Y in outputs.items():
        Y = np.asarray(Y, dtype=np.float64)
        if Y.shape != (X.shape[0],):
            raise ValueError(f"output {name!r} has shape {Y.shape}, expected ({X.shape[0]},)")
        if not np.all(np.isfinite(Y)):
            raise ValueError(f"output {name!r} has {int(np.sum(~np.isfinite(Y)))} non-finite values")
        if np.ptp(Y) == 0:
            raise ValueError(f"output {name!r} is the same ({Y[0]:g}) for every sample: it does not depend on "
                             f"{', '.join(problem['names'])} over these ranges")
        if method == "sobol":
            from SALib.analyze import sobol as sobol_analyze

            s = sobol_analyze.analyze(problem, Y, calc_second_order=False, num_resamples=num_resamples,
                                      conf_level=conf_level, seed=seed)
            for j, p in enumerate(problem["names"]):
                rows.append({"output": name, "parameter": p, "S1": float(s["S1"][j]),
                             "S1_conf": float(s["S1_conf"][j]), "ST": float(s["ST"][j]),
                             "ST_conf": float(s["ST_conf"][j])})
        else:
            from SALib.analyze import morris as morris_analyze

            s = morris_analyze.analyze(problem, X, Y, num_resamples=num_resamples, conf_level=conf_level,
                                       num_levels=4, seed=seed)
            for j, p in enumerate(problem["names"]):
                rows.append({"output": name, "parameter": p, "mu_star": float(s["mu_star"][j]),
                             "mu_star_conf": float(s["mu_star_conf"][j]), "mu": float(s["mu"][j]),
                             "sigma": float(s["sigma"][j])})
    notes = getattr(func, "notes", {})
    return SensitivityResult(method=method, problem=problem, n_base=_base_samples(method, n),
                             n_evaluations=int(X.shape[0]), conf_level=conf_level, rows=rows, notes=dict(notes))


class model_function:
    """``X -> {output: values}`` for the model: ``params`` with the varied names set per row.

    Callable object (not a closure) so that it can carry ``notes`` on censoring after a call.
    """

    def __init__(self, params: Parameters, names: Sequence[str], outputs: Sequence[str] = DEFAULT_OUTPUTS, *,
                 tol: float = 0.01, rtol: float = 1e-6, atol: float = 1e-9):
        bad = [o for o in outputs if o not in OUTPUTS]
        if bad or not outputs:
            raise ValueError(f"--outputs: unknown {bad[0]!r}; choose from {', '.join(OUTPUTS)}" if bad
                             else "--outputs: give at least one")
        self.params, self.names, self.outputs = params, list(names), tuple(outputs)
        self.tol, self.rtol, self.atol = tol, rtol, atol
        self.notes: dict[str, str] = {}

    def __call__(self, X: np.ndarray) -> dict[str, np.ndarray]:
        n = X.shape[0]
        pvecs = np.repeat(param_vector(self.params)[None, :], n, axis=0)
        horizon = np.full(n, float(self.params.horizon))
        for j, name in enumerate(self.names):
            if name == "horizon":
                horizon = X[:, j].astype(np.float64).copy()
            elif name in _P:  # the firms' spreads, sizes and switching rate are not columns of one firm
                pvecs[:, _P[name]] = X[:, j]
        cost = pvecs[:, _P["fixed_cost_share"]] + pvecs[:, _P["variable_cost_share"]]
        invalid = int(np.sum((cost < 0.05) | (cost > 0.99)))
        if invalid:
            raise ValueError(f"{invalid} of {n} samples have fixed_cost_share + variable_cost_share outside "
                             "[0.05, 0.99] (invalid parameters); narrow the ranges so that every sample is valid")
        out: dict[str, np.ndarray] = {}
        reorganise = False
        if self.params.firm_count > 1:
            # A sector of several firms: each sample's values place its firms again.
            from ..core.firms import firm_param_vector_with

            pvecs = np.array([firm_param_vector_with(self.params, self.names, row) for row in X])
            reorganise = self.params.insolvency == "reorganisation"
        pb = engine.point_of_no_return_batch(pvecs, None, horizon, tol=self.tol, rtol=self.rtol, atol=self.atol,
                                             reorganise=reorganise)
        failed = np.flatnonzero(pb.outcome == engine.PONR_FAILED)
        if failed.size:
            reasons = sorted(set(pb.reason[i] for i in failed))
            raise ValueError(f"{failed.size} of {n} runs failed ({'; '.join(reasons)}); sensitivity indices need "
                             "every run")
        never = pb.outcome == engine.PONR_NEVER_TIPS
        if "ponr_time" in self.outputs:
            out["ponr_time"] = np.where(never, horizon, pb.time)
            self.notes["ponr_time"] = (f"{never.mean():.1%} of samples never tip: point of no return censored at "
                                       "the horizon")
        if "fall_time" in self.outputs:
            falls = np.isfinite(pb.fall_time)
            out["fall_time"] = np.where(falls, pb.fall_time, horizon)
            self.notes["fall_time"] = f"{1 - falls.mean():.1%} of samples survive: fall time censored at the horizon"
        if "ponr_share" in self.outputs:
            tips = pb.outcome != engine.PONR_NEVER_TIPS
            if not np.all(tips):
                raise ValueError(f"ponr_share is undefined for the {int(np.sum(~tips))} of {n} samples that never "
                                 "tip; use ponr_time, or narrow the ranges to where the incumbent falls")
            out["ponr_share"] = pb.share
            self.notes["ponr_share"] = "platform share of the sector's gross at the point of no return"
        return out


def model_sensitivity(params: Parameters, vary: Sequence[tuple[str, float, float]], *, method: str = "sobol",
                      n: int = 1024, seed: int = 0, outputs: Sequence[str] = DEFAULT_OUTPUTS,
                      conf_level: float = 0.95, tol: float = 0.01) -> SensitivityResult:
    """Sensitivity of the point of no return and the fall time to the varied parameters."""
    problem = problem_from_vary(vary)
    func = model_function(params, problem["names"], outputs, tol=tol)
    return analyze_function(problem, func, method=method, n=n, seed=seed, conf_level=conf_level)


def to_markdown(result: SensitivityResult, title: str | None = None) -> str:
    """The table as GitHub Markdown, with a header line on method and sample size."""
    cols = result.columns
    level = f"{result.conf_level:.0%}"
    head = {"S1_conf": f"S1 ±{level}", "ST_conf": f"ST ±{level}", "mu_star_conf": f"mu* ±{level}",
            "mu_star": "mu*"}
    lines = []
    if title:
        lines += [f"## {title}", ""]
    what = ("Sobol' indices (Saltelli sampling, first and total order)" if result.method == "sobol"
            else "Morris elementary effects (4 levels)")
    lines.append(f"{what}: {result.n_base} base samples, {result.n_evaluations} model evaluations.")
    for out, note in result.notes.items():
        lines.append(f"- {out}: {note}")
    lines += ["", "| " + " | ".join(head.get(c, c) for c in cols) + " |",
              "|" + "|".join("---" if c in ("output", "parameter") else "---:" for c in cols) + "|"]
    for r in result.rows:
        cells = [r[c] if isinstance(r[c], str) else f"{r[c]:.4f}" for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
