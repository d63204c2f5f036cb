/* h5util.h: small HDF5 helpers shared by the weights, dataset and results code.
 * Every failure fills DlErr with "<file>: <object>: what" and returns -1. */
#ifndef DL_H5UTIL_H
#define DL_H5UTIL_H

#include <hdf5.h>
#include <stdint.h>

#include "../common/util.h"

/* silence HDF5's automatic error stack printing (we print our own messages) */
void h5u_quiet(void);
/* ": <reason>" (e.g. ": No space left on device") from the HDF5 error stack of the last failed
 * call, else from saved_errno when it is an I/O error; "" when neither says. Thread-local buffer. */
const char *h5u_sys_reason(int saved_errno);
/* H5Fclose for a file we wrote: -1 on failure (errno and the error stack as left by HDF5), and
 * remembered: h5u_close_failed() tells main() to skip HDF5's shutdown (see h5util.c) */
int h5u_close_file(hid_t f);
/* h5u_sys_reason, else (MPI-IO leaves no reason) a guess from the file system of path: under
 * 1 MiB free -> ": No space left on device (N bytes free)", a finite RLIMIT_FSIZE ->
 * ": File too large (over the file-size limit ...)"; "" otherwise */
const char *h5u_io_reason(int saved_errno, const char *path);
int h5u_close_failed(void);

/* 1 if a link exists at path (intermediate groups checked), else 0 */
int h5u_exists(hid_t loc, const char *path);

/* read the dims of a dataset; returns rank or -1 */
int h5u_dims(hid_t loc, const char *name, hsize_t *dims, int max_rank, const char *file, DlErr *e);

/* read a whole dataset of type class cls into buf through memtype; expect_n elements
 * (checked). Compounds convert member by member by name: a memtype with fewer
 * members reads a subset. */
int h5u_read_typed(hid_t loc, const char *name, void *buf, size_t expect_n, hid_t memtype, H5T_class_t cls,
                   const char *file, DlErr *e);
/* read a whole dataset into buf as float/int64/double; expect_n elements (checked) */
int h5u_read_f32(hid_t loc, const char *name, float *buf, size_t expect_n, const char *file, DlErr *e);
int h5u_read_f64(hid_t loc, const char *name, double *buf, size_t expect_n, const char *file, DlErr *e);
int h5u_read_i64(hid_t loc, const char *name, int64_t *buf, size_t expect_n, const char *file, DlErr *e);

/* create + write a dataset (creates missing intermediate groups) */
int h5u_write_f32(hid_t loc, const char *name, const float *buf, int rank, const hsize_t *dims, DlErr *e);
int h5u_write_f64(hid_t loc, const char *name, const double *buf, int rank, const hsize_t *dims, DlErr *e);
int h5u_write_i64(hid_t loc, const char *name, const int64_t *buf, int rank, const hsize_t *dims, DlErr *e);

/* scalar / string attributes on an object (path relative to loc, "." for loc itself) */
int h5u_attr_write_str(hid_t loc, const char *obj, const char *name, const char *v, DlErr *e);
int h5u_attr_write_f64(hid_t loc, const char *obj, const char *name, double v, DlErr *e);
int h5u_attr_write_i64(hid_t loc, const char *obj, const char *name, int64_t v, DlErr *e);
int h5u_attr_read_str(hid_t loc, const char *obj, const char *name, char *buf, size_t n, DlErr *e);
int h5u_attr_read_f64(hid_t loc, const char *obj, const char *name, double *v, DlErr *e);
int h5u_attr_read_i64(hid_t loc, const char *obj, const char *name, int64_t *v, DlErr *e);

#endif
