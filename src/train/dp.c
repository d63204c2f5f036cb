/* dp.c: the MPI side of data parallelism (dp.h). */
#include "train/dp.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "train/dp_nccl.h"

/* all (size blocks of bytes, rank order) <- mine, host memory; in place when mine is
 * this rank's block */
static void mpi_gather_bytes(MPI_Comm comm, int rank, const void *mine, void *all, size_t bytes) {
    DL_CHECK(bytes <= INT_MAX, "data parallelism: %zu bytes per rank in one gather", bytes);
    const void *send = (const char *)all + (size_t)rank * bytes == (const char *)mine ? MPI_IN_PLACE : mine;
    int rc = MPI_Allgather(send, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, comm);
    DL_CHECK(rc == MPI_SUCCESS, "data parallelism: MPI_Allgather failed (%d)", rc);
}

static void mpi_allgather(void *ctx, const void *mine, void *all, size_t bytes) {
    DpGroup *g = ctx;
    mpi_gather_bytes(g->comm, g->rank, mine, all, bytes);
}

ShardComm dp_comm_mpi(DpGroup *g) { return (ShardComm){mpi_allgather, g, NULL}; }

/* ---- GPU ranks: the gathers of device memory ----------------------------------------
 * Gradients and BatchNorm sums live on the GPU. With NCCL (every rank its own GPU) both
 * are gathered there, the BN sums too (doubles, as bytes: ncclChar): the combine kernel
 * reads them on the device, where a trip through the host would add two synchronous
 * copies per BatchNorm layer and direction. Without NCCL (ranks sharing a GPU, or
 * DEEPLOB_DP_COMM=mpi) they go device -> pinned host buffer -> MPI_Allgather in place ->
 * device. Either way the gathered bytes are the same, so the bits are too. */
struct DpDevice {
    MPI_Comm comm;
    int rank, size;
    const Backend *be;
    DpNccl *nccl;            /* NULL: MPI through stage */
    void *stage;             /* pinned host buffer (be->host_alloc) of stage_bytes */
    size_t stage_bytes;
};

static void dev_allgather(void *ctx, const void *mine, void *all, size_t bytes) {
    struct DpDevice *d = ctx;
    if (d->nccl) {
        dp_nccl_allgather(d->nccl, mine, all, bytes);
        return;
    }
    DL_CHECK(bytes * (size_t)d->size <= d->stage_bytes, "data parallelism: a gather of %zu bytes per rank exceeds the "
             "%zu-byte host buffer", bytes, d->stage_bytes);
    char *st = d->stage, *slot = st + (size_t)d->rank * bytes;
    d->be->copy_to_host(slot, mine, bytes);   /* after the ops that wrote mine */
    mpi_gather_bytes(d->comm, d->rank, slot, st, bytes);
    d->be->copy_to_device(all, st, bytes * (size_t)d->size);
}

/* host memory (the losses): MPI */
static void dev_allgather_host(void *ctx, const void *mine, void *all, size_t bytes) {
    struct DpDevice *d = ctx;
    mpi_gather_bytes(d->comm, d->rank, mine, all, bytes);
}

int dp_group_open(DpGroup *g, const Backend *be, char *how, size_t n, DlErr *e) {
    g->dev = NULL;
    int dev = be->on_device, lo = dev, hi = dev;
    if (g->size > 1) {
        MPI_Allreduce(&dev, &lo, 1, MPI_INT, MPI_MIN, g->comm);
        MPI_Allreduce(&dev, &hi, 1, MPI_INT, MPI_MAX, g->comm);
    }
    if (lo != hi)
        return dl_err(e, "data parallelism: a group of %d ranks mixes GPU and CPU ranks (some found no usable GPU): "
                         "set device cpu, or give every rank a GPU", g->size);
    if (!dev || g->size == 1) {
        snprintf(how, n, "%s", g->size == 1 ? "none (one rank holds every shard)" : "MPI");
        return 0;
    }
    struct DpDevice *d = dl_calloc(1, sizeof *d);
    d->comm = g->comm;
    d->rank = g->rank;
    d->size = g->size;
    d->be = be;
    const char *force = getenv("DEEPLOB_DP_COMM");
    int want_mpi = force && !strcmp(force, "mpi"), any_mpi = 0;
    MPI_Allreduce(&want_mpi, &any_mpi, 1, MPI_INT, MPI_MAX, g->comm); /* one choice for the group */
    want_mpi = any_mpi;
    char why[256] = "";
    /* collective: every member asks (the verdicts are agreed inside) */
    const int distinct = dp_nccl_available() && dp_nccl_gpus_distinct(g, why, sizeof why);
    if (!want_mpi && distinct) {
        d->nccl = dp_nccl_create(g, e);
        if (!d->nccl) {
            free(d);
            return -1;
        }
        snprintf(how, n, "NCCL on the GPUs (gradients and BatchNorm sums), MPI for the losses");
    } else {
        snprintf(how, n, "MPI through pinned host buffers (%s)",
                 want_mpi ? "DEEPLOB_DP_COMM=mpi" : !dp_nccl_available() ? "a build without NCCL" : why);
    }
    g->dev = d;
    return 0;
}

void dp_group_close(DpGroup *g) {
    struct DpDevice *d = g->dev;
    if (!d) return;
    dp_nccl_free(d->nccl);
    if (d->stage) d->be->host_free(d->stage);
    free(d);
    g->dev = NULL;
}

void dp_shard_model(Model *m, DpGroup *g) {
    DL_CHECK(g->K % g->size == 0, "data parallelism: %d ranks do not divide %d shards", g->size, g->K);
    if (g->K == 1) return;
    const int S = g->K / g->size;
    if (g->size == 1) {
        model_set_shards(m, g->K, S, 0, shard_comm_local());
        return;
    }
    if (!m->be->on_device) {
        model_set_shards(m, g->K, S, g->rank * S, dp_comm_mpi(g));
        return;
    }
    struct DpDevice *d = g->dev;
    DL_CHECK(d && d->be == m->be, "data parallelism: a model on %s in a group not opened for it (dp_group_open)",
             m->be->name);
    model_set_shards(m, g->K, S, g->rank * S, (ShardComm){dev_allgather, d, dev_allgather_host});
    /* the MPI path's host buffer: the largest gather of this model (the gradients, or a
     * BatchNorm layer's sums), reserved here, not inside a step */
    const size_t grad = (size_t)g->K * m->n_params * sizeof(float), bn = (size_t)g->K * 3 * m->sh.bn_cmax * sizeof(double);
    const size_t need = grad > bn ? grad : bn;
    if (!d->nccl && need > d->stage_bytes) {
        if (d->stage) d->be->host_free(d->stage);
        d->stage = d->be->host_alloc(need);
        d->stage_bytes = need;
    }
}

void dp_chunk_range(const DpGroup *g, int64_t nc, int64_t *c0, int64_t *c1) {
    *c0 = nc * g->rank / g->size;
    *c1 = nc * (g->rank + 1) / g->size;
}

void dp_gather_chunks(const DpGroup *g, float *rows, int64_t n, int64_t chunk, int n_out) {
    if (g->size == 1) return;
    const int64_t nc = (n + chunk - 1) / chunk;
    int *counts = dl_calloc((size_t)g->size, sizeof(int)), *displs = dl_calloc((size_t)g->size, sizeof(int));
    for (int r = 0; r < g->size; r++) {
        DpGroup o = *g;
        o.rank = r;
        int64_t c0, c1;
        dp_chunk_range(&o, nc, &c0, &c1);
        int64_t a = c0 * chunk, b = c1 * chunk < n ? c1 * chunk : n;
        if (b < a) b = a;
        DL_CHECK((b - a) * n_out <= INT_MAX && a * n_out <= INT_MAX, "data parallelism: %lld rows in one gather",
                 (long long)n);
        counts[r] = (int)((b - a) * n_out);
        displs[r] = (int)(a * n_out);
    }
    int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, rows, counts, displs, MPI_FLOAT, g->comm);
    DL_CHECK(rc == MPI_SUCCESS, "data parallelism: MPI_Allgatherv failed (%d)", rc);
    free(counts);
    free(displs);
}

int dp_any(const DpGroup *g, int flag) {
    if (!g || g->size == 1) return flag != 0;
    int in = flag != 0, out = 0;
    MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, g->comm);
    return out;
}
