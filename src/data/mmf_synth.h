/* mmf_synth.h: the synthetic market (synth.h) written as Tardis day files:
 * DIR/book_snapshot_25/<SYM>/YYYY-MM-DD.csv.gz and DIR/trades/<SYM>/YYYY-MM-DD.csv.gz,
 * the layout `download` writes under OUT/EXCHANGE. Symbols SYN000USDT.. as in synth. */
#ifndef DL_DATA_MMF_SYNTH_H
#define DL_DATA_MMF_SYNTH_H

#include <stdint.h>

#include "common/util.h"

int mmf_synth_write_tardis(const char *dir, uint64_t seed, int n_symbols, int64_t n_rows, double oracle_lo,
                           double oracle_hi, DlErr *e);

#endif
