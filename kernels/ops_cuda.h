/* ops_cuda.h: the CUDA twins' launchers (kernels/elementwise.cu, attention.cu,
 * lstm.cu, batchnorm_shard.cu, conv2d_cuda.cu). Same signatures as the CPU ops (layers/layers_cpu.h) with a _cuda
 * suffix; all pointers are device pointers; work runs on the legacy default stream. */
#ifndef DL_OPS_CUDA_H
#define DL_OPS_CUDA_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

void leaky_forward_cuda(float *y, const float *x, int rows, int C, int x_ld, int y_ld, float slope);
void leaky_backward_cuda(float *dx, const float *dy, const float *y, int rows, int C, int ld_dx, int ld_dy,
                         int ld_y, float slope, int accumulate);
void dropout_forward_cuda(float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t key);
void dropout_backward_cuda(float *dx, const float *dy, const uint8_t *mask, size_t n, float p);
void add_cuda(float *y, const float *a, const float *b, size_t n);
void accumulate_cuda(float *y, const float *a, size_t n);
void scale_cuda(float *x, size_t n, float s);
void adam_update_cuda(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1, float beta2,
                      float eps, float weight_decay, int t);
double sumsq_cuda(const float *x, size_t n);
float huber_loss_cuda(float *dpred, const float *pred, const float *target, int n, float delta, float weight);
size_t batchnorm_scratch_floats_cuda(BNDims d);
void batchnorm_forward_cuda(float *y, float *mean, float *rstd, float *running_mean, float *running_var,
                            const float *x, const float *gamma, const float *beta, BNDims d, int training,
                            float *scratch);
void batchnorm_backward_cuda(float *dx, float *dgamma, float *dbeta, const float *dy, const float *y,
                             const float *x, const float *gamma, const float *beta, const float *mean,
                             const float *rstd, BNDims d, float *scratch);
/* batchnorm_shard.cu: the sharded BatchNorm ops (data parallelism) */
void batchnorm_shard_sums_cuda(double *sums, const float *x, BNDims d, float *scratch);
void batchnorm_apply_cuda(float *y, const float *x, const float *mean, const float *rstd, const float *gamma,
                          const float *beta, BNDims d, float *scratch);
void batchnorm_shard_bwd_sums_cuda(double *sums, const float *dy, const float *x, const float *gamma,
                                   const float *beta, const float *mean, const float *rstd, BNDims d, float *scratch);
void batchnorm_bwd_apply_cuda(float *dx, const float *dy, const float *x, const float *gamma, const float *beta,
                              const float *mean, const float *rstd, const float *kgw, BNDims d, float *scratch);
void batchnorm_shard_combine_cuda(float *mean, float *rstd, float *rm, float *rv, const double *all, int K, size_t blk,
                                  const float *gamma, BNDims d);
void batchnorm_shard_bwd_combine_cuda(float *kgw, float *dgamma, float *dbeta, const double *all, int K, size_t blk,
                                      const float *gamma, const float *rstd, BNDims d);
void softmax_forward_cuda(float *P, const float *S, int rows, int n);
void softmax_backward_cuda(float *dS, const float *dP, const float *P, int rows, int n);
void gate_mul_forward_cuda(float *y, const float *g, const float *t, size_t n);
void gate_mul_backward_cuda(float *dg, float *dt, const float *dy, const float *g, const float *t, size_t n);
void copy_rows_cuda(float *y, const float *x, int rows, int C, int ld_y, int ld_x, int accumulate);
/* conv2d_cuda.cu: cuDNN set-up (once, from the backend's init); the workspace bytes of
 * the first algorithm choice for packed dims pd, recorded as the shape's budget when
 * smaller than any before (conv2d_scratch_floats_cuda); the floats the ops of d may use
 * (that budget); the three directions, as GpuPrims' conv slots */
void conv2d_cuda_init(void);
size_t conv2d_cuda_reserve(ConvDims pd);
size_t conv2d_cuda_ws_floats(ConvDims d);
void conv2d_cuda_fwd(void *ctx, float *y, const float *x, const float *w, ConvDims pd, float *ws, size_t ws_floats);
void conv2d_cuda_bwd_filter(void *ctx, float *dw, const float *x, const float *dy, ConvDims pd, float *ws,
                            size_t ws_floats);
void conv2d_cuda_bwd_data(void *ctx, float *dx, const float *w, const float *dy, ConvDims pd, float beta, float *ws,
                          size_t ws_floats);
void lstm_cell_forward_cuda(float *cache, const float *b_ih, const float *b_hh, LSTMDims d, int t,
                            cudaStream_t stream);
void lstm_cell_backward_cuda(float *dgates, float *dc, const float *dh, const float *cache, LSTMDims d, int t,
                             cudaStream_t stream);

#ifdef __cplusplus
}
#endif
#endif
