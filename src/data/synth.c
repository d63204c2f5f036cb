/* synth.c: synthetic LOB generator with a Kalman-filter oracle (see synth.h). */
#include "data/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"

/* stream tags under dl_key(seed, symbol index): one counter-based stream per purpose,
 * so a draw depends only on (purpose, second) and never on the order of generation */
enum { K_PARAM = 1, K_SIGNAL, K_PRICE, K_VOL, K_BOOK, K_REGIME, K_GAP };

#define BOOK_DRAWS 32      /* uniform draws per second for spread and holes */
#define DEPTH_SLOPE 0.25   /* mean amount grows 25 % per level */
#define CAL_TOL 0.002      /* calibration tolerance on the 10 s oracle */

static double unif(uint64_t key, uint64_t i, double lo, double hi) {
    return lo + (hi - lo) * dl_rand_uniform_d(key, i);
}

/* nearest 1-2-5 x 10^k (in log distance): tick sizes look like real ones */
static double nice_tick(double x) {
    double e = floor(log10(x)), best = 1, bd = 1e9;
    const double c[4] = {1, 2, 5, 10};
    for (int i = 0; i < 4; i++) {
        double d = fabs(log(x / (c[i] * pow(10, e))));
        if (d < bd) { bd = d; best = c[i]; }
    }
    return best * pow(10, e);
}

void synth_draw_params(SynthParams *p, uint64_t seed, int index, int n_symbols,
                       double oracle_lo, double oracle_hi, int64_t n_rows) {
    memset(p, 0, sizeof *p);
    uint64_t k = dl_key(dl_key(seed, (uint64_t)index), K_PARAM);
    uint64_t i = 0;
    p->half_life_s = unif(k, i++, 15, 60);
    p->phi = pow(2.0, -1.0 / p->half_life_s);
    p->sigma_s = sqrt(1.0 - p->phi * p->phi); /* stationary variance 1 */
    p->sigma_p = unif(k, i++, 0.8e-4, 2.0e-4);
    p->price0 = pow(10.0, unif(k, i++, -1.0, 4.7));
    p->tick = nice_tick(p->price0 * exp(unif(k, i++, log(0.5e-4), log(2.0e-4))));
    p->gamma = unif(k, i++, 0.25, 0.45);
    double r0 = unif(k, i++, 0.3, 0.8); /* level-0 measurement noise variance, s units */
    p->sigma_vol0 = p->gamma * sqrt(2.0 * r0);
    p->level_decay = unif(k, i++, 0.3, 0.6);
    p->vol_noise_growth = 0.25;
    p->base_amount0 = pow(10.0, unif(k, i++, 4.0, 5.5)) / p->price0; /* ~$10k-300k at the top */
    p->hole_prob = unif(k, i++, 0.03, 0.12);
    p->spread2_prob = unif(k, i++, 0.05, 0.2);
    p->burst_enter_prob = 1.0 / unif(k, i++, 1200, 3600);
    p->burst_exit_prob = 1.0 / unif(k, i++, 60, 300);
    p->burst_vol_mult = unif(k, i++, 1.5, 3.0);
    p->burst_sigma_mult = unif(k, i++, 1.5, 2.5);
    p->n_gaps = (int)(n_rows / 40000);
    p->start_time = 1704067200; /* 2024-01-01 00:00:00 UTC */
    double slice = (oracle_hi - oracle_lo) / n_symbols;
    p->target_oracle = oracle_lo + slice * (index + 0.15 + 0.7 * dl_rand_uniform_d(k, i++));
}

/* ---------------------------------------------------------------- oracle */

void synth_kalman(double *shat, const LobSymbol *s, const SynthParams *p) {
    /* GLS combination of the 10 per-level log imbalances into one measurement of s */
    double c[10], pi_sum = 0;
    for (int l = 0; l < 10; l++) {
        double coef = 2.0 * p->gamma * pow(p->level_decay, l);
        double sig = p->sigma_vol0 * (1.0 + p->vol_noise_growth * l);
        c[l] = coef / (2.0 * sig * sig);
        pi_sum += coef * coef / (2.0 * sig * sig);
    }
    double R = 1.0 / pi_sum, m = 0.0, P = 1.0;
    for (int64_t t = 0; t < s->n_rows; t++) {
        int64_t dt = t ? s->time[t] - s->time[t - 1] : 0; /* > 1 across an outage */
        double a = pow(p->phi, (double)dt);
        m *= a;
        P = a * a * P + (1.0 - a * a);
        const float *x = s->features + t * LOBDS_NFEAT;
        double z = 0;
        for (int l = 0; l < 10; l++) z += c[l] * log((double)x[30 + l] / (double)x[10 + l]);
        z *= R;
        double K = P / (P + R);
        m += K * (z - m);
        P *= 1.0 - K;
        shat[t] = m;
    }
}

/* Pearson correlation over the test-split samples, two passes for accuracy.
 * pred: (N); y: (N, stride) column 0 used */
static double test_corr(const double *pred, const float *y, int stride, const LobSymbol *s, int64_t *n_used) {
    int64_t a, b, n = 0, N = s->n_rows;
    synth_split(&a, &b, N);
    double mx = 0, my = 0;
    for (int pass = 0; pass < 2; pass++) {
        double sxx = 0, syy = 0, sxy = 0;
        for (int64_t g = 0; g < s->n_segments; g++) {
            int64_t lo = s->segments[2 * g], hi = s->segments[2 * g + 1];
            for (int64_t t = lo > b ? lo : b; t < hi; t++) {
                float yt = y[t * stride];
                if (!synth_is_sample(t, b, N, lo, SYNTH_SEQ_LEN, yt)) continue;
                if (pass == 0) { mx += pred[t]; my += yt; n++; continue; }
                double dx = pred[t] - mx, dy = (double)yt - my;
                sxx += dx * dx; syy += dy * dy; sxy += dx * dy;
            }
        }
        if (pass == 0) {
            if (n < 2) break;
            mx /= (double)n;
            my /= (double)n;
        } else {
            if (n_used) *n_used = n;
            return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0.0;
        }
    }
    if (n_used) *n_used = n;
    return NAN;
}

double synth_test_corr(const double *pred, const LobSymbol *s, int k, int64_t *n_used) {
    return test_corr(pred, s->targets + k, s->n_horizons, s, n_used);
}

/* ------------------------------------------------------------- generator */

typedef struct {
    int64_t T;              /* simulated seconds (rows + outage seconds) */
    int64_t *sec;           /* (N) simulated second of each row */
    double *sig;            /* (T) latent signal s */
    unsigned char *burst;   /* (T) regime: 1 in a burst */
    double *logp;           /* (T) efficient log price */
    double *shat;           /* (N) filtered signal */
    float *y;               /* (N) calibration target (10 s) */
} Work;

/* outages: n_gaps gaps of 61..600 s, spread over the rows so segments stay long */
static void layout_rows(Work *w, LobSymbol *out, const SynthParams *p, uint64_t key) {
    int64_t N = out->n_rows, extra = 0;
    int g = 0;
    int64_t next_row = N, next_len = 0;
    for (int64_t r = 0; r < N; r++) {
        if (g < p->n_gaps && next_row == N) {
            double u = dl_rand_uniform_d(key, 2 * (uint64_t)g);
            next_row = (int64_t)((double)N * (g + 1 + 0.5 * (u - 0.5)) / (p->n_gaps + 1));
            next_len = 61 + (int64_t)(540.0 * dl_rand_uniform_d(key, 2 * (uint64_t)g + 1));
        }
        if (r == next_row) {
            extra += next_len;
            g++;
            next_row = N;
        }
        w->sec[r] = r + extra;
        out->time[r] = p->start_time + w->sec[r];
    }
    w->T = N + extra;
}

static void simulate_latent(Work *w, const SynthParams *p, uint64_t key) {
    uint64_t ks = dl_key(key, K_SIGNAL), kr = dl_key(key, K_REGIME);
    w->sig[0] = dl_rand_normal(ks, 0);
    w->burst[0] = 0;
    for (int64_t t = 1; t < w->T; t++) {
        w->sig[t] = p->phi * w->sig[t - 1] + p->sigma_s * dl_rand_normal(ks, (uint64_t)t);
        double u = dl_rand_uniform_d(kr, (uint64_t)t);
        w->burst[t] = w->burst[t - 1] ? (u >= p->burst_exit_prob) : (u < p->burst_enter_prob);
    }
}

/* amounts: bid side rises and ask side falls with s, weaker at deeper levels */
static void fill_volumes(LobSymbol *out, const Work *w, const SynthParams *p, uint64_t key) {
    uint64_t kv = dl_key(key, K_VOL);
    for (int64_t r = 0; r < out->n_rows; r++) {
        int64_t t = w->sec[r];
        double s = w->sig[t], bm = w->burst[t] ? p->burst_vol_mult : 1.0;
        float *x = out->features + r * LOBDS_NFEAT;
        for (int l = 0; l < 10; l++) {
            double sig = p->sigma_vol0 * (1.0 + p->vol_noise_growth * l);
            double g = p->gamma * pow(p->level_decay, l) * s;
            double base = p->base_amount0 * (1.0 + DEPTH_SLOPE * l) * bm * exp(-0.5 * sig * sig);
            uint64_t i = (uint64_t)t * 20 + (uint64_t)l;
            x[10 + l] = (float)(base * exp(-g + sig * dl_rand_normal(kv, i)));
            x[30 + l] = (float)(base * exp(+g + sig * dl_rand_normal(kv, i + 10)));
        }
    }
}

/* price path for this beta, then the 20 price columns on the tick grid */
static int fill_prices(LobSymbol *out, Work *w, const SynthParams *p, uint64_t key, double beta, DlErr *e) {
    uint64_t kp = dl_key(key, K_PRICE), kb = dl_key(key, K_BOOK);
    w->logp[0] = log(p->price0);
    for (int64_t t = 1; t < w->T; t++) {
        double vol = p->sigma_p * (w->burst[t] ? p->burst_sigma_mult : 1.0);
        w->logp[t] = w->logp[t - 1] + (p->flip ? -beta : beta) * w->sig[t - 1] + vol * dl_rand_normal(kp, (uint64_t)t);
    }
    for (int64_t r = 0; r < out->n_rows; r++) {
        int64_t t = w->sec[r];
        uint64_t i0 = (uint64_t)t * BOOK_DRAWS;
        double x = exp(w->logp[t]) / p->tick, u = dl_rand_uniform_d(kb, i0);
        int n = 1 + (u < (w->burst[t] ? 0.5 : p->spread2_prob)) + (w->burst[t] && u < 0.15);
        /* odd spread: mid on a half tick; even: on a tick, so the mid moves in half ticks */
        int64_t bid = n % 2 ? (int64_t)floor(x) - (n - 1) / 2 : (int64_t)llround(x) - n / 2;
        int64_t ask = bid + n, ah = 0, bh = 0;
        float *f = out->features + r * LOBDS_NFEAT;
        for (int l = 0; l < 10; l++) {
            if (l > 0) {
                double ua = dl_rand_uniform_d(kb, i0 + (uint64_t)l), ub = dl_rand_uniform_d(kb, i0 + 10 + (uint64_t)l);
                ah += 1 + (ua < p->hole_prob) + (ua < 0.3 * p->hole_prob);
                bh += 1 + (ub < p->hole_prob) + (ub < 0.3 * p->hole_prob);
            }
            if (bid - bh < 10)
                return dl_err(e, "synth %s: price fell to %lld ticks at second %lld (run shorter)",
                              out->symbol, (long long)(bid - bh), (long long)t);
            f[l] = (float)((double)(ask + ah) * p->tick);
            f[20 + l] = (float)((double)(bid - bh) * p->tick);
        }
    }
    return 0;
}

/* the 10 s target exactly as lobds_compute_targets computes it */
static void target_col(float *y, const LobSymbol *s, int h) {
    for (int64_t t = 0; t < s->n_rows; t++) y[t] = NAN;
    for (int64_t g = 0; g < s->n_segments; g++) {
        int64_t a = s->segments[2 * g], b = s->segments[2 * g + 1];
        for (int64_t t = a; t + h < b; t++) {
            const float *x0 = s->features + t * LOBDS_NFEAT, *x1 = s->features + (t + h) * LOBDS_NFEAT;
            double m0 = 0.5 * ((double)x0[0] + (double)x0[20]), m1 = 0.5 * ((double)x1[0] + (double)x1[20]);
            y[t] = (float)(1e4 * log(m1 / m0));
        }
    }
}

static int eval_beta(double *corr, LobSymbol *out, Work *w, const SynthParams *p, uint64_t key, double b, DlErr *e) {
    if (fill_prices(out, w, p, key, b * p->sigma_p, e)) return -1;
    target_col(w->y, out, SYNTH_CAL_HORIZON);
    *corr = test_corr(w->shat, w->y, 1, out, NULL);
    return 0;
}

/* find b = beta/sigma_p with oracle(b) ~= target: bracket by doubling, then bisect in log b.
 * With few test samples the realised oracle is noisy and may sit above the target even for
 * a vanishing signal: then the closest b is kept and the caller sees the miss in the report. */
static int calibrate(double *b_out, LobSymbol *out, Work *w, const SynthParams *p, uint64_t key, DlErr *e) {
    double tgt = p->target_oracle, lo = 0, hi = 0, b = 0.1, f;
    int bracketed = 1;
    if (eval_beta(&f, out, w, p, key, b, e)) return -1;
    double best = b, best_d = fabs(f - tgt);
#define TRACK() do { if (fabs(f - tgt) < best_d) { best_d = fabs(f - tgt); best = b; } } while (0)
    if (f < tgt) {
        while (f < tgt && b < 64) {
            lo = b;
            b *= 2;
            if (eval_beta(&f, out, w, p, key, b, e)) return -1;
            TRACK();
        }
        if (f < tgt)
            return dl_err(e, "synth %s: the 10 s oracle reaches only %.3f < target %.3f (lower the top of "
                          "--oracle-range or raise --seconds)", out->symbol, f, tgt);
        hi = b;
    } else {
        while (f >= tgt && b > 1e-3) {
            hi = b;
            b *= 0.5;
            if (eval_beta(&f, out, w, p, key, b, e)) return -1;
            TRACK();
        }
        lo = b;
        bracketed = f < tgt;
    }
    for (int it = 0; it < 40 && bracketed && best_d > CAL_TOL; it++) {
        b = sqrt(lo * hi);
        if (eval_beta(&f, out, w, p, key, b, e)) return -1;
        TRACK();
        if (f < tgt) lo = b; else hi = b;
    }
#undef TRACK
    *b_out = best;
    return 0;
}

int synth_generate(LobSymbol *out, SynthParams *p, uint64_t seed, int index, int64_t n_rows,
                   const int *horizons, int n_horizons, DlErr *e) {
    memset(out, 0, sizeof *out);
    snprintf(out->symbol, sizeof out->symbol, "SYN%03dUSDT", index);
    if (n_horizons < 1 || n_horizons > LOBDS_MAX_H) return dl_err(e, "synth: %d horizons (1..%d)", n_horizons, LOBDS_MAX_H);
    if (n_rows < 2000) return dl_err(e, "synth: %lld seconds is too short (at least 2000)", (long long)n_rows);
    uint64_t key = dl_key(seed, (uint64_t)index);
    out->n_rows = n_rows;
    out->n_horizons = n_horizons;
    for (int k = 0; k < LOBDS_MAX_H; k++) out->oracle_corr[k] = NAN;
    memcpy(out->horizons, horizons, sizeof(int) * (size_t)n_horizons);
    out->time = dl_malloc((size_t)n_rows * sizeof(int64_t));
    out->features = dl_malloc((size_t)n_rows * LOBDS_NFEAT * sizeof(float));
    out->targets = dl_malloc((size_t)n_rows * (size_t)n_horizons * sizeof(float));
    out->segments = dl_malloc((size_t)(p->n_gaps + 1) * 2 * sizeof(int64_t));

    Work w = {0};
    w.sec = dl_malloc((size_t)n_rows * sizeof(int64_t));
    layout_rows(&w, out, p, dl_key(key, K_GAP));
    out->n_segments = lobds_segments_from_time(out->segments, out->time, n_rows);
    w.sig = dl_malloc((size_t)w.T * sizeof(double));
    w.burst = dl_malloc((size_t)w.T);
    w.logp = dl_malloc((size_t)w.T * sizeof(double));
    w.shat = dl_malloc((size_t)n_rows * sizeof(double));
    w.y = dl_malloc((size_t)n_rows * sizeof(float));

    simulate_latent(&w, p, key);
    fill_volumes(out, &w, p, key);
    synth_kalman(w.shat, out, p); /* volumes do not depend on beta: filter once */
    if (p->flip) /* the best predictor of a flipped symbol is -s_hat */
        for (int64_t r = 0; r < n_rows; r++) w.shat[r] = -w.shat[r];
    double b = 0;
    int rc = calibrate(&b, out, &w, p, key, e);
    if (!rc) rc = fill_prices(out, &w, p, key, b * p->sigma_p, e);
    if (!rc) {
        p->beta = (p->flip ? -b : b) * p->sigma_p;
        double pi_sum = 0;
        for (int l = 0; l < 10; l++) {
            double coef = 2.0 * p->gamma * pow(p->level_decay, l), sig = p->sigma_vol0 * (1.0 + p->vol_noise_growth * l);
            pi_sum += coef * coef / (2.0 * sig * sig);
        }
        p->kalman_r = 1.0 / pi_sum;
        p->price_info_ratio = b * b / pi_sum;
        lobds_compute_targets(out);
        target_col(w.y, out, SYNTH_CAL_HORIZON);
        p->realised_oracle = test_corr(w.shat, w.y, 1, out, NULL);
        for (int k = 0; k < n_horizons; k++) out->oracle_corr[k] = synth_test_corr(w.shat, out, k, NULL);
    }
    free(w.sec); free(w.sig); free(w.burst); free(w.logp); free(w.shat); free(w.y);
    if (rc) lobds_symbol_free(out);
    return rc;
}

int synth_write_attrs(LobdsWriter *w, const LobSymbol *s, const SynthParams *p, uint64_t seed,
                      int index, DlErr *e) {
    const char *sym = s->symbol;
    struct { const char *name; double v; } d[] = {
        {"half_life_s", p->half_life_s}, {"phi", p->phi}, {"sigma_s", p->sigma_s},
        {"beta", p->beta}, {"sigma_p", p->sigma_p}, {"price0", p->price0}, {"tick", p->tick},
        {"gamma", p->gamma}, {"level_decay", p->level_decay}, {"sigma_vol0", p->sigma_vol0},
        {"vol_noise_growth", p->vol_noise_growth}, {"base_amount0", p->base_amount0},
        {"hole_prob", p->hole_prob}, {"spread2_prob", p->spread2_prob},
        {"burst_enter_prob", p->burst_enter_prob}, {"burst_exit_prob", p->burst_exit_prob},
        {"burst_vol_mult", p->burst_vol_mult}, {"burst_sigma_mult", p->burst_sigma_mult},
        {"target_oracle_h10", p->target_oracle}, {"realised_oracle_h10", p->realised_oracle},
        {"kalman_r", p->kalman_r},
        {"price_info_ratio", p->price_info_ratio},
    };
    for (size_t i = 0; i < sizeof d / sizeof *d; i++)
        if (lobds_set_attr_double(w, sym, d[i].name, d[i].v, e)) return -1;
    if (lobds_set_attr_int64(w, sym, "seed", (int64_t)seed, e) ||
        lobds_set_attr_int64(w, sym, "symbol_index", index, e) ||
        lobds_set_attr_int64(w, sym, "n_gaps", p->n_gaps, e) ||
        lobds_set_attr_int64(w, sym, "oracle_seq_len", SYNTH_SEQ_LEN, e) ||
        lobds_set_attr_string(w, sym, "oracle_split", "test", e) ||
        lobds_set_attr_string(w, sym, "generator", "deeplob-mpi synth 1 (docs/data_format.md)", e))
        return -1;
    char name[64];
    for (int k = 0; k < s->n_horizons; k++) {
        int64_t a, b, n = 0, N = s->n_rows;
        synth_split(&a, &b, N);
        for (int64_t g = 0; g < s->n_segments; g++) {
            int64_t lo = s->segments[2 * g], hi = s->segments[2 * g + 1];
            for (int64_t t = lo > b ? lo : b; t < hi; t++)
                n += synth_is_sample(t, b, N, lo, SYNTH_SEQ_LEN, s->targets[t * s->n_horizons + k]);
        }
        snprintf(name, sizeof name, "oracle_n_h%d", s->horizons[k]);
        if (lobds_set_attr_int64(w, sym, name, n, e)) return -1;
    }
    return 0;
}

int synth_write_file(const char *path, uint64_t seed, int n_symbols, int64_t n_rows,
                     const int *horizons, int n_horizons, double oracle_lo, double oracle_hi,
                     int report, int mixed, DlErr *e) {
    LobdsWriter w;
    if (lobds_create(&w, path, "synthetic", e)) return -1;
    if (report) {
        printf("%-11s %9s %4s %12s %10s %7s %7s", "symbol", "rows", "segs", "price0", "tick", "hl_s", "target");
        for (int k = 0; k < n_horizons; k++) printf("  oracle_h%-4d", horizons[k]);
        printf("\n");
    }
    for (int i = 0; i < n_symbols; i++) {
        SynthParams p;
        LobSymbol s;
        char prov[256];
        synth_draw_params(&p, seed, i, n_symbols, oracle_lo, oracle_hi, n_rows);
        p.flip = mixed && (i % 2);
        if (synth_generate(&s, &p, seed, i, n_rows, horizons, n_horizons, e)) {
            lobds_abort(&w);
            return -1;
        }
        snprintf(prov, sizeof prov, "deeplob_mpi synth: seed %llu, symbol index %d of %d, %lld seconds",
                 (unsigned long long)seed, i, n_symbols, (long long)n_rows);
        int rc = lobds_write_symbol(&w, &s, prov, e) || synth_write_attrs(&w, &s, &p, seed, i, e);
        if (!rc && report) {
            printf("%-11s %9lld %4lld %12.6g %10.3g %7.1f %7.3f", s.symbol, (long long)s.n_rows,
                   (long long)s.n_segments, p.price0, p.tick, p.half_life_s, p.target_oracle);
            for (int k = 0; k < n_horizons; k++) printf("  %12.4f", s.oracle_corr[k]);
            printf("\n");
            if (!(fabs(p.realised_oracle - p.target_oracle) <= 0.01))
                printf("note: %s: 10 s oracle %.3f is off its target %.3f (too few test samples at this "
                       "--seconds: raise it)\n", s.symbol, p.realised_oracle, p.target_oracle);
            fflush(stdout);
        }
        lobds_symbol_free(&s);
        if (rc) {
            lobds_abort(&w);
            return -1;
        }
    }
    return lobds_finish(&w, e);
}

/* The latent order flow s at each emitted row of symbol `index`, exactly as
 * synth_generate drew it (same keys, so the same s): for the trades of the MMF
 * study (mmf_synth.c), which must be driven by the signal the book shows. */
void synth_latent_rows(double *s_rows, const SynthParams *p, uint64_t seed, int index, int64_t n_rows) {
    uint64_t key = dl_key(seed, (uint64_t)index);
    LobSymbol tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.n_rows = n_rows;
    tmp.time = dl_malloc((size_t)n_rows * sizeof(int64_t));
    Work w = {0};
    w.sec = dl_malloc((size_t)n_rows * sizeof(int64_t));
    layout_rows(&w, &tmp, p, dl_key(key, K_GAP));
    w.sig = dl_malloc((size_t)w.T * sizeof(double));
    w.burst = dl_malloc((size_t)w.T);
    simulate_latent(&w, p, key);
    for (int64_t r = 0; r < n_rows; r++) s_rows[r] = w.sig[w.sec[r]];
    free(w.sec); free(w.sig); free(w.burst); free(tmp.time);
}
