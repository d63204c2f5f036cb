/* mmf_stats.h: the statistics of the MMF study (../shared/design/mmf.md), each
 * with the semantics of its Python original so results compare one to one
 * (tests/ref/mmf_stats_ref.py writes the fixture test_mmf_stats checks):
 *   - pandas  Series.ewm(halflife=h).mean()       (adjust=True, ignore_na=False)
 *   - statsmodels adfuller(x, maxlag, regression="c", autolag="AIC") statistic + MacKinnon p
 *   - scikit-learn QuantileTransformer(n_quantiles, output_distribution="uniform"),
 *     fitted on all rows (no subsampling).
 * All arithmetic in double. No allocation survives a call except the fitted
 * quantile table, which the caller owns. */
#ifndef DL_TRAIN_MMF_STATS_H
#define DL_TRAIN_MMF_STATS_H

#include <stdint.h>

#include "common/util.h"

/* y (n) = x.ewm(halflife=h).mean(); NaN inputs are skipped but still decay the
 * older weights (ignore_na=False); y is NaN until the first finite x. y may be x. */
void mmf_ewm_mean(double *y, const double *x, int64_t n, double halflife);

typedef struct {
    double stat;     /* ADF t statistic of the lagged level */
    double pvalue;   /* MacKinnon (1994/2010) approximate p-value, regression "c" */
    int usedlag;     /* lagged differences chosen by AIC */
    int64_t nobs;    /* observations of the final regression */
} AdfResult;

/* x (n) finite. Returns 0, or -1 with the reason in e: n too short for maxlag
 * (statsmodels' rule maxlag <= n/2 - 2), a constant series, a singular regression. */
int mmf_adf(AdfResult *r, const double *x, int64_t n, int maxlag, DlErr *e);
/* MacKinnon's approximate p-value for an ADF statistic with a constant, N = 1 */
double mmf_mackinnon_p_c(double stat);

/* Quantile transform of one column. fit: sorted-percentile table q (nq) from the
 * finite values of x (n) at references linspace(0, 1, nq) (numpy nanpercentile,
 * "linear"), made non-decreasing. Returns the number of finite values used (a
 * fit with 0 leaves q all NaN). */
int64_t mmf_qt_fit(double *q, int nq, const double *x, int64_t n);
/* y (n) = transform of x with table q (nq); NaN stays NaN; y may be x */
void mmf_qt_apply(double *y, const double *x, int64_t n, const double *q, int nq);

#endif
