/* model.h: a model is a struct plus a handful of verbs (llm.c's gpt2_* API).
 *
 *   Model *m = model_create(cfg, max_batch, backend_cpu());
 *   model_init_params(m, seed);
 *   for each batch:
 *       model_forward(m, x, B, 1, dropout_key);   // predictions in m->out (B, n_out)
 *       loss = model_loss(m, y, B);               // fills m->dout
 *       model_zero_grad(m); model_backward(m, x, B);
 *       model_clip_grad(m, 1.0f); model_adam_step(m, lr);
 *
 * Memory: five arenas owned by the model, allocated once in model_create:
 *   params (trainable), grads, adam_m/adam_v, buffers (BN running stats),
 *   acts (activations and their gradients), scratch (op workspaces).
 * Nothing is allocated inside a training step.
 *
 * Input x: (B, T, F) float32 contiguous (= PyTorch (B,1,T,F)), and targets y: host memory
 * under every backend (a device backend uploads them, double-buffered).
 * Under a device backend (be->on_device) the arenas are device memory: code outside
 * the engine reads them only through model_sync_host / model_read_out / host_*.
 * Targets y: (B, n_out) (deeplob/tcn: n_out=1; hier: y10, y60 per row;
 * mmf_lstm: one output per step, n_out = seq_len, loss = MSE over steps >= warmup). */
#ifndef DL_MODEL_H
#define DL_MODEL_H

#include <stdint.h>
#include <stdio.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { MODEL_DEEPLOB = 0, MODEL_DEEPLOB_TCN = 1, MODEL_DEEPLOB_HIER = 2, MODEL_MMF_LSTM = 3, MODEL_KIND_COUNT } ModelKind;

typedef struct {
    ModelKind kind;
    int seq_len;        /* T, default 100 */
    int n_features;     /* F, 40 */
    float dropout;      /* head and TCN dropout, default 0.3 */
    float bn_momentum;  /* 0.1 */
    float bn_eps;       /* 1e-5 */
    float slope;        /* LeakyReLU slope, 0.01 */
    float huber_delta;  /* 1.0 */
    float head_w[2];    /* loss weights of the outputs (hier: w10, w60) */
    float adam_beta1, adam_beta2, adam_eps; /* 0.9, 0.999, 1e-8 */
    float weight_decay; /* AdamW decoupled weight decay, 0 = plain Adam (the seed) */
    float lstm_input_dropout; /* deeplob: dropout on the LSTM's input sequence, 0 = none (the seed) */
    int warmup;         /* mmf_lstm: leading steps of each sequence left out of the loss (32) */
} ModelConfig;

ModelConfig model_default_config(ModelKind kind);
const char *model_kind_name(ModelKind k);
int model_kind_parse(const char *s, ModelKind *out); /* 0 ok, -1 unknown */

/* one state_dict entry; data points into params or buffers (internal layout) */
typedef enum { PT_PLAIN = 0, PT_CONV = 1, PT_COUNTER = 2 } PTKind;
typedef struct {
    char name[64];
    int ndim;
    int shape[4];       /* PyTorch shape */
    PTKind kind;        /* PT_CONV: internal (O,kh,kw,I) <-> PyTorch (O,I,kh,kw) */
    int trainable;
    float *data;        /* params or buffers arena (device memory under a device backend); NULL for counters */
    float *host;        /* its host copy (== data on the CPU): what weight I/O reads and writes,
                           valid after model_sync_host, sent back by model_sync_device */
    float *grad;        /* grads arena when trainable */
    int64_t *counter;   /* num_batches_tracked */
    size_t numel;
    int init;           /* initialisation rule (model_impl.h INIT_*) */
    int fan_in;
} ParamEntry;

/* ---- data parallelism (model_set_shards; docs/hpc.md "One model over many ranks") ----
 * A global batch is K micro-shards of equal size. This process computes S of them,
 * global shards [first, first + S), as one local batch of S*b samples. Every
 * reduction over the batch (parameter gradients, BatchNorm statistics, the loss) is
 * made per shard, and the K shards' results are combined in shard order 0..K-1 on
 * every rank, so a step's bits depend on K, never on how the shards are spread
 * over ranks. K = 1: no sharding, the plain path. */
typedef struct {
    /* all (the group's ranks' `bytes` each, in rank order = shard order) <- mine
     * (this rank's S shards' blocks, `bytes` in all); the same bytes on every rank.
     * mine and all are the model's memory: device memory under a device backend
     * (gradients, BatchNorm sums) */
    void (*allgather)(void *ctx, const void *mine, void *all, size_t bytes);
    void *ctx;
    /* the same for host memory (the shards' losses); NULL: allgather (a CPU backend's
     * memory is host memory) */
    void (*allgather_host)(void *ctx, const void *mine, void *all, size_t bytes);
} ShardComm;

/* the shard arenas are the backend's memory (mem_alloc: device memory under a device
 * backend), as the model's; the losses are host floats */
typedef struct {
    int K, S, first;
    ShardComm comm;
    float *grads_extra;      /* (S-1, n_params): gradients of local shards 1..S-1 */
    float *gather;           /* (K, n_params) */
    double *bn_mine, *bn_all;/* (S, 3, bn_cmax), (K, 3, bn_cmax); the same buffer when S == K */
    float *kgw;              /* (3, bn_cmax) */
    int bn_cmax;
    float loss_mine[2 * 64], loss_all[2 * 1024]; /* per shard and head */
} Shards;

typedef struct Model {
    ModelConfig cfg;
    const Backend *be;
    int max_batch;

    float *params;   size_t n_params;
    float *grads;
    float *adam_m, *adam_v; int adam_t;
    float *buffers;  size_t n_buffers;
    int64_t *counters; int n_counters;
    ParamEntry *entries; int n_entries;

    float *acts;     size_t n_acts;
    float *scratch;  size_t n_scratch;
    uint8_t *masks;  size_t n_masks;
    int scratch_threads; /* the scratch is sized for at most this many threads */

    int n_out;
    float *out;      /* (max_batch, n_out) predictions of the last forward */
    float *dout;     /* (max_batch, n_out) dL/dout from model_loss */
    int last_B, last_training;

    void *impl;      /* model-specific pointers into the arenas */
    Shards sh;       /* sh.K == 1 unless model_set_shards */

    /* Host mirrors of the arenas that leave the model (== the arenas themselves on the
     * CPU backend; separate host memory under a device backend, be->on_device):
     * model_sync_host fills them, model_sync_device sends them back. */
    float *host_params, *host_buffers, *host_adam_m, *host_adam_v;
    float *host_out, *host_dout; /* (max_batch, n_out) */
    /* device backends: the input batch x (max_batch, T, F) and targets y (max_batch, n_out)
     * uploaded by model_forward / model_loss, double-buffered (slot = stage_slot) */
    float *x_stage[2], *y_stage[2];
    int stage_slot;
} Model;

Model *model_create(ModelConfig cfg, int max_batch, const Backend *be);
void model_free(Model *m);
void model_init_params(Model *m, uint64_t seed);   /* PyTorch-default (and Kaiming for TCN) */
void model_forward(Model *m, const float *x, int B, int training, uint64_t dropout_key);
float model_loss(Model *m, const float *y, int B); /* Huber, weighted over outputs */
void model_zero_grad(Model *m);
void model_backward(Model *m, const float *x, int B);
double model_clip_grad(Model *m, float max_norm);   /* returns the total norm before clipping */
void model_adam_step(Model *m, float lr);
/* Host <-> model memory (no-ops on the CPU backend, copies under a device backend):
 * sync_host: params, buffers, Adam moments -> host_* mirrors (and entries' host);
 * sync_device: the mirrors -> the model (after weights or a checkpoint were loaded);
 * read_out: the last forward's predictions (B, n_out) into dst (host). */
void model_sync_host(const Model *m);
void model_sync_device(Model *m);
void model_read_out(const Model *m, float *dst, int B);
size_t model_count_params(const Model *m);          /* trainable parameters */
void model_print_table(const Model *m, FILE *f);
/* forward FLOPs per sample (multiply-add = 2), for the benchmark's GFLOP/s */
double model_flops_per_sample(const Model *m);
ParamEntry *model_find(Model *m, const char *name);

/* Data parallelism: from now on the local batch (B of model_forward, a multiple of S)
 * is shards first..first+S-1 of K. model_loss returns the global batch's loss and
 * model_backward leaves the global batch's gradient (the K shards' gradients summed
 * in shard order) in m->grads on every rank; everything after (clipping, Adam) is
 * the same on every rank. comm gathers over the ranks of the group (shard_comm_local
 * when one process holds all K: then S == K). Deeplob, deeplob_tcn and deeplob_hier, on
 * any backend (the gathers of a device backend's memory are the comm's business:
 * train/dp.c). */
void model_set_shards(Model *m, int K, int S, int first, ShardComm comm);
/* one process holding every shard */
ShardComm shard_comm_local(void);

#ifdef __cplusplus
}
#endif
#endif
