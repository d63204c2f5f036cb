/* test_dataset.c: split bounds, windows inside one split and one segment, skipped
 * non-finite windows, z-score from train rows only, EMA never on raw test targets,
 * batch assembly, deterministic permutation, max_train_samples, standardisation,
 * log volumes (scale fitted on train rows only), two target columns (deeplob_hier).
 * Every expectation is recomputed here by brute force from the definitions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/dataset.h"

static int fails = 0;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); fails++; } } while (0)

enum { N = 60, F = LOBDS_NFEAT, T = 4 };

static void make_symbol(LobSymbol *s, int64_t *segs) {
    memset(s, 0, sizeof *s);
    snprintf(s->symbol, sizeof s->symbol, "TEST");
    s->n_rows = N;
    s->n_horizons = 2;
    s->horizons[0] = 1;
    s->horizons[1] = 3;
    s->time = malloc(sizeof(int64_t) * N);
    s->features = malloc(sizeof(float) * N * F);
    s->targets = malloc(sizeof(float) * N * 2);
    for (int t = 0; t < N; t++) {
        s->time[t] = 1000 + t + (t >= 25 ? 100 : 0);          /* an outage after row 24 */
        for (int f = 0; f < F; f++) s->features[t * F + f] = (float)(t * 0.5 + f);
        s->targets[t * 2 + 0] = (float)((t % 7) - 3);          /* horizon 1 */
        s->targets[t * 2 + 1] = (float)(t * 0.1);             /* horizon 3 */
    }
    /* test rows get absurd features: a leak into the z-score would show */
    for (int t = 48; t < N; t++)
        for (int f = 0; f < F; f++) s->features[t * F + f] = 1e6f;
    s->features[10 * F + 3] = NAN;   /* train row 10 bad */
    s->features[41 * F + 0] = INFINITY; /* val row 41 bad */
    s->targets[24 * 2 + 1] = NAN;    /* end of segment 0: t+h leaves it */
    s->targets[33 * 2 + 1] = NAN;    /* a NaN target mid-train */
    s->targets[59 * 2 + 1] = NAN;
    segs[0] = 0; segs[1] = 25; segs[2] = 25; segs[3] = N;
    s->n_segments = 2;
    s->segments = segs;
    for (int k = 0; k < LOBDS_MAX_H; k++) s->oracle_corr[k] = NAN;
}

int main(void) {
    int64_t b[4];
    dataset_split_bounds(b, 7);
    CHECK(b[0] == 0 && b[1] == 4 && b[2] == 5 && b[3] == 7, "N=7 bounds %lld %lld %lld", (long long)b[1], (long long)b[2], (long long)b[3]);
    dataset_split_bounds(b, 1000003);
    CHECK(b[1] == 600001 && b[2] == 800002, "N=1000003 bounds");

    LobSymbol s;
    int64_t segs[4];
    make_symbol(&s, segs);
    DataOptions o = {T, 3, 0.5, 0, 0, 0, 0, 0};
    SymbolData d;
    DlErr e = {{0}};
    int rc = dataset_build(&d, &s, o, &e);
    CHECK(rc == 0, "build failed: %s", e.msg);
    if (rc) return 1;
    printf("splits: [%lld,%lld) [%lld,%lld) [%lld,%lld); samples %lld/%lld/%lld skipped %lld/%lld/%lld nan %lld/%lld/%lld\n",
           (long long)d.split_start[0], (long long)d.split_start[1], (long long)d.split_start[1], (long long)d.split_start[2],
           (long long)d.split_start[2], (long long)d.split_start[3], (long long)d.n[0], (long long)d.n[1], (long long)d.n[2],
           (long long)d.skipped[0], (long long)d.skipped[1], (long long)d.skipped[2], (long long)d.nan_targets[0],
           (long long)d.nan_targets[1], (long long)d.nan_targets[2]);
    CHECK(d.split_start[1] == 36 && d.split_start[2] == 48, "split rows");

    /* brute force: every row t, which split/segment, is it a sample? */
    int64_t want_n[3] = {0}, want_skip[3] = {0}, want_nan[3] = {0};
    for (int sp = 0; sp < 3; sp++) {
        int64_t k = 0;
        for (int64_t t = 0; t < N; t++) {
            if (t < d.split_start[sp] || t >= d.split_start[sp + 1]) continue;
            int64_t lo = t - T + 1;
            int inside = lo >= d.split_start[sp] && ((t < 25 && lo >= 0) || (t >= 25 && lo >= 25));
            if (!inside) continue;
            if (isnan(s.targets[t * 2 + 1])) { want_nan[sp]++; continue; }
            int bad = 0;
            for (int64_t r = lo; r <= t; r++)
                for (int f = 0; f < F; f++) bad |= !isfinite(s.features[r * F + f]);
            if (bad) { want_skip[sp]++; continue; }
            CHECK(k < d.n[sp] && d.idx[sp][k] == t, "split %d sample %lld: row %lld expected", sp, (long long)k, (long long)t);
            k++;
            want_n[sp]++;
        }
        CHECK(d.n[sp] == want_n[sp] && d.skipped[sp] == want_skip[sp] && d.nan_targets[sp] == want_nan[sp],
              "split %d: n %lld/%lld skipped %lld/%lld nan %lld/%lld", sp, (long long)d.n[sp], (long long)want_n[sp],
              (long long)d.skipped[sp], (long long)want_skip[sp], (long long)d.nan_targets[sp], (long long)want_nan[sp]);
    }
    CHECK(d.skipped[0] == 4 && d.skipped[1] == 4, "row 10 and row 41 each spoil T=4 windows");
    /* no window crosses a boundary */
    for (int sp = 0; sp < 3; sp++)
        for (int64_t i = 0; i < d.n[sp]; i++) {
            int64_t t = d.idx[sp][i], lo = t - T + 1;
            CHECK(lo >= d.split_start[sp] && !(lo < 25 && t >= 25), "window at %lld crosses a boundary", (long long)t);
        }

    /* z-score: train rows [0,36) minus bad row 10, population std */
    for (int f = 0; f < F; f += 13) {
        double sum = 0, ss = 0;
        int k = 0;
        for (int t = 0; t < 36; t++) if (t != 10) { sum += s.features[t * F + f]; k++; }
        double mu = sum / k;
        for (int t = 0; t < 36; t++) if (t != 10) ss += (s.features[t * F + f] - mu) * (s.features[t * F + f] - mu);
        double sd = sqrt(ss / k);
        CHECK(fabs(d.mean[f] - mu) < 1e-12 && fabs(d.std[f] - sd) < 1e-12, "z-score feature %d: %g/%g vs %g/%g", f,
              d.mean[f], d.std[f], mu, sd);
        float xn = (float)((s.features[50 * F + f] - (float)mu) * (float)(1.0 / sd));
        CHECK(d.xn[50 * F + f] == xn, "normalised test row uses train stats");
    }
    CHECK(d.n_fit_rows == 35, "fit rows %lld (35)", (long long)d.n_fit_rows);

    /* targets: test y_fit is raw (bit-exact); train/val EMA restarts per (split, segment) piece */
    for (int t = 48; t < N; t++)
        CHECK((isnan(d.y_fit[t]) && isnan(s.targets[t * 2 + 1])) || d.y_fit[t] == s.targets[t * 2 + 1],
              "test target at %d must be raw", t);
    const int piece_start[] = {0, 25, 36, 48}, piece_end[] = {25, 36, 48, 60};
    for (int p = 0; p < 4; p++) {
        double st = 0;
        int have = 0;
        for (int t = piece_start[p]; t < piece_end[p]; t++) {
            float y = s.targets[t * 2 + 1];
            float want;
            if (isnan(y)) want = NAN;
            else { st = have ? 0.5 * y + 0.5 * st : y; have = 1; want = (float)st; }
            CHECK((isnan(want) && isnan(d.y_smooth[t])) || d.y_smooth[t] == want, "EMA at %d: %g vs %g", t, d.y_smooth[t], want);
            if (t < 48) CHECK((isnan(want) && isnan(d.y_fit[t])) || d.y_fit[t] == want, "train/val fit target at %d", t);
        }
    }
    CHECK(d.y_smooth[36] == s.targets[36 * 2 + 1] && d.y_smooth[48] == s.targets[48 * 2 + 1], "EMA restarts at split starts");
    CHECK(d.y_smooth[25] == s.targets[25 * 2 + 1], "EMA restarts at a segment start");

    /* batch assembly */
    int64_t rows[2] = {d.idx[0][0], d.idx[2][1]};
    float *x = malloc(sizeof(float) * 2 * T * F), y[2];
    dataset_fill_batch(x, y, &d, d.y_fit, rows, 2);
    CHECK(!memcmp(x + T * F, d.xn + (rows[1] - T + 1) * F, sizeof(float) * T * F) && y[1] == d.y_fit[rows[1]] &&
          !memcmp(x, d.xn + (rows[0] - T + 1) * F, sizeof(float) * T * F), "batch rows t-T+1..t");
    free(x);

    /* permutation: valid, deterministic, key-dependent */
    int64_t p1[100], p2[100], p3[100];
    dataset_permutation(p1, 100, 11);
    dataset_permutation(p2, 100, 11);
    dataset_permutation(p3, 100, 12);
    int seen[100] = {0}, same = 1, diff = 0;
    for (int i = 0; i < 100; i++) { seen[p1[i]]++; same &= p1[i] == p2[i]; diff += p1[i] != p3[i]; }
    int ok = 1;
    for (int i = 0; i < 100; i++) ok &= seen[i] == 1;
    CHECK(ok && same && diff > 50, "permutation: valid %d deterministic %d differs %d", ok, same, diff);
    dataset_free(&d);

    /* no smoothing: y_fit == raw everywhere; max_train_samples keeps the latest; standardisation */
    DataOptions o2 = {T, 1, 0.0, 1, 10, 0, 0, 0};
    rc = dataset_build(&d, &s, o2, &e);
    CHECK(rc == 0, "%s", e.msg);
    /* horizon 1 has no NaN targets: 24 + 2 train samples, the oldest 16 dropped */
    CHECK(d.n[0] == 10 && d.dropped_train == 16 && d.idx[0][9] == 35 && d.idx[0][0] == 23, "max_train_samples keeps the most recent (last %lld)", (long long)d.idx[0][9]);
    double m = 0, v = 0;
    for (int i = 0; i < 10; i++) m += d.y_fit[d.idx[0][i]];
    m /= 10;
    for (int i = 0; i < 10; i++) v += (d.y_fit[d.idx[0][i]] - m) * (d.y_fit[d.idx[0][i]] - m);
    CHECK(fabs(m) < 1e-6 && fabs(v / 10 - 1) < 1e-5, "standardised train targets mean %g var %g", m, v / 10);
    CHECK(fabs(d.y_fit[50] * d.y_sd[0] + d.y_mu[0] - s.targets[50 * 2]) < 1e-5, "standardisation inverts to bps");
    dataset_free(&d);

    /* mid-relative prices: column f of row t becomes 1e4*(p/mid_t - 1) before the z-score */
    DataOptions o5 = {T, 1, 0.0, 0, 0, 1, 0, 0};
    rc = dataset_build(&d, &s, o5, &e);
    CHECK(rc == 0, "%s", e.msg);
    {
        int t = 20, f = 5, g = 25; /* an ask and a bid price column */
        double mid = 0.5 * ((double)s.features[t * F + 0] + (double)s.features[t * F + 20]);
        float ra = (float)(1e4 * (s.features[t * F + f] / mid - 1.0)), rb = (float)(1e4 * (s.features[t * F + g] / mid - 1.0));
        float za = (ra - (float)d.mean[f]) * (float)(1.0 / d.std[f]), zb = (rb - (float)d.mean[g]) * (float)(1.0 / d.std[g]);
        CHECK(d.xn[t * F + f] == za && d.xn[t * F + g] == zb, "mid-relative price at row %d: %g %g vs %g %g", t,
              d.xn[t * F + f], d.xn[t * F + g], za, zb);
        float zv = (s.features[t * F + 12] - (float)d.mean[12]) * (float)(1.0 / d.std[12]);
        CHECK(d.xn[t * F + 12] == zv, "volumes are left as they are");
    }
    dataset_free(&d);

    /* log volumes: amount column f of row t becomes log1p(v / c_f), c_f = 1e-3 * the
     * train-row mean (finite rows only, so the 1e6 test rows and the bad row 10 stay out) */
    {
        DataOptions o6 = {T, 1, 0.0, 0, 0, 0, 1, 0};
        rc = dataset_build(&d, &s, o6, &e);
        CHECK(rc == 0, "%s", e.msg);
        int f = 33, t = 50, p = 4;   /* a bid amount (test row), an ask price */
        double sum = 0;
        int k = 0;
        for (int r = 0; r < 36; r++) {
            if (r == 10) continue;
            sum += s.features[r * F + f];
            k++;
        }
        double c = 1e-3 * sum / k;
        CHECK(fabs(d.vol_scale[f] - c) < 1e-9 * c && d.vol_scale[p] == 0 && d.vol_scale[12] > 0,
              "volume scale %g vs %g (train rows only)", d.vol_scale[f], c);
        /* z-score of the transformed train rows, recomputed here */
        double m = 0, v = 0;
        for (int r = 0; r < 36; r++) if (r != 10) m += log1p(s.features[r * F + f] / d.vol_scale[f]);
        m /= k;
        for (int r = 0; r < 36; r++)
            if (r != 10) { double q = log1p(s.features[r * F + f] / d.vol_scale[f]) - m; v += q * q; }
        double want = (log1p(s.features[t * F + f] / d.vol_scale[f]) - m) / sqrt(v / k);
        CHECK(fabs(d.xn[t * F + f] - want) < 1e-4 * fabs(want) + 1e-5, "log volume z at row %d: %g vs %g", t,
              d.xn[t * F + f], want);
        float zp = (s.features[t * F + p] - (float)d.mean[p]) * (float)(1.0 / d.std[p]);
        CHECK(d.xn[t * F + p] == zp, "prices untouched by volume_features");
        printf("log volumes: c_f %.6g, row %d z %.5f (want %.5f)\n", d.vol_scale[f], t, d.xn[t * F + f], want);
        dataset_free(&d);
    }

    /* two target columns (deeplob_hier): y (N, 2) rows [h1, h3]; a sample needs both
     * finite; EMA and standardisation per column; batch rows carry both */
    {
        DataOptions o7 = {T, 1, 0.5, 1, 0, 0, 0, 3};
        rc = dataset_build(&d, &s, o7, &e);
        CHECK(rc == 0, "%s", e.msg);
        DataOptions o8 = {T, 3, 0.5, 0, 0, 0, 0, 0};
        SymbolData d3;
        rc = dataset_build(&d3, &s, o8, &e);
        CHECK(rc == 0, "%s", e.msg);
        CHECK(d.n_y == 2 && d3.n_y == 1, "n_y %d %d", d.n_y, d3.n_y);
        /* horizon 1 has no NaN: the sample set is that of horizon 3 alone */
        int same = 1;
        for (int sp = 0; sp < 3; sp++) {
            same &= d.n[sp] == d3.n[sp] && d.nan_targets[sp] == d3.nan_targets[sp];
            for (int64_t i = 0; same && i < d.n[sp]; i++) same &= d.idx[sp][i] == d3.idx[sp][i];
        }
        CHECK(same, "two-target samples = rows where both targets are finite");
        int ok = 1;
        for (int t = 0; t < N; t++) {
            ok &= d.y_raw[2 * t] == s.targets[2 * t] &&
                  ((isnan(d.y_raw[2 * t + 1]) && isnan(s.targets[2 * t + 1])) || d.y_raw[2 * t + 1] == s.targets[2 * t + 1]);
            /* column 2's smoothing equals the one-target build's */
            ok &= (isnan(d.y_smooth[2 * t + 1]) && isnan(d3.y_smooth[t])) || d.y_smooth[2 * t + 1] == d3.y_smooth[t];
        }
        CHECK(ok, "y_raw/y_smooth columns");
        double m0 = 0, m1 = 0;
        for (int64_t i = 0; i < d.n[0]; i++) { m0 += d.y_fit[2 * d.idx[0][i]]; m1 += d.y_fit[2 * d.idx[0][i] + 1]; }
        CHECK(fabs(m0) < 1e-5 * d.n[0] && fabs(m1) < 1e-5 * d.n[0] && d.y_sd[0] != d.y_sd[1],
              "per-column standardisation (means %g %g, sd %g %g)", m0 / d.n[0], m1 / d.n[0], d.y_sd[0], d.y_sd[1]);
        int64_t t = d.idx[2][0];
        CHECK(fabs(d.y_fit[2 * t + 1] * d.y_sd[1] + d.y_mu[1] - s.targets[2 * t + 1]) < 1e-5, "test column 2 raw");
        float x[2 * T * F], y[4];
        int64_t rows[2] = {d.idx[1][0], d.idx[2][1]};
        dataset_fill_batch(x, y, &d, d.y_fit, rows, 2);
        CHECK(y[0] == d.y_fit[2 * rows[0]] && y[1] == d.y_fit[2 * rows[0] + 1] && y[2] == d.y_fit[2 * rows[1]] &&
              y[3] == d.y_fit[2 * rows[1] + 1], "batch y is (B, 2)");
        printf("two targets: samples %lld/%lld/%lld, sd %.4f %.4f\n", (long long)d.n[0], (long long)d.n[1],
               (long long)d.n[2], d.y_sd[0], d.y_sd[1]);
        dataset_free(&d3);
        dataset_free(&d);
    }

    /* errors name the symbol */
    DataOptions o3 = {T, 60, 0, 0, 0, 0, 0, 0};
    rc = dataset_build(&d, &s, o3, &e);
    CHECK(rc == -1 && strstr(e.msg, "TEST") && strstr(e.msg, "horizon 60"), "missing horizon: %s", e.msg);
    DataOptions o4 = {20, 1, 0, 0, 0, 0, 0, 0};
    rc = dataset_build(&d, &s, o4, &e);
    CHECK(rc == -2 && strstr(e.msg, "no train samples"), "too-long windows: %s", e.msg);
    printf("errors: %s\n", e.msg);

    free(s.time);
    free(s.features);
    free(s.targets);
    printf(fails ? "test_dataset: %d FAILED\n" : "test_dataset: all passed\n", fails);
    return fails ? 1 : 0;
}
