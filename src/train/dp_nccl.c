/* dp_nccl.c: see dp_nccl.h. */
#include "train/dp_nccl.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(DL_HAVE_CUDA) && defined(DL_HAVE_NCCL)
#include <cuda_runtime.h>
#include <nccl.h>

struct DpNccl {
    ncclComm_t comm;
    cudaStream_t stream;
    cudaEvent_t ready, done; /* legacy stream -> NCCL stream -> legacy stream */
    int rank, size;
};

int dp_nccl_available(void) { return 1; }

int dp_nccl_gpus_distinct(const DpGroup *g, char *why, size_t n) {
    enum { REC = 192 };
    char mine[REC];
    memset(mine, 0, sizeof mine);
    int dev = -1;
    char bus[64] = "?";
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetPCIBusId(bus, (int)sizeof bus, dev) != cudaSuccess)
        snprintf(bus, sizeof bus, "unknown-%d", g->rank); /* unknown: assume distinct, NCCL then says */
    char host[120] = "";
    gethostname(host, sizeof host - 1);
    snprintf(mine, sizeof mine, "%s|%s", host, bus);
    char *all = dl_malloc((size_t)REC * g->size);
    MPI_Allgather(mine, REC, MPI_CHAR, all, REC, MPI_CHAR, g->comm);
    int ok = 1;
    for (int i = 0; i < g->size && ok; i++)
        for (int j = i + 1; j < g->size && ok; j++)
            if (!strncmp(all + (size_t)i * REC, all + (size_t)j * REC, REC)) {
                ok = 0;
                snprintf(why, n, "group ranks %d and %d share GPU %.120s", i, j, all + (size_t)i * REC);
            }
    free(all);
    return ok;
}

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
    if (ce == cudaSuccess) ce = cudaEventCreateWithFlags(&n->ready, cudaEventDisableTiming);
    if (ce == cudaSuccess) ce = cudaEventCreateWithFlags(&n->done, cudaEventDisableTiming);
    if (ce != cudaSuccess) bad = dl_err(e, "NCCL: cudaStreamCreate/cudaEventCreate: %s", cudaGetErrorString(ce)) != 0;
    ncclResult_t r = bad ? ncclSuccess : ncclCommInitRank(&n->comm, g->size, id, g->rank);
    if (!bad && r != ncclSuccess) bad = dl_err(e, "NCCL: ncclCommInitRank (rank %d of %d): %s", g->rank, g->size,
                                               ncclGetErrorString(r)) != 0;
    int any = 0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, g->comm);
    if (any) {
        if (!bad) dl_err(e, "NCCL: another rank of the group failed to join the communicator");
        if (n->comm) ncclCommDestroy(n->comm);
        if (n->ready) cudaEventDestroy(n->ready);
        if (n->done) cudaEventDestroy(n->done);
        if (n->stream) cudaStreamDestroy(n->stream);
        free(n);
        return NULL;
    }
    return n;
}

void dp_nccl_free(DpNccl *n) {
    if (!n) return;
    ncclCommDestroy(n->comm);
    cudaEventDestroy(n->ready);
    cudaEventDestroy(n->done);
    cudaStreamDestroy(n->stream);
    free(n);
}

/* The ops run on the legacy default stream; NCCL on a non-blocking stream, which does
 * not synchronise with it by itself: events order the gather after the kernels that
 * wrote mine and the kernels that read all after the gather. */
void dp_nccl_allgather(DpNccl *n, const void *mine, void *all, size_t bytes) {
    cudaError_t ce = cudaEventRecord(n->ready, cudaStreamLegacy);
    if (ce == cudaSuccess) ce = cudaStreamWaitEvent(n->stream, n->ready, 0);
    DL_CHECK(ce == cudaSuccess, "NCCL: ordering the gather after the step's kernels: %s", cudaGetErrorString(ce));
    ncclResult_t r = ncclAllGather(mine, all, bytes, ncclChar, n->comm, n->stream);
    DL_CHECK(r == ncclSuccess, "NCCL: ncclAllGather of %zu bytes: %s", bytes, ncclGetErrorString(r));
    ce = cudaEventRecord(n->done, n->stream);
    if (ce == cudaSuccess) ce = cudaStreamWaitEvent(cudaStreamLegacy, n->done, 0);
    DL_CHECK(ce == cudaSuccess, "NCCL: ordering the step's kernels after the gather: %s", cudaGetErrorString(ce));
}

static void nccl_allgather(void *ctx, const void *mine, void *all, size_t bytes) { dp_nccl_allgather(ctx, mine, all, bytes); }

ShardComm dp_comm_nccl(DpNccl *n) { return (ShardComm){nccl_allgather, n, NULL}; }

#else /* a build without CUDA, or CUDA without NCCL */

struct DpNccl { int unused; };
int dp_nccl_available(void) { return 0; }
int dp_nccl_gpus_distinct(const DpGroup *g, char *why, size_t n) {
    (void)g;
    snprintf(why, n, "a build without NCCL");
    return 0;
}
void dp_nccl_allgather(DpNccl *n, const void *mine, void *all, size_t bytes) {
    (void)n, (void)mine, (void)all, (void)bytes;
    DL_FATAL("NCCL: this build has no NCCL");
}
DpNccl *dp_nccl_create(const DpGroup *g, DlErr *e) {
    (void)g;
    dl_err(e, "NCCL: this build has no NCCL (configure with -DDEEPLOB_CUDA=ON where libnccl is installed)");
    return NULL;
}
void dp_nccl_free(DpNccl *n) { free(n); }
ShardComm dp_comm_nccl(DpNccl *n) {
    (void)n;
    DL_FATAL("NCCL: this build has no NCCL");
    return (ShardComm){0, 0, 0};
}
#endif
