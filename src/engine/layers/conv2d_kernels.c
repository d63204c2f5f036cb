/* conv2d_kernels.c: AVX2+FMA kernels of conv2d.c's direct path (see conv2d_kernels.h),
 * and the run-time choice of their AVX-512 twins (conv2d_kernels_avx512.c): Zen 3/4
 * double-pump 512-bit ops (same peak as AVX2), Zen 5 runs them at full width (2x).
 * Each kernel body is written once for a row count MR and inlined per constant MR,
 * so the accumulators live in registers (MR x 2 ymm). */
#include "conv2d_kernels.h"

#if CONVK_AVAILABLE
#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* CPU feature, read once; every thread that races here computes the same value */
static int g_avx512 = -1;
int convk_avx512(void) {
    if (g_avx512 < 0) {
        const char *e = getenv("DEEPLOB_ISA");
        g_avx512 = (!e || strcmp(e, "avx2") != 0) && __builtin_cpu_supports("avx512f");
    }
    return g_avx512;
}
void convk_fence(void) { _mm_sfence(); }

int convk_set_avx512(int on) {
    g_avx512 = on && __builtin_cpu_supports("avx512f");
    return g_avx512;
}

/* AMD family 19h (Zen 3 and 4; only Zen 4 has AVX-512): 512-bit ops double-pumped */
static int cpu_amd_family19h(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d) || b != 0x68747541u || d != 0x69746e65u || c != 0x444d4163u) return 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    unsigned fam = (a >> 8) & 0xf;
    if (fam == 0xf) fam += (a >> 20) & 0xff;
    return fam == 0x19;
}

static int g_mr512 = -1;
int convk_mr512(void) {
    if (g_mr512 < 0) {
        const char *e = getenv("DEEPLOB_MR512");
        const int v = e ? atoi(e) : 0;
        g_mr512 = v >= 2 && v <= CONVK_MR512 ? v : cpu_amd_family19h() ? 8 : CONVK_MR512;
    }
    return g_mr512;
}
int convk_set_mr512(int mr) {
    const int old = convk_mr512();
    g_mr512 = mr >= 2 && mr <= CONVK_MR512 ? mr : old;
    return old;
}

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define CONVK_DW_SMALL_L 24 /* see convk_dw_tap */

void convk_pack_ld(float *wp, const float *w, int ld, int N, int K, int trans) {
    for (int p = 0; p < convk_panels(N); p++)
        for (int k = 0; k < K; k++)
            for (int j = 0; j < CONVK_NR; j++) {
                int n = p * CONVK_NR + j;
                wp[((size_t)p * K + k) * CONVK_NR + j] =
                    n >= N ? 0.0f : trans ? w[(size_t)k * ld + n] : w[(size_t)n * ld + k];
            }
}

void convk_pack(float *wp, const float *w, int N, int K, int trans) { convk_pack_ld(wp, w, trans ? N : K, N, K, trans); }

/* out (MR, 16) of one panel = (bias, 0 or out) + sum over k in [k0, k1), k = (tap, c)
 * in order, summed from zero */
ALWAYS_INLINE void fwd_block(float *out, int out_ld, const float *const *rows, int L, const float *wp, int k0,
                             int k1, const float *bias, int accumulate, const int MR) {
    __m256 c0[CONVK_MR], c1[CONVK_MR];
    for (int r = 0; r < MR; r++) c0[r] = c1[r] = _mm256_setzero_ps();
    wp += (size_t)k0 * CONVK_NR;
    for (int k = k0, t = k0 / L, c = k0 - t * L; k < k1; t++, c = 0) {
        const int n = L - c < k1 - k ? L - c : k1 - k;
        const float *a[CONVK_MR];
        for (int r = 0; r < MR; r++) a[r] = rows[t * CONVK_MR + r] + c;
        for (int i = 0; i < n; i++, wp += CONVK_NR) {
            const __m256 w0 = _mm256_loadu_ps(wp), w1 = _mm256_loadu_ps(wp + 8);
            for (int r = 0; r < MR; r++) {
                const __m256 x = _mm256_broadcast_ss(a[r] + i);
                c0[r] = _mm256_fmadd_ps(x, w0, c0[r]);
                c1[r] = _mm256_fmadd_ps(x, w1, c1[r]);
            }
        }
        k += n;
    }
    /* the bias (or the old out) is added after the sum, as sgemm with beta = 1 does */
    for (int r = 0; r < MR; r++) {
        float *o = out + (long)r * out_ld;
        if (accumulate == 1) {
            c0[r] = _mm256_add_ps(c0[r], _mm256_loadu_ps(o));
            c1[r] = _mm256_add_ps(c1[r], _mm256_loadu_ps(o + 8));
        } else if (bias) {
            c0[r] = _mm256_add_ps(c0[r], _mm256_loadu_ps(bias));
            c1[r] = _mm256_add_ps(c1[r], _mm256_loadu_ps(bias + 8));
        }
        if (accumulate == CONVK_STREAM) {
            _mm256_stream_ps(o, c0[r]);
            _mm256_stream_ps(o + 8, c1[r]);
        } else {
            _mm256_storeu_ps(o, c0[r]);
            _mm256_storeu_ps(o + 8, c1[r]);
        }
    }
}

ALWAYS_INLINE void fwd_panels(float *out, int out_ld, const float *const *rows, int ntaps, int L, const float *wp,
                              int N, const float *bias, int accumulate, const int MR) {
    const int K = ntaps * L;
    for (int p = 0; p < N / CONVK_NR; p++)
        for (int k0 = 0, first = 1; k0 < K; first = 0) { /* K blocks: see convk_kblock */
            int k1 = k0 + convk_kblock(K - k0);
            fwd_block(out + p * CONVK_NR, out_ld, rows, L, wp + (size_t)p * K * CONVK_NR, k0, k1,
                      first && bias ? bias + p * CONVK_NR : NULL, first ? accumulate : 1, MR);
            k0 = k1;
        }
}

/* the last, partial panel (N % 16 columns) of an AVX2 forward block: the same kernel
 * into a 16-column buffer (the packed weights' padding columns are zero), then the
 * valid columns copied out: each element's chain is that of a full panel */
static void fwd_tail(float *out, int out_ld, const float *const *rows, int ntaps, int L, const float *wp, int nt,
                     const float *bias, int accumulate, int mr) {
    float buf[CONVK_MR * CONVK_NR], bpad[CONVK_NR] = {0};
    if (accumulate == CONVK_STREAM) accumulate = 0;
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < CONVK_NR; j++) buf[r * CONVK_NR + j] = accumulate && j < nt ? out[(long)r * out_ld + j] : 0.0f;
    for (int j = 0; bias && j < nt; j++) bpad[j] = bias[j];
    switch (mr) {
    case 6: fwd_panels(buf, CONVK_NR, rows, ntaps, L, wp, CONVK_NR, bias ? bpad : NULL, accumulate, 6); break;
    case 5: fwd_panels(buf, CONVK_NR, rows, ntaps, L, wp, CONVK_NR, bias ? bpad : NULL, accumulate, 5); break;
    case 4: fwd_panels(buf, CONVK_NR, rows, ntaps, L, wp, CONVK_NR, bias ? bpad : NULL, accumulate, 4); break;
    case 3: fwd_panels(buf, CONVK_NR, rows, ntaps, L, wp, CONVK_NR, bias ? bpad : NULL, accumulate, 3); break;
    case 2: fwd_panels(buf, CONVK_NR, rows, ntaps, L, wp, CONVK_NR, bias ? bpad : NULL, accumulate, 2); break;
    default: fwd_panels(buf, CONVK_NR, rows, ntaps, L, wp, CONVK_NR, bias ? bpad : NULL, accumulate, 1); break;
    }
    for (int r = 0; r < mr; r++) memcpy(out + (long)r * out_ld, buf + r * CONVK_NR, sizeof(float) * nt);
}

void convk_forward_rows(float *out, int out_ld, const float *const *rows, int ntaps, int L, const float *wp, int N,
                        const float *bias, int accumulate, int mr) {
    if (convk_fwd512(N)) {
        convk_forward_rows_avx512(out, out_ld, rows, ntaps, L, wp, N, bias, accumulate, mr);
        return;
    }
    const int Nf = N / CONVK_NR * CONVK_NR;
    switch (Nf ? mr : 0) {
    case 0: break;
    case 6: fwd_panels(out, out_ld, rows, ntaps, L, wp, Nf, bias, accumulate, 6); break;
    case 5: fwd_panels(out, out_ld, rows, ntaps, L, wp, Nf, bias, accumulate, 5); break;
    case 4: fwd_panels(out, out_ld, rows, ntaps, L, wp, Nf, bias, accumulate, 4); break;
    case 3: fwd_panels(out, out_ld, rows, ntaps, L, wp, Nf, bias, accumulate, 3); break;
    case 2: fwd_panels(out, out_ld, rows, ntaps, L, wp, Nf, bias, accumulate, 2); break;
    default: fwd_panels(out, out_ld, rows, ntaps, L, wp, Nf, bias, accumulate, 1); break;
    }
    if (Nf < N)
        fwd_tail(out + Nf, out_ld, rows, ntaps, L, wp + (size_t)Nf * ntaps * L, N - Nf, bias ? bias + Nf : NULL,
                 accumulate, mr);
}

/* dwt rows c0..c0+KB, columns 16: += (sum_m a(m)[c0 + r] * d(m)[0..16), m in order,
 * from zero): the sum is added last, as sgemm's C += A B */
ALWAYS_INLINE __m256 dw_load(const float *p, int masked, __m256i mask) {
    return masked ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}
ALWAYS_INLINE void dw_store(float *p, int masked, __m256i mask, __m256 v) {
    if (masked) _mm256_maskstore_ps(p, mask, v);
    else _mm256_storeu_ps(p, v);
}

/* masked (the last nt < 16 columns: lanes of m0, m1): every lane is the scalar chain
 * s = fmaf(a, d, s) over m in order from zero, then dwt += s, at vector speed.
 * a(m) from rows[m] + c0, or with packed from ap + m * KB (a block of a gathered as one
 * stream: convk_dw_tap's gather-all path); packed and masked are constants at each use */
ALWAYS_INLINE void dw_block_g(float *dwt, int N, const float *const *rows, int c0, const float *ap, const int packed,
                              const float *d, int d_ld, int mt, const int KB, const int masked, __m256i m0,
                              __m256i m1) {
    __m256 s0[CONVK_MR], s1[CONVK_MR];
    for (int r = 0; r < KB; r++) s0[r] = s1[r] = _mm256_setzero_ps();
    for (int m = 0; m < mt; m++) {
        const float *a = packed ? ap + (size_t)m * KB : rows[m] + c0, *dm = d + (long)m * d_ld;
        const __m256 d0 = dw_load(dm, masked, m0), d1 = dw_load(dm + 8, masked, m1);
        for (int r = 0; r < KB; r++) {
            const __m256 x = _mm256_broadcast_ss(a + r);
            s0[r] = _mm256_fmadd_ps(x, d0, s0[r]);
            s1[r] = _mm256_fmadd_ps(x, d1, s1[r]);
        }
    }
    for (int r = 0; r < KB; r++) {
        float *o = dwt + (size_t)r * N;
        dw_store(o, masked, m0, _mm256_add_ps(dw_load(o, masked, m0), s0[r]));
        dw_store(o + 8, masked, m1, _mm256_add_ps(dw_load(o + 8, masked, m1), s1[r]));
    }
}
ALWAYS_INLINE void dw_block_m(float *dwt, int N, const float *const *rows, int c0, const float *d, int d_ld, int mt,
                              const int KB, const int masked, __m256i m0, __m256i m1) {
    dw_block_g(dwt, N, rows, c0, NULL, 0, d, d_ld, mt, KB, masked, m0, m1);
}
ALWAYS_INLINE void dw_block(float *dwt, int N, const float *const *rows, int c0, const float *d, int d_ld, int mt,
                            const int KB) {
    const __m256i all = _mm256_set1_epi32(-1);
    dw_block_g(dwt, N, rows, c0, NULL, 0, d, d_ld, mt, KB, 0, all, all);
}

/* dw_block for a row count kb (1..6) known at run time: each case inlines the kernel for
 * that constant, so the accumulators stay in registers. Inlined itself: as a called
 * function (88c34fd) the LSTM's dW products ran at half speed (MMF dW_hh 48-55 -> 92-106 ms) */
ALWAYS_INLINE void dw_block_kb(float *dwt, int N, const float *const *rows, int c0, const float *d, int d_ld, int mt,
                        int kb) {
    switch (kb) {
    case 6: dw_block(dwt, N, rows, c0, d, d_ld, mt, 6); break;
    case 5: dw_block(dwt, N, rows, c0, d, d_ld, mt, 5); break;
    case 4: dw_block(dwt, N, rows, c0, d, d_ld, mt, 4); break;
    case 3: dw_block(dwt, N, rows, c0, d, d_ld, mt, 3); break;
    case 2: dw_block(dwt, N, rows, c0, d, d_ld, mt, 2); break;
    default: dw_block(dwt, N, rows, c0, d, d_ld, mt, 1); break;
    }
}

/* dw_block over a packed block of a: its KB values of row m at ap[m * KB + r] */
ALWAYS_INLINE void dw_block_p(float *dwt, int N, const float *ap, const float *d, int d_ld, int mt, const int KB) {
    const __m256i all = _mm256_set1_epi32(-1);
    dw_block_g(dwt, N, NULL, 0, ap, 1, d, d_ld, mt, KB, 0, all, all);
}
ALWAYS_INLINE void dw_block_p_kb(float *dwt, int N, const float *ap, const float *d, int d_ld, int mt, int kb) {
    switch (kb) {
    case 6: dw_block_p(dwt, N, ap, d, d_ld, mt, 6); break;
    case 5: dw_block_p(dwt, N, ap, d, d_ld, mt, 5); break;
    case 4: dw_block_p(dwt, N, ap, d, d_ld, mt, 4); break;
    case 3: dw_block_p(dwt, N, ap, d, d_ld, mt, 3); break;
    case 2: dw_block_p(dwt, N, ap, d, d_ld, mt, 2); break;
    default: dw_block_p(dwt, N, ap, d, d_ld, mt, 1); break;
    }
}

/* dst (mt, 16) = the 16 columns of d from column n, rows m < mt (stride d_ld): one panel
 * of d made contiguous */
static void dw_copy_panel(float *dst, const float *d, int d_ld, int mt, int n) {
    for (int m = 0; m < mt; m++) memcpy(dst + (size_t)m * CONVK_NR, d + (long)m * d_ld + n, sizeof(float) * CONVK_NR);
}

void convk_dw_tap(float *dwt, const float *const *rows, const float *d, int d_ld, int mt, int L, int N,
                  float *dscratch) {
    if (convk_avx512() && N % 32 == 0) {
        convk_dw_tap_avx512(dwt, rows, d, d_ld, mt, L, N);
        return;
    }
    const int Nf = N / CONVK_NR * CONVK_NR;
    /* a's columns gathered contiguous (its rows are far apart): all of them (small L) or
     * 6 at a time (the gathered path) */
    float ap_small[CONVK_KC * CONVK_DW_SMALL_L] __attribute__((aligned(64)));
    const float *prow[CONVK_KC];
    if (mt <= CONVK_KC && Nf >= 4 * CONVK_NR &&
        (L <= CONVK_DW_SMALL_L || (dscratch && L <= CONVK_DW_GATHER_L))) {
        /* few rows (an LSTM's dW_ih over 19 inputs, or [x | h]^T dg over 19 + 128): all L
         * columns of a gathered once (on the stack, or into dscratch: at most 240 KB, so it
         * stays in L2), the rows cut into near-equal blocks (19 = 4+5+5+5, not 6+6+6+1), and
         * each 16-column panel of d swept over every block while it sits in L1: d is read
         * once, straight from its rows */
        const int nblk = (L + CONVK_MR - 1) / CONVK_MR;
        float *ap = L <= CONVK_DW_SMALL_L ? ap_small : dscratch;
        for (int m = 0; m < mt; m++) /* block b's (m, r) at ap[c0 * mt + m * kb + r] */
            for (int b = 0; b < nblk; b++) {
                const int c0 = b * L / nblk, kb = (b + 1) * L / nblk - c0;
                for (int r = 0; r < kb; r++) ap[(size_t)c0 * mt + (size_t)m * kb + r] = rows[m][c0 + r];
            }
        /* with scratch, each panel of d is first copied contiguous (mt x 16 after the
         * gathered a): read from rows far apart, its loads missed the L1 TLB every time */
        float *dp = ap == dscratch ? dscratch + (size_t)mt * L : NULL;
        for (int n = 0; n < Nf; n += CONVK_NR) {
            const float *dn = d + n;
            int dld = d_ld;
            if (dp) {
                dw_copy_panel(dp, d, d_ld, mt, n);
                dn = dp, dld = CONVK_NR;
            }
            /* and the next panel's lines on their way while this one is swept (d fresh from
             * DRAM: the LSTM backward -2-3 %) */
            if (n + CONVK_NR < Nf)
                for (int m = 0; m < mt; m++) __builtin_prefetch(d + (long)m * d_ld + n + CONVK_NR, 0, 3);
            for (int b = 0; b < nblk; b++) {
                const int c0 = b * L / nblk, kb = (b + 1) * L / nblk - c0;
                dw_block_p_kb(dwt + (size_t)c0 * N + n, N, ap + (size_t)c0 * mt, dn, dld, mt, kb);
            }
        }
    } else if (mt <= CONVK_KC && Nf >= 4 * CONVK_NR) {   /* gathering pays off from 4 panels */
        /* a block of 6 columns of a is gathered once (mt x 6) and swept over every 16-column
         * panel of d while it sits in L1. So every panel of d is swept once per 6 rows of
         * dwt: read from rows far apart (d_ld floats) each time unless copied contiguous
         * first: +1-20 % on the LSTMs' dW (wide d), -5-10 % on the inception convs' (d 64
         * wide, copied once per tap), which therefore pass no scratch (tests/bench/bench_dw.c,
         * AMD Zen 3) */
        const float *dpn = d;
        int dld = d_ld;
        if (dscratch) {
            for (int n = 0; n < Nf; n += CONVK_NR) dw_copy_panel(dscratch + (size_t)n * mt, d, d_ld, mt, n);
            dpn = dscratch, dld = CONVK_NR;
        }
        for (int m = 0; m < mt; m++) prow[m] = ap_small + m * CONVK_MR;
        for (int c0 = 0; c0 < L; c0 += CONVK_MR) {
            const int kb = L - c0 < CONVK_MR ? L - c0 : CONVK_MR;
            for (int m = 0; m < mt; m++)
                for (int r = 0; r < kb; r++) ap_small[m * CONVK_MR + r] = rows[m][c0 + r];
            for (int n = 0; n < Nf; n += CONVK_NR) {
                float *o = dwt + (size_t)c0 * N + n;
                const float *dn = dscratch ? dpn + (size_t)n * mt : dpn + n;
                dw_block_kb(o, N, prow, 0, dn, dld, mt, kb);
            }
        }
    } else {
        for (int n = 0; n < Nf; n += CONVK_NR)
            for (int c0 = 0; c0 < L; c0 += CONVK_MR) {
                float *o = dwt + (size_t)c0 * N + n;
                dw_block_kb(o, N, rows, c0, d + n, d_ld, mt, L - c0 < CONVK_MR ? L - c0 : CONVK_MR);
            }
    }
    /* the last N % 16 columns: the same chain per element (fmaf is the lane's FMA) */
    if (Nf < N) {
        const int nt = N - Nf;
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nt), lane);
        const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nt - 8), lane);
        for (int c0 = 0; c0 < L; c0 += CONVK_MR) {
            float *o = dwt + (size_t)c0 * N + Nf;
            switch (L - c0 < CONVK_MR ? L - c0 : CONVK_MR) {
            case 6: dw_block_m(o, N, rows, c0, d + Nf, d_ld, mt, 6, 1, m0, m1); break;
            case 5: dw_block_m(o, N, rows, c0, d + Nf, d_ld, mt, 5, 1, m0, m1); break;
            case 4: dw_block_m(o, N, rows, c0, d + Nf, d_ld, mt, 4, 1, m0, m1); break;
            case 3: dw_block_m(o, N, rows, c0, d + Nf, d_ld, mt, 3, 1, m0, m1); break;
            case 2: dw_block_m(o, N, rows, c0, d + Nf, d_ld, mt, 2, 1, m0, m1); break;
            default: dw_block_m(o, N, rows, c0, d + Nf, d_ld, mt, 1, 1, m0, m1); break;
            }
        }
    }
}

/* column sums in registers, 4 x 8 columns at a time (the db of a chunk); s is the
 * first term, then the rows in order */
void convk_colsum(float *s, const float *d, int d_ld, int mt, int N) {
    int n = 0;
    for (; n + 32 <= N; n += 32) {
        __m256 a0 = _mm256_loadu_ps(s + n), a1 = _mm256_loadu_ps(s + n + 8), a2 = _mm256_loadu_ps(s + n + 16),
               a3 = _mm256_loadu_ps(s + n + 24);
        for (int m = 0; m < mt; m++) {
            const float *dm = d + (long)m * d_ld + n;
            a0 = _mm256_add_ps(a0, _mm256_loadu_ps(dm));
            a1 = _mm256_add_ps(a1, _mm256_loadu_ps(dm + 8));
            a2 = _mm256_add_ps(a2, _mm256_loadu_ps(dm + 16));
            a3 = _mm256_add_ps(a3, _mm256_loadu_ps(dm + 24));
        }
        _mm256_storeu_ps(s + n, a0);
        _mm256_storeu_ps(s + n + 8, a1);
        _mm256_storeu_ps(s + n + 16, a2);
        _mm256_storeu_ps(s + n + 24, a3);
    }
    for (; n + 8 <= N; n += 8) {
        __m256 a = _mm256_loadu_ps(s + n);
        for (int m = 0; m < mt; m++) a = _mm256_add_ps(a, _mm256_loadu_ps(d + (long)m * d_ld + n));
        _mm256_storeu_ps(s + n, a);
    }
    for (; n < N; n++)
        for (int m = 0; m < mt; m++) s[n] += d[(long)m * d_ld + n];
}

void convk_gemm_nt(float *C, int ldc, const float *A, int lda, int M, int K, const float *wp, int N,
                   const float *bias, int accumulate) {
    const int MR = convk_mr(N);
    const float *rows[CONVK_MR_MAX];
    for (int m0 = 0; m0 < M; m0 += MR) {
        const int mr = M - m0 < MR ? M - m0 : MR;
        for (int r = 0; r < mr; r++) rows[r] = A + (size_t)(m0 + r) * lda; /* one tap of L = K */
        /* the next block's rows into L1 while this one runs: the kernel reads MR rows at
         * once, 4 bytes per row per step, which the hardware prefetchers follow badly (the
         * MMF heads' 128 -> 16 Linear over an 8 MB input: 3.3 -> 1.2-1.9 ms on Zen 3). Not
         * for the LSTMs' per-step products (32 rows, just written: in L1 or L2 already) */
        for (int r = 0; K >= 32 && M >= 64 && r < MR && m0 + MR + r < M; r++) {
            const char *p = (const char *)(A + (size_t)(m0 + MR + r) * lda);
            for (int o = 0; o < K * (int)sizeof(float); o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
        }
        convk_forward_rows(C + (size_t)m0 * ldc, ldc, rows, 1, K, wp, N, bias, accumulate, mr);
    }
}

void convk_gemm_tn(float *G, const float *A, int lda, const float *D, int ldd, int M, int K, int N,
                   float *dscratch) {
    const float *rows[CONVK_KC];
    for (int m0 = 0; m0 < M;) {
        const int mt = convk_kblock(M - m0);
        for (int r = 0; r < mt; r++) rows[r] = A + (size_t)(m0 + r) * lda;
        convk_dw_tap(G, rows, D + (size_t)m0 * ldd, ldd, mt, K, N, dscratch);
        m0 += mt;
    }
}

#endif
