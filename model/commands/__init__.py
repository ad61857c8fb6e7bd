"""The command line, ``python -m model COMMAND``: one module per command, and ``cli``.

Each command module defines ``add_parser(subparsers)`` and is a thin layer over the
packages below (it parses arguments, calls one function, prints or writes its result).
The top layer, beside :mod:`model.benchmarks` and ``app.py``: it may import any package of
:mod:`model`; none of them imports it.
"""
