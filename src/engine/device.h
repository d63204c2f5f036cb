/* device.h: which device a rank uses and which backend runs its model ops.
 * A rank binds GPU (node-local rank / ranks_per_gpu) mod (GPUs visible); the CUDA
 * backend (kernels/backend_cuda.cu) then runs every model op there. CPU when asked
 * for, or (device auto) when the build has no CUDA or no GPU is usable. */
#ifndef DL_DEVICE_H
#define DL_DEVICE_H

#include <stddef.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* number of usable GPUs (0 without CUDA, driver or device; why says which) */
int dl_gpu_count(char *why, size_t n);
/* bind GPU (local_rank / ranks_per_gpu) mod count; returns the device index or -1 (none);
 * desc for the log */
int dl_gpu_bind_shared(int local_rank, int ranks_per_gpu, char *desc, size_t n);
/* one rank per GPU: dl_gpu_bind_shared(local_rank, 1, ...) */
int dl_gpu_bind(int local_rank, char *desc, size_t n);

typedef enum { DL_DEVICE_AUTO = 0, DL_DEVICE_CPU = 1, DL_DEVICE_CUDA = 2 } DlDevice;
/* "auto" | "cpu" | "cuda" -> 0, else -1 */
int dl_device_parse(const char *s, DlDevice *out);
const char *dl_device_name(DlDevice d);

/* The backend of this rank's model ops: binds the GPU for auto/cuda when one is usable.
 * desc (for the rank's start-up line) says which device and backend, or why not.
 * Returns NULL when want is cuda and no GPU is usable: the caller stops with desc. */
const Backend *dl_backend_select(DlDevice want, int local_rank, int ranks_per_gpu, char *desc, size_t n);

/* wait for the device's queued work (no-op without CUDA) */
void dl_device_sync(void);

#ifdef __cplusplus
}
#endif
#endif
