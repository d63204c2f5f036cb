/* device.h: which device a rank uses. One rank per GPU: device = node-local
 * rank modulo the GPUs visible; CPU when the build has no CUDA or no GPU is
 * usable. The model ops run on the CPU backend until the CUDA backend table is
 * filled (kernels/ holds the element kernels it will use). */
#ifndef DL_DEVICE_H
#define DL_DEVICE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* number of usable GPUs (0 without CUDA, driver or device; why says which) */
int dl_gpu_count(char *why, size_t n);
/* bind this rank's GPU; returns the device index or -1 (CPU); desc for the log */
int dl_gpu_bind(int local_rank, char *desc, size_t n);

#ifdef __cplusplus
}
#endif
#endif
