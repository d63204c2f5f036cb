/* linear.c: y = x W^T + b on the CPU, over fixed chunks of DL_CHUNK_ROWS rows.
 *
 * The position-wise layers of the hierarchical model run on B*88 rows, so the
 * rows are split into chunks (OpenMP, BLAS single-threaded inside). Backward
 * writes each chunk's dW/db into its own partial and reduces them in chunk
 * order, so the bits do not depend on the thread count. With one chunk the
 * GEMM accumulates straight into dW and no scratch is needed. */
#include <cblas.h>
#include <string.h>

#include "../../common/util.h"
#include "layers_cpu.h"

static size_t pad16(size_t n) { return (n + 15) & ~(size_t)15; } /* keeps 64-byte alignment */

static size_t part_floats(LinearDims d) { return pad16((size_t)d.O * d.I + d.O); }

size_t linear_scratch_floats_cpu(LinearDims d, int nthreads) {
    (void)nthreads; /* partials are per chunk, not per thread */
    int nch = CEIL_DIV(d.N, DL_CHUNK_ROWS);
    return nch > 1 ? (size_t)nch * part_floats(d) : 0;
}

/* y (N,O) row stride y_ld; x (N,I) row stride x_ld; w (O,I); b (O) or NULL */
void linear_forward_cpu(float *y, const float *x, const float *w, const float *b, LinearDims d) {
    const int nch = CEIL_DIV(d.N, DL_CHUNK_ROWS);
#pragma omp parallel for schedule(dynamic, 1) if (nch > 1)
    for (int ch = 0; ch < nch; ch++) {
        const size_t r0 = (size_t)ch * DL_CHUNK_ROWS;
        const int nr = d.N - (int)r0 < DL_CHUNK_ROWS ? d.N - (int)r0 : DL_CHUNK_ROWS;
        float *yc = y + r0 * d.y_ld;
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

/* dx (N,I) row stride x_ld, (+)= per accumulate_dx, may be NULL; dw (O,I) +=;
 * db (O) += or NULL; dy (N,O) row stride y_ld; x (N,I) row stride x_ld; w (O,I) */
void linear_backward_cpu(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                         LinearDims d, float *scratch) {
    const int nch = CEIL_DIV(d.N, DL_CHUNK_ROWS);
    const size_t pf = part_floats(d), nw = (size_t)d.O * d.I;
#pragma omp parallel if (nch > 1)
    {
#pragma omp for schedule(dynamic, 1)
        for (int ch = 0; ch < nch; ch++) {
            const size_t r0 = (size_t)ch * DL_CHUNK_ROWS;
            const int nr = d.N - (int)r0 < DL_CHUNK_ROWS ? d.N - (int)r0 : DL_CHUNK_ROWS;
            const float *dyc = dy + r0 * d.y_ld, *xc = x + r0 * d.x_ld;
            if (dx)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, d.I, d.O, 1.0f, dyc, d.y_ld, w, d.I,
                            d.accumulate_dx ? 1.0f : 0.0f, dx + r0 * d.x_ld, d.x_ld);
            if (nch == 1) { /* accumulate in place */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d.O, d.I, nr, 1.0f, dyc, d.y_ld, xc, d.x_ld,
                            1.0f, dw, d.I);
                if (db) colsum_add(db, dyc, nr, d.O, d.y_ld);
            } else {
                float *p = scratch + (size_t)ch * pf;
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d.O, d.I, nr, 1.0f, dyc, d.y_ld, xc, d.x_ld,
                            0.0f, p, d.I);
                memset(p + nw, 0, sizeof(float) * d.O);
                colsum_add(p + nw, dyc, nr, d.O, d.y_ld);
            }
        }
        if (nch > 1) {
            /* reduce in chunk order; each element is owned by one thread */
            const size_t n_all = nw + (db ? (size_t)d.O : 0);
#pragma omp for schedule(static)
            for (size_t e = 0; e < n_all; e++) {
                float s = scratch[e];
                for (int ch = 1; ch < nch; ch++) s += scratch[(size_t)ch * pf + e];
                if (e < nw) dw[e] += s;
                else db[e - nw] += s;
            }
        }
    }
}
