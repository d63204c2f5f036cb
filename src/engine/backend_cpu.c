/* backend_cpu.c: the CPU Backend table (ggml-style slot initialisers) and the
 * thread setting. OpenBLAS runs single-threaded; parallelism is OpenMP over
 * fixed-size chunks inside each op, so results do not depend on the thread count. */
#include <cblas.h>
#include <omp.h>

#include "backend.h"
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
    /* .attn_scores_forward = */ attn_scores_forward_cpu,
    /* .attn_scores_backward = */ attn_scores_backward_cpu,
    /* .attn_apply_forward = */ attn_apply_forward_cpu,
    /* .attn_apply_backward = */ attn_apply_backward_cpu,
    /* .softmax_forward = */ softmax_forward_cpu,
    /* .softmax_backward = */ softmax_backward_cpu,
    /* .gate_mul_forward = */ gate_mul_forward_cpu,
    /* .gate_mul_backward = */ gate_mul_backward_cpu,
    /* .copy_rows = */ copy_rows_cpu,
};

const Backend *backend_cpu(void) {
    if (g_threads == 0) backend_cpu_set_threads(omp_get_max_threads());
    return &cpu;
}
