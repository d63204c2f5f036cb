/* mmf_bars_h5.h: the MMF bars file (layout in docs/data_format.md, "MMF bars file"):
 *   /                attrs format = "deeplob-mpi MMF bars", format_version = 1, symbols, columns
 *   /symbols/<SYM>/  attrs symbol, bar_s, provenance, rows_dropped_<kind> (int64) and
 *                    first_<kind> ("file:line") per bad-row kind, book_rows, trade_rows,
 *                    trades_used, trades_outside_bars, book_files, trade_files
 *     time      (N)        int64 bar start, unix seconds
 *     bars      (N, 18)    float64, columns mmf_bar_col_names
 *     segments  (S, 2)     int64 [start, end) bar rows */
#ifndef DL_DATA_MMF_BARS_H5_H
#define DL_DATA_MMF_BARS_H5_H

#include <mpi.h>

#include "data/mmf_bars.h"

#define MMF_BARS_FORMAT "deeplob-mpi MMF bars"
#define MMF_BARS_VERSION 1

/* collective over comm; mine: this rank's symbols (n_mine may be 0); prov: one string each.
 * Refuses an existing path; -1 on every rank if any rank failed (nothing left under path). */
int mmf_bars_write_mpi(const char *path, MPI_Comm comm, const MmfBars *mine, int n_mine, const char *const *prov,
                       DlErr *e);
/* serial read of one symbol; validates format, shapes and segments */
int mmf_bars_read(const char *path, const char *symbol, MmfBars *s, DlErr *e);
/* symbols of a bars file, sorted; free with lobds_free_names */
int mmf_bars_list(const char *path, char ***names, int *n, DlErr *e);

#endif
