/* layers_cpu.h: CPU implementations of the Backend ops (one file per layer).
 * Semantics, shapes and conventions: see backend.h. backend_cpu.c puts these
 * into the CPU Backend table. */
#ifndef DL_LAYERS_CPU_H
#define DL_LAYERS_CPU_H

#include "../backend.h"

/* conv2d.c */
size_t conv2d_scratch_floats_cpu(ConvDims d, int nthreads);
void conv2d_forward_cpu(float *out, const float *in, const float *w, const float *b, ConvDims d, float *scratch);
void conv2d_backward_cpu(float *din, float *dw, float *db, const float *dout, const float *in,
                         const float *w, ConvDims d, float *scratch);
/* maxpool.c */
void maxpool3_forward_cpu(float *y, const float *x, PoolDims d);
void maxpool3_backward_cpu(float *dx, const float *dy, const float *x, PoolDims d);
/* batchnorm.c */
size_t batchnorm_scratch_floats_cpu(BNDims d);
void batchnorm_forward_cpu(float *y, float *mean, float *rstd, float *running_mean, float *running_var,
                           const float *x, const float *gamma, const float *beta, BNDims d, int training,
                           float *scratch);
void batchnorm_backward_cpu(float *dx, float *dgamma, float *dbeta, const float *dy, const float *y,
                            const float *x, const float *gamma, const float *beta, const float *mean,
                            const float *rstd, BNDims d, float *scratch);
void batchnorm_shard_sums_cpu(double *sums, const float *x, BNDims d, float *scratch);
void batchnorm_apply_cpu(float *y, const float *x, const float *mean, const float *rstd, const float *gamma,
                         const float *beta, BNDims d, float *scratch);
void batchnorm_shard_bwd_sums_cpu(double *sums, const float *dy, const float *x, const float *gamma,
                                  const float *beta, const float *mean, const float *rstd, BNDims d,
                                  float *scratch);
void batchnorm_bwd_apply_cpu(float *dx, const float *dy, const float *x, const float *gamma, const float *beta,
                             const float *mean, const float *rstd, const float *kgw, BNDims d, float *scratch);
void batchnorm_shard_combine_cpu(float *mean, float *rstd, float *rm, float *rv, const double *all, int K, size_t blk,
                                 const float *gamma, BNDims d);
void batchnorm_shard_bwd_combine_cpu(float *kgw, float *dgamma, float *dbeta, const double *all, int K, size_t blk,
                                     const float *gamma, const float *rstd, BNDims d);
/* activation.c: LeakyReLU, dropout, add */
void leaky_forward_cpu(float *y, const float *x, int rows, int C, int x_ld, int y_ld, float slope);
void leaky_backward_cpu(float *dx, const float *dy, const float *y, int rows, int C, int ld_dx, int ld_dy,
                        int ld_y, float slope, int accumulate);
void dropout_forward_cpu(float *y, uint8_t *mask, const float *x, size_t n, float p, uint64_t key);
void dropout_backward_cpu(float *dx, const float *dy, const uint8_t *mask, size_t n, float p);
void add_cpu(float *y, const float *a, const float *b, size_t n);
void accumulate_cpu(float *y, const float *a, size_t n);
/* loss.c */
float huber_loss_cpu(float *dpred, const float *pred, const float *target, int n, float delta, float weight);
/* optim.c */
double sumsq_cpu(const float *x, size_t n);
void scale_cpu(float *x, size_t n, float s);
void adam_update_cpu(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                     float beta2, float eps, float weight_decay, int t);
/* lstm.c */
size_t lstm_cache_floats_cpu(LSTMDims d);
size_t lstm_scratch_floats_cpu(LSTMDims d, int nthreads);
void lstm_forward_cpu(float *h_last, float *cache, const float *x, const float *w_ih, const float *w_hh,
                      const float *b_ih, const float *b_hh, LSTMDims d, float *scratch);
void lstm_backward_cpu(float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                       const float *dh_last, const float *cache, const float *x, const float *w_ih,
                       const float *w_hh, LSTMDims d, float *scratch);
/* one step of one sequence, (h, c) (H) carried by the caller; first: zero state; gates (4H)
 * workspace. The bits of lstm_forward_cpu's step for that sequence. */
void lstm_step_cpu(float *h, float *c, float *gates, const float *x, const float *w_ih, const float *w_hh,
                   const float *b_ih, const float *b_hh, int In, int H, int first);
/* linear.c */
size_t linear_scratch_floats_cpu(LinearDims d, int nthreads);
void linear_forward_cpu(float *y, const float *x, const float *w, const float *b, LinearDims d, float *scratch);
void linear_backward_cpu(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                         LinearDims d, float *scratch);

/* attention.c: batched attention products, softmax, sigmoid gate, strided row copy */
size_t attn_scratch_floats_cpu(AttnDims d, int nthreads);
void attn_scores_forward_cpu(float *S, const float *Q, const float *K, AttnDims d, float *scratch);
void attn_scores_backward_cpu(float *dQ, float *dK, const float *dS, const float *Q, const float *K, AttnDims d,
                              float *scratch);
void attn_apply_forward_cpu(float *O, const float *P, const float *V, AttnDims d, float *scratch);
void attn_apply_backward_cpu(float *dP, float *dV, const float *dO, const float *P, const float *V, AttnDims d,
                             float *scratch);
void softmax_forward_cpu(float *P, const float *S, int rows, int n);
void softmax_backward_cpu(float *dS, const float *dP, const float *P, int rows, int n);
void gate_mul_forward_cpu(float *y, const float *g, const float *t, size_t n);
void gate_mul_backward_cpu(float *dg, float *dt, const float *dy, const float *g, const float *t, size_t n);
void copy_rows_cpu(float *y, const float *x, int rows, int C, int ld_y, int ld_x, int accumulate);

#endif
