/* convert.h: Tardis book_snapshot_N gzip CSV -> regular 1-second LOB series.
 *
 * Streaming: files are read through zlib in 1 MiB chunks; only the 1-second
 * output (160 bytes per second per symbol) is kept in memory.
 * Rules (docs/data_ingestion.md, design/data.md):
 *   - bucket rows by the second of local_timestamp, keep the last good snapshot of each second;
 *   - regular grid: a missing second carries the previous book forward when the gap to the
 *     previous observed second is <= max_gap_s; a longer gap starts a new segment;
 *   - 40 features in seed order from levels 0..9 (deeper empty cells -> NaN);
 *   - targets[t,k] = 1e4 * ln(mid[t+h_k] / mid[t]) (bps), NaN where t+h_k leaves the segment;
 *   - the days of one symbol are fed in date order into one ConvSeries: one continuous series;
 *   - bad rows are counted by kind with the first file:line of each; a file with more than
 *     max_bad_rows bad rows is rejected (error). */
#ifndef DL_CONVERT_H
#define DL_CONVERT_H

#include <stdint.h>

#include "../common/util.h"
#include "../io/lobds.h"

enum {
    CONV_BAD_COLUMNS,     /* wrong column count */
    CONV_BAD_NUMBER,      /* unparsable number (timestamp or a level 0..9 cell) */
    CONV_BAD_MISSING_L0,  /* empty level-0 price or amount */
    CONV_BAD_NONPOS,      /* a price <= 0 or an amount < 0 (any level) */
    CONV_BAD_CROSSED,     /* bid_price[0] >= ask_price[0] */
    CONV_BAD_TIME_BACK,   /* local_timestamp earlier than an already emitted second */
    CONV_BAD_NKINDS
};

typedef struct {
    int max_gap_s;                  /* default 60 */
    int n_horizons;                 /* default 2 */
    int horizons[LOBDS_MAX_H];      /* seconds, default {10, 60} */
    int64_t max_bad_rows;           /* per file; more -> file rejected. default 1000 */
} ConvOpts;

typedef struct {
    int64_t bad[CONV_BAD_NKINDS];
    char first_bad[CONV_BAD_NKINDS][320]; /* "file:line" of the first row of each kind */
    int64_t raw_rows;          /* data rows read (good + bad) */
    int64_t seconds_observed;  /* seconds with at least one good snapshot */
    int64_t seconds_filled;    /* carried-forward seconds */
    int64_t files;
    int64_t compressed_bytes;  /* input file sizes */
    int64_t missing_deep;      /* good rows with an empty cell in levels 1..9 (NaN features) */
} ConvStats;

/* streaming state for one symbol; explicit, no globals */
typedef struct {
    ConvOpts o;
    ConvStats st;
    int64_t cur_sec;            /* second being collected (have_cur) */
    int have_cur;
    float cur_book[LOBDS_NFEAT];
    int64_t n, cap;             /* emitted rows */
    int64_t *time;              /* (cap) */
    float *feat;                /* (cap, 40) */
    int64_t nseg, segcap;
    int64_t *seg;               /* (segcap, 2) */
} ConvSeries;

void conv_opts_default(ConvOpts *o);
const char *conv_bad_name(int kind);
void conv_series_init(ConvSeries *c, const ConvOpts *o);
/* add one day's file (gzip CSV; plain CSV is read transparently). -1 + message on a
 * malformed header, a corrupt/truncated gzip, or more than max_bad_rows bad rows */
int conv_add_file(ConvSeries *c, const char *path, DlErr *e);
/* close the series: targets and segments. out owns the arrays (lobds_symbol_free) */
int conv_finish(LobSymbol *out, ConvSeries *c, const char *symbol, DlErr *e);
void conv_series_free(ConvSeries *c);
/* one line per bad-row kind with count and first file:line, into buf */
void conv_bad_report(char *buf, size_t n, const ConvStats *st);
/* decimal number in [s,end) (strtod's value): 0 ok, 1 empty, -1 unparsable */
int conv_parse_num(const char *s, const char *end, double *v);
/* non-negative integer in [s,end), at most 18 digits: 0 ok, -1 otherwise */
int conv_parse_i64(const char *s, const char *end, int64_t *v);

#endif
