/* lstm.c: one LSTM layer on the CPU, forward and backprop through time.
 *
 * Work is split into chunks of LSTM_CHUNK_B samples. A chunk owns the rows
 * b*T + t of its samples, which are contiguous in every (B, T, *) tensor, so
 * each chunk runs its input projection as one GEMM over nb*T rows, then its
 * recurrence (a small GEMM per step plus the pointwise cell), independently
 * of the other chunks. Backward mirrors this and leaves per-chunk partial
 * weight gradients, reduced in chunk order: bits do not depend on the thread
 * count. BLAS runs single-threaded inside the OpenMP loops (backend.h).
 * The products run on conv2d's register-blocked kernels (AVX2 / AVX-512, weights
 * packed once per call into scratch), for any H and In: each element is a fixed-order
 * FMA chain, so the bits do not depend on the CPU (OpenBLAS's kernel choice did), and
 * the recurrence's 2*T small GEMMs per chunk skip OpenBLAS's per-call overhead.
 * Gate arithmetic: lstm_cell.h (shared with kernels/lstm.cu). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "../../common/util.h"
#include "conv2d_kernels.h"
#include "layers_cpu.h"
#include "lstm_cell.h"

/* Samples per chunk. Fixed, not derived from the thread count: it sets the GEMM
 * shapes and the partial-sum order, hence the bits. 32 keeps a chunk's gate
 * rows (32*88*256 floats) in L3 and still gives 8 chunks at B=256. */
#define LSTM_CHUNK_B 32

static size_t pad16(size_t n) { return (n + 15) & ~(size_t)15; } /* keeps 64-byte alignment */

static int imin(int a, int b) { return a < b ? a : b; }

/* the kernels in every build that has them (any H, In): fixed-order sums, the same
 * bits on every CPU; OpenBLAS only in builds without AVX2+FMA */
static int use_direct(LSTMDims d) { return CONVK_AVAILABLE; }

/* floats of the packs of an (N, K) weight and of its transpose, whichever is larger */
static size_t pack2(int N, int K) {
    long a = convk_pack_floats(N, K), b = convk_pack_floats(K, N);
    return pad16((size_t)(a > b ? a : b));
}
/* packed weights at the start of scratch: W_ih (4H, In) and W_hh (4H, H), or their
 * transposes in the backward */
static size_t ih_pack_floats(LSTMDims d) { return use_direct(d) ? pack2(4 * d.H, d.In) : 0; }
static size_t pack_floats(LSTMDims d) { return use_direct(d) ? ih_pack_floats(d) + pack2(4 * d.H, d.H) : 0; }

/* C (M,N) ldc = [C +] A (M,K) lda @ W^T; W is (N,K), or (K,N) with wt; wp its convk_pack */
static void gemm_nt(int direct, float *C, int ldc, const float *A, int lda, int M, int K, const float *W, int wt,
                    const float *wp, int N, int acc) {
    if (CONVK_AVAILABLE && direct) /* the constant drops the call from builds without the kernels */
        convk_gemm_nt(C, ldc, A, lda, M, K, wp, N, NULL, acc);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, wt ? CblasNoTrans : CblasTrans, M, N, K, 1.0f, A, lda, W,
                    wt ? N : K, acc ? 1.0f : 0.0f, C, ldc);
}

/* P (K,N) = A^T D: A (M,K) lda, D (M,N) ldd; dscr: convk_dw_scratch_floats(K, N) floats */
static void gemm_tn(int direct, float *P, const float *A, int lda, const float *D, int ldd, int M, int K, int N,
                    float *dscr) {
    if (CONVK_AVAILABLE && direct) {
        memset(P, 0, sizeof(float) * (size_t)K * N);
        convk_gemm_tn(P, A, lda, D, ldd, M, K, N, dscr);
    } else {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, A, lda, D, ldd, 0.0f, P, N);
    }
}

/* one chunk's partial parameter gradients: dW_ih (4H,In), dW_hh (4H,H), db (4H) */
static size_t part_floats(LSTMDims d) {
    size_t G = 4 * (size_t)d.H;
    return pad16(G * d.In + G * d.H + G);
}

/* With few inputs (the MMF LSTM's 19) the backward takes dW_ih and dW_hh in one pass over
 * dg, as [x | h_{t-1}]^T dg ((In + H), 4H): dg is read once per chunk, not twice, and the
 * kernel gathers all In + H columns once (convk_dw_tap). Each element is the chain it
 * would be alone (fma(a, b, s) = fma(b, a, s), the same row blocks), so the bits do not
 * change; the reduction reads the partial transposed. */
static int fused_dw(LSTMDims d) { return d.In < 4 * CONVK_NR; }
/* floats of a row of the backward's h_{t-1} copy: [x | h_{t-1}] when fused */
static int xh_width(LSTMDims d) { return fused_dw(d) ? d.In + d.H : d.H; }

static long lmax(long a, long b) { return a > b ? a : b; }
/* the dW kernel's scratch (convk_dw_tap) for the products the backward runs */
static size_t dscr_floats(LSTMDims d) {
    const int G = 4 * d.H;
    if (fused_dw(d)) return pad16((size_t)convk_dw_scratch_floats(d.In + d.H, G));
    return pad16((size_t)lmax(convk_dw_scratch_floats(G, d.In), convk_dw_scratch_floats(G, d.H)));
}

/* one thread's workspace: dgates (nb,T,4H), hprev (nb,T,xh_width), dh (nb,H), dc (nb,H), dscr */
static size_t slot_floats(LSTMDims d) {
    size_t rows = (size_t)LSTM_CHUNK_B * d.T, H = d.H;
    return pad16(rows * 4 * H) + pad16(rows * xh_width(d)) + 2 * pad16(LSTM_CHUNK_B * H) + dscr_floats(d);
}

/* The pointwise cell over the H units of one sample at one step, in two passes: the
 * 4H gate activations (one exp each), then the cell state and h (tanh of c). One fused
 * loop over j is a chain of three transcendentals per iteration, too long for the
 * out-of-order window to overlap iterations (27 % slower on Zen 3); the pieces are
 * lstm_cell.h's, so the bits are the per-unit form's. The rows never overlap; "omp
 * simd" says so to the compiler, which otherwise gives up vectorizing (too many
 * run-time alias checks between the gate blocks). */
/* g (4H) in/out; c, h (H) out; b_ih, b_hh (4H); cp (H) = c_{t-1} or NULL at t = 0 */
static void cell_forward_row(float *restrict g, float *restrict c, float *restrict h, const float *restrict b_ih,
                             const float *restrict b_hh, const float *restrict cp, int H) {
#pragma omp simd
    for (int e = 0; e < 2 * H; e++) g[e] = lstm_sigmoid(lstm_gate_z(g, b_ih, b_hh, e)); /* i, f */
#pragma omp simd
    for (int e = 2 * H; e < 3 * H; e++) g[e] = lstm_tanhf(lstm_gate_z(g, b_ih, b_hh, e)); /* g */
#pragma omp simd
    for (int e = 3 * H; e < 4 * H; e++) g[e] = lstm_sigmoid(lstm_gate_z(g, b_ih, b_hh, e)); /* o */
    const float *i = g, *f = g + H, *gg = g + 2 * H, *o = g + 3 * H;
    if (cp)
#pragma omp simd
        for (int j = 0; j < H; j++) {
            c[j] = lstm_cell_c(i[j], f[j], gg[j], cp[j]);
            h[j] = lstm_cell_h(o[j], c[j]);
        }
    else
#pragma omp simd
        for (int j = 0; j < H; j++) {
            c[j] = lstm_cell_c(i[j], f[j], gg[j], 0.0f);
            h[j] = lstm_cell_h(o[j], c[j]);
        }
}

/* dg (4H) out; dc (H) carry in/out; a (4H), c (H) of this step; cp (H) = c_{t-1}
 * or NULL at t = 0; dh (H) = dL/dh_t from step t+1, plus this step's own gradient
 * dh_own (H) where the loss sees every step (else NULL) */
static void cell_backward_row(float *restrict dg, float *restrict dc, const float *restrict a,
                              const float *restrict c, const float *restrict cp, const float *restrict dh,
                              const float *restrict dh_own, int H) {
    if (dh_own && cp)
#pragma omp simd
        for (int j = 0; j < H; j++)
            dc[j] = lstm_cell_backward_elem(dg, a, c[j], cp[j], dh[j] + dh_own[j], dc[j], j, H);
    else if (dh_own)
#pragma omp simd
        for (int j = 0; j < H; j++)
            dc[j] = lstm_cell_backward_elem(dg, a, c[j], 0.0f, dh[j] + dh_own[j], dc[j], j, H);
    else if (cp)
#pragma omp simd
        for (int j = 0; j < H; j++) dc[j] = lstm_cell_backward_elem(dg, a, c[j], cp[j], dh[j], dc[j], j, H);
    else
#pragma omp simd
        for (int j = 0; j < H; j++) dc[j] = lstm_cell_backward_elem(dg, a, c[j], 0.0f, dh[j], dc[j], j, H);
}

size_t lstm_cache_floats_cpu(LSTMDims d) { return (size_t)d.B * d.T * 6 * d.H; }

/* Packed weights (both passes); backward: per-chunk partials, then one slot per
 * thread. nthreads must be >= the OpenMP thread count at the backward call. */
size_t lstm_scratch_floats_cpu(LSTMDims d, int nthreads) {
    size_t nch = (size_t)CEIL_DIV(d.B, LSTM_CHUNK_B);
    return pack_floats(d) + nch * part_floats(d) + (size_t)(nthreads > 0 ? nthreads : 1) * slot_floats(d);
}

/* h_last (B,H) out; cache (lstm_cache_floats) out;
 * x (B,T,In) row stride x_ld; w_ih (4H,In); w_hh (4H,H); b_ih, b_hh (4H) */
void lstm_forward_cpu(float *h_last, float *cache, const float *x, const float *w_ih, const float *w_hh,
                      const float *b_ih, const float *b_hh, LSTMDims d, float *scratch) {
    const int T = d.T, H = d.H, G = 4 * d.H;
    float *act = cache;
    float *cs = cache + lstm_cache_c(d.B, T, H);
    float *hs = cache + lstm_cache_h(d.B, T, H);
    const int nch = CEIL_DIV(d.B, LSTM_CHUNK_B), direct = use_direct(d);
    float *wp_ih = scratch, *wp_hh = scratch + ih_pack_floats(d);
    if (CONVK_AVAILABLE && direct) {
        convk_pack(wp_ih, w_ih, G, d.In, 0);
        convk_pack(wp_hh, w_hh, G, H, 0);
    }

#pragma omp parallel for schedule(dynamic, 1)
    for (int ch = 0; ch < nch; ch++) {
        const int b0 = ch * LSTM_CHUNK_B, nb = imin(LSTM_CHUNK_B, d.B - b0);
        const size_t r0 = (size_t)b0 * T;
        /* input projection of all nb*T rows: the big GEMM; bias goes in the cell */
        gemm_nt(direct, act + r0 * G, G, x + r0 * d.x_ld, d.x_ld, nb * T, d.In, w_ih, 0, wp_ih, G, 0);
        for (int t = 0; t < T; t++) {
            /* z_t += h_{t-1} W_hh^T for the nb samples (row stride T*H in, T*G out) */
            if (t > 0)
                gemm_nt(direct, act + (r0 + t) * G, T * G, hs + (r0 + t - 1) * H, T * H, nb, H, w_hh, 0, wp_hh, G,
                        1);
            for (int b = 0; b < nb; b++) {
                const size_t r = r0 + (size_t)b * T + t;
                cell_forward_row(act + r * G, cs + r * H, hs + r * H, b_ih, b_hh, t > 0 ? cs + (r - 1) * H : NULL, H);
            }
        }
        for (int b = 0; b < nb; b++)
            memcpy(h_last + (size_t)(b0 + b) * H, hs + (r0 + (size_t)b * T + T - 1) * H, sizeof(float) * H);
    }
}

/* the n floats at p towards L1, one prefetch per 64-byte line */
static void prefetch_floats(const float *p, int n) {
    for (int o = 0; o < n; o += 16) __builtin_prefetch(p + o, 0, 3);
}

/* BPTT of one chunk: fills dg (nb,T,4H) with dL/dz from dh_last rows b0.. (nb,H), or
 * with d.dh_every_step from its rows (b0.., t) (nb,T,H) added at each step (in the cell).
 * dh, dc (nb,H) are workspace. */
static void bptt_chunk(float *dg, float *dh, float *dc, const float *dh_last, const float *act,
                       const float *cs, const float *w_hh, const float *wp_hh_t, int b0, int nb, LSTMDims d) {
    const int T = d.T, H = d.H, G = 4 * d.H;
    const size_t r0 = (size_t)b0 * T;
    if (d.dh_every_step) memset(dh, 0, sizeof(float) * nb * H);
    else memcpy(dh, dh_last + (size_t)b0 * H, sizeof(float) * nb * H);
    memset(dc, 0, sizeof(float) * nb * H);
    for (int t = T - 1; t >= 0; t--) {
        for (int b = 0; b < nb; b++) {
            const size_t lr = (size_t)b * T + t, r = r0 + lr;
            /* the rows step t-1 will read, a step ahead: the nb samples are T rows apart,
             * nb backward streams, too many for the hardware prefetchers, and this pass reads
             * the forward cache (50 MB for the MMF LSTM) from DRAM (the cell -20 %, Zen 3) */
            if (t > 0) {
                prefetch_floats(act + (r - 1) * G, G);
                if (t > 1) prefetch_floats(cs + (r - 2) * H, H);
                if (d.dh_every_step) prefetch_floats(dh_last + (r - 1) * H, H);
            }
            cell_backward_row(dg + lr * G, dc + (size_t)b * H, act + r * G, cs + r * H,
                              t > 0 ? cs + (r - 1) * H : NULL, dh + (size_t)b * H,
                              d.dh_every_step ? dh_last + r * H : NULL, H);
        }
        /* dh_{t-1} = dz_t W_hh: the only path into earlier steps besides dc */
        if (t > 0) gemm_nt(use_direct(d), dh, H, dg + (size_t)t * G, T * G, nb, G, w_hh, 1, wp_hh_t, H, 0);
    }
}

/* dx (B,T,In) row stride x_ld, (+)= per accumulate_dx, may be NULL;
 * dw_ih (4H,In), dw_hh (4H,H), db_ih, db_hh (4H) +=;
 * dh_last (B,H); cache from lstm_forward_cpu; x, w_ih, w_hh as in forward */
void lstm_backward_cpu(float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                       const float *dh_last, const float *cache, const float *x, const float *w_ih,
                       const float *w_hh, LSTMDims d, float *scratch) {
    const int T = d.T, H = d.H, G = 4 * d.H, In = d.In;
    const float *act = cache;
    const float *cs = cache + lstm_cache_c(d.B, T, H);
    const float *hs = cache + lstm_cache_h(d.B, T, H);
    const int nch = CEIL_DIV(d.B, LSTM_CHUNK_B);
    const size_t pf = part_floats(d), sf = slot_floats(d);
    const size_t rows_max = (size_t)LSTM_CHUNK_B * T;
    const int direct = use_direct(d);
    const int fused = fused_dw(d), XH = xh_width(d);
    float *wp_ih_t = scratch, *wp_hh_t = scratch + ih_pack_floats(d); /* W^T packs: dx and dh */
    float *parts = scratch + pack_floats(d), *slots = parts + (size_t)nch * pf;
    if (nch == 0) return; /* B = 0: no partials to reduce */
    if (CONVK_AVAILABLE && direct) {
        convk_pack(wp_ih_t, w_ih, In, G, 1);
        convk_pack(wp_hh_t, w_hh, H, G, 1);
    }

#pragma omp parallel
    {
        float *slot = slots + (size_t)omp_get_thread_num() * sf;
        float *dg = slot, *hp = dg + pad16(rows_max * G);
        float *dh = hp + pad16(rows_max * XH), *dc = dh + pad16((size_t)LSTM_CHUNK_B * H);
        float *dscr = dc + pad16((size_t)LSTM_CHUNK_B * H);
#pragma omp for schedule(dynamic, 1)
        for (int ch = 0; ch < nch; ch++) {
            const int b0 = ch * LSTM_CHUNK_B, nb = imin(LSTM_CHUNK_B, d.B - b0);
            const size_t r0 = (size_t)b0 * T;
            const int rows = nb * T;
            bptt_chunk(dg, dh, dc, dh_last, act, cs, w_hh, wp_hh_t, b0, nb, d);
            /* h_{t-1} rows aligned with dz_t rows (zero at t = 0) for dW_hh, after x_t's row
             * when fused */
            for (int b = 0; b < nb; b++)
                for (int t = 0; t < T; t++) {
                    const size_t lr = (size_t)b * T + t;
                    float *o = hp + lr * XH;
                    if (fused) memcpy(o, x + (r0 + lr) * d.x_ld, sizeof(float) * In);
                    if (t == 0) memset(o + XH - H, 0, sizeof(float) * H);
                    else memcpy(o + XH - H, hs + (r0 + lr - 1) * H, sizeof(float) * H);
                }
            if (dx) gemm_nt(direct, dx + r0 * d.x_ld, d.x_ld, dg, G, rows, G, w_ih, 1, wp_ih_t, In, d.accumulate_dx);
            float *p_ih = parts + (size_t)ch * pf, *p_hh = p_ih + (size_t)G * In, *p_b = p_hh + (size_t)G * H;
            if (fused) { /* p_ih .. p_b hold [dW_ih | dW_hh]^T ((In + H), 4H) */
                gemm_tn(direct, p_ih, hp, XH, dg, G, rows, XH, G, dscr);
            } else {
                gemm_tn(direct, p_ih, dg, G, x + r0 * d.x_ld, d.x_ld, rows, G, In, dscr);
                gemm_tn(direct, p_hh, dg, G, hp, H, rows, G, H, dscr);
            }
            memset(p_b, 0, sizeof(float) * G);
            for (int r = 0; r < rows; r++) {
                const float *dgr = dg + (size_t)r * G;
                for (int k = 0; k < G; k++) p_b[k] += dgr[k];
            }
        }
        /* reduce partials in chunk order; each element is owned by one thread */
        const size_t n_ih = (size_t)G * In, n_hh = (size_t)G * H, n_all = n_ih + n_hh + G;
#pragma omp for schedule(static)
        for (size_t e = 0; e < n_all; e++) {
            /* fused, the partials are transposed: dW_ih's (g, i) sits at i * 4H + g, dW_hh's
             * (g, j) at (In + j) * 4H + g */
            const size_t pe = !fused || e >= n_ih + n_hh ? e
                              : e < n_ih                 ? e % In * G + e / In
                                                         : n_ih + (e - n_ih) % H * G + (e - n_ih) / H;
            float s = parts[pe];
            for (int ch = 1; ch < nch; ch++) s += parts[(size_t)ch * pf + pe];
            if (e < n_ih) dw_ih[e] += s;
            else if (e < n_ih + n_hh) dw_hh[e - n_ih] += s;
            else { db_ih[e - n_ih - n_hh] += s; db_hh[e - n_ih - n_hh] += s; }
        }
    }
}

/* sum_k a[k] w[k] in the kernels' order (convk_kblock blocks, each an FMA chain from
 * zero) added onto acc, or the bare sum with first */
static float chain_dot(const float *w, const float *a, int K, float acc, int first) {
    for (int k0 = 0; k0 < K;) {
        const int k1 = k0 + convk_kblock(K - k0);
        float s = 0.0f;
        for (int k = k0; k < k1; k++) s = fmaf(a[k], w[k], s);
        acc = first && k0 == 0 ? s : s + acc;
        k0 = k1;
    }
    return acc;
}

/* One step of one sequence, state h, c (H) carried by the caller (first: zero state);
 * gates (4H) workspace; x (In). The same bits as lstm_forward_cpu's step t for that
 * sequence (its products are these chains), so a stateful pass over a long series equals
 * the batched forward over it. For the MMF study's evaluation over whole splits. */
void lstm_step_cpu(float *h, float *c, float *gates, const float *x, const float *w_ih, const float *w_hh,
                   const float *b_ih, const float *b_hh, int In, int H, int first) {
    const int G = 4 * H;
    for (int g = 0; g < G; g++) {
        float z = chain_dot(w_ih + (size_t)g * In, x, In, 0.0f, 1);
        gates[g] = first ? z : chain_dot(w_hh + (size_t)g * H, h, H, z, 0);
    }
    for (int j = 0; j < H; j++) lstm_cell_forward_elem(gates, c, h, b_ih, b_hh, first ? 0.0f : c[j], j, H);
}
