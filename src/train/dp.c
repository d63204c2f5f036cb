/* dp.c: the MPI side of data parallelism (dp.h). */
#include "train/dp.h"

#include <limits.h>
#include <stdlib.h>

#include "common/util.h"

static void mpi_allgather(void *ctx, const void *mine, void *all, size_t bytes) {
    DpGroup *g = ctx;
    DL_CHECK(bytes <= INT_MAX, "data parallelism: %zu bytes per rank in one gather", bytes);
    const void *send = (const char *)all + (size_t)g->rank * bytes == (const char *)mine ? MPI_IN_PLACE : mine;
    int rc = MPI_Allgather(send, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, g->comm);
    DL_CHECK(rc == MPI_SUCCESS, "data parallelism: MPI_Allgather failed (%d)", rc);
}

ShardComm dp_comm_mpi(DpGroup *g) { return (ShardComm){mpi_allgather, g}; }

void dp_shard_model(Model *m, DpGroup *g) {
    DL_CHECK(g->K % g->size == 0, "data parallelism: %d ranks do not divide %d shards", g->size, g->K);
    if (g->K == 1) return;
    const int S = g->K / g->size;
    model_set_shards(m, g->K, S, g->rank * S, g->size == 1 ? shard_comm_local() : dp_comm_mpi(g));
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
