"""The verdict on the essay's 20% claim, sector by sector, and on its other testable claims.

This module is the one place a claim is assessed: the command (``python -m model
verdict``), the dashboard, the book figures and the paper all read its results.

For every sector scenario, a Monte Carlo over the sector's uncertainty ranges: a Latin
hypercube (:class:`scipy.stats.qmc.LatinHypercube`, seeded per sector from the run's seed
and the sector's name), uniform within each range; the horizon is held at the file's
value and the switches stay as the file sets them. Per draw:

* the static break-even loss at the start for the sector's price policy
  (:func:`model.analysis.tipping.break_even_loss`);
* the point of no return (PONR; definition in :mod:`model.analysis.tipping`: the long-run
  fate of the frozen system, not the file's horizon; computed for all draws at once by
  :func:`model.core.engine.point_of_no_return_batch`), for the sector's fall (half of its
  incumbent capacity exited) and, for a sector of several firms, for its first firm's
  failure: the outcome (tips, never tips, always falls, failed), its time, and the
  platform's progress then on each of the four readings of "20% of the gross"
  (:data:`READINGS`);
* for a draw that never tips, the most the platform reaches on each reading while the
  incumbents stand;
* on the first ``critical_mass_draws`` draws, the adoption critical mass
  (:func:`model.analysis.critical_mass.critical_mass`).

Per sector and reading: the threshold's median and 90% interval (5th to 95th
percentiles) over the draws that tip, its whole distribution (ECDF, in the draws record
and the figure), P(threshold <= 20%) and P(15% <= threshold <= 25%) over the draws that
test the claim, and a verdict word from the rules of :func:`verdict_word`
(:data:`VERDICT_RULES`, printed by the command and the paper). Beside them: the
probability that the sector falls in the long run, within the file's horizon, and
whatever the platform does ("always falls"); the three parameters that move each
reading's threshold most, by the first-order indices of RBD-FAST (SALib; a given-data
method that works on any sample, here the same Latin hypercube, restricted to the draws
that tip), with the sign of Spearman's rank correlation and the noise floor of the
parameters that enter no equation.

Claims (MODEL.md), on the first ``claim_draws`` draws of each sector, paired (the same
draw in both arms, one switch changed):

* C5 trust vs. standard network effect: does the trust network effect tip sooner?
* C7 hard network on vs. off (soft network on in both): does the hard network matter
  once the soft network runs?
* C4 relational trust (churn reduction as drawn) vs. none (0): does relational trust
  make the platform's share stick? Also measured directly: the share kept five years
  after all acquisition stops at year 10.

Pure analysis layer: numpy, scipy, numba (through the engine) and SALib; no file I/O.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import qmc, spearmanr

from ..analysis.tipping import break_even_loss
from ..core import engine
from ..core.equations import OUTPUT_NAMES, PARAM_NAMES, build, param_vector
from ..core.parameters import PARAMETER_SPECS
from ..evidence.scenarios import Scenario
from .claims import CLAIMED_BAND, CLAIMED_SHARE, near_claim

__all__ = [
    "CLAIMED_SHARE",
    "CLAIMED_BAND",
    "OUTCOME_NAMES",
    "Interval",
    "SectorVerdict",
    "ClaimComparison",
    "draw_parameters",
    "sector_verdict",
    "claim_comparisons",
    "RETENTION_FREEZE",
    "RETENTION_YEARS",
    "inert_parameters",
    "READINGS",
    "READING_LABELS",
    "DEFINITIONS",
    "VERDICT_RULES",
    "ReadingVerdict",
    "reading_verdict",
    "verdict_word",
    "threshold_ecdf",
    "claim_words",
]

#: C4's direct measure: acquisition stops at this time (years) ...
RETENTION_FREEZE = 10.0
#: ... and the share kept this many years later is compared.
RETENTION_YEARS = 5.0
#: Held at the file's value in every draw (see the module docstring).
NOT_DRAWN = ("horizon",)
#: Ranged in the sector files but read by no reading of the verdict: the discount rate only
#: prices the incumbent's payouts (model.analysis.valuation). Drawn, it would add a dimension
#: to the Latin hypercube and so move every other parameter's points (and every number of
#: the verdict) without informing any of them.
NOT_READ = ("discount_rate",)

#: The four readings of the essay's "20% of the gross" (MODEL.md), in the order reported.
READINGS = ("share_of_gross", "gross_loss", "firm_gross_loss", "volume_share")
READING_LABELS = {
    "share_of_gross": "platform's share of the sector's gross",
    "gross_loss": "incumbents' loss of their sector gross",
    "firm_gross_loss": "incumbents' loss of their whole revenue",
    "volume_share": "platform's share of the sector's customers (volume)",
}
#: What "falls" means for a point of no return: the sector (half of its incumbent capacity
#: exited; one firm: its insolvency) or, for a sector of several firms, its first firm.
DEFINITIONS = ("sector", "first_failure")
#: A quick verdict (what the dashboard runs, to keep a sector's first view to seconds): draws
#: over the file's ranges, the first of them for the paired claims and the critical mass.
#: The command's defaults are 1000, 300 and 200. The same seed gives the same first draws.
QUICK_DRAWS = 120
QUICK_CLAIM_DRAWS = 40
QUICK_CRITICAL_MASS_DRAWS = 30
#: Below the smallest firm's size: the first exit is the fall (``fall_level`` of the engine).
FIRST_FAILURE_LEVEL = 1e-9

#: The verdict rules (one place; :func:`verdict_word` applies them, the command and the
#: paper print them). A draw *tests* the claim on a reading when its incumbent tips (the
#: reading at its point of no return is the threshold) or when it never falls although
#: the platform passed the top of the band on that reading (its threshold is above the
#: band). It does not test it when the incumbent never falls and the platform never
#: passes the band's top (the claim's condition is never met), nor when the incumbent
#: falls even if the platform never grows again (``always_falls``: the fall is not the
#: platform's doing).
HOLDS_P = 0.5
FAILS_P = 0.25
MIN_TESTED_SHARE = 0.2
MIN_TESTED = 30
VERDICT_RULES = (
    f"A draw tests the claim on a reading if its incumbent tips (the reading at the point of no return is its "
    f"threshold) or if it never falls although the platform passed {CLAIMED_SHARE + CLAIMED_BAND:.0%} on that "
    f"reading (its threshold lies above the band). Draws whose incumbent never falls while the platform stays "
    f"below {CLAIMED_SHARE + CLAIMED_BAND:.0%}, and draws whose incumbent falls even if the platform never "
    f"grows again, do not test it. Over the tested draws, P(near 20%) is the share whose threshold lies "
    f"within {CLAIMED_SHARE - CLAIMED_BAND:.0%} to {CLAIMED_SHARE + CLAIMED_BAND:.0%}. The claim "
    f"**holds** on a reading if P(near 20%) >= {HOLDS_P:.2f}, **fails** if P(near 20%) < {FAILS_P:.2f}, and is "
    f"**undetermined** in between or when fewer than {MIN_TESTED} draws, or fewer than {MIN_TESTED_SHARE:.0%} of "
    f"the finished draws, test it.")

OUTCOME_NAMES = {engine.PONR_TIPS: "tips", engine.PONR_NEVER_TIPS: "never_tips",
            engine.PONR_ALWAYS_FALLS: "always_falls", engine.PONR_FAILED: "failed"}
_INDEX = {name: i for i, name in enumerate(PARAM_NAMES)}


@dataclass(frozen=True)
class Interval:
    """Median and 90% interval (5th and 95th percentiles) of ``n`` values; NaN if n = 0."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values) -> "Interval":
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return cls(math.nan, math.nan, math.nan, 0)
        lo, med, hi = np.percentile(v, [5.0, 50.0, 95.0])
        return cls(float(med), float(lo), float(hi), int(v.size))

    def contains(self, x: float) -> bool | None:
        """Whether x lies in [low, high]; None when there is no interval."""
        if self.n == 0:
            return None
        return bool(self.low <= x <= self.high)


def _finite(x):
    """A float for JSON: None where it is not finite."""
    return float(x) if x is not None and math.isfinite(x) else None


def verdict_word(n_finished: int, n_tested: int, p_near: float) -> tuple[str, str]:
    """The verdict word of one reading and the rule that gave it (:data:`VERDICT_RULES`)."""
    if n_tested < MIN_TESTED or n_tested < MIN_TESTED_SHARE * n_finished:
        return "undetermined", (f"only {n_tested} of {n_finished} draws test the claim (at least {MIN_TESTED} and "
                                f"{MIN_TESTED_SHARE:.0%} are needed)")
    if p_near >= HOLDS_P:
        return "holds", f"P(near 20%) = {p_near:.2f} >= {HOLDS_P:.2f} over {n_tested} tested draws"
    if p_near < FAILS_P:
        return "fails", f"P(near 20%) = {p_near:.2f} < {FAILS_P:.2f} over {n_tested} tested draws"
    return "undetermined", (f"P(near 20%) = {p_near:.2f}, between {FAILS_P:.2f} and {HOLDS_P:.2f}, over {n_tested} "
                            "tested draws")


@dataclass(frozen=True)
class ReadingVerdict:
    """The claim on one reading of "20% of the gross" in one sector, for one definition of
    "falls" (see :data:`VERDICT_RULES`).

    ``threshold`` is over the draws that tip; ``n_above`` the draws that never fall though
    the platform passed the band's top on this reading; ``n_tested`` = tips + above;
    ``p_at_most_claim`` = P(threshold <= 20%) and ``p_near_claim`` = P(15% <= threshold
    <= 25%) over the tested draws (a draw above the band counts as above 25%).
    """

    reading: str
    definition: str
    threshold: Interval
    n_finished: int
    n_tips: int
    n_above: int
    n_below_band: int
    n_always: int
    n_tested: int
    p_at_most_claim: float
    p_near_claim: float
    word: str
    rule: str

    @property
    def label(self) -> str:
        return READING_LABELS[self.reading]

    def as_dict(self) -> dict:
        iv = self.threshold
        return {"reading": self.reading, "label": self.label, "definition": self.definition,
                "median": iv.median, "p05": iv.low, "p95": iv.high, "n_tips": self.n_tips, "n_above": self.n_above,
                "n_below_band": self.n_below_band, "n_always_falls": self.n_always, "n_tested": self.n_tested,
                "n_finished": self.n_finished, "p_at_most_20": self.p_at_most_claim, "p_15_25": self.p_near_claim,
                "verdict": self.word, "rule": self.rule}


def reading_verdict(reading: str, definition: str, outcome, value, peak) -> ReadingVerdict:
    """Apply :data:`VERDICT_RULES` to one reading.

    Parameters
    ----------
    outcome : ndarray of int8
        The engine's PONR outcome per draw.
    value : ndarray
        The reading at the point of no return (used where the draw tips).
    peak : ndarray
        The most the platform reached on the reading (used where it never tips).
    """
    outcome = np.asarray(outcome)
    finished = outcome != engine.PONR_FAILED
    tips = outcome == engine.PONR_TIPS
    never = outcome == engine.PONR_NEVER_TIPS
    peak = np.asarray(peak, dtype=float)
    top = CLAIMED_SHARE + CLAIMED_BAND
    above = never & np.isfinite(peak) & (peak > top)
    thr = np.where(tips, np.asarray(value, dtype=float), np.nan)
    tested_thr = np.concatenate([thr[tips & np.isfinite(thr)], np.full(int(above.sum()), np.inf)])
    n_tested = int(tested_thr.size)
    p_le = float(np.mean(tested_thr <= CLAIMED_SHARE)) if n_tested else math.nan
    p_near = float(np.mean(near_claim(tested_thr))) if n_tested else math.nan
    word, rule = verdict_word(int(finished.sum()), n_tested, p_near)
    return ReadingVerdict(reading=reading, definition=definition, threshold=Interval.of(thr),
                          n_finished=int(finished.sum()), n_tips=int(np.sum(tips & np.isfinite(thr))),
                          n_above=int(above.sum()), n_below_band=int(np.sum(never & ~above)),
                          n_always=int(np.sum(outcome == engine.PONR_ALWAYS_FALLS)), n_tested=n_tested,
                          p_at_most_claim=p_le, p_near_claim=p_near, word=word, rule=rule)


def threshold_ecdf(outcome, value, peak) -> tuple[np.ndarray, np.ndarray]:
    """The ECDF of one reading's threshold over the tested draws: (x, F(x)) at each tipping
    draw's threshold; the draws above the band are in the denominator only (their
    thresholds are beyond any level the platform reached), so F stops short of 1."""
    outcome = np.asarray(outcome)
    tips = outcome == engine.PONR_TIPS
    thr = np.sort(np.asarray(value, dtype=float)[tips & np.isfinite(value)])
    above = int(np.sum((outcome == engine.PONR_NEVER_TIPS) & (np.asarray(peak) > CLAIMED_SHARE + CLAIMED_BAND)))
    n = thr.size + above
    return thr, (np.arange(1, thr.size + 1) / n if n else np.zeros(0))


@dataclass(frozen=True)
class SectorVerdict:
    """Monte Carlo verdict of one sector (see the module docstring).

    ``draws`` holds the per-draw record (drawn values, outcome, PONR time and readings,
    peaks, break-even loss, reason) so that no draw, failed or not, is dropped.

    ``p_fall`` is the probability that the sector falls in the long run (the draws that tip
    or always fall, among those that finished); ``p_fall_within_horizon`` that it falls
    within the file's horizon; ``p_falls_anyway`` that it falls even if the platform never
    grows again. ``ponr_share``, ``ponr_gross_loss`` and ``ponr_time`` are over the draws
    that tip (the sector definition). ``readings`` holds one :class:`ReadingVerdict` per
    definition and reading (:meth:`reading`). ``exit_points``: on the unfrozen run of a
    sector of several firms, each reading when the first firm fails and when half of the
    capacity has exited (whether or not that moment was the point of no return).
    ``critical_mass``: the adoption critical mass over the first draws (``n``,
    ``p_exists``, ``share`` and ``share_of_gross`` intervals where it exists).
    """

    key: str
    name: str
    origin: str
    start_year: float | None
    horizon: float
    network_effect: str
    price_policy: str
    n_draws: int
    seed: int
    drawn: tuple
    counts: dict
    p_fall: float
    break_even: Interval
    ponr_share: Interval
    ponr_gross_loss: Interval
    ponr_time: Interval
    sensitivity: list
    sensitivity_n: int
    noise_floor: float
    inert: tuple
    draws: dict = field(repr=False)
    n_firms: int = 1
    p_first_failure: float = math.nan
    first_failure_share: Interval | None = None
    first_failure_gross_loss: Interval | None = None
    p_fall_within_horizon: float = math.nan
    p_falls_anyway: float = math.nan
    readings: tuple = ()
    exit_points: dict = field(default_factory=dict)
    critical_mass: dict = field(default_factory=dict)
    sensitivity_by_reading: dict = field(default_factory=dict)
    unsettled: int = 0
    firm_revenue_share: float = 1.0
    fate_years: float = engine.FATE_YEARS

    def reading(self, reading: str, definition: str = "sector") -> ReadingVerdict | None:
        """The verdict on ``reading`` for ``definition`` (None if not computed)."""
        return next((r for r in self.readings if r.reading == reading and r.definition == definition), None)

    @property
    def words(self) -> dict:
        """``{reading: word}`` for the sector definition."""
        return {r.reading: r.word for r in self.readings if r.definition == "sector"}

    def as_dict(self) -> dict:
        """Plain numbers and words (JSON): what the command's ``--json`` prints and the
        dashboard shows."""
        def iv(x):
            return None if x is None else {"median": _finite(x.median), "p05": _finite(x.low), "p95": _finite(x.high),
                                           "n": x.n}

        return {
            "sector": self.key, "name": self.name, "file": self.origin, "draws": self.n_draws, "seed": self.seed,
            "firms": self.n_firms, "counts": dict(self.counts), "p_fall": _finite(self.p_fall),
            "p_fall_within_horizon": _finite(self.p_fall_within_horizon),
            "p_falls_anyway": _finite(self.p_falls_anyway), "horizon": self.horizon, "fate_years": self.fate_years,
            "unsettled": self.unsettled, "ponr_time": iv(self.ponr_time), "break_even": iv(self.break_even),
            "firm_revenue_share": self.firm_revenue_share,
            "readings": [{**r.as_dict(), **{k: _finite(v) for k, v in r.as_dict().items() if isinstance(v, float)}}
                         for r in self.readings],
            "critical_mass": {k: (iv(v) if isinstance(v, Interval) else _finite(v) if isinstance(v, float) else v)
                              for k, v in self.critical_mass.items()},
            "exit_points": {point: {k: (iv(v) if isinstance(v, Interval) else _finite(v)) for k, v in d.items()}
                            for point, d in self.exit_points.items()},
            "sensitivity": {r: d["top"] for r, d in self.sensitivity_by_reading.items()},
            "rules": VERDICT_RULES,
        }


@dataclass(frozen=True)
class ClaimComparison:
    """One claim tested in one sector on paired draws: arm A against arm B.

    ``p_fall_a``/``p_fall_b``: probability of falling within the horizon in each arm;
    ``n_both``: draws that tip in both arms (always-falls counts as tipping at 0); over
    them, ``median_time_a``/``_b`` (years) and ``median_time_diff`` (A - B) of the PONR,
    and ``frac_a_sooner`` (A tips strictly earlier, ties at the bisection tolerance count
    as neither). ``extra`` carries claim-specific measures (C4's share retention).
    """

    claim: str
    sector: str
    question: str
    arm_a: str
    arm_b: str
    n: int
    failed: int
    p_fall_a: float
    p_fall_b: float
    n_both: int
    median_time_a: float
    median_time_b: float
    median_time_diff: float
    frac_a_sooner: float
    answer: str
    extra: dict = field(default_factory=dict)
    #: What would have made the answer come out the other way (the rule's threshold, and
    #: where the measured numbers stand against it).
    other_way: str = ""


def _seed_for(seed: int, key: str) -> np.random.SeedSequence:
    # Per-sector stream: the same sector gets the same draws whatever else is in the run.
    return np.random.SeedSequence([int(seed), zlib.crc32(key.encode("utf-8"))])


def draw_parameters(scenario: Scenario, n: int, seed: int, *, key: str | None = None):
    """Latin-hypercube draws, uniform within the scenario's ranges.

    Returns
    -------
    names : tuple of str
        Drawn parameters (every ranged parameter but :data:`NOT_DRAWN` and :data:`NOT_READ`), sorted.
    X : ndarray, shape (n, len(names))
    params : list of Parameters
        One validated parameter set per draw.

    Raises
    ------
    ValueError
        If ``n`` < 2, the scenario has no ranges, or a draw is not a valid parameter set
        (the message names the sector, the draw and the values).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"`draws` must be an integer of at least 2, got {n!r}")
    key = key or scenario.name
    # A one-firm sector: the firms' spreads, sizes and switching rate do not enter (drawn,
    # they would only change which points the other parameters get).
    one_firm = scenario.params.firm_count == 1
    names = tuple(sorted(k for k in scenario.ranges if k not in NOT_DRAWN and k not in NOT_READ
                         and not (one_firm and PARAMETER_SPECS[k].group == "firms")))
    if not names:
        raise ValueError(f"{scenario.origin}: no parameter has a range: nothing to draw")
    lo = np.array([scenario.ranges[k][0] for k in names])
    hi = np.array([scenario.ranges[k][1] for k in names])
    rng = np.random.default_rng(_seed_for(seed, key))
    X = qmc.scale(qmc.LatinHypercube(d=len(names), seed=rng).random(int(n)), lo, hi)
    params = []
    for i, row in enumerate(X):
        try:
            params.append(scenario.params.replace(**dict(zip(names, map(float, row)))))
        except ValueError as e:
            raise ValueError(f"{scenario.origin}: draw {i} is not a valid sector ({e}); narrow the ranges") from None
    return names, X, params


def _ponr(pvecs, horizon, tol, reorganise=False):
    # The long-run point of no return: the horizon is the window a user watches, not a
    # bound on the fate (model.analysis.tipping).
    return engine.point_of_no_return_batch(pvecs, None, horizon, tol, reorganise=reorganise)


def _fall_mask(outcome):
    return (outcome == engine.PONR_TIPS) | (outcome == engine.PONR_ALWAYS_FALLS)


def _p_fall(outcome) -> float:
    ok = outcome != engine.PONR_FAILED
    return float(np.mean(_fall_mask(outcome[ok]))) if np.any(ok) else math.nan


def _p_near(values) -> float:
    """Fraction of the finite ``values`` within ``CLAIMED_BAND`` of 20%; NaN if there are none."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(np.mean(near_claim(v))) if v.size else math.nan


def inert_parameters(params) -> tuple[str, ...]:
    """Continuous parameters that do not enter the dynamics under ``params``' switches.

    Read from the sympy model: the free symbols of the right-hand side and the initial
    state once the switch indicators are replaced by their values (for example the close
    ties under the standard network effect, the willingness to pay under a fixed price, the
    platform's own costs always). Their sensitivity indices can only be estimation noise,
    so the verdict uses them as negative controls.
    """
    from sympy import sympify

    m = build()
    pv = param_vector(params)
    values = {m.symbol(name): float(pv[_INDEX[name]]) for name in PARAM_NAMES if name.startswith("chi_")}
    values[m.symbol("acquisition")] = 1.0
    used = set()
    for expr in list(m.rhs) + list(m.initial):
        used |= {s.name for s in sympify(expr).xreplace(values).free_symbols}
    # A sector of several firms: the firms' spreads, sizes and switching rate place and move
    # the firms (they are not symbols of the one-firm model above, but they enter).
    firms = params.firm_count > 1
    return tuple(n for n, s in PARAMETER_SPECS.items()
                 if not s.is_switch and n not in used and n != "horizon" and not (firms and s.group == "firms"))
    # sector_share_of_firm_revenue enters no equation: inert for the dynamics (a negative
    # control), though the firm-wide reading scales with it. So is discount_rate (it prices
    # the payouts afterwards), though it is not drawn (NOT_READ).


def _sensitivity(names, X, y, lo, hi, seed, inert=()):
    """Top parameters for y by RBD-FAST first-order index (on the finite-y draws).

    Returns (top, n, noise_floor): the three largest indices among parameters that enter
    the dynamics, each flagged ``above_noise`` when it exceeds the largest index of an
    inert parameter (the noise floor; NaN when no inert parameter is drawn).
    """
    from SALib.analyze import rbd_fast  # imported here: only the verdict needs SALib

    ok = np.isfinite(y)
    n = int(ok.sum())
    # RBD-FAST needs enough points per harmonic; with M = 10 harmonics, a few hundred.
    if n < 100 or np.ptp(y[ok]) == 0:
        return [], n, math.nan
    problem = {"num_vars": len(names), "names": list(names), "bounds": [[a, b] for a, b in zip(lo, hi)]}
    # 30 bootstrap resamples: enough for the ± shown, and the bootstrap is most of the cost.
    si = rbd_fast.analyze(problem, X[ok], y[ok], M=10, num_resamples=30, seed=seed)
    s1 = np.asarray(si["S1"], dtype=float)
    conf = np.asarray(si["S1_conf"], dtype=float)
    inert_idx = [j for j, nm in enumerate(names) if nm in inert]
    floor = float(np.nanmax(s1[inert_idx])) if inert_idx else math.nan
    order = [j for j in np.argsort(-np.nan_to_num(s1, nan=-1.0)) if names[j] not in inert]
    out = []
    for j in order[:3]:
        rho = spearmanr(X[ok, j], y[ok]).statistic
        out.append({"parameter": names[j], "symbol": PARAMETER_SPECS[names[j]].symbol, "S1": float(s1[j]),
                    "S1_conf": float(conf[j]), "spearman": float(rho),
                    "above_noise": bool(not math.isfinite(floor) or s1[j] > floor)})
    return out, n, floor


def _readings_of(res, omega):
    """Per-draw readings at the point of no return and peaks, for the four READINGS."""
    tips = res.outcome == engine.PONR_TIPS
    values = {"share_of_gross": res.share, "gross_loss": res.gross_loss, "firm_gross_loss": omega * res.gross_loss,
              "volume_share": res.volume_share}
    peaks = {"share_of_gross": res.peak_share, "gross_loss": res.peak_gross_loss,
             "firm_gross_loss": omega * res.peak_gross_loss, "volume_share": res.peak_volume_share}
    values = {k: np.where(tips, v, np.nan) for k, v in values.items()}
    return values, peaks


def _exit_points(sectors, ok, omega):
    """Each reading at the first failure and at half of the capacity exited, on the unfrozen runs."""
    out = {}
    for label, pick in (("first_failure", lambda sf: sf.first_failure()), ("half_exited", lambda sf: sf.at_exited(0.5))):
        pts = [pick(sf) if good else None for sf, good in zip(sectors, ok)]
        get = lambda key: np.array([p[key] if p else np.nan for p in pts])  # noqa: E731
        loss = get("incumbent_gross_loss")
        out[label] = {"p_reached": float(np.mean([p is not None for p, good in zip(pts, ok) if good])) if ok.any()
                      else math.nan,
                      "share_of_gross": Interval.of(get("platform_share_of_gross")), "gross_loss": Interval.of(loss),
                      "firm_gross_loss": Interval.of(omega * loss),
                      "volume_share": Interval.of(get("platform_volume_share")), "time": Interval.of(get("t"))}
    return out


def _critical_masses(params, n):
    """The adoption critical mass of the first ``n`` draws (the sector as its aggregate)."""
    from ..analysis.critical_mass import critical_mass

    share, gross = np.full(n, np.nan), np.full(n, np.nan)
    for i, p in enumerate(params[:n]):
        try:
            cm = critical_mass(p)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            continue  # a draw whose equilibria cannot be found adds no critical mass
        if cm.exists:
            share[i], gross[i] = cm.share, cm.share_of_gross
    return {"n": int(n), "p_exists": float(np.mean(np.isfinite(share))) if n else math.nan,
            "share": Interval.of(share), "share_of_gross": Interval.of(gross)}, share, gross


def sector_verdict(scenario: Scenario, *, draws: int = 1000, seed: int = 0, tol: float = 0.01,
                   key: str | None = None, critical_mass_draws: int = 200,
                   first_failure: bool = True) -> SectorVerdict:
    """The Monte Carlo verdict of one sector (see the module docstring).

    Parameters
    ----------
    scenario : Scenario
    draws : int
        Latin-hypercube draws (default 1000).
    seed : int
        Run seed; the sector's stream is derived from it and ``key``.
    tol : float
        Bisection tolerance of the point of no return (years).
    key : str, optional
        Short name of the sector (default the scenario's name); also seeds its stream.
    critical_mass_draws : int
        Draws (the first of the sample) on which the adoption critical mass is computed
        (about 10 ms each); 0 skips it.
    first_failure : bool
        A sector of several firms: also the point of no return of its first firm's failure.

    Returns
    -------
    SectorVerdict
    """
    key = key or scenario.name
    names, X, params = draw_parameters(scenario, draws, seed, key=key)
    pvecs = engine.pvecs_from_params(params)[0]
    horizon = float(scenario.params.horizon)
    reorganise = scenario.params.insolvency == "reorganisation"
    res = _ponr(pvecs, horizon, tol, reorganise)
    policy = scenario.params.price_policy
    be = np.array([break_even_loss(p, policy=policy) for p in params])
    outcome = res.outcome
    ok = outcome != engine.PONR_FAILED
    tips = outcome == engine.PONR_TIPS
    omega_name = "sector_share_of_firm_revenue"
    omega = X[:, names.index(omega_name)] if omega_name in names else np.full(len(params), getattr(
        scenario.params, omega_name))
    values, peaks = _readings_of(res, omega)
    time = np.where(tips, res.time, np.nan)
    counts = {name: int(np.sum(outcome == code)) for code, name in OUTCOME_NAMES.items()}
    lo = np.array([scenario.ranges[k][0] for k in names])
    hi = np.array([scenario.ranges[k][1] for k in names])
    inert = inert_parameters(scenario.params)
    by_reading = {}
    for reading in READINGS:
        # The firm-wide reading is the sector's scaled by ω: ω enters it, though no equation.
        controls = tuple(n for n in inert if not (reading == "firm_gross_loss" and n == omega_name))
        by_reading[reading] = _sensitivity(names, X, values[reading], lo, hi, seed, controls)
    sens, sens_n, floor = by_reading["share_of_gross"]
    readings = [reading_verdict(r, "sector", outcome, values[r], peaks[r]) for r in READINGS]
    record = {
        "X": X, "outcome": outcome.copy(), "time": time, "share": values["share_of_gross"],
        "gross_loss": values["gross_loss"], "firm_gross_loss": values["firm_gross_loss"],
        "volume_share": values["volume_share"], "break_even": be,
        "share_lo": np.where(tips, res.share_lo, np.nan), "gross_loss_lo": np.where(tips, res.gross_loss_lo, np.nan),
        "peak_share": peaks["share_of_gross"], "peak_gross_loss": peaks["gross_loss"],
        "peak_firm_gross_loss": peaks["firm_gross_loss"], "peak_volume_share": peaks["volume_share"],
        "fall_time": res.fall_time.copy(), "reason": res.reason, "pvecs": pvecs, "ponr_time": res.time.copy(),
        "tol": float(tol), "reorganise": reorganise, "by_drift": res.by_drift.copy(), "omega": omega,
    }
    n_firms = int(scenario.params.firm_count)
    firms = {}
    if res.sectors is not None:
        first = [sf.first_failure() if good else None for sf, good in zip(res.sectors, ok)]
        reached = np.array([f is not None for f in first])
        ff_share = np.array([f["platform_share_of_gross"] if f else np.nan for f in first])
        ff_loss = np.array([f["incumbent_gross_loss"] if f else np.nan for f in first])
        record.update(first_failure_share=ff_share, first_failure_gross_loss=ff_loss,
                      first_failure_time=np.array([f["t"] if f else np.nan for f in first]))
        firms = dict(p_first_failure=float(np.mean(reached[ok])) if ok.any() else math.nan,
                     first_failure_share=Interval.of(ff_share), first_failure_gross_loss=Interval.of(ff_loss),
                     exit_points=_exit_points(res.sectors, ok, omega))
        if first_failure:
            ff = engine.point_of_no_return_batch(pvecs, None, horizon, tol, reorganise=reorganise,
                                                 fall_level=FIRST_FAILURE_LEVEL)
            ff_values, ff_peaks = _readings_of(ff, omega)
            readings += [reading_verdict(r, "first_failure", ff.outcome, ff_values[r], ff_peaks[r]) for r in READINGS]
            record.update({"ff_outcome": ff.outcome.copy(), "ff_time": np.where(ff.outcome == engine.PONR_TIPS,
                                                                                  ff.time, np.nan)})
            record.update({f"ff_{r}": ff_values[r] for r in READINGS})
            record.update({f"ff_peak_{r}": ff_peaks[r] for r in READINGS})
    cm = {}
    if critical_mass_draws:
        cm, cm_share, cm_gross = _critical_masses(params, min(int(critical_mass_draws), len(params)))
        record.update(critical_mass_share=np.r_[cm_share, np.full(len(params) - cm_share.size, np.nan)],
                      critical_mass_share_of_gross=np.r_[cm_gross, np.full(len(params) - cm_gross.size, np.nan)])
    falls_long = (outcome == engine.PONR_TIPS) | (outcome == engine.PONR_ALWAYS_FALLS)
    within = falls_long & (res.fall_time <= horizon)
    return SectorVerdict(
        key=key, name=scenario.name, origin=scenario.origin, start_year=scenario.start_year, horizon=horizon,
        network_effect=scenario.params.network_effect, price_policy=policy, n_draws=int(draws), seed=int(seed),
        drawn=names, counts=counts, p_fall=_p_fall(outcome), break_even=Interval.of(be),
        ponr_share=Interval.of(values["share_of_gross"]), ponr_gross_loss=Interval.of(values["gross_loss"]),
        ponr_time=Interval.of(time), sensitivity=sens, sensitivity_n=sens_n, noise_floor=floor,
        inert=tuple(n for n in names if n in inert), draws=record, n_firms=n_firms,
        p_fall_within_horizon=float(np.mean(within[ok])) if ok.any() else math.nan,
        p_falls_anyway=float(np.mean((outcome == engine.PONR_ALWAYS_FALLS)[ok])) if ok.any() else math.nan,
        readings=tuple(readings), critical_mass=cm,
        sensitivity_by_reading={r: {"top": v[0], "n": v[1], "noise_floor": v[2]} for r, v in by_reading.items()},
        unsettled=int(np.sum(res.unsettled & ok)), firm_revenue_share=float(getattr(scenario.params, omega_name)),
        **firms)


@dataclass(frozen=True)
class _Arm:
    """The two fields of a point-of-no-return batch that a comparison reads."""

    outcome: np.ndarray
    time: np.ndarray


def _with(pvecs, **indicators):
    out = pvecs.copy()
    for name, value in indicators.items():
        out[:, _INDEX[name]] = value
    return out


def _tip_time(res):
    return np.where(_fall_mask(res.outcome), res.time, np.nan)


def _compare(claim, sector, question, arm_a, arm_b, res_a, res_b, tol):
    fa, fb = res_a.outcome, res_b.outcome
    ok = (fa != engine.PONR_FAILED) & (fb != engine.PONR_FAILED)
    ta, tb = _tip_time(res_a)[ok], _tip_time(res_b)[ok]
    both = np.isfinite(ta) & np.isfinite(tb)
    diff = ta[both] - tb[both]
    n_both = int(both.sum())
    return dict(claim=claim, sector=sector, question=question, arm_a=arm_a, arm_b=arm_b, n=int(ok.sum()),
                failed=int((~ok).sum()), p_fall_a=_p_fall(fa[ok]), p_fall_b=_p_fall(fb[ok]), n_both=n_both,
                median_time_a=float(np.median(ta[both])) if n_both else math.nan,
                median_time_b=float(np.median(tb[both])) if n_both else math.nan,
                median_time_diff=float(np.median(diff)) if n_both else math.nan,
                frac_a_sooner=float(np.mean(diff < -tol)) if n_both else math.nan)


def _retention(pvecs, horizon, reorganise=False):
    """Platform share kept RETENTION_YEARS after acquisition stops at RETENTION_FREEZE."""
    t1 = RETENTION_FREEZE + RETENTION_YEARS
    if t1 > horizon:
        return np.full(pvecs.shape[0], np.nan)
    r = engine.integrate(pvecs, None, np.array([RETENTION_FREEZE, t1]), t_end=horizon, freeze_times=RETENTION_FREEZE,
                         reorganise=reorganise)
    s0, s1 = r.y[:, 0, 0], r.y[:, 1, 0]
    return np.where(r.success & np.isfinite(s1) & (s0 > 0), s1 / s0, np.nan)


#: Differences below these are reported as "no material difference": a quarter of a year
#: in the point of no return, two points of probability of falling, one point of share
#: retained. They are reading aids for the table, not tuned to any outcome.
MATERIAL_TIME = 0.25
MATERIAL_P = 0.02
MATERIAL_RETENTION = 0.01


def _answer_sooner(c, a_name, b_name):
    """Reading of a 'does A tip sooner than B' comparison, with the thresholds above."""
    if c["n_both"] == 0:
        return "undecided: no draw tips in both arms"
    dp = c["p_fall_a"] - c["p_fall_b"]
    dt = c["median_time_diff"]
    if abs(dt) < MATERIAL_TIME and abs(dp) < MATERIAL_P:
        return f"no material difference (PONR {dt:+.2f} yr, P(fall) {dp:+.2f})"
    if dt <= -MATERIAL_TIME and dp > -MATERIAL_P and c["frac_a_sooner"] > 0.5:
        return f"yes: {a_name} tips {-dt:.2f} yr sooner (median) and falls {dp:+.2f} more often"
    if dt >= MATERIAL_TIME and dp < MATERIAL_P and c["frac_a_sooner"] < 0.5:
        return f"no: {b_name} tips {dt:.2f} yr sooner (median), P(fall) {dp:+.2f}"
    return f"mixed: PONR {dt:+.2f} yr (median), P(fall) {dp:+.2f}, {c['frac_a_sooner']:.0%} of draws sooner"


#: C4: a stay on the platform this much longer (relative) counts as a material difference.
MATERIAL_STAY = 0.1
#: C7's second start: a platform with this share already (a foothold the soft network can
#: spread from), against the file's own start.
FOOTHOLD_SHARE = 0.01


def _churn_per_user(pvecs, reorganise=False):
    """Each run's churn per platform user (1/yr) at RETENTION_FREEZE: the inverse of the
    expected stay on the platform. A ratio of two of them measures stickiness whatever the
    level of churn (the share kept after a freeze does not when churn is tiny)."""
    r = engine.integrate(pvecs, None, np.array([RETENTION_FREEZE]), t_end=RETENTION_FREEZE + 1e-9,
                         reorganise=reorganise, after_fall="continue")
    if r.outputs is not None:
        out = r.outputs[:, 0, :len(OUTPUT_NAMES)]
    else:
        out = engine.outputs_batch(np.nan_to_num(r.y[:, 0, :]), pvecs)
    share = r.y[:, 0, 0]
    churn = out[:, OUTPUT_NAMES.index("churn")]
    ok = r.success & np.isfinite(share) & (share > 0)
    return np.where(ok, churn / np.where(ok, share, 1.0), np.nan)


def claim_comparisons(verdict: SectorVerdict, *, claim_draws: int = 300, tol: float = 0.01) -> list[ClaimComparison]:
    """C5, C7 and C4 for one sector, on the first ``claim_draws`` draws of its verdict.

    The arm that matches the sector file reuses the verdict's own points of no return;
    the other arm changes one switch and is computed on the same draws. C5 compares the two
    network-effect forms, normalised to the same value at full share and trust
    (:mod:`model.core.equations`), from the same start. C7 is asked twice: from the file's
    start and from a :data:`FOOTHOLD_SHARE` foothold (a tiny start decides C7 by itself: word
    of mouth needs adopters). C4 compares the churn per platform user at year
    :data:`RETENTION_FREEZE`, with relational trust and without: how much longer a user
    stays, a measure that works when churn is tiny. Each answer says what would have made
    it come out the other way.
    """
    n = min(int(claim_draws), verdict.n_draws)
    if n < 2:
        raise ValueError(f"`claim_draws` must be at least 2, got {claim_draws!r}")
    pv = verdict.draws["pvecs"][:n]
    horizon = verdict.horizon
    if tol != verdict.draws["tol"]:
        raise ValueError(f"`tol` ({tol!r}) must match the verdict's ({verdict.draws['tol']!r}): the arms are compared")
    # The file's own arm: the verdict's points of no return on these draws.
    base = _Arm(outcome=verdict.draws["outcome"][:n], time=verdict.draws["ponr_time"][:n])
    out = []
    reorg = verdict.draws.get("reorganise", False)

    # C5: trust (chi_trust = 1) vs standard (0).
    trust_is_base = pv[0, _INDEX["chi_trust"]] == 1.0
    other = _ponr(_with(pv, chi_trust=0.0 if trust_is_base else 1.0), horizon, tol, reorg)
    a, b = (base, other) if trust_is_base else (other, base)
    c = _compare("C5", verdict.key, "Does the trust network effect tip sooner than the standard one?",
                 "trust network effect", "standard network effect", a, b, tol)
    answer = _answer_sooner(c, "trust", "the standard effect")
    flip = (f"'yes' needs the trust arm to tip at least {MATERIAL_TIME} yr sooner (median) in over half of the "
            f"paired draws without falling less often; 'no' the reverse"
            + (f" (now {c['median_time_diff']:+.2f} yr, {c['frac_a_sooner']:.0%} sooner, P(fall) "
               f"{c['p_fall_a'] - c['p_fall_b']:+.2f})" if c["n_both"] else " (no draw tips in both arms)"))
    out.append(ClaimComparison(answer=answer, other_way=flip, **c))

    # C7: hard network on vs off, soft network on in both; from the file's start and from a foothold.
    def c7(pv_arm, label):
        pv_soft = _with(pv_arm, chi_soft=1.0)
        on_is_base = label == "file" and bool(np.all(pv_arm[:, _INDEX["chi_soft"]] == 1.0)
                                               and pv_arm[0, _INDEX["chi_hard"]] == 1.0)
        on = base if on_is_base else _ponr(_with(pv_soft, chi_hard=1.0), horizon, tol, reorg)
        off = _ponr(_with(pv_soft, chi_hard=0.0), horizon, tol, reorg)
        return _compare("C7", verdict.key, "Does the hard network matter once the soft network runs?",
                        "hard + soft network", "soft network only", on, off, tol)

    def c7_reading(c):
        delay = -c["median_time_diff"] if c["n_both"] else math.nan
        drop = c["p_fall_a"] - c["p_fall_b"]
        if c["n_both"] == 0 and abs(drop) < MATERIAL_P:
            return "undecided: no draw tips in both arms", delay, drop
        if drop >= MATERIAL_P or (np.isfinite(delay) and delay >= MATERIAL_TIME):
            return (f"yes: without it P(fall) is {drop:.2f} lower" + (f" and the PONR {delay:.1f} yr later (median)"
                    if np.isfinite(delay) else "")), delay, drop
        return "no material difference" + (f" (PONR {delay:+.2f} yr, P(fall) {drop:+.2f})"
                                            if np.isfinite(delay) else ""), delay, drop

    c = c7(pv, "file")
    said, delay, drop = c7_reading(c)
    s_col = _INDEX["initial_platform_share"]
    foothold = pv.copy()
    foothold[:, s_col] = np.maximum(foothold[:, s_col], FOOTHOLD_SHARE)
    cf = c7(foothold, "foothold")
    said_f, delay_f, drop_f = c7_reading(cf)
    answer = f"from the file's start {said}; from a {FOOTHOLD_SHARE:.0%} foothold {said_f}"
    flip = (f"'yes' needs P(fall) at least {MATERIAL_P:.2f} lower or the PONR at least {MATERIAL_TIME} yr later "
            f"without the hard network; a hard network that matters only from a tiny start starts the soft one but "
            f"does not amplify it")
    out.append(ClaimComparison(answer=answer, other_way=flip, **c, extra={
        "median_delay_without_hard": delay, "p_fall_drop": drop, "foothold_share": FOOTHOLD_SHARE,
        "foothold_median_delay_without_hard": delay_f, "foothold_p_fall_drop": drop_f,
        "foothold_answer": said_f}))

    # C4: relational trust as drawn vs none (churn_reduction = 0).
    none = _with(pv, churn_reduction=0.0)
    res_none = _ponr(none, horizon, tol, reorg)
    c = _compare("C4", verdict.key, "Does relational trust make the platform's share stick?",
                 "relational trust (churn reduction as drawn)", "no relational trust (churn reduction 0)",
                 base, res_none, tol)
    keep_a, keep_b = _retention(pv, horizon, reorg), _retention(none, horizon, reorg)
    both = np.isfinite(keep_a) & np.isfinite(keep_b)
    ret_a = float(np.median(keep_a[both])) if both.any() else math.nan
    ret_b = float(np.median(keep_b[both])) if both.any() else math.nan
    churn_a, churn_b = _churn_per_user(pv, reorg), _churn_per_user(none, reorg)
    paired = np.isfinite(churn_a) & np.isfinite(churn_b) & (churn_a > 0)
    stay = churn_b[paired] / churn_a[paired]  # how many times longer a user stays with relational trust
    stay_median = float(np.median(stay)) if paired.any() else math.nan
    frac_longer = float(np.mean(stay > 1 + MATERIAL_STAY)) if paired.any() else math.nan
    if not paired.any():
        answer = "undecided: no draw has platform users at year 10 in both arms"
    elif stay_median >= 1 + MATERIAL_STAY and frac_longer > 0.5:
        answer = (f"yes: users stay {stay_median:.2f} times as long (median; {frac_longer:.0%} of draws at least "
                  f"{MATERIAL_STAY:.0%} longer); share kept 5 yr after a freeze {ret_a:.0%} against {ret_b:.0%}")
    elif abs(stay_median - 1) < MATERIAL_STAY:
        answer = (f"no material difference: users stay {stay_median:.2f} times as long (median); share kept "
                  f"{ret_a:.0%} against {ret_b:.0%}")
    else:
        answer = f"mixed: users stay {stay_median:.2f} times as long (median), {frac_longer:.0%} of draws longer"
    flip = (f"'yes' needs a stay at least {MATERIAL_STAY:.0%} longer (median, and in over half of the draws) with "
            f"relational trust than without; that needs relational trust R and churn reduction ρ with "
            f"1/(1 - ρR) >= {1 + MATERIAL_STAY:g}, R >= {1 - 1 / (1 + MATERIAL_STAY):.2f}/ρ")
    out.append(ClaimComparison(answer=answer, other_way=flip, **c, extra={
        "retention_with": ret_a, "retention_without": ret_b, "retention_n": int(both.sum()),
        "frac_keeps_more": float(np.mean(keep_a[both] > keep_b[both] * (1 + 1e-9))) if both.any() else math.nan,
        "retention_freeze": RETENTION_FREEZE, "retention_years": RETENTION_YEARS, "stay_ratio_median": stay_median,
        "frac_stay_longer": frac_longer, "stay_n": int(paired.sum())}))
    return out


def claim_words(verdict: SectorVerdict, comparisons=()) -> dict[str, str]:
    """The verdict's word on each claim it tests in this sector (C1 per reading; C5, C7, C4
    from the paired comparisons given); what the dashboard's claims table shows."""
    words = verdict.words
    out = {"C1": "; ".join(f"{words[r]} on the {READING_LABELS[r]}" for r in READINGS if r in words)}
    for c in comparisons:
        if c.sector == verdict.key:
            out[c.claim] = c.answer
    return out
