"""Store the v1 model's results for every scenario file (run once, at the v1 commit).

The v2 equations must reproduce these with every new mechanism at its neutral value
(tests/test_v1_special_case.py). Kept with its output so that anyone can see how the
numbers were made; re-running it on v2 code would not reproduce v1.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from model import load_scenario, point_of_no_return, simulate  # noqa: E402

TIMES = (1.0, 3.0, 7.0, 15.0)
SERIES = ("platform_share", "platform_trust", "relational_trust", "incumbent_price", "capacity", "buffer",
          "incumbent_revenue", "platform_share_of_gross")


def main() -> None:
    out = {"commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
           "method": "simulate (LSODA, rtol 1e-9, atol 1e-12) and point_of_no_return (its defaults, tol 0.01 yr)",
           "times": TIMES, "scenarios": {}}
    for path in sorted((ROOT / "scenarios").glob("*.toml")):
        params = load_scenario(path).params
        r = simulate(params, rtol=1e-9, atol=1e-12)
        ponr = point_of_no_return(params, tol=0.01)
        at = {name: [float(np.interp(t, r.t, r[name])) if t <= r.t[-1] else None for t in TIMES] for name in SERIES}
        out["scenarios"][path.name] = {
            "parameters": params.as_dict(),
            "falls": bool(r.falls), "fall_time": r.fall_time, "share_at_fall": r.share_at_fall,
            "gross_loss_at_fall": r.gross_loss_at_fall,
            "ponr": {"outcome": ponr.outcome, "time": ponr.time, "share": ponr.share, "gross_loss": ponr.gross_loss},
            "series": at,
        }
    (ROOT / "tests" / "data" / "v1_reference.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
