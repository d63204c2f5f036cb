/* conv2d_kernels_avx512.c: the AVX-512 twins of conv2d_kernels.c's kernels, chosen at
 * run time (convk_isa) on CPUs with AVX-512F. Zen 5 (the benchmark machine) executes
 * 512-bit FMAs at full width: a zmm FMA loop measured 265 GFLOP/s on one core against
 * 133 for ymm, and OpenBLAS 0.3.21's sgemm 122.
 *
 * Same arithmetic, element by element, as the AVX2 kernels: each output element is the
 * same fixed-order FMA chain over k (in convk_kblock's K blocks), summed from zero and
 * then added to the bias / old value. A wider register block only changes which
 * elements are computed side by side, so both ISAs (and the OpenBLAS route they
 * mirror) give identical bits; tests/unit/test_layer_conv.c checks this.
 *
 * Register blocks: forward 12 rows x 32 columns (24 zmm accumulators, 2 weight
 * vectors, 1 broadcast), or 8 rows where convk_mr512 says so (Zen 4: 12 row pointers
 * do not fit the integer registers beside the loop's own, and 12-row blocks ran 5-15 %
 * slower than 8 there); dW 12 input channels x 32 output channels. Both take
 * N % 32 == 0 (conv2d.c falls back to the AVX2 kernels otherwise).
 */
#include "conv2d_kernels.h"

#if CONVK_AVAILABLE && defined(__x86_64__)
#pragma GCC target("avx512f")
#include <immintrin.h>

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define MR CONVK_MR512 /* forward rows per block, at most (the row table's stride S: convk_mr512) */
#define DW_MR 12       /* dW input channels per block */

/* out (R, 32): two weight panels p, p+1 (wp0, wp1 = their (K, 16) slices), sum over k
 * in [k0, k1) from zero, then + bias / old out, as in conv2d_kernels.c fwd_block */
ALWAYS_INLINE void fwd_block2(float *out, int out_ld, const float *const *rows, int L, const float *wp0,
                              const float *wp1, int k0, int k1, const float *bias, int accumulate, const int R,
                              int S) {
    __m512 c0[MR], c1[MR];
    for (int r = 0; r < R; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    wp0 += (size_t)k0 * CONVK_NR;
    wp1 += (size_t)k0 * CONVK_NR;
    for (int k = k0, t = k0 / L, c = k0 - t * L; k < k1; t++, c = 0) {
        const int n = L - c < k1 - k ? L - c : k1 - k;
        const float *a[MR];
        for (int r = 0; r < R; r++) a[r] = rows[t * S + r] + c;
        for (int i = 0; i < n; i++, wp0 += CONVK_NR, wp1 += CONVK_NR) {
            const __m512 w0 = _mm512_loadu_ps(wp0), w1 = _mm512_loadu_ps(wp1);
            for (int r = 0; r < R; r++) {
                const __m512 x = _mm512_set1_ps(a[r][i]);
                c0[r] = _mm512_fmadd_ps(x, w0, c0[r]);
                c1[r] = _mm512_fmadd_ps(x, w1, c1[r]);
            }
        }
        k += n;
    }
    for (int r = 0; r < R; r++) {
        float *o = out + (long)r * out_ld;
        if (accumulate == 1) {
            c0[r] = _mm512_add_ps(c0[r], _mm512_loadu_ps(o));
            c1[r] = _mm512_add_ps(c1[r], _mm512_loadu_ps(o + 16));
        } else if (bias) {
            c0[r] = _mm512_add_ps(c0[r], _mm512_loadu_ps(bias));
            c1[r] = _mm512_add_ps(c1[r], _mm512_loadu_ps(bias + 16));
        }
        if (accumulate == CONVK_STREAM) {
            _mm512_stream_ps(o, c0[r]);
            _mm512_stream_ps(o + 16, c1[r]);
        } else {
            _mm512_storeu_ps(o, c0[r]);
            _mm512_storeu_ps(o + 16, c1[r]);
        }
    }
}

ALWAYS_INLINE void fwd_panels(float *out, int out_ld, const float *const *rows, int ntaps, int L, const float *wp,
                              int N, const float *bias, int accumulate, const int R, int S) {
    const int K = ntaps * L;
    for (int p = 0; p < N / CONVK_NR; p += 2)
        for (int k0 = 0, first = 1; k0 < K; first = 0) {
            int k1 = k0 + convk_kblock(K - k0);
            const float *w0 = wp + (size_t)p * K * CONVK_NR;
            fwd_block2(out + p * CONVK_NR, out_ld, rows, L, w0, w0 + (size_t)K * CONVK_NR, k0, k1,
                       first && bias ? bias + p * CONVK_NR : NULL, first ? accumulate : 1, R, S);
            k0 = k1;
        }
}

#define FWD_CASE(R)                                                                  \
    case R: fwd_panels(out, out_ld, rows, ntaps, L, wp, N, bias, accumulate, R, S); break;

void convk_forward_rows_avx512(float *out, int out_ld, const float *const *rows, int ntaps, int L, const float *wp,
                               int N, const float *bias, int accumulate, int mr) {
    const int S = convk_mr512();
    switch (mr) {
    FWD_CASE(12) FWD_CASE(11) FWD_CASE(10) FWD_CASE(9) FWD_CASE(8) FWD_CASE(7)
    FWD_CASE(6) FWD_CASE(5) FWD_CASE(4) FWD_CASE(3) FWD_CASE(2)
    default: fwd_panels(out, out_ld, rows, ntaps, L, wp, N, bias, accumulate, 1, S); break;
    }
}

/* dwt rows c0..c0+R, 32 columns: += (sum_m a(m)[c0 + r] * d(m)[0..32), m in order, from zero) */
ALWAYS_INLINE void dw_block(float *dwt, int N, const float *const *rows, int c0, const float *d, int d_ld, int mt,
                            const int R) {
    __m512 s0[DW_MR], s1[DW_MR];
    for (int r = 0; r < R; r++) s0[r] = s1[r] = _mm512_setzero_ps();
    for (int m = 0; m < mt; m++) {
        const float *a = rows[m] + c0, *dm = d + (long)m * d_ld;
        const __m512 d0 = _mm512_loadu_ps(dm), d1 = _mm512_loadu_ps(dm + 16);
        for (int r = 0; r < R; r++) {
            const __m512 x = _mm512_set1_ps(a[r]);
            s0[r] = _mm512_fmadd_ps(x, d0, s0[r]);
            s1[r] = _mm512_fmadd_ps(x, d1, s1[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        float *o = dwt + (size_t)r * N;
        _mm512_storeu_ps(o, _mm512_add_ps(_mm512_loadu_ps(o), s0[r]));
        _mm512_storeu_ps(o + 16, _mm512_add_ps(_mm512_loadu_ps(o + 16), s1[r]));
    }
}

#define DW_CASE(R)                                                                   \
    case R: dw_block(o, N, rows, c0, d + n, d_ld, mt, R); break;

void convk_dw_tap_avx512(float *dwt, const float *const *rows, const float *d, int d_ld, int mt, int L, int N) {
    for (int n = 0; n < N; n += 32)
        for (int c0 = 0; c0 < L; c0 += DW_MR) {
            float *o = dwt + (size_t)c0 * N + n;
            switch (L - c0 < DW_MR ? L - c0 : DW_MR) {
            DW_CASE(12) DW_CASE(11) DW_CASE(10) DW_CASE(9) DW_CASE(8) DW_CASE(7)
            DW_CASE(6) DW_CASE(5) DW_CASE(4) DW_CASE(3) DW_CASE(2)
            default: dw_block(o, N, rows, c0, d + n, d_ld, mt, 1); break;
            }
        }
}

#endif
