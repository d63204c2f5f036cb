/* lstm.cu: CUDA twin of the pointwise part of src/engine/layers/lstm.c.
 *
 * The LSTM's GEMMs (input projection, h W_hh^T per step, dz W_hh, dW) go to
 * cuBLAS in the CUDA backend; what is LSTM-specific is the gate arithmetic of
 * one step, done here with the same element functions as the CPU loop
 * (lstm_cell.h), so the CPU tests cover this arithmetic. One thread per
 * (sample b, hidden unit j); tensors and cache layout exactly as on the CPU:
 *   cache = act (B,T,4H) | c (B,T,H) | h (B,T,H), rows r = b*T + t.
 * Launchers take the stream to run on (0 = default stream); grid-stride loops,
 * grid and block from cuda_common.cuh. */
#include <cuda_runtime.h>

#include "cuda_common.cuh"
#include "engine/backend.h"
#include "engine/layers/lstm_cell.h"

/* step t: act rows (b,t) hold x W_ih^T + h_{t-1} W_hh^T (no bias) on entry */
__global__ void lstm_cell_forward_kernel(float *act, float *c, float *h, const float *b_ih,
                                         const float *b_hh, int B, int T, int H, int t) {
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < B * H; idx += gridDim.x * blockDim.x) {
        int b = idx / H, j = idx - b * H;
        size_t r = (size_t)b * T + t;
        float c_prev = t > 0 ? c[(r - 1) * H + j] : 0.0f;
        lstm_cell_forward_elem(act + r * 4 * H, c + r * H, h + r * H, b_ih, b_hh, c_prev, j, H);
    }
}

/* step t: dgates (B,T,4H) rows (b,t) out; dc (B,H) carry in/out; dh (B,H) = dL/dh_t */
__global__ void lstm_cell_backward_kernel(float *dgates, float *dc, const float *dh, const float *act,
                                          const float *c, int B, int T, int H, int t) {
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < B * H; idx += gridDim.x * blockDim.x) {
        int b = idx / H, j = idx - b * H;
        size_t r = (size_t)b * T + t;
        float c_prev = t > 0 ? c[(r - 1) * H + j] : 0.0f;
        dc[idx] = lstm_cell_backward_elem(dgates + r * 4 * H, act + r * 4 * H, c[r * H + j], c_prev, dh[idx],
                                          dc[idx], j, H);
    }
}

extern "C" {

/* cache (lstm_cache_floats(d)) in/out: activations, c, h of step t;
 * b_ih, b_hh (4H). Steps must run in order t = 0..T-1. */
void lstm_cell_forward_cuda(float *cache, const float *b_ih, const float *b_hh, LSTMDims d, int t,
                            cudaStream_t stream) {
    float *act = cache, *c = cache + lstm_cache_c(d.B, d.T, d.H), *h = cache + lstm_cache_h(d.B, d.T, d.H);
    int n = d.B * d.H;
    if (n == 0) return;
    lstm_cell_forward_kernel<<<dl_cuda_grid(n), DL_CUDA_BLOCK, 0, stream>>>(act, c, h, b_ih, b_hh, d.B, d.T,
                                                                             d.H, t);
    CUDA_CHECK_LAUNCH();
}

/* dgates (B,T,4H) out at step t; dc (B,H) in/out (zero before t = T-1);
 * dh (B,H) = dL/dh_t; cache from the forward. Steps run t = T-1..0. */
void lstm_cell_backward_cuda(float *dgates, float *dc, const float *dh, const float *cache, LSTMDims d, int t,
                             cudaStream_t stream) {
    const float *act = cache, *c = cache + lstm_cache_c(d.B, d.T, d.H);
    int n = d.B * d.H;
    if (n == 0) return;
    lstm_cell_backward_kernel<<<dl_cuda_grid(n), DL_CUDA_BLOCK, 0, stream>>>(dgates, dc, dh, act, c, d.B, d.T,
                                                                              d.H, t);
    CUDA_CHECK_LAUNCH();
}

} /* extern "C" */
