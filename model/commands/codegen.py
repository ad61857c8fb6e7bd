"""``python -m model codegen``: regenerate the compiled model modules from the sympy equations."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("codegen", help="regenerate model/core/_generated*.py and model/core/_lanes/rhs_firms*.h from model/core/equations.py")
    p.add_argument("--firms", type=int, nargs="*", default=None,
                   help="firm counts to regenerate (default: 1 and every count of the firm_count switch)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..core.codegen import FIRM_COUNTS, generated_path, write, write_c

    counts = args.firms if args.firms else (1,) + FIRM_COUNTS
    for n in counts:
        if n != 1 and n not in FIRM_COUNTS:
            raise ValueError(f"`--firms` must be among 1, {', '.join(map(str, FIRM_COUNTS))}, got {n}")
        print(f"wrote {write(generated_path(n), n)}", flush=True)
        print(f"wrote {write_c(n)} (rebuild the lane kernel: python -m model build-lanes)", flush=True)
    return 0
