/* mmf_study.c: config, one symbol's study, the MPI run and the outputs (mmf_study.h). */
#define _GNU_SOURCE
#include "train/mmf_study.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/rng.h"
#include "data/download.h"
#include "data/mmf_bars_h5.h"
#include "engine/mmf_lstm.h"
#include "io/h5util.h"
#include "io/lobds.h"
#include "io/weights_h5.h"
#include "train/symbol_sched.h"

const char *const mmf_model_names[MMF_NMODELS] = {"lstm", "xgboost", "zero"};

void mmf_config_defaults(MmfConfig *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->output_dir, sizeof c->output_dir, "outputs");
    snprintf(c->run_name, sizeof c->run_name, "mmf");
    c->seed = 1;
    c->epochs = 10;
    c->batch = 128;
    c->episode_len = 128;
    c->warmup = 32;
    c->stride = 32;
    c->lr = 1e-4;
    mmf_data_opts_default(&c->data);
    c->xgb.rounds = 300;
    c->xgb.eta = 0.05;
    c->xgb.max_depth = 8;
    c->xgb.threads = 1;
    c->xgb_enabled = 1;
}

/* ---- config ---------------------------------------------------------------------------- */
static int num(const cJSON *it, const char *path, double lo, double hi, double *v, DlErr *e) {
    if (!cJSON_IsNumber(it) || !(it->valuedouble >= lo && it->valuedouble <= hi))
        return dl_err(e, "%s: key '%s' must be a number in [%g, %g]", path, it->string, lo, hi);
    *v = it->valuedouble;
    return 0;
}

int mmf_config_load(MmfConfig *c, const char *path, DlErr *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return dl_err(e, "%s: cannot open: %s", path, strerror(errno));
    char *txt = dl_malloc(1 << 20);
    size_t n = fread(txt, 1, (1 << 20) - 1, f);
    fclose(f);
    txt[n] = 0;
    cJSON *root = cJSON_Parse(txt);
    free(txt);
    if (!cJSON_IsObject(root)) { cJSON_Delete(root); return dl_err(e, "%s: not a JSON object", path); }
    int rc = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const char *k = it->string;
        double v = 0;
        if (!strcmp(k, "bars") || !strcmp(k, "output_dir") || !strcmp(k, "run_name")) {
            if (!cJSON_IsString(it)) { rc = dl_err(e, "%s: key '%s' must be a string", path, k); break; }
            char *dst = !strcmp(k, "bars") ? c->bars : !strcmp(k, "output_dir") ? c->output_dir : c->run_name;
            size_t cap = !strcmp(k, "run_name") ? sizeof c->run_name : sizeof c->bars;
            snprintf(dst, cap, "%s", it->valuestring);
        } else if (!strcmp(k, "symbols")) {
            if (cJSON_IsString(it) && !strcmp(it->valuestring, "all")) { c->n_symbols = 0; continue; }
            if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) > MMF_MAX_SYMS) { rc = dl_err(e, "%s: key 'symbols' must be \"all\" or a list of names", path); break; }
            const cJSON *s;
            c->n_symbols = 0;
            cJSON_ArrayForEach(s, it) {
                if (!cJSON_IsString(s) || !lobds_symbol_ok(s->valuestring)) { rc = dl_err(e, "%s: key 'symbols': bad name", path); break; }
                snprintf(c->symbols[c->n_symbols++], 64, "%s", s->valuestring);
            }
            if (rc) break;
        } else if (!strcmp(k, "seed")) { if ((rc = num(it, path, 0, 9007199254740992.0, &v, e))) break; c->seed = (uint64_t)v; }
        else if (!strcmp(k, "epochs")) { if ((rc = num(it, path, 1, MMF_MAX_EPOCHS, &v, e))) break; c->epochs = (int)v; }
        else if (!strcmp(k, "batch")) { if ((rc = num(it, path, 1, 4096, &v, e))) break; c->batch = (int)v; }
        else if (!strcmp(k, "episode_len")) { if ((rc = num(it, path, 2, 4096, &v, e))) break; c->episode_len = (int)v; }
        else if (!strcmp(k, "warmup")) { if ((rc = num(it, path, 0, 4095, &v, e))) break; c->warmup = (int)v; }
        else if (!strcmp(k, "stride")) { if ((rc = num(it, path, 1, 4096, &v, e))) break; c->stride = (int)v; }
        else if (!strcmp(k, "lr")) { if ((rc = num(it, path, 1e-8, 1, &v, e))) break; c->lr = v; }
        else if (!strcmp(k, "train_frac")) { if ((rc = num(it, path, 0.1, 0.95, &v, e))) break; c->data.train_frac = v; }
        else if (!strcmp(k, "adf_screen")) { if ((rc = num(it, path, 0, 1, &v, e))) break; c->data.adf_screen = (int)v; }
        else if (!strcmp(k, "adf_p")) { if ((rc = num(it, path, 0, 1, &v, e))) break; c->data.adf_p = v; }
        else if (!strcmp(k, "quantile")) { if ((rc = num(it, path, 0, 1, &v, e))) break; c->data.quantile = (int)v; }
        else if (!strcmp(k, "xgb")) { if ((rc = num(it, path, 0, 1, &v, e))) break; c->xgb_enabled = (int)v; }
        else if (!strcmp(k, "xgb_rounds")) { if ((rc = num(it, path, 1, 100000, &v, e))) break; c->xgb.rounds = (int)v; }
        else if (!strcmp(k, "xgb_eta")) { if ((rc = num(it, path, 1e-6, 1, &v, e))) break; c->xgb.eta = v; }
        else if (!strcmp(k, "xgb_threads")) { if ((rc = num(it, path, 1, 1024, &v, e))) break; c->xgb.threads = (int)v; }
        else { rc = dl_err(e, "%s: unknown key '%s'", path, k); break; }
    }
    cJSON_Delete(root);
    if (!rc && !c->bars[0]) rc = dl_err(e, "%s: key 'bars' (the mmf-bars file) is required", path);
    if (!rc && c->warmup >= c->episode_len) rc = dl_err(e, "%s: 'warmup' %d must be < 'episode_len' %d", path, c->warmup, c->episode_len);
    if (!rc && (!lobds_symbol_ok(c->run_name))) rc = dl_err(e, "%s: key 'run_name' must be a plain name", path);
    return rc;
}

/* ---- metrics ------------------------------------------------------------------------------ */
static void metrics(double *mse, double *corr, double *r2, const float *p, const float *y, int64_t a, int64_t b) {
    double sy = 0, sp = 0, n = (double)(b - a);
    for (int64_t i = a; i < b; i++) { sy += y[i]; sp += p[i]; }
    const double my = sy / n, mp = sp / n;
    double sse = 0, syy = 0, spp = 0, spy = 0;
    for (int64_t i = a; i < b; i++) {
        const double dy = y[i] - my, dp = p[i] - mp, r = (double)p[i] - y[i];
        sse += r * r; syy += dy * dy; spp += dp * dp; spy += dp * dy;
    }
    *mse = sse / n;
    *corr = spp > 0 && syy > 0 ? spy / sqrt(spp * syy) : NAN;
    *r2 = syy > 0 ? 1.0 - sse / syy : NAN;
}

static void fill_metrics(MmfMetrics *m, const float *p, const MmfSet *s) {
    metrics(&m->mse[0], &m->corr[0], &m->r2[0], p, s->y, 0, s->n_train);
    metrics(&m->mse[1], &m->corr[1], &m->r2[1], p, s->y, s->n_train, s->n);
}

static void lstm_predict_all(Model *m, const MmfSet *s, float *pred) {
    for (int64_t k = 0; k < s->n_runs; k++) /* the state restarts at every run (segment, split) */
        mmf_lstm_predict_series(m, s->X + (size_t)s->runs[2 * k] * s->n_feat, s->runs[2 * k + 1] - s->runs[2 * k],
                                pred + s->runs[2 * k]);
}

/* ---- checkpoint: one small binary file, replaced atomically after every epoch ------------- */
#define CKPT_MAGIC 0x4d4d46434b5031ULL /* "MMFCKP1" */
typedef struct {
    uint64_t magic, cfg_hash;
    int64_t n_params;
    int32_t epoch, adam_t;
} CkptHead;

static uint64_t cfg_hash(const MmfConfig *c, const MmfSet *s) {
    char b[512];
    snprintf(b, sizeof b, "%llu %d %d %d %d %d %.17g %d %d %.17g %.17g %d %lld %lld", (unsigned long long)c->seed, c->epochs, c->batch,
             c->episode_len, c->warmup, c->stride, c->lr, c->data.adf_screen, c->data.quantile, c->data.adf_p,
             c->data.train_frac, s->n_feat, (long long)s->n, (long long)s->n_train);
    return dl_hash_str(b);
}

static int ckpt_save(const char *path, const Model *m, int epoch, const double (*curve)[2], uint64_t h, DlErr *e) {
    CkptHead hd = {CKPT_MAGIC, h, (int64_t)m->n_params, epoch, m->adam_t};
    const size_t np = m->n_params * sizeof(float), nb = sizeof hd + 3 * np + sizeof(double) * 2 * MMF_MAX_EPOCHS;
    char *buf = dl_malloc(nb), *p = buf;
    memcpy(p, &hd, sizeof hd); p += sizeof hd;
    memcpy(p, m->params, np); p += np;
    memcpy(p, m->adam_m, np); p += np;
    memcpy(p, m->adam_v, np); p += np;
    memcpy(p, curve, sizeof(double) * 2 * MMF_MAX_EPOCHS);
    int rc = dl_write_file_atomic(path, buf, nb, e);
    free(buf);
    return rc;
}

/* 1 loaded, 0 none, -1 unusable */
static int ckpt_load(const char *path, Model *m, int *epoch, double (*curve)[2], uint64_t h, DlErr *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    CkptHead hd;
    const size_t np = m->n_params * sizeof(float);
    int rc = 1;
    if (fread(&hd, sizeof hd, 1, f) != 1 || hd.magic != CKPT_MAGIC || hd.n_params != (int64_t)m->n_params)
        rc = dl_err(e, "%s: not a checkpoint of this model", path);
    else if (hd.cfg_hash != h)
        rc = dl_err(e, "%s: written with a different config or data; remove it or run without --resume", path);
    else if (fread(m->params, 1, np, f) != np || fread(m->adam_m, 1, np, f) != np || fread(m->adam_v, 1, np, f) != np ||
             fread(curve, sizeof(double) * 2, MMF_MAX_EPOCHS, f) != MMF_MAX_EPOCHS)
        rc = dl_err(e, "%s: truncated", path);
    fclose(f);
    if (rc == 1) { *epoch = hd.epoch; m->adam_t = hd.adam_t; }
    return rc;
}

/* ---- one symbol --------------------------------------------------------------------------- */
int mmf_run_symbol(MmfSymbolResult *r, const MmfConfig *c, const char *symbol, const char *run_dir, int resume,
                   DlErr *e) {
    memset(r, 0, sizeof *r);
    snprintf(r->symbol, sizeof r->symbol, "%s", symbol);
    const double t0 = dl_now();
    MmfBars b;
    if (mmf_bars_read(c->bars, symbol, &b, e)) return -1;
    MmfSet s;
    int rc = mmf_data_build(&s, &b, &c->data, e);
    r->n_bars = b.n;
    mmf_bars_free(&b);
    if (rc) return -1;
    r->n_rows = s.n; r->n_train = s.n_train; r->n_dropped = s.n_dropped; r->n_feat = s.n_feat;
    for (int j = 0, p = 0; j < MMF_NCOL; j++)
        if (s.adf_kept[j]) p += snprintf(r->kept + p, sizeof r->kept - (size_t)p, "%s%s", p ? "," : "", mmf_bar_col_names[j]);
    const int64_t n = s.n, F = s.n_feat, T = c->episode_len;
    float *pred = dl_malloc((size_t)n * sizeof *pred);
    char path[4300];

    /* zero predictor: the floor */
    memset(pred, 0, (size_t)n * sizeof *pred);
    fill_metrics(&r->m[MMF_ZERO], pred, &s);
    r->have[MMF_ZERO] = 1;

    /* XGBoost on the same rows and features */
    if (c->xgb_enabled && mmf_xgb_available()) {
        MmfXgbOpts xo = c->xgb;
        xo.seed = dl_key(c->seed, dl_hash_str(symbol));
        snprintf(path, sizeof path, "%s/models/%s.xgboost.json", run_dir, symbol);
        if (mmf_xgb_fit_predict(s.X, s.y, s.n_train, n, (int)F, &xo, pred, path, e)) { rc = -1; goto out; }
        fill_metrics(&r->m[MMF_XGB], pred, &s);
        r->have[MMF_XGB] = 1;
    }

    /* MMF-LSTM: episodes of T consecutive training bars inside one run */
    int64_t n_ep = 0;
    for (int64_t k = 0; k < s.n_runs; k++)
        if (s.runs[2 * k + 1] <= s.n_train)
            for (int64_t a = s.runs[2 * k]; a + T <= s.runs[2 * k + 1]; a += c->stride) n_ep++;
    if (n_ep == 0) { rc = dl_err(e, "%s: no training run holds an episode of %lld bars", symbol, (long long)T); goto out; }
    int64_t *ep = dl_malloc((size_t)n_ep * sizeof *ep);
    n_ep = 0;
    for (int64_t k = 0; k < s.n_runs; k++)
        if (s.runs[2 * k + 1] <= s.n_train)
            for (int64_t a = s.runs[2 * k]; a + T <= s.runs[2 * k + 1]; a += c->stride) ep[n_ep++] = a;
    const int Bmax = (int)(n_ep < c->batch ? n_ep : c->batch);
    ModelConfig mc = model_default_config(MODEL_MMF_LSTM);
    mc.seq_len = (int)T;
    mc.n_features = (int)F;
    mc.warmup = c->warmup;
    Model *m = model_create(mc, Bmax, backend_cpu());
    const uint64_t skey = dl_key(c->seed, dl_hash_str(symbol));
    model_init_params(m, skey);
    int epoch0 = 0;
    const uint64_t h = cfg_hash(c, &s);
    snprintf(path, sizeof path, "%s/ckpt/%s.ckpt", run_dir, symbol);
    if (resume) {
        int l = ckpt_load(path, m, &epoch0, r->curve, h, e);
        if (l < 0) { rc = -1; free(ep); model_free(m); goto out; }
    }
    float *xb = dl_malloc((size_t)Bmax * T * F * sizeof *xb), *yb = dl_malloc((size_t)Bmax * T * sizeof *yb);
    int64_t *perm = dl_malloc((size_t)n_ep * sizeof *perm);
    for (int epoch = epoch0; epoch < c->epochs && !rc; epoch++) {
        /* shuffle: Fisher-Yates from (seed, symbol, epoch), never from the rank */
        const uint64_t ek = dl_key(skey, 1000 + (uint64_t)epoch);
        for (int64_t i = 0; i < n_ep; i++) perm[i] = ep[i];
        for (int64_t i = n_ep - 1; i > 0; i--) {
            int64_t j = (int64_t)(dl_rand_uniform_d(ek, (uint64_t)i) * (double)(i + 1));
            if (j > i) j = i;
            int64_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        for (int64_t b0 = 0; b0 < n_ep; b0 += Bmax) {
            const int B = (int)(n_ep - b0 < Bmax ? n_ep - b0 : Bmax);
            for (int i = 0; i < B; i++) {
                memcpy(xb + (size_t)i * T * F, s.X + (size_t)perm[b0 + i] * F, sizeof(float) * T * F);
                memcpy(yb + (size_t)i * T, s.y + perm[b0 + i], sizeof(float) * T);
            }
            model_forward(m, xb, B, 1, 0);
            model_loss(m, yb, B);
            model_zero_grad(m);
            model_backward(m, xb, B);
            model_adam_step(m, (float)c->lr);
        }
        lstm_predict_all(m, &s, pred);
        MmfMetrics em;
        fill_metrics(&em, pred, &s);
        r->curve[epoch][0] = em.mse[0];
        r->curve[epoch][1] = em.mse[1];
        if (ckpt_save(path, m, epoch + 1, (const double(*)[2])r->curve, h, e)) rc = -1;
    }
    r->epochs = c->epochs;
    if (!rc) {
        lstm_predict_all(m, &s, pred);
        fill_metrics(&r->m[MMF_LSTM], pred, &s);
        r->have[MMF_LSTM] = 1;
        snprintf(path, sizeof path, "%s/models/%s.lstm.h5", run_dir, symbol);
        if (weights_save_file(m, path, e)) rc = -1;
    }
    free(xb); free(yb); free(perm); free(ep);
    model_free(m);
out:
    free(pred);
    mmf_data_free(&s);
    r->seconds = dl_now() - t0;
    return rc;
}

/* ---- outputs on rank 0 --------------------------------------------------------------------- */
static int write_results(const char *run_dir, const MmfSymbolResult *rs, int n, const MmfConfig *c, int ranks, DlErr *e) {
    char path[4300], tmp[4400];
    snprintf(path, sizeof path, "%s/results.h5", run_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    h5u_quiet();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return dl_err(e, "%s: cannot create", tmp);
    int rc = h5u_attr_write_str(f, "/", "format", "deeplob-mpi MMF results", e) |
             h5u_attr_write_i64(f, "/", "format_version", 1, e) | h5u_attr_write_i64(f, "/", "seed", (int64_t)c->seed, e) |
             h5u_attr_write_i64(f, "/", "ranks", ranks, e) | h5u_attr_write_str(f, "/", "bars", c->bars, e) |
             h5u_attr_write_i64(f, "/", "adf_screen", c->data.adf_screen, e) |
             h5u_attr_write_i64(f, "/", "quantile", c->data.quantile, e) | h5u_attr_write_i64(f, "/", "epochs", c->epochs, e);
    for (int i = 0; i < n && !rc; i++) {
        const MmfSymbolResult *r = &rs[i];
        for (int k = 0; k < MMF_NMODELS && !rc; k++) {
            if (!r->have[k]) continue;
            char g[160], obj[200];
            snprintf(g, sizeof g, "/%s/%s", mmf_model_names[k], r->symbol);
            double v[6] = {r->m[k].mse[0], r->m[k].mse[1], r->m[k].corr[0], r->m[k].corr[1], r->m[k].r2[0], r->m[k].r2[1]};
            hsize_t d6 = 6;
            snprintf(obj, sizeof obj, "%s/metrics", g); /* train_mse, test_mse, train_corr, test_corr, train_r2, test_r2 */
            rc |= h5u_write_f64(f, obj, v, 1, &d6, e);
            rc |= h5u_attr_write_str(f, obj, "columns", "train_mse,test_mse,train_corr,test_corr,train_r2,test_r2", e);
            if (k == MMF_LSTM) {
                hsize_t dc[2] = {(hsize_t)r->epochs, 2};
                snprintf(obj, sizeof obj, "%s/mse_curve", g); /* (epochs, 2): train, test MSE after each epoch */
                rc |= h5u_write_f64(f, obj, &r->curve[0][0], 2, dc, e);
            }
            rc |= h5u_attr_write_i64(f, g, "rows", r->n_rows, e) | h5u_attr_write_i64(f, g, "train_rows", r->n_train, e) |
                  h5u_attr_write_i64(f, g, "bars", r->n_bars, e) | h5u_attr_write_i64(f, g, "rows_dropped", r->n_dropped, e) |
                  h5u_attr_write_i64(f, g, "features", r->n_feat, e) | h5u_attr_write_str(f, g, "adf_kept", r->kept, e);
        }
    }
    if (h5u_close_file(f) < 0) rc = -1;
    if (rc) { unlink(tmp); return dl_err(e, "%s: writing the results failed", path); }
    return dl_commit_file(tmp, path, e);
}

static int cmp_dbl(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

static void summary(FILE *out, FILE *csv, const MmfSymbolResult *rs, int n) {
    fprintf(out, "%-12s %-8s %7s %11s %11s %9s %9s %9s %9s\n", "symbol", "model", "rows", "train_mse", "test_mse",
            "trn_corr", "test_corr", "train_r2", "test_r2");
    fprintf(csv, "symbol,model,rows,train_rows,features,train_mse,test_mse,train_corr,test_corr,train_r2,test_r2,seconds,adf_kept\n");
    for (int i = 0; i < n; i++)
        for (int k = 0; k < MMF_NMODELS; k++) {
            const MmfSymbolResult *r = &rs[i];
            if (!r->have[k]) continue;
            const MmfMetrics *m = &r->m[k];
            fprintf(out, "%-12s %-8s %7lld %11.5g %11.5g %9.4f %9.4f %9.4f %9.4f\n", r->symbol, mmf_model_names[k],
                    (long long)r->n_rows, m->mse[0], m->mse[1], m->corr[0], m->corr[1], m->r2[0], m->r2[1]);
            fprintf(csv, "%s,%s,%lld,%lld,%d,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.3f,\"%s\"\n", r->symbol, mmf_model_names[k],
                    (long long)r->n_rows, (long long)r->n_train, r->n_feat, m->mse[0], m->mse[1], m->corr[0], m->corr[1],
                    m->r2[0], m->r2[1], r->seconds, r->kept);
        }
    fprintf(out, "across %d symbol(s), test set:\n%-8s %11s %11s %11s %10s %10s %10s\n", n, "model", "mse_mean", "mse_median",
            "mse_std", "corr_mean", "corr_med", "r2_mean");
    double *v = dl_malloc(sizeof(double) * (size_t)(n ? n : 1)), *cv = dl_malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int k = 0; k < MMF_NMODELS; k++) {
        int c = 0;
        double sm = 0, sc = 0, sr = 0;
        for (int i = 0; i < n; i++)
            if (rs[i].have[k]) { v[c] = rs[i].m[k].mse[1]; cv[c] = rs[i].m[k].corr[1]; sm += v[c]; sc += cv[c]; sr += rs[i].m[k].r2[1]; c++; }
        if (!c) continue;
        const double mean = sm / c;
        double var = 0;
        for (int i = 0; i < c; i++) var += (v[i] - mean) * (v[i] - mean);
        qsort(v, (size_t)c, sizeof *v, cmp_dbl);
        qsort(cv, (size_t)c, sizeof *cv, cmp_dbl);
        const double med = c % 2 ? v[c / 2] : 0.5 * (v[c / 2 - 1] + v[c / 2]);
        const double cmed = c % 2 ? cv[c / 2] : 0.5 * (cv[c / 2 - 1] + cv[c / 2]);
        fprintf(out, "%-8s %11.5g %11.5g %11.4g %10.4f %10.4f %10.4f\n", mmf_model_names[k], mean, med,
                c > 1 ? sqrt(var / (c - 1)) : 0.0, sc / c, cmed, sr / c);
    }
    free(v);
    free(cv);
}

/* ---- the MPI run ---------------------------------------------------------------------------- */
typedef struct { int idx; MmfSymbolResult r; int failed; char msg[512]; } Done;

int mmf_run_mpi(const MmfConfig *c, const char *cfg_path, int resume, MPI_Comm comm, DlErr *e) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    char run_dir[2300];
    snprintf(run_dir, sizeof run_dir, "%s/%s", c->output_dir, c->run_name);
    /* rank 0: the symbols and their sizes (bars) for the largest-first order */
    typedef char Name[64];
    int n = 0, bad = 0;
    Name *names = dl_calloc(MMF_MAX_SYMS, sizeof(Name));
    int64_t *sizes = dl_calloc(MMF_MAX_SYMS, sizeof(int64_t));
    if (rank == 0) {
        char **all = NULL;
        int na = 0;
        if (mmf_bars_list(c->bars, &all, &na, e)) bad = 1;
        for (int i = 0; !bad && i < (c->n_symbols ? c->n_symbols : na) && n < MMF_MAX_SYMS; i++) {
            const char *sym = c->n_symbols ? c->symbols[i] : all[i];
            MmfBars b;
            if (mmf_bars_read(c->bars, sym, &b, e)) { bad = 1; break; }
            snprintf(names[n], 64, "%s", sym);
            sizes[n++] = b.n;
            mmf_bars_free(&b);
        }
        lobds_free_names(all, na);
        if (!bad && n == 0) bad = dl_err(e, "%s: no symbols", c->bars) != 0;
        char d[2400];
        snprintf(d, sizeof d, "%s/models", run_dir);
        if (!bad && download_mkdir_p(d, e)) bad = 1;
        snprintf(d, sizeof d, "%s/ckpt", run_dir);
        if (!bad && download_mkdir_p(d, e)) bad = 1;
        snprintf(d, sizeof d, "%s/results.h5", run_dir);
        if (!bad && !resume && access(d, F_OK) == 0)
            bad = dl_err(e, "%s exists: a finished run (use --resume to recompute it from its checkpoints, or a new run_name)", d) != 0;
        if (!bad) {
            printf("mmf: %d symbol(s) from %s over %d rank(s), seed %llu, %d epochs, adf_screen %d, quantile %d, xgboost %s -> %s\n",
                   n, c->bars, size, (unsigned long long)c->seed, c->epochs, c->data.adf_screen, c->data.quantile,
                   c->xgb_enabled && mmf_xgb_available() ? "on" : "off", run_dir);
            fflush(stdout);
        }
    }
    MPI_Bcast(&bad, 1, MPI_INT, 0, comm);
    if (bad) { free(names); free(sizes); return 1; }
    MPI_Bcast(&n, 1, MPI_INT, 0, comm);
    MPI_Bcast(names, n * 64, MPI_CHAR, 0, comm);
    MPI_Bcast(sizes, n, MPI_INT64_T, 0, comm);
    int *order = dl_malloc(sizeof(int) * (size_t)n);
    const char *np[MMF_MAX_SYMS];
    for (int i = 0; i < n; i++) np[i] = names[i];
    sched_order(sizes, np, n, order); /* largest first */
    SymbolQueue q = squeue_create(comm, n);
    Done *mine = dl_calloc((size_t)n, sizeof *mine);
    int n_mine = 0;
    for (int k; (k = squeue_next(&q)) >= 0;) {
        Done *d = &mine[n_mine++];
        d->idx = order[k];
        DlErr se = {{0}};
        if (mmf_run_symbol(&d->r, c, names[d->idx], run_dir, resume, &se)) {
            d->failed = 1;
            snprintf(d->msg, sizeof d->msg, "%.511s", se.msg);
        } else {
            printf("mmf: [rank %d] %s: %lld rows, %d features, %.1f s; test MSE lstm %.5g xgboost %.5g zero %.5g\n", rank,
                   d->r.symbol, (long long)d->r.n_rows, d->r.n_feat, d->r.seconds, d->r.m[MMF_LSTM].mse[1],
                   d->r.have[MMF_XGB] ? d->r.m[MMF_XGB].mse[1] : NAN, d->r.m[MMF_ZERO].mse[1]);
            fflush(stdout);
        }
    }
    squeue_free(&q);
    /* gather to rank 0 (bytes: one build on every rank) */
    int mybytes = n_mine * (int)sizeof(Done), *cnt = dl_calloc((size_t)size, sizeof(int)), *dsp = dl_calloc((size_t)size, sizeof(int));
    MPI_Gather(&mybytes, 1, MPI_INT, cnt, 1, MPI_INT, 0, comm);
    int total = 0;
    for (int r = 0; r < size; r++) { dsp[r] = total; total += cnt[r]; }
    Done *all = rank == 0 ? dl_calloc((size_t)n + 1, sizeof(Done)) : NULL;
    MPI_Gatherv(mine, mybytes, MPI_BYTE, all, cnt, dsp, MPI_BYTE, 0, comm);
    int rc = 0;
    if (rank == 0) {
        MmfSymbolResult *rs = dl_calloc((size_t)n, sizeof *rs);
        for (int i = 0; i < n; i++) { /* by name order, whoever computed them */
            const Done *d = &all[i];
            if (d->failed) { rc = dl_err(e, "%s: %s", names[d->idx], d->msg) ? 1 : 1; continue; }
            rs[d->idx] = d->r;
        }
        if (!rc && write_results(run_dir, rs, n, c, size, e)) rc = 1;
        if (!rc) {
            char path[2400];
            snprintf(path, sizeof path, "%s/summary.csv", run_dir);
            char tmp[2500];
            snprintf(tmp, sizeof tmp, "%s.tmp", path);
            FILE *csv = fopen(tmp, "w");
            if (!csv) rc = dl_err(e, "%s: cannot create", tmp) ? 1 : 1;
            else {
                summary(stdout, csv, rs, n);
                if (fclose(csv) || dl_commit_file(tmp, path, e)) rc = 1;
                else printf("mmf: wrote %s/results.h5 and %s\n", run_dir, path);
            }
        }
        free(rs);
        free(all);
        (void)cfg_path;
    }
    MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
    free(mine); free(cnt); free(dsp); free(order); free(names); free(sizes);
    return rc;
}
