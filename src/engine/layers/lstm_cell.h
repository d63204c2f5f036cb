/* lstm_cell.h: the LSTM gate arithmetic for one hidden unit at one time step,
 * shared by the CPU loop (lstm.c) and the CUDA kernels (kernels/lstm.cu), so
 * the CPU tests run the very arithmetic the GPU runs (style.md).
 *
 * PyTorch gate order i, f, g, o; a gate row (4H) holds [i | f | g | o].
 *   i = sigm(z_i)  f = sigm(z_f)  g = tanh(z_g)  o = sigm(z_o)
 *   c_t = f * c_{t-1} + i * g     h_t = o * tanh(c_t)
 * with z = x W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh.
 *
 * Cache layout (lstm_cache_floats = B*T*6H floats), rows r = b*T + t:
 *   act (B, T, 4H)  gate activations i,f,g,o (after the nonlinearity)
 *   c   (B, T, H)   cell state
 *   h   (B, T, H)   hidden state (h_last is its t = T-1 slice)
 * lstm_cache_c() / lstm_cache_h() give the offsets; both backends use them. */
#ifndef DL_LSTM_CELL_H
#define DL_LSTM_CELL_H

#include <math.h>
#include <stddef.h>

#include "hd.h"

DL_HD size_t lstm_cache_c(int B, int T, int H) { return (size_t)B * T * 4 * H; }
DL_HD size_t lstm_cache_h(int B, int T, int H) { return (size_t)B * T * 5 * H; }

/* exp, sigmoid and tanh of the gates. Hand-written (Cephes expf/tanhf
 * polynomials) and branch-free so that the CPU loops over j vectorize: libm's
 * scalar calls made the pointwise cell cost as much as the GEMMs. Same code on
 * the GPU, so both backends round alike. Comparisons are done on the integer
 * bits: GCC will not vectorize float compares under its default
 * -ftrapping-math. NaN propagates. Accuracy against double over [-90, 90]
 * (test_layer_lstm checks it): exp 1.4 ulp on [-87, 87] (|x| is clamped to 87:
 * sigmoid and tanh saturate long before), tanh 1.4e-7 relative, sigmoid 9e-8
 * absolute. */
typedef union { float f; int i; } LstmBits;

DL_HD float lstm_expf(float x) {
    LstmBits u, v;
    u.f = x;
    int a = u.i & 0x7fffffff, lim = 0x42ae0000; /* bits of 87.0f */
    int clamp = (a > lim) & (a <= 0x7f800000);   /* finite or inf beyond 87; not NaN */
    u.i = clamp ? (lim | (u.i & (int)0x80000000)) : u.i;
    x = u.f;
    /* n = round(x / ln2) by the 1.5*2^23 trick; x = n ln2 + r, |r| <= ln2/2 */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f; /* ln2 in two parts */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* x NaN (a diverging symbol) leaves n NaN: converting that to int, and shifting the
     * negative result, is undefined (UBSan, test_mpi_isolation). NaN -> -126 here; every
     * other n is already in [-126, 126], so no result changes, and p carries the NaN. */
    n = n >= -126.0f ? n : -126.0f;
    v.i = ((int)n + 127) << 23; /* 2^n, n in [-126, 126] */
    return p * v.f;
}

DL_HD float lstm_sigmoid(float z) { return 1.0f / (1.0f + lstm_expf(-z)); }

DL_HD float lstm_tanhf(float x) {
    LstmBits u;
    u.f = x;
    int a = u.i & 0x7fffffff, sign = u.i & (int)0x80000000;
    u.i = a;
    float ax = u.f, s = x * x;
    /* |x| < 0.625: odd polynomial (no cancellation near 0) */
    float p = -5.70498872745e-3f;
    p = p * s + 2.06390887954e-2f;
    p = p * s - 5.37397155531e-2f;
    p = p * s + 1.33314422036e-1f;
    p = p * s - 3.33332819422e-1f;
    p = p * s * x + x;
    /* else 1 - 2/(e^{2|x|} + 1) with the sign of x */
    LstmBits q, r;
    q.f = 1.0f - 2.0f / (lstm_expf(2.0f * ax) + 1.0f);
    q.i |= sign;
    r.f = p;
    int m = -(a < 0x3f200000); /* all ones where |x| < 0.625f; a mask, not a branch */
    r.i = (r.i & m) | (q.i & ~m);
    return r.f;
}

/* The forward's pieces, each one expression, so that the CPU's split loops (lstm.c:
 * the gates of a whole row first, then the cell, for more independent work in flight)
 * and the per-unit form below (GPU) round alike. Gate k of unit j: z = g + b_ih + b_hh,
 * sigmoid for k = 0, 1, 3 (i, f, o), tanh for k = 2 (g). */
DL_HD float lstm_gate_z(const float *g, const float *b_ih, const float *b_hh, int e) { return g[e] + b_ih[e] + b_hh[e]; }
DL_HD float lstm_cell_c(float i, float f, float gg, float c_prev) { return f * c_prev + i * gg; }
DL_HD float lstm_cell_h(float o, float cn) { return o * lstm_tanhf(cn); }

/* Forward of unit j (0 <= j < H) of one sample at one step.
 * g    (4H) in: x W_ih^T + h_{t-1} W_hh^T (no bias); out: activations i,f,g,o
 * c, h (H)  row of this sample and step; writes c[j], h[j]
 * b_ih, b_hh (4H); c_prev = c_{t-1}[j] (0 at t = 0) */
DL_HD void lstm_cell_forward_elem(float *g, float *c, float *h, const float *b_ih,
                                  const float *b_hh, float c_prev, int j, int H) {
    float i = lstm_sigmoid(lstm_gate_z(g, b_ih, b_hh, j));
    float f = lstm_sigmoid(lstm_gate_z(g, b_ih, b_hh, H + j));
    float gg = lstm_tanhf(lstm_gate_z(g, b_ih, b_hh, 2 * H + j));
    float o = lstm_sigmoid(lstm_gate_z(g, b_ih, b_hh, 3 * H + j));
    float cn = lstm_cell_c(i, f, gg, c_prev);
    g[j] = i;
    g[H + j] = f;
    g[2 * H + j] = gg;
    g[3 * H + j] = o;
    c[j] = cn;
    h[j] = lstm_cell_h(o, cn);
}

/* Backward of unit j of one sample at one step.
 * dg (4H) out: dL/dz for the four gates at j (pre-activation)
 * a  (4H) gate activations of this step (cache act row)
 * c = c_t[j], c_prev = c_{t-1}[j] (0 at t = 0)
 * dh = dL/dh_t[j] (total); dc = dL/dc_t[j] arriving from step t+1 (already
 * multiplied by f_{t+1}; 0 at the last step).
 * Returns the carry for step t-1: dL/dc_t * f_t. */
DL_HD float lstm_cell_backward_elem(float *dg, const float *a, float c, float c_prev, float dh,
                                    float dc, int j, int H) {
    float i = a[j], f = a[H + j], gg = a[2 * H + j], o = a[3 * H + j];
    float tc = lstm_tanhf(c); /* recomputed: cheaper than caching another (B,T,H) */
    float dct = dc + dh * o * (1.0f - tc * tc);
    dg[j] = dct * gg * i * (1.0f - i);
    dg[H + j] = dct * c_prev * f * (1.0f - f);
    dg[2 * H + j] = dct * i * (1.0f - gg * gg);
    dg[3 * H + j] = dh * tc * o * (1.0f - o);
    return dct * f;
}

#endif
