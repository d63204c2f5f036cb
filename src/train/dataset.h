/* dataset.h: one symbol's samples: split, windows, z-score, targets, batches.
 *
 * Rows split chronologically: train [0, floor(0.6N)), val [floor(0.6N), floor(0.8N)),
 * test [floor(0.8N), N). A sample at row t is the window of rows t-T+1..t, entirely
 * inside one split and one segment, with the target at t (no look-ahead).
 * Windows whose target is NaN (t+h leaves the segment) are not samples (counted
 * as nan_targets); windows containing a non-finite feature are skipped and counted.
 *
 * Price features (price_mid_relative = 0, the seed): raw prices. With 1 each row's
 * 20 price columns become 1e4*(p/mid - 1), mid = (ask_price0 + bid_price0)/2 of the
 * same row (a per-row transform: no look-ahead), so the inputs stay stationary when
 * the price level drifts out of the training range.
 * Volume features (volume_log = 0, the seed): raw amounts. With 1 the 20 amount
 * columns become log1p(v / c_f), c_f = 1e-3 * the mean of column f over the finite
 * training rows (fitted on train only): log(v) up to a constant for every
 * realistic amount, finite at 0, independent of the symbol's unit of quantity.
 * Order-book imbalance signals are log-ratios and real volumes are heavy-tailed.
 * Normalisation: per-feature z-score fitted on the finite training rows (rows whose
 * 40 features are all finite; population std, double sums; std 0 -> 1), applied once
 * to the whole matrix (xn), never per batch.
 *
 * Targets (bps, float), n_y per row (1, or 2 for a two-head model: [horizon, horizon2]):
 *   y_raw = the dataset's target at the horizon(s). A row is a sample only when
 *   all its n_y targets are finite.
 *   y_fit: what the model is trained and validated on: EMA-smoothed on train and
 *          val rows when alpha > 0, and raw on test rows (never used for fitting).
 *   y_smooth: the same EMA on every split (the test part is the labelled
 *          "smoothed" comparison set; never used for training).
 *   EMA: s[t] = a*y[t] + (1-a)*s[t-1], restarted (s = y) at the first finite target
 *   of every (split, segment) piece, in time order. A NaN y gives s[t] = NaN and
 *   leaves the state unchanged (the next finite y continues from the last one).
 *   With standardize_targets, y_fit is additionally (y - mu)/sd with mu, sd of the
 *   train samples' y_fit; predictions are mapped back to bps before any metric. */
#ifndef DL_TRAIN_DATASET_H
#define DL_TRAIN_DATASET_H

#include <stdint.h>

#include "common/util.h"
#include "io/lobds.h"

enum { SPLIT_TRAIN = 0, SPLIT_VAL = 1, SPLIT_TEST = 2, N_SPLITS = 3 };

typedef struct {
    int T, F;                       /* window length, features (40) */
    int64_t n_rows;
    int64_t split_start[N_SPLITS + 1]; /* row bounds: 0, floor(.6N), floor(.8N), N */
    float *xn;                      /* (N, F) normalised features (non-finite stay non-finite) */
    double mean[LOBDS_NFEAT], std[LOBDS_NFEAT]; /* z-score fitted on train rows */
    int64_t n_fit_rows;             /* finite train rows used for the fit */
    int n_y;                        /* targets per row: 1, or 2 (deeplob_hier) */
    double vol_scale[LOBDS_NFEAT];  /* c_f of the log volume transform (0 for unused columns) */
    float *y_raw;                   /* (N, n_y) bps */
    float *y_fit;                   /* (N, n_y) training target (see above), scaled if standardised */
    float *y_smooth;                /* (N, n_y) EMA everywhere (== y_raw when alpha == 0) */
    double y_mu[2], y_sd[2];        /* per target column: standardisation (0, 1 when off) */
    int64_t *idx[N_SPLITS];         /* sample rows t per split, increasing */
    int64_t n[N_SPLITS];
    int64_t skipped[N_SPLITS];      /* windows with a non-finite feature */
    int64_t nan_targets[N_SPLITS];  /* complete windows whose target is NaN */
    int64_t dropped_train;          /* train samples dropped by max_train_samples (oldest) */
} SymbolData;

typedef struct {
    int seq_len;
    int horizon;                /* seconds; must be one of the symbol's horizons */
    double ema_alpha;
    int standardize_targets;
    int64_t max_train_samples;  /* 0 = all */
    int price_mid_relative;     /* 1: prices as bps from the row's mid */
    int volume_log;             /* 1: amounts as log1p(v / c_f) (above) */
    int horizon2;               /* 0 = one target; else a second target column (seconds) */
} DataOptions;

/* row bounds of the split (pure; used by the results layout too) */
void dataset_split_bounds(int64_t bounds[N_SPLITS + 1], int64_t n_rows);

/* EMA over y[lo..hi) restarted at each piece start; out (N) written only in [lo, hi) */
void dataset_ema(float *out, const float *y, int64_t lo, int64_t hi, double alpha);

/* 0 ok; -1 error (a horizon the symbol lacks); -2 the symbol's data cannot give a
 * model (no finite training row, or a split without samples: too short for one
 * window), e says which: the caller skips the symbol. d is empty unless 0. */
int dataset_build(SymbolData *d, const LobSymbol *s, DataOptions o, DlErr *e);
/* a stand-in with no samples for a skipped symbol: split bounds, NaN targets and
 * normalisation, so its results objects get defined, deterministic contents */
void dataset_placeholder(SymbolData *d, const LobSymbol *s, DataOptions o);
void dataset_free(SymbolData *d);
/* p = the pooled data of the symbols d[i] with use[i] (the universal model): rows
 * concatenated (each symbol already normalised by its own training fit), sample rows
 * offset into the pool, so a window never crosses a symbol; no test split of its own
 * (each symbol is tested on its own). Free with dataset_free. */
void dataset_pool(SymbolData *p, const SymbolData *d, const int *use, int n);

/* x (B, T, F), y (B, n_y) from the normalised matrix for sample rows rows[0..B);
 * ysrc (N, n_y) is one of d's target arrays; y may be NULL */
void dataset_fill_batch(float *x, float *y, const SymbolData *d, const float *ysrc,
                        const int64_t *rows, int B);

/* perm (n): a permutation of 0..n-1 from a counter-based key (Fisher-Yates) */
void dataset_permutation(int64_t *perm, int64_t n, uint64_t key);

#endif
