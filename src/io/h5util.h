/* h5util.h: small HDF5 helpers shared by the weights, dataset and results code.
 * Every failure fills DlErr with "<file>: <object>: what" and returns -1. */
#ifndef DL_H5UTIL_H
#define DL_H5UTIL_H

#include <hdf5.h>
#include <stdint.h>

#include "../common/util.h"

/* silence HDF5's automatic error stack printing (we print our own messages) */
void h5u_quiet(void);

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
