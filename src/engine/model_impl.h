/* model_impl.h: what model files (deeplob.c, deeplob_hier.c) share.
 *
 * A model is described by a layout function that is run twice: once to
 * measure (arena bases NULL: only sizes add up) and once to point every
 * parameter, buffer and activation into the allocated arenas (llm.c's
 * fill_in_parameter_sizes + malloc_and_point, in one function).
 * Parameters are declared in PyTorch state_dict order, so the entry table is
 * the state_dict. */
#ifndef DL_MODEL_IMPL_H
#define DL_MODEL_IMPL_H

#include "../common/rng.h"
#include "model.h"

/* bump allocator over one arena; base == NULL measures */
typedef struct {
    float *base;
    size_t used;
} Bump;
static inline float *bump_take(Bump *b, size_t n) {
    size_t off = b->used;
    b->used += (n + 15) & ~(size_t)15; /* keep every tensor 64-byte aligned */
    return b->base ? b->base + off : NULL;
}

/* initialisation rule of a parameter (PyTorch defaults unless stated) */
enum {
    INIT_UNIFORM_FAN_IN = 0,  /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)): kaiming_uniform(a=sqrt5) and biases */
    INIT_KAIMING_NORMAL,      /* N(0, 2/fan_in): TCN convs */
    INIT_UNIFORM_HIDDEN,      /* LSTM: U(-1/sqrt(H), 1/sqrt(H)) (fan_in field holds H) */
    INIT_ONES, INIT_ZEROS,
};

/* the arenas being laid out */
typedef struct {
    Model *m;
    Bump params, buffers, acts;
    int n_entries, n_counters;
    int measuring;
    size_t scratch_need;   /* floats: max over all ops of their scratch */
    uint8_t *mask_base;    /* dropout masks (bytes) */
    size_t mask_used;
    int threads;           /* thread count the scratch is sized for */
} Layout;
/* record an op's scratch need */
static inline void need_scratch(Layout *L, size_t n) { if (n > L->scratch_need) L->scratch_need = n; }
static inline uint8_t *decl_mask(Layout *L, size_t n) {
    size_t off = L->mask_used;
    L->mask_used += (n + 63) & ~(size_t)63;
    return L->mask_base ? L->mask_base + off : NULL;
}

/* declare parameters (state_dict order). Return pointers into the arenas
 * (NULL while measuring). fan_in drives the initialisation. */
float *decl_param(Layout *L, const char *name, int ndim, const int *shape, PTKind kind, int init,
                  int fan_in, float **grad);
float *decl_buffer(Layout *L, const char *name, int n, int init);
int64_t *decl_counter(Layout *L, const char *name);
float *decl_act(Layout *L, size_t n);

/* ---- Conv (+ BatchNorm + LeakyReLU) stage ---------------------------------
 * y = conv(x); a = act(bn(y)) or, without BN, a = y (optionally LeakyReLU'd
 * in place). a may point into a wider (strided) buffer: bd.y_ld. */
typedef struct {
    ConvDims cd;
    BNDims bd;
    int has_bn, leaky_no_bn;  /* leaky_no_bn: conv -> LeakyReLU (inception 2a/3a) */
    float *w, *b, *gw, *gb;
    float *gamma, *beta, *ggamma, *gbeta, *rmean, *rvar;
    int64_t *nbt;
    float *y, *a, *mean, *rstd;  /* activations (max_batch) */
    int Ho, Wo;
} ConvBN;

/* declare conv "<cname>.weight/.bias" and, if bname != NULL, BN "<bname>.*".
 * out_buf/out_ld: where a goes when out_ld > 0 (else its own buffer, ld = Cout) */
void convbn_decl(Layout *L, ConvBN *s, const char *cname, const char *bname, ConvDims cd,
                 int init, float *out_buf, int out_ld);
void convbn_forward(const Model *m, ConvBN *s, const float *x, int B, int training);
/* da: gradient wrt a (stride = a's ld), consumed; dy_tmp: scratch (rows*Cout);
 * dx: gradient wrt x (NULL: not wanted), accumulated iff cd.accumulate_din */
void convbn_backward(const Model *m, ConvBN *s, const float *x, const float *da, float *dy_tmp,
                     float *dx, int B);

/* ---- Linear ----------------------------------------------------------------- */
typedef struct {
    LinearDims d;
    float *w, *b, *gw, *gb;
} Lin;
void lin_decl(Layout *L, Lin *l, const char *name, int I, int O);

/* ---- Shared front end (CNN + inception): x (B,T,F) -> concat (B,T-12,256) ---- */
typedef struct {
    ConvBN c1a, c1b, c1c, c2a, c2b, c2c, c3a;
    ConvBN i1, i2a, i2b, i3a, i3b, i4;
    PoolDims pool;
    float *pooled;               /* (B,T',1,32) */
    float *concat;               /* (B,T',256) */
    float *g_concat;             /* gradient of concat */
    float *g_a3a, *g_branch, *g_pooled, *g_tmp; /* inception backward buffers */
    float *g_big0, *g_big1;      /* ping-pong for the CNN chain */
    int T, Tp;                   /* input time steps, after the CNN (T-12) */
} FrontEnd;
void frontend_decl(Layout *L, FrontEnd *f, int T, int F);
void frontend_forward(const Model *m, FrontEnd *f, const float *x, int B, int training);
/* g_concat must hold dL/dconcat; produces nothing further (input needs no grad) */
void frontend_backward(const Model *m, FrontEnd *f, const float *x, int B);
double frontend_flops(const FrontEnd *f);

/* ---- TCN: residual blocks of dilated causal convs over (B,T,C) -------------- */
#define TCN_MAX_BLOCKS 6
typedef struct {
    ConvBN conv1, conv2, res;
    int has_res, dil, Cin;
    float *d1, *d2;              /* dropout outputs (B,T,64) (alias when p==0) */
    uint8_t *m1, *m2;            /* dropout masks */
    float *out;                  /* block output after residual add + LeakyReLU */
} TCNBlock;
typedef struct {
    TCNBlock blk[TCN_MAX_BLOCKS];
    int n, T, Cin;
    float *gA, *gB;              /* (B,T,64) block-output gradients, ping-pong */
    float *gs, *t1, *t2;         /* (B,T,64) per-block backward temporaries */
    float *g_in;                 /* (B,T,Cin) dL/d(TCN input): set by the model */
} TCN;
/* prefix e.g. "tcn.network" -> "tcn.network.0.conv1.weight" ... */
void tcn_decl(Layout *L, TCN *t, const char *prefix, int n_blocks, int T, int Cin);
void tcn_forward(const Model *m, TCN *t, const float *x, int B, int training, uint64_t key);
/* g_out: dL/d(output of last block) (B,T,64); writes dL/dx into t->g_in */
void tcn_backward(const Model *m, TCN *t, const float *x, const float *g_out, int B);
double tcn_flops(const TCN *t);

/* ---- Regression head: last-step (B,64) -> fc1 -> BN -> LReLU -> Dropout -> fc2 -> (B,1) */
typedef struct {
    Lin fc1, fc2;
    BNDims bd;
    float *gamma, *beta, *ggamma, *gbeta, *rmean, *rvar;
    int64_t *nbt;
    float *y1, *a1, *d1, *mean, *rstd, *g_a1, *g_y1, *g_d1;
    uint8_t *mask;
    float *out;                  /* (B,1), written with stride out_ld into the model output */
} Head;
void head_decl(Layout *L, Head *h, const char *fc1, const char *bn, const char *fc2);
/* x: last time step rows (B,64) with row stride x_ld; out: (B, 1) with row stride out_ld */
void head_forward(const Model *m, Head *h, const float *x, int x_ld, float *out, int out_ld, int B,
                  int training, uint64_t key);
/* dout stride dout_ld; dx (B,64) with stride dx_ld, OVERWRITTEN */
void head_backward(const Model *m, Head *h, const float *x, int x_ld, const float *dout, int dout_ld,
                   float *dx, int dx_ld, int B);

/* per-model operations */
typedef struct {
    void (*layout)(Layout *L);
    void (*forward)(Model *m, const float *x, int B, int training, uint64_t key);
    void (*backward)(Model *m, const float *x, int B);
    double (*flops)(const Model *m);
    int n_out;
} ModelOps;

extern const ModelOps deeplob_ops, deeplob_tcn_ops;
extern const ModelOps deeplob_hier_ops;
extern const ModelOps mmf_lstm_ops;
/* mmf_lstm.c: MSE over steps >= cfg.warmup of y (B, T); fills m->dout */
float mmf_lstm_loss(Model *m, const float *y, int B);

/* ---- sharded op calls (shard.c): per micro-shard when the model is sharded, the
 * plain op call when m->sh.K == 1. B: samples of the local batch. */
float *shard_grad(const Model *m, float *g, int s);
void sh_conv_backward(const Model *m, float *dx, float *gw, float *gb, const float *dy, const float *x,
                      const float *w, ConvDims cd);
void sh_linear_backward(const Model *m, float *dx, float *gw, float *gb, const float *dy, const float *x,
                        const float *w, LinearDims ld, int B);
void sh_lstm_forward(const Model *m, float *h_last, float *cache, const float *x, const float *w_ih,
                     const float *w_hh, const float *b_ih, const float *b_hh, LSTMDims ld, int training);
void sh_lstm_backward(const Model *m, float *dx, float *gw_ih, float *gw_hh, float *gb_ih, float *gb_hh,
                      const float *dh, const float *cache, const float *x, const float *w_ih, const float *w_hh,
                      LSTMDims ld);
void sh_dropout_forward(const Model *m, float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t key,
                        int B);
void sh_bn_forward(const Model *m, float *y, float *mean, float *rstd, float *rm, float *rv, const float *x,
                   const float *gamma, const float *beta, BNDims bd, int training, int B);
void sh_bn_backward(const Model *m, float *dx, float *dgamma, float *dbeta, const float *dy, const float *y,
                    const float *x, const float *gamma, const float *beta, const float *mean, const float *rstd,
                    BNDims bd, int B);
/* ops that treat rows (samples) independently: once over the local batch when the
 * backend's per-row bits do not depend on a call's size (be->rows_independent), else per
 * shard in training (B: samples of the local batch) */
void sh_conv_forward(const Model *m, float *y, const float *x, const float *w, const float *b, ConvDims cd,
                     int training);
void sh_linear_forward(const Model *m, float *y, const float *x, const float *w, const float *b, LinearDims ld, int B,
                       int training);
void sh_attn_scores_forward(const Model *m, float *S, const float *Q, const float *K, AttnDims ad, int training);
void sh_attn_apply_forward(const Model *m, float *O, const float *P, const float *V, AttnDims ad, int training);
void sh_attn_scores_backward(const Model *m, float *dQ, float *dK, const float *dS, const float *Q, const float *K,
                             AttnDims ad);
void sh_attn_apply_backward(const Model *m, float *dP, float *dV, const float *dO, const float *P, const float *V,
                            AttnDims ad);

/* dropout key of one layer inside a step */
static inline uint64_t layer_key(uint64_t key, int layer) { return dl_key(key, (uint64_t)layer); }

#endif
