/* test_model_determinism.c: a whole training step (forward with dropout,
 * Huber, backward, clip, Adam; 3 steps) gives bit-identical outputs, losses,
 * gradients and parameters with 1, 2 and 3 OpenMP threads, for every model.
 * This is the model-level promise behind "same seed, same bits, whatever the
 * machine's thread count" (each op is also checked on its own).
 *
 * CPU independence: this test defines cblas_sgemm itself (counting calls, then
 * forwarding to OpenBLAS's), so it sees every product the engine hands to OpenBLAS: in
 * a build with the AVX2+FMA kernels there must be none, the proof that no model op's
 * bits can depend on the OpenBLAS core the CPU gets. It also prints a digest of every
 * model's bits (FNV-1a of parameters, gradients, losses and outputs), which
 * tests/sh/test_bits_cpu.sh compares across OPENBLAS_CORETYPE and DEEPLOB_ISA settings. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>

#include "engine/layers/conv2d_kernels.h"
#include "common/util.h"
#include "engine/model.h"
#include "gradcheck.h"

#define B 5

static long g_blas_calls;
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *,
                         int);
/* enum arguments travel as int, as in OpenBLAS's own cblas_sgemm */
void cblas_sgemm(int order, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *Bm,
                 int ldb, float beta, float *C, int ldc) {
    __atomic_add_fetch(&g_blas_calls, 1, __ATOMIC_RELAXED);
    sgemm_fn real = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
    DL_CHECK(real, "cblas_sgemm: OpenBLAS's not found");
    real(order, ta, tb, M, N, K, alpha, A, lda, Bm, ldb, beta, C, ldc);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

static void run(ModelKind kind, int threads, float *params_out, float *grads_out, float *out, float *loss) {
    backend_cpu_set_threads(threads);
    ModelConfig cfg = model_default_config(kind);
    Model *m = model_create(cfg, B, backend_cpu());
    model_init_params(m, 99);
    size_t nx = (size_t)B * cfg.seq_len * cfg.n_features, ny = (size_t)B * m->n_out;
    float *x = malloc(nx * sizeof(float)), *y = malloc(ny * sizeof(float));
    gc_fill(x, nx, 11, 1.0f);
    gc_fill(y, ny, 12, 2.0f);
    for (int s = 0; s < 3; s++) {
        model_forward(m, x, B, 1, dl_key(5, (uint64_t)s));  /* dropout on */
        loss[s] = model_loss(m, y, B);
        model_zero_grad(m);
        model_backward(m, x, B);
        model_clip_grad(m, 1.0f);
        model_adam_step(m, 1e-3f);
    }
    model_forward(m, x, B, 0, 0);
    memcpy(out, m->out, ny * sizeof(float));
    memcpy(params_out, m->params, m->n_params * sizeof(float));
    memcpy(grads_out, m->grads, m->n_params * sizeof(float));
    free(x);
    free(y);
    model_free(m);
}

int main(void) {
    for (int k = 0; k < MODEL_KIND_COUNT; k++) {
        ModelKind kind;
        if (model_kind_parse(model_kind_name((ModelKind)k), &kind) != 0) continue;
        backend_cpu_set_threads(3);
        Model *probe = model_create(model_default_config(kind), B, backend_cpu());
        size_t np = probe->n_params, ny = (size_t)B * probe->n_out;
        model_free(probe);
        float *p[3], *g[3], *o[3], l[3][3];
        for (int t = 0; t < 3; t++) {
            p[t] = malloc(np * sizeof(float));
            g[t] = malloc(np * sizeof(float));
            o[t] = malloc(ny * sizeof(float));
            run(kind, t + 1, p[t], g[t], o[t], l[t]);
        }
        for (int t = 1; t < 3; t++) {
            CHECK(!memcmp(p[0], p[t], np * sizeof(float)), "%s: parameters differ, 1 vs %d threads", model_kind_name(kind), t + 1);
            CHECK(!memcmp(g[0], g[t], np * sizeof(float)), "%s: gradients differ, 1 vs %d threads", model_kind_name(kind), t + 1);
            CHECK(!memcmp(o[0], o[t], ny * sizeof(float)), "%s: eval outputs differ, 1 vs %d threads", model_kind_name(kind), t + 1);
            CHECK(!memcmp(l[0], l[t], sizeof l[0]), "%s: losses differ, 1 vs %d threads", model_kind_name(kind), t + 1);
        }
        printf("%-13s 3 training steps with dropout: params, grads, losses, eval outputs bit-identical for 1/2/3 threads "
               "(loss %.6f %.6f %.6f)\n", model_kind_name(kind), l[0][0], l[0][1], l[0][2]);
        uint64_t h = 1469598103934665603ull;
        h = fnv(h, p[0], np * sizeof(float));
        h = fnv(h, g[0], np * sizeof(float));
        h = fnv(h, o[0], ny * sizeof(float));
        h = fnv(h, l[0], sizeof l[0]);
        printf("bits %s %016llx\n", model_kind_name(kind), (unsigned long long)h);
        for (int t = 0; t < 3; t++) { free(p[t]); free(g[t]); free(o[t]); }
    }
#if CONVK_AVAILABLE
    printf("OpenBLAS sgemm calls by the model ops: %ld (expected 0)\n", g_blas_calls);
    CHECK(g_blas_calls == 0, "%ld products went to OpenBLAS: their bits depend on its kernel choice", g_blas_calls);
#endif
    return gc_summary("test_model_determinism");
}
