/* fuzz_npy: .npy header and body (npy_read_f32), then the import of a (N, 42|43) array
 * (time axis checks, layout detection) as `import-npy` does. */
#include "fuzz_common.h"
#include "io/npy.h"
#include "data/npy_import.h"

static FzFile g_f;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (4u << 20)) return 0;
    const char *path = fz_file(&g_f, "x.npy", data, size);
    DlErr e;
    NpyArray a;
    memset(&a, 0, sizeof a);
    if (npy_read_f32(path, &a, &e) != 0) return 0;
    if (a.ndim == 2 && (a.shape[1] == 42 || a.shape[1] == 43)) {
        for (int layout = 0; layout <= 43; layout += 43) { /* 0 = detect, 43 = forced */
            LobSymbol s;
            NpyImportInfo info;
            memset(&s, 0, sizeof s);
            if (npy_import_symbol(&s, &info, &a, layout, "FUZZUSDT", 1600000000, 60, path, &e) == 0)
                lobds_symbol_free(&s);
        }
    }
    npy_free(&a);
    return 0;
}
