/* elementwise.cu: CUDA twins of layers/activation.c, batchnorm.c, loss.c and
 * optim.c. Same names with a _cuda suffix and the SAME signatures as the CPU
 * ops (pointer-compatible with the Backend slots, backend.h); all pointers are
 * device pointers, work runs on the default stream.
 *
 * The arithmetic of every element (and the per-channel BN finalisation) is the
 * DL_HD code in engine/layers/elementwise.h, so the CPU unit tests cover it;
 * only indexing, thread layout and launches live here.
 *
 * Reductions (BN statistics, Huber loss, sum of squares) are deterministic: the
 * grid and the summation tree depend only on the dims, never on timing (no
 * atomics). BN partials are per chunk of DL_CHUNK_ROWS rows, like the CPU, and
 * are reduced in chunk order by the same finalisation function.
 */
#include <cuda_runtime.h>

#include <stdint.h>
#include <string.h>

#include "cuda_common.cuh"
#include "engine/backend.h"
#include "engine/layers/elementwise.h"

/* Reduction workspace for the scalar-returning ops (sumsq, huber): static device
 * memory, no allocation per call. All launchers use the default stream, so two
 * calls are never in flight at once and the slot is never shared. */
#define RED_THREADS 256 /* power of two: the tree below halves it */
#define RED_BLOCKS 256
static __device__ double g_red_part[RED_BLOCKS];
static __device__ double g_red_out;

/* sum of v over the block in a fixed tree order; result valid in thread 0 */
__device__ static double block_sum_fixed(double v, double *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    return sh[0];
}

/* ---- LeakyReLU ------------------------------------------------------------------ */
static __global__ void leaky_forward_kernel(float *y, const float *x, int rows, int C, int x_ld, int y_ld, float slope) {
    size_t n = (size_t)rows * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / C, c = i - r * C;
        y[r * y_ld + c] = dl_leaky(x[r * x_ld + c], slope);
    }
}

static __global__ void leaky_backward_kernel(float *dx, const float *dy, const float *y, int rows, int C, int ld_dx,
                                      int ld_dy, int ld_y, float slope, int accumulate) {
    size_t n = (size_t)rows * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / C, c = i - r * C;
        float g = dl_leaky_grad(dy[r * ld_dy + c], y[r * ld_y + c], slope);
        if (accumulate)
            dx[r * ld_dx + c] += g;
        else
            dx[r * ld_dx + c] = g;
    }
}

/* ---- dropout, add, accumulate, scale ---------------------------------------------- */
static __global__ void dropout_forward_kernel(float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t key,
                                       float scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint8_t k = dl_dropout_keep(key, i, p);
        mask[i] = k;
        y[i] = dl_dropout_elem(x[i], k, scale);
    }
}

static __global__ void dropout_backward_kernel(float *dx, const float *dy, const uint8_t *mask, size_t n, float scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dx[i] = dl_dropout_elem(dy[i], mask[i], scale);
}

static __global__ void add_kernel(float *y, const float *a, const float *b, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = a[i] + b[i];
}

static __global__ void accumulate_kernel(float *y, const float *a, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] += a[i];
}

static __global__ void scale_kernel(float *x, size_t n, float s) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] *= s;
}

/* ---- Adam ----------------------------------------------------------------------- */
static __global__ void adam_kernel(float *p, const float *g, float *m, float *v, size_t n, DlAdamCoef c) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dl_adam_elem(&p[i], &m[i], &v[i], g[i], c);
}

/* ---- deterministic scalar reductions ---------------------------------------------- */
/* block b sums x^2 over i = b*T + tid + k*G*T in k order, then a fixed tree */
static __global__ void sumsq_partial_kernel(const float *x, size_t n) {
    __shared__ double sh[RED_THREADS];
    double s = 0.0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        s += (double)x[i] * (double)x[i];
    double t = block_sum_fixed(s, sh);
    if (threadIdx.x == 0) g_red_part[blockIdx.x] = t;
}

/* one block: g_red_out = sum of the nparts partials (fixed tree), times mul */
static __global__ void reduce_parts_kernel(int nparts, double mul) {
    __shared__ double sh[RED_THREADS];
    double s = threadIdx.x < nparts ? g_red_part[threadIdx.x] : 0.0;
    double t = block_sum_fixed(s, sh);
    if (threadIdx.x == 0) g_red_out = t * mul;
}

/* one block (n is a batch of predictions): thread j takes i = j, j+T, ... */
static __global__ void huber_kernel(float *dpred, const float *pred, const float *target, int n, float delta, float g) {
    __shared__ double sh[RED_THREADS];
    double s = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float d = pred[i] - target[i];
        s += (double)dl_huber_elem(d, delta);
        if (dpred) dpred[i] = g * dl_huber_grad(d, delta);
    }
    double t = block_sum_fixed(s, sh);
    if (threadIdx.x == 0) g_red_out = t / (double)n;
}

/* ---- BatchNorm -------------------------------------------------------------------
 * Partials kernels: grid (nchunks, ceil(C/32)), block (32 channels, 8 row lanes);
 * lane ty takes rows r0+ty, r0+ty+8, ...; the 8 lanes are added in lane order.
 * scratch: (nch, 2, C) doubles, then 3 float arrays (C) as on the CPU. */
#define BN_TX 32
#define BN_TY 8

static __global__ void bn_stats_partial_kernel(double *part, const float *x, int rows, int C, int x_ld) {
    __shared__ double sS[BN_TY][BN_TX], sQ[BN_TY][BN_TX];
    int ch = blockIdx.x, c = blockIdx.y * BN_TX + threadIdx.x;
    int r0 = ch * DL_CHUNK_ROWS, r1 = min(r0 + DL_CHUNK_ROWS, rows);
    double S = 0.0, Q = 0.0;
    if (c < C) {
        double K = (double)x[c]; /* shift: row 0, as the CPU */
        for (int r = r0 + threadIdx.y; r < r1; r += BN_TY) {
            double t = (double)x[(size_t)r * x_ld + c] - K;
            S += t;
            Q += t * t;
        }
    }
    sS[threadIdx.y][threadIdx.x] = S;
    sQ[threadIdx.y][threadIdx.x] = Q;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int k = 1; k < BN_TY; k++) S += sS[k][threadIdx.x], Q += sQ[k][threadIdx.x];
        part[(size_t)ch * 2 * C + c] = S;
        part[(size_t)ch * 2 * C + C + c] = Q;
    }
}

static __global__ void bn_stats_finalize_kernel(float *mean, float *rstd, float *scale, float *rm, float *rv,
                                         const double *part, const float *x, const float *gamma, int nch, int rows,
                                         int C, float eps, float momentum) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double s = 0.0, q = 0.0;
    for (int ch = 0; ch < nch; ch++) { /* chunk order, as the CPU */
        s += part[(size_t)ch * 2 * C + c];
        q += part[(size_t)ch * 2 * C + C + c];
    }
    dl_bn_stats_finalize(&mean[c], &rstd[c], &scale[c], rm ? &rm[c] : NULL, rv ? &rv[c] : NULL, s, q, (double)x[c],
                         (double)rows, gamma[c], eps, momentum);
}

static __global__ void bn_eval_stats_kernel(float *mean, float *rstd, float *scale, const float *rm, const float *rv,
                                     const float *gamma, int C, float eps) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c < C) dl_bn_eval_stats(&mean[c], &rstd[c], &scale[c], rm[c], rv[c], gamma[c], eps);
}

static __global__ void bn_apply_kernel(float *y, const float *x, const float *mean, const float *scale, const float *beta,
                                int rows, int C, int x_ld, int y_ld, float slope) {
    size_t n = (size_t)rows * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / C, c = i - r * C;
        y[r * y_ld + c] = dl_bn_fwd_elem(x[r * x_ld + c], mean[c], scale[c], beta[c], slope);
    }
}

static __global__ void bn_bwd_partial_kernel(double *part, const float *dy, const float *y, const float *x,
                                      const float *mean, int rows, int C, int x_ld, int y_ld, float slope) {
    __shared__ double sA[BN_TY][BN_TX], sB[BN_TY][BN_TX];
    int ch = blockIdx.x, c = blockIdx.y * BN_TX + threadIdx.x;
    int r0 = ch * DL_CHUNK_ROWS, r1 = min(r0 + DL_CHUNK_ROWS, rows);
    double A = 0.0, B = 0.0;
    if (c < C) {
        double mu = (double)mean[c];
        for (int r = r0 + threadIdx.y; r < r1; r += BN_TY) {
            size_t iy = (size_t)r * y_ld + c;
            double dz = (double)dl_bn_dz(dy[iy], y ? y[iy] : 0.0f, slope);
            A += dz;
            B += dz * ((double)x[(size_t)r * x_ld + c] - mu);
        }
    }
    sA[threadIdx.y][threadIdx.x] = A;
    sB[threadIdx.y][threadIdx.x] = B;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int k = 1; k < BN_TY; k++) A += sA[k][threadIdx.x], B += sB[k][threadIdx.x];
        part[(size_t)ch * 2 * C + c] = A;
        part[(size_t)ch * 2 * C + C + c] = B;
    }
}

static __global__ void bn_bwd_finalize_kernel(float *k, float *gm, float *w, float *dgamma, float *dbeta, const double *part,
                                       const float *gamma, const float *rstd, int nch, int rows, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double a = 0.0, b = 0.0;
    for (int ch = 0; ch < nch; ch++) {
        a += part[(size_t)ch * 2 * C + c];
        b += part[(size_t)ch * 2 * C + C + c];
    }
    dl_bn_bwd_finalize(&k[c], &gm[c], &w[c], dgamma ? &dgamma[c] : NULL, dbeta ? &dbeta[c] : NULL, a, b,
                       (double)rows, gamma[c], rstd[c]);
}

static __global__ void bn_bwd_apply_kernel(float *dx, const float *dy, const float *y, const float *x, const float *mean,
                                    const float *k, const float *gm, const float *w, int rows, int C, int x_ld,
                                    int y_ld, float slope, int accumulate) {
    size_t n = (size_t)rows * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / C, c = i - r * C, iy = r * y_ld + c, ix = r * x_ld + c;
        float dz = dl_bn_dz(dy[iy], y ? y[iy] : 0.0f, slope);
        float g = dl_bn_bwd_elem(dz, x[ix], mean[c], k[c], gm[c], w[c]);
        if (accumulate)
            dx[ix] += g;
        else
            dx[ix] = g;
    }
}

/* ================================ launchers ======================================== */
extern "C" {

void leaky_forward_cuda(float *y, const float *x, int rows, int C, int x_ld, int y_ld, float slope) {
    DL_CHECK(rows >= 0 && C > 0 && x_ld >= C && y_ld >= C, "leaky_forward_cuda: bad dims");
    if (rows == 0) return;
    leaky_forward_kernel<<<dl_cuda_grid((size_t)rows * C), DL_CUDA_BLOCK>>>(y, x, rows, C, x_ld, y_ld, slope);
    CUDA_CHECK_LAUNCH();
}

void leaky_backward_cuda(float *dx, const float *dy, const float *y, int rows, int C, int ld_dx, int ld_dy,
                         int ld_y, float slope, int accumulate) {
    DL_CHECK(rows >= 0 && C > 0 && ld_dx >= C && ld_dy >= C && ld_y >= C, "leaky_backward_cuda: bad dims");
    if (rows == 0) return;
    leaky_backward_kernel<<<dl_cuda_grid((size_t)rows * C), DL_CUDA_BLOCK>>>(dx, dy, y, rows, C, ld_dx, ld_dy, ld_y,
                                                                             slope, accumulate);
    CUDA_CHECK_LAUNCH();
}

void dropout_forward_cuda(float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t key) {
    DL_CHECK(p >= 0.0f && p <= 1.0f, "dropout_forward_cuda: p=%g outside [0,1]", (double)p);
    if (n == 0) return;
    if (p == 0.0f) { /* identity, mask all ones (as the CPU) */
        if (y != x) CUDA_CHECK(cudaMemcpyAsync(y, x, n * sizeof(float), cudaMemcpyDeviceToDevice, 0));
        CUDA_CHECK(cudaMemsetAsync(mask, 1, n, 0));
        return;
    }
    dropout_forward_kernel<<<dl_cuda_grid(n), DL_CUDA_BLOCK>>>(y, mask, x, n, p, key, dl_dropout_scale(p));
    CUDA_CHECK_LAUNCH();
}

void dropout_backward_cuda(float *dx, const float *dy, const uint8_t *mask, size_t n, float p) {
    DL_CHECK(p >= 0.0f && p <= 1.0f, "dropout_backward_cuda: p=%g outside [0,1]", (double)p);
    if (n == 0) return;
    if (p == 0.0f) {
        if (dx != dy) CUDA_CHECK(cudaMemcpyAsync(dx, dy, n * sizeof(float), cudaMemcpyDeviceToDevice, 0));
        return;
    }
    dropout_backward_kernel<<<dl_cuda_grid(n), DL_CUDA_BLOCK>>>(dx, dy, mask, n, dl_dropout_scale(p));
    CUDA_CHECK_LAUNCH();
}

void add_cuda(float *y, const float *a, const float *b, size_t n) {
    if (n == 0) return;
    add_kernel<<<dl_cuda_grid(n), DL_CUDA_BLOCK>>>(y, a, b, n);
    CUDA_CHECK_LAUNCH();
}

void accumulate_cuda(float *y, const float *a, size_t n) {
    if (n == 0) return;
    accumulate_kernel<<<dl_cuda_grid(n), DL_CUDA_BLOCK>>>(y, a, n);
    CUDA_CHECK_LAUNCH();
}

void scale_cuda(float *x, size_t n, float s) {
    if (n == 0) return;
    scale_kernel<<<dl_cuda_grid(n), DL_CUDA_BLOCK>>>(x, n, s);
    CUDA_CHECK_LAUNCH();
}

void adam_update_cuda(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1, float beta2,
                      float eps, float weight_decay, int t) {
    DL_CHECK(t >= 1, "adam_update_cuda: step %d < 1", t);
    DL_CHECK(weight_decay >= 0, "adam_update_cuda: weight_decay %g < 0", (double)weight_decay);
    if (n == 0) return;
    adam_kernel<<<dl_cuda_grid(n), DL_CUDA_BLOCK>>>(p, g, m, v, n, dl_adam_coef(lr, beta1, beta2, eps, weight_decay, t));
    CUDA_CHECK_LAUNCH();
}

/* sum of squares in double; deterministic for a given n (fixed grid and trees) */
double sumsq_cuda(const float *x, size_t n) {
    if (n == 0) return 0.0;
    size_t nb = CEIL_DIV(n, (size_t)RED_THREADS);
    int G = nb < RED_BLOCKS ? (int)nb : RED_BLOCKS;
    sumsq_partial_kernel<<<G, RED_THREADS>>>(x, n);
    CUDA_CHECK_LAUNCH();
    reduce_parts_kernel<<<1, RED_THREADS>>>(G, 1.0);
    CUDA_CHECK_LAUNCH();
    double s;
    CUDA_CHECK(cudaMemcpyFromSymbol(&s, g_red_out, sizeof s));
    return s;
}

/* Huber loss, mean over n; dpred = weight * dL/dpred (may be NULL) */
float huber_loss_cuda(float *dpred, const float *pred, const float *target, int n, float delta, float weight) {
    DL_CHECK(n > 0 && delta > 0.0f, "huber_loss_cuda: n=%d delta=%g", n, (double)delta);
    huber_kernel<<<1, RED_THREADS>>>(dpred, pred, target, n, delta, (float)((double)weight / (double)n));
    CUDA_CHECK_LAUNCH();
    double s;
    CUDA_CHECK(cudaMemcpyFromSymbol(&s, g_red_out, sizeof s));
    return (float)s;
}

size_t batchnorm_scratch_floats_cuda(BNDims d) { return dl_bn_scratch_floats(d.rows, d.C); }

void batchnorm_forward_cuda(float *y, float *mean, float *rstd, float *running_mean, float *running_var,
                            const float *x, const float *gamma, const float *beta, BNDims d, int training,
                            float *scratch) {
    DL_CHECK(d.rows > 0 && d.C > 0 && d.x_ld >= d.C && d.y_ld >= d.C, "batchnorm_forward_cuda: bad dims rows=%d C=%d",
             d.rows, d.C);
    const int C = d.C, nch = CEIL_DIV(d.rows, DL_CHUNK_ROWS);
    double *part = (double *)scratch;
    float *scale = scratch + 4 * (size_t)nch * C;
    const int cblocks = CEIL_DIV(C, DL_CUDA_BLOCK);
    if (training) {
        DL_CHECK(d.rows > 1, "batchnorm_forward_cuda: training needs rows > 1 (rows=%d)", d.rows);
        DL_CHECK(y != x, "batchnorm_forward_cuda: y may alias x only in eval mode");
        dim3 grid(nch, CEIL_DIV(C, BN_TX)), block(BN_TX, BN_TY);
        bn_stats_partial_kernel<<<grid, block>>>(part, x, d.rows, C, d.x_ld);
        CUDA_CHECK_LAUNCH();
        bn_stats_finalize_kernel<<<cblocks, DL_CUDA_BLOCK>>>(mean, rstd, scale, running_mean, running_var, part, x,
                                                             gamma, nch, d.rows, C, d.eps, d.momentum);
        CUDA_CHECK_LAUNCH();
    } else {
        DL_CHECK(running_mean && running_var, "batchnorm_forward_cuda: eval needs running stats");
        bn_eval_stats_kernel<<<cblocks, DL_CUDA_BLOCK>>>(mean, rstd, scale, running_mean, running_var, gamma, C,
                                                         d.eps);
        CUDA_CHECK_LAUNCH();
    }
    bn_apply_kernel<<<dl_cuda_grid((size_t)d.rows * C), DL_CUDA_BLOCK>>>(y, x, mean, scale, beta, d.rows, C, d.x_ld,
                                                                          d.y_ld, d.slope);
    CUDA_CHECK_LAUNCH();
}

/* the mask comes from y here (beta unused): on the GPU the extra read is cheap */
void batchnorm_backward_cuda(float *dx, float *dgamma, float *dbeta, const float *dy, const float *y,
                             const float *x, const float *gamma, const float *beta, const float *mean,
                             const float *rstd, BNDims d, float *scratch) {
    DL_CHECK(d.rows > 0 && d.C > 0 && d.x_ld >= d.C && d.y_ld >= d.C, "batchnorm_backward_cuda: bad dims rows=%d C=%d",
             d.rows, d.C);
    DL_CHECK(y || d.slope == 1.0f, "batchnorm_backward_cuda: y is needed for the LeakyReLU mask");
    const int C = d.C, nch = CEIL_DIV(d.rows, DL_CHUNK_ROWS);
    double *part = (double *)scratch;
    float *k = scratch + 4 * (size_t)nch * C, *gm = k + C, *w = gm + C;
    dim3 grid(nch, CEIL_DIV(C, BN_TX)), block(BN_TX, BN_TY);
    bn_bwd_partial_kernel<<<grid, block>>>(part, dy, y, x, mean, d.rows, C, d.x_ld, d.y_ld, d.slope);
    CUDA_CHECK_LAUNCH();
    bn_bwd_finalize_kernel<<<CEIL_DIV(C, DL_CUDA_BLOCK), DL_CUDA_BLOCK>>>(k, gm, w, dgamma, dbeta, part, gamma, rstd,
                                                                          nch, d.rows, C);
    CUDA_CHECK_LAUNCH();
    if (!dx) return;
    bn_bwd_apply_kernel<<<dl_cuda_grid((size_t)d.rows * C), DL_CUDA_BLOCK>>>(
        dx, dy, y, x, mean, k, gm, w, d.rows, C, d.x_ld, d.y_ld, d.slope, d.accumulate_dx);
    CUDA_CHECK_LAUNCH();
}

} /* extern "C" */
