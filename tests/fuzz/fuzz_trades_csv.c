/* fuzz_trades_csv: Tardis trades CSV (header + rows) into the MMF bars, after a fixed good
 * book file (the fixture's first rows) so trades can land in bars. Input = plain CSV. */
#include "fuzz_common.h"
#include "data/mmf_bars.h"

static FzFile g_book, g_trades;
static const char *g_book_path;

static const char *book_path(void) {
    if (g_book_path) return g_book_path;
    /* a 3-second book: header + rows at t = 0, 1, 2 s (us), 25 levels */
    char *txt = malloc(1 << 16);
    size_t n = 0;
    n += (size_t)sprintf(txt + n, "exchange,symbol,timestamp,local_timestamp");
    for (int l = 0; l < 25; l++)
        n += (size_t)sprintf(txt + n, ",asks[%d].price,asks[%d].amount,bids[%d].price,bids[%d].amount", l, l, l, l);
    n += (size_t)sprintf(txt + n, "\n");
    for (int r = 0; r < 30; r++) {
        long long us = 1600000000000000LL + r * 1000000LL;
        n += (size_t)sprintf(txt + n, "binance-futures,FUZZUSDT,%lld,%lld", us, us);
        for (int l = 0; l < 25; l++)
            n += (size_t)sprintf(txt + n, ",%d.5,%d,%d.5,%d", 101 + l, l + 1, 99 - l, l + 2);
        n += (size_t)sprintf(txt + n, "\n");
    }
    size_t gn;
    unsigned char *gz = fz_gzip(txt, n, &gn);
    free(txt);
    g_book_path = fz_file(&g_book, "book.csv.gz", gz, gn);
    free(gz);
    return g_book_path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    const char *bp = book_path();
    size_t gn;
    unsigned char *gz = fz_gzip(data, size, &gn);
    const char *tp = fz_file(&g_trades, "trades.csv.gz", gz, gn);
    free(gz);
    DlErr e;
    MmfBarOpts mo;
    mmf_bar_opts_default(&mo);
    mo.bar_s = 1;
    mo.max_bad_rows = 3;
    MmfBarBuilder *b = mmf_bars_begin(&mo);
    if (mmf_bars_add_book(b, bp, &e) != 0) { fprintf(stderr, "fixed book rejected: %s\n", e.msg); abort(); }
    if (mmf_bars_add_trades(b, tp, &e) == 0) {
        MmfBars bars;
        if (mmf_bars_finish(&bars, b, "FUZZUSDT", &e) == 0) {
            char rep[2048];
            mmf_bad_report(rep, sizeof rep, &bars.st);
            mmf_bars_free(&bars);
        }
    } else {
        mmf_bars_abort(b);
    }
    return 0;
}
