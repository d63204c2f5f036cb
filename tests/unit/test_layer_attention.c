/* test_layer_attention.c: the CPU ops of the hierarchical model's attention
 * path (attention.c): S = scale*Q K^T and O = P V with their backward, softmax
 * over the key axis, the sigmoid gate y = sigmoid(g)*t, and the strided row copy
 * (concat). Each op is checked against
 *  - a naive double-precision reference at the model's sizes (L = 88, D = 64)
 *    with row strides wider than D: normalised error max|c-ref|/max|ref| <= 1e-5
 *    (fp32 dot products of length <= 88 round to ~1e-7 relative; a wrong index
 *    or transpose gives O(1));
 *  - central finite differences of L = sum(R * out) through the float op
 *    (relative error <= 5e-3: h = 1e-2 in fp32 leaves ~1e-4 truncation and
 *    ~1e-4 rounding; a wrong gradient is off by O(1));
 *  - accumulate rules, untouched stride padding, aliasing where allowed;
 *  - bit-identity between 1 and 2 OpenMP threads (sizes above the parallel
 *    threshold). */
#include <omp.h>

#include "../../src/common/util.h"
#include "../../src/engine/layers/layers_cpu.h"
#include "gradcheck.h"

#define TOL 1e-5
#define FD_TOL 5e-3
#define SENT 7.0f /* sentinel in stride padding: must survive */

static float *falloc(size_t n) { return dl_aligned_alloc(sizeof(float) * (n ? n : 1)); }

/* fill a (rows, C; ld) block with N(0, scale) and the padding with SENT */
static void fill_strided(float *x, int rows, int C, int ld, uint64_t key, float scale) {
    gc_fill(x, (size_t)rows * ld, key, scale);
    for (int r = 0; r < rows; r++)
        for (int c = C; c < ld; c++) x[(size_t)r * ld + c] = SENT;
}

static int padding_intact(const float *x, int rows, int C, int ld) {
    for (int r = 0; r < rows; r++)
        for (int c = C; c < ld; c++)
            if (x[(size_t)r * ld + c] != SENT) return 0;
    return 1;
}

/* max|got - ref| / max|ref| over a strided (rows, C; ld) float block vs compact double */
static double err_sd(const float *got, int ld, const double *ref, int rows, int C) {
    double md = 0, mr = 1e-30;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) {
            double d = fabs((double)got[(size_t)r * ld + c] - ref[(size_t)r * C + c]);
            md = d > md || d != d ? (d != d ? INFINITY : d) : md;
            mr = fmax(mr, fabs(ref[(size_t)r * C + c]));
        }
    return md / mr;
}

static double dot_sf(const float *a, const float *w, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * w[i];
    return s;
}

/* ---- batched products ------------------------------------------------------------- */
typedef struct {
    AttnDims d;
    float *Q, *K, *V, *P, *S, *O, *RS, *RO; /* RS (B,Lq,Lk), RO (B,Lq,D; o_ld): dL/dS, dL/dO */
    float *scratch;                         /* the products' per-thread slots (up to 8 threads) */
} Att;

static void att_init(Att *a, AttnDims d, uint64_t seed) {
    a->d = d;
    size_t nq = (size_t)d.B * d.Lq, nk = (size_t)d.B * d.Lk, ns = nq * d.Lk;
    a->Q = falloc(nq * d.q_ld); a->K = falloc(nk * d.k_ld); a->V = falloc(nk * d.v_ld);
    a->O = falloc(nq * d.o_ld); a->RO = falloc(nq * d.o_ld);
    a->P = falloc(ns); a->S = falloc(ns); a->RS = falloc(ns);
    a->scratch = falloc(attn_scratch_floats_cpu(d, 8));
    fill_strided(a->Q, (int)nq, d.D, d.q_ld, dl_key(seed, 1), 1.0f);
    fill_strided(a->K, (int)nk, d.D, d.k_ld, dl_key(seed, 2), 1.0f);
    fill_strided(a->V, (int)nk, d.D, d.v_ld, dl_key(seed, 3), 1.0f);
    fill_strided(a->RO, (int)nq, d.D, d.o_ld, dl_key(seed, 4), 1.0f);
    gc_fill(a->RS, ns, dl_key(seed, 5), 1.0f);
    /* P: rows of a softmax (positive, sum 1), as the model feeds it */
    gc_fill(a->P, ns, dl_key(seed, 6), 1.0f);
    softmax_forward_cpu(a->P, a->P, (int)nq, d.Lk);
}

static void att_free(Att *a) {
    float *p[] = {a->Q, a->K, a->V, a->P, a->S, a->O, a->RS, a->RO, a->scratch};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) free(p[i]);
}

static const float *rowp(const float *x, int b, int L, int i, int ld) { return x + ((size_t)b * L + i) * ld; }

static void test_products_reference(void) {
    AttnDims d = {.B = 3, .Lq = 88, .Lk = 88, .D = 64, .q_ld = 72, .k_ld = 80, .v_ld = 65, .o_ld = 70,
                  .scale = 0.125f, .accumulate_din = 0};
    Att a;
    att_init(&a, d, 11);
    const int nq = d.B * d.Lq, nk = d.B * d.Lk;
    double *S = calloc((size_t)nq * d.Lk, 8), *O = calloc((size_t)nq * d.D, 8);
    double *dQ = calloc((size_t)nq * d.D, 8), *dK = calloc((size_t)nk * d.D, 8);
    double *dP = calloc((size_t)nq * d.Lk, 8), *dV = calloc((size_t)nk * d.D, 8);
    for (int b = 0; b < d.B; b++)
        for (int i = 0; i < d.Lq; i++)
            for (int j = 0; j < d.Lk; j++) {
                const float *q = rowp(a.Q, b, d.Lq, i, d.q_ld), *k = rowp(a.K, b, d.Lk, j, d.k_ld);
                const float *v = rowp(a.V, b, d.Lk, j, d.v_ld), *ro = rowp(a.RO, b, d.Lq, i, d.o_ld);
                size_t sij = ((size_t)b * d.Lq + i) * d.Lk + j;
                S[sij] = d.scale * dot_sf(q, k, d.D);
                double rs = a.RS[sij], p = a.P[sij], dp = 0;
                for (int c = 0; c < d.D; c++) {
                    O[((size_t)b * d.Lq + i) * d.D + c] += p * v[c];
                    dQ[((size_t)b * d.Lq + i) * d.D + c] += d.scale * rs * k[c];
                    dK[((size_t)b * d.Lk + j) * d.D + c] += d.scale * rs * q[c];
                    dV[((size_t)b * d.Lk + j) * d.D + c] += p * ro[c];
                    dp += (double)ro[c] * v[c];
                }
                dP[sij] = dp;
            }
    printf("products: B=%d Lq=%d Lk=%d D=%d q_ld=%d k_ld=%d v_ld=%d o_ld=%d\n", d.B, d.Lq, d.Lk, d.D, d.q_ld, d.k_ld,
           d.v_ld, d.o_ld);
    attn_scores_forward_cpu(a.S, a.Q, a.K, d, a.scratch);
    double e = err_sd(a.S, d.Lk, S, nq, d.Lk);
    printf("  scores forward  S = scale*QK^T   err %.2e\n", e);
    CHECK(e <= TOL, "scores forward err %.3g", e);
    fill_strided(a.O, nq, d.D, d.o_ld, 99, 1.0f);
    attn_apply_forward_cpu(a.O, a.P, a.V, d, a.scratch);
    e = err_sd(a.O, d.o_ld, O, nq, d.D);
    printf("  apply forward   O = P V          err %.2e\n", e);
    CHECK(e <= TOL && padding_intact(a.O, nq, d.D, d.o_ld), "apply forward err %.3g or padding touched", e);

    /* backward, overwrite then accumulate (dst starts at base: expect base + ref) */
    float *gQ = falloc((size_t)nq * d.q_ld), *gK = falloc((size_t)nk * d.k_ld), *gV = falloc((size_t)nk * d.v_ld);
    float *gP = falloc((size_t)nq * d.Lk);
    double *ref2 = malloc(sizeof(double) * (size_t)nq * d.Lk);
    for (int acc = 0; acc <= 1; acc++) {
        d.accumulate_din = acc;
        fill_strided(gQ, nq, d.D, d.q_ld, 31, 1.0f);
        fill_strided(gK, nk, d.D, d.k_ld, 32, 1.0f);
        fill_strided(gV, nk, d.D, d.v_ld, 33, 1.0f);
        gc_fill(gP, (size_t)nq * d.Lk, 34, 1.0f);
        /* the expected value: ref + (acc ? initial : 0) */
        double *eQ = malloc(8 * (size_t)nq * d.D), *eK = malloc(8 * (size_t)nk * d.D), *eV = malloc(8 * (size_t)nk * d.D);
        for (int r = 0; r < nq; r++)
            for (int c = 0; c < d.D; c++) eQ[(size_t)r * d.D + c] = dQ[(size_t)r * d.D + c] + (acc ? gQ[(size_t)r * d.q_ld + c] : 0);
        for (int r = 0; r < nk; r++)
            for (int c = 0; c < d.D; c++) {
                eK[(size_t)r * d.D + c] = dK[(size_t)r * d.D + c] + (acc ? gK[(size_t)r * d.k_ld + c] : 0);
                eV[(size_t)r * d.D + c] = dV[(size_t)r * d.D + c] + (acc ? gV[(size_t)r * d.v_ld + c] : 0);
            }
        for (size_t i = 0; i < (size_t)nq * d.Lk; i++) ref2[i] = dP[i] + (acc ? gP[i] : 0);
        attn_scores_backward_cpu(gQ, gK, a.RS, a.Q, a.K, d, a.scratch);
        attn_apply_backward_cpu(gP, gV, a.RO, a.P, a.V, d, a.scratch);
        double eq = err_sd(gQ, d.q_ld, eQ, nq, d.D), ek = err_sd(gK, d.k_ld, eK, nk, d.D);
        double ev = err_sd(gV, d.v_ld, eV, nk, d.D), ep = err_sd(gP, d.Lk, ref2, nq, d.Lk);
        printf("  backward (accumulate=%d): dQ err %.2e dK err %.2e dP err %.2e dV err %.2e\n", acc, eq, ek, ep, ev);
        CHECK(eq <= TOL && ek <= TOL && ev <= TOL && ep <= TOL, "products backward acc=%d: %.3g %.3g %.3g %.3g", acc,
              eq, ek, ep, ev);
        CHECK(padding_intact(gQ, nq, d.D, d.q_ld) && padding_intact(gK, nk, d.D, d.k_ld) &&
                  padding_intact(gV, nk, d.D, d.v_ld),
              "products backward acc=%d wrote into stride padding", acc);
        free(eQ); free(eK); free(eV);
    }
    /* NULL outputs are skipped */
    d.accumulate_din = 0;
    attn_scores_backward_cpu(NULL, gK, a.RS, a.Q, a.K, d, a.scratch);
    attn_apply_backward_cpu(gP, NULL, a.RO, a.P, a.V, d, a.scratch);
    free(gQ); free(gK); free(gV); free(gP); free(ref2);
    free(S); free(O); free(dQ); free(dK); free(dP); free(dV);
    att_free(&a);
}

/* finite differences: L = sum(RS*S) + sum(RO*O), O = P V, S = scale Q K^T */
typedef struct { Att *a; } FdCtx;
static double loss_products(void *ctx) {
    Att *a = ((FdCtx *)ctx)->a;
    AttnDims d = a->d;
    attn_scores_forward_cpu(a->S, a->Q, a->K, d, a->scratch);
    attn_apply_forward_cpu(a->O, a->P, a->V, d, a->scratch);
    size_t nq = (size_t)d.B * d.Lq;
    double l = dot_sf(a->S, a->RS, nq * d.Lk);
    for (size_t r = 0; r < nq; r++) l += dot_sf(a->O + r * d.o_ld, a->RO + r * d.o_ld, d.D);
    return l;
}

static void test_products_fd(void) {
    AttnDims d = {.B = 2, .Lq = 5, .Lk = 7, .D = 4, .q_ld = 6, .k_ld = 5, .v_ld = 4, .o_ld = 8, .scale = 0.5f,
                  .accumulate_din = 0};
    Att a;
    att_init(&a, d, 21);
    const int nq = d.B * d.Lq, nk = d.B * d.Lk;
    float *gQ = falloc((size_t)nq * d.q_ld), *gK = falloc((size_t)nk * d.k_ld), *gV = falloc((size_t)nk * d.v_ld);
    float *gP = falloc((size_t)nq * d.Lk);
    attn_scores_backward_cpu(gQ, gK, a.RS, a.Q, a.K, d, a.scratch);
    attn_apply_backward_cpu(gP, gV, a.RO, a.P, a.V, d, a.scratch);
    FdCtx c = {&a};
    /* probe every element including the padding (its gradient must be 0: not read) */
    for (int r = 0; r < nq; r++)
        for (int k = d.D; k < d.q_ld; k++) gQ[(size_t)r * d.q_ld + k] = 0;
    for (int r = 0; r < nk; r++) {
        for (int k = d.D; k < d.k_ld; k++) gK[(size_t)r * d.k_ld + k] = 0;
        for (int k = d.D; k < d.v_ld; k++) gV[(size_t)r * d.v_ld + k] = 0;
    }
    double eq = gc_fd_check(a.Q, gQ, (size_t)nq * d.q_ld, loss_products, &c, 1e-2, 1000, 1e-2);
    double ek = gc_fd_check(a.K, gK, (size_t)nk * d.k_ld, loss_products, &c, 1e-2, 1000, 1e-2);
    double ev = gc_fd_check(a.V, gV, (size_t)nk * d.v_ld, loss_products, &c, 1e-2, 1000, 1e-2);
    double ep = gc_fd_check(a.P, gP, (size_t)nq * d.Lk, loss_products, &c, 1e-2, 1000, 1e-2);
    printf("products finite differences: dQ %.2e dK %.2e dV %.2e dP %.2e\n", eq, ek, ev, ep);
    CHECK(eq <= FD_TOL && ek <= FD_TOL && ev <= FD_TOL && ep <= FD_TOL, "products FD: %.3g %.3g %.3g %.3g", eq, ek,
          ev, ep);
    free(gQ); free(gK); free(gV); free(gP);
    att_free(&a);
}

/* ---- softmax ---------------------------------------------------------------------- */
typedef struct { float *S, *P, *R; int rows, n; } SmCtx;
static double loss_softmax(void *ctx) {
    SmCtx *c = ctx;
    softmax_forward_cpu(c->P, c->S, c->rows, c->n);
    return dot_sf(c->P, c->R, (size_t)c->rows * c->n);
}

static void test_softmax(void) {
    const int rows = 3 * 88, n = 88;
    const size_t N = (size_t)rows * n;
    float *S = falloc(N), *P = falloc(N), *R = falloc(N), *dS = falloc(N);
    gc_fill(S, N, 41, 3.0f);
    gc_fill(R, N, 42, 1.0f);
    S[5] = 80.0f;    /* exp(80) overflows float without the max subtraction */
    S[n + 3] = -90.0f;
    softmax_forward_cpu(P, S, rows, n);
    double *rp = malloc(8 * N), *rd = malloc(8 * N);
    double worst_sum = 0;
    for (int r = 0; r < rows; r++) {
        const float *s = S + (size_t)r * n;
        double mx = s[0], z = 0, dot = 0, ps = 0;
        for (int j = 1; j < n; j++) mx = fmax(mx, s[j]);
        for (int j = 0; j < n; j++) z += exp((double)s[j] - mx);
        for (int j = 0; j < n; j++) rp[(size_t)r * n + j] = exp((double)s[j] - mx) / z;
        for (int j = 0; j < n; j++) dot += rp[(size_t)r * n + j] * R[(size_t)r * n + j];
        for (int j = 0; j < n; j++) rd[(size_t)r * n + j] = rp[(size_t)r * n + j] * (R[(size_t)r * n + j] - dot);
        for (int j = 0; j < n; j++) ps += P[(size_t)r * n + j];
        worst_sum = fmax(worst_sum, fabs(ps - 1.0));
    }
    double e = err_sd(P, n, rp, rows, n);
    printf("softmax forward (%d rows of %d, one with s=80): err %.2e, worst |rowsum-1| %.1e\n", rows, n, e, worst_sum);
    CHECK(e <= TOL && worst_sum <= 1e-5, "softmax forward err %.3g rowsum %.3g", e, worst_sum);
    softmax_backward_cpu(dS, R, P, rows, n);
    double eb = err_sd(dS, n, rd, rows, n);
    /* in place: dS over dP */
    float *dP = falloc(N);
    memcpy(dP, R, N * sizeof(float));
    softmax_backward_cpu(dP, dP, P, rows, n);
    int inplace_same = !memcmp(dP, dS, N * sizeof(float));
    /* in-place forward */
    memcpy(dP, S, N * sizeof(float));
    softmax_forward_cpu(dP, dP, rows, n);
    int inplace_fwd = !memcmp(dP, P, N * sizeof(float));
    printf("softmax backward: err %.2e; in place forward %s, backward %s\n", eb, inplace_fwd ? "same" : "DIFFERS",
           inplace_same ? "same" : "DIFFERS");
    CHECK(eb <= TOL && inplace_same && inplace_fwd, "softmax backward err %.3g / in place differs", eb);

    /* finite differences on a few small rows (moderate logits: FD must resolve them) */
    SmCtx c = {S, P, R, 4, 9};
    gc_fill(S, 36, 43, 1.0f);
    softmax_forward_cpu(P, S, 4, 9);
    softmax_backward_cpu(dS, R, P, 4, 9);
    double ef = gc_fd_check(S, dS, 36, loss_softmax, &c, 1e-2, 100, 1e-2);
    printf("softmax finite differences: %.2e\n", ef);
    CHECK(ef <= FD_TOL, "softmax FD %.3g", ef);
    free(S); free(P); free(R); free(dS); free(dP); free(rp); free(rd);
}

/* ---- sigmoid gate ----------------------------------------------------------------- */
typedef struct { float *g, *t, *y, *R; size_t n; } GateCtx;
static double loss_gate(void *ctx) {
    GateCtx *c = ctx;
    gate_mul_forward_cpu(c->y, c->g, c->t, c->n);
    return dot_sf(c->y, c->R, c->n);
}

static void test_gate(void) {
    const size_t n = 2 * 88 * 256;
    float *g = falloc(n), *t = falloc(n), *y = falloc(n), *R = falloc(n), *dg = falloc(n), *dt = falloc(n);
    gc_fill(g, n, 51, 3.0f);
    gc_fill(t, n, 52, 1.0f);
    gc_fill(R, n, 53, 1.0f);
    g[0] = 100.0f; g[1] = -100.0f; /* saturated both ways: no NaN */
    gate_mul_forward_cpu(y, g, t, n);
    gate_mul_backward_cpu(dg, dt, R, g, t, n);
    double *ry = malloc(8 * n), *rg = malloc(8 * n), *rt = malloc(8 * n);
    for (size_t i = 0; i < n; i++) {
        double s = 1.0 / (1.0 + exp(-(double)g[i]));
        ry[i] = s * t[i];
        rt[i] = R[i] * s;
        rg[i] = R[i] * t[i] * s * (1 - s);
    }
    double ey = err_sd(y, 1, ry, (int)n, 1), eg = err_sd(dg, 1, rg, (int)n, 1), et = err_sd(dt, 1, rt, (int)n, 1);
    int finite = 1;
    for (size_t i = 0; i < n; i++) finite &= isfinite(y[i]) && isfinite(dg[i]) && isfinite(dt[i]);
    printf("sigmoid gate (n=%zu, g=+-100 included): forward err %.2e, dg err %.2e, dt err %.2e, finite %d\n", n, ey,
           eg, et, finite);
    CHECK(ey <= TOL && eg <= TOL && et <= TOL && finite, "gate: %.3g %.3g %.3g finite %d", ey, eg, et, finite);
    /* aliasing dg=g, dt=t (as the model runs it) gives the same bits */
    float *g2 = falloc(n), *t2 = falloc(n);
    memcpy(g2, g, n * sizeof(float));
    memcpy(t2, t, n * sizeof(float));
    gate_mul_backward_cpu(g2, t2, R, g2, t2, n);
    CHECK(!memcmp(g2, dg, n * sizeof(float)) && !memcmp(t2, dt, n * sizeof(float)), "gate backward in place differs");
    /* finite differences on a prefix */
    GateCtx c = {g + 2, t + 2, y, R, 64};
    gate_mul_backward_cpu(dg, dt, R, g + 2, t + 2, 64);
    double efg = gc_fd_check(g + 2, dg, 64, loss_gate, &c, 1e-2, 64, 1e-2);
    double eft = gc_fd_check(t + 2, dt, 64, loss_gate, &c, 1e-2, 64, 1e-2);
    printf("sigmoid gate finite differences: dg %.2e dt %.2e\n", efg, eft);
    CHECK(efg <= FD_TOL && eft <= FD_TOL, "gate FD %.3g %.3g", efg, eft);
    free(g); free(t); free(y); free(R); free(dg); free(dt); free(g2); free(t2); free(ry); free(rg); free(rt);
}

/* ---- strided row copy (concat) ---------------------------------------------------- */
static void test_copy_rows(void) {
    const int rows = 2 * 88, C = 64, ldx = 64, ldy = 320, off = 256;
    float *x = falloc((size_t)rows * ldx), *y = falloc((size_t)rows * ldy), *y0 = falloc((size_t)rows * ldy);
    gc_fill(x, (size_t)rows * ldx, 61, 1.0f);
    gc_fill(y, (size_t)rows * ldy, 62, 1.0f);
    memcpy(y0, y, (size_t)rows * ldy * sizeof(float));
    int bad = 0;
    for (int acc = 0; acc <= 1; acc++) {
        memcpy(y, y0, (size_t)rows * ldy * sizeof(float));
        copy_rows_cpu(y + off, x, rows, C, ldy, ldx, acc);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < ldy; c++) {
                float got = y[(size_t)r * ldy + c], was = y0[(size_t)r * ldy + c];
                float want = c < off ? was : (acc ? was + x[(size_t)r * ldx + c - off] : x[(size_t)r * ldx + c - off]);
                bad += got != want;
            }
    }
    printf("copy_rows into columns 256..319 of 320-wide rows, copy and accumulate: %d wrong\n", bad);
    CHECK(bad == 0, "copy_rows: %d wrong elements", bad);
    free(x); free(y); free(y0);
}

/* ---- bit-identity across thread counts ----------------------------------------------- */
static void run_all_ops(Att *a, float *out, size_t *n_out) {
    AttnDims d = a->d;
    size_t nq = (size_t)d.B * d.Lq, nk = (size_t)d.B * d.Lk, ns = nq * d.Lk, o = 0;
    attn_scores_forward_cpu(out + o, a->Q, a->K, d, a->scratch); o += ns;
    softmax_forward_cpu(out + o, out, (int)nq, d.Lk); o += ns;
    attn_apply_forward_cpu(out + o, out + ns, a->V, d, a->scratch); o += nq * d.o_ld;
    attn_scores_backward_cpu(out + o, out + o + nq * d.q_ld, a->RS, a->Q, a->K, d, a->scratch); o += nq * d.q_ld + nk * d.k_ld;
    attn_apply_backward_cpu(out + o, out + o + ns, a->RO, out + ns, a->V, d, a->scratch); o += ns + nk * d.v_ld;
    softmax_backward_cpu(out + o, a->RS, out + ns, (int)nq, d.Lk); o += ns;
    gate_mul_forward_cpu(out + o, a->RS, out, ns); o += ns;
    gate_mul_backward_cpu(out + o, out + o + ns, a->RS, out, out + ns, ns); o += 2 * ns;
    copy_rows_cpu(out + o, a->Q, (int)nq, d.D, d.D, d.q_ld, 0); o += nq * d.D;
    *n_out = o;
}

static void test_threads(void) {
    AttnDims d = {.B = 8, .Lq = 88, .Lk = 88, .D = 64, .q_ld = 64, .k_ld = 64, .v_ld = 64, .o_ld = 64,
                  .scale = 0.125f, .accumulate_din = 0};
    Att a;
    att_init(&a, d, 71);
    size_t ns = (size_t)d.B * d.Lq * d.Lk, nr = (size_t)d.B * d.Lq * 64;
    size_t cap = 8 * ns + 8 * nr;
    float *o1 = falloc(cap), *o2 = falloc(cap);
    size_t n1, n2;
    omp_set_num_threads(1);
    run_all_ops(&a, o1, &n1);
    omp_set_num_threads(2);
    run_all_ops(&a, o2, &n2);
    int same = n1 == n2 && !memcmp(o1, o2, n1 * sizeof(float));
    printf("all attention ops, 1 vs 2 threads (B=%d, %zu floats): %s\n", d.B, n1, same ? "bit-identical" : "DIFFER");
    CHECK(same, "attention ops differ between 1 and 2 threads");
    free(o1); free(o2);
    att_free(&a);
}

int main(void) {
    omp_set_num_threads(2);
    test_products_reference();
    test_products_fd();
    test_softmax();
    test_gate();
    test_copy_rows();
    test_threads();
    return gc_summary("test_layer_attention");
}
