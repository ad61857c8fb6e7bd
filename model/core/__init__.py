"""The equations and their solvers: the pure model.

``parameters`` (the one frozen, validated description of every parameter), ``equations``
(the one sympy definition of the model), ``codegen`` and the module it writes,
``_generated`` (numba-compiled right-hand side, Jacobian and outputs), ``simulate`` (one
run with ``solve_ivp``) and ``engine`` (compiled ensembles of runs). Imports numpy, scipy,
sympy and numba only: no plotting, UI, file formats or other layer of :mod:`model`.
"""
