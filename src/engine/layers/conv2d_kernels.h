/* conv2d_kernels.h: AVX2+FMA register-blocked kernels: conv2d.c's direct path and the
 * products of linear.c, lstm.c and attention.c.
 *
 * A conv output row is a sum over taps t of (input row segment t) . (weight slice t):
 * the segment of tap t for output row m starts at rows[t][m] (a pointer into the
 * channels-last input, or to a zero row where the tap falls in the time padding), so
 * no patch matrix (im2col) is ever built and nothing is packed per call but the
 * weights, once. Output columns come in panels of CONVK_NR; rows in blocks of up to
 * CONVK_MR. Each output element is a fixed-order sum over k (in the K blocks of
 * convk_kblock): the result does not depend on the blocking of rows, nor on threads.
 */
#ifndef DL_CONV2D_KERNELS_H
#define DL_CONV2D_KERNELS_H

#include <stdint.h>

#if defined(__AVX2__) && defined(__FMA__)
#define CONVK_AVAILABLE 1
#else
#define CONVK_AVAILABLE 0
#endif

#define CONVK_NR 16    /* output columns per panel: 2 ymm */
#define CONVK_MR 6     /* AVX2 rows per register block: 6 x 2 accumulators */
#define CONVK_MR512 12 /* AVX-512 forward (conv2d_kernels_avx512.c): up to 12 rows x 2 panels, 24 zmm */
#define CONVK_MR_MAX 12

/* 1 when the AVX-512 kernels run: the CPU has AVX-512F and DEEPLOB_ISA is not "avx2"
 * (tests set it to cover both twins; the bits are the same either way) */
#if CONVK_AVAILABLE
int convk_avx512(void);
/* tests: run the AVX2 (0) or, where the CPU has it, the AVX-512 (1) kernels from now
 * on; returns the choice in effect. Call outside parallel regions. */
int convk_set_avx512(int on);
/* rows per AVX-512 forward block on this CPU: 8 where 512-bit ops are double-pumped
 * (AMD family 19h, Zen 4: 12 rows need 12 row pointers, more than the free registers,
 * and ran 5-15 % slower, docs/performance.md), else CONVK_MR512. DEEPLOB_MR512=2..12
 * overrides (benchmarks). Block sizes change no chain, so no bits. */
int convk_mr512(void);
/* tests: AVX-512 forward blocks of mr rows from now on (2..CONVK_MR512); returns the old
 * value. Call outside parallel regions. */
int convk_set_mr512(int mr);
#else
static inline int convk_avx512(void) { return 0; }
static inline int convk_set_avx512(int on) { return 0; }
static inline int convk_mr512(void) { return CONVK_MR512; }
static inline int convk_set_mr512(int mr) { return CONVK_MR512; }
#endif
/* 1 when a forward over N output columns runs the AVX-512 kernel */
static inline int convk_fwd512(int N) { return convk_avx512() && N % 32 == 0; }
/* rows per forward register block for N output columns: the stride of the row-pointer
 * table that convk_forward_rows reads (rows[t * convk_mr(N) + r]) */
static inline int convk_mr(int N) { return convk_fwd512(N) ? convk_mr512() : CONVK_MR; }

/* The canonical order of every product of the model ops (convs, linear, LSTM,
 * attention): a reduction longer than CONVK_KC is cut into blocks, each summed from
 * zero by FMAs in k order, then added to the output (the first block to the bias or
 * the old value) in turn. The block rule (kc = 320, the halving with unroll 16) was
 * taken from OpenBLAS 0.3.21's Cooperlake sgemm when these kernels mirrored it; it is
 * now simply ours, fixed, so the bits depend on no library and no CPU. Length of the
 * next block of a remaining reduction of rem terms: */
#define CONVK_KC 320
#define CONVK_KU 16
static inline int convk_kblock(long rem) {
    if (rem >= 2 * CONVK_KC) return CONVK_KC;
    if (rem > CONVK_KC) return (int)((rem / 2 + CONVK_KU - 1) / CONVK_KU * CONVK_KU);
    return (int)rem;
}

/* panels of 16 output columns covering N (the last one zero-padded) */
static inline int convk_panels(int N) { return (N + CONVK_NR - 1) / CONVK_NR; }
/* floats of convk_pack's output for an (N, K) weight */
static inline long convk_pack_floats(int N, int K) { return (long)convk_panels(N) * CONVK_NR * K; }

/* wp (panels(N), K, 16): weight panels, columns >= N zero. w is (N, K) row-major
 * (trans 0) or (K, N) (trans 1). Any N. */
void convk_pack(float *wp, const float *w, int N, int K, int trans);
/* the same with rows of stride ld (w (N, K; ld) or (K, N; ld)) */
void convk_pack_ld(float *wp, const float *w, int ld, int N, int K, int trans);

/* out (mr, N) rows of stride out_ld = [out or bias] + sum_t a_t (mr, L) @ w_t^T (the sum
 * in K blocks, each added in turn), where
 * row r of a_t starts at rows[t * convk_mr(N) + r] and wp is convk_pack of w (N, ntaps*L).
 * bias (N) or NULL; accumulate 1: add onto out; CONVK_STREAM: overwrite with streaming
 * stores (only for K = ntaps*L <= CONVK_KC, out and out_ld 64-byte aligned; the caller
 * fences). 1 <= mr <= convk_mr(N). Any N: a last partial panel runs through a 16-column
 * buffer, each element the same chain as in a full panel. */
#define CONVK_STREAM 2
/* CONVK_STREAM's preconditions on the output and the reduction length K */
static inline int convk_stream_ok(const float *out, int out_ld, int K) {
    return K <= CONVK_KC && out_ld % 16 == 0 && ((uintptr_t)out & 63) == 0;
}
/* after streaming stores, before another thread reads them (they are weakly ordered) */
void convk_fence(void);
void convk_forward_rows(float *out, int out_ld, const float *const *rows, int ntaps, int L, const float *wp, int N,
                        const float *bias, int accumulate, int mr);

/* dwt (L, N) += (sum_{m < mt} a(m)^T d(m), from zero, m in order): a(m) (L) starts at
 * rows[m], d(m) (N) at d + m*d_ld. One tap's slice of a transposed weight gradient
 * (K, N). Any N (the last N % 16 columns: fmaf, the same chain). dscratch: NULL, or
 * convk_dw_scratch_floats(L, N) floats (64-byte aligned) where the AVX2 kernel gathers
 * all of a (L <= CONVK_DW_GATHER_L) or copies d's panels contiguous when it sweeps them
 * many times (the gathered path); same bits. */
void convk_dw_tap(float *dwt, const float *const *rows, const float *d, int d_ld, int mt, int L, int N,
                  float *dscratch);
#define CONVK_DW_GATHER_L 192
static inline long convk_dw_scratch_floats(int L, int N) {
    long nf = N / CONVK_NR * CONVK_NR;
    return (long)CONVK_KC * (L <= CONVK_DW_GATHER_L && L + CONVK_NR > nf ? L + CONVK_NR : nf);
}

/* s (N) += d(m) for m = 0..mt-1 in order (d(m) (N) at d + m*d_ld). Any N. */
void convk_colsum(float *s, const float *d, int d_ld, int mt, int N);

/* Plain GEMMs on the same kernels (the LSTM's projections):
 * C (M, N) row stride ldc = A (M, K) lda @ W^T, W (N, K) packed by convk_pack into wp;
 * + bias (N) if non-NULL, + the old C if accumulate (added after the sum). */
void convk_gemm_nt(float *C, int ldc, const float *A, int lda, int M, int K, const float *wp, int N,
                   const float *bias, int accumulate);
/* G (K, N) += A^T D: A (M, K) lda, D (M, N) ldd; the sum over m runs in convk_kblock
 * blocks, each from zero, added in order. Any N. dscratch as for convk_dw_tap. */
void convk_gemm_tn(float *G, const float *A, int lda, const float *D, int ldd, int M, int K, int N,
                   float *dscratch);

/* the AVX-512 twins (N % 32 == 0; the dispatchers above call them) */
void convk_forward_rows_avx512(float *out, int out_ld, const float *const *rows, int ntaps, int L, const float *wp,
                               int N, const float *bias, int accumulate, int mr);
void convk_dw_tap_avx512(float *dwt, const float *const *rows, const float *d, int d_ld, int mt, int L, int N);

#endif
