/* mmf_synth.c: the synthetic market as Tardis day files (book_snapshot_25 + trades), so the
 * MMF study runs on the built-in data through the same reader as downloaded data.
 *
 * The book is synth_generate's (10 levels; levels 10..24 are empty cells, as Tardis writes
 * missing levels), one snapshot per emitted second. Trades: per second, a count growing with
 * |s| (s = the latent order flow the book's imbalance shows), each a taker buy with probability
 * sigmoid(2 s) at the ask, else a sell at the bid, sized by the touch amount and |s|. So the
 * trade flow carries the same predictive signal as the book. Counter-based draws from
 * (seed, symbol index): bit-reproducible. Files are written as .part and renamed. */
#define _GNU_SOURCE
#include "data/mmf_synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/rng.h"
#include "data/download.h"
#include "data/synth.h"

#define K_TRADES 0x7472616465ULL /* "trade": a stream apart from synth.c's keys */

typedef struct {
    gzFile gz;
    char path[4200], part[4300];
} DayFile;

static int day_open(DayFile *f, const char *dir, int64_t day, const char *header, DlErr *e) {
    int y, m, d;
    download_civil(day, &y, &m, &d);
    if (download_mkdir_p(dir, e)) return -1;
    snprintf(f->path, sizeof f->path, "%s/%04d-%02d-%02d.csv.gz", dir, y, m, d);
    snprintf(f->part, sizeof f->part, "%s.part", f->path);
    f->gz = gzopen(f->part, "wb1");
    if (!f->gz) return dl_err(e, "%s: cannot create", f->part);
    gzputs(f->gz, header);
    return 0;
}

static int day_close(DayFile *f, DlErr *e) {
    if (!f->gz) return 0;
    int rc = gzclose(f->gz);
    f->gz = NULL;
    if (rc != Z_OK) return dl_err(e, "%s: write failed (disk full?)", f->part);
    return dl_commit_file(f->part, f->path, e);
}

static int write_symbol(const char *dir, const LobSymbol *s, const double *sig, uint64_t key, DlErr *e) {
    char bdir[4200], tdir[4200], bhead[4096], line[4096];
    snprintf(bdir, sizeof bdir, "%s/book_snapshot_25/%s", dir, s->symbol);
    snprintf(tdir, sizeof tdir, "%s/trades/%s", dir, s->symbol);
    int p = snprintf(bhead, sizeof bhead, "exchange,symbol,timestamp,local_timestamp");
    for (int i = 0; i < 25; i++)
        p += snprintf(bhead + p, sizeof bhead - (size_t)p, ",asks[%d].price,asks[%d].amount,bids[%d].price,bids[%d].amount", i, i, i, i);
    snprintf(bhead + p, sizeof bhead - (size_t)p, "\n");
    DayFile bf = {0}, tf = {0};
    int64_t cur_day = -1, trade_id = 1;
    int rc = 0;
    for (int64_t r = 0; r < s->n_rows && !rc; r++) {
        const int64_t t = s->time[r], day = t / 86400;
        if (day != cur_day) {
            rc = day_close(&bf, e) || day_close(&tf, e) || day_open(&bf, bdir, day, bhead, e) ||
                 day_open(&tf, tdir, day, "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n", e);
            cur_day = day;
            if (rc) break;
        }
        const float *f = s->features + (size_t)r * LOBDS_NFEAT; /* ask_p[10] ask_a[10] bid_p[10] bid_a[10] */
        const long long us = (long long)t * 1000000;
        int q = snprintf(line, sizeof line, "synthetic,%s,%lld,%lld", s->symbol, us, us + 1000);
        for (int l = 0; l < 25; l++) {
            if (l < 10 && isfinite(f[l]) && isfinite(f[20 + l]))
                q += snprintf(line + q, sizeof line - (size_t)q, ",%.7g,%.6g,%.7g,%.6g", f[l], f[10 + l], f[20 + l], f[30 + l]);
            else
                q += snprintf(line + q, sizeof line - (size_t)q, ",,,,");
        }
        snprintf(line + q, sizeof line - (size_t)q, "\n");
        gzputs(bf.gz, line);
        /* trades of this second */
        const uint64_t kr = dl_key(key, (uint64_t)r);
        const double a = fabs(sig[r]);
        const int n_tr = (int)(dl_rand_uniform_d(kr, 0) * 3.0 * (1.0 + a));
        const double p_buy = 1.0 / (1.0 + exp(-2.0 * sig[r]));
        for (int j = 0; j < n_tr; j++) {
            const int buy = dl_rand_uniform_d(kr, 1 + 3 * (uint64_t)j) < p_buy;
            double amt = 0.05 * (buy ? f[10] : f[30]) * exp(0.5 * dl_rand_normal(kr, 2 + 3 * (uint64_t)j)) * (1.0 + 0.5 * a);
            amt = fmax(0.001, round(amt * 1000.0) / 1000.0);
            const long long tus = us + 2000 + (long long)(j + 1) * 990000 / (n_tr + 1);
            snprintf(line, sizeof line, "synthetic,%s,%lld,%lld,%lld,%s,%.7g,%.3f\n", s->symbol, tus - 500, tus,
                     (long long)trade_id++, buy ? "buy" : "sell", buy ? f[0] : f[20], amt);
            gzputs(tf.gz, line);
        }
    }
    if (rc) {
        if (bf.gz) { gzclose(bf.gz); remove(bf.part); }
        if (tf.gz) { gzclose(tf.gz); remove(tf.part); }
        return -1;
    }
    return day_close(&bf, e) || day_close(&tf, e) ? -1 : 0;
}

int mmf_synth_write_tardis(const char *dir, uint64_t seed, int n_symbols, int64_t n_rows, double oracle_lo,
                           double oracle_hi, DlErr *e) {
    const int hz[1] = {10};
    for (int i = 0; i < n_symbols; i++) {
        SynthParams p;
        LobSymbol s;
        synth_draw_params(&p, seed, i, n_symbols, oracle_lo, oracle_hi, n_rows);
        if (synth_generate(&s, &p, seed, i, n_rows, hz, 1, e)) return -1;
        double *sig = dl_malloc((size_t)n_rows * sizeof *sig);
        synth_latent_rows(sig, &p, seed, i, n_rows);
        int rc = write_symbol(dir, &s, sig, dl_key(dl_key(seed, (uint64_t)i), K_TRADES), e);
        free(sig);
        lobds_symbol_free(&s);
        if (rc) return -1;
    }
    return 0;
}
