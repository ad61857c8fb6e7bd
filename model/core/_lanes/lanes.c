/* The lane-batched DOPRI5 kernel for every sector size and lane count, compiled once per
   instruction set (-DLANES_ISA=avx512 / avx2 / base with that set's flags); dispatch.c picks
   one at run time. Built by model.core.lanes (python -m model build-lanes). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* libmvec: declared SIMD, GCC calls glibc's vector exp/log/pow/tanh in vectorised loops
   (_ZGVdN4v_exp on AVX2, _ZGVeN8v_exp on AVX-512, _ZGVbN2v_exp on SSE2). No -ffast-math:
   the kernel needs IEEE comparisons and NaN tests (the issue: fast-math lost every fall). */
#if defined(__x86_64__) && !defined(LANES_SCALAR_MATH)
__attribute__((simd("notinbranch"))) double exp(double);
__attribute__((simd("notinbranch"))) double log(double);
__attribute__((simd("notinbranch"))) double pow(double, double);
__attribute__((simd("notinbranch"))) double tanh(double);
#endif

#include "special.h"

/* Python's min and max of two floats (numba's): the first unless the second is smaller/larger. */
static inline double lanes_min(double a, double b) { return b < a ? b : a; }
static inline double lanes_max(double a, double b) { return b > a ? b : a; }

/* Status codes (model/core/engine.py). */
#define L_SURVIVES 0
#define L_FALLS 1
#define L_MAX_STEPS (-1)
#define L_STEP_TOO_SMALL (-2)
#define L_NON_FINITE (-3)
#define L_RHS_ERROR (-5)
#define L_STIFF (-6)

/* Dormand-Prince 5(4), its error weights, continuous extension and step control (engine.py). */
#define L_A21 (1.0 / 5.0)
#define L_A31 (3.0 / 40.0)
#define L_A32 (9.0 / 40.0)
#define L_A41 (44.0 / 45.0)
#define L_A42 (-56.0 / 15.0)
#define L_A43 (32.0 / 9.0)
#define L_A51 (19372.0 / 6561.0)
#define L_A52 (-25360.0 / 2187.0)
#define L_A53 (64448.0 / 6561.0)
#define L_A54 (-212.0 / 729.0)
#define L_A61 (9017.0 / 3168.0)
#define L_A62 (-355.0 / 33.0)
#define L_A63 (46732.0 / 5247.0)
#define L_A64 (49.0 / 176.0)
#define L_A65 (-5103.0 / 18656.0)
#define L_A71 (35.0 / 384.0)
#define L_A73 (500.0 / 1113.0)
#define L_A74 (125.0 / 192.0)
#define L_A75 (-2187.0 / 6784.0)
#define L_A76 (11.0 / 84.0)
#define L_E1 (71.0 / 57600.0)
#define L_E3 (-71.0 / 16695.0)
#define L_E4 (71.0 / 1920.0)
#define L_E5 (-17253.0 / 339200.0)
#define L_E6 (22.0 / 525.0)
#define L_E7 (-1.0 / 40.0)
#define L_D1 (-12715105075.0 / 11282082432.0)
#define L_D3 (87487479700.0 / 32700410799.0)
#define L_D4 (-10690763975.0 / 1880347072.0)
#define L_D5 (701980252875.0 / 199316789632.0)
#define L_D6 (-1453857185.0 / 822651844.0)
#define L_D7 (69997945.0 / 29380423.0)
#define L_SAFE 0.9
#define L_FACMIN 0.2
#define L_FACMAX 10.0
#define L_BETA 0.04
static const double L_EXPO1 = 0.2 - L_BETA * 0.75;
#define L_EPS 2.220446049250313e-16
#define L_STIFF_H_LAMBDA 3.25
#define L_STIFF_STEPS 15

/* Rows of a lane block's scratch: stages, states, dense-output coefficients. */
enum { L_K1, L_K2, L_K3, L_K4, L_K5, L_K6, L_K7, L_Y, L_YNEW, L_YTMP, L_R1, L_R2, L_R3, L_R4, L_R5, L_ROWS };

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define CAT3(a, b, c) CAT(CAT(a, b), c)

#define KERNEL_ARGS const int64_t *rows, int64_t n_rows, const double *pext, const double *y0s, const double *t0s, \
    const double *t_end, const double *t_freeze, const double *t_out, int64_t n_t, double *y_out, double rtol,     \
    double atol, int64_t max_steps, int64_t stiff_every, int64_t stiff_action, const int64_t *watch,                 \
    int64_t n_watch, int8_t *status, double *t_reached, double *y_last, int64_t *counts, int64_t *fell
#define KERNEL_CALL rows, n_rows, pext, y0s, t0s, t_end, t_freeze, t_out, n_t, y_out, rtol, atol, max_steps, \
    stiff_every, stiff_action, watch, n_watch, status, t_reached, y_last, counts, fell

/* Every sector size but 16 firms (model.h: its right-hand side over 1 lane and the lane counts, a kernel each). */
#define MODEL firms1
#define MODEL_HEADER "rhs_firms1.h"
#define ALL_WIDTHS
#include "model.h"
#define MODEL firms2
#define MODEL_HEADER "rhs_firms2.h"
#include "model.h"
#define MODEL firms4
#define MODEL_HEADER "rhs_firms4.h"
#include "model.h"
#define MODEL firms8
#define MODEL_HEADER "rhs_firms8.h"
#include "model.h"
/* 16 firms: its right-hand side (rhs_firms16.h) is generated, but gcc takes over three
   minutes per instruction set on it, too long for an install; the numba kernel runs it. */

typedef void (*kernel_fn)(KERNEL_ARGS);

/* The kernel of n_firms and lanes (a lane count built here), or 0. */
kernel_fn CAT(lanes_kernel, LANES_ISA)(int64_t n_firms, int64_t lanes)
{
#define PICK(n, w) if (n_firms == n && lanes == w) return CAT3(kernel, firms##n, w);
    PICK(1, 4) PICK(1, 8) PICK(1, 16) PICK(2, 8) PICK(4, 8) PICK(8, 8)
    return 0;
}
