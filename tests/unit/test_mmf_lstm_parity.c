/* test_mmf_lstm_parity.c: mmf_lstm against the PyTorch class of tests/ref/mmf_lstm_ref.py
 * on its fixture: outputs at every step, the loss with the warm-up excluded, every
 * gradient, the weights after 5 Adam steps, and the stateful series predictor against the
 * batched forward. Relative tolerances (max |diff| / max |ref|): 1e-5 forward, 1e-4 grads,
 * 1e-4 after 5 steps. Fails (exit 1) on any miss. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/mmf_lstm.h"
#include "io/h5util.h"
#include "io/weights_h5.h"

static int fails = 0;

static double rel(const float *a, const float *b, size_t n) {
    double d = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / m;
}

static void check(const char *what, double r, double tol) {
    printf("  %-34s rel %.3g (tol %.0e) %s\n", what, r, tol, r <= tol ? "ok" : "FAIL");
    if (!(r <= tol)) fails++;
}

int main(void) {
    const char *path = "tests/fixtures/mmf_lstm_ref.h5";
    DlErr e;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) { printf("FAIL: cannot open %s\n", path); return 1; }
    hsize_t dx[3];
    h5u_dims(f, "x", dx, 3, path, &e);
    const int B = (int)dx[0], T = (int)dx[1], F = (int)dx[2];
    int64_t warm = 0;
    double lr = 0;
    h5u_attr_read_i64(f, ".", "warmup", &warm, &e);
    h5u_attr_read_f64(f, ".", "lr", &lr, &e);
    ModelConfig cfg = model_default_config(MODEL_MMF_LSTM);
    cfg.seq_len = T;
    cfg.n_features = F;
    cfg.warmup = (int)warm;
    Model *m = model_create(cfg, B, backend_cpu());
    float *x = malloc(sizeof(float) * B * T * F), *y = malloc(sizeof(float) * B * T), *out = malloc(sizeof(float) * B * T);
    float loss_ref, loss5[5];
    hid_t g = H5Gopen2(f, "init", H5P_DEFAULT);
    if (h5u_read_f32(f, "x", x, (size_t)B * T * F, path, &e) || h5u_read_f32(f, "y", y, (size_t)B * T, path, &e) ||
        h5u_read_f32(f, "out", out, (size_t)B * T, path, &e) || h5u_read_f32(f, "loss", &loss_ref, 1, path, &e) ||
        h5u_read_f32(f, "loss5", loss5, 5, path, &e) || weights_load_h5(m, g, path, &e)) {
        printf("FAIL: %s\n", e.msg);
        return 1;
    }
    H5Gclose(g);
    printf("mmf_lstm parity: B %d T %d F %d warmup %d, %zu parameters\n", B, T, F, (int)warm, model_count_params(m));
    model_forward(m, x, B, 1, 0);
    check("outputs (B,T)", rel(m->out, out, (size_t)B * T), 1e-5);
    float loss = model_loss(m, y, B);
    check("loss", fabs(loss - loss_ref) / fabs(loss_ref), 1e-5);
    model_zero_grad(m);
    model_backward(m, x, B);
    float *buf = malloc(sizeof(float) * 512 * 512);
    for (int k = 0; k < m->n_entries; k++) {
        ParamEntry *p = &m->entries[k];
        char nm[128];
        snprintf(nm, sizeof nm, "grad/%s", p->name);
        if (h5u_read_f32(f, nm, buf, p->numel, path, &e)) { printf("FAIL: %s\n", e.msg); return 1; }
        check(nm, rel(p->grad, buf, p->numel), 1e-4);
    }
    /* stateful series predictor == batched forward, sample by sample */
    float *ps = malloc(sizeof(float) * T);
    double worst = 0;
    for (int b = 0; b < B; b++) {
        mmf_lstm_predict_series(m, x + (size_t)b * T * F, T, ps);
        worst = fmax(worst, rel(ps, out + (size_t)b * T, (size_t)T));
    }
    check("predict_series vs torch outputs", worst, 1e-5);
    /* 5 Adam steps (PyTorch defaults: betas 0.9/0.999, eps 1e-8) */
    for (int s = 0; s < 5; s++) {
        model_forward(m, x, B, 1, 0);
        float l = model_loss(m, y, B);
        model_zero_grad(m);
        model_backward(m, x, B);
        model_adam_step(m, (float)lr);
        char w[64];
        snprintf(w, sizeof w, "loss at Adam step %d", s + 1);
        check(w, fabs(l - loss5[s]) / fabs(loss5[s]), 1e-4);
    }
    for (int k = 0; k < m->n_entries; k++) {
        ParamEntry *p = &m->entries[k];
        char nm[128];
        snprintf(nm, sizeof nm, "step5/%s", p->name);
        if (h5u_read_f32(f, nm, buf, p->numel, path, &e)) { printf("FAIL: %s\n", e.msg); return 1; }
        check(nm, rel(p->data, buf, p->numel), 1e-4);
    }
    /* the warm-up steps carry no gradient: a change there must not move the loss */
    model_forward(m, x, B, 1, 0);
    float l0 = model_loss(m, y, B);
    for (int b = 0; b < B; b++) y[(size_t)b * T] += 100.0f;
    float l1 = model_loss(m, y, B);
    check("loss ignores warm-up targets", fabs(l1 - l0), 0.0);
    H5Fclose(f);
    model_free(m);
    free(x); free(y); free(out); free(buf); free(ps);
    printf(fails ? "test_mmf_lstm_parity: %d FAILED\n" : "test_mmf_lstm_parity: all passed\n", fails);
    return fails ? 1 : 0;
}
