/* deeplob.c: the seed's DeepLOB (front end -> LSTM -> head, 158,049 params)
 * and DeepLOB-TCN (front end -> 4 TCN blocks -> head, 228,769 params).
 * Layer lists: ../shared/design/models.md. */
#include <string.h>

#include "../common/util.h"
#include "model_impl.h"

/* ---- deeplob ---------------------------------------------------------------------------- */
typedef struct {
    FrontEnd fe;
    LSTMDims ld;
    float *w_ih, *w_hh, *b_ih, *b_hh, *gw_ih, *gw_hh, *gb_ih, *gb_hh;
    float *h_last, *cache, *g_h;
    float *x_drop;     /* (B,Tp,256): the LSTM input after lstm_input_dropout (NULL when p == 0) */
    uint8_t *m_drop;   /* its mask */
    Head head;
} DeepLOB;

static void deeplob_layout(Layout *L) {
    Model *m = L->m;
    if (!m->impl) m->impl = dl_calloc(1, sizeof(DeepLOB));
    DeepLOB *d = m->impl;
    size_t B = (size_t)m->max_batch;
    frontend_decl(L, &d->fe, m->cfg.seq_len, m->cfg.n_features);
    int Tp = d->fe.Tp, H = 64, In = 256;
    int s_ih[2] = {4 * H, In}, s_hh[2] = {4 * H, H}, s_b = 4 * H;
    d->w_ih = decl_param(L, "lstm.weight_ih_l0", 2, s_ih, PT_PLAIN, INIT_UNIFORM_HIDDEN, H, &d->gw_ih);
    d->w_hh = decl_param(L, "lstm.weight_hh_l0", 2, s_hh, PT_PLAIN, INIT_UNIFORM_HIDDEN, H, &d->gw_hh);
    d->b_ih = decl_param(L, "lstm.bias_ih_l0", 1, &s_b, PT_PLAIN, INIT_UNIFORM_HIDDEN, H, &d->gb_ih);
    d->b_hh = decl_param(L, "lstm.bias_hh_l0", 1, &s_b, PT_PLAIN, INIT_UNIFORM_HIDDEN, H, &d->gb_hh);
    LSTMDims ld = {.B = m->max_batch, .T = Tp, .In = In, .H = H, .x_ld = 256, .accumulate_dx = 0};
    d->ld = ld;
    d->cache = decl_act(L, m->be->lstm_cache_floats(ld));
    need_scratch(L, m->be->lstm_scratch_floats(ld, L->threads));
    d->h_last = decl_act(L, B * H);
    d->g_h = decl_act(L, B * H);
    if (m->cfg.lstm_input_dropout > 0) {  /* p == 0 declares nothing: the seed's graph and arenas */
        d->x_drop = decl_act(L, B * (size_t)Tp * In);
        d->m_drop = decl_mask(L, B * (size_t)Tp * In);
    }
    head_decl(L, &d->head, "fc1", "bn_fc1", "fc2");
}

static void deeplob_forward(Model *m, const float *x, int B, int training, uint64_t key) {
    DeepLOB *d = m->impl;
    frontend_forward(m, &d->fe, x, B, training);
    LSTMDims ld = d->ld;
    ld.B = B;
    const float *xin = d->fe.concat;
    if (training && m->cfg.lstm_input_dropout > 0) {
        /* element-wise dropout on the (B,Tp,256) sequence; its own key, apart from the head's (100) */
        sh_dropout_forward(m, d->x_drop, d->m_drop, d->fe.concat, (size_t)B * ld.T * ld.In, m->cfg.lstm_input_dropout,
                           layer_key(key, 101), B);
        xin = d->x_drop;
    }
    sh_lstm_forward(m, d->h_last, d->cache, xin, d->w_ih, d->w_hh, d->b_ih, d->b_hh, ld, training);
    head_forward(m, &d->head, d->h_last, 64, m->out, 1, B, training, layer_key(key, 100));
}

static void deeplob_backward(Model *m, const float *x, int B) {
    DeepLOB *d = m->impl;
    head_backward(m, &d->head, d->h_last, 64, m->dout, 1, d->g_h, 64, B);
    LSTMDims ld = d->ld;
    ld.B = B;
    ld.accumulate_dx = 0;
    const int drop = m->cfg.lstm_input_dropout > 0;  /* backward is only called after a training forward */
    sh_lstm_backward(m, d->fe.g_concat, d->gw_ih, d->gw_hh, d->gb_ih, d->gb_hh, d->g_h, d->cache,
                     drop ? d->x_drop : d->fe.concat, d->w_ih, d->w_hh, ld);
    if (drop)  /* d concat = mask * d x_drop / (1-p), in place */
        m->be->dropout_backward(d->fe.g_concat, d->fe.g_concat, d->m_drop, (size_t)B * ld.T * ld.In,
                                m->cfg.lstm_input_dropout);
    frontend_backward(m, &d->fe, x, B);
}

static double deeplob_flops(const Model *m) {
    const DeepLOB *d = m->impl;
    double lstm = 2.0 * d->ld.T * 4 * d->ld.H * (double)(d->ld.In + d->ld.H);
    return frontend_flops(&d->fe) + lstm + 2.0 * (64 * 64 + 64);
}

const ModelOps deeplob_ops = {deeplob_layout, deeplob_forward, deeplob_backward, deeplob_flops, 1};

/* ---- deeplob_tcn ------------------------------------------------------------------------- */
typedef struct {
    FrontEnd fe;
    TCN tcn;
    float *g_tcn_out;  /* (B,Tp,64): zero except the last step */
    Head head;
} DeepLOBTCN;

static void tcn_model_layout(Layout *L) {
    Model *m = L->m;
    if (!m->impl) m->impl = dl_calloc(1, sizeof(DeepLOBTCN));
    DeepLOBTCN *d = m->impl;
    frontend_decl(L, &d->fe, m->cfg.seq_len, m->cfg.n_features);
    tcn_decl(L, &d->tcn, "tcn.network", 4, d->fe.Tp, 256);
    d->tcn.g_in = d->fe.g_concat;
    d->g_tcn_out = decl_act(L, (size_t)m->max_batch * d->fe.Tp * 64);
    head_decl(L, &d->head, "fc1", "bn_fc1", "fc2");
}

static void tcn_model_forward(Model *m, const float *x, int B, int training, uint64_t key) {
    DeepLOBTCN *d = m->impl;
    int Tp = d->fe.Tp;
    frontend_forward(m, &d->fe, x, B, training);
    tcn_forward(m, &d->tcn, d->fe.concat, B, training, layer_key(key, 0));
    const float *last = d->tcn.blk[d->tcn.n - 1].out + (size_t)(Tp - 1) * 64;  /* (B,64), stride Tp*64 */
    head_forward(m, &d->head, last, Tp * 64, m->out, 1, B, training, layer_key(key, 100));
}

static void tcn_model_backward(Model *m, const float *x, int B) {
    DeepLOBTCN *d = m->impl;
    int Tp = d->fe.Tp;
    const float *last = d->tcn.blk[d->tcn.n - 1].out + (size_t)(Tp - 1) * 64;
    /* only the last step feeds the head: the rest of the gradient is zero */
    m->be->mem_zero(d->g_tcn_out, (size_t)B * Tp * 64 * sizeof(float));
    head_backward(m, &d->head, last, Tp * 64, m->dout, 1, d->g_tcn_out + (size_t)(Tp - 1) * 64, Tp * 64, B);
    tcn_backward(m, &d->tcn, d->fe.concat, d->g_tcn_out, B);
    frontend_backward(m, &d->fe, x, B);
}

static double tcn_model_flops(const Model *m) {
    const DeepLOBTCN *d = m->impl;
    return frontend_flops(&d->fe) + tcn_flops(&d->tcn) + 2.0 * (64 * 64 + 64);
}

const ModelOps deeplob_tcn_ops = {tcn_model_layout, tcn_model_forward, tcn_model_backward, tcn_model_flops, 1};
