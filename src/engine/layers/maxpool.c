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

/* Which row of the clipped window [h0, h1] holds the maximum, as an offset from h0.
 * v: the window's values of one channel (n <= 3 rows). */
static inline int pool3_pick(const float *v, int n) {
    float m = -INFINITY;
    int k = 0;
    for (int j = 0; j < n; j++)
        if (v[j] > m || isnan(v[j])) {
            m = v[j];
            k = j;
        }
    return k;
}

static void pool_check(PoolDims d) {
    DL_CHECK(d.B > 0 && d.H > 0 && d.W > 0 && d.C > 0 && d.x_ld >= d.C && d.y_ld >= d.C,
             "maxpool3: bad dims B=%d H=%d W=%d C=%d x_ld=%d y_ld=%d", d.B, d.H, d.W, d.C, d.x_ld, d.y_ld);
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
            for (int c = 0; c < d.C; c++) {
                float v[3];
                for (int j = 0; j < n; j++) v[j] = x0[j * tstride + c];
                yr[c] = v[pool3_pick(v, n)];
            }
        }
    }
}

/* dx (B,H,W,C) ld x_ld (+)= dy (B,H,W,C) ld y_ld routed to each window's argmax in
 * x (B,H,W,C) ld x_ld. Accumulates when d.accumulate_dx, else overwrites. */
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
                const float *x0 = x + xo;
                float *dx0 = dx + xo;
                const float *dyr = dy + (r0 + (long)h * d.W + w) * d.y_ld;
                for (int c = 0; c < d.C; c++) {
                    float v[3];
                    for (int j = 0; j < n; j++) v[j] = x0[j * tstride + c];
                    dx0[pool3_pick(v, n) * tstride + c] += dyr[c];
                }
            }
        }
    }
}
