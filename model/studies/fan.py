"""A sector's uncertainty over time: the verdict's draws of the file's ranges, run to the horizon.

:func:`sector_fan` takes the same Latin-hypercube draws as the verdict
(:func:`model.studies.verdict.draw_parameters`, same seed and key, so the first draws are
the verdict's) and integrates them all at once on the compiled engine
(:func:`model.core.engine.integrate`, dense output at shared times), then reads, at every
time, the quantiles of the platform's share of the sector's gross and the share of draws in
which the incumbents have fallen. After its fall a one-firm incumbent is out of the market
(the model stops there): its sector's gross is the platform's, so the share is 1 from then
on; a sector of several firms goes on with the firms left (``after_fall="continue"``) until
the last one exits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core import engine
from ..core.equations import OUTPUT_NAMES
from .verdict import draw_parameters

__all__ = ["Fan", "sector_fan", "FAN_QUANTILES"]

#: Quantiles drawn as bands: the 90% and the 50% band, and the median.
FAN_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_SHARE_OF_GROSS = OUTPUT_NAMES.index("platform_share_of_gross")


@dataclass(frozen=True)
class Fan:
    """Quantiles over the draws, per output time.

    Attributes
    ----------
    t : ndarray, shape (n_t,)
        Years from the start.
    quantiles : tuple of float
        :data:`FAN_QUANTILES`.
    share_of_gross : ndarray, shape (len(quantiles), n_t)
        Quantiles of the platform's share of the sector's gross over the finished draws.
    fallen : ndarray, shape (n_t,)
        Share of the finished draws whose incumbents have fallen by each time (for several
        firms: half of the sector's initial capacity has exited).
    n_draws, n_finished : int
        Draws run, and draws that finished (a failed run is left out and counted here).
    seed : int
    """

    t: np.ndarray
    quantiles: tuple
    share_of_gross: np.ndarray
    fallen: np.ndarray
    n_draws: int
    n_finished: int
    seed: int


def sector_fan(scenario, *, draws: int = 400, seed: int = 0, key: str | None = None, points: int = 121) -> Fan:
    """The fan of ``scenario``'s draws over its horizon (see the module docstring).

    Raises
    ------
    ValueError
        As :func:`model.studies.verdict.draw_parameters` (no ranges, a draw that breaks a rule).
    """
    _, _, params = draw_parameters(scenario, draws, seed, key=key)
    pvecs, y0s, horizons = engine.pvecs_from_params(params)
    horizon = float(scenario.params.horizon)
    t = np.linspace(0.0, horizon, int(points))
    res = engine.integrate(pvecs, y0s, t, t_end=horizons, reorganise=scenario.params.insolvency == "reorganisation",
                           after_fall="continue")
    if res.outputs is not None:  # several firms: sector totals first
        share = res.outputs[:, :, _SHARE_OF_GROSS]
    else:
        n, n_t, n_s = res.y.shape
        flat = res.y.reshape(n * n_t, n_s)
        reached = np.all(np.isfinite(flat), axis=1)
        share = np.full(n * n_t, np.nan)
        if reached.any():
            out = engine.outputs_batch(np.ascontiguousarray(flat[reached]), np.repeat(pvecs, n_t, axis=0)[reached])
            share[reached] = out[:, _SHARE_OF_GROSS]
        share = share.reshape(n, n_t)
    ok = res.success
    fall = np.where(res.falls, res.fall_time, np.inf)
    gone = t[None, :] >= fall[:, None]
    # Past the fall of one firm (or the last firm's exit) the model holds no incumbent, and
    # no state (NaN): the sector's gross is the platform's. Failed runs are left out.
    share = np.where(np.isfinite(share), share, 1.0)[ok]
    q = np.quantile(share, FAN_QUANTILES, axis=0) if ok.any() else np.full((len(FAN_QUANTILES), t.size), np.nan)
    fallen = gone[ok].mean(axis=0) if ok.any() else np.full(t.size, np.nan)
    return Fan(t=t, quantiles=FAN_QUANTILES, share_of_gross=q, fallen=fallen, n_draws=len(params),
               n_finished=int(ok.sum()), seed=int(seed))
