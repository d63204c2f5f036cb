/* results.h: the run's outputs: results.h5, summary.csv, the printed table.
 * Layout documented in docs/results_format.md.
 *
 * results.h5 is written by every rank through parallel HDF5 (MPI-IO):
 *   results_par_create        collective: every symbol's group, attributes and
 *                             datasets (all sizes are known before training);
 *   results_par_write_symbol  independent: the owner writes one symbol's raw
 *                             data as soon as it is trained, 'complete' last;
 *   results_par_finish        collective: manifest attributes, /summary and
 *                             /schedule (rank 0), close, and rank 0 renames
 *                             <path>.tmp to <path>.
 * The file is rebuilt from the durable per-symbol checkpoints on every run
 * (--resume too), so a results file damaged by a killed rank is never trusted. */
#ifndef DL_TRAIN_RESULTS_H
#define DL_TRAIN_RESULTS_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "common/util.h"
#include "train/config.h"
#include "train/trainer.h"

#define RESULTS_FORMAT "deeplob-mpi results"
#define RESULTS_VERSION 1

typedef struct {
    char start_time[32], end_time[32];  /* ISO 8601 UTC */
    int ranks;
    char hosts[1024];                   /* distinct node names, comma-separated, rank order */
    char mpi_version[256];              /* first line of MPI_Get_library_version */
} RunInfo;

/* "YYYY-mm-ddTHH:MM:SSZ" now */
void results_utc_now(char buf[32]);

/* Make sure <dir> can take this run's outputs: a new or empty dir is created;
 * an existing run dir is refused unless resume (keep checkpoints) or force
 * (delete this program's outputs in it first). Creates <dir>/checkpoints. */
int results_prepare_run_dir(const char *dir, int resume, int force, DlErr *e);

/* root attributes (the manifest): format, versions, config, seed, ranks, hosts,
 * times, library versions. Collective in a parallel file (same ri on all ranks). */
int results_write_manifest(hid_t file, const TrainConfig *cfg, const RunInfo *ri, DlErr *e);

/* dataset slots of one symbol in ResultsFile.ds (weights follow at RD_N..);
 * RD_H2_*: head 2 of a two-head model (deeplob_hier), absent otherwise */
enum { RD_INFO, RD_METRICS_RAW, RD_METRICS_SMOOTH, RD_HISTORY, RD_TIME, RD_PRED, RD_TARGET_RAW,
       RD_TARGET_SMOOTH, RD_FEAT_MEAN, RD_FEAT_STD, RD_VOL_SCALE, RD_H2_METRICS_RAW, RD_H2_METRICS_SMOOTH, RD_H2_PRED,
       RD_H2_TARGET_RAW, RD_H2_TARGET_SMOOTH, RD_H2_ORACLE, RD_H2_MEAN, RD_H2_STD, RD_STATUS, RD_COMPLETE, RD_N };

typedef struct {
    hid_t file;
    MPI_Comm comm;
    int n;              /* symbols */
    int stride;         /* RD_N + weight tensors */
    hid_t *ds;          /* (n, stride) open dataset handles; -1 where absent (smoothed, alpha = 0) */
    hid_t summary;      /* /summary (n) */
    hid_t schedule;     /* /schedule (n) */
    int epochs;         /* history rows */
    int n_heads;        /* model outputs: 1, or 2 (head-2 objects) */
    char path[4096], tmp[4200];
} ResultsFile;

/* where and when one symbol was trained (the Gantt chart of `report`) */
typedef struct {
    int rank;                 /* owner (a data-parallel group's first rank); -1 = not trained */
    int ranks;                /* the group's ranks rank .. rank + ranks - 1 (1: one rank) */
    int order;                /* position in the largest-first hand-out order */
    int64_t windows;          /* training windows: the order's cost proxy */
    double start_s, end_s;    /* since the common start (after the barrier), owner's clock */
} ResultsSchedRow;

/* Collective over comm. names, n_rows: (n), the same on every rank; creates
 * <path>.tmp (truncating a stale one). On failure (any rank) every rank returns
 * -1 and the file is removed. */
int results_par_create(ResultsFile *rf, const char *path, MPI_Comm comm, const TrainConfig *cfg,
                       const char *const *names, const int64_t *n_rows, int n, DlErr *e);
/* Independent: symbol i (index into names) from its owner only. */
int results_par_write_symbol(ResultsFile *rf, int i, const SymbolResult *r, const TrainConfig *cfg, DlErr *e);
/* Collective. ok: the same on every rank (agreed beforehand); when ok, writes the
 * manifest (ri identical on all ranks) and rank 0 writes /summary from rs and
 * /schedule from sched (both (n), by symbol index; rank 0 only, NULL elsewhere),
 * closes and renames to path.
 * When !ok, closes and deletes the temporary file. Returns -1 (all ranks) on failure. */
int results_par_finish(ResultsFile *rf, int ok, const TrainConfig *cfg, const RunInfo *ri,
                       const SymbolResult *rs, const ResultsSchedRow *sched, DlErr *e);

/* the HDF5 compound type of Metrics (metrics_raw, metrics_smoothed); H5Tclose it */
hid_t results_metrics_type(void);
/* symbols/<S>/status: code (SYM_OK 0, SYM_DIVERGED 1, SYM_SKIPPED 2) and message */
typedef struct {
    int64_t code;
    char message[SYM_STATUS_LEN];
} ResultsStatus;
hid_t results_status_type(void);

int results_write_csv(const char *path, const SymbolResult *rs, int n, DlErr *e);
/* per-symbol table, aggregates (mean, median, sample std) and the top 5 by correlation */
void results_print_table(FILE *f, const SymbolResult *rs, int n);

#endif
