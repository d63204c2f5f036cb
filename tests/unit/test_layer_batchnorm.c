/* test_layer_batchnorm.c: CPU BatchNorm with fused LeakyReLU against a double
 * reference, central finite differences, strided rows with guard values,
 * accumulate 0/1, eval mode (also in place), and bit-identity 1 vs 2 threads.
 *
 * Tolerances: the op computes statistics in double and the element math in
 * float; each output is a few float roundings away from the double reference,
 * i.e. a normalised error of a few 1e-7. 1e-5 leaves a 10-50x margin while still
 * catching any formula error (a wrong variance divisor n vs n-1 at rows=1000 is
 * already 5e-4). Finite differences on the float op with h=1e-2: float noise
 * ~1e-6/h = 1e-4 and curvature O(h^2): 1e-2 relative (floor 1e-2). */
#include <omp.h>
#include <stdint.h>

#include "../../src/common/util.h"
#include "../../src/engine/layers/layers_cpu.h"
#include "gradcheck.h"

#define GUARD 12345.0f

typedef struct {
    int rows, C, x_ld, y_ld;
    float slope;
    float *x, *y, *gamma, *beta, *mean, *rstd, *wl, *scratch;
    const uint8_t *pos; /* frozen LeakyReLU mask (y > 0 at the base point), (rows*C) */
} FdCtx;

/* strided buffer (rows, ld) with the first C of each row from N(off_c, sc) and guards elsewhere */
static float *make_strided(int rows, int C, int ld, uint64_t key, int with_offset) {
    float *p = dl_malloc((size_t)rows * ld * sizeof(float));
    for (size_t i = 0; i < (size_t)rows * ld; i++) p[i] = GUARD;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < C; c++)
            p[(size_t)r * ld + c] = (float)((with_offset ? 3.0 + 0.5 * c : 0.0) +
                                            (0.5 + 0.25 * c) * dl_rand_normal(key, (uint64_t)r * C + c));
    return p;
}

static int guards_ok(const float *p, int rows, int C, int ld) {
    for (int r = 0; r < rows; r++)
        for (int c = C; c < ld; c++)
            if (p[(size_t)r * ld + c] != GUARD) return 0;
    return 1;
}

/* double reference: biased batch stats */
static void ref_stats(double *mu, double *var, const float *x, int rows, int C, int ld) {
    for (int c = 0; c < C; c++) {
        double s = 0, q = 0;
        for (int r = 0; r < rows; r++) s += x[(size_t)r * ld + c];
        mu[c] = s / rows;
        for (int r = 0; r < rows; r++) {
            double t = x[(size_t)r * ld + c] - mu[c];
            q += t * t;
        }
        var[c] = q / rows;
    }
}

/* y_ref (rows*C dense) = act(gamma*(x-mu)/sqrt(var+eps)+beta) in double, stored as float for gc_rel_err */
static void ref_forward(float *yref, const float *x, const double *mu, const double *var, const float *gamma,
                        const float *beta, int rows, int C, int ld, double eps, double slope) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) {
            double z = gamma[c] * (x[(size_t)r * ld + c] - mu[c]) / sqrt(var[c] + eps) + beta[c];
            yref[(size_t)r * C + c] = (float)(z > 0 ? z : z * slope);
        }
}

/* gather strided (rows, ld) -> dense (rows, C) */
static void dense(float *out, const float *p, int rows, int C, int ld) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) out[(size_t)r * C + c] = p[(size_t)r * ld + c];
}

/* L = sum wl * act(z), z from the op's own training forward with identity
 * activation, act = LeakyReLU with the mask frozen at the base point: a step
 * of h moves many z across 0 (the kink), which would break the difference
 * quotient; the analytic backward takes its mask from y just the same. */
static double fd_loss(void *vctx) {
    FdCtx *k = vctx;
    BNDims d = {k->rows, k->C, k->x_ld, k->y_ld, 1e-5f, 0.1f, 1.0f, 0};
    float mtmp[64], rtmp[64];
    batchnorm_forward_cpu(k->y, mtmp, rtmp, NULL, NULL, k->x, k->gamma, k->beta, d, 1, k->scratch);
    double L = 0;
    for (int r = 0; r < k->rows; r++)
        for (int c = 0; c < k->C; c++) {
            size_t i = (size_t)r * k->C + c;
            double z = k->y[(size_t)r * k->y_ld + c];
            L += (double)k->wl[i] * (k->pos[i] ? z : z * k->slope);
        }
    return L;
}

/* one full configuration: forward train/eval, backward vs reference, accumulate, FD */
static void run_case(int rows, int C, int x_ld, int y_ld, float slope, uint64_t seed, int do_fd) {
    printf("case rows=%d C=%d x_ld=%d y_ld=%d slope=%g\n", rows, C, x_ld, y_ld, (double)slope);
    const double eps = 1e-5;
    BNDims d = {rows, C, x_ld, y_ld, 1e-5f, 0.1f, slope, 0};
    float *x = make_strided(rows, C, x_ld, dl_key(seed, 1), 1);
    float *y = make_strided(rows, C, y_ld, dl_key(seed, 2), 0);
    for (size_t i = 0; i < (size_t)rows * y_ld; i++) y[i] = GUARD;
    float *gamma = dl_malloc(C * sizeof(float)), *beta = dl_malloc(C * sizeof(float));
    float *mean = dl_malloc(C * sizeof(float)), *rstd = dl_malloc(C * sizeof(float));
    float *rm = dl_malloc(C * sizeof(float)), *rv = dl_malloc(C * sizeof(float));
    float *rm0 = dl_malloc(C * sizeof(float)), *rv0 = dl_malloc(C * sizeof(float));
    for (int c = 0; c < C; c++) {
        gamma[c] = 1.0f + 0.1f * (float)dl_rand_normal(dl_key(seed, 3), c);
        beta[c] = 0.2f * (float)dl_rand_normal(dl_key(seed, 4), c);
        rm0[c] = rm[c] = 0.3f + 0.01f * c;
        rv0[c] = rv[c] = 1.5f + 0.02f * c;
    }
    float *scratch = dl_aligned_alloc(batchnorm_scratch_floats_cpu(d) * sizeof(float));
    float *yd = dl_malloc((size_t)rows * C * sizeof(float)), *yref = dl_malloc((size_t)rows * C * sizeof(float));
    double *mu = dl_malloc(C * sizeof(double)), *var = dl_malloc(C * sizeof(double));
    float *xcopy = dl_malloc((size_t)rows * x_ld * sizeof(float));
    memcpy(xcopy, x, (size_t)rows * x_ld * sizeof(float));

    /* ---- training forward ---- */
    batchnorm_forward_cpu(y, mean, rstd, rm, rv, x, gamma, beta, d, 1, scratch);
    ref_stats(mu, var, x, rows, C, x_ld);
    ref_forward(yref, x, mu, var, gamma, beta, rows, C, x_ld, eps, slope);
    dense(yd, y, rows, C, y_ld);
    double e = gc_rel_err(yd, yref, (size_t)rows * C, 1.0);
    printf("  fwd train: y normalised err %.2e (<= 1e-5)\n", e);
    CHECK(e <= 1e-5, "train forward y err %.3e", e);
    CHECK(guards_ok(y, rows, C, y_ld), "train forward wrote into y row padding");
    CHECK(memcmp(x, xcopy, (size_t)rows * x_ld * sizeof(float)) == 0, "forward modified x");
    double em = 0, er = 0, erm = 0, erv = 0;
    for (int c = 0; c < C; c++) {
        em = fmax(em, fabs(mean[c] - mu[c]) / fmax(fabs(mu[c]), 1.0));
        double r = 1.0 / sqrt(var[c] + eps);
        er = fmax(er, fabs(rstd[c] - r) / r);
        double erm_c = 0.9 * rm0[c] + 0.1 * mu[c];
        double erv_c = 0.9 * rv0[c] + 0.1 * var[c] * rows / (rows - 1.0);
        erm = fmax(erm, fabs(rm[c] - erm_c) / fmax(fabs(erm_c), 1.0));
        erv = fmax(erv, fabs(rv[c] - erv_c) / fabs(erv_c));
    }
    printf("  mean err %.2e, rstd err %.2e, running_mean err %.2e, running_var (unbiased) err %.2e (<= 1e-6)\n", em,
           er, erm, erv);
    CHECK(em <= 1e-6 && er <= 1e-6, "cached mean/rstd err %.3e %.3e", em, er);
    CHECK(erm <= 1e-6 && erv <= 1e-6, "running stats err %.3e %.3e", erm, erv);

    /* ---- backward vs double reference (mask from the op's own y, as the contract says) ---- */
    float *dy = make_strided(rows, C, y_ld, dl_key(seed, 5), 0);
    float *dx = make_strided(rows, C, x_ld, dl_key(seed, 6), 0);
    float *dg = dl_calloc(C, sizeof(float)), *db = dl_calloc(C, sizeof(float));
    batchnorm_backward_cpu(dx, dg, db, dy, y, x, gamma, beta, mean, rstd, d, scratch);
    float *dxref = dl_malloc((size_t)rows * C * sizeof(float)), *dxd = dl_malloc((size_t)rows * C * sizeof(float));
    float *dgref = dl_malloc(C * sizeof(float)), *dbref = dl_malloc(C * sizeof(float));
    for (int c = 0; c < C; c++) {
        double sd = 1.0 / sqrt(var[c] + eps), s1 = 0, s2 = 0;
        for (int r = 0; r < rows; r++) {
            double yv = y[(size_t)r * y_ld + c], dz = dy[(size_t)r * y_ld + c] * (yv > 0 ? 1.0 : slope);
            s1 += dz;
            s2 += dz * (x[(size_t)r * x_ld + c] - mu[c]) * sd;
        }
        dbref[c] = (float)s1;
        dgref[c] = (float)s2;
        for (int r = 0; r < rows; r++) {
            double yv = y[(size_t)r * y_ld + c], dz = dy[(size_t)r * y_ld + c] * (yv > 0 ? 1.0 : slope);
            double xh = (x[(size_t)r * x_ld + c] - mu[c]) * sd;
            dxref[(size_t)r * C + c] = (float)(gamma[c] * sd * (dz - s1 / rows - xh * s2 / rows));
        }
    }
    dense(dxd, dx, rows, C, x_ld);
    double edx = gc_rel_err(dxd, dxref, (size_t)rows * C, 1e-3), edg = gc_rel_err(dg, dgref, C, 1.0),
           edb = gc_rel_err(db, dbref, C, 1.0);
    printf("  bwd: dx err %.2e, dgamma err %.2e, dbeta err %.2e (<= 1e-5)\n", edx, edg, edb);
    CHECK(edx <= 1e-5 && edg <= 1e-5 && edb <= 1e-5, "backward err dx %.3e dgamma %.3e dbeta %.3e", edx, edg, edb);
    CHECK(guards_ok(dx, rows, C, x_ld), "backward wrote into dx row padding");

    /* ---- accumulate: dx += , dgamma/dbeta += ---- */
    float *dx2 = make_strided(rows, C, x_ld, dl_key(seed, 7), 0);
    float *dx2_0 = dl_malloc((size_t)rows * x_ld * sizeof(float));
    memcpy(dx2_0, dx2, (size_t)rows * x_ld * sizeof(float));
    float *dg2 = dl_malloc(C * sizeof(float)), *db2 = dl_malloc(C * sizeof(float));
    for (int c = 0; c < C; c++) dg2[c] = 1.0f + c, db2[c] = -2.0f + c;
    BNDims da = d;
    da.accumulate_dx = 1;
    batchnorm_backward_cpu(dx2, dg2, db2, dy, y, x, gamma, beta, mean, rstd, da, scratch);
    double eacc = 0, egacc = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) {
            size_t i = (size_t)r * x_ld + c;
            eacc = fmax(eacc, fabs(dx2[i] - (dx2_0[i] + dx[i])) / fmax(1.0, fabs(dx2_0[i] + dx[i])));
        }
    for (int c = 0; c < C; c++) {
        egacc = fmax(egacc, fabs(dg2[c] - (1.0f + c + dg[c])) / fmax(1.0, fabs(1.0f + c + dg[c])));
        egacc = fmax(egacc, fabs(db2[c] - (-2.0f + c + db[c])) / fmax(1.0, fabs(-2.0f + c + db[c])));
    }
    printf("  accumulate: dx err %.2e, dgamma/dbeta err %.2e (<= 1e-6)\n", eacc, egacc);
    CHECK(eacc <= 1e-6 && egacc <= 1e-6, "accumulate err %.3e %.3e", eacc, egacc);
    CHECK(guards_ok(dx2, rows, C, x_ld), "accumulate wrote into dx row padding");

    /* ---- eval forward: running stats; out of place and in place ---- */
    float *rme = dl_malloc(C * sizeof(float)), *rve = dl_malloc(C * sizeof(float));
    memcpy(rme, rm, C * sizeof(float));
    memcpy(rve, rv, C * sizeof(float));
    for (size_t i = 0; i < (size_t)rows * y_ld; i++) y[i] = GUARD;
    batchnorm_forward_cpu(y, mean, rstd, rm, rv, x, gamma, beta, d, 0, scratch);
    for (int c = 0; c < C; c++) mu[c] = rme[c], var[c] = rve[c];
    ref_forward(yref, x, mu, var, gamma, beta, rows, C, x_ld, eps, slope);
    dense(yd, y, rows, C, y_ld);
    e = gc_rel_err(yd, yref, (size_t)rows * C, 1.0);
    int stats_same = memcmp(rm, rme, C * sizeof(float)) == 0 && memcmp(rv, rve, C * sizeof(float)) == 0;
    int mean_ok = memcmp(mean, rme, C * sizeof(float)) == 0;
    printf("  fwd eval: y err %.2e (<= 1e-5), running stats untouched %d, mean = running_mean %d\n", e, stats_same,
           mean_ok);
    CHECK(e <= 1e-5, "eval forward err %.3e", e);
    CHECK(stats_same && mean_ok, "eval changed running stats or mean != running_mean");
    CHECK(guards_ok(y, rows, C, y_ld), "eval forward wrote into y row padding");
    BNDims di = d;
    di.y_ld = x_ld;
    batchnorm_forward_cpu(xcopy, mean, rstd, rm, rv, xcopy, gamma, beta, di, 0, scratch);
    dense(yref, xcopy, rows, C, x_ld);
    CHECK(memcmp(yref, yd, (size_t)rows * C * sizeof(float)) == 0, "eval in place differs from out of place");
    CHECK(guards_ok(xcopy, rows, C, x_ld), "eval in place wrote into row padding");

    /* ---- finite differences on a small slice (first fd_rows rows) ---- */
    if (do_fd) {
        FdCtx k = {rows, C, x_ld, y_ld, slope, x, y, gamma, beta, mean, rstd, NULL, scratch, NULL};
        k.wl = dl_malloc((size_t)rows * C * sizeof(float));
        gc_fill(k.wl, (size_t)rows * C, dl_key(seed, 8), 1.0f);
        /* analytic grads for L = sum wl*y: dy = wl */
        float *dyw = dl_malloc((size_t)rows * y_ld * sizeof(float));
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < C; c++) dyw[(size_t)r * y_ld + c] = k.wl[(size_t)r * C + c];
        BNDims dt = d;
        batchnorm_forward_cpu(y, mean, rstd, NULL, NULL, x, gamma, beta, dt, 1, scratch);
        uint8_t *pos = dl_malloc((size_t)rows * C);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < C; c++) pos[(size_t)r * C + c] = y[(size_t)r * y_ld + c] > 0;
        k.pos = pos;
        float *gx = dl_malloc((size_t)rows * x_ld * sizeof(float));
        float *gg = dl_calloc(C, sizeof(float)), *gb = dl_calloc(C, sizeof(float));
        batchnorm_backward_cpu(gx, gg, gb, dyw, y, x, gamma, beta, mean, rstd, dt, scratch);
        /* x probes: only the first C of each row are parameters; walk them via a dense copy */
        double wx = 0;
        for (int r = 0; r < rows; r += (rows > 8 ? rows / 8 : 1))
            for (int c = 0; c < C; c++) {
                size_t i = (size_t)r * x_ld + c;
                wx = fmax(wx, gc_fd_check(&x[i], &gx[i], 1, fd_loss, &k, 1e-2, 1, 1e-2));
            }
        double wg = gc_fd_check(gamma, gg, C, fd_loss, &k, 1e-2, C, 1e-2);
        double wb = gc_fd_check(beta, gb, C, fd_loss, &k, 1e-2, C, 1e-2);
        printf("  finite differences: x %.2e, gamma %.2e, beta %.2e (<= 1e-2)\n", wx, wg, wb);
        CHECK(wx <= 1e-2 && wg <= 1e-2 && wb <= 1e-2, "fd err x %.3e gamma %.3e beta %.3e", wx, wg, wb);
        free(k.wl), free(dyw), free(gx), free(gg), free(gb), free(pos);
    }

    free(x), free(y), free(gamma), free(beta), free(mean), free(rstd), free(rm), free(rv), free(rm0), free(rv0);
    free(scratch), free(yd), free(yref), free(mu), free(var), free(xcopy), free(dy), free(dx), free(dg), free(db);
    free(dxref), free(dxd), free(dgref), free(dbref), free(dx2), free(dx2_0), free(dg2), free(db2), free(rme),
        free(rve);
}

/* forward + backward with 1 and 2 threads: outputs must be bit-identical */
static void thread_identity(void) {
    const int rows = 3 * DL_CHUNK_ROWS + 123, C = 32, ld = 40;
    BNDims d = {rows, C, ld, ld, 1e-5f, 0.1f, 0.01f, 0};
    float *x = make_strided(rows, C, ld, 101, 1), *dy = make_strided(rows, C, ld, 102, 0);
    float *g = dl_malloc(C * sizeof(float)), *b = dl_malloc(C * sizeof(float));
    for (int c = 0; c < C; c++) g[c] = 1.0f + 0.01f * c, b[c] = 0.1f * c;
    float *scratch = dl_aligned_alloc(batchnorm_scratch_floats_cpu(d) * sizeof(float));
    float *out[2][7];
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        float *y = make_strided(rows, C, ld, 103, 0), *dx = make_strided(rows, C, ld, 104, 0);
        float *mean = dl_calloc(C, 4), *rstd = dl_calloc(C, 4), *rm = dl_calloc(C, 4), *rv = dl_calloc(C, 4);
        float *dg = dl_calloc(C, 4);
        for (int c = 0; c < C; c++) rv[c] = 1.0f;
        batchnorm_forward_cpu(y, mean, rstd, rm, rv, x, g, b, d, 1, scratch);
        float *db = dl_calloc(C, 4);
        batchnorm_backward_cpu(dx, dg, db, dy, y, x, g, b, mean, rstd, d, scratch);
        float *o[7] = {y, mean, rstd, rm, rv, dx, dg};
        memcpy(out[t], o, sizeof o);
        free(db);
    }
    omp_set_num_threads(2);
    size_t sz[7] = {(size_t)rows * ld, C, C, C, C, (size_t)rows * ld, C};
    int same = 1;
    for (int i = 0; i < 7; i++) same &= memcmp(out[0][i], out[1][i], sz[i] * sizeof(float)) == 0;
    printf("bit-identity 1 vs 2 threads (rows=%d, %d chunks): %s\n", rows, CEIL_DIV(rows, DL_CHUNK_ROWS),
           same ? "identical" : "DIFFERENT");
    CHECK(same, "1-thread and 2-thread results differ");
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 7; i++) free(out[t][i]);
    free(x), free(dy), free(g), free(b), free(scratch);
}

int main(void) {
    run_case(1000, 5, 8, 7, 1.0f, 11, 0);
    run_case(1000, 5, 8, 7, 0.01f, 12, 0);
    run_case(2 * DL_CHUNK_ROWS + 77, 32, 35, 33, 0.01f, 13, 0); /* 3 chunks, last partial */
    run_case(70000, 32, 32, 32, 0.01f, 17, 0); /* 9 MB: y by streaming stores (batchnorm.c BN_NT_BYTES) */
    run_case(12, 3, 5, 4, 1.0f, 14, 1);                          /* small: finite differences */
    run_case(12, 3, 5, 4, 0.01f, 15, 1);
    run_case(64, 4, 4, 4, 0.01f, 16, 1);                         /* dense rows */
    thread_identity();
    return gc_summary("test_layer_batchnorm");
}
