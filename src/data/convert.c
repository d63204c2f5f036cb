/* convert.c: streaming Tardis gzip CSV -> 1-second LOB series (rules in convert.h). */
#define _GNU_SOURCE
#include "convert.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "data/gzlines.h"

#define CONV_LEVELS 10

static const char *bad_names[CONV_BAD_NKINDS] = {"wrong_column_count", "unparsable_number", "missing_level0",
                                                  "nonpositive_price", "crossed_book", "time_backwards"};
const char *conv_bad_name(int kind) { return kind >= 0 && kind < CONV_BAD_NKINDS ? bad_names[kind] : "?"; }

void conv_opts_default(ConvOpts *o) {
    memset(o, 0, sizeof *o);
    o->max_gap_s = 60;
    o->n_horizons = 2;
    o->horizons[0] = 10;
    o->horizons[1] = 60;
    o->max_bad_rows = 1000;
}

void conv_series_init(ConvSeries *c, const ConvOpts *o) {
    memset(c, 0, sizeof *c);
    c->o = *o;
}

void conv_series_free(ConvSeries *c) {
    free(c->time);
    free(c->feat);
    free(c->seg);
    memset(c, 0, sizeof *c);
}

/* ---- numbers ---------------------------------------------------------------------- */
static const double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* decimal [-]digits[.digits][e[+-]digits] in [s,end). 0 ok, 1 empty, -1 unparsable.
 * Fast path: mantissa < 2^53 and <= 22 fraction digits -> one exact division, correctly
 * rounded (same value strtod gives); anything else goes to strtod. */
static int parse_num(const char *s, const char *end, double *v) {
    if (s == end) return 1;
    const char *p = s;
    int neg = 0;
    if (*p == '-') { neg = 1; p++; }
    uint64_t m = 0;
    int nd = 0, frac = 0, simple = 1;
    while (p < end && *p >= '0' && *p <= '9') { m = m * 10 + (uint64_t)(*p++ - '0'); nd++; }
    if (p < end && *p == '.') {
        p++;
        while (p < end && *p >= '0' && *p <= '9') { m = m * 10 + (uint64_t)(*p++ - '0'); nd++; frac++; }
    }
    if (nd == 0) return -1;
    if (p < end) { /* exponent or junk: let strtod decide */
        if (*p != 'e' && *p != 'E') return -1;
        simple = 0;
    }
    if (simple && nd <= 15 && frac <= 22) {
        double x = (double)m / p10[frac];
        *v = neg ? -x : x;
        return 0;
    }
    char tmp[64];
    size_t len = (size_t)(end - s);
    if (len >= sizeof tmp) return -1;
    memcpy(tmp, s, len);
    tmp[len] = 0;
    char *q;
    errno = 0;
    double x = strtod(tmp, &q);
    if (q != tmp + len || errno == ERANGE || !isfinite(x)) return -1;
    *v = x;
    return 0;
}

static int parse_i64(const char *s, const char *end, int64_t *v) {
    if (s == end || end - s > 18) return -1;
    int64_t x = 0;
    for (const char *p = s; p < end; p++) {
        if (*p < '0' || *p > '9') return -1;
        x = x * 10 + (*p - '0');
    }
    *v = x;
    return 0;
}

/* ---- output rows ------------------------------------------------------------------------ */
/* append a row; book == NULL repeats the previous row (carry-forward, safe across realloc) */
static void push_row(ConvSeries *c, int64_t t, const float *book) {
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 86400;
        c->time = realloc(c->time, (size_t)c->cap * sizeof *c->time);
        c->feat = realloc(c->feat, (size_t)c->cap * LOBDS_NFEAT * sizeof *c->feat);
        DL_CHECK(c->time && c->feat, "out of memory growing the 1-second series to %lld rows", (long long)c->cap);
    }
    c->time[c->n] = t;
    if (!book) book = c->feat + (c->n - 1) * LOBDS_NFEAT;
    memcpy(c->feat + c->n * LOBDS_NFEAT, book, LOBDS_NFEAT * sizeof *book);
    c->n++;
}

static void push_seg_start(ConvSeries *c, int64_t row) {
    if (c->nseg == c->segcap) {
        c->segcap = c->segcap ? c->segcap * 2 : 16;
        c->seg = realloc(c->seg, (size_t)c->segcap * 2 * sizeof *c->seg);
        DL_CHECK(c->seg, "out of memory");
    }
    c->seg[2 * c->nseg] = row;
    c->seg[2 * c->nseg + 1] = -1; /* closed by the next segment or conv_finish */
    if (c->nseg > 0) c->seg[2 * c->nseg - 1] = row;
    c->nseg++;
}

/* emit the collected second, filling or splitting the gap since the last emitted row */
static void emit_current(ConvSeries *c) {
    int64_t t = c->cur_sec;
    if (c->n == 0 || t - c->time[c->n - 1] > c->o.max_gap_s) {
        push_seg_start(c, c->n);
    } else {
        for (int64_t s = c->time[c->n - 1] + 1; s < t; s++) {
            push_row(c, s, NULL);
            c->st.seconds_filled++;
        }
    }
    push_row(c, t, c->cur_book);
    c->st.seconds_observed++;
}

static void note_bad(ConvSeries *c, int kind, const char *path, int64_t line) {
    if (c->st.bad[kind]++ == 0)
        snprintf(c->st.first_bad[kind], sizeof c->st.first_bad[kind], "%s:%lld", path, (long long)line);
}

void conv_bad_report(char *buf, size_t n, const ConvStats *st) {
    size_t p = 0;
    buf[0] = 0;
    for (int k = 0; k < CONV_BAD_NKINDS; k++) {
        if (!st->bad[k] || p >= n) continue;
        p += (size_t)snprintf(buf + p, n - p, "  %-20s %10lld  first at %s\n", bad_names[k],
                              (long long)st->bad[k], st->first_bad[k]);
    }
}

/* ---- one CSV line ------------------------------------------------------------------------- */
/* returns a bad kind, or -1 for a good row (then *sec and book are set) */
static int parse_row(const char *s, const char *end, int ncol, int64_t *sec, float *book, int *deep_missing) {
    const char *f = s;
    int col = 0;
    int missing0 = 0, done = 0;
    *deep_missing = 0;
    double ap0 = 0, bp0 = 0;
    /* columns 0..3+4*CONV_LEVELS: parse what we use */
    for (; col < 4 + 4 * CONV_LEVELS; col++) {
        const char *fe = memchr(f, ',', (size_t)(end - f));
        if (!fe) {
            if (col != ncol - 1) return CONV_BAD_COLUMNS;
            fe = end;
        }
        if (col == 3) {
            int64_t us;
            if (parse_i64(f, fe, &us)) return CONV_BAD_NUMBER;
            *sec = us / 1000000;
        } else if (col >= 4) {
            int lvl = (col - 4) / 4, k = (col - 4) % 4; /* asks.price, asks.amount, bids.price, bids.amount */
            double v;
            int r = parse_num(f, fe, &v);
            if (r < 0) return CONV_BAD_NUMBER;
            if (r == 0 && ((k % 2 == 1 && v < 0) || (k % 2 == 0 && v <= 0))) return CONV_BAD_NONPOS;
            if (r == 1) {
                if (lvl == 0) missing0 = 1;
                else *deep_missing = 1;
                v = NAN;
            }
            book[k * CONV_LEVELS + lvl] = (float)v;
            if (lvl == 0 && k == 0) ap0 = v;
            if (lvl == 0 && k == 2) bp0 = v;
        }
        if (fe == end) { col++; done = 1; break; }
        f = fe + 1;
    }
    /* the rest: only count the separators */
    if (!done) {
        int seps = col; /* separators seen so far */
        const char *p = f;
        for (;;) {
            const char *q = memchr(p, ',', (size_t)(end - p));
            if (!q) break;
            seps++;
            p = q + 1;
        }
        if (seps != ncol - 1) return CONV_BAD_COLUMNS;
    } else if (col != ncol) {
        return CONV_BAD_COLUMNS;
    }
    if (missing0) return CONV_BAD_MISSING_L0;
    if (!(ap0 > 0) || !(bp0 > 0)) return CONV_BAD_NONPOS;
    if (bp0 >= ap0) return CONV_BAD_CROSSED;
    return -1;
}

/* check the header: exchange,symbol,timestamp,local_timestamp then levels in Tardis order */
static int check_header(const char *s, const char *end, const char *path, int *ncol, DlErr *e) {
    int n = 1;
    for (const char *p = s; p < end; p++) n += *p == ',';
    if (n < 4 + 4 * CONV_LEVELS || (n - 4) % 4 != 0)
        return dl_err(e, "%s:1: header has %d columns; expected 4 + 4*L with L >= %d levels (book_snapshot_25: 104)",
                      path, n, CONV_LEVELS);
    char want[4096];
    int p = snprintf(want, sizeof want, "exchange,symbol,timestamp,local_timestamp");
    for (int i = 0; i < CONV_LEVELS; i++)
        p += snprintf(want + p, sizeof want - (size_t)p, ",asks[%d].price,asks[%d].amount,bids[%d].price,bids[%d].amount",
                      i, i, i, i);
    if ((size_t)(end - s) < (size_t)p || memcmp(s, want, (size_t)p) != 0)
        return dl_err(e, "%s:1: not a Tardis book_snapshot header (expected it to start with '%.80s...')", path, want);
    *ncol = n;
    return 0;
}

int conv_add_file(ConvSeries *c, const char *path, DlErr *e) {
    struct stat sb;
    if (stat(path, &sb) != 0) return dl_err(e, "%s: cannot stat: %s", path, strerror(errno));
    if (sb.st_size == 0) return dl_err(e, "%s: empty file (0 bytes), not a gzip stream", path);
    /* a .gz that is not gzip is refused; a plain .csv is read as it is */
    const size_t pl = strlen(path);
    const int want_gz = pl > 3 && !strcmp(path + pl - 3, ".gz");
    int64_t csize = 0;
    GzLines *g = gzl_open(path, want_gz, &csize, e);
    if (!g) return -1;
    c->st.files++;
    c->st.compressed_bytes += csize;
    int64_t bad_before = 0;
    for (int k = 0; k < CONV_BAD_NKINDS; k++) bad_before += c->st.bad[k];

    int64_t line = 0;
    int ncol = 0, rc = 0, got;
    float book[LOBDS_NFEAT];
    const char *s, *le;
    while (!rc && (got = gzl_next(g, &s, &le, e)) != 0) {
        if (got < 0) { rc = -1; break; }
        line = gzl_line(g);
        if (line == 1) {
            if (check_header(s, le, path, &ncol, e)) rc = -1;
            continue;
        }
        int64_t sec = 0;
        int deep = 0;
        int kind = parse_row(s, le, ncol, &sec, book, &deep);
        c->st.raw_rows++;
        if (kind < 0 && c->have_cur && sec < c->cur_sec) kind = CONV_BAD_TIME_BACK;
        if (kind >= 0) {
            note_bad(c, kind, path, line);
        } else {
            c->st.missing_deep += deep;
            if (c->have_cur && sec > c->cur_sec) emit_current(c);
            c->cur_sec = sec;
            c->have_cur = 1;
            memcpy(c->cur_book, book, sizeof book);
        }
    }
    gzl_close(g);
    if (rc) return rc;
    if (line == 0) return 0; /* an empty gzip: a day without data */
    int64_t bad_now = 0;
    for (int k = 0; k < CONV_BAD_NKINDS; k++) bad_now += c->st.bad[k];
    if (bad_now - bad_before > c->o.max_bad_rows) {
        char rep[2048];
        conv_bad_report(rep, sizeof rep, &c->st);
        return dl_err(e, "%s: rejected: %lld bad rows (limit %lld, --max-bad-rows):\n%s", path,
                      (long long)(bad_now - bad_before), (long long)c->o.max_bad_rows, rep);
    }
    return 0;
}

int conv_finish(LobSymbol *out, ConvSeries *c, const char *symbol, DlErr *e) {
    memset(out, 0, sizeof *out);
    if (c->have_cur) { emit_current(c); c->have_cur = 0; }
    if (c->n == 0) return dl_err(e, "%s: no valid snapshot rows in %lld file(s)", symbol, (long long)c->st.files);
    c->seg[2 * c->nseg - 1] = c->n;
    snprintf(out->symbol, sizeof out->symbol, "%s", symbol);
    out->n_rows = c->n;
    out->n_horizons = c->o.n_horizons;
    memcpy(out->horizons, c->o.horizons, sizeof out->horizons);
    for (int k = 0; k < LOBDS_MAX_H; k++) out->oracle_corr[k] = NAN;
    int K = c->o.n_horizons;
    float *tg = dl_malloc((size_t)c->n * (size_t)(K ? K : 1) * sizeof *tg);
    out->time = c->time;
    out->features = c->feat;
    out->targets = tg;
    out->n_segments = c->nseg;
    out->segments = c->seg;
    c->time = NULL;
    c->feat = NULL;
    c->seg = NULL;
    c->n = c->cap = c->nseg = c->segcap = 0;
    lobds_compute_targets(out); /* the one target formula, shared with synth and import-npy */
    return 0;
}

/* the number parsers, for the other Tardis readers (mmf_bars.c) */
int conv_parse_num(const char *s, const char *end, double *v) { return parse_num(s, end, v); }
int conv_parse_i64(const char *s, const char *end, int64_t *v) { return parse_i64(s, end, v); }
