/* metrics.h: per-symbol regression metrics and across-symbol aggregates.
 * All sums in double; inputs are float32 predictions/targets in bps. */
#ifndef DL_TRAIN_METRICS_H
#define DL_TRAIN_METRICS_H

#include <stdint.h>

typedef struct {
    int64_t n;       /* pairs used (both finite) */
    double corr;     /* Pearson; NaN when either side has zero variance or n < 2 */
    double mae;
    double rmse;
    double r2;       /* 1 - SSE/SST, SST about the target mean; NaN when SST == 0 */
} Metrics;

/* pred (n), y (n): pairs where either is non-finite are ignored (counted out of m->n) */
void metrics_compute(Metrics *m, const float *pred, const float *y, int64_t n);

typedef struct {
    int n;           /* finite values used */
    double mean;
    double median;
    double std;      /* SAMPLE standard deviation (n-1 denominator); NaN when n < 2 */
    double min, max;
} Aggregate;

/* v (n); non-finite values are left out */
void metrics_aggregate(Aggregate *a, const double *v, int n);

/* idx (k): indices of the k largest finite v, descending; ties -> lower index first.
 * returns the number written (<= k) */
int metrics_top_k(int *idx, const double *v, int n, int k);

#endif
