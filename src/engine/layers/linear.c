/* linear.c: y = x W^T + b on the CPU, over fixed chunks of DL_CHUNK_ROWS rows.
 *
 * The position-wise layers of the hierarchical model run on B*88 rows, so the
 * rows are split into chunks (OpenMP). Backward writes each chunk's dW/db into its
 * own partial and reduces them in chunk order, so the bits do not depend on the
 * thread count. With one chunk the products accumulate straight into dW.
 * Products: conv2d's register-blocked kernels (conv2d_kernels.h), W or W^T packed once
 * per call at the start of scratch; each element a fixed-order FMA chain, so the bits
 * do not depend on the CPU either. Builds without AVX2+FMA use OpenBLAS instead. */
#include <cblas.h>
#include <string.h>

#include "../../common/util.h"
#include "conv2d_kernels.h"
#include "layers_cpu.h"

static size_t pad16(size_t n) { return (n + 15) & ~(size_t)15; } /* keeps 64-byte alignment */

static size_t part_floats(LinearDims d) { return pad16((size_t)d.O * d.I + d.O); }

/* packed W (forward) or W^T (backward's dx) */
static size_t pack_floats(LinearDims d) {
    if (!CONVK_AVAILABLE) return 0;
    long a = convk_pack_floats(d.O, d.I), b = convk_pack_floats(d.I, d.O);
    return pad16((size_t)(a > b ? a : b));
}

size_t linear_scratch_floats_cpu(LinearDims d, int nthreads) {
    (void)nthreads; /* partials are per chunk, not per thread */
    int nch = CEIL_DIV(d.N, DL_CHUNK_ROWS);
    return pack_floats(d) + (nch > 1 ? (size_t)nch * part_floats(d) : 0);
}

/* y (N,O) row stride y_ld; x (N,I) row stride x_ld; w (O,I); b (O) or NULL;
 * scratch: linear_scratch_floats_cpu(d) */
void linear_forward_cpu(float *y, const float *x, const float *w, const float *b, LinearDims d, float *scratch) {
    const int nch = CEIL_DIV(d.N, DL_CHUNK_ROWS);
    if (CONVK_AVAILABLE) convk_pack(scratch, w, d.O, d.I, 0);
#pragma omp parallel for schedule(dynamic, 1) if (nch > 1)
    for (int ch = 0; ch < nch; ch++) {
        const size_t r0 = (size_t)ch * DL_CHUNK_ROWS;
        const int nr = d.N - (int)r0 < DL_CHUNK_ROWS ? d.N - (int)r0 : DL_CHUNK_ROWS;
        float *yc = y + r0 * d.y_ld;
        if (CONVK_AVAILABLE) {
            convk_gemm_nt(yc, d.y_ld, x + r0 * d.x_ld, d.x_ld, nr, d.I, scratch, d.O, b, 0);
            continue;
        }
        if (b)
            for (int r = 0; r < nr; r++) memcpy(yc + (size_t)r * d.y_ld, b, sizeof(float) * d.O);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, d.O, d.I, 1.0f, x + r0 * d.x_ld, d.x_ld, w, d.I,
                    b ? 1.0f : 0.0f, yc, d.y_ld);
    }
}

/* dcol (O) += column sums of dy (nr,O) row stride ld, in row order */
static void colsum_add(float *dcol, const float *dy, int nr, int O, int ld) {
    for (int r = 0; r < nr; r++) {
        const float *row = dy + (size_t)r * ld;
        for (int o = 0; o < O; o++) dcol[o] += row[o];
    }
}

/* dx (nr,I) (+)= dy (nr,O) @ w (O,I); wpt = convk_pack of w^T */
static void chunk_dx(float *dx, const float *dy, const float *w, const float *wpt, int nr, LinearDims d) {
    if (CONVK_AVAILABLE) {
        /* a large dx that is overwritten goes out with streaming stores: no read of the old
         * lines first (the MMF heads' 8 MB dL/dh: 6.6 -> 3.8-5.7 ms on Zen 3); same bits */
        const int stream = !d.accumulate_dx && convk_stream_ok(dx, d.x_ld, d.O) && (size_t)nr * d.I >= 65536;
        convk_gemm_nt(dx, d.x_ld, dy, d.y_ld, nr, d.O, wpt, d.I, NULL, stream ? CONVK_STREAM : d.accumulate_dx);
        if (stream) convk_fence();
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, d.I, d.O, 1.0f, dy, d.y_ld, w, d.I,
                    d.accumulate_dx ? 1.0f : 0.0f, dx, d.x_ld);
    }
}

/* g (O,I) += dy (nr,O)^T @ x (nr,I) */
static void chunk_dw(float *g, const float *dy, const float *x, int nr, LinearDims d) {
    if (CONVK_AVAILABLE)
        convk_gemm_tn(g, dy, d.y_ld, x, d.x_ld, nr, d.O, d.I, NULL);
    else
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d.O, d.I, nr, 1.0f, dy, d.y_ld, x, d.x_ld, 1.0f, g, d.I);
}

/* dx (N,I) row stride x_ld, (+)= per accumulate_dx, may be NULL; dw (O,I) +=;
 * db (O) += or NULL; dy (N,O) row stride y_ld; x (N,I) row stride x_ld; w (O,I) */
void linear_backward_cpu(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                         LinearDims d, float *scratch) {
    const int nch = CEIL_DIV(d.N, DL_CHUNK_ROWS);
    const size_t pf = part_floats(d), nw = (size_t)d.O * d.I;
    float *wpt = scratch, *parts = scratch + pack_floats(d);
    if (CONVK_AVAILABLE && dx) convk_pack(wpt, w, d.I, d.O, 1);
#pragma omp parallel if (nch > 1)
    {
#pragma omp for schedule(dynamic, 1)
        for (int ch = 0; ch < nch; ch++) {
            const size_t r0 = (size_t)ch * DL_CHUNK_ROWS;
            const int nr = d.N - (int)r0 < DL_CHUNK_ROWS ? d.N - (int)r0 : DL_CHUNK_ROWS;
            const float *dyc = dy + r0 * d.y_ld, *xc = x + r0 * d.x_ld;
            if (dx) chunk_dx(dx + r0 * d.x_ld, dyc, w, wpt, nr, d);
            if (nch == 1) { /* accumulate in place */
                chunk_dw(dw, dyc, xc, nr, d);
                if (db) colsum_add(db, dyc, nr, d.O, d.y_ld);
            } else {
                float *p = parts + (size_t)ch * pf;
                memset(p, 0, sizeof(float) * pf);
                chunk_dw(p, dyc, xc, nr, d);
                colsum_add(p + nw, dyc, nr, d.O, d.y_ld);
            }
        }
        if (nch > 1) {
            /* reduce in chunk order; each element is owned by one thread */
            const size_t n_all = nw + (db ? (size_t)d.O : 0);
#pragma omp for schedule(static)
            for (size_t e = 0; e < n_all; e++) {
                float s = parts[e];
                for (int ch = 1; ch < nch; ch++) s += parts[(size_t)ch * pf + e];
                if (e < nw) dw[e] += s;
                else db[e - nw] += s;
            }
        }
    }
}
