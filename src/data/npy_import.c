/* npy_import.c: seed .npy -> LobSymbol (see npy_import.h). */
#include "npy_import.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int npy_import_symbol(LobSymbol *out, NpyImportInfo *info, const NpyArray *a, int layout, const char *symbol,
                      int64_t start_time, int max_gap_s, const char *path, DlErr *e) {
    memset(out, 0, sizeof *out);
    memset(info, 0, sizeof *info);
    if (!lobds_symbol_ok(symbol)) return dl_err(e, "%s: invalid symbol name '%.80s'", path, symbol);
    if (a->ndim != 2) return dl_err(e, "%s: expected a 2-d array (N, 42) or (N, 43), got %d dimensions", path, a->ndim);
    int64_t N = a->shape[0], C = a->shape[1];
    if (C != 42 && C != 43) return dl_err(e, "%s: %lld columns; the seed's layouts have 42 or 43", path, (long long)C);
    if (layout != NPY_LAYOUT_AUTO && layout != C)
        return dl_err(e, "%s: --layout %d forced but the array has %lld columns", path, layout, (long long)C);
    if (N < 1) return dl_err(e, "%s: no rows", path);
    const float *x = a->data;
    if (C == 43) { /* column 0 must look like unix seconds (2001..2286) */
        for (int64_t i = 0; i < N; i++) {
            float t = x[i * C];
            if (!(t >= 1e9f && t < 1e10f))
                return dl_err(e, "%s: row %lld: column 0 = %g is not unix seconds; not the (N,43) layout", path,
                              (long long)i, (double)t);
            if (i && t < x[(i - 1) * C])
                return dl_err(e, "%s: row %lld: time goes backwards (%.0f after %.0f)", path, (long long)i, (double)t,
                              (double)x[(i - 1) * C]);
        }
    }
    info->layout = (int)C;
    int off = C == 43 ? 1 : 0;
    out->n_rows = N;
    snprintf(out->symbol, sizeof out->symbol, "%s", symbol);
    out->n_horizons = 2;
    out->horizons[0] = 10;
    out->horizons[1] = 60;
    for (int k = 0; k < LOBDS_MAX_H; k++) out->oracle_corr[k] = NAN;
    out->time = dl_malloc((size_t)N * sizeof *out->time);
    out->features = dl_malloc((size_t)N * LOBDS_NFEAT * sizeof *out->features);
    out->targets = dl_malloc((size_t)N * 2 * sizeof *out->targets);
    out->segments = dl_malloc((size_t)N * 2 * sizeof *out->segments);
    double res = 0;
    if (C == 43) {
        float t0 = x[0];
        res = (double)(nextafterf(t0, INFINITY) - t0); /* 128 s near 2020 */
        info->time_resolution_s = res;
    }
    int64_t S = 0;
    for (int64_t i = 0; i < N; i++) {
        const float *r = x + i * C;
        if (i == 0) {
            out->time[0] = C == 43 ? (int64_t)llround((double)r[0]) : start_time;
            out->segments[0] = 0;
            S = 1;
        } else if (C == 43 && (double)r[0] - (double)x[(i - 1) * C] > max_gap_s + res) {
            /* an outage: new segment at the (coarse) recorded time, never before the last row */
            int64_t t = (int64_t)llround((double)r[0]);
            int64_t lo = out->time[i - 1] + max_gap_s + 1;
            out->time[i] = t > lo ? t : lo;
            out->segments[2 * S - 1] = i;
            out->segments[2 * S] = i;
            S++;
        } else {
            out->time[i] = out->time[i - 1] + 1;
        }
        int bad = 0;
        for (int j = 0; j < LOBDS_NFEAT; j++) {
            out->features[i * LOBDS_NFEAT + j] = r[off + j];
            bad |= !isfinite(r[off + j]);
        }
        info->rows_nonfinite += bad;
    }
    out->segments[2 * S - 1] = N;
    out->n_segments = S;
    for (int64_t s = 0; s < S; s++) {
        int64_t lo = out->segments[2 * s], hi = out->segments[2 * s + 1];
        for (int64_t i = lo; i < hi; i++)
            for (int k = 0; k < 2; k++) {
                double rr = x[i * C + off + LOBDS_NFEAT + k];
                float v = NAN;
                if (i + out->horizons[k] >= hi) v = NAN; /* would cross a segment end */
                else if (isfinite(rr) && rr > -1.0) v = (float)(1e4 * log1p(rr));
                else info->targets_invalid++;
                out->targets[i * 2 + k] = v;
            }
    }
    return 0;
}
