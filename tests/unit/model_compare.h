/* model_compare.h: one model on a second backend against the same model on the CPU
 * backend (test_gpu_seq: the CUDA backend's op sequences run by CPU primitives;
 * test_cuda_backend: the CUDA backend itself).
 *
 * Inputs and initial weights: the PyTorch parity fixture (tests/fixtures/<model>_ref.h5)
 * when there is one (its training forward keeps a margin from every kink, so a
 * different summation order cannot flip a LeakyReLU or a max-pool winner), else
 * random ones (mmf_lstm: no kinks but the head's ReLU). Compared: eval and training
 * outputs, loss, every gradient, BN buffers, gradient norm, then 5 Adam steps with
 * clipping (losses, norms, the state after them, eval output), with test_parity's
 * tolerances (test_parity.c's header says where they come from):
 *   outputs, loss, buffers 2e-5; gradients 5e-5 of the tensor's scale, or 10x the
 *   fixture's fp32 rounding floor when larger, and the BN-cancelled biases (true
 *   gradient 0, both sides rounding noise) <= 1e-5 of their weight's gradient;
 *   without a fixture 5e-5 with a floor of 1e-3 of the model's largest gradient;
 *   after 5 steps 1e-4 (floor 1e-2, the parameters' scale).
 * Memory of a device model is read through the Backend's copies (model_sync_host,
 * copy_to_host), as every host-side reader must. */
#ifndef DL_MODEL_COMPARE_H
#define DL_MODEL_COMPARE_H

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/model.h"
#include "gradcheck.h"
#include "io/h5util.h"
#include "io/weights_h5.h"

static int mc_check(const char *model, const char *what, double err, double tol) {
    int ok = err <= tol && err == err;
    CHECK(ok, "%s: %s: rel err %.3g > tol %.3g", model, what, err, tol);
    return ok;
}

/* host copies of a model's memory, whichever backend it runs on */
typedef struct {
    float *out, *params, *grads, *buffers;
} McState;

static void mc_read(const Model *m, McState *s, int B) {
    size_t np = m->n_params;
    s->out = (float *)realloc(s->out, ((size_t)B * m->n_out + 1) * sizeof(float));
    s->params = (float *)realloc(s->params, (np + 1) * sizeof(float));
    s->grads = (float *)realloc(s->grads, (np + 1) * sizeof(float));
    s->buffers = (float *)realloc(s->buffers, (m->n_buffers + 1) * sizeof(float));
    model_read_out(m, s->out, B);
    model_sync_host(m);
    memcpy(s->params, m->host_params, np * sizeof(float));
    memcpy(s->buffers, m->host_buffers, m->n_buffers * sizeof(float));
    m->be->copy_to_host(s->grads, m->grads, np * sizeof(float));
}

static void mc_free(McState *s) {
    free(s->out);
    free(s->params);
    free(s->grads);
    free(s->buffers);
    memset(s, 0, sizeof *s);
}

/* per entry: max|a-b| / max(max|b|, floor) over the entry's slice of an arena */
static double mc_entry_err(const ParamEntry *p, const Model *m, const float *a, const float *b, int grads, double floor_) {
    size_t off = grads ? (size_t)(p->grad - m->grads) : p->trainable ? (size_t)(p->data - m->params)
                                                                     : (size_t)(p->data - m->buffers);
    return gc_rel_err(a + off, b + off, p->numel, floor_);
}

/* fixture helpers (as test_parity.c): max |x| of a reference tensor; the fp32 rounding
 * floor noise/<path>; the partner weight gradient's max of a "<layer>.bias" */
static double mc_ref_max(hid_t f, const char *path) {
    hsize_t dims[8];
    DlErr e;
    int r = h5u_dims(f, path, dims, 8, "fixture", &e);
    if (r < 0) return INFINITY;
    size_t n = 1;
    for (int i = 0; i < r; i++) n *= dims[i];
    float *v = (float *)malloc(n * sizeof(float));
    double mx = INFINITY;
    if (h5u_read_f32(f, path, v, n, "fixture", &e) == 0) {
        mx = 0;
        for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(v[i]));
    }
    free(v);
    return mx;
}
static double mc_noise(hid_t f, const char *path) {
    char np[256];
    snprintf(np, sizeof np, "noise/%s", path);
    if (!h5u_exists(f, np)) return 0;
    hsize_t dims[8];
    DlErr e;
    int r = h5u_dims(f, np, dims, 8, "fixture", &e);
    if (r < 0) return 0;
    size_t n = 1;
    for (int i = 0; i < r; i++) n *= dims[i];
    double *v = (double *)malloc(n * sizeof(double)), mx = 0;
    if (h5u_read_f64(f, np, v, n, "fixture", &e) == 0)
        for (size_t i = 0; i < n; i++) mx = fmax(mx, v[i]);
    free(v);
    return mx;
}
static double mc_bias_partner_max(hid_t f, const char *name) {
    size_t n = strlen(name);
    if (n < 5 || strcmp(name + n - 5, ".bias")) return 0;
    char w[160];
    snprintf(w, sizeof w, "train/grad/%.*s.weight", (int)(n - 5), name);
    return h5u_exists(f, w) ? mc_ref_max(f, w) : 0;
}

typedef struct {
    int B;
    float *x, *y;
    float lr, clip;
    int have_fixture;
    hid_t f;
} McData;

static void mc_data_free(McData *d) {
    free(d->x);
    free(d->y);
    if (d->f >= 0) H5Fclose(d->f);
}

/* inputs and the config: fixture or random */
static ModelConfig mc_setup(const char *name, McData *d) {
    ModelKind kind;
    memset(d, 0, sizeof *d);
    d->f = -1;
    if (model_kind_parse(name, &kind) != 0) { fprintf(stderr, "unknown model %s\n", name); exit(2); }
    ModelConfig cfg = model_default_config(kind);
    cfg.dropout = 0.0f;
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/%s_ref.h5", name);
    h5u_quiet();
    if (kind != MODEL_MMF_LSTM) d->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (d->f >= 0) {
        int64_t B = 0, T = 0;
        double v = 0;
        DlErr e;
        h5u_attr_read_i64(d->f, ".", "batch", &B, &e);
        h5u_attr_read_i64(d->f, ".", "seq_len", &T, &e);
        cfg.seq_len = (int)T;
        h5u_attr_read_f64(d->f, ".", "huber_delta", &v, &e);
        cfg.huber_delta = (float)v;
        h5u_attr_read_f64(d->f, ".", "adam_eps", &v, &e);
        cfg.adam_eps = (float)v;
        h5u_attr_read_f64(d->f, ".", "lr", &v, &e);
        d->lr = (float)v;
        h5u_attr_read_f64(d->f, ".", "clip", &v, &e);
        d->clip = (float)v;
        d->B = (int)B;
        d->have_fixture = 1;
    } else {
        d->B = 6;
        cfg.seq_len = kind == MODEL_MMF_LSTM ? 40 : 30;
        cfg.adam_eps = 1.0f;
        if (kind == MODEL_MMF_LSTM) cfg.warmup = 8;
        d->lr = 1e-3f;
        d->clip = 1.0f;
    }
    return cfg;
}

static void mc_inputs(McData *d, const Model *m) {
    const size_t nx = (size_t)d->B * m->cfg.seq_len * m->cfg.n_features, ny = (size_t)d->B * m->n_out;
    d->x = (float *)malloc(nx * sizeof(float));
    d->y = (float *)malloc(ny * sizeof(float));
    if (d->have_fixture) {
        DlErr e;
        CHECK(h5u_read_f32(d->f, "x", d->x, nx, "fixture", &e) == 0, "%s", e.msg);
        CHECK(h5u_read_f32(d->f, "y", d->y, ny, "fixture", &e) == 0, "%s", e.msg);
    } else {
        gc_fill(d->x, nx, 11, 1.0f);
        gc_fill(d->y, ny, 12, 0.5f);
    }
}

static void mc_init_weights(Model *m, McData *d) {
    if (d->have_fixture) {
        DlErr e;
        hid_t g = H5Gopen2(d->f, "init", H5P_DEFAULT);
        CHECK(weights_load_h5(m, g, "fixture", &e) == 0, "load init: %s", e.msg);
        H5Gclose(g);
        model_sync_host(m); /* the weights as loaded; then fresh Adam moments */
        memset(m->host_adam_m, 0, m->n_params * sizeof(float));
        memset(m->host_adam_v, 0, m->n_params * sizeof(float));
        model_sync_device(m);
        m->adam_t = 0;
    } else {
        model_init_params(m, 99);
    }
}

/* every gradient (so.grads vs the CPU's sc.grads, test_parity's rules when there is a
 * fixture) and every BN buffer of a model laid out as m; returns the worst gradient error */
static double mc_check_grads_buffers(const char *name, const McData *d, const Model *mc, const McState *so,
                                     const McState *sc) {
    char label[160];
    double gmax = 0, worst_g = 0;
    for (size_t i = 0; i < mc->n_params; i++) gmax = fmax(gmax, fabs(sc->grads[i]));
    for (int k = 0; k < mc->n_entries; k++) {
        const ParamEntry *p = &mc->entries[k];
        if (p->kind == PT_COUNTER) continue;
        double err;
        if (p->trainable) {
            double tol = 5e-5, floor_ = 1e-3 * gmax;
            snprintf(label, sizeof label, "grad %s", p->name);
            if (d->have_fixture) { /* test_parity's rules */
                char rp[200];
                snprintf(rp, sizeof rp, "train/grad/%s", p->name);
                double rmax = mc_ref_max(d->f, rp), wmax = mc_bias_partner_max(d->f, p->name);
                if (wmax > 0 && rmax <= 1e-5 * wmax) {
                    /* a bias in front of a BatchNorm: true gradient 0, both sides rounding noise */
                    size_t off = (size_t)(p->grad - mc->grads);
                    double mine = 0;
                    for (size_t i = 0; i < p->numel; i++) mine = fmax(mine, fabs(so->grads[off + i]));
                    CHECK(mine <= 1e-5 * wmax, "%s: grad %s should be ~0 (BN follows): max %.3g vs weight grad %.3g",
                          name, p->name, mine, wmax);
                    continue;
                }
                floor_ = 1e-8;
                tol = fmax(5e-5, 10 * mc_noise(d->f, rp) / fmax(rmax, 1e-8));
            }
            err = mc_entry_err(p, mc, so->grads, sc->grads, 1, floor_);
            mc_check(name, label, err, tol);
            if (err > worst_g) worst_g = err;
        } else {
            err = mc_entry_err(p, mc, so->buffers, sc->buffers, 0, 1e-6);
            snprintf(label, sizeof label, "buffer %s", p->name);
            mc_check(name, label, err, 2e-5);
        }
    }
    return worst_g;
}

/* The comparison; returns the number of failed checks it added. With repeat: the
 * other backend run twice from the same state gives the same bits (determinism). */
static int mc_compare(const char *name, const Backend *other, int repeat) {
    const int fails0 = gc_failures;
    McData d;
    ModelConfig cfg = mc_setup(name, &d);
    Model *mc = model_create(cfg, d.B, backend_cpu()), *mo = model_create(cfg, d.B, other);
    mc_inputs(&d, mc);
    const int B = d.B, no = mc->n_out;
    McState sc = {0}, so = {0};
    double worst_g = 0;
    char label[160];
    for (int pass = 0; pass < 1 + !!repeat; pass++) { /* pass 1 repeats the other backend's run: same bits */
        McState first = {0};
        if (pass == 1) {
            first = so;
            memset(&so, 0, sizeof so);
        }
        mc_init_weights(mc, &d);
        mc_init_weights(mo, &d);
        for (int k = 0; k < mo->n_counters; k++) mo->counters[k] = mc->counters[k] = 0;
        model_forward(mc, d.x, B, 0, 0);
        model_forward(mo, d.x, B, 0, 0);
        mc_read(mc, &sc, B);
        mc_read(mo, &so, B);
        if (pass == 0) mc_check(name, "eval out", gc_rel_err(so.out, sc.out, (size_t)B * no, 1e-3), 2e-5);
        model_forward(mc, d.x, B, 1, 0);
        model_forward(mo, d.x, B, 1, 0);
        float lc = model_loss(mc, d.y, B), lo = model_loss(mo, d.y, B);
        model_zero_grad(mc);
        model_zero_grad(mo);
        model_backward(mc, d.x, B);
        model_backward(mo, d.x, B);
        mc_read(mc, &sc, B);
        mc_read(mo, &so, B);
        if (pass == 0) {
            mc_check(name, "train out", gc_rel_err(so.out, sc.out, (size_t)B * no, 1e-3), 2e-5);
            mc_check(name, "train loss", fabs((double)lo - lc) / fmax(fabs((double)lc), 1e-6), 2e-5);
            worst_g = mc_check_grads_buffers(name, &d, mc, &so, &sc);
        }
        double nc = 0, nn = 0;
        for (int s = 0; s < 5; s++) {
            if (s > 0) {
                model_forward(mc, d.x, B, 1, 0);
                model_forward(mo, d.x, B, 1, 0);
                lc = model_loss(mc, d.y, B);
                lo = model_loss(mo, d.y, B);
                model_zero_grad(mc);
                model_zero_grad(mo);
                model_backward(mc, d.x, B);
                model_backward(mo, d.x, B);
            }
            nc = model_clip_grad(mc, d.clip);
            nn = model_clip_grad(mo, d.clip);
            model_adam_step(mc, d.lr);
            model_adam_step(mo, d.lr);
            if (pass == 0) {
                snprintf(label, sizeof label, "step %d loss", s + 1);
                mc_check(name, label, fabs((double)lo - lc) / fmax(fabs((double)lc), 1e-6), 5e-5);
                snprintf(label, sizeof label, "step %d grad norm", s + 1);
                mc_check(name, label, fabs(nn - nc) / fmax(nc, 1e-12), 1e-4);
            }
        }
        model_forward(mc, d.x, B, 0, 0);
        model_forward(mo, d.x, B, 0, 0);
        mc_read(mc, &sc, B);
        mc_read(mo, &so, B);
        if (pass == 0) {
            double worst = 0;
            for (int k = 0; k < mc->n_entries; k++) {
                const ParamEntry *p = &mc->entries[k];
                if (p->kind == PT_COUNTER) continue;
                double err = mc_entry_err(p, mc, p->trainable ? so.params : so.buffers,
                                          p->trainable ? sc.params : sc.buffers, 0, 1e-2);
                snprintf(label, sizeof label, "after 5 steps %s", p->name);
                mc_check(name, label, err, 1e-4);
                if (err > worst) worst = err;
            }
            mc_check(name, "eval out after 5 steps", gc_rel_err(so.out, sc.out, (size_t)B * no, 1e-3), 1e-4);
            printf("%-13s on %s vs cpu: %s, B=%d: worst gradient rel err %.2e, state after 5 steps %.2e\n", name,
                   other->name, d.have_fixture ? "parity fixture" : "random inputs", B, worst_g, worst);
        } else {
            int same = !memcmp(first.out, so.out, (size_t)B * no * sizeof(float)) &&
                       !memcmp(first.params, so.params, mo->n_params * sizeof(float)) &&
                       !memcmp(first.grads, so.grads, mo->n_params * sizeof(float)) &&
                       !memcmp(first.buffers, so.buffers, mo->n_buffers * sizeof(float));
            CHECK(same, "%s on %s: a second identical run gave different bits", name, other->name);
            printf("%-13s on %s: second run %s\n", name, other->name, same ? "bit-identical" : "DIFFERS");
            mc_free(&first);
        }
    }
    mc_free(&sc);
    mc_free(&so);
    model_free(mc);
    model_free(mo);
    mc_data_free(&d);
    return gc_failures - fails0;
}

#endif
