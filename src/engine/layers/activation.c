/* activation.c: CPU LeakyReLU, dropout, add, accumulate.
 *
 * All element-wise: every output element depends on its own inputs only, so
 * OpenMP may split the work any way without changing a bit. Small tensors run
 * on one thread (a parallel region costs more than the work).
 * The element arithmetic lives in elementwise.h, shared with the CUDA kernels.
 */
#include <omp.h>
#include <string.h>

#include "../../common/util.h"
#include "elementwise.h"
#include "layers_cpu.h"

/* below this many elements a parallel region does not pay */
#define EW_PAR_MIN (1 << 15)

/* y (rows, C; y_ld) = LeakyReLU(x (rows, C; x_ld)); y may be x (same ld) */
void leaky_forward_cpu(float *y, const float *x, int rows, int C, int x_ld, int y_ld, float slope) {
    DL_CHECK(rows >= 0 && C > 0 && x_ld >= C && y_ld >= C, "leaky_forward: bad dims rows=%d C=%d x_ld=%d y_ld=%d",
             rows, C, x_ld, y_ld);
    if (x_ld == C && y_ld == C) { /* dense: one flat loop */
        size_t n = (size_t)rows * C;
#pragma omp parallel for simd schedule(static) if (n > EW_PAR_MIN)
        for (size_t i = 0; i < n; i++) y[i] = dl_leaky(x[i], slope);
        return;
    }
#pragma omp parallel for schedule(static) if ((size_t)rows * C > EW_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * x_ld;
        float *yr = y + (size_t)r * y_ld;
        for (int c = 0; c < C; c++) yr[c] = dl_leaky(xr[c], slope);
    }
}

/* dx (rows, C; ld_dx) (+)= dy (rows, C; ld_dy) * (y > 0 ? 1 : slope), y (rows, C; ld_y)
 * the forward output; dx may be dy (same ld, accumulate = 0) */
void leaky_backward_cpu(float *dx, const float *dy, const float *y, int rows, int C, int ld_dx, int ld_dy,
                        int ld_y, float slope, int accumulate) {
    DL_CHECK(rows >= 0 && C > 0 && ld_dx >= C && ld_dy >= C && ld_y >= C,
             "leaky_backward: bad dims rows=%d C=%d ld_dx=%d ld_dy=%d ld_y=%d", rows, C, ld_dx, ld_dy, ld_y);
#pragma omp parallel for schedule(static) if ((size_t)rows * C > EW_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        float *dxr = dx + (size_t)r * ld_dx;
        const float *dyr = dy + (size_t)r * ld_dy, *yr = y + (size_t)r * ld_y;
        if (accumulate)
            for (int c = 0; c < C; c++) dxr[c] += dl_leaky_grad(dyr[c], yr[c], slope);
        else
            for (int c = 0; c < C; c++) dxr[c] = dl_leaky_grad(dyr[c], yr[c], slope);
    }
}

/* y (n) = x (n) * keep / (1-p), mask (n) = keep (0/1); keep iff
 * dl_dropout_keep(key, i, p). p == 0: copy, mask all 1. y may be x. */
void dropout_forward_cpu(float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t key) {
    DL_CHECK(p >= 0.0f && p <= 1.0f, "dropout: p=%g outside [0,1]", (double)p);
    if (p == 0.0f) {
        if (y != x) memcpy(y, x, n * sizeof(float));
        memset(mask, 1, n);
        return;
    }
    const float scale = dl_dropout_scale(p);
    const size_t npair = n / 2;
#pragma omp parallel for schedule(static) if (n > EW_PAR_MIN)
    for (size_t j = 0; j < npair; j++) { /* one hash per pair (dl_dropout_keep) */
        uint64_t r = dl_dropout_hash(key, j);
        uint8_t k0 = dl_dropout_keep_bits(r, 0, p), k1 = dl_dropout_keep_bits(r, 1, p);
        mask[2 * j] = k0;
        mask[2 * j + 1] = k1;
        y[2 * j] = dl_dropout_elem(x[2 * j], k0, scale);
        y[2 * j + 1] = dl_dropout_elem(x[2 * j + 1], k1, scale);
    }
    if (n & 1) {
        uint8_t k = dl_dropout_keep(key, n - 1, p);
        mask[n - 1] = k;
        y[n - 1] = dl_dropout_elem(x[n - 1], k, scale);
    }
}

/* dx (n) = dy (n) * mask (n) / (1-p); dx may be dy */
void dropout_backward_cpu(float *dx, const float *dy, const uint8_t *mask, size_t n, float p) {
    DL_CHECK(p >= 0.0f && p <= 1.0f, "dropout: p=%g outside [0,1]", (double)p);
    if (p == 0.0f) {
        if (dx != dy) memcpy(dx, dy, n * sizeof(float));
        return;
    }
    const float scale = dl_dropout_scale(p);
#pragma omp parallel for simd schedule(static) if (n > EW_PAR_MIN)
    for (size_t i = 0; i < n; i++) dx[i] = dl_dropout_elem(dy[i], mask[i], scale);
}

/* y (n) = a (n) + b (n); y may be a or b */
void add_cpu(float *y, const float *a, const float *b, size_t n) {
#pragma omp parallel for simd schedule(static) if (n > EW_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

/* y (n) += a (n) */
void accumulate_cpu(float *y, const float *a, size_t n) {
#pragma omp parallel for simd schedule(static) if (n > EW_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] += a[i];
}
