/* bench_dw.c: GFLOP/s of the weight-gradient kernel (convk_gemm_tn, G (K, N) = A^T D over
 * M rows) on the engine's hot dW shapes, with and without its copy of D's panels
 * (dscratch), one thread; checks that both give the same bits. Not a ctest.
 *
 * Build and run from the repo root:
 *   gcc -O3 -mavx2 -mfma -std=c11 -Isrc tests/bench/bench_dw.c src/engine/layers/conv2d_kernels.c \
 *       src/common/util.c -lm -o /tmp/bench_dw
 *   /tmp/bench_dw [reps=30]
 * (AVX2 kernels: the file's AVX-512 twins are not linked, so the run forces DEEPLOB_ISA=avx2.)
 * Timed in thread CPU time, best of reps, the two variants interleaved: the machines are
 * shared and wall time moves by 20 % or more between runs.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, setenv */
#include "../../src/common/util.h"
#include "../../src/engine/layers/conv2d_kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the AVX-512 twins are chosen only on CPUs that have it; DEEPLOB_ISA=avx2 keeps them out */
void convk_forward_rows_avx512(float *out, int out_ld, const float *const *rows, int ntaps, int L, const float *wp,
                               int N, const float *bias, int accumulate, int mr) {
    (void)out, (void)out_ld, (void)rows, (void)ntaps, (void)L, (void)wp, (void)N, (void)bias, (void)accumulate, (void)mr;
    abort();
}
void convk_dw_tap_avx512(float *dwt, const float *const *rows, const float *d, int d_ld, int mt, int L, int N) {
    (void)dwt, (void)rows, (void)d, (void)d_ld, (void)mt, (void)L, (void)N;
    abort();
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *fill(size_t n, unsigned seed) {
    float *p = dl_aligned_alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

int main(int argc, char **argv) {
    setenv("DEEPLOB_ISA", "avx2", 1);
    const int reps = argc > 1 ? atoi(argv[1]) : 30;
    /* M rows, K (dW rows, the gathered side), N (dW columns, D's width); where they occur */
    const struct { int M, K, N; const char *what; } s[] = {
        {2624, 256, 256, "deeplob LSTM dW_ih (32 samples x 82 steps, 4H = 256, In = 256)"},
        {2624, 256, 64, "deeplob LSTM dW_hh (H = 64)"},
        {4096, 512, 128, "MMF LSTM dW_hh (32 x 128 steps, 4H = 512, H = 128)"},
        {4096, 19, 512, "MMF LSTM dW_ih as x^T dg (In = 19: the small-L path, no copy)"},
        {4096, 147, 512, "MMF LSTM [x | h]^T dg, dW_ih and dW_hh fused (scratch: all 147 columns gathered)"},
        {1408, 32, 64, "inception 1x1 conv dW, one sample group (16 samples x 88 rows, Cin 32, Cout 64)"},
        {1408, 64, 64, "inception 3x1 / 5x1 conv dW, one tap of one sample group (Cin 64)"},
        {15040, 64, 32, "conv2a dW (1x2 stride 2, Cin 32: K = 64 as one segment), one sample group"},
        {15520, 32, 32, "conv1b / conv1c dW (4x1, Cin 32), one tap of one sample group"},
    };
    fflush(stdout);
    if (system("grep -m1 'model name' /proc/cpuinfo") != 0) printf("model name: unknown\n");
    printf("1 thread, thread CPU time, best of %d\n", reps);
    printf("| shape (M x K x N) | where | strided GFLOP/s | copied GFLOP/s | copied / strided | bits |\n");
    printf("|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
        const int M = s[i].M, K = s[i].K, N = s[i].N;
        float *A = fill((size_t)M * K, 1 + (unsigned)i), *D = fill((size_t)M * N, 100 + (unsigned)i);
        float *G0 = dl_aligned_alloc(sizeof(float) * (size_t)K * N), *G1 = dl_aligned_alloc(sizeof(float) * (size_t)K * N);
        float *scr = dl_aligned_alloc(sizeof(float) * (size_t)(convk_dw_scratch_floats(K, N) + 16));
        double b0 = 1e30, b1 = 1e30;
        for (int r = 0; r < reps; r++) {
            memset(G0, 0, sizeof(float) * (size_t)K * N);
            double t0 = cpu_now();
            convk_gemm_tn(G0, A, K, D, N, M, K, N, NULL);
            double t1 = cpu_now();
            memset(G1, 0, sizeof(float) * (size_t)K * N);
            double t2 = cpu_now();
            convk_gemm_tn(G1, A, K, D, N, M, K, N, scr);
            double t3 = cpu_now();
            if (t1 - t0 < b0) b0 = t1 - t0;
            if (t3 - t2 < b1) b1 = t3 - t2;
        }
        const double fl = 2.0 * M * K * N;
        printf("| %d x %d x %d | %s | %.1f | %.1f | %.3f | %s |\n", M, K, N, s[i].what, fl / b0 / 1e9, fl / b1 / 1e9,
               b0 / b1, memcmp(G0, G1, sizeof(float) * (size_t)K * N) ? "DIFFER" : "same");
        free(A), free(D), free(G0), free(G1), free(scr);
    }
    return 0;
}
