/* attention.c: CPU ops of the hierarchical model's cross-attention and gated
 * fusion: batched products S = scale*Q K^T and O = P V (with backward), softmax
 * over the key axis, the sigmoid gate y = sigmoid(g)*t, and a strided row copy
 * (concat on the last axis and its gradient).
 *
 * Determinism: the products run one sample per BLAS call (samples are
 * independent, no cross-sample sums), softmax rows and gate elements are
 * independent too, so OpenMP may split the work any way without changing a bit.
 * BLAS is single-threaded inside the OpenMP regions (backend_cpu.c).
 * Row and element arithmetic: attention_hd.h, shared with kernels/attention.cu. */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "../../common/util.h"
#include "attention_hd.h"
#include "layers_cpu.h"

/* below this many elements a parallel region does not pay */
#define ATT_PAR_MIN (1 << 15)

static void check_dims(AttnDims d, const char *op) {
    DL_CHECK(d.B >= 0 && d.Lq > 0 && d.Lk > 0 && d.D > 0, "%s: bad dims B=%d Lq=%d Lk=%d D=%d", op, d.B, d.Lq,
             d.Lk, d.D);
    DL_CHECK(d.q_ld >= d.D && d.k_ld >= d.D && d.v_ld >= d.D && d.o_ld >= d.D,
             "%s: row strides q_ld=%d k_ld=%d v_ld=%d o_ld=%d below D=%d", op, d.q_ld, d.k_ld, d.v_ld, d.o_ld, d.D);
}

/* S (B,Lq,Lk) = scale * Q (B,Lq,D; q_ld) K (B,Lk,D; k_ld)^T */
void attn_scores_forward_cpu(float *S, const float *Q, const float *K, AttnDims d) {
    check_dims(d, "attn_scores_forward");
    const size_t ss = (size_t)d.Lq * d.Lk;
#pragma omp parallel for schedule(static) if (d.B > 1)
    for (int b = 0; b < d.B; b++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d.Lq, d.Lk, d.D, d.scale, Q + (size_t)b * d.Lq * d.q_ld,
                    d.q_ld, K + (size_t)b * d.Lk * d.k_ld, d.k_ld, 0.0f, S + b * ss, d.Lk);
}

/* dQ (B,Lq,D; q_ld) (+)= scale * dS K; dK (B,Lk,D; k_ld) (+)= scale * dS^T Q;
 * dS (B,Lq,Lk); either output may be NULL */
void attn_scores_backward_cpu(float *dQ, float *dK, const float *dS, const float *Q, const float *K, AttnDims d) {
    check_dims(d, "attn_scores_backward");
    const size_t ss = (size_t)d.Lq * d.Lk;
    const float beta = d.accumulate_din ? 1.0f : 0.0f;
#pragma omp parallel for schedule(static) if (d.B > 1)
    for (int b = 0; b < d.B; b++) {
        const float *dSb = dS + b * ss, *Qb = Q + (size_t)b * d.Lq * d.q_ld, *Kb = K + (size_t)b * d.Lk * d.k_ld;
        if (dQ)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d.Lq, d.D, d.Lk, d.scale, dSb, d.Lk, Kb, d.k_ld,
                        beta, dQ + (size_t)b * d.Lq * d.q_ld, d.q_ld);
        if (dK)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d.Lk, d.D, d.Lq, d.scale, dSb, d.Lk, Qb, d.q_ld,
                        beta, dK + (size_t)b * d.Lk * d.k_ld, d.k_ld);
    }
}

/* O (B,Lq,D; o_ld) = P (B,Lq,Lk) V (B,Lk,D; v_ld) */
void attn_apply_forward_cpu(float *O, const float *P, const float *V, AttnDims d) {
    check_dims(d, "attn_apply_forward");
    const size_t ss = (size_t)d.Lq * d.Lk;
#pragma omp parallel for schedule(static) if (d.B > 1)
    for (int b = 0; b < d.B; b++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d.Lq, d.D, d.Lk, 1.0f, P + b * ss, d.Lk,
                    V + (size_t)b * d.Lk * d.v_ld, d.v_ld, 0.0f, O + (size_t)b * d.Lq * d.o_ld, d.o_ld);
}

/* dP (B,Lq,Lk) (+)= dO V^T; dV (B,Lk,D; v_ld) (+)= P^T dO; dO (B,Lq,D; o_ld);
 * either output may be NULL */
void attn_apply_backward_cpu(float *dP, float *dV, const float *dO, const float *P, const float *V, AttnDims d) {
    check_dims(d, "attn_apply_backward");
    const size_t ss = (size_t)d.Lq * d.Lk;
    const float beta = d.accumulate_din ? 1.0f : 0.0f;
#pragma omp parallel for schedule(static) if (d.B > 1)
    for (int b = 0; b < d.B; b++) {
        const float *dOb = dO + (size_t)b * d.Lq * d.o_ld, *Vb = V + (size_t)b * d.Lk * d.v_ld;
        if (dP)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d.Lq, d.Lk, d.D, 1.0f, dOb, d.o_ld, Vb, d.v_ld, beta,
                        dP + b * ss, d.Lk);
        if (dV)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d.Lk, d.D, d.Lq, 1.0f, P + b * ss, d.Lk, dOb,
                        d.o_ld, beta, dV + (size_t)b * d.Lk * d.v_ld, d.v_ld);
    }
}

/* P (rows, n) = softmax of each row of S (rows, n); P may be S */
void softmax_forward_cpu(float *P, const float *S, int rows, int n) {
    DL_CHECK(rows >= 0 && n > 0, "softmax_forward: bad dims rows=%d n=%d", rows, n);
#pragma omp parallel for schedule(static) if ((size_t)rows * n > ATT_PAR_MIN)
    for (int r = 0; r < rows; r++) dl_softmax_row(P + (size_t)r * n, S + (size_t)r * n, n);
}

/* dS (rows, n) = P * (dP - rowsum(dP*P)); dS may be dP */
void softmax_backward_cpu(float *dS, const float *dP, const float *P, int rows, int n) {
    DL_CHECK(rows >= 0 && n > 0, "softmax_backward: bad dims rows=%d n=%d", rows, n);
#pragma omp parallel for schedule(static) if ((size_t)rows * n > ATT_PAR_MIN)
    for (int r = 0; r < rows; r++)
        dl_softmax_bwd_row(dS + (size_t)r * n, dP + (size_t)r * n, P + (size_t)r * n, n);
}

/* y (n) = sigmoid(g (n)) * t (n) */
void gate_mul_forward_cpu(float *y, const float *g, const float *t, size_t n) {
#pragma omp parallel for simd schedule(static) if (n > ATT_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = dl_gate_fwd(g[i], t[i]);
}

/* dg (n) = dy*t*s*(1-s), dt (n) = dy*s, s = sigmoid(g); dg may be g, dt may be t */
void gate_mul_backward_cpu(float *dg, float *dt, const float *dy, const float *g, const float *t, size_t n) {
#pragma omp parallel for schedule(static) if (n > ATT_PAR_MIN)
    for (size_t i = 0; i < n; i++) dl_gate_bwd(dg + i, dt + i, dy[i], g[i], t[i]);
}

/* y (rows, C; ld_y) (+)= x (rows, C; ld_x); the two blocks must not overlap */
void copy_rows_cpu(float *y, const float *x, int rows, int C, int ld_y, int ld_x, int accumulate) {
    DL_CHECK(rows >= 0 && C > 0 && ld_y >= C && ld_x >= C, "copy_rows: bad dims rows=%d C=%d ld_y=%d ld_x=%d", rows,
             C, ld_y, ld_x);
#pragma omp parallel for schedule(static) if ((size_t)rows * C > ATT_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * ld_y;
        const float *xr = x + (size_t)r * ld_x;
        if (accumulate)
            for (int c = 0; c < C; c++) yr[c] += xr[c];
        else
            memcpy(yr, xr, sizeof(float) * C);
    }
}
