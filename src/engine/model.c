/* model.c: arenas, the state_dict table, initialisation and the optimizer
 * verbs shared by every model. Model-specific graphs live in deeplob.c etc. */
#include "model_impl.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rng.h"
#include "../common/util.h"

#define MAX_ENTRIES 512

static const ModelOps *model_ops(ModelKind k) {
    static const ModelOps *ops[MODEL_KIND_COUNT] = {&deeplob_ops, &deeplob_tcn_ops, &deeplob_hier_ops, &mmf_lstm_ops};
    return (k >= 0 && k < MODEL_KIND_COUNT) ? ops[k] : NULL;
}

static const char *kind_names[MODEL_KIND_COUNT] = {"deeplob", "deeplob_tcn", "deeplob_hier", "mmf_lstm"};

const char *model_kind_name(ModelKind k) { return (k >= 0 && k < MODEL_KIND_COUNT) ? kind_names[k] : "?"; }

int model_kind_parse(const char *s, ModelKind *out) {
    for (int k = 0; k < MODEL_KIND_COUNT; k++)
        if (!strcmp(s, kind_names[k]) && model_ops((ModelKind)k)) { *out = (ModelKind)k; return 0; }
    return -1;
}

ModelConfig model_default_config(ModelKind kind) {
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.seq_len = 100;
    c.n_features = 40;
    c.dropout = 0.3f;
    c.bn_momentum = 0.1f;
    c.bn_eps = 1e-5f;
    c.slope = 0.01f;
    c.huber_delta = 1.0f;
    c.head_w[0] = kind == MODEL_DEEPLOB_HIER ? 0.5f : 1.0f;
    c.head_w[1] = 0.5f;
    c.adam_beta1 = 0.9f;
    c.adam_beta2 = 0.999f;
    c.adam_eps = 1e-8f;
    if (kind == MODEL_MMF_LSTM) { /* mmf.md: episodes of 128 bars, 32 warm-up steps */
        c.seq_len = 128;
        c.n_features = 16;
        c.dropout = 0.0f;
        c.warmup = 32;
    }
    return c;
}

/* ---- layout ---------------------------------------------------------------------- */

static ParamEntry *new_entry(Layout *L, const char *name, int ndim, const int *shape, PTKind kind) {
    DL_CHECK(L->n_entries < MAX_ENTRIES, "too many state_dict entries");
    ParamEntry *e = &L->m->entries[L->n_entries++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->ndim = ndim;
    e->numel = 1;
    for (int i = 0; i < ndim; i++) { e->shape[i] = shape[i]; e->numel *= (size_t)shape[i]; }
    e->kind = kind;
    return e;
}

float *decl_param(Layout *L, const char *name, int ndim, const int *shape, PTKind kind, int init,
                  int fan_in, float **grad) {
    ParamEntry *e = new_entry(L, name, ndim, shape, kind);
    size_t off = L->params.used;
    e->data = bump_take(&L->params, e->numel);
    e->trainable = 1;
    e->init = init;
    e->fan_in = fan_in;
    e->grad = L->measuring ? NULL : L->m->grads + off;
    e->host = L->measuring ? NULL : L->m->host_params + off;
    if (grad) *grad = e->grad;
    return e->data;
}

float *decl_buffer(Layout *L, const char *name, int n, int init) {
    ParamEntry *e = new_entry(L, name, 1, &n, PT_PLAIN);
    size_t off = L->buffers.used;
    e->data = bump_take(&L->buffers, (size_t)n);
    e->host = L->measuring ? NULL : L->m->host_buffers + off;
    e->init = init;
    return e->data;
}

int64_t *decl_counter(Layout *L, const char *name) {
    ParamEntry *e = new_entry(L, name, 0, NULL, PT_COUNTER);
    int i = L->n_counters++;
    e->counter = L->measuring ? NULL : &L->m->counters[i];
    return e->counter;
}

float *decl_act(Layout *L, size_t n) { return bump_take(&L->acts, n); }

Model *model_create(ModelConfig cfg, int max_batch, const Backend *be) {
    const ModelOps *ops = model_ops(cfg.kind);
    DL_CHECK(ops, "model kind %d is not available", (int)cfg.kind);
    DL_CHECK(max_batch >= 1, "max_batch must be >= 1");
    DL_CHECK(cfg.kind == MODEL_MMF_LSTM || cfg.seq_len >= 13, "seq_len %d too short: the CNN front end consumes 12 steps", cfg.seq_len);
    Model *m = dl_calloc(1, sizeof *m);
    m->cfg = cfg;
    m->be = be;
    m->max_batch = max_batch;
    m->n_out = ops->n_out;
    m->entries = dl_calloc(MAX_ENTRIES, sizeof(ParamEntry));
    m->impl = NULL;
    m->sh.K = m->sh.S = 1;

    /* pass 1: measure */
    Layout L;
    memset(&L, 0, sizeof L);
    L.m = m;
    L.measuring = 1;
    L.threads = omp_get_max_threads() > omp_get_num_procs() ? omp_get_max_threads() : omp_get_num_procs();
    if (backend_cpu_threads() > L.threads) L.threads = backend_cpu_threads();
    ops->layout(&L);
    m->n_params = L.params.used;
    m->n_buffers = L.buffers.used;
    m->n_acts = L.acts.used;
    m->n_counters = L.n_counters;
    m->n_scratch = L.scratch_need > (size_t)3 * max_batch ? L.scratch_need : (size_t)3 * max_batch;
    m->n_masks = L.mask_used;
    m->scratch_threads = L.threads;

    /* the arenas where the backend computes (device memory under a device backend:
     * these are all of its allocations; nothing is allocated inside a step) */
    const size_t n_io = (size_t)max_batch * m->n_out;
    m->params = be->mem_alloc(m->n_params * sizeof(float));
    m->grads = be->mem_alloc(m->n_params * sizeof(float));
    m->adam_m = be->mem_alloc(m->n_params * sizeof(float));
    m->adam_v = be->mem_alloc(m->n_params * sizeof(float));
    m->buffers = be->mem_alloc(m->n_buffers * sizeof(float));
    m->counters = dl_calloc((size_t)(m->n_counters ? m->n_counters : 1), sizeof(int64_t)); /* host: counted there */
    m->acts = be->mem_alloc(m->n_acts * sizeof(float));
    m->scratch = be->mem_alloc(m->n_scratch * sizeof(float));
    m->masks = be->mem_alloc(m->n_masks ? m->n_masks : 64);
    m->out = be->mem_alloc(n_io * sizeof(float));
    m->dout = be->mem_alloc(n_io * sizeof(float));
    if (be->on_device) {
        m->host_params = dl_aligned_alloc(m->n_params * sizeof(float));
        m->host_buffers = dl_aligned_alloc(m->n_buffers * sizeof(float));
        m->host_adam_m = dl_aligned_alloc(m->n_params * sizeof(float));
        m->host_adam_v = dl_aligned_alloc(m->n_params * sizeof(float));
        m->host_out = dl_aligned_alloc(n_io * sizeof(float));
        m->host_dout = dl_aligned_alloc(n_io * sizeof(float));
        const size_t nx = (size_t)max_batch * cfg.seq_len * cfg.n_features;
        for (int k = 0; k < 2; k++) {
            m->x_stage[k] = be->mem_alloc(nx * sizeof(float));
            m->y_stage[k] = be->mem_alloc(n_io * sizeof(float));
        }
        /* defined contents everywhere (a device allocation is not zeroed) */
        memset(m->host_params, 0, m->n_params * sizeof(float));
        memset(m->host_buffers, 0, m->n_buffers * sizeof(float));
        memset(m->host_adam_m, 0, m->n_params * sizeof(float));
        memset(m->host_adam_v, 0, m->n_params * sizeof(float));
        memset(m->host_out, 0, n_io * sizeof(float));
        memset(m->host_dout, 0, n_io * sizeof(float));
        model_sync_device(m);
        be->mem_zero(m->grads, m->n_params * sizeof(float));
        be->mem_zero(m->out, n_io * sizeof(float));
        be->mem_zero(m->dout, n_io * sizeof(float));
        be->mem_zero(m->acts, m->n_acts * sizeof(float));
        be->mem_zero(m->scratch, m->n_scratch * sizeof(float));
    } else {
        m->host_params = m->params;
        m->host_buffers = m->buffers;
        m->host_adam_m = m->adam_m;
        m->host_adam_v = m->adam_v;
        m->host_out = m->out;
        m->host_dout = m->dout;
    }

    /* pass 2: point into the arenas (the model sizes its scratch and masks here) */
    memset(&L, 0, sizeof L);
    L.m = m;
    L.params.base = m->params;
    L.buffers.base = m->buffers;
    L.acts.base = m->acts;
    L.mask_base = m->masks;
    L.threads = m->scratch_threads;
    ops->layout(&L);
    m->n_entries = L.n_entries;
    DL_CHECK(L.params.used == m->n_params && L.acts.used == m->n_acts, "layout passes disagree");
    return m;
}

/* the shard arenas (model_set_shards) */
static void shards_free(Model *m) {
    Shards *sh = &m->sh;
    const Backend *be = m->be;
    if (sh->bn_all != sh->bn_mine) be->mem_free(sh->bn_all);
    be->mem_free(sh->grads_extra); be->mem_free(sh->gather); be->mem_free(sh->bn_mine); be->mem_free(sh->kgw);
    sh->grads_extra = sh->gather = sh->kgw = NULL;
    sh->bn_mine = sh->bn_all = NULL;
}

void model_free(Model *m) {
    if (!m) return;
    const Backend *be = m->be;
    be->mem_free(m->params); be->mem_free(m->grads); be->mem_free(m->adam_m); be->mem_free(m->adam_v);
    be->mem_free(m->buffers); be->mem_free(m->acts); be->mem_free(m->scratch); be->mem_free(m->masks);
    be->mem_free(m->out); be->mem_free(m->dout);
    if (be->on_device) {
        free(m->host_params); free(m->host_buffers); free(m->host_adam_m); free(m->host_adam_v);
        free(m->host_out); free(m->host_dout);
        for (int k = 0; k < 2; k++) { be->mem_free(m->x_stage[k]); be->mem_free(m->y_stage[k]); }
    }
    shards_free(m);
    free(m->counters); free(m->entries); free(m->impl);
    free(m);
}

/* ---- host <-> model memory ------------------------------------------------------- */
void model_sync_host(const Model *m) {
    const Backend *be = m->be;
    if (!be->on_device) return;
    be->copy_to_host(m->host_params, m->params, m->n_params * sizeof(float));
    be->copy_to_host(m->host_buffers, m->buffers, m->n_buffers * sizeof(float));
    be->copy_to_host(m->host_adam_m, m->adam_m, m->n_params * sizeof(float));
    be->copy_to_host(m->host_adam_v, m->adam_v, m->n_params * sizeof(float));
}

void model_sync_device(Model *m) {
    const Backend *be = m->be;
    if (!be->on_device) return;
    be->copy_to_device(m->params, m->host_params, m->n_params * sizeof(float));
    be->copy_to_device(m->buffers, m->host_buffers, m->n_buffers * sizeof(float));
    be->copy_to_device(m->adam_m, m->host_adam_m, m->n_params * sizeof(float));
    be->copy_to_device(m->adam_v, m->host_adam_v, m->n_params * sizeof(float));
}

void model_read_out(const Model *m, float *dst, int B) {
    DL_CHECK(B >= 0 && B <= m->max_batch, "model_read_out: batch %d outside 0..%d", B, m->max_batch);
    m->be->copy_to_host(dst, m->out, (size_t)B * m->n_out * sizeof(float));
}

/* ---- initialisation (PyTorch defaults; values from our own counter RNG) ------------ */
void model_init_params(Model *m, uint64_t seed) {
    for (int k = 0; k < m->n_entries; k++) {
        ParamEntry *e = &m->entries[k];
        if (e->kind == PT_COUNTER) { *e->counter = 0; continue; }
        uint64_t key = dl_key(seed, dl_hash_str(e->name));
        for (size_t i = 0; i < e->numel; i++) {
            float v;
            switch (e->init) {
            case INIT_UNIFORM_FAN_IN: {
                double bound = 1.0 / sqrt((double)e->fan_in);
                v = (float)((2.0 * dl_rand_uniform_d(key, i) - 1.0) * bound);
                break;
            }
            case INIT_UNIFORM_HIDDEN: {
                double bound = 1.0 / sqrt((double)e->fan_in);
                v = (float)((2.0 * dl_rand_uniform_d(key, i) - 1.0) * bound);
                break;
            }
            case INIT_KAIMING_NORMAL: v = (float)(sqrt(2.0 / e->fan_in) * dl_rand_normal(key, i)); break;
            case INIT_ONES: v = 1.0f; break;
            default: v = 0.0f; break;
            }
            e->host[i] = v;
        }
    }
    memset(m->host_adam_m, 0, m->n_params * sizeof(float));
    memset(m->host_adam_v, 0, m->n_params * sizeof(float));
    m->adam_t = 0;
    model_sync_device(m);
}

/* ---- the verbs -------------------------------------------------------------------- */
void model_forward(Model *m, const float *x, int B, int training, uint64_t dropout_key) {
    DL_CHECK(B >= 1 && B <= m->max_batch, "batch %d outside 1..%d", B, m->max_batch);
    DL_CHECK(backend_cpu_threads() <= m->scratch_threads,
             "%d threads but the model's scratch was sized for %d: create the model after setting threads",
             backend_cpu_threads(), m->scratch_threads);
    if (m->be->on_device) { /* upload into the other slot: the last batch's backward may still read its own */
        m->stage_slot ^= 1;
        m->be->upload_input(m->x_stage[m->stage_slot], x,
                            (size_t)B * m->cfg.seq_len * m->cfg.n_features * sizeof(float), m->stage_slot);
        x = m->x_stage[m->stage_slot];
    }
    model_ops(m->cfg.kind)->forward(m, x, B, training, dropout_key);
    if (m->be->on_device) m->be->input_release(m->stage_slot);
    m->last_B = B;
    m->last_training = training;
}

/* Huber of head h over rows [r0, r0 + n) with weight w (dpred into m->dout) */
static float head_loss(Model *m, const float *y, int r0, int n, int h, float w) {
    const int no = m->n_out;
    if (no == 1) return m->be->huber_loss(m->dout + r0, m->out + r0, y + r0, n, m->cfg.huber_delta, w);
    /* several heads: outputs are interleaved (B, no); Huber on the strided column via
     * a small gather (3n floats of scratch, copy_rows with C = 1) */
    float *pred = m->scratch, *tgt = m->scratch + n, *g = m->scratch + 2 * (size_t)n;
    const Backend *be = m->be; /* copy_rows with C = 1: on the device too */
    be->copy_rows(pred, m->out + (size_t)r0 * no + h, n, 1, 1, no, 0);
    be->copy_rows(tgt, y + (size_t)r0 * no + h, n, 1, 1, no, 0);
    float l = be->huber_loss(g, pred, tgt, n, m->cfg.huber_delta, w);
    be->copy_rows(m->dout + (size_t)r0 * no + h, g, n, 1, no, 1, 0);
    return l;
}

float model_loss(Model *m, const float *y, int B) {
    DL_CHECK(B == m->last_B, "model_loss: batch %d differs from the last forward (%d)", B, m->last_B);
    const int n = m->n_out;
    const Backend *be = m->be;
    if (m->cfg.kind == MODEL_MMF_LSTM) return mmf_lstm_loss(m, y, B); /* y: host (its loss runs there) */
    if (be->on_device) {
        /* targets use slots 2, 3: their only readers are the loss ops (head_loss) */
        be->upload_input(m->y_stage[m->stage_slot], y, (size_t)B * n * sizeof(float), 2 + m->stage_slot);
        y = m->y_stage[m->stage_slot];
    }
    if (m->sh.K == 1) {
        float loss = 0.0f;
        if (n == 1) loss = head_loss(m, y, 0, B, 0, m->cfg.head_w[0]);
        else
            for (int h = 0; h < n; h++) loss += m->cfg.head_w[h] * head_loss(m, y, 0, B, h, m->cfg.head_w[h]);
        if (be->on_device) be->input_release(2 + m->stage_slot);
        return loss;
    }
    /* sharded: each shard's mean Huber, its gradient weighted 1/K (the global batch's
     * mean); the loss is the K shards' mean, combined in shard order */
    Shards *sh = &m->sh;
    const int S = sh->S, b = B / S;
    DL_CHECK(B % S == 0, "sharded batch %d is not a multiple of %d local shards", B, S);
    for (int s = 0; s < S; s++)
        for (int h = 0; h < n; h++)
            sh->loss_mine[s * n + h] = head_loss(m, y, s * b, b, h, m->cfg.head_w[h] / (float)sh->K);
    /* the losses are host floats (huber_loss returns them): the comm's host gather */
    (sh->comm.allgather_host ? sh->comm.allgather_host : sh->comm.allgather)(sh->comm.ctx, sh->loss_mine, sh->loss_all,
                                                                              sizeof(float) * (size_t)S * n);
    float loss = 0.0f;
    for (int h = 0; h < n; h++) {
        float lh = 0.0f;
        for (int k = 0; k < sh->K; k++) lh += sh->loss_all[k * n + h];
        lh /= (float)sh->K;
        loss += n == 1 ? lh : m->cfg.head_w[h] * lh;
    }
    if (be->on_device) be->input_release(2 + m->stage_slot);
    return loss;
}

void model_zero_grad(Model *m) {
    m->be->mem_zero(m->grads, m->n_params * sizeof(float));
    if (m->sh.S > 1) m->be->mem_zero(m->sh.grads_extra, (size_t)(m->sh.S - 1) * m->n_params * sizeof(float));
}

/* the K shards' gradients summed in shard order into m->grads, on every rank: per
 * element ((g0 + g1) + g2) + ... in float (accumulate is y[i] += a[i] on every backend),
 * so the bits depend on K only. The arenas are the backend's memory (device memory on a GPU) */
static void reduce_shard_grads(Model *m) {
    Shards *sh = &m->sh;
    const Backend *be = m->be;
    const size_t n = m->n_params;
    float *mine = sh->gather + (size_t)sh->first * n;   /* this rank's slot: the gather runs in place */
    be->mem_copy(mine, m->grads, n * sizeof(float));
    if (sh->S > 1) be->mem_copy(mine + n, sh->grads_extra, (size_t)(sh->S - 1) * n * sizeof(float));
    sh->comm.allgather(sh->comm.ctx, mine, sh->gather, (size_t)sh->S * n * sizeof(float));
    be->mem_copy(m->grads, sh->gather, n * sizeof(float));
    for (int k = 1; k < sh->K; k++) be->accumulate(m->grads, sh->gather + (size_t)k * n, n);
}

void model_backward(Model *m, const float *x, int B) {
    DL_CHECK(B == m->last_B && m->last_training, "model_backward needs a training forward of the same batch");
    if (m->be->on_device) x = m->x_stage[m->stage_slot]; /* the forward's upload */
    model_ops(m->cfg.kind)->backward(m, x, B);
    if (m->be->on_device) m->be->input_release(m->stage_slot);
    if (m->sh.K > 1) reduce_shard_grads(m);
}

void model_set_shards(Model *m, int K, int S, int first, ShardComm comm) {
    DL_CHECK(m->cfg.kind != MODEL_MMF_LSTM, "data parallelism: the MMF LSTM is not sharded");
    DL_CHECK(K >= 1 && K <= 1024 && S >= 1 && S <= 64 && K % S == 0 && first >= 0 && first + S <= K && first % S == 0,
             "bad shards: K=%d S=%d first=%d", K, S, first);
    DL_CHECK(comm.allgather != shard_comm_local().allgather || S == K,
             "data parallelism: the local gather needs all %d shards in this process (S = %d)", K, S);
    const Backend *be = m->be;
    Shards *sh = &m->sh;
    shards_free(m);
    memset(sh, 0, sizeof *sh);
    sh->K = K;
    sh->S = S;
    sh->first = first;
    sh->comm = comm;
    if (K == 1) return;
    int cmax = 1;
    for (int k = 0; k < m->n_entries; k++) {
        const char *nm = m->entries[k].name, *dot = strrchr(nm, '.');
        if (dot && !strcmp(dot, ".running_mean") && (int)m->entries[k].numel > cmax) cmax = (int)m->entries[k].numel;
    }
    sh->bn_cmax = cmax;
    /* the backend's memory, as the model's arenas (no allocation inside a step) */
    sh->grads_extra = S > 1 ? be->mem_alloc((size_t)(S - 1) * m->n_params * sizeof(float)) : NULL;
    sh->gather = be->mem_alloc((size_t)K * m->n_params * sizeof(float));
    sh->bn_mine = be->mem_alloc(sizeof(double) * 3 * (size_t)cmax * S);
    /* one process holding every shard: its sums are all the sums (the gather is a no-op) */
    sh->bn_all = S == K ? sh->bn_mine : be->mem_alloc(sizeof(double) * 3 * (size_t)cmax * K);
    sh->kgw = be->mem_alloc(sizeof(float) * 3 * (size_t)cmax);
    model_zero_grad(m);
}

/* torch.nn.utils.clip_grad_norm_ (1.13): coef = max/(norm+1e-6), clamped to 1 */
double model_clip_grad(Model *m, float max_norm) {
    double norm = sqrt(m->be->sumsq(m->grads, m->n_params));
    if (max_norm > 0) {
        double coef = (double)max_norm / (norm + 1e-6);
        if (coef < 1.0) m->be->scale(m->grads, m->n_params, (float)coef);
    }
    return norm;
}

void model_adam_step(Model *m, float lr) {
    m->adam_t++;
    m->be->adam_update(m->params, m->grads, m->adam_m, m->adam_v, m->n_params, lr, m->cfg.adam_beta1, m->cfg.adam_beta2,
                       m->cfg.adam_eps, m->cfg.weight_decay, m->adam_t);
}

size_t model_count_params(const Model *m) {
    size_t n = 0;
    for (int k = 0; k < m->n_entries; k++)
        if (m->entries[k].trainable) n += m->entries[k].numel;
    return n;
}

double model_flops_per_sample(const Model *m) { return model_ops(m->cfg.kind)->flops(m); }

ParamEntry *model_find(Model *m, const char *name) {
    for (int k = 0; k < m->n_entries; k++)
        if (!strcmp(m->entries[k].name, name)) return &m->entries[k];
    return NULL;
}

void model_print_table(const Model *m, FILE *f) {
    fprintf(f, "model %s: seq_len %d, features %d, outputs %d\n", model_kind_name(m->cfg.kind),
            m->cfg.seq_len, m->cfg.n_features, m->n_out);
    fprintf(f, "%-42s %-18s %10s %s\n", "state_dict name", "shape", "numel", "kind");
    for (int k = 0; k < m->n_entries; k++) {
        const ParamEntry *e = &m->entries[k];
        char shp[64] = "(";
        for (int i = 0; i < e->ndim; i++) {
            char t[16];
            snprintf(t, sizeof t, i ? ", %d" : "%d", e->shape[i]);
            strcat(shp, t);
        }
        strcat(shp, e->ndim == 1 ? ",)" : ")");
        fprintf(f, "%-42s %-18s %10zu %s\n", e->name, shp, e->kind == PT_COUNTER ? (size_t)1 : e->numel,
                e->trainable ? "param" : (e->kind == PT_COUNTER ? "counter (int64)" : "buffer"));
    }
    fprintf(f, "trainable parameters: %zu\n", model_count_params(m));
    fprintf(f, "forward FLOPs per sample: %.1f M (training step ~3x)\n", model_flops_per_sample(m) / 1e6);
}
