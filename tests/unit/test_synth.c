/* test_synth: the synthetic market generator and its oracle.
 * - one strong symbol (60k s): oracle in range, book invariants, NaN targets exactly at
 *   segment ends, and the "learnable, no leak" check: OLS on the last 100 level-0 log
 *   imbalances (fit on train rows, scored on test rows) reaches >= 0.8x the stored oracle
 *   and not significantly more;
 * - whole files: same seed -> identical contents and bytes, other seed -> different,
 *   every symbol's oracle inside the requested range. */
#define _GNU_SOURCE
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/synth.h"

static int g_fail = 0;
#define CHECK(cond, ...) do { if (cond) { printf("ok:   "); } else { printf("FAIL: "); g_fail++; } \
    printf(__VA_ARGS__); printf("\n"); } while (0)

#define P 101 /* intercept + 100 lags */

/* Cholesky solve of the normal equations A x = b (A: P x P, SPD; overwritten) */
static int chol_solve(double *A, double *x, const double *b, int n) {
    for (int j = 0; j < n; j++) {
        double d = A[j * n + j];
        for (int k = 0; k < j; k++) d -= A[j * n + k] * A[j * n + k];
        if (d <= 0) return -1;
        A[j * n + j] = sqrt(d);
        for (int i = j + 1; i < n; i++) {
            double v = A[i * n + j];
            for (int k = 0; k < j; k++) v -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = v / A[j * n + j];
        }
    }
    for (int i = 0; i < n; i++) { /* L y = b */
        double v = b[i];
        for (int k = 0; k < i; k++) v -= A[i * n + k] * x[k];
        x[i] = v / A[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) { /* L^T x = y */
        double v = x[i];
        for (int k = i + 1; k < n; k++) v -= A[k * n + i] * x[k];
        x[i] = v / A[i * n + i];
    }
    return 0;
}

/* OLS of target[:,k] on [1, m[t-99..t]] over the train samples, correlation on test samples */
static double ols_corr(const LobSymbol *s, int k, const double *m) {
    int64_t N = s->n_rows, a, b;
    synth_split(&a, &b, N);
    double *A = calloc(P * P, sizeof *A), *rhs = calloc(P, sizeof *rhs), *beta = calloc(P, sizeof *beta);
    double x[P];
    int64_t ntr = 0;
    for (int pass = 0; pass < 2; pass++) {
        int64_t lo_split = pass ? b : 0, hi_split = pass ? N : a;
        double sp = 0, sy = 0, spp = 0, syy = 0, spy = 0;
        int64_t n = 0;
        for (int64_t g = 0; g < s->n_segments; g++) {
            int64_t lo = s->segments[2 * g], hi = s->segments[2 * g + 1];
            for (int64_t t = lo; t < hi; t++) {
                float y = s->targets[t * s->n_horizons + k];
                if (!synth_is_sample(t, lo_split, hi_split, lo, SYNTH_SEQ_LEN, y)) continue;
                x[0] = 1;
                for (int j = 0; j < 100; j++) x[1 + j] = m[t - j];
                if (pass == 0) {
                    for (int i = 0; i < P; i++) {
                        rhs[i] += x[i] * y;
                        for (int j = 0; j <= i; j++) A[i * P + j] += x[i] * x[j];
                    }
                    ntr++;
                } else {
                    double pr = 0;
                    for (int i = 0; i < P; i++) pr += beta[i] * x[i];
                    sp += pr; sy += y; spp += pr * pr; syy += (double)y * y; spy += pr * y; n++;
                }
            }
        }
        if (pass == 0) {
            for (int i = 0; i < P; i++)
                for (int j = i + 1; j < P; j++) A[i * P + j] = A[j * P + i];
            if (chol_solve(A, beta, rhs, P)) { printf("  OLS: singular normal equations\n"); return NAN; }
            printf("  OLS fitted on %lld train samples\n", (long long)ntr);
        } else {
            free(A); free(rhs); free(beta);
            double cov = spy / n - sp / n * sy / n, vp = spp / n - sp / n * sp / n, vy = syy / n - sy / n * sy / n;
            printf("  OLS scored on %lld test samples\n", (long long)n);
            return cov / sqrt(vp * vy);
        }
    }
    return NAN;
}

static void test_strong_symbol(void) {
    const int hz[2] = {10, 60};
    const int64_t N = 60000;
    SynthParams p;
    LobSymbol s;
    DlErr e;
    synth_draw_params(&p, 7, 0, 1, 0.40, 0.46, N);
    int rc = synth_generate(&s, &p, 7, 0, N, hz, 2, &e);
    CHECK(rc == 0, "generate 1 symbol x %lld s: %s", (long long)N, rc ? e.msg : "ok");
    if (rc) return;
    printf("  %s: target %.3f oracle h10 %.4f h60 %.4f, beta/sigma_p %.3f, half-life %.1f s, tick %g at %g\n",
           s.symbol, p.target_oracle, s.oracle_corr[0], s.oracle_corr[1], p.beta / p.sigma_p, p.half_life_s,
           p.tick, p.price0);
    CHECK(s.oracle_corr[0] >= 0.40 && s.oracle_corr[0] <= 0.46 && fabs(s.oracle_corr[0] - p.target_oracle) < 0.011,
          "oracle_h10 %.4f in [0.40, 0.46] and near its target %.4f", s.oracle_corr[0], p.target_oracle);
    /* the signal accumulates over its half-life, so h60 may exceed h10: only plausibility */
    CHECK(s.oracle_corr[1] > 0.05 && s.oracle_corr[1] < 0.95, "oracle_h60 %.4f plausible", s.oracle_corr[1]);
    CHECK(lobds_check_symbol(&s, "memory", &e) == 0, "valid dataset symbol (time grid, segments)");
    CHECK(s.n_segments == 2, "one outage -> 2 segments (got %lld)", (long long)s.n_segments);
    int gaps_ok = 1;
    for (int64_t g = 1; g < s.n_segments; g++) {
        int64_t r = s.segments[2 * g];
        if (s.segments[2 * g - 1] != r || s.time[r] - s.time[r - 1] <= 60) gaps_ok = 0;
    }
    CHECK(gaps_ok, "segments are contiguous in rows and split by time jumps > 60 s");

    /* targets: NaN exactly where t+h leaves the segment, finite elsewhere */
    int64_t bad_nan = 0;
    for (int64_t g = 0; g < s.n_segments; g++)
        for (int64_t t = s.segments[2 * g]; t < s.segments[2 * g + 1]; t++)
            for (int k = 0; k < 2; k++)
                bad_nan += (t + hz[k] >= s.segments[2 * g + 1]) != !isfinite(s.targets[t * 2 + k]);
    CHECK(bad_nan == 0, "targets NaN exactly at segment ends (%lld mismatches)", (long long)bad_nan);

    /* book invariants */
    int64_t off_grid = 0, crossed = 0, order = 0, badvol = 0;
    for (int64_t t = 0; t < N; t++) {
        const float *x = s.features + t * LOBDS_NFEAT;
        for (int c = 0; c < 40; c++) {
            if (c >= 10 && c < 20) { badvol += !(x[c] > 0 && isfinite(x[c])); continue; }
            if (c >= 30) { badvol += !(x[c] > 0 && isfinite(x[c])); continue; }
            double q = (double)x[c] / p.tick;
            off_grid += fabs((double)x[c] - llround(q) * p.tick) > 1e-6 * x[c];
        }
        crossed += !(x[20] < x[0]);
        for (int l = 1; l < 10; l++) order += !(x[l] > x[l - 1]) + !(x[20 + l] < x[20 + l - 1]);
    }
    CHECK(off_grid == 0, "all prices on the tick grid (%lld off)", (long long)off_grid);
    CHECK(crossed == 0, "bid < ask on every row (%lld crossed)", (long long)crossed);
    CHECK(order == 0 && badvol == 0, "levels ordered away from the touch, amounts positive (%lld, %lld)",
          (long long)order, (long long)badvol);

    /* oracle recomputed from the stored features equals the stored attribute */
    double *shat = malloc(N * sizeof *shat), *m = malloc(N * sizeof *m);
    synth_kalman(shat, &s, &p);
    int64_t n_used = 0;
    double oc = synth_test_corr(shat, &s, 0, &n_used);
    CHECK(oc == s.oracle_corr[0] && n_used > 10000, "oracle recomputed from the file = stored (%lld test samples)", (long long)n_used);

    /* learnable and no leak: OLS on the level-0 log imbalance */
    for (int64_t t = 0; t < N; t++) m[t] = log((double)s.features[t * 40 + 30] / (double)s.features[t * 40 + 10]);
    double ols = ols_corr(&s, 0, m);
    CHECK(ols >= 0.8 * s.oracle_corr[0], "OLS(100 lags of level-0 imbalance) corr %.4f >= 0.8 x oracle %.4f", ols, s.oracle_corr[0]);
    CHECK(ols <= s.oracle_corr[0] + 0.03, "OLS corr %.4f not above oracle %.4f + 0.03 (no leak)", ols, s.oracle_corr[0]);
    free(shat);
    free(m);
    lobds_symbol_free(&s);
}

static int file_bytes_equal(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int eq = fa && fb;
    while (eq) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) eq = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return eq;
}

static int same_contents(const char *a, const char *b, const char *sym) {
    LobSymbol x, y;
    DlErr e;
    if (lobds_read_symbol(a, H5P_DEFAULT, sym, &x, &e)) { printf("  %s\n", e.msg); return 0; }
    if (lobds_read_symbol(b, H5P_DEFAULT, sym, &y, &e)) { printf("  %s\n", e.msg); lobds_symbol_free(&x); return 0; }
    int64_t N = x.n_rows;
    int eq = N == y.n_rows && x.n_segments == y.n_segments &&
             !memcmp(x.time, y.time, N * 8) && !memcmp(x.features, y.features, N * 160) &&
             !memcmp(x.targets, y.targets, N * 4 * x.n_horizons) &&
             !memcmp(x.segments, y.segments, x.n_segments * 16) &&
             !memcmp(x.oracle_corr, y.oracle_corr, sizeof x.oracle_corr);
    lobds_symbol_free(&x);
    lobds_symbol_free(&y);
    return eq;
}

static void test_files(const char *dir) {
    const int hz[2] = {10, 60};
    char f1[4200], f2[4200], f3[4200];
    snprintf(f1, sizeof f1, "%s/a.h5", dir);
    snprintf(f2, sizeof f2, "%s/b.h5", dir);
    snprintf(f3, sizeof f3, "%s/c.h5", dir);
    DlErr e;
    int rc = synth_write_file(f1, 42, 3, 20000, hz, 2, 0.15, 0.5, 1, 0, &e);
    CHECK(rc == 0, "3 symbols x 20000 s, seed 42: %s", rc ? e.msg : "ok");
    rc = synth_write_file(f2, 42, 3, 20000, hz, 2, 0.15, 0.5, 0, 0, &e);
    CHECK(rc == 0, "same again: %s", rc ? e.msg : "ok");
    rc = synth_write_file(f3, 43, 3, 20000, hz, 2, 0.15, 0.5, 0, 0, &e);
    CHECK(rc == 0, "seed 43: %s", rc ? e.msg : "ok");
    rc = synth_write_file(f1, 42, 1, 2000, hz, 2, 0.15, 0.5, 0, 0, &e);
    CHECK(rc == -1 && strstr(e.msg, "overwrite"), "refuses to overwrite: %s", e.msg);

    char **names;
    int n = 0;
    if (lobds_list(f1, &names, &n, &e)) printf("  %s\n", e.msg);
    CHECK(n == 3 && !strcmp(names[0], "SYN000USDT") && !strcmp(names[2], "SYN002USDT"), "symbols SYN000USDT..SYN002USDT");
    for (int i = 0; i < n; i++) {
        CHECK(same_contents(f1, f2, names[i]), "%s: same seed -> identical contents", names[i]);
        CHECK(!same_contents(f1, f3, names[i]), "%s: other seed -> different contents", names[i]);
        LobSymbol s;
        if (lobds_read_symbol_meta(f1, H5P_DEFAULT, names[i], &s, &e) == 0) {
            CHECK(s.oracle_corr[0] >= 0.15 && s.oracle_corr[0] <= 0.5, "%s: oracle_h10 %.4f in [0.15, 0.5] (h60 %.4f)",
                  names[i], s.oracle_corr[0], s.oracle_corr[1]);
            lobds_symbol_free(&s);
        } else {
            CHECK(0, "%s", e.msg);
        }
    }
    if (n) lobds_free_names(names, n);
    CHECK(file_bytes_equal(f1, f2), "same seed -> byte-identical files");

    /* the generator parameters needed to regenerate are stored */
    hid_t f = H5Fopen(f1, H5F_ACC_RDONLY, H5P_DEFAULT);
    const char *attrs[] = {"seed", "symbol_index", "beta", "sigma_p", "half_life_s", "tick", "gamma",
                           "oracle_split", "oracle_seq_len", "oracle_corr_h10", "oracle_corr_h60", "oracle_n_h10"};
    int all = f >= 0;
    for (size_t i = 0; all && i < sizeof attrs / sizeof *attrs; i++)
        if (H5Aexists_by_name(f, "/symbols/SYN001USDT", attrs[i], H5P_DEFAULT) <= 0) { printf("  missing %s\n", attrs[i]); all = 0; }
    if (f >= 0) H5Fclose(f);
    CHECK(all, "generator params, seed and oracle bookkeeping stored as attributes");
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    char dir[4096];
    const char *b = getenv("DEEPLOB_BUILD");
    snprintf(dir, sizeof dir, "%s/test_tmp_synth_XXXXXX", b && *b ? b : "/tmp");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    printf("test_synth: files in %s\n", dir);
    double t0 = dl_now();
    test_strong_symbol();
    printf("  strong-symbol checks: %.2f s\n", dl_now() - t0);
    t0 = dl_now();
    test_files(dir);
    printf("  file checks: %.2f s\n", dl_now() - t0);
    if (!g_fail && !getenv("KEEP_TMP")) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    }
    printf("test_synth: %s (%d failures)\n", g_fail ? "FAILED" : "passed", g_fail);
    MPI_Finalize();
    return g_fail ? 1 : 0;
}
