/* mmf_lstm.c: the MMF study's sequence LSTM (../shared/design/mmf.md, "Models"):
 *   x (B,T,F) -> LSTM(F,128) -> h (B,T,128) -> Linear(128,16) -> ReLU -> Linear(16,1) -> out (B,T)
 * an output at every step; loss = MSE over steps warmup..T-1 (the first `warmup` steps only
 * warm the state up). PyTorch names: lstm.*, hid_to_h1l.*, h1l_to_out.*. The LSTM and
 * Linear layers are the engine's (the LSTM's backward takes dL/dh of every step). */
#include <string.h>

#include "../common/util.h"
#include "layers/lstm_cell.h"
#include "layers/layers_cpu.h"
#include "mmf_lstm.h"
#include "model_impl.h"

#define MMF_H 128
#define MMF_H1 16

typedef struct {
    LSTMDims ld;
    float *w_ih, *w_hh, *b_ih, *b_hh, *gw_ih, *gw_hh, *gb_ih, *gb_hh;
    float *h_last, *cache;
    Lin l1, l2;
    float *a1, *r1, *g_r1, *g_a1, *g_h; /* (B*T,16) pre/post ReLU and their grads; (B*T,H) dL/dh */
} MmfLstm;

static void mmf_layout(Layout *L) {
    Model *m = L->m;
    if (!m->impl) m->impl = dl_calloc(1, sizeof(MmfLstm));
    MmfLstm *d = m->impl;
    const int T = m->cfg.seq_len, F = m->cfg.n_features, H = MMF_H;
    const size_t BT = (size_t)m->max_batch * T;
    m->n_out = T; /* before the arenas are sized: out/dout are (B, T) */
    int s_ih[2] = {4 * H, F}, s_hh[2] = {4 * H, H}, s_b = 4 * H;
    d->w_ih = decl_param(L, "lstm.weight_ih_l0", 2, s_ih, PT_PLAIN, INIT_UNIFORM_HIDDEN, H, &d->gw_ih);
    d->w_hh = decl_param(L, "lstm.weight_hh_l0", 2, s_hh, PT_PLAIN, INIT_UNIFORM_HIDDEN, H, &d->gw_hh);
    d->b_ih = decl_param(L, "lstm.bias_ih_l0", 1, &s_b, PT_PLAIN, INIT_UNIFORM_HIDDEN, H, &d->gb_ih);
    d->b_hh = decl_param(L, "lstm.bias_hh_l0", 1, &s_b, PT_PLAIN, INIT_UNIFORM_HIDDEN, H, &d->gb_hh);
    LSTMDims ld = {.B = m->max_batch, .T = T, .In = F, .H = H, .x_ld = F, .accumulate_dx = 0};
    d->ld = ld;
    d->cache = decl_act(L, m->be->lstm_cache_floats(ld));
    d->h_last = decl_act(L, (size_t)m->max_batch * H);
    need_scratch(L, m->be->lstm_scratch_floats(ld, L->threads));
    lin_decl(L, &d->l1, "hid_to_h1l", H, MMF_H1);
    lin_decl(L, &d->l2, "h1l_to_out", MMF_H1, 1);
    d->l1.d.N = d->l2.d.N = (int)BT; /* the heads run on every step's hidden state */
    need_scratch(L, m->be->linear_scratch_floats(d->l1.d, L->threads));
    need_scratch(L, m->be->linear_scratch_floats(d->l2.d, L->threads));
    d->a1 = decl_act(L, BT * MMF_H1);
    d->r1 = decl_act(L, BT * MMF_H1);
    d->g_r1 = decl_act(L, BT * MMF_H1);
    d->g_a1 = decl_act(L, BT * MMF_H1);
    d->g_h = decl_act(L, BT * H);
}

static const float *hidden(const MmfLstm *d, int B) { return d->cache + lstm_cache_h(B, d->ld.T, d->ld.H); }

static void mmf_forward(Model *m, const float *x, int B, int training, uint64_t key) {
    MmfLstm *d = m->impl;
    LSTMDims ld = d->ld;
    ld.B = B;
    m->be->lstm_forward(d->h_last, d->cache, x, d->w_ih, d->w_hh, d->b_ih, d->b_hh, ld, m->scratch);
    LinearDims d1 = d->l1.d, d2 = d->l2.d;
    d1.N = d2.N = B * ld.T;
    m->be->linear_forward(d->a1, hidden(d, B), d->l1.w, d->l1.b, d1, m->scratch);
    m->be->leaky_forward(d->r1, d->a1, d1.N, MMF_H1, MMF_H1, MMF_H1, 0.0f); /* slope 0: ReLU */
    m->be->linear_forward(m->out, d->r1, d->l2.w, d->l2.b, d2, m->scratch);              /* (B*T, 1) = (B, T) */
}

static void mmf_backward(Model *m, const float *x, int B) {
    MmfLstm *d = m->impl;
    LSTMDims ld = d->ld;
    ld.B = B;
    LinearDims d1 = d->l1.d, d2 = d->l2.d;
    d1.N = d2.N = B * ld.T;
    m->be->linear_backward(d->g_r1, d->l2.gw, d->l2.gb, m->dout, d->r1, d->l2.w, d2, m->scratch);
    m->be->leaky_backward(d->g_a1, d->g_r1, d->r1, d1.N, MMF_H1, MMF_H1, MMF_H1, MMF_H1, 0.0f, 0);
    m->be->linear_backward(d->g_h, d->l1.gw, d->l1.gb, d->g_a1, hidden(d, B), d->l1.w, d1, m->scratch);
    ld.dh_every_step = 1;
    m->be->lstm_backward(NULL, d->gw_ih, d->gw_hh, d->gb_ih, d->gb_hh, d->g_h, d->cache, x, d->w_ih, d->w_hh, ld,
                         m->scratch);
}

static double mmf_flops(const Model *m) {
    const MmfLstm *d = m->impl;
    const double T = d->ld.T, H = d->ld.H;
    return T * (2.0 * 4 * H * (d->ld.In + H) + 2.0 * (H * MMF_H1 + MMF_H1));
}

float mmf_lstm_loss(Model *m, const float *y, int B) {
    const int T = m->n_out, w = m->cfg.warmup;
    DL_CHECK(w >= 0 && w < T, "mmf_lstm: warmup %d must be in [0, %d)", w, T);
    const double inv = 1.0 / ((double)B * (T - w));
    /* on the host (a few thousand floats): under a device backend out comes over and
     * dout goes back; on the CPU host_out/host_dout are out/dout themselves */
    const size_t nio = (size_t)B * T;
    if (m->be->on_device) m->be->copy_to_host(m->host_out, m->out, nio * sizeof(float));
    const float *out = m->host_out;
    float *dout = m->host_dout;
    double s = 0.0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t i = (size_t)b * T + t;
            const float r = out[i] - y[i];
            if (t < w) { dout[i] = 0.0f; continue; }
            s += (double)r * r;
            dout[i] = (float)(2.0 * inv * r);
        }
    if (m->be->on_device) m->be->copy_to_device(m->dout, m->host_dout, nio * sizeof(float));
    return (float)(s * inv);
}

const ModelOps mmf_lstm_ops = {mmf_layout, mmf_forward, mmf_backward, mmf_flops, 1};

/* one stateful pass over a series x (n, F) from a zero state: out (n) the prediction at
 * every step (the notebook's evaluation: the whole split as one sequence; the caller
 * calls once per run so the state restarts at segment boundaries) */
void mmf_lstm_predict_series(Model *m, const float *x, int64_t n, float *out) {
    DL_CHECK(m->cfg.kind == MODEL_MMF_LSTM, "mmf_lstm_predict_series on a %s model", model_kind_name(m->cfg.kind));
    DL_CHECK(!m->be->on_device, "mmf_lstm_predict_series runs on the host: create the model on the CPU backend");
    MmfLstm *d = m->impl;
    const int F = d->ld.In, H = d->ld.H;
    float h[MMF_H], c[MMF_H], g[4 * MMF_H], a[MMF_H1];
    for (int64_t t = 0; t < n; t++) {
        lstm_step_cpu(h, c, g, x + (size_t)t * F, d->w_ih, d->w_hh, d->b_ih, d->b_hh, F, H, t == 0);
        float o = d->l2.b[0];
        for (int k = 0; k < MMF_H1; k++) {
            float s = d->l1.b[k];
            for (int j = 0; j < H; j++) s += d->l1.w[k * H + j] * h[j];
            a[k] = s > 0 ? s : 0.0f;
            o += d->l2.w[k] * a[k];
        }
        out[t] = o;
    }
}
