/* The special functions of the equations in C, as model/core/special.py computes them:
   the smooth positive part (inline, vectorised with its statement) and the binomial tail of
   threshold contagion (a continued fraction: a scalar call per lane). */
#ifndef LANES_SPECIAL_H
#define LANES_SPECIAL_H
#include <math.h>

static inline double smooth_positive(double x, double width)
{
    return 0.5 * (x + sqrt(x * x + width * width));
}

#define LANES_TINY 1e-300
#define LANES_CF_EPS 1e-15

static double lanes_betacf(double a, double b, double x)
{
    double qab = a + b, qap = a + 1.0, qam = a - 1.0;
    double c = 1.0, d = 1.0 - qab * x / qap, h;
    if (fabs(d) < LANES_TINY) d = LANES_TINY;
    d = 1.0 / d;
    h = d;
    for (int m = 1; m < 300; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2)), delta;
        d = 1.0 + aa * d;
        if (fabs(d) < LANES_TINY) d = LANES_TINY;
        c = 1.0 + aa / c;
        if (fabs(c) < LANES_TINY) c = LANES_TINY;
        d = 1.0 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < LANES_TINY) d = LANES_TINY;
        c = 1.0 + aa / c;
        if (fabs(c) < LANES_TINY) c = LANES_TINY;
        d = 1.0 / d;
        delta = d * c;
        h *= delta;
        if (fabs(delta - 1.0) < LANES_CF_EPS) break;
    }
    return h;
}

static inline double lanes_lgamma(double x)
{
    int sign;
    return lgamma_r(x, &sign); /* the reentrant form: lgamma writes the global signgam */
}

__attribute__((noinline)) static double binomial_tail(double s, double k, double m)
{
    if (k < m) return 0.0;
    if (s <= 0.0) return 0.0;
    if (s >= 1.0) return 1.0;
    double a = m, b = k - m + 1.0;
    double front = exp(lanes_lgamma(a + b) - lanes_lgamma(a) - lanes_lgamma(b) + a * log(s) + b * log1p(-s));
    if (s < (a + 1.0) / (a + b + 2.0)) return front * lanes_betacf(a, b, s) / a;
    return 1.0 - front * lanes_betacf(b, a, 1.0 - s) / b;
}
#endif
