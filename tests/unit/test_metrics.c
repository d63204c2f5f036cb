/* test_metrics.c: Pearson/MAE/RMSE/R^2 against numpy (via /usr/bin/python3 when
 * available) and hand-worked values; aggregates (sample std) and top-k. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rng.h"
#include "train/metrics.h"

static int fails = 0;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); fails++; } } while (0)
static int close_to(double a, double b, double tol) { return fabs(a - b) <= tol * (1 + fabs(b)); }

int main(void) {
    /* hand-worked: pred = (1,2,3), y = (1,3,2)
     * corr: centred (-1,0,1),(-1,1,0) -> 1/sqrt(2*2) = 0.5; MAE 2/3; RMSE sqrt(2/3); R2 = 1 - 2/2 = 0 */
    float p3[] = {1, 2, 3}, y3[] = {1, 3, 2};
    Metrics m;
    metrics_compute(&m, p3, y3, 3);
    printf("hand-worked: corr %.6f mae %.6f rmse %.6f r2 %.6f n %lld\n", m.corr, m.mae, m.rmse, m.r2, (long long)m.n);
    CHECK(close_to(m.corr, 0.5, 1e-12) && close_to(m.mae, 2.0 / 3, 1e-12) && close_to(m.rmse, sqrt(2.0 / 3), 1e-12) &&
          fabs(m.r2) < 1e-12 && m.n == 3, "hand-worked case");
    /* non-finite pairs are ignored */
    float p5[] = {1, NAN, 2, 3, 5}, y5[] = {1, 7, 3, 2, INFINITY};
    metrics_compute(&m, p5, y5, 5);
    CHECK(m.n == 3 && close_to(m.corr, 0.5, 1e-12), "NaN/inf pairs must be skipped (n %lld corr %g)", (long long)m.n, m.corr);
    /* zero variance -> NaN corr, NaN r2 when the target is constant */
    float c[] = {2, 2, 2};
    metrics_compute(&m, c, y3, 3);
    CHECK(isnan(m.corr) && close_to(m.r2, 1 - 2.0 / 2, 1e-12), "constant prediction: corr NaN, r2 %g", m.r2);
    metrics_compute(&m, p3, c, 3);
    CHECK(isnan(m.corr) && isnan(m.r2), "constant target: corr and r2 NaN");

    /* large random case vs numpy (large mean offset tests the two-pass sums) */
    enum { N = 5000 };
    float *p = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) {
        double z = dl_rand_normal(7, i);
        p[i] = (float)(1000.0 + 0.3 * z + 0.1 * dl_rand_normal(8, i));
        y[i] = (float)(1000.0 + z + dl_rand_normal(9, i));
    }
    metrics_compute(&m, p, y, N);
    printf("random N=%d: corr %.10f mae %.10f rmse %.10f r2 %.10f\n", N, m.corr, m.mae, m.rmse, m.r2);
    char tmp[64], cmd[1024];
    snprintf(tmp, sizeof tmp, "/tmp/dl_test_metrics_%d.bin", (int)getpid());
    FILE *f = fopen(tmp, "wb");
    int have_py = 0;
    if (f) {
        fwrite(p, sizeof(float), N, f);
        fwrite(y, sizeof(float), N, f);
        fclose(f);
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import numpy as np;a=np.fromfile('%s',dtype='<f4');"
                         "p=a[:5000].astype(np.float64);y=a[5000:].astype(np.float64);"
                         "print('%%.15g %%.15g %%.15g %%.15g'%%(np.corrcoef(p,y)[0,1],np.mean(np.abs(p-y)),"
                         "np.sqrt(np.mean((p-y)**2)),1-np.sum((p-y)**2)/np.sum((y-y.mean())**2)))\" 2>/dev/null", tmp);
        FILE *py = popen(cmd, "r");
        double ref[4];
        if (py && fscanf(py, "%lf %lf %lf %lf", &ref[0], &ref[1], &ref[2], &ref[3]) == 4) {
            have_py = 1;
            printf("numpy:           corr %.10f mae %.10f rmse %.10f r2 %.10f\n", ref[0], ref[1], ref[2], ref[3]);
            CHECK(close_to(m.corr, ref[0], 1e-9), "corr vs numpy");
            CHECK(close_to(m.mae, ref[1], 1e-9), "mae vs numpy");
            CHECK(close_to(m.rmse, ref[2], 1e-9), "rmse vs numpy");
            CHECK(close_to(m.r2, ref[3], 1e-9), "r2 vs numpy");
        }
        if (py) pclose(py);
        remove(tmp);
    }
    if (!have_py) printf("numpy unavailable (/usr/bin/python3): compared with hand-worked cases only\n");
    free(p);
    free(y);

    /* aggregates: sample std (n-1) */
    double v[] = {0.1, 0.4, NAN, 0.2, 0.3, 0.5, 0.05};
    Aggregate a;
    metrics_aggregate(&a, v, 7);
    /* finite: .05 .1 .2 .3 .4 .5 -> mean .258333, median .25, sample std sqrt(sum sq dev / 5) */
    double mean = 1.55 / 6, ss = 0, fin[] = {0.05, 0.1, 0.2, 0.3, 0.4, 0.5};
    for (int i = 0; i < 6; i++) ss += (fin[i] - mean) * (fin[i] - mean);
    printf("aggregate: n %d mean %.6f median %.6f std %.6f min %g max %g\n", a.n, a.mean, a.median, a.std, a.min, a.max);
    CHECK(a.n == 6 && close_to(a.mean, mean, 1e-12) && close_to(a.median, 0.25, 1e-12) &&
          close_to(a.std, sqrt(ss / 5), 1e-12) && a.min == 0.05 && a.max == 0.5, "aggregate");
    int top[5];
    int k = metrics_top_k(top, v, 7, 5);
    CHECK(k == 5 && top[0] == 5 && top[1] == 1 && top[2] == 4 && top[3] == 3 && top[4] == 0, "top5 order %d %d %d %d %d",
          top[0], top[1], top[2], top[3], top[4]);
    double tie[] = {0.3, 0.3, 0.1};
    k = metrics_top_k(top, tie, 3, 5);
    CHECK(k == 3 && top[0] == 0 && top[1] == 1, "ties keep the lower index first");

    printf(fails ? "test_metrics: %d FAILED\n" : "test_metrics: all passed\n", fails);
    return fails ? 1 : 0;
}
