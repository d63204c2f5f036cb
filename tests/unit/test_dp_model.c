/* test_dp_model.c: data-parallel steps of every DeepLOB model (dp.h).
 *
 * Run as one process (ctest): K = 6 shards on one rank against the plain step (K = 1)
 * on the same global batch without dropout: gradients, BN statistics and losses agree
 * to float rounding (the sums are only grouped differently), so the sharded path
 * computes the global batch's step. Also the 1-rank sharded digest is printed.
 * Under mpirun -np G (tests/sh/test_dp_shards.sh, G = 1, 2, 3): each rank computes
 * K/G of the K = 6 shards; rank 0 prints a digest of parameters, gradients, BN
 * buffers and losses after 3 steps with dropout, which must be the same for every G.
 * DEEPLOB_DP_DEVICE=cuda: the same on the CUDA backend (each rank binds GPU local rank mod
 * GPUs; the group's gathers as training sets them up, dp_group_open); scripts/gpu_check.sh
 * compares the digests of 1 and 2 ranks. Without a usable GPU it says so and exits 77. */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "common/util.h"
#include "engine/device.h"
#include "engine/model.h"
#include "gradcheck.h"
#include "train/dp.h"
#include "train/symbol_sched.h"

static const Backend *g_be; /* the CPU backend, or CUDA (DEEPLOB_DP_DEVICE=cuda) */

#define K_SHARDS 6
#define B_SHARD 3
#define BGLOB (K_SHARDS * B_SHARD)
#define STEPS 3

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

/* STEPS training steps on this rank's part of the global batch; grads/params/buffers
 * and losses out (rank-replicated) */
static uint64_t run(ModelKind kind, DpGroup *g, int K, float dropout, float *grads_out, float *loss_out,
                    size_t *np_out) {
    ModelConfig cfg = model_default_config(kind);
    cfg.dropout = dropout;
    const int S = K / g->size, Bl = S * (BGLOB / K);
    Model *m = model_create(cfg, Bl, g_be);
    model_init_params(m, 99);
    DpGroup gg = *g;
    gg.K = K;
    dp_shard_model(m, &gg);
    const size_t fx = (size_t)cfg.seq_len * cfg.n_features, fy = (size_t)m->n_out;
    float *x = malloc(BGLOB * fx * sizeof(float)), *y = malloc(BGLOB * fy * sizeof(float));
    gc_fill(x, BGLOB * fx, 11, 1.0f);
    gc_fill(y, BGLOB * fy, 12, 2.0f);
    const size_t r0 = (size_t)g->rank * Bl;   /* this rank's samples: shards first..first+S-1 */
    uint64_t h = 1469598103934665603ull;
    for (int s = 0; s < STEPS; s++) {
        model_forward(m, x + r0 * fx, Bl, 1, dl_key(5, (uint64_t)s));
        loss_out[s] = model_loss(m, y + r0 * fy, Bl);
        model_zero_grad(m);
        model_backward(m, x + r0 * fx, Bl);
        if (s == 0 && grads_out) m->be->copy_to_host(grads_out, m->grads, m->n_params * sizeof(float));
        model_clip_grad(m, 1.0f);
        model_adam_step(m, 1e-3f);
        h = fnv(h, &loss_out[s], sizeof(float));
    }
    /* through the host mirrors (the arenas themselves on the CPU) */
    float *grads = malloc(m->n_params * sizeof(float) + 1);
    model_sync_host(m);
    m->be->copy_to_host(grads, m->grads, m->n_params * sizeof(float));
    h = fnv(h, m->host_params, m->n_params * sizeof(float));
    h = fnv(h, grads, m->n_params * sizeof(float));
    h = fnv(h, m->host_buffers, m->n_buffers * sizeof(float));
    h = fnv(h, m->counters, (size_t)m->n_counters * sizeof(int64_t));
    free(grads);
    *np_out = m->n_params;
    free(x);
    free(y);
    model_free(m);
    return h;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    DpGroup g = {MPI_COMM_WORLD, 0, 1, K_SHARDS, NULL};
    MPI_Comm_rank(MPI_COMM_WORLD, &g.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g.size);
    backend_cpu_set_threads(1);
    g_be = backend_cpu();
    const char *dev = getenv("DEEPLOB_DP_DEVICE");
    if (dev && !strcmp(dev, "cuda")) {
        int lr = 0, ls = 1;
        sched_node_layout(MPI_COMM_WORLD, &lr, &ls);
        char desc[400];
        g_be = dl_backend_select(DL_DEVICE_CUDA, lr, 1, desc, sizeof desc);
        int ok = g_be != NULL, all = 0;
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
        if (!all) {
            if (g.rank == 0) printf("SKIP: test_dp_model on cuda: %s\n", ok ? "another rank has no usable GPU" : desc);
            MPI_Finalize();
            return 77;
        }
        printf("[rank %d] %s\n", g.rank, desc);
    }
    char how[320];
    DlErr e;
    if (dp_group_open(&g, g_be, how, sizeof how, &e) != 0) {
        if (g.rank == 0) fprintf(stderr, "FAIL: %s\n", e.msg);
        MPI_Finalize();
        return 1;
    }
    if (g.rank == 0 && g_be->on_device) printf("gathers: %s\n", how);
    const ModelKind kinds[3] = {MODEL_DEEPLOB, MODEL_DEEPLOB_TCN, MODEL_DEEPLOB_HIER};
    for (int k = 0; k < 3; k++) {
        float loss[STEPS];
        size_t np = 0;
        uint64_t h = run(kinds[k], &g, K_SHARDS, 0.3f, NULL, loss, &np);
        if (g.rank == 0)
            printf("dp %s K=%d G=%d digest %016llx losses %.7g %.7g %.7g\n", model_kind_name(kinds[k]), K_SHARDS,
                   g.size, (unsigned long long)h, loss[0], loss[1], loss[2]);
        if (g.size != 1) continue;
        /* one process: sharded (K = 6) against plain (K = 1), no dropout */
        float *g1 = malloc(np * sizeof(float)), *g6 = malloc(np * sizeof(float)), l1[STEPS], l6[STEPS];
        DpGroup one = {MPI_COMM_SELF, 0, 1, 1, NULL};
        run(kinds[k], &one, 1, 0.0f, g1, l1, &np);
        run(kinds[k], &one, K_SHARDS, 0.0f, g6, l6, &np);
        double num = 0, den = 0, worst = 0;
        for (size_t i = 0; i < np; i++) {
            double d = fabs((double)g1[i] - g6[i]);
            num += d * d;
            den += (double)g1[i] * g1[i];
            if (d > worst) worst = d;
        }
        const double rel = sqrt(num / den), lrel = fabs((double)l1[0] - l6[0]) / fabs((double)l1[0]);
        printf("%-13s K=6 vs K=1 (no dropout): gradient rel. L2 diff %.2e (max abs %.2e), step-1 loss rel diff %.2e\n",
               model_kind_name(kinds[k]), rel, worst, lrel);
        /* float32 noise of a regrouped sum over 18 samples is ~1e-7 relative; BN's
         * backward divides by a batch variance, which amplifies it a little. A wrong
         * combination (a missing shard, a wrong shift or weight) moves it to 1e-2..1 */
        CHECK(rel < 1e-5, "%s: sharded gradient differs from the plain step: %.2e", model_kind_name(kinds[k]), rel);
        CHECK(lrel < 1e-6, "%s: sharded loss differs from the plain step: %.2e", model_kind_name(kinds[k]), lrel);
        free(g1);
        free(g6);
    }
    dp_group_close(&g);
    int rc = g.rank == 0 ? gc_summary("test_dp_model") : 0;
    MPI_Finalize();
    return rc;
}
