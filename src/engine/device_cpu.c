/* device_cpu.c: backend selection (every build) and the CPU-only build's answers
 * to the GPU questions (kernels/device.cu in CUDA builds). */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "device.h"

#ifndef DL_HAVE_CUDA
int dl_gpu_count(char *why, size_t n) {
    if (why) snprintf(why, n, "built without CUDA (configure with -DDEEPLOB_CUDA=ON)");
    return 0;
}

int dl_gpu_bind_shared(int local_rank, int ranks_per_gpu, char *desc, size_t n) {
    (void)local_rank;
    (void)ranks_per_gpu;
    if (desc) snprintf(desc, n, "CPU (built without CUDA)");
    return -1;
}

const Backend *backend_cuda(void) { return NULL; }
void dl_device_sync(void) {}
#endif

int dl_gpu_bind(int local_rank, char *desc, size_t n) { return dl_gpu_bind_shared(local_rank, 1, desc, n); }

int dl_device_parse(const char *s, DlDevice *out) {
    if (!s) return -1;
    if (!strcmp(s, "auto")) *out = DL_DEVICE_AUTO;
    else if (!strcmp(s, "cpu")) *out = DL_DEVICE_CPU;
    else if (!strcmp(s, "cuda")) *out = DL_DEVICE_CUDA;
    else return -1;
    return 0;
}

const char *dl_device_name(DlDevice d) { return d == DL_DEVICE_CPU ? "cpu" : d == DL_DEVICE_CUDA ? "cuda" : "auto"; }

const Backend *dl_backend_select(DlDevice want, int local_rank, int ranks_per_gpu, char *desc, size_t n) {
    char why[200] = "";
    if (want == DL_DEVICE_CPU) {
        snprintf(desc, n, "CPU (device cpu), ops on the cpu backend");
        return backend_cpu();
    }
    if (dl_gpu_count(why, sizeof why) == 0) {
        if (want == DL_DEVICE_CUDA) {
            snprintf(desc, n, "device cuda was asked for but no GPU is usable: %s", why);
            return NULL;
        }
        snprintf(desc, n, "CPU (no GPU: %s), ops on the cpu backend", why);
        return backend_cpu();
    }
    char gpu[200] = "";
    int dev = dl_gpu_bind_shared(local_rank, ranks_per_gpu, gpu, sizeof gpu);
    const Backend *be = dev >= 0 ? backend_cuda() : NULL;
    if (!be) {
        if (want == DL_DEVICE_CUDA) {
            snprintf(desc, n, "device cuda was asked for but binding failed: %s", gpu);
            return NULL;
        }
        snprintf(desc, n, "CPU (%s), ops on the cpu backend", gpu);
        return backend_cpu();
    }
    snprintf(desc, n, "%s, ops on the %s backend", gpu, be->name);
    return be;
}
