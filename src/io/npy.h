/* npy.h: NumPy .npy files (format versions 1.0, 2.0, 3.0), float32 only.
 * Robust header parsing: magic, version, header length, dict with 'descr',
 * 'fortran_order', 'shape'; the file size must match the shape exactly.
 * Every error names the file and what was wrong. */
#ifndef DL_NPY_H
#define DL_NPY_H

#include <stdint.h>

#include "../common/util.h"

#define NPY_MAX_DIMS 8

typedef struct {
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    int fortran_order;
    char descr[16];      /* e.g. "<f4" */
    int64_t numel;
    float *data;         /* C order (fortran files are transposed on read) */
} NpyArray;

/* read a little-endian float32 array; any other dtype is an error */
int npy_read_f32(const char *path, NpyArray *out, DlErr *e);
/* write float32 C-order (version 1.0) atomically (temp file + rename) */
int npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, DlErr *e);
void npy_free(NpyArray *a);

#endif
