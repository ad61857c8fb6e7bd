"""What the model's equations imply: tipping measures and the structure behind them.

``tipping`` (static break-even, the dynamic point of no return, and the entry points to the
rest), ``equilibria`` (the market subsystem's steady states and their stability),
``continuation`` (branches, folds and hysteresis in one parameter), ``basins`` (which
starting states end in a fall), ``causal`` (links and feedback loops derived from the sympy
equations), ``sensitivity`` (Sobol' and Morris indices with SALib on the engine) and
``valuation`` (the incumbent's market value: its payouts to owners, discounted). Imports
:mod:`model.core` and numerical libraries only: no plotting, UI or file formats.
"""
