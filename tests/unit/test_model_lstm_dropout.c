/* test_model_lstm_dropout.c: deeplob's lstm_input_dropout (dropout on the
 * (B,Tp,256) sequence the LSTM reads).
 *  - p = 0 is the seed's model: same parameter count, and p > 0 adds no parameters;
 *  - eval mode ignores it (same weights -> bit-identical eval outputs for p = 0 and p > 0);
 *  - training mode applies it (outputs differ from p = 0), deterministically per key;
 *  - gradients through it: central finite differences of L = sum_i w_i out_i (training
 *    mode, fixed dropout key, so the mask is a constant of L) for the LSTM input weights
 *    (which see the dropped sequence) and for the inception branches. BN scales, whose
 *    outputs are the sequence before the dropout (their gradient passes through the mask).
 *    Conv weights in front of a BN are not probed: with h = 1e-2 (or 1e-3) their FD is off by
 *    0.1-1 with or without the dropout (BN makes L nearly scale-invariant in them);
 *  - a training step is bit-identical for 1, 2 and 3 threads.
 * FD tolerance: L is computed in float through ~20 layers with training-mode BN;
 * h = 1e-2 as in test_layer_lstm.c. A missing mask or 1/(1-p) scale in backward is
 * off by O(1) (a factor 1/(1-p) = 1.43 or a dropped element's full gradient). */
#include <string.h>

#include "engine/model.h"
#include "gradcheck.h"

#define B 4
#define T 20
#define P_IN 0.3f

static Model *make(float p_in, int threads) {
    backend_cpu_set_threads(threads);
    ModelConfig cfg = model_default_config(MODEL_DEEPLOB);
    cfg.seq_len = T;
    cfg.dropout = 0.0f; /* isolate the new dropout from the head's */
    cfg.lstm_input_dropout = p_in;
    Model *m = model_create(cfg, B, backend_cpu());
    model_init_params(m, 7);
    return m;
}

typedef struct {
    Model *m;
    const float *x, *w;
    uint64_t key;
} Ctx;

static double loss_fn(void *vc) {
    Ctx *c = vc;
    model_forward(c->m, c->x, B, 1, c->key);
    double L = 0;
    for (int i = 0; i < B; i++) L += (double)c->w[i] * c->m->out[i];
    return L;
}

int main(void) {
    size_t nx = (size_t)B * T * 40;
    float *x = malloc(nx * sizeof(float)), w[B];
    gc_fill(x, nx, 21, 1.0f);
    gc_fill(w, B, 22, 1.0f);

    Model *m0 = make(0.0f, 1), *m1 = make(P_IN, 1);
    CHECK(m0->n_params == m1->n_params && !memcmp(m0->params, m1->params, m0->n_params * sizeof(float)),
          "lstm_input_dropout changed the parameters");
    size_t np = m1->n_params;
    printf("deeplob T=%d: %zu parameters with and without lstm_input_dropout\n", T, model_count_params(m1));

    /* eval: identical; training: different (the mask is applied), same key -> same output */
    float e0[B], e1[B], t0[B], t1[B], t1b[B];
    model_forward(m0, x, B, 0, 0), memcpy(e0, m0->out, sizeof e0);
    model_forward(m1, x, B, 0, 0), memcpy(e1, m1->out, sizeof e1);
    CHECK(!memcmp(e0, e1, sizeof e0), "eval outputs depend on lstm_input_dropout");
    model_forward(m0, x, B, 1, 9), memcpy(t0, m0->out, sizeof t0);
    model_forward(m1, x, B, 1, 9), memcpy(t1, m1->out, sizeof t1);
    model_forward(m1, x, B, 1, 9), memcpy(t1b, m1->out, sizeof t1b);
    CHECK(memcmp(t0, t1, sizeof t0) != 0, "training outputs unchanged by lstm_input_dropout %g", (double)P_IN);
    CHECK(!memcmp(t1, t1b, sizeof t1), "training outputs not deterministic for a fixed dropout key");
    printf("eval outputs p=0 vs p=%.1f: %s; training outputs: %s; same key twice: %s\n", (double)P_IN,
           memcmp(e0, e1, sizeof e0) ? "DIFFERENT" : "identical", memcmp(t0, t1, sizeof t0) ? "differ" : "SAME",
           memcmp(t1, t1b, sizeof t1) ? "DIFFERENT" : "identical");

    /* gradients by finite differences */
    Ctx c = {m1, x, w, 9};
    loss_fn(&c);
    memcpy(m1->dout, w, sizeof w);
    model_zero_grad(m1);
    model_backward(m1, x, B);
    const char *names[] = {"lstm.weight_ih_l0", "lstm.bias_ih_l0", "bn_inc1.weight", "bn_inc2.weight",
                           "bn_inc3.weight", "bn_inc4.weight"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        ParamEntry *e = model_find(m1, names[k]);
        CHECK(e != NULL, "no entry %s", names[k]);
        if (!e) continue;
        float *g = malloc(e->numel * sizeof(float));
        memcpy(g, e->grad, e->numel * sizeof(float)); /* loss_fn's forwards leave the grads alone, but copy */
        double err = gc_fd_check(e->data, g, e->numel, loss_fn, &c, 1e-2, 60, 1e-2);
        printf("  fd %-20s max rel err %.2e (<= 2e-2)\n", names[k], err);
        CHECK(err <= 2e-2, "fd %s: err %.3e", names[k], err);
        free(g);
    }

    /* one training step (forward, backward, Adam) for 1/2/3 threads: bit-identical */
    float *p[3], *gr[3];
    for (int t = 0; t < 3; t++) {
        Model *mt = make(P_IN, t + 1);
        model_forward(mt, x, B, 1, 11);
        model_loss(mt, w, B);
        model_zero_grad(mt);
        model_backward(mt, x, B);
        model_adam_step(mt, 1e-3f);
        p[t] = malloc(np * sizeof(float)), gr[t] = malloc(np * sizeof(float));
        memcpy(p[t], mt->params, np * sizeof(float)), memcpy(gr[t], mt->grads, np * sizeof(float));
        model_free(mt);
    }
    for (int t = 1; t < 3; t++)
        CHECK(!memcmp(p[0], p[t], np * sizeof(float)) && !memcmp(gr[0], gr[t], np * sizeof(float)),
              "training step with lstm_input_dropout differs, 1 vs %d threads", t + 1);
    printf("training step with lstm_input_dropout: params and grads bit-identical for 1/2/3 threads\n");
    for (int t = 0; t < 3; t++) free(p[t]), free(gr[t]);
    model_free(m0), model_free(m1);
    free(x);
    return gc_summary("test_model_lstm_dropout");
}
