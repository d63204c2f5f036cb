/* backend_cpu.c: the CPU Backend table (ggml-style slot initialisers) and the
 * thread setting. OpenBLAS runs single-threaded; parallelism is OpenMP over
 * fixed-size chunks inside each op, so results do not depend on the thread count. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <strings.h>

#include "../common/util.h"
#include "backend.h"
#include "layers/conv2d_kernels.h"
#include "layers/layers_cpu.h"

/* OpenBLAS' own threads stay off: our ops call it from inside OpenMP regions */
void openblas_set_num_threads(int);

static int g_threads = 0; /* 0 = not set yet: OpenMP's default */

void backend_cpu_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    g_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(1);
}

int backend_cpu_threads(void) { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

/* memory slots: the arenas are host memory */
static void *mem_alloc_cpu(size_t bytes) { return dl_aligned_alloc(bytes ? bytes : 64); }
static void mem_zero_cpu(void *p, size_t bytes) { memset(p, 0, bytes); }
static void mem_copy_cpu(void *dst, const void *src, size_t bytes) {
    if (dst != src) memcpy(dst, src, bytes);
}
static void upload_input_cpu(void *dst, const void *src, size_t bytes, int slot) {
    (void)slot;
    mem_copy_cpu(dst, src, bytes);
}
static void input_release_cpu(int slot) { (void)slot; }

static const Backend cpu = {
    /* .name = */ "cpu",
    /* .conv2d_scratch_floats = */ conv2d_scratch_floats_cpu,
    /* .conv2d_forward = */ conv2d_forward_cpu,
    /* .conv2d_backward = */ conv2d_backward_cpu,
    /* .batchnorm_scratch_floats = */ batchnorm_scratch_floats_cpu,
    /* .batchnorm_forward = */ batchnorm_forward_cpu,
    /* .batchnorm_backward = */ batchnorm_backward_cpu,
    /* .leaky_forward = */ leaky_forward_cpu,
    /* .leaky_backward = */ leaky_backward_cpu,
    /* .maxpool3_forward = */ maxpool3_forward_cpu,
    /* .maxpool3_backward = */ maxpool3_backward_cpu,
    /* .lstm_cache_floats = */ lstm_cache_floats_cpu,
    /* .lstm_scratch_floats = */ lstm_scratch_floats_cpu,
    /* .lstm_forward = */ lstm_forward_cpu,
    /* .lstm_backward = */ lstm_backward_cpu,
    /* .linear_scratch_floats = */ linear_scratch_floats_cpu,
    /* .linear_forward = */ linear_forward_cpu,
    /* .linear_backward = */ linear_backward_cpu,
    /* .dropout_forward = */ dropout_forward_cpu,
    /* .dropout_backward = */ dropout_backward_cpu,
    /* .add = */ add_cpu,
    /* .accumulate = */ accumulate_cpu,
    /* .huber_loss = */ huber_loss_cpu,
    /* .sumsq = */ sumsq_cpu,
    /* .scale = */ scale_cpu,
    /* .adam_update = */ adam_update_cpu,
    /* .attn_scratch_floats = */ attn_scratch_floats_cpu,
    /* .attn_scores_forward = */ attn_scores_forward_cpu,
    /* .attn_scores_backward = */ attn_scores_backward_cpu,
    /* .attn_apply_forward = */ attn_apply_forward_cpu,
    /* .attn_apply_backward = */ attn_apply_backward_cpu,
    /* .softmax_forward = */ softmax_forward_cpu,
    /* .softmax_backward = */ softmax_backward_cpu,
    /* .gate_mul_forward = */ gate_mul_forward_cpu,
    /* .gate_mul_backward = */ gate_mul_backward_cpu,
    /* .copy_rows = */ copy_rows_cpu,
    /* .batchnorm_shard_sums = */ batchnorm_shard_sums_cpu,
    /* .batchnorm_apply = */ batchnorm_apply_cpu,
    /* .batchnorm_shard_bwd_sums = */ batchnorm_shard_bwd_sums_cpu,
    /* .batchnorm_bwd_apply = */ batchnorm_bwd_apply_cpu,
    /* .batchnorm_shard_combine = */ batchnorm_shard_combine_cpu,
    /* .batchnorm_shard_bwd_combine = */ batchnorm_shard_bwd_combine_cpu,
    /* .rows_independent = */ 1,
    /* .on_device = */ 0,
    /* .mem_alloc = */ mem_alloc_cpu,
    /* .mem_free = */ free,
    /* .mem_zero = */ mem_zero_cpu,
    /* .mem_copy = */ mem_copy_cpu,
    /* .copy_to_device = */ mem_copy_cpu,
    /* .copy_to_host = */ mem_copy_cpu,
    /* .upload_input = */ upload_input_cpu,
    /* .input_release = */ input_release_cpu,
    /* .host_alloc = */ mem_alloc_cpu,
    /* .host_free = */ free,
};

const Backend *backend_cpu(void) {
    if (g_threads == 0) backend_cpu_set_threads(omp_get_max_threads());
    return &cpu;
}

/* The CPU's model name (/proc/cpuinfo), for start-up lines and benchmark reports */
void backend_cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        const char *c = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !c) continue;
        c++;
        while (*c == ' ' || *c == '\t') c++;
        snprintf(buf, n, "%.*s", (int)strcspn(c, "\n"), c);
        break;
    }
    fclose(f);
}

/* OpenBLAS cores with AVX2 kernels (0.3.21's names) */
static int blas_core_has_avx2(const char *c) {
    static const char *const avx2[] = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"};
    for (size_t i = 0; c && i < sizeof avx2 / sizeof *avx2; i++)
        if (!strcasecmp(c, avx2[i])) return 1;
    return 0;
}

int backend_cpu_describe(char *buf, size_t n) {
    const char *core = openblas_get_corename();
    const int fallback = __builtin_cpu_supports("avx2") && !blas_core_has_avx2(core);
    snprintf(buf, n, "kernels %s, OpenBLAS core %s%s", !CONVK_AVAILABLE ? "none (OpenBLAS products)"
                                                       : convk_avx512() ? "AVX-512" : "AVX2",
             core ? core : "?", CONVK_AVAILABLE ? " (not used by the model ops)" : "");
    return fallback;
}

const char *backend_cpu_fallback_hint(void) {
    return "OpenBLAS does not recognise this CPU and runs its pre-AVX kernels. The model ops do not use OpenBLAS "
           "(results are the same bits either way), but anything that does is slow: set "
           "OPENBLAS_CORETYPE=SkylakeX on an AVX-512 CPU, Haswell on an AVX2 one";
}
