/* batchnorm.c: CPU BatchNorm over the rows of a channels-last tensor, with the
 * activation (identity or LeakyReLU) fused into the same pass.
 *
 * Layout (backend.h): x (rows, C) row stride x_ld, y and dy (rows, C) row stride
 * y_ld, dx (rows, C) row stride x_ld. Only the first C floats of a row are read
 * or written.
 *
 * Determinism: rows are cut into chunks of DL_CHUNK_ROWS (never the thread
 * count). Each chunk sums its rows in row order into its own double partials
 * (scratch slot), and the partials are reduced in chunk order on one thread, so
 * the result is bit-identical for any number of OpenMP threads.
 *
 * Statistics use shifted sums (shift = row 0's value per channel) in double: one
 * pass over x, no cancellation when |mean| >> std.
 */
#include <omp.h>
#include <stdint.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "../../common/util.h"
#include "elementwise.h"
#include "layers_cpu.h"

size_t batchnorm_scratch_floats_cpu(BNDims d) { return dl_bn_scratch_floats(d.rows, d.C); }

static void bn_check(BNDims d) {
    DL_CHECK(d.rows > 0 && d.C > 0, "batchnorm: bad dims rows=%d C=%d", d.rows, d.C);
    DL_CHECK(d.x_ld >= d.C && d.y_ld >= d.C, "batchnorm: x_ld %d or y_ld %d < C %d", d.x_ld, d.y_ld, d.C);
}

/* chunk ch: rows [r0, r1) */
static inline void chunk_rows(int ch, int rows, int *r0, int *r1) {
    *r0 = ch * DL_CHUNK_ROWS;
    *r1 = *r0 + DL_CHUNK_ROWS < rows ? *r0 + DL_CHUNK_ROWS : rows;
}

/* Tensors larger than this are written with non-temporal stores: they cannot stay
 * in cache until their reader comes (the front end's are 30-65 MB at B = 256), so
 * the usual read-for-ownership of each line is pure waste. Only where rows are
 * 32-byte aligned whole vectors; the values, and so the bits, are the same. */
#define BN_NT_BYTES (8u << 20)
#define BN_NT_MAXC 256

static int bn_stream_ok(const float *p, int rows, int C, int ld) {
#if defined(__AVX2__)
    return (size_t)rows * ld * sizeof(float) >= BN_NT_BYTES && C % 8 == 0 && C <= BN_NT_MAXC && ld % 8 == 0 &&
           ((uintptr_t)p & 31) == 0;
#else
    (void)p, (void)rows, (void)C, (void)ld;
    return 0;
#endif
}

/* dst (n floats, 32-byte aligned, n % 8 == 0) = src, bypassing the caches */
static inline void stream_row(float *dst, const float *src, int n) {
#if defined(__AVX2__)
    for (int c = 0; c < n; c += 8) _mm256_stream_ps(dst + c, _mm256_loadu_ps(src + c));
#else
    for (int c = 0; c < n; c++) dst[c] = src[c];
#endif
}

static inline void stream_fence(void) {
#if defined(__AVX2__)
    _mm_sfence(); /* streaming stores are weakly ordered: publish before the barrier */
#endif
}

/* y rows [r0,r1) = act((x - mean)*scale + beta); slope is a constant at the two
 * call sites so the identity case compiles without the select. nt: streaming stores
 * (bn_stream_ok) through a row buffer that stays in L1 */
static inline void bn_apply_rows(float *y, const float *x, const float *mean, const float *scale,
                                 const float *beta, int r0, int r1, BNDims d, float slope, int nt) {
    float buf[BN_NT_MAXC] __attribute__((aligned(64)));
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (size_t)r * d.x_ld;
        float *yr = y + (size_t)r * d.y_ld, *o = nt ? buf : yr;
        for (int c = 0; c < d.C; c++) o[c] = dl_bn_fwd_elem(xr[c], mean[c], scale[c], beta[c], slope);
        if (nt) stream_row(yr, buf, d.C);
    }
    if (nt) stream_fence();
}

/* the per-chunk partial pairs (nch, 2, C) summed in chunk order (fixed) into U, V (C);
 * U, V may be part, part + C: channel c reads all its partials before it writes */
static void reduce_chunks(double *U, double *V, const double *part, int nch, int C) {
    for (int c = 0; c < C; c++) {
        double u = 0.0, v = 0.0;
        for (int ch = 0; ch < nch; ch++) {
            u += part[(size_t)ch * 2 * C + c];
            v += part[(size_t)ch * 2 * C + C + c];
        }
        U[c] = u;
        V[c] = v;
    }
}

/* y = act((x - mean)*scale + beta) over all rows, chunk-parallel */
static void bn_apply(float *y, const float *x, const float *mean, const float *scale, const float *beta, BNDims d) {
    const int nch = CEIL_DIV(d.rows, DL_CHUNK_ROWS);
    const float slope = d.slope;
    const int nt = y != x && bn_stream_ok(y, d.rows, d.C, d.y_ld);
#pragma omp parallel for schedule(static) if (nch > 1)
    for (int ch = 0; ch < nch; ch++) {
        int r0, r1;
        chunk_rows(ch, d.rows, &r0, &r1);
        if (slope == 1.0f)
            bn_apply_rows(y, x, mean, scale, beta, r0, r1, d, 1.0f, nt);
        else
            bn_apply_rows(y, x, mean, scale, beta, r0, r1, d, slope, nt);
    }
}

/* S, Q (C): sums of t and t*t, t = x - x[row 0], over all rows; per-chunk partials
 * (part: (nch, 2, C) doubles) reduced in chunk order. S, Q may be part, part + C
 * (channel c reads all its partials before it writes) */
static void bn_stat_sums(double *Sout, double *Qout, const float *x, BNDims d, double *part) {
    const int C = d.C, nch = CEIL_DIV(d.rows, DL_CHUNK_ROWS);
#pragma omp parallel for schedule(static) if (nch > 1)
    for (int ch = 0; ch < nch; ch++) {
        double *restrict S = part + (size_t)ch * 2 * C, *restrict Q = S + C;
        const float *restrict x0 = x; /* shift: row 0 */
        int r0, r1;
        chunk_rows(ch, d.rows, &r0, &r1);
        for (int c = 0; c < C; c++) S[c] = Q[c] = 0.0;
        for (int r = r0; r < r1; r++) {
            const float *restrict xr = x + (size_t)r * d.x_ld;
            for (int c = 0; c < C; c++) {
                double t = (double)xr[c] - (double)x0[c];
                S[c] += t;
                Q[c] += t * t;
            }
        }
    }
    reduce_chunks(Sout, Qout, part, nch, C);
}

/* y (rows, C; y_ld), mean/rstd (C) out; running_mean/var (C) in/out (training,
 * may be NULL to skip the update); x (rows, C; x_ld); gamma/beta (C);
 * scratch batchnorm_scratch_floats_cpu(d) floats, 64-byte aligned */
void batchnorm_forward_cpu(float *y, float *mean, float *rstd, float *running_mean, float *running_var,
                           const float *x, const float *gamma, const float *beta, BNDims d, int training,
                           float *scratch) {
    bn_check(d);
    const int C = d.C, nch = CEIL_DIV(d.rows, DL_CHUNK_ROWS);
    double *part = (double *)scratch;                      /* (nch, 2, C): S then Q */
    float *scale = scratch + 4 * (size_t)nch * C;          /* (C) gamma*rstd */

    if (training) {
        DL_CHECK(d.rows > 1, "batchnorm: training needs more than 1 row per channel (rows=%d)", d.rows);
        DL_CHECK(y != x, "batchnorm: y may alias x only in eval mode");
        double *sums = part;   /* (2, C): reduced in place over chunk 0's slots */
        bn_stat_sums(sums, sums + C, x, d, part);
        for (int c = 0; c < C; c++)
            dl_bn_stats_finalize(&mean[c], &rstd[c], &scale[c], running_mean ? &running_mean[c] : NULL,
                                 running_var ? &running_var[c] : NULL, sums[c], sums[C + c], (double)x[c],
                                 (double)d.rows, gamma[c], d.eps, d.momentum);
    } else {
        DL_CHECK(running_mean && running_var, "batchnorm: eval mode needs running_mean and running_var");
        for (int c = 0; c < C; c++)
            dl_bn_eval_stats(&mean[c], &rstd[c], &scale[c], running_mean[c], running_var[c], gamma[c], d.eps);
    }

    bn_apply(y, x, mean, scale, beta, d);
}

/* partial sums of dz and dz*(x-mean) over rows [r0,r1) */
static inline void bn_bwd_sums(double *restrict A, double *restrict Bs, const float *dy, const float *x,
                               const float *mean, const float *scale, const float *beta, int r0, int r1, BNDims d,
                               float slope) {
    const int C = d.C;
    for (int c = 0; c < C; c++) A[c] = Bs[c] = 0.0;
    for (int r = r0; r < r1; r++) {
        const float *restrict dyr = dy + (size_t)r * d.y_ld;
        const float *restrict xr = x + (size_t)r * d.x_ld;
        for (int c = 0; c < C; c++) {
            double dz = (double)dl_bn_dz_x(dyr[c], xr[c], mean[c], scale[c], beta[c], slope);
            A[c] += dz;
            Bs[c] += dz * ((double)xr[c] - (double)mean[c]);
        }
    }
}

/* dx rows [r0,r1) (+)= (dz - gm - (x-mean)*k) * w */
static inline void bn_bwd_apply(float *dx, const float *dy, const float *x, const float *mean, const float *scale,
                                const float *beta, const float *k, const float *gm, const float *w, int r0, int r1,
                                BNDims d, float slope, int nt) {
    const int C = d.C;
    float buf[BN_NT_MAXC] __attribute__((aligned(64)));
    for (int r = r0; r < r1; r++) {
        const float *restrict dyr = dy + (size_t)r * d.y_ld;
        const float *restrict xr = x + (size_t)r * d.x_ld;
        float *restrict dxr = dx + (size_t)r * d.x_ld;
        if (d.accumulate_dx) {
            for (int c = 0; c < C; c++)
                dxr[c] += dl_bn_bwd_elem(dl_bn_dz_x(dyr[c], xr[c], mean[c], scale[c], beta[c], slope), xr[c], mean[c],
                                         k[c], gm[c], w[c]);
        } else {
            float *restrict o = nt ? buf : dxr;
            for (int c = 0; c < C; c++)
                o[c] = dl_bn_bwd_elem(dl_bn_dz_x(dyr[c], xr[c], mean[c], scale[c], beta[c], slope), xr[c], mean[c],
                                      k[c], gm[c], w[c]);
            if (nt) stream_row(dxr, buf, C);
        }
    }
    if (nt) stream_fence();
}

/* dx (rows, C; x_ld) (+)= per d.accumulate_dx, may be NULL; dgamma/dbeta (C) +=;
 * dy (rows, C; y_ld); y: unused here (backend.h; may be NULL); x (rows, C; x_ld)
 * pre-BN input; gamma, beta, mean, rstd (C) from the training forward;
 * scratch batchnorm_scratch_floats_cpu(d) floats */
/* A, B (C): sum dz, sum dz*(x-mean) over all rows: per-chunk partials (part: (nch, 2, C)
 * doubles) reduced in chunk order; A, B may be part, part + C (as bn_stat_sums) */
static void bn_bwd_reduce(double *A, double *B, const float *dy, const float *x, const float *mean,
                          const float *scale, const float *beta, BNDims d, double *part) {
    const int C = d.C, nch = CEIL_DIV(d.rows, DL_CHUNK_ROWS);
    const float slope = d.slope;
#pragma omp parallel for schedule(static) if (nch > 1)
    for (int ch = 0; ch < nch; ch++) {
        int r0, r1;
        chunk_rows(ch, d.rows, &r0, &r1);
        double *Ap = part + (size_t)ch * 2 * C, *Bp = Ap + C;
        if (slope == 1.0f)
            bn_bwd_sums(Ap, Bp, dy, x, mean, scale, beta, r0, r1, d, 1.0f);
        else
            bn_bwd_sums(Ap, Bp, dy, x, mean, scale, beta, r0, r1, d, slope);
    }
    reduce_chunks(A, B, part, nch, C);
}

/* dx rows (+)= (dz - gm - (x-mean)*k) * w over all rows, chunk-parallel */
static void bn_bwd_apply_all(float *dx, const float *dy, const float *x, const float *mean, const float *scale,
                             const float *beta, const float *k, const float *gm, const float *w, BNDims d) {
    const int nch = CEIL_DIV(d.rows, DL_CHUNK_ROWS);
    const float slope = d.slope;
    const int nt = !d.accumulate_dx && dx != dy && bn_stream_ok(dx, d.rows, d.C, d.x_ld);
#pragma omp parallel for schedule(static) if (nch > 1)
    for (int ch = 0; ch < nch; ch++) {
        int r0, r1;
        chunk_rows(ch, d.rows, &r0, &r1);
        if (slope == 1.0f)
            bn_bwd_apply(dx, dy, x, mean, scale, beta, k, gm, w, r0, r1, d, 1.0f, nt);
        else
            bn_bwd_apply(dx, dy, x, mean, scale, beta, k, gm, w, r0, r1, d, slope, nt);
    }
}

/* dx (rows, C; x_ld) (+)= per d.accumulate_dx, may be NULL; dgamma/dbeta (C) +=;
 * dy (rows, C; y_ld); y: unused here (backend.h; may be NULL); x (rows, C; x_ld)
 * pre-BN input; gamma, beta, mean, rstd (C) from the training forward;
 * scratch batchnorm_scratch_floats_cpu(d) floats */
void batchnorm_backward_cpu(float *dx, float *dgamma, float *dbeta, const float *dy, const float *y,
                            const float *x, const float *gamma, const float *beta, const float *mean,
                            const float *rstd, BNDims d, float *scratch) {
    bn_check(d);
    (void)y;
    const int C = d.C, nch = CEIL_DIV(d.rows, DL_CHUNK_ROWS);
    DL_CHECK(beta || d.slope == 1.0f, "batchnorm_backward: beta is needed for the LeakyReLU mask (slope %g)",
             (double)d.slope);
    double *part = (double *)scratch;                      /* (nch, 2, C): sum dz, sum dz*(x-mean) */
    float *k = scratch + 4 * (size_t)nch * C, *gm = k + C, *w = gm + C, *scale = w + C;
    for (int c = 0; c < C; c++) scale[c] = gamma[c] * rstd[c]; /* as dl_bn_stats_finalize */
    bn_bwd_reduce(part, part + C, dy, x, mean, scale, beta, d, part);
    for (int c = 0; c < C; c++)
        dl_bn_bwd_finalize(&k[c], &gm[c], &w[c], dgamma ? &dgamma[c] : NULL, dbeta ? &dbeta[c] : NULL, part[c],
                           part[C + c], (double)d.rows, gamma[c], rstd[c]);
    if (dx) bn_bwd_apply_all(dx, dy, x, mean, scale, beta, k, gm, w, d);
}

/* ---- data parallelism (backend.h "sharded BatchNorm"): the training statistics of
 * a global batch whose rows lie in several shards, maybe on several ranks. The
 * caller combines the shards' sums in shard order (shard.c). */

/* sums (3, C): shift (the shard's row 0), S, Q (shifted sums, as the forward's) */
void batchnorm_shard_sums_cpu(double *sums, const float *x, BNDims d, float *scratch) {
    bn_check(d);
    const int C = d.C;
    double *part = (double *)scratch;
    bn_stat_sums(part, part + C, x, d, part);
    for (int c = 0; c < C; c++) {
        sums[c] = (double)x[c];
        sums[C + c] = part[c];
        sums[2 * C + c] = part[C + c];
    }
}

/* y = act((x - mean)*gamma*rstd + beta) with the given (global) mean, rstd */
void batchnorm_apply_cpu(float *y, const float *x, const float *mean, const float *rstd, const float *gamma,
                         const float *beta, BNDims d, float *scratch) {
    bn_check(d);
    DL_CHECK(y != x, "batchnorm_apply: y may not alias x");
    float *scale = scratch;
    for (int c = 0; c < d.C; c++) scale[c] = gamma[c] * rstd[c]; /* as dl_bn_stats_finalize */
    bn_apply(y, x, mean, scale, beta, d);
}

/* sums (2, C): sum dz, sum dz*(x - mean) over the shard's rows (chunk order) */
void batchnorm_shard_bwd_sums_cpu(double *sums, const float *dy, const float *x, const float *gamma,
                                  const float *beta, const float *mean, const float *rstd, BNDims d,
                                  float *scratch) {
    bn_check(d);
    const int C = d.C, nch = CEIL_DIV(d.rows, DL_CHUNK_ROWS);
    double *part = (double *)scratch;
    float *scale = scratch + 4 * (size_t)nch * C;
    for (int c = 0; c < C; c++) scale[c] = gamma[c] * rstd[c];
    bn_bwd_reduce(sums, sums + C, dy, x, mean, scale, beta, d, part);
}

/* dx (+)= (dz - gm - (x-mean)*k) * w, kgw (3, C): k, gm, w of dl_bn_bwd_finalize */
void batchnorm_bwd_apply_cpu(float *dx, const float *dy, const float *x, const float *gamma, const float *beta,
                             const float *mean, const float *rstd, const float *kgw, BNDims d, float *scratch) {
    bn_check(d);
    float *scale = scratch;
    for (int c = 0; c < d.C; c++) scale[c] = gamma[c] * rstd[c];
    bn_bwd_apply_all(dx, dy, x, mean, scale, beta, kgw, kgw + d.C, kgw + 2 * d.C, d);
}

/* the K shards' forward sums (all: K blocks of blk doubles, each (3, C) as
 * batchnorm_shard_sums_cpu's) combined in shard order: mean, rstd (C); running stats
 * updated when non-NULL; d.rows: the rows of one shard */
void batchnorm_shard_combine_cpu(float *mean, float *rstd, float *rm, float *rv, const double *all, int K, size_t blk,
                                 const float *gamma, BNDims d) {
    for (int c = 0; c < d.C; c++)
        dl_bn_shard_stats(&mean[c], &rstd[c], rm ? &rm[c] : NULL, rv ? &rv[c] : NULL, all, K, blk, d.C, c,
                          (double)d.rows, gamma[c], d.eps, d.momentum);
}

/* the K shards' backward sums ((2, C) blocks of blk doubles) combined in shard order:
 * kgw (3, C) for batchnorm_bwd_apply; dgamma/dbeta (C) += the global batch's (may be NULL) */
void batchnorm_shard_bwd_combine_cpu(float *kgw, float *dgamma, float *dbeta, const double *all, int K, size_t blk,
                                     const float *gamma, const float *rstd, BNDims d) {
    const int C = d.C;
    for (int c = 0; c < C; c++)
        dl_bn_shard_bwd(&kgw[c], &kgw[C + c], &kgw[2 * C + c], dgamma ? &dgamma[c] : NULL, dbeta ? &dbeta[c] : NULL,
                        all, K, blk, C, c, (double)d.rows, gamma[c], rstd[c]);
}
