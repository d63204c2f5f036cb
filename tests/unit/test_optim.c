/* test_optim.c: sum of squares (double reference, bit-identity 1 vs 2 threads),
 * scale, and Adam (5 steps against a hand-coded double reference of torch 1.13's
 * single-tensor Adam; coefficients as Python computes them).
 * Adam tolerance: the op runs the update in float32 like torch; each step adds a
 * few float roundings (~1e-7 relative) to p, m and v, so after 5 steps the
 * normalised error stays below 1e-6. The update itself (p - p0, ~lr) is
 * compared at 1e-3: one float ulp of p (~1e-7 at |p|~1) is 1e-4 of a 1e-3 step.
 * AdamW (weight_decay > 0): 4 steps against torch 1.13's torch.optim.AdamW
 * (foreach=False, float32), with the lr halved after step 2 as the plateau
 * scheduler does; expected values committed as constants (the torch script is
 * in the comment above them). weight_decay = 0 must be the plain Adam update
 * bit for bit. */
#include <omp.h>
#include <stdint.h>

#include "../../src/common/util.h"
#include "../../src/engine/layers/elementwise.h"
#include "../../src/engine/layers/layers_cpu.h"
#include "gradcheck.h"

static void test_sumsq(void) {
    const size_t n = 300001; /* several chunks and an odd tail */
    float *x = dl_malloc(n * sizeof(float));
    gc_fill(x, n, 61, 1.5f);
    double ref = 0, ref_small = 0;
    for (size_t i = 0; i < n; i++) ref += (double)x[i] * x[i];
    for (size_t i = 0; i < 13; i++) ref_small += (double)x[i] * x[i];
    omp_set_num_threads(1);
    double s1 = sumsq_cpu(x, n);
    omp_set_num_threads(2);
    double s2 = sumsq_cpu(x, n);
    double e = fabs(s2 - ref) / ref, es = fabs(sumsq_cpu(x, 13) - ref_small) / ref_small;
    printf("sumsq n=%zu: %.17g vs reference %.17g, rel err %.2e (<= 1e-12); n=13 rel err %.2e\n", n, s2, ref, e, es);
    CHECK(e <= 1e-12 && es <= 1e-12, "sumsq rel err %.3e / %.3e", e, es);
    CHECK(memcmp(&s1, &s2, sizeof s1) == 0, "sumsq 1 thread %.17g != 2 threads %.17g", s1, s2);
    CHECK(sumsq_cpu(x, 0) == 0.0, "sumsq of an empty vector is not 0");
    printf("sumsq 1 vs 2 threads: %s\n", memcmp(&s1, &s2, sizeof s1) == 0 ? "identical" : "DIFFERENT");

    float *y = dl_malloc(n * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    scale_cpu(y, n, 0.37f);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += y[i] != x[i] * 0.37f;
    printf("scale: %zu wrong\n", bad);
    CHECK(bad == 0, "scale: %zu wrong", bad);
    free(x), free(y);
}

/* torch 1.13 _single_tensor_adam in double, hyperparameters as Python doubles */
static void adam_ref(double *p, double *m, double *v, const float *g, size_t n, double lr, double b1, double b2,
                     double eps, int t) {
    double bc1 = 1.0 - pow(b1, t), bc2 = 1.0 - pow(b2, t);
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * (double)g[i] * g[i];
        double denom = sqrt(v[i]) / sqrt(bc2) + eps;
        p[i] -= lr / bc1 * m[i] / denom;
    }
}

static double max_rel_d(const float *a, const double *b, size_t n, double floor_) {
    double md = 0, mb = floor_;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs(a[i] - b[i]));
        mb = fmax(mb, fabs(b[i]));
    }
    return md / mb;
}

static void test_adam(void) {
    /* coefficients: Python's 1-0.9 is 0.09999999999999998 -> 0.1f; lr/bc1 at t=1 */
    DlAdamCoef c = dl_adam_coef(1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1);
    CHECK(dl_float_as_decimal(0.9f) == 0.9 && dl_float_as_decimal(0.999f) == 0.999, "decimal recovery");
    CHECK(c.omb1 == (float)(1.0 - 0.9) && c.omb2 == (float)(1.0 - 0.999), "1-beta coefficients");
    CHECK(c.step_size == (float)(1e-3 / (1.0 - 0.9)) && c.bc2_sqrt == (float)sqrt(1.0 - 0.999), "bias corrections");
    printf("adam coefficients t=1: step_size %.9g, bc2_sqrt %.9g, 1-b1 %.9g\n", (double)c.step_size,
           (double)c.bc2_sqrt, (double)c.omb1);

    const size_t n = 50000; /* parallel path */
    float *p = dl_malloc(n * sizeof(float)), *p0 = dl_malloc(n * sizeof(float)), *g = dl_malloc(n * sizeof(float));
    float *m = dl_calloc(n, sizeof(float)), *v = dl_calloc(n, sizeof(float));
    double *pr = dl_malloc(n * sizeof(double)), *mr = dl_calloc(n, sizeof(double)), *vr = dl_calloc(n, sizeof(double));
    gc_fill(p, n, 71, 1.0f);
    memcpy(p0, p, n * sizeof(float));
    for (size_t i = 0; i < n; i++) pr[i] = p[i];
    for (int t = 1; t <= 5; t++) {
        /* gradients over several magnitudes, some exactly zero */
        for (size_t i = 0; i < n; i++) {
            double s = pow(10.0, -(double)(i % 5));
            g[i] = (i % 97 == 0) ? 0.0f : (float)(s * dl_rand_normal(dl_key(72, t), i));
        }
        adam_update_cpu(p, g, m, v, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, t);
        adam_ref(pr, mr, vr, g, n, 1e-3, 0.9, 0.999, 1e-8, t);
    }
    double ep = max_rel_d(p, pr, n, 1.0), em = max_rel_d(m, mr, n, 1e-30), ev = max_rel_d(v, vr, n, 1e-30);
    /* the update p - p0 */
    float *du = dl_malloc(n * sizeof(float));
    double *dur = dl_malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) du[i] = p[i] - p0[i], dur[i] = pr[i] - p0[i];
    double eu = max_rel_d(du, dur, n, 1e-30);
    printf("adam 5 steps n=%zu: p err %.2e, m err %.2e, v err %.2e (<= 1e-6), update err %.2e (<= 1e-3)\n", n, ep,
           em, ev, eu);
    CHECK(ep <= 1e-6 && em <= 1e-6 && ev <= 1e-6, "adam p/m/v err %.3e %.3e %.3e", ep, em, ev);
    CHECK(eu <= 1e-3, "adam update err %.3e", eu);

    /* element-wise op: 1 and 2 threads identical */
    float *pa = dl_malloc(n * sizeof(float)), *ma = dl_calloc(n, 4), *va = dl_calloc(n, 4);
    memcpy(pa, p0, n * sizeof(float));
    omp_set_num_threads(1);
    adam_update_cpu(pa, g, ma, va, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1);
    float *pb = dl_malloc(n * sizeof(float)), *mb = dl_calloc(n, 4), *vb = dl_calloc(n, 4);
    memcpy(pb, p0, n * sizeof(float));
    omp_set_num_threads(2);
    adam_update_cpu(pb, g, mb, vb, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1);
    int same = !memcmp(pa, pb, n * 4) && !memcmp(ma, mb, n * 4) && !memcmp(va, vb, n * 4);
    printf("adam 1 vs 2 threads: %s\n", same ? "identical" : "DIFFERENT");
    CHECK(same, "adam differs between 1 and 2 threads");
    free(p), free(p0), free(g), free(m), free(v), free(pr), free(mr), free(vr), free(du), free(dur);
    free(pa), free(ma), free(va), free(pb), free(mb), free(vb);
}

/* Expected values from torch 1.13.0 (CPU, float32), printed as hex floats by:
 *   p = torch.nn.Parameter(torch.tensor(P0)); opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.999),
 *       eps=1e-8, weight_decay=0.5, foreach=False)
 *   for g, lr in zip(G, LR): opt.param_groups[0]['lr'] = lr; p.grad = torch.tensor(g); opt.step()
 *   print(p, opt.state[p]['exp_avg'], opt.state[p]['exp_avg_sq'])
 * Decoupled decay is 1 - lr*wd = 0.995 then 0.9975 per step here: applying it after the step,
 * or as an L2 term in the gradient, moves p by ~1e-4..1e-2, far above the tolerance. */
#define AW_N 8
static const float AW_P0[AW_N] = {0.5f, -1.25f, 2.0f, 0.0f, -0.03125f, 3.5f, 1e-3f, -7.0f};
static const float AW_G[4][AW_N] = {
    {0.1f, -0.2f, 0.0f, 1.5f, -3.0f, 0.01f, 2e-4f, -0.5f},
    {-0.3f, 0.25f, 1e-3f, -1.0f, 2.0f, 0.02f, -1e-4f, 0.75f},
    {0.05f, 0.5f, -2e-3f, 0.5f, -1.0f, -0.04f, 3e-4f, 0.0f},
    {0.2f, -0.1f, 4e-3f, 0.0f, 0.5f, 0.03f, 0.0f, -0.25f},
};
static const float AW_LR[4] = {1e-2f, 1e-2f, 5e-3f, 5e-3f};
static const float AW_P[AW_N] = {0x1.f415d4p-2f, -0x1.3a61e6p+0f, 0x1.f660f0p+0f, -0x1.c66da8p-7f,
                                 -0x1.1ba03ep-6f, 0x1.b6d320p+1f, -0x1.1c04a4p-6f, -0x1.b8e672p+2f};
static const float AW_M[AW_N] = {0x1.eadd58p-8f, 0x1.4d2b2ap-5f, 0x1.3b9f14p-12f, 0x1.2c710ep-4f,
                                 -0x1.8c1550p-4f, 0x1.ca7d66p-10f, 0x1.18d9c0p-15f, -0x1.6f0040p-11f};
static const float AW_V[AW_N] = {0x1.2a6618p-13f, 0x1.7b9708p-12f, 0x1.68ac9cp-26f, 0x1.c992c8p-9f,
                                 0x1.d1c3eep-7f, 0x1.924a7ap-19f, 0x1.335b9ap-33f, 0x1.c9c50ap-11f};

static void test_adamw(void) {
    float p[AW_N], m[AW_N] = {0}, v[AW_N] = {0};
    memcpy(p, AW_P0, sizeof p);
    for (int t = 1; t <= 4; t++) adam_update_cpu(p, AW_G[t - 1], m, v, AW_N, AW_LR[t - 1], 0.9f, 0.999f, 1e-8f, 0.5f, t);
    double ep = 0, em = 0, ev = 0;
    for (int i = 0; i < AW_N; i++) {
        ep = fmax(ep, fabs((double)p[i] - AW_P[i]) / fmax(fabs((double)AW_P[i]), 1e-2));
        em = fmax(em, fabs((double)m[i] - AW_M[i]) / fmax(fabs((double)AW_M[i]), 1e-30));
        ev = fmax(ev, fabs((double)v[i] - AW_V[i]) / fmax(fabs((double)AW_V[i]), 1e-30));
    }
    printf("adamw 4 steps (wd 0.5, lr 1e-2 then 5e-3) vs torch 1.13 AdamW: p err %.2e, m err %.2e, v err %.2e "
           "(<= 1e-6)\n", ep, em, ev);
    CHECK(ep <= 1e-6 && em <= 1e-6 && ev <= 1e-6, "adamw vs torch: p/m/v err %.3e %.3e %.3e", ep, em, ev);
    DlAdamCoef c = dl_adam_coef(1e-2f, 0.9f, 0.999f, 1e-8f, 0.5f, 1);
    CHECK(c.decay == (float)(1.0 - 0.01 * 0.5), "adamw decay factor %.9g", (double)c.decay);

    /* weight_decay 0: today's Adam update, bit for bit (the formula before weight_decay existed) */
    const size_t n = 50000;
    float *pa = dl_malloc(n * 4), *ma = dl_calloc(n, 4), *va = dl_calloc(n, 4), *g = dl_malloc(n * 4);
    float *pb = dl_malloc(n * 4), *mb = dl_calloc(n, 4), *vb = dl_calloc(n, 4);
    gc_fill(pa, n, 73, 1.0f);
    memcpy(pb, pa, n * 4);
    size_t bad = 0;
    for (int t = 1; t <= 3; t++) {
        for (size_t i = 0; i < n; i++) g[i] = (float)dl_rand_normal(dl_key(74, t), i);
        adam_update_cpu(pa, g, ma, va, n, 3e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, t);
        DlAdamCoef k = dl_adam_coef(3e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, t);
        CHECK(k.decay == 1.0f, "weight_decay 0: decay factor %.9g != 1", (double)k.decay);
        for (size_t i = 0; i < n; i++) {
            float mm = k.b1 * mb[i] + k.omb1 * g[i];
            float vv = k.b2 * vb[i] + k.omb2 * g[i] * g[i];
            float denom = sqrtf(vv) / k.bc2_sqrt + k.eps;
            mb[i] = mm, vb[i] = vv;
            pb[i] = pb[i] - k.step_size * mm / denom;
        }
    }
    for (size_t i = 0; i < n; i++) bad += memcmp(&pa[i], &pb[i], 4) || memcmp(&ma[i], &mb[i], 4) || memcmp(&va[i], &vb[i], 4);
    printf("adam weight_decay 0 vs the plain Adam formula, 3 steps: %zu elements differ\n", bad);
    CHECK(bad == 0, "weight_decay 0 is not plain Adam: %zu elements differ", bad);
    free(pa), free(ma), free(va), free(g), free(pb), free(mb), free(vb);
}

int main(void) {
    test_sumsq();
    test_adam();
    test_adamw();
    return gc_summary("test_optim");
}
