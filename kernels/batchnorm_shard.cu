/* batchnorm_shard.cu: the CUDA twins of the sharded BatchNorm ops (data parallelism,
 * engine/shard.c; CPU: layers/batchnorm.c *_shard_* and *_apply). Same signatures as
 * the Backend slots; every pointer is a device pointer (the sums too); work runs on
 * the legacy default stream, in order with the other ops.
 *
 *   batchnorm_shard_sums / _bwd_sums: a shard's sums, in the column-sum geometry of
 *       engine/gpu_seq.h (dl_bn_lane_stats, dl_bn_lane_bwd: the lanes' arithmetic,
 *       which test_gpu_seq runs in the same order on the CPU): per chunk of
 *       DL_CHUNK_ROWS rows, 8 lanes added in lane order, chunks in chunk order, doubles
 *   batchnorm_shard_combine / _bwd_combine: one thread per channel runs
 *       dl_bn_shard_stats / dl_bn_shard_bwd (layers/elementwise.h), the very function
 *       the CPU op loops over: the K shards' sums in shard order, then the finalisation
 *   batchnorm_apply / bwd_apply: one thread per element, dl_bn_fwd_elem / dl_bn_dz_x /
 *       dl_bn_bwd_elem
 * No atomics: every sum has a fixed order that depends on the shard's shape only, so a
 * step gives the same bits whichever rank holds which shard (any G dividing K). */
#include <cuda_runtime.h>

#include <stddef.h>

#include "cuda_common.cuh"
#include "engine/backend.h"
#include "engine/gpu_seq.h"
#include "engine/layers/elementwise.h"
#include "ops_cuda.h"

#define TX DL_COLSUM_TX
#define TY DL_COLSUM_TY

/* grid (nch, ceil(C/TX)), block (TX, TY): part (nch, 2, C) = the chunk's S, Q */
static __global__ void shard_stats_partial_kernel(double *part, const float *x, int rows, int C, int x_ld) {
    __shared__ double sS[TY][TX], sQ[TY][TX];
    const int ch = blockIdx.x, c = blockIdx.y * TX + threadIdx.x;
    int r0, r1;
    dl_colsum_chunk_rows(ch, rows, &r0, &r1);
    double S = 0.0, Q = 0.0;
    if (c < C) dl_bn_lane_stats(&S, &Q, x, x_ld, c, r0, r1, threadIdx.y);
    sS[threadIdx.y][threadIdx.x] = S;
    sQ[threadIdx.y][threadIdx.x] = Q;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int k = 1; k < TY; k++) S += sS[k][threadIdx.x], Q += sQ[k][threadIdx.x];
        part[(size_t)ch * 2 * C + c] = S;
        part[(size_t)ch * 2 * C + C + c] = Q;
    }
}

/* grid (nch, ceil(C/TX)), block (TX, TY): part (nch, 2, C) = the chunk's sum dz, sum dz*(x - mean) */
static __global__ void shard_bwd_partial_kernel(double *part, const float *dy, const float *x, const float *gamma,
                                                const float *beta, const float *mean, const float *rstd, int rows, int C,
                                                int x_ld, int y_ld, float slope) {
    __shared__ double sA[TY][TX], sB[TY][TX];
    const int ch = blockIdx.x, c = blockIdx.y * TX + threadIdx.x;
    int r0, r1;
    dl_colsum_chunk_rows(ch, rows, &r0, &r1);
    double A = 0.0, B = 0.0;
    if (c < C)
        dl_bn_lane_bwd(&A, &B, dy, y_ld, x, x_ld, c, r0, r1, threadIdx.y, mean[c], gamma[c] * rstd[c],
                       beta ? beta[c] : 0.0f, slope);
    sA[threadIdx.y][threadIdx.x] = A;
    sB[threadIdx.y][threadIdx.x] = B;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int k = 1; k < TY; k++) A += sA[k][threadIdx.x], B += sB[k][threadIdx.x];
        part[(size_t)ch * 2 * C + c] = A;
        part[(size_t)ch * 2 * C + C + c] = B;
    }
}

/* one thread per channel: the chunks' partials in chunk order into sums; shift != NULL:
 * sums (3, C) = shift row, S, Q (forward), else sums (2, C) = A, B (backward) */
static __global__ void shard_chunks_kernel(double *sums, const double *part, const float *shift, int nch, int C) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double u = 0.0, v = 0.0;
    for (int ch = 0; ch < nch; ch++) {
        u += part[(size_t)ch * 2 * C + c];
        v += part[(size_t)ch * 2 * C + C + c];
    }
    if (shift) { /* the shard's row 0, as the CPU op */
        sums[c] = (double)shift[c];
        sums += C;
    }
    sums[c] = u;
    sums[C + c] = v;
}

static __global__ void shard_combine_kernel(float *mean, float *rstd, float *rm, float *rv, const double *all, int K,
                                            size_t blk, const float *gamma, int C, double n, float eps, float momentum) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c < C)
        dl_bn_shard_stats(&mean[c], &rstd[c], rm ? &rm[c] : NULL, rv ? &rv[c] : NULL, all, K, blk, C, c, n, gamma[c],
                          eps, momentum);
}

static __global__ void shard_bwd_combine_kernel(float *kgw, float *dgamma, float *dbeta, const double *all, int K,
                                                size_t blk, const float *gamma, const float *rstd, int C, double n) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c < C)
        dl_bn_shard_bwd(&kgw[c], &kgw[C + c], &kgw[2 * C + c], dgamma ? &dgamma[c] : NULL, dbeta ? &dbeta[c] : NULL,
                        all, K, blk, C, c, n, gamma[c], rstd[c]);
}

/* y = act((x - mean)*scale + beta), scale = gamma*rstd (the CPU op's float product) */
static __global__ void shard_apply_kernel(float *y, const float *x, const float *mean, const float *rstd,
                                          const float *gamma, const float *beta, BNDims d) {
    const size_t n = (size_t)d.rows * d.C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r;
        int c;
        dl_rc(i, d.C, &r, &c);
        y[r * d.y_ld + c] = dl_bn_fwd_elem(x[r * d.x_ld + c], mean[c], gamma[c] * rstd[c], beta[c], d.slope);
    }
}

/* dx (+)= (dz - gm - (x - mean)*k) * w, kgw (3, C) = k, gm, w */
static __global__ void shard_bwd_apply_kernel(float *dx, const float *dy, const float *x, const float *gamma,
                                              const float *beta, const float *mean, const float *rstd, const float *kgw,
                                              BNDims d) {
    const size_t n = (size_t)d.rows * d.C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r;
        int c;
        dl_rc(i, d.C, &r, &c);
        const size_t ix = r * d.x_ld + c;
        const float xv = x[ix];
        const float dz = dl_bn_dz_x(dy[r * d.y_ld + c], xv, mean[c], gamma[c] * rstd[c], beta ? beta[c] : 0.0f, d.slope);
        const float g = dl_bn_bwd_elem(dz, xv, mean[c], kgw[c], kgw[d.C + c], kgw[2 * d.C + c]);
        if (d.accumulate_dx)
            dx[ix] += g;
        else
            dx[ix] = g;
    }
}

static void shard_check(BNDims d, const char *op) {
    DL_CHECK(d.rows > 0 && d.C > 0 && d.x_ld >= d.C && d.y_ld >= d.C, "%s: bad dims rows=%d C=%d x_ld=%d y_ld=%d", op,
             d.rows, d.C, d.x_ld, d.y_ld);
}

extern "C" {

/* sums (3, C): shift (the shard's row 0), S, Q; scratch: batchnorm_scratch_floats(d) */
void batchnorm_shard_sums_cuda(double *sums, const float *x, BNDims d, float *scratch) {
    shard_check(d, "batchnorm_shard_sums_cuda");
    const int nch = dl_colsum_chunks(d.rows);
    double *part = (double *)scratch; /* (nch, 2, C) */
    dim3 grid(nch, CEIL_DIV(d.C, TX)), block(TX, TY);
    shard_stats_partial_kernel<<<grid, block>>>(part, x, d.rows, d.C, d.x_ld);
    CUDA_CHECK_LAUNCH();
    shard_chunks_kernel<<<CEIL_DIV(d.C, DL_GPU_BLOCK), DL_GPU_BLOCK>>>(sums, part, x, nch, d.C);
    CUDA_CHECK_LAUNCH();
}

void batchnorm_apply_cuda(float *y, const float *x, const float *mean, const float *rstd, const float *gamma,
                          const float *beta, BNDims d, float *scratch) {
    (void)scratch;
    shard_check(d, "batchnorm_apply_cuda");
    DL_CHECK(y != x, "batchnorm_apply_cuda: y may not alias x");
    shard_apply_kernel<<<dl_gpu_grid((size_t)d.rows * d.C), DL_GPU_BLOCK>>>(y, x, mean, rstd, gamma, beta, d);
    CUDA_CHECK_LAUNCH();
}

/* sums (2, C): sum dz, sum dz*(x - mean) over the shard's rows */
void batchnorm_shard_bwd_sums_cuda(double *sums, const float *dy, const float *x, const float *gamma,
                                   const float *beta, const float *mean, const float *rstd, BNDims d, float *scratch) {
    shard_check(d, "batchnorm_shard_bwd_sums_cuda");
    DL_CHECK(beta || d.slope == 1.0f, "batchnorm_shard_bwd_sums_cuda: beta is needed for the LeakyReLU mask");
    const int nch = dl_colsum_chunks(d.rows);
    double *part = (double *)scratch;
    dim3 grid(nch, CEIL_DIV(d.C, TX)), block(TX, TY);
    shard_bwd_partial_kernel<<<grid, block>>>(part, dy, x, gamma, beta, mean, rstd, d.rows, d.C, d.x_ld, d.y_ld,
                                              d.slope);
    CUDA_CHECK_LAUNCH();
    shard_chunks_kernel<<<CEIL_DIV(d.C, DL_GPU_BLOCK), DL_GPU_BLOCK>>>(sums, part, NULL, nch, d.C);
    CUDA_CHECK_LAUNCH();
}

void batchnorm_bwd_apply_cuda(float *dx, const float *dy, const float *x, const float *gamma, const float *beta,
                              const float *mean, const float *rstd, const float *kgw, BNDims d, float *scratch) {
    (void)scratch;
    shard_check(d, "batchnorm_bwd_apply_cuda");
    DL_CHECK(beta || d.slope == 1.0f, "batchnorm_bwd_apply_cuda: beta is needed for the LeakyReLU mask");
    shard_bwd_apply_kernel<<<dl_gpu_grid((size_t)d.rows * d.C), DL_GPU_BLOCK>>>(dx, dy, x, gamma, beta, mean, rstd, kgw,
                                                                                 d);
    CUDA_CHECK_LAUNCH();
}

void batchnorm_shard_combine_cuda(float *mean, float *rstd, float *rm, float *rv, const double *all, int K, size_t blk,
                                  const float *gamma, BNDims d) {
    DL_CHECK(K >= 1 && d.C > 0 && blk >= 3 * (size_t)d.C && d.rows > 0, "batchnorm_shard_combine_cuda: bad dims");
    shard_combine_kernel<<<CEIL_DIV(d.C, DL_GPU_BLOCK), DL_GPU_BLOCK>>>(mean, rstd, rm, rv, all, K, blk, gamma, d.C,
                                                                        (double)d.rows, d.eps, d.momentum);
    CUDA_CHECK_LAUNCH();
}

void batchnorm_shard_bwd_combine_cuda(float *kgw, float *dgamma, float *dbeta, const double *all, int K, size_t blk,
                                      const float *gamma, const float *rstd, BNDims d) {
    DL_CHECK(K >= 1 && d.C > 0 && blk >= 2 * (size_t)d.C && d.rows > 0, "batchnorm_shard_bwd_combine_cuda: bad dims");
    shard_bwd_combine_kernel<<<CEIL_DIV(d.C, DL_GPU_BLOCK), DL_GPU_BLOCK>>>(kgw, dgamma, dbeta, all, K, blk, gamma, rstd,
                                                                            d.C, (double)d.rows);
    CUDA_CHECK_LAUNCH();
}

} /* extern "C" */
