/* mmf_bars.c: streaming Tardis trades + book_snapshot_25 -> bars (rules in mmf_bars.h). */
#define _GNU_SOURCE
#include "data/mmf_bars.h"

#include <errno.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/convert.h"
#include "data/gzlines.h"

#define MB_LEVELS 25

const char *const mmf_bar_col_names[MMF_NCOL] = {
    "best_bid", "best_ask", "mid", "spread_bps", "vwap", "volume", "dvol", "n_trades", "buy_volume", "sell_volume",
    "grid_-4", "grid_-3", "grid_-2", "grid_-1", "grid_1", "grid_2", "grid_3", "grid_4"};
_Static_assert(MB_GRID_P4 + 1 == MMF_NCOL, "column enum and MMF_NCOL");

static const char *bad_names[MB_BAD_NKINDS] = {
    "book_wrong_column_count", "book_unparsable_number", "book_missing_level0", "book_nonpositive_price",
    "book_crossed", "book_time_backwards", "trade_unparsable", "trade_nonpositive_price_or_amount",
    "trade_unknown_side", "trade_time_backwards"};
const char *mmf_bad_name(int k) { return k >= 0 && k < MB_BAD_NKINDS ? bad_names[k] : "?"; }

void mmf_bar_opts_default(MmfBarOpts *o) {
    o->bar_s = 10;
    o->max_gap_s = 60;
    o->max_bad_rows = 1000;
}

struct MmfBarBuilder {
    MmfBarOpts o;
    MmfBarStats st;
    /* book: the second being collected and the last emitted grid second */
    int64_t cur_sec, last_sec;
    int have_cur, have_last;
    double cur_book[4 * MB_LEVELS], last_book[4 * MB_LEVELS]; /* per level: ask p, ask a, bid p, bid a */
    /* bars */
    int64_t n, cap, nseg, segcap;
    int64_t *time, *seg;
    double *v;
    /* trades */
    int64_t trade_row;   /* bar the trade cursor is at */
    int64_t last_trade_us;
    int have_trade;
};

MmfBarBuilder *mmf_bars_begin(const MmfBarOpts *o) {
    MmfBarBuilder *b = dl_calloc(1, sizeof *b);
    b->o = *o;
    return b;
}

void mmf_bars_abort(MmfBarBuilder *b) {
    if (!b) return;
    free(b->time); free(b->seg); free(b->v);
    free(b);
}

void mmf_bars_free(MmfBars *s) {
    free(s->time); free(s->v); free(s->seg);
    memset(s, 0, sizeof *s);
}

static void note_bad(MmfBarBuilder *b, int kind, const char *path, int64_t line) {
    if (b->st.bad[kind]++ == 0)
        snprintf(b->st.first_bad[kind], sizeof b->st.first_bad[kind], "%s:%lld", path, (long long)line);
}

void mmf_bad_report(char *buf, size_t n, const MmfBarStats *st) {
    size_t p = 0;
    buf[0] = 0;
    for (int k = 0; k < MB_BAD_NKINDS && p < n; k++)
        if (st->bad[k])
            p += (size_t)snprintf(buf + p, n - p, "  %-34s %10lld  first at %s\n", bad_names[k], (long long)st->bad[k],
                                  st->first_bad[k]);
}

/* ---- gzip (or plain) CSV, line by line -------------------------------------------------- */
typedef int (*LineFn)(MmfBarBuilder *b, const char *s, const char *end, int64_t line, const char *path, DlErr *e);

static int64_t bad_total(const MmfBarBuilder *b) {
    int64_t t = 0;
    for (int k = 0; k < MB_BAD_NKINDS; k++) t += b->st.bad[k];
    return t;
}

static int read_lines(MmfBarBuilder *b, const char *path, LineFn fn, DlErr *e) {
    GzLines *g = gzl_open(path, 0, NULL, e);
    if (!g) return -1;
    const int64_t bad0 = bad_total(b);
    const char *ls, *le;
    int rc = 0, got;
    while (!rc && (got = gzl_next(g, &ls, &le, e)) != 0) {
        if (got < 0) { rc = -1; break; }
        rc = fn(b, ls, le, gzl_line(g), path, e);
    }
    gzl_close(g);
    if (rc) return rc;
    const int64_t nbad = bad_total(b) - bad0;
    if (nbad > b->o.max_bad_rows) {
        char rep[4096];
        mmf_bad_report(rep, sizeof rep, &b->st);
        return dl_err(e, "%s: rejected: %lld bad rows (limit %lld, --max-bad-rows):\n%s", path, (long long)nbad,
                      (long long)b->o.max_bad_rows, rep);
    }
    return 0;
}

/* split [s,end) at commas into at most max fields; returns the field count */
static int split_csv(const char *s, const char *end, const char **f, const char **fe, int max) {
    int n = 0;
    const char *p = s;
#ifdef __AVX2__
    /* a book row is ~800 bytes and 104 fields: find its commas 32 bytes at a time (one
     * compare and a bit mask), not byte by byte; the tail goes through the loop below */
    const __m256i comma = _mm256_set1_epi8(',');
    for (; end - p >= 32; p += 32) {
        unsigned mask = (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)p), comma));
        for (; mask; mask &= mask - 1) {
            const char *c = p + __builtin_ctz(mask);
            if (n < max) { f[n] = s; fe[n] = c; }
            n++;
            s = c + 1;
        }
    }
#endif
    for (; p < end; p++)
        if (*p == ',') {
            if (n < max) { f[n] = s; fe[n] = p; }
            n++;
            s = p + 1;
        }
    if (n < max) { f[n] = s; fe[n] = end; }
    return n + 1;
}

/* ---- bars from the book ------------------------------------------------------------------- */
static void push_seg(MmfBarBuilder *b) {
    if (b->nseg == b->segcap) {
        b->segcap = b->segcap ? 2 * b->segcap : 16;
        b->seg = realloc(b->seg, (size_t)b->segcap * 2 * sizeof *b->seg);
        DL_CHECK(b->seg, "out of memory");
    }
    if (b->nseg) b->seg[2 * b->nseg - 1] = b->n;
    b->seg[2 * b->nseg] = b->n;
    b->seg[2 * b->nseg + 1] = -1;
    b->nseg++;
}

/* grid second s with book bk ends a bar when (s+1) % bar_s == 0 */
static void grid_second(MmfBarBuilder *b, int64_t s, const double *bk) {
    if ((s + 1) % b->o.bar_s != 0) return;
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 8640;
        b->time = realloc(b->time, (size_t)b->cap * sizeof *b->time);
        b->v = realloc(b->v, (size_t)b->cap * MMF_NCOL * sizeof *b->v);
        DL_CHECK(b->time && b->v, "out of memory growing the bars to %lld", (long long)b->cap);
    }
    double *v = b->v + (size_t)b->n * MMF_NCOL;
    memset(v, 0, MMF_NCOL * sizeof *v);
    const double ask = bk[0], bid = bk[2], mid = (bid + ask) / 2;
    v[MB_BEST_BID] = bid;
    v[MB_BEST_ASK] = ask;
    v[MB_MID] = mid;
    v[MB_SPREAD_BPS] = 1e4 * (ask - bid) / mid;
    v[MB_VWAP] = NAN; /* set by finish from the trades */
    /* grid buckets of p/mid, edges 1 + j/390 (j = -4..4): bids fill k < 0, asks k > 0 */
    for (int l = 0; l < MB_LEVELS; l++) {
        const double ap = bk[4 * l], aa = bk[4 * l + 1], bp = bk[4 * l + 2], ba = bk[4 * l + 3];
        if (ap > 0 && aa > 0) {
            const double j = (ap / mid - 1.0) * 390.0; /* in (0, 4): bucket floor(j) + 1 */
            if (j >= 0 && j < MMF_GRID) v[MB_GRID_P1 + (int)j] += aa;
        }
        if (bp > 0 && ba > 0) {
            const double j = (1.0 - bp / mid) * 390.0; /* in (0, 4]: bucket -(ceil(j)) */
            if (j > 0 && j <= MMF_GRID) v[MB_GRID_M1 - ((int)ceil(j) - 1)] += ba;
        }
    }
    b->time[b->n] = s / b->o.bar_s * b->o.bar_s;
    b->n++;
}

/* emit the collected second: fill the gap from the last grid second or start a segment */
static void emit_second(MmfBarBuilder *b) {
    const int64_t t = b->cur_sec;
    if (!b->have_last || t - b->last_sec > b->o.max_gap_s) {
        push_seg(b);
    } else {
        for (int64_t s = b->last_sec + 1; s < t; s++) grid_second(b, s, b->last_book);
    }
    grid_second(b, t, b->cur_book);
    memcpy(b->last_book, b->cur_book, sizeof b->last_book);
    b->last_sec = t;
    b->have_last = 1;
}

static int book_line(MmfBarBuilder *b, const char *s, const char *end, int64_t line, const char *path, DlErr *e) {
    const int ncol = 4 + 4 * MB_LEVELS;
    const char *f[4 + 4 * MB_LEVELS], *fe[4 + 4 * MB_LEVELS];
    int n = split_csv(s, end, f, fe, ncol);
    if (line == 1) {
        static const char head[] = "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price";
        if (n != ncol || (size_t)(end - s) < sizeof head - 1 || memcmp(s, head, sizeof head - 1))
            return dl_err(e, "%s:1: not a Tardis book_snapshot_25 header (%d columns; want %d starting '%s')", path, n,
                          ncol, head);
        return 0;
    }
    b->st.book_rows++;
    if (n != ncol) { note_bad(b, MB_BAD_BOOK_COLUMNS, path, line); return 0; }
    int64_t us;
    double bk[4 * MB_LEVELS];
    int kind = -1;
    if (conv_parse_i64(f[3], fe[3], &us)) kind = MB_BAD_BOOK_NUMBER;
    for (int c = 0; c < 4 * MB_LEVELS && kind < 0; c++) {
        int r = conv_parse_num(f[4 + c], fe[4 + c], &bk[c]);
        if (r < 0) kind = MB_BAD_BOOK_NUMBER;
        else if (r == 1) { if (c < 4) kind = MB_BAD_BOOK_MISSING_L0; bk[c] = NAN; } /* deeper gaps: level ignored */
    }
    if (kind < 0 && (!(bk[0] > 0) || !(bk[2] > 0))) kind = MB_BAD_BOOK_NONPOS;
    if (kind < 0 && bk[2] >= bk[0]) kind = MB_BAD_BOOK_CROSSED;
    const int64_t sec = kind < 0 ? us / 1000000 : 0;
    if (kind < 0 && b->have_cur && sec < b->cur_sec) kind = MB_BAD_BOOK_TIME_BACK;
    if (kind >= 0) { note_bad(b, kind, path, line); return 0; }
    if (b->have_cur && sec > b->cur_sec) emit_second(b);
    b->cur_sec = sec;
    b->have_cur = 1;
    memcpy(b->cur_book, bk, sizeof bk);
    return 0;
}

int mmf_bars_add_book(MmfBarBuilder *b, const char *path, DlErr *e) {
    DL_CHECK(!b->have_trade, "mmf_bars_add_book after trades: add every book file first");
    b->st.book_files++;
    return read_lines(b, path, book_line, e);
}

/* ---- trades into the bars ---------------------------------------------------------------- */
static int trade_line(MmfBarBuilder *b, const char *s, const char *end, int64_t line, const char *path, DlErr *e) {
    const char *f[8], *fe[8];
    int n = split_csv(s, end, f, fe, 8);
    if (line == 1) {
        static const char head[] = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount";
        if ((size_t)(end - s) != sizeof head - 1 || memcmp(s, head, sizeof head - 1))
            return dl_err(e, "%s:1: not a Tardis trades header (want '%s')", path, head);
        return 0;
    }
    if (b->have_cur) { emit_second(b); b->have_cur = 0; } /* the book is complete */
    b->st.trade_rows++;
    int64_t us;
    double px, amt;
    int kind = -1;
    if (n != 8 || conv_parse_i64(f[3], fe[3], &us) || conv_parse_num(f[6], fe[6], &px) ||
        conv_parse_num(f[7], fe[7], &amt))
        kind = MB_BAD_TRADE_UNPARSABLE;
    else if (!(px > 0) || !(amt > 0)) kind = MB_BAD_TRADE_NONPOS;
    int buy = 0;
    if (kind < 0) {
        size_t l = (size_t)(fe[5] - f[5]);
        if (l == 3 && !memcmp(f[5], "buy", 3)) buy = 1;
        else if (!(l == 4 && !memcmp(f[5], "sell", 4))) kind = MB_BAD_TRADE_SIDE;
    }
    if (kind < 0 && b->have_trade && us < b->last_trade_us) kind = MB_BAD_TRADE_TIME_BACK;
    if (kind >= 0) { note_bad(b, kind, path, line); return 0; }
    b->have_trade = 1;
    b->last_trade_us = us;
    /* bars are sorted by time and trades arrive in time order: one forward cursor */
    const int64_t start = us / 1000000 / b->o.bar_s * b->o.bar_s;
    while (b->trade_row < b->n && b->time[b->trade_row] < start) b->trade_row++;
    if (b->trade_row == b->n || b->time[b->trade_row] != start) { b->st.trades_outside++; return 0; }
    double *v = b->v + (size_t)b->trade_row * MMF_NCOL;
    v[MB_VOLUME] += amt;
    v[MB_DVOL] += px * amt;
    v[MB_N_TRADES] += 1;
    v[buy ? MB_BUY_VOLUME : MB_SELL_VOLUME] += amt;
    b->st.trades_used++;
    return 0;
}

int mmf_bars_add_trades(MmfBarBuilder *b, const char *path, DlErr *e) {
    b->st.trade_files++;
    return read_lines(b, path, trade_line, e);
}

int mmf_bars_finish(MmfBars *out, MmfBarBuilder *b, const char *symbol, DlErr *e) {
    memset(out, 0, sizeof *out);
    if (b->have_cur) { emit_second(b); b->have_cur = 0; }
    int rc = 0;
    if (b->n == 0)
        rc = dl_err(e, "%s: no bars: %lld book file(s) gave no complete %d s bar (%lld book rows read)", symbol,
                    (long long)b->st.book_files, b->o.bar_s, (long long)b->st.book_rows);
    else if (b->st.trades_used == 0)
        rc = dl_err(e, "%s: no trade falls in any of its %lld bars (%lld trade file(s), %lld good trades outside "
                       "the book's time range): trades and book must cover the same days",
                    symbol, (long long)b->n, (long long)b->st.trade_files, (long long)b->st.trades_outside);
    if (rc) { mmf_bars_abort(b); return -1; }
    b->seg[2 * b->nseg - 1] = b->n;
    /* vwap: this bar's trades, else the previous bar's vwap within the segment */
    for (int64_t k = 0; k < b->nseg; k++) {
        double prev = NAN;
        for (int64_t r = b->seg[2 * k]; r < b->seg[2 * k + 1]; r++) {
            double *v = b->v + (size_t)r * MMF_NCOL;
            if (v[MB_VOLUME] > 0) prev = v[MB_DVOL] / v[MB_VOLUME];
            v[MB_VWAP] = prev;
        }
    }
    /* segments may hold no bar (a run shorter than one bar): keep only non-empty ones */
    int64_t ns = 0;
    for (int64_t k = 0; k < b->nseg; k++)
        if (b->seg[2 * k + 1] > b->seg[2 * k]) { b->seg[2 * ns] = b->seg[2 * k]; b->seg[2 * ns + 1] = b->seg[2 * k + 1]; ns++; }
    snprintf(out->symbol, sizeof out->symbol, "%s", symbol);
    out->bar_s = b->o.bar_s;
    out->n = b->n;
    out->time = b->time;
    out->v = b->v;
    out->n_seg = ns;
    out->seg = b->seg;
    out->st = b->st;
    free(b);
    return 0;
}
