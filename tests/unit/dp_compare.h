/* dp_compare.h: data-parallel (sharded) training steps of a model on one backend, with
 * the global batch's K shards spread over R = K/S "ranks" that are threads of this
 * process (test_gpu_seq: the emulated GPU backend; test_cuda_backend: the CUDA one).
 *
 * The ranks gather through a host staging buffer (be->copy_to_host / copy_to_device, as
 * the MPI path of train/dp.c does) and take turns: a rank holds a baton while it runs and
 * lets go only inside a gather, so no two threads ever call the backend at once (the
 * CUDA backend's handles and descriptors are process-wide, and the legacy stream keeps
 * every rank's work in order).
 *
 * dp_compare(name, other, K, S):
 *   1. K shards in one process on the CPU backend and on `other`, no dropout: training
 *      outputs, loss, the reduced gradient (test_parity's rules, model_compare.h), BN
 *      buffers after step 1, then the losses, gradient norms and state after DPC_STEPS
 *      steps (Adam, clipping) within model_compare's tolerances;
 *   2. on `other`, with dropout (each shard's mask from its global index): K shards in
 *      one process against the same K shards on K/S ranks of S: the same bits (outputs,
 *      losses, norms, gradients, parameters, buffers, and eval outputs of the whole batch
 *      in batches of one shard's size, as evaluate_dp's fixed batches), on every rank.
 * The models run on the parity fixtures' inputs and weights (model_compare.h): the
 * fixtures' batch (4) must be a multiple of K. */
#ifndef DL_DP_COMPARE_H
#define DL_DP_COMPARE_H

#include <pthread.h>

#include "common/rng.h"
#include "model_compare.h"

#define DPC_STEPS 2
#define DPC_MAX_RANKS 8

typedef struct {
    McState first;           /* after step 1: train outputs (global batch), reduced gradient, params, buffers */
    McState end;             /* after DPC_STEPS steps: eval outputs (global batch), params, buffers */
    float loss[DPC_STEPS];
    double norm[DPC_STEPS];
    int B, n_out;
} DpcRun;

/* ---- the ranks' gather: a host staging buffer per round parity ---- */
typedef struct {
    int R;
    const Backend *be;
    pthread_mutex_t mu; /* the baton */
    pthread_cond_t cv;
    long done;          /* rounds completed */
    int arrived[2];
    unsigned char *stage[2];
    size_t cap[2];
} DpcGroup;

typedef struct {
    DpcGroup *g;
    int rank;
    long round;
} DpcRank;

/* called with the baton held; returns with it held */
static void dpc_gather(DpcRank *me, const void *mine, void *all, size_t bytes, int host) {
    DpcGroup *g = me->g;
    const int p = (int)(me->round & 1);
    if (g->arrived[p] == 0 && (size_t)g->R * bytes > g->cap[p]) { /* a round's blocks all have `bytes` */
        free(g->stage[p]);
        g->cap[p] = (size_t)g->R * bytes;
        g->stage[p] = (unsigned char *)malloc(g->cap[p]);
    }
    unsigned char *slot = g->stage[p] + (size_t)me->rank * bytes;
    if (host) memcpy(slot, mine, bytes);
    else g->be->copy_to_host(slot, mine, bytes);
    if (++g->arrived[p] == g->R) {
        g->arrived[p] = 0;
        g->done = me->round + 1;
        pthread_cond_broadcast(&g->cv);
    }
    while (g->done <= me->round) pthread_cond_wait(&g->cv, &g->mu); /* lets the others run */
    /* round r's buffer is rewritten in round r + 2 only, after every rank left round r */
    if (host) memcpy(all, g->stage[p], (size_t)g->R * bytes);
    else g->be->copy_to_device(all, g->stage[p], (size_t)g->R * bytes);
    me->round++;
}
static void dpc_gather_dev(void *ctx, const void *mine, void *all, size_t bytes) { dpc_gather((DpcRank *)ctx, mine, all, bytes, 0); }
static void dpc_gather_host(void *ctx, const void *mine, void *all, size_t bytes) { dpc_gather((DpcRank *)ctx, mine, all, bytes, 1); }

/* one rank's run */
typedef struct {
    DpcRank me;
    const char *name;
    const Backend *be;
    int K, S;
    float dropout;
    DpcRun *out;      /* rank 0 fills out->loss/norm and its state; every rank its outputs' rows */
    McState first, end;
} DpcJob;

static void *dpc_rank_main(void *arg) {
    DpcJob *j = (DpcJob *)arg;
    DpcGroup *g = j->me.g;
    if (g) {
        pthread_mutex_lock(&g->mu);
        backend_cpu_set_threads(backend_cpu_threads()); /* this thread's OpenMP setting */
    }
    McData d;
    ModelConfig cfg = mc_setup(j->name, &d);
    cfg.dropout = j->dropout;
    const int R = j->K / j->S, Bl = d.B / R;
    /* max_batch: the global batch whatever S, as the trainer's is (the CUDA backend's
     * convolution workspace budgets per shape come from the models' largest batch) */
    Model *m = model_create(cfg, d.B, j->be);
    mc_inputs(&d, m);
    mc_init_weights(m, &d);
    const ShardComm comm = g ? (ShardComm){dpc_gather_dev, &j->me, dpc_gather_host} : shard_comm_local();
    model_set_shards(m, j->K, j->S, j->me.rank * j->S, comm);
    const size_t fx = (size_t)cfg.seq_len * cfg.n_features, r0 = (size_t)j->me.rank * Bl;
    const float *x = d.x + r0 * fx, *y = d.y + r0 * m->n_out;
    for (int s = 0; s < DPC_STEPS; s++) {
        model_forward(m, x, Bl, 1, dl_key(77, (uint64_t)s));
        const float l = model_loss(m, y, Bl);
        model_zero_grad(m);
        model_backward(m, x, Bl);
        if (s == 0) mc_read(m, &j->first, Bl);
        const double nrm = model_clip_grad(m, d.clip);
        model_adam_step(m, d.lr);
        if (j->me.rank == 0) {
            j->out->loss[s] = l;
            j->out->norm[s] = nrm;
        }
    }
    /* eval: the whole global batch in batches of one shard's size, on every rank (a device
     * backend's eval bits may depend on the batch size: evaluate_dp fixes the batches) */
    const int b = d.B / j->K;
    mc_read(m, &j->end, b);
    j->end.out = (float *)realloc(j->end.out, ((size_t)d.B * m->n_out + 1) * sizeof(float));
    for (int c = 0; c < j->K; c++) {
        model_forward(m, d.x + (size_t)c * b * fx, b, 0, 0);
        model_read_out(m, j->end.out + (size_t)c * b * m->n_out, b);
    }
    model_free(m);
    mc_data_free(&d);
    if (g) pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* K shards on K/S ranks (threads) of S each; out: rank 0's state, the global batch's
 * outputs; every rank's gradient and parameters must equal rank 0's (checked here) */
static void dpc_run(const char *name, const Backend *be, int K, int S, float dropout, DpcRun *out) {
    const int R = K / S;
    CHECK(R >= 1 && R <= DPC_MAX_RANKS && K % S == 0, "dpc_run: K=%d S=%d", K, S);
    memset(out, 0, sizeof *out);
    DpcJob jobs[DPC_MAX_RANKS];
    memset(jobs, 0, sizeof jobs);
    DpcGroup grp;
    memset(&grp, 0, sizeof grp);
    grp.R = R;
    grp.be = be;
    pthread_mutex_init(&grp.mu, NULL);
    pthread_cond_init(&grp.cv, NULL);
    for (int r = 0; r < R; r++)
        jobs[r] = (DpcJob){{R > 1 ? &grp : NULL, r, 0}, name, be, K, S, dropout, out, {0}, {0}};
    if (R == 1) {
        dpc_rank_main(&jobs[0]);
    } else {
        pthread_t th[DPC_MAX_RANKS];
        int bad = 0; /* counted after the joins: the ranks count their own checks */
        for (int r = 0; r < R; r++) bad |= pthread_create(&th[r], NULL, dpc_rank_main, &jobs[r]) != 0;
        if (bad) {
            fprintf(stderr, "dpc_run: pthread_create failed\n");
            exit(2);
        }
        for (int r = 0; r < R; r++) pthread_join(th[r], NULL);
    }
    /* the global batch's outputs from every rank's rows; the rest is rank 0's */
    McData d;
    ModelConfig cfg = mc_setup(name, &d);
    Model *probe = model_create(cfg, 1, backend_cpu());
    const int n_out = probe->n_out, Bl = d.B / R;
    const size_t np = probe->n_params, nb = probe->n_buffers;
    model_free(probe);
    if (d.f >= 0) H5Fclose(d.f);
    out->B = d.B;
    out->n_out = n_out;
    out->first = jobs[0].first;
    out->end = jobs[0].end;
    out->first.out = (float *)malloc(((size_t)d.B * n_out + 1) * sizeof(float));
    for (int r = 0; r < R; r++) {
        memcpy(out->first.out + (size_t)r * Bl * n_out, jobs[r].first.out, (size_t)Bl * n_out * sizeof(float));
        free(jobs[r].first.out);
        jobs[r].first.out = NULL;
        if (r == 0) continue;
        CHECK(!memcmp(jobs[r].first.grads, out->first.grads, np * sizeof(float)) &&
                  !memcmp(jobs[r].end.params, out->end.params, np * sizeof(float)) &&
                  !memcmp(jobs[r].end.buffers, out->end.buffers, nb * sizeof(float)) &&
                  !memcmp(jobs[r].end.out, out->end.out, (size_t)d.B * n_out * sizeof(float)),
              "%s on %s, K=%d S=%d: rank %d's gradient, parameters, buffers or eval outputs differ from rank 0's", name,
              be->name, K, S, r);
        mc_free(&jobs[r].first);
        mc_free(&jobs[r].end);
    }
    pthread_mutex_destroy(&grp.mu);
    pthread_cond_destroy(&grp.cv);
    free(grp.stage[0]);
    free(grp.stage[1]);
    free(d.x);
    free(d.y);
}

static void dpc_free(DpcRun *r) {
    mc_free(&r->first);
    mc_free(&r->end);
}

/* identical bits; diff (n bytes) lists what differs */
static int dpc_same(const DpcRun *a, const DpcRun *b, size_t np, size_t nb, char *diff, size_t n) {
    const size_t no = (size_t)a->B * a->n_out * sizeof(float);
    const int d[8] = {memcmp(a->first.out, b->first.out, no), memcmp(a->loss, b->loss, sizeof a->loss),
                      memcmp(a->first.grads, b->first.grads, np * sizeof(float)),
                      memcmp(a->first.buffers, b->first.buffers, nb * sizeof(float)),
                      memcmp(a->norm, b->norm, sizeof a->norm), memcmp(a->end.params, b->end.params, np * sizeof(float)),
                      memcmp(a->end.buffers, b->end.buffers, nb * sizeof(float)), memcmp(a->end.out, b->end.out, no)};
    static const char *names[8] = {"train outputs", "losses", "gradient", "BN buffers", "gradient norms",
                                   "parameters after the steps", "buffers after the steps", "eval outputs"};
    int same = 1;
    diff[0] = 0;
    for (int i = 0; i < 8; i++)
        if (d[i]) {
            same = 0;
            snprintf(diff + strlen(diff), n - strlen(diff), "%s%s", strlen(diff) ? ", " : "", names[i]);
        }
    return same;
}

/* returns the number of failed checks it added */
static int dp_compare(const char *name, const Backend *other, int K, int S) {
    const int fails0 = gc_failures;
    McData d;
    ModelConfig cfg = mc_setup(name, &d);
    Model *lay = model_create(cfg, d.B, backend_cpu()); /* the layout, for per-entry checks */
    const size_t np = lay->n_params, nb = lay->n_buffers;
    char what[200];
    if (d.B % K != 0) {
        CHECK(0, "%s: the fixture's batch %d is not a multiple of K = %d", name, d.B, K);
    } else {
        /* 1. other vs CPU, K shards in one process, no dropout */
        DpcRun c, o;
        dpc_run(name, backend_cpu(), K, K, 0.0f, &c);
        dpc_run(name, other, K, K, 0.0f, &o);
        snprintf(what, sizeof what, "%s (K=%d)", name, K);
        const size_t no = (size_t)d.B * lay->n_out;
        mc_check(what, "train out", gc_rel_err(o.first.out, c.first.out, no, 1e-3), 2e-5);
        const double worst_g = mc_check_grads_buffers(what, &d, lay, &o.first, &c.first);
        double worst = 0;
        for (int s = 0; s < DPC_STEPS; s++) {
            char lab[64];
            snprintf(lab, sizeof lab, "step %d loss", s + 1);
            mc_check(what, lab, fabs((double)o.loss[s] - c.loss[s]) / fmax(fabs((double)c.loss[s]), 1e-6), 5e-5);
            snprintf(lab, sizeof lab, "step %d grad norm", s + 1);
            mc_check(what, lab, fabs(o.norm[s] - c.norm[s]) / fmax(c.norm[s], 1e-12), 1e-4);
        }
        for (int k = 0; k < lay->n_entries; k++) {
            const ParamEntry *p = &lay->entries[k];
            if (p->kind == PT_COUNTER) continue;
            const double err = mc_entry_err(p, lay, p->trainable ? o.end.params : o.end.buffers,
                                            p->trainable ? c.end.params : c.end.buffers, 0, 1e-2);
            char lab[128];
            snprintf(lab, sizeof lab, "after %d steps %s", DPC_STEPS, p->name);
            mc_check(what, lab, err, 1e-4);
            if (err > worst) worst = err;
        }
        mc_check(what, "eval out after the steps", gc_rel_err(o.end.out, c.end.out, no, 1e-3), 1e-4);
        printf("%-13s sharded K=%d on %s vs cpu: worst gradient rel err %.2e, state after %d steps %.2e\n", name, K,
               other->name, worst_g, DPC_STEPS, worst);
        dpc_free(&c);
        dpc_free(&o);
        /* 2. on other, with dropout: K shards in one process vs on K/S ranks */
        DpcRun a, b;
        dpc_run(name, other, K, K, 0.3f, &a);
        dpc_run(name, other, K, S, 0.3f, &b);
        char diff[256];
        const int same = dpc_same(&a, &b, np, nb, diff, sizeof diff);
        CHECK(same, "%s on %s: K=%d with dropout: %d ranks of %d shards differ from 1 rank of %d: %s", name,
              other->name, K, K / S, S, K, diff);
        printf("%-13s sharded K=%d on %s with dropout: 1 rank of %d vs %d ranks of %d: %s\n", name, K, other->name, K,
               K / S, S, same ? "bit-identical" : "DIFFER");
        dpc_free(&a);
        dpc_free(&b);
    }
    model_free(lay);
    mc_data_free(&d);
    return gc_failures - fails0;
}

#endif
