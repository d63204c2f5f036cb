/* test_layer_maxpool.c: MaxPool 3x1 (stride 1, pad 1) forward/backward.
 *
 * Checks against a reference written here from PyTorch's CPU kernel
 * (aten/src/ATen/native/cpu/MaxPoolKernel.cpp: maxval = -inf, index = first
 * valid row, replace when val > maxval || isnan(val)), on random data, on data
 * full of ties, on hand-made NaN / -inf windows; finite differences; accumulate
 * vs overwrite; guard values in strided padding columns; 1 vs 2 vs 3 threads.
 * Forward is a selection and backward a routing of dy values: both are exact, so
 * every comparison is bit-exact (tolerance 0). The hand-made windows were checked
 * against torch 1.13.1 MaxPool2d((3,1),1,(1,0)), contiguous and channels_last.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/common/util.h"
#include "../../src/engine/layers/layers_cpu.h"
#include "gradcheck.h"

#define GUARD (-4242.5f)

static size_t nrows(PoolDims d) { return (size_t)d.B * d.H * d.W; }

/* the argmax row h' of output (b,h,w,c), as PyTorch picks it */
static int ref_argmax(const float *x, PoolDims d, int b, int h, int w, int c) {
    int lo = h - 1 < 0 ? 0 : h - 1, hi = h + 1 > d.H - 1 ? d.H - 1 : h + 1;
    float maxval = -INFINITY;
    int maxidx = lo;
    for (int ih = lo; ih <= hi; ih++) {
        float val = x[(((size_t)b * d.H + ih) * d.W + w) * d.x_ld + c];
        if ((val > maxval) || isnan(val)) {
            maxval = val;
            maxidx = ih;
        }
    }
    return maxidx;
}

/* y dense (rows, C); dx dense (rows, C), gradient only */
static void ref_pool(float *y, float *dx, const float *x, const float *dy, PoolDims d) {
    memset(dx, 0, sizeof(float) * nrows(d) * d.C);
    for (int b = 0; b < d.B; b++)
        for (int h = 0; h < d.H; h++)
            for (int w = 0; w < d.W; w++)
                for (int c = 0; c < d.C; c++) {
                    int a = ref_argmax(x, d, b, h, w, c);
                    size_t o = ((size_t)b * d.H + h) * d.W + w, i = ((size_t)b * d.H + a) * d.W + w;
                    y[o * d.C + c] = x[i * d.x_ld + c];
                    dx[i * d.C + c] += dy[o * d.y_ld + c];
                }
}

static float *alloc_rows(size_t rows, int C, int ld) {
    float *x = dl_aligned_alloc(sizeof(float) * rows * ld);
    for (size_t i = 0; i < rows * ld; i++) x[i] = GUARD;
    (void)C;
    return x;
}

static int guards_ok(const float *x, size_t rows, int C, int ld) {
    for (size_t r = 0; r < rows; r++)
        for (int c = C; c < ld; c++)
            if (memcmp(&x[r * ld + c], &(float){GUARD}, sizeof(float)) != 0) return 0;
    return 1;
}

/* bitwise equality, so NaN == NaN and -0 != +0 */
static int same_bits(const float *a, int lda, const float *b, int ldb, size_t rows, int C) {
    for (size_t r = 0; r < rows; r++)
        if (memcmp(a + r * lda, b + r * ldb, sizeof(float) * C) != 0) return 0;
    return 1;
}

/* kind: 0 random normal, 1 ties (values from {-1,0,1}), 2 specials (NaN, -inf, +inf mixed in) */
static void fill_x(float *x, PoolDims d, int kind, uint64_t key) {
    for (size_t r = 0; r < nrows(d); r++)
        for (int c = 0; c < d.C; c++) {
            size_t i = r * d.C + c;
            float v = (float)dl_rand_normal(key, i);
            if (kind == 1) v = (float)(int)(dl_rand_u64(key, i) % 3) - 1.0f;
            if (kind == 2) {
                uint64_t u = dl_rand_u64(dl_key(key, 9), i) % 8;
                v = u == 0 ? NAN : u == 1 ? -INFINITY : u == 2 ? INFINITY : u == 3 ? -INFINITY : v;
            }
            x[r * d.x_ld + c] = v;
        }
}

static void check_case(const char *name, PoolDims d, int kind) {
    size_t n = nrows(d);
    uint64_t key = dl_key(0x9001, dl_hash_str(name));
    float *x = alloc_rows(n, d.C, d.x_ld), *y = alloc_rows(n, d.C, d.y_ld), *dy = alloc_rows(n, d.C, d.y_ld);
    float *dx = alloc_rows(n, d.C, d.x_ld);
    fill_x(x, d, kind, key);
    for (size_t r = 0; r < n; r++)
        for (int c = 0; c < d.C; c++) dy[r * d.y_ld + c] = (float)dl_rand_normal(dl_key(key, 2), r * d.C + c);
    float *ry = dl_malloc(sizeof(float) * n * d.C), *rdx = dl_malloc(sizeof(float) * n * d.C);
    ref_pool(ry, rdx, x, dy, d);

    maxpool3_forward_cpu(y, x, d);
    CHECK(same_bits(y, d.y_ld, ry, d.C, n, d.C), "%s: forward differs from reference", name);
    CHECK(guards_ok(y, n, d.C, d.y_ld), "%s: forward wrote into y padding columns", name);

    /* overwrite: dx starts as NaN, must equal the reference */
    for (size_t r = 0; r < n; r++)
        for (int c = 0; c < d.C; c++) dx[r * d.x_ld + c] = NAN;
    d.accumulate_dx = 0;
    maxpool3_backward_cpu(dx, dy, x, d);
    CHECK(same_bits(dx, d.x_ld, rdx, d.C, n, d.C), "%s: backward (overwrite) differs from reference", name);
    CHECK(guards_ok(dx, n, d.C, d.x_ld), "%s: backward wrote into dx padding columns", name);

    /* accumulate: dx = base + ref, summed in the same order (ref adds onto 0) */
    float *base = dl_malloc(sizeof(float) * n * d.C);
    for (size_t i = 0; i < n * d.C; i++) base[i] = (float)dl_rand_normal(dl_key(key, 3), i);
    for (size_t r = 0; r < n; r++) memcpy(dx + r * d.x_ld, base + r * d.C, sizeof(float) * d.C);
    d.accumulate_dx = 1;
    maxpool3_backward_cpu(dx, dy, x, d);
    /* each dx element receives at most 3 adds; compare with the same sequence in float */
    int ok = 1;
    for (int b = 0; b < d.B && ok; b++)
        for (int h = 0; h < d.H; h++)
            for (int w = 0; w < d.W; w++)
                for (int c = 0; c < d.C; c++) {
                    size_t r = ((size_t)b * d.H + h) * d.W + w;
                    float e = base[r * d.C + c];
                    for (int ho = h - 1; ho <= h + 1; ho++) {
                        if (ho < 0 || ho >= d.H) continue;
                        if (ref_argmax(x, d, b, ho, w, c) == h)
                            e += dy[(((size_t)b * d.H + ho) * d.W + w) * d.y_ld + c];
                    }
                    if (memcmp(&e, &dx[r * d.x_ld + c], sizeof e) != 0) ok = 0;
                }
    CHECK(ok, "%s: backward (accumulate) differs from base + reference", name);
    CHECK(guards_ok(dx, n, d.C, d.x_ld), "%s: accumulate wrote into dx padding columns", name);
    printf("  %-26s B=%d H=%d W=%d C=%d x_ld=%d y_ld=%d: forward, backward overwrite/accumulate, guards\n", name,
           d.B, d.H, d.W, d.C, d.x_ld, d.y_ld);
    free(x); free(y); free(dy); free(dx); free(ry); free(rdx); free(base);
}

/* hand-made windows (H=3, one column): exact y and argmax for each output row */
static void check_windows(void) {
    struct { float v[3]; float y[3]; int arg[3]; const char *what; } T[] = {
        {{1, 2, 3}, {2, 3, 3}, {1, 2, 2}, "increasing"},
        {{2, 2, 2}, {2, 2, 2}, {0, 0, 1}, "all tied: first in window order"},
        {{5, 1, 5}, {5, 5, 5}, {0, 0, 2}, "tie across ends"},
        {{NAN, 1, 2}, {NAN, NAN, 2}, {0, 0, 2}, "NaN first row propagates"},
        {{1, NAN, NAN}, {NAN, NAN, NAN}, {1, 2, 2}, "last NaN in window wins"},
        {{-INFINITY, -INFINITY, -INFINITY}, {-INFINITY, -INFINITY, -INFINITY}, {0, 0, 1}, "all -inf: first valid"},
        {{-INFINITY, 0, -INFINITY}, {0, 0, 0}, {1, 1, 1}, "-inf loses"},
    };
    PoolDims d = {1, 3, 1, 1, 1, 1, 0};
    for (size_t t = 0; t < sizeof T / sizeof T[0]; t++) {
        float y[3], dx[3], dy[3] = {1, 10, 100};
        maxpool3_forward_cpu(y, T[t].v, d);
        maxpool3_backward_cpu(dx, dy, T[t].v, d);
        float edx[3] = {0, 0, 0};
        int ok = 1;
        for (int h = 0; h < 3; h++) {
            edx[T[t].arg[h]] += dy[h];
            if (!(y[h] == T[t].y[h] || (isnan(y[h]) && isnan(T[t].y[h])))) ok = 0;
        }
        if (memcmp(dx, edx, sizeof dx) != 0) ok = 0;
        printf("  window [%g %g %g]: y [%g %g %g] dx [%g %g %g] (%s)\n", T[t].v[0], T[t].v[1], T[t].v[2], y[0], y[1],
               y[2], dx[0], dx[1], dx[2], T[t].what);
        CHECK(ok, "window %s: y or dx wrong", T[t].what);
    }
    /* H = 1: the window is the element itself */
    PoolDims d1 = {2, 1, 1, 2, 2, 2, 0};
    float x1[4] = {-3, 4, NAN, -INFINITY}, y1[4], dx1[4], dy1[4] = {1, 2, 3, 4};
    maxpool3_forward_cpu(y1, x1, d1);
    maxpool3_backward_cpu(dx1, dy1, x1, d1);
    CHECK(y1[0] == -3 && y1[1] == 4 && isnan(y1[2]) && y1[3] == -INFINITY && memcmp(dx1, dy1, sizeof dx1) == 0,
          "H=1: identity expected");
    printf("  H=1: identity\n");
}

/* L = sum(y .* R) on distinct values spaced 1e-2 apart; h = 1e-3 never changes an argmax */
typedef struct { PoolDims d; float *x, *y; const float *R; } Fd;
static double fd_loss(void *v) {
    Fd *f = v;
    maxpool3_forward_cpu(f->y, f->x, f->d);
    double L = 0;
    for (size_t i = 0; i < nrows(f->d) * f->d.C; i++) L += (double)f->y[i] * f->R[i];
    return L;
}
static void check_fd(void) {
    PoolDims d = {2, 9, 3, 4, 4, 4, 0};
    size_t n = nrows(d) * d.C;
    float *x = dl_malloc(sizeof(float) * n), *y = dl_malloc(sizeof(float) * n), *R = dl_malloc(sizeof(float) * n);
    float *dx = dl_malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = (float)i;
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates with the counter RNG */
        size_t j = dl_rand_u64(77, i) % (i + 1);
        float t = x[i]; x[i] = x[j]; x[j] = t;
    }
    for (size_t i = 0; i < n; i++) {
        x[i] *= 0.01f;
        R[i] = (float)dl_rand_normal(78, i);
    }
    maxpool3_backward_cpu(dx, R, x, d);
    Fd f = {d, x, y, R};
    double e = gc_fd_check(x, dx, n, fd_loss, &f, 1e-3, n, 1e-2);
    printf("  finite differences on all %zu inputs: max rel err %.2e\n", n, e);
    CHECK(e <= 1e-3, "maxpool finite differences err %.3e", e);
    free(x); free(y); free(R); free(dx);
}

static void check_det(void) {
    PoolDims d = {37, 88, 1, 32, 40, 36, 1};
    size_t n = nrows(d);
    float *x = alloc_rows(n, d.C, d.x_ld), *dy = alloc_rows(n, d.C, d.y_ld);
    fill_x(x, d, 1, 5); /* ties make the order matter */
    for (size_t r = 0; r < n; r++)
        for (int c = 0; c < d.C; c++) dy[r * d.y_ld + c] = (float)dl_rand_normal(6, r * d.C + c);
    float *ys[3], *dxs[3];
    for (int t = 0; t < 3; t++) {
        omp_set_num_threads(t + 1);
        ys[t] = alloc_rows(n, d.C, d.y_ld);
        dxs[t] = alloc_rows(n, d.C, d.x_ld);
        for (size_t r = 0; r < n; r++)
            for (int c = 0; c < d.C; c++) dxs[t][r * d.x_ld + c] = (float)dl_rand_normal(7, r * d.C + c);
        maxpool3_forward_cpu(ys[t], x, d);
        maxpool3_backward_cpu(dxs[t], dy, x, d);
    }
    omp_set_num_threads(2);
    for (int t = 1; t < 3; t++) {
        int sy = memcmp(ys[0], ys[t], sizeof(float) * n * d.y_ld) == 0;
        int sx = memcmp(dxs[0], dxs[t], sizeof(float) * n * d.x_ld) == 0;
        printf("  1 vs %d threads: y %s, dx %s\n", t + 1, sy ? "identical" : "DIFFER", sx ? "identical" : "DIFFER");
        CHECK(sy && sx, "maxpool: results differ between 1 and %d threads", t + 1);
    }
    for (int t = 0; t < 3; t++) { free(ys[t]); free(dxs[t]); }
    free(x); free(dy);
}

int main(void) {
    omp_set_num_threads(2);
    printf("maxpool3 vs reference (bit-exact):\n");
    check_case("random dense", (PoolDims){3, 12, 1, 8, 8, 8, 0}, 0);
    check_case("random strided", (PoolDims){2, 17, 3, 5, 9, 7, 0}, 0);
    check_case("ties", (PoolDims){3, 20, 2, 6, 6, 6, 0}, 1);
    check_case("ties strided", (PoolDims){5, 11, 1, 16, 19, 18, 0}, 1);
    check_case("NaN/inf specials", (PoolDims){3, 25, 2, 7, 10, 7, 0}, 2);
    check_case("H=2", (PoolDims){4, 2, 3, 3, 3, 5, 0}, 0);
    check_case("inception4 shape B=19", (PoolDims){19, 88, 1, 32, 32, 32, 0}, 0);
    printf("hand-made windows:\n");
    check_windows();
    printf("finite differences:\n");
    check_fd();
    printf("determinism:\n");
    check_det();
    return gc_summary("test_layer_maxpool");
}
