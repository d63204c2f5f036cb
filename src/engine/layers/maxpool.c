/* maxpool.c: MaxPool 3x1 over time, stride 1, pad 1 (PyTorch MaxPool2d((3,1),1,(1,0))).
 *
 * x, y, dx: (B, H, W, C) channels-last, row strides x_ld / y_ld (dx uses x_ld, dy y_ld).
 * Padding never wins: the window is clipped to [0, H). Ties and NaN follow PyTorch's
 * CPU kernel: maxval starts at -inf with the index on the first valid row, and a
 * row replaces it when (val > max || isnan(val)), scanning h-1, h, h+1. So the first
 * maximum wins, a NaN always wins (the last NaN in the window), and an all -inf
 * window picks its first row. Backward recomputes that argmax (nothing stored).
 */
#include <math.h>
#include <string.h>

#include "../../common/util.h"
#include "layers_cpu.h"

static void pool_check(PoolDims d) {
    DL_CHECK(d.B > 0 && d.H > 0 && d.W > 0 && d.C > 0 && d.x_ld >= d.C && d.y_ld >= d.C,
             "maxpool3: bad dims B=%d H=%d W=%d C=%d x_ld=%d y_ld=%d", d.B, d.H, d.W, d.C, d.x_ld, d.y_ld);
}

/* The winner of a clipped window of n (2 or 3) rows v0, v1[, v2], as PyTorch picks
 * it (header); k = its offset from the window's first row. Branch-free, so the
 * loops over a row's channels vectorise (the branchy scan cost 12 ms per step). */
static inline float pool3_max(float v0, float v1, float v2, int n, int *k) {
    int k1 = v1 > v0 || isnan(v1);
    float m = k1 ? v1 : v0;
    int k2 = n > 2 && (v2 > m || isnan(v2));
    *k = k2 ? 2 : k1;
    return k2 ? v2 : m;
}

/* y (B,H,W,C) ld y_ld = max over x (B,H,W,C) ld x_ld rows h-1..h+1 (clipped). */
void maxpool3_forward_cpu(float *y, const float *x, PoolDims d) {
    pool_check(d);
    const long nbh = (long)d.B * d.H;
    const long tstride = (long)d.W * d.x_ld; /* one time step in x */
#pragma omp parallel for schedule(static)
    for (long bh = 0; bh < nbh; bh++) {
        int h = (int)(bh % d.H);
        int h0 = h > 0 ? h - 1 : 0, h1 = h + 1 < d.H ? h + 1 : d.H - 1, n = h1 - h0 + 1;
        for (int w = 0; w < d.W; w++) {
            const float *x0 = x + ((bh - (h - h0)) * d.W + w) * (long)d.x_ld;
            float *yr = y + (bh * d.W + w) * (long)d.y_ld;
            if (n == 1) {
                for (int c = 0; c < d.C; c++) yr[c] = x0[c];
                continue;
            }
            const float *x1 = x0 + tstride, *x2 = n > 2 ? x1 + tstride : x1;
#pragma omp simd
            for (int c = 0; c < d.C; c++) {
                int k;
                yr[c] = pool3_max(x0[c], x1[c], x2[c], n, &k);
            }
        }
    }
}

/* dx (B,H,W,C) ld x_ld (+)= dy (B,H,W,C) ld y_ld routed to each window's argmax in
 * x (B,H,W,C) ld x_ld. Accumulates when d.accumulate_dx, else overwrites.
 * Every row of a window gets dy or -0.0f (x + -0.0f == x for every x, signed zeros
 * included), so the bits are those of adding dy to the argmax row alone. */
void maxpool3_backward_cpu(float *dx, const float *dy, const float *x, PoolDims d) {
    pool_check(d);
    const long tstride = (long)d.W * d.x_ld;
    /* one sample per iteration: a sample's dy only reaches its own dx rows, and
     * each dx element gets its contributions in h order whatever the threads */
#pragma omp parallel for schedule(static)
    for (int b = 0; b < d.B; b++) {
        const long r0 = (long)b * d.H * d.W;
        if (!d.accumulate_dx)
            for (long r = r0; r < r0 + (long)d.H * d.W; r++) memset(dx + r * d.x_ld, 0, sizeof(float) * d.C);
        for (int h = 0; h < d.H; h++) {
            int h0 = h > 0 ? h - 1 : 0, h1 = h + 1 < d.H ? h + 1 : d.H - 1, n = h1 - h0 + 1;
            for (int w = 0; w < d.W; w++) {
                const long xo = (r0 + (long)h0 * d.W + w) * d.x_ld;
                const float *x0 = x + xo, *x1 = x0 + tstride, *x2 = n > 2 ? x1 + tstride : x1;
                float *restrict dx0 = dx + xo, *restrict dx1 = dx0 + tstride;
                float *restrict dx2 = n > 2 ? dx1 + tstride : dx1;
                const float *dyr = dy + (r0 + (long)h * d.W + w) * d.y_ld;
                if (n == 1) {
                    for (int c = 0; c < d.C; c++) dx0[c] += dyr[c];
                    continue;
                }
                if (n == 2) {
#pragma omp simd
                    for (int c = 0; c < d.C; c++) {
                        int k;
                        pool3_max(x0[c], x1[c], x1[c], 2, &k);
                        dx0[c] += k == 0 ? dyr[c] : -0.0f;
                        dx1[c] += k == 1 ? dyr[c] : -0.0f;
                    }
                    continue;
                }
#pragma omp simd
                for (int c = 0; c < d.C; c++) {
                    int k;
                    pool3_max(x0[c], x1[c], x2[c], 3, &k);
                    dx0[c] += k == 0 ? dyr[c] : -0.0f;
                    dx1[c] += k == 1 ? dyr[c] : -0.0f;
                    dx2[c] += k == 2 ? dyr[c] : -0.0f;
                }
            }
        }
    }
}
