/* gradcheck.h: tiny test harness shared by the unit tests.
 * Every failed CHECK counts; tests return gc_summary() (non-zero on failure). */
#ifndef DL_GRADCHECK_H
#define DL_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/common/rng.h"

static int gc_failures = 0, gc_checks = 0;

#define CHECK(cond, ...) do { gc_checks++; if (!(cond)) { gc_failures++; \
    fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static inline int gc_summary(const char *name) {
    printf("%s: %d checks, %d failures\n", name, gc_checks, gc_failures);
    return gc_failures ? 1 : 0;
}

/* fill with N(0, scale) from a fixed key */
static inline void gc_fill(float *x, size_t n, uint64_t key, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * dl_rand_normal(key, i));
}

/* max |a-b| / max(max|b|, floor): a per-tensor normalised error */
static inline double gc_rel_err(const float *a, const float *b, size_t n, double floor_) {
    double md = 0, mb = floor_;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > md || d != d) md = d != d ? INFINITY : d;
        if (fabs((double)b[i]) > mb) mb = fabs((double)b[i]);
    }
    return md / mb;
}

/* Central finite differences of a scalar function L(params) evaluated in double
 * by the caller's closure. Compares analytic grad g (n) with (L(p+h)-L(p-h))/2h
 * on up to max_probe entries (spread over the tensor). Returns max rel error:
 * |g - fd| / max(|g|, |fd|, abs_floor). */
typedef double (*gc_loss_fn)(void *ctx);
static inline double gc_fd_check(float *p, const float *g, size_t n, gc_loss_fn L, void *ctx,
                                 double h, size_t max_probe, double abs_floor) {
    double worst = 0;
    size_t step = n > max_probe ? n / max_probe : 1;
    for (size_t i = 0; i < n; i += step) {
        float orig = p[i];
        p[i] = orig + (float)h; double lp = L(ctx);
        p[i] = orig - (float)h; double lm = L(ctx);
        p[i] = orig;
        double hp = (double)(orig + (float)h) - (double)(orig - (float)h); /* actual float step */
        double fd = (lp - lm) / hp;
        double den = fmax(fmax(fabs(fd), fabs((double)g[i])), abs_floor);
        double r = fabs(fd - (double)g[i]) / den;
        if (r > worst) worst = r;
    }
    return worst;
}

#endif
