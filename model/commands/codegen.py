"""``python -m model codegen``: regenerate model/_generated.py from the sympy equations."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("codegen", help="regenerate model/_generated.py from model/equations.py")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..core.codegen import write

    print(f"wrote {write()}")
    return 0
