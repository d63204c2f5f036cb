/* device_cpu.c: the CPU-only build's answers (kernels/device.cu in CUDA builds). */
#include <stdio.h>

#include "device.h"

#ifndef DL_HAVE_CUDA
int dl_gpu_count(char *why, size_t n) {
    if (why) snprintf(why, n, "built without CUDA (configure with -DDEEPLOB_CUDA=ON)");
    return 0;
}

int dl_gpu_bind(int local_rank, char *desc, size_t n) {
    (void)local_rank;
    if (desc) snprintf(desc, n, "CPU (built without CUDA)");
    return -1;
}
#endif
