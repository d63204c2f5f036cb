/* npy_import.h: the seed's float32 .npy LOB arrays -> LobSymbol.
 * Layouts: 43 = [unix seconds, 40 LOB, r10, r60], 42 = [40 LOB, r10, r60] (the 10-day set).
 * Returns there are simple fractional returns over 10 and 60 rows: stored as
 * 1e4*ln(1+r) bps with horizons {10, 60}. Times: float32 seconds near 2020 resolve only
 * 128 s, so the time axis is rebuilt as one second per row from the first time, and a jump
 * of the float time larger than max_gap_s + its resolution starts a new segment; the 42
 * layout has no time: start_time + row index. */
#ifndef DL_NPY_IMPORT_H
#define DL_NPY_IMPORT_H

#include "../io/lobds.h"
#include "../io/npy.h"

enum { NPY_LAYOUT_AUTO = 0, NPY_LAYOUT_42 = 42, NPY_LAYOUT_43 = 43 };

typedef struct {
    int layout;              /* 42 or 43 (detected or forced) */
    double time_resolution_s; /* float32 spacing at the first time (layout 43), else 0 */
    int64_t rows_nonfinite;  /* rows with a non-finite feature */
    int64_t targets_invalid; /* return cells non-finite or <= -1 -> NaN */
} NpyImportInfo;

/* a: (N, 42|43) float32 C order. start_time used for layout 42. */
int npy_import_symbol(LobSymbol *out, NpyImportInfo *info, const NpyArray *a, int layout, const char *symbol,
                      int64_t start_time, int max_gap_s, const char *path, DlErr *e);

#endif
