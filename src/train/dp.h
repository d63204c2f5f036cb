/* dp.h: data parallelism over a group of ranks (docs/hpc.md "One model over many ranks").
 *
 * A group of G ranks trains one model. Each step's global batch of B samples is K
 * micro-shards of B/K (K: config key dp_shards; G divides K); group rank r computes
 * shards [r*K/G, (r+1)*K/G). The engine does every reduction over the batch per shard
 * and combines the K shards in shard order (model_set_shards), so the trained bits
 * depend on K only: any G dividing K gives the bits of one rank with the same K.
 * CPU ranks gather with MPI (this file). GPU ranks (a device backend: the model's
 * gradients and BatchNorm sums are device memory) gather those with NCCL when every
 * rank of the group has a GPU of its own (dp_nccl.h), else (ranks sharing a GPU: NCCL
 * refuses two ranks of one communicator on one device) with MPI through pinned host
 * buffers; the shards' losses are host floats and always go over MPI. */
#ifndef DL_TRAIN_DP_H
#define DL_TRAIN_DP_H

#include <mpi.h>

#include "common/util.h"
#include "engine/model.h"

typedef struct DpGroupS {
    MPI_Comm comm;   /* the group (MPI_COMM_SELF for a group of one) */
    int rank, size;  /* in the group */
    int K;           /* shards per global batch */
    struct DpDevice *dev; /* dp_group_open on GPU ranks of a group of > 1: the device gathers; else NULL */
} DpGroup;

/* Collective over g->comm, before the first dp_shard_model of a model on backend be:
 * the members must agree on where their ops run (all on GPUs or all on CPUs); on GPUs
 * with g->size > 1 it sets up the device gathers (NCCL or MPI through host buffers;
 * DEEPLOB_DP_COMM=mpi forces the latter). how (n bytes) says which. Returns 0, or -1
 * with e filled on every member (the verdict is agreed). */
int dp_group_open(DpGroup *g, const Backend *be, char *how, size_t n, DlErr *e);
/* frees what dp_group_open set up (before g->comm is freed) */
void dp_group_close(DpGroup *g);

/* the engine's gather over the group (MPI_Allgather; in place when mine is this
 * rank's slot of all). g must outlive the model */
ShardComm dp_comm_mpi(DpGroup *g);
/* shard the model over the group: S = K / size, first = rank * S; K = 1 and size = 1:
 * nothing changes (the plain path). A device model in a group of > 1 needs
 * dp_group_open first. */
void dp_shard_model(Model *m, DpGroup *g);
/* rows (n_out floats each) computed in chunks of `chunk` rows: this rank's chunks
 * [c0, c1) of nc (dp_chunk_range); allgather so every rank holds all n rows */
void dp_chunk_range(const DpGroup *g, int64_t nc, int64_t *c0, int64_t *c1);
void dp_gather_chunks(const DpGroup *g, float *rows, int64_t n, int64_t chunk, int n_out);
/* 1 if any member's flag is set (a collective: every member calls it) */
int dp_any(const DpGroup *g, int flag);

#endif
