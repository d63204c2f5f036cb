/* test_layer_conv.c: CPU conv2d forward/backward against a direct double-precision
 * reference, finite differences, thread-count determinism and strided-row guards.
 *
 * Configurations: every conv shape the models use (models.md), at small sizes,
 * each with and without bias and with din overwritten / accumulated / NULL; the
 * d_* and z_* ones have Cout % 16 == 0 and so run conv2d.c's direct kernels (forward,
 * dW, and din through the forward kernel), the others its OpenBLAS route.
 *
 * Tolerance: normalised max error (gc_rel_err: max|ours-ref| / max|ref|) <= 1e-5.
 * Ours is fp32 GEMM; each output sums K <= 320 products (forward, din) or <= ~700
 * rows (dW, db). fp32 rounding errors add like a random walk, ~sqrt(n)*6e-8 of the
 * largest term, i.e. ~1e-6 here; 1e-5 leaves margin while a wrong index, a missed
 * tap or a dropped chunk gives errors of order 1e-1.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/common/util.h"
#include "../../src/engine/layers/layers_cpu.h"
#include "../../src/engine/layers/conv2d_kernels.h"
#include "gradcheck.h"

#define TOL 1e-5
#define GUARD (-7777.25f) /* written into row padding columns; must survive */

typedef struct {
    const char *name;
    ConvDims d;
} Cfg;

static ConvDims mk(int B, int H, int W, int Cin, int Cout, int kh, int kw, int sh, int sw, int dil, int pt, int pb,
                   int in_ld, int out_ld) {
    ConvDims d = {B, H, W, Cin, Cout, kh, kw, sh, sw, dil, pt, pb, in_ld, out_ld, 0};
    return d;
}

static size_t in_rows(ConvDims d) { return (size_t)d.B * d.H * d.W; }
static size_t out_rows(ConvDims d) { return (size_t)d.B * conv_out_h(d) * conv_out_w(d); }
static size_t kdim(ConvDims d) { return (size_t)d.kh * d.kw * d.Cin; }

/* out (B,Ho,Wo,Cout) dense, double: the textbook definition */
static void ref_forward(double *out, const float *in, const float *w, const float *b, ConvDims d) {
    int Ho = conv_out_h(d), Wo = conv_out_w(d);
    for (int n = 0; n < d.B; n++)
        for (int ho = 0; ho < Ho; ho++)
            for (int wo = 0; wo < Wo; wo++)
                for (int co = 0; co < d.Cout; co++) {
                    double s = b ? b[co] : 0.0;
                    for (int i = 0; i < d.kh; i++) {
                        int h = ho * d.stride_h - d.pad_top + i * d.dil_h;
                        if (h < 0 || h >= d.H) continue;
                        for (int j = 0; j < d.kw; j++) {
                            int wi = wo * d.stride_w + j;
                            const float *x = in + ((size_t)(n * d.H + h) * d.W + wi) * d.in_ld;
                            const float *wr = w + ((size_t)(co * d.kh + i) * d.kw + j) * d.Cin;
                            for (int c = 0; c < d.Cin; c++) s += (double)x[c] * wr[c];
                        }
                    }
                    out[(((size_t)n * Ho + ho) * Wo + wo) * d.Cout + co] = s;
                }
}

/* din (B,H,W,Cin) dense, dw (Cout,kh,kw,Cin), db (Cout): gradients only (zeroed here) */
static void ref_backward(double *din, double *dw, double *db, const float *dout, const float *in, const float *w,
                         ConvDims d) {
    int Ho = conv_out_h(d), Wo = conv_out_w(d);
    memset(din, 0, sizeof(double) * in_rows(d) * d.Cin);
    memset(dw, 0, sizeof(double) * d.Cout * kdim(d));
    memset(db, 0, sizeof(double) * d.Cout);
    for (int n = 0; n < d.B; n++)
        for (int ho = 0; ho < Ho; ho++)
            for (int wo = 0; wo < Wo; wo++)
                for (int co = 0; co < d.Cout; co++) {
                    double g = dout[(((size_t)n * Ho + ho) * Wo + wo) * d.out_ld + co];
                    db[co] += g;
                    for (int i = 0; i < d.kh; i++) {
                        int h = ho * d.stride_h - d.pad_top + i * d.dil_h;
                        if (h < 0 || h >= d.H) continue;
                        for (int j = 0; j < d.kw; j++) {
                            size_t r = (size_t)(n * d.H + h) * d.W + wo * d.stride_w + j;
                            size_t wo_ = ((size_t)(co * d.kh + i) * d.kw + j) * d.Cin;
                            for (int c = 0; c < d.Cin; c++) {
                                dw[wo_ + c] += g * in[r * d.in_ld + c];
                                din[r * d.Cin + c] += g * w[wo_ + c];
                            }
                        }
                    }
                }
}

/* (rows, C) strided buffer: random inside C, GUARD in the padding columns */
static float *alloc_rows(size_t rows, int C, int ld, uint64_t key) {
    float *x = dl_aligned_alloc(sizeof(float) * rows * ld);
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < ld; c++) x[r * ld + c] = c < C ? (float)dl_rand_normal(key, r * ld + c) : GUARD;
    return x;
}

static int guards_ok(const float *x, size_t rows, int C, int ld) {
    for (size_t r = 0; r < rows; r++)
        for (int c = C; c < ld; c++)
            if (x[r * ld + c] != GUARD) return 0;
    return 1;
}

/* dense float copy of the first C columns of a strided buffer */
static void dense(float *dst, const float *x, size_t rows, int C, int ld) {
    for (size_t r = 0; r < rows; r++) memcpy(dst + r * C, x + r * ld, sizeof(float) * C);
}

static void to_float(float *dst, const double *x, size_t n, const float *base) {
    for (size_t i = 0; i < n; i++) dst[i] = (float)(x[i] + (base ? (double)base[i] : 0.0));
}

/* Forward + backward of one configuration in one mode; compares everything. */
static void check_config(const Cfg *cf, int with_bias, int din_mode /* 0 overwrite, 1 accumulate, 2 NULL */) {
    ConvDims d = cf->d;
    d.accumulate_din = din_mode == 1;
    size_t ni = in_rows(d), no = out_rows(d), K = kdim(d), nw = d.Cout * K;
    uint64_t key = dl_key(0xC0DE, dl_hash_str(cf->name));
    float *in = alloc_rows(ni, d.Cin, d.in_ld, dl_key(key, 1));
    float *w = alloc_rows(d.Cout, (int)K, (int)K, dl_key(key, 2));
    float *b = with_bias ? alloc_rows(1, d.Cout, d.Cout, dl_key(key, 3)) : NULL;
    for (size_t i = 0; i < nw; i++) w[i] *= (float)(1.0 / sqrt((double)K));
    float *out = alloc_rows(no, 0, d.out_ld, 0); /* all GUARD */
    float *dout = alloc_rows(no, d.Cout, d.out_ld, dl_key(key, 4));
    float *dw = alloc_rows(1, (int)nw, (int)nw, dl_key(key, 5)); /* existing gradients */
    float *db = alloc_rows(1, d.Cout, d.Cout, dl_key(key, 6));
    float *din = NULL, *din0 = NULL;
    if (din_mode != 2) {
        din = alloc_rows(ni, d.Cin, d.in_ld, dl_key(key, 7));
        if (din_mode == 0) /* must be overwritten: NaN would poison any read */
            for (size_t r = 0; r < ni; r++)
                for (int c = 0; c < d.Cin; c++) din[r * d.in_ld + c] = NAN;
        din0 = dl_malloc(sizeof(float) * ni * d.Cin);
        dense(din0, din, ni, d.Cin, d.in_ld);
    }
    float *dw0 = dl_malloc(sizeof(float) * nw), *db0 = dl_malloc(sizeof(float) * d.Cout);
    memcpy(dw0, dw, sizeof(float) * nw);
    memcpy(db0, db, sizeof(float) * d.Cout);
    float *scratch = dl_aligned_alloc(sizeof(float) * (conv2d_scratch_floats_cpu(d, 2) + 1));

    conv2d_forward_cpu(out, in, w, b, d, scratch);
    conv2d_backward_cpu(din, dw, b ? db : NULL, dout, in, w, d, scratch);

    double *rout = dl_malloc(sizeof(double) * no * d.Cout), *rdin = dl_malloc(sizeof(double) * ni * d.Cin);
    double *rdw = dl_malloc(sizeof(double) * nw), *rdb = dl_malloc(sizeof(double) * d.Cout);
    ref_forward(rout, in, w, b, d);
    ref_backward(rdin, rdw, rdb, dout, in, w, d);

    size_t nmax = no * d.Cout > ni * d.Cin ? no * d.Cout : ni * d.Cin;
    nmax = nmax > nw ? nmax : nw;
    float *A = dl_malloc(sizeof(float) * nmax), *R = dl_malloc(sizeof(float) * nmax);
    char tag[160];
    snprintf(tag, sizeof tag, "%s bias=%d din=%s", cf->name, with_bias,
             din_mode == 0 ? "overwrite" : din_mode == 1 ? "accumulate" : "NULL");

    dense(A, out, no, d.Cout, d.out_ld);
    to_float(R, rout, no * d.Cout, NULL);
    double e = gc_rel_err(A, R, no * d.Cout, 1e-6);
    printf("  %-44s out  err %.2e\n", tag, e);
    CHECK(e <= TOL, "%s: forward err %.3e", tag, e);
    CHECK(guards_ok(out, no, d.Cout, d.out_ld), "%s: forward wrote into out padding columns", tag);

    to_float(R, rdw, nw, dw0); /* parameter gradients accumulate onto dw0 */
    e = gc_rel_err(dw, R, nw, 1e-6);
    printf("  %-44s dw   err %.2e\n", tag, e);
    CHECK(e <= TOL, "%s: dw err %.3e", tag, e);
    if (b) {
        to_float(R, rdb, d.Cout, db0);
        e = gc_rel_err(db, R, d.Cout, 1e-6);
        printf("  %-44s db   err %.2e\n", tag, e);
        CHECK(e <= TOL, "%s: db err %.3e", tag, e);
    } else {
        CHECK(memcmp(db, db0, sizeof(float) * d.Cout) == 0, "%s: db touched without bias", tag);
    }
    if (din) {
        dense(A, din, ni, d.Cin, d.in_ld);
        to_float(R, rdin, ni * d.Cin, din_mode == 1 ? din0 : NULL);
        e = gc_rel_err(A, R, ni * d.Cin, 1e-6);
        printf("  %-44s din  err %.2e\n", tag, e);
        CHECK(e <= TOL, "%s: din err %.3e", tag, e);
        CHECK(guards_ok(din, ni, d.Cin, d.in_ld), "%s: backward wrote into din padding columns", tag);
    }
    CHECK(guards_ok(in, ni, d.Cin, d.in_ld), "%s: input modified", tag);
    free(in); free(w); free(b); free(out); free(dout); free(dw); free(db); free(din); free(din0);
    free(dw0); free(db0); free(scratch); free(rout); free(rdin); free(rdw); free(rdb); free(A); free(R);
}

/* ---- finite differences of L = sum(out .* R) -------------------------------------- */
typedef struct {
    ConvDims d;
    float *in, *w, *b, *out, *scratch;
    const float *R; /* (rows_out, Cout) dense */
    double *rout;
    int ours;       /* 1: through conv2d_forward_cpu (float), 0: through ref_forward */
} FdCtx;

static double fd_loss(void *vc) {
    FdCtx *c = vc;
    size_t no = out_rows(c->d);
    double L = 0;
    if (c->ours) {
        conv2d_forward_cpu(c->out, c->in, c->w, c->b, c->d, c->scratch);
        for (size_t r = 0; r < no; r++)
            for (int k = 0; k < c->d.Cout; k++) L += (double)c->out[r * c->d.out_ld + k] * c->R[r * c->d.Cout + k];
    } else {
        ref_forward(c->rout, c->in, c->w, c->b, c->d);
        for (size_t i = 0; i < no * c->d.Cout; i++) L += c->rout[i] * c->R[i];
    }
    return L;
}

static void fd_config(const Cfg *cf) {
    ConvDims d = cf->d;
    size_t ni = in_rows(d), no = out_rows(d), K = kdim(d), nw = d.Cout * K;
    uint64_t key = dl_key(0xFD, dl_hash_str(cf->name));
    FdCtx c = {d, alloc_rows(ni, d.Cin, d.in_ld, dl_key(key, 1)), alloc_rows(d.Cout, (int)K, (int)K, dl_key(key, 2)),
               alloc_rows(1, d.Cout, d.Cout, dl_key(key, 3)), alloc_rows(no, 0, d.out_ld, 0),
               dl_aligned_alloc(sizeof(float) * (conv2d_scratch_floats_cpu(d, 2) + 1)), NULL,
               dl_malloc(sizeof(double) * no * d.Cout), 0};
    float *R = alloc_rows(no, d.Cout, d.Cout, dl_key(key, 4));
    c.R = R;
    /* dout = R laid out with out_ld; analytic gradients from zero */
    float *dout = alloc_rows(no, d.Cout, d.out_ld, 0);
    for (size_t r = 0; r < no; r++) memcpy(dout + r * d.out_ld, R + r * d.Cout, sizeof(float) * d.Cout);
    float *din = alloc_rows(ni, d.Cin, d.in_ld, 0), *dw = dl_aligned_alloc(sizeof(float) * nw),
          *db = dl_aligned_alloc(sizeof(float) * d.Cout);
    conv2d_backward_cpu(din, dw, db, dout, c.in, c.w, d, c.scratch);
    float *dind = dl_malloc(sizeof(float) * ni * d.Cin);
    dense(dind, din, ni, d.Cin, d.in_ld);
    /* L is linear in each tensor, so through the double reference central
     * differences are exact up to double rounding: tight tolerance. Through our
     * float forward, rounding of L (~1e-6 relative) / 2h limits agreement to ~1e-4. */
    for (c.ours = 0; c.ours <= 1; c.ours++) {
        double h = c.ours ? 1e-2 : 1e-3, tol = c.ours ? 2e-3 : 1e-4, fl = c.ours ? 1.0 : 1e-2;
        double ew = gc_fd_check(c.w, dw, nw, fd_loss, &c, h, 40, fl);
        double eb = gc_fd_check(c.b, db, d.Cout, fd_loss, &c, h, 40, fl);
        /* input: probe the strided buffer through a dense gradient view */
        double ex = 0;
        size_t step = ni * d.Cin > 40 ? ni * d.Cin / 40 : 1;
        for (size_t i = 0; i < ni * d.Cin; i += step) {
            size_t r = i / d.Cin, k = i % d.Cin;
            double e1 = gc_fd_check(c.in + r * d.in_ld + k, dind + i, 1, fd_loss, &c, h, 1, fl);
            if (e1 > ex) ex = e1;
        }
        printf("  fd %-12s via %-9s  dw %.2e  db %.2e  din %.2e\n", cf->name, c.ours ? "ours/f32" : "ref/f64", ew,
               eb, ex);
        CHECK(ew <= tol && eb <= tol && ex <= tol, "%s: finite differences (%s) dw %.3e db %.3e din %.3e", cf->name,
              c.ours ? "ours" : "ref", ew, eb, ex);
    }
    free(c.in); free(c.w); free(c.b); free(c.out); free(c.scratch); free(c.rout); free(R); free(dout);
    free(din); free(dw); free(db); free(dind);
}

/* random inputs of one conv (in, w, b, dout from key) and its scratch */
typedef struct { float *in, *w, *b, *dout, *scratch; } ConvData;
static ConvData conv_data(ConvDims d, uint64_t key) {
    size_t K = kdim(d);
    ConvData c = {alloc_rows(in_rows(d), d.Cin, d.in_ld, dl_key(key, 1)), alloc_rows(d.Cout, (int)K, (int)K, dl_key(key, 2)),
                  alloc_rows(1, d.Cout, d.Cout, dl_key(key, 3)), alloc_rows(out_rows(d), d.Cout, d.out_ld, dl_key(key, 4)),
                  dl_aligned_alloc(sizeof(float) * (conv2d_scratch_floats_cpu(d, 3) + 1))};
    return c;
}
static void conv_data_free(ConvData *c) { free(c->in); free(c->w); free(c->b); free(c->dout); free(c->scratch); }

/* ---- the same bits under every variant of how the work runs ---------------------------
 * set(v) selects variant v (a thread count, an ISA); forward + backward of each variant
 * must match variant 0 bit for bit (out, din, dW, db) */
static void variant_config(const Cfg *cf, int nvar, void (*set)(int), const char *const *names) {
    ConvDims d = cf->d;
    size_t ni = in_rows(d), no = out_rows(d), K = kdim(d), nw = d.Cout * K;
    uint64_t key = dl_key(0xDE7, dl_hash_str(cf->name));
    ConvData c = conv_data(d, key);
    float *in = c.in, *w = c.w, *b = c.b, *dout = c.dout, *scratch = c.scratch;
    float *res[3][4];
    for (int v = 0; v < nvar; v++) {
        set(v);
        float *out = alloc_rows(no, 0, d.out_ld, 0), *din = alloc_rows(ni, d.Cin, d.in_ld, dl_key(key, 5));
        float *dw = alloc_rows(1, (int)nw, (int)nw, dl_key(key, 6)), *db = alloc_rows(1, d.Cout, d.Cout, dl_key(key, 7));
        conv2d_forward_cpu(out, in, w, b, d, scratch);
        conv2d_backward_cpu(din, dw, db, dout, in, w, d, scratch);
        res[v][0] = out; res[v][1] = din; res[v][2] = dw; res[v][3] = db;
    }
    const size_t n[4] = {no * d.out_ld, ni * d.in_ld, nw, (size_t)d.Cout};
    const char *nm[4] = {"out", "din", "dw", "db"};
    for (int v = 1; v < nvar; v++)
        for (int k = 0; k < 4; k++) {
            int same = memcmp(res[0][k], res[v][k], sizeof(float) * n[k]) == 0;
            printf("  %-14s %-3s %s vs %s: %s\n", cf->name, nm[k], names[0], names[v], same ? "identical" : "DIFFER");
            CHECK(same, "%s: %s differs between %s and %s", cf->name, nm[k], names[0], names[v]);
        }
    for (int v = 0; v < nvar; v++)
        for (int k = 0; k < 4; k++) free(res[v][k]);
    conv_data_free(&c);
}

/* determinism: 1, 2 and 3 threads */
static void set_threads(int v) { omp_set_num_threads(v + 1); }
static void det_config(const Cfg *cf) {
    static const char *const names[] = {"1 thread", "2 threads", "3 threads"};
    variant_config(cf, 3, set_threads, names);
    omp_set_num_threads(2);
}

/* ISA twins: the AVX2 and AVX-512 kernels (conv2d_kernels_avx512.c: the same
 * per-element FMA order, wider register blocks), the latter with the forward's 12-row
 * blocks (Zen 5, Intel) and 8-row blocks (Zen 4: convk_mr512) */
static void set_isa(int v) {
    convk_set_avx512(v > 0);
    convk_set_mr512(v == 2 ? 8 : CONVK_MR512);
}
static void isa_config(const Cfg *cf) {
    static const char *const names[] = {"avx2", "avx512", "avx512 8-row"};
    variant_config(cf, 3, set_isa, names);
}

/* ---- streaming stores: large outputs (conv2d.c CONV_NT_BYTES) of the direct forward,
 * and the transposed-conv din, are written with them only when 64-byte aligned: the
 * same conv into a buffer shifted by 16 bytes (regular stores) must give the same bits */
static void stream_config(const Cfg *cf) {
    ConvDims d = cf->d;
    size_t ni = in_rows(d), no = out_rows(d), K = kdim(d), nw = d.Cout * K;
    ConvData c = conv_data(d, dl_key(0x57E, dl_hash_str(cf->name)));
    float *in = c.in, *w = c.w, *b = c.b, *dout = c.dout, *scratch = c.scratch;
    float *out_buf[2], *din_buf[2], *res_out[2], *res_din[2];
    for (int shift = 0; shift < 2; shift++) {
        out_buf[shift] = dl_aligned_alloc(sizeof(float) * (no * d.out_ld + 16));
        din_buf[shift] = dl_aligned_alloc(sizeof(float) * (ni * d.in_ld + 16));
        res_out[shift] = out_buf[shift] + 4 * shift;
        res_din[shift] = din_buf[shift] + 4 * shift;
        float *dw = dl_calloc(nw, sizeof(float)), *db = dl_calloc(d.Cout, sizeof(float));
        conv2d_forward_cpu(res_out[shift], in, w, b, d, scratch);
        conv2d_backward_cpu(res_din[shift], dw, db, dout, in, w, d, scratch);
        free(dw); free(db);
    }
    int same_out = memcmp(res_out[0], res_out[1], sizeof(float) * no * d.out_ld) == 0;
    int same_din = memcmp(res_din[0], res_din[1], sizeof(float) * ni * d.in_ld) == 0;
    printf("  stream %-10s (%.1f MB out) streamed vs regular stores: out %s, din %s\n", cf->name,
           no * d.out_ld * 4.0 / 1048576.0, same_out ? "identical" : "DIFFER", same_din ? "identical" : "DIFFER");
    CHECK(same_out && same_din, "%s: streaming stores changed the result", cf->name);
    for (int t = 0; t < 2; t++) { free(out_buf[t]); free(din_buf[t]); }
    conv_data_free(&c);
}

int main(void) {
    /*  B   H   W Cin Cout kh kw sh sw dil pt pb in_ld out_ld */
    const Cfg cfgs[] = {
        {"conv1a", mk(2, 12, 40, 1, 8, 1, 2, 1, 2, 1, 0, 0, 1, 8)},          /* contiguous rows path */
        {"conv1b", mk(3, 14, 5, 8, 8, 4, 1, 1, 1, 1, 0, 0, 8, 8)},           /* im2col, kh=4 */
        {"conv1b_c32", mk(2, 12, 20, 32, 32, 4, 1, 1, 1, 1, 0, 0, 32, 32)},  /* real channels, K=128 */
        {"conv2a", mk(2, 13, 10, 8, 6, 1, 2, 1, 2, 1, 0, 0, 8, 6)},          /* contiguous rows path */
        {"conv2a_strided", mk(2, 9, 10, 8, 6, 1, 2, 1, 2, 1, 0, 0, 11, 9)},  /* same shape, im2col w/ ld */
        {"conv3a_1x10", mk(3, 15, 10, 8, 7, 1, 10, 1, 1, 1, 0, 0, 8, 7)},    /* 1x10 over W=10 */
        {"1x1_strided", mk(3, 16, 1, 12, 10, 1, 1, 1, 1, 1, 0, 0, 20, 17)},  /* concat rows */
        {"1x1_dense", mk(2, 11, 3, 9, 5, 1, 1, 1, 1, 1, 0, 0, 9, 5)},
        {"3x1_pad1", mk(3, 16, 1, 8, 6, 3, 1, 1, 1, 1, 1, 1, 13, 10)},       /* inception 2b */
        {"5x1_pad2", mk(2, 18, 1, 8, 6, 5, 1, 1, 1, 1, 2, 2, 8, 6)},         /* inception 3b */
        {"tcn_d1", mk(2, 40, 1, 6, 5, 3, 1, 1, 1, 1, 2, 0, 6, 5)},
        {"tcn_d2", mk(2, 40, 1, 6, 5, 3, 1, 1, 1, 2, 4, 0, 9, 5)},
        {"tcn_d4", mk(3, 40, 1, 6, 5, 3, 1, 1, 1, 4, 8, 0, 6, 7)},
        {"tcn_d8", mk(2, 40, 1, 6, 5, 3, 1, 1, 1, 8, 16, 0, 6, 5)},
        {"tcn_d16", mk(2, 40, 1, 6, 5, 3, 1, 1, 1, 16, 32, 0, 6, 5)},
        {"tcn_res_1x1", mk(2, 20, 1, 16, 5, 1, 1, 1, 1, 1, 0, 0, 24, 5)},   /* residual 256->64 shape */
        {"stride_h2", mk(2, 15, 4, 3, 4, 3, 2, 2, 1, 1, 1, 2, 3, 4)},        /* general strides */
        {"w_not_mult_kw", mk(2, 6, 9, 4, 3, 1, 2, 1, 2, 1, 0, 0, 4, 3)},    /* W % kw != 0 */
        {"B19_conv1b", mk(19, 8, 3, 4, 5, 4, 1, 1, 1, 1, 0, 0, 4, 5)},      /* B not a multiple of groups */
        {"B19_1x1", mk(19, 6, 2, 5, 4, 1, 1, 1, 1, 1, 0, 0, 7, 6)},
        {"B19_conv2a", mk(19, 5, 4, 3, 4, 1, 2, 1, 2, 1, 0, 0, 3, 4)},
        /* Cout % 16 == 0: the direct (AVX2 kernel) path; din by the transposed conv,
         * by a 1x1 conv of dout, or by the GEMM + col2im route; row-block tails */
        {"d_conv1b_c16", mk(3, 14, 5, 16, 16, 4, 1, 1, 1, 1, 0, 0, 16, 16)},  /* transposed din direct */
        {"d_conv1b_c8_48", mk(2, 9, 3, 8, 48, 4, 1, 1, 1, 1, 0, 0, 8, 48)},   /* 3 panels, din by BLAS */
        {"d_tcn_c16_d4", mk(2, 30, 1, 16, 16, 3, 1, 1, 1, 4, 8, 0, 16, 16)},  /* causal pad: zero row */
        {"d_tcn_c32_d16", mk(2, 40, 1, 32, 32, 3, 1, 1, 1, 16, 32, 0, 40, 36)},
        {"d_3x1_pad1", mk(3, 16, 1, 16, 16, 3, 1, 1, 1, 1, 1, 1, 20, 24)},    /* strided rows both sides */
        {"d_5x1_pad2", mk(2, 18, 1, 16, 32, 5, 1, 1, 1, 1, 2, 2, 16, 40)},
        {"d_1x1_strided", mk(3, 16, 1, 16, 32, 1, 1, 1, 1, 1, 0, 0, 24, 40)}, /* strided rows, din by BLAS */
        {"d_1x1_K8", mk(3, 7, 1, 8, 16, 1, 1, 1, 1, 1, 0, 0, 8, 16)},         /* K % 16 != 0: din by BLAS */
        {"d_conv2a", mk(2, 13, 10, 8, 16, 1, 2, 1, 2, 1, 0, 0, 8, 16)},       /* rows path, din direct */
        {"d_conv2a_strided", mk(2, 9, 10, 8, 16, 1, 2, 1, 2, 1, 0, 0, 11, 20)}, /* 2 taps of Cin */
        {"d_conv3a_1x10", mk(3, 15, 10, 8, 16, 1, 10, 1, 1, 1, 0, 0, 8, 16)}, /* W == kw: rows path, L 80 */
        {"d_conv1a", mk(2, 12, 40, 1, 16, 1, 2, 1, 2, 1, 0, 0, 1, 16)},       /* L = 2 */
        {"d_stride_h2", mk(2, 15, 4, 3, 16, 3, 2, 2, 1, 1, 1, 2, 3, 16)},     /* col2im din */
        {"d_17_taps", mk(2, 4, 20, 4, 16, 1, 17, 1, 1, 1, 0, 0, 5, 16)},      /* > 16 taps: BLAS */
        {"d_B19_tcn", mk(19, 7, 1, 16, 16, 3, 1, 1, 1, 2, 4, 0, 16, 16)},
        /* Cout % 32 == 0: the AVX-512 kernels where the CPU has them (12- or 8-row blocks,
         * tails of 1..11 rows; dW and transposed din with Cin % 32 == 0 too) */
        {"z_conv1b_c32", mk(3, 13, 5, 32, 32, 4, 1, 1, 1, 1, 0, 0, 32, 32)},
        {"z_tcn_c64_d2", mk(2, 29, 1, 64, 64, 3, 1, 1, 1, 2, 4, 0, 64, 64)},
        {"z_inc3x1_ld", mk(3, 17, 1, 32, 64, 3, 1, 1, 1, 1, 1, 1, 40, 256)},  /* concat rows */
        {"z_conv2a_c32", mk(2, 11, 10, 32, 32, 1, 2, 1, 2, 1, 0, 0, 32, 32)}, /* rows din: N 64 */
        {"z_conv3a_c32", mk(2, 9, 10, 32, 32, 1, 10, 1, 1, 1, 0, 0, 32, 32)}, /* rows din: N 320 */
        {"z_res_256_32", mk(2, 23, 1, 256, 32, 1, 1, 1, 1, 1, 0, 0, 256, 32)},/* K 256 */
        {"z_long_k", mk(2, 12, 1, 256, 32, 3, 1, 1, 1, 1, 2, 0, 256, 32)},    /* K 768: 3 K blocks */
        {"z_c96", mk(2, 10, 1, 32, 96, 3, 1, 1, 1, 1, 1, 1, 32, 96)},         /* 3 panel pairs, N 96 */
    };
    const int n = (int)(sizeof cfgs / sizeof cfgs[0]);
    omp_set_num_threads(2);
    printf("conv2d vs double reference (tol %.0e):\n", TOL);
    for (int i = 0; i < n; i++)
        for (int bias = 0; bias <= 1; bias++)
            for (int mode = 0; mode <= 2; mode++) check_config(&cfgs[i], bias, mode);

    printf("finite differences on L = sum(out .* R):\n");
    const int fd_idx[] = {0, 1, 3, 6, 8, 12, 16, 21, 23, 26, 29, 31};
    for (size_t i = 0; i < sizeof fd_idx / sizeof fd_idx[0]; i++) fd_config(&cfgs[fd_idx[i]]);

    printf("determinism across thread counts:\n");
    const Cfg det[] = {
        {"det_conv1b", mk(37, 20, 20, 32, 32, 4, 1, 1, 1, 1, 0, 0, 32, 32)},
        {"det_conv1a", mk(21, 10, 40, 1, 32, 1, 2, 1, 2, 1, 0, 0, 1, 32)},
        {"det_1x1", mk(23, 30, 1, 64, 32, 1, 1, 1, 1, 1, 0, 0, 96, 40)},
        {"det_tcn_d4", mk(18, 30, 1, 16, 16, 3, 1, 1, 1, 4, 8, 0, 16, 16)},
        {"det_tcn_c64", mk(18, 30, 1, 64, 64, 3, 1, 1, 1, 2, 4, 0, 64, 64)},
        {"det_conv2a", mk(21, 12, 20, 32, 32, 1, 2, 1, 2, 1, 0, 0, 32, 32)},
        {"det_inc3x1", mk(17, 20, 1, 64, 64, 3, 1, 1, 1, 1, 1, 1, 64, 256)},
    };
    for (size_t i = 0; i < sizeof det / sizeof det[0]; i++) det_config(&det[i]);

    printf("streaming stores on large outputs:\n");
    const Cfg big = {"big_conv1b", mk(64, 100, 20, 32, 32, 4, 1, 1, 1, 1, 0, 0, 32, 32)}; /* 15.9 MB out */
    stream_config(&big);

    int has512 = convk_set_avx512(1), mr512 = convk_mr512();
    printf("AVX2 and AVX-512 kernels, bit for bit (this CPU: AVX-512 %s):\n", has512 ? "yes" : "no: skipped");
    if (has512) {
        for (int i = 0; i < n; i++)
            if (cfgs[i].name[0] == 'z' || cfgs[i].name[0] == 'd') isa_config(&cfgs[i]);
        for (size_t i = 0; i < sizeof det / sizeof det[0]; i++) isa_config(&det[i]);
    }
    convk_set_avx512(has512);
    convk_set_mr512(mr512);
    return gc_summary("test_layer_conv");
}
