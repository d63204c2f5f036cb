/* deeplob_hier.c: the seed's hierarchical multi-task model (604,516 params):
 * front end -> short TCN (4 blocks) -> 10 s head; cross-attention (query = front
 * end, key = value = short TCN output) -> gated fusion -> long TCN (5 blocks) ->
 * 60 s head + residual_proj(pred_10s). Layer list: ../shared/design/models.md.
 *
 * Output m->out (B,2) = [pred_10s, pred_60s]; the loss (model_loss) weighs the
 * two Huber terms with cfg.head_w. Position-wise layers are the linear op over
 * N = B*Tp rows; activations are (B, Tp, C) channels-last, i.e. rows b*Tp + t. */
#include <string.h>

#include "../common/util.h"
#include "model_impl.h"

#define D_ATT 64    /* attention width (Q, K, V, out_proj) */
#define D_FUSE 256  /* gated fusion output = the long TCN's input channels */
#define C_CAT 320   /* concat(shared 256, attended 64) */

/* dropout key ids inside a step (deeplob_tcn uses 0 and 100) */
enum { KEY_TCN_SHORT = 1, KEY_TCN_LONG = 2, KEY_HEAD_SHORT = 101, KEY_HEAD_LONG = 102 };

typedef struct {
    FrontEnd fe;
    TCN tcn_s, tcn_l;
    Head head_s, head_l;
    Lin q_proj, k_proj, v_proj, o_proj, gate, transform, res_proj;
    AttnDims ad;
    int Tp;
    /* forward activations, rows = B*Tp unless stated */
    float *Q, *K, *V;        /* (rows, 64) */
    float *P;                /* (B, Tp, Tp) scores, softmax in place */
    float *A;                /* (rows, 64) = P V */
    float *cat;              /* (rows, 320) = [shared, out_proj(A)] */
    float *G, *Tr;           /* (rows, 256) gate / transform pre-activations */
    float *fused;            /* (rows, 256) sigmoid(G) * Tr */
    float *base60;           /* (B, 1) 60 s head before the residual */
    /* gradients */
    float *g_pred;           /* (B, 2) dL/d[pred_10s, pred_60s] incl. the residual path */
    float *g_long;           /* (rows, 64) dL/d(long TCN output): zero but the last step */
    float *g_fused;          /* (rows, 256) = tcn_l.g_in */
    float *g_cat;            /* (rows, 320) */
    float *g_A;              /* (rows, 64); reused for the short head's dx after the attention backward */
    float *g_P;              /* (B, Tp, Tp) dP, then dS in place */
    float *g_Q, *g_K, *g_V;  /* (rows, 64) */
    float *g_short;          /* (rows, 64) dL/d(short TCN output) */
} DeepLOBHier;

/* a position-wise Linear over max_batch*Tp rows: lin_decl sizes scratch for max_batch rows */
static void pos_lin_decl(Layout *L, Lin *l, const char *name, int I, int O, int Tp) {
    lin_decl(L, l, name, I, O);
    l->d.N = L->m->max_batch * Tp;
    need_scratch(L, L->m->be->linear_scratch_floats(l->d, L->threads));
}

static void hier_layout(Layout *L) {
    Model *m = L->m;
    if (!m->impl) m->impl = dl_calloc(1, sizeof(DeepLOBHier));
    DeepLOBHier *d = m->impl;
    size_t B = (size_t)m->max_batch;
    /* state_dict order: front end, tcn_short, short head, cross_attention, gated_fusion,
     * tcn_long, long head, residual_proj */
    frontend_decl(L, &d->fe, m->cfg.seq_len, m->cfg.n_features);
    int Tp = d->Tp = d->fe.Tp;
    size_t R = B * Tp;
    tcn_decl(L, &d->tcn_s, "tcn_short.network", 4, Tp, 256);
    d->tcn_s.g_in = d->fe.g_concat;
    head_decl(L, &d->head_s, "fc_short_1", "bn_short_1", "fc_short_2");
    pos_lin_decl(L, &d->q_proj, "cross_attention.query_proj", 256, D_ATT, Tp);
    pos_lin_decl(L, &d->k_proj, "cross_attention.key_proj", 64, D_ATT, Tp);
    pos_lin_decl(L, &d->v_proj, "cross_attention.value_proj", 64, D_ATT, Tp);
    pos_lin_decl(L, &d->o_proj, "cross_attention.out_proj", D_ATT, D_ATT, Tp);
    d->o_proj.d.y_ld = C_CAT;  /* writes the attended half of the concat in place */
    pos_lin_decl(L, &d->gate, "gated_fusion.gate.0", C_CAT, D_FUSE, Tp);
    pos_lin_decl(L, &d->transform, "gated_fusion.transform", C_CAT, D_FUSE, Tp);
    tcn_decl(L, &d->tcn_l, "tcn_long.network", 5, Tp, D_FUSE);
    head_decl(L, &d->head_l, "fc_long_1", "bn_long_1", "fc_long_2");
    lin_decl(L, &d->res_proj, "residual_proj", 1, 1);
    /* residual_proj reads pred_10s and writes pred_60s, both columns of m->out */
    d->res_proj.d.x_ld = d->res_proj.d.y_ld = 2;
    need_scratch(L, m->be->linear_scratch_floats(d->res_proj.d, L->threads));

    AttnDims ad = {.B = m->max_batch, .Lq = Tp, .Lk = Tp, .D = D_ATT, .q_ld = D_ATT, .k_ld = D_ATT,
                   .v_ld = D_ATT, .o_ld = D_ATT, .scale = 0.125f /* 64^-0.5 */, .accumulate_din = 0};
    d->ad = ad;
    need_scratch(L, m->be->attn_scratch_floats(ad, L->threads));
    d->Q = decl_act(L, R * D_ATT);
    d->K = decl_act(L, R * D_ATT);
    d->V = decl_act(L, R * D_ATT);
    d->P = decl_act(L, R * Tp);
    d->A = decl_act(L, R * D_ATT);
    d->cat = decl_act(L, R * C_CAT);
    d->G = decl_act(L, R * D_FUSE);
    d->Tr = decl_act(L, R * D_FUSE);
    d->fused = decl_act(L, R * D_FUSE);
    d->base60 = decl_act(L, B);
    d->g_pred = decl_act(L, B * 2);
    d->g_long = decl_act(L, R * 64);
    d->g_fused = decl_act(L, R * D_FUSE);
    d->tcn_l.g_in = d->g_fused;
    d->g_cat = decl_act(L, R * C_CAT);
    d->g_A = decl_act(L, R * D_ATT);
    d->g_P = decl_act(L, R * Tp);
    d->g_Q = decl_act(L, R * D_ATT);
    d->g_K = decl_act(L, R * D_ATT);
    d->g_V = decl_act(L, R * D_ATT);
    d->g_short = decl_act(L, R * 64);
}

/* a Lin's dims for this batch */
static LinearDims ldims(const Lin *l, int N, int accumulate_dx) {
    LinearDims ld = l->d;
    ld.N = N;
    ld.accumulate_dx = accumulate_dx;
    return ld;
}

static void hier_forward(Model *m, const float *x, int B, int training, uint64_t key) {
    DeepLOBHier *d = m->impl;
    const Backend *be = m->be;
    const int Tp = d->Tp, R = B * Tp;
    frontend_forward(m, &d->fe, x, B, training);
    const float *shared = d->fe.concat;  /* (B,Tp,256) */

    tcn_forward(m, &d->tcn_s, shared, B, training, layer_key(key, KEY_TCN_SHORT));
    const float *shrt = d->tcn_s.blk[d->tcn_s.n - 1].out;  /* (B,Tp,64) */
    head_forward(m, &d->head_s, shrt + (size_t)(Tp - 1) * 64, Tp * 64, m->out, 2, B, training,
                 layer_key(key, KEY_HEAD_SHORT));

    /* cross-attention: queries from the front end, keys/values from the short TCN */
    sh_linear_forward(m, d->Q, shared, d->q_proj.w, d->q_proj.b, ldims(&d->q_proj, R, 0), B, training);
    sh_linear_forward(m, d->K, shrt, d->k_proj.w, d->k_proj.b, ldims(&d->k_proj, R, 0), B, training);
    sh_linear_forward(m, d->V, shrt, d->v_proj.w, d->v_proj.b, ldims(&d->v_proj, R, 0), B, training);
    AttnDims ad = d->ad;
    ad.B = B;
    sh_attn_scores_forward(m, d->P, d->Q, d->K, ad, training);
    be->softmax_forward(d->P, d->P, R, Tp);
    sh_attn_apply_forward(m, d->A, d->P, d->V, ad, training);

    /* gated fusion on c = [shared, attended] (B,Tp,320) */
    be->copy_rows(d->cat, shared, R, 256, C_CAT, 256, 0);
    sh_linear_forward(m, d->cat + 256, d->A, d->o_proj.w, d->o_proj.b, ldims(&d->o_proj, R, 0), B, training);
    sh_linear_forward(m, d->G, d->cat, d->gate.w, d->gate.b, ldims(&d->gate, R, 0), B, training);
    sh_linear_forward(m, d->Tr, d->cat, d->transform.w, d->transform.b, ldims(&d->transform, R, 0), B, training);
    be->gate_mul_forward(d->fused, d->G, d->Tr, (size_t)R * D_FUSE);

    tcn_forward(m, &d->tcn_l, d->fused, B, training, layer_key(key, KEY_TCN_LONG));
    const float *lng = d->tcn_l.blk[d->tcn_l.n - 1].out;
    head_forward(m, &d->head_l, lng + (size_t)(Tp - 1) * 64, Tp * 64, d->base60, 1, B, training,
                 layer_key(key, KEY_HEAD_LONG));
    /* pred_60s = residual_proj(pred_10s) + base60 */
    sh_linear_forward(m, m->out + 1, m->out, d->res_proj.w, d->res_proj.b, ldims(&d->res_proj, B, 0), B, training);
    be->copy_rows(m->out + 1, d->base60, B, 1, 2, 1, 1);
}

static void hier_backward(Model *m, const float *x, int B) {
    DeepLOBHier *d = m->impl;
    const Backend *be = m->be;
    const int Tp = d->Tp, R = B * Tp;
    const float *shared = d->fe.concat;
    const float *shrt = d->tcn_s.blk[d->tcn_s.n - 1].out;
    const float *lng = d->tcn_l.blk[d->tcn_l.n - 1].out;
    const size_t last = (size_t)(Tp - 1) * 64;

    /* the residual: dL/dpred_10s gains w_res * dL/dpred_60s */
    be->copy_rows(d->g_pred, m->dout, B, 2, 2, 2, 0);
    sh_linear_backward(m, d->g_pred, d->res_proj.gw, d->res_proj.gb, m->dout + 1, m->out, d->res_proj.w,
                        ldims(&d->res_proj, B, 1), B);

    /* long branch: only the last step feeds the head */
    m->be->mem_zero(d->g_long, (size_t)R * 64 * sizeof(float));
    head_backward(m, &d->head_l, lng + last, Tp * 64, m->dout + 1, 2, d->g_long + last, Tp * 64, B);
    tcn_backward(m, &d->tcn_l, d->fused, d->g_long, B);  /* -> g_fused */

    /* gated fusion: G/Tr are dead after this, their gradients overwrite them */
    be->gate_mul_backward(d->G, d->Tr, d->g_fused, d->G, d->Tr, (size_t)R * D_FUSE);
    sh_linear_backward(m, d->g_cat, d->gate.gw, d->gate.gb, d->G, d->cat, d->gate.w, ldims(&d->gate, R, 0), B);
    sh_linear_backward(m, d->g_cat, d->transform.gw, d->transform.gb, d->Tr, d->cat, d->transform.w,
                        ldims(&d->transform, R, 1), B);

    /* cross-attention */
    sh_linear_backward(m, d->g_A, d->o_proj.gw, d->o_proj.gb, d->g_cat + 256, d->A, d->o_proj.w,
                        ldims(&d->o_proj, R, 0), B);
    AttnDims ad = d->ad;
    ad.B = B;
    ad.accumulate_din = 0;
    sh_attn_apply_backward(m, d->g_P, d->g_V, d->g_A, d->P, d->V, ad);
    be->softmax_backward(d->g_P, d->g_P, d->P, R, Tp);
    sh_attn_scores_backward(m, d->g_Q, d->g_K, d->g_P, d->Q, d->K, ad);
    sh_linear_backward(m, d->g_short, d->v_proj.gw, d->v_proj.gb, d->g_V, shrt, d->v_proj.w, ldims(&d->v_proj, R, 0), B);
    sh_linear_backward(m, d->g_short, d->k_proj.gw, d->k_proj.gb, d->g_K, shrt, d->k_proj.w, ldims(&d->k_proj, R, 1), B);

    /* short head (dx needs the layout of its input: g_A is free now) */
    head_backward(m, &d->head_s, shrt + last, Tp * 64, d->g_pred, 2, d->g_A + last, Tp * 64, B);
    be->copy_rows(d->g_short + last, d->g_A + last, B, 64, Tp * 64, Tp * 64, 1);
    tcn_backward(m, &d->tcn_s, shared, d->g_short, B);  /* overwrites fe.g_concat */

    /* the other two uses of the front end output: queries and the concat */
    sh_linear_backward(m, d->fe.g_concat, d->q_proj.gw, d->q_proj.gb, d->g_Q, shared, d->q_proj.w,
                        ldims(&d->q_proj, R, 1), B);
    be->copy_rows(d->fe.g_concat, d->g_cat, R, 256, 256, C_CAT, 1);
    frontend_backward(m, &d->fe, x, B);
}

static double lin_flops(const Lin *l, int rows) { return 2.0 * rows * l->d.I * (double)l->d.O; }

static double hier_flops(const Model *m) {
    const DeepLOBHier *d = m->impl;
    const int Tp = d->Tp;
    double n = frontend_flops(&d->fe) + tcn_flops(&d->tcn_s) + tcn_flops(&d->tcn_l);
    n += lin_flops(&d->q_proj, Tp) + lin_flops(&d->k_proj, Tp) + lin_flops(&d->v_proj, Tp) +
         lin_flops(&d->o_proj, Tp) + lin_flops(&d->gate, Tp) + lin_flops(&d->transform, Tp);
    n += 2 * 2.0 * Tp * Tp * D_ATT;             /* scores and P V */
    n += 2 * 2.0 * (64 * 64 + 64) + 2.0;        /* two heads, residual_proj */
    return n;
}

const ModelOps deeplob_hier_ops = {hier_layout, hier_forward, hier_backward, hier_flops, 2};
