/* test_cuda_backend.c: the CUDA backend against the CPU backend, on a GPU.
 *
 *  1. every op of the table on the same inputs, forward and backward, on the shapes
 *     the models use and odd ones (wide rows, padding, accumulation, tiny sizes);
 *     element-wise ops whose arithmetic is shared DL_HD code (and max-pool, dropout
 *     masks) must give the same bits, products and reductions agree to ~1e-5;
 *  2. every model: outputs, loss, every gradient, BN buffers and 5 Adam steps against
 *     the CPU backend within test_parity's tolerances (model_compare.h), and a second
 *     identical GPU run gives the same bits;
 *  3. data parallelism (dp_compare.h): the sharded BatchNorm ops against the CPU's, then
 *     a sharded step of K = 4 of the three DeepLOB models against the CPU backend, and 1
 *     rank of 4 shards against 2 ranks (threads sharing the GPU) of 2: the same bits.
 * Where no GPU is usable (a CPU-only build, no driver, no device) it prints why and
 * exits 77, which ctest reports as skipped (SKIP_RETURN_CODE). All device memory is
 * reached through the Backend's memory slots, so this file is plain C.
 * DEEPLOB_CUDA_MUTATE=1 makes the bias-gradient kernel wrong on purpose
 * (kernels/backend_cuda.cu): the test must then fail (scripts/gpu_check.sh shows it);
 * DEEPLOB_CUDA_TEST_OPS_ONLY=1 stops after the op tests. Run from the source (or bundle)
 * root: the model comparisons read tests/fixtures/. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/backend.h"
#include "engine/device.h"
#include "engine/layers/layers_cpu.h"
#include "gradcheck.h"
#include "dp_compare.h"
#include "model_compare.h"

static const Backend *G; /* the CUDA backend */

/* ---- host/device pairs ------------------------------------------------------------ */
typedef struct {
    float *h, *d; /* host copy (CPU op's operand), device copy */
    size_t n;
} Buf;

static Buf buf_rand(size_t n, uint64_t key, float scale) {
    Buf b;
    b.n = n;
    b.h = (float *)malloc((n + 1) * sizeof(float));
    gc_fill(b.h, n, key, scale);
    b.d = (float *)G->mem_alloc((n + 1) * sizeof(float));
    G->copy_to_device(b.d, b.h, n * sizeof(float));
    return b;
}
static Buf buf_zero(size_t n) {
    Buf b = buf_rand(n, 0, 0.0f);
    return b;
}
static void buf_free(Buf *b) {
    free(b->h);
    G->mem_free(b->d);
    memset(b, 0, sizeof *b);
}
/* device copy vs host copy: relative error (tol > 0) or identical bits (tol == 0: only for
 * arithmetic without a*b+c, which nvcc and gcc may contract to FMAs differently) */
static void cmp(const char *what, const Buf *b, double tol) {
    float *got = (float *)malloc((b->n + 1) * sizeof(float));
    G->copy_to_host(got, b->d, b->n * sizeof(float));
    if (tol == 0) {
        CHECK(!memcmp(got, b->h, b->n * sizeof(float)), "%s: CUDA bits differ from the CPU's", what);
    } else {
        double err = gc_rel_err(got, b->h, b->n, 1e-6);
        CHECK(err <= tol, "%s: rel err %.3g > %.3g", what, err, tol);
    }
    free(got);
}
static float *dscratch(size_t n) { return (float *)G->mem_alloc((n + 64) * sizeof(float)); }
static float *hscratch(size_t n) { return (float *)calloc(n + 64, sizeof(float)); }

/* ---- conv ------------------------------------------------------------------------- */
static void conv_case(const char *name, ConvDims d) {
    if (!d.in_ld) d.in_ld = d.Cin;
    if (!d.out_ld) d.out_ld = d.Cout;
    const int Ho = conv_out_h(d), Wo = conv_out_w(d);
    const size_t nin = (size_t)d.B * d.H * d.W * d.in_ld, nout = (size_t)d.B * Ho * Wo * d.out_ld;
    const size_t nw = (size_t)d.Cout * d.kh * d.kw * d.Cin;
    Buf in = buf_rand(nin, 1, 1), w = buf_rand(nw, 2, 0.3f), b = buf_rand(d.Cout, 3, 0.3f), dout = buf_rand(nout, 4, 1);
    Buf out = buf_rand(nout, 5, 1), din = buf_rand(nin, 6, 1), dw = buf_rand(nw, 7, 1), db = buf_rand(d.Cout, 8, 1);
    float *hs = hscratch(conv2d_scratch_floats_cpu(d, 8)), *ds = dscratch(G->conv2d_scratch_floats(d, 1));
    char lab[200];
    conv2d_forward_cpu(out.h, in.h, w.h, b.h, d, hs);
    G->conv2d_forward(out.d, in.d, w.d, b.d, d, ds);
    snprintf(lab, sizeof lab, "conv %s forward", name);
    cmp(lab, &out, 1e-5);
    conv2d_backward_cpu(din.h, dw.h, db.h, dout.h, in.h, w.h, d, hs);
    G->conv2d_backward(din.d, dw.d, db.d, dout.d, in.d, w.d, d, ds);
    snprintf(lab, sizeof lab, "conv %s din", name);
    cmp(lab, &din, 1e-5);
    snprintf(lab, sizeof lab, "conv %s dw", name);
    cmp(lab, &dw, 2e-5);
    snprintf(lab, sizeof lab, "conv %s db", name);
    cmp(lab, &db, 2e-5);
    /* a smaller batch of the same shape (the last batch of an epoch) */
    if (d.B > 1) {
        ConvDims e = d;
        e.B = d.B - 1;
        conv2d_forward_cpu(out.h, in.h, w.h, b.h, e, hs);
        G->conv2d_forward(out.d, in.d, w.d, b.d, e, ds);
        snprintf(lab, sizeof lab, "conv %s forward, batch %d", name, e.B);
        cmp(lab, &out, 1e-5);
    }
    free(hs);
    G->mem_free(ds);
    Buf *all[] = {&in, &w, &b, &dout, &out, &din, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) buf_free(all[i]);
}

static void test_conv(void) {
    ConvDims c;
#define CV(B_, H_, W_, Ci, Co, KH, KW, SW, DIL, PT, PB, ILD, OLD, ACC) \
    (c = (ConvDims){.B = (B_), .H = (H_), .W = (W_), .Cin = (Ci), .Cout = (Co), .kh = (KH), .kw = (KW), .stride_h = 1, \
                    .stride_w = (SW), .dil_h = (DIL), .pad_top = (PT), .pad_bottom = (PB), .in_ld = (ILD), .out_ld = (OLD), \
                    .accumulate_din = (ACC)})
    conv_case("conv1a 1x2/2 Cin 1", CV(8, 100, 40, 1, 32, 1, 2, 2, 1, 0, 0, 0, 0, 0));
    conv_case("conv1b 4x1", CV(8, 100, 20, 32, 32, 4, 1, 1, 1, 0, 0, 0, 0, 0));
    conv_case("conv2a 1x2/2", CV(8, 94, 20, 32, 32, 1, 2, 2, 1, 0, 0, 0, 0, 0));
    conv_case("conv3a 1x10", CV(8, 88, 10, 32, 32, 1, 10, 1, 1, 0, 0, 0, 0, 0));
    conv_case("inception 1x1 acc", CV(8, 88, 1, 32, 64, 1, 1, 1, 1, 0, 0, 0, 0, 1));
    conv_case("inception 3x1 pad 1/1", CV(8, 88, 1, 64, 64, 3, 1, 1, 1, 1, 1, 0, 0, 0));
    conv_case("inception 5x1 pad 2/2", CV(8, 88, 1, 64, 64, 5, 1, 1, 1, 2, 2, 0, 0, 0));
    conv_case("tcn causal d1 from concat", CV(8, 88, 1, 256, 64, 3, 1, 1, 1, 2, 0, 0, 0, 1));
    conv_case("tcn causal d8", CV(8, 88, 1, 64, 64, 3, 1, 1, 8, 16, 0, 0, 0, 0));
    conv_case("odd: wide rows, pad 2/1, dil 2", CV(3, 5, 3, 5, 7, 2, 2, 1, 2, 2, 1, 9, 11, 1));
    conv_case("odd: stride 3, wide in", CV(2, 4, 11, 3, 5, 1, 3, 3, 1, 0, 0, 4, 0, 0));
    conv_case("odd: batch 1", CV(1, 7, 1, 3, 2, 3, 1, 1, 1, 2, 0, 0, 0, 0));
#undef CV
}

/* ---- BatchNorm, LeakyReLU, pool ---------------------------------------------------------- */
static void test_bn(void) {
    const int cases[][5] = {/* rows, C, x_ld, y_ld, slope x100 */ {8 * 100 * 20, 32, 32, 32, 1}, {8 * 88, 64, 64, 256, 1},
                            {8 * 88, 64, 64, 64, 100}, {9000, 5, 7, 6, 1}, {2, 3, 3, 3, 1}, {8, 64, 64, 64, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int training = 0; training <= 1; training++) {
            BNDims d = {.rows = cases[k][0], .C = cases[k][1], .x_ld = cases[k][2], .y_ld = cases[k][3], .eps = 1e-5f,
                        .momentum = 0.1f, .slope = cases[k][4] / 100.0f, .accumulate_dx = (int)(k & 1)};
            const size_t nx = (size_t)d.rows * d.x_ld, ny = (size_t)d.rows * d.y_ld;
            Buf x = buf_rand(nx, 11, 2), y = buf_rand(ny, 12, 1), g = buf_rand(d.C, 13, 1), be = buf_rand(d.C, 14, 1);
            for (int c = 0; c < d.C; c++) g.h[c] = 1.0f + 0.1f * g.h[c];
            G->copy_to_device(g.d, g.h, d.C * sizeof(float));
            Buf mean = buf_zero(d.C), rstd = buf_zero(d.C), rm = buf_rand(d.C, 15, 0.1f), rv = buf_rand(d.C, 16, 0.1f);
            for (int c = 0; c < d.C; c++) rv.h[c] = 1.0f + fabsf(rv.h[c]);
            G->copy_to_device(rv.d, rv.h, d.C * sizeof(float));
            Buf dy = buf_rand(ny, 17, 1), dx = buf_rand(nx, 18, 1), dg = buf_rand(d.C, 19, 1), db = buf_rand(d.C, 20, 1);
            float *hs = hscratch(batchnorm_scratch_floats_cpu(d)), *ds = dscratch(G->batchnorm_scratch_floats(d));
            char lab[160];
            batchnorm_forward_cpu(y.h, mean.h, rstd.h, rm.h, rv.h, x.h, g.h, be.h, d, training, hs);
            G->batchnorm_forward(y.d, mean.d, rstd.d, rm.d, rv.d, x.d, g.d, be.d, d, training, ds);
            snprintf(lab, sizeof lab, "bn rows %d C %d %s y", d.rows, d.C, training ? "train" : "eval");
            cmp(lab, &y, 1e-5);
            cmp("bn mean", &mean, 1e-5);
            cmp("bn rstd", &rstd, 1e-5);
            cmp("bn running_mean", &rm, 1e-5);
            cmp("bn running_var", &rv, 1e-5);
            if (training) {
                batchnorm_backward_cpu(dx.h, dg.h, db.h, dy.h, y.h, x.h, g.h, be.h, mean.h, rstd.h, d, hs);
                G->batchnorm_backward(dx.d, dg.d, db.d, dy.d, y.d, x.d, g.d, be.d, mean.d, rstd.d, d, ds);
                snprintf(lab, sizeof lab, "bn rows %d C %d dx", d.rows, d.C);
                cmp(lab, &dx, 1e-5);
                cmp("bn dgamma", &dg, 1e-5);
                cmp("bn dbeta", &db, 1e-5);
            }
            free(hs);
            G->mem_free(ds);
            Buf *all[] = {&x, &y, &g, &be, &mean, &rstd, &rm, &rv, &dy, &dx, &dg, &db};
            for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) buf_free(all[i]);
        }
}

/* ---- sharded BatchNorm (data parallelism; kernels/batchnorm_shard.cu) ------------------- */
static double *dbl_dev(const double *h, size_t n) {
    double *d = (double *)G->mem_alloc((n + 1) * sizeof(double));
    G->copy_to_device(d, h, n * sizeof(double));
    return d;
}
static double dbl_err(const double *dev, const double *h, size_t n) {
    double *got = (double *)malloc((n + 1) * sizeof(double)), md = 0, mb = 1e-300;
    G->copy_to_host(got, dev, n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs(got[i] - h[i]));
        mb = fmax(mb, fabs(h[i]));
    }
    free(got);
    return md / mb;
}
/* K shards of rows rows each: every op on the same inputs as the CPU op (the combines and
 * applies get the CPU's sums and statistics, so each op is checked on its own) */
static void bn_shard_case(int K, int rows, int C, int x_ld, int y_ld, float slope, int acc) {
    BNDims da = {.rows = K * rows, .C = C, .x_ld = x_ld, .y_ld = y_ld, .eps = 1e-5f, .momentum = 0.1f, .slope = slope,
                 .accumulate_dx = acc};
    BNDims ds = da;
    ds.rows = rows;
    const size_t nx = (size_t)da.rows * x_ld, ny = (size_t)da.rows * y_ld, blk = 3 * (size_t)C + 3, na = (size_t)K * blk;
    Buf x = buf_rand(nx, 91, 1), dy = buf_rand(ny, 92, 1), g = buf_rand(C, 93, 0.2f), be = buf_rand(C, 94, 0.5f);
    for (size_t i = 0; i < nx; i++) x.h[i] += 2.0f;
    for (int c = 0; c < C; c++) g.h[c] += 1.0f;
    G->copy_to_device(x.d, x.h, nx * sizeof(float));
    G->copy_to_device(g.d, g.h, C * sizeof(float));
    Buf mean = buf_zero(C), rstd = buf_zero(C), rm = buf_rand(C, 95, 0.1f), rv = buf_rand(C, 96, 0.1f);
    for (int c = 0; c < C; c++) rv.h[c] = 1.0f + fabsf(rv.h[c]);
    G->copy_to_device(rv.d, rv.h, C * sizeof(float));
    Buf y = buf_rand(ny, 97, 1), dx = buf_rand(nx, 98, 1), dg = buf_rand(C, 99, 1), db = buf_rand(C, 100, 1);
    Buf kgw = buf_zero(3 * (size_t)C);
    float *hs = hscratch(batchnorm_scratch_floats_cpu(da)), *ds_ = dscratch(G->batchnorm_scratch_floats(da));
    double *all = (double *)calloc(na + 1, sizeof(double)), *all_d = dbl_dev(all, na);
    char lab[160];
    snprintf(lab, sizeof lab, "sharded bn K=%d rows=%d C=%d slope %g", K, rows, C, (double)slope);
    for (int k = 0; k < K; k++) {
        batchnorm_shard_sums_cpu(all + k * blk, x.h + (size_t)k * rows * x_ld, ds, hs);
        G->batchnorm_shard_sums(all_d + k * blk, x.d + (size_t)k * rows * x_ld, ds, ds_);
    }
    double e = 0;
    for (int k = 0; k < K; k++) e = fmax(e, dbl_err(all_d + k * blk, all + k * blk, 3 * (size_t)C));
    CHECK(e <= 1e-10, "%s: shard sums rel err %.3g", lab, e);
    G->copy_to_device(all_d, all, na * sizeof(double));
    batchnorm_shard_combine_cpu(mean.h, rstd.h, rm.h, rv.h, all, K, blk, g.h, ds);
    G->batchnorm_shard_combine(mean.d, rstd.d, rm.d, rv.d, all_d, K, blk, g.d, ds);
    cmp("sharded bn mean", &mean, 1e-6);
    cmp("sharded bn rstd", &rstd, 1e-6);
    cmp("sharded bn running_mean", &rm, 1e-6);
    cmp("sharded bn running_var", &rv, 1e-6);
    G->copy_to_device(mean.d, mean.h, C * sizeof(float));
    G->copy_to_device(rstd.d, rstd.h, C * sizeof(float));
    batchnorm_apply_cpu(y.h, x.h, mean.h, rstd.h, g.h, be.h, da, hs);
    G->batchnorm_apply(y.d, x.d, mean.d, rstd.d, g.d, be.d, da, ds_);
    cmp(lab, &y, 1e-5);
    for (int k = 0; k < K; k++) {
        const size_t oy = (size_t)k * rows * y_ld, ox = (size_t)k * rows * x_ld;
        batchnorm_shard_bwd_sums_cpu(all + k * blk, dy.h + oy, x.h + ox, g.h, be.h, mean.h, rstd.h, ds, hs);
        G->batchnorm_shard_bwd_sums(all_d + k * blk, dy.d + oy, x.d + ox, g.d, be.d, mean.d, rstd.d, ds, ds_);
    }
    e = 0;
    for (int k = 0; k < K; k++) e = fmax(e, dbl_err(all_d + k * blk, all + k * blk, 2 * (size_t)C));
    CHECK(e <= 1e-10, "%s: shard backward sums rel err %.3g", lab, e);
    G->copy_to_device(all_d, all, na * sizeof(double));
    batchnorm_shard_bwd_combine_cpu(kgw.h, dg.h, db.h, all, K, blk, g.h, rstd.h, ds);
    G->batchnorm_shard_bwd_combine(kgw.d, dg.d, db.d, all_d, K, blk, g.d, rstd.d, ds);
    cmp("sharded bn kgw", &kgw, 1e-6);
    cmp("sharded bn dgamma", &dg, 1e-6);
    cmp("sharded bn dbeta", &db, 1e-6);
    G->copy_to_device(kgw.d, kgw.h, 3 * (size_t)C * sizeof(float));
    batchnorm_bwd_apply_cpu(dx.h, dy.h, x.h, g.h, be.h, mean.h, rstd.h, kgw.h, da, hs);
    G->batchnorm_bwd_apply(dx.d, dy.d, x.d, g.d, be.d, mean.d, rstd.d, kgw.d, da, ds_);
    cmp("sharded bn dx", &dx, 1e-5);
    /* mem_copy: device to device, the same bits */
    Buf cp = buf_zero(nx);
    G->mem_copy(cp.d, x.d, nx * sizeof(float));
    memcpy(cp.h, x.h, nx * sizeof(float));
    cmp("mem_copy", &cp, 0);
    buf_free(&cp);
    free(hs);
    free(all);
    G->mem_free(ds_);
    G->mem_free(all_d);
    Buf *bufs[] = {&x, &dy, &g, &be, &mean, &rstd, &rm, &rv, &y, &dx, &dg, &db, &kgw};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) buf_free(bufs[i]);
}

static void test_bn_shard(void) {
    bn_shard_case(4, 7, 5, 9, 6, 0.01f, 0);
    bn_shard_case(4, 8 * 100 * 20, 32, 32, 32, 0.01f, 1);     /* conv1 layers of deeplob, B = 32 in 4 shards */
    bn_shard_case(2, 1, 64, 64, 64, 1.0f, 0);                  /* one row per shard (a head's BN, b = 1) */
    bn_shard_case(3, DL_CHUNK_ROWS + 37, 33, 40, 35, 0.01f, 1); /* several chunks, C not a multiple of 32 */
}

static void test_leaky_pool(void) {
    /* LeakyReLU: shared DL_HD arithmetic, same bits */
    const int rows = 1000, C = 64, xl = 64, yl = 256;
    Buf x = buf_rand((size_t)rows * xl, 31, 1), y = buf_rand((size_t)rows * yl, 32, 1);
    Buf dy = buf_rand((size_t)rows * yl, 33, 1), dx = buf_rand((size_t)rows * xl, 34, 1);
    leaky_forward_cpu(y.h, x.h, rows, C, xl, yl, 0.01f);
    G->leaky_forward(y.d, x.d, rows, C, xl, yl, 0.01f);
    cmp("leaky forward", &y, 0);
    for (int acc = 0; acc <= 1; acc++) {
        leaky_backward_cpu(dx.h, dy.h, y.h, rows, C, xl, yl, yl, 0.01f, acc);
        G->leaky_backward(dx.d, dy.d, y.d, rows, C, xl, yl, yl, 0.01f, acc);
        cmp(acc ? "leaky backward (+=)" : "leaky backward", &dx, 0);
    }
    Buf *a1[] = {&x, &y, &dy, &dx};
    for (size_t i = 0; i < 4; i++) buf_free(a1[i]);
    /* max-pool: same bits (ties and NaN included) */
    const int Hs[] = {1, 2, 3, 88};
    for (size_t k = 0; k < 4; k++)
        for (int acc = 0; acc <= 1; acc++) {
            PoolDims d = {.B = 5, .H = Hs[k], .W = 2, .C = 32, .x_ld = 40, .y_ld = 33, .accumulate_dx = acc};
            size_t nx = (size_t)d.B * d.H * d.W * d.x_ld, ny = (size_t)d.B * d.H * d.W * d.y_ld;
            Buf px = buf_rand(nx, 35 + k, 1), py = buf_rand(ny, 36, 1), pdy = buf_rand(ny, 37, 1), pdx = buf_rand(nx, 38, 1);
            for (size_t i = 0; i + 1 < nx; i += 7) px.h[i] = px.h[i + 1];
            px.h[nx / 2] = NAN;
            G->copy_to_device(px.d, px.h, nx * sizeof(float));
            maxpool3_forward_cpu(py.h, px.h, d);
            G->maxpool3_forward(py.d, px.d, d);
            cmp("maxpool forward", &py, 0);
            maxpool3_backward_cpu(pdx.h, pdy.h, px.h, d);
            G->maxpool3_backward(pdx.d, pdy.d, px.d, d);
            cmp("maxpool backward", &pdx, 0);
            Buf *a2[] = {&px, &py, &pdy, &pdx};
            for (size_t i = 0; i < 4; i++) buf_free(a2[i]);
        }
}

/* ---- LSTM, linear, attention ------------------------------------------------------------ */
static void test_lstm(void) {
    const int cases[][6] = {/* B, T, In, H, x_ld, every step */ {8, 88, 256, 64, 256, 0}, {8, 128, 16, 128, 16, 1},
                            {3, 5, 7, 4, 9, 0}, {1, 1, 3, 2, 3, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        LSTMDims d = {.B = cases[k][0], .T = cases[k][1], .In = cases[k][2], .H = cases[k][3], .x_ld = cases[k][4],
                      .accumulate_dx = (int)(k & 1), .dh_every_step = cases[k][5]};
        const int Gt = 4 * d.H;
        const size_t nx = (size_t)d.B * d.T * d.x_ld, nc = lstm_cache_floats_cpu(d);
        const size_t ndh = d.dh_every_step ? (size_t)d.B * d.T * d.H : (size_t)d.B * d.H;
        Buf x = buf_rand(nx, 41, 1), wi = buf_rand((size_t)Gt * d.In, 42, 0.2f), wh = buf_rand((size_t)Gt * d.H, 43, 0.2f);
        Buf bi = buf_rand(Gt, 44, 0.2f), bh = buf_rand(Gt, 45, 0.2f), dh = buf_rand(ndh, 46, 1);
        Buf h = buf_zero((size_t)d.B * d.H), cache = buf_zero(nc), dx = buf_rand(nx, 47, 1);
        Buf dwi = buf_rand((size_t)Gt * d.In, 48, 1), dwh = buf_rand((size_t)Gt * d.H, 49, 1);
        Buf dbi = buf_rand(Gt, 50, 1), dbh = buf_rand(Gt, 51, 1);
        float *hs = hscratch(lstm_scratch_floats_cpu(d, 8)), *ds = dscratch(G->lstm_scratch_floats(d, 1));
        CHECK(G->lstm_cache_floats(d) == nc, "lstm cache size");
        lstm_forward_cpu(h.h, cache.h, x.h, wi.h, wh.h, bi.h, bh.h, d, hs);
        G->lstm_forward(h.d, cache.d, x.d, wi.d, wh.d, bi.d, bh.d, d, ds);
        cmp("lstm h_last", &h, 1e-5);
        cmp("lstm cache", &cache, 1e-5);
        lstm_backward_cpu(dx.h, dwi.h, dwh.h, dbi.h, dbh.h, dh.h, cache.h, x.h, wi.h, wh.h, d, hs);
        G->lstm_backward(dx.d, dwi.d, dwh.d, dbi.d, dbh.d, dh.d, cache.d, x.d, wi.d, wh.d, d, ds);
        cmp("lstm dx", &dx, 2e-5);
        cmp("lstm dw_ih", &dwi, 2e-5);
        cmp("lstm dw_hh", &dwh, 2e-5);
        cmp("lstm db_ih", &dbi, 2e-5);
        cmp("lstm db_hh", &dbh, 2e-5);
        free(hs);
        G->mem_free(ds);
        Buf *all[] = {&x, &wi, &wh, &bi, &bh, &dh, &h, &cache, &dx, &dwi, &dwh, &dbi, &dbh};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) buf_free(all[i]);
    }
}

static void test_linear(void) {
    const int cases[][6] = {{8, 64, 64, 5632, 64, 0}, {8, 64, 1, 64, 2, 0}, {1024, 128, 16, 128, 16, 1},
                            {1024, 16, 1, 16, 1, 0}, {7, 9, 3, 13, 5, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        LinearDims d = {.N = cases[k][0], .I = cases[k][1], .O = cases[k][2], .x_ld = cases[k][3], .y_ld = cases[k][4],
                        .accumulate_dx = cases[k][5]};
        const size_t nx = (size_t)d.N * d.x_ld, ny = (size_t)d.N * d.y_ld, nw = (size_t)d.O * d.I;
        Buf x = buf_rand(nx, 61, 1), w = buf_rand(nw, 62, 0.3f), b = buf_rand(d.O, 63, 0.3f), dy = buf_rand(ny, 64, 1);
        Buf y = buf_rand(ny, 65, 1), dx = buf_rand(nx, 66, 1), dw = buf_rand(nw, 67, 1), db = buf_rand(d.O, 68, 1);
        float *hs = hscratch(linear_scratch_floats_cpu(d, 8)), *ds = dscratch(G->linear_scratch_floats(d, 1));
        linear_forward_cpu(y.h, x.h, w.h, b.h, d, hs);
        G->linear_forward(y.d, x.d, w.d, b.d, d, ds);
        cmp("linear y", &y, 1e-5);
        linear_backward_cpu(dx.h, dw.h, db.h, dy.h, x.h, w.h, d, hs);
        G->linear_backward(dx.d, dw.d, db.d, dy.d, x.d, w.d, d, ds);
        cmp("linear dx", &dx, 1e-5);
        cmp("linear dw", &dw, 2e-5);
        cmp("linear db", &db, 2e-5);
        free(hs);
        G->mem_free(ds);
        Buf *all[] = {&x, &w, &b, &dy, &y, &dx, &dw, &db};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) buf_free(all[i]);
    }
}

static void test_attention(void) {
    const int cases[][8] = {{8, 88, 88, 16, 48, 48, 48, 16}, {3, 4, 4, 8, 24, 24, 24, 8}, {1, 1, 2, 3, 7, 4, 5, 6}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int acc = 0; acc <= 1; acc++) {
            AttnDims d = {.B = cases[k][0], .Lq = cases[k][1], .Lk = cases[k][2], .D = cases[k][3], .q_ld = cases[k][4],
                          .k_ld = cases[k][5], .v_ld = cases[k][6], .o_ld = cases[k][7], .scale = 0.25f,
                          .accumulate_din = acc};
            const size_t nq = (size_t)d.B * d.Lq * d.q_ld, nk = (size_t)d.B * d.Lk * d.k_ld, nv = (size_t)d.B * d.Lk * d.v_ld;
            const size_t no = (size_t)d.B * d.Lq * d.o_ld, ns = (size_t)d.B * d.Lq * d.Lk;
            Buf Q = buf_rand(nq, 71, 1), K = buf_rand(nk, 72, 1), V = buf_rand(nv, 73, 1), P = buf_rand(ns, 74, 1);
            Buf dS = buf_rand(ns, 75, 1), dO = buf_rand(no, 76, 1), S = buf_rand(ns, 77, 1), O = buf_rand(no, 78, 1);
            Buf dQ = buf_rand(nq, 79, 1), dK = buf_rand(nk, 80, 1), dP = buf_rand(ns, 81, 1), dV = buf_rand(nv, 82, 1);
            float *hs = hscratch(attn_scratch_floats_cpu(d, 8)), *ds = dscratch(G->attn_scratch_floats(d, 1));
            attn_scores_forward_cpu(S.h, Q.h, K.h, d, hs);
            G->attn_scores_forward(S.d, Q.d, K.d, d, ds);
            cmp("attn S", &S, 1e-5);
            attn_scores_backward_cpu(dQ.h, dK.h, dS.h, Q.h, K.h, d, hs);
            G->attn_scores_backward(dQ.d, dK.d, dS.d, Q.d, K.d, d, ds);
            cmp("attn dQ", &dQ, 1e-5);
            cmp("attn dK", &dK, 1e-5);
            attn_apply_forward_cpu(O.h, P.h, V.h, d, hs);
            G->attn_apply_forward(O.d, P.d, V.d, d, ds);
            cmp("attn O", &O, 1e-5);
            attn_apply_backward_cpu(dP.h, dV.h, dO.h, P.h, V.h, d, hs);
            G->attn_apply_backward(dP.d, dV.d, dO.d, P.d, V.d, d, ds);
            cmp("attn dP", &dP, 1e-5);
            cmp("attn dV", &dV, 1e-5);
            /* softmax rows: shared DL_HD row code (expf: not the same ulps on both sides), same inputs */
            G->copy_to_device(S.d, S.h, ns * sizeof(float));
            G->copy_to_device(dP.d, dP.h, ns * sizeof(float));
            softmax_forward_cpu(P.h, S.h, d.B * d.Lq, d.Lk);
            G->softmax_forward(P.d, S.d, d.B * d.Lq, d.Lk);
            cmp("softmax forward", &P, 1e-6);
            softmax_backward_cpu(dS.h, dP.h, P.h, d.B * d.Lq, d.Lk);
            G->softmax_backward(dS.d, dP.d, P.d, d.B * d.Lq, d.Lk);
            cmp("softmax backward", &dS, 1e-5);
            free(hs);
            G->mem_free(ds);
            Buf *all[] = {&Q, &K, &V, &P, &dS, &dO, &S, &O, &dQ, &dK, &dP, &dV};
            for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) buf_free(all[i]);
        }
}

/* ---- element-wise, reductions, optimizer -------------------------------------------------- */
static void test_elementwise(void) {
    const size_t ns[] = {1, 1000, 8 * 88 * 64 + 3};
    for (size_t k = 0; k < 3; k++) {
        const size_t n = ns[k];
        Buf a = buf_rand(n, 91, 1), b = buf_rand(n, 92, 1), y = buf_rand(n, 93, 1), g = buf_rand(n, 94, 1);
        uint8_t *mh = (uint8_t *)malloc(n), *md = (uint8_t *)G->mem_alloc(n), *mg = (uint8_t *)malloc(n);
        dropout_forward_cpu(y.h, mh, a.h, n, 0.3f, 12345);
        G->dropout_forward(y.d, md, a.d, n, 0.3f, 12345);
        cmp("dropout forward", &y, 0);
        G->copy_to_host(mg, md, n);
        CHECK(!memcmp(mg, mh, n), "dropout masks differ (n=%zu)", n);
        dropout_backward_cpu(b.h, a.h, mh, n, 0.3f);
        G->dropout_backward(b.d, a.d, md, n, 0.3f);
        cmp("dropout backward", &b, 0);
        add_cpu(y.h, a.h, b.h, n);
        G->add(y.d, a.d, b.d, n);
        cmp("add", &y, 0);
        accumulate_cpu(y.h, a.h, n);
        G->accumulate(y.d, a.d, n);
        cmp("accumulate", &y, 0);
        scale_cpu(y.h, n, 0.37f);
        G->scale(y.d, n, 0.37f);
        cmp("scale", &y, 0);
        double s1 = sumsq_cpu(a.h, n), s2 = G->sumsq(a.d, n);
        CHECK(fabs(s1 - s2) <= 1e-12 * fabs(s1), "sumsq %.17g vs %.17g", s1, s2);
        gate_mul_forward_cpu(y.h, a.h, b.h, n);
        G->gate_mul_forward(y.d, a.d, b.d, n);
        cmp("gate forward", &y, 1e-6);
        gate_mul_backward_cpu(g.h, y.h, b.h, a.h, b.h, n); /* dg -> g, dt -> y */
        G->gate_mul_backward(g.d, y.d, b.d, a.d, b.d, n);
        cmp("gate backward dg", &g, 1e-6);
        cmp("gate backward dt", &y, 1e-6);
        /* Adam: shared DL_HD arithmetic; the gradient g: the same on both sides first */
        G->copy_to_device(g.d, g.h, n * sizeof(float));
        Buf p = buf_rand(n, 95, 1), m = buf_rand(n, 96, 0.1f), v = buf_zero(n);
        for (size_t i = 0; i < n; i++) v.h[i] = 0.01f * (float)(i % 7);
        G->copy_to_device(v.d, v.h, n * sizeof(float));
        for (int t = 1; t <= 3; t++) {
            adam_update_cpu(p.h, g.h, m.h, v.h, n, 1e-3f, 0.9f, 0.999f, 1e-8f, t == 3 ? 0.01f : 0.0f, t);
            G->adam_update(p.d, g.d, m.d, v.d, n, 1e-3f, 0.9f, 0.999f, 1e-8f, t == 3 ? 0.01f : 0.0f, t);
        }
        /* a*b + c may be contracted to an FMA by one compiler and not the other: not bits */
        cmp("adam p", &p, 1e-6);
        cmp("adam m", &m, 1e-6);
        cmp("adam v", &v, 1e-6);
        free(mh);
        free(mg);
        G->mem_free(md);
        Buf *all[] = {&a, &b, &y, &g, &p, &m, &v};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) buf_free(all[i]);
    }
    /* Huber (mean over a batch) */
    const int hn[] = {1, 7, 256, 2048};
    for (size_t k = 0; k < 4; k++) {
        Buf pr = buf_rand(hn[k], 101, 2), tg = buf_rand(hn[k], 102, 2), dp = buf_zero(hn[k]);
        float l1 = huber_loss_cpu(dp.h, pr.h, tg.h, hn[k], 1.0f, 0.5f), l2 = G->huber_loss(dp.d, pr.d, tg.d, hn[k], 1.0f, 0.5f);
        CHECK(fabsf(l1 - l2) <= 1e-6f * fabsf(l1), "huber n=%d: %.9g vs %.9g", hn[k], l1, l2);
        cmp("huber grad", &dp, 0);
        Buf *all[] = {&pr, &tg, &dp};
        for (size_t i = 0; i < 3; i++) buf_free(all[i]);
    }
    /* strided copy and the memory slots */
    Buf x = buf_rand(300 * 13, 111, 1), yv = buf_rand(300 * 9, 112, 1);
    for (int acc = 0; acc <= 1; acc++) {
        copy_rows_cpu(yv.h, x.h, 300, 5, 9, 13, acc);
        G->copy_rows(yv.d, x.d, 300, 5, 9, 13, acc);
        cmp("copy_rows", &yv, 0);
    }
    memset(yv.h, 0, yv.n * sizeof(float));
    G->mem_zero(yv.d, yv.n * sizeof(float));
    cmp("mem_zero", &yv, 0);
    float *pin = (float *)G->host_alloc(x.n * sizeof(float));
    memcpy(pin, x.h, x.n * sizeof(float));
    for (int slot = 0; slot < 4; slot++) {
        G->mem_zero(x.d, x.n * sizeof(float));
        G->upload_input(x.d, pin, x.n * sizeof(float), slot);
        G->input_release(slot);
        cmp("upload_input", &x, 0);
    }
    G->host_free(pin);
    buf_free(&x);
    buf_free(&yv);
}

int main(void) {
    char why[256] = "";
    if (dl_gpu_count(why, sizeof why) == 0) {
        printf("SKIP test_cuda_backend: no usable GPU: %s\n", why);
        return 77; /* ctest: skipped (SKIP_RETURN_CODE) */
    }
    char dev[400];
    backend_cpu_set_threads(0); /* the CPU reference on every core */
    G = dl_backend_select(DL_DEVICE_CUDA, 0, 1, dev, sizeof dev);
    if (!G) {
        printf("SKIP test_cuda_backend: %s\n", dev);
        return 77;
    }
    printf("test_cuda_backend: %s\n", dev);
    if (getenv("DEEPLOB_CUDA_MUTATE")) printf("DEEPLOB_CUDA_MUTATE is set: the bias-gradient kernel is wrong on purpose\n");
    test_elementwise();
    printf("  element-wise, reductions, Adam, copies: %d failures so far\n", gc_failures);
    test_leaky_pool();
    test_bn();
    test_bn_shard();
    printf("  LeakyReLU, max-pool, BatchNorm, sharded BatchNorm: %d failures so far\n", gc_failures);
    test_conv();
    printf("  convolutions (cuDNN): %d failures so far\n", gc_failures);
    test_linear();
    test_lstm();
    test_attention();
    printf("  linear, LSTM, attention (cuBLAS): %d failures so far\n", gc_failures);
    dl_device_sync();
    if (getenv("DEEPLOB_CUDA_TEST_OPS_ONLY")) return gc_summary("test_cuda_backend (ops only)");
    const char *models[] = {"deeplob", "deeplob_tcn", "deeplob_hier", "mmf_lstm"};
    for (int k = 0; k < 4; k++) mc_compare(models[k], G, 1);
    dl_device_sync();
    /* data parallelism: K = 4 shards vs the CPU backend, and 1 rank of 4 vs 2 ranks (threads) of 2 bit for bit */
    for (int k = 0; k < 3; k++) dp_compare(models[k], G, 4, 2);
    dl_device_sync();
    return gc_summary("test_cuda_backend");
}
