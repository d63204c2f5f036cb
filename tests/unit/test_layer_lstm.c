/* test_layer_lstm.c: lstm_forward_cpu / lstm_backward_cpu against a naive
 * double-precision reference, central finite differences, accumulate rules,
 * strided input, chunk remainders, and bit-identity across thread counts.
 *
 * Tolerance 1e-5 (max |err| / max |ref| per tensor): the op works in float32;
 * each value is a chain of at most T steps of dot products of length <= In+H
 * with O(1) terms, so rounding is ~T*sqrt(In+H)*6e-8 ~ 1e-6 here, while any
 * wrong index, gate or sign gives errors of order 1e-1. */
#include <cblas.h>
#include <omp.h>

#include "../../src/common/util.h"
#include "../../src/engine/layers/layers_cpu.h"
#include "../../src/engine/layers/lstm_cell.h"
#include "gradcheck.h"

#define TOL 1e-5

typedef struct { int B, T, In, H, x_ld; } Case;

/* all buffers of one run; x and dx have row stride x_ld */
typedef struct {
    Case c;
    LSTMDims d;
    float *x, *w_ih, *w_hh, *b_ih, *b_hh, *R;   /* inputs; R = dL/dh_last */
    float *h_last, *cache, *scratch;
    float *dx, *dw_ih, *dw_hh, *db_ih, *db_hh;
    size_t nx, nih, nhh, ncache;
} Run;

static float *falloc(size_t n) { return dl_aligned_alloc(sizeof(float) * (n ? n : 1)); }

static void run_init(Run *r, Case c, uint64_t seed) {
    memset(r, 0, sizeof *r);
    r->c = c;
    r->d = (LSTMDims){.B = c.B, .T = c.T, .In = c.In, .H = c.H, .x_ld = c.x_ld, .accumulate_dx = 0};
    size_t G = 4 * (size_t)c.H;
    r->nx = (size_t)c.B * c.T * c.x_ld;
    r->nih = G * c.In;
    r->nhh = G * c.H;
    r->ncache = lstm_cache_floats_cpu(r->d);
    r->x = falloc(r->nx); r->w_ih = falloc(r->nih); r->w_hh = falloc(r->nhh);
    r->b_ih = falloc(G); r->b_hh = falloc(G); r->R = falloc((size_t)c.B * c.H);
    gc_fill(r->x, r->nx, dl_key(seed, 1), 1.0f);
    gc_fill(r->w_ih, r->nih, dl_key(seed, 2), 0.4f);
    gc_fill(r->w_hh, r->nhh, dl_key(seed, 3), 0.4f);
    gc_fill(r->b_ih, G, dl_key(seed, 4), 0.3f);
    gc_fill(r->b_hh, G, dl_key(seed, 5), 0.3f);
    gc_fill(r->R, (size_t)c.B * c.H, dl_key(seed, 6), 1.0f);
    r->h_last = falloc((size_t)c.B * c.H);
    r->cache = falloc(r->ncache);
    r->scratch = falloc(lstm_scratch_floats_cpu(r->d, omp_get_max_threads()));
    r->dx = falloc(r->nx); r->dw_ih = falloc(r->nih); r->dw_hh = falloc(r->nhh);
    r->db_ih = falloc(G); r->db_hh = falloc(G);
}

static void run_free(Run *r) {
    float *p[] = {r->x, r->w_ih, r->w_hh, r->b_ih, r->b_hh, r->R, r->h_last, r->cache, r->scratch,
                  r->dx, r->dw_ih, r->dw_hh, r->db_ih, r->db_hh};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) free(p[i]);
}

static void zero_grads(Run *r) {
    size_t G = 4 * (size_t)r->c.H;
    memset(r->dw_ih, 0, sizeof(float) * r->nih); memset(r->dw_hh, 0, sizeof(float) * r->nhh);
    memset(r->db_ih, 0, sizeof(float) * G); memset(r->db_hh, 0, sizeof(float) * G);
}

static void fwd(Run *r) {
    lstm_forward_cpu(r->h_last, r->cache, r->x, r->w_ih, r->w_hh, r->b_ih, r->b_hh, r->d, r->scratch);
}
static void bwd(Run *r, float *dx) {
    lstm_backward_cpu(dx, r->dw_ih, r->dw_hh, r->db_ih, r->db_hh, r->R, r->cache, r->x, r->w_ih, r->w_hh,
                      r->d, r->scratch);
}

/* ---- naive double reference: forward, then BPTT from dh_last = R ----------- */
typedef struct { double *h_last, *dx, *dw_ih, *dw_hh, *db; } Ref; /* dx compact (B,T,In) */

static double sigm(double z) { return 1.0 / (1.0 + exp(-z)); }

static void ref_lstm(Ref *o, const Run *r) {
    const int B = r->c.B, T = r->c.T, In = r->c.In, H = r->c.H, G = 4 * H, ld = r->c.x_ld;
    double *a = calloc((size_t)T * G, sizeof(double));      /* activations of one sample */
    double *cc = calloc((size_t)(T + 1) * H, sizeof(double)); /* c_{t} at cc[(t+1)*H] */
    double *hh = calloc((size_t)(T + 1) * H, sizeof(double));
    double *dz = calloc(G, sizeof(double)), *dh = calloc(H, sizeof(double)), *dc = calloc(H, sizeof(double));
    double *dhp = calloc(H, sizeof(double));
    for (int b = 0; b < B; b++) {
        const float *xb = r->x + (size_t)b * T * ld;
        for (int t = 0; t < T; t++) {
            for (int k = 0; k < G; k++) {
                double z = (double)r->b_ih[k] + r->b_hh[k];
                for (int m = 0; m < In; m++) z += (double)r->w_ih[k * In + m] * xb[(size_t)t * ld + m];
                for (int m = 0; m < H; m++) z += (double)r->w_hh[k * H + m] * hh[t * H + m];
                a[t * G + k] = (k >= 2 * H && k < 3 * H) ? tanh(z) : sigm(z);
            }
            for (int j = 0; j < H; j++) {
                const double *at = a + t * G;
                double c = at[H + j] * cc[t * H + j] + at[j] * at[2 * H + j];
                cc[(t + 1) * H + j] = c;
                hh[(t + 1) * H + j] = at[3 * H + j] * tanh(c);
            }
        }
        for (int j = 0; j < H; j++) {
            o->h_last[b * H + j] = hh[T * H + j];
            dh[j] = r->R[b * H + j];
            dc[j] = 0;
        }
        for (int t = T - 1; t >= 0; t--) {
            const double *at = a + t * G;
            for (int j = 0; j < H; j++) {
                double i = at[j], f = at[H + j], g = at[2 * H + j], og = at[3 * H + j];
                double c = cc[(t + 1) * H + j], cp = cc[t * H + j], tc = tanh(c);
                double dct = dc[j] + dh[j] * og * (1 - tc * tc);
                dz[j] = dct * g * i * (1 - i);
                dz[H + j] = dct * cp * f * (1 - f);
                dz[2 * H + j] = dct * i * (1 - g * g);
                dz[3 * H + j] = dh[j] * tc * og * (1 - og);
                dc[j] = dct * f;
            }
            for (int k = 0; k < G; k++) {
                o->db[k] += dz[k];
                for (int m = 0; m < In; m++) o->dw_ih[k * In + m] += dz[k] * xb[(size_t)t * ld + m];
                for (int m = 0; m < H; m++) o->dw_hh[k * H + m] += dz[k] * hh[t * H + m];
            }
            for (int m = 0; m < In; m++) {
                double s = 0;
                for (int k = 0; k < G; k++) s += dz[k] * r->w_ih[k * In + m];
                o->dx[((size_t)b * T + t) * In + m] = s;
            }
            for (int m = 0; m < H; m++) {
                double s = 0;
                for (int k = 0; k < G; k++) s += dz[k] * r->w_hh[k * H + m];
                dhp[m] = s;
            }
            memcpy(dh, dhp, sizeof(double) * H);
        }
    }
    free(a); free(cc); free(hh); free(dz); free(dh); free(dc); free(dhp);
}

/* normalised error of got (n) vs double ref (n) */
static double err_vs(const float *got, const double *ref, size_t n) {
    float *rf = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) rf[i] = (float)ref[i];
    double e = gc_rel_err(got, rf, n, 1e-6);
    free(rf);
    return e;
}

/* dx with row stride x_ld (only In columns) vs compact ref + base (may be NULL) */
static double err_dx(const float *dx, const double *ref, const float *base, Case c) {
    size_t rows = (size_t)c.B * c.T, n = rows * c.In;
    float *g = malloc(sizeof(float) * n);
    double *rr = malloc(sizeof(double) * n);
    for (size_t r = 0; r < rows; r++)
        for (int m = 0; m < c.In; m++) {
            g[r * c.In + m] = dx[r * c.x_ld + m];
            rr[r * c.In + m] = ref[r * c.In + m] + (base ? base[r * c.x_ld + m] : 0.0f);
        }
    double e = err_vs(g, rr, n);
    free(g); free(rr);
    return e;
}

static void check_case(Case c, uint64_t seed) {
    Run r;
    run_init(&r, c, seed);
    const size_t G = 4 * (size_t)c.H, rows = (size_t)c.B * c.T;
    Ref ref = {calloc((size_t)c.B * c.H, 8), calloc(rows * c.In, 8), calloc(r.nih, 8), calloc(r.nhh, 8), calloc(G, 8)};
    ref_lstm(&ref, &r);
    printf("case B=%d T=%d In=%d H=%d x_ld=%d\n", c.B, c.T, c.In, c.H, c.x_ld);

    fwd(&r);
    double e = err_vs(r.h_last, ref.h_last, (size_t)c.B * c.H);
    printf("  forward h_last err %.2e\n", e);
    CHECK(e <= TOL, "h_last err %.3e", e);
    /* h_last is the t=T-1 slice of the cached h */
    int same = 1;
    const float *hs = r.cache + (size_t)c.B * c.T * 5 * c.H;
    for (int b = 0; b < c.B; b++)
        same &= !memcmp(r.h_last + (size_t)b * c.H, hs + ((size_t)b * c.T + c.T - 1) * c.H, sizeof(float) * c.H);
    CHECK(same, "cache h at T-1 differs from h_last");

    /* overwrite mode: dx padding columns hold a sentinel that must survive */
    for (size_t i = 0; i < r.nx; i++) r.dx[i] = 7.0f;
    zero_grads(&r);
    r.d.accumulate_dx = 0;
    bwd(&r, r.dx);
    double edx = err_dx(r.dx, ref.dx, NULL, c), eih = err_vs(r.dw_ih, ref.dw_ih, r.nih);
    double ehh = err_vs(r.dw_hh, ref.dw_hh, r.nhh), ebi = err_vs(r.db_ih, ref.db, G), ebh = err_vs(r.db_hh, ref.db, G);
    printf("  backward err dx %.2e dw_ih %.2e dw_hh %.2e db_ih %.2e db_hh %.2e\n", edx, eih, ehh, ebi, ebh);
    CHECK(edx <= TOL && eih <= TOL && ehh <= TOL && ebi <= TOL && ebh <= TOL, "gradient error above %g", TOL);
    int pad_ok = 1;
    for (size_t row = 0; row < rows; row++)
        for (int m = c.In; m < c.x_ld; m++) pad_ok &= r.dx[row * c.x_ld + m] == 7.0f;
    CHECK(pad_ok, "dx padding columns (x_ld > In) were written");

    /* parameter gradients accumulate: a second backward doubles them */
    float *g1 = malloc(sizeof(float) * r.nih);
    memcpy(g1, r.dw_ih, sizeof(float) * r.nih);
    /* accumulate_dx = 1 onto a known base */
    float *base = malloc(sizeof(float) * r.nx);
    gc_fill(base, r.nx, dl_key(seed, 99), 1.0f);
    memcpy(r.dx, base, sizeof(float) * r.nx);
    r.d.accumulate_dx = 1;
    bwd(&r, r.dx);
    r.d.accumulate_dx = 0;
    double eacc = err_dx(r.dx, ref.dx, base, c);
    for (size_t i = 0; i < r.nih; i++) g1[i] *= 2.0f;
    double e2 = gc_rel_err(r.dw_ih, g1, r.nih, 1e-6);
    int pad2 = 1;
    for (size_t row = 0; row < rows; row++)
        for (int m = c.In; m < c.x_ld; m++) pad2 &= r.dx[row * c.x_ld + m] == base[row * c.x_ld + m];
    printf("  accumulate_dx=1 err %.2e, second backward dw_ih = 2x first err %.2e\n", eacc, e2);
    CHECK(eacc <= TOL, "accumulate_dx=1 err %.3e", eacc);
    CHECK(e2 <= 1e-6, "parameter gradients do not accumulate (err %.3e)", e2);
    CHECK(pad2, "dx padding changed with accumulate_dx=1");

    /* dx = NULL: parameter gradients unchanged, bit for bit */
    zero_grads(&r);
    bwd(&r, r.dx);
    memcpy(g1, r.dw_ih, sizeof(float) * r.nih);
    zero_grads(&r);
    bwd(&r, NULL);
    CHECK(!memcmp(g1, r.dw_ih, sizeof(float) * r.nih), "dw_ih differs when dx = NULL");

    free(g1); free(base);
    free(ref.h_last); free(ref.dx); free(ref.dw_ih); free(ref.dw_hh); free(ref.db);
    run_free(&r);
}

/* ---- finite differences on L = sum(h_last .* R) ---------------------------- */
static double loss_fn(void *ctx) {
    Run *r = ctx;
    fwd(r);
    double L = 0;
    for (size_t i = 0; i < (size_t)r->c.B * r->c.H; i++) L += (double)r->h_last[i] * r->R[i];
    return L;
}

static void check_fd(Case c, uint64_t seed) {
    Run r;
    run_init(&r, c, seed);
    fwd(&r);
    zero_grads(&r);
    memset(r.dx, 0, sizeof(float) * r.nx);
    bwd(&r, r.dx);
    size_t G = 4 * (size_t)c.H;
    /* L is computed by the float op: rounding noise in L grows as 1/h and the
     * truncation error as h^2; h = 1e-2 balances them (measured max 1.2e-3; with
     * h = 1e-3 noise gives 1e-2). A wrong gradient is off by O(1). */
    const double h = 1e-2, tol = 5e-3, fl = 1e-2;
    struct { const char *name; float *p, *g; size_t n; } t[] = {
        {"w_ih", r.w_ih, r.dw_ih, r.nih}, {"w_hh", r.w_hh, r.dw_hh, r.nhh},
        {"b_ih", r.b_ih, r.db_ih, G},     {"b_hh", r.b_hh, r.db_hh, G},
        {"x", r.x, r.dx, r.nx}};
    printf("finite differences B=%d T=%d In=%d H=%d x_ld=%d\n", c.B, c.T, c.In, c.H, c.x_ld);
    for (size_t k = 0; k < sizeof t / sizeof *t; k++) {
        double e = gc_fd_check(t[k].p, t[k].g, t[k].n, loss_fn, &r, h, 200, fl);
        printf("  fd %-5s max rel err %.2e\n", t[k].name, e);
        CHECK(e <= tol, "fd %s err %.3e > %g", t[k].name, e, tol);
    }
    run_free(&r);
}

/* ---- the hand-written gate functions against double libm --------------------- */
static void check_math(void) {
    double me = 0, mt = 0, ms = 0;
    for (int k = 0; k <= 1800000; k++) {
        float x = -90.0f + 1e-4f * (float)k;
        double t = tanh((double)x), sg = 1.0 / (1.0 + exp(-(double)x));
        if (x > -87.0f && x < 87.0f) me = fmax(me, fabs(lstm_expf(x) - exp((double)x)) / exp((double)x));
        if (t != 0) mt = fmax(mt, fabs(lstm_tanhf(x) - t) / fabs(t));
        ms = fmax(ms, fabs(lstm_sigmoid(x) - sg));
    }
    printf("gate math on [-90, 90]: exp rel %.2e, tanh rel %.2e, sigmoid abs %.2e\n", me, mt, ms);
    /* float rounding is 6e-8 relative: allow a few ulp */
    CHECK(me <= 3e-7 && mt <= 3e-7 && ms <= 2e-7, "gate math error above a few ulp");
    CHECK(lstm_sigmoid(-200.0f) >= 0.0f && lstm_sigmoid(200.0f) == 1.0f && lstm_tanhf(-200.0f) == -1.0f &&
          lstm_tanhf(200.0f) == 1.0f && lstm_tanhf(0.0f) == 0.0f, "gate math saturation");
}

/* ---- same bits for 1 and 2 threads ------------------------------------------ */
static void run_all(Run *r) {
    fwd(r);
    zero_grads(r);
    memset(r->dx, 0, sizeof(float) * r->nx);
    bwd(r, r->dx);
}

static void check_threads(Case c, uint64_t seed) {
    Run a, b;
    omp_set_num_threads(1);
    run_init(&a, c, seed);
    run_all(&a);
    omp_set_num_threads(2);
    run_init(&b, c, seed); /* scratch sized for 2 threads */
    run_all(&b);
    size_t G = 4 * (size_t)c.H;
    int same = !memcmp(a.h_last, b.h_last, sizeof(float) * c.B * c.H) &&
               !memcmp(a.cache, b.cache, sizeof(float) * a.ncache) &&
               !memcmp(a.dx, b.dx, sizeof(float) * a.nx) && !memcmp(a.dw_ih, b.dw_ih, sizeof(float) * a.nih) &&
               !memcmp(a.dw_hh, b.dw_hh, sizeof(float) * a.nhh) && !memcmp(a.db_ih, b.db_ih, sizeof(float) * G) &&
               !memcmp(a.db_hh, b.db_hh, sizeof(float) * G);
    printf("threads 1 vs 2, B=%d T=%d In=%d H=%d: %s\n", c.B, c.T, c.In, c.H, same ? "bit-identical" : "DIFFER");
    CHECK(same, "results differ between 1 and 2 threads");
    run_free(&a);
    run_free(&b);
}

int main(void) {
    openblas_set_num_threads(1); /* BLAS single-threaded inside OpenMP (backend.h) */
    omp_set_num_threads(2);
    check_math();
    check_case((Case){3, 7, 5, 4, 5}, 11);    /* small, compact x */
    check_case((Case){3, 7, 5, 4, 9}, 12);    /* strided x: x_ld > In */
    check_case((Case){70, 9, 6, 5, 8}, 13);   /* 3 sample chunks, last one partial */
    check_case((Case){2, 1, 3, 2, 3}, 14);    /* T = 1: no recurrence */
    /* H and In multiples of 16: the products run on conv2d's register-blocked kernels */
    check_case((Case){35, 9, 32, 16, 40}, 15);  /* 2 chunks, strided x */
    check_case((Case){3, 11, 64, 32, 64}, 16);  /* G = 128: AVX-512 blocks where present */
    check_fd((Case){3, 7, 5, 4, 5}, 21);
    check_fd((Case){2, 5, 16, 16, 16}, 22);
    check_threads((Case){70, 30, 24, 16, 27}, 31);
    check_threads((Case){70, 20, 32, 16, 48}, 32);
    return gc_summary("test_layer_lstm");
}
