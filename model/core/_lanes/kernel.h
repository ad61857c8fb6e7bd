/* The engine's DOPRI5 path (model/core/engine.py: _run, _start, _initial_step, _emit,
   _store_dense, _dense, _locate_fall, _looks_stiff) over LANES runs at once. Included by
   lanes.c once per (sector size, lane count) with:
     KERNEL  the function's name      RHS_W  the generated right-hand side over LANES lanes
     RHS_1   the same over one lane   NS, NE, ACQ  states, extended parameters, acquisition
   Each lane is one run with its own time, step, error control, output cursor, freeze and
   fall; a lane whose run ends takes the group's next run at once. The arithmetic is the
   numba kernel's, operation for operation (compiled with -ffp-contract=off), so the lanes
   differ from it only where libmvec's vector exp/log/pow/tanh round differently from
   glibc's scalar ones. What it does not finish in DOPRI5 (the stiffness test fired, the
   step limit, a step too small, a non-finite state, a right-hand side not finite) gets a
   negative status, and the engine redoes that run from its start with the numba kernel
   (Rodas4, then the LSODA fallback), so those runs are exactly the scalar engine's. */

#define AT(row, i, l) ((((row) * NS) + (i)) * LANES + (l))

typedef struct {
    int64_t r;              /* row of the run (-1: the lane is empty) */
    double t, h, h_next, facold, t_stop, t_end;
    int64_t steps, rejected, nfev, n_stiff, n_nonstiff, j_out;
    int last_rejected, first, freeze_pending, lands;
} KCAT(lane_t);

/* The scalar right-hand side of lane l (its parameters gathered), finite-checked like _f. */
static int KCAT(f_lane)(const double *P, int l, const double *y, double *out, double *p1)
{
    for (int j = 0; j < NE; j++) p1[j] = P[j * LANES + l];
    RHS_1(y, p1, out);
    double total = 0.0;
    for (int i = 0; i < NS; i++) total += out[i];
    return isfinite(total);
}

static double KCAT(initial_step)(const double *P, int l, const double *y, const double *f0, double t_span,
                                 double rtol, double atol, double *p1)
{
    double d0 = 0.0, d1 = 0.0, d2 = 0.0, ytmp[NS], f1[NS];
    for (int i = 0; i < NS; i++) {
        double sk = atol + rtol * fabs(y[i]);
        d0 += (y[i] / sk) * (y[i] / sk);
        d1 += (f0[i] / sk) * (f0[i] / sk);
    }
    d0 = sqrt(d0 / NS);
    d1 = sqrt(d1 / NS);
    double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    h0 = lanes_min(h0, t_span);
    for (int i = 0; i < NS; i++) ytmp[i] = y[i] + h0 * f0[i];
    KCAT(f_lane)(P, l, ytmp, f1, p1);
    for (int i = 0; i < NS; i++) {
        double sk = atol + rtol * fabs(y[i]);
        d2 += ((f1[i] - f0[i]) / sk) * ((f1[i] - f0[i]) / sk);
    }
    d2 = sqrt(d2 / NS) / h0;
    if (!(isfinite(d2) && isfinite(d1))) return lanes_min(h0, t_span);
    double h1;
    if (d1 <= 1e-15 && d2 <= 1e-15)
        h1 = lanes_max(1e-6, h0 * 1e-3);
    else
        h1 = pow(0.01 / lanes_max(d1, d2), 0.2);
    return lanes_min(lanes_min(100.0 * h0, h1), t_span);
}

static inline double KCAT(dense)(const double *w, double theta, int i, int l)
{
    double theta1 = 1.0 - theta;
    return w[AT(L_R1, i, l)] + theta * (w[AT(L_R2, i, l)] + theta1 * (w[AT(L_R3, i, l)]
           + theta * (w[AT(L_R4, i, l)] + theta1 * w[AT(L_R5, i, l)])));
}

static double KCAT(locate_fall)(const double *w, double g_old, double g_new, double h, double t, int index, int l)
{
    if (g_old == 0.0) return 0.0;
    if (g_new == 0.0) return 1.0;
    double a = 0.0, b = 1.0, fa = g_old, fb = g_new;
    int side = 0;
    for (int it = 0; it < 200; it++) {
        double c = (a * fb - b * fa) / (fb - fa);
        double fc = KCAT(dense)(w, c, index, l);
        if (fc == 0.0) return c;
        if (fc > 0.0) {
            a = c; fa = fc;
            if (side == -1) fb *= 0.5;
            side = -1;
        } else {
            b = c; fb = fc;
            if (side == 1) fa *= 0.5;
            side = 1;
        }
        if ((b - a) * h <= 4.0 * L_EPS * lanes_max(fabs(t), 1.0)) break;
    }
    return b;
}

static int64_t KCAT(emit)(const double *w, int l, double t, double h, double t_last, int exact_end,
                          const double *t_out, int64_t n_t, double *y_out, int64_t j_out)
{
    while (j_out < n_t && t_out[j_out] <= t_last) {
        double *row = y_out + j_out * NS;
        if (exact_end && t_out[j_out] >= t_last) {
            for (int i = 0; i < NS; i++) row[i] = w[AT(L_YNEW, i, l)];
        } else {
            double th = (t_out[j_out] - t) / h;
            for (int i = 0; i < NS; i++) row[i] = KCAT(dense)(w, th, i, l);
        }
        j_out++;
    }
    return j_out;
}

/* Right-hand side of every lane at stage row `in` into row `out`; a lane whose sum is not
   finite is marked in `raised` (as _f). */
static inline void KCAT(f_all)(double *w, const double *P, int in, int out, int *raised)
{
    RHS_W(w + AT(in, 0, 0), P, w + AT(out, 0, 0));
    double total[LANES];
    for (int l = 0; l < LANES; l++) total[l] = 0.0;
    for (int i = 0; i < NS; i++)
        for (int l = 0; l < LANES; l++) total[l] += w[AT(out, i, l)];
    for (int l = 0; l < LANES; l++) raised[l] |= !isfinite(total[l]);
}

void KERNEL(const int64_t *rows, int64_t n_rows, const double *pext, const double *y0s, const double *t0s,
            const double *t_end, const double *t_freeze, const double *t_out, int64_t n_t, double *y_out,
            double rtol, double atol, int64_t max_steps, int64_t stiff_every, int64_t stiff_action,
            const int64_t *watch, int64_t n_watch, int8_t *status, double *t_reached, double *y_last,
            int64_t *counts, int64_t *fell)
{
    static const int64_t none = -1;
    double *w = aligned_alloc(64, sizeof(double) * (((L_ROWS * NS * LANES) + 7) / 8 * 8));
    double *P = aligned_alloc(64, sizeof(double) * (((NE * LANES) + 7) / 8 * 8));
    double *g_old = malloc(sizeof(double) * (n_watch ? n_watch : 1) * LANES);
    double p1[NE], y1[NS], f1[NS];
    KCAT(lane_t) lane[LANES];
    int raised[LANES];
    int64_t next = 0, active = 0;
    for (int64_t q = 0; q < (int64_t)(L_ROWS * NS * LANES); q++) w[q] = 0.0;
    for (int l = 0; l < LANES; l++) {
        lane[l].r = none;
        lane[l].h = 0.0;
        raised[l] = 0;
        for (int j = 0; j < NE; j++) P[j * LANES + l] = pext[j]; /* a valid point for idle lanes */
    }

#define FINISH(l, st, fell_e) do {                                                             \
        int64_t r_ = lane[l].r;                                                                \
        status[r_] = (int8_t)(st);                                                             \
        t_reached[r_] = lane[l].t;                                                             \
        for (int i = 0; i < NS; i++) y_last[r_ * NS + i] = w[AT(L_Y, i, l)];                   \
        counts[r_ * 4 + 0] = lane[l].steps;                                                    \
        counts[r_ * 4 + 1] = lane[l].rejected;                                                 \
        counts[r_ * 4 + 2] = lane[l].nfev;                                                     \
        counts[r_ * 4 + 3] = 0;                                                                \
        fell[r_] = (fell_e);                                                                   \
        lane[l].r = none;                                                                      \
        active--;                                                                              \
    } while (0)

    for (;;) {
        /* Fill the empty lanes and check each lane's next trial step (as the top of _run's loop). */
        for (int l = 0; l < LANES; l++) {
            for (;;) {
                KCAT(lane_t) *ln = &lane[l];
                if (ln->r == none) {
                    if (next >= n_rows) break;
                    /* _start */
                    int64_t r = rows[next++];
                    const double *pr = pext + r * NE;
                    double t0 = t0s[r], te = t_end[r], tf = t_freeze[r];
                    for (int j = 0; j < NE; j++) P[j * LANES + l] = pr[j];
                    for (int i = 0; i < NS; i++) w[AT(L_Y, i, l)] = y1[i] = y0s[r * NS + i];
                    ln->r = r;
                    active++;
                    ln->freeze_pending = tf > t0 && tf < te;
                    if (tf <= t0) P[ACQ * LANES + l] = 0.0;
                    ln->j_out = 0;
                    while (ln->j_out < n_t && t_out[r * n_t + ln->j_out] <= t0) {
                        if (t0 <= 0.0)
                            for (int i = 0; i < NS; i++) y_out[(r * n_t + ln->j_out) * NS + i] = y1[i];
                        ln->j_out++;
                    }
                    ln->t = t0;
                    ln->t_end = te;
                    ln->steps = ln->rejected = 0;
                    ln->nfev = 1;
                    for (int e = 0; e < n_watch; e++) {
                        int64_t k = watch[r * n_watch + e];
                        g_old[e * LANES + l] = k >= 0 ? y1[k] : NAN;
                    }
                    if (!KCAT(f_lane)(P, l, y1, f1, p1)) {
                        FINISH(l, L_RHS_ERROR, -1);
                        continue;
                    }
                    for (int i = 0; i < NS; i++) w[AT(L_K1, i, l)] = f1[i];
                    ln->t_stop = ln->freeze_pending ? tf : te;
                    ln->h = KCAT(initial_step)(P, l, y1, f1, ln->t_stop - ln->t, rtol, atol, p1);
                    ln->nfev += 1;
                    ln->h_next = ln->h;
                    ln->facold = 1e-4;
                    ln->last_rejected = 0;
                    ln->first = 1;
                    ln->n_stiff = ln->n_nonstiff = 0;
                    raised[l] = 0;
                }
                if (ln->steps + ln->rejected >= max_steps) {
                    FINISH(l, L_MAX_STEPS, -1);
                    continue;
                }
                ln->lands = 0;
                if (ln->t + 1.01 * ln->h >= ln->t_stop) {
                    ln->h = ln->t_stop - ln->t;
                    ln->lands = 1;
                }
                if (ln->h <= 10.0 * L_EPS * lanes_max(fabs(ln->t), 1.0)) {
                    FINISH(l, raised[l] ? L_RHS_ERROR : L_STEP_TOO_SMALL, -1);
                    continue;
                }
                raised[l] = 0;
                break;
            }
        }
        if (active == 0) break;

        /* The Dormand-Prince stages of every lane, each with its own step. */
        double h[LANES];
        for (int l = 0; l < LANES; l++) h[l] = lane[l].r == none ? 0.0 : lane[l].h;
        for (int i = 0; i < NS; i++)
            for (int l = 0; l < LANES; l++)
                w[AT(L_YTMP, i, l)] = w[AT(L_Y, i, l)] + h[l] * L_A21 * w[AT(L_K1, i, l)];
        KCAT(f_all)(w, P, L_YTMP, L_K2, raised);
        for (int i = 0; i < NS; i++)
            for (int l = 0; l < LANES; l++)
                w[AT(L_YTMP, i, l)] = w[AT(L_Y, i, l)] + h[l] * (L_A31 * w[AT(L_K1, i, l)] + L_A32 * w[AT(L_K2, i, l)]);
        KCAT(f_all)(w, P, L_YTMP, L_K3, raised);
        for (int i = 0; i < NS; i++)
            for (int l = 0; l < LANES; l++)
                w[AT(L_YTMP, i, l)] = w[AT(L_Y, i, l)] + h[l] * (L_A41 * w[AT(L_K1, i, l)] + L_A42 * w[AT(L_K2, i, l)]
                                                               + L_A43 * w[AT(L_K3, i, l)]);
        KCAT(f_all)(w, P, L_YTMP, L_K4, raised);
        for (int i = 0; i < NS; i++)
            for (int l = 0; l < LANES; l++)
                w[AT(L_YTMP, i, l)] = w[AT(L_Y, i, l)] + h[l] * (L_A51 * w[AT(L_K1, i, l)] + L_A52 * w[AT(L_K2, i, l)]
                                                               + L_A53 * w[AT(L_K3, i, l)] + L_A54 * w[AT(L_K4, i, l)]);
        KCAT(f_all)(w, P, L_YTMP, L_K5, raised);
        for (int i = 0; i < NS; i++)
            for (int l = 0; l < LANES; l++)
                w[AT(L_YTMP, i, l)] = w[AT(L_Y, i, l)] + h[l] * (L_A61 * w[AT(L_K1, i, l)] + L_A62 * w[AT(L_K2, i, l)]
                                                               + L_A63 * w[AT(L_K3, i, l)] + L_A64 * w[AT(L_K4, i, l)]
                                                               + L_A65 * w[AT(L_K5, i, l)]);
        KCAT(f_all)(w, P, L_YTMP, L_K6, raised);
        for (int i = 0; i < NS; i++)
            for (int l = 0; l < LANES; l++)
                w[AT(L_YNEW, i, l)] = w[AT(L_Y, i, l)] + h[l] * (L_A71 * w[AT(L_K1, i, l)] + L_A73 * w[AT(L_K3, i, l)]
                                                               + L_A74 * w[AT(L_K4, i, l)] + L_A75 * w[AT(L_K5, i, l)]
                                                               + L_A76 * w[AT(L_K6, i, l)]);
        KCAT(f_all)(w, P, L_YNEW, L_K7, raised);
        double acc[LANES];
        for (int l = 0; l < LANES; l++) acc[l] = 0.0;
        for (int i = 0; i < NS; i++)
            for (int l = 0; l < LANES; l++) {
                double e = h[l] * (L_E1 * w[AT(L_K1, i, l)] + L_E3 * w[AT(L_K3, i, l)] + L_E4 * w[AT(L_K4, i, l)]
                                   + L_E5 * w[AT(L_K5, i, l)] + L_E6 * w[AT(L_K6, i, l)] + L_E7 * w[AT(L_K7, i, l)]);
                double sk = atol + rtol * lanes_max(fabs(w[AT(L_Y, i, l)]), fabs(w[AT(L_YNEW, i, l)]));
                acc[l] += (e / sk) * (e / sk);
            }

        /* Each lane's step control and bookkeeping. */
        for (int l = 0; l < LANES; l++) {
            KCAT(lane_t) *ln = &lane[l];
            if (ln->r == none) continue;
            int64_t r = ln->r;
            double hl = ln->h;
            ln->nfev += 6;
            double err = sqrt(acc[l] / NS);
            if (!isfinite(err)) {
                ln->rejected++;
                ln->h *= L_FACMIN;
                ln->last_rejected = 1;
                continue;
            }
            double fac11 = pow(err, L_EXPO1);
            double fac = fac11 / pow(ln->facold, L_BETA);
            fac = lanes_max(1.0 / L_FACMAX, lanes_min(1.0 / L_FACMIN, fac / L_SAFE));
            if (err > 1.0) {
                ln->rejected++;
                ln->h = hl / lanes_min(1.0 / L_FACMIN, fac11 / L_SAFE);
                ln->last_rejected = 1;
                continue;
            }
            ln->facold = lanes_max(err, 1e-4);
            ln->h_next = ln->last_rejected ? lanes_min(hl / fac, hl) : hl / fac;
            if (stiff_action >= 0 && ((ln->steps + 1) % stiff_every == 0 || ln->n_stiff > 0)) {
                double num = 0.0, den = 0.0;
                for (int i = 0; i < NS; i++) {
                    double a = w[AT(L_K7, i, l)] - w[AT(L_K6, i, l)], b = w[AT(L_YNEW, i, l)] - w[AT(L_YTMP, i, l)];
                    num += a * a;
                    den += b * b;
                }
                if (den > 0.0 && hl * sqrt(num / den) > L_STIFF_H_LAMBDA) {
                    ln->n_nonstiff = 0;
                    ln->n_stiff++;
                    if (ln->n_stiff >= L_STIFF_STEPS) {
                        /* Stiff: Rodas4 (or stop) is the numba kernel's, which redoes the run. */
                        FINISH(l, L_STIFF, -1);
                        continue;
                    }
                } else {
                    ln->n_nonstiff++;
                    if (ln->n_nonstiff >= 6) ln->n_stiff = 0;
                }
            }
            ln->steps++;
            ln->first = 0;
            ln->last_rejected = 0;
            double t = ln->t, t_new = ln->lands ? ln->t_stop : t + hl;
            int finite = 1;
            for (int i = 0; i < NS; i++)
                if (!isfinite(w[AT(L_YNEW, i, l)])) finite = 0;
            if (!finite) {
                FINISH(l, L_NON_FINITE, -1);
                continue;
            }
            for (int i = 0; i < NS; i++) { /* _store_dense after a DOPRI5 step */
                double y_i = w[AT(L_Y, i, l)], dy = w[AT(L_YNEW, i, l)] - y_i;
                double bspl = hl * w[AT(L_K1, i, l)] - dy;
                w[AT(L_R1, i, l)] = y_i;
                w[AT(L_R2, i, l)] = dy;
                w[AT(L_R3, i, l)] = bspl;
                w[AT(L_R4, i, l)] = dy - hl * w[AT(L_K7, i, l)] - bspl;
                w[AT(L_R5, i, l)] = hl * (L_D1 * w[AT(L_K1, i, l)] + L_D3 * w[AT(L_K3, i, l)] + L_D4 * w[AT(L_K4, i, l)]
                                          + L_D5 * w[AT(L_K5, i, l)] + L_D6 * w[AT(L_K6, i, l)]
                                          + L_D7 * w[AT(L_K7, i, l)]);
            }
            int64_t first_e = -1;
            double theta = 2.0;
            for (int e = 0; e < n_watch; e++) {
                int64_t k = watch[r * n_watch + e];
                if (k >= 0) {
                    double g_new = w[AT(L_YNEW, k, l)], g = g_old[e * LANES + l];
                    if (g >= 0.0 && g_new <= 0.0) {
                        double th_e = KCAT(locate_fall)(w, g, g_new, hl, t, (int)k, l);
                        if (th_e < theta) {
                            theta = th_e;
                            first_e = e;
                        }
                    }
                    g_old[e * LANES + l] = g_new;
                }
            }
            const double *to = t_out + r * n_t;
            double *yo = y_out + r * n_t * NS;
            if (first_e >= 0) {
                double t_fall = theta < 1.0 ? t + theta * hl : t_new;
                ln->j_out = KCAT(emit)(w, l, t, hl, t_fall, 0, to, n_t, yo, ln->j_out);
                double yf[NS];
                for (int i = 0; i < NS; i++) yf[i] = KCAT(dense)(w, theta, i, l);
                for (int i = 0; i < NS; i++) w[AT(L_Y, i, l)] = yf[i];
                w[AT(L_Y, watch[r * n_watch + first_e], l)] = 0.0;
                ln->t = t_fall;
                FINISH(l, L_FALLS, first_e);
                continue;
            }
            ln->j_out = KCAT(emit)(w, l, t, hl, t_new, 1, to, n_t, yo, ln->j_out);
            for (int i = 0; i < NS; i++) {
                w[AT(L_Y, i, l)] = w[AT(L_YNEW, i, l)];
                w[AT(L_K1, i, l)] = w[AT(L_K7, i, l)];
            }
            ln->t = t_new;
            if (ln->lands) {
                if (ln->t_stop >= ln->t_end) {
                    FINISH(l, L_SURVIVES, -1);
                    continue;
                }
                /* The freeze: acquisition off from here on; restart FSAL. */
                P[ACQ * LANES + l] = 0.0;
                ln->nfev += 1;
                for (int i = 0; i < NS; i++) y1[i] = w[AT(L_Y, i, l)];
                if (!KCAT(f_lane)(P, l, y1, f1, p1)) {
                    FINISH(l, L_RHS_ERROR, -1);
                    continue;
                }
                for (int i = 0; i < NS; i++) w[AT(L_K1, i, l)] = f1[i];
                ln->freeze_pending = 0;
                ln->t_stop = ln->t_end;
            }
            ln->h = lanes_min(ln->h_next, ln->t_stop - ln->t);
        }
    }
#undef FINISH
    free(w);
    free(P);
    free(g_old);
}
#undef AT
