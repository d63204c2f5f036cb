/* backend_prof.c: a Backend that wraps another and times every op, for
 * `bench --profile`. Wall time per op kind; single-threaded callers only (the
 * model calls ops one after another, each op parallelises inside). */
#include <stdio.h>
#include <string.h>

#include "../common/util.h"
#include "backend.h"

enum { P_CONV_F, P_CONV_B, P_BN_F, P_BN_B, P_LEAKY, P_POOL, P_LSTM_F, P_LSTM_B, P_LIN_F, P_LIN_B, P_DROP,
       P_ADD, P_LOSS, P_NORM, P_ADAM, P_COUNT };
static const char *prof_names[P_COUNT] = {"conv2d forward", "conv2d backward", "batchnorm forward",
    "batchnorm backward", "leaky relu", "maxpool", "lstm forward", "lstm backward", "linear forward",
    "linear backward", "dropout", "add/accumulate", "huber loss", "grad norm/scale", "adam"};

typedef struct {
    Backend be;            /* must be first: the model sees a Backend */
    const Backend *in;
    double t[P_COUNT];
    long n[P_COUNT];
} ProfBackend;

static ProfBackend g_prof; /* one profiled backend per process: bench only */

#define TIMED(slot, call) do { double t0_ = dl_now(); call; g_prof.t[slot] += dl_now() - t0_; g_prof.n[slot]++; } while (0)

static void conv_f(float *o, const float *i, const float *w, const float *b, ConvDims d, float *s) { TIMED(P_CONV_F, g_prof.in->conv2d_forward(o, i, w, b, d, s)); }
static void conv_b(float *di, float *dw, float *db, const float *dout, const float *in, const float *w, ConvDims d, float *s) { TIMED(P_CONV_B, g_prof.in->conv2d_backward(di, dw, db, dout, in, w, d, s)); }
static void bn_f(float *y, float *m, float *r, float *rm, float *rv, const float *x, const float *g, const float *b, BNDims d, int tr, float *s) { TIMED(P_BN_F, g_prof.in->batchnorm_forward(y, m, r, rm, rv, x, g, b, d, tr, s)); }
static void bn_b(float *dx, float *dg, float *db, const float *dy, const float *y, const float *x, const float *g, const float *be, const float *m, const float *r, BNDims d, float *s) { TIMED(P_BN_B, g_prof.in->batchnorm_backward(dx, dg, db, dy, y, x, g, be, m, r, d, s)); }
static void lk_f(float *y, const float *x, int rows, int C, int xl, int yl, float sl) { TIMED(P_LEAKY, g_prof.in->leaky_forward(y, x, rows, C, xl, yl, sl)); }
static void lk_b(float *dx, const float *dy, const float *y, int rows, int C, int a, int b, int c, float sl, int acc) { TIMED(P_LEAKY, g_prof.in->leaky_backward(dx, dy, y, rows, C, a, b, c, sl, acc)); }
static void mp_f(float *y, const float *x, PoolDims d) { TIMED(P_POOL, g_prof.in->maxpool3_forward(y, x, d)); }
static void mp_b(float *dx, const float *dy, const float *x, PoolDims d) { TIMED(P_POOL, g_prof.in->maxpool3_backward(dx, dy, x, d)); }
static void ls_f(float *h, float *c, const float *x, const float *wi, const float *wh, const float *bi, const float *bh, LSTMDims d, float *s) { TIMED(P_LSTM_F, g_prof.in->lstm_forward(h, c, x, wi, wh, bi, bh, d, s)); }
static void ls_b(float *dx, float *a, float *b, float *c, float *e, const float *dh, const float *ca, const float *x, const float *wi, const float *wh, LSTMDims d, float *s) { TIMED(P_LSTM_B, g_prof.in->lstm_backward(dx, a, b, c, e, dh, ca, x, wi, wh, d, s)); }
static void li_f(float *y, const float *x, const float *w, const float *b, LinearDims d, float *s) { TIMED(P_LIN_F, g_prof.in->linear_forward(y, x, w, b, d, s)); }
static void li_b(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, LinearDims d, float *s) { TIMED(P_LIN_B, g_prof.in->linear_backward(dx, dw, db, dy, x, w, d, s)); }
static void dr_f(float *y, uint8_t *m, const float *x, size_t n, float p, uint64_t k) { TIMED(P_DROP, g_prof.in->dropout_forward(y, m, x, n, p, k)); }
static void dr_b(float *dx, const float *dy, const uint8_t *m, size_t n, float p) { TIMED(P_DROP, g_prof.in->dropout_backward(dx, dy, m, n, p)); }
static void ad(float *y, const float *a, const float *b, size_t n) { TIMED(P_ADD, g_prof.in->add(y, a, b, n)); }
static void acc(float *y, const float *a, size_t n) { TIMED(P_ADD, g_prof.in->accumulate(y, a, n)); }
static float hub(float *d, const float *p, const float *t, int n, float de, float w) { float r; TIMED(P_LOSS, r = g_prof.in->huber_loss(d, p, t, n, de, w)); return r; }
static double ssq(const float *x, size_t n) { double r; TIMED(P_NORM, r = g_prof.in->sumsq(x, n)); return r; }
static void scl(float *x, size_t n, float s) { TIMED(P_NORM, g_prof.in->scale(x, n, s)); }
static void adm(float *p, const float *g, float *m, float *v, size_t n, float lr, float b1, float b2, float e, float wd, int t) { TIMED(P_ADAM, g_prof.in->adam_update(p, g, m, v, n, lr, b1, b2, e, wd, t)); }

/* attention ops (deeplob_hier): their own counters, printed after the others */
enum { PA_BMM_F, PA_BMM_B, PA_SOFTMAX, PA_GATE, PA_COPY, PA_COUNT };
static const char *prof_att_names[PA_COUNT] = {"attn bmm forward", "attn bmm backward", "softmax",
    "sigmoid gate", "concat/copy rows"};
static double g_att_t[PA_COUNT];
static long g_att_n[PA_COUNT];
#define TIMED_A(slot, call) do { double t0_ = dl_now(); call; g_att_t[slot] += dl_now() - t0_; g_att_n[slot]++; } while (0)
static void as_f(float *S, const float *Q, const float *K, AttnDims d, float *s) { TIMED_A(PA_BMM_F, g_prof.in->attn_scores_forward(S, Q, K, d, s)); }
static void as_b(float *dQ, float *dK, const float *dS, const float *Q, const float *K, AttnDims d, float *s) { TIMED_A(PA_BMM_B, g_prof.in->attn_scores_backward(dQ, dK, dS, Q, K, d, s)); }
static void aa_f(float *O, const float *P, const float *V, AttnDims d, float *s) { TIMED_A(PA_BMM_F, g_prof.in->attn_apply_forward(O, P, V, d, s)); }
static void aa_b(float *dP, float *dV, const float *dO, const float *P, const float *V, AttnDims d, float *s) { TIMED_A(PA_BMM_B, g_prof.in->attn_apply_backward(dP, dV, dO, P, V, d, s)); }
static void sm_f(float *P, const float *S, int r, int n) { TIMED_A(PA_SOFTMAX, g_prof.in->softmax_forward(P, S, r, n)); }
static void sm_b(float *dS, const float *dP, const float *P, int r, int n) { TIMED_A(PA_SOFTMAX, g_prof.in->softmax_backward(dS, dP, P, r, n)); }
static void gm_f(float *y, const float *g, const float *t, size_t n) { TIMED_A(PA_GATE, g_prof.in->gate_mul_forward(y, g, t, n)); }
static void gm_b(float *dg, float *dt, const float *dy, const float *g, const float *t, size_t n) { TIMED_A(PA_GATE, g_prof.in->gate_mul_backward(dg, dt, dy, g, t, n)); }
static void cp_r(float *y, const float *x, int r, int C, int ly, int lx, int acc_) { TIMED_A(PA_COPY, g_prof.in->copy_rows(y, x, r, C, ly, lx, acc_)); }

const Backend *backend_profiled(const Backend *inner) {
    g_prof.in = inner;
    g_prof.be = *inner;
    g_prof.be.name = "profiled";
    g_prof.be.conv2d_forward = conv_f; g_prof.be.conv2d_backward = conv_b;
    g_prof.be.batchnorm_forward = bn_f; g_prof.be.batchnorm_backward = bn_b;
    g_prof.be.leaky_forward = lk_f; g_prof.be.leaky_backward = lk_b;
    g_prof.be.maxpool3_forward = mp_f; g_prof.be.maxpool3_backward = mp_b;
    g_prof.be.lstm_forward = ls_f; g_prof.be.lstm_backward = ls_b;
    g_prof.be.linear_forward = li_f; g_prof.be.linear_backward = li_b;
    g_prof.be.dropout_forward = dr_f; g_prof.be.dropout_backward = dr_b;
    g_prof.be.add = ad; g_prof.be.accumulate = acc;
    g_prof.be.huber_loss = hub; g_prof.be.sumsq = ssq; g_prof.be.scale = scl; g_prof.be.adam_update = adm;
    g_prof.be.attn_scores_forward = as_f; g_prof.be.attn_scores_backward = as_b;
    g_prof.be.attn_apply_forward = aa_f; g_prof.be.attn_apply_backward = aa_b;
    g_prof.be.softmax_forward = sm_f; g_prof.be.softmax_backward = sm_b;
    g_prof.be.gate_mul_forward = gm_f; g_prof.be.gate_mul_backward = gm_b;
    g_prof.be.copy_rows = cp_r;
    memset(g_att_t, 0, sizeof g_att_t);
    memset(g_att_n, 0, sizeof g_att_n);
    memset(g_prof.t, 0, sizeof g_prof.t);
    memset(g_prof.n, 0, sizeof g_prof.n);
    return &g_prof.be;
}

void backend_profile_reset(void) {
    memset(g_prof.t, 0, sizeof g_prof.t);
    memset(g_prof.n, 0, sizeof g_prof.n);
    memset(g_att_t, 0, sizeof g_att_t);
    memset(g_att_n, 0, sizeof g_att_n);
}

void backend_profile_print(FILE *f, int steps) {
    double tot = 0;
    for (int i = 0; i < P_COUNT; i++) tot += g_prof.t[i];
    for (int i = 0; i < PA_COUNT; i++) tot += g_att_t[i];
    fprintf(f, "  per-op time per step (%d steps):\n", steps);
    for (int i = 0; i < P_COUNT; i++)
        if (g_prof.n[i])
            fprintf(f, "    %-20s %8.2f ms  %5.1f %%  (%ld calls)\n", prof_names[i], 1e3 * g_prof.t[i] / steps,
                    100 * g_prof.t[i] / tot, g_prof.n[i] / steps);
    for (int i = 0; i < PA_COUNT; i++)
        if (g_att_n[i])
            fprintf(f, "    %-20s %8.2f ms  %5.1f %%  (%ld calls)\n", prof_att_names[i], 1e3 * g_att_t[i] / steps,
                    100 * g_att_t[i] / tot, g_att_n[i] / steps);
    fprintf(f, "    %-20s %8.2f ms\n", "total in ops", 1e3 * tot / steps);
}
