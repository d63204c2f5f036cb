/* optim.c: CPU sum of squares (for total-norm gradient clipping), scale, Adam.
 *
 * sumsq: the vector is cut into at most SUMSQ_MAX_CHUNKS chunks whose size
 * depends only on n; each chunk is summed in double with 8 fixed lanes (so the
 * compiler may vectorise without reordering), and chunk sums are added in chunk
 * order: bit-identical for any thread count.
 * Adam: torch 1.13 single-tensor Adam (AdamW when weight_decay > 0); the
 * element update is dl_adam_elem (elementwise.h), shared with the CUDA kernel.
 */
#include <omp.h>

#include "../../common/util.h"
#include "elementwise.h"
#include "layers_cpu.h"

#define SUMSQ_MAX_CHUNKS 256
#define SUMSQ_MIN_CHUNK (1 << 16)
#define EW_PAR_MIN (1 << 15)

/* sum of x[i]^2 for i in [i0, i1), 8 lanes then lanes in order */
static double sumsq_range(const float *x, size_t i0, size_t i1) {
    double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t i = i0;
    for (; i + 8 <= i1; i += 8)
        for (int j = 0; j < 8; j++) lane[j] += (double)x[i + j] * (double)x[i + j];
    for (int j = 0; i < i1; i++, j++) lane[j] += (double)x[i] * (double)x[i];
    double s = 0.0;
    for (int j = 0; j < 8; j++) s += lane[j];
    return s;
}

/* returns sum of squares of x (n) in double */
double sumsq_cpu(const float *x, size_t n) {
    if (n == 0) return 0.0;
    size_t chunk = CEIL_DIV(n, (size_t)SUMSQ_MAX_CHUNKS);
    if (chunk < SUMSQ_MIN_CHUNK) chunk = SUMSQ_MIN_CHUNK;
    const int nch = (int)CEIL_DIV(n, chunk);
    double part[SUMSQ_MAX_CHUNKS];
#pragma omp parallel for schedule(static) if (nch > 1)
    for (int ch = 0; ch < nch; ch++) {
        size_t i0 = (size_t)ch * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
        part[ch] = sumsq_range(x, i0, i1);
    }
    double s = 0.0;
    for (int ch = 0; ch < nch; ch++) s += part[ch];
    return s;
}

/* x (n) *= s */
void scale_cpu(float *x, size_t n, float s) {
#pragma omp parallel for simd schedule(static) if (n > EW_PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

/* p (n) -= Adam step from g (n); m, v (n) first/second moments, updated;
 * weight_decay: decoupled (AdamW, p *= 1 - lr*weight_decay first; 0 = Adam);
 * t = step count >= 1 (bias corrections in double, as Python computes them) */
void adam_update_cpu(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                     float beta2, float eps, float weight_decay, int t) {
    DL_CHECK(t >= 1, "adam_update: step %d < 1", t);
    DL_CHECK(weight_decay >= 0, "adam_update: weight_decay %g < 0", (double)weight_decay);
    const DlAdamCoef c = dl_adam_coef(lr, beta1, beta2, eps, weight_decay, t);
#pragma omp parallel for simd schedule(static) if (n > EW_PAR_MIN)
    for (size_t i = 0; i < n; i++) dl_adam_elem(&p[i], &m[i], &v[i], g[i], c);
}
