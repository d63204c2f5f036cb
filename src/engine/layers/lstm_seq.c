/* lstm_seq.c: backprop through time with a loss on EVERY step's hidden state (the MMF
 * LSTM's output at every step), for the cache lstm_forward_cpu fills. lstm.c's backward
 * takes dL/dh of the last step only; this is its sibling for dh (B,T,H), kept in its own
 * file while lstm.c's kernels are being replaced (fold in as a dh_seq argument later).
 * Same gate arithmetic (lstm_cell.h). The recurrence runs over the whole batch per step
 * (one GEMM per step); the weight gradients are single GEMMs over all B*T rows with BLAS
 * on one thread, so the bits do not depend on the thread count. */
#include <cblas.h>
#include <string.h>

#include "../../common/util.h"
#include "lstm_seq.h"
#include "lstm_cell.h"

size_t lstm_seq_scratch_floats(LSTMDims d) {
    const size_t rows = (size_t)d.B * d.T, H = (size_t)d.H;
    return rows * 4 * H + rows * H + 2 * (size_t)d.B * H; /* dg, h_{t-1}, dh, dc */
}

void lstm_backward_seq_cpu(float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh, const float *dh_seq,
                           const float *cache, const float *x, const float *w_ih, const float *w_hh, LSTMDims d,
                           float *scratch) {
    const int B = d.B, T = d.T, H = d.H, G = 4 * d.H, In = d.In;
    const size_t rows = (size_t)B * T;
    const float *act = cache, *cs = cache + lstm_cache_c(B, T, H), *hs = cache + lstm_cache_h(B, T, H);
    float *dg = scratch, *hp = dg + rows * G, *dh = hp + rows * H, *dc = dh + (size_t)B * H;
    memset(dh, 0, sizeof(float) * (size_t)B * H); /* dL/dh_t arriving from step t+1 */
    memset(dc, 0, sizeof(float) * (size_t)B * H);
    for (int t = T - 1; t >= 0; t--) {
#pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++) {
            const size_t r = (size_t)b * T + t;
            float *dhb = dh + (size_t)b * H, *dcb = dc + (size_t)b * H;
            const float *dsb = dh_seq + r * H;
            for (int j = 0; j < H; j++) {
                const float cp = t > 0 ? cs[(r - 1) * H + j] : 0.0f;
                dcb[j] = lstm_cell_backward_elem(dg + r * G, act + r * G, cs[r * H + j], cp, dhb[j] + dsb[j], dcb[j], j, H);
            }
        }
        /* dh_{t-1} (B,H) = dz_t (B,4H; row stride T*4H) W_hh (4H,H) */
        if (t > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, H, G, 1.0f, dg + (size_t)t * G, T * G, w_hh, H,
                        0.0f, dh, H);
    }
    for (int b = 0; b < B; b++) { /* h_{t-1} rows aligned with dz_t (zero at t = 0) */
        memset(hp + (size_t)b * T * H, 0, sizeof(float) * H);
        memcpy(hp + ((size_t)b * T + 1) * H, hs + (size_t)b * T * H, sizeof(float) * (size_t)(T - 1) * H);
    }
    const int N = (int)rows;
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, In, G, 1.0f, dg, G, w_ih, In,
                    d.accumulate_dx ? 1.0f : 0.0f, dx, d.x_ld);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, In, N, 1.0f, dg, G, x, d.x_ld, 1.0f, dw_ih, In);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, H, N, 1.0f, dg, G, hp, H, 1.0f, dw_hh, H);
    for (int k = 0; k < G; k++) {
        float s = 0.0f;
        for (size_t r = 0; r < rows; r++) s += dg[r * G + k];
        db_ih[k] += s;
        db_hh[k] += s;
    }
}

void lstm_step_cpu(float *h, float *c, float *gates, const float *x, const float *w_ih, const float *w_hh,
                   const float *b_ih, const float *b_hh, int In, int H, int first) {
    const int G = 4 * H;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, G, In, 1.0f, w_ih, In, x, 1, 0.0f, gates, 1);
    if (!first) cblas_sgemv(CblasRowMajor, CblasNoTrans, G, H, 1.0f, w_hh, H, h, 1, 1.0f, gates, 1);
    for (int j = 0; j < H; j++) lstm_cell_forward_elem(gates, c, h, b_ih, b_hh, first ? 0.0f : c[j], j, H);
}
