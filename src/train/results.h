/* results.h: the run's outputs: results.h5, summary.csv, the printed table.
 * Layout documented in docs/results_format.md.
 *
 * The per-symbol writer (results_write_symbol) is separate from training and
 * from the file-level calls, so the MPI issue can create every symbol's objects
 * collectively up front and write each symbol's raw data independently. */
#ifndef DL_TRAIN_RESULTS_H
#define DL_TRAIN_RESULTS_H

#include <hdf5.h>
#include <stdio.h>

#include "common/util.h"
#include "train/config.h"
#include "train/trainer.h"

#define RESULTS_FORMAT "deeplob-mpi results"
#define RESULTS_VERSION 1

typedef struct {
    char start_time[32], end_time[32];  /* ISO 8601 UTC */
    int ranks;
    char hosts[256];
} RunInfo;

/* "YYYY-mm-ddTHH:MM:SSZ" now */
void results_utc_now(char buf[32]);

/* Make sure <dir> can take this run's outputs: a new or empty dir is created;
 * an existing run dir is refused unless resume (keep checkpoints) or force
 * (delete this program's outputs in it first). Creates <dir>/checkpoints. */
int results_prepare_run_dir(const char *dir, int resume, int force, DlErr *e);

/* root attributes: format, versions, config, seed, manifest */
int results_write_manifest(hid_t file, const TrainConfig *cfg, const RunInfo *ri, DlErr *e);
/* one symbol's group /symbols/<SYM>: info, metrics, history, test arrays,
 * normalisation, best weights (PyTorch names), and 'complete' written last */
int results_write_symbol(hid_t file, const SymbolResult *r, const TrainConfig *cfg, DlErr *e);
/* /summary: one compound row per symbol (rs[0..n)) */
int results_write_summary(hid_t file, const SymbolResult *rs, int n, DlErr *e);

/* serial whole file: path.tmp then fsync + rename */
int results_write_file(const char *path, const TrainConfig *cfg, const RunInfo *ri,
                       const SymbolResult *rs, int n, DlErr *e);

int results_write_csv(const char *path, const SymbolResult *rs, int n, DlErr *e);
/* per-symbol table, aggregates (mean, median, sample std) and the top 5 by correlation */
void results_print_table(FILE *f, const SymbolResult *rs, int n);

#endif
