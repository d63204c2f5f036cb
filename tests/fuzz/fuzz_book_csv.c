/* fuzz_book_csv: Tardis book_snapshot_25 CSV (header + rows), as `convert` and `mmf-bars`
 * read it. The input is the plain CSV; the harness gzips it so the bytes reach the row
 * and header parsers (fuzz_gzip feeds raw bytes to the gzip handling). */
#include "fuzz_common.h"
#include "data/convert.h"
#include "data/mmf_bars.h"

static FzFile g_f;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    size_t gn;
    unsigned char *gz = fz_gzip(data, size, &gn);
    const char *path = fz_file(&g_f, "book.csv.gz", gz, gn);
    free(gz);
    DlErr e;
    /* convert: the 1-second LOB series */
    ConvOpts o;
    conv_opts_default(&o);
    o.max_bad_rows = 3;
    ConvSeries c;
    conv_series_init(&c, &o);
    if (conv_add_file(&c, path, &e) == 0) {
        LobSymbol s;
        if (conv_finish(&s, &c, "FUZZUSDT", &e) == 0) lobds_symbol_free(&s);
        char rep[2048];
        conv_bad_report(rep, sizeof rep, &c.st);
    }
    conv_series_free(&c);
    /* mmf-bars: its own book-row reader (25 levels) */
    MmfBarOpts mo;
    mmf_bar_opts_default(&mo);
    mo.max_bad_rows = 3;
    MmfBarBuilder *b = mmf_bars_begin(&mo);
    if (mmf_bars_add_book(b, path, &e) == 0) {
        MmfBars bars;
        if (mmf_bars_finish(&bars, b, "FUZZUSDT", &e) == 0) mmf_bars_free(&bars);
    } else {
        mmf_bars_abort(b);
    }
    return 0;
}
