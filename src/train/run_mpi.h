/* run_mpi.h: one training run over the ranks of a communicator.
 *
 * Rank 0 checks the dataset (every requested symbol exists, shapes and horizon
 * are right: lobds_read_symbol_meta) and prepares the run directory; the
 * verdict and the symbol sizes are broadcast, so a bad dataset fails on every
 * rank with one message and no collective HDF5 call is ever half-entered.
 * Symbols are ordered largest first (training windows) and handed out with
 * SymbolQueue; each rank reads only its symbols' data (serial HDF5 open, see
 * run_mpi.c), trains them (train_symbol: a pure function of config, data and
 * seed, so the owner rank never shows in the numbers) and writes them into the
 * shared results.h5 (results_par_*). Rank 0 gathers the metrics, prints the
 * table, the schedule and busy/idle time, and writes summary.csv. */
#ifndef DL_TRAIN_RUN_MPI_H
#define DL_TRAIN_RUN_MPI_H

#include <mpi.h>

#include "common/util.h"
#include "train/config.h"

typedef struct {
    const char *cfg_path;       /* for the header line */
    const char *run_dir;        /* <output_dir>/<run_name> */
    int resume, force;
    int stop_after_epoch;       /* testing: stop every rank's symbol after this epoch (0 = off) */
    const char *inject_symbol;  /* testing (--inject-nan): a NaN target at this symbol's */
    int inject_epoch;           /* epoch (1-based) and */
    int64_t inject_step;        /* step (0-based); symbol NULL = off */
} RunOptions;

/* Threads per rank: OMP_NUM_THREADS when set (> 0), else the config's threads
 * (> 0), else cores / ranks on this node. why: (n) the source, for printing. */
int run_threads_per_rank(const TrainConfig *cfg, int ranks_on_node, char *why, size_t n);

/* Collective over comm. Returns 0 ok, 1 error (the message in e on rank 0;
 * other ranks print nothing), 3 stopped by stop_after_epoch (--resume continues),
 * 4 finished but some symbol diverged or was skipped (results.h5 and summary.csv
 * written, each symbol's status in them). */
int run_train_mpi(const TrainConfig *cfg, const RunOptions *o, MPI_Comm comm, DlErr *e);

#endif
