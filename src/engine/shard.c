/* shard.c: the op calls that reduce over the batch, made per micro-shard when the
 * model is sharded (data parallelism, model.h "Shards"). With m->sh.K == 1 each
 * wrapper is exactly the plain op call.
 *
 * Why per shard: a parameter gradient is a sum over the batch's rows, and a float
 * sum's bits depend on how the rows are grouped. Computing each shard's gradient on
 * its own (into its own gradient arena) and adding the K shards' gradients in shard
 * order gives the same bits whichever rank computed which shard. BatchNorm's
 * statistics are the global batch's: per-shard sums, gathered, combined in shard
 * order. Dropout draws each shard's mask from its own key (the global shard index).
 * Ops that treat rows independently (convolution forward, activations, pooling,
 * attention, linear forward) run once over the local batch, or per shard on a backend
 * whose libraries choose algorithms per shape (rows_independent 0: the GPU). */
#include <string.h>

#include "../common/rng.h"
#include "../common/util.h"
#include "model_impl.h"

/* the gradient of local shard s for a parameter whose shard-0 gradient is g (in m->grads) */
float *shard_grad(const Model *m, float *g, int s) {
    if (!g || s == 0) return g;
    return m->sh.grads_extra + (size_t)(s - 1) * m->n_params + (size_t)(g - m->grads);
}

static int shard_b(const Model *m, int B) {
    DL_CHECK(B % m->sh.S == 0, "sharded batch %d is not a multiple of %d local shards", B, m->sh.S);
    return B / m->sh.S;
}

#define OFF(p, n) ((p) ? (p) + (n) : (p))

/* a convolution's dims for one shard of its B samples; *in_rows, *out_rows: the shard's
 * input and output rows */
static ConvDims shard_conv(const Model *m, ConvDims cd, size_t *in_rows, size_t *out_rows) {
    ConvDims d = cd;
    d.B = shard_b(m, cd.B);
    *in_rows = (size_t)d.B * cd.H * cd.W;
    *out_rows = (size_t)d.B * conv_out_h(cd) * conv_out_w(cd);
    return d;
}

/* a linear op's dims for one shard of a local batch of B samples (ld.N rows, the same
 * number per sample); *rows: the shard's rows */
static LinearDims shard_linear(const Model *m, LinearDims ld, int B, size_t *rows) {
    const int b = shard_b(m, B);
    DL_CHECK(ld.N % B == 0, "linear: %d rows are not a whole number per sample of %d", ld.N, B);
    *rows = (size_t)b * (ld.N / B);
    LinearDims d = ld;
    d.N = (int)*rows;
    return d;
}

void sh_conv_backward(const Model *m, float *dx, float *gw, float *gb, const float *dy, const float *x,
                      const float *w, ConvDims cd) {
    if (m->sh.K == 1) { m->be->conv2d_backward(dx, gw, gb, dy, x, w, cd, m->scratch); return; }
    size_t in_rows, out_rows;
    const ConvDims d = shard_conv(m, cd, &in_rows, &out_rows);
    for (int s = 0; s < m->sh.S; s++)
        m->be->conv2d_backward(OFF(dx, s * in_rows * cd.in_ld), shard_grad(m, gw, s), shard_grad(m, gb, s),
                               dy + s * out_rows * cd.out_ld, x + s * in_rows * cd.in_ld, w, d, m->scratch);
}

void sh_linear_backward(const Model *m, float *dx, float *gw, float *gb, const float *dy, const float *x,
                        const float *w, LinearDims ld, int B) {
    if (m->sh.K == 1) { m->be->linear_backward(dx, gw, gb, dy, x, w, ld, m->scratch); return; }
    size_t rows;
    const LinearDims d = shard_linear(m, ld, B, &rows);
    for (int s = 0; s < m->sh.S; s++)
        m->be->linear_backward(OFF(dx, s * rows * ld.x_ld), shard_grad(m, gw, s), shard_grad(m, gb, s),
                               dy + s * rows * ld.y_ld, x + s * rows * ld.x_ld, w, d, m->scratch);
}

/* the LSTM's cache is laid out by the op: each shard runs as its own call with its own
 * cache slice, forward and backward */
void sh_lstm_forward(const Model *m, float *h_last, float *cache, const float *x, const float *w_ih,
                     const float *w_hh, const float *b_ih, const float *b_hh, LSTMDims ld, int training) {
    if (m->sh.K == 1 || !training) {   /* a sequence's forward does not depend on its batch */ m->be->lstm_forward(h_last, cache, x, w_ih, w_hh, b_ih, b_hh, ld, m->scratch); return; }
    const int b = shard_b(m, ld.B);
    LSTMDims d = ld;
    d.B = b;
    const size_t cs = m->be->lstm_cache_floats(d);
    for (int s = 0; s < m->sh.S; s++)
        m->be->lstm_forward(h_last + (size_t)s * b * ld.H, cache + s * cs, x + (size_t)s * b * ld.T * ld.x_ld, w_ih,
                            w_hh, b_ih, b_hh, d, m->scratch);
}

void sh_lstm_backward(const Model *m, float *dx, float *gw_ih, float *gw_hh, float *gb_ih, float *gb_hh,
                      const float *dh, const float *cache, const float *x, const float *w_ih, const float *w_hh,
                      LSTMDims ld) {
    if (m->sh.K == 1) {
        m->be->lstm_backward(dx, gw_ih, gw_hh, gb_ih, gb_hh, dh, cache, x, w_ih, w_hh, ld, m->scratch);
        return;
    }
    const int b = shard_b(m, ld.B);
    LSTMDims d = ld;
    d.B = b;
    const size_t cs = m->be->lstm_cache_floats(d), xs = (size_t)b * ld.T * ld.x_ld;
    const size_t hs = (size_t)b * ld.H * (ld.dh_every_step ? ld.T : 1);
    for (int s = 0; s < m->sh.S; s++)
        m->be->lstm_backward(OFF(dx, s * xs), shard_grad(m, gw_ih, s), shard_grad(m, gw_hh, s),
                             shard_grad(m, gb_ih, s), shard_grad(m, gb_hh, s), dh + s * hs, cache + s * cs,
                             x + s * xs, w_ih, w_hh, d, m->scratch);
}

/* n: elements of the local batch (B samples, contiguous); shard s of K draws from
 * dl_key(key, global shard index) */
void sh_dropout_forward(const Model *m, float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t key,
                        int B) {
    if (m->sh.K == 1) { m->be->dropout_forward(y, mask, x, n, p, key); return; }
    const int b = shard_b(m, B);
    const size_t ns = n / (size_t)B * (size_t)b;
    for (int s = 0; s < m->sh.S; s++)
        m->be->dropout_forward(y + s * ns, mask + s * ns, x + s * ns, ns, p, dl_key(key, (uint64_t)(m->sh.first + s)));
}

/* a BatchNorm's dims for one shard (bd.rows: rows of the local batch of B samples);
 * *rows: the shard's rows; *blk: doubles per shard's block of sums ((3, C) in a slot of
 * 3*bn_cmax) */
static BNDims shard_bn(const Model *m, BNDims bd, int B, size_t *rows, size_t *blk) {
    (void)shard_b(m, B); /* B splits into the local shards */
    DL_CHECK(bd.C <= m->sh.bn_cmax, "batchnorm: %d channels, shard buffers sized for %d", bd.C, m->sh.bn_cmax);
    *rows = (size_t)bd.rows / m->sh.S;
    *blk = 3 * (size_t)m->sh.bn_cmax;
    BNDims d = bd;
    d.rows = (int)*rows;
    return d;
}

/* bd.rows: rows of the local batch of B samples */
void sh_bn_forward(const Model *m, float *y, float *mean, float *rstd, float *rm, float *rv, const float *x,
                   const float *gamma, const float *beta, BNDims bd, int training, int B) {
    if (m->sh.K == 1 || !training) {
        m->be->batchnorm_forward(y, mean, rstd, rm, rv, x, gamma, beta, bd, training, m->scratch);
        return;
    }
    const Shards *sh = &m->sh;
    const int K = sh->K;
    size_t rows, blk;
    const BNDims d = shard_bn(m, bd, B, &rows, &blk);
    for (int s = 0; s < sh->S; s++) m->be->batchnorm_shard_sums(sh->bn_mine + s * blk, x + s * rows * bd.x_ld, d, m->scratch);
    sh->comm.allgather(sh->comm.ctx, sh->bn_mine, sh->bn_all, (size_t)sh->S * blk * sizeof(double));
    /* shard order (dl_bn_shard_stats), in the backend's memory */
    m->be->batchnorm_shard_combine(mean, rstd, rm, rv, sh->bn_all, K, blk, gamma, d);
    m->be->batchnorm_apply(y, x, mean, rstd, gamma, beta, bd, m->scratch);
}

/* dgamma/dbeta: the global batch's, added to the gradient of global shard 0 only (the
 * other shards' stay 0), so the shard-order sum carries them once */
void sh_bn_backward(const Model *m, float *dx, float *dgamma, float *dbeta, const float *dy, const float *y,
                    const float *x, const float *gamma, const float *beta, const float *mean, const float *rstd,
                    BNDims bd, int B) {
    if (m->sh.K == 1) {
        m->be->batchnorm_backward(dx, dgamma, dbeta, dy, y, x, gamma, beta, mean, rstd, bd, m->scratch);
        return;
    }
    const Shards *sh = &m->sh;
    const int K = sh->K;
    size_t rows, blk;
    const BNDims d = shard_bn(m, bd, B, &rows, &blk);
    for (int s = 0; s < sh->S; s++)
        m->be->batchnorm_shard_bwd_sums(sh->bn_mine + s * blk, dy + s * rows * bd.y_ld, x + s * rows * bd.x_ld, gamma,
                                        beta, mean, rstd, d, m->scratch);
    sh->comm.allgather(sh->comm.ctx, sh->bn_mine, sh->bn_all, (size_t)sh->S * blk * sizeof(double));
    const int owner = sh->first == 0;   /* this process holds global shard 0 (its local shard 0) */
    m->be->batchnorm_shard_bwd_combine(sh->kgw, owner ? dgamma : NULL, owner ? dbeta : NULL, sh->bn_all, K, blk, gamma,
                                       rstd, d);
    if (dx) m->be->batchnorm_bwd_apply(dx, dy, x, gamma, beta, mean, rstd, sh->kgw, bd, m->scratch);
}

/* ---- ops that treat rows independently --------------------------------------------
 * On the CPU backend every output element is a fixed FMA chain (our kernels), so a
 * sample's bits do not depend on how many samples a call has: these run once over the
 * local batch. cuDNN and cuBLAS choose their algorithms per shape (batch included), so
 * on such a backend (rows_independent 0) a training step calls them once per shard:
 * the shapes, and so the bits, are then the same whichever process holds the shard.
 * Eval forwards are not sharded (evaluate_dp gives whole batches to one rank). */
static int per_shard(const Model *m, int training) { return m->sh.K > 1 && training && !m->be->rows_independent; }

void sh_conv_forward(const Model *m, float *y, const float *x, const float *w, const float *b, ConvDims cd,
                     int training) {
    if (!per_shard(m, training)) { m->be->conv2d_forward(y, x, w, b, cd, m->scratch); return; }
    size_t in_rows, out_rows;
    const ConvDims d = shard_conv(m, cd, &in_rows, &out_rows);
    for (int s = 0; s < m->sh.S; s++)
        m->be->conv2d_forward(y + s * out_rows * cd.out_ld, x + s * in_rows * cd.in_ld, w, b, d, m->scratch);
}

void sh_linear_forward(const Model *m, float *y, const float *x, const float *w, const float *b, LinearDims ld, int B,
                       int training) {
    if (!per_shard(m, training)) { m->be->linear_forward(y, x, w, b, ld, m->scratch); return; }
    size_t rows;
    const LinearDims d = shard_linear(m, ld, B, &rows);
    for (int s = 0; s < m->sh.S; s++)
        m->be->linear_forward(y + s * rows * ld.y_ld, x + s * rows * ld.x_ld, w, b, d, m->scratch);
}

/* attention per shard: its dims and the floats of one shard's block of each tensor
 * (sample b's blocks at b*Lq*q_ld (Q, dQ), b*Lk*k_ld (K, dK), b*Lk*v_ld (V, dV),
 * b*Lq*o_ld (O, dO), b*Lq*Lk (S, P, dS, dP)) */
typedef struct {
    AttnDims d;
    size_t nq, nk, nv, no, ns;
} AttnShard;

static AttnShard shard_attn(const Model *m, AttnDims ad) {
    AttnShard a = {ad, 0, 0, 0, 0, 0};
    const size_t bs = (size_t)shard_b(m, ad.B);
    a.d.B = (int)bs;
    a.nq = bs * ad.Lq * ad.q_ld;
    a.nk = bs * ad.Lk * ad.k_ld;
    a.nv = bs * ad.Lk * ad.v_ld;
    a.no = bs * ad.Lq * ad.o_ld;
    a.ns = bs * ad.Lq * ad.Lk;
    return a;
}

void sh_attn_scores_forward(const Model *m, float *S, const float *Q, const float *K, AttnDims ad, int training) {
    if (!per_shard(m, training)) { m->be->attn_scores_forward(S, Q, K, ad, m->scratch); return; }
    const AttnShard a = shard_attn(m, ad);
    for (int s = 0; s < m->sh.S; s++)
        m->be->attn_scores_forward(S + s * a.ns, Q + s * a.nq, K + s * a.nk, a.d, m->scratch);
}

void sh_attn_apply_forward(const Model *m, float *O, const float *P, const float *V, AttnDims ad, int training) {
    if (!per_shard(m, training)) { m->be->attn_apply_forward(O, P, V, ad, m->scratch); return; }
    const AttnShard a = shard_attn(m, ad);
    for (int s = 0; s < m->sh.S; s++)
        m->be->attn_apply_forward(O + s * a.no, P + s * a.ns, V + s * a.nv, a.d, m->scratch);
}

void sh_attn_scores_backward(const Model *m, float *dQ, float *dK, const float *dS, const float *Q, const float *K,
                             AttnDims ad) {
    if (!per_shard(m, 1)) { m->be->attn_scores_backward(dQ, dK, dS, Q, K, ad, m->scratch); return; }
    const AttnShard a = shard_attn(m, ad);
    for (int s = 0; s < m->sh.S; s++)
        m->be->attn_scores_backward(OFF(dQ, s * a.nq), OFF(dK, s * a.nk), dS + s * a.ns, Q + s * a.nq, K + s * a.nk,
                                    a.d, m->scratch);
}

void sh_attn_apply_backward(const Model *m, float *dP, float *dV, const float *dO, const float *P, const float *V,
                            AttnDims ad) {
    if (!per_shard(m, 1)) { m->be->attn_apply_backward(dP, dV, dO, P, V, ad, m->scratch); return; }
    const AttnShard a = shard_attn(m, ad);
    for (int s = 0; s < m->sh.S; s++)
        m->be->attn_apply_backward(OFF(dP, s * a.ns), OFF(dV, s * a.nv), dO + s * a.no, P + s * a.ns, V + s * a.nv,
                                   a.d, m->scratch);
}

/* ---- one process holding every shard (S == K): the gathers of the model's memory run
 * in place (all == mine: nothing to do, also in device memory); the losses are host floats */
static void local_allgather(void *ctx, const void *mine, void *all, size_t bytes) {
    (void)ctx;
    if (all != mine) memmove(all, mine, bytes);
}

ShardComm shard_comm_local(void) { return (ShardComm){local_allgather, NULL, NULL}; }
