/* attention.cu: CUDA twins of the pointwise and softmax parts of
 * src/engine/layers/attention.c: softmax over the key axis (forward/backward),
 * the sigmoid gate y = sigmoid(g)*t (forward/backward) and the strided row copy
 * (concat on the last axis). Same names with a _cuda suffix and the SAME
 * signatures as the CPU ops (pointer-compatible with the Backend slots); all
 * pointers are device pointers, work runs on the default stream. The batched
 * products (S = scale*Q K^T, O = P V and their backward) are GEMMs: a CUDA
 * backend runs them as cublasSgemmStridedBatched, like every other matrix product.
 *
 * The arithmetic of every row and element is the DL_HD code in
 * engine/layers/attention_hd.h, so the CPU unit tests (test_layer_attention)
 * run it. Softmax rows are one thread each, summing in index order exactly as
 * the CPU: the same bits, no atomics, deterministic. */
#include <cuda_runtime.h>

#include <stdint.h>

#include "cuda_common.cuh"
#include "engine/backend.h"
#include "engine/layers/attention_hd.h"

/* rows of n contiguous floats, one thread per row (rows = B*88: enough threads) */
static __global__ void softmax_forward_kernel(float *P, const float *S, int rows, int n) {
    for (size_t r = blockIdx.x * (size_t)blockDim.x + threadIdx.x; r < (size_t)rows; r += (size_t)gridDim.x * blockDim.x)
        dl_softmax_row(P + r * n, S + r * n, n);
}

static __global__ void softmax_backward_kernel(float *dS, const float *dP, const float *P, int rows, int n) {
    for (size_t r = blockIdx.x * (size_t)blockDim.x + threadIdx.x; r < (size_t)rows; r += (size_t)gridDim.x * blockDim.x)
        dl_softmax_bwd_row(dS + r * n, dP + r * n, P + r * n, n);
}

static __global__ void gate_mul_forward_kernel(float *y, const float *g, const float *t, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = dl_gate_fwd(g[i], t[i]);
}

/* dg may alias g and dt may alias t: each thread reads its element before writing it */
static __global__ void gate_mul_backward_kernel(float *dg, float *dt, const float *dy, const float *g, const float *t,
                                                size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float gi = g[i], ti = t[i], dgi, dti;
        dl_gate_bwd(&dgi, &dti, dy[i], gi, ti);
        dg[i] = dgi;
        dt[i] = dti;
    }
}

static __global__ void copy_rows_kernel(float *y, const float *x, int rows, int C, int ld_y, int ld_x, int accumulate) {
    size_t n = (size_t)rows * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / C, c = i - r * C;
        float v = x[r * ld_x + c];
        if (accumulate)
            y[r * ld_y + c] += v;
        else
            y[r * ld_y + c] = v;
    }
}

/* ================================ launchers ======================================== */
extern "C" {

/* P (rows, n) = softmax of each row of S (rows, n); P may be S */
void softmax_forward_cuda(float *P, const float *S, int rows, int n) {
    DL_CHECK(rows >= 0 && n > 0, "softmax_forward_cuda: bad dims rows=%d n=%d", rows, n);
    if (rows == 0) return;
    softmax_forward_kernel<<<dl_cuda_grid((size_t)rows), DL_CUDA_BLOCK>>>(P, S, rows, n);
    CUDA_CHECK_LAUNCH();
}

/* dS (rows, n) = P * (dP - rowsum(dP*P)); dS may be dP */
void softmax_backward_cuda(float *dS, const float *dP, const float *P, int rows, int n) {
    DL_CHECK(rows >= 0 && n > 0, "softmax_backward_cuda: bad dims rows=%d n=%d", rows, n);
    if (rows == 0) return;
    softmax_backward_kernel<<<dl_cuda_grid((size_t)rows), DL_CUDA_BLOCK>>>(dS, dP, P, rows, n);
    CUDA_CHECK_LAUNCH();
}

/* y (n) = sigmoid(g (n)) * t (n) */
void gate_mul_forward_cuda(float *y, const float *g, const float *t, size_t n) {
    if (n == 0) return;
    gate_mul_forward_kernel<<<dl_cuda_grid(n), DL_CUDA_BLOCK>>>(y, g, t, n);
    CUDA_CHECK_LAUNCH();
}

/* dg (n) = dy*t*s*(1-s), dt (n) = dy*s; dg may be g, dt may be t */
void gate_mul_backward_cuda(float *dg, float *dt, const float *dy, const float *g, const float *t, size_t n) {
    if (n == 0) return;
    gate_mul_backward_kernel<<<dl_cuda_grid(n), DL_CUDA_BLOCK>>>(dg, dt, dy, g, t, n);
    CUDA_CHECK_LAUNCH();
}

/* y (rows, C; ld_y) (+)= x (rows, C; ld_x) */
void copy_rows_cuda(float *y, const float *x, int rows, int C, int ld_y, int ld_x, int accumulate) {
    DL_CHECK(rows >= 0 && C > 0 && ld_y >= C && ld_x >= C, "copy_rows_cuda: bad dims rows=%d C=%d ld_y=%d ld_x=%d",
             rows, C, ld_y, ld_x);
    if (rows == 0) return;
    copy_rows_kernel<<<dl_cuda_grid((size_t)rows * C), DL_CUDA_BLOCK>>>(y, x, rows, C, ld_y, ld_x, accumulate);
    CUDA_CHECK_LAUNCH();
}

} /* extern "C" */
