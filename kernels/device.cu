/* device.cu: GPU discovery and binding (device = node-local rank / ranks_per_gpu).
 * Without a driver or a device (cudaGetDeviceCount fails, e.g. error 35 on a
 * machine with the toolkit but no driver) the count is 0 and callers run on CPU. */
#include <cuda_runtime.h>
#include <stdio.h>

#include "cuda_common.cuh"
#include "engine/device.h"
#include "engine/gpu_seq.h"

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

/* GPU (local_rank / ranks_per_gpu) mod count (engine/gpu_seq.h: dl_gpu_index) */
extern "C" int dl_gpu_bind_shared(int local_rank, int ranks_per_gpu, char *desc, size_t n) {
    char why[160] = "";
    int count = dl_gpu_count(why, sizeof why);
    if (count == 0) {
        if (desc) snprintf(desc, n, "CPU (CUDA: %s)", why);
        return -1;
    }
    int dev = dl_gpu_index(local_rank, ranks_per_gpu, count);
    CUDA_CHECK(cudaSetDevice(dev));
    cudaDeviceProp p;
    CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
    int drv = 0, rt = 0;
    CUDA_CHECK(cudaDriverGetVersion(&drv));
    CUDA_CHECK(cudaRuntimeGetVersion(&rt));
    if (desc)
        snprintf(desc, n, "GPU %d of %d (%s, sm_%d%d, %.0f GiB; driver %d.%d, runtime %d.%d; %d rank(s) per GPU)", dev,
                 count, p.name, p.major, p.minor, p.totalGlobalMem / 1073741824.0, drv / 1000, (drv % 1000) / 10,
                 rt / 1000, (rt % 1000) / 10, ranks_per_gpu < 1 ? 1 : ranks_per_gpu);
    return dev;
}

extern "C" void dl_device_sync(void) { CUDA_CHECK(cudaDeviceSynchronize()); }
