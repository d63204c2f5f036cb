/* backend.h: the table of ops that model code calls.
 *
 * Model code never calls an op implementation directly: it calls be->op(...).
 * The CPU backend (layers/<op>.c, table in backend_cpu.c) is the reference; a CUDA
 * backend (kernels/<op>.cu, same names with a _cuda suffix) fills the same table.
 *
 * Conventions (all ops):
 *  - Activations are CHANNELS-LAST: a 4-D activation (B, H=time, W=feature, C) is
 *    stored as rows r = (b*H + h)*W + w, each row holding C floats. A row may be
 *    wider than C (ld >= C): that is how the inception branches write straight
 *    into their concat buffer (ld = 256) without a concat op.
 *  - Conv weights are stored (Cout, kh, kw, Cin) ("OHWI"); the PyTorch layout
 *    (Cout, Cin, kh, kw) is converted only at weight-file I/O (weights_h5.c).
 *    Linear and LSTM weights keep PyTorch's (out, in) layout.
 *  - Outputs first, then inputs, then a dims struct by value (llm.c style).
 *  - Parameter gradients ACCUMULATE (+=). Input gradients (din) accumulate when
 *    the dims say accumulate=1, else they are overwritten; din may be NULL when
 *    no gradient is wanted (the model input).
 *  - No op allocates: scratch memory comes from the caller, sized by the op's
 *    *_scratch_floats() function (in floats, for the given dims), 64-byte aligned.
 *  - Determinism: work is split into chunks whose size does NOT depend on the
 *    thread count; per-chunk partial sums are reduced in chunk order. Results are
 *    bit-identical for any OMP_NUM_THREADS. BLAS is called single-threaded
 *    from inside OpenMP regions.
 */
#ifndef DL_BACKEND_H
#define DL_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* OpenBLAS' cblas.h pulls in <complex.h>, whose macro I would clobber the
 * LinearDims field I: we use no complex arithmetic. */
#ifdef I
#undef I
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Rows per work chunk for row-parallel ops. Fixed: changing it changes the
 * floating-point summation order (results stay correct, bits change). */
#define DL_CHUNK_ROWS 4096

/* ---- Conv2d (also Conv1d: W=1, kw=1) ---------------------------------------
 * in  (B, H, W, Cin)  channels-last, row stride in_ld
 * w   (Cout, kh, kw, Cin)
 * b   (Cout) or NULL
 * out (B, Ho, Wo, Cout) row stride out_ld
 * Ho = (H + pad_top + pad_bottom - dil_h*(kh-1) - 1)/stride_h + 1
 * Wo = (W - kw)/stride_w + 1            (no padding along W; not needed)
 * Zero padding along time: pad_top rows before t=0, pad_bottom after t=H-1.
 * Causal TCN conv: pad_top = dil_h*(kh-1), pad_bottom = 0.                   */
typedef struct {
    int B, H, W, Cin, Cout;
    int kh, kw, stride_h, stride_w, dil_h;
    int pad_top, pad_bottom;
    int in_ld, out_ld;       /* row strides in floats (>= Cin, >= Cout) */
    int accumulate_din;      /* backward: din += (1) or din = (0) */
} ConvDims;
static inline int conv_out_h(ConvDims d) { return (d.H + d.pad_top + d.pad_bottom - d.dil_h * (d.kh - 1) - 1) / d.stride_h + 1; }
static inline int conv_out_w(ConvDims d) { return (d.W - d.kw) / d.stride_w + 1; }

/* ---- BatchNorm over the rows of a channels-last tensor, fused activation ----
 * rows = B*H*W, C channels. y = act(gamma*(x-mean)*rstd + beta)
 * act: slope 1.0f = identity, 0.01f = LeakyReLU(0.01).
 * training: batch stats (biased var for normalising, unbiased for running_var),
 *   running = (1-momentum)*running + momentum*batch; mean/rstd cached (C each).
 * eval: running stats; mean/rstd written from them.                           */
typedef struct {
    int rows, C;
    int x_ld, y_ld;          /* row strides */
    float eps, momentum, slope;
    int accumulate_dx;
} BNDims;

/* ---- LSTM, one layer, unidirectional, PyTorch gate order i,f,g,o ------------
 * x (B, T, In) row stride x_ld per time step (x[(b*T+t)*x_ld + k])
 * w_ih (4H, In), w_hh (4H, H), b_ih (4H), b_hh (4H); zero initial state.
 * h_last (B, H). cache: lstm_cache_floats(d) floats, filled by forward, read by backward;
 * the hidden state of every step is in it (lstm_cache_h). Backward's dh is dL/dh_last
 * (B, H), or with dh_every_step dL/dh_t of every step (B, T, H) (the MMF LSTM's
 * output at every step). */
typedef struct {
    int B, T, In, H;
    int x_ld;
    int accumulate_dx;
    int dh_every_step;
} LSTMDims;

/* ---- Linear: y (N, O) = x (N, I) W^T + b; row strides x_ld, y_ld ---------- */
typedef struct {
    int N, I, O;
    int x_ld, y_ld;
    int accumulate_dx;
} LinearDims;

/* ---- MaxPool 3x1 over time, stride 1, pad 1 (padding never wins) ---------
 * (B, H, W, C) -> same shape; ties: first maximum in window order, as PyTorch. */
typedef struct {
    int B, H, W, C;
    int x_ld, y_ld;
    int accumulate_dx;
} PoolDims;

/* ---- Attention (deeplob_hier): per sample b, batched over B ----------------
 * scores: S (B, Lq, Lk) contiguous = scale * Q K^T
 *         Q (B, Lq, D) row stride q_ld; K (B, Lk, D) row stride k_ld
 * apply:  O (B, Lq, D) row stride o_ld = P V
 *         P (B, Lq, Lk) contiguous; V (B, Lk, D) row stride v_ld
 * Backward gradients have the layout of their input (dQ: q_ld, ...); they
 * accumulate iff accumulate_din (dS/dP of the scores/apply ops included).
 * Samples are independent: bits do not depend on the thread count.           */
typedef struct {
    int B, Lq, Lk, D;
    int q_ld, k_ld, v_ld, o_ld;
    float scale;
    int accumulate_din;
} AttnDims;

typedef struct Backend {
    const char *name;

    size_t (*conv2d_scratch_floats)(ConvDims d, int nthreads);
    void (*conv2d_forward)(float *out, const float *in, const float *w, const float *b,
                           ConvDims d, float *scratch);
    void (*conv2d_backward)(float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, ConvDims d, float *scratch);

    size_t (*batchnorm_scratch_floats)(BNDims d);
    /* y may alias x only in eval mode */
    void (*batchnorm_forward)(float *y, float *mean, float *rstd, float *running_mean,
                              float *running_var, const float *x, const float *gamma,
                              const float *beta, BNDims d, int training, float *scratch);
    /* x: the pre-BN input. The LeakyReLU mask is the sign of y (the forward's output):
     * the CUDA op reads y, the CPU op recomputes it from x, gamma, beta (one tensor
     * pass fewer) */
    void (*batchnorm_backward)(float *dx, float *dgamma, float *dbeta, const float *dy,
                               const float *y, const float *x, const float *gamma, const float *beta,
                               const float *mean, const float *rstd, BNDims d, float *scratch);

    /* LeakyReLU on a (rows, C) tensor with row strides; may run in place */
    void (*leaky_forward)(float *y, const float *x, int rows, int C, int x_ld, int y_ld, float slope);
    /* dx (+)= dy * (y > 0 ? 1 : slope); accumulate flag as in dims */
    void (*leaky_backward)(float *dx, const float *dy, const float *y, int rows, int C,
                           int ld_dx, int ld_dy, int ld_y, float slope, int accumulate);

    void (*maxpool3_forward)(float *y, const float *x, PoolDims d);
    void (*maxpool3_backward)(float *dx, const float *dy, const float *x, PoolDims d);

    size_t (*lstm_cache_floats)(LSTMDims d);
    size_t (*lstm_scratch_floats)(LSTMDims d, int nthreads);
    void (*lstm_forward)(float *h_last, float *cache, const float *x, const float *w_ih,
                         const float *w_hh, const float *b_ih, const float *b_hh, LSTMDims d,
                         float *scratch);
    void (*lstm_backward)(float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                          const float *dh_last, const float *cache, const float *x,
                          const float *w_ih, const float *w_hh, LSTMDims d, float *scratch);

    size_t (*linear_scratch_floats)(LinearDims d, int nthreads);
    void (*linear_forward)(float *y, const float *x, const float *w, const float *b, LinearDims d,
                           float *scratch);
    void (*linear_backward)(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, LinearDims d, float *scratch);

    /* Dropout: keep with prob 1-p, scale 1/(1-p). mask (n bytes) written by forward.
     * Random draws: dl_dropout_keep(key, i, p) (layers/elementwise.h): one splitmix64 output per pair. */
    void (*dropout_forward)(float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t key);
    void (*dropout_backward)(float *dx, const float *dy, const uint8_t *mask, size_t n, float p);

    /* y = a + b elementwise (n); y may alias a or b */
    void (*add)(float *y, const float *a, const float *b, size_t n);
    /* y += a (n) */
    void (*accumulate)(float *y, const float *a, size_t n);

    /* Huber loss, mean over n: returns loss; dpred = weight * dL/dpred */
    float (*huber_loss)(float *dpred, const float *pred, const float *target, int n,
                        float delta, float weight);

    /* sum of squares in double, fixed chunk order */
    double (*sumsq)(const float *x, size_t n);
    void (*scale)(float *x, size_t n, float s);
    /* Adam (PyTorch semantics, bias-corrected); weight_decay > 0: AdamW's decoupled decay
     * (p *= 1 - lr*weight_decay before the step), 0: plain Adam; t = step count >= 1 */
    void (*adam_update)(float *p, const float *g, float *m, float *v, size_t n, float lr,
                        float beta1, float beta2, float eps, float weight_decay, int t);

    /* ---- attention ops (deeplob_hier); dims and layouts: AttnDims above ---- */
    /* scratch: attn_scratch_floats(d, threads) (a slot per thread: packed operands) */
    size_t (*attn_scratch_floats)(AttnDims d, int nthreads);
    void (*attn_scores_forward)(float *S, const float *Q, const float *K, AttnDims d, float *scratch);
    /* dQ (B,Lq,D; q_ld), dK (B,Lk,D; k_ld) (+)= ; either may be NULL; dS (B,Lq,Lk) */
    void (*attn_scores_backward)(float *dQ, float *dK, const float *dS, const float *Q, const float *K,
                                 AttnDims d, float *scratch);
    void (*attn_apply_forward)(float *O, const float *P, const float *V, AttnDims d, float *scratch);
    /* dP (B,Lq,Lk), dV (B,Lk,D; v_ld) (+)= ; either may be NULL; dO (B,Lq,D; o_ld) */
    void (*attn_apply_backward)(float *dP, float *dV, const float *dO, const float *P, const float *V,
                                AttnDims d, float *scratch);
    /* softmax over each contiguous row: P (rows, n) = softmax(S (rows, n)); P may be S */
    void (*softmax_forward)(float *P, const float *S, int rows, int n);
    /* dS (rows, n) = P * (dP - rowsum(dP * P)), overwritten; dS may be dP */
    void (*softmax_backward)(float *dS, const float *dP, const float *P, int rows, int n);
    /* gated product: y (n) = sigmoid(g (n)) * t (n) */
    void (*gate_mul_forward)(float *y, const float *g, const float *t, size_t n);
    /* dg (n) = dy*t*s*(1-s), dt (n) = dy*s, s = sigmoid(g); overwritten;
     * dg may alias g and dt may alias t */
    void (*gate_mul_backward)(float *dg, float *dt, const float *dy, const float *g, const float *t, size_t n);
    /* strided row copy (concat on the last axis and its gradient):
     * y (rows, C; ld_y) (+)= x (rows, C; ld_x), += iff accumulate */
    void (*copy_rows)(float *y, const float *x, int rows, int C, int ld_y, int ld_x, int accumulate);

    /* ---- sharded BatchNorm (data parallelism, shard.c): the training statistics of a
     * global batch cut into shards, maybe over ranks. Per shard: sums (in the backend's
     * memory); the caller gathers every shard's sums and the combine op adds them in
     * shard order and finalises (layers/elementwise.h dl_bn_shard_stats, dl_bn_shard_bwd:
     * one function for both backends); then one apply over all local rows. Scratch as
     * batchnorm's. sums (3, C): shift (the shard's row 0), S, Q: shifted sums as
     * batchnorm_forward's */
    void (*batchnorm_shard_sums)(double *sums, const float *x, BNDims d, float *scratch);
    /* y = act((x - mean)*gamma*rstd + beta), given mean and rstd (C); y may not alias x */
    void (*batchnorm_apply)(float *y, const float *x, const float *mean, const float *rstd, const float *gamma,
                            const float *beta, BNDims d, float *scratch);
    /* sums (2, C): sum dz, sum dz*(x - mean) over the shard's rows (dz: dy through the activation) */
    void (*batchnorm_shard_bwd_sums)(double *sums, const float *dy, const float *x, const float *gamma,
                                     const float *beta, const float *mean, const float *rstd, BNDims d,
                                     float *scratch);
    /* dx (+)= per d.accumulate_dx, from kgw (3, C): k, gm, w of dl_bn_bwd_finalize */
    void (*batchnorm_bwd_apply)(float *dx, const float *dy, const float *x, const float *gamma, const float *beta,
                                const float *mean, const float *rstd, const float *kgw, BNDims d, float *scratch);
    /* all: the K shards' forward sums, blocks of blk doubles (shard order) -> mean, rstd (C);
     * running stats rm, rv (C) updated when non-NULL. d.rows: the rows of ONE shard */
    void (*batchnorm_shard_combine)(float *mean, float *rstd, float *rm, float *rv, const double *all, int K,
                                    size_t blk, const float *gamma, BNDims d);
    /* all: the K shards' backward sums ((2, C) in blocks of blk) -> kgw (3, C); dgamma,
     * dbeta (C) += the global batch's when non-NULL. d.rows: the rows of one shard */
    void (*batchnorm_shard_bwd_combine)(float *kgw, float *dgamma, float *dbeta, const double *all, int K,
                                        size_t blk, const float *gamma, const float *rstd, BNDims d);
    /* 1: a row's (a sample's) bits from conv2d_forward, linear_forward and the attention
     * ops do not depend on how many rows the call has (the CPU kernels: each output
     * element is one fixed FMA chain). 0: they may (cuDNN and cuBLAS choose algorithms per
     * shape): a sharded model then calls them per shard (shard.c), so that its bits do
     * not depend on how many shards a process holds */
    int rows_independent;
    /* ---- memory: where the model's arenas live (model.c is the only caller) ----
     * on_device 0: host memory, copies are memcpy. 1: device memory: every pointer
     * given to the ops above is a device pointer, and the model keeps host mirrors
     * that it fills with copy_to_host / sends with copy_to_device. */
    int on_device;
    void *(*mem_alloc)(size_t bytes);        /* 64-byte aligned at least; fatal on failure */
    void (*mem_free)(void *p);
    void (*mem_zero)(void *p, size_t bytes); /* queued in order with the ops */
    /* dst = src within the backend's memory (device to device), queued in order with the ops */
    void (*mem_copy)(void *dst, const void *src, size_t bytes);
    /* host -> device (host <- device): returns when src may be reused (dst is complete) */
    void (*copy_to_device)(void *dst, const void *src, size_t bytes);
    void (*copy_to_host)(void *dst, const void *src, size_t bytes);
    /* input batches (double-buffered): upload host src into dst, which belongs to slot
     * (0..3: the model's inputs use 0/1, its targets 2/3), on a copy stream; ops queued afterwards wait for it; it first waits for the
     * ops that read the slot's previous batch (input_release). Returns when src may be
     * reused. input_release(slot): the ops queued so far are the last readers of slot. */
    void (*upload_input)(void *dst, const void *src, size_t bytes, int slot);
    void (*input_release)(int slot);
    /* host buffers that batches are assembled in (page-locked when on the device) */
    void *(*host_alloc)(size_t bytes);
    void (*host_free)(void *p);
} Backend;

const Backend *backend_cpu(void);
/* the CUDA backend: NULL in builds without CUDA. Call after the rank's GPU is bound
 * (device.h: dl_backend_select); the first call creates the library handles. */
const Backend *backend_cuda(void);

/* a Backend that times every op of inner (bench --profile); one per process */
const Backend *backend_profiled(const Backend *inner);
void backend_profile_reset(void);
void backend_profile_print(FILE *f, int steps);

/* threads used by the CPU ops (OpenMP); BLAS is pinned to 1 thread */
void backend_cpu_set_threads(int n);
int backend_cpu_threads(void);
/* buf: the CPU's model name */
void backend_cpu_model(char *buf, size_t n);
/* buf: the kernels in use (AVX-512 / AVX2) and OpenBLAS's core; returns 1 when OpenBLAS
 * runs a fallback core (no AVX2 kernels) on a CPU that has AVX2: say so, with the hint */
int backend_cpu_describe(char *buf, size_t n);
const char *backend_cpu_fallback_hint(void);

#ifdef __cplusplus
}
#endif
#endif
