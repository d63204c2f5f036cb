/* trainer.c: the per-symbol training loop (Huber + Adam + clipping, LR plateau,
 * early stopping, best weights restored, test evaluation). */
#include "train/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/progress.h"
#include "common/rng.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/dp.h"

ModelConfig trainer_model_config(const TrainConfig *cfg) {
    ModelConfig mc = model_default_config(cfg->kind);
    mc.seq_len = cfg->seq_len;
    mc.n_features = LOBDS_NFEAT;
    mc.dropout = (float)cfg->dropout;
    mc.weight_decay = (float)cfg->weight_decay;
    mc.lstm_input_dropout = (float)cfg->lstm_input_dropout;
    mc.huber_delta = (float)cfg->huber_delta;
    return mc;
}

static const Backend *g_backend; /* NULL: the CPU's */
void trainer_set_backend(const Backend *be) { g_backend = be; }
const Backend *trainer_backend(void) { return g_backend ? g_backend : backend_cpu(); }

uint64_t trainer_symbol_key(uint64_t seed, const char *symbol) { return dl_key(seed, dl_hash_str(symbol)); }

const char *symbol_status_name(int status) {
    return status == SYM_OK ? "ok" : status == SYM_DIVERGED ? "diverged" : status == SYM_SKIPPED ? "skipped" : "unknown";
}

void symbol_result_free(SymbolResult *r) {
    free(r->test_time);
    free(r->test_pred);
    free(r->test_target_raw);
    free(r->test_target_smooth);
    free(r->test_pred2);
    free(r->test_target_raw2);
    free(r->test_target_smooth2);
    free(r->history);
    free(r->best_params);
    free(r->best_buffers);
    free(r->best_counters);
    memset(r, 0, sizeof *r);
}

/* the model's memory through its host mirrors (the arenas themselves on the CPU backend) */
static void save_best(SymbolResult *r, const Model *m) {
    model_sync_host(m);
    memcpy(r->best_params, m->host_params, sizeof(float) * m->n_params);
    memcpy(r->best_buffers, m->host_buffers, sizeof(float) * m->n_buffers);
    memcpy(r->best_counters, m->counters, sizeof(int64_t) * (size_t)m->n_counters);
}

static void load_best(Model *m, const SymbolResult *r) {
    model_sync_host(m); /* the Adam moments stay as they are */
    memcpy(m->host_params, r->best_params, sizeof(float) * m->n_params);
    memcpy(m->host_buffers, r->best_buffers, sizeof(float) * m->n_buffers);
    memcpy(m->counters, r->best_counters, sizeof(int64_t) * (size_t)m->n_counters);
    model_sync_device(m);
}

Model *symbol_result_model(const SymbolResult *r, const TrainConfig *cfg) {
    Model *m = model_create(trainer_model_config(cfg), 1, backend_cpu());
    DL_CHECK(m->n_params == r->n_params && m->n_buffers == r->n_buffers && m->n_counters == r->n_counters,
             "symbol %s: stored weights do not match the model layout", r->symbol);
    load_best(m, r);
    return m;
}

/* Working buffers of one symbol's run: allocated once, never inside the loop. */
typedef struct {
    float *x;        /* (max_batch, T, F) */
    float *y;        /* (max_batch, n_y) */
    int64_t *rows;   /* (max_batch) */
    int64_t *perm;   /* (n_train) */
    int max_batch;
} Work;

/* eval-mode pass over a split: mean loss vs ysrc (N, n_y); predictions (in model
 * units) into pred (n, n_out) for sample i when pred != NULL */
static double evaluate(Model *m, Work *w, const SymbolData *d, int split, const float *ysrc, float *pred) {
    const int64_t n = d->n[split];
    double sum = 0;
    for (int64_t i0 = 0; i0 < n; i0 += w->max_batch) {
        int B = (int)((n - i0) < w->max_batch ? (n - i0) : w->max_batch);
        dataset_fill_batch(w->x, w->y, d, ysrc, d->idx[split] + i0, B);
        model_forward(m, w->x, B, 0, 0);
        sum += (double)model_loss(m, w->y, B) * B;
        if (pred) model_read_out(m, pred + (size_t)i0 * m->n_out, B);
    }
    return sum / (double)n;
}

/* the loss of B rows of predictions as model_loss computes it (Huber per head,
 * weighted), on the host from gathered predictions; scratch (3B floats) */
static float rows_loss(const Model *m, const float *pred, const float *y, int B, float *scratch) {
    const Backend *cpu = backend_cpu();
    const int no = m->n_out;
    float *p = scratch, *t = scratch + B, *g = scratch + 2 * (size_t)B;
    if (no == 1) return cpu->huber_loss(g, pred, y, B, m->cfg.huber_delta, m->cfg.head_w[0]);
    float loss = 0.0f;
    for (int h = 0; h < no; h++) {
        for (int b = 0; b < B; b++) { p[b] = pred[b * no + h]; t[b] = y[b * no + h]; }
        loss += m->cfg.head_w[h] * cpu->huber_loss(g, p, t, B, m->cfg.huber_delta, m->cfg.head_w[h]);
    }
    return loss;
}

/* evaluate() over a data-parallel group: the split's batches are dealt out to the
 * members in contiguous runs, the predictions gathered, and the loss summed batch by
 * batch in order as evaluate() sums it, so every member gets the same bits for any
 * group size (eval-mode rows do not depend on their batch) */
static double evaluate_dp(Model *m, Work *w, const SymbolData *d, int split, const float *ysrc, float *pred_out,
                          const DpGroup *g) {
    const int64_t n = d->n[split], E = w->max_batch, nc = (n + E - 1) / E;
    const int no = m->n_out;
    float *pred = pred_out ? pred_out : dl_malloc(sizeof(float) * (size_t)(n + 1) * no);
    int64_t c0, c1;
    dp_chunk_range(g, nc, &c0, &c1);
    for (int64_t c = c0; c < c1; c++) {
        const int64_t i0 = c * E;
        const int B = (int)((n - i0) < E ? (n - i0) : E);
        dataset_fill_batch(w->x, NULL, d, ysrc, d->idx[split] + i0, B);
        model_forward(m, w->x, B, 0, 0);
        model_read_out(m, pred + (size_t)i0 * no, B);
    }
    dp_gather_chunks(g, pred, n, E, no);
    double sum = 0;
    float *scratch = dl_malloc(sizeof(float) * 3 * (size_t)E);
    for (int64_t i0 = 0; i0 < n; i0 += E) {
        const int B = (int)((n - i0) < E ? (n - i0) : E);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < d->n_y; j++) w->y[(size_t)b * d->n_y + j] = ysrc[(size_t)d->idx[split][i0 + b] * d->n_y + j];
        sum += (double)rows_loss(m, pred + (size_t)i0 * no, w->y, B, scratch) * B;
    }
    free(scratch);
    if (!pred_out) free(pred);
    return sum / (double)n;
}

/* control run: permute the train and val targets across their samples, so the
 * book carries no information about them; the test targets stay real */
static double eval_split(Model *m, Work *w, const SymbolData *d, int split, const float *ysrc, float *pred,
                         const TrainIO *io) {
    return io->dp ? evaluate_dp(m, w, d, split, ysrc, pred, io->dp) : evaluate(m, w, d, split, ysrc, pred);
}

static void shuffle_targets(SymbolData *d, uint64_t skey) {
    for (int sp = SPLIT_TRAIN; sp <= SPLIT_VAL; sp++) {
        int64_t n = d->n[sp];
        int64_t *perm = dl_malloc(sizeof(int64_t) * (size_t)(n + 1));
        const int ny = d->n_y;   /* a sample's targets move together */
        float *v = dl_malloc(sizeof(float) * (size_t)(n + 1) * ny);
        dataset_permutation(perm, n, dl_key(dl_key(skey, TAG_CONTROL), (uint64_t)sp));
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < ny; j++) v[i * ny + j] = d->y_fit[d->idx[sp][perm[i]] * ny + j];
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < ny; j++) d->y_fit[d->idx[sp][i] * ny + j] = v[i * ny + j];
        free(perm);
        free(v);
    }
}

static int init_result(SymbolResult *r, const TrainConfig *cfg, const LobSymbol *sym, const SymbolData *d,
                       const Model *m, const int hk[2]) {
    memset(r, 0, sizeof *r);
    snprintf(r->symbol, sizeof r->symbol, "%s", sym->symbol);
    r->n_rows = d->n_rows;
    for (int s = 0; s < N_SPLITS; s++) {
        r->n_samples[s] = d->n[s];
        r->skipped[s] = d->skipped[s];
        r->nan_targets[s] = d->nan_targets[s];
    }
    r->dropped_train = d->dropped_train;
    r->n_fit_rows = d->n_fit_rows;
    memcpy(r->feat_mean, d->mean, sizeof r->feat_mean);
    memcpy(r->feat_std, d->std, sizeof r->feat_std);
    memcpy(r->feat_vol_scale, d->vol_scale, sizeof r->feat_vol_scale);
    const int ny = d->n_y;
    r->y_mu = d->y_mu[0];
    r->y_sd = d->y_sd[0];
    r->y_mu2 = ny > 1 ? d->y_mu[1] : 0.0;
    r->y_sd2 = ny > 1 ? d->y_sd[1] : 1.0;
    r->n_heads = ny;
    r->head_horizon[0] = cfg->horizon;
    r->head_horizon[1] = ny > 1 ? cfg->horizon2 : 0;
    r->test_row0 = d->split_start[SPLIT_TEST];
    r->n_test_rows = d->n_rows - r->test_row0;
    size_t nt = (size_t)r->n_test_rows + 1;
    r->test_time = dl_malloc(sizeof(int64_t) * nt);
    r->test_pred = dl_malloc(sizeof(float) * nt);
    r->test_target_raw = dl_malloc(sizeof(float) * nt);
    r->test_target_smooth = dl_malloc(sizeof(float) * nt);
    if (ny > 1) {
        r->test_pred2 = dl_malloc(sizeof(float) * nt);
        r->test_target_raw2 = dl_malloc(sizeof(float) * nt);
        r->test_target_smooth2 = dl_malloc(sizeof(float) * nt);
    }
    for (int64_t i = 0; i < r->n_test_rows; i++) {
        size_t row = (size_t)(r->test_row0 + i) * (size_t)ny;
        r->test_time[i] = sym->time[r->test_row0 + i];
        r->test_pred[i] = NAN;
        r->test_target_raw[i] = d->y_raw[row];
        r->test_target_smooth[i] = d->y_smooth[row];
        if (ny > 1) {
            r->test_pred2[i] = NAN;
            r->test_target_raw2[i] = d->y_raw[row + 1];
            r->test_target_smooth2[i] = d->y_smooth[row + 1];
        }
    }
    r->has_smooth = cfg->ema_alpha > 0;
    r->oracle_corr = hk[0] >= 0 ? sym->oracle_corr[hk[0]] : NAN;
    r->oracle_corr2 = NAN;
    if (ny > 1 && hk[1] >= 0) r->oracle_corr2 = sym->oracle_corr[hk[1]];
    Metrics nanm = {0, NAN, NAN, NAN, NAN};
    r->test_raw2 = r->test_smooth2 = nanm;
    r->epochs_cap = cfg->epochs;
    r->history = dl_calloc((size_t)cfg->epochs + 1, sizeof(EpochRecord));
    r->n_params = m->n_params;
    r->n_buffers = m->n_buffers;
    r->n_counters = m->n_counters;
    r->best_params = dl_malloc(sizeof(float) * (m->n_params + 1));
    r->best_buffers = dl_malloc(sizeof(float) * (m->n_buffers + 1));
    r->best_counters = dl_malloc(sizeof(int64_t) * ((size_t)m->n_counters + 1));
    r->best_epoch = -1;
    r->best_val_loss = NAN;
    return 0;
}

/* an in-epoch progress line: symbol, epoch, fraction, rate, ETA of the epoch and of
 * the symbol (the epochs left at the mean epoch time so far, else at this rate) */
static void epoch_progress(Progress *pg, const TrainIO *io, const char *symbol, int epoch, int epochs, int64_t done,
                           int64_t n, double secs, double mean_epoch_s) {
    const double rate = secs > 0 ? done / secs : 0;
    const double left = rate > 0 ? (n - done) / rate : NAN;
    const double per_epoch = mean_epoch_s > 0 ? mean_epoch_s : rate > 0 ? n / rate : NAN;
    char e1[32], e2[32], run[160] = "";
    progress_fmt_eta(e1, sizeof e1, left);
    progress_fmt_eta(e2, sizeof e2, left + per_epoch * (epochs - epoch));
    if (io->run_status) io->run_status(io->run_ctx, rate, run, sizeof run);
    progress_print(pg, "%s%s epoch %d/%d %3.0f%%  %.0f samples/s  ETA epoch %s, symbol <=%s%s", io->tag ? io->tag : "",
                   symbol, epoch, epochs, 100.0 * (double)done / (double)(n ? n : 1), rate, e1, e2, run);
}

/* where an epoch diverged: step (0-based) and what was not finite; step -1 = it did not */
typedef struct {
    int64_t step;
    const char *what;   /* "loss" or "gradient norm" */
    double value;
} Divergence;

/* one training epoch; returns the mean training loss, adds step time to *secs.
 * mean_epoch_s: mean wall time of the epochs so far (0 = none yet), for the ETA.
 * A non-finite loss or gradient norm stops the epoch before the Adam step (the
 * parameters stay finite) and is reported in *dv. */
static double train_epoch(Model *m, Work *w, const SymbolData *d, const TrainConfig *cfg, uint64_t skey,
                          const char *symbol, int epoch, float lr, double *grad_norm, double *secs,
                          double mean_epoch_s, const TrainIO *io, Divergence *dv) {
    const int64_t n = d->n[SPLIT_TRAIN];
    /* data parallelism: the global batch is K shards; this rank fills its G-th of it */
    const int K = m->sh.K, G = io->dp ? io->dp->size : 1, grank = io->dp ? io->dp->rank : 0;
    dataset_permutation(w->perm, n, dl_key(dl_key(skey, TAG_SHUFFLE), (uint64_t)epoch));
    const uint64_t dkey = dl_key(dl_key(skey, TAG_DROPOUT), (uint64_t)epoch);
    double sum = 0, gsum = 0, t0 = dl_now();
    Progress pg;
    progress_init(&pg, io->progress, io->progress_interval, io->bar);
    int64_t step = 0, n_used = 0;
    for (int64_t i0 = 0; i0 < n; i0 += cfg->batch, step++) {
        int B = (int)((n - i0) < cfg->batch ? (n - i0) : cfg->batch);
        /* a trailing batch of one sample has no batch statistics for BatchNorm
         * (PyTorch refuses it too): that sample sits out this epoch. Sharded: the
         * trailing samples that do not fill all K shards equally sit out */
        if (K > 1) B -= B % K;
        if ((B == 1 && i0 > 0) || B == 0) break;
        const int Bl = B / G, r0 = grank * Bl;   /* this rank's samples of the global batch */
        for (int b = 0; b < Bl; b++) w->rows[b] = d->idx[SPLIT_TRAIN][w->perm[i0 + r0 + b]];
        dataset_fill_batch(w->x, w->y, d, d->y_fit, w->rows, Bl);
        if (io->inject_symbol && epoch == io->inject_epoch && step == io->inject_step && !strcmp(symbol, io->inject_symbol))
            w->y[0] = NAN;
        n_used += B;
        model_forward(m, w->x, Bl, 1, dl_key(dkey, (uint64_t)step));
        const float loss = model_loss(m, w->y, Bl);   /* sharded: the global batch's */
        if (!isfinite(loss)) { *dv = (Divergence){step, "loss", loss}; break; }
        sum += (double)loss * B;
        model_zero_grad(m);
        model_backward(m, w->x, Bl);
        const double gn = cfg->clip > 0 ? model_clip_grad(m, (float)cfg->clip) : model_clip_grad(m, INFINITY);
        if (!isfinite(gn)) { *dv = (Divergence){step, "gradient norm", gn}; break; }
        gsum += gn;
        model_adam_step(m, lr);
        if (progress_due(&pg))
            epoch_progress(&pg, io, symbol, epoch, cfg->epochs, i0 + B, n, dl_now() - t0, mean_epoch_s);
    }
    progress_end(&pg);
    *secs += dl_now() - t0;
    *grad_norm = gsum / (double)(step ? step : 1);
    return sum / (double)(n_used ? n_used : 1);
}

/* test predictions (bps) and metrics of r from model m (its weights as they are) */
static void test_eval(SymbolResult *r, Model *m, Work *w, const SymbolData *d, const char *symbol, const TrainIO *io) {
    if (r->status == SYM_OK) {
        const int ny = d->n_y;
        float *pred = dl_malloc(sizeof(float) * (size_t)(d->n[SPLIT_TEST] + 1) * ny);
        eval_split(m, w, d, SPLIT_TEST, d->y_fit, pred, io);
        for (int64_t i = 0; i < d->n[SPLIT_TEST]; i++) {
            int64_t row = d->idx[SPLIT_TEST][i] - r->test_row0;
            r->test_pred[row] = (float)(pred[i * ny] * d->y_sd[0] + d->y_mu[0]);   /* back to bps */
            if (ny > 1) r->test_pred2[row] = (float)(pred[i * ny + 1] * d->y_sd[1] + d->y_mu[1]);
        }
        free(pred);
    }
    metrics_compute(&r->test_raw, r->test_pred, r->test_target_raw, r->n_test_rows);
    metrics_compute(&r->test_smooth, r->test_pred, r->test_target_smooth, r->n_test_rows);
    if (r->n_heads > 1) {
        metrics_compute(&r->test_raw2, r->test_pred2, r->test_target_raw2, r->n_test_rows);
        metrics_compute(&r->test_smooth2, r->test_pred2, r->test_target_smooth2, r->n_test_rows);
        if (io->progress) {   /* per head: the caller's summary line shows head 1 only */
            for (int h = 0; h < 2; h++) {
                const Metrics *mr = h ? &r->test_raw2 : &r->test_raw, *ms = h ? &r->test_smooth2 : &r->test_smooth;
                fprintf(io->progress, "  %s: head %d (%d s): test corr %.4f (oracle %.4f), MAE %.4f bps, RMSE %.4f bps, R2 %.4f",
                        symbol, h + 1, r->head_horizon[h], mr->corr, h ? r->oracle_corr2 : r->oracle_corr, mr->mae,
                        mr->rmse, mr->r2);
                if (r->has_smooth) fprintf(io->progress, "; vs smoothed targets: corr %.4f", ms->corr);
                fprintf(io->progress, "\n");
            }
            fflush(io->progress);
        }
    }
}

static DataOptions data_options(const TrainConfig *cfg) {
    DataOptions o = {0};
    o.seq_len = cfg->seq_len;
    o.horizon = cfg->horizon;
    o.horizon2 = cfg->kind == MODEL_DEEPLOB_HIER ? cfg->horizon2 : 0;   /* both heads' targets */
    o.ema_alpha = cfg->ema_alpha;
    o.standardize_targets = cfg->standardize_targets;
    o.max_train_samples = cfg->max_train_samples;
    o.price_mid_relative = !strcmp(cfg->price_features, "mid_relative");
    o.volume_log = !strcmp(cfg->volume_features, "log");
    return o;
}

static int train_data(SymbolResult *r, const TrainConfig *cfg, const LobSymbol *sym, SymbolData *dd, const char *skip_why,
                      double t_start, const TrainIO *io, Model **keep, DlErr *e);

int train_symbol(SymbolResult *r, const TrainConfig *cfg, const LobSymbol *sym, const TrainIO *io, DlErr *e) {
    const double t_start = dl_now();
    const DataOptions o = data_options(cfg);
    SymbolData d;
    char skip_why[SYM_STATUS_LEN] = "";
    const int built = dataset_build(&d, sym, o, e);
    if (built == -1) return -1;
    if (built == -2) {   /* unusable data: a skipped symbol with placeholder results */
        snprintf(skip_why, sizeof skip_why, "skipped: %.110s", e->msg);
        dataset_placeholder(&d, sym, o);
    }
    if (cfg->control_shuffle_targets) shuffle_targets(&d, trainer_symbol_key(cfg->seed, sym->symbol));
    int rc = train_data(r, cfg, sym, &d, skip_why, t_start, io, NULL, e);
    dataset_free(&d);
    return rc;
}

/* the horizons' columns in the symbol's dataset (-1 = none) */
static void horizon_cols(const TrainConfig *cfg, const LobSymbol *sym, int hk[2]) {
    const int h2 = cfg->kind == MODEL_DEEPLOB_HIER ? cfg->horizon2 : 0;
    hk[0] = hk[1] = -1;
    for (int k = 0; k < sym->n_horizons; k++) {
        if (sym->horizons[k] == cfg->horizon) hk[0] = k;
        if (h2 > 0 && sym->horizons[k] == h2) hk[1] = k;
    }
}

/* train on d (built by the caller, who frees it); keep != NULL: no test evaluation,
 * the model is returned with its best weights loaded */
static int train_data(SymbolResult *r, const TrainConfig *cfg, const LobSymbol *sym, SymbolData *dd, const char *skip_why,
                      double t_start, const TrainIO *io, Model **keep, DlErr *e) {
    SymbolData d = *dd;
    int hk[2] = {-1, -1};
    horizon_cols(cfg, sym, hk);

    Work w = {0};
    w.max_batch = cfg->eval_batch > cfg->batch ? cfg->eval_batch : cfg->batch;
    const Backend *be = trainer_backend();
    Model *m = model_create(trainer_model_config(cfg), w.max_batch, be);
    if (m->n_out != d.n_y) {
        int no = m->n_out;
        model_free(m);
        return dl_err(e, "symbol %s: model %s has %d outputs but %d target columns", sym->symbol, cfg->model, no, d.n_y);
    }
    const uint64_t skey = trainer_symbol_key(cfg->seed, sym->symbol);
    model_init_params(m, dl_key(skey, TAG_INIT));
    DL_CHECK(io->dp || cfg->dp_shards == 1, "dp_shards %d without a data-parallel group", cfg->dp_shards);
    const int leader = !io->dp || io->dp->rank == 0;   /* writes the checkpoints; its r is the result */
    if (io->dp) {
        io->dp->K = cfg->dp_shards;
        dp_shard_model(m, io->dp);
    }
    init_result(r, cfg, sym, &d, m, hk);
    save_best(r, m);
    if (skip_why[0]) {
        r->status = SYM_SKIPPED;
        snprintf(r->status_msg, sizeof r->status_msg, "%s", skip_why);
        r->test_raw = r->test_smooth = (Metrics){0, NAN, NAN, NAN, NAN};
        r->wall_s = dl_now() - t_start;
        if (keep) *keep = m;
        else model_free(m);
        return 0;
    }

    /* batches are assembled here and uploaded from here (page-locked under a device backend) */
    w.x = be->host_alloc(sizeof(float) * (size_t)w.max_batch * cfg->seq_len * LOBDS_NFEAT);
    w.y = be->host_alloc(sizeof(float) * (size_t)w.max_batch * d.n_y);
    w.rows = dl_malloc(sizeof(int64_t) * (size_t)w.max_batch);
    w.perm = dl_malloc(sizeof(int64_t) * (size_t)(d.n[SPLIT_TRAIN] + 1));

    TrainState st = {0};
    plateau_init(&st.plateau, cfg->lr, cfg->plateau_factor, cfg->plateau_patience, cfg->plateau_threshold);
    early_init(&st.early, cfg->patience);
    char *cjson = config_training_json(cfg);
    int rc = 0;
    if (io->ckpt_path && io->resume) {
        int got = checkpoint_load(io->ckpt_path, m, &st, r, cjson, e);
        if (got < 0) { rc = -1; goto out; }
        if (got == 1) {
            r->resumed_from = st.epoch_done;
            if (io->progress) {
                fprintf(io->progress, "  %s: resumed after epoch %d%s\n", sym->symbol, st.epoch_done,
                        st.finished ? " (training finished; evaluating)" : "");
                fflush(io->progress);
            }
        }
    }

    double epoch_time_sum = 0;
    int epochs_timed = 0;
    while (!st.finished) {
        const int epoch = st.epoch_done + 1;
        const double te = dl_now();
        const float lr = (float)st.plateau.lr;
        double gnorm = 0, secs = 0;
        Divergence dv = {-1, NULL, 0};
        double tl = train_epoch(m, &w, &d, cfg, skey, sym->symbol, epoch, lr, &gnorm, &secs,
                                epochs_timed ? epoch_time_sum / epochs_timed : 0, io, &dv);
        double vl = dv.step < 0 ? eval_split(m, &w, &d, SPLIT_VAL, d.y_fit, NULL, io) : NAN;
        if (dv.step < 0 && !isfinite(vl)) dv = (Divergence){-2, "validation loss", vl};
        if (dv.what) {
            /* the epoch is not counted: the last checkpoint (epoch - 1) stays the symbol's last good state */
            r->status = SYM_DIVERGED;
            if (dv.step >= 0)
                snprintf(r->status_msg, sizeof r->status_msg, "diverged at epoch %d, step %lld (%s %g)", epoch,
                         (long long)dv.step, dv.what, dv.value);
            else
                snprintf(r->status_msg, sizeof r->status_msg, "diverged at epoch %d, validation (%s %g)", epoch,
                         dv.what, dv.value);
            if (io->progress) {
                fprintf(io->progress, "  %s: %s; training stopped, last good checkpoint: epoch %d\n", sym->symbol,
                        r->status_msg, st.epoch_done);
                fflush(io->progress);
            }
            break;
        }
        st.train_seconds += secs;
        if (early_step(&st.early, vl, epoch)) save_best(r, m);
        plateau_step(&st.plateau, vl);
        st.epoch_done = epoch;
        if (st.early.stop || epoch >= cfg->epochs) st.finished = 1;
        EpochRecord *h = &r->history[epoch - 1];
        *h = (EpochRecord){epoch, tl, vl, lr, gnorm, dl_now() - te, (double)d.n[SPLIT_TRAIN] / (secs > 0 ? secs : 1e-9)};
        r->epochs_run = epoch;
        int bad = leader && io->ckpt_path && cfg->checkpoint && checkpoint_save(io->ckpt_path, m, &st, r, cjson, e);
        if (dp_any(io->dp, bad)) {   /* the group stops together: nobody waits in a step's gather */
            if (!bad) dl_err(e, "symbol %s: the checkpoint write failed on group rank 0", sym->symbol);
            rc = -1;
            goto out;
        }
        epoch_time_sum += h->seconds;
        epochs_timed++;
        if (io->progress) {
            char eta[32];
            progress_fmt_eta(eta, sizeof eta, st.finished ? 0 : epoch_time_sum / epochs_timed * (cfg->epochs - epoch));
            fprintf(io->progress, "  %-12s epoch %3d/%d  train_loss %.5f  val_loss %.5f  lr %.2e  %7.0f samples/s  ETA<=%s%s\n",
                    sym->symbol, epoch, cfg->epochs, tl, vl, lr, h->samples_per_s, eta,
                    st.early.stop ? "  (early stop)" : (st.early.best_epoch == epoch ? "  *" : ""));
            fflush(io->progress);
        }
        if (io->stop_after_epoch > 0 && epoch == io->stop_after_epoch && !st.finished) { rc = -2; goto out; }
    }

    /* best-validation weights for the test evaluation (none for a diverged symbol:
     * its test predictions stay NaN, its metrics NaN) */
    load_best(m, r);
    if (!keep) test_eval(r, m, &w, &d, sym->symbol, io);
    r->best_epoch = st.early.best_epoch;
    r->best_val_loss = st.early.best;
    r->stopped_early = st.early.stop;
    r->train_seconds = st.train_seconds;
    {
        int64_t seen = 0;
        for (int i = 0; i < r->epochs_run; i++) seen += d.n[SPLIT_TRAIN];
        r->samples_per_s = st.train_seconds > 0 ? (double)seen / st.train_seconds : 0;
    }
    r->wall_s = dl_now() - t_start;
out:
    free(cjson);
    be->host_free(w.x);
    be->host_free(w.y);
    free(w.rows);
    free(w.perm);
    if (keep && rc == 0) *keep = m;
    else model_free(m);
    if (rc == -1) symbol_result_free(r);
    return rc;
}

/* ---- the universal model (trainer.h) ---------------------------------------------------- */

int train_universal(SymbolResult *rs, const TrainConfig *cfg, const LobSymbol *syms, const int *held, int n,
                    const TrainIO *io, DlErr *e) {
    const double t_start = dl_now();
    const DataOptions o = data_options(cfg);
    SymbolData *d = dl_calloc((size_t)n, sizeof(SymbolData));
    int *use = dl_calloc((size_t)n, sizeof(int)), *skipped = dl_calloc((size_t)n, sizeof(int)), n_use = 0, rc = 0;
    char (*why)[SYM_STATUS_LEN] = dl_calloc((size_t)n, SYM_STATUS_LEN);
    for (int i = 0; i < n && !rc; i++) {
        const int built = dataset_build(&d[i], &syms[i], o, e);
        if (built == -1) { rc = -1; n = i; break; }
        if (built == -2) {
            snprintf(why[i], SYM_STATUS_LEN, "skipped: %.110s", e->msg);
            dataset_placeholder(&d[i], &syms[i], o);
            skipped[i] = 1;
        } else if (cfg->control_shuffle_targets) {
            shuffle_targets(&d[i], trainer_symbol_key(cfg->seed, syms[i].symbol));
        }
        use[i] = !skipped[i] && !held[i];
        n_use += use[i];
    }
    if (!rc && n_use == 0) rc = dl_err(e, "universal model: no symbol left to train on (all held out or skipped)");
    SymbolData pool;
    memset(&pool, 0, sizeof pool);
    Model *m = NULL;
    SymbolResult rp;
    memset(&rp, 0, sizeof rp);
    if (!rc) {
        dataset_pool(&pool, d, use, n);
        LobSymbol ps;
        memset(&ps, 0, sizeof ps);
        snprintf(ps.symbol, sizeof ps.symbol, "universal");
        ps.n_rows = pool.n_rows;
        rc = train_data(&rp, cfg, &ps, &pool, "", t_start, io, &m, e);
    }
    if (!rc) {
        Work w = {0};
        w.max_batch = m->max_batch;
        w.x = dl_aligned_alloc(sizeof(float) * (size_t)w.max_batch * cfg->seq_len * LOBDS_NFEAT);
        w.y = dl_aligned_alloc(sizeof(float) * (size_t)w.max_batch * pool.n_y);
        for (int i = 0; i < n; i++) {
            SymbolResult *r = &rs[i];
            int hk[2];
            horizon_cols(cfg, &syms[i], hk);
            init_result(r, cfg, &syms[i], &d[i], m, hk);
            save_best(r, m);   /* the universal weights */
            r->status = skipped[i] ? SYM_SKIPPED : rp.status;
            if (skipped[i]) snprintf(r->status_msg, sizeof r->status_msg, "%s", why[i]);
            else if (rp.status != SYM_OK) snprintf(r->status_msg, sizeof r->status_msg, "universal model %.100s", rp.status_msg);
            else if (held[i]) snprintf(r->status_msg, sizeof r->status_msg, "held out: tested with the universal weights, never trained on");
            if (!skipped[i]) test_eval(r, m, &w, &d[i], syms[i].symbol, io);
            else r->test_raw = r->test_smooth = (Metrics){0, NAN, NAN, NAN, NAN};
            /* the training is the pool's: history and timing are shared by every symbol */
            r->epochs_run = rp.epochs_run;
            memcpy(r->history, rp.history, sizeof(EpochRecord) * (size_t)(rp.epochs_run < r->epochs_cap ? rp.epochs_run : r->epochs_cap));
            r->best_epoch = rp.best_epoch;
            r->best_val_loss = rp.best_val_loss;
            r->stopped_early = rp.stopped_early;
            r->train_seconds = rp.train_seconds;
            r->samples_per_s = rp.samples_per_s;
            r->resumed_from = rp.resumed_from;
            r->wall_s = dl_now() - t_start;
        }
        free(w.x);
        free(w.y);
    }
    if (rc == 0 || rc == -2) symbol_result_free(&rp);
    model_free(m);
    if (pool.xn) dataset_free(&pool);
    for (int i = 0; i < n; i++) dataset_free(&d[i]);
    free(d);
    free(use);
    free(skipped);
    free(why);
    return rc;
}
