"""A sector's incumbents as a population of firms, placed deterministically from its file.

With ``firm_count`` = n > 1, firm i's fixed-cost share, indivisible share, variable cost,
debt service, buffer and credit line are the sector's value x times (1 + σ z_i), where σ
is the parameter's ``firm_spread_*`` and z_i in (-1, 1) is the firm's position on a
balanced design: the first n points of the unscrambled Sobol sequence (scipy.stats.qmc),
moved to the centres of their cells. n is a power of two, so every parameter takes each of
the n quantiles (k + 1/2) / n of its spread exactly once, the pairing across parameters is
the Sobol sequence's own, and a file always means the same firms (no random numbers).
Values are clipped to the parameter's bounds and the margin kept positive. Sizes: the firm
whose size coordinate ranks r-th (1 = lowest) gets a share ∝ r^(-ζ) of the incumbents'
customers (``firm_size_inequality`` ζ; 0: equal).

Imports numpy and scipy only (the pure model's rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import qmc

from .equations import FIRM_VARYING, PARAM_NAMES, param_names, param_vector
from .parameters import PARAMETER_SPECS, Parameters

__all__ = ["FirmPopulation", "population", "firm_param_vector", "SPREAD_OF", "SECTOR_FALL_CAPACITY"]

#: "Highland Park falls" for a sector of several firms: at least this share of the sector's
#: initial incumbent capacity has exited. (One firm: its own insolvency.)
SECTOR_FALL_CAPACITY = 0.5

#: The spread parameter of each firm-varying parameter.
SPREAD_OF = {
    "fixed_cost_share": "firm_spread_fixed_cost",
    "indivisible_cost_share": "firm_spread_indivisible",
    "variable_cost_share": "firm_spread_variable_cost",
    "debt_service": "firm_spread_debt",
    "initial_buffer": "firm_spread_buffer",
    "credit_line": "firm_spread_credit",
}
assert tuple(SPREAD_OF) == FIRM_VARYING

#: Width of the per-firm block in the parameter vector (see equations.param_names).
BLOCK = len(FIRM_VARYING) + 2


@dataclass(frozen=True)
class FirmPopulation:
    """The firms of one sector: ``values[name]`` has one entry per firm; ``sizes`` sum to 1."""

    values: dict
    sizes: np.ndarray

    @property
    def n(self) -> int:
        return int(self.sizes.size)

    def table(self) -> list[dict]:
        """One row per firm (for a report)."""
        return [{"firm": i + 1, "size": float(self.sizes[i]),
                 **{k: float(v[i]) for k, v in self.values.items()}} for i in range(self.n)]


def _design(n: int) -> np.ndarray:
    # Unscrambled Sobol points are fixed by their direction numbers; the first 2^m of them
    # put exactly one point in each of the n cells of every coordinate.
    m = int(round(math.log2(n)))
    if 2 ** m != n:
        raise ValueError(f"`firm_count` must be a power of two, got {n}")
    points = qmc.Sobol(d=len(FIRM_VARYING) + 1, scramble=False).random_base2(m)
    return points + 0.5 / n


def population(params: Parameters) -> FirmPopulation:
    """The sector's firms for ``params`` (one firm: the sector's own values)."""
    n = int(params.firm_count)
    u = _design(n)
    values = {}
    for j, name in enumerate(FIRM_VARYING):
        lo, hi = PARAMETER_SPECS[name].bounds
        x = float(getattr(params, name))
        spread = float(getattr(params, SPREAD_OF[name]))
        values[name] = np.clip(x * (1.0 + spread * (2.0 * u[:, j] - 1.0)), lo, hi)
    # Keep each firm's cost structure inside what one firm may have (a positive margin).
    total = values["fixed_cost_share"] + values["variable_cost_share"]
    values["variable_cost_share"] = np.where(total > 0.99, 0.99 - values["fixed_cost_share"],
                                             np.where(total < 0.05, 0.05 - values["fixed_cost_share"],
                                                      values["variable_cost_share"]))
    rank = np.argsort(np.argsort(u[:, -1])) + 1
    sizes = rank.astype(float) ** (-float(params.firm_size_inequality))
    return FirmPopulation(values=values, sizes=sizes / sizes.sum())


def firm_param_vector(params: Parameters, *, acquisition: float = 1.0,
                      firms: FirmPopulation | None = None) -> np.ndarray:
    """The numeric parameter vector of ``params``'s sector, in the order of
    ``equations.param_names(firm_count)``: the one-firm vector, then (several firms) the
    switching rate and each firm's block with every firm in the market."""
    base = param_vector(params, acquisition=acquisition)
    n = int(params.firm_count)
    if n == 1:
        return base
    firms = population(params) if firms is None else firms
    blocks = np.empty((n, BLOCK))
    for j, name in enumerate(FIRM_VARYING):
        blocks[:, j] = firms.values[name]
    blocks[:, -2] = firms.sizes
    blocks[:, -1] = 1.0
    out = np.concatenate([base, [params.firm_switching_rate], blocks.ravel()])
    assert out.size == len(param_names(n))
    return out


def block_start(i: int) -> int:
    """Index in the parameter vector of firm i's (0-based) block."""
    return len(PARAM_NAMES) + 1 + i * BLOCK


def firm_param_vector_with(base: Parameters, names, row) -> np.ndarray:
    """The parameter vector of ``base`` with ``names`` set to the values of ``row`` (the
    firms placed again for them; ``horizon`` is not in the vector and is skipped). What a
    sweep or a sensitivity sample of a sector of firms runs; ValueError if the values break
    a rule of the parameters."""
    changes = {name: float(value) for name, value in zip(names, row) if name != "horizon"}
    return firm_param_vector(base.replace(**changes))


def aggregate(params: Parameters) -> Parameters:
    """The sector with its incumbents as one aggregate firm (the sector's own values).

    The analysis of equilibria and their stability, continuation, basins, loop dominance,
    the causal diagram and the XMILE export work on this one-firm model (a population of
    firms has no sympy equilibria of its own yet); the simulation, the engine, the tipping
    measures and the verdict run the firms themselves.
    """
    return params if params.firm_count == 1 else params.replace(firm_count=1)
