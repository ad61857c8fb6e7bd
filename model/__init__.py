"""Highland Park vs. trust platforms: a system-dynamics model of platform disruption.

The package is laid out by layer; each imports only the layers below it (a test checks
this in a fresh interpreter):

* :mod:`model.core`: parameters, the sympy equations, generated code, ``simulate``, the engine;
* :mod:`model.analysis`: tipping measures, equilibria, continuation, basins, causal loops,
  sensitivity;
* :mod:`model.evidence`: scenario files, calibration to data, provenance;
* :mod:`model.studies`: sweeps, the claims and the verdict;
* :mod:`model.publish`: figures, the book and the paper (the only importer of plotly);
* :mod:`model.commands` and :mod:`model.benchmarks` (and ``app.py``): thin layers on top.

The names below are the public API: ``from model import load_scenario, simulate``.
"""

import importlib

#: Public name -> the module that defines it. Loaded on first use (PEP 562), so that
#: importing one layer (``model.core.engine``, say) loads that layer and nothing above it.
_EXPORTS = {
    "Parameters": "core.parameters",
    "ParameterSpec": "core.parameters",
    "PARAMETER_SPECS": "core.parameters",
    "spec": "core.parameters",
    "Scenario": "evidence.scenarios",
    "load_scenario": "evidence.scenarios",
    "simulate": "core.simulate",
    "SimulationResult": "core.simulate",
    "SimulationError": "core.simulate",
    "SERIES_NAMES": "core.simulate",
    "break_even_loss": "analysis.tipping",
    "point_of_no_return": "analysis.tipping",
    "equilibria": "analysis.tipping",
    "continuation": "analysis.tipping",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'model' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
