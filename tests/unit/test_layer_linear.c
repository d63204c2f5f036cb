/* test_layer_linear.c: linear_forward_cpu / linear_backward_cpu against a naive
 * double-precision reference, finite differences, strides (incl. "last time step
 * of (B,T,C)"), accumulate rules, the multi-chunk path (N > DL_CHUNK_ROWS) and
 * bit-identity across thread counts.
 *
 * Tolerance 1e-5 (max |err| / max |ref| per tensor): float32 dot products of
 * length <= 9000 with O(1) terms round to ~sqrt(K)*6e-8 <= 6e-6 relative to the
 * largest entry (fixed chunking keeps sums short); a wrong index or transpose
 * gives O(1) errors. */
#include <omp.h>
#include <cblas.h>

#include "../../src/common/util.h"
#include "../../src/engine/layers/conv2d_kernels.h"
#include "../../src/engine/layers/layers_cpu.h"
#include "gradcheck.h"

#define TOL 1e-5
#define SENT 7.0f /* sentinel in stride padding: must survive */

/* x_rows: rows allocated for x/dx with stride x_ld, starting x_off floats in */
typedef struct { int N, I, O, x_ld, y_ld, x_off, bias; } Case;

typedef struct {
    Case c;
    LinearDims d;
    size_t nxbuf, nybuf, nw;
    float *xbuf, *w, *b, *R;     /* R = dL/dy (N,O) stride y_ld */
    float *ybuf, *dxbuf, *dw, *db, *scratch;
} Run;

static float *falloc(size_t n) { return dl_aligned_alloc(sizeof(float) * (n ? n : 1)); }
static const float *X(const Run *r) { return r->xbuf + r->c.x_off; }

static void run_init(Run *r, Case c, uint64_t seed) {
    memset(r, 0, sizeof *r);
    r->c = c;
    r->d = (LinearDims){.N = c.N, .I = c.I, .O = c.O, .x_ld = c.x_ld, .y_ld = c.y_ld, .accumulate_dx = 0};
    r->nxbuf = (size_t)c.x_off + (size_t)(c.N - 1) * c.x_ld + c.I;
    r->nybuf = (size_t)c.N * c.y_ld;
    r->nw = (size_t)c.O * c.I;
    r->xbuf = falloc(r->nxbuf); r->w = falloc(r->nw); r->b = falloc(c.O); r->R = falloc(r->nybuf);
    gc_fill(r->xbuf, r->nxbuf, dl_key(seed, 1), 1.0f);
    gc_fill(r->w, r->nw, dl_key(seed, 2), 0.5f);
    gc_fill(r->b, c.O, dl_key(seed, 3), 0.5f);
    gc_fill(r->R, r->nybuf, dl_key(seed, 4), 1.0f);
    r->ybuf = falloc(r->nybuf); r->dxbuf = falloc(r->nxbuf);
    r->dw = falloc(r->nw); r->db = falloc(c.O);
    r->scratch = falloc(linear_scratch_floats_cpu(r->d, omp_get_max_threads()));
}

static void run_free(Run *r) {
    float *p[] = {r->xbuf, r->w, r->b, r->R, r->ybuf, r->dxbuf, r->dw, r->db, r->scratch};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) free(p[i]);
}

static void fwd(Run *r) { linear_forward_cpu(r->ybuf, X(r), r->w, r->c.bias ? r->b : NULL, r->d, r->scratch); }
static void bwd(Run *r, float *dx) {
    linear_backward_cpu(dx, r->dw, r->c.bias ? r->db : NULL, r->R, X(r), r->w, r->d, r->scratch);
}
static void zero_grads(Run *r) {
    memset(r->dw, 0, sizeof(float) * r->nw);
    memset(r->db, 0, sizeof(float) * r->c.O);
}

/* ---- naive double reference ---------------------------------------------------- */
static void ref_linear(double *y, double *dx, double *dw, double *db, const Run *r) {
    const Case c = r->c;
    const float *x = X(r);
    for (int n = 0; n < c.N; n++) {
        for (int o = 0; o < c.O; o++) {
            double s = c.bias ? r->b[o] : 0.0;
            for (int i = 0; i < c.I; i++) s += (double)x[(size_t)n * c.x_ld + i] * r->w[o * c.I + i];
            y[(size_t)n * c.O + o] = s;
            double g = r->R[(size_t)n * c.y_ld + o];
            db[o] += g;
            for (int i = 0; i < c.I; i++) dw[o * c.I + i] += g * x[(size_t)n * c.x_ld + i];
        }
        for (int i = 0; i < c.I; i++) {
            double s = 0;
            for (int o = 0; o < c.O; o++) s += (double)r->R[(size_t)n * c.y_ld + o] * r->w[o * c.I + i];
            dx[(size_t)n * c.I + i] = s;
        }
    }
}

/* strided got (rows, cols) stride ld vs compact double ref + strided base (or NULL) */
static double err_strided(const float *got, int ld, const double *ref, const float *base, int rows, int cols) {
    size_t n = (size_t)rows * cols;
    float *g = malloc(sizeof(float) * n), *rf = malloc(sizeof(float) * n);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++) {
            g[(size_t)r * cols + k] = got[(size_t)r * ld + k];
            rf[(size_t)r * cols + k] = (float)(ref[(size_t)r * cols + k] + (base ? base[(size_t)r * ld + k] : 0.0f));
        }
    double e = gc_rel_err(g, rf, n, 1e-6);
    free(g); free(rf);
    return e;
}

/* 1 when every float of buf outside the (rows, cols) block at off, stride ld, equals ref */
static int outside_same(const float *buf, const float *ref, size_t n, size_t off, int ld, int rows, int cols) {
    for (size_t k = 0; k < n; k++) {
        int inside = 0;
        if (k >= off) {
            size_t q = k - off, r = q / ld, col = q % ld;
            inside = r < (size_t)rows && col < (size_t)cols;
        }
        if (!inside && memcmp(buf + k, ref + k, sizeof(float))) return 0;
    }
    return 1;
}

static void check_case(const char *label, Case c, uint64_t seed) {
    Run r;
    run_init(&r, c, seed);
    double *y = calloc((size_t)c.N * c.O, 8), *dx = calloc((size_t)c.N * c.I, 8);
    double *dw = calloc(r.nw, 8), *db = calloc(c.O, 8);
    ref_linear(y, dx, dw, db, &r);
    printf("%s: N=%d I=%d O=%d x_ld=%d y_ld=%d x_off=%d bias=%d\n", label, c.N, c.I, c.O, c.x_ld, c.y_ld,
           c.x_off, c.bias);

    float *ysent = falloc(r.nybuf);
    for (size_t k = 0; k < r.nybuf; k++) ysent[k] = r.ybuf[k] = SENT;
    fwd(&r);
    double ey = err_strided(r.ybuf, c.y_ld, y, NULL, c.N, c.O);
    printf("  forward y err %.2e\n", ey);
    CHECK(ey <= TOL, "y err %.3e", ey);
    CHECK(outside_same(r.ybuf, ysent, r.nybuf, 0, c.y_ld, c.N, c.O), "y written outside its (N,O) block");

    /* overwrite mode; everything of dxbuf outside the strided block keeps its value */
    float *dxsent = falloc(r.nxbuf);
    for (size_t k = 0; k < r.nxbuf; k++) dxsent[k] = r.dxbuf[k] = SENT;
    zero_grads(&r);
    r.d.accumulate_dx = 0;
    bwd(&r, r.dxbuf + c.x_off);
    double edx = err_strided(r.dxbuf + c.x_off, c.x_ld, dx, NULL, c.N, c.I);
    double ew = err_strided(r.dw, c.I, dw, NULL, c.O, c.I);
    double eb = c.bias ? err_strided(r.db, c.O, db, NULL, 1, c.O) : 0.0;
    printf("  backward err dx %.2e dw %.2e db %.2e\n", edx, ew, eb);
    CHECK(edx <= TOL && ew <= TOL && eb <= TOL, "gradient error above %g", TOL);
    CHECK(outside_same(r.dxbuf, dxsent, r.nxbuf, c.x_off, c.x_ld, c.N, c.I), "dx written outside its block");

    /* accumulate_dx = 1 onto a known base; parameter grads accumulate (2x) */
    float *base = falloc(r.nxbuf), *w1 = falloc(r.nw), *b1 = falloc(c.O);
    memcpy(w1, r.dw, sizeof(float) * r.nw);
    memcpy(b1, r.db, sizeof(float) * c.O);
    gc_fill(base, r.nxbuf, dl_key(seed, 99), 1.0f);
    memcpy(r.dxbuf, base, sizeof(float) * r.nxbuf);
    r.d.accumulate_dx = 1;
    bwd(&r, r.dxbuf + c.x_off);
    r.d.accumulate_dx = 0;
    double eacc = err_strided(r.dxbuf + c.x_off, c.x_ld, dx, base + c.x_off, c.N, c.I);
    for (size_t k = 0; k < r.nw; k++) w1[k] *= 2.0f;
    for (int k = 0; k < c.O; k++) b1[k] *= 2.0f;
    double e2 = gc_rel_err(r.dw, w1, r.nw, 1e-6), e2b = c.bias ? gc_rel_err(r.db, b1, c.O, 1e-6) : 0.0;
    printf("  accumulate_dx=1 err %.2e, second backward = 2x first: dw %.2e db %.2e\n", eacc, e2, e2b);
    CHECK(eacc <= TOL, "accumulate_dx=1 err %.3e", eacc);
    CHECK(e2 <= 1e-6 && e2b <= 1e-6, "parameter gradients do not accumulate");
    CHECK(outside_same(r.dxbuf, base, r.nxbuf, c.x_off, c.x_ld, c.N, c.I), "dx (accumulate) written outside");

    /* dx = NULL: same parameter gradients, bit for bit */
    zero_grads(&r);
    bwd(&r, r.dxbuf + c.x_off);
    memcpy(w1, r.dw, sizeof(float) * r.nw);
    zero_grads(&r);
    bwd(&r, NULL);
    CHECK(!memcmp(w1, r.dw, sizeof(float) * r.nw), "dw differs when dx = NULL");

    free(ysent); free(dxsent); free(base); free(w1); free(b1);
    free(y); free(dx); free(dw); free(db);
    run_free(&r);
}

/* ---- finite differences on L = sum(y .* R) ------------------------------------ */
static double loss_fn(void *ctx) {
    Run *r = ctx;
    fwd(r);
    double L = 0;
    for (int n = 0; n < r->c.N; n++)
        for (int o = 0; o < r->c.O; o++) L += (double)r->ybuf[(size_t)n * r->c.y_ld + o] * r->R[(size_t)n * r->c.y_ld + o];
    return L;
}

static void check_fd(Case c, uint64_t seed) {
    Run r;
    run_init(&r, c, seed);
    zero_grads(&r);
    memset(r.dxbuf, 0, sizeof(float) * r.nxbuf);
    bwd(&r, r.dxbuf + c.x_off);
    /* L is linear in each parameter: no truncation error, so a large step h
     * keeps the float rounding of L (~1e-6 / 2h) small; a wrong gradient is off
     * by O(1). */
    const double h = 1e-1, tol = 1e-3, fl = 1e-2;
    struct { const char *name; float *p, *g; size_t n; } t[] = {
        {"w", r.w, r.dw, r.nw}, {"b", r.b, r.db, (size_t)c.O}, {"x", r.xbuf, r.dxbuf, r.nxbuf}};
    printf("finite differences N=%d I=%d O=%d x_ld=%d\n", c.N, c.I, c.O, c.x_ld);
    for (size_t k = 0; k < sizeof t / sizeof *t; k++) {
        double e = gc_fd_check(t[k].p, t[k].g, t[k].n, loss_fn, &r, h, 200, fl);
        printf("  fd %-2s max rel err %.2e\n", t[k].name, e);
        CHECK(e <= tol, "fd %s err %.3e > %g", t[k].name, e, tol);
    }
    run_free(&r);
}

/* ---- same bits for 1 and 2 threads -------------------------------------------- */
static void run_all(Run *r) {
    fwd(r);
    zero_grads(r);
    memset(r->dxbuf, 0, sizeof(float) * r->nxbuf);
    bwd(r, r->dxbuf + r->c.x_off);
}

static void check_threads(Case c, uint64_t seed) {
    Run a, b;
    omp_set_num_threads(1);
    run_init(&a, c, seed);
    run_all(&a);
    omp_set_num_threads(2);
    run_init(&b, c, seed);
    run_all(&b);
    int same = !memcmp(a.ybuf, b.ybuf, sizeof(float) * a.nybuf) && !memcmp(a.dxbuf, b.dxbuf, sizeof(float) * a.nxbuf) &&
               !memcmp(a.dw, b.dw, sizeof(float) * a.nw) && !memcmp(a.db, b.db, sizeof(float) * c.O);
    printf("threads 1 vs 2, N=%d I=%d O=%d: %s\n", c.N, c.I, c.O, same ? "bit-identical" : "DIFFER");
    CHECK(same, "results differ between 1 and 2 threads");
    run_free(&a);
    run_free(&b);
}

/* The kernels' last, partial panel of 16 columns computes each element with the same
 * chain as a full panel: widening the output (more rows of w) or the input gradient's
 * columns (more columns of x) must not move a bit of the columns both widths share. */
static float *lin_run(int N, int I, int O, const float *x, const float *w, const float *dy, float *dx, float *dw) {
    LinearDims d = {.N = N, .I = I, .O = O, .x_ld = I, .y_ld = O, .accumulate_dx = 0};
    float *y = falloc((size_t)N * O), *b = falloc(O), *db = falloc(O), *s = falloc(linear_scratch_floats_cpu(d, 2));
    for (int o = 0; o < O; o++) b[o] = 0.01f * o;
    if (dw) memset(dw, 0, sizeof(float) * (size_t)O * I);
    linear_forward_cpu(y, x, w, b, d, s);
    if (dy) linear_backward_cpu(dx, dw, db, dy, x, w, d, s);
    free(b); free(db); free(s);
    return y;
}

static void check_tail_bits(void) {
    const int N = 29, K = 40, n1 = 37, n2 = 48;
    float *x = falloc((size_t)N * n2), *w = falloc((size_t)n2 * K), *dy = falloc((size_t)N * K);
    gc_fill(x, (size_t)N * n2, 41, 1.0f);
    gc_fill(w, (size_t)n2 * K, 42, 1.0f);
    gc_fill(dy, (size_t)N * K, 43, 1.0f);
    /* forward, O = 37 vs 48 (w's first 37 rows shared): y's first 37 columns */
    float *ya = lin_run(N, K, n1, x, w, NULL, NULL, NULL), *yb = lin_run(N, K, n2, x, w, NULL, NULL, NULL);
    int bad = 0;
    for (int r = 0; r < N; r++) bad += memcmp(ya + (size_t)r * n1, yb + (size_t)r * n2, sizeof(float) * n1) != 0;
    /* backward, I = 37 vs 48 with O = 40: x (N, I) and w (40, I) share their first 37
     * columns; dx and dW must agree there (dy (N, 40) the same) */
    float *xa = falloc((size_t)N * n1), *wa = falloc((size_t)K * n1), *wb = falloc((size_t)K * n2);
    gc_fill(wb, (size_t)K * n2, 44, 1.0f);
    for (int r = 0; r < N; r++) memcpy(xa + (size_t)r * n1, x + (size_t)r * n2, sizeof(float) * n1);
    for (int r = 0; r < K; r++) memcpy(wa + (size_t)r * n1, wb + (size_t)r * n2, sizeof(float) * n1);
    float *dxa = falloc((size_t)N * n1), *dxb = falloc((size_t)N * n2), *dwa = falloc((size_t)K * n1),
          *dwb = falloc((size_t)K * n2);
    free(lin_run(N, n1, K, xa, wa, dy, dxa, dwa));
    free(lin_run(N, n2, K, x, wb, dy, dxb, dwb));
    for (int r = 0; r < N; r++) bad += memcmp(dxa + (size_t)r * n1, dxb + (size_t)r * n2, sizeof(float) * n1) != 0;
    for (int r = 0; r < K; r++) bad += memcmp(dwa + (size_t)r * n1, dwb + (size_t)r * n2, sizeof(float) * n1) != 0;
    /* dW of 69 columns takes the kernel's gathered path (>= 4 full panels) and a masked
     * tail: its first 37 columns must be the bits of the 37-column product (plain path) */
    {
        const int n3 = 69;
        float *x3 = falloc((size_t)N * n3), *w3 = falloc((size_t)K * n3), *dx3 = falloc((size_t)N * n3),
              *dw3 = falloc((size_t)K * n3);
        gc_fill(w3, (size_t)K * n3, 45, 1.0f);
        gc_fill(x3, (size_t)N * n3, 46, 1.0f);
        for (int r = 0; r < N; r++) memcpy(x3 + (size_t)r * n3, xa + (size_t)r * n1, sizeof(float) * n1);
        free(lin_run(N, n3, K, x3, w3, dy, dx3, dw3));
        int bad3 = 0;
        for (int r = 0; r < K; r++) bad3 += memcmp(dwa + (size_t)r * n1, dw3 + (size_t)r * n3, sizeof(float) * n1) != 0;
        printf("gathered dW path: 37 shared columns of dW, 37 vs 69 columns: %d rows differ\n", bad3);
        bad += bad3;
        /* O = 19 outputs: dW's 19 rows take the kernel's small-L path (every row gathered,
         * blocks 4+5+5+5); they must be the first 19 rows of the O = 40 product (gathered
         * path, blocks of 6), whose dy shares its first 19 columns */
        const int o4 = 19;
        float *dy4 = falloc((size_t)N * o4), *w4 = falloc((size_t)o4 * n3), *dw4 = falloc((size_t)o4 * n3);
        for (int r = 0; r < N; r++) memcpy(dy4 + (size_t)r * o4, dy + (size_t)r * K, sizeof(float) * o4);
        memcpy(w4, w3, sizeof(float) * (size_t)o4 * n3);
        free(lin_run(N, n3, o4, x3, w4, dy4, dx3, dw4));
        int bad4 = memcmp(dw4, dw3, sizeof(float) * (size_t)o4 * n3) != 0;
        printf("small-L dW path: 19 rows of dW, 19 vs 40 outputs: %s\n", bad4 ? "differ" : "same bits");
        bad += bad4;
        free(dy4); free(w4); free(dw4);
        free(x3); free(w3); free(dx3); free(dw3);
    }
    printf("partial panels: y, dx, dW of 37 columns vs the same columns of 48: %d rows differ\n", bad);
    CHECK(bad == 0, "partial-panel columns differ from full-panel ones in %d rows", bad);
    float *f[] = {x, w, dy, ya, yb, xa, wa, wb, dxa, dxb, dwa, dwb};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) free(f[i]);
}

/* The dW kernel (convk_gemm_tn) with its scratch against the documented chain, bit for
 * bit: G (K, N) = sum over m in convk_kblock blocks, each an FMA chain from zero, added in
 * turn. With scratch it takes other paths (all K columns of A gathered when K <= 192, as
 * the MMF LSTM's fused [x | h]^T dg; or D's panels copied), which must not change a bit. */
static void check_dw_scratch_bits(void) {
#if CONVK_AVAILABLE
    const int shapes[][3] = {{700, 147, 512}, {333, 40, 69}, {650, 19, 64}, {400, 200, 80}, {90, 30, 16}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const int M = shapes[i][0], K = shapes[i][1], N = shapes[i][2];
        float *A = falloc((size_t)M * K), *D = falloc((size_t)M * N), *g0 = falloc((size_t)K * N),
              *g1 = falloc((size_t)K * N), *ref = falloc((size_t)K * N);
        float *scr = falloc((size_t)convk_dw_scratch_floats(K, N));
        gc_fill(A, (size_t)M * K, 60 + i, 1.0f);
        gc_fill(D, (size_t)M * N, 70 + i, 1.0f);
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++) {
                float tot = 0.0f;
                for (int m0 = 0; m0 < M;) {
                    const int mt = convk_kblock(M - m0);
                    float s = 0.0f;
                    for (int m = m0; m < m0 + mt; m++) s = fmaf(A[(size_t)m * K + k], D[(size_t)m * N + n], s);
                    tot += s;
                    m0 += mt;
                }
                ref[(size_t)k * N + n] = tot;
            }
        memset(g0, 0, sizeof(float) * (size_t)K * N);
        memset(g1, 0, sizeof(float) * (size_t)K * N);
        convk_gemm_tn(g0, A, K, D, N, M, K, N, NULL);
        convk_gemm_tn(g1, A, K, D, N, M, K, N, scr);
        const int b0 = memcmp(g0, ref, sizeof(float) * (size_t)K * N) != 0,
                  b1 = memcmp(g1, ref, sizeof(float) * (size_t)K * N) != 0;
        printf("dW kernel %d x %d x %d: without scratch %s, with scratch %s\n", M, K, N, b0 ? "DIFFERS" : "same bits",
               b1 ? "DIFFERS" : "same bits");
        CHECK(!b0 && !b1, "dW kernel %d x %d x %d differs from the reference chain", M, K, N);
        float *f[] = {A, D, g0, g1, ref, scr};
        for (size_t j = 0; j < sizeof f / sizeof *f; j++) free(f[j]);
    }
#endif
}

int main(void) {
    openblas_set_num_threads(1); /* BLAS single-threaded inside OpenMP (backend.h) */
    omp_set_num_threads(2);
    const int B = 4, T = 6, C = 8;
    check_case("compact", (Case){5, 7, 3, 7, 3, 0, 1}, 11);
    check_case("strided x and y", (Case){6, 5, 4, 9, 6, 0, 1}, 12);
    /* last time step of (B,T,C): x offset (T-1)*C, x_ld = T*C */
    check_case("last step of (B,T,C)", (Case){B, C, 5, T * C, 5, (T - 1) * C, 1}, 13);
    check_case("no bias", (Case){5, 7, 3, 7, 3, 0, 0}, 14);
    check_case("multi-chunk", (Case){2 * DL_CHUNK_ROWS + 808, 6, 4, 6, 4, 0, 1}, 15);
    check_case("panels + tails (O, I 37)", (Case){21, 37, 37, 40, 38, 0, 1}, 16);
    /* dx of >= 65536 floats, 64-byte aligned rows: written with streaming stores */
    check_case("large dx (streaming stores)", (Case){4096 + 100, 32, 8, 32, 8, 0, 1}, 19);
    check_case("one output (head fc2)", (Case){9, 64, 1, 64, 1, 0, 1}, 17);
    check_case("1 -> 1 (residual_proj)", (Case){7, 1, 1, 2, 2, 1, 1}, 18);
    check_tail_bits();
    check_dw_scratch_bits();
    check_fd((Case){5, 7, 3, 9, 3, 0, 1}, 21);
    check_threads((Case){2 * DL_CHUNK_ROWS + 808, 12, 10, 14, 11, 0, 1}, 31);
    return gc_summary("test_layer_linear");
}
