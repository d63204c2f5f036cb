/* mmf_bars.h: trade-and-book bars of the MMF study (../shared/design/mmf.md, "Bars").
 *
 * Streaming, one symbol at a time: book_snapshot_25 day files go through the
 * 1-second rules of data.md (last good snapshot of each second, carry-forward up to
 * max_gap_s, longer gaps split segments); every grid second s with (s+1) % bar_s == 0
 * ends bar s / bar_s, whose book columns are that second's book (all 25 levels).
 * The trades day files are streamed after the book (both in date order) and summed into
 * the bar containing their local_timestamp; trades in no bar (no book there) are
 * counted. Only the bars (18 doubles each) are kept in memory.
 * Bad rows are counted by kind with the first file:line of each kind; a file with more
 * than max_bad_rows bad rows is rejected (error naming file and counts). */
#ifndef DL_DATA_MMF_BARS_H
#define DL_DATA_MMF_BARS_H

#include <stdint.h>

#include "common/util.h"

#define MMF_NCOL 18
#define MMF_GRID 4 /* buckets per side */
/* column order of the bars matrix (mmf_bar_col_names) */
enum {
    MB_BEST_BID, MB_BEST_ASK, MB_MID, MB_SPREAD_BPS, MB_VWAP, MB_VOLUME, MB_DVOL, MB_N_TRADES, MB_BUY_VOLUME,
    MB_SELL_VOLUME, MB_GRID_M4, MB_GRID_M3, MB_GRID_M2, MB_GRID_M1, MB_GRID_P1, MB_GRID_P2, MB_GRID_P3, MB_GRID_P4
};
extern const char *const mmf_bar_col_names[MMF_NCOL];

/* bad-row kinds: book (as convert) then trades */
enum {
    MB_BAD_BOOK_COLUMNS, MB_BAD_BOOK_NUMBER, MB_BAD_BOOK_MISSING_L0, MB_BAD_BOOK_NONPOS, MB_BAD_BOOK_CROSSED,
    MB_BAD_BOOK_TIME_BACK,
    MB_BAD_TRADE_UNPARSABLE, MB_BAD_TRADE_NONPOS, MB_BAD_TRADE_SIDE, MB_BAD_TRADE_TIME_BACK,
    MB_BAD_NKINDS
};
const char *mmf_bad_name(int kind);

typedef struct {
    int bar_s;              /* seconds per bar, default 10 */
    int max_gap_s;          /* default 60 */
    int64_t max_bad_rows;   /* per file, default 1000 */
} MmfBarOpts;
void mmf_bar_opts_default(MmfBarOpts *o);

typedef struct {
    int64_t bad[MB_BAD_NKINDS];
    char first_bad[MB_BAD_NKINDS][320];
    int64_t book_rows, trade_rows;       /* data rows read (good + bad) */
    int64_t trades_used, trades_outside; /* good trades inside / outside a bar */
    int64_t book_files, trade_files;
} MmfBarStats;

/* one symbol's bars */
typedef struct {
    char symbol[64];
    int bar_s;
    int64_t n;              /* bars */
    int64_t *time;          /* (n) bar start, unix seconds (= bar index * bar_s) */
    double *v;              /* (n, MMF_NCOL) */
    int64_t n_seg;
    int64_t *seg;           /* (n_seg, 2) [start, end) bar rows */
    MmfBarStats st;
} MmfBars;

/* streaming state of one symbol (explicit, no globals) */
typedef struct MmfBarBuilder MmfBarBuilder;
MmfBarBuilder *mmf_bars_begin(const MmfBarOpts *o);
/* all book files first (date order), then all trade files (date order) */
int mmf_bars_add_book(MmfBarBuilder *b, const char *path, DlErr *e);
int mmf_bars_add_trades(MmfBarBuilder *b, const char *path, DlErr *e);
/* close: vwap carry-forward; out owns the arrays (mmf_bars_free). Frees b.
 * -1 when there are no bars (no book rows) or no trade falls in any bar. */
int mmf_bars_finish(MmfBars *out, MmfBarBuilder *b, const char *symbol, DlErr *e);
void mmf_bars_abort(MmfBarBuilder *b);
void mmf_bars_free(MmfBars *s);
/* lines "  kind  count  first at file:line" into buf */
void mmf_bad_report(char *buf, size_t n, const MmfBarStats *st);

#endif
