/* attention.c: CPU ops of the hierarchical model's cross-attention and gated
 * fusion: batched products S = scale*Q K^T and O = P V (with backward), softmax
 * over the key axis, the sigmoid gate y = sigmoid(g)*t, and a strided row copy
 * (concat on the last axis and its gradient).
 *
 * Determinism: the products run one sample at a time on conv2d's kernels (each
 * element a fixed-order FMA chain: the same bits on every CPU; OpenBLAS only in
 * builds without AVX2+FMA), samples are independent (no cross-sample sums),
 * softmax rows and gate elements are independent too, so OpenMP may split the
 * work any way without changing a bit. Scratch: one slot per thread.
 * Row and element arithmetic: attention_hd.h, shared with kernels/attention.cu. */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "../../common/util.h"
#include "attention_hd.h"
#include "conv2d_kernels.h"
#include "layers_cpu.h"

/* below this many elements a parallel region does not pay */
#define ATT_PAR_MIN (1 << 15)

static size_t pad16(size_t n) { return (n + 15) & ~(size_t)15; } /* keeps 64-byte alignment */

static void check_dims(AttnDims d, const char *op) {
    DL_CHECK(d.B >= 0 && d.Lq > 0 && d.Lk > 0 && d.D > 0, "%s: bad dims B=%d Lq=%d Lk=%d D=%d", op, d.B, d.Lq,
             d.Lk, d.D);
    DL_CHECK(d.q_ld >= d.D && d.k_ld >= d.D && d.v_ld >= d.D && d.o_ld >= d.D,
             "%s: row strides q_ld=%d k_ld=%d v_ld=%d o_ld=%d below D=%d", op, d.q_ld, d.k_ld, d.v_ld, d.o_ld, d.D);
}

/* One thread's slot: a packed operand (pack of an (Lk, D) matrix or its transpose) and
 * a (max(Lq, Lk), D) product buffer for the scaled / accumulated results. */
static size_t pack_floats(AttnDims d) {
    if (!CONVK_AVAILABLE) return 0;
    long a = convk_pack_floats(d.Lk, d.D), b = convk_pack_floats(d.D, d.Lk);
    return pad16((size_t)(a > b ? a : b));
}
static size_t slot_floats(AttnDims d) { return pack_floats(d) + pad16((size_t)(d.Lq > d.Lk ? d.Lq : d.Lk) * d.D); }

size_t attn_scratch_floats_cpu(AttnDims d, int nthreads) { return (size_t)(nthreads > 0 ? nthreads : 1) * slot_floats(d); }

/* C (M,N; ldc) (+)= A (M,K; lda) @ op(W): W (N,K; ldw) with wt 0 (A W^T), (K,N; ldw) with
 * wt 1 (A W). On the kernels (W packed into pack): each element one fixed-order chain. */
static void prod(float *C, int ldc, const float *A, int lda, int M, int K, const float *W, int ldw, int wt, int N,
                 int acc, float *pack) {
    if (CONVK_AVAILABLE) {
        convk_pack_ld(pack, W, ldw, N, K, wt);
        convk_gemm_nt(C, ldc, A, lda, M, K, pack, N, NULL, acc);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, wt ? CblasNoTrans : CblasTrans, M, N, K, 1.0f, A, lda, W, ldw,
                    acc ? 1.0f : 0.0f, C, ldc);
    }
}

/* G (K,N) contiguous = A (M,K; lda)^T @ D (M,N; ldd), from zero */
static void prod_tn(float *G, const float *A, int lda, const float *D, int ldd, int M, int K, int N) {
    memset(G, 0, sizeof(float) * (size_t)K * N);
    if (CONVK_AVAILABLE)
        convk_gemm_tn(G, A, lda, D, ldd, M, K, N, NULL);
    else
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, A, lda, D, ldd, 0.0f, G, N);
}

/* y (rows, n; ld) = [y +] scale * t (rows, n) contiguous */
static void combine(float *y, int ld, const float *t, int rows, int n, float scale, int acc) {
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * ld;
        const float *tr = t + (size_t)r * n;
        if (acc)
            for (int c = 0; c < n; c++) yr[c] += scale * tr[c];
        else
            for (int c = 0; c < n; c++) yr[c] = scale * tr[c];
    }
}

/* this thread's slot: packed operand, then the product buffer */
static float *slot_of(float *scratch, AttnDims d) { return scratch + (size_t)omp_get_thread_num() * slot_floats(d); }

/* S (B,Lq,Lk) = scale * (Q (B,Lq,D; q_ld) K (B,Lk,D; k_ld)^T) */
void attn_scores_forward_cpu(float *S, const float *Q, const float *K, AttnDims d, float *scratch) {
    check_dims(d, "attn_scores_forward");
    const size_t ss = (size_t)d.Lq * d.Lk;
#pragma omp parallel for schedule(static) if (d.B > 1)
    for (int b = 0; b < d.B; b++) {
        float *Sb = S + b * ss;
        prod(Sb, d.Lk, Q + (size_t)b * d.Lq * d.q_ld, d.q_ld, d.Lq, d.D, K + (size_t)b * d.Lk * d.k_ld, d.k_ld, 0, d.Lk,
             0, slot_of(scratch, d));
        if (d.scale != 1.0f)
            for (size_t i = 0; i < ss; i++) Sb[i] *= d.scale;
    }
}

/* dQ (B,Lq,D; q_ld) (+)= scale * (dS K); dK (B,Lk,D; k_ld) (+)= scale * (dS^T Q);
 * dS (B,Lq,Lk); either output may be NULL */
void attn_scores_backward_cpu(float *dQ, float *dK, const float *dS, const float *Q, const float *K, AttnDims d,
                              float *scratch) {
    check_dims(d, "attn_scores_backward");
    const size_t ss = (size_t)d.Lq * d.Lk;
#pragma omp parallel for schedule(static) if (d.B > 1)
    for (int b = 0; b < d.B; b++) {
        const float *dSb = dS + b * ss, *Qb = Q + (size_t)b * d.Lq * d.q_ld, *Kb = K + (size_t)b * d.Lk * d.k_ld;
        float *pack = slot_of(scratch, d), *t = pack + pack_floats(d);
        if (dQ) {
            prod(t, d.D, dSb, d.Lk, d.Lq, d.Lk, Kb, d.k_ld, 1, d.D, 0, pack);
            combine(dQ + (size_t)b * d.Lq * d.q_ld, d.q_ld, t, d.Lq, d.D, d.scale, d.accumulate_din);
        }
        if (dK) {
            prod_tn(t, dSb, d.Lk, Qb, d.q_ld, d.Lq, d.Lk, d.D);
            combine(dK + (size_t)b * d.Lk * d.k_ld, d.k_ld, t, d.Lk, d.D, d.scale, d.accumulate_din);
        }
    }
}

/* O (B,Lq,D; o_ld) = P (B,Lq,Lk) V (B,Lk,D; v_ld) */
void attn_apply_forward_cpu(float *O, const float *P, const float *V, AttnDims d, float *scratch) {
    check_dims(d, "attn_apply_forward");
    const size_t ss = (size_t)d.Lq * d.Lk;
#pragma omp parallel for schedule(static) if (d.B > 1)
    for (int b = 0; b < d.B; b++)
        prod(O + (size_t)b * d.Lq * d.o_ld, d.o_ld, P + b * ss, d.Lk, d.Lq, d.Lk, V + (size_t)b * d.Lk * d.v_ld, d.v_ld,
             1, d.D, 0, slot_of(scratch, d));
}

/* dP (B,Lq,Lk) (+)= dO V^T; dV (B,Lk,D; v_ld) (+)= P^T dO; dO (B,Lq,D; o_ld);
 * either output may be NULL */
void attn_apply_backward_cpu(float *dP, float *dV, const float *dO, const float *P, const float *V, AttnDims d,
                             float *scratch) {
    check_dims(d, "attn_apply_backward");
    const size_t ss = (size_t)d.Lq * d.Lk;
#pragma omp parallel for schedule(static) if (d.B > 1)
    for (int b = 0; b < d.B; b++) {
        const float *dOb = dO + (size_t)b * d.Lq * d.o_ld, *Vb = V + (size_t)b * d.Lk * d.v_ld;
        float *pack = slot_of(scratch, d), *t = pack + pack_floats(d);
        if (dP) prod(dP + b * ss, d.Lk, dOb, d.o_ld, d.Lq, d.D, Vb, d.v_ld, 0, d.Lk, d.accumulate_din, pack);
        if (dV) {
            prod_tn(t, P + b * ss, d.Lk, dOb, d.o_ld, d.Lq, d.Lk, d.D);
            combine(dV + (size_t)b * d.Lk * d.v_ld, d.v_ld, t, d.Lk, d.D, 1.0f, d.accumulate_din);
        }
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
