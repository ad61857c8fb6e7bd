"""Highland Park vs. trust platforms: a system-dynamics model of platform disruption.

The pure model (parameters, equations, simulation, tipping analysis) imports numpy,
scipy, sympy and numba only; the dashboard, CLI and figures are layers over it.
"""

from .core.parameters import PARAMETER_SPECS, ParameterSpec, Parameters, spec
from .evidence.scenarios import Scenario, load_scenario
from .core.simulate import SERIES_NAMES, SimulationError, SimulationResult, simulate
from .analysis.tipping import break_even_loss, continuation, equilibria, point_of_no_return

__all__ = [
    "Parameters",
    "ParameterSpec",
    "PARAMETER_SPECS",
    "spec",
    "Scenario",
    "load_scenario",
    "simulate",
    "SimulationResult",
    "SimulationError",
    "SERIES_NAMES",
    "break_even_loss",
    "point_of_no_return",
    "equilibria",
    "continuation",
]
