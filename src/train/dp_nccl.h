/* dp_nccl.h: the NCCL gather of a data-parallel group whose ranks hold their tensors
 * on GPUs (one communicator per group, its id made by group rank 0 and broadcast
 * over the group's MPI communicator). Built with CUDA only (DL_HAVE_CUDA); the
 * group's CPU ranks use dp_comm_mpi. Buffers handed to the gather are device memory. */
#ifndef DL_TRAIN_DP_NCCL_H
#define DL_TRAIN_DP_NCCL_H

#include "common/util.h"
#include "train/dp.h"

typedef struct DpNccl DpNccl;

/* 1 when this build has NCCL */
int dp_nccl_available(void);
/* collective over g->comm; the rank's GPU must be bound (cudaSetDevice) first.
 * NULL and e filled on failure (on every rank: the verdict is agreed over g->comm) */
DpNccl *dp_nccl_create(const DpGroup *g, DlErr *e);
void dp_nccl_free(DpNccl *n);
/* the engine's gather over NCCL: ncclAllGather on the communicator's stream, then a
 * stream sync; in place when mine is this rank's slot of all (NCCL's in-place rule) */
ShardComm dp_comm_nccl(DpNccl *n);

#endif
