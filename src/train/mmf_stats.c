/* mmf_stats.c: pandas EWM, statsmodels ADF, scikit-learn quantile transform (mmf_stats.h).
 * Each function follows its original's arithmetic step by step (cited inline) so the
 * results agree to rounding, not just in spirit. */
#include "train/mmf_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- pandas ewm(halflife).mean(), adjust=True, ignore_na=False, min_periods=0 ---------
 * pandas/_libs/window/aggregations.pyx ewm(): the same recurrence, same operation order. */
void mmf_ewm_mean(double *y, const double *x, int64_t n, double halflife) {
    const double com = 1.0 / (1.0 - exp(log(0.5) / halflife)) - 1.0; /* pandas get_center_of_mass */
    const double alpha = 1.0 / (1.0 + com), old_wt_factor = 1.0 - alpha, new_wt = 1.0;
    if (n <= 0) return;
    double avg = x[0], old_wt = 1.0;
    int seen = avg == avg;
    y[0] = seen ? avg : NAN;
    for (int64_t i = 1; i < n; i++) {
        const double cur = x[i];
        const int obs = cur == cur;
        seen |= obs;
        if (avg == avg) {
            old_wt *= old_wt_factor; /* decays on NaN too (ignore_na=False) */
            if (obs) {
                if (avg != cur) avg = (old_wt * avg + new_wt * cur) / (old_wt + new_wt);
                old_wt += new_wt;
            }
        } else if (obs) {
            avg = cur;
        }
        y[i] = seen ? avg : NAN;
    }
}

/* ---- least squares by Householder QR (statsmodels uses pinv; both are exact to rounding) */
/* A (n, k) column-major is overwritten by R (upper k x k) and reflectors; y (n) by Q^T y.
 * Returns -1 when a column is (numerically) dependent on the previous ones. */
static int householder_qr(double *A, double *y, int64_t n, int k) {
    for (int j = 0; j < k; j++) {
        double *a = A + (size_t)j * n;
        double nrm = 0.0, cn = 0.0;
        for (int64_t i = j; i < n; i++) nrm += a[i] * a[i];
        for (int64_t i = 0; i < n; i++) cn += a[i] * a[i];
        nrm = sqrt(nrm);
        if (!(nrm > 1e-10 * sqrt(cn))) return -1;
        const double alpha = a[j] > 0 ? -nrm : nrm;
        a[j] -= alpha; /* a[j..n) is now the reflector v */
        double vv = 0.0;
        for (int64_t i = j; i < n; i++) vv += a[i] * a[i];
        for (int c = j + 1; c <= k; c++) {
            double *b = c < k ? A + (size_t)c * n : y;
            double s = 0.0;
            for (int64_t i = j; i < n; i++) s += a[i] * b[i];
            s = 2.0 * s / vv;
            for (int64_t i = j; i < n; i++) b[i] -= s * a[i];
        }
        a[j] = alpha; /* R[j][j]; the reflector below the diagonal is no longer needed */
    }
    return 0;
}
#define R_(A, n, i, j) ((A)[(size_t)(j) * (n) + (i)])

/* design for the lag search and the final fit. Rows r = 0..nobs-1 stand for t = lag0 + r:
 * y = dx[t], level = x[t], d-lag j = dx[t-j]. Column order as statsmodels builds them:
 * search: [const, level, dlag1..dlagL] (add_trend prepend=True); final: [level, dlags.., const]. */
static void adf_design(double *A, double *yv, const double *x, const double *dx, int64_t nobs, int lag0, int L,
                       int const_first) {
    int c = 0;
    if (const_first)
        for (int64_t r = 0; r < nobs; r++) A[r] = 1.0;
    c = const_first;
    for (int64_t r = 0; r < nobs; r++) A[(size_t)c * nobs + r] = x[lag0 + r];
    for (int j = 1; j <= L; j++)
        for (int64_t r = 0; r < nobs; r++) A[(size_t)(c + j) * nobs + r] = dx[lag0 + r - j];
    if (!const_first)
        for (int64_t r = 0; r < nobs; r++) A[(size_t)(L + 1) * nobs + r] = 1.0;
    for (int64_t r = 0; r < nobs; r++) yv[r] = dx[lag0 + r];
}

/* statsmodels adfvalues.py: _tau_maxs/_tau_mins/_tau_stars/_tau_smallps/_tau_largeps["c"][0] */
double mmf_mackinnon_p_c(double stat) {
    static const double smallp[3] = {2.1659, 1.4412, 0.038269};
    static const double largep[4] = {1.7339, 0.93202, -0.12745, -0.010368};
    if (isnan(stat)) return NAN;
    if (stat > 2.74) return 1.0;
    if (stat < -18.83) return 0.0;
    const double *c = stat <= -1.61 ? smallp : largep;
    const int nc = stat <= -1.61 ? 3 : 4;
    double p = 0.0; /* numpy polyval: Horner from the highest power */
    for (int i = nc - 1; i >= 0; i--) p = p * stat + c[i];
    return 0.5 * erfc(-p / sqrt(2.0)); /* scipy norm.cdf */
}

int mmf_adf(AdfResult *r, const double *x, int64_t n, int maxlag, DlErr *e) {
    memset(r, 0, sizeof *r);
    r->stat = r->pvalue = NAN;
    if (maxlag < 0) return dl_err(e, "ADF: maxlag %d < 0", maxlag);
    if (maxlag > n / 2 - 2) /* statsmodels: maxlag > nobs // 2 - ntrend - 1 is an error */
        return dl_err(e, "ADF: %lld observations are too few for maxlag %d (need maxlag <= n/2 - 2)", (long long)n,
                      maxlag);
    int constant = 1;
    for (int64_t i = 1; i < n && constant; i++) constant = x[i] == x[0];
    if (constant) return dl_err(e, "ADF: the series is constant (%.17g); the test is undefined", x[0]);
    const int64_t m = n - 1;
    double *dx = dl_malloc((size_t)m * sizeof *dx);
    for (int64_t i = 0; i < m; i++) dx[i] = x[i + 1] - x[i];

    /* lag search: every candidate on the same nobs = m - maxlag rows; ssr of the prefix
     * with p columns is the tail norm of Q^T y past p (nested least squares). */
    int64_t nobs = m - maxlag;
    int K = maxlag + 2;
    double *A = dl_malloc((size_t)nobs * (K + 1) * sizeof *A), *yv = dl_malloc((size_t)nobs * sizeof *yv);
    adf_design(A, yv, x, dx, nobs, maxlag, maxlag, 1);
    int rc = 0, best = -1;
    if (householder_qr(A, yv, nobs, K)) {
        rc = dl_err(e, "ADF: singular regression in the lag search (collinear differences)");
    } else {
        double tail = 0.0, best_aic = INFINITY;
        double *ssr = dl_malloc((size_t)(K + 1) * sizeof *ssr);
        for (int64_t i = nobs - 1; i >= K; i--) tail += yv[i] * yv[i];
        ssr[K] = tail;
        for (int p = K - 1; p >= 2; p--) { tail += yv[p] * yv[p]; ssr[p] = tail; }
        for (int p = 2; p <= K; p++) { /* statsmodels OLS: llf, aic = -2 llf + 2 k */
            const double nobs2 = nobs / 2.0;
            const double llf = -nobs2 * log(2 * M_PI) - nobs2 * log(ssr[p] / nobs) - nobs2;
            const double aic = -2.0 * llf + 2.0 * p;
            if (aic < best_aic) { best_aic = aic; best = p - 2; } /* min((aic, lag)): first wins ties */
        }
        free(ssr);
    }
    if (!rc) { /* final fit on m - best rows: [level, dlag1..best, const] */
        nobs = m - best;
        K = best + 2;
        A = realloc(A, (size_t)nobs * K * sizeof *A);
        yv = realloc(yv, (size_t)nobs * sizeof *yv);
        DL_CHECK(A && yv, "out of memory");
        adf_design(A, yv, x, dx, nobs, best, best, 0);
        if (householder_qr(A, yv, nobs, K)) {
            rc = dl_err(e, "ADF: singular final regression (lag %d)", best);
        } else {
            double beta[16], z[16], ssr = 0.0, v00 = 0.0;
            for (int i = K - 1; i >= 0; i--) { /* R beta = (Q^T y)[0..K) */
                double s = yv[i];
                for (int j = i + 1; j < K; j++) s -= R_(A, nobs, i, j) * beta[j];
                beta[i] = s / R_(A, nobs, i, i);
            }
            for (int64_t i = K; i < nobs; i++) ssr += yv[i] * yv[i];
            for (int i = 0; i < K; i++) { /* R^T z = e0: z is row 0 of R^-1, (X'X)^-1_00 = |z|^2 */
                double s = i == 0 ? 1.0 : 0.0;
                for (int j = 0; j < i; j++) s -= R_(A, nobs, j, i) * z[j];
                z[i] = s / R_(A, nobs, i, i);
                v00 += z[i] * z[i];
            }
            const double sigma2 = ssr / (double)(nobs - K);
            r->stat = beta[0] / sqrt(sigma2 * v00);
            r->pvalue = mmf_mackinnon_p_c(r->stat);
            r->usedlag = best;
            r->nobs = nobs;
        }
    }
    free(A);
    free(yv);
    free(dx);
    return rc;
}

/* ---- scikit-learn QuantileTransformer (uniform) ----------------------------------------- */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy 1.24 _lerp: a + (b-a)t, or b - (b-a)(1-t) when t >= 0.5 */
static double np_lerp(double a, double b, double t) {
    const double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

int64_t mmf_qt_fit(double *q, int nq, const double *x, int64_t n) {
    double *v = dl_malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    int64_t nf = 0;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(x[i])) v[nf++] = x[i];
    qsort(v, (size_t)nf, sizeof *v, cmp_double);
    const double step = nq > 1 ? 1.0 / (nq - 1) : 0.0; /* np.linspace(0, 1, nq) */
    for (int k = 0; k < nq; k++) {
        if (nf == 0) { q[k] = NAN; continue; }
        const double ref = k == nq - 1 ? 1.0 : k * step;
        const double qq = ref * 100.0 / 100.0; /* references * 100, then nanpercentile's q / 100 */
        const double vi = (double)nf * qq + (1.0 + qq * -1.0) - 1.0; /* _compute_virtual_index(n, q, 1, 1) */
        if (vi >= (double)(nf - 1)) q[k] = v[nf - 1];
        else if (vi < 0) q[k] = v[0];
        else {
            const double lo = floor(vi);
            q[k] = np_lerp(v[(int64_t)lo], v[(int64_t)lo + 1], vi - lo);
        }
        if (k > 0 && q[k] < q[k - 1]) q[k] = q[k - 1]; /* np.maximum.accumulate */
    }
    free(v);
    return nf;
}

/* numpy interp for one x with xp increasing (ties allowed), fp; outside -> end values */
static double np_interp(double x, const double *xp, const double *fp, int n) {
    if (x < xp[0]) return fp[0];
    if (x > xp[n - 1]) return fp[n - 1];
    if (x == xp[n - 1]) return fp[n - 1];
    int lo = 0, hi = n - 1; /* largest j with xp[j] <= x */
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (xp[mid] <= x) lo = mid; else hi = mid;
    }
    if (xp[lo] == x) return fp[lo];
    const double slope = (fp[lo + 1] - fp[lo]) / (xp[lo + 1] - xp[lo]);
    return slope * (x - xp[lo]) + fp[lo];
}

void mmf_qt_apply(double *y, const double *x, int64_t n, const double *q, int nq) {
    double *ref = dl_malloc((size_t)nq * 4 * sizeof *ref), *nq_rev = ref + nq, *nref_rev = ref + 2 * nq;
    const double step = nq > 1 ? 1.0 / (nq - 1) : 0.0;
    for (int k = 0; k < nq; k++) ref[k] = k == nq - 1 ? 1.0 : k * step;
    for (int k = 0; k < nq; k++) { nq_rev[k] = -q[nq - 1 - k]; nref_rev[k] = -ref[nq - 1 - k]; }
    for (int64_t i = 0; i < n; i++) {
        const double v = x[i];
        if (isnan(v)) { y[i] = NAN; continue; }
        /* the mean of interpolating up and down: repeated quantiles map to their middle */
        double t = 0.5 * (np_interp(v, q, ref, nq) - np_interp(-v, nq_rev, nref_rev, nq));
        if (v == q[nq - 1]) t = 1.0;
        if (v == q[0]) t = 0.0;
        y[i] = t;
    }
    free(ref);
}
