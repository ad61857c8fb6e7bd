"""Special functions of the equations: the binomial tail of threshold contagion, and the
smooth positive part of the capacity, dividend, credit and excess-cash rules.

Threshold (complex) contagion in the mean field: a customer with ``k`` close ties, each on
the platform with probability ``s``, has at least ``m`` of them there with probability

    P(X >= m) = sum_{j >= m} C(k, j) s^j (1 - s)^(k - j) = I_s(m, k - m + 1),

the regularised incomplete beta function, which also defines the tail for real ``k`` and
``m`` (so that both can be swept and calibrated continuously). Its derivative in ``s`` is
the beta density ``s^(m-1) (1 - s)^(k-m) / B(m, k - m + 1)``.

Two forms of each: a sympy ``Function`` (with its derivative, so that the analytic
Jacobian exists) and a numba kernel that the generated module calls. The kernels are safe
outside [0, 1] (a solver's trial point can overshoot by round-off): the tail is clamped to
0 or 1 there and the density is 0, and ``k < m`` (fewer ties than the threshold) gives 0.

References
----------
.. [1] W. H. Press et al., Numerical Recipes, 3rd ed. (2007), Sec. 6.4 (incomplete beta by
       its continued fraction, evaluated by the modified Lentz method).
.. [2] D. Centola and M. Macy, "Complex contagions and the weakness of long ties",
       American Journal of Sociology 113(3), 2007.
"""

from __future__ import annotations

import math

import sympy as sp
from numba import njit

__all__ = ["binomial_tail", "binomial_tail_density", "tail", "tail_density", "tail_dk", "tail_dm",
           "smooth_positive", "smooth_positive_slope", "positive_part", "positive_part_slope", "lambdify_modules"]

_TINY = 1e-300
_EPS = 1e-15


@njit(cache=True, nogil=True, error_model="numpy")
def _betacf(a, b, x):
    """Continued fraction of the incomplete beta function (modified Lentz, [1] Sec. 6.4)."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


@njit(cache=True, nogil=True, error_model="numpy")
def tail(s, k, m):
    """P(at least ``m`` of ``k`` close ties on the platform) at platform share ``s``."""
    if k < m:
        return 0.0
    if s <= 0.0:
        return 0.0
    if s >= 1.0:
        return 1.0
    a = m
    b = k - m + 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(s) + b * math.log1p(-s))
    # The continued fraction converges fast for s < (a + 1) / (a + b + 2); beyond, use the
    # symmetry I_s(a, b) = 1 - I_{1-s}(b, a).
    if s < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, s) / a
    return 1.0 - front * _betacf(b, a, 1.0 - s) / b


@njit(cache=True, nogil=True, error_model="numpy")
def tail_density(s, k, m):
    """d/ds of :func:`tail`: the beta density of (m, k - m + 1) at ``s`` (0 outside (0, 1))."""
    if k < m or s <= 0.0 or s >= 1.0:
        return 0.0
    a = m
    b = k - m + 1.0
    return math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + (a - 1.0) * math.log(s)
                    + (b - 1.0) * math.log1p(-s))


@njit(cache=True, nogil=True, error_model="numpy")
def tail_dk(s, k, m):
    """d/dk of :func:`tail` by a central difference (a parameter derivative, for continuation)."""
    h = 1e-6 * max(1.0, k)
    return (tail(s, k + h, m) - tail(s, k - h, m)) / (2.0 * h)


@njit(cache=True, nogil=True, error_model="numpy")
def tail_dm(s, k, m):
    """d/dm of :func:`tail` by a central difference (a parameter derivative, for continuation)."""
    h = 1e-6 * max(1.0, m)
    return (tail(s, k, m + h) - tail(s, k, m - h)) / (2.0 * h)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def positive_part(x, width):
    """Smooth max(x, 0): (x + sqrt(x^2 + width^2)) / 2, >= 0, within width / 2 of max(x, 0)."""
    return 0.5 * (x + math.sqrt(x * x + width * width))


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def positive_part_slope(x, width):
    """d/dx of :func:`positive_part`."""
    return 0.5 * (1.0 + x / math.sqrt(x * x + width * width))


def lambdify_modules(base: str = "math") -> list:
    """``modules`` for :func:`sympy.lambdify` of model expressions: the special functions
    here (scalar kernels; vectorised with numpy for ``base="numpy"``), then ``base``."""
    import numpy as np

    names = {"binomial_tail": tail, "binomial_tail_density": tail_density, "binomial_tail_dk": tail_dk,
             "binomial_tail_dm": tail_dm, "smooth_positive": positive_part, "smooth_positive_slope": positive_part_slope}
    if base == "numpy":
        names = {k: np.vectorize(f, otypes=[float]) for k, f in names.items()}
    return [names, base]


class binomial_tail_dk(sp.Function):  # noqa: N801
    """Symbolic :func:`tail_dk`."""

    nargs = 3


class binomial_tail_dm(sp.Function):  # noqa: N801
    """Symbolic :func:`tail_dm`."""

    nargs = 3


class binomial_tail_density(sp.Function):  # noqa: N801 - printed by name into the generated code
    """Symbolic :func:`tail_density` (its own derivatives are not needed: Jacobians only)."""

    nargs = 3


class binomial_tail(sp.Function):  # noqa: N801
    """Symbolic :func:`tail`, ``binomial_tail(s, k, m)``; its derivative in ``s`` is
    :class:`binomial_tail_density`; in ``k`` and ``m`` (parameter derivatives, for the
    continuation) central differences."""

    nargs = 3

    def fdiff(self, argindex=1):
        if argindex == 1:
            return binomial_tail_density(*self.args)
        if argindex == 2:
            return binomial_tail_dk(*self.args)
        if argindex == 3:
            return binomial_tail_dm(*self.args)
        raise sp.ArgumentIndexError(self, argindex)


class smooth_positive_slope(sp.Function):  # noqa: N801
    """Symbolic :func:`positive_part_slope` (its own derivative is not needed)."""

    nargs = 2


class smooth_positive(sp.Function):  # noqa: N801
    """Symbolic :func:`positive_part`, ``smooth_positive(x, width)``. One function rather
    than its formula, so that common-subexpression elimination sees one call per argument
    (the formula, substituted into expanded expressions, reappears in forms it cannot
    match) and the numeric code makes one square root per rule."""

    nargs = 2

    def fdiff(self, argindex=1):
        if argindex == 1:
            return smooth_positive_slope(*self.args)
        raise sp.ArgumentIndexError(self, argindex)

    def as_formula(self):
        x, width = self.args
        return (x + sp.sqrt(x ** 2 + width ** 2)) / 2
