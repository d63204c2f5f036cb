/* conv2d_cuda.cu: the CUDA convolutions behind backend_cuda.cu's conv2d ops (the twin of
 * src/engine/layers/conv2d.c): cuDNN's legacy API on packed NHWC tensors, FP32 FMA math,
 * a deterministic algorithm per direction chosen once per shape within the workspace
 * the model reserved, and the direct kernels (engine/gpu_seq.h) where no cuDNN
 * algorithm qualifies or DEEPLOB_CONV=direct. The op sequences around them (padding,
 * bias, column sums) are engine/gpu_seq.h's, with backend_cuda.cu's primitives. */
#include <cudnn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"
#include "engine/backend.h"
#include "engine/gpu_seq.h"
#include "ops_cuda.h"

#define CUDNN_CHECK(call)                                                                                        \
    do {                                                                                                         \
        cudnnStatus_t dl_st_ = (call);                                                                           \
        if (dl_st_ != CUDNN_STATUS_SUCCESS)                                                                      \
            DL_FATAL("cuDNN error %d (%s) in %s", (int)dl_st_, cudnnGetErrorString(dl_st_), #call);              \
    } while (0)

/* the cuDNN handle (on the legacy default stream) and the four descriptors every call sets */
static struct {
    cudnnHandle_t h;
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
} dn;

extern "C" void conv2d_cuda_init(void) {
    CUDNN_CHECK(cudnnCreate(&dn.h));
    CUDNN_CHECK(cudnnSetStream(dn.h, 0));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&dn.xd));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&dn.yd));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&dn.wd));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&dn.cd));
}

/* direct convolution (the fallback; engine/gpu_seq.h) on packed tensors */
static __global__ void dconv_fwd_kernel(float *y, const float *x, const float *w, ConvDims pd, size_t n) {
    GRID_STRIDE(i, n) y[i] = dl_dconv_fwd_elem(x, w, i, pd);
}
static __global__ void dconv_bwd_data_kernel(float *dx, const float *w, const float *dy, ConvDims pd, size_t n, float beta) {
    GRID_STRIDE(i, n) {
        float v = dl_dconv_bwd_data_elem(dy, w, i, pd);
        dx[i] = beta != 0.0f ? beta * dx[i] + v : v;
    }
}
/* partial of weight i over output-row chunk ch: part[ch * nw + i] */
static __global__ void dconv_bwd_filter_part_kernel(float *part, const float *x, const float *dy, ConvDims pd, size_t nw,
                                                   size_t rows, int nch) {
    const size_t n = nw * (size_t)nch;
    GRID_STRIDE(j, n) {
        size_t ch = j / nw, i = j - ch * nw;
        size_t r0 = ch * (size_t)DL_CHUNK_ROWS, r1 = r0 + DL_CHUNK_ROWS < rows ? r0 + DL_CHUNK_ROWS : rows;
        part[j] = dl_dconv_bwd_filter_part(x, dy, i, pd, r0, r1);
    }
}
static __global__ void dconv_bwd_filter_sum_kernel(float *dw, const float *part, size_t nw, int nch) {
    GRID_STRIDE(i, nw) {
        float s = 0.0f;
        for (int ch = 0; ch < nch; ch++) s += part[(size_t)ch * nw + i];
        dw[i] += s;
    }
}

/* ---- cuDNN: descriptors, algorithm choice (once per shape), calls ---------------------- */
/* pd: packed dims (pad 0, ld = C). Sets the four shared descriptors. */
static void conv_descs(ConvDims pd) {
    const int Ho = conv_out_h(pd), Wo = conv_out_w(pd);
    DL_CHECK(pd.B > 0 && Ho > 0 && Wo > 0, "conv: empty output (B=%d Ho=%d Wo=%d)", pd.B, Ho, Wo);
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(dn.xd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, pd.B, pd.Cin, pd.H, pd.W));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(dn.yd, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, pd.B, pd.Cout, Ho, Wo));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(dn.wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, pd.Cout, pd.Cin, pd.kh, pd.kw));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(dn.cd, 0, 0, pd.stride_h, pd.stride_w, pd.dil_h, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(dn.cd, CUDNN_FMA_MATH));
    int n, c, h, w;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(dn.cd, dn.xd, dn.wd, &n, &c, &h, &w));
    DL_CHECK(n == pd.B && c == pd.Cout && h == Ho && w == Wo,
             "cuDNN output dims (%d,%d,%d,%d) differ from ours (%d,%d,%d,%d)", n, c, h, w, pd.B, pd.Cout, Ho, Wo);
}

static int is_tensor_op(cudnnMathType_t t) { return !(t == CUDNN_FMA_MATH || t == CUDNN_DEFAULT_MATH); }

typedef struct {
    int fwd, bwd_data, bwd_filter; /* chosen algorithms; -1: the direct kernels (no cuDNN algorithm qualified) */
    size_t bytes;                  /* the largest of their workspaces */
} ConvAlgos;

/* DEEPLOB_CONV=direct: the direct kernels for every convolution (diagnosis) */
static int conv_force_direct(void) {
    const char *e = getenv("DEEPLOB_CONV");
    return e && !strcmp(e, "direct");
}
static void conv_note_direct(ConvDims pd, const char *dir, size_t budget) {
    if (conv_force_direct()) return;
    fprintf(stderr, "[cuda] conv B=%d H=%d W=%d Cin=%d Cout=%d kh=%d kw=%d stride %d,%d dil %d: no deterministic FP32 "
            "cuDNN %s algorithm within %zu bytes; the direct kernel runs it (correct, slower)\n", pd.B, pd.H, pd.W, pd.Cin,
            pd.Cout, pd.kh, pd.kw, pd.stride_h, pd.stride_w, pd.dil_h, dir, budget);
}

/* candidates of each direction (workspace sizes asked for exactly), then the choice;
 * a direction with no qualifying algorithm falls back to the direct kernels */
static ConvAlgos conv_choose(ConvDims pd, size_t budget) {
    conv_descs(pd);
    ConvAlgos a;
    GpuAlgoCand c[16];
    int n = 0, i;
    const int direct = conv_force_direct();
    a.bytes = 0;
    {
        cudnnConvolutionFwdAlgoPerf_t r[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(dn.h, dn.xd, dn.wd, dn.cd, dn.yd, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                           &n, r));
        for (i = 0; i < n; i++) {
            size_t b = 0;
            int ok = r[i].status == CUDNN_STATUS_SUCCESS &&
                     cudnnGetConvolutionForwardWorkspaceSize(dn.h, dn.xd, dn.wd, dn.cd, dn.yd, r[i].algo, &b) ==
                         CUDNN_STATUS_SUCCESS;
            GpuAlgoCand q = {(int)r[i].algo, ok, r[i].determinism == CUDNN_DETERMINISTIC, is_tensor_op(r[i].mathType), b};
            c[i] = q;
        }
        int k = direct ? -1 : dl_gpu_pick_algo(c, n, budget);
        if (k < 0) conv_note_direct(pd, "forward", budget);
        a.fwd = k < 0 ? -1 : c[k].algo;
        if (k >= 0 && c[k].bytes > a.bytes) a.bytes = c[k].bytes;
    }
    {
        cudnnConvolutionBwdDataAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(dn.h, dn.wd, dn.yd, dn.cd, dn.xd,
                                                                CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, r));
        for (i = 0; i < n; i++) {
            size_t b = 0;
            int ok = r[i].status == CUDNN_STATUS_SUCCESS &&
                     cudnnGetConvolutionBackwardDataWorkspaceSize(dn.h, dn.wd, dn.yd, dn.cd, dn.xd, r[i].algo, &b) ==
                         CUDNN_STATUS_SUCCESS;
            GpuAlgoCand q = {(int)r[i].algo, ok, r[i].determinism == CUDNN_DETERMINISTIC, is_tensor_op(r[i].mathType), b};
            c[i] = q;
        }
        int k = direct ? -1 : dl_gpu_pick_algo(c, n, budget);
        if (k < 0) conv_note_direct(pd, "backward-data", budget);
        a.bwd_data = k < 0 ? -1 : c[k].algo;
        if (k >= 0 && c[k].bytes > a.bytes) a.bytes = c[k].bytes;
    }
    {
        cudnnConvolutionBwdFilterAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(dn.h, dn.xd, dn.yd, dn.cd, dn.wd,
                                                                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, r));
        for (i = 0; i < n; i++) {
            size_t b = 0;
            int ok = r[i].status == CUDNN_STATUS_SUCCESS &&
                     cudnnGetConvolutionBackwardFilterWorkspaceSize(dn.h, dn.xd, dn.yd, dn.cd, dn.wd, r[i].algo, &b) ==
                         CUDNN_STATUS_SUCCESS;
            GpuAlgoCand q = {(int)r[i].algo, ok, r[i].determinism == CUDNN_DETERMINISTIC, is_tensor_op(r[i].mathType), b};
            c[i] = q;
        }
        int k = direct ? -1 : dl_gpu_pick_algo(c, n, budget);
        /* the direct filter gradient keeps per-chunk partials in the workspace */
        const size_t dbytes = dl_dconv_filter_scratch_floats(pd) * sizeof(float);
        if (k < 0 && dbytes > budget && budget != DL_GPU_CONV_WS_CAP)
            DL_FATAL("conv B=%d H=%d W=%d Cin=%d Cout=%d: neither a cuDNN backward-filter algorithm nor the direct "
                     "kernel's %zu bytes of partials fit the %zu-byte workspace", pd.B, pd.H, pd.W, pd.Cin, pd.Cout,
                     dbytes, budget);
        if (k < 0) conv_note_direct(pd, "backward-filter", budget);
        a.bwd_filter = k < 0 ? -1 : c[k].algo;
        const size_t fb = k < 0 ? dbytes : c[k].bytes;
        if (fb > a.bytes) a.bytes = fb;
    }
    return a;
}

/* Shape key: the packed dims that cuDNN sees (ld and accumulate normalised away) */
static ConvDims conv_key(ConvDims pd, int with_batch) {
    ConvDims k;
    memset(&k, 0, sizeof k);
    k.B = with_batch ? pd.B : 0;
    k.H = pd.H; k.W = pd.W; k.Cin = pd.Cin; k.Cout = pd.Cout;
    k.kh = pd.kh; k.kw = pd.kw; k.stride_h = pd.stride_h; k.stride_w = pd.stride_w; k.dil_h = pd.dil_h;
    return k;
}

/* workspace budgets per shape without the batch: the smallest any model reserved (each
 * model's scratch holds at least that), so any model may run any batch of the shape */
#define MAX_SHAPES 512
static struct { ConvDims key; size_t bytes; } g_budget[MAX_SHAPES];
static int g_nbudget;
/* algorithms per shape with the batch (and budget): chosen once */
static struct { ConvDims key; size_t budget; ConvAlgos a; } g_algos[MAX_SHAPES];
static int g_nalgos;

static size_t *budget_slot(ConvDims pd, int create) {
    ConvDims k = conv_key(pd, 0);
    for (int i = 0; i < g_nbudget; i++)
        if (!memcmp(&g_budget[i].key, &k, sizeof k)) return &g_budget[i].bytes;
    if (!create) return NULL;
    DL_CHECK(g_nbudget < MAX_SHAPES, "too many convolution shapes");
    g_budget[g_nbudget].key = k;
    g_budget[g_nbudget].bytes = (size_t)-1;
    return &g_budget[g_nbudget++].bytes;
}

static const ConvAlgos *conv_algos(ConvDims pd, size_t budget) {
    ConvDims k = conv_key(pd, 1);
    for (int i = 0; i < g_nalgos; i++)
        if (g_algos[i].budget == budget && !memcmp(&g_algos[i].key, &k, sizeof k)) return &g_algos[i].a;
    DL_CHECK(g_nalgos < MAX_SHAPES, "too many convolution shapes");
    g_algos[g_nalgos].key = k;
    g_algos[g_nalgos].budget = budget;
    g_algos[g_nalgos].a = conv_choose(pd, budget);
    return &g_algos[g_nalgos++].a;
}

size_t conv2d_cuda_ws_floats(ConvDims d) {
    size_t *b = budget_slot(dl_gpu_conv_packed_dims(d), 0);
    DL_CHECK(b, "conv2d_cuda: shape B=%d H=%d W=%d Cin=%d Cout=%d kh=%d kw=%d was never sized "
             "(conv2d_scratch_floats_cuda sizes it: the model does at model_create)", d.B, d.H, d.W, d.Cin, d.Cout,
             d.kh, d.kw);
    return CEIL_DIV(*b, sizeof(float));
}

void conv2d_cuda_fwd(void *ctx, float *y, const float *x, const float *w, ConvDims pd, float *ws, size_t ws_floats) {
    (void)ctx;
    const ConvAlgos *a = conv_algos(pd, ws_floats * sizeof(float));
    if (a->fwd < 0) {
        const size_t n = (size_t)pd.B * conv_out_h(pd) * conv_out_w(pd) * pd.Cout;
        dconv_fwd_kernel<<<dl_gpu_grid(n), DL_GPU_BLOCK>>>(y, x, w, pd, n);
        CUDA_CHECK_LAUNCH();
        return;
    }
    conv_descs(pd);
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(cudnnConvolutionForward(dn.h, &one, dn.xd, x, dn.wd, w, dn.cd, (cudnnConvolutionFwdAlgo_t)a->fwd, ws,
                                        ws_floats * sizeof(float), &zero, dn.yd, y));
}
void conv2d_cuda_bwd_filter(void *ctx, float *dw, const float *x, const float *dy, ConvDims pd, float *ws,
                              size_t ws_floats) {
    (void)ctx;
    const ConvAlgos *a = conv_algos(pd, ws_floats * sizeof(float));
    if (a->bwd_filter < 0) {
        const size_t rows = (size_t)pd.B * conv_out_h(pd) * conv_out_w(pd), nw = (size_t)pd.Cout * pd.kh * pd.kw * pd.Cin;
        const int nch = (int)((rows + DL_CHUNK_ROWS - 1) / DL_CHUNK_ROWS);
        DL_CHECK(dl_dconv_filter_scratch_floats(pd) <= ws_floats, "direct conv: partials exceed the workspace");
        dconv_bwd_filter_part_kernel<<<dl_gpu_grid(nw * nch), DL_GPU_BLOCK>>>(ws, x, dy, pd, nw, rows, nch);
        CUDA_CHECK_LAUNCH();
        dconv_bwd_filter_sum_kernel<<<dl_gpu_grid(nw), DL_GPU_BLOCK>>>(dw, ws, nw, nch);
        CUDA_CHECK_LAUNCH();
        return;
    }
    conv_descs(pd);
    const float one = 1.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(dn.h, &one, dn.xd, x, dn.yd, dy, dn.cd,
                                               (cudnnConvolutionBwdFilterAlgo_t)a->bwd_filter, ws,
                                               ws_floats * sizeof(float), &one, dn.wd, dw));
}
void conv2d_cuda_bwd_data(void *ctx, float *dx, const float *w, const float *dy, ConvDims pd, float beta, float *ws,
                            size_t ws_floats) {
    (void)ctx;
    const ConvAlgos *a = conv_algos(pd, ws_floats * sizeof(float));
    if (a->bwd_data < 0) {
        const size_t n = (size_t)pd.B * pd.H * pd.W * pd.Cin;
        dconv_bwd_data_kernel<<<dl_gpu_grid(n), DL_GPU_BLOCK>>>(dx, w, dy, pd, n, beta);
        CUDA_CHECK_LAUNCH();
        return;
    }
    conv_descs(pd);
    const float one = 1.0f;
    CUDNN_CHECK(cudnnConvolutionBackwardData(dn.h, &one, dn.wd, w, dn.yd, dy, dn.cd,
                                             (cudnnConvolutionBwdDataAlgo_t)a->bwd_data, ws, ws_floats * sizeof(float),
                                             &beta, dn.xd, dx));
}

extern "C" size_t conv2d_cuda_reserve(ConvDims pd) {
    /* the first choice for this batch within the cap; the shape's budget = the smallest reserved */
    ConvAlgos a = conv_choose(pd, DL_GPU_CONV_WS_CAP);
    size_t *b = budget_slot(pd, 1);
    if (a.bytes < *b) *b = a.bytes;
    return a.bytes;
}
