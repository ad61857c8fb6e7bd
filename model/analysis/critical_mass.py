"""The adoption critical mass: the platform share beyond which its growth sustains itself.

Where the platform is worse than the incumbent stand-alone but better at scale (its
network value outweighs its handicap only once enough customers and trust are on it),
the market subsystem has two stable equilibria, a low one (the platform stays a niche or
dies out) and a high one (it takes the market), and between them a saddle: an unstable
equilibrium whose stable manifold is the separatrix between their basins. Its platform
share is the critical mass, the essay's "tipping point" in its adoption meaning (MODEL.md:
"two meanings of tipping point, both measured"). Where the platform is the better deal
from the start there is one stable equilibrium and no critical mass at all: any foothold
grows.

The equilibria come from :func:`model.analysis.equilibria.equilibria` (the scan of the
equilibrium curve ``y*(s)`` and Newton on the five market equations, with the analytic
Jacobian); a saddle is the critical mass when it has exactly one unstable direction and
a stable equilibrium on each side of it in share. :func:`separation` checks it by
simulation: started on the equilibrium curve just below the saddle the market goes to
the low equilibrium, just above to the high one.

Pure analysis layer: numpy and the model; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import _generated as gen
from ..core.equations import OUTPUT_NAMES, param_vector
from ..core.firms import aggregate
from ..core.parameters import Parameters
from .equilibria import Equilibrium, _full, _trajectory, equilibria, slaved_state

__all__ = ["CriticalMass", "critical_mass", "separation"]

_GROSS = OUTPUT_NAMES.index("platform_share_of_gross")


@dataclass(frozen=True)
class CriticalMass:
    """The adoption critical mass of one sector (the one-firm aggregate's market).

    Attributes
    ----------
    exists : bool
        A saddle separates a low and a high stable equilibrium.
    share : float or None
        Platform share of the sector's volume (customers' units) at the saddle: the
        critical mass.
    share_of_gross : float or None
        The platform's share of the sector's gross there.
    lower, upper : float or None
        Platform share of volume at the stable equilibria below and above: where a
        platform that starts below (above) the critical mass ends.
    saddle : Equilibrium or None
    n_equilibria : int
        Equilibria found on [0, 1).
    message : str
        What was found, in words.
    """

    exists: bool
    share: float | None
    share_of_gross: float | None
    lower: float | None
    upper: float | None
    saddle: Equilibrium | None = field(repr=False)
    n_equilibria: int
    message: str

    def as_dict(self) -> dict:
        return {"exists": self.exists, "share": self.share, "share_of_gross": self.share_of_gross,
                "lower": self.lower, "upper": self.upper, "n_equilibria": self.n_equilibria,
                "message": self.message}


def critical_mass(params: Parameters, *, n_grid: int = 401) -> CriticalMass:
    """The adoption critical mass of ``params`` (a sector of firms as its aggregate).

    Parameters
    ----------
    params : Parameters
    n_grid : int
        Points of the equilibrium-curve scan (:func:`model.analysis.equilibria.equilibria`).

    Returns
    -------
    CriticalMass
        If several saddles qualify, the lowest: the one a platform starting small must
        pass first.
    """
    params = aggregate(params)
    eqs = equilibria(params, n_grid=n_grid, n_starts=0, confirm=False)
    shares = np.array([e.state[0] for e in eqs])
    stable = [e for e in eqs if e.stable]
    for e in eqs:
        unstable = int(np.sum(e.eigenvalues.real > 0))
        if e.kind != "saddle" or unstable != 1:
            continue
        below = [x for x in stable if x.state[0] < e.state[0]]
        above = [x for x in stable if x.state[0] > e.state[0]]
        if not below or not above:
            continue
        low = max(below, key=lambda x: x.state[0])
        high = min(above, key=lambda x: x.state[0])
        s = float(e.state[0])
        gross = float(gen.outputs(_full(e.state), param_vector(params))[_GROSS])
        return CriticalMass(exists=True, share=s, share_of_gross=gross, lower=float(low.state[0]),
                            upper=float(high.state[0]), saddle=e, n_equilibria=len(eqs),
                            message=(f"a critical mass at {s:.1%} of the sector's volume ({gross:.1%} of its gross): "
                                     f"below it the platform's share goes to {low.state[0]:.1%}, above it to "
                                     f"{high.state[0]:.1%}"))
    if len(stable) == 1:
        only = float(stable[0].state[0])
        message = (f"no critical mass: one stable equilibrium, at {only:.1%} of the volume; from any start the "
                   "platform's share goes there" + (" (the platform is the better deal from a foothold on)"
                                                     if only > 0.01 else ""))
    else:
        message = (f"no critical mass: {len(eqs)} equilibria at shares "
                   + ", ".join(f"{x:.1%}" for x in shares) + ", none a saddle between two stable ones")
    return CriticalMass(exists=False, share=None, share_of_gross=None, lower=None, upper=None, saddle=None,
                        n_equilibria=len(eqs), message=message)


def separation(params: Parameters, cm: CriticalMass, *, delta: float = 0.01, years: float = 400.0):
    """Final platform shares of the market started on the equilibrium curve at
    ``cm.share - delta`` and ``cm.share + delta`` (trust, relational trust, price and
    capacity at their equilibrium values for that share): the check that the critical
    mass separates the platforms that fail from those that take off.

    Returns
    -------
    (below, above) : (float, float)
    """
    if not cm.exists:
        raise ValueError("no critical mass to check: the sector has a single stable equilibrium")
    params = aggregate(params)
    pvec = param_vector(params)
    out = []
    for s in (cm.share - delta, cm.share + delta):
        traj, message = _trajectory(params, slaved_state(pvec, float(np.clip(s, 0.0, 1.0 - 1e-9))), years)
        if traj is None:
            raise RuntimeError(f"the check run from a share of {s:.3g} failed: {message}")
        out.append(float(traj[0, -1]))
    return tuple(out)
