/* mmf_data.c: features, target, split, screen and scaling of the MMF study (mmf_data.h). */
#include "train/mmf_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/mmf_stats.h"

const char *const mmf_derived_names[MMF_N_DERIVED] = {"r1",   "r2",   "r1v",       "r2v",        "rwl1", "rwl2",
                                                      "rwl3", "rwl4", "dvol_ewm3", "dvol_ewm10", "oir"};

void mmf_data_opts_default(MmfDataOpts *o) {
    o->train_frac = 0.7;
    o->adf_screen = 1;
    o->adf_p = 1e-4;
    o->adf_maxlag = 10;
    o->quantile = 1;
}

void mmf_data_free(MmfSet *s) {
    free(s->X); free(s->y); free(s->bar_row); free(s->runs);
    memset(s, 0, sizeof *s);
}

static double lbps(double a, double b) { return 1e4 * log(a / b); } /* NaN propagates */

void mmf_derived(double *F, double *target, const MmfBars *b) {
    const int D = MMF_N_DERIVED;
    int64_t maxlen = 0;
    for (int64_t k = 0; k < b->n_seg; k++)
        if (b->seg[2 * k + 1] - b->seg[2 * k] > maxlen) maxlen = b->seg[2 * k + 1] - b->seg[2 * k];
    double *w = dl_malloc((size_t)maxlen * 7 * sizeof *w); /* vwap, dvol, ewm 8/16/32/64, scratch */
    double *vw = w, *dv = w + maxlen, *e8 = dv + maxlen, *e16 = e8 + maxlen, *e32 = e16 + maxlen, *e64 = e32 + maxlen,
           *tmp = e64 + maxlen;
    for (int64_t k = 0; k < b->n_seg; k++) {
        const int64_t a = b->seg[2 * k], L = b->seg[2 * k + 1] - a;
        const double *V = b->v + (size_t)a * MMF_NCOL;
        for (int64_t i = 0; i < L; i++) { vw[i] = V[i * MMF_NCOL + MB_VWAP]; dv[i] = V[i * MMF_NCOL + MB_DVOL]; }
        /* every EWM restarts at the segment start: no window crosses a boundary */
        mmf_ewm_mean(e8, vw, L, 8);
        mmf_ewm_mean(e16, vw, L, 16);
        mmf_ewm_mean(e32, vw, L, 32);
        mmf_ewm_mean(e64, vw, L, 64);
        for (int64_t i = 0; i < L; i++) {
            const double *v = V + i * MMF_NCOL;
            double *f = F + (size_t)(a + i) * D;
            const double mid = v[MB_MID], vwap = vw[i];
            f[0] = i >= 1 ? lbps(mid, V[(i - 1) * MMF_NCOL + MB_MID]) : NAN;
            f[1] = i >= 2 ? lbps(mid, V[(i - 2) * MMF_NCOL + MB_MID]) : NAN;
            f[2] = i >= 1 ? lbps(vwap, vw[i - 1]) : NAN;
            f[3] = i >= 2 ? lbps(vwap, vw[i - 2]) : NAN;
            f[4] = 1e4 * (vwap - e8[i]) / vwap;
            f[5] = 1e4 * (e8[i] - e16[i]) / vwap;
            f[6] = 1e4 * (e16[i] - e32[i]) / vwap;
            f[7] = 1e4 * (e32[i] - e64[i]) / vwap;
            double B = 0, A = 0;
            for (int g = 0; g < MMF_GRID; g++) { B += v[MB_GRID_M4 + g]; A += v[MB_GRID_P1 + g]; }
            f[10] = B + A > 0 ? (B - A) / (B + A) : NAN;
            target[a + i] = i + 2 < L ? lbps(vw[i + 2], vw[i + 1]) : NAN;
        }
        mmf_ewm_mean(tmp, dv, L, 3);
        for (int64_t i = 0; i < L; i++) F[(size_t)(a + i) * D + 8] = tmp[i];
        mmf_ewm_mean(tmp, dv, L, 10);
        for (int64_t i = 0; i < L; i++) F[(size_t)(a + i) * D + 9] = tmp[i];
    }
    free(w);
}

int mmf_data_build(MmfSet *s, const MmfBars *b, const MmfDataOpts *o, DlErr *e) {
    memset(s, 0, sizeof *s);
    const int D = MMF_N_DERIVED;
    double *F = dl_malloc((size_t)(b->n ? b->n : 1) * D * sizeof *F), *tg = dl_malloc((size_t)(b->n ? b->n : 1) * sizeof *tg);
    mmf_derived(F, tg, b);
    /* keep rows with every candidate (derived + every raw column) and the target finite */
    int64_t *keep = dl_malloc((size_t)(b->n ? b->n : 1) * sizeof *keep), *segof = dl_malloc((size_t)(b->n ? b->n : 1) * sizeof *segof);
    for (int64_t k = 0; k < b->n_seg; k++)
        for (int64_t r = b->seg[2 * k]; r < b->seg[2 * k + 1]; r++) segof[r] = k;
    int64_t n = 0;
    for (int64_t r = 0; r < b->n; r++) {
        int ok = isfinite(tg[r]);
        for (int j = 0; j < D && ok; j++) ok = isfinite(F[(size_t)r * D + j]);
        for (int j = 0; j < MMF_NCOL && ok; j++) ok = isfinite(b->v[(size_t)r * MMF_NCOL + j]);
        if (ok) keep[n++] = r;
    }
    s->n = n;
    s->n_dropped = b->n - n;
    s->n_train = (int64_t)floor(o->train_frac * (double)n);
    int rc = 0;
    if (s->n_train < 64 || n - s->n_train < 16)
        rc = dl_err(e, "%s: %lld usable bars (of %lld; %lld dropped for non-finite features/target) are too few to "
                       "split %.0f/%.0f and screen (need >= 64 train, >= 16 test)",
                    b->symbol, (long long)n, (long long)b->n, (long long)s->n_dropped, 100 * o->train_frac,
                    100 * (1 - o->train_frac));
    /* runs: consecutive bars of one segment, cut at the split */
    s->runs = dl_malloc((size_t)(n + 1) * 2 * sizeof *s->runs);
    for (int64_t i = 0; i < n && !rc; i++) {
        const int brk = i == 0 || keep[i] != keep[i - 1] + 1 || segof[keep[i]] != segof[keep[i - 1]] || i == s->n_train;
        if (brk) {
            if (s->n_runs) s->runs[2 * s->n_runs - 1] = i;
            s->runs[2 * s->n_runs] = i;
            s->n_runs++;
        }
    }
    if (s->n_runs) s->runs[2 * s->n_runs - 1] = n;

    /* ADF screen of the raw bar columns on the training rows */
    double *col = dl_malloc((size_t)(n ? n : 1) * sizeof *col);
    for (int j = 0; j < MMF_NCOL && !rc; j++) {
        for (int64_t i = 0; i < s->n_train; i++) col[i] = b->v[(size_t)keep[i] * MMF_NCOL + j];
        AdfResult ar;
        DlErr ae = {{0}};
        if (mmf_adf(&ar, col, s->n_train, o->adf_maxlag, &ae)) {
            s->adf_p[j] = s->adf_stat[j] = NAN;
            snprintf(s->adf_note[j], sizeof s->adf_note[j], "%.95s", ae.msg + (strncmp(ae.msg, "ADF: ", 5) ? 0 : 5));
        } else {
            s->adf_p[j] = ar.pvalue;
            s->adf_stat[j] = ar.stat;
        }
        s->adf_kept[j] = j == MB_DVOL || !o->adf_screen || (!isnan(s->adf_p[j]) && s->adf_p[j] < o->adf_p);
        if (!o->adf_screen && isnan(s->adf_p[j])) s->adf_kept[j] = j == MB_DVOL; /* constant: nothing to learn */
    }
    /* feature list: derived returns and rwl, kept raw columns, dvol EWMs, oir */
    int src[MMF_MAX_FEAT]; /* >= 0: derived index; < 0: -(raw column + 1) */
    int nf = 0;
    for (int j = 0; j < 8; j++) src[nf++] = j;
    for (int j = 0; j < MMF_NCOL && !rc; j++)
        if (s->adf_kept[j]) src[nf++] = -(j + 1);
    for (int j = 8; j < D; j++) src[nf++] = j;
    s->n_feat = nf;
    for (int f = 0; f < nf; f++)
        snprintf(s->names[f], sizeof s->names[f], "%s", src[f] >= 0 ? mmf_derived_names[src[f]] : mmf_bar_col_names[-src[f] - 1]);

    if (!rc) {
        s->X = dl_malloc((size_t)n * nf * sizeof *s->X);
        s->y = dl_malloc((size_t)n * sizeof *s->y);
        s->bar_row = dl_malloc((size_t)n * sizeof *s->bar_row);
        const int nq = s->n_train < 1000 ? (int)s->n_train : 1000;
        double *q = dl_malloc((size_t)nq * sizeof *q);
        for (int f = 0; f < nf; f++) {
            for (int64_t i = 0; i < n; i++) {
                const int64_t r = keep[i];
                col[i] = src[f] >= 0 ? F[(size_t)r * D + src[f]] : b->v[(size_t)r * MMF_NCOL + (-src[f] - 1)];
            }
            if (o->quantile) {
                mmf_qt_fit(q, nq, col, s->n_train); /* training rows only */
                mmf_qt_apply(col, col, n, q, nq);
            } else { /* ablation: z-score with training mean and std */
                double m = 0, v = 0;
                for (int64_t i = 0; i < s->n_train; i++) m += col[i];
                m /= (double)s->n_train;
                for (int64_t i = 0; i < s->n_train; i++) v += (col[i] - m) * (col[i] - m);
                const double sd = sqrt(v / (double)s->n_train);
                for (int64_t i = 0; i < n; i++) col[i] = sd > 0 ? (col[i] - m) / sd : 0.0;
            }
            for (int64_t i = 0; i < n; i++) s->X[(size_t)i * nf + f] = (float)col[i];
        }
        free(q);
        for (int64_t i = 0; i < n; i++) { s->y[i] = (float)tg[keep[i]]; s->bar_row[i] = keep[i]; }
    }
    free(col); free(F); free(tg); free(keep); free(segof);
    if (rc) mmf_data_free(s);
    return rc;
}
