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

DL_HD float lstm_sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

/* Forward of unit j (0 <= j < H) of one sample at one step.
 * g    (4H) in: x W_ih^T + h_{t-1} W_hh^T (no bias); out: activations i,f,g,o
 * c, h (H)  row of this sample and step; writes c[j], h[j]
 * b_ih, b_hh (4H); c_prev = c_{t-1}[j] (0 at t = 0) */
DL_HD void lstm_cell_forward_elem(float *g, float *c, float *h, const float *b_ih,
                                  const float *b_hh, float c_prev, int j, int H) {
    float i = lstm_sigmoid(g[j] + b_ih[j] + b_hh[j]);
    float f = lstm_sigmoid(g[H + j] + b_ih[H + j] + b_hh[H + j]);
    float gg = tanhf(g[2 * H + j] + b_ih[2 * H + j] + b_hh[2 * H + j]);
    float o = lstm_sigmoid(g[3 * H + j] + b_ih[3 * H + j] + b_hh[3 * H + j]);
    float cn = f * c_prev + i * gg;
    g[j] = i;
    g[H + j] = f;
    g[2 * H + j] = gg;
    g[3 * H + j] = o;
    c[j] = cn;
    h[j] = o * tanhf(cn);
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
    float tc = tanhf(c); /* recomputed: cheaper than caching another (B,T,H) */
    float dct = dc + dh * o * (1.0f - tc * tc);
    dg[j] = dct * gg * i * (1.0f - i);
    dg[H + j] = dct * c_prev * f * (1.0f - f);
    dg[2 * H + j] = dct * i * (1.0f - gg * gg);
    dg[3 * H + j] = dh * tc * o * (1.0f - o);
    return dct * f;
}

#endif
