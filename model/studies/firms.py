"""A sector as a population of firms, over the sector's uncertainty: where the firms fail.

For one sector file, ``draws`` Latin-hypercube draws within its ranges (the verdict's
:func:`model.studies.verdict.draw_parameters`, the firms' spreads, sizes and switching rate
included) are run with ``firm_count`` firms by the ensemble engine (:func:`model.core.engine.integrate`,
each run followed past the sector's fall to the horizon or its last exit). Per draw: the first failure and the moment half
of the sector's initial incumbent capacity has exited ("Highland Park falls" for a sector
of firms), each with the three readings of the platform's progress: its share of the
sector's gross, the incumbents' gross loss and its share of volume. Per sector: the share
of draws that reach each moment within the horizon, medians and 90 % intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..core import engine
from ..evidence.scenarios import Scenario
from .verdict import draw_parameters

__all__ = ["SectorFirmsStudy", "sector_firms", "MOMENTS", "READINGS"]

#: The moments of a sector's decline that are measured.
MOMENTS = ("first_failure", "half_exited")
#: The three readings of "the platform takes 20% of the sector's gross".
READINGS = ("platform_share_of_gross", "incumbent_gross_loss", "platform_volume_share")


@dataclass(frozen=True)
class SectorFirmsStudy:
    """Outcome of :func:`sector_firms`: ``values[moment][reading]`` per draw (NaN where the
    moment is not reached), ``reached[moment]`` the share of successful draws that reach it."""

    sector: str
    n_firms: int
    n_draws: int
    failed_runs: int
    values: dict = field(repr=False)
    reached: dict = field(default_factory=dict)
    firms_failed: np.ndarray = field(default=None, repr=False)

    def interval(self, moment: str, reading: str) -> tuple[float, float, float]:
        """(5th percentile, median, 95th percentile) over the draws that reach ``moment``."""
        v = self.values[moment][reading]
        v = v[np.isfinite(v)]
        if not v.size:
            return (math.nan, math.nan, math.nan)
        lo, mid, hi = np.percentile(v, [5, 50, 95])
        return (float(lo), float(mid), float(hi))

    def summary(self) -> dict:
        return {
            "sector": self.sector, "firms": self.n_firms, "draws": self.n_draws, "failed_runs": self.failed_runs,
            "mean_firms_failed": float(np.mean(self.firms_failed)) if self.firms_failed.size else math.nan,
            **{moment: {"reached": self.reached[moment],
                        **{reading: dict(zip(("p5", "median", "p95"), self.interval(moment, reading)))
                           for reading in READINGS}}
               for moment in MOMENTS},
        }


def sector_firms(scenario: Scenario, *, draws: int = 100, seed: int = 0, n_firms: int = 8) -> SectorFirmsStudy:
    """Run ``draws`` draws of ``scenario`` as a population of ``n_firms`` firms.

    Raises
    ------
    ValueError
        For an ``n_firms`` that is not one of the ``firm_count`` switch's choices or of 1, or
        bad draws (see :func:`draw_parameters`).
    """
    if n_firms < 2:
        raise ValueError(f"`n_firms` must be at least 2 (one firm is the verdict's model), got {n_firms!r}")
    base = replace(scenario, params=scenario.params.replace(firm_count=n_firms))
    _, _, params = draw_parameters(base, draws, seed, key=scenario.name)
    values = {m: {r: np.full(draws, np.nan) for r in READINGS} for m in MOMENTS}
    reached = {m: 0 for m in MOMENTS}
    failed_runs = 0
    firms_failed = []
    pvecs, y0s, horizon = engine.pvecs_from_params(params)
    res = engine.integrate(pvecs, y0s, t_end=horizon, after_fall="continue",
                           reorganise=[p.insolvency == "reorganisation" for p in params])
    for i in range(draws):
        if not res.success[i]:
            failed_runs += 1
            continue
        firms = res.sectors[i]
        firms_failed.append(firms.failed)
        for moment, point in (("first_failure", firms.first_failure()), ("half_exited", firms.at_exited(0.5))):
            if point is None:
                continue
            reached[moment] += 1
            for reading in READINGS:
                values[moment][reading][i] = point[reading]
    ok = max(draws - failed_runs, 1)
    return SectorFirmsStudy(sector=scenario.name, n_firms=n_firms, n_draws=draws, failed_runs=failed_runs,
                            values=values, reached={m: reached[m] / ok for m in MOMENTS},
                            firms_failed=np.array(firms_failed, dtype=float))
