/* test_layer_elementwise.c: CPU LeakyReLU (strided, in place, accumulate),
 * dropout (keep rate, determinism, mask use in backward), add/accumulate, and
 * the Huber loss (hand-worked values on both sides of delta, finite differences).
 * Element-wise results are compared exactly where the op is a single float
 * expression; the loss within float rounding. */
#include <omp.h>
#include <stdint.h>

#include "../../src/common/util.h"
#include "../../src/engine/layers/elementwise.h"
#include "../../src/engine/layers/layers_cpu.h"
#include "gradcheck.h"

#define GUARD -777.0f

static void test_leaky(void) {
    const int rows = 300, C = 7, xl = 9, yl = 8;
    const float slope = 0.01f;
    float *x = dl_malloc(rows * xl * sizeof(float)), *y = dl_malloc(rows * yl * sizeof(float));
    gc_fill(x, (size_t)rows * xl, 21, 1.0f);
    for (int i = 0; i < rows * yl; i++) y[i] = GUARD;
    leaky_forward_cpu(y, x, rows, C, xl, yl, slope);
    int bad = 0, guard = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < yl; c++) {
            float v = y[r * yl + c];
            if (c >= C) { guard += v != GUARD; continue; }
            float xv = x[r * xl + c];
            bad += v != (xv > 0 ? xv : xv * slope);
        }
    printf("leaky forward strided: %d wrong, %d guards touched\n", bad, guard);
    CHECK(bad == 0 && guard == 0, "leaky forward: %d wrong, %d guards", bad, guard);

    /* in place, dense; large enough to take the parallel path */
    const size_t n = 100000;
    float *a = dl_malloc(n * sizeof(float)), *b = dl_malloc(n * sizeof(float));
    gc_fill(a, n, 22, 2.0f);
    for (size_t i = 0; i < n; i++) b[i] = a[i] > 0 ? a[i] : a[i] * slope;
    leaky_forward_cpu(a, a, (int)(n / 10), 10, 10, 10, slope);
    CHECK(memcmp(a, b, n * sizeof(float)) == 0, "leaky forward in place differs");

    /* backward: dx (+)= dy * (y > 0 ? 1 : slope) */
    const int dxl = 10, dyl = 11;
    float *dy = dl_malloc(rows * dyl * sizeof(float)), *dx = dl_malloc(rows * dxl * sizeof(float));
    float *dx0 = dl_malloc(rows * dxl * sizeof(float));
    gc_fill(dy, (size_t)rows * dyl, 23, 1.0f);
    for (int acc = 0; acc <= 1; acc++) {
        gc_fill(dx, (size_t)rows * dxl, 24, 1.0f);
        for (int r = 0; r < rows; r++)
            for (int c = C; c < dxl; c++) dx[r * dxl + c] = GUARD;
        memcpy(dx0, dx, rows * dxl * sizeof(float));
        leaky_backward_cpu(dx, dy, y, rows, C, dxl, dyl, yl, slope, acc);
        bad = guard = 0;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < dxl; c++) {
                if (c >= C) { guard += dx[r * dxl + c] != GUARD; continue; }
                float g = y[r * yl + c] > 0 ? dy[r * dyl + c] : dy[r * dyl + c] * slope;
                /* accumulate: dx + dy*slope may be one fused multiply-add: allow its rounding */
                float want = acc ? dx0[r * dxl + c] + g : g;
                bad += fabsf(dx[r * dxl + c] - want) > 1e-6f * fmaxf(1.0f, fabsf(want));
            }
        printf("leaky backward accumulate=%d: %d wrong, %d guards touched\n", acc, bad, guard);
        CHECK(bad == 0 && guard == 0, "leaky backward acc=%d: %d wrong, %d guards", acc, bad, guard);
    }
    free(x), free(y), free(a), free(b), free(dy), free(dx), free(dx0);
}

static void test_dropout(void) {
    const size_t n = 100000;
    const float p = 0.3f;
    const uint64_t key = dl_key(42, 7);
    float *x = dl_malloc(n * sizeof(float)), *y = dl_malloc(n * sizeof(float)), *y2 = dl_malloc(n * sizeof(float));
    uint8_t *m = dl_malloc(n), *m2 = dl_malloc(n);
    gc_fill(x, n, 31, 1.0f);

    /* the host-device RNG copy must give the bits of common/rng.h */
    size_t rng_diff = 0;
    for (size_t i = 0; i < n; i++) rng_diff += dl_rand_uniform_hd(key, i) != dl_rand_uniform(key, i);
    printf("dl_rand_uniform_hd vs dl_rand_uniform: %zu of %zu differ\n", rng_diff, n);
    CHECK(rng_diff == 0, "dl_rand_uniform_hd differs from dl_rand_uniform");

    dropout_forward_cpu(y, m, x, n, p, key);
    size_t kept = 0, bad = 0;
    const float scale = (float)(1.0 / (1.0 - 0.3f));
    for (size_t i = 0; i < n; i++) {
        bad += m[i] > 1;
        bad += m[i] != dl_dropout_keep(key, i, p); /* the documented draw, element by element */
        bad += y[i] != (m[i] ? x[i] * scale : 0.0f);
        kept += m[i];
    }
    double mean = n * (1.0 - p), sd = sqrt(n * p * (1.0 - p));
    printf("dropout p=%.1f: kept %zu of %zu (expected %.0f +- 4*%.0f), %zu wrong elements\n", (double)p, kept, n, mean,
           sd, bad);
    CHECK(fabs(kept - mean) <= 4 * sd, "keep count %zu outside 4 sigma of %.0f", kept, mean);
    CHECK(bad == 0, "dropout forward: %zu wrong mask/value entries", bad);

    /* determinism: same key same mask (also with another thread count); other key another mask */
    omp_set_num_threads(1);
    dropout_forward_cpu(y2, m2, x, n, p, key);
    omp_set_num_threads(2);
    CHECK(memcmp(m, m2, n) == 0 && memcmp(y, y2, n * sizeof(float)) == 0, "same key gave a different mask");
    dropout_forward_cpu(y2, m2, x, n, p, dl_key(42, 8));
    size_t ndiff = 0;
    for (size_t i = 0; i < n; i++) ndiff += m[i] != m2[i];
    printf("dropout: same key -> same mask; other key -> %zu of %zu mask entries differ\n", ndiff, n);
    CHECK(ndiff > n / 10, "a different key gave nearly the same mask (%zu differ)", ndiff);

    /* backward uses the mask: dx = dy * mask / (1-p), also in place */
    float *dy = dl_malloc(n * sizeof(float)), *dx = dl_malloc(n * sizeof(float));
    gc_fill(dy, n, 32, 1.0f);
    dropout_backward_cpu(dx, dy, m, n, p);
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += dx[i] != (m[i] ? dy[i] * scale : 0.0f);
    dropout_backward_cpu(dy, dy, m, n, p);
    CHECK(bad == 0 && memcmp(dx, dy, n * sizeof(float)) == 0, "dropout backward: %zu wrong", bad);
    printf("dropout backward: %zu wrong elements\n", bad);

    /* p = 0: identity copy, mask all 1 */
    memset(m2, 0, n);
    dropout_forward_cpu(y2, m2, x, n, 0.0f, key);
    size_t ones = 0;
    for (size_t i = 0; i < n; i++) ones += m2[i] == 1;
    CHECK(memcmp(y2, x, n * sizeof(float)) == 0 && ones == n, "dropout p=0 is not an identity (%zu ones)", ones);
    dropout_backward_cpu(dx, x, m2, n, 0.0f);
    CHECK(memcmp(dx, x, n * sizeof(float)) == 0, "dropout backward p=0 is not an identity");
    printf("dropout p=0: identity, mask all ones: %s\n", ones == n ? "yes" : "no");
    free(x), free(y), free(y2), free(m), free(m2), free(dy), free(dx);
}

static void test_add(void) {
    const size_t n = 70001; /* parallel path, odd tail */
    float *a = dl_malloc(n * sizeof(float)), *b = dl_malloc(n * sizeof(float)), *y = dl_malloc(n * sizeof(float));
    gc_fill(a, n, 41, 1.0f);
    gc_fill(b, n, 42, 1.0f);
    add_cpu(y, a, b, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += y[i] != a[i] + b[i];
    accumulate_cpu(y, a, n);
    for (size_t i = 0; i < n; i++) bad += y[i] != (a[i] + b[i]) + a[i];
    add_cpu(a, a, b, n); /* aliasing y = a */
    float *c = dl_malloc(n * sizeof(float));
    gc_fill(c, n, 41, 1.0f);
    for (size_t i = 0; i < n; i++) bad += a[i] != c[i] + b[i];
    printf("add/accumulate (n=%zu, also in place): %zu wrong\n", n, bad);
    CHECK(bad == 0, "add/accumulate: %zu wrong", bad);
    free(a), free(b), free(y), free(c);
}

typedef struct { float *pred, *target, *g; int n; float delta, weight; } HuberCtx;
static double huber_L(void *v) {
    HuberCtx *h = v;
    return (double)h->weight * huber_loss_cpu(NULL, h->pred, h->target, h->n, h->delta, h->weight);
}

static void test_huber(void) {
    /* d = pred - target = 0.5, -2, 3, 1 (delta 1): 0.125, 1.5, 2.5, 0.5 -> mean 1.15625 */
    float pred[4] = {1.5f, -1.0f, 3.0f, 2.0f}, target[4] = {1.0f, 1.0f, 0.0f, 1.0f}, g[4];
    float L = huber_loss_cpu(g, pred, target, 4, 1.0f, 0.5f);
    float gw[4] = {0.5f * 0.5f / 4, 0.5f * -1.0f / 4, 0.5f * 1.0f / 4, 0.5f * 1.0f / 4};
    printf("huber delta=1: loss %.7g (want 1.15625), grads %g %g %g %g\n", (double)L, (double)g[0], (double)g[1],
           (double)g[2], (double)g[3]);
    CHECK(fabsf(L - 1.15625f) <= 1e-7f, "huber loss %.9g != 1.15625", (double)L);
    int gbad = 0;
    for (int i = 0; i < 4; i++) gbad += fabsf(g[i] - gw[i]) > 1e-8f;
    CHECK(gbad == 0, "huber grads wrong (%d)", gbad);
    /* delta = 0.5: d = 0.25 -> 0.03125; d = -2 -> 0.5*(2-0.25) = 0.875; mean 0.453125 */
    float p2[2] = {0.25f, -2.0f}, t2[2] = {0.0f, 0.0f}, g2[2];
    float L2 = huber_loss_cpu(g2, p2, t2, 2, 0.5f, 1.0f);
    printf("huber delta=0.5: loss %.7g (want 0.453125), grads %g %g (want 0.125 -0.25)\n", (double)L2, (double)g2[0],
           (double)g2[1]);
    CHECK(fabsf(L2 - 0.453125f) <= 1e-7f && g2[0] == 0.125f && g2[1] == -0.25f, "huber delta=0.5 wrong");
    /* loss only */
    CHECK(huber_loss_cpu(NULL, p2, t2, 2, 0.5f, 1.0f) == L2, "huber without dpred differs");

    /* finite differences: weight*loss vs dpred, points on both sides of delta */
    const int n = 64;
    float *pr = dl_malloc(n * sizeof(float)), *tg = dl_malloc(n * sizeof(float)), *gr = dl_malloc(n * sizeof(float));
    gc_fill(pr, n, 51, 2.0f);
    gc_fill(tg, n, 52, 1.0f);
    HuberCtx h = {pr, tg, gr, n, 1.0f, 0.7f};
    huber_loss_cpu(gr, pr, tg, n, h.delta, h.weight);
    int outside = 0;
    for (int i = 0; i < n; i++) outside += fabsf(pr[i] - tg[i]) > h.delta;
    double w = gc_fd_check(pr, gr, n, huber_L, &h, 1e-2, n, 1e-3);
    printf("huber finite differences (n=%d, %d beyond delta): max rel err %.2e (<= 1e-2)\n", n, outside, w);
    CHECK(outside > 5 && outside < n - 5, "fd points not on both sides of delta");
    CHECK(w <= 1e-2, "huber fd err %.3e", w);
    free(pr), free(tg), free(gr);
}

int main(void) {
    omp_set_num_threads(2);
    test_leaky();
    test_dropout();
    test_add();
    test_huber();
    return gc_summary("test_layer_elementwise");
}
