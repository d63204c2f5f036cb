/* test_mmf_stats.c: EWM, ADF and the quantile transform against their Python
 * originals (pandas, statsmodels, scikit-learn) on the arrays of a fixture written
 * by tests/ref/mmf_stats_ref.py: EWM and quantiles to float rounding (1e-12
 * relative), ADF statistic and p-value to 1e-6 relative, the same lag; series the
 * originals refuse (too short) or we refuse (constant) must be clear errors.
 * usage: test_mmf_stats [fixture.json] (default tests/fixtures/mmf_stats_ref.json) */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/mmf_stats.h"

static int fails = 0;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); fails++; } } while (0)

/* JSON array (null = NaN) -> malloc'd doubles */
static double *arr(const cJSON *o, const char *key, int *n) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    *n = cJSON_GetArraySize(a);
    double *v = malloc(sizeof(double) * (size_t)(*n ? *n : 1));
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a) v[i++] = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    return v;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

/* worst relative difference, NaN positions must agree */
static double max_rel(const double *a, const double *b, int n) {
    double w = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) { if (isnan(a[i]) != isnan(b[i])) return INFINITY; continue; }
        double d = fabs(a[i] - b[i]) / fmax(fabs(b[i]), 1e-300);
        if (fabs(a[i] - b[i]) < 1e-15) d = 0; /* exact zeros of the uniform output */
        if (d > w) w = d;
    }
    return w;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "tests/fixtures/mmf_stats_ref.json";
    FILE *f = fopen(path, "rb");
    if (!f) { printf("FAIL: cannot open %s\n", path); return 1; }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *txt = malloc((size_t)sz + 1);
    if (fread(txt, 1, (size_t)sz, f) != (size_t)sz) { printf("FAIL: read %s\n", path); return 1; }
    txt[sz] = 0;
    fclose(f);
    cJSON *doc = cJSON_Parse(txt);
    if (!doc) { printf("FAIL: %s is not JSON\n", path); return 1; }

    int n_ewm = 0, n_adf = 0, n_adf_err = 0, n_qt = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "ewm")) {
        int n, n2;
        double *x = arr(c, "x", &n), *want = arr(c, "y", &n2), *y = malloc(sizeof(double) * n);
        double h = num(c, "halflife");
        mmf_ewm_mean(y, x, n, h);
        double r = max_rel(y, want, n);
        printf("ewm halflife %-4g n %d: max rel diff %.3g\n", h, n, r);
        CHECK(r <= 1e-12, "ewm halflife %g differs from pandas by %g", h, r);
        n_ewm++;
        free(x); free(want); free(y);
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "adf")) {
        int n;
        double *x = arr(c, "x", &n);
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        int want_lag = (int)num(c, "lag");
        AdfResult r;
        DlErr e = {{0}};
        int rc = mmf_adf(&r, x, n, 10, &e);
        if (want_lag < 0) {
            printf("adf %-12s n %4d: refused as expected: %s\n", name, n, rc ? e.msg : "(accepted!)");
            CHECK(rc == -1 && isnan(r.pvalue), "%s must be refused with p = NaN", name);
            n_adf_err++;
        } else {
            double ws = num(c, "stat"), wp = num(c, "p");
            double ds = fabs(r.stat - ws) / fabs(ws), dp = wp == 0 ? fabs(r.pvalue) : fabs(r.pvalue - wp) / wp;
            printf("adf %-12s n %4d: stat %.10g (sm %.10g) p %.6g (sm %.6g) lag %d (sm %d) rel %.2g %.2g\n", name, n,
                   r.stat, ws, r.pvalue, wp, r.usedlag, want_lag, ds, dp);
            CHECK(rc == 0, "%s: %s", name, e.msg);
            CHECK(ds <= 1e-6 && dp <= 1e-6 && r.usedlag == want_lag && r.nobs == (int64_t)num(c, "nobs"),
                  "%s differs from statsmodels", name);
            n_adf++;
        }
        free(x);
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(doc, "qt")) {
        int ntr, nte, nq, n1, n2;
        double *tr = arr(c, "train", &ntr), *te = arr(c, "test", &nte), *wq = arr(c, "quantiles", &nq);
        double *wtr = arr(c, "y_train", &n1), *wte = arr(c, "y_test", &n2);
        double *q = malloc(sizeof(double) * nq), *ytr = malloc(sizeof(double) * ntr), *yte = malloc(sizeof(double) * nte);
        mmf_qt_fit(q, nq, tr, ntr);
        mmf_qt_apply(ytr, tr, ntr, q, nq);
        mmf_qt_apply(yte, te, nte, q, nq);
        double rq = max_rel(q, wq, nq), r1 = max_rel(ytr, wtr, ntr), r2 = max_rel(yte, wte, nte);
        printf("quantile n_quantiles %4d train %d: quantiles %.3g, train %.3g, test %.3g max rel diff\n", nq, ntr, rq,
               r1, r2);
        CHECK(rq <= 1e-12 && r1 <= 1e-12 && r2 <= 1e-12, "quantile transform differs from scikit-learn");
        n_qt++;
        free(tr); free(te); free(wq); free(wtr); free(wte); free(q); free(ytr); free(yte);
    }
    printf("%d EWM, %d ADF (+%d refused), %d quantile columns compared\n", n_ewm, n_adf, n_adf_err, n_qt);
    CHECK(n_ewm >= 3 && n_adf >= 20 && n_adf_err >= 1 && n_qt >= 3, "fixture %s has too few cases", path);
    cJSON_Delete(doc);
    free(txt);
    printf(fails ? "test_mmf_stats: %d FAILED\n" : "test_mmf_stats: all passed\n", fails);
    return fails ? 1 : 0;
}
