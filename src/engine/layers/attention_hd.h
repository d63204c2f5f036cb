/* attention_hd.h: the per-element and per-row arithmetic of the attention ops
 * (softmax over the key axis, sigmoid gate), written once and called by both the
 * CPU loops (attention.c) and the CUDA kernels (kernels/attention.cu), so the CPU
 * unit tests run the very arithmetic the GPU runs (style.md). Row functions sum
 * in index order: the same bits on both sides, for any thread count. */
#ifndef DL_ATTENTION_HD_H
#define DL_ATTENTION_HD_H

#include <math.h>

#include "hd.h"

/* PyTorch's sigmoid: 1/(1+exp(-x)); exp overflow gives 0, never NaN */
DL_HD float dl_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* gated fusion element: y = sigmoid(g) * t */
DL_HD float dl_gate_fwd(float g, float t) { return dl_sigmoid(g) * t; }

/* its gradients: dt = dy*s, dg = dy*t*s*(1-s), s = sigmoid(g). Reads all inputs
 * before writing, so dg may alias g and dt may alias t. */
DL_HD void dl_gate_bwd(float *dg, float *dt, float dy, float g, float t) {
    float s = dl_sigmoid(g);
    float ds = dy * t;
    *dt = dy * s;
    *dg = ds * s * (1.0f - s);
}

/* p (n) = softmax(s (n)), numerically stable (max subtracted); p may be s */
DL_HD void dl_softmax_row(float *p, const float *s, int n) {
    float mx = s[0];
    for (int j = 1; j < n; j++) mx = s[j] > mx ? s[j] : mx;
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        float e = expf(s[j] - mx);
        p[j] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < n; j++) p[j] *= inv;
}

/* ds (n) = p * (dp - sum_j dp_j p_j); ds may be dp */
DL_HD void dl_softmax_bwd_row(float *ds, const float *dp, const float *p, int n) {
    float dot = 0.0f;
    for (int j = 0; j < n; j++) dot += dp[j] * p[j];
    for (int j = 0; j < n; j++) ds[j] = p[j] * (dp[j] - dot);
}

#endif
