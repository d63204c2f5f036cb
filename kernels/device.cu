/* device.cu: GPU discovery and binding (one rank per GPU, device = local rank).
 * Without a driver or a device (cudaGetDeviceCount fails, e.g. error 35 on a
 * machine with the toolkit but no driver) the count is 0 and callers run on CPU. */
#include <cuda_runtime.h>
#include <stdio.h>

#include "cuda_common.cuh"
#include "engine/device.h"

extern "C" int dl_gpu_count(char *why, size_t n) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        if (why) snprintf(why, n, "%s (%s)", cudaGetErrorName(e), cudaGetErrorString(e));
        cudaGetLastError(); /* clear the sticky error for later calls */
        return 0;
    }
    if (count == 0 && why) snprintf(why, n, "no CUDA device visible");
    return count;
}

extern "C" int dl_gpu_bind(int local_rank, char *desc, size_t n) {
    char why[160] = "";
    int count = dl_gpu_count(why, sizeof why);
    if (count == 0) {
        if (desc) snprintf(desc, n, "CPU (CUDA: %s)", why);
        return -1;
    }
    int dev = local_rank % count;
    CUDA_CHECK(cudaSetDevice(dev));
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
    if (desc) snprintf(desc, n, "GPU %d of %d (%s, %.0f GiB)", dev, count, p.name, p.totalGlobalMem / 1073741824.0);
    return dev;
}
