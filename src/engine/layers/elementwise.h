/* elementwise.h: the per-element (and per-channel) arithmetic of LeakyReLU,
 * dropout, BatchNorm, Huber loss and Adam, written once and called by both the
 * CPU loops (batchnorm.c, activation.c, loss.c, optim.c) and the CUDA kernels
 * (kernels/elementwise.cu), so the CPU unit tests run the very arithmetic the GPU runs (style.md, "CUDA logic
 * that the CPU tests cover"). Only indexing, reductions' thread layout and
 * launches are GPU-only.
 *
 * DL_HD functions must stay free of host-only calls (no printf, no libc RNG).
 * The few plain static inline functions at the end are host-only setup.
 */
#ifndef DL_ELEMENTWISE_H
#define DL_ELEMENTWISE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend.h"
#include "hd.h"

/* ---- LeakyReLU (PyTorch: x > 0 ? x : x*slope; mask from the output's sign) ----
 * dl_sel_pos(x, a, b) = x > 0 ? a : b as an integer bit blend: for non-NaN x the
 * int bits are > 0 iff x > 0. A branch-free select with both sides computed lets
 * GCC vectorise the CPU loops under its default -ftrapping-math (it will not
 * if-convert a conditional float multiply, and sinks x*slope into the branch). */
DL_HD float dl_sel_pos(float x, float a, float b) {
    int32_t ix, ia, ib, r;
    memcpy(&ix, &x, sizeof ix);
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    int32_t m = -(int32_t)(ix > 0); /* all ones iff x > 0 */
    r = (ia & m) | (ib & ~m);
    float o;
    memcpy(&o, &r, sizeof o);
    return o;
}
DL_HD float dl_leaky(float x, float slope) { return dl_sel_pos(x, x, x * slope); }
/* gradient through LeakyReLU given its output y (y > 0 iff input > 0 for slope > 0) */
DL_HD float dl_leaky_grad(float dy, float y, float slope) { return dl_sel_pos(y, dy, dy * slope); }

/* ---- dropout keep decision ------------------------------------------------------
 * Same bits as dl_rand_uniform() in common/rng.h (which is host-only: its
 * functions carry no DL_HD); test_layer_elementwise checks the two agree. */
DL_HD uint64_t dl_mix64_hd(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
DL_HD float dl_rand_uniform_hd(uint64_t key, uint64_t i) {
    return (float)(dl_mix64_hd(key + dl_mix64_hd(i)) >> 40) * (1.0f / 16777216.0f);
}
/* Dropout draws: one 64-bit splitmix64 output serves elements 2j (high 24 bits)
 * and 2j+1 (low 24 bits); hashing per element cost 7 % of a TCN training step. */
DL_HD uint64_t dl_dropout_hash(uint64_t key, uint64_t pair) { return dl_mix64_hd(key + pair * 0xd1b54a32d192ed03ULL); }
DL_HD uint8_t dl_dropout_keep_bits(uint64_t r, int lane, float p) {
    uint32_t bits = lane ? (uint32_t)(r & 0xffffffu) : (uint32_t)(r >> 40);
    return (float)bits * (1.0f / 16777216.0f) >= p ? (uint8_t)1 : (uint8_t)0;
}
/* keep element i iff its uniform draw >= p (keep probability 1-p) */
DL_HD uint8_t dl_dropout_keep(uint64_t key, uint64_t i, float p) {
    return dl_dropout_keep_bits(dl_dropout_hash(key, i >> 1), (int)(i & 1), p);
}
/* forward/backward element: x * keep / (1-p); scale = dl_dropout_scale(p).
 * A multiply, as torch's input * noise (an inf/nan input stays nan when dropped) */
DL_HD float dl_dropout_elem(float x, uint8_t keep, float scale) { return x * (keep ? scale : 0.0f); }
/* 1/(1-p) as PyTorch computes it (double, then float); p >= 1 drops everything */
DL_HD float dl_dropout_scale(float p) { return p < 1.0f ? (float)(1.0 / (1.0 - (double)p)) : 0.0f; }

/* ---- BatchNorm (fused activation) -----------------------------------------------
 * forward element: z = (x - mean) * scale + beta with scale = gamma*rstd, then
 * LeakyReLU(slope) unless slope == 1 (identity). Subtracting the mean first keeps
 * precision when |mean| >> std. */
DL_HD float dl_bn_fwd_elem(float x, float mean, float scale, float beta, float slope) {
    float z = (x - mean) * scale + beta;
    return slope == 1.0f ? z : dl_leaky(z, slope);
}
/* dL/dz from dL/dy and the post-activation y */
DL_HD float dl_bn_dz(float dy, float y, float slope) { return slope == 1.0f ? dy : dl_leaky_grad(dy, y, slope); }
/* backward element (training): dx = (dz - gm - (x - mean)*k) * w, with
 * gm = mean(dz), k = mean(dz*xhat)*rstd, w = gamma*rstd (PyTorch's CPU form) */
DL_HD float dl_bn_bwd_elem(float dz, float x, float mean, float k, float gm, float w) {
    return (dz - gm - (x - mean) * k) * w;
}

/* dL/dz from dL/dy with the LeakyReLU mask recomputed from x exactly as the forward
 * computed z (dl_bn_fwd_elem with the same scale = gamma*rstd), so y > 0 iff z > 0 holds
 * bit for bit and y is never read (the CPU BN backward, the sharded BN ops on both sides) */
DL_HD float dl_bn_dz_x(float dy, float x, float mean, float scale, float beta, float slope) {
    return slope == 1.0f ? dy : dl_leaky_grad(dy, dl_bn_fwd_elem(x, mean, scale, beta, 1.0f), slope);
}

/* Per-channel statistics from shifted sums over n rows (training):
 * S = sum(x - K), Q = sum((x - K)^2) in double, K = a shift (the first row's
 * value; it guards against cancellation when |mean| >> std).
 * Writes mean, rstd = 1/sqrt(var_biased + eps), scale = gamma*rstd, and, when
 * rm/rv are non-NULL, the running stats with momentum (unbiased variance), all
 * in double as PyTorch's CPU kernel does, then rounded to float. */
DL_HD void dl_bn_stats_finalize(float *mean, float *rstd, float *scale, float *rm, float *rv, double S,
                                double Q, double K, double n, float gamma, float eps, float momentum) {
    double dm = S / n;
    double var = Q / n - dm * dm;
    if (var < 0.0) var = 0.0;
    double mu = K + dm;
    float r = (float)(1.0 / sqrt(var + (double)eps));
    *mean = (float)mu;
    *rstd = r;
    *scale = gamma * r;
    double mom = (double)momentum;
    if (rm) *rm = (float)(mom * mu + (1.0 - mom) * (double)*rm);
    if (rv) *rv = (float)(mom * (var * n / (n - 1.0)) + (1.0 - mom) * (double)*rv);
}
/* eval: statistics are the running ones */
DL_HD void dl_bn_eval_stats(float *mean, float *rstd, float *scale, float rm, float rv, float gamma, float eps) {
    float r = (float)(1.0 / sqrt((double)rv + (double)eps));
    *mean = rm;
    *rstd = r;
    *scale = gamma * r;
}
/* backward per channel: sdz = sum dz, sdzc = sum dz*(x-mean) over n rows (double).
 * dbeta += sdz, dgamma += sdzc*rstd; k, gm, w feed dl_bn_bwd_elem. */
DL_HD void dl_bn_bwd_finalize(float *k, float *gm, float *w, float *dgamma, float *dbeta, double sdz, double sdzc,
                              double n, float gamma, float rstd) {
    double r = (double)rstd;
    if (dbeta) *dbeta += (float)sdz;
    if (dgamma) *dgamma += (float)(sdzc * r);
    *k = (float)(sdzc * r * r / n);
    *gm = (float)(sdz / n);
    *w = gamma * rstd;
}
/* ---- sharded BatchNorm (data parallelism, engine/shard.c): the K shards' sums of
 * channel c combined in shard order, then finalised as above. all: K blocks of blk
 * doubles; forward block (3, C): shift (the shard's row 0), S, Q (shifted sums, as
 * batchnorm_shard_sums); backward block (2, C): sum dz, sum dz*(x - mean). n: rows of
 * one shard. One function for the CPU loop and the CUDA kernel (per channel), so the
 * combine's arithmetic is the same code on both sides. */
DL_HD void dl_bn_shard_stats(float *mean, float *rstd, float *rm, float *rv, const double *all, int K, size_t blk,
                             int C, int c, double n, float gamma, float eps, float momentum) {
    const double K0 = all[c]; /* sums moved to shard 0's shift (the global row 0's, as one process) */
    double S = 0.0, Q = 0.0;
    for (int k = 0; k < K; k++) {
        const double *p = all + k * blk;
        const double dk = p[c] - K0, Sk = p[C + c], Qk = p[2 * C + c];
        S += Sk + n * dk;
        Q += Qk + 2.0 * dk * Sk + n * dk * dk;
    }
    float scale;
    dl_bn_stats_finalize(mean, rstd, &scale, rm, rv, S, Q, K0, n * K, gamma, eps, momentum);
}
/* k, gm, w (kgw's three rows at c); dgamma/dbeta += the global batch's (NULL: not here) */
DL_HD void dl_bn_shard_bwd(float *k, float *gm, float *w, float *dgamma, float *dbeta, const double *all, int K,
                           size_t blk, int C, int c, double n, float gamma, float rstd) {
    double A = 0.0, Bs = 0.0;
    for (int s = 0; s < K; s++) {
        A += all[s * blk + c];
        Bs += all[s * blk + C + c];
    }
    dl_bn_bwd_finalize(k, gm, w, dgamma, dbeta, A, Bs, n * K, gamma, rstd);
}

/* scratch for both BN passes (CPU and CUDA): (nchunks, 2, C) double partials,
 * then 4 per-channel float arrays (C each) */
static inline size_t dl_bn_scratch_floats(int rows, int C) {
    size_t nch = (size_t)((rows + DL_CHUNK_ROWS - 1) / DL_CHUNK_ROWS);
    return 4 * nch * (size_t)C + 4 * (size_t)C;
}

/* ---- Huber loss (PyTorch HuberLoss element, d = pred - target) ------------------ */
DL_HD float dl_huber_elem(float d, float delta) {
    float a = fabsf(d);
    return a < delta ? 0.5f * d * d : delta * (a - 0.5f * delta);
}
/* dHuber/dd = clamp(d, -delta, delta) */
DL_HD float dl_huber_grad(float d, float delta) { return d < -delta ? -delta : (d > delta ? delta : d); }

/* ---- Adam (torch 1.13 _single_tensor_adam, float32 tensor ops) ------------------ */
typedef struct {
    float b1, omb1;        /* beta1, 1-beta1 (as torch: Python double, then float) */
    float b2, omb2;
    float eps;
    float step_size;       /* lr / (1 - beta1^t) */
    float bc2_sqrt;        /* sqrt(1 - beta2^t) */
    float decay;           /* AdamW: 1 - lr*weight_decay (1 exactly when weight_decay = 0) */
} DlAdamCoef;

DL_HD void dl_adam_elem(float *p, float *m, float *v, float g, DlAdamCoef c) {
    float pp = *p * c.decay;                     /* AdamW: param.mul_(1 - lr*wd); x*1.0f == x */
    float mm = c.b1 * *m + c.omb1 * g;           /* exp_avg.mul_(b1).add_(g, alpha=1-b1) */
    float vv = c.b2 * *v + c.omb2 * g * g;       /* exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2) */
    float denom = sqrtf(vv) / c.bc2_sqrt + c.eps; /* (v.sqrt() / bc2_sqrt).add_(eps) */
    *m = mm;
    *v = vv;
    *p = pp - c.step_size * mm / denom;          /* p.addcdiv_(m, denom, value=-step_size) */
}

/* Host only. The double a config value was written as: the shortest decimal that
 * rounds to this float (0.9f -> 0.9). Python computes 1-beta and beta**t from
 * that double, so the bias corrections below match torch's to the last bit. */
static inline double dl_float_as_decimal(float f) {
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f) return d;
    }
    return (double)f;
}
/* Host only: Adam coefficients for step t >= 1 (bias corrections in double).
 * weight_decay > 0 gives torch 1.13 _single_tensor_adamw (decoupled decay:
 * param.mul_(1 - lr*weight_decay), the factor computed in double as Python does,
 * then the Adam step); weight_decay = 0 is plain Adam, bit for bit. */
static inline DlAdamCoef dl_adam_coef(float lr, float beta1, float beta2, float eps, float weight_decay, int t) {
    double b1 = dl_float_as_decimal(beta1), b2 = dl_float_as_decimal(beta2), l = dl_float_as_decimal(lr);
    double wd = weight_decay > 0 ? dl_float_as_decimal(weight_decay) : 0.0;
    double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    DlAdamCoef c;
    c.b1 = beta1;
    c.omb1 = (float)(1.0 - b1);
    c.b2 = beta2;
    c.omb2 = (float)(1.0 - b2);
    c.eps = eps;
    c.step_size = (float)(l / bc1);
    c.bc2_sqrt = (float)sqrt(bc2);
    c.decay = (float)(1.0 - l * wd);
    return c;
}

#endif
