/* bench_conv.c: GFLOP/s of conv2d_forward_cpu / conv2d_backward_cpu on the DeepLOB
 * hot shapes, at 1 and 2 OpenMP threads, next to a plain large sgemm. Not a ctest.
 *
 * Build and run from the repo root (OpenBLAS pinned to 1 thread inside the ops,
 * as the backend does):
 *   gcc -O3 -mavx2 -mfma -fopenmp -std=c11 -Isrc -I/usr/include/x86_64-linux-gnu/openblas-pthread \
 *       tests/bench/bench_conv.c src/engine/layers/conv2d.c src/engine/layers/conv2d_kernels.c \
 *       src/engine/layers/conv2d_kernels_avx512.c src/common/util.c -lopenblas -lm -o /tmp/bench_conv
 *   nice /tmp/bench_conv [B=256] [reps=5]      (BENCH_HOT=1: only conv1b and conv2b)
 * The machines are shared: numbers move by 2x under load; compare within one run.
 * BENCH_CPUTIME=1 OMP_NUM_THREADS=1: 1-thread rows only, timed in thread CPU time
 * (steadier under load, for comparing variants).
 * BENCH_ISA_AB=1 (with the two above): the AVX2 and AVX-512 twins interleaved call by
 * call on each shape, GFLOP/s of both and their ratio (which twin, and with
 * DEEPLOB_MR512=N which AVX-512 forward row block, suits this CPU).
 *
 * FLOPs: forward 2*M*Cout*K (M = B*Ho*Wo output rows, K = kh*kw*Cin); backward
 * counts dW and din, 2 x forward (db and col2im are not counted); "dW" is the backward
 * with din = NULL (dW and db only), 1 x forward. Best of reps.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "../../src/engine/layers/layers_cpu.h"
#include "../../src/common/util.h"
#include "../../src/engine/layers/conv2d_kernels.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void openblas_set_num_threads(int);

/* BENCH_CPUTIME=1: time the calling thread's CPU time instead of wall time. With
 * OMP_NUM_THREADS=1 that ignores time lost to other processes on a shared machine
 * (use it to compare variants; report wall times). */
static double now_s(void) {
    if (!getenv("BENCH_CPUTIME")) return dl_now();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static float *rnd(size_t n, unsigned seed) {
    float *x = dl_aligned_alloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) * (1.0f / 16777216.0f) - 0.5f;
    }
    return x;
}

/* best-of-reps seconds of one sgemm M=N=K=n, BLAS on `threads` threads */
static double sgemm_gflops(int n, int threads, int reps) {
    openblas_set_num_threads(threads);
    float *a = rnd((size_t)n * n, 1), *b = rnd((size_t)n * n, 2), *c = rnd((size_t)n * n, 3);
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t = dl_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t = dl_now() - t;
        if (r > 0 && t < best) best = t;
    }
    free(a); free(b); free(c);
    openblas_set_num_threads(1);
    return 2.0 * n * n * (double)n / best * 1e-9;
}

/* one shape's buffers, and the forward, backward and dW-only backward timed once */
typedef struct {
    float *in, *w, *b, *out, *dout, *din, *dw, *db, *scratch;
    double flop; /* of the forward */
} Bufs;

static Bufs bufs(ConvDims d) {
    size_t ni = (size_t)d.B * d.H * d.W, no = (size_t)d.B * conv_out_h(d) * conv_out_w(d);
    size_t K = (size_t)d.kh * d.kw * d.Cin;
    Bufs x = {rnd(ni * d.in_ld, 4), rnd(d.Cout * K, 5), rnd(d.Cout, 6), rnd(no * d.out_ld, 7), rnd(no * d.out_ld, 8),
              rnd(ni * d.in_ld, 9), rnd(d.Cout * K, 10), rnd(d.Cout, 11),
              dl_aligned_alloc(sizeof(float) * conv2d_scratch_floats_cpu(d, 2)), 2.0 * (double)no * d.Cout * (double)K};
    return x;
}

static void bufs_free(Bufs *x) {
    free(x->in); free(x->w); free(x->b); free(x->out); free(x->dout); free(x->din); free(x->dw); free(x->db);
    free(x->scratch);
}

/* t: seconds of forward, backward (dW and din), backward (dW only) */
static void run_once(Bufs *x, ConvDims d, double t[3]) {
    double t0 = now_s();
    conv2d_forward_cpu(x->out, x->in, x->w, x->b, d, x->scratch);
    double t1 = now_s();
    conv2d_backward_cpu(x->din, x->dw, x->db, x->dout, x->in, x->w, d, x->scratch);
    double t2 = now_s();
    conv2d_backward_cpu(NULL, x->dw, x->db, x->dout, x->in, x->w, d, x->scratch);
    double t3 = now_s();
    t[0] = t1 - t0, t[1] = t2 - t1, t[2] = t3 - t2;
}

static void bench(const char *name, ConvDims d, int reps) {
    Bufs x = bufs(d);
    const double flop = x.flop;
    const int th_max = getenv("BENCH_CPUTIME") ? 1 : 2;
    for (int th = 1; th <= th_max; th++) {
        omp_set_num_threads(th);
        double best[3] = {1e30, 1e30, 1e30}, t[3];
        for (int r = 0; r <= reps; r++) {
            run_once(&x, d, t);
            for (int j = 0; j < 3 && r > 0; j++) /* r = 0 warms caches and pages */
                if (t[j] < best[j]) best[j] = t[j];
        }
        printf("%-10s B=%-4d H=%-3d W=%-2d Cin=%-3d Cout=%-3d k=%dx%d  %d thr: fwd %6.2f ms %6.1f GFLOP/s | "
               "bwd %6.2f ms %6.1f GFLOP/s | dW %6.1f GFLOP/s\n",
               name, d.B, d.H, d.W, d.Cin, d.Cout, d.kh, d.kw, th, best[0] * 1e3, flop / best[0] * 1e-9,
               best[1] * 1e3, 2 * flop / best[1] * 1e-9, flop / best[2] * 1e-9);
    }
    bufs_free(&x);
}

/* BENCH_ISA_AB=1: the AVX2 and the AVX-512 kernels interleaved call by call on one shape
 * (1 thread; best of reps each): which twin a CPU should run, measured under the same
 * noise. The bits are the same either way (test_layer_conv). */
static void bench_isa_ab(const char *name, ConvDims d, int reps) {
    Bufs x = bufs(d);
    const double flop = x.flop;
    double best[2][3], t[3];
    omp_set_num_threads(1);
    for (int i = 0; i < 6; i++) best[i / 3][i % 3] = 1e30;
    for (int r = 0; r <= reps; r++)
        for (int isa = 0; isa < 2; isa++) {
            if (convk_set_avx512(isa) != isa) { printf("%s: no AVX-512 on this CPU\n", name); goto done; }
            run_once(&x, d, t);
            for (int j = 0; j < 3 && r > 0; j++)
                if (t[j] < best[isa][j]) best[isa][j] = t[j];
        }
    printf("%-10s GFLOP/s avx2/avx512: fwd %5.1f %5.1f (%.2f) | bwd %5.1f %5.1f (%.2f) | dW %5.1f %5.1f (%.2f)\n", name,
           flop / best[0][0] * 1e-9, flop / best[1][0] * 1e-9, best[0][0] / best[1][0], 2 * flop / best[0][1] * 1e-9,
           2 * flop / best[1][1] * 1e-9, best[0][1] / best[1][1], flop / best[0][2] * 1e-9,
           flop / best[1][2] * 1e-9, best[0][2] / best[1][2]);
done:
    bufs_free(&x);
}

static ConvDims mk(int B, int H, int W, int Cin, int Cout, int kh, int kw, int sw, int dil, int pt, int pb,
                   int in_ld, int out_ld) {
    ConvDims d = {B, H, W, Cin, Cout, kh, kw, 1, sw, dil, pt, pb, in_ld, out_ld, 0};
    return d;
}

int main(int argc, char **argv) {
    int B = argc > 1 ? atoi(argv[1]) : 256, reps = argc > 2 ? atoi(argv[2]) : 5;
    openblas_set_num_threads(1); /* the backend's caller pins BLAS; the ops run it inside OpenMP */
    printf("sgemm 2048^3: 1 BLAS thread %.1f GFLOP/s, 2 BLAS threads %.1f GFLOP/s\n", sgemm_gflops(2048, 1, 3),
           sgemm_gflops(2048, 2, 3));
    void (*run)(const char *, ConvDims, int) = getenv("BENCH_ISA_AB") ? bench_isa_ab : bench;
#define bench run
    bench("conv1b", mk(B, 100, 20, 32, 32, 4, 1, 1, 1, 0, 0, 32, 32), reps);
    bench("conv2b", mk(B, 94, 10, 32, 32, 4, 1, 1, 1, 0, 0, 32, 32), reps);
    if (getenv("BENCH_HOT")) return 0;
    bench("conv1c", mk(B, 97, 20, 32, 32, 4, 1, 1, 1, 0, 0, 32, 32), reps);
    bench("conv2c", mk(B, 91, 10, 32, 32, 4, 1, 1, 1, 0, 0, 32, 32), reps);
    bench("conv1a", mk(B, 100, 40, 1, 32, 1, 2, 2, 1, 0, 0, 1, 32), reps);
    bench("conv2a", mk(B, 94, 20, 32, 32, 1, 2, 2, 1, 0, 0, 32, 32), reps);
    bench("conv3a", mk(B, 88, 10, 32, 32, 1, 10, 1, 1, 0, 0, 32, 32), reps);
    bench("inc1x1", mk(B, 88, 1, 32, 64, 1, 1, 1, 1, 0, 0, 32, 256), reps);
    bench("inc3x1", mk(B, 88, 1, 64, 64, 3, 1, 1, 1, 1, 1, 64, 256), reps);
    bench("inc5x1", mk(B, 88, 1, 64, 64, 5, 1, 1, 1, 2, 2, 64, 256), reps);
    bench("tcn_d4", mk(B, 88, 1, 64, 64, 3, 1, 1, 4, 8, 0, 64, 64), reps);
    bench("tcn0_c1", mk(B, 88, 1, 256, 64, 3, 1, 1, 1, 2, 0, 256, 64), reps);  /* block 0 conv1 */
    bench("tcn0_res", mk(B, 88, 1, 256, 64, 1, 1, 1, 1, 0, 0, 256, 64), reps); /* residual 1x1 */
    return 0;
}
