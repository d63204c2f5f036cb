/* fuzz_gzip: raw bytes as a day file (.csv.gz): the gzip stream handling of `download`'s
 * verification, `convert` and `mmf-bars` (truncated, corrupt, not gzip, multi-member...). */
#include "fuzz_common.h"
#include "data/convert.h"
#include "data/download.h"
#include "data/mmf_bars.h"

static FzFile g_f;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    const char *path = fz_file(&g_f, "day.csv.gz", data, size);
    DlErr e;
    int64_t un = 0;
    download_verify_gzip(path, &un, &e);
    ConvOpts o;
    conv_opts_default(&o);
    ConvSeries c;
    conv_series_init(&c, &o);
    if (conv_add_file(&c, path, &e) == 0) {
        LobSymbol s;
        if (conv_finish(&s, &c, "FUZZUSDT", &e) == 0) lobds_symbol_free(&s);
    }
    conv_series_free(&c);
    MmfBarOpts mo;
    mmf_bar_opts_default(&mo);
    MmfBarBuilder *b = mmf_bars_begin(&mo);
    if (mmf_bars_add_trades(b, path, &e) == 0) {
        MmfBars bars;
        if (mmf_bars_finish(&bars, b, "FUZZUSDT", &e) == 0) mmf_bars_free(&bars);
    } else {
        mmf_bars_abort(b);
    }
    return 0;
}
