"""Figures, the book template and the paper: the only package that imports plotly.

``figures`` (every chart, from model results, for the dashboard and the book), ``book``
(the print template, the book figures and their export with a manifest) and ``paper`` (the
paper's generated fragments, template, HTML and PDF). Imports the layers below; nothing
below imports it.
"""
