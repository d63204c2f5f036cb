/* cuda_common.cuh: the CUDA side of the one error path (common/util.h).
 * CUDA_CHECK(call) reports a failing runtime call through DL_FATAL, which prints
 * "[rank r] file:line: ..." and aborts (MPI_Abort once MPI is up).
 * CUDA_CHECK_LAUNCH() follows every kernel launch (llm.c's cudaCheck(
 * cudaGetLastError())): it catches bad launch configurations at the launch site. */
#ifndef DL_CUDA_COMMON_CUH
#define DL_CUDA_COMMON_CUH

#include <cuda_runtime.h>

#include "common/util.h"

#define CUDA_CHECK(call)                                                                              \
    do {                                                                                              \
        cudaError_t dl_cuda_err_ = (call);                                                            \
        if (dl_cuda_err_ != cudaSuccess)                                                              \
            DL_FATAL("CUDA error %s (%s) in %s", cudaGetErrorName(dl_cuda_err_),                      \
                     cudaGetErrorString(dl_cuda_err_), #call);                                        \
    } while (0)

#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

/* threads per block for 1-D element-wise kernels */
#define DL_CUDA_BLOCK 256
/* grid for n elements with grid-stride loops: enough blocks to fill any current
 * GPU, capped so huge n loops inside the kernel instead */
static inline unsigned dl_cuda_grid(size_t n) {
    size_t g = CEIL_DIV(n, (size_t)DL_CUDA_BLOCK);
    if (g > 65536) g = 65536;
    return g ? (unsigned)g : 1u;
}

/* for (i = this thread's first element; i < n; i += the grid's threads) */
#define GRID_STRIDE(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

#endif
