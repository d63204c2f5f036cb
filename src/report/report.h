/* report.h: `deeplob_mpi report RUN_DIR`: figures (PNG, drawn with PLplot) and
 * RUN_DIR/report.md, from RUN_DIR/results.h5 alone, so a report can be redrawn
 * long after the run, on a login node, without MPI.
 *
 * Three steps, one file each:
 *   report_data.c  results.h5 -> ReportRun (everything the figures and tables need)
 *   report_plot.c  ReportRun -> RUN_DIR/figures/<name>.png, one function per figure in
 *                  its FIGURES[] table (the run-wide figures in report_plot_run.c, the
 *                  shared drawing helpers in plot.c / plot.h); a build without PLplot
 *                  draws nothing
 *   report_md.c    ReportRun + FigureList -> RUN_DIR/report.md
 * Adding a figure: read its data in report_data.c
 * (absent in older files: leave it empty), append a drawing function to FIGURES[]
 * that skips when its data is absent; report.md lists whatever the list holds. */
#ifndef DL_REPORT_H
#define DL_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "common/util.h"

typedef struct {
    char symbol[64];
    int complete;                /* the symbol's completion mark */
    int status;                  /* 0 ok, 1 diverged, 2 skipped (files before status existed: 0) */
    char status_msg[128];        /* where and why ("" when ok) */
    double corr[2];              /* test correlation vs raw targets, head 1 and 2 (NaN: no head 2) */
    double corr_smooth[2];       /* vs EMA-smoothed targets (NaN when ema_alpha = 0) */
    double oracle[2];            /* dataset's oracle correlation (NaN when unknown) */
    double mae, rmse, r2;        /* head 1, raw targets, bps */
    int64_t n_test;
    int epochs_run, best_epoch;  /* best_epoch 1-based, -1 = none improved */
    double wall_s, samples_per_s;
    double *train_loss, *val_loss, *lr;   /* (epochs_run) per-epoch history */
    int rank, order;             /* schedule: owner (-1 unknown) and hand-out position */
    int ranks;                   /* the owner's data-parallel group: ranks rank .. rank + ranks - 1 */
    int64_t windows;
    double start_s, end_s;       /* since the common start */
    /* MMF runs (is_mmf): metrics of lstm, xgboost, zero (train_mse, test_mse, train_corr,
     * test_corr, train_r2, test_r2; NaN for a model the run did not fit) and the LSTM's
     * (mse_epochs, 2) train/test MSE after each epoch */
    double mmf[3][6];
    double *mse_curve;
    int mse_epochs;
    int64_t mmf_rows, mmf_train_rows, mmf_features;
} ReportSymbol;

typedef struct {
    char dir[2048], path[2100];  /* run directory, its results.h5 */
    char run_name[128], model[32], dataset[1024], created_by[128], git_revision[64];
    char start_time[32], end_time[32], hosts[1024];
    char *config;                /* the run's config JSON (malloc'd) */
    int ranks, horizon, horizon2, n_heads;
    double ema_alpha;
    int has_schedule;            /* /schedule present (files before it: no Gantt chart) */
    int has_oracle;              /* some symbol has a finite oracle */
    int is_mmf;                  /* an MMF study's results.h5 ("deeplob-mpi MMF results"): only
                                    the mmf fields of the symbols, seed and epochs are set */
    int64_t seed, epochs;
    int n;
    ReportSymbol *sym;           /* (n) in the file's symbol order */
} ReportRun;

/* reads <run_dir>/results.h5; errors name the file and object */
int report_load(ReportRun *r, const char *run_dir, DlErr *e);
void report_free(ReportRun *r);

/* Finite (actual, predicted) test pairs of symbol i, head h (0 or 1), in bps, every
 * k-th one so that at most max_pts remain (*n); *n_total = finite pairs before
 * thinning. Arrays malloc'd (free them). */
int report_test_points(const ReportRun *r, int i, int head, int max_pts, double **actual, double **pred, int *n,
                       int64_t *n_total, DlErr *e);

/* symbol indices sorted by head-h raw correlation, best first, NaN last */
void report_rank_by_corr(const ReportRun *r, int head, int *idx);

typedef struct {
    char file[96];      /* relative to the run directory: figures/<name>.png */
    char caption[768];  /* one line: what the figure shows */
} ReportFigure;

typedef struct {
    ReportFigure *v;
    int n, cap;
    char note[1024];    /* why figures are missing (no PLplot, ...), "" when all drawn */
    char absent[1024];  /* figures left out because the file lacks their data (said in report.md) */
} FigureList;

int report_add_figure(FigureList *f, const char *file, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void report_figures_free(FigureList *f);

/* every figure into <dir>/figures (each written to a temp name, then renamed).
 * Returns 0, or -1 on error. Without PLplot (or its pngcairo driver) returns 0 with
 * no figures and the reason and the remedy in figs->note. */
int report_draw(const ReportRun *r, FigureList *figs, DlErr *e);

/* <dir>/report.md (atomically) */
int report_write_md(const ReportRun *r, const FigureList *figs, DlErr *e);

/* load, draw, write; progress lines on log. 0: complete; 3: written without figures
 * (figs note printed); -1: error (e). */
int report_run(const char *run_dir, FILE *log, DlErr *e);

#endif
