/* backend_cuda.cu: the CUDA Backend table (backend.h), every slot filled.
 *
 *   convolutions        cuDNN (legacy API), packed NHWC, FP32 FMA math, deterministic
 *                       algorithms chosen once per shape, workspace from the op's scratch:
 *                       kernels/conv2d_cuda.cu
 *   linear, LSTM gates, cuBLAS SGEMM (strided-batched for attention), FP32 (no TF32);
 *   attention products  the LSTM cell is kernels/lstm.cu's
 *   BN, activations, dropout, Huber, sum of squares, scale, Adam, softmax, gate, copy:
 *                       the twins in elementwise.cu / attention.cu (DL_HD arithmetic)
 *   sharded BN (data parallelism): batchnorm_shard.cu
 *   maxpool, bias, column sums, padding: small kernels below (their index maps are DL_HD
 *                       functions in engine/gpu_seq.h, run by the CPU test test_gpu_seq)
 *
 * The op sequences (which GEMM, which copy, which scratch) are in engine/gpu_seq.h,
 * shared with the CPU test; this file fills its primitives (GpuPrims).
 *
 * Streams: every op runs on the legacy default stream (cuBLAS and cuDNN handles too);
 * input batches upload on a separate non-blocking copy stream with events, double-
 * buffered (upload_input). Determinism: no atomics; every reduction has a fixed order
 * (column sums, BN statistics, losses); cuBLAS on one stream and deterministic cuDNN
 * algorithms give the same bits run to run on a given GPU model and build.
 * Errors: every CUDA, cuBLAS and cuDNN status goes through DL_FATAL (rank, file, line). */
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"
#include "engine/backend.h"
#include "engine/gpu_seq.h"
#include "ops_cuda.h"

#define CUBLAS_CHECK(call)                                                                                       \
    do {                                                                                                         \
        cublasStatus_t dl_st_ = (call);                                                                          \
        if (dl_st_ != CUBLAS_STATUS_SUCCESS)                                                                     \
            DL_FATAL("cuBLAS error %d (%s) in %s", (int)dl_st_, cublasGetStatusString(dl_st_), #call);           \
    } while (0)

/* ================================ state ============================================= */
#define N_SLOTS 4 /* upload slots: model inputs 0/1, targets 2/3 */
#define BLAS_WS_BYTES ((size_t)32 << 20)

typedef struct {
    int ready;
    int device;
    cublasHandle_t blas;
    cudaStream_t copy;
    cudaEvent_t ev_used[N_SLOTS], ev_up[N_SLOTS];
    void *blas_ws;
    double mutate; /* 1; DEEPLOB_CUDA_MUTATE=1: 1.001, a deliberate error in the bias-gradient kernel */
} CudaState;

static CudaState g;

static void cuda_init(void) {
    if (g.ready) return;
    const char *mut = getenv("DEEPLOB_CUDA_MUTATE");
    g.mutate = mut && mut[0] && strcmp(mut, "0") ? 1.001 : 1.0;
    CUDA_CHECK(cudaGetDevice(&g.device));
    CUBLAS_CHECK(cublasCreate(&g.blas));
    CUBLAS_CHECK(cublasSetStream(g.blas, 0));
    CUBLAS_CHECK(cublasSetMathMode(g.blas, CUBLAS_DEFAULT_MATH)); /* FP32: no TF32 tensor ops */
    CUBLAS_CHECK(cublasSetPointerMode(g.blas, CUBLAS_POINTER_MODE_HOST));
    /* our own workspace, allocated once: cuBLAS then allocates nothing inside a step */
    CUDA_CHECK(cudaMalloc(&g.blas_ws, BLAS_WS_BYTES));
    CUBLAS_CHECK(cublasSetWorkspace(g.blas, g.blas_ws, BLAS_WS_BYTES));
    conv2d_cuda_init();
    CUDA_CHECK(cudaStreamCreateWithFlags(&g.copy, cudaStreamNonBlocking));
    for (int k = 0; k < N_SLOTS; k++) {
        CUDA_CHECK(cudaEventCreateWithFlags(&g.ev_used[k], cudaEventDisableTiming));
        CUDA_CHECK(cudaEventCreateWithFlags(&g.ev_up[k], cudaEventDisableTiming));
    }
    g.ready = 1;
}

/* ================================ memory ============================================ */
static void *mem_alloc_cuda(size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 256);
    if (e != cudaSuccess)
        DL_FATAL("cudaMalloc of %.1f MiB failed: %s (%s). A smaller batch (or fewer ranks_per_gpu) needs less "
                 "GPU memory", bytes / 1048576.0, cudaGetErrorName(e), cudaGetErrorString(e));
    return p;
}
static void mem_free_cuda(void *p) {
    if (p) CUDA_CHECK(cudaFree(p));
}
static void mem_zero_cuda(void *p, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, 0));
}
static void mem_copy_cuda(void *dst, const void *src, size_t bytes) {
    if (bytes && dst != src) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0));
}
/* cudaMemcpy runs on the legacy default stream: after every op queued before it */
static void copy_to_device_cuda(void *dst, const void *src, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
static void copy_to_host_cuda(void *dst, const void *src, size_t bytes) {
    if (bytes) CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
static void check_slot(int slot) { DL_CHECK(slot >= 0 && slot < N_SLOTS, "upload slot %d outside 0..%d", slot, N_SLOTS - 1); }
/* copy stream: wait for the slot's last readers, copy, then the compute stream waits for
 * the copy; the host waits only for the copy (src reusable), not for the compute stream */
static void upload_input_cuda(void *dst, const void *src, size_t bytes, int slot) {
    check_slot(slot);
    if (!bytes) return;
    CUDA_CHECK(cudaStreamWaitEvent(g.copy, g.ev_used[slot], 0));
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g.copy));
    CUDA_CHECK(cudaEventRecord(g.ev_up[slot], g.copy));
    CUDA_CHECK(cudaStreamWaitEvent(0, g.ev_up[slot], 0));
    CUDA_CHECK(cudaEventSynchronize(g.ev_up[slot]));
}
static void input_release_cuda(int slot) {
    check_slot(slot);
    CUDA_CHECK(cudaEventRecord(g.ev_used[slot], 0));
}
static void *host_alloc_cuda(size_t bytes) {
    void *p = NULL;
    CUDA_CHECK(cudaMallocHost(&p, bytes ? bytes : 64));
    return p;
}
static void host_free_cuda(void *p) {
    if (p) CUDA_CHECK(cudaFreeHost(p));
}

/* ================================ small kernels ====================================== */

static __global__ void add_bias_kernel(float *y, const float *b, int rows, int C, int ld) {
    const size_t n = (size_t)rows * C;
    GRID_STRIDE(i, n) {
        size_t r;
        int c;
        dl_rc(i, C, &r, &c);
        y[r * ld + c] += b[c];
    }
}

/* grid (nch, ceil(C/TX)), block (TX, TY): chunk ch, lane ty adds rows r0+ty, r0+ty+TY, ... */
static __global__ void colsum_partial_kernel(double *part, const float *x, int rows, int C, int ld) {
    __shared__ double sh[DL_COLSUM_TY][DL_COLSUM_TX];
    const int ch = blockIdx.x, c = blockIdx.y * DL_COLSUM_TX + threadIdx.x;
    int r0, r1;
    dl_colsum_chunk_rows(ch, rows, &r0, &r1);
    double s = 0.0;
    if (c < C)
        for (int r = r0 + threadIdx.y; r < r1; r += DL_COLSUM_TY) s += (double)x[(size_t)r * ld + c];
    sh[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        for (int k = 1; k < DL_COLSUM_TY; k++) s += sh[k][threadIdx.x];
        part[(size_t)ch * C + c] = s;
    }
}
static __global__ void colsum_finalize_kernel(float *db1, float *db2, const double *part, int nch, int C,
                                              double mutate) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double s = 0.0;
    for (int ch = 0; ch < nch; ch++) s += part[(size_t)ch * C + c];
    s *= mutate; /* 1 exactly, unless DEEPLOB_CUDA_MUTATE (the test must catch it) */
    db1[c] += (float)s;
    if (db2) db2[c] += (float)s;
}

static __global__ void pad_rows_kernel(float *xp, const float *x, int B, int H, int W, int C, int ld, int pt, int pb) {
    const size_t n = (size_t)B * (H + pt + pb) * W * C;
    GRID_STRIDE(i, n) {
        size_t rp;
        int c;
        dl_rc(i, C, &rp, &c);
        long src = dl_pad_src_row(rp, H, W, pt, pb);
        xp[i] = src < 0 ? 0.0f : x[(size_t)src * ld + c];
    }
}
static __global__ void unpad_rows_kernel(float *dx, const float *dxp, int B, int H, int W, int C, int ld, int pt,
                                         int pb, int accumulate) {
    const size_t n = (size_t)B * H * W * C;
    GRID_STRIDE(i, n) {
        size_t r;
        int c;
        dl_rc(i, C, &r, &c);
        float v = dxp[dl_pad_dst_row(r, H, W, pt, pb) * C + c];
        if (accumulate)
            dx[r * ld + c] += v;
        else
            dx[r * ld + c] = v;
    }
}
static __global__ void hprev_kernel(float *hp, const float *h, int B, int T, int H) {
    const size_t n = (size_t)B * T * H;
    GRID_STRIDE(i, n) {
        size_t r;
        int j;
        dl_rc(i, H, &r, &j);
        long s = dl_hprev_src_row(r, T);
        hp[i] = s < 0 ? 0.0f : h[(size_t)s * H + j];
    }
}
static __global__ void maxpool3_forward_kernel(float *y, const float *x, PoolDims d) {
    const size_t n = (size_t)d.B * d.H * d.W * d.C;
    GRID_STRIDE(i, n) {
        size_t r;
        int c;
        dl_rc(i, d.C, &r, &c);
        y[r * d.y_ld + c] = dl_pool3_fwd_elem(x, i, d);
    }
}
/* one thread per dx element, gathering (no atomics; the CPU op's order of additions) */
static __global__ void maxpool3_backward_kernel(float *dx, const float *dy, const float *x, PoolDims d) {
    const size_t n = (size_t)d.B * d.H * d.W * d.C;
    GRID_STRIDE(i, n) {
        size_t r;
        int c;
        dl_rc(i, d.C, &r, &c);
        float *o = dx + r * d.x_ld + c;
        *o = dl_pool3_bwd_elem(d.accumulate_dx ? *o : 0.0f, dy, x, i, d);
    }
}

/* ================================ primitives (GpuPrims) =============================== */
static void p_gemm(void *ctx, int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, long long sA,
                   const float *B, int ldb, long long sB, float beta, float *C, int ldc, long long sC, int batch) {
    (void)ctx;
    if (m <= 0 || n <= 0 || batch <= 0) return;
    DL_CHECK(k > 0, "gemm: k = %d", k);
    const cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    DL_CHECK(lda >= (ta ? k : m) && ldb >= (tb ? n : k) && ldc >= m, "gemm: leading dimensions %d %d %d too small for "
             "m=%d n=%d k=%d ta=%d tb=%d", lda, ldb, ldc, m, n, k, ta, tb);
    if (batch == 1)
        CUBLAS_CHECK(cublasSgemm(g.blas, oa, ob, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc));
    else
        CUBLAS_CHECK(cublasSgemmStridedBatched(g.blas, oa, ob, m, n, k, &alpha, A, lda, sA, B, ldb, sB, &beta, C, ldc,
                                               sC, batch));
}
static void p_zero(void *ctx, float *p, size_t n) {
    (void)ctx;
    mem_zero_cuda(p, n * sizeof(float));
}
static void p_colsum(void *ctx, float *db1, float *db2, const float *x, int rows, int C, int ld, float *scratch) {
    (void)ctx;
    if (rows <= 0) return;
    const int nch = dl_colsum_chunks(rows);
    double *part = (double *)scratch;
    dim3 grid(nch, CEIL_DIV(C, DL_COLSUM_TX)), block(DL_COLSUM_TX, DL_COLSUM_TY);
    colsum_partial_kernel<<<grid, block>>>(part, x, rows, C, ld);
    CUDA_CHECK_LAUNCH();
    colsum_finalize_kernel<<<CEIL_DIV(C, DL_GPU_BLOCK), DL_GPU_BLOCK>>>(db1, db2, part, nch, C, g.mutate);
    CUDA_CHECK_LAUNCH();
}
static void p_add_bias(void *ctx, float *y, const float *b, int rows, int C, int ld) {
    (void)ctx;
    const size_t n = (size_t)rows * C;
    if (!n) return;
    add_bias_kernel<<<dl_gpu_grid(n), DL_GPU_BLOCK>>>(y, b, rows, C, ld);
    CUDA_CHECK_LAUNCH();
}
static void p_cell_fwd(void *ctx, float *cache, const float *b_ih, const float *b_hh, LSTMDims d, int t) {
    (void)ctx;
    lstm_cell_forward_cuda(cache, b_ih, b_hh, d, t, 0);
}
static void p_cell_bwd(void *ctx, float *dg, float *dc, const float *dh, const float *cache, LSTMDims d, int t) {
    (void)ctx;
    lstm_cell_backward_cuda(dg, dc, dh, cache, d, t, 0);
}
static void p_hprev(void *ctx, float *hp, const float *cache, LSTMDims d) {
    (void)ctx;
    const size_t n = (size_t)d.B * d.T * d.H;
    if (!n) return;
    hprev_kernel<<<dl_gpu_grid(n), DL_GPU_BLOCK>>>(hp, cache + lstm_cache_h(d.B, d.T, d.H), d.B, d.T, d.H);
    CUDA_CHECK_LAUNCH();
}
static void p_pad_rows(void *ctx, float *xp, const float *x, ConvDims d) {
    (void)ctx;
    const size_t n = (size_t)d.B * (d.H + d.pad_top + d.pad_bottom) * d.W * d.Cin;
    pad_rows_kernel<<<dl_gpu_grid(n), DL_GPU_BLOCK>>>(xp, x, d.B, d.H, d.W, d.Cin, d.in_ld, d.pad_top, d.pad_bottom);
    CUDA_CHECK_LAUNCH();
}
static void p_unpad_rows(void *ctx, float *dx, const float *dxp, ConvDims d) {
    (void)ctx;
    const size_t n = (size_t)d.B * d.H * d.W * d.Cin;
    unpad_rows_kernel<<<dl_gpu_grid(n), DL_GPU_BLOCK>>>(dx, dxp, d.B, d.H, d.W, d.Cin, d.in_ld, d.pad_top,
                                                        d.pad_bottom, d.accumulate_din);
    CUDA_CHECK_LAUNCH();
}

static GpuPrims g_prims = {NULL,        p_gemm,       copy_rows_cuda, p_zero,      p_colsum,         p_add_bias,
                           p_cell_fwd,  p_cell_bwd,   p_hprev,        p_pad_rows,  p_unpad_rows,     conv2d_cuda_fwd,
                           conv2d_cuda_bwd_filter, conv2d_cuda_bwd_data};

/* ================================ the ops ============================================== */
extern "C" {

size_t conv2d_scratch_floats_cuda(ConvDims d, int nthreads) {
    (void)nthreads;
    cuda_init();
    DL_CHECK(d.B > 0 && d.Cin > 0 && d.Cout > 0 && d.kh > 0 && d.kw > 0 && d.stride_h > 0 && d.stride_w > 0 &&
             d.dil_h > 0 && d.in_ld >= d.Cin && d.out_ld >= d.Cout, "conv2d_scratch_floats_cuda: bad dims");
    const size_t bytes = conv2d_cuda_reserve(dl_gpu_conv_packed_dims(d));
    GpuConvPlan p;
    dl_gpu_conv_plan(d, 0, &p);
    return dl_gpu_conv_scratch_floats(&p, CEIL_DIV(bytes, sizeof(float)));
}

void conv2d_forward_cuda(float *out, const float *in, const float *w, const float *b, ConvDims d, float *scratch) {
    gpu_conv2d_forward(&g_prims, out, in, w, b, d, scratch, conv2d_cuda_ws_floats(d));
}

void conv2d_backward_cuda(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                          ConvDims d, float *scratch) {
    gpu_conv2d_backward(&g_prims, din, dw, db, dout, in, w, d, scratch, conv2d_cuda_ws_floats(d));
}

void maxpool3_forward_cuda(float *y, const float *x, PoolDims d) {
    DL_CHECK(d.B > 0 && d.H > 0 && d.W > 0 && d.C > 0 && d.x_ld >= d.C && d.y_ld >= d.C, "maxpool3_forward_cuda: bad dims");
    const size_t n = (size_t)d.B * d.H * d.W * d.C;
    maxpool3_forward_kernel<<<dl_gpu_grid(n), DL_GPU_BLOCK>>>(y, x, d);
    CUDA_CHECK_LAUNCH();
}

void maxpool3_backward_cuda(float *dx, const float *dy, const float *x, PoolDims d) {
    DL_CHECK(d.B > 0 && d.H > 0 && d.W > 0 && d.C > 0 && d.x_ld >= d.C && d.y_ld >= d.C, "maxpool3_backward_cuda: bad dims");
    const size_t n = (size_t)d.B * d.H * d.W * d.C;
    maxpool3_backward_kernel<<<dl_gpu_grid(n), DL_GPU_BLOCK>>>(dx, dy, x, d);
    CUDA_CHECK_LAUNCH();
}

size_t lstm_cache_floats_cuda(LSTMDims d) { return (size_t)d.B * d.T * 6 * d.H; }
size_t lstm_scratch_floats_cuda(LSTMDims d, int nthreads) {
    (void)nthreads;
    return dl_gpu_lstm_scratch(d).total;
}
void lstm_forward_cuda(float *h_last, float *cache, const float *x, const float *w_ih, const float *w_hh,
                       const float *b_ih, const float *b_hh, LSTMDims d, float *scratch) {
    (void)scratch;
    DL_CHECK(d.B > 0 && d.T > 0 && d.In > 0 && d.H > 0 && d.x_ld >= d.In, "lstm_forward_cuda: bad dims");
    gpu_lstm_forward(&g_prims, h_last, cache, x, w_ih, w_hh, b_ih, b_hh, d);
}
void lstm_backward_cuda(float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, const float *dh_last,
                        const float *cache, const float *x, const float *w_ih, const float *w_hh, LSTMDims d,
                        float *scratch) {
    DL_CHECK(d.B > 0 && d.T > 0 && d.In > 0 && d.H > 0 && d.x_ld >= d.In, "lstm_backward_cuda: bad dims");
    gpu_lstm_backward(&g_prims, dx, dw_ih, dw_hh, db_ih, db_hh, dh_last, cache, x, w_ih, w_hh, d, scratch);
}

size_t linear_scratch_floats_cuda(LinearDims d, int nthreads) {
    (void)nthreads;
    return gpu_linear_scratch_floats(d);
}
void linear_forward_cuda(float *y, const float *x, const float *w, const float *b, LinearDims d, float *scratch) {
    (void)scratch;
    DL_CHECK(d.N > 0 && d.I > 0 && d.O > 0 && d.x_ld >= d.I && d.y_ld >= d.O, "linear_forward_cuda: bad dims");
    gpu_linear_forward(&g_prims, y, x, w, b, d);
}
void linear_backward_cuda(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                          LinearDims d, float *scratch) {
    DL_CHECK(d.N > 0 && d.I > 0 && d.O > 0 && d.x_ld >= d.I && d.y_ld >= d.O, "linear_backward_cuda: bad dims");
    gpu_linear_backward(&g_prims, dx, dw, db, dy, x, w, d, scratch);
}

size_t attn_scratch_floats_cuda(AttnDims d, int nthreads) {
    (void)d;
    (void)nthreads;
    return 0;
}
static void attn_check(AttnDims d) {
    DL_CHECK(d.B > 0 && d.Lq > 0 && d.Lk > 0 && d.D > 0 && d.q_ld >= d.D && d.k_ld >= d.D && d.v_ld >= d.D &&
             d.o_ld >= d.D, "attention (cuda): bad dims");
}
void attn_scores_forward_cuda(float *S, const float *Q, const float *K, AttnDims d, float *scratch) {
    (void)scratch;
    attn_check(d);
    gpu_attn_scores_forward(&g_prims, S, Q, K, d);
}
void attn_scores_backward_cuda(float *dQ, float *dK, const float *dS, const float *Q, const float *K, AttnDims d,
                               float *scratch) {
    (void)scratch;
    attn_check(d);
    gpu_attn_scores_backward(&g_prims, dQ, dK, dS, Q, K, d);
}
void attn_apply_forward_cuda(float *O, const float *P, const float *V, AttnDims d, float *scratch) {
    (void)scratch;
    attn_check(d);
    gpu_attn_apply_forward(&g_prims, O, P, V, d);
}
void attn_apply_backward_cuda(float *dP, float *dV, const float *dO, const float *P, const float *V, AttnDims d,
                              float *scratch) {
    (void)scratch;
    attn_check(d);
    gpu_attn_apply_backward(&g_prims, dP, dV, dO, P, V, d);
}

static const Backend cuda_backend = {
    /* .name = */ "cuda",
    /* .conv2d_scratch_floats = */ conv2d_scratch_floats_cuda,
    /* .conv2d_forward = */ conv2d_forward_cuda,
    /* .conv2d_backward = */ conv2d_backward_cuda,
    /* .batchnorm_scratch_floats = */ batchnorm_scratch_floats_cuda,
    /* .batchnorm_forward = */ batchnorm_forward_cuda,
    /* .batchnorm_backward = */ batchnorm_backward_cuda,
    /* .leaky_forward = */ leaky_forward_cuda,
    /* .leaky_backward = */ leaky_backward_cuda,
    /* .maxpool3_forward = */ maxpool3_forward_cuda,
    /* .maxpool3_backward = */ maxpool3_backward_cuda,
    /* .lstm_cache_floats = */ lstm_cache_floats_cuda,
    /* .lstm_scratch_floats = */ lstm_scratch_floats_cuda,
    /* .lstm_forward = */ lstm_forward_cuda,
    /* .lstm_backward = */ lstm_backward_cuda,
    /* .linear_scratch_floats = */ linear_scratch_floats_cuda,
    /* .linear_forward = */ linear_forward_cuda,
    /* .linear_backward = */ linear_backward_cuda,
    /* .dropout_forward = */ dropout_forward_cuda,
    /* .dropout_backward = */ dropout_backward_cuda,
    /* .add = */ add_cuda,
    /* .accumulate = */ accumulate_cuda,
    /* .huber_loss = */ huber_loss_cuda,
    /* .sumsq = */ sumsq_cuda,
    /* .scale = */ scale_cuda,
    /* .adam_update = */ adam_update_cuda,
    /* .attn_scratch_floats = */ attn_scratch_floats_cuda,
    /* .attn_scores_forward = */ attn_scores_forward_cuda,
    /* .attn_scores_backward = */ attn_scores_backward_cuda,
    /* .attn_apply_forward = */ attn_apply_forward_cuda,
    /* .attn_apply_backward = */ attn_apply_backward_cuda,
    /* .softmax_forward = */ softmax_forward_cuda,
    /* .softmax_backward = */ softmax_backward_cuda,
    /* .gate_mul_forward = */ gate_mul_forward_cuda,
    /* .gate_mul_backward = */ gate_mul_backward_cuda,
    /* .copy_rows = */ copy_rows_cuda,
    /* .batchnorm_shard_sums = */ batchnorm_shard_sums_cuda,
    /* .batchnorm_apply = */ batchnorm_apply_cuda,
    /* .batchnorm_shard_bwd_sums = */ batchnorm_shard_bwd_sums_cuda,
    /* .batchnorm_bwd_apply = */ batchnorm_bwd_apply_cuda,
    /* .batchnorm_shard_combine = */ batchnorm_shard_combine_cuda,
    /* .batchnorm_shard_bwd_combine = */ batchnorm_shard_bwd_combine_cuda,
    /* .rows_independent = */ 0,
    /* .on_device = */ 1,
    /* .mem_alloc = */ mem_alloc_cuda,
    /* .mem_free = */ mem_free_cuda,
    /* .mem_zero = */ mem_zero_cuda,
    /* .mem_copy = */ mem_copy_cuda,
    /* .copy_to_device = */ copy_to_device_cuda,
    /* .copy_to_host = */ copy_to_host_cuda,
    /* .upload_input = */ upload_input_cuda,
    /* .input_release = */ input_release_cuda,
    /* .host_alloc = */ host_alloc_cuda,
    /* .host_free = */ host_free_cuda,
};

const Backend *backend_cuda(void) {
    cuda_init();
    return &cuda_backend;
}

} /* extern "C" */
