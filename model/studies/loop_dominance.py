"""Loop dominance over a sector's draws: which loop dominates at the point of no return,
and when dominance shifts, across the verdict's Monte Carlo of a sector.

The draws are the verdict's (:func:`model.studies.verdict.draw_parameters`: the same Latin
hypercube over the sector's ranges, per seed). Each draw is scored on its aggregate
incumbent (:func:`model.core.firms.aggregate`), as the single-run scores are
(:func:`model.analysis.loops.loop_scores`): the trajectories of every draw at once from the
compiled engine on a common time grid (:func:`model.core.engine.integrate`), then the
scenario's loops scored by one compiled program over the (draws x times) arrays, the
parameters as per-draw columns (:func:`model.analysis.loops.model_program`); the point of
no return of every draw from :func:`model.core.engine.point_of_no_return_batch`, on the same
aggregate model. The loops are the scenario's causal diagram's (the switches are not drawn,
so every draw has the same links); a draw may give a loop another sign, which its relative
score shows.

Pure analysis: numpy and the engine; no file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.causal import causal_structure
from ..analysis.loops import dominance_shifts, loop_names, model_program
from ..core import engine
from ..core.equations import PARAM_NAMES, STATE_NAMES, param_vector
from ..core.firms import aggregate
from ..evidence.scenarios import Scenario
from .verdict import draw_parameters

__all__ = ["LoopEnsemble", "sector_loop_dominance", "ensemble_summary"]


@dataclass(frozen=True)
class LoopEnsemble:
    """Loop scores over a sector's draws.

    Attributes
    ----------
    names : tuple of str
        The loops' names (:func:`model.analysis.loops.loop_names`), rows of ``relative``.
    polarity : tuple of str
        Each loop's polarity in the scenario's diagram.
    t : ndarray, shape (n_t,)
        The common time grid (years, 0 to the horizon).
    relative : ndarray, shape (n_loops, draws, n_t)
        Relative loop scores (NaN after a draw's fall and where undefined).
    outcome : ndarray of int8, shape (draws,)
        Point-of-no-return outcome (:data:`model.core.engine.PONR_OUTCOMES`).
    ponr_time : ndarray, shape (draws,)
        The point of no return (years; NaN unless the draw tips).
    dominant_at_ponr : ndarray of int, shape (draws,)
        Index of the loop dominating at the draw's point of no return (the nearest grid
        time), -1 where the draw does not tip or the scores are undefined there.
    shifts : tuple of list of (float, int, int)
        Each draw's dominance shifts (time, loop before, loop after).
    seed : int
    """

    names: tuple
    polarity: tuple
    t: np.ndarray
    relative: np.ndarray
    outcome: np.ndarray
    ponr_time: np.ndarray
    dominant_at_ponr: np.ndarray
    shifts: tuple
    seed: int

    @property
    def draws(self) -> int:
        return int(self.outcome.size)

    @property
    def dominant(self) -> np.ndarray:
        """Index of the dominant loop per draw and time, shape (draws, n_t); -1 where undefined."""
        rel = np.abs(self.relative)
        ok = np.all(np.isfinite(rel), axis=0)
        out = np.argmax(np.where(np.isfinite(rel), rel, -1.0), axis=0)
        out[~ok] = -1
        return out


def sector_loop_dominance(scenario: Scenario, *, draws: int = 1000, seed: int = 0, samples: int = 241,
                          tol: float = 0.01) -> LoopEnsemble:
    """Loop scores of the sector's ``draws`` (the verdict's) on ``samples`` common times.

    Raises
    ------
    ValueError
        If ``draws`` < 2 or ``samples`` < 3 (and as :func:`draw_parameters`).
    """
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 3:
        raise ValueError(f"`samples` must be an integer of at least 3, got {samples!r}")
    _, _, params = draw_parameters(scenario, draws, seed)
    base = aggregate(scenario.params)
    structure = causal_structure(base)
    loops = tuple(structure.loops)
    pvecs = np.array([param_vector(aggregate(p)) for p in params])
    horizon = float(base.horizon)
    grid = np.linspace(0.0, horizon, int(samples))
    run = engine.integrate(pvecs, t_eval=grid)
    y = np.where(run.success[:, None, None], run.y, np.nan)  # a failed run scores nothing
    values = {s: y[:, :, i] for i, s in enumerate(STATE_NAMES)}
    values.update({k: pvecs[:, j:j + 1] for j, k in enumerate(PARAM_NAMES)})
    program = model_program(tuple(structure.nodes), loops)
    relative = program.evaluate(values, (len(params), grid.size))["relative"]
    ponr = engine.point_of_no_return_batch(pvecs, None, horizon, tol)
    ponr_time = np.where(ponr.outcome == engine.PONR_TIPS, ponr.time, np.nan)
    rel = np.abs(relative)
    defined = np.all(np.isfinite(rel), axis=0)
    dominant = np.where(defined, np.argmax(np.where(np.isfinite(rel), rel, -1.0), axis=0), -1)
    at = np.full(len(params), -1, dtype=int)
    tips = np.isfinite(ponr_time) & (ponr_time <= horizon)
    k = np.clip(np.rint(ponr_time[tips] / (grid[1] - grid[0])).astype(int), 0, grid.size - 1)
    at[tips] = dominant[np.flatnonzero(tips), k]
    shifts = tuple(dominance_shifts(grid, relative[:, d, :]) for d in range(len(params)))
    return LoopEnsemble(names=loop_names(loops), polarity=tuple(lp.polarity for lp in loops), t=grid,
                        relative=relative, outcome=np.asarray(ponr.outcome), ponr_time=ponr_time,
                        dominant_at_ponr=at, shifts=shifts, seed=int(seed))


def _quantiles(x) -> dict:
    x = np.asarray(x, dtype=float)
    if not x.size:
        return {"median": None, "p05": None, "p95": None}
    q = np.quantile(x, [0.5, 0.05, 0.95])
    return {"median": float(q[0]), "p05": float(q[1]), "p95": float(q[2])}


def ensemble_summary(ens: LoopEnsemble) -> dict:
    """The distributions, JSON-able: which loop dominates at the point of no return (counts
    and shares over the draws that tip), and per dominance shift (from -> to) the number of
    draws where it happens and the quantiles of its first time in each."""
    tips = ens.outcome == engine.PONR_TIPS
    n_tips = int(tips.sum())
    at = ens.dominant_at_ponr[tips]
    counts = {name: int(np.sum(at == i)) for i, name in enumerate(ens.names)}
    undefined = int(np.sum(at < 0))
    at_ponr = sorted(({"loop": name, "draws": c, "share": c / n_tips if n_tips else None}
                      for name, c in counts.items() if c), key=lambda r: -r["draws"])
    first: dict = {}
    for shifts in ens.shifts:
        seen = set()
        for time, a, b in shifts:
            if (a, b) not in seen:
                seen.add((a, b))
                first.setdefault((a, b), []).append(time)
    shift_rows = sorted(({"from": ens.names[a], "to": ens.names[b], "draws": len(v), **_quantiles(v)}
                         for (a, b), v in first.items()), key=lambda r: -r["draws"])
    n_shifts = np.array([len(s) for s in ens.shifts])
    outcomes = {name: int(np.sum(ens.outcome == code)) for code, name in engine.PONR_OUTCOMES.items()}
    return {"draws": ens.draws, "seed": ens.seed, "outcomes": outcomes, "tips": n_tips,
            "point_of_no_return_time": _quantiles(ens.ponr_time[tips]),
            "dominant_at_point_of_no_return": at_ponr, "undefined_at_point_of_no_return": undefined,
            "shifts": shift_rows, "shifts_per_draw": _quantiles(n_shifts),
            "loops": [{"name": n, "polarity": p} for n, p in zip(ens.names, ens.polarity)]}
