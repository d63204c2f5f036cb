/* metrics.c: Pearson, MAE, RMSE, R^2 (two-pass, double) and aggregates. */
#include "train/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void metrics_compute(Metrics *m, const float *pred, const float *y, int64_t n) {
    /* two passes: means first, then centred sums (no cancellation for large means) */
    double sp = 0, sy = 0;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(pred[i]) || !isfinite(y[i])) continue;
        sp += pred[i];
        sy += y[i];
        k++;
    }
    m->n = k;
    if (k == 0) { m->corr = m->mae = m->rmse = m->r2 = NAN; return; }
    double mp = sp / (double)k, my = sy / (double)k;
    double cpp = 0, cyy = 0, cpy = 0, sae = 0, sse = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(pred[i]) || !isfinite(y[i])) continue;
        double dp = pred[i] - mp, dy = y[i] - my, r = (double)pred[i] - (double)y[i];
        cpp += dp * dp;
        cyy += dy * dy;
        cpy += dp * dy;
        sae += fabs(r);
        sse += r * r;
    }
    m->mae = sae / (double)k;
    m->rmse = sqrt(sse / (double)k);
    m->corr = (k >= 2 && cpp > 0 && cyy > 0) ? cpy / sqrt(cpp * cyy) : NAN;
    m->r2 = cyy > 0 ? 1.0 - sse / cyy : NAN;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void metrics_aggregate(Aggregate *a, const double *v, int n) {
    double *tmp = dl_malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) tmp[k++] = v[i];
    a->n = k;
    if (k == 0) {
        a->mean = a->median = a->std = a->min = a->max = NAN;
        free(tmp);
        return;
    }
    qsort(tmp, (size_t)k, sizeof(double), cmp_double);
    double s = 0;
    for (int i = 0; i < k; i++) s += tmp[i];
    a->mean = s / k;
    double ss = 0;
    for (int i = 0; i < k; i++) ss += (tmp[i] - a->mean) * (tmp[i] - a->mean);
    a->std = k >= 2 ? sqrt(ss / (k - 1)) : NAN;
    a->median = (k % 2) ? tmp[k / 2] : 0.5 * (tmp[k / 2 - 1] + tmp[k / 2]);
    a->min = tmp[0];
    a->max = tmp[k - 1];
    free(tmp);
}

int metrics_top_k(int *idx, const double *v, int n, int k) {
    /* selection by repeated scan: n is the number of symbols (small) */
    char *used = dl_calloc((size_t)(n > 0 ? n : 1), 1);
    int w = 0;
    for (; w < k; w++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            if (used[i] || !isfinite(v[i])) continue;
            if (best < 0 || v[i] > v[best]) best = i;
        }
        if (best < 0) break;
        used[best] = 1;
        idx[w] = best;
    }
    free(used);
    return w;
}
