/* mmf_data.h: bars -> the MMF study's rows (../shared/design/mmf.md, "Features" and
 * "Split and scaling"): causal features restarted at segment starts, the target, the
 * drop of non-finite rows, the chronological 70/30 split, the ADF screen of the raw bar
 * columns on training rows, the quantile transform fitted on training rows. */
#ifndef DL_TRAIN_MMF_DATA_H
#define DL_TRAIN_MMF_DATA_H

#include <stdint.h>

#include "data/mmf_bars.h"

#define MMF_MAX_FEAT 40
#define MMF_N_DERIVED 11 /* r1 r2 r1v r2v rwl1..4 dvol_ewm3 dvol_ewm10 oir */

typedef struct {
    double train_frac;   /* 0.7 */
    int adf_screen;      /* 1: keep raw columns with ADF p < adf_p (and dvol); 0: keep every raw column */
    double adf_p;        /* 1e-4 */
    int adf_maxlag;      /* 10 */
    int quantile;        /* 1: QuantileTransformer (uniform); 0: z-score on training rows (ablation) */
} MmfDataOpts;
void mmf_data_opts_default(MmfDataOpts *o);

typedef struct {
    int n_feat;
    char names[MMF_MAX_FEAT][24];
    int64_t n;              /* rows kept (finite features and target) */
    int64_t n_train;        /* rows [0, n_train) train, [n_train, n) test */
    int64_t n_dropped;      /* bars dropped for a non-finite feature or target */
    float *X;               /* (n, n_feat) scaled features */
    float *y;               /* (n) target, bps */
    int64_t *bar_row;       /* (n) row in the bars it came from */
    int64_t n_runs;
    int64_t *runs;          /* (n_runs, 2) [start, end) rows of consecutive bars of one segment,
                             * never crossing the train/test split */
    /* the screen: every raw bar column, its p-value (NaN: not testable, see adf_note) */
    double adf_p[MMF_NCOL], adf_stat[MMF_NCOL];
    int adf_kept[MMF_NCOL];
    char adf_note[MMF_NCOL][96];
} MmfSet;

/* 0, or -1 with a message naming the symbol (e.g. too few rows to split and screen) */
int mmf_data_build(MmfSet *s, const MmfBars *b, const MmfDataOpts *o, DlErr *e);
void mmf_data_free(MmfSet *s);

/* the derived columns before screening/scaling, for tests and the pandas cross-check:
 * F (n_bars, MMF_N_DERIVED) and target (n_bars), NaN where undefined */
extern const char *const mmf_derived_names[MMF_N_DERIVED];
void mmf_derived(double *F, double *target, const MmfBars *b);

#endif
