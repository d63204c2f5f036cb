/* dp.h: data parallelism over a group of ranks (docs/hpc.md "One model over many ranks").
 *
 * A group of G ranks trains one model. Each step's global batch of B samples is K
 * micro-shards of B/K (K: config key dp_shards; G divides K); group rank r computes
 * shards [r*K/G, (r+1)*K/G). The engine does every reduction over the batch per shard
 * and combines the K shards in shard order (model_set_shards), so the trained bits
 * depend on K only: any G dividing K gives the bits of one rank with the same K.
 * CPU ranks gather with MPI (this file). */
#ifndef DL_TRAIN_DP_H
#define DL_TRAIN_DP_H

#include <mpi.h>

#include "engine/model.h"

typedef struct DpGroupS {
    MPI_Comm comm;   /* the group (MPI_COMM_SELF for a group of one) */
    int rank, size;  /* in the group */
    int K;           /* shards per global batch */
} DpGroup;

/* the engine's gather over the group (MPI_Allgather; in place when mine is this
 * rank's slot of all). g must outlive the model */
ShardComm dp_comm_mpi(DpGroup *g);
/* shard the model over the group: S = K / size, first = rank * S; K = 1 and size = 1:
 * nothing changes (the plain path) */
void dp_shard_model(Model *m, DpGroup *g);
/* rows (n_out floats each) computed in chunks of `chunk` rows: this rank's chunks
 * [c0, c1) of nc (dp_chunk_range); allgather so every rank holds all n rows */
void dp_chunk_range(const DpGroup *g, int64_t nc, int64_t *c0, int64_t *c1);
void dp_gather_chunks(const DpGroup *g, float *rows, int64_t n, int64_t chunk, int n_out);
/* 1 if any member's flag is set (a collective: every member calls it) */
int dp_any(const DpGroup *g, int flag);

#endif
