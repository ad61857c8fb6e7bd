"""What the world says: scenario files, data, calibration, provenance.

``scenarios`` (the sector TOML files, read safely and checked: every number sourced or an
assumption with its range), ``calibrate`` (fits to public data series and forecasts on
held-out years) and ``provenance`` (code version and strict JSON for the records results
carry). Imports :mod:`model.core` (and :mod:`model.analysis` if it must); reads files, but
draws nothing.
"""
