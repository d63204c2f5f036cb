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
/* 1 when every rank of g has a GPU of its own (PCI bus id and host differ), which NCCL
 * requires (since 2.5 it refuses two ranks of a communicator on one device); else 0
 * with why (n bytes) naming two ranks that share one. Collective over g->comm; the
 * ranks' GPUs must be bound. 0 in a build without CUDA. */
int dp_nccl_gpus_distinct(const DpGroup *g, char *why, size_t n);
/* all (device, size blocks of bytes) <- mine (device): ncclAllGather on the communicator's
 * stream, ordered after the work queued on the legacy default stream before the call,
 * and that stream's later work waits for it (events; the host does not wait). In place
 * when mine is this rank's slot of all (NCCL's in-place rule) */
void dp_nccl_allgather(DpNccl *n, const void *mine, void *all, size_t bytes);
/* the engine's gather over NCCL (dp_nccl_allgather; device memory only) */
ShardComm dp_comm_nccl(DpNccl *n);

#endif
