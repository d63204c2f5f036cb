/* dp_nccl.c: see dp_nccl.h. */
#include "train/dp_nccl.h"

#include <stdlib.h>

#ifdef DL_HAVE_CUDA
#include <cuda_runtime.h>
#include <nccl.h>

struct DpNccl {
    ncclComm_t comm;
    cudaStream_t stream;
    int rank, size;
};

int dp_nccl_available(void) { return 1; }

DpNccl *dp_nccl_create(const DpGroup *g, DlErr *e) {
    ncclUniqueId id;
    int bad = 0;
    if (g->rank == 0) {
        ncclResult_t r = ncclGetUniqueId(&id);
        if (r != ncclSuccess) bad = dl_err(e, "NCCL: ncclGetUniqueId: %s", ncclGetErrorString(r)) != 0;
    }
    MPI_Bcast(&bad, 1, MPI_INT, 0, g->comm);
    if (bad) {
        if (g->rank != 0) dl_err(e, "NCCL: group rank 0 could not create the communicator id");
        return NULL;
    }
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, g->comm);
    DpNccl *n = dl_calloc(1, sizeof *n);
    n->rank = g->rank;
    n->size = g->size;
    cudaError_t ce = cudaStreamCreateWithFlags(&n->stream, cudaStreamNonBlocking);
    if (ce != cudaSuccess) bad = dl_err(e, "NCCL: cudaStreamCreate: %s", cudaGetErrorString(ce)) != 0;
    ncclResult_t r = bad ? ncclSuccess : ncclCommInitRank(&n->comm, g->size, id, g->rank);
    if (!bad && r != ncclSuccess) bad = dl_err(e, "NCCL: ncclCommInitRank (rank %d of %d): %s", g->rank, g->size,
                                               ncclGetErrorString(r)) != 0;
    int any = 0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, g->comm);
    if (any) {
        if (!bad) dl_err(e, "NCCL: another rank of the group failed to join the communicator");
        if (n->comm) ncclCommDestroy(n->comm);
        if (n->stream) cudaStreamDestroy(n->stream);
        free(n);
        return NULL;
    }
    return n;
}

void dp_nccl_free(DpNccl *n) {
    if (!n) return;
    ncclCommDestroy(n->comm);
    cudaStreamDestroy(n->stream);
    free(n);
}

static void nccl_allgather(void *ctx, const void *mine, void *all, size_t bytes) {
    DpNccl *n = ctx;
    ncclResult_t r = ncclAllGather(mine, all, bytes, ncclChar, n->comm, n->stream);
    DL_CHECK(r == ncclSuccess, "NCCL: ncclAllGather of %zu bytes: %s", bytes, ncclGetErrorString(r));
    cudaError_t ce = cudaStreamSynchronize(n->stream);
    DL_CHECK(ce == cudaSuccess, "NCCL: stream sync after the gather: %s", cudaGetErrorString(ce));
}

ShardComm dp_comm_nccl(DpNccl *n) { return (ShardComm){nccl_allgather, n}; }

#else /* CPU-only build */

struct DpNccl { int unused; };
int dp_nccl_available(void) { return 0; }
DpNccl *dp_nccl_create(const DpGroup *g, DlErr *e) {
    (void)g;
    dl_err(e, "NCCL: this build has no CUDA (configure with -DDEEPLOB_CUDA=ON)");
    return NULL;
}
void dp_nccl_free(DpNccl *n) { free(n); }
ShardComm dp_comm_nccl(DpNccl *n) {
    (void)n;
    DL_FATAL("NCCL: this build has no CUDA");
    return (ShardComm){0};
}
#endif
