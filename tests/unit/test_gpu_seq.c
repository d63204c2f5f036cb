/* test_gpu_seq.c: the CUDA backend's host-side logic, on the CPU (no GPU needed).
 *
 * engine/gpu_seq.h holds the CUDA backend's ops as sequences of primitives (cuBLAS
 * column-major GEMMs, cuDNN convolutions on packed NHWC tensors, small element
 * kernels) plus its index arithmetic. Here the primitives are CPU code with the same
 * semantics (cblas in column-major order with cuBLAS's argument convention, a naive
 * NHWC cross-correlation as cuDNN defines it, loops over the same DL_HD element maps
 * the kernels call), and:
 *  1. GPU binding, launch geometry, scratch layouts, the cuDNN algorithm choice;
 *  2. max-pool forward/backward element maps: the same bits as the CPU op;
 *  3. every sequence (conv with causal/symmetric padding, strides, wide rows and
 *     accumulation, on cuDNN-semantics primitives and on the direct-convolution
 *     fallback's DL_HD element functions; linear; LSTM last-step and every-step;
 *     attention products) against the CPU backend on model and odd shapes, forward
 *     and backward;
 *  4. every model on an "emulated GPU" backend (the CPU table with those sequences in
 *     its conv, linear, LSTM, attention and pool slots, scratch sized by the GPU
 *     plans) against the CPU backend: outputs, loss, gradients, 5 Adam steps
 *     (model_compare.h, test_parity's tolerances);
 *  5. data parallelism: the sharded BatchNorm ops in the CUDA kernels' order
 *     (kernels/batchnorm_shard.cu: the gpu_seq.h lanes, the DL_HD combine and element
 *     functions) against the CPU's shard ops and against one BatchNorm over all the
 *     shards' rows; then the three DeepLOB models' sharded steps (K = 4) on the emulated
 *     backend against the CPU backend, and on 1 rank of 4 shards against 2 ranks
 *     (threads) of 2: the same bits (dp_compare.h).
 * What this cannot check is the primitives' CUDA code itself: test_cuda_backend. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/gpu_seq.h"
#include "engine/layers/layers_cpu.h"
#include "gradcheck.h"
#include "dp_compare.h"
#include "model_compare.h"

/* ================================ CPU primitives ==================================== */
static void c_gemm(void *ctx, int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, long long sA,
                   const float *B, int ldb, long long sB, float beta, float *C, int ldc, long long sC, int batch) {
    (void)ctx;
    if (m <= 0 || n <= 0) return;
    /* cuBLAS's own argument checks (p_gemm repeats them before every call) */
    CHECK(lda >= (ta ? k : m) && ldb >= (tb ? n : k) && ldc >= m, "gemm lds %d %d %d for m=%d n=%d k=%d ta=%d tb=%d",
          lda, ldb, ldc, m, n, k, ta, tb);
    for (int b = 0; b < batch; b++)
        cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                    A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC, ldc);
}
static void c_zero(void *ctx, float *p, size_t n) {
    (void)ctx;
    memset(p, 0, n * sizeof(float));
}
/* the GPU's order: per chunk, lane ty sums rows r0+ty, r0+ty+TY, ...; lanes, then chunks */
static void c_colsum(void *ctx, float *db1, float *db2, const float *x, int rows, int C, int ld, float *scratch) {
    (void)ctx;
    const int nch = dl_colsum_chunks(rows);
    double *part = (double *)scratch;
    for (int ch = 0; ch < nch; ch++)
        for (int c = 0; c < C; c++) {
            int r0, r1;
            dl_colsum_chunk_rows(ch, rows, &r0, &r1);
            double lane[DL_COLSUM_TY];
            for (int ty = 0; ty < DL_COLSUM_TY; ty++) {
                lane[ty] = 0;
                for (int r = r0 + ty; r < r1; r += DL_COLSUM_TY) lane[ty] += x[(size_t)r * ld + c];
            }
            double s = lane[0];
            for (int ty = 1; ty < DL_COLSUM_TY; ty++) s += lane[ty];
            part[(size_t)ch * C + c] = s;
        }
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int ch = 0; ch < nch; ch++) s += part[(size_t)ch * C + c];
        db1[c] += (float)s;
        if (db2) db2[c] += (float)s;
    }
}
static void c_add_bias(void *ctx, float *y, const float *b, int rows, int C, int ld) {
    (void)ctx;
    for (size_t i = 0; i < (size_t)rows * C; i++) {
        size_t r;
        int c;
        dl_rc(i, C, &r, &c);
        y[r * ld + c] += b[c];
    }
}
/* the kernels' loops over idx = b*H + j (kernels/lstm.cu) */
static void c_cell_fwd(void *ctx, float *cache, const float *b_ih, const float *b_hh, LSTMDims d, int t) {
    (void)ctx;
    float *act = cache, *c = cache + lstm_cache_c(d.B, d.T, d.H), *h = cache + lstm_cache_h(d.B, d.T, d.H);
    const int H = d.H;
    for (int idx = 0; idx < d.B * H; idx++) {
        int b = idx / H, j = idx - b * H;
        size_t r = (size_t)b * d.T + t;
        float c_prev = t > 0 ? c[(r - 1) * H + j] : 0.0f;
        lstm_cell_forward_elem(act + r * 4 * H, c + r * H, h + r * H, b_ih, b_hh, c_prev, j, H);
    }
}
static void c_cell_bwd(void *ctx, float *dg, float *dc, const float *dh, const float *cache, LSTMDims d, int t) {
    (void)ctx;
    const float *act = cache, *c = cache + lstm_cache_c(d.B, d.T, d.H);
    const int H = d.H;
    for (int idx = 0; idx < d.B * H; idx++) {
        int b = idx / H, j = idx - b * H;
        size_t r = (size_t)b * d.T + t;
        float c_prev = t > 0 ? c[(r - 1) * H + j] : 0.0f;
        dc[idx] = lstm_cell_backward_elem(dg + r * 4 * H, act + r * 4 * H, c[r * H + j], c_prev, dh[idx], dc[idx], j, H);
    }
}
static void c_hprev(void *ctx, float *hp, const float *cache, LSTMDims d) {
    (void)ctx;
    const float *h = cache + lstm_cache_h(d.B, d.T, d.H);
    for (size_t i = 0; i < (size_t)d.B * d.T * d.H; i++) {
        size_t r;
        int j;
        dl_rc(i, d.H, &r, &j);
        long s = dl_hprev_src_row(r, d.T);
        hp[i] = s < 0 ? 0.0f : h[(size_t)s * d.H + j];
    }
}
static void c_pad_rows(void *ctx, float *xp, const float *x, ConvDims d) {
    (void)ctx;
    const size_t n = (size_t)d.B * (d.H + d.pad_top + d.pad_bottom) * d.W * d.Cin;
    for (size_t i = 0; i < n; i++) {
        size_t rp;
        int c;
        dl_rc(i, d.Cin, &rp, &c);
        long s = dl_pad_src_row(rp, d.H, d.W, d.pad_top, d.pad_bottom);
        xp[i] = s < 0 ? 0.0f : x[(size_t)s * d.in_ld + c];
    }
}
static void c_unpad_rows(void *ctx, float *dx, const float *dxp, ConvDims d) {
    (void)ctx;
    const size_t n = (size_t)d.B * d.H * d.W * d.Cin;
    for (size_t i = 0; i < n; i++) {
        size_t r;
        int c;
        dl_rc(i, d.Cin, &r, &c);
        float v = dxp[dl_pad_dst_row(r, d.H, d.W, d.pad_top, d.pad_bottom) * d.Cin + c];
        if (d.accumulate_din) dx[r * d.in_ld + c] += v;
        else dx[r * d.in_ld + c] = v;
    }
}
/* cuDNN's definition on packed NHWC, filter KHWC, cross-correlation, no padding:
 * y[n,oh,ow,k] = sum_{r,s,c} x[n, oh*sh + r*dil, ow*sw + s, c] * w[k,r,s,c] */
#define XI(n, h, w, c) ((((size_t)(n) * pd.H + (h)) * pd.W + (w)) * pd.Cin + (c))
#define YI(n, h, w, k) ((((size_t)(n) * Ho + (h)) * Wo + (w)) * pd.Cout + (k))
#define WI(k, r, s, c) ((((size_t)(k) * pd.kh + (r)) * pd.kw + (s)) * pd.Cin + (c))
static void c_conv_fwd(void *ctx, float *y, const float *x, const float *w, ConvDims pd, float *ws, size_t nws) {
    (void)ctx; (void)ws; (void)nws;
    const int Ho = conv_out_h(pd), Wo = conv_out_w(pd);
    CHECK(pd.pad_top == 0 && pd.pad_bottom == 0 && pd.in_ld == pd.Cin && pd.out_ld == pd.Cout, "cuDNN sees packed dims");
    for (int n = 0; n < pd.B; n++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++)
                for (int k = 0; k < pd.Cout; k++) {
                    double s = 0;
                    for (int r = 0; r < pd.kh; r++)
                        for (int q = 0; q < pd.kw; q++)
                            for (int c = 0; c < pd.Cin; c++)
                                s += (double)x[XI(n, oh * pd.stride_h + r * pd.dil_h, ow * pd.stride_w + q, c)] *
                                     w[WI(k, r, q, c)];
                    y[YI(n, oh, ow, k)] = (float)s;
                }
}
static void c_conv_bwd_filter(void *ctx, float *dw, const float *x, const float *dy, ConvDims pd, float *ws, size_t nws) {
    (void)ctx; (void)ws; (void)nws;
    const int Ho = conv_out_h(pd), Wo = conv_out_w(pd);
    for (int k = 0; k < pd.Cout; k++)
        for (int r = 0; r < pd.kh; r++)
            for (int q = 0; q < pd.kw; q++)
                for (int c = 0; c < pd.Cin; c++) {
                    double s = 0;
                    for (int n = 0; n < pd.B; n++)
                        for (int oh = 0; oh < Ho; oh++)
                            for (int ow = 0; ow < Wo; ow++)
                                s += (double)dy[YI(n, oh, ow, k)] *
                                     x[XI(n, oh * pd.stride_h + r * pd.dil_h, ow * pd.stride_w + q, c)];
                    dw[WI(k, r, q, c)] += (float)s;
                }
}
static void c_conv_bwd_data(void *ctx, float *dx, const float *w, const float *dy, ConvDims pd, float beta, float *ws,
                            size_t nws) {
    (void)ctx; (void)ws; (void)nws;
    const int Ho = conv_out_h(pd), Wo = conv_out_w(pd);
    const size_t nx = (size_t)pd.B * pd.H * pd.W * pd.Cin;
    double *acc = (double *)calloc(nx, sizeof(double));
    for (int n = 0; n < pd.B; n++)
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++)
                for (int k = 0; k < pd.Cout; k++) {
                    float g = dy[YI(n, oh, ow, k)];
                    for (int r = 0; r < pd.kh; r++)
                        for (int q = 0; q < pd.kw; q++)
                            for (int c = 0; c < pd.Cin; c++)
                                acc[XI(n, oh * pd.stride_h + r * pd.dil_h, ow * pd.stride_w + q, c)] +=
                                    (double)g * w[WI(k, r, q, c)];
                }
    for (size_t i = 0; i < nx; i++) dx[i] = beta != 0.0f ? (float)(beta * dx[i] + acc[i]) : (float)acc[i]; /* beta 0: dx unread */
    free(acc);
}
#undef XI
#undef YI
#undef WI

static const GpuPrims CP = {NULL,       c_gemm,     copy_rows_cpu, c_zero,       c_colsum,          c_add_bias,
                            c_cell_fwd, c_cell_bwd, c_hprev,       c_pad_rows,   c_unpad_rows,      c_conv_fwd,
                            c_conv_bwd_filter, c_conv_bwd_data};

/* the direct-convolution fallback (DL_HD element functions), in the kernels' order */
static void d_conv_fwd(void *ctx, float *y, const float *x, const float *w, ConvDims pd, float *ws, size_t nws) {
    (void)ctx; (void)ws; (void)nws;
    const size_t n = (size_t)pd.B * conv_out_h(pd) * conv_out_w(pd) * pd.Cout;
    for (size_t i = 0; i < n; i++) y[i] = dl_dconv_fwd_elem(x, w, i, pd);
}
static void d_conv_bwd_data(void *ctx, float *dx, const float *w, const float *dy, ConvDims pd, float beta, float *ws,
                            size_t nws) {
    (void)ctx; (void)ws; (void)nws;
    const size_t n = (size_t)pd.B * pd.H * pd.W * pd.Cin;
    for (size_t i = 0; i < n; i++) {
        float v = dl_dconv_bwd_data_elem(dy, w, i, pd);
        dx[i] = beta != 0.0f ? beta * dx[i] + v : v;
    }
}
static void d_conv_bwd_filter(void *ctx, float *dw, const float *x, const float *dy, ConvDims pd, float *ws, size_t nws) {
    (void)ctx;
    const size_t rows = (size_t)pd.B * conv_out_h(pd) * conv_out_w(pd), nw = (size_t)pd.Cout * pd.kh * pd.kw * pd.Cin;
    const int nch = (int)((rows + DL_CHUNK_ROWS - 1) / DL_CHUNK_ROWS);
    CHECK(dl_dconv_filter_scratch_floats(pd) <= nws && dl_dconv_filter_scratch_floats(pd) == nw * nch,
          "direct filter partials fit the workspace");
    for (int ch = 0; ch < nch; ch++)
        for (size_t i = 0; i < nw; i++) {
            size_t r0 = (size_t)ch * DL_CHUNK_ROWS, r1 = r0 + DL_CHUNK_ROWS < rows ? r0 + DL_CHUNK_ROWS : rows;
            ws[(size_t)ch * nw + i] = dl_dconv_bwd_filter_part(x, dy, i, pd, r0, r1);
        }
    for (size_t i = 0; i < nw; i++) {
        float t = 0.0f;
        for (int ch = 0; ch < nch; ch++) t += ws[(size_t)ch * nw + i];
        dw[i] += t;
    }
}
static GpuPrims DP; /* CP with the direct convolutions */

/* ================================ helpers ============================================== */
static float *frand(size_t n, uint64_t key, float scale) {
    float *p = (float *)malloc((n + 1) * sizeof(float));
    gc_fill(p, n, key, scale);
    return p;
}
static float *fdup(const float *a, size_t n) {
    float *p = (float *)malloc((n + 1) * sizeof(float));
    memcpy(p, a, n * sizeof(float));
    return p;
}
static void near(const char *what, const float *a, const float *b, size_t n, double tol) {
    double err = gc_rel_err(a, b, n, 1e-6);
    CHECK(err <= tol, "%s: rel err %.3g > %.3g", what, err, tol);
}

/* ================================ 1. arithmetic ======================================== */
static void test_arith(void) {
    /* binding: consecutive local ranks share a GPU, wrap around */
    CHECK(dl_gpu_index(0, 1, 4) == 0 && dl_gpu_index(3, 1, 4) == 3 && dl_gpu_index(5, 1, 4) == 1, "one rank per GPU");
    CHECK(dl_gpu_index(0, 2, 4) == 0 && dl_gpu_index(1, 2, 4) == 0 && dl_gpu_index(2, 2, 4) == 1 &&
          dl_gpu_index(7, 2, 4) == 3 && dl_gpu_index(8, 2, 4) == 0, "two ranks per GPU");
    CHECK(dl_gpu_index(5, 4, 1) == 0 && dl_gpu_index(3, 0, 2) == 1 && dl_gpu_index(0, 1, 0) == -1, "edge cases");
    /* grids cover n and stay in range */
    const size_t ns[] = {0, 1, 255, 256, 257, 65536 * 256, (size_t)65536 * 256 + 1, (size_t)1 << 40};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        unsigned g = dl_gpu_grid(ns[i]);
        CHECK(g >= 1 && g <= DL_GPU_GRID_CAP, "grid %u for n=%zu", g, ns[i]);
        CHECK(ns[i] == 0 || (size_t)g * DL_GPU_BLOCK >= ns[i] || g == DL_GPU_GRID_CAP, "grid covers n=%zu", ns[i]);
    }
    /* column-sum chunks partition the rows */
    const int rows[] = {1, 7, 4096, 4097, 180224};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int nch = dl_colsum_chunks(rows[i]), next = 0;
        for (int ch = 0; ch < nch; ch++) {
            int r0, r1;
            dl_colsum_chunk_rows(ch, rows[i], &r0, &r1);
            CHECK(r0 == next && r1 > r0 && r1 - r0 <= DL_CHUNK_ROWS, "chunk %d of %d rows", ch, rows[i]);
            next = r1;
        }
        CHECK(next == rows[i], "chunks cover %d rows", rows[i]);
        CHECK(dl_colsum_scratch_floats(rows[i], 5) >= 2 * (size_t)nch * 5, "colsum scratch");
    }
    /* padding maps are inverse on the interior, -1 on pad rows */
    for (int pt = 0; pt <= 3; pt++)
        for (int pb = 0; pb <= 2; pb++) {
            const int B = 2, H = 5, W = 3, Hp = H + pt + pb;
            int ok = 1, zeros = 0;
            for (size_t rp = 0; rp < (size_t)B * Hp * W; rp++) {
                long s = dl_pad_src_row(rp, H, W, pt, pb);
                if (s < 0) zeros++;
                else ok &= dl_pad_dst_row((size_t)s, H, W, pt, pb) == rp;
            }
            CHECK(ok && zeros == B * (pt + pb) * W, "pad maps pt=%d pb=%d", pt, pb);
        }
    CHECK(dl_hprev_src_row(0, 4) == -1 && dl_hprev_src_row(5, 4) == 4 && dl_hprev_src_row(8, 4) == -1, "hprev rows");
    /* algorithm choice: first deterministic, non-TF32, fitting, successful one */
    GpuAlgoCand c[] = {{5, 1, 0, 0, 0}, {6, 1, 1, 1, 0}, {1, 0, 1, 0, 0}, {4, 1, 1, 0, 1000}, {2, 1, 1, 0, 10}};
    CHECK(dl_gpu_pick_algo(c, 5, 1 << 20) == 3, "pick 4 (fastest qualifying)");
    CHECK(dl_gpu_pick_algo(c, 5, 100) == 4, "pick 2 within a 100-byte budget");
    CHECK(dl_gpu_pick_algo(c, 5, 5) == -1, "none within 5 bytes");
    CHECK(dl_gpu_pick_algo(c, 3, 1 << 20) == -1, "none deterministic");
    /* scratch layouts: disjoint, 64-float aligned */
    ConvDims cd = {.B = 4, .H = 30, .W = 1, .Cin = 64, .Cout = 64, .kh = 3, .kw = 1, .stride_h = 1, .stride_w = 1,
                   .dil_h = 4, .pad_top = 8, .pad_bottom = 0, .in_ld = 256, .out_ld = 70};
    GpuConvPlan p;
    dl_gpu_conv_plan(cd, 0, &p);
    CHECK(p.staged_in && p.staged_out && p.h == 38 && p.oh == 30 && p.ow == 1, "causal plan");
    CHECK(p.off_ypack >= p.off_xpad + p.n_xpad && p.off_colsum >= p.off_ypack + p.n_ypack &&
          p.off_ws >= p.off_colsum + p.n_colsum && p.off_ypack % 64 == 0 && p.off_colsum % 64 == 0 && p.off_ws % 64 == 0,
          "conv scratch parts disjoint and aligned");
    CHECK(dl_gpu_conv_scratch_floats(&p, 1000) >= p.off_ws + 1000, "workspace fits");
    LSTMDims ld = {.B = 3, .T = 5, .In = 7, .H = 4, .x_ld = 7};
    GpuLstmScratch ls = dl_gpu_lstm_scratch(ld);
    CHECK(ls.off_hprev >= 3 * 5 * 16 && ls.off_dh >= ls.off_hprev + 3 * 5 * 4 && ls.off_dc >= ls.off_dh + 12 &&
          ls.off_colsum >= ls.off_dc + 12 && ls.total >= ls.off_colsum + dl_colsum_scratch_floats(15, 16) &&
          ls.off_colsum % 64 == 0, "lstm scratch parts disjoint and aligned");
}

/* ================================ 2. max-pool maps: same bits ========================== */
static void test_pool(void) {
    const int Hs[] = {1, 2, 3, 7};
    for (size_t hi = 0; hi < sizeof Hs / sizeof Hs[0]; hi++)
        for (int acc = 0; acc <= 1; acc++) {
            PoolDims d = {.B = 3, .H = Hs[hi], .W = 2, .C = 5, .x_ld = 7, .y_ld = 6, .accumulate_dx = acc};
            size_t nx = (size_t)d.B * d.H * d.W * d.x_ld, ny = (size_t)d.B * d.H * d.W * d.y_ld;
            float *x = frand(nx, 1 + hi, 1.0f), *dy = frand(ny, 9, 1.0f);
            for (size_t i = 0; i < nx; i += 5) x[i] = x[i + 1 < nx ? i + 1 : i]; /* ties */
            if (nx > 20) x[17] = NAN;
            float *y1 = frand(ny, 3, 1.0f), *y2 = fdup(y1, ny), *dx1 = frand(nx, 4, 1.0f), *dx2 = fdup(dx1, nx);
            maxpool3_forward_cpu(y1, x, d);
            maxpool3_backward_cpu(dx1, dy, x, d);
            const size_t n = (size_t)d.B * d.H * d.W * d.C;
            for (size_t i = 0; i < n; i++) {
                size_t r;
                int c;
                dl_rc(i, d.C, &r, &c);
                y2[r * d.y_ld + c] = dl_pool3_fwd_elem(x, i, d);
            }
            for (size_t i = 0; i < n; i++) {
                size_t r;
                int c;
                dl_rc(i, d.C, &r, &c);
                float *o = dx2 + r * d.x_ld + c;
                *o = dl_pool3_bwd_elem(acc ? *o : 0.0f, dy, x, i, d);
            }
            CHECK(!memcmp(y1, y2, ny * sizeof(float)), "pool forward bits H=%d", d.H);
            CHECK(!memcmp(dx1, dx2, nx * sizeof(float)), "pool backward bits H=%d acc=%d", d.H, acc);
            free(x); free(dy); free(y1); free(y2); free(dx1); free(dx2);
        }
}

/* ================================ 3. sequences vs the CPU ops ========================== */
static void conv_case_with(const GpuPrims *P, const char *name, ConvDims d) {
    if (!d.in_ld) d.in_ld = d.Cin;
    if (!d.out_ld) d.out_ld = d.Cout;
    const int Ho = conv_out_h(d), Wo = conv_out_w(d);
    const size_t nin = (size_t)d.B * d.H * d.W * d.in_ld, nout = (size_t)d.B * Ho * Wo * d.out_ld;
    const size_t nw = (size_t)d.Cout * d.kh * d.kw * d.Cin;
    float *in = frand(nin, 21, 1.0f), *w = frand(nw, 22, 0.3f), *b = frand(d.Cout, 23, 0.3f), *dout = frand(nout, 24, 1.0f);
    float *o1 = frand(nout, 25, 1.0f), *o2 = fdup(o1, nout);
    float *din1 = frand(nin, 26, 1.0f), *din2 = fdup(din1, nin), *dw1 = frand(nw, 27, 1.0f), *dw2 = fdup(dw1, nw);
    float *db1 = frand(d.Cout, 28, 1.0f), *db2 = fdup(db1, d.Cout);
    float *s1 = (float *)calloc(conv2d_scratch_floats_cpu(d, 8) + 16, sizeof(float));
    GpuConvPlan p;
    dl_gpu_conv_plan(d, 0, &p);
    const size_t nws = dl_dconv_filter_scratch_floats(dl_gpu_conv_packed_dims(d)); /* the direct kernels' */
    size_t ns2 = dl_gpu_conv_scratch_floats(&p, nws);
    float *s2 = (float *)malloc((ns2 + 1) * sizeof(float)); /* exact: ASan builds catch an overrun */
    for (size_t i = 0; i < ns2 + 1; i++) s2[i] = NAN; /* reading what was not written shows */
    conv2d_forward_cpu(o1, in, w, b, d, s1);
    gpu_conv2d_forward(P, o2, in, w, b, d, s2, nws);
    /* only the Cout columns of each out row are outputs; others keep their values */
    near(name, o2, o1, nout, 1e-5);
    conv2d_backward_cpu(din1, dw1, db1, dout, in, w, d, s1);
    gpu_conv2d_backward(P, din2, dw2, db2, dout, in, w, d, s2, nws);
    char lab[160];
    snprintf(lab, sizeof lab, "%s din", name);
    near(lab, din2, din1, nin, 1e-5);
    snprintf(lab, sizeof lab, "%s dw", name);
    near(lab, dw2, dw1, nw, 1e-5);
    snprintf(lab, sizeof lab, "%s db", name);
    near(lab, db2, db1, d.Cout, 1e-5);
    /* no input gradient wanted */
    gpu_conv2d_backward(P, NULL, dw2, NULL, dout, in, w, d, s2, nws);
    free(in); free(w); free(b); free(dout); free(o1); free(o2); free(din1); free(din2); free(dw1); free(dw2);
    free(db1); free(db2); free(s1); free(s2);
}

static void conv_case(const char *name, ConvDims d) {
    conv_case_with(&CP, name, d);
    char n2[160];
    snprintf(n2, sizeof n2, "%s [direct]", name);
    conv_case_with(&DP, n2, d);
}

static void test_conv(void) {
    ConvDims c;
#define CV(B_, H_, W_, Ci, Co, KH, KW, SW, DIL, PT, PB, ILD, OLD, ACC) \
    (c = (ConvDims){.B = (B_), .H = (H_), .W = (W_), .Cin = (Ci), .Cout = (Co), .kh = (KH), .kw = (KW), .stride_h = 1, \
                    .stride_w = (SW), .dil_h = (DIL), .pad_top = (PT), .pad_bottom = (PB), .in_ld = (ILD), .out_ld = (OLD), \
                    .accumulate_din = (ACC)})
    conv_case("conv1a (1x2 s2, Cin 1)", CV(2, 14, 40, 1, 32, 1, 2, 2, 1, 0, 0, 0, 0, 0));
    conv_case("conv1b (4x1)", CV(2, 14, 20, 32, 32, 4, 1, 1, 1, 0, 0, 0, 0, 0));
    conv_case("conv3a (1x10)", CV(2, 6, 10, 32, 32, 1, 10, 1, 1, 0, 0, 0, 0, 0));
    conv_case("inception 3x1 pad 1/1", CV(2, 6, 1, 64, 64, 3, 1, 1, 1, 1, 1, 0, 0, 0));
    conv_case("inception 5x1 pad 2/2", CV(2, 6, 1, 64, 64, 5, 1, 1, 1, 2, 2, 0, 0, 0));
    conv_case("inception 1x1 acc", CV(2, 6, 1, 32, 64, 1, 1, 1, 1, 0, 0, 0, 0, 1));
    conv_case("tcn causal d4 from concat", CV(2, 9, 1, 256, 64, 3, 1, 1, 4, 8, 0, 0, 0, 1));
    conv_case("tcn causal d1", CV(3, 7, 1, 64, 64, 3, 1, 1, 1, 2, 0, 0, 0, 0));
    conv_case("odd: wide rows in/out, pad 2/1", CV(3, 5, 3, 5, 7, 2, 2, 1, 2, 2, 1, 9, 11, 1));
    conv_case("odd: stride 3, wide in", CV(2, 4, 11, 3, 5, 1, 3, 3, 1, 0, 0, 4, 0, 0));
    conv_case("odd: > DL_CHUNK_ROWS output rows", CV(2, 41, 62, 2, 3, 2, 3, 1, 1, 1, 0, 0, 0, 1));
#undef CV
}

static void test_linear(void) {
    const int cases[][6] = {{5, 64, 64, 64, 64, 0}, {5, 64, 1, 64, 1, 0}, {7, 9, 3, 13, 5, 1}, {1, 4, 2, 4, 2, 0},
                            {9, 128, 16, 128, 16, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        LinearDims d = {.N = cases[k][0], .I = cases[k][1], .O = cases[k][2], .x_ld = cases[k][3], .y_ld = cases[k][4],
                        .accumulate_dx = cases[k][5]};
        size_t nx = (size_t)d.N * d.x_ld, ny = (size_t)d.N * d.y_ld, nw = (size_t)d.O * d.I;
        float *x = frand(nx, 31, 1.0f), *w = frand(nw, 32, 0.3f), *b = frand(d.O, 33, 0.3f), *dy = frand(ny, 34, 1.0f);
        float *y1 = frand(ny, 35, 1.0f), *y2 = fdup(y1, ny), *dx1 = frand(nx, 36, 1.0f), *dx2 = fdup(dx1, nx);
        float *dw1 = frand(nw, 37, 1.0f), *dw2 = fdup(dw1, nw), *db1 = frand(d.O, 38, 1.0f), *db2 = fdup(db1, d.O);
        float *s1 = (float *)calloc(linear_scratch_floats_cpu(d, 8) + 16, sizeof(float));
        float *s2 = (float *)calloc(gpu_linear_scratch_floats(d), sizeof(float));
        linear_forward_cpu(y1, x, w, b, d, s1);
        gpu_linear_forward(&CP, y2, x, w, b, d);
        near("linear y", y2, y1, ny, 1e-5);
        linear_backward_cpu(dx1, dw1, db1, dy, x, w, d, s1);
        gpu_linear_backward(&CP, dx2, dw2, db2, dy, x, w, d, s2);
        near("linear dx", dx2, dx1, nx, 1e-5);
        near("linear dw", dw2, dw1, nw, 1e-5);
        near("linear db", db2, db1, d.O, 1e-5);
        free(x); free(w); free(b); free(dy); free(y1); free(y2); free(dx1); free(dx2); free(dw1); free(dw2);
        free(db1); free(db2); free(s1); free(s2);
    }
}

static void test_lstm(void) {
    const int cases[][6] = {/* B, T, In, H, x_ld, every_step */ {3, 5, 7, 4, 9, 0}, {3, 5, 7, 4, 7, 1},
                            {4, 12, 256, 64, 256, 0}, {2, 9, 16, 128, 16, 1}, {1, 1, 3, 2, 3, 0}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int acc = 0; acc <= 1; acc++) {
            LSTMDims d = {.B = cases[k][0], .T = cases[k][1], .In = cases[k][2], .H = cases[k][3], .x_ld = cases[k][4],
                          .accumulate_dx = acc, .dh_every_step = cases[k][5]};
            const int G = 4 * d.H;
            size_t nx = (size_t)d.B * d.T * d.x_ld, nc = lstm_cache_floats_cpu(d);
            size_t ndh = d.dh_every_step ? (size_t)d.B * d.T * d.H : (size_t)d.B * d.H;
            float *x = frand(nx, 41, 1.0f), *wi = frand((size_t)G * d.In, 42, 0.3f), *wh = frand((size_t)G * d.H, 43, 0.3f);
            float *bi = frand(G, 44, 0.3f), *bh = frand(G, 45, 0.3f), *dh = frand(ndh, 46, 1.0f);
            float *h1 = frand((size_t)d.B * d.H, 47, 1), *h2 = fdup(h1, (size_t)d.B * d.H);
            float *c1 = frand(nc, 48, 1), *c2 = fdup(c1, nc);
            float *dx1 = frand(nx, 49, 1), *dx2 = fdup(dx1, nx);
            float *dwi1 = frand((size_t)G * d.In, 50, 1), *dwi2 = fdup(dwi1, (size_t)G * d.In);
            float *dwh1 = frand((size_t)G * d.H, 51, 1), *dwh2 = fdup(dwh1, (size_t)G * d.H);
            float *dbi1 = frand(G, 52, 1), *dbi2 = fdup(dbi1, G), *dbh1 = frand(G, 53, 1), *dbh2 = fdup(dbh1, G);
            float *s1 = (float *)calloc(lstm_scratch_floats_cpu(d, 8) + 16, sizeof(float));
            float *s2 = (float *)malloc(dl_gpu_lstm_scratch(d).total * sizeof(float));
            for (size_t i = 0; i < dl_gpu_lstm_scratch(d).total; i++) s2[i] = NAN;
            lstm_forward_cpu(h1, c1, x, wi, wh, bi, bh, d, s1);
            gpu_lstm_forward(&CP, h2, c2, x, wi, wh, bi, bh, d);
            near("lstm h_last", h2, h1, (size_t)d.B * d.H, 1e-5);
            near("lstm cache", c2, c1, nc, 1e-5);
            lstm_backward_cpu(dx1, dwi1, dwh1, dbi1, dbh1, dh, c1, x, wi, wh, d, s1);
            gpu_lstm_backward(&CP, dx2, dwi2, dwh2, dbi2, dbh2, dh, c1, x, wi, wh, d, s2);
            near("lstm dx", dx2, dx1, nx, 1e-5);
            near("lstm dw_ih", dwi2, dwi1, (size_t)G * d.In, 1e-5);
            near("lstm dw_hh", dwh2, dwh1, (size_t)G * d.H, 1e-5);
            near("lstm db_ih", dbi2, dbi1, G, 1e-5);
            near("lstm db_hh", dbh2, dbh1, G, 1e-5);
            float *p[] = {x, wi, wh, bi, bh, dh, h1, h2, c1, c2, dx1, dx2, dwi1, dwi2, dwh1, dwh2, dbi1, dbi2, dbh1, dbh2, s1, s2};
            for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
        }
}

static void test_attn(void) {
    const int cases[][8] = {/* B, Lq, Lk, D, q_ld, k_ld, v_ld, o_ld */ {2, 3, 4, 5, 5, 5, 5, 5}, {3, 4, 4, 8, 24, 24, 24, 8},
                            {2, 88, 88, 16, 48, 48, 48, 16}, {1, 1, 2, 3, 7, 4, 5, 6}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int acc = 0; acc <= 1; acc++) {
            AttnDims d = {.B = cases[k][0], .Lq = cases[k][1], .Lk = cases[k][2], .D = cases[k][3], .q_ld = cases[k][4],
                          .k_ld = cases[k][5], .v_ld = cases[k][6], .o_ld = cases[k][7], .scale = 0.25f,
                          .accumulate_din = acc};
            size_t nq = (size_t)d.B * d.Lq * d.q_ld, nk = (size_t)d.B * d.Lk * d.k_ld, nv = (size_t)d.B * d.Lk * d.v_ld;
            size_t no = (size_t)d.B * d.Lq * d.o_ld, ns = (size_t)d.B * d.Lq * d.Lk;
            float *Q = frand(nq, 61, 1), *K = frand(nk, 62, 1), *V = frand(nv, 63, 1), *P = frand(ns, 64, 1);
            float *dS = frand(ns, 65, 1), *dO = frand(no, 66, 1);
            float *S1 = frand(ns, 67, 1), *S2 = fdup(S1, ns), *O1 = frand(no, 68, 1), *O2 = fdup(O1, no);
            float *dQ1 = frand(nq, 69, 1), *dQ2 = fdup(dQ1, nq), *dK1 = frand(nk, 70, 1), *dK2 = fdup(dK1, nk);
            float *dP1 = frand(ns, 71, 1), *dP2 = fdup(dP1, ns), *dV1 = frand(nv, 72, 1), *dV2 = fdup(dV1, nv);
            float *sc = (float *)calloc(attn_scratch_floats_cpu(d, 8) + 16, sizeof(float));
            attn_scores_forward_cpu(S1, Q, K, d, sc);
            gpu_attn_scores_forward(&CP, S2, Q, K, d);
            near("attn S", S2, S1, ns, 1e-5);
            attn_scores_backward_cpu(dQ1, dK1, dS, Q, K, d, sc);
            gpu_attn_scores_backward(&CP, dQ2, dK2, dS, Q, K, d);
            near("attn dQ", dQ2, dQ1, nq, 1e-5);
            near("attn dK", dK2, dK1, nk, 1e-5);
            attn_apply_forward_cpu(O1, P, V, d, sc);
            gpu_attn_apply_forward(&CP, O2, P, V, d);
            near("attn O", O2, O1, no, 1e-5);
            attn_apply_backward_cpu(dP1, dV1, dO, P, V, d, sc);
            gpu_attn_apply_backward(&CP, dP2, dV2, dO, P, V, d);
            near("attn dP", dP2, dP1, ns, 1e-5);
            near("attn dV", dV2, dV1, nv, 1e-5);
            float *p[] = {Q, K, V, P, dS, dO, S1, S2, O1, O2, dQ1, dQ2, dK1, dK2, dP1, dP2, dV1, dV2, sc};
            for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
        }
}

/* ================================ 4. models on the emulated GPU backend ================ */
static size_t e_conv_scratch(ConvDims d, int nt) {
    (void)nt;
    GpuConvPlan p;
    dl_gpu_conv_plan(d, 0, &p);
    return dl_gpu_conv_scratch_floats(&p, 0);
}
static void e_conv_f(float *o, const float *i, const float *w, const float *b, ConvDims d, float *s) {
    gpu_conv2d_forward(&CP, o, i, w, b, d, s, 0);
}
static void e_conv_b(float *di, float *dw, float *db, const float *dout, const float *in, const float *w, ConvDims d,
                     float *s) {
    gpu_conv2d_backward(&CP, di, dw, db, dout, in, w, d, s, 0);
}
static void e_pool_f(float *y, const float *x, PoolDims d) {
    for (size_t i = 0; i < (size_t)d.B * d.H * d.W * d.C; i++) {
        size_t r;
        int c;
        dl_rc(i, d.C, &r, &c);
        y[r * d.y_ld + c] = dl_pool3_fwd_elem(x, i, d);
    }
}
static void e_pool_b(float *dx, const float *dy, const float *x, PoolDims d) {
    for (size_t i = 0; i < (size_t)d.B * d.H * d.W * d.C; i++) {
        size_t r;
        int c;
        dl_rc(i, d.C, &r, &c);
        float *o = dx + r * d.x_ld + c;
        *o = dl_pool3_bwd_elem(d.accumulate_dx ? *o : 0.0f, dy, x, i, d);
    }
}
static size_t e_lstm_cache(LSTMDims d) { return (size_t)d.B * d.T * 6 * d.H; }
static size_t e_lstm_scratch(LSTMDims d, int nt) {
    (void)nt;
    return dl_gpu_lstm_scratch(d).total;
}
static void e_lstm_f(float *h, float *c, const float *x, const float *wi, const float *wh, const float *bi, const float *bh,
                     LSTMDims d, float *s) {
    (void)s;
    gpu_lstm_forward(&CP, h, c, x, wi, wh, bi, bh, d);
}
static void e_lstm_b(float *dx, float *a, float *b, float *c, float *e, const float *dh, const float *ca, const float *x,
                     const float *wi, const float *wh, LSTMDims d, float *s) {
    gpu_lstm_backward(&CP, dx, a, b, c, e, dh, ca, x, wi, wh, d, s);
}
static size_t e_lin_scratch(LinearDims d, int nt) {
    (void)nt;
    return gpu_linear_scratch_floats(d);
}
static void e_lin_f(float *y, const float *x, const float *w, const float *b, LinearDims d, float *s) {
    (void)s;
    gpu_linear_forward(&CP, y, x, w, b, d);
}
static void e_lin_b(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, LinearDims d,
                    float *s) {
    gpu_linear_backward(&CP, dx, dw, db, dy, x, w, d, s);
}
static size_t e_attn_scratch(AttnDims d, int nt) {
    (void)d;
    (void)nt;
    return 0;
}
static void e_as_f(float *S, const float *Q, const float *K, AttnDims d, float *s) {
    (void)s;
    gpu_attn_scores_forward(&CP, S, Q, K, d);
}
static void e_as_b(float *dQ, float *dK, const float *dS, const float *Q, const float *K, AttnDims d, float *s) {
    (void)s;
    gpu_attn_scores_backward(&CP, dQ, dK, dS, Q, K, d);
}
static void e_aa_f(float *O, const float *P, const float *V, AttnDims d, float *s) {
    (void)s;
    gpu_attn_apply_forward(&CP, O, P, V, d);
}
static void e_aa_b(float *dP, float *dV, const float *dO, const float *P, const float *V, AttnDims d, float *s) {
    (void)s;
    gpu_attn_apply_backward(&CP, dP, dV, dO, P, V, d);
}

/* ================================ 5. sharded BatchNorm in the kernels' order =========== */
/* the chunks' partials in chunk order from 0.0 (shard_chunks_kernel); shift: forward */
static void e_bn_chunks(double *sums, const double *part, const float *shift, int nch, int C) {
    for (int c = 0; c < C; c++) {
        double u = 0.0, v = 0.0;
        for (int ch = 0; ch < nch; ch++) {
            u += part[(size_t)ch * 2 * C + c];
            v += part[(size_t)ch * 2 * C + C + c];
        }
        double *o = sums;
        if (shift) {
            sums[c] = (double)shift[c];
            o = sums + C;
        }
        o[c] = u;
        o[C + c] = v;
    }
}
/* a chunk's TY lanes added in lane order (the partial kernels' thread y == 0) */
static double e_lanes(const double *lane) {
    double s = lane[0];
    for (int k = 1; k < DL_COLSUM_TY; k++) s += lane[k];
    return s;
}
static void e_bn_shard_sums(double *sums, const float *x, BNDims d, float *scratch) {
    const int C = d.C, nch = dl_colsum_chunks(d.rows);
    double *part = (double *)scratch;
    for (int ch = 0; ch < nch; ch++)
        for (int c = 0; c < C; c++) {
            int r0, r1;
            dl_colsum_chunk_rows(ch, d.rows, &r0, &r1);
            double S[DL_COLSUM_TY], Q[DL_COLSUM_TY];
            for (int ty = 0; ty < DL_COLSUM_TY; ty++) dl_bn_lane_stats(&S[ty], &Q[ty], x, d.x_ld, c, r0, r1, ty);
            part[(size_t)ch * 2 * C + c] = e_lanes(S);
            part[(size_t)ch * 2 * C + C + c] = e_lanes(Q);
        }
    e_bn_chunks(sums, part, x, nch, C);
}
static void e_bn_shard_bwd_sums(double *sums, const float *dy, const float *x, const float *gamma, const float *beta,
                                const float *mean, const float *rstd, BNDims d, float *scratch) {
    const int C = d.C, nch = dl_colsum_chunks(d.rows);
    double *part = (double *)scratch;
    for (int ch = 0; ch < nch; ch++)
        for (int c = 0; c < C; c++) {
            int r0, r1;
            dl_colsum_chunk_rows(ch, d.rows, &r0, &r1);
            double A[DL_COLSUM_TY], Bs[DL_COLSUM_TY];
            for (int ty = 0; ty < DL_COLSUM_TY; ty++)
                dl_bn_lane_bwd(&A[ty], &Bs[ty], dy, d.y_ld, x, d.x_ld, c, r0, r1, ty, mean[c], gamma[c] * rstd[c],
                               beta ? beta[c] : 0.0f, d.slope);
            part[(size_t)ch * 2 * C + c] = e_lanes(A);
            part[(size_t)ch * 2 * C + C + c] = e_lanes(Bs);
        }
    e_bn_chunks(sums, part, NULL, nch, C);
}
/* the element kernels: one output element per index */
static void e_bn_apply(float *y, const float *x, const float *mean, const float *rstd, const float *gamma,
                       const float *beta, BNDims d, float *scratch) {
    (void)scratch;
    for (size_t i = 0; i < (size_t)d.rows * d.C; i++) {
        size_t r;
        int c;
        dl_rc(i, d.C, &r, &c);
        y[r * d.y_ld + c] = dl_bn_fwd_elem(x[r * d.x_ld + c], mean[c], gamma[c] * rstd[c], beta[c], d.slope);
    }
}
static void e_bn_bwd_apply(float *dx, const float *dy, const float *x, const float *gamma, const float *beta,
                           const float *mean, const float *rstd, const float *kgw, BNDims d, float *scratch) {
    (void)scratch;
    for (size_t i = 0; i < (size_t)d.rows * d.C; i++) {
        size_t r;
        int c;
        dl_rc(i, d.C, &r, &c);
        const size_t ix = r * d.x_ld + c;
        const float dz = dl_bn_dz_x(dy[r * d.y_ld + c], x[ix], mean[c], gamma[c] * rstd[c], beta ? beta[c] : 0.0f,
                                    d.slope);
        const float g = dl_bn_bwd_elem(dz, x[ix], mean[c], kgw[c], kgw[d.C + c], kgw[2 * d.C + c]);
        dx[ix] = d.accumulate_dx ? dx[ix] + g : g;
    }
}

static double d_rel_err(const double *a, const double *b, size_t n) {
    double md = 0, mb = 1e-300;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs(a[i] - b[i]));
        mb = fmax(mb, fabs(b[i]));
    }
    return md / mb;
}

/* K shards of `rows` rows: sums per shard (emulated vs the CPU op), the combine, the
 * applies; both against one batchnorm_forward/backward_cpu over all K*rows rows */
static void bn_shard_case(int K, int rows, int C, int x_ld, int y_ld, float slope, int acc) {
    const int N = K * rows;
    const BNDims dall = {.rows = N, .C = C, .x_ld = x_ld, .y_ld = y_ld, .eps = 1e-5f, .momentum = 0.1f, .slope = slope,
                         .accumulate_dx = acc};
    BNDims ds = dall;
    ds.rows = rows;
    const size_t nx = (size_t)N * x_ld, ny = (size_t)N * y_ld, blk = 3 * (size_t)C + 5; /* a wider slot, as bn_cmax */
    float *x = frand(nx, 81, 1.0f), *dy = frand(ny, 82, 1.0f), *g = frand(C, 83, 0.5f), *be = frand(C, 84, 0.5f);
    for (size_t i = 0; i < nx; i++) x[i] += 3.0f;                         /* |mean| > std: the shift matters */
    for (int c = 0; c < C; c++) g[c] += 1.0f;
    float *rm0 = frand(C, 85, 0.1f), *rv0 = frand(C, 86, 0.1f);
    for (int c = 0; c < C; c++) rv0[c] = 1.0f + fabsf(rv0[c]);
    float *y0 = frand(ny, 87, 1.0f), *dx0 = frand(nx, 88, 1.0f), *dg0 = frand(C, 89, 1.0f), *db0 = frand(C, 90, 1.0f);
    float *mean0 = frand(C, 0, 0.0f), *rstd0 = frand(C, 0, 0.0f), *rm = fdup(rm0, C), *rv = fdup(rv0, C);
    float *sc = (float *)calloc(batchnorm_scratch_floats_cpu(dall) + 64, sizeof(float));
    /* the reference: one BatchNorm over every row */
    float *yr = fdup(y0, ny), *dxr = fdup(dx0, nx), *dgr = fdup(dg0, C), *dbr = fdup(db0, C);
    float *rmr = fdup(rm0, C), *rvr = fdup(rv0, C), *meanr = fdup(mean0, C), *rstdr = fdup(rstd0, C);
    batchnorm_forward_cpu(yr, meanr, rstdr, rmr, rvr, x, g, be, dall, 1, sc);
    batchnorm_backward_cpu(dxr, dgr, dbr, dy, yr, x, g, be, meanr, rstdr, dall, sc);
    const Backend *cpu = backend_cpu();
    for (int emu = 0; emu <= 1; emu++) {
        double *all = (double *)calloc((size_t)K * blk, sizeof(double)), *ref = (double *)calloc((size_t)K * blk, sizeof(double));
        float *y = fdup(y0, ny), *dx = fdup(dx0, nx), *dg = fdup(dg0, C), *db = fdup(db0, C), *kgw = frand(3 * C, 0, 0.0f);
        float *mean = fdup(mean0, C), *rstd = fdup(rstd0, C);
        memcpy(rm, rm0, C * sizeof(float));
        memcpy(rv, rv0, C * sizeof(float));
        for (int k = 0; k < K; k++) {
            const float *xs = x + (size_t)k * rows * x_ld;
            if (emu) e_bn_shard_sums(all + k * blk, xs, ds, sc);
            else batchnorm_shard_sums_cpu(all + k * blk, xs, ds, sc);
            batchnorm_shard_sums_cpu(ref + k * blk, xs, ds, sc);
            CHECK(d_rel_err(all + k * blk, ref + k * blk, 3 * (size_t)C) <= 1e-12, "shard sums K=%d rows=%d C=%d shard %d",
                  K, rows, C, k);
        }
        cpu->batchnorm_shard_combine(mean, rstd, rm, rv, all, K, blk, g, ds);
        if (emu) e_bn_apply(y, x, mean, rstd, g, be, dall, sc);
        else batchnorm_apply_cpu(y, x, mean, rstd, g, be, dall, sc);
        char lab[128];
        snprintf(lab, sizeof lab, "sharded BN%s K=%d rows=%d C=%d slope %g", emu ? " (kernels' order)" : "", K, rows, C,
                 (double)slope);
        near(lab, mean, meanr, C, 1e-6);
        near(lab, rstd, rstdr, C, 1e-5);
        near(lab, rm, rmr, C, 1e-6);
        near(lab, rv, rvr, C, 1e-5);
        near(lab, y, yr, ny, 1e-5);
        for (int k = 0; k < K; k++) {
            const size_t oy = (size_t)k * rows * y_ld, ox = (size_t)k * rows * x_ld;
            if (emu) e_bn_shard_bwd_sums(all + k * blk, dy + oy, x + ox, g, be, mean, rstd, ds, sc);
            else batchnorm_shard_bwd_sums_cpu(all + k * blk, dy + oy, x + ox, g, be, mean, rstd, ds, sc);
            batchnorm_shard_bwd_sums_cpu(ref + k * blk, dy + oy, x + ox, g, be, mean, rstd, ds, sc);
            CHECK(d_rel_err(all + k * blk, ref + k * blk, 2 * (size_t)C) <= 1e-12, "shard bwd sums K=%d rows=%d shard %d",
                  K, rows, k);
        }
        cpu->batchnorm_shard_bwd_combine(kgw, dg, db, all, K, blk, g, rstd, ds);
        if (emu) e_bn_bwd_apply(dx, dy, x, g, be, mean, rstd, kgw, dall, sc);
        else batchnorm_bwd_apply_cpu(dx, dy, x, g, be, mean, rstd, kgw, dall, sc);
        near(lab, dx, dxr, nx, 2e-5);
        near(lab, dg, dgr, C, 2e-5);
        near(lab, db, dbr, C, 2e-5);
        free(all); free(ref); free(y); free(dx); free(dg); free(db); free(kgw); free(mean); free(rstd);
    }
    float *p[] = {x, dy, g, be, rm0, rv0, y0, dx0, dg0, db0, mean0, rstd0, rm, rv, sc, yr, dxr, dgr, dbr, rmr, rvr, meanr, rstdr};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
}

static void test_bn_shard(void) {
    bn_shard_case(4, 7, 5, 9, 6, 0.01f, 0);
    bn_shard_case(3, 40, 64, 64, 64, 1.0f, 1);
    bn_shard_case(2, 1, 3, 3, 3, 0.01f, 1);                      /* one row per shard */
    bn_shard_case(2, DL_CHUNK_ROWS + 37, 33, 40, 35, 0.01f, 0);   /* several chunks, C not a multiple of 32 */
}

int main(void) {
    backend_cpu_set_threads(2);
    DP = CP;
    DP.conv_fwd = d_conv_fwd;
    DP.conv_bwd_data = d_conv_bwd_data;
    DP.conv_bwd_filter = d_conv_bwd_filter;
    test_arith();
    test_pool();
    test_conv();
    test_linear();
    test_lstm();
    test_attn();
    test_bn_shard();
    printf("test_gpu_seq: index arithmetic, pool maps, op sequences, sharded BatchNorm: %d failures so far\n",
           gc_failures);

    Backend emu = *backend_cpu();
    emu.name = "emulated-gpu";
    emu.conv2d_scratch_floats = e_conv_scratch;
    emu.conv2d_forward = e_conv_f;
    emu.conv2d_backward = e_conv_b;
    emu.maxpool3_forward = e_pool_f;
    emu.maxpool3_backward = e_pool_b;
    emu.lstm_cache_floats = e_lstm_cache;
    emu.lstm_scratch_floats = e_lstm_scratch;
    emu.lstm_forward = e_lstm_f;
    emu.lstm_backward = e_lstm_b;
    emu.linear_scratch_floats = e_lin_scratch;
    emu.linear_forward = e_lin_f;
    emu.linear_backward = e_lin_b;
    emu.attn_scratch_floats = e_attn_scratch;
    emu.attn_scores_forward = e_as_f;
    emu.attn_scores_backward = e_as_b;
    emu.attn_apply_forward = e_aa_f;
    emu.attn_apply_backward = e_aa_b;
    emu.rows_independent = 0; /* its GEMMs are OpenBLAS's, whose bits may depend on the rows, as cuBLAS's */
    emu.batchnorm_shard_sums = e_bn_shard_sums;   /* the combines are the CPU's: the same DL_HD code as the kernels' */
    emu.batchnorm_apply = e_bn_apply;
    emu.batchnorm_shard_bwd_sums = e_bn_shard_bwd_sums;
    emu.batchnorm_bwd_apply = e_bn_bwd_apply;
    const char *models[] = {"deeplob", "deeplob_tcn", "deeplob_hier", "mmf_lstm"};
    for (int k = 0; k < 4; k++) mc_compare(models[k], &emu, 0); /* determinism: a GPU question (test_cuda_backend) */
    for (int k = 0; k < 3; k++) dp_compare(models[k], &emu, 4, 2); /* data parallelism (the MMF LSTM is not sharded) */
    return gc_summary("test_gpu_seq");
}
