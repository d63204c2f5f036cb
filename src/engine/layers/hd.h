/* hd.h: DL_HD marks element functions shared by the CPU loops and the CUDA
 * kernels (style.md: "CUDA logic that the CPU tests cover"). */
#ifndef DL_HD_H
#define DL_HD_H
#ifdef __CUDACC__
#define DL_HD __host__ __device__ __forceinline__
#else
#define DL_HD static inline
#endif
#endif
