/* dataset.c: split, windows, z-score, EMA targets, batch assembly (see dataset.h). */
#include "train/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"

void dataset_split_bounds(int64_t b[N_SPLITS + 1], int64_t n) {
    /* floor(0.6N), floor(0.8N) in integers: exact for any N */
    b[0] = 0;
    b[1] = (n * 3) / 5;
    b[2] = (n * 4) / 5;
    b[3] = n;
}

/* EMA over rows [lo, hi) of column `col` of a (N, stride) array */
static void ema_strided(float *out, const float *y, int64_t lo, int64_t hi, double a, int stride, int col) {
    double s = 0;
    int have = 0;
    for (int64_t t = lo; t < hi; t++) {
        size_t i = (size_t)t * (size_t)stride + (size_t)col;
        if (!isfinite(y[i])) { out[i] = NAN; continue; }   /* state carries over the gap */
        s = have ? a * (double)y[i] + (1.0 - a) * s : (double)y[i];
        have = 1;
        out[i] = (float)s;
    }
}

void dataset_ema(float *out, const float *y, int64_t lo, int64_t hi, double a) {
    ema_strided(out, y, lo, hi, a, 1, 0);
}

void dataset_free(SymbolData *d) {
    free(d->xn);
    free(d->y_raw);
    free(d->y_fit);
    free(d->y_smooth);
    for (int s = 0; s < N_SPLITS; s++) free(d->idx[s]);
    memset(d, 0, sizeof *d);
}

void dataset_placeholder(SymbolData *d, const LobSymbol *s, DataOptions o) {
    memset(d, 0, sizeof *d);
    const int ny = o.horizon2 > 0 ? 2 : 1;
    const int64_t N = s->n_rows;
    d->n_y = ny;
    d->T = o.seq_len;
    d->F = LOBDS_NFEAT;
    d->n_rows = N;
    dataset_split_bounds(d->split_start, N);
    const size_t nv = ((size_t)N + 1) * (size_t)ny;
    d->y_raw = dl_malloc(sizeof(float) * nv);
    d->y_fit = dl_malloc(sizeof(float) * nv);
    d->y_smooth = dl_malloc(sizeof(float) * nv);
    for (size_t i = 0; i < nv; i++) d->y_raw[i] = d->y_fit[i] = d->y_smooth[i] = NAN;
    for (int f = 0; f < LOBDS_NFEAT; f++) d->mean[f] = d->std[f] = NAN;
    for (int j = 0; j < 2; j++) { d->y_mu[j] = 0.0; d->y_sd[j] = 1.0; }
    for (int sp = 0; sp < N_SPLITS; sp++) d->idx[sp] = dl_malloc(sizeof(int64_t));
}

/* z-score fit on finite train rows: two passes in double */
static void fit_zscore(SymbolData *d, const float *x, const unsigned char *bad, int64_t n_train) {
    const int F = d->F;
    double sum[LOBDS_NFEAT] = {0}, ss[LOBDS_NFEAT] = {0};
    int64_t k = 0;
    for (int64_t t = 0; t < n_train; t++) {
        if (bad[t]) continue;
        for (int f = 0; f < F; f++) sum[f] += x[t * F + f];
        k++;
    }
    d->n_fit_rows = k;
    for (int f = 0; f < F; f++) d->mean[f] = k ? sum[f] / (double)k : 0.0;
    for (int64_t t = 0; t < n_train; t++) {
        if (bad[t]) continue;
        for (int f = 0; f < F; f++) {
            double c = x[t * F + f] - d->mean[f];
            ss[f] += c * c;
        }
    }
    for (int f = 0; f < F; f++) {
        double sd = k ? sqrt(ss[f] / (double)k) : 0.0;
        d->std[f] = sd > 0 ? sd : 1.0;   /* constant feature: centre only */
    }
}

int dataset_build(SymbolData *d, const LobSymbol *s, DataOptions o, DlErr *e) {
    memset(d, 0, sizeof *d);
    const int F = LOBDS_NFEAT, T = o.seq_len;
    const int64_t N = s->n_rows;
    const int ny = o.horizon2 > 0 ? 2 : 1;
    const int want[2] = {o.horizon, o.horizon2};
    int hk[2] = {-1, -1};
    for (int j = 0; j < ny; j++) {
        for (int k = 0; k < s->n_horizons; k++)
            if (s->horizons[k] == want[j]) hk[j] = k;
        if (hk[j] < 0) return dl_err(e, "symbol %s: horizon %d s is not in the dataset", s->symbol, want[j]);
    }
    d->n_y = ny;
    d->T = T;
    d->F = F;
    d->n_rows = N;
    dataset_split_bounds(d->split_start, N);

    /* feature matrix the model sees before the z-score: the dataset's, or a copy
     * with row-relative prices (columns 0..9 ask prices, 20..29 bid prices) and/or
     * log amounts (10..19 ask amounts, 30..39 bid amounts) */
    const float *feat = s->features;
    float *rel = NULL;
    if (o.price_mid_relative || o.volume_log) {
        rel = dl_malloc(sizeof(float) * (size_t)N * F);
        memcpy(rel, s->features, sizeof(float) * (size_t)N * F);
        feat = rel;
    }
    if (o.price_mid_relative)
        for (int64_t t = 0; t < N; t++) {
            float *r = rel + t * F;
            double mid = 0.5 * ((double)r[0] + (double)r[20]);
            for (int f = 0; f < F; f++)
                if (f < 10 || (f >= 20 && f < 30)) r[f] = mid > 0 ? (float)(1e4 * (r[f] / mid - 1.0)) : NAN;
        }
    if (o.volume_log) {
        /* c_f from the finite training rows only (no look-ahead into val/test) */
        double sum[LOBDS_NFEAT] = {0};
        int64_t k = 0;
        for (int64_t t = 0; t < d->split_start[1]; t++) {
            const float *r = s->features + t * F;
            int ok = 1;
            for (int f = 0; f < F && ok; f++) ok = isfinite(r[f]);
            if (!ok) continue;
            for (int f = 0; f < F; f++) sum[f] += r[f];
            k++;
        }
        for (int f = 0; f < F; f++) {
            int is_amount = (f >= 10 && f < 20) || f >= 30;
            double m = k ? sum[f] / (double)k : 0.0;
            d->vol_scale[f] = is_amount ? (m > 0 ? 1e-3 * m : 1.0) : 0.0;
        }
        for (int64_t t = 0; t < N; t++) {
            float *r = rel + t * F;
            for (int f = 0; f < F; f++)
                if (d->vol_scale[f] > 0) r[f] = r[f] >= 0 ? (float)log1p((double)r[f] / d->vol_scale[f]) : NAN;
        }
    }
    unsigned char *bad = dl_calloc((size_t)N + 1, 1);
    int64_t *bad_cum = dl_malloc(sizeof(int64_t) * ((size_t)N + 1));
    bad_cum[0] = 0;
    for (int64_t t = 0; t < N; t++) {
        for (int f = 0; f < F; f++)
            if (!isfinite(feat[t * F + f])) { bad[t] = 1; break; }
        bad_cum[t + 1] = bad_cum[t] + bad[t];
    }
    fit_zscore(d, feat, bad, d->split_start[1]);
    if (d->n_fit_rows == 0) {
        free(bad); free(bad_cum); free(rel);
        dl_err(e, "symbol %s: no finite training rows to fit the normalisation", s->symbol);
        return -2;
    }

    d->xn = dl_malloc(sizeof(float) * (size_t)N * F);
    float inv[LOBDS_NFEAT], mu[LOBDS_NFEAT];
    for (int f = 0; f < F; f++) { inv[f] = (float)(1.0 / d->std[f]); mu[f] = (float)d->mean[f]; }
    for (int64_t t = 0; t < N; t++)
        for (int f = 0; f < F; f++) d->xn[t * F + f] = (feat[t * F + f] - mu[f]) * inv[f];
    free(rel);

    const size_t ny_sz = (size_t)ny;
    d->y_raw = dl_malloc(sizeof(float) * ((size_t)N + 1) * ny_sz);
    d->y_fit = dl_malloc(sizeof(float) * ((size_t)N + 1) * ny_sz);
    d->y_smooth = dl_malloc(sizeof(float) * ((size_t)N + 1) * ny_sz);
    for (int64_t t = 0; t < N; t++)
        for (int j = 0; j < ny; j++) d->y_raw[(size_t)t * ny_sz + j] = s->targets[t * s->n_horizons + hk[j]];

    /* pieces = split x segment; windows and EMA never cross a piece boundary */
    int64_t one_seg[2] = {0, N};
    const int64_t *segs = s->n_segments > 0 ? s->segments : one_seg;
    int64_t n_seg = s->n_segments > 0 ? s->n_segments : 1;
    for (int sp = 0; sp < N_SPLITS; sp++) {
        d->idx[sp] = dl_malloc(sizeof(int64_t) * ((size_t)(d->split_start[sp + 1] - d->split_start[sp]) + 1));
        for (int64_t g = 0; g < n_seg; g++) {
            int64_t lo = segs[2 * g] > d->split_start[sp] ? segs[2 * g] : d->split_start[sp];
            int64_t hi = segs[2 * g + 1] < d->split_start[sp + 1] ? segs[2 * g + 1] : d->split_start[sp + 1];
            if (lo >= hi) continue;
            for (int j = 0; j < ny; j++)
                if (o.ema_alpha > 0) ema_strided(d->y_smooth, d->y_raw, lo, hi, o.ema_alpha, ny, j);
            if (!(o.ema_alpha > 0))
                memcpy(d->y_smooth + (size_t)lo * ny_sz, d->y_raw + (size_t)lo * ny_sz, sizeof(float) * (size_t)(hi - lo) * ny_sz);
            for (int64_t t = lo + T - 1; t < hi; t++) {
                int fin = 1;
                for (int j = 0; j < ny; j++) fin = fin && isfinite(d->y_raw[(size_t)t * ny_sz + j]);
                if (!fin) { d->nan_targets[sp]++; continue; }
                if (bad_cum[t + 1] - bad_cum[t + 1 - T] > 0) { d->skipped[sp]++; continue; }
                d->idx[sp][d->n[sp]++] = t;
            }
        }
    }
    free(bad);
    free(bad_cum);
    /* train/val fit on the smoothed targets, test keeps the raw ones */
    int64_t ts = d->split_start[2];
    memcpy(d->y_fit, d->y_smooth, sizeof(float) * (size_t)ts * ny_sz);
    memcpy(d->y_fit + (size_t)ts * ny_sz, d->y_raw + (size_t)ts * ny_sz, sizeof(float) * (size_t)(N - ts) * ny_sz);

    if (o.max_train_samples > 0 && d->n[SPLIT_TRAIN] > o.max_train_samples) {
        int64_t drop = d->n[SPLIT_TRAIN] - o.max_train_samples;   /* keep the most recent */
        memmove(d->idx[SPLIT_TRAIN], d->idx[SPLIT_TRAIN] + drop, sizeof(int64_t) * (size_t)o.max_train_samples);
        d->n[SPLIT_TRAIN] = o.max_train_samples;
        d->dropped_train = drop;
    }
    for (int sp = 0; sp < N_SPLITS; sp++)
        if (d->n[sp] == 0) {
            static const char *names[] = {"train", "validation", "test"};
            int64_t rows = d->split_start[sp + 1] - d->split_start[sp];
            dataset_free(d);
            dl_err(e, "symbol %s: no %s samples (%lld rows in the split, seq_len %d)", s->symbol, names[sp],
                   (long long)rows, T);
            return -2;
        }

    for (int j = 0; j < 2; j++) { d->y_mu[j] = 0.0; d->y_sd[j] = 1.0; }
    if (o.standardize_targets)
        for (int j = 0; j < ny; j++) {
            double sum = 0, ss = 0;
            int64_t n = d->n[SPLIT_TRAIN];
            for (int64_t i = 0; i < n; i++) sum += d->y_fit[(size_t)d->idx[SPLIT_TRAIN][i] * ny_sz + j];
            double m = sum / (double)n;
            for (int64_t i = 0; i < n; i++) {
                double c = d->y_fit[(size_t)d->idx[SPLIT_TRAIN][i] * ny_sz + j] - m;
                ss += c * c;
            }
            double sd = sqrt(ss / (double)n);
            d->y_mu[j] = m;
            d->y_sd[j] = sd > 0 ? sd : 1.0;
            for (int64_t t = 0; t < N; t++) {
                float *v = &d->y_fit[(size_t)t * ny_sz + j];
                *v = (float)((*v - d->y_mu[j]) / d->y_sd[j]);
            }
        }
    return 0;
}

void dataset_fill_batch(float *x, float *y, const SymbolData *d, const float *ysrc,
                        const int64_t *rows, int B) {
    const size_t win = (size_t)d->T * d->F;
    for (int b = 0; b < B; b++) {
        int64_t t = rows[b];
        memcpy(x + (size_t)b * win, d->xn + (size_t)(t - d->T + 1) * d->F, sizeof(float) * win);
        if (y)
            for (int j = 0; j < d->n_y; j++) y[(size_t)b * d->n_y + j] = ysrc[(size_t)t * d->n_y + j];
    }
}

void dataset_permutation(int64_t *perm, int64_t n, uint64_t key) {
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(dl_rand_u64(key, (uint64_t)i) % (uint64_t)(i + 1));
        int64_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

/* The universal model's data (trainer.c): see dataset.h */
void dataset_pool(SymbolData *p, const SymbolData *d, const int *use, int n) {
    memset(p, 0, sizeof *p);
    p->T = d[0].T;
    p->F = d[0].F;
    p->n_y = d[0].n_y;
    for (int i = 0; i < n; i++)
        if (use[i]) {
            p->n_rows += d[i].n_rows;
            for (int s = 0; s < N_SPLITS; s++) {
                p->n[s] += d[i].n[s];
                p->skipped[s] += d[i].skipped[s];
                p->nan_targets[s] += d[i].nan_targets[s];
            }
            p->dropped_train += d[i].dropped_train;
            p->n_fit_rows += d[i].n_fit_rows;
        }
    p->n[SPLIT_TEST] = 0;
    for (int s = 0; s <= N_SPLITS; s++) p->split_start[s] = s == N_SPLITS ? p->n_rows : (s == SPLIT_TEST ? p->n_rows : 0);
    const size_t nr = (size_t)p->n_rows + 1, ny = (size_t)p->n_y;
    p->xn = dl_malloc(sizeof(float) * nr * p->F);
    p->y_raw = dl_malloc(sizeof(float) * nr * ny);
    p->y_fit = dl_malloc(sizeof(float) * nr * ny);
    p->y_smooth = dl_malloc(sizeof(float) * nr * ny);
    for (int s = 0; s < N_SPLITS; s++) p->idx[s] = dl_malloc(sizeof(int64_t) * (size_t)(p->n[s] + 1));
    for (int k = 0; k < 2; k++) { p->y_mu[k] = 0.0; p->y_sd[k] = 1.0; }
    int64_t off = 0, cnt[N_SPLITS] = {0};
    for (int i = 0; i < n; i++) {
        if (!use[i]) continue;
        const size_t rows = (size_t)d[i].n_rows;
        memcpy(p->xn + (size_t)off * p->F, d[i].xn, sizeof(float) * rows * p->F);
        memcpy(p->y_raw + (size_t)off * ny, d[i].y_raw, sizeof(float) * rows * ny);
        memcpy(p->y_fit + (size_t)off * ny, d[i].y_fit, sizeof(float) * rows * ny);
        memcpy(p->y_smooth + (size_t)off * ny, d[i].y_smooth, sizeof(float) * rows * ny);
        for (int s = SPLIT_TRAIN; s <= SPLIT_VAL; s++)
            for (int64_t j = 0; j < d[i].n[s]; j++) p->idx[s][cnt[s]++] = d[i].idx[s][j] + off;
        off += d[i].n_rows;
    }
}
