/* config.h: the training configuration (JSON, parsed with cJSON).
 *
 * Every key is in one table (config.c): name, type, range, default. A JSON file
 * may set any subset; unknown keys, wrong types and out-of-range values are
 * errors that name the key (and the file). Command-line overrides use the same
 * table: `--set key=value` or `--key value`. Defaults are the seed's settings
 * (../shared/design/models.md). */
#ifndef DL_TRAIN_CONFIG_H
#define DL_TRAIN_CONFIG_H

#include <stdint.h>

#include "common/util.h"
#include "engine/model.h"

#define CFG_MAX_SYMBOLS 4096
#define CFG_PATH_MAX 1024

typedef struct {
    char dataset[CFG_PATH_MAX];     /* LOB dataset (HDF5) */
    int all_symbols;                /* 1: every symbol of the dataset */
    int n_symbols;                  /* explicit list when all_symbols == 0 */
    char (*symbols)[64];            /* (n_symbols) names; owned, free with config_free */
    char model[32];                 /* deeplob | deeplob_tcn | deeplob_hier */
    ModelKind kind;
    int horizon;                    /* target horizon in seconds (must exist in the dataset);
                                       deeplob_hier: the short head's horizon */
    int horizon2;                   /* deeplob_hier only: the long head's horizon (> horizon) */
    double ema_alpha;               /* 0 = off; smoothing of train/val targets */
    char price_features[16];        /* "zscore" (seed) | "mid_relative" (see dataset.h) */
    char volume_features[16];       /* "raw" (seed) | "log" (see dataset.h) */
    int standardize_targets;        /* 0: train on bps; 1: on z-scored bps (metrics stay in bps) */
    int seq_len;                    /* T */
    int batch;
    int eval_batch;                 /* batch for val/test evaluation (0 = same as batch) */
    int epochs;
    int patience;                   /* early stopping */
    int plateau_patience;
    double plateau_factor;
    double plateau_threshold;       /* relative, PyTorch ReduceLROnPlateau 'rel' */
    double lr;
    double huber_delta;
    double dropout;
    double weight_decay;            /* AdamW decoupled weight decay; 0 = plain Adam (the seed) */
    double lstm_input_dropout;      /* deeplob: dropout on the LSTM input sequence; 0 = off (the seed) */
    double clip;                    /* total-norm clipping; 0 = off */
    int64_t max_train_samples;      /* 0 = all; else the most recent N training windows */
    int control_shuffle_targets;    /* control experiment: train/val targets permuted across samples */
    uint64_t seed;
    char output_dir[CFG_PATH_MAX];
    char run_name[128];
    int threads;                    /* 0 = all cores */
    int checkpoint;                 /* 1: per-epoch checkpoint files (needed for --resume) */
    int report;                     /* 1: rank 0 writes figures and report.md at the end of train */
    double progress_interval;       /* seconds between in-epoch progress lines (0 = none) */
    /* data parallelism (train/dp.h): one model over a group of ranks */
    int dp_shards;                  /* K micro-shards per batch (1 = off); the bits depend on K only */
    int ranks_per_symbol;           /* G ranks per model (divides dp_shards and the rank count) */
    int universal;                  /* 1: one model over the pooled windows of all symbols */
    char holdout_symbols[1024];     /* universal: comma-separated symbols left out of training */
    char device[8];                 /* "auto" (GPU when the rank has one) | "cpu" | "cuda" (a GPU or an error) */
    int ranks_per_gpu;              /* node-local ranks per GPU (binding: local rank / ranks_per_gpu) */
} TrainConfig;

/* defaults (the seed's settings) */
void config_defaults(TrainConfig *c);
void config_free(TrainConfig *c);

/* parse a JSON text / file over the current values; errors name the key */
int config_load_json_text(TrainConfig *c, const char *text, const char *where, DlErr *e);
int config_load_file(TrainConfig *c, const char *path, DlErr *e);

/* one override: key and value as text ("batch", "256"; "symbols", "A,B" or "all") */
int config_set(TrainConfig *c, const char *key, const char *value, DlErr *e);
/* "key=value" */
int config_set_kv(TrainConfig *c, const char *kv, DlErr *e);
/* 1 if key names a config key */
int config_has_key(const char *key);

/* cross-key checks (e.g. seq_len large enough for the model); call after loading */
int config_validate(const TrainConfig *c, DlErr *e);

/* canonical JSON of every key (malloc'd string, caller frees) */
char *config_to_json(const TrainConfig *c);
/* canonical JSON of the keys that change training numerics (resume compatibility) */
char *config_training_json(const TrainConfig *c);

#endif
