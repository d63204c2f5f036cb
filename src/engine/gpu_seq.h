/* gpu_seq.h: the CUDA backend's ops written as sequences of a few primitives
 * (a column-major strided-batched GEMM with cuBLAS's semantics, cuDNN-style
 * convolutions on packed, unpadded NHWC tensors, and small element kernels), plus
 * the host-side arithmetic they need: scratch layouts, launch geometry, the
 * convolution plan and the cuDNN algorithm choice.
 *
 * Why: no GPU is at hand most of the time (style.md, "CUDA logic that the CPU tests
 * cover"). kernels/backend_cuda.cu fills GpuPrims with cuBLAS, cuDNN and CUDA kernels;
 * tests/unit/test_gpu_seq.c fills it with CPU code of the same semantics (cblas in
 * column-major order, the CPU conv on the plan's packed tensors) and checks every
 * sequence below against the CPU backend. What only a GPU run can check is then the
 * primitives' own CUDA code (test_cuda_backend).
 *
 * Plain C that also compiles as C++ (nvcc): no designated initialisers, no
 * implicit void* conversions. The DL_HD functions run in kernels as well.
 */
#ifndef DL_GPU_SEQ_H
#define DL_GPU_SEQ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "layers/elementwise.h"
#include "layers/hd.h"
#include "layers/lstm_cell.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- binding: which GPU a rank uses ----------------------------------------------
 * ranks_per_gpu consecutive node-local ranks share one GPU; more ranks than
 * GPUs * ranks_per_gpu wrap around (oversubscription). -1 when no GPU. */
static inline int dl_gpu_index(int local_rank, int ranks_per_gpu, int gpu_count) {
    if (gpu_count <= 0) return -1;
    if (ranks_per_gpu < 1) ranks_per_gpu = 1;
    if (local_rank < 0) local_rank = 0;
    return (local_rank / ranks_per_gpu) % gpu_count;
}

/* ---- launch geometry ---------------------------------------------------------------- */
#define DL_GPU_BLOCK 256        /* threads per block of 1-D element kernels */
#define DL_GPU_GRID_CAP 65536   /* grid-stride loops beyond this many blocks */
/* blocks for n elements (>= 1) */
static inline unsigned dl_gpu_grid(size_t n) {
    size_t g = (n + DL_GPU_BLOCK - 1) / DL_GPU_BLOCK;
    if (g > DL_GPU_GRID_CAP) g = DL_GPU_GRID_CAP;
    return g ? (unsigned)g : 1u;
}
/* column sums (bias gradients): chunks of DL_CHUNK_ROWS rows, as BatchNorm's statistics.
 * grid (nchunks, ceil(C / DL_COLSUM_TX)), block (DL_COLSUM_TX, DL_COLSUM_TY); lane ty
 * adds rows r0+ty, r0+ty+TY, ... in order, lanes are added in lane order, chunks in chunk
 * order: the sum's order depends on rows and C only. Partials are doubles. */
#define DL_COLSUM_TX 32
#define DL_COLSUM_TY 8
static inline int dl_colsum_chunks(int rows) { return rows > 0 ? (rows + DL_CHUNK_ROWS - 1) / DL_CHUNK_ROWS : 0; }
/* floats of scratch for the partials (doubles, 64-byte multiple) */
static inline size_t dl_colsum_scratch_floats(int rows, int C) {
    size_t n = 2 * (size_t)dl_colsum_chunks(rows) * (size_t)C;
    return (n + 15) & ~(size_t)15;
}
/* the rows of chunk ch: [*r0, *r1) */
DL_HD void dl_colsum_chunk_rows(int ch, int rows, int *r0, int *r1) {
    *r0 = ch * DL_CHUNK_ROWS;
    *r1 = *r0 + DL_CHUNK_ROWS < rows ? *r0 + DL_CHUNK_ROWS : rows;
}

/* ---- sharded BatchNorm (data parallelism; kernels/batchnorm_shard.cu) --------------
 * A shard's sums in the column-sum geometry above: lane ty of chunk ch adds the rows
 * r0+ty, r0+ty+TY, ... of channel c in row order (one lane = one thread); the TY lanes
 * are added in lane order (lane 0 first), the chunks in chunk order from 0.0. Doubles,
 * fixed order: the bits depend on the shard's rows and C only, never on which rank or
 * how many shards a process holds. test_gpu_seq runs these lanes in that order. */
/* forward: S, Q of t = x - x[row 0] (the shard's shift) over the lane's rows */
DL_HD void dl_bn_lane_stats(double *S, double *Q, const float *x, int x_ld, int c, int r0, int r1, int ty) {
    const double K = (double)x[c];
    double s = 0.0, q = 0.0;
    for (int r = r0 + ty; r < r1; r += DL_COLSUM_TY) {
        const double t = (double)x[(size_t)r * x_ld + c] - K;
        s += t;
        q += t * t;
    }
    *S = s;
    *Q = q;
}
/* backward: A = sum dz, B = sum dz*(x - mean) over the lane's rows (dz: dl_bn_dz_x,
 * the mask recomputed from x; scale = gamma*rstd) */
DL_HD void dl_bn_lane_bwd(double *A, double *B, const float *dy, int y_ld, const float *x, int x_ld, int c, int r0,
                          int r1, int ty, float mean, float scale, float beta, float slope) {
    double a = 0.0, b = 0.0;
    for (int r = r0 + ty; r < r1; r += DL_COLSUM_TY) {
        const float xv = x[(size_t)r * x_ld + c];
        const double dz = (double)dl_bn_dz_x(dy[(size_t)r * y_ld + c], xv, mean, scale, beta, slope);
        a += dz;
        b += dz * ((double)xv - (double)mean);
    }
    *A = a;
    *B = b;
}

/* ---- element maps of the helper kernels (DL_HD: the CPU test runs them) ----------- */
/* flat element i of a (rows, C) view -> row, column */
DL_HD void dl_rc(size_t i, int C, size_t *r, int *c) {
    *r = i / (size_t)C;
    *c = (int)(i - *r * (size_t)C);
}
/* padded row rp (0..B*Hp*W-1) of a time-padded (B, Hp, W) tensor -> the unpadded row
 * (B, H, W) it copies, or -1 for a zero (padding) row */
DL_HD long dl_pad_src_row(size_t rp, int H, int W, int pad_top, int pad_bottom) {
    const int Hp = H + pad_top + pad_bottom;
    size_t bw = (size_t)Hp * W;
    size_t b = rp / bw, rem = rp - b * bw;
    int hp = (int)(rem / (size_t)W), w = (int)(rem - (size_t)hp * W);
    int h = hp - pad_top;
    if (h < 0 || h >= H) return -1;
    return (long)(((size_t)b * H + h) * W + w);
}
/* row r of the unpadded (B, H, W) tensor -> its row in the padded one */
DL_HD size_t dl_pad_dst_row(size_t r, int H, int W, int pad_top, int pad_bottom) {
    const int Hp = H + pad_top + pad_bottom;
    size_t bw = (size_t)H * W;
    size_t b = r / bw, rem = r - b * bw;
    return (b * Hp + pad_top) * (size_t)W + rem;
}
/* LSTM: hprev row (b,t) = h row (b,t-1), zero at t = 0; returns the source row or -1 */
DL_HD long dl_hprev_src_row(size_t r, int T) {
    return (r % (size_t)T) == 0 ? -1 : (long)(r - 1);
}

/* MaxPool 3x1 (layers/maxpool.c): the winner among a clipped window's n (1..3) rows,
 * PyTorch's rule (first maximum, a NaN wins); k = its offset from the first row.
 * Same logic as maxpool.c's pool3_max. */
DL_HD float dl_pool3_max(float v0, float v1, float v2, int n, int *k) {
    if (n == 1) { *k = 0; return v0; }
    int k1 = v1 > v0 || v1 != v1;
    float m = k1 ? v1 : v0;
    int k2 = n > 2 && (v2 > m || v2 != v2);
    *k = k2 ? 2 : k1;
    return k2 ? v2 : m;
}
/* the clipped window of output row h: first row, count */
DL_HD void dl_pool3_window(int h, int H, int *h0, int *n) {
    int a = h > 0 ? h - 1 : 0, b = h + 1 < H ? h + 1 : H - 1;
    *h0 = a;
    *n = b - a + 1;
}
/* forward element (b,h,w,c) given by flat index i over (B,H,W,C) */
DL_HD float dl_pool3_fwd_elem(const float *x, size_t i, PoolDims d) {
    size_t r;
    int c;
    dl_rc(i, d.C, &r, &c);                 /* r = (b*H + h)*W + w */
    size_t bh = r / (size_t)d.W;
    int w = (int)(r - bh * d.W), h = (int)(bh % (size_t)d.H);
    size_t b = bh / (size_t)d.H;
    int h0, n, k;
    dl_pool3_window(h, d.H, &h0, &n);
    const long ts = (long)d.W * d.x_ld;
    const float *x0 = x + ((b * d.H + h0) * (size_t)d.W + w) * (size_t)d.x_ld + c;
    float v1 = n > 1 ? x0[ts] : x0[0], v2 = n > 2 ? x0[2 * ts] : v1;
    return dl_pool3_max(x0[0], v1, v2, n, &k);
}
/* backward element: dx (b,h,w,c) gathers dy of the outputs whose window holds row h,
 * in output order h-1, h, h+1, adding dy where h won and -0.0f where it did not: the
 * very additions of maxpool3_backward_cpu, so the same bits. start = dx's old value
 * (accumulate) or 0. */
DL_HD float dl_pool3_bwd_elem(float start, const float *dy, const float *x, size_t i, PoolDims d) {
    size_t r;
    int c;
    dl_rc(i, d.C, &r, &c);
    size_t bh = r / (size_t)d.W;
    int w = (int)(r - bh * d.W), h = (int)(bh % (size_t)d.H);
    size_t b = bh / (size_t)d.H;
    const long ts = (long)d.W * d.x_ld;
    float acc = start;
    for (int ho = h - 1; ho <= h + 1; ho++) {
        if (ho < 0 || ho >= d.H) continue;
        int h0, n, k;
        dl_pool3_window(ho, d.H, &h0, &n);
        const float *x0 = x + ((b * d.H + h0) * (size_t)d.W + w) * (size_t)d.x_ld + c;
        float v1 = n > 1 ? x0[ts] : x0[0], v2 = n > 2 ? x0[2 * ts] : v1;
        dl_pool3_max(x0[0], v1, v2, n, &k);
        float g = dy[((b * d.H + ho) * (size_t)d.W + w) * (size_t)d.y_ld + c];
        acc += (h0 + k == h) ? g : -0.0f;
    }
    return acc;
}

/* ---- convolution plan ----------------------------------------------------------------
 * cuDNN sees packed NHWC tensors with zero padding of its own set to 0: a time padding
 * (pad_top/pad_bottom, which may differ: causal TCN convs) or a row stride wider than
 * the channels is handled by copying the input into a packed, zero-padded buffer
 * (staged_in), and the output through a packed buffer (staged_out). */
typedef struct {
    int staged_in, staged_out;
    int n, c, h, w;              /* cuDNN input dims: B, Cin, Hp = H+pad_top+pad_bottom, W */
    int k, kh, kw;               /* filter: Cout, kh, kw (layout KHWC = our OHWI) */
    int oh, ow;                  /* output: Ho, Wo */
    int stride_h, stride_w, dil_h;
    /* scratch layout (floats): [xpad | ypack | colsum partials | workspace]; each part
     * starts on a 64-float (256-byte) boundary */
    size_t off_xpad, off_ypack, off_colsum, off_ws;
    size_t n_xpad, n_ypack, n_colsum;
} GpuConvPlan;

static inline size_t dl_round64(size_t n) { return (n + 63) & ~(size_t)63; }

/* the plan of d; ws_floats: the cuDNN workspace to reserve (floats) */
static inline void dl_gpu_conv_plan(ConvDims d, size_t ws_floats, GpuConvPlan *p) {
    memset(p, 0, sizeof *p);
    const int Hp = d.H + d.pad_top + d.pad_bottom;
    p->staged_in = d.pad_top != 0 || d.pad_bottom != 0 || d.in_ld != d.Cin;
    p->staged_out = d.out_ld != d.Cout;
    p->n = d.B;
    p->c = d.Cin;
    p->h = Hp;
    p->w = d.W;
    p->k = d.Cout;
    p->kh = d.kh;
    p->kw = d.kw;
    p->oh = conv_out_h(d);
    p->ow = conv_out_w(d);
    p->stride_h = d.stride_h;
    p->stride_w = d.stride_w;
    p->dil_h = d.dil_h;
    p->n_xpad = p->staged_in ? (size_t)d.B * Hp * d.W * d.Cin : 0;
    p->n_ypack = p->staged_out ? (size_t)d.B * p->oh * p->ow * d.Cout : 0;
    p->n_colsum = dl_colsum_scratch_floats(d.B * p->oh * p->ow, d.Cout);
    p->off_xpad = 0;
    p->off_ypack = dl_round64(p->n_xpad);
    p->off_colsum = p->off_ypack + dl_round64(p->n_ypack);
    p->off_ws = p->off_colsum + dl_round64(p->n_colsum);
    (void)ws_floats;
}
static inline size_t dl_gpu_conv_scratch_floats(const GpuConvPlan *p, size_t ws_floats) {
    return p->off_ws + dl_round64(ws_floats);
}
/* the same convolution as the plan sees it (packed, unpadded input of Hp rows): what
 * the CPU emulation of the cuDNN primitives runs */
static inline ConvDims dl_gpu_conv_packed_dims(ConvDims d) {
    ConvDims q = d;
    q.H = d.H + d.pad_top + d.pad_bottom;
    q.pad_top = q.pad_bottom = 0;
    q.in_ld = d.Cin;
    q.out_ld = d.Cout;
    return q;
}

/* ---- direct convolution: the fallback when cuDNN offers no qualifying algorithm ---------
 * On the plan's packed tensors (pd: pad 0, ld = C), cuDNN's definition
 *   y[n,oh,ow,k] = sum_{r,q,c} x[n, oh*sh + r*dil, ow*sw + q, c] * w[k,r,q,c]
 * one output element per thread, each a fixed-order sum (deterministic, slow: used only
 * for a shape and direction where cuDNN has no deterministic FP32 algorithm, or when
 * DEEPLOB_CONV=direct asks for it). The CPU test runs these very functions. */
/* conv_out_h / conv_out_w (backend.h) for device code: those are host-only inlines */
DL_HD int dl_conv_oh(ConvDims d) { return (d.H + d.pad_top + d.pad_bottom - d.dil_h * (d.kh - 1) - 1) / d.stride_h + 1; }
DL_HD int dl_conv_ow(ConvDims d) { return (d.W - d.kw) / d.stride_w + 1; }
DL_HD float dl_dconv_fwd_elem(const float *x, const float *w, size_t i, ConvDims pd) {
    const int Ho = dl_conv_oh(pd), Wo = dl_conv_ow(pd);
    const int k = (int)(i % (size_t)pd.Cout);
    size_t r = i / (size_t)pd.Cout;
    const int ow = (int)(r % (size_t)Wo);
    r /= (size_t)Wo;
    const int oh = (int)(r % (size_t)Ho);
    const size_t n = r / (size_t)Ho;
    float s = 0.0f;
    for (int a = 0; a < pd.kh; a++)
        for (int q = 0; q < pd.kw; q++) {
            const float *xr = x + ((n * pd.H + (size_t)(oh * pd.stride_h + a * pd.dil_h)) * pd.W + (size_t)(ow * pd.stride_w + q)) * pd.Cin;
            const float *wr = w + (((size_t)k * pd.kh + a) * pd.kw + q) * pd.Cin;
            for (int c = 0; c < pd.Cin; c++) s += xr[c] * wr[c];
        }
    return s;
}
/* dx[n,h,w,c] = sum_{k,r,q: h = oh*sh + r*dil, w = ow*sw + q} dy[n,oh,ow,k] w[k,r,q,c] */
DL_HD float dl_dconv_bwd_data_elem(const float *dy, const float *w, size_t i, ConvDims pd) {
    const int Ho = dl_conv_oh(pd), Wo = dl_conv_ow(pd);
    const int c = (int)(i % (size_t)pd.Cin);
    size_t r = i / (size_t)pd.Cin;
    const int xw = (int)(r % (size_t)pd.W);
    r /= (size_t)pd.W;
    const int xh = (int)(r % (size_t)pd.H);
    const size_t n = r / (size_t)pd.H;
    float s = 0.0f;
    for (int a = 0; a < pd.kh; a++) {
        const int th = xh - a * pd.dil_h;
        if (th < 0 || th % pd.stride_h) continue;
        const int oh = th / pd.stride_h;
        if (oh >= Ho) continue;
        for (int q = 0; q < pd.kw; q++) {
            const int tw = xw - q;
            if (tw < 0 || tw % pd.stride_w) continue;
            const int ow = tw / pd.stride_w;
            if (ow >= Wo) continue;
            const float *g = dy + ((n * Ho + (size_t)oh) * Wo + (size_t)ow) * pd.Cout;
            for (int k = 0; k < pd.Cout; k++) s += g[k] * w[(((size_t)k * pd.kh + a) * pd.kw + q) * pd.Cin + c];
        }
    }
    return s;
}
/* dw[k,r,q,c] partial over output rows [r0, r1) (rows = (n*Ho + oh)*Wo + ow) */
DL_HD float dl_dconv_bwd_filter_part(const float *x, const float *dy, size_t i, ConvDims pd, size_t r0, size_t r1) {
    const int Ho = dl_conv_oh(pd), Wo = dl_conv_ow(pd);
    const int c = (int)(i % (size_t)pd.Cin);
    size_t t = i / (size_t)pd.Cin;
    const int q = (int)(t % (size_t)pd.kw);
    t /= (size_t)pd.kw;
    const int a = (int)(t % (size_t)pd.kh);
    const int k = (int)(t / (size_t)pd.kh);
    float s = 0.0f;
    for (size_t row = r0; row < r1; row++) {
        const int ow = (int)(row % (size_t)Wo);
        const size_t nh = row / (size_t)Wo;
        const int oh = (int)(nh % (size_t)Ho);
        const size_t n = nh / (size_t)Ho;
        s += dy[row * pd.Cout + k] *
             x[((n * pd.H + (size_t)(oh * pd.stride_h + a * pd.dil_h)) * pd.W + (size_t)(ow * pd.stride_w + q)) * pd.Cin + c];
    }
    return s;
}
/* the filter gradient's output rows are cut into chunks of DL_CHUNK_ROWS: partials (one
 * per chunk and weight) in scratch, then added in chunk order; floats of scratch needed */
static inline size_t dl_dconv_filter_scratch_floats(ConvDims pd) {
    size_t rows = (size_t)pd.B * conv_out_h(pd) * conv_out_w(pd);
    size_t nch = (rows + DL_CHUNK_ROWS - 1) / DL_CHUNK_ROWS;
    return nch * (size_t)pd.Cout * pd.kh * pd.kw * pd.Cin;
}

/* ---- cuDNN algorithm choice ----------------------------------------------------------
 * Candidates in cuDNN's order (fastest expected first). Chosen: the first that ran the
 * heuristic successfully, is deterministic, uses plain FP32 FMA math (no TF32 tensor
 * ops: the CPU and PyTorch parity tolerances assume FP32) and whose workspace fits
 * the budget. -1 when none qualifies. */
typedef struct {
    int algo;
    int ok;             /* status == CUDNN_STATUS_SUCCESS */
    int deterministic;  /* determinism == CUDNN_DETERMINISTIC */
    int tensor_op;      /* mathType uses tensor cores (TF32) */
    size_t bytes;       /* workspace */
} GpuAlgoCand;
static inline int dl_gpu_pick_algo(const GpuAlgoCand *c, int n, size_t budget_bytes) {
    for (int i = 0; i < n; i++)
        if (c[i].ok && c[i].deterministic && !c[i].tensor_op && c[i].bytes <= budget_bytes) return i;
    return -1;
}
/* the workspace budget for a shape's first choice (the model's largest batch): large
 * enough for any sensible algorithm, small enough that an FFT algorithm's tiling never
 * takes the GPU's memory */
#define DL_GPU_CONV_WS_CAP ((size_t)512 << 20)

/* ---- the primitives ------------------------------------------------------------------ */
typedef struct GpuPrims {
    void *ctx;
    /* C (m x n, ldc) = alpha op(A) op(B) + beta C, column-major, cuBLAS semantics;
     * batch matrices at strides sA, sB, sC (floats); ta/tb: 1 = transpose */
    void (*gemm)(void *ctx, int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, long long sA,
                 const float *B, int ldb, long long sB, float beta, float *C, int ldc, long long sC, int batch);
    /* y (rows, C; ld_y) (+)= x (rows, C; ld_x) */
    void (*copy_rows)(float *y, const float *x, int rows, int C, int ld_y, int ld_x, int accumulate);
    void (*zero)(void *ctx, float *p, size_t n);
    /* db1 (C) += column sums of x (rows, C; ld), db2 too when non-NULL; partials in scratch
     * (dl_colsum_scratch_floats) */
    void (*colsum)(void *ctx, float *db1, float *db2, const float *x, int rows, int C, int ld, float *scratch);
    /* y (rows, C; ld) += b (C) on every row */
    void (*add_bias)(void *ctx, float *y, const float *b, int rows, int C, int ld);
    /* the LSTM cell of step t (kernels/lstm.cu) and the h_{t-1} rows */
    void (*lstm_cell_fwd)(void *ctx, float *cache, const float *b_ih, const float *b_hh, LSTMDims d, int t);
    void (*lstm_cell_bwd)(void *ctx, float *dgates, float *dc, const float *dh, const float *cache, LSTMDims d, int t);
    void (*lstm_hprev)(void *ctx, float *hprev, const float *cache, LSTMDims d);
    /* xp (B, Hp, W, Cin) packed = x (B, H, W, Cin; in_ld) with zero rows; and back:
     * dx (B, H, W, Cin; in_ld) (+)= the interior rows of dxp (accumulate_din) */
    void (*pad_rows)(void *ctx, float *xp, const float *x, ConvDims d);
    void (*unpad_rows)(void *ctx, float *dx, const float *dxp, ConvDims d);
    /* cuDNN on the plan's packed tensors (pd = dl_gpu_conv_packed_dims(d)); ws: workspace
     * (ws_floats floats) for the algorithm chosen for d */
    void (*conv_fwd)(void *ctx, float *y, const float *x, const float *w, ConvDims pd, float *ws, size_t ws_floats);
    /* dw += */
    void (*conv_bwd_filter)(void *ctx, float *dw, const float *x, const float *dy, ConvDims pd, float *ws,
                            size_t ws_floats);
    /* dx = (beta 0) or += (beta 1) */
    void (*conv_bwd_data)(void *ctx, float *dx, const float *w, const float *dy, ConvDims pd, float beta, float *ws,
                          size_t ws_floats);
} GpuPrims;

/* ---- convolution ---------------------------------------------------------------------- */
/* out (B,Ho,Wo,Cout; out_ld) = conv(in) + b; scratch per the plan, ws_floats reserved */
static inline void gpu_conv2d_forward(const GpuPrims *P, float *out, const float *in, const float *w, const float *b,
                                      ConvDims d, float *scratch, size_t ws_floats) {
    GpuConvPlan p;
    dl_gpu_conv_plan(d, ws_floats, &p);
    const ConvDims pd = dl_gpu_conv_packed_dims(d);
    const float *x = in;
    if (p.staged_in) {
        P->pad_rows(P->ctx, scratch + p.off_xpad, in, d);
        x = scratch + p.off_xpad;
    }
    float *y = p.staged_out ? scratch + p.off_ypack : out;
    P->conv_fwd(P->ctx, y, x, w, pd, scratch + p.off_ws, ws_floats);
    const int rows = d.B * p.oh * p.ow;
    if (p.staged_out) P->copy_rows(out, y, rows, d.Cout, d.out_ld, d.Cout, 0);
    if (b) P->add_bias(P->ctx, out, b, rows, d.Cout, d.out_ld);
}

/* din (+)= per accumulate_din (may be NULL), dw +=, db += (may be NULL) */
static inline void gpu_conv2d_backward(const GpuPrims *P, float *din, float *dw, float *db, const float *dout,
                                       const float *in, const float *w, ConvDims d, float *scratch, size_t ws_floats) {
    GpuConvPlan p;
    dl_gpu_conv_plan(d, ws_floats, &p);
    const ConvDims pd = dl_gpu_conv_packed_dims(d);
    const int rows = d.B * p.oh * p.ow;
    float *ws = scratch + p.off_ws;
    if (db) P->colsum(P->ctx, db, NULL, dout, rows, d.Cout, d.out_ld, scratch + p.off_colsum);
    const float *dy = dout;
    if (p.staged_out) {
        P->copy_rows(scratch + p.off_ypack, dout, rows, d.Cout, d.Cout, d.out_ld, 0);
        dy = scratch + p.off_ypack;
    }
    const float *x = in;
    if (p.staged_in) {
        P->pad_rows(P->ctx, scratch + p.off_xpad, in, d);
        x = scratch + p.off_xpad;
    }
    if (dw) P->conv_bwd_filter(P->ctx, dw, x, dy, pd, ws, ws_floats);
    if (!din) return;
    if (p.staged_in) { /* the padded gradient reuses xpad (the filter gradient is done with it) */
        P->conv_bwd_data(P->ctx, scratch + p.off_xpad, w, dy, pd, 0.0f, ws, ws_floats);
        P->unpad_rows(P->ctx, din, scratch + p.off_xpad, d);
    } else {
        P->conv_bwd_data(P->ctx, din, w, dy, pd, d.accumulate_din ? 1.0f : 0.0f, ws, ws_floats);
    }
}

/* ---- linear ------------------------------------------------------------------------------
 * Row-major (N, I) with row stride ld is column-major (I x N) with ld: y^T = W x^T is
 * gemm(T, N) with W (I x O, ld I) transposed. */
static inline size_t gpu_linear_scratch_floats(LinearDims d) { return dl_colsum_scratch_floats(d.N, d.O) + 16; }

static inline void gpu_linear_forward(const GpuPrims *P, float *y, const float *x, const float *w, const float *b,
                                      LinearDims d) {
    P->gemm(P->ctx, 1, 0, d.O, d.N, d.I, 1.0f, w, d.I, 0, x, d.x_ld, 0, 0.0f, y, d.y_ld, 0, 1);
    if (b) P->add_bias(P->ctx, y, b, d.N, d.O, d.y_ld);
}

static inline void gpu_linear_backward(const GpuPrims *P, float *dx, float *dw, float *db, const float *dy,
                                       const float *x, const float *w, LinearDims d, float *scratch) {
    /* dx^T (I x N) (+)= W^T dy^T: W col-major (I x O) ld I, dy^T (O x N) ld y_ld */
    if (dx) P->gemm(P->ctx, 0, 0, d.I, d.N, d.O, 1.0f, w, d.I, 0, dy, d.y_ld, 0, d.accumulate_dx ? 1.0f : 0.0f, dx,
                    d.x_ld, 0, 1);
    /* dW^T (I x O) += x^T (I x N) dy (N x O) */
    if (dw) P->gemm(P->ctx, 0, 1, d.I, d.O, d.N, 1.0f, x, d.x_ld, 0, dy, d.y_ld, 0, 1.0f, dw, d.I, 0, 1);
    if (db) P->colsum(P->ctx, db, NULL, dy, d.N, d.O, d.y_ld, scratch);
}

/* ---- LSTM: cuBLAS products + the cell kernels ------------------------------------------
 * forward: act = x W_ih^T over all B*T rows (one GEMM), then per step act_t += h_{t-1}
 * W_hh^T (rows b*T+t: stride T*4H) and the cell. backward: per step (T-1..0) dh = dL/dh_t
 * + dz_{t+1} W_hh, the cell backward into dgates; then dW_ih, dW_hh (against h_{t-1},
 * hprev) and dx as three GEMMs over all rows, db as one column sum added to both.
 * scratch (backward): dgates (B,T,4H) | hprev (B,T,H) | dh (B,H) | dc (B,H) | colsum */
typedef struct {
    size_t off_dg, off_hprev, off_dh, off_dc, off_colsum, total;
} GpuLstmScratch;
static inline GpuLstmScratch dl_gpu_lstm_scratch(LSTMDims d) {
    GpuLstmScratch s;
    const size_t BT = (size_t)d.B * d.T, H = (size_t)d.H;
    s.off_dg = 0;
    s.off_hprev = dl_round64(BT * 4 * H);
    s.off_dh = s.off_hprev + dl_round64(BT * H);
    s.off_dc = s.off_dh + dl_round64((size_t)d.B * H);
    s.off_colsum = s.off_dc + dl_round64((size_t)d.B * H);
    s.total = s.off_colsum + dl_round64(dl_colsum_scratch_floats((int)BT, 4 * d.H));
    return s;
}

static inline void gpu_lstm_forward(const GpuPrims *P, float *h_last, float *cache, const float *x, const float *w_ih,
                                    const float *w_hh, const float *b_ih, const float *b_hh, LSTMDims d) {
    const int T = d.T, H = d.H, G = 4 * d.H, BT = d.B * d.T;
    float *act = cache, *hs = cache + lstm_cache_h(d.B, T, H);
    /* act^T (G x BT, ld G) = W_ih (In x G, ld In)^T x^T (In x BT, ld x_ld) */
    P->gemm(P->ctx, 1, 0, G, BT, d.In, 1.0f, w_ih, d.In, 0, x, d.x_ld, 0, 0.0f, act, G, 0, 1);
    for (int t = 0; t < T; t++) {
        /* act_t^T (G x B, ld T*G) += W_hh (H x G, ld H)^T h_{t-1}^T (H x B, ld T*H) */
        if (t > 0)
            P->gemm(P->ctx, 1, 0, G, d.B, H, 1.0f, w_hh, H, 0, hs + (size_t)(t - 1) * H, T * H, 0, 1.0f,
                    act + (size_t)t * G, T * G, 0, 1);
        P->lstm_cell_fwd(P->ctx, cache, b_ih, b_hh, d, t);
    }
    P->copy_rows(h_last, hs + (size_t)(T - 1) * H, d.B, H, H, T * H, 0);
}

static inline void gpu_lstm_backward(const GpuPrims *P, float *dx, float *dw_ih, float *dw_hh, float *db_ih,
                                     float *db_hh, const float *dh_in, const float *cache, const float *x,
                                     const float *w_ih, const float *w_hh, LSTMDims d, float *scratch) {
    const int T = d.T, H = d.H, G = 4 * d.H, BT = d.B * d.T;
    const GpuLstmScratch s = dl_gpu_lstm_scratch(d);
    float *dg = scratch + s.off_dg, *hprev = scratch + s.off_hprev, *dh = scratch + s.off_dh, *dc = scratch + s.off_dc;
    P->zero(P->ctx, dc, (size_t)d.B * H);
    for (int t = T - 1; t >= 0; t--) {
        /* dh = this step's own gradient (every step) or dL/dh_last (last step) or 0 ... */
        int have = 0;
        if (d.dh_every_step) {
            P->copy_rows(dh, dh_in + (size_t)t * H, d.B, H, H, T * H, 0);
            have = 1;
        } else if (t == T - 1) {
            P->copy_rows(dh, dh_in, d.B, H, H, H, 0);
            have = 1;
        }
        /* ... + dz_{t+1} W_hh: dh^T (H x B, ld H) (+)= W_hh (H x G, ld H) dz^T (G x B, ld T*G) */
        if (t < T - 1)
            P->gemm(P->ctx, 0, 0, H, d.B, G, 1.0f, w_hh, H, 0, dg + (size_t)(t + 1) * G, T * G, 0, have ? 1.0f : 0.0f,
                    dh, H, 0, 1);
        else if (!have)
            P->zero(P->ctx, dh, (size_t)d.B * H);
        P->lstm_cell_bwd(P->ctx, dg, dc, dh, cache, d, t);
    }
    /* dW_ih^T (In x G, ld In) += x^T (In x BT, ld x_ld) dz (BT x G) */
    P->gemm(P->ctx, 0, 1, d.In, G, BT, 1.0f, x, d.x_ld, 0, dg, G, 0, 1.0f, dw_ih, d.In, 0, 1);
    /* dW_hh^T (H x G, ld H) += hprev^T (H x BT, ld H) dz (BT x G) */
    P->lstm_hprev(P->ctx, hprev, cache, d);
    P->gemm(P->ctx, 0, 1, H, G, BT, 1.0f, hprev, H, 0, dg, G, 0, 1.0f, dw_hh, H, 0, 1);
    P->colsum(P->ctx, db_ih, db_hh, dg, BT, G, G, scratch + s.off_colsum);
    /* dx^T (In x BT, ld x_ld) (+)= W_ih (In x G, ld In) dz^T (G x BT, ld G) */
    if (dx) P->gemm(P->ctx, 0, 0, d.In, BT, G, 1.0f, w_ih, d.In, 0, dg, G, 0, d.accumulate_dx ? 1.0f : 0.0f, dx,
                    d.x_ld, 0, 1);
}

/* ---- attention products: strided-batched GEMMs over the B samples ------------------------
 * sample b: Q_b at Q + b*Lq*q_ld (row stride q_ld), K_b, V_b alike, S_b/P_b (Lq x Lk)
 * contiguous, O_b at O + b*Lq*o_ld. */
static inline void gpu_attn_scores_forward(const GpuPrims *P, float *S, const float *Q, const float *K, AttnDims d) {
    /* S_b^T (Lk x Lq, ld Lk) = scale K_b (Lk x D) Q_b^T: K_b^T col-major (D x Lk, ld k_ld) transposed */
    P->gemm(P->ctx, 1, 0, d.Lk, d.Lq, d.D, d.scale, K, d.k_ld, (long long)d.Lk * d.k_ld, Q, d.q_ld,
            (long long)d.Lq * d.q_ld, 0.0f, S, d.Lk, (long long)d.Lq * d.Lk, d.B);
}
static inline void gpu_attn_scores_backward(const GpuPrims *P, float *dQ, float *dK, const float *dS, const float *Q,
                                            const float *K, AttnDims d) {
    const float beta = d.accumulate_din ? 1.0f : 0.0f;
    /* dQ_b^T (D x Lq, ld q_ld) (+)= scale K_b^T (D x Lk, ld k_ld) dS_b^T (Lk x Lq, ld Lk) */
    if (dQ)
        P->gemm(P->ctx, 0, 0, d.D, d.Lq, d.Lk, d.scale, K, d.k_ld, (long long)d.Lk * d.k_ld, dS, d.Lk,
                (long long)d.Lq * d.Lk, beta, dQ, d.q_ld, (long long)d.Lq * d.q_ld, d.B);
    /* dK_b^T (D x Lk, ld k_ld) (+)= scale Q_b^T (D x Lq, ld q_ld) dS_b (Lq x Lk) */
    if (dK)
        P->gemm(P->ctx, 0, 1, d.D, d.Lk, d.Lq, d.scale, Q, d.q_ld, (long long)d.Lq * d.q_ld, dS, d.Lk,
                (long long)d.Lq * d.Lk, beta, dK, d.k_ld, (long long)d.Lk * d.k_ld, d.B);
}
static inline void gpu_attn_apply_forward(const GpuPrims *P, float *O, const float *Pm, const float *V, AttnDims d) {
    /* O_b^T (D x Lq, ld o_ld) = V_b^T (D x Lk, ld v_ld) P_b^T (Lk x Lq, ld Lk) */
    P->gemm(P->ctx, 0, 0, d.D, d.Lq, d.Lk, 1.0f, V, d.v_ld, (long long)d.Lk * d.v_ld, Pm, d.Lk,
            (long long)d.Lq * d.Lk, 0.0f, O, d.o_ld, (long long)d.Lq * d.o_ld, d.B);
}
static inline void gpu_attn_apply_backward(const GpuPrims *P, float *dP, float *dV, const float *dO, const float *Pm,
                                           const float *V, AttnDims d) {
    const float beta = d.accumulate_din ? 1.0f : 0.0f;
    /* dP_b^T (Lk x Lq, ld Lk) (+)= V_b (Lk x D) dO_b^T: V_b^T (D x Lk, ld v_ld) transposed, dO_b^T (D x Lq, ld o_ld) */
    if (dP)
        P->gemm(P->ctx, 1, 0, d.Lk, d.Lq, d.D, 1.0f, V, d.v_ld, (long long)d.Lk * d.v_ld, dO, d.o_ld,
                (long long)d.Lq * d.o_ld, beta, dP, d.Lk, (long long)d.Lq * d.Lk, d.B);
    /* dV_b^T (D x Lk, ld v_ld) (+)= dO_b^T (D x Lq, ld o_ld) P_b (Lq x Lk) */
    if (dV)
        P->gemm(P->ctx, 0, 1, d.D, d.Lk, d.Lq, 1.0f, dO, d.o_ld, (long long)d.Lq * d.o_ld, Pm, d.Lk,
                (long long)d.Lq * d.Lk, beta, dV, d.v_ld, (long long)d.Lk * d.v_ld, d.B);
}

#ifdef __cplusplus
}
#endif
#endif
