"""Ensemble integrator: many parameter sets of the model at once, compiled and parallel.

:func:`integrate` integrates N runs (parameter vectors and initial states) with the
explicit Runge-Kutta pair of Dormand and Prince, order 5(4) (DOPRI5), with per-run
adaptive steps and error control, Hairer's step-size controller, the "incumbent falls"
event (buffer ``y[5]`` reaching 0 from above, located by root finding on the continuous
extension) and output at requested times by the same continuous extension. The kernel is
compiled by numba and runs in parallel over runs with ``numba.prange``; runs do not
interact, so a run's numbers do not depend on the number of threads. Its right-hand side
and Jacobian are the generated :func:`model.core._generated.rhs_into` and ``jac_into``
(derived from the one sympy definition in :mod:`model.core.equations`): nothing of the model
is written here.

Stiff runs. Some parameter sets are stiff (trust and relational-trust gains near their
upper bounds make those stocks relax in a thousandth of a year while the sector moves
over decades). The kernel applies the stiffness test of Hairer's ``dopri5.f`` after every
accepted step; a run that it flags continues, from where it is, with the L-stable
Rosenbrock method Rodas4 (order 4(3), analytic Jacobian; for several firms differences of the
right-hand side, see ``_ol_jac``); where the Jacobian cannot be
trusted (see ``_JAC_LIMIT``) it goes back to DOPRI5. A run that fails in the kernel (step
limit, step-size underflow, a division by zero raised by the model's code) is solved
again with :func:`scipy.integrate.solve_ivp` (LSODA with the analytic Jacobian) unless
``fallback=False``. ``EnsembleResult.solver`` says which methods finished each run; runs
that fail in every method keep a negative status and a reason, and are never dropped.
Measured over 2,000 draws within every parameter bound: 44 % of runs turn stiff at some
point, none is lost, and outcomes agree with LSODA at rtol 1e-8 on every one.

:func:`point_of_no_return_batch` runs the point-of-no-return bisection (the shared
definition of :mod:`model.analysis.tipping`) for many parameter sets at once on this engine.

The module imports numpy, scipy and numba only (the pure model's rule).

Notation as in [1]_ and [2]_: the DOPRI5 tableau of [1]_, Table II.5.2; its continuous
extension of order 4 and the step-size controller with Lund stabilisation (beta = 0.04)
and the initial step of Sec. II.4, all as in the authors' code ``dopri5.f``; Rodas4 of
[2]_, Sec. VI.4, written as in KPP's Rosenbrock integrator [3]_, with its step-size
control.

References
----------
.. [1] E. Hairer, S. P. Norsett, G. Wanner, "Solving Ordinary Differential Equations I:
   Nonstiff Problems", 2nd ed., Springer, 1993.
.. [2] E. Hairer, G. Wanner, "Solving Ordinary Differential Equations II: Stiff and
   Differential-Algebraic Problems", 2nd ed., Springer, 1996.
.. [3] A. Sandu, J. G. Verwer, J. G. Blom, E. J. Spee, G. R. Carmichael, F. A. Potra,
   "Benchmarking stiff ODE solvers for atmospheric chemistry problems II: Rosenbrock
   solvers", Atmospheric Environment 31 (1997) 3459-3472 (the KPP integrator).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np
from numba import njit, prange
from numba.extending import overload
from scipy.integrate import solve_ivp

from . import lanes as _lanes
from .equations import BUFFER_INDEX, OUTPUT_NAMES, PARAM_NAMES, STATE_NAMES, buffer_indices, param_names, param_vector
from .firms import SECTOR_FALL_CAPACITY, firm_param_vector
from .parameters import PARAMETER_SPECS
from .sector import ExitBook, buffer_events, generated_module

__all__ = [
    "integrate",
    "EnsembleResult",
    "point_of_no_return_batch",
    "PonrBatch",
    "terminal_drift",
    "drift_projection",
    "FATE_YEARS",
    "PONR_WINDOWS",
    "pvecs_from_params",
    "initial_states",
    "outputs_batch",
    "STATUS_REASONS",
    "SURVIVES",
    "FALLS",
    "MAX_STEPS",
    "STEP_TOO_SMALL",
    "NON_FINITE",
    "FALLBACK_FAILED",
    "RHS_ERROR",
    "STIFF",
    "SOLVER_DOPRI5",
    "SOLVER_RODAS4",
    "SOLVER_LSODA",
    "SOLVER_NAMES",
    "PONR_TIPS",
    "PONR_NEVER_TIPS",
    "PONR_ALWAYS_FALLS",
    "PONR_FAILED",
    "PONR_OUTCOMES",
    "set_threads",
]

N_STATES = len(STATE_NAMES)
N_PARAMS = len(PARAM_NAMES)
_ACQ = PARAM_NAMES.index("acquisition")
_REVENUE = OUTPUT_NAMES.index("incumbent_revenue")
_SHARE_OF_GROSS = OUTPUT_NAMES.index("platform_share_of_gross")

# Status codes of a run (int8). Non-negative: the run finished; negative: it failed.
SURVIVES = 0  #: reached the end time without the incumbent falling
FALLS = 1  #: the buffer reached zero: the incumbent falls
MAX_STEPS = -1  #: the kernel hit ``max_steps`` (and no fallback was asked for)
STEP_TOO_SMALL = -2  #: the step size fell below the round-off limit
NON_FINITE = -3  #: a non-finite state or error estimate that no smaller step cured
FALLBACK_FAILED = -4  #: the kernel failed and the LSODA fallback failed too
STIFF = -6  #: the run became stiff and ``stiff="stop"`` was asked for (or the fallback is off)
RHS_ERROR = -5  #: the model's right-hand side is not finite (0/0, say) where the run is

#: Human-readable reason for every status code.
STATUS_REASONS = {
    SURVIVES: "reached the end time; the incumbent does not fall",
    FALLS: "the incumbent falls (buffer exhausted)",
    MAX_STEPS: "stopped at the step limit `max_steps`",
    STEP_TOO_SMALL: "step size below the round-off limit",
    NON_FINITE: "non-finite state or error estimate",
    FALLBACK_FAILED: "the compiled solver failed and the LSODA fallback failed too",
    STIFF: "the run became stiff (DOPRI5's stiffness test)",
    RHS_ERROR: "the model's right-hand side is not finite there (0/0 in the incumbent's target price: "
               "its volume and capacity have both vanished; or a point outside the model's domain)",
}

#: Which solver finished a run (``EnsembleResult.solver``): DOPRI5 throughout; switched to
#: Rodas4 when the run became stiff; or re-solved by the LSODA fallback.
SOLVER_DOPRI5 = 0
SOLVER_RODAS4 = 1
SOLVER_LSODA = 2
SOLVER_NAMES = {SOLVER_DOPRI5: "dopri5", SOLVER_RODAS4: "dopri5+rodas4", SOLVER_LSODA: "lsoda"}

# Outcome codes of the point of no return (shared definition, see model.analysis.tipping).
PONR_TIPS = 0
PONR_NEVER_TIPS = 1
PONR_ALWAYS_FALLS = 2
PONR_FAILED = -1
PONR_OUTCOMES = {PONR_TIPS: "tips", PONR_NEVER_TIPS: "never_tips", PONR_ALWAYS_FALLS: "always_falls",
                 PONR_FAILED: "failed"}

# --------------------------------------------------------------------------------------
# The compiled kernel
# --------------------------------------------------------------------------------------

# Dormand-Prince 5(4) tableau ([1], Table II.5.2).
_C2, _C3, _C4, _C5 = 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0
_A21 = 1.0 / 5.0
_A31, _A32 = 3.0 / 40.0, 9.0 / 40.0
_A41, _A42, _A43 = 44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0
_A51, _A52, _A53, _A54 = 19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0
_A61, _A62, _A63, _A64, _A65 = (9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0,
                                -5103.0 / 18656.0)
_A71, _A73, _A74, _A75, _A76 = 35.0 / 384.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0
# Error coefficients: 5th-order weights minus the embedded 4th-order ones.
_E1, _E3, _E4, _E5, _E6, _E7 = (71.0 / 57600.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0,
                                22.0 / 525.0, -1.0 / 40.0)
# Continuous extension of order 4 (dopri5.f, CONTD5).
_D1, _D3, _D4, _D5, _D6, _D7 = (-12715105075.0 / 11282082432.0, 87487479700.0 / 32700410799.0,
                                -10690763975.0 / 1880347072.0, 701980252875.0 / 199316789632.0,
                                -1453857185.0 / 822651844.0, 69997945.0 / 29380423.0)
# Step-size controller of dopri5.f: safety factor, bounds on the step ratio, Lund beta.
_SAFE, _FACMIN, _FACMAX, _BETA = 0.9, 0.2, 10.0, 0.04
_EXPO1 = 0.2 - _BETA * 0.75
_EPS = np.finfo(np.float64).eps

# Stiffness test of dopri5.f: h |lambda|, estimated from the last two stages (both at
# t + h), above 3.25 (about the edge of DOPRI5's stability region) on this many accepted
# steps (with fewer than 6 non-stiff steps in between) switches the run to Rodas4.
_STIFF_H_LAMBDA = 3.25
_STIFF_STEPS = 15
_STIFF_ACTIONS = {"rodas4": 0, "stop": 1, "ignore": -1}
# A Rosenbrock method uses the Jacobian in its formula, so its error estimate cannot see a
# wrong Jacobian. Near a vanishing incumbent (volume and capacity -> 0) the generated
# Jacobian of the capped full-cost price loses all accuracy to cancellation (terms of order
# 1/K of opposite sign); its entries then exceed any rate of the model (the stiffest real
# rates are about 1e6 per year). Beyond this limit the run goes back to DOPRI5.
_JAC_LIMIT = 1e10

# Rodas4 ([2], Sec. VI.4), in the formulation and with the coefficients of KPP's
# Rosenbrock integrator [3]: (I / (h gamma) - J) K_i = f(y + sum_j A_ij K_j)
# + sum_j (C_ij / h) K_j; y_new = y + sum_i M_i K_i, and K_6 is the error estimate
# (the method is stiffly accurate: y_new is the stage-6 point plus K_6).
_RG = 0.25
_RA21 = 1.544
_RA31, _RA32 = 0.9466785280815826, 0.2557011698983284
_RA41, _RA42, _RA43 = 3.314825187068521, 2.896124015972201, 0.9986419139977817
_RA51, _RA52, _RA53, _RA54 = 1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950
_RC21 = -5.6688
_RC31, _RC32 = -2.430093356833875, -0.2063599157091915
_RC41, _RC42, _RC43 = -0.1073529058151375, -9.594562251023355, -20.47028614809616
_RC51, _RC52, _RC53, _RC54 = 7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160
_RC61, _RC62, _RC63, _RC64, _RC65 = (8.083246795921522, -7.981132988064893, -31.52159432874371,
                                     16.31930543123136, -6.058818238834054)
# Step-size control of KPP's Rosenbrock integrator (error estimate of local order 4).
_RFACMIN, _RFACMAX, _RFACREJ, _RSAFE = 0.2, 6.0, 0.1, 0.9

# Rows of the per-run scratch matrix: stages, states, the dense-output coefficients, then
# the iteration matrix of Rodas4 (one row per state) and its pivots.
(_K1, _K2, _K3, _K4, _K5, _K6, _K7, _Y, _YNEW, _YTMP, _ERR, _R1, _R2, _R3, _R4, _R5) = range(16)
_J0 = 16
# The pivots' row is the last: w has _J0 + n + 1 rows for n states (see _workspace).
#: Runs handled by one parallel task (scratch is allocated once per block).
_BLOCK = 16


# --- the model's functions, by sector size ---------------------------------------------
#
# The kernel is one source for every sector size. Which generated module it calls is told
# by the *type* of its argument ``model``: a tuple of n zeros for n firms (_model_key).
# The overloads below pick that module's functions when numba types the call, so one
# compiled kernel per size exists, and numba's on-disk cache finds it again in the next
# process (a tuple type compares by value; passing the generated functions themselves as
# arguments would key the cache on objects of this process, and recompile every time).

def _model_key(gen_n) -> tuple:
    return (0,) * int(gen_n.N_FIRMS)


def _model_of(model):
    return generated_module(model.count)


def _model_n_states(model):  # compiled only: see the overloads
    raise NotImplementedError


def _model_rhs(model, y, p, out):
    raise NotImplementedError


def _model_jac(model, y, p, out):
    raise NotImplementedError


def _model_derive(model, p):
    raise NotImplementedError


def _model_initial(model, p):
    raise NotImplementedError


def _model_outputs(model, y, p, out):
    raise NotImplementedError


@overload(_model_n_states, inline="always")
def _ol_n_states(model):
    # A compile-time constant: LLVM unrolls and vectorises the loops over the states.
    n_states = int(_model_of(model).N_STATES)
    return lambda model: n_states


@overload(_model_rhs, inline="always")
def _ol_rhs(model, y, p, out):
    fn = _model_of(model).rhs_into
    return lambda model, y, p, out: fn(y, p, out)


@overload(_model_jac, inline="always")
def _ol_jac(model, y, p, out):
    gen_n = _model_of(model)
    if gen_n.N_FIRMS == 1:
        fn = gen_n.jac_into
        return lambda model, y, p, out: fn(y, p, out)
    # Several firms: forward differences of the right-hand side, column by column, with
    # the increments of Hairer's rodas.f (IJAC = 0): sqrt(uround * max(1e-5, |y_j|)). The
    # analytic Jacobian of n firms is exact but takes numba about a minute to compile at 8
    # firms (and many at 16), which every new machine and every CI run would pay; a
    # Rosenbrock step with a Jacobian accurate to ~1e-8 keeps its order for any step the
    # error control accepts, and the engine agrees with simulate on 300 sectors (tests).
    rhs = gen_n.rhs_into
    n_states = int(gen_n.N_STATES)

    def by_differences(model, y, p, out):
        f0 = np.empty(n_states)
        f1 = np.empty(n_states)
        shifted = y.copy()
        rhs(y, p, f0)
        for j in range(n_states):
            delta = math.sqrt(1e-16 * max(1e-5, abs(y[j])))
            shifted[j] = y[j] + delta
            rhs(shifted, p, f1)
            for i in range(n_states):
                out[i, j] = (f1[i] - f0[i]) / delta
            shifted[j] = y[j]
        return out

    return by_differences


@overload(_model_derive, inline="always")
def _ol_derive(model, p):
    fn = _model_of(model).derive_into
    return lambda model, p: fn(p)


@overload(_model_initial, inline="always")
def _ol_initial(model, p):
    fn = _model_of(model).initial
    return lambda model, p: fn(p)


@overload(_model_outputs, inline="always")
def _ol_outputs(model, y, p, out):
    fn = _model_of(model).outputs_into
    return lambda model, y, p, out: fn(y, p, out)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _f(model, y, p, out):
    """The model's right-hand side into ``out`` (``p`` the extended parameter vector);
    False if it is not finite (0/0 in the target price when the incumbent's volume and
    capacity both vanish, or a trial point outside the model's domain).

    The generated code is compiled with numpy's error model, so it returns NaN or inf
    where Python would raise: nothing here can raise, and no try block (which costs a
    third of a right-hand-side evaluation once the code makes calls) is needed."""
    _model_rhs(model, y, p, out)
    # One test on the sum: NaN and inf propagate through it (an overflow of the sum alone
    # is flagged too, which is as good as a failure at those magnitudes).
    total = 0.0
    for i in range(out.shape[0]):
        total += out[i]
    return math.isfinite(total)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _norm(e, y, ynew, rtol, atol):
    acc = 0.0
    for i in range(e.shape[0]):
        sk = atol + rtol * max(abs(y[i]), abs(ynew[i]))
        acc += (e[i] / sk) ** 2
    return math.sqrt(acc / e.shape[0])


@njit(cache=True, nogil=True, error_model="numpy")
def _dense(w, theta, i):
    """Component ``i`` of the continuous extension at ``theta`` in [0, 1] of the last step."""
    theta1 = 1.0 - theta
    return w[_R1, i] + theta * (w[_R2, i] + theta1 * (w[_R3, i] + theta * (w[_R4, i] + theta1 * w[_R5, i])))


@njit(cache=True, nogil=True, error_model="numpy")
def _initial_step(model, y, f0, p, t_span, rtol, atol, w):
    # Hairer's starting step ([1], Sec. II.4), norms as in _norm.
    n = y.shape[0]
    d0 = 0.0
    d1 = 0.0
    for i in range(n):
        sk = atol + rtol * abs(y[i])
        d0 += (y[i] / sk) ** 2
        d1 += (f0[i] / sk) ** 2
    d0 = math.sqrt(d0 / n)
    d1 = math.sqrt(d1 / n)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = min(h0, t_span)
    ytmp = w[_YTMP]
    for i in range(n):
        ytmp[i] = y[i] + h0 * f0[i]
    f1 = w[_K2]
    _f(model, ytmp, p, f1)
    d2 = 0.0
    for i in range(n):
        sk = atol + rtol * abs(y[i])
        d2 += ((f1[i] - f0[i]) / sk) ** 2
    d2 = math.sqrt(d2 / n) / h0
    if not (math.isfinite(d2) and math.isfinite(d1)):
        return min(h0, t_span)
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** 0.2
    return min(100.0 * h0, h1, t_span)


@njit(cache=True, nogil=True, error_model="numpy")
def _lu(model, w):
    """LU factorisation with partial pivoting of the matrix in rows _J0 .. _J0 + n - 1, in place.
    Returns False if it is singular (a pivot is zero or not finite)."""
    n = _model_n_states(model)
    piv_row = w.shape[0] - 1
    for k in range(n):
        piv = k
        big = abs(w[_J0 + k, k])
        for i in range(k + 1, n):
            if abs(w[_J0 + i, k]) > big:
                big = abs(w[_J0 + i, k])
                piv = i
        if not (big > 0.0 and math.isfinite(big)):
            return False
        w[piv_row, k] = piv
        if piv != k:
            for j in range(n):
                tmp = w[_J0 + k, j]
                w[_J0 + k, j] = w[_J0 + piv, j]
                w[_J0 + piv, j] = tmp
        inv = 1.0 / w[_J0 + k, k]
        for i in range(k + 1, n):
            f = w[_J0 + i, k] * inv
            w[_J0 + i, k] = f
            for j in range(k + 1, n):
                w[_J0 + i, j] -= f * w[_J0 + k, j]
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _lu_solve(model, w, b):
    """Solve with the factors of :func:`_lu`; ``b`` is overwritten by the solution."""
    n = _model_n_states(model)
    piv_row = w.shape[0] - 1
    for k in range(n):
        piv = int(w[piv_row, k])
        if piv != k:
            tmp = b[k]
            b[k] = b[piv]
            b[piv] = tmp
    for i in range(1, n):
        acc = b[i]
        for j in range(i):
            acc -= w[_J0 + i, j] * b[j]
        b[i] = acc
    for i in range(n - 1, -1, -1):
        acc = b[i]
        for j in range(i + 1, n):
            acc -= w[_J0 + i, j] * b[j]
        b[i] = acc / w[_J0 + i, i]


@njit(cache=True, nogil=True, error_model="numpy")
def _rodas_trial(model, y, f0, pp, h, w, jac):
    """One Rodas4 trial step from ``y`` (f(y) = ``f0``): new point in w[_YNEW], error in
    w[_ERR]. Returns 0 if done, 1 if the iteration matrix is singular, 2 if the model's
    code raised at a stage, 3 if the Jacobian cannot be used (it raised, or an entry is
    beyond _JAC_LIMIT)."""
    n = _model_n_states(model)
    # The analytic Jacobian: a non-finite entry is caught with those beyond _JAC_LIMIT.
    _model_jac(model, y, pp, jac)
    for i in range(n):
        for j in range(n):
            if not abs(jac[i, j]) <= _JAC_LIMIT:
                return 3
    inv_hg = 1.0 / (h * _RG)
    for i in range(n):
        for j in range(n):
            w[_J0 + i, j] = -jac[i, j]
        w[_J0 + i, i] += inv_hg
    if not _lu(model, w):
        return 1
    raised = False
    k1, k2, k3, k4, k5, k6 = w[_K2], w[_K3], w[_K4], w[_K5], w[_K6], w[_ERR]
    ytmp = w[_YTMP]
    ih = 1.0 / h
    for i in range(n):
        k1[i] = f0[i]
    _lu_solve(model, w, k1)
    for i in range(n):
        ytmp[i] = y[i] + _RA21 * k1[i]
    raised |= not _f(model, ytmp, pp, k2)
    for i in range(n):
        k2[i] += ih * _RC21 * k1[i]
    _lu_solve(model, w, k2)
    for i in range(n):
        ytmp[i] = y[i] + _RA31 * k1[i] + _RA32 * k2[i]
    raised |= not _f(model, ytmp, pp, k3)
    for i in range(n):
        k3[i] += ih * (_RC31 * k1[i] + _RC32 * k2[i])
    _lu_solve(model, w, k3)
    for i in range(n):
        ytmp[i] = y[i] + _RA41 * k1[i] + _RA42 * k2[i] + _RA43 * k3[i]
    raised |= not _f(model, ytmp, pp, k4)
    for i in range(n):
        k4[i] += ih * (_RC41 * k1[i] + _RC42 * k2[i] + _RC43 * k3[i])
    _lu_solve(model, w, k4)
    for i in range(n):
        ytmp[i] = y[i] + _RA51 * k1[i] + _RA52 * k2[i] + _RA53 * k3[i] + _RA54 * k4[i]
    raised |= not _f(model, ytmp, pp, k5)
    for i in range(n):
        k5[i] += ih * (_RC51 * k1[i] + _RC52 * k2[i] + _RC53 * k3[i] + _RC54 * k4[i])
    _lu_solve(model, w, k5)
    for i in range(n):
        ytmp[i] += k5[i]
    raised |= not _f(model, ytmp, pp, k6)
    for i in range(n):
        k6[i] += ih * (_RC61 * k1[i] + _RC62 * k2[i] + _RC63 * k3[i] + _RC64 * k4[i] + _RC65 * k5[i])
    _lu_solve(model, w, k6)
    ynew = w[_YNEW]
    for i in range(n):
        ynew[i] = ytmp[i] + k6[i]
    return 2 if raised else 0


@njit(cache=True, nogil=True, error_model="numpy")
def _locate_fall(w, g_old, g_new, h, t, index):
    """Fraction of the last step at which state ``index`` (a buffer) first reaches 0, by the
    Illinois variant of regula falsi on [0, 1] (g(0) = g_old >= 0 >= g(1) = g_new)."""
    if g_old == 0.0:
        return 0.0
    if g_new == 0.0:
        return 1.0
    a, b = 0.0, 1.0
    fa, fb = g_old, g_new
    side = 0
    for _ in range(200):
        c = (a * fb - b * fa) / (fb - fa)
        fc = _dense(w, c, index)
        if fc == 0.0:
            return c
        if fc > 0.0:
            a, fa = c, fc
            if side == -1:
                fb *= 0.5
            side = -1
        else:
            b, fb = c, fc
            if side == 1:
                fa *= 0.5
            side = 1
        if (b - a) * h <= 4.0 * _EPS * max(abs(t), 1.0):
            break
    # The first time the buffer is <= 0: the bracket's right end.
    return b


# --- one run: setup, the step loop, the stiff hand-over, the bookkeeping -------------------
#
# ``_run`` is the step loop: the Dormand-Prince stages and the step-size control stay in
# it (as a function of their own, even inlined by numba, the stages cost 10-15% of the
# engine's speed, measured with ``bench --only revision``); setup, the stiffness test,
# the dense output and the output bookkeeping are pieces of their own, inlined by numba
# (``inline="always"``), at no cost.

@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _start(model, p_in, y0, t0, t_end, t_freeze, t_out, y_out, w, pp):
    """Setup of one run from ``t0``: parameters into ``pp`` (acquisition off if the freeze is
    at or before t0), the state into w[_Y], the outputs at t <= 0 (a run that resumes at
    t0 > 0, after a firm's exit, has written those up to t0 already), and f(y0) into w[_K1].
    Returns (whether f(y0) could be evaluated, outputs written, whether a freeze is due)."""
    for j in range(p_in.shape[0]):
        pp[j] = p_in[j]
    _model_derive(model, pp)  # the parameter-only parts of the right-hand side, once per run
    y = w[_Y]
    n = _model_n_states(model)
    for i in range(n):
        y[i] = y0[i]
    # A freeze at or before t0 freezes the whole run; at or after t_end (or NaN) never.
    freeze_pending = t_freeze > t0 and t_freeze < t_end
    if t_freeze <= t0:
        pp[_ACQ] = 0.0
    j_out = 0
    while j_out < t_out.shape[0] and t_out[j_out] <= t0:
        if t0 <= 0.0:
            for i in range(n):
                y_out[j_out, i] = y[i]
        j_out += 1
    return _f(model, y, pp, w[_K1]), j_out, freeze_pending


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _looks_stiff(model, w, h):
    """dopri5.f's stiffness test after an accepted DOPRI5 step: h |lambda| estimated from
    stage 6 (w[_YTMP], w[_K6]) and the new point (w[_YNEW], w[_K7]), both at t + h."""
    num = 0.0
    den = 0.0
    for i in range(_model_n_states(model)):
        num += (w[_K7, i] - w[_K6, i]) ** 2
        den += (w[_YNEW, i] - w[_YTMP, i]) ** 2
    return den > 0.0 and h * math.sqrt(num / den) > _STIFF_H_LAMBDA


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _store_dense(model, w, h, rodas_step):
    """Continuous extension of the accepted step into w[_R1..R5]: dopri5.f's of order 4
    after a DOPRI5 step; the cubic Hermite interpolant (its first four terms) after Rodas4."""
    for i in range(_model_n_states(model)):
        y_i = w[_Y, i]
        dy = w[_YNEW, i] - y_i
        bspl = h * w[_K1, i] - dy
        w[_R1, i] = y_i
        w[_R2, i] = dy
        w[_R3, i] = bspl
        w[_R4, i] = dy - h * w[_K7, i] - bspl
        if rodas_step:
            w[_R5, i] = 0.0
        else:
            w[_R5, i] = h * (_D1 * w[_K1, i] + _D3 * w[_K3, i] + _D4 * w[_K4, i] + _D5 * w[_K5, i]
                             + _D6 * w[_K6, i] + _D7 * w[_K7, i])


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _emit(model, w, t, h, t_last, exact_end, t_out, y_out, j_out):
    """Outputs at the requested times in (t, t_last] of the last step, from its continuous
    extension; with ``exact_end`` a time at the step's end gets the new point itself.
    Returns the number of outputs written so far."""
    while j_out < t_out.shape[0] and t_out[j_out] <= t_last:
        if exact_end and t_out[j_out] >= t_last:
            for i in range(_model_n_states(model)):
                y_out[j_out, i] = w[_YNEW, i]
        else:
            th = (t_out[j_out] - t) / h
            for i in range(_model_n_states(model)):
                y_out[j_out, i] = _dense(w, th, i)
        j_out += 1
    return j_out


@njit(cache=True, nogil=True, error_model="numpy")
def _run(model, p_in, y0, t0, t_end, t_freeze, t_out, y_out, rtol, atol, max_steps,
         stiff_every, stiff_action, watch, w, pp, jac, info):
    """Integrate one run from ``t0``; returns its status. ``info`` gets [time reached (the
    fall time if it falls), accepted steps, rejected steps, rhs evaluations, solver, the
    position in ``watch`` of the buffer that reached 0]; ``w[_Y]`` the state there (at a
    fall, with that buffer set to exactly 0).

    ``watch`` holds the state indices of the buffers whose crossing of 0 from above stops
    the run (the firms still in the market; -1 entries are skipped): the earliest crossing
    within a step is the fall. DOPRI5 first; if the stiffness test of dopri5.f fires, the
    run goes on from where it is with Rodas4 (analytic Jacobian) to its end."""
    n = _model_n_states(model)
    y, ynew, ytmp, err_v = w[_Y], w[_YNEW], w[_YTMP], w[_ERR]
    k1, k2, k3, k4, k5, k6, k7 = w[_K1], w[_K2], w[_K3], w[_K4], w[_K5], w[_K6], w[_K7]
    ok, j_out, freeze_pending = _start(model, p_in, y0, t0, t_end, t_freeze, t_out, y_out, w, pp)
    info[5] = -1
    if not ok:
        info[0] = t0
        info[1] = 0
        info[2] = 0
        info[3] = 1
        info[4] = SOLVER_DOPRI5
        return RHS_ERROR
    t = t0
    nfev = 1
    steps = 0
    rejected = 0
    status = SURVIVES
    t_stop = t_freeze if freeze_pending else t_end
    h = _initial_step(model, y, k1, pp, t_stop - t, rtol, atol, w)
    nfev += 1
    h_next = h
    facold = 1e-4
    last_rejected = False
    first = True
    stiff = False
    n_stiff = 0
    n_nonstiff = 0
    n_watch = watch.shape[0]
    g_old = np.empty(n_watch)
    for e in range(n_watch):
        g_old[e] = y[watch[e]] if watch[e] >= 0 else np.nan
    raised = False  # the right-hand side raised in the last trial step
    used_rodas = False
    while True:
        if steps + rejected >= max_steps:
            status = MAX_STEPS
            break
        # Land exactly on the freeze time and on the end time (the right-hand side jumps at
        # the freeze, so a step must not straddle it).
        lands = False
        if t + 1.01 * h >= t_stop:
            h = t_stop - t
            lands = True
        if h <= 10.0 * _EPS * max(abs(t), 1.0):
            status = RHS_ERROR if raised else STEP_TOO_SMALL
            break
        raised = False
        rodas_step = stiff
        used_rodas |= stiff
        if rodas_step:
            # The stiff hand-over: Rodas4 with its own step-size control.
            code = _rodas_trial(model, y, k1, pp, h, w, jac)
            if code == 3:
                # Back to DOPRI5 from here (it re-tests for stiffness as before).
                stiff = False
                n_stiff = 0
                n_nonstiff = 0
                continue
            nfev += 5
            err = _norm(err_v, y, ynew, rtol, atol) if code == 0 else np.nan
            raised = code == 2
            if not math.isfinite(err):
                rejected += 1
                h *= _RFACREJ
                last_rejected = True
                continue
            fac = min(_RFACMAX, max(_RFACMIN, _RSAFE / err ** 0.25))
            if err > 1.0:
                rejected += 1
                h = h * _RFACREJ if (first or last_rejected) else h * fac
                last_rejected = True
                continue
            h_next = min(h * fac, h) if last_rejected else h * fac
            nfev += 1
            if not _f(model, ynew, pp, k7):  # the next step's f(y), and the interpolant's slope
                status = RHS_ERROR
                break
        else:
            for i in range(n):
                ytmp[i] = y[i] + h * _A21 * k1[i]
            raised |= not _f(model, ytmp, pp, k2)
            for i in range(n):
                ytmp[i] = y[i] + h * (_A31 * k1[i] + _A32 * k2[i])
            raised |= not _f(model, ytmp, pp, k3)
            for i in range(n):
                ytmp[i] = y[i] + h * (_A41 * k1[i] + _A42 * k2[i] + _A43 * k3[i])
            raised |= not _f(model, ytmp, pp, k4)
            for i in range(n):
                ytmp[i] = y[i] + h * (_A51 * k1[i] + _A52 * k2[i] + _A53 * k3[i] + _A54 * k4[i])
            raised |= not _f(model, ytmp, pp, k5)
            for i in range(n):
                ytmp[i] = y[i] + h * (_A61 * k1[i] + _A62 * k2[i] + _A63 * k3[i] + _A64 * k4[i]
                                      + _A65 * k5[i])
            raised |= not _f(model, ytmp, pp, k6)
            for i in range(n):
                ynew[i] = y[i] + h * (_A71 * k1[i] + _A73 * k3[i] + _A74 * k4[i] + _A75 * k5[i]
                                      + _A76 * k6[i])
            raised |= not _f(model, ynew, pp, k7)
            for i in range(n):
                err_v[i] = h * (_E1 * k1[i] + _E3 * k3[i] + _E4 * k4[i] + _E5 * k5[i] + _E6 * k6[i]
                                + _E7 * k7[i])
            nfev += 6
            err = _norm(err_v, y, ynew, rtol, atol)
            if not math.isfinite(err):
                # A trial point left the model's domain (a negative base of a power, say):
                # shrink hard, as a failed step.
                rejected += 1
                h *= _FACMIN
                last_rejected = True
                continue
            fac11 = err ** _EXPO1
            fac = fac11 / facold ** _BETA
            fac = max(1.0 / _FACMAX, min(1.0 / _FACMIN, fac / _SAFE))
            if err > 1.0:
                rejected += 1
                h = h / min(1.0 / _FACMIN, fac11 / _SAFE)
                last_rejected = True
                continue
            facold = max(err, 1e-4)
            h_next = min(h / fac, h) if last_rejected else h / fac
            # Stiffness test of dopri5.f, every `stiff_every` accepted steps and at every step
            # once it has fired.
            if stiff_action >= 0 and ((steps + 1) % stiff_every == 0 or n_stiff > 0):
                if _looks_stiff(model, w, h):
                    n_nonstiff = 0
                    n_stiff += 1
                    if n_stiff >= _STIFF_STEPS:
                        if stiff_action == 1:
                            status = STIFF
                            break
                        stiff = True
                else:
                    n_nonstiff += 1
                    if n_nonstiff >= 6:
                        n_stiff = 0
        # The step is accepted: bookkeeping.
        steps += 1
        first = False
        last_rejected = False
        t_new = t_stop if lands else t + h
        finite = True
        for i in range(n):
            if not math.isfinite(ynew[i]):
                finite = False
        if not finite:
            status = NON_FINITE
            break
        _store_dense(model, w, h, rodas_step)
        # A firm falls within this step (direction -1, solve_ivp's event test): the
        # earliest of the watched buffers' crossings.
        first_e = -1
        theta = 2.0
        for e in range(n_watch):
            if watch[e] >= 0:
                g_new = ynew[watch[e]]
                if g_old[e] >= 0.0 and g_new <= 0.0:
                    th_e = _locate_fall(w, g_old[e], g_new, h, t, watch[e])
                    if th_e < theta:
                        theta = th_e
                        first_e = e
                g_old[e] = g_new
        if first_e >= 0:
            t_fall = t + theta * h if theta < 1.0 else t_new
            j_out = _emit(model, w, t, h, t_fall, False, t_out, y_out, j_out)
            for i in range(n):
                y[i] = _dense(w, theta, i)
            y[watch[first_e]] = 0.0  # the root; drops a round-off of the order of atol
            t = t_fall
            info[5] = first_e
            status = FALLS
            break
        j_out = _emit(model, w, t, h, t_new, True, t_out, y_out, j_out)
        for i in range(n):
            y[i] = ynew[i]
            k1[i] = k7[i]
        t = t_new
        if lands:
            if t_stop >= t_end:
                break
            # Freeze: acquisition off from here on; the derivative jumps, so restart FSAL.
            pp[_ACQ] = 0.0
            nfev += 1
            if not _f(model, y, pp, k1):
                status = RHS_ERROR
                break
            freeze_pending = False
            t_stop = t_end
        h = min(h_next, t_stop - t)
    info[0] = t
    info[1] = steps
    info[2] = rejected
    info[3] = nfev
    info[4] = SOLVER_RODAS4 if used_rodas else SOLVER_DOPRI5
    return status


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _kernel(model, n_extended, pvecs, y0s, t0s, t_end, t_freeze, t_out, y_out, rtol, atol,
            max_steps, stiff_every, stiff_action, watch, status, t_reached, y_last, counts, fell):
    # ``model`` names the generated module (see _model_rhs): numba compiles one kernel per
    # sector size, and nothing of the model is fixed here.
    n_runs = pvecs.shape[0]
    n = y0s.shape[1]
    n_blocks = (n_runs + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
        w = np.zeros((_J0 + n + 1, n))
        pp = np.empty(n_extended)  # the parameters, then their derived values
        # jac_into writes only the structurally non-zero entries: start from zeros.
        jac = np.zeros((n, n))
        info = np.empty(6)
        for r in range(b * _BLOCK, min(n_runs, (b + 1) * _BLOCK)):
            st = _run(model, pvecs[r], y0s[r], t0s[r], t_end[r], t_freeze[r], t_out[r],
                      y_out[r], rtol, atol, max_steps, stiff_every, stiff_action, watch[r], w, pp, jac, info)
            status[r] = st
            t_reached[r] = info[0]
            for i in range(n):
                y_last[r, i] = w[_Y, i]
            counts[r, 0] = int(info[1])
            counts[r, 1] = int(info[2])
            counts[r, 2] = int(info[3])
            counts[r, 3] = int(info[4])
            fell[r] = int(info[5])


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _initial_kernel(model, pvecs, out):
    for r in prange(pvecs.shape[0]):
        out[r] = _model_initial(model, pvecs[r])


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _extend_kernel(model, pvecs, out):
    # The extended parameter vectors (derive_into) of the lane kernel, which has only the
    # right-hand side; nothing derived reads acquisition (codegen._NOT_HOISTED), so the freeze
    # needs no re-derivation.
    for r in prange(pvecs.shape[0]):
        for j in range(pvecs.shape[1]):
            out[r, j] = pvecs[r, j]
        _model_derive(model, out[r])


@njit(cache=True, nogil=True, error_model="numpy")
def _outputs_safe(model, y, p, out):
    try:
        _model_outputs(model, y, p, out)
    except Exception:  # noqa: BLE001 - a division by zero in the model's code
        for i in range(out.shape[0]):
            out[i] = np.nan


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _outputs_kernel(model, ys, pvecs, out):
    for r in prange(pvecs.shape[0]):
        _outputs_safe(model, ys[r], pvecs[r], out[r])


# --------------------------------------------------------------------------------------
# Python layer
# --------------------------------------------------------------------------------------


class _Threads:
    """Run a parallel kernel over ``tasks`` with no more threads than tasks: a thread with
    nothing to do still costs the launch (about 0.3 ms a call with OpenMP here), which is
    most of a single run's time (a dashboard run of eight firms makes 10-20 calls)."""

    def __init__(self, tasks: int):
        self.tasks = max(1, int(tasks))

    def __enter__(self):
        self.before = numba.get_num_threads()
        if self.tasks < self.before:
            numba.set_num_threads(self.tasks)

    def __exit__(self, *exc):
        numba.set_num_threads(self.before)
        return False


#: Sector sizes the engine integrates (``firm_count``'s choices; one generated module each).
FIRM_COUNTS = tuple(PARAMETER_SPECS["firm_count"].choices)
_FIRMS_BY_WIDTH = {len(param_names(k)): k for k in FIRM_COUNTS}


def firm_count_of(pvecs) -> int:
    """The number of firms whose parameter vectors ``pvecs`` (N, P) are: P says it."""
    width = np.shape(pvecs)[-1] if np.ndim(pvecs) else None
    if width not in _FIRMS_BY_WIDTH:
        allowed = ", ".join(f"{w} ({k} firm{'s' if k > 1 else ''})" for w, k in _FIRMS_BY_WIDTH.items())
        raise ValueError(f"`pvecs` must have shape (N, P) with P one of {allowed} "
                         f"(model.core.equations.param_names), got shape {np.shape(pvecs)}")
    return _FIRMS_BY_WIDTH[width]


def _as_pvecs(pvecs) -> np.ndarray:
    pvecs = np.ascontiguousarray(pvecs, dtype=np.float64)
    if pvecs.ndim != 2:
        raise ValueError(f"`pvecs` must have shape (N, {N_PARAMS}) (model.core.equations.PARAM_NAMES), "
                         f"got {pvecs.shape}")
    firm_count_of(pvecs)
    if not np.all(np.isfinite(pvecs)):
        bad = int(np.argwhere(~np.isfinite(pvecs))[0, 0])
        raise ValueError(f"`pvecs` must be finite; row {bad} is not")
    return pvecs


def _module(pvecs):
    """The generated model of the parameter vectors' sector size."""
    return generated_module(firm_count_of(pvecs))


def initial_states(pvecs) -> np.ndarray:
    """Initial states of the model, shape (N, S), for parameter vectors of shape (N, P)
    (S and P those of the sector's size: 6 and 53 for one firm)."""
    pvecs = _as_pvecs(pvecs)
    gen_n = _module(pvecs)
    out = np.empty((pvecs.shape[0], gen_n.N_STATES))
    with _Threads(pvecs.shape[0] // 64 + 1):
        _initial_kernel(_model_key(gen_n), pvecs, out)
    return out


def outputs_batch(ys, pvecs) -> np.ndarray:
    """Derived outputs (model.core.equations.output_names), shape (N, O), at states ``ys`` (N, S).

    Rows where the model's code raises (a division by zero) give NaN outputs.
    """
    pvecs = _as_pvecs(pvecs)
    gen_n = _module(pvecs)
    ys = np.ascontiguousarray(ys, dtype=np.float64)
    if ys.shape != (pvecs.shape[0], gen_n.N_STATES):
        raise ValueError(f"`ys` must have shape ({pvecs.shape[0]}, {gen_n.N_STATES}), got {ys.shape}")
    out = np.empty((pvecs.shape[0], gen_n.N_OUTPUTS))
    with _Threads(pvecs.shape[0] // 64 + 1):
        _outputs_kernel(_model_key(gen_n), ys, pvecs, out)
    return out


def pvecs_from_params(params_list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parameter vectors, initial states and horizons for a sequence of ``Parameters``.

    All must have the same ``firm_count`` (the width of the vectors depends on it); a
    sector of several firms gets its firms placed by :func:`model.core.firms.population`.

    Returns
    -------
    pvecs : ndarray, shape (N, P)
    y0s : ndarray, shape (N, S)
    horizons : ndarray, shape (N,)
    """
    params_list = list(params_list)
    counts = sorted({int(p.firm_count) for p in params_list})
    if len(counts) > 1:
        raise ValueError(f"`firm_count` differs between the parameter sets ({', '.join(map(str, counts))}): "
                         "one batch holds sectors of one size")
    n_firms = counts[0] if counts else 1
    width = len(param_names(n_firms))
    vec = param_vector if n_firms == 1 else firm_param_vector
    pvecs = np.array([vec(p) for p in params_list], dtype=np.float64).reshape(-1, width)
    horizons = np.array([float(p.horizon) for p in params_list], dtype=np.float64)
    return pvecs, initial_states(pvecs), horizons


@dataclass(frozen=True)
class EnsembleResult:
    """Outcome of :func:`integrate` for N runs.

    For a sector of several firms "falls" is the sector's fall (half of its initial
    incumbent capacity has exited, :data:`model.core.firms.SECTOR_FALL_CAPACITY`), and
    ``sectors`` holds each run's firms.

    Attributes
    ----------
    t_eval : ndarray, shape (N, n_t)
        Output times of each run (years).
    y : ndarray, shape (N, n_t, S)
        State at the output times; NaN at times after the incumbent falls (the model
        stops there) and after the last time a failed run reached.
    status : ndarray of int8, shape (N,)
        :data:`SURVIVES`, :data:`FALLS`, or a negative failure code; see :attr:`reason`.
    falls : ndarray of bool, shape (N,)
        The incumbent's buffer reached zero before ``t_end`` (False for failed runs:
        check ``status``).
    fall_time : ndarray, shape (N,)
        Fall time in years; NaN where the incumbent does not fall or the run failed.
    t_reached : ndarray, shape (N,)
        Time each run reached: ``t_end``, the fall time, or where a failed run stopped.
    y_last : ndarray, shape (N, S)
        State at ``t_reached`` (at the fall: buffer exactly 0).
    share_at_fall, gross_loss_at_fall : ndarray, shape (N,)
        Platform share of the sector's gross and the incumbent's gross loss against its
        initial gross (from the model's initial state) at the fall; NaN otherwise.
    n_steps, n_rejected, nfev : ndarray of int64, shape (N,)
        Accepted and rejected steps and right-hand-side evaluations of each run (for runs
        finished by the fallback, those of the fallback plus the explicit attempt).
    solver : ndarray of int8, shape (N,)
        :data:`SOLVER_DOPRI5`; :data:`SOLVER_RODAS4` if the run turned stiff and was
        finished by Rodas4; :data:`SOLVER_LSODA` if it was re-solved by the fallback.
    sectors : tuple of SectorFirms, optional
        Several firms: each run's firms (fall times, the readings at each firm's fall, the
        exit curve), as :func:`model.core.simulate.simulate` reports them. None for one firm.
    outputs : ndarray, shape (N, n_t, O), optional
        Several firms: the outputs (:func:`model.core.equations.output_names`: the sector
        totals of :data:`model.core.equations.OUTPUT_NAMES`, then each firm's) at the output
        times, with the firms in the market at each time. None for one firm (use
        :func:`outputs_batch`).
    pvecs_last : ndarray, shape (N, P), optional
        Several firms: each run's parameter vector as it ended (exited firms' flags at 0,
        debt written down by reorganisations), what its right-hand side at ``y_last`` reads.
        None for one firm (the vector given).
    redone : ndarray of bool, shape (N,), optional
        ``engine="lanes"``: the runs the lane kernel gave up (stiff or failed in DOPRI5) and
        the numba kernel redid from their start (in some pass, for several firms).
    """

    t_eval: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    status: np.ndarray
    falls: np.ndarray
    fall_time: np.ndarray
    t_reached: np.ndarray = field(repr=False)
    y_last: np.ndarray = field(repr=False)
    share_at_fall: np.ndarray = field(repr=False)
    gross_loss_at_fall: np.ndarray = field(repr=False)
    n_steps: np.ndarray = field(repr=False)
    n_rejected: np.ndarray = field(repr=False)
    nfev: np.ndarray = field(repr=False)
    solver: np.ndarray = field(repr=False)
    sectors: tuple | None = field(default=None, repr=False)
    outputs: np.ndarray | None = field(default=None, repr=False)
    pvecs_last: np.ndarray | None = field(default=None, repr=False)
    redone: np.ndarray | None = field(default=None, repr=False)

    @property
    def success(self) -> np.ndarray:
        """Runs that finished (survived or fell), shape (N,)."""
        return self.status >= 0

    @property
    def reason(self) -> list[str]:
        """One sentence per run saying how it ended (with the time for failures)."""
        out = []
        for st, t, sv in zip(self.status.tolist(), self.t_reached.tolist(), self.solver.tolist()):
            text = STATUS_REASONS[st]
            if st < 0:
                text += f" at t = {t:.6g} yr"
            elif sv != SOLVER_DOPRI5:
                text += f" (solver: {SOLVER_NAMES[sv]})"
            out.append(text)
        return out

    def firm_array(self, name: str) -> np.ndarray:
        """A per-firm quantity of every run, shape (N, n_firms): ``fall_time``,
        ``insolvency_time``, ``share_at_fall``, ``gross_loss_at_fall``,
        ``volume_share_at_fall``, ``firm_gross_loss_at_fall`` or ``sizes``."""
        if self.sectors is None:
            raise ValueError("`firm_array` is for sectors of several firms (this ensemble has one firm)")
        return np.array([getattr(sf, name) for sf in self.sectors], dtype=float)

    def __len__(self) -> int:
        return int(self.status.shape[0])


def _per_run(value, n: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"`{name}` must be a number or have shape ({n},), got shape {arr.shape}")
    return np.ascontiguousarray(arr)


#: Right-hand-side evaluations the LSODA fallback may spend on one run before it is
#: reported as failed (FALLBACK_FAILED): a few seconds of Python.
FALLBACK_EVALUATIONS = 200_000


class _FallbackBudget(Exception):
    """The fallback's budget of right-hand-side evaluations is spent."""


def _lsoda_one(gen_n, pvec, y0, t0, t_end, t_freeze, t_out, rtol, atol, watch):
    """One run with solve_ivp (LSODA, analytic Jacobian) from ``t0``, the same semantics as
    the kernel (``watch``: the buffers' state indices whose crossing of 0 stops the run).

    Returns (status, t_reached, y_last, y_at_t_out, written, nfev, position in ``watch``
    of the buffer that fell or -1); ``written`` marks the rows of ``y_at_t_out`` it set.
    """
    y_at = np.full((t_out.shape[0], y0.shape[0]), np.nan)
    written = np.zeros(t_out.shape[0], dtype=bool)
    p_now = pvec.copy()
    phases = []
    if t_freeze <= t0:
        p_now[_ACQ] = 0.0
        phases.append((t0, t_end, p_now))
    elif t_freeze < t_end:
        frozen = pvec.copy()
        frozen[_ACQ] = 0.0
        phases += [(t0, t_freeze, p_now), (t_freeze, t_end, frozen)]
    else:
        phases.append((t0, t_end, p_now))

    events = buffer_events(watch)
    y_start = np.asarray(y0, dtype=float)
    nfev = 0
    calls = [0]

    def rhs(t, y, pv):
        # A budget: a run the kernel could not finish can be one LSODA crawls through too
        # (a sector of firms over a long-run window, with a difference Jacobian); it is
        # reported as failed rather than left to hold up the batch for minutes.
        calls[0] += 1
        if calls[0] > FALLBACK_EVALUATIONS:
            raise _FallbackBudget
        return gen_n.rhs(y, pv)

    if t0 <= 0.0:
        written[t_out <= 0.0] = True
        y_at[t_out <= 0.0] = y_start
    for a, b, pv in phases:
        try:
            # Several firms: LSODA's own difference Jacobian (see _ol_jac for why).
            jac = (lambda t, y, pv=pv: gen_n.jac(y, pv)) if gen_n.N_FIRMS == 1 else None
            dense = bool(np.any((t_out > a) & (t_out <= b)))
            sol = solve_ivp(lambda t, y, pv=pv: rhs(t, y, pv), (a, b), y_start, method="LSODA",
                            jac=jac, rtol=rtol, atol=atol, events=events, dense_output=dense)
        except ZeroDivisionError:  # the model's code at a state where it is 0/0
            return RHS_ERROR, a, y_start, y_at, written, nfev, -1
        except _FallbackBudget:
            return FALLBACK_FAILED, a, y_start, y_at, written, FALLBACK_EVALUATIONS, -1
        nfev += int(sol.nfev)
        if sol.status == -1:
            return FALLBACK_FAILED, float(sol.t[-1]), sol.y[:, -1].copy(), y_at, written, nfev, -1
        fell = -1
        t_hi = b
        if sol.status == 1:
            fell, t_hi = min(((e, float(te[0])) for e, te in enumerate(sol.t_events) if te.size),
                             key=lambda et: et[1])
        sel = (t_out > a) & (t_out <= t_hi)
        if np.any(sel):
            y_at[sel] = sol.sol(t_out[sel]).T
            written |= sel
        if fell >= 0:
            y_fall = sol.y_events[fell][0].copy()
            y_fall[watch[fell]] = 0.0
            return FALLS, t_hi, y_fall, y_at, written, nfev, fell
        y_start = sol.y[:, -1].copy()
    if not np.all(np.isfinite(y_start)):
        return FALLBACK_FAILED, t_end, y_start, y_at, written, nfev, -1
    return SURVIVES, t_end, y_start, y_at, written, nfev, -1


#: Engines of :func:`integrate`: the lane-batched C kernel (:mod:`model.core.lanes`) with the
#: numba kernel for the runs it gives up, or the numba kernel alone.
ENGINES = ("lanes", "scalar")
#: Runs per lane kernel call at least (a chunk of a switch group): fewer leave lanes idle.
_LANE_CHUNK = 32
_pools: dict = {}


def _pool(threads: int):
    from concurrent.futures import ThreadPoolExecutor

    if threads not in _pools:
        _pools[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lanes")
    return _pools[threads]


def _switch_groups(gen_n, pvecs) -> list[np.ndarray]:
    """Rows of ``pvecs`` by their switch values (``chi_*``), each group in the rows' order:
    the lane kernel decides a switch's branches on lane 0 for every lane of a call."""
    names = param_names(int(gen_n.N_FIRMS))
    cols = [j for j, name in enumerate(names) if name.startswith("chi_")]
    keys = pvecs[:, cols]
    order = np.lexsort(keys.T[::-1]) if cols else np.arange(pvecs.shape[0])
    sorted_keys = keys[order]
    cuts = np.flatnonzero(np.any(sorted_keys[1:] != sorted_keys[:-1], axis=1)) + 1
    return np.split(order, cuts)


def _lanes_pass(gen_n, pvecs, y0s, t0s, t_end, t_freeze, t_out, y_out, watch, rtol, atol, max_steps, stiff_every,
                stiff_action, status, t_reached, y_last, counts, fell, lanes=None):
    """The lane kernel over every run, groups of equal switches split into chunks over the
    engine's threads (numba's count in this thread, as the numba kernel uses); returns the
    rows it gave up (negative status), whose outputs are restored to what they were."""
    n = pvecs.shape[0]
    pext = np.empty((n, gen_n.N_EXTENDED))
    with _Threads(n // 64 + 1):
        _extend_kernel(_model_key(gen_n), pvecs, pext)
    saved = y_out.copy() if t_out.shape[1] else None
    threads = numba.get_num_threads()
    chunks = []
    for group in _switch_groups(gen_n, pvecs):
        parts = max(1, min(threads, group.size // _LANE_CHUNK))
        chunks += np.array_split(group, parts)
    watch = np.ascontiguousarray(watch)
    t_out = np.ascontiguousarray(t_out)

    def one(rows):
        _lanes.run(int(gen_n.N_FIRMS), rows, pext, y0s, t0s, t_end, t_freeze, t_out, y_out, rtol, atol, max_steps,
                   stiff_every, stiff_action, watch, status, t_reached, y_last, counts, fell,
                   lanes=lanes or _lanes.DEFAULT_LANES)

    if threads > 1 and len(chunks) > 1:
        list(_pool(min(threads, len(chunks))).map(one, chunks))
    else:
        for rows in chunks:
            one(rows)
    redo = np.flatnonzero(status < 0)
    if saved is not None and redo.size:
        y_out[redo] = saved[redo]
    return redo


def _numba_pass(gen_n, rows, pvecs, y0s, t0s, t_end, t_freeze, t_out, y_out, watch, rtol, atol, max_steps,
                stiff_every, stiff_action, status, t_reached, y_last, counts, fell):
    """The numba kernel on ``rows`` (all runs if None), results written into their rows."""
    if rows is None:
        with _Threads((pvecs.shape[0] + _BLOCK - 1) // _BLOCK):
            _kernel(_model_key(gen_n), gen_n.N_EXTENDED, pvecs, y0s, t0s, t_end, t_freeze, t_out, y_out, float(rtol),
                    float(atol), int(max_steps), int(stiff_every), stiff_action, watch, status, t_reached, y_last,
                    counts, fell)
        return
    m = rows.size
    sub = [np.ascontiguousarray(a[rows]) for a in (pvecs, y0s, t0s, t_end, t_freeze, t_out, y_out, watch)]
    out = (np.empty(m, dtype=np.int8), np.empty(m), np.empty((m, y_last.shape[1])), np.zeros((m, 4), dtype=np.int64),
           np.full(m, -1, dtype=np.int64))
    _numba_pass(gen_n, None, *sub[:7], sub[7], rtol, atol, max_steps, stiff_every, stiff_action, *out)
    y_out[rows] = sub[6]
    for whole, part in zip((status, t_reached, y_last, counts, fell), out):
        whole[rows] = part


def _pass(gen_n, pvecs, y0s, t0s, t_end, t_freeze, t_out, y_out, watch, rtol, atol, max_steps, stiff_every,
          stiff_action, fallback, engine="scalar", lanes=None):
    """One pass of the kernel over the runs (each from its ``t0s``), with the LSODA
    fallback for the runs it could not finish. ``y_out`` is written in place at the output
    times the runs reach. With ``engine="lanes"`` the lane kernel integrates the runs and the
    numba kernel redoes, from their start, those it gave up (so stiff runs get Rodas4 and the
    fallback exactly as with ``"scalar"``). Returns (status, t_reached, y_last, counts,
    solver, fell, redone)."""
    n = pvecs.shape[0]
    status = np.empty(n, dtype=np.int8)
    t_reached = np.empty(n)
    y_last = np.empty((n, gen_n.N_STATES))
    counts = np.zeros((n, 4), dtype=np.int64)
    fell = np.full(n, -1, dtype=np.int64)
    redone = np.zeros(n, dtype=bool)
    if n:
        arrays = (pvecs, y0s, t0s, t_end, t_freeze, t_out, y_out, watch, rtol, atol, max_steps, stiff_every,
                  stiff_action, status, t_reached, y_last, counts, fell)
        if engine == "lanes" and int(gen_n.N_FIRMS) in _lanes.FIRM_COUNTS:
            rows = _lanes_pass(gen_n, *arrays, lanes=lanes)
            redone[rows] = True
            if rows.size:
                _numba_pass(gen_n, rows, *arrays)
        else:
            _numba_pass(gen_n, None, *arrays)
    solver = counts[:, 3].astype(np.int8)
    if fallback:
        for r in np.flatnonzero(status < 0):
            w = watch[r][watch[r] >= 0]
            st, tr, yl, y_at, written, nfev, e = _lsoda_one(gen_n, pvecs[r], y0s[r], t0s[r], t_end[r], t_freeze[r],
                                                            t_out[r], rtol, atol, w)
            status[r], t_reached[r], y_last[r] = st, tr, yl
            y_out[r, written] = y_at[written]
            counts[r, 2] += nfev
            solver[r] = SOLVER_LSODA
            # The kernel's position in its watch row of the buffer that fell.
            fell[r] = int(np.flatnonzero(watch[r] >= 0)[e]) if e >= 0 else -1
    return status, t_reached, y_last, counts, solver, fell, redone


def integrate(
    pvecs,
    y0s=None,
    t_eval=None,
    *,
    t_end=None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    freeze_times=None,
    max_steps: int = 20_000,
    fallback: bool = True,
    stiff: str = "rodas4",
    stiff_every: int = 1,
    reorganise=False,
    after_fall: str = "stop",
    fall_level: float = SECTOR_FALL_CAPACITY,
    engine: str = "auto",
    lanes: int | None = None,
) -> EnsembleResult:
    """Integrate N runs of the model at once (compiled, parallel over runs).

    Sectors of several firms (parameter vectors of :func:`model.core.equations.param_names`
    of n firms, :func:`pvecs_from_params`): each firm's liquidity is an event. A pass of the
    kernel integrates every run to its next firm's insolvency; the exit map of
    :class:`model.core.sector.ExitBook` (the one :func:`model.core.simulate.simulate` uses)
    writes the firm down or closes it and reassigns its customers; the runs with firms left
    go on from there in the next pass, so at most 2n + 1 passes are made. The run "falls"
    when half of its initial incumbent capacity has exited.

    Parameters
    ----------
    pvecs : array_like, shape (N, P)
        Parameter vectors in the order of ``model.core.equations.PARAM_NAMES``
        (:func:`model.core.equations.param_vector`, or :func:`pvecs_from_params`).
    y0s : array_like, shape (N, 6), optional
        Initial states; default the model's initial state of each parameter vector.
    t_eval : array_like, shape (n_t,) or (N, n_t), optional
        Output times (years), non-decreasing, in [0, t_end]; shared by all runs or one row
        per run. Default: no series, outcomes only (what sweeps need).
    t_end : float or array_like of shape (N,), optional
        End time of each run (the horizon). Default: the last output time.
    rtol, atol : float
        Tolerances of the per-run error control (scaled RMS norm of the embedded error, as
        in ``solve_ivp``).
    freeze_times : float or array_like of shape (N,), optional
        From this time on a run acquires no new customers (the acquisition indicator is
        set to 0, as ``simulate(..., freeze_acquisition_at=...)``). NaN, or a time at or
        after ``t_end``, means never; a time at or before 0 freezes the whole run.
    max_steps : int
        Step limit per run (accepted plus rejected) of the explicit kernel.
    fallback : bool
        Re-solve every run that failed in the kernel (step limit, step size underflow,
        a raise in the model's code, stopped as stiff) with ``solve_ivp`` (LSODA, analytic
        Jacobian); a run that fails there too gets :data:`FALLBACK_FAILED` or
        :data:`RHS_ERROR`. Without it, failed runs keep the kernel's status.
    stiff : {"rodas4", "stop", "ignore"}
        What a run does when DOPRI5's stiffness test fires: go on with Rodas4; stop (status
        :data:`STIFF`, then the fallback if on); or carry on with DOPRI5.
    stiff_every : int
        Accepted DOPRI5 steps between stiffness tests (``NSTIFF`` of dopri5.f, whose default
        is 1000; once the test has fired it runs at every step until the run switches or
        calms down). Default 1: over the parameter bounds, testing at every step was twice
        as fast as every 1000 steps, because stiff runs switch to Rodas4 early.

    reorganise : bool or array_like of bool, shape (N,)
        Several firms: ``insolvency = "reorganisation"`` (a firm's first insolvency writes
        its debt down and it goes on; its second closes it). One firm: the run stops at the
        first insolvency either way (as the one-firm ``simulate`` reports its fall).
    after_fall : {"stop", "continue"}
        Several firms: stop a run at the sector's fall (what the tipping measures need), or
        follow it to the horizon or the last firm's exit (the whole exit curve).
    fall_level : float
        Several firms: the share of the initial incumbent capacity whose exit is the
        sector's fall (default :data:`model.core.firms.SECTOR_FALL_CAPACITY`, one half; a
        level below the smallest firm's size makes the first exit the fall).
    engine : {"auto", "lanes", "scalar"}
        ``"lanes"``: the lane-batched C kernel (:mod:`model.core.lanes`; runs of equal
        switches side by side in SIMD lanes), with the numba kernel redoing from their start
        the runs it gives up (stiff, failed), so those end exactly as with ``"scalar"``;
        ``"scalar"``: the numba kernel alone; ``"auto"`` (default): lanes if its library
        is built, else scalar.
    lanes : int, optional
        Lanes per call of the lane kernel (:data:`model.core.lanes.LANE_COUNTS`; default
        :data:`model.core.lanes.DEFAULT_LANES`).

    Returns
    -------
    EnsembleResult

    Raises
    ------
    ValueError
        For arrays of the wrong shape, non-finite inputs, bad tolerances or output times
        outside [0, t_end].
    """
    pvecs = _as_pvecs(pvecs)
    n = pvecs.shape[0]
    n_firms = firm_count_of(pvecs)
    gen_n = generated_module(n_firms)
    n_states = gen_n.N_STATES
    if y0s is None:
        y0s = initial_states(pvecs)
    y0s = np.ascontiguousarray(y0s, dtype=np.float64)
    if y0s.shape != (n, n_states) or not np.all(np.isfinite(y0s)):
        raise ValueError(f"`y0s` must be finite with shape ({n}, {n_states}), got shape {y0s.shape}")
    if not (0.0 < fall_level <= 1.0):
        raise ValueError(f"`fall_level` must be in (0, 1] (a share of the initial capacity), got {fall_level!r}")
    if after_fall not in ("stop", "continue"):
        raise ValueError(f"`after_fall` must be 'stop' or 'continue', got {after_fall!r}")
    reorganise = np.broadcast_to(np.asarray(reorganise, dtype=bool), (n,))
    if not (np.isfinite(rtol) and np.isfinite(atol) and rtol > 0 and atol > 0):
        raise ValueError(f"`rtol` and `atol` must be positive and finite, got {rtol!r}, {atol!r}")
    if rtol < 100 * _EPS:
        raise ValueError(f"`rtol` must be at least {100 * _EPS:.3g} (100 machine epsilons), got {rtol!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"`max_steps` must be a positive integer, got {max_steps!r}")
    if stiff not in _STIFF_ACTIONS:
        raise ValueError(f"`stiff` must be one of {', '.join(map(repr, _STIFF_ACTIONS))}, got {stiff!r}")
    if isinstance(stiff_every, bool) or not isinstance(stiff_every, (int, np.integer)) or stiff_every < 1:
        raise ValueError(f"`stiff_every` must be a positive integer, got {stiff_every!r}")

    if t_eval is None:
        t_out = np.zeros((n, 0))
    else:
        t_out = np.asarray(t_eval, dtype=np.float64)
        if t_out.ndim == 1:
            t_out = np.broadcast_to(t_out, (n, t_out.shape[0]))
        if t_out.ndim != 2 or t_out.shape[0] != n:
            raise ValueError(f"`t_eval` must have shape (n_t,) or ({n}, n_t), got {np.shape(t_eval)}")
        if not np.all(np.isfinite(t_out)) or np.any(np.diff(t_out, axis=1) < 0) or np.any(t_out < 0):
            raise ValueError("`t_eval` must hold finite, non-negative, non-decreasing times")
    if t_end is None:
        if t_out.shape[1] == 0:
            raise ValueError("give `t_end` (the horizon) or `t_eval`")
        t_end = t_out[:, -1]
    t_end = _per_run(t_end, n, "t_end")
    if not np.all(np.isfinite(t_end)) or np.any(t_end <= 0):
        raise ValueError("`t_end` must be finite and positive")
    if t_out.shape[1] and np.any(t_out[:, -1] > t_end):
        raise ValueError("`t_eval` must lie within [0, t_end]")
    t_freeze = np.full(n, np.nan) if freeze_times is None else _per_run(freeze_times, n, "freeze_times")

    # One memory layout for every call: numba compiles (and caches) one kernel per layout,
    # and a sector of firms' kernel takes minutes to compile.
    t_out = np.ascontiguousarray(t_out)
    y_out = np.full((n, t_out.shape[1], n_states), np.nan)
    stiff_action = _STIFF_ACTIONS[stiff]
    engine = _engine_of(engine, lanes)
    if n_firms > 1:
        return _integrate_sectors(gen_n, pvecs, y0s, t_out, y_out, t_end, t_freeze, rtol, atol, max_steps,
                                  stiff_every, stiff_action, fallback, reorganise, after_fall == "stop", fall_level,
                                  engine, lanes)
    watch = np.full((n, 1), BUFFER_INDEX, dtype=np.int64)
    status, t_reached, y_last, counts, solver, _, redone = _pass(
        gen_n, pvecs, y0s, np.zeros(n), t_end, t_freeze, t_out, y_out, watch, rtol, atol, max_steps, stiff_every,
        stiff_action, fallback, engine, lanes)
    falls = status == FALLS
    fall_time = np.where(falls, t_reached, np.nan)
    share = np.full(n, np.nan)
    loss = np.full(n, np.nan)
    if np.any(falls):
        idx = np.flatnonzero(falls)
        out_fall = outputs_batch(y_last[idx], pvecs[idx])
        revenue0 = outputs_batch(initial_states(pvecs[idx]), pvecs[idx])[:, _REVENUE]
        share[idx] = out_fall[:, _SHARE_OF_GROSS]
        loss[idx] = 1.0 - out_fall[:, _REVENUE] / revenue0
    return EnsembleResult(
        t_eval=np.ascontiguousarray(t_out), y=y_out, status=status, falls=falls, fall_time=fall_time,
        t_reached=t_reached, y_last=y_last, share_at_fall=share, gross_loss_at_fall=loss,
        n_steps=counts[:, 0].copy(), n_rejected=counts[:, 1].copy(), nfev=counts[:, 2].copy(), solver=solver,
        redone=redone,
    )


def _engine_of(engine: str, lanes) -> str:
    """``"lanes"`` or ``"scalar"`` for :func:`integrate`'s ``engine`` and ``lanes``."""
    if engine not in ENGINES + ("auto",):
        raise ValueError(f"`engine` must be 'auto', 'lanes' or 'scalar', got {engine!r}")
    if lanes is not None and lanes not in _lanes.LANE_COUNTS:
        raise ValueError(f"`lanes` must be one of {', '.join(map(str, _lanes.LANE_COUNTS))}, got {lanes!r}")
    if engine == "auto":
        return "lanes" if _lanes.available() else "scalar"
    if engine == "lanes" and not _lanes.available():
        raise ValueError(f"engine='lanes' is not available: {_lanes.load_error()}")
    return engine


def _integrate_sectors(gen_n, pvecs, y0s, t_out, y_out, t_end, t_freeze, rtol, atol, max_steps, stiff_every,
                       stiff_action, fallback, reorganise, stop_at_fall, fall_level=SECTOR_FALL_CAPACITY,
                       engine="scalar", lanes=None):
    """:func:`integrate` for sectors of several firms: passes of the kernel between exits."""
    n, n_firms = pvecs.shape[0], int(gen_n.N_FIRMS)
    buffers = np.array(buffer_indices(n_firms), dtype=np.int64)
    pv = pvecs.copy()  # the books change it: firms exit, debt is written down
    books = [ExitBook(gen_n, pv[r], y0s[r], bool(reorganise[r]), fall_level) for r in range(n)]
    y_cur = y0s.copy()
    t0 = np.zeros(n)
    status = np.full(n, SURVIVES, dtype=np.int8)
    t_reached = t_end.copy()
    y_last = y0s.copy()
    counts = np.zeros((n, 3), dtype=np.int64)
    solver = np.zeros(n, dtype=np.int8)
    redone = np.zeros(n, dtype=bool)
    watched: list = [None] * n
    watch = np.full((n, n_firms), -1, dtype=np.int64)
    # The sector's outputs at the output times, with the firms in the market then (an
    # exited firm's flag is 0 from its exit on, so they cannot be computed afterwards).
    n_t = t_out.shape[1]
    o_out = np.full((n, n_t, gen_n.N_OUTPUTS), np.nan)
    active = np.arange(n)
    while active.size:
        for r in active:
            watched[r] = books[r].watched(y_cur[r])
            watch[r] = -1
            watch[r, :len(watched[r])] = buffers[watched[r]]
        y_part = y_out[active]
        st, tr, yl, cn, sv, fell, rd = _pass(gen_n, pv[active], y_cur[active], t0[active], t_end[active],
                                             t_freeze[active], t_out[active], y_part, watch[active], rtol, atol,
                                             max_steps, stiff_every, stiff_action, fallback, engine, lanes)
        redone[active] |= rd
        if n_t:
            fresh = np.isnan(o_out[active, :, 0]) & np.all(np.isfinite(y_part), axis=2)
            rows, cols = np.nonzero(fresh)
            if rows.size:
                out = outputs_batch(y_part[rows, cols], pv[active][rows])
                o_out[active[rows], cols] = out
        y_out[active] = y_part
        counts[active] += cn[:, :3]
        solver[active] = np.maximum(solver[active], sv)
        going = []
        for i, r in enumerate(active.tolist()):
            t_reached[r], y_last[r] = tr[i], yl[i]
            if st[i] < 0:
                status[r] = st[i]
                continue
            if st[i] == SURVIVES:
                continue
            book = books[r]
            y_next = book.hit(float(tr[i]), yl[i], watched[r][int(fell[i])], watched[r])
            if book.sector_fall is not None and stop_at_fall:
                continue
            if book.ended or tr[i] >= t_end[r]:
                continue
            y_cur[r], t0[r] = y_next, tr[i]
            going.append(r)
        active = np.array(going, dtype=np.int64)
    fall_time = np.full(n, np.nan)
    share = np.full(n, np.nan)
    loss = np.full(n, np.nan)
    for r, book in enumerate(books):
        point = book.sector_fall
        if point is not None and status[r] >= 0:
            status[r] = FALLS
            fall_time[r], share[r], loss[r] = point["t"], point["platform_share_of_gross"], point["incumbent_gross_loss"]
    falls = status == FALLS
    return EnsembleResult(
        t_eval=np.ascontiguousarray(t_out), y=y_out, status=status, falls=falls, fall_time=fall_time,
        t_reached=t_reached, y_last=y_last, share_at_fall=share, gross_loss_at_fall=loss,
        n_steps=counts[:, 0].copy(), n_rejected=counts[:, 1].copy(), nfev=counts[:, 2].copy(), solver=solver,
        sectors=tuple(book.result() for book in books), outputs=o_out, pvecs_last=pv, redone=redone,
    )


# --------------------------------------------------------------------------------------
# Point of no return, many at once
# --------------------------------------------------------------------------------------


#: The long-run window of the point of no return (years): the unfrozen run is followed this
#: long from the start and every frozen run this long after its freeze, whatever horizon
#: the file watches (the horizon's own upper bound, so no file can watch beyond it).
FATE_YEARS = 200.0
#: Windows of the point of no return: ``"long_run"`` (the fate, :data:`FATE_YEARS` and the
#: terminal-drift test) or ``"horizon"`` (the first version's: falls within the horizon).
PONR_WINDOWS = ("long_run", "horizon")
#: Output times (evenly spaced over the window) on which a never-tipping run's peak readings are read.
PEAK_POINTS = 201
_VOLUME_OUT = OUTPUT_NAMES.index("platform_volume")
_MARKET_OUT = OUTPUT_NAMES.index("market_size")


@dataclass(frozen=True)
class PonrBatch:
    """Points of no return of N parameter sets (shared definition in :mod:`model.analysis.tipping`).

    Attributes
    ----------
    outcome : ndarray of int8, shape (N,)
        :data:`PONR_TIPS` (0), :data:`PONR_NEVER_TIPS` (1), :data:`PONR_ALWAYS_FALLS` (2),
        or :data:`PONR_FAILED` (-1) if any integration it needed failed (see ``reason``).
    time : ndarray, shape (N,)
        Point of no return in years: the bracket's upper end for "tips", 0 for
        "always_falls", NaN otherwise.
    share, gross_loss, volume_share : ndarray, shape (N,)
        The three readings of the platform's progress on the unfrozen trajectory at
        ``time``: its share of the sector's gross, the incumbents' loss of their own gross
        (against their starting gross), its share of the sector's volume (customers' units).
    lo, hi : ndarray, shape (N,)
        Bracket: freezing at ``lo`` the incumbent survives, at ``hi`` it falls.
    share_lo, gross_loss_lo, volume_share_lo : ndarray, shape (N,)
        The same readings at ``lo``.
    fall_time : ndarray, shape (N,)
        Fall time of the unfrozen run (NaN if it does not fall within its window).
    frozen_fall_time : ndarray, shape (N,)
        When the run frozen at ``hi`` falls (projected by the terminal-drift test where
        ``by_drift``).
    by_drift : ndarray of bool, shape (N,)
        The fall of the run frozen at ``hi`` is the terminal-drift test's, not seen inside
        the window.
    unsettled : ndarray of bool, shape (N,)
        The unfrozen run survived its window with some firm's liquidity still falling (a
        fall later than the window cannot be ruled out); "never_tips" there is conditional
        on the window.
    peak_share, peak_gross_loss, peak_volume_share : ndarray, shape (N,)
        Draws that never tip: the highest value of each reading on the unfrozen run over
        its window, on :data:`PEAK_POINTS` evenly spaced times (NaN for the other draws).
    evaluations : ndarray of int64, shape (N,)
        Integrations used per parameter set.
    status : ndarray of int8, shape (N,)
        Worst engine status met (0 if all integrations finished).
    tolerance : float
        Bisection tolerance in years.
    window : str
        ``"long_run"`` or ``"horizon"`` (:data:`PONR_WINDOWS`).
    sectors : tuple of SectorFirms, optional
        Several firms: each unfrozen run's firms up to the sector's fall (its first
        failure, who fell when); None for one firm.
    """

    outcome: np.ndarray
    time: np.ndarray
    share: np.ndarray
    gross_loss: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    share_lo: np.ndarray
    gross_loss_lo: np.ndarray
    fall_time: np.ndarray
    evaluations: np.ndarray
    status: np.ndarray
    tolerance: float
    sectors: tuple | None = None
    volume_share: np.ndarray | None = None
    volume_share_lo: np.ndarray | None = None
    frozen_fall_time: np.ndarray | None = None
    by_drift: np.ndarray | None = None
    unsettled: np.ndarray | None = None
    window: str = "long_run"
    peak_share: np.ndarray | None = None
    peak_gross_loss: np.ndarray | None = None
    peak_volume_share: np.ndarray | None = None

    @property
    def outcome_names(self) -> list[str]:
        return [PONR_OUTCOMES[int(o)] for o in self.outcome]

    @property
    def reason(self) -> list[str]:
        """Why each point of no return is what it is (failures say which solve failed)."""
        out = []
        for o, st in zip(self.outcome.tolist(), self.status.tolist()):
            out.append(PONR_OUTCOMES[o] if o != PONR_FAILED else f"failed: {STATUS_REASONS[st]}")
        return out

    def __len__(self) -> int:
        return int(self.outcome.shape[0])


def drift_projection(gen_n, y, pv, sizes=None, capacity_exited: float = 0.0,
                     fall_level: float = SECTOR_FALL_CAPACITY) -> tuple[bool, float, bool]:
    """The terminal-drift test on one run that survived its window, at its end state.

    At the end of the window each firm still in the market has a liquidity ``B`` and a
    drift ``dB/dt`` (the model's right-hand side at state ``y`` with the parameter vector
    ``pv`` in force then: acquisition off for a frozen run, exited firms' flags at 0). A
    firm whose liquidity would reach zero within another :data:`FATE_YEARS` at that drift
    is projected to fail ``B / |dB/dt|`` later; the run falls by drift when the firms
    projected to fail bring the capacity exited (``capacity_exited`` so far, firm sizes
    ``sizes``) to ``fall_level`` (one firm: when it is projected to fail). A projection,
    not a proof: it assumes that the drift at the end of a long window persists, as it
    does on a path near its long-run course; a slower decline (a runway longer than a
    window) counts as survival.

    Returns
    -------
    (falls, runway, falling) : (bool, float, bool)
        Whether the run falls by drift, after how many more years (NaN if not), and
        whether some firm's liquidity is falling at all at the end.
    """
    n_firms = int(gen_n.N_FIRMS) if hasattr(gen_n, "N_FIRMS") else 1
    buffers = np.array(buffer_indices(n_firms))
    drift = np.asarray(gen_n.rhs(np.asarray(y, dtype=float), pv))[buffers]
    level = np.asarray(y, dtype=float)[buffers]
    if n_firms > 1:
        names = param_names(n_firms)
        alive = np.array([pv[names.index(f"firm_alive_{i + 1}")] > 0.5 for i in range(n_firms)])
    else:
        alive = np.ones(1, dtype=bool)
    scale = max(float(np.max(np.abs(level))), 1.0)
    falling = alive & (drift < -1e-12 * scale)
    if not falling.any():
        return False, math.nan, False
    runway = np.where(falling, level / np.maximum(-drift, 1e-300), np.inf)
    if n_firms == 1:
        return bool(runway[0] < FATE_YEARS), (float(runway[0]) if runway[0] < FATE_YEARS else math.nan), True
    exited = float(capacity_exited)
    for k in np.argsort(runway):
        if not runway[k] < FATE_YEARS:
            break
        exited += float(sizes[k])
        if exited >= fall_level - 1e-12:
            return True, float(runway[k]), True
    return False, math.nan, True


def terminal_drift(res: EnsembleResult, pvecs, frozen, fall_level: float = SECTOR_FALL_CAPACITY):
    """:func:`drift_projection` on every run of ``res`` that survived its window.

    Returns
    -------
    falls : ndarray of bool, shape (N,)
        The run falls by drift (False for runs that fell or failed inside the window).
    fall_time : ndarray, shape (N,)
        The projected fall (NaN where not ``falls``).
    unsettled : ndarray of bool, shape (N,)
        A survivor (by drift too) with some firm's liquidity falling at the end.
    """
    n = res.status.shape[0]
    falls = np.zeros(n, dtype=bool)
    when = np.full(n, np.nan)
    unsettled = np.zeros(n, dtype=bool)
    gen_n = generated_module(firm_count_of(pvecs))
    frozen = np.broadcast_to(np.asarray(frozen, dtype=bool), (n,))
    for r in np.flatnonzero(res.status == SURVIVES):
        pv = (res.pvecs_last[r] if res.pvecs_last is not None else pvecs[r]).copy()
        if frozen[r]:
            pv[_ACQ] = 0.0
        firms = res.sectors[r] if res.sectors is not None else None
        fell, runway, falling = drift_projection(
            gen_n, res.y_last[r], pv, None if firms is None else firms.sizes,
            0.0 if firms is None else firms.capacity_exited, fall_level)
        if fell:
            falls[r], when[r] = True, res.t_reached[r] + runway
        else:
            unsettled[r] = falling
    return falls, when, unsettled


def point_of_no_return_batch(pvecs, y0s=None, horizon=None, tol: float = 0.01, *, rtol: float = 1e-6,
                             atol: float = 1e-9, max_steps: int = 20_000, reorganise=False,
                             window: str = "long_run", fall_level: float = SECTOR_FALL_CAPACITY) -> PonrBatch:
    """Point of no return of many parameter sets at once, by bisection on the freeze time.

    The shared definition (see :mod:`model.analysis.tipping`): F(t*) is "the incumbent falls
    when all acquisition is frozen from t* on". With ``window="long_run"`` (the default)
    "falls" is its long-run fate: the frozen run is followed :data:`FATE_YEARS` past its
    freeze, and a survivor whose liquidity would run out within another window at its
    end drift falls by drift (:func:`terminal_drift`); the unfrozen run is followed
    :data:`FATE_YEARS` from the start. The horizon then plays no part. With
    ``window="horizon"``, "falls" is "falls within the horizon" (the first version's
    measure, which moves with the horizon). "never_tips" if the unfrozen run survives;
    "always_falls" if F(0); otherwise bisection on [0, fall_time] keeping F(lo) false and
    F(hi) true until hi - lo <= tol. F is assumed monotone in t* (freezing later never
    rescues the incumbent); the bisection finds one switch point of F.

    Parameters
    ----------
    pvecs : array_like, shape (N, P)
    y0s : array_like, shape (N, 6), optional
        Default: the model's initial states.
    horizon : float or array_like of shape (N,), optional
        Horizon of each run (years): required with ``window="horizon"``, unused otherwise.
    tol : float
        Bisection tolerance (years).
    rtol, atol, max_steps, reorganise :
        Passed to :func:`integrate`.
    window : {"long_run", "horizon"}
    fall_level : float
        Several firms: the share of the initial capacity whose exit is the fall (default
        one half, the sector's fall; below the smallest firm's size, the first failure).

    Returns
    -------
    PonrBatch
    """
    pvecs = _as_pvecs(pvecs)
    n = pvecs.shape[0]
    if window not in PONR_WINDOWS:
        raise ValueError(f"`window` must be one of {', '.join(map(repr, PONR_WINDOWS))}, got {window!r}")
    long_run = window == "long_run"
    if long_run:
        horizon = np.full(n, FATE_YEARS)
    elif horizon is None:
        raise ValueError("`horizon` is required with window='horizon' (a number or one per run)")
    horizon = _per_run(horizon, n, "horizon")
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating, np.integer)) \
            or not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"`tol` must be a positive finite number of years, got {tol!r}")
    if y0s is None:
        y0s = initial_states(pvecs)
    y0s = np.ascontiguousarray(y0s, dtype=np.float64)
    kw = dict(rtol=rtol, atol=atol, max_steps=max_steps, fall_level=fall_level)
    reorg = np.array(np.broadcast_to(np.asarray(reorganise, dtype=bool), (n,)))

    def frozen_run(idx, t_star):
        """F at t_star for the runs idx: (result, falls, fall time, by drift)."""
        t_end = t_star + FATE_YEARS if long_run else horizon[idx]
        res = integrate(pvecs[idx], y0s[idx], t_end=t_end, freeze_times=t_star, reorganise=reorg[idx], **kw)
        falls, when, drift = res.falls.copy(), res.fall_time.copy(), np.zeros(idx.size, dtype=bool)
        if long_run:
            drift, projected, _ = terminal_drift(res, pvecs[idx], True, fall_level)
            falls |= drift
            when = np.where(drift, projected, when)
        return res, falls, when, drift

    free = integrate(pvecs, y0s, t_end=horizon, reorganise=reorg, **kw)
    unsettled = terminal_drift(free, pvecs, False, fall_level)[2] if long_run else np.zeros(n, dtype=bool)
    evaluations = np.ones(n, dtype=np.int64)
    worst = np.where(free.status < 0, free.status, 0).astype(np.int8)
    outcome = np.full(n, PONR_FAILED, dtype=np.int8)
    outcome[free.status == SURVIVES] = PONR_NEVER_TIPS
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    frozen_fall = np.full(n, np.nan)
    by_drift = np.zeros(n, dtype=bool)

    cand = np.flatnonzero(free.falls)
    if cand.size:
        at0, f0, when0, drift0 = frozen_run(cand, np.zeros(cand.size))
        evaluations[cand] += 1
        worst[cand] = np.minimum(worst[cand], np.where(at0.status < 0, at0.status, 0))
        always = cand[f0]
        outcome[always] = PONR_ALWAYS_FALLS
        lo[always] = hi[always] = 0.0
        frozen_fall[always], by_drift[always] = when0[f0], drift0[f0]
        tips = cand[(at0.status == SURVIVES) & ~f0]
        outcome[tips] = PONR_TIPS
        lo[tips] = 0.0
        hi[tips] = frozen_fall[tips] = free.fall_time[tips]
        active = tips[hi[tips] - lo[tips] > tol]
        while active.size:
            mid = 0.5 * (lo[active] + hi[active])
            # Runs whose lo and hi are adjacent floats cannot narrow further (a tol below
            # the float spacing would otherwise loop forever on the same end): they stop.
            narrowing = (lo[active] < mid) & (mid < hi[active])
            active, mid = active[narrowing], mid[narrowing]
            if not active.size:
                break
            res, falls, when, drift = frozen_run(active, mid)
            evaluations[active] += 1
            failed = res.status < 0
            worst[active] = np.minimum(worst[active], np.where(failed, res.status, 0))
            outcome[active[failed]] = PONR_FAILED
            fell = falls & ~failed
            hi[active[fell]] = mid[fell]
            frozen_fall[active[fell]], by_drift[active[fell]] = when[fell], drift[fell]
            survived = ~falls & ~failed
            lo[active[survived]] = mid[survived]
            active = active[~failed]
            active = active[hi[active] - lo[active] > tol]

    time = np.where(outcome == PONR_TIPS, hi, np.where(outcome == PONR_ALWAYS_FALLS, 0.0, np.nan))
    readings = {name: np.full(n, np.nan) for name in ("share", "loss", "volume", "share_lo", "loss_lo", "volume_lo")}
    measured = np.flatnonzero((outcome == PONR_TIPS) | (outcome == PONR_ALWAYS_FALLS))
    if measured.size:
        revenue0 = outputs_batch(initial_states(pvecs[measured]), pvecs[measured])[:, _REVENUE]
        t_pair = np.stack([lo[measured], hi[measured]], axis=1)
        # Readings on the unfrozen trajectory at lo and hi (one more integration).
        traj = integrate(pvecs[measured], y0s[measured], t_pair, t_end=horizon[measured],
                         reorganise=reorg[measured], **kw)
        evaluations[measured] += 1
        for col, suffix in ((0, "_lo"), (1, "")):
            if traj.outputs is not None:  # several firms: with the firms in the market then
                out = np.nan_to_num(traj.outputs[:, col, :len(OUTPUT_NAMES)], nan=0.0)
            else:
                out = outputs_batch(np.nan_to_num(traj.y[:, col, :], nan=0.0), pvecs[measured])
            ok = np.all(np.isfinite(traj.y[:, col, :]), axis=1)
            readings["share" + suffix][measured] = np.where(ok, out[:, _SHARE_OF_GROSS], np.nan)
            readings["loss" + suffix][measured] = np.where(ok, 1.0 - out[:, _REVENUE] / revenue0, np.nan)
            readings["volume" + suffix][measured] = np.where(ok, out[:, _VOLUME_OUT] / out[:, _MARKET_OUT], np.nan)
        bad = measured[traj.status < 0]
        worst[bad] = np.minimum(worst[bad], traj.status[traj.status < 0])
        outcome[bad] = PONR_FAILED
        time[bad] = np.nan
    # Draws that never tip: the most the platform reaches on each reading over the window
    # (a platform that passes a level and leaves the incumbent standing refutes a
    # threshold below it).
    peak = {name: np.full(n, np.nan) for name in ("share", "loss", "volume")}
    never = np.flatnonzero(outcome == PONR_NEVER_TIPS)
    if never.size:
        grid = np.linspace(0.0, 1.0, PEAK_POINTS)[None, :] * horizon[never, None]
        traj = integrate(pvecs[never], y0s[never], grid, t_end=horizon[never], reorganise=reorg[never], **kw)
        evaluations[never] += 1
        if traj.outputs is not None:
            out = traj.outputs[:, :, :len(OUTPUT_NAMES)]
        else:
            out = outputs_batch(traj.y.reshape(-1, traj.y.shape[2]), np.repeat(pvecs[never], PEAK_POINTS, axis=0))
            out = out.reshape(never.size, PEAK_POINTS, -1)
        revenue0 = outputs_batch(initial_states(pvecs[never]), pvecs[never])[:, _REVENUE]
        with np.errstate(invalid="ignore", divide="ignore"):
            peak["share"][never] = np.nanmax(out[:, :, _SHARE_OF_GROSS], axis=1)
            peak["loss"][never] = np.nanmax(1.0 - out[:, :, _REVENUE] / revenue0[:, None], axis=1)
            peak["volume"][never] = np.nanmax(out[:, :, _VOLUME_OUT] / out[:, :, _MARKET_OUT], axis=1)
        bad = never[traj.status < 0]
        worst[bad] = np.minimum(worst[bad], traj.status[traj.status < 0])
        outcome[bad] = PONR_FAILED
    return PonrBatch(outcome=outcome, time=time, share=readings["share"], gross_loss=readings["loss"], lo=lo, hi=hi,
                     share_lo=readings["share_lo"], gross_loss_lo=readings["loss_lo"],
                     fall_time=free.fall_time.copy(), evaluations=evaluations, status=worst, tolerance=float(tol),
                     sectors=free.sectors, volume_share=readings["volume"], volume_share_lo=readings["volume_lo"],
                     frozen_fall_time=frozen_fall, by_drift=by_drift, unsettled=unsettled, window=window,
                     peak_share=peak["share"], peak_gross_loss=peak["loss"], peak_volume_share=peak["volume"])


def set_threads(n: int | None) -> int:
    """Use ``n`` numba threads in this thread (None: all); returns the number in use."""
    if n is not None:
        numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    return numba.get_num_threads()
