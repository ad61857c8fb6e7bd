"""``python -m model tipping SCENARIO.toml [--set NAME=VALUE ...] [--continue NAME --range A:B] [--json]``.

Prints the static break-even loss, the dynamic point of no return (share of gross and
gross loss, with the bisection bracket), the equilibria of the market subsystem with
their stability and buffer drift, and the folds of a continuation. Without
``--continue`` the continuation runs over the platform's value advantage
(``platform_quality``) across the scenario's range for it (or its bounds);
``--no-continue`` skips it. A negative range is written ``--range=-1:0.5``.
"""

from __future__ import annotations

from ..analysis.continuation import CONTINUABLE, check_range, continuation
from ..analysis.critical_mass import critical_mass, separation
from ..analysis.equilibria import MARKET_STATES, equilibria
from ..analysis.tipping import break_even_loss, point_of_no_return
from ..core.parameters import PARAMETER_SPECS
from .common import add_scenario_arguments, dump_json, scenario_with_overrides

#: Parameter continued when ``--continue`` is not given: the platform's value advantage.
DEFAULT_CONTINUE = "platform_quality"


def add_parser(sub) -> None:
    p = sub.add_parser("tipping", help="break-even loss, point of no return, equilibria and folds")
    add_scenario_arguments(p)
    p.add_argument("--continue", dest="continue_name", metavar="NAME",
                   help=f"continue the equilibria in parameter NAME (default {DEFAULT_CONTINUE})")
    p.add_argument("--range", dest="continue_range", metavar="A:B",
                   help="range of the continued parameter (default: the scenario's range, else its bounds); "
                        "write a negative one as --range=-1:0.5")
    p.add_argument("--no-continue", action="store_true", help="skip the continuation")
    p.add_argument("--tol", type=float, default=0.01, help="point-of-no-return bracket width, years (default 0.01)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def parse_range(text: str, name: str) -> tuple[float, float]:
    """``"A:B"`` -> (A, B) with A < B; ValueError naming the option otherwise."""
    parts = text.split(":")
    if len(parts) != 2:
        raise ValueError(f"--range {text!r}: expected A:B (two numbers separated by a colon)")
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"--range {text!r}: expected A:B with numbers A and B") from None
    if not lo < hi:
        raise ValueError(f"--range {text!r}: A must be smaller than B")
    return lo, hi


def _continuation_request(args, scenario) -> tuple[str, tuple[float, float]] | None:
    if args.no_continue:
        if args.continue_name or args.continue_range:
            raise ValueError("--no-continue cannot be combined with --continue or --range")
        return None
    if args.continue_range and not args.continue_name:
        raise ValueError("--range needs --continue NAME")
    name = args.continue_name or DEFAULT_CONTINUE
    if name not in CONTINUABLE:
        raise ValueError(f"--continue {name!r}: must be one of {', '.join(CONTINUABLE)}")
    if args.continue_range:
        rng = parse_range(args.continue_range, name)
    else:
        rng = tuple(scenario.ranges.get(name, PARAMETER_SPECS[name].bounds))
    return name, rng


def analyse(scenario, params, request, tol: float = 0.01) -> dict:
    """Everything the command reports, as a JSON-ready dict.

    Raises
    ------
    ValueError
        A bad continuation request (checked before any computation).
    """
    if request is not None:
        name, (lo, hi) = request
        try:
            check_range(params, name, lo, hi)
        except ValueError as e:
            raise ValueError(f"--continue {name} --range {lo:g}:{hi:g}: {e}") from None
    ponr = point_of_no_return(params, tol=tol)
    eqs = equilibria(params)
    cm = critical_mass(params)
    cm_out = cm.as_dict()
    if cm.exists:
        below, above = separation(params, cm)
        cm_out["check"] = {"start_below": cm.share - 0.01, "ends_at": below, "start_above": cm.share + 0.01,
                           "ends_at_above": above}
    out = {
        "scenario": scenario.name,
        "price_policy": params.price_policy,
        "break_even_loss": break_even_loss(params),
        "break_even_loss_at_current_prices": break_even_loss(params, policy="current_prices"),
        "point_of_no_return": ponr.as_dict(),
        "firm_revenue_share": float(params.sector_share_of_firm_revenue),
        "firms": int(params.firm_count),
        # Equilibria, stability and continuation are of the aggregate (one-firm) incumbent.
        "equilibria_of": "the sector's incumbent" if params.firm_count == 1 else "one aggregate incumbent",
        "equilibria": [e.as_dict() for e in eqs],
        "critical_mass": cm_out,
        "continuation": None,
        "folds": [],
        "hysteresis": None,
    }
    if request is not None:
        name, (lo, hi) = request
        branch = continuation(params, name, lo, hi)
        out["continuation"] = branch.as_dict()
        out["folds"] = out["continuation"]["folds"]
        out["hysteresis"] = out["continuation"]["hysteresis"]
    return out


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _print_text(scenario, params, r: dict) -> None:
    print(f"{scenario.name} ({scenario.origin})")
    print(f"  Static break-even loss ({params.price_policy} pricing): {_pct(r['break_even_loss'])} of gross; "
          f"at current prices: {_pct(r['break_even_loss_at_current_prices'])}.")
    p = r["point_of_no_return"]
    if p["outcome"] == "tips":
        lo, hi = p["bracket"]
        print(f"  Point of no return (long run): t = {hi:.3f} yr (bracket {lo:.3f}-{hi:.3f} yr, tolerance "
              f"{p['tolerance']:g} yr): the platform holds {_pct(p['share'])} of the sector's gross "
              f"({_pct(p['share_bracket'][0])}-{_pct(p['share_bracket'][1])}) and {_pct(p['volume_share'])} of its "
              f"customers; the incumbent has lost {_pct(p['gross_loss'])} of its gross "
              f"({_pct(p['gross_loss_bracket'][0])}-{_pct(p['gross_loss_bracket'][1])})"
              + (f", {_pct(p['gross_loss'] * r['firm_revenue_share'])} of its whole revenue"
                 if r["firm_revenue_share"] < 1 else "") + ".")
        print(f"    Unfrozen, it falls at {p['fall_time']:.2f} yr; frozen at {hi:.3f} yr, at "
              f"{p['frozen_fall_time']:.2f} yr" + (" (projected from its terminal drift)" if p["by_drift"] else "")
              + f"; the file watches {p['horizon']:g} yr; {p['evaluations']} simulations.")
    elif p["outcome"] == "always_falls":
        print(f"  Point of no return: already passed at t = 0 (the incumbent falls even if the platform never "
              f"acquires anyone); platform share of gross {_pct(p['share'])}.")
    elif p["outcome"] == "never_tips":
        print("  Point of no return: none (the incumbent survives in the long run).")
    else:
        print(f"  Point of no return: not found, a simulation failed: {p['message']}")
    cm = r["critical_mass"]
    print(f"  Adoption critical mass: {cm['message']}"
          + (f"; checked: started at {_pct(cm['check']['start_below'])} the platform ends at "
             f"{_pct(cm['check']['ends_at'])}, at {_pct(cm['check']['start_above'])} at "
             f"{_pct(cm['check']['ends_at_above'])}" if cm.get("check") else "") + ".")
    aggregate = "" if r["firms"] == 1 else f", its {r['firms']} firms taken as one aggregate incumbent"
    print(f"  Equilibria of the market subsystem ({', '.join(MARKET_STATES)}){aggregate}:")
    if not r["equilibria"]:
        print("    none found")
    for e in r["equilibria"]:
        state = " ".join(f"{v:.4g}" for v in e["state"].values())
        fate = "the incumbent falls there" if e["incumbent_falls_here"] else "the incumbent survives there"
        check = "confirmed by simulation" if e["confirmed"] else f"NOT confirmed ({e['confirmation']})"
        held = f"; held: {', '.join(e['held'])}" if e["held"] else ""
        print(f"    ({state}): {e['kind']}, buffer drift {e['buffer_drift']:+.4f}/yr ({fate}); {check}{held}")
    c = r["continuation"]
    if c is not None:
        lo, hi = c["range"]
        print(f"  Continuation in {c['parameter']} over [{lo:g}, {hi:g}]: {c['points']} points on "
              f"{c['branches']} branch(es).")
        if not c["folds"]:
            print("    No folds in this range.")
        for f in c["folds"]:
            print(f"    Fold at {c['parameter']} = {f['parameter_value']:.6g} "
                  f"(platform share {f['state']['platform_share']:.4g}).")
        if c["hysteresis"]:
            print(f"    Hysteresis (two stable equilibria): {c['parameter']} in "
                  f"[{c['hysteresis'][0]:.6g}, {c['hysteresis'][1]:.6g}].")
        if not c["success"]:
            print(f"    Warning: {c['message']}")


def run(args) -> int:
    scenario, params = scenario_with_overrides(args.scenario, args.overrides)
    request = _continuation_request(args, scenario)
    if not (args.tol > 0):
        raise ValueError(f"--tol must be positive, got {args.tol!r}")
    result = analyse(scenario, params, request, tol=args.tol)
    if args.json:
        print(dump_json(result))
    else:
        _print_text(scenario, params, result)
    return 0 if result["point_of_no_return"]["success"] else 1
