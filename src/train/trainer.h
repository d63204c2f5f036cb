/* trainer.h: train one model on one symbol (a pure function of config, data, seed).
 *
 * Every random stream is a dl_key chain from the config seed and the symbol name
 * (never the rank or the clock):
 *   sym   = dl_key(seed, dl_hash_str(symbol))
 *   init  = dl_key(sym, TAG_INIT)                         parameter initialisation
 *   perm  = dl_key(dl_key(sym, TAG_SHUFFLE), epoch)        training order of the epoch
 *   drop  = dl_key(dl_key(dl_key(sym, TAG_DROPOUT), epoch), step)   dropout masks
 * so a symbol trains to the same bits on any rank, and a run resumed from a
 * per-epoch checkpoint continues exactly where it stopped. */
#ifndef DL_TRAIN_TRAINER_H
#define DL_TRAIN_TRAINER_H

#include <stdint.h>
#include <stdio.h>

#include "common/util.h"
#include "engine/model.h"
#include "io/lobds.h"
#include "train/config.h"
#include "train/metrics.h"
#include "train/schedule.h"

#define TAG_INIT 0x696e6974ULL
#define TAG_SHUFFLE 0x73687566ULL
#define TAG_DROPOUT 0x64726f70ULL
#define TAG_CONTROL 0x63746c72ULL

typedef struct {
    int epoch;              /* 1-based */
    double train_loss;      /* mean Huber over the epoch's training batches (training mode);
                               two heads: the weighted sum w1*Huber1 + w2*Huber2 (model_loss) */
    double val_loss;        /* mean Huber on validation (eval mode), combined as above */
    double lr;              /* learning rate used during the epoch */
    double grad_norm;       /* mean total gradient norm before clipping */
    double seconds;         /* wall time of the epoch (training + validation) */
    double samples_per_s;   /* training samples / training time */
} EpochRecord;

/* a symbol's outcome (results.h5 symbols/<S>/status, /summary.status, summary.csv) */
enum { SYM_OK = 0, SYM_DIVERGED = 1, SYM_SKIPPED = 2 };
#define SYM_STATUS_LEN 128

typedef struct {
    char symbol[64];
    int status;                 /* SYM_OK, SYM_DIVERGED (loss or gradients non-finite: training
                                   stopped, last good checkpoint kept, no test metrics),
                                   SYM_SKIPPED (data unusable: too short, no finite rows) */
    char status_msg[SYM_STATUS_LEN]; /* "" when ok, else where and why */
    int64_t n_rows;
    int64_t n_samples[3], skipped[3], nan_targets[3]; /* per split: train, val, test */
    int64_t dropped_train;      /* oldest train samples left out (max_train_samples) */
    int64_t n_fit_rows;         /* finite train rows of the z-score fit */
    double feat_mean[LOBDS_NFEAT], feat_std[LOBDS_NFEAT];
    double feat_vol_scale[LOBDS_NFEAT]; /* c_f of volume_features "log" (0 = column not transformed) */
    double y_mu, y_sd;          /* target standardisation (0, 1 when off) */
    /* test split, aligned with its rows [test_row0, n_rows): prediction NaN where no sample */
    int64_t test_row0, n_test_rows;
    int64_t *test_time;         /* (n_test_rows) */
    float *test_pred;           /* (n_test_rows) bps */
    float *test_target_raw;     /* (n_test_rows) bps */
    float *test_target_smooth;  /* (n_test_rows) bps (EMA, labelled; == raw when alpha = 0) */
    Metrics test_raw;           /* vs raw targets: the honest numbers */
    Metrics test_smooth;        /* vs smoothed targets (meaningful when has_smooth) */
    int has_smooth;
    double oracle_corr;         /* from the dataset (NaN when unknown) */
    int epochs_run, best_epoch, stopped_early;
    double best_val_loss;
    double wall_s;              /* this process's wall time for the symbol */
    double train_seconds;       /* training-step time over all epochs (resumed: summed) */
    double samples_per_s;       /* training samples per second */
    int resumed_from;           /* epoch the run resumed after (0 = fresh) */
    EpochRecord *history;       /* (epochs_cap) */
    int epochs_cap;
    /* Two-head models (deeplob_hier): the fields above (test_pred, test_target_*,
     * test_raw, test_smooth, oracle_corr, y_mu/y_sd) are head 1 (horizon); the ones
     * below are head 2 (horizon2), same layout. n_heads == 1: arrays NULL, NaN metrics. */
    int n_heads;                /* 1, or 2 */
    int head_horizon[2];        /* seconds of head 1 and head 2 (0 when absent) */
    float *test_pred2;          /* (n_test_rows) bps */
    float *test_target_raw2;    /* (n_test_rows) bps */
    float *test_target_smooth2; /* (n_test_rows) bps */
    Metrics test_raw2, test_smooth2;
    double oracle_corr2;
    double y_mu2, y_sd2;
    /* best-validation weights (model arenas) */
    float *best_params; size_t n_params;
    float *best_buffers; size_t n_buffers;
    int64_t *best_counters; int n_counters;
} SymbolResult;

typedef struct {
    const char *ckpt_path;   /* per-symbol checkpoint file, NULL = none */
    int resume;              /* continue from ckpt_path when it exists */
    FILE *progress;          /* one line per epoch (NULL = quiet) */
    int bar;                 /* in-epoch progress as one updating line (a terminal); else plain lines */
    int stop_after_epoch;    /* testing: return -2 after this epoch's checkpoint (0 = off) */
    double progress_interval;/* seconds between in-epoch progress lines (0 = none) */
    const char *tag;         /* prefix of the progress lines, e.g. "[rank 3] " (NULL = none) */
    /* rank 0 of a multi-rank run: appends the run's overall progress and ETA to its
     * in-epoch lines, given this rank's current training rate (NULL = none) */
    void (*run_status)(void *ctx, double samples_per_s, char *buf, size_t n);
    void *run_ctx;
    /* testing aid (--inject-nan SYMBOL:EPOCH:STEP): that training step of that symbol
     * sees a NaN target, as a poisoned batch would; NULL = off */
    const char *inject_symbol;
    int inject_epoch;
    int64_t inject_step;
    /* data parallelism: the group of ranks training this model together (NULL = this
     * rank alone, dp_shards must be 1). Every member calls train_symbol with the same
     * arguments; group rank 0 writes the checkpoints and its r is the result */
    struct DpGroupS *dp;
} TrainIO;

ModelConfig trainer_model_config(const TrainConfig *cfg);
uint64_t trainer_symbol_key(uint64_t seed, const char *symbol);

/* 0 done (r->status says ok, diverged or skipped), -1 error (e filled), -2 stopped
 * by stop_after_epoch */
int train_symbol(SymbolResult *r, const TrainConfig *cfg, const LobSymbol *sym, const TrainIO *io, DlErr *e);
/* the backend train_symbol's models run on (default: the CPU's); set once per rank after
 * dl_backend_select (engine/device.h) */
void trainer_set_backend(const Backend *be);
const Backend *trainer_backend(void);
void symbol_result_free(SymbolResult *r);

/* The universal model (config key universal): one model trained on the pooled windows
 * of every symbol that is neither held out (held[i]) nor skipped: each symbol
 * normalised by its own training rows, its own chronological splits, windows never
 * crossing symbols, batches mixing symbols in the seeded order (key of the name
 * "universal"); validation on the pooled validation windows. Then every symbol,
 * held-out ones included, is tested on its own test split with the universal
 * weights: rs (n) as train_symbol's results, history shared. 0, -1 error, -2 stopped. */
int train_universal(SymbolResult *rs, const TrainConfig *cfg, const LobSymbol *syms, const int *held, int n,
                    const TrainIO *io, DlErr *e);
/* "ok", "diverged", "skipped" */
const char *symbol_status_name(int status);

/* a batch-1 model holding r's best weights (for writing them); model_free it */
Model *symbol_result_model(const SymbolResult *r, const TrainConfig *cfg);

#endif
