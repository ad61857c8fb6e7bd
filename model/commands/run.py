"""``python -m model run SCENARIO.toml [--set NAME=VALUE ...] [--out FILE] [--json]``."""

from __future__ import annotations

from pathlib import Path

from ..analysis.tipping import break_even_loss
from ..analysis.valuation import value
from ..core.simulate import METHODS, simulate
from .common import add_scenario_arguments, check_output_file, dump_json, scenario_with_overrides


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="simulate one scenario and summarise it")
    add_scenario_arguments(p)
    p.add_argument("--out", metavar="FILE", help="write the time series to FILE.csv or FILE.parquet")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--method", default="LSODA", choices=METHODS, help="solve_ivp method (default LSODA)")
    p.set_defaults(func=run)


def market_value(result) -> dict | None:
    """The incumbent's market value (model.analysis.valuation): the summary, and the sector's
    series on the run's output times; None for a failed run (its payouts stop short)."""
    if not result.success:
        return None
    v = value(result)
    return {**v.summary(), "t": v.t, "value": v.value, "relative": v.relative}


def summarise(scenario, params, result) -> dict:
    return {
        "scenario": scenario.name,
        "falls": result.falls,
        "fall_time": result.fall_time,
        "share_at_fall": result.share_at_fall,
        "gross_loss_at_fall": result.gross_loss_at_fall,
        "break_even_loss": break_even_loss(params),
        "break_even_loss_at_current_prices": break_even_loss(params, policy="current_prices"),
        "final_platform_share_of_gross": result.final("platform_share_of_gross"),
        "final_incumbent_gross_loss": result.final("incumbent_gross_loss"),
        "success": result.success,
        "status": result.status,
        "message": result.message,
        # A sector of several firms: firms failed, capacity exited, the first failure, the
        # last survivor and the exit curve at 10 %, 50 %, 90 % of capacity exited.
        **({"sector": result.firms.summary()} if result.firms is not None else {}),
        # Discounted payouts to the owners at `discount_rate`: asset and share prices fall
        # long before the cash runs out, and this is the series to set beside them.
        "market_value": market_value(result),
    }


def run(args) -> int:
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix not in (".csv", ".parquet"):
        raise ValueError(f"--out {args.out}: the file must end in .csv or .parquet")
    if out is not None:
        check_output_file("--out", out)
    scenario, params = scenario_with_overrides(args.scenario, args.overrides)
    result = simulate(params, method=args.method)
    summary = summarise(scenario, params, result)
    if out is not None:
        import pandas as pd

        frame = pd.DataFrame(result.columns())
        try:
            if out.suffix == ".csv":
                frame.to_csv(out, index=False)
            else:
                frame.to_parquet(out, index=False)
        except OSError as e:  # checked above, but the disk can still be full or the folder go away
            raise ValueError(f"--out {out}: cannot be written ({e.strerror or e})") from None
    if args.json:
        print(dump_json(summary))
    else:
        s = summary
        print(f"{scenario.name} ({scenario.origin})")
        if result.firms is not None:
            f = s["sector"]
            first = f["first_failure"]
            print(f"  {f['firms_failed']} of {f['firms']} firms fail; {f['capacity_exited']:.0%} of the initial "
                  "incumbent capacity exits" + ("." if first is None else
                  f"; the first failure at {first['t']:.2f} years (platform {first['platform_share_of_gross']:.1%} "
                  f"of gross, incumbents' gross loss {first['incumbent_gross_loss']:.1%})."))
        if s["falls"] and result.firms is not None:
            print(f"  Highland Park falls (half its capacity exited) after {s['fall_time']:.2f} years, when the "
                  f"platform holds {s['share_at_fall']:.1%} of the sector's gross and the incumbents have lost "
                  f"{s['gross_loss_at_fall']:.1%} of their starting gross.")
        elif s["falls"]:
            print(f"  The incumbent falls after {s['fall_time']:.2f} years, when the platform holds "
                  f"{s['share_at_fall']:.1%} of the sector's gross and the incumbent has lost "
                  f"{s['gross_loss_at_fall']:.1%} of its starting gross.")
        else:
            print(f"  The incumbent survives the {params.horizon:g}-year horizon; the platform ends with "
                  f"{s['final_platform_share_of_gross']:.1%} of the sector's gross and the incumbent has lost "
                  f"{s['final_incumbent_gross_loss']:.1%} of its starting gross.")
        print(f"  Static break-even loss ({params.price_policy} pricing): {s['break_even_loss']:.1%} of gross; "
              f"at current prices: {s['break_even_loss_at_current_prices']:.1%}.")
        mv = s["market_value"]
        if mv is not None and mv["value_start"] > 0:
            half = ("never falls below half of it" if mv["half_time"] is None
                    else f"is down to half after {mv['half_time']:.2f} years"
                    + (f", {mv['lead_time']:.2f} years before the fall" if mv["lead_time"] is not None else ""))
            print(f"  Market value (payouts discounted at {mv['discount_rate']:.1%}/yr): {mv['value_start']:.3g} "
                  f"initial gross at the start, {mv['value_end']:.3g} at the end; it {half}.")
        if not result.success:
            print(f"  Solver failure: {result.message}")
        if out is not None:
            print(f"  Series written to {out}")
    return 0 if result.success else 1
