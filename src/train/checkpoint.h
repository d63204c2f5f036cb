/* checkpoint.h: the durable per-symbol training state, one small HDF5 file.
 *
 * Written after every epoch to "<path>.tmp.<pid>", fsync'd and renamed over
 * <path> (dl_commit_file), so a crash leaves either the previous or the new
 * checkpoint, never a torn one. Holds everything the next epoch depends on:
 * weights, Adam m/v/t, BN buffers and counters, scheduler and early-stopping
 * state, best weights, history, and the training config (a resume with a
 * different config is refused). RNG state needs no saving: every stream is a
 * function of (seed, symbol, epoch, step). Layout in docs/results_format.md. */
#ifndef DL_TRAIN_CHECKPOINT_H
#define DL_TRAIN_CHECKPOINT_H

#include "common/util.h"
#include "engine/model.h"
#include "train/schedule.h"
#include "train/trainer.h"

typedef struct {
    int epoch_done;          /* epochs completed */
    int finished;            /* 1: training over (early stop or last epoch) */
    Plateau plateau;
    EarlyStop early;
    double train_seconds;    /* cumulative training-step time */
} TrainState;

#define CKPT_FORMAT "deeplob-mpi checkpoint"
#define CKPT_VERSION 1

int checkpoint_save(const char *path, const Model *m, const TrainState *st, const SymbolResult *r,
                    const char *config_json, DlErr *e);
/* 1 loaded, 0 no checkpoint at path, -1 error (incompatible config, damaged file) */
int checkpoint_load(const char *path, Model *m, TrainState *st, SymbolResult *r,
                    const char *config_json, DlErr *e);

#endif
