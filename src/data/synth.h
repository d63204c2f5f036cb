/* synth.h: the synthetic limit-order-book market with a known oracle
 * (design: /work/shared/design/synthetic.md, format: docs/data_format.md).
 *
 * One step = one second. Latent order flow s[t] = phi*s[t-1] + sigma_s*eps (stationary
 * variance 1); efficient log price p[t] = p[t-1] + beta*s[t-1] + sigma_p*m(regime)*eta;
 * the book shows s through the volume imbalance of every level (weaker deeper down);
 * prices sit on a tick grid with a 1+ tick spread and holes; bursts raise volumes,
 * volatility and spread; a few outages (> 60 s) split the series into segments.
 * beta is calibrated per symbol so that the 10 s oracle correlation on the test split
 * hits a target drawn inside the requested range. Everything derives from
 * dl_key(seed, symbol index) through counter-based draws: bit-reproducible. */
#ifndef DL_SYNTH_H
#define DL_SYNTH_H

#include <math.h>
#include <stdint.h>

#include "common/util.h"
#include "io/lobds.h"

#define SYNTH_SEQ_LEN 100        /* window length the oracle's sample rule assumes */
#define SYNTH_CAL_HORIZON 10     /* horizon (s) whose oracle is calibrated */

typedef struct {
    /* latent signal */
    double half_life_s, phi, sigma_s;
    /* price: beta and sigma_p are log-price units per second */
    double beta, sigma_p, price0, tick;
    /* book: volume imbalance carries gamma*level_decay^i*s at level i */
    double gamma, level_decay, sigma_vol0, vol_noise_growth, base_amount0;
    double hole_prob, spread2_prob;
    /* regimes (bursts) */
    double burst_enter_prob, burst_exit_prob, burst_vol_mult, burst_sigma_mult;
    /* outages */
    int n_gaps;
    int64_t start_time;
    /* calibration */
    double target_oracle;        /* wanted 10 s oracle on the test split */
    double realised_oracle;      /* the 10 s oracle reached (even if 10 is not a stored horizon) */
    double kalman_r;             /* measurement noise variance of the combined imbalance (s units) */
    double price_info_ratio;     /* (beta/sigma_p)^2 / imbalance precision: info the filter ignores */
    int flip;                    /* 1: the price follows -s (bid depth up, price down): the book's
                                    meaning differs between symbols (synth --mixed-dynamics) */
} SynthParams;

/* Draw the parameters of symbol `index` (of n_symbols) from the seed. The oracle target
 * is stratified: symbol i gets a target inside the i-th of n_symbols equal slices of
 * [oracle_lo, oracle_hi]. beta is left 0 (synth_generate calibrates it). */
void synth_draw_params(SynthParams *p, uint64_t seed, int index, int n_symbols,
                       double oracle_lo, double oracle_hi, int64_t n_rows);

/* Generate one symbol: n_rows emitted seconds, targets for the given horizons,
 * oracle_corr per horizon; calibrates p->beta (and fills kalman_r, price_info_ratio,
 * realised_oracle). Fails (-1) if the target oracle is out of reach (beta/sigma_p <= 64);
 * with very few test samples the realised oracle may miss the target (caller reports it).
 * out is allocated here; free with lobds_symbol_free. */
int synth_generate(LobSymbol *out, SynthParams *p, uint64_t seed, int index, int64_t n_rows,
                   const int *horizons, int n_horizons, DlErr *e);

/* Kalman-filtered latent signal from the stored float32 volumes of every level,
 * using only rows <= t (gap-aware through the time axis).
 * shat: (N) output; s: a generated symbol; p: its parameters. */
void synth_kalman(double *shat, const LobSymbol *s, const SynthParams *p);

/* 1 if row t is a sample of split [lo, hi): window t-seq_len+1..t inside [lo, hi) and
 * inside one segment (seg_start = first row of t's segment), target finite. */
static inline int synth_is_sample(int64_t t, int64_t lo, int64_t hi, int64_t seg_start, int seq_len, float target) {
    return t >= lo && t < hi && t - seq_len + 1 >= lo && t - seq_len + 1 >= seg_start && isfinite(target);
}

/* The split boundaries of the training pipeline: train [0, a), validation [a, b), test [b, N)
 * with a = floor(0.6 N), b = floor(0.8 N). */
static inline void synth_split(int64_t *a, int64_t *b, int64_t n) {
    *a = (int64_t)(0.6 * (double)n);
    *b = (int64_t)(0.8 * (double)n);
}

/* Pearson correlation between pred (N) and column k of s->targets over the test-split
 * samples (rule above, seq_len = SYNTH_SEQ_LEN); n_used gets the sample count. */
double synth_test_corr(const double *pred, const LobSymbol *s, int k, int64_t *n_used);

/* Write all generator parameters, the seed and the oracle bookkeeping attributes
 * (oracle_split, oracle_seq_len, oracle_n_h<H>) on the symbol's group. */
int synth_write_attrs(LobdsWriter *w, const LobSymbol *s, const SynthParams *p, uint64_t seed,
                      int index, DlErr *e);

/* Whole dataset: n_symbols symbols SYN000USDT.. of n_rows seconds each into a new file
 * (refuses an existing path). report: print one line per symbol to stdout.
 * Oracle targets are stratified over [oracle_lo, oracle_hi]. mixed: the odd-numbered
 * symbols' prices follow -s (p.flip), so the book-to-return map is not shared. */
int synth_write_file(const char *path, uint64_t seed, int n_symbols, int64_t n_rows,
                     const int *horizons, int n_horizons, double oracle_lo, double oracle_hi,
                     int report, int mixed, DlErr *e);

/* s (n_rows): the latent signal at each emitted row of symbol `index`, as synth_generate
 * drew it (p from synth_draw_params with the same arguments) */
void synth_latent_rows(double *s_rows, const SynthParams *p, uint64_t seed, int index, int64_t n_rows);

#endif
