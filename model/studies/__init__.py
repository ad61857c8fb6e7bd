"""Studies over many runs, and the one place where the essay's claims are assessed.

``sweep`` (designs over parameter ranges on the engine, chunked Parquet, resumable, local or
Dask), ``claims`` (the claims C1..C9, the 20% band, and what one run says about each),
``verdict`` (the Monte Carlo verdict per sector and the paired claim comparisons) and
``verdict_report`` (its tables and files). Imports the layers below (core, analysis,
evidence); no plotting or UI.
"""
