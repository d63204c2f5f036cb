#include "h5util.h"

#include <stdlib.h>
#include <string.h>

void h5u_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

int h5u_exists(hid_t loc, const char *path) {
    char buf[1024];
    size_t n = strlen(path);
    if (n >= sizeof buf) return 0;
    memcpy(buf, path, n + 1);
    /* check each prefix: H5Lexists fails if an intermediate is missing */
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (H5Lexists(loc, buf, H5P_DEFAULT) <= 0) return 0;
            buf[i] = c;
        }
    }
    return 1;
}

int h5u_dims(hid_t loc, const char *name, hsize_t *dims, int max_rank, const char *file, DlErr *e) {
    if (!h5u_exists(loc, name)) return dl_err(e, "%s: dataset '%s' is missing", file, name);
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return dl_err(e, "%s: cannot open dataset '%s'", file, name);
    hid_t s = H5Dget_space(d);
    int r = H5Sget_simple_extent_ndims(s);
    if (r < 0 || r > max_rank) {
        H5Sclose(s); H5Dclose(d);
        return dl_err(e, "%s: dataset '%s' has rank %d (at most %d expected)", file, name, r, max_rank);
    }
    H5Sget_simple_extent_dims(s, dims, NULL);
    H5Sclose(s);
    H5Dclose(d);
    return r;
}

int h5u_read_typed(hid_t loc, const char *name, void *buf, size_t expect_n, hid_t memtype, H5T_class_t cls,
                   const char *file, DlErr *e) {
    if (!h5u_exists(loc, name)) return dl_err(e, "%s: dataset '%s' is missing", file, name);
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return dl_err(e, "%s: cannot open dataset '%s'", file, name);
    hid_t t = H5Dget_type(d);
    H5T_class_t c = H5Tget_class(t);
    H5Tclose(t);
    hid_t s = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    H5Sclose(s);
    int rc = 0;
    if (c != cls)
        rc = dl_err(e, "%s: dataset '%s' has the wrong type class (%s expected)", file, name,
                    cls == H5T_FLOAT ? "float" : cls == H5T_COMPOUND ? "compound" : "integer");
    else if (n < 0 || (size_t)n != expect_n)
        rc = dl_err(e, "%s: dataset '%s' has %lld elements, %zu expected", file, name, (long long)n, expect_n);
    else if (H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = dl_err(e, "%s: reading dataset '%s' failed (truncated or corrupt file?)", file, name);
    H5Dclose(d);
    return rc;
}

int h5u_read_f32(hid_t loc, const char *name, float *buf, size_t n, const char *file, DlErr *e) {
    return h5u_read_typed(loc, name, buf, n, H5T_NATIVE_FLOAT, H5T_FLOAT, file, e);
}
int h5u_read_f64(hid_t loc, const char *name, double *buf, size_t n, const char *file, DlErr *e) {
    return h5u_read_typed(loc, name, buf, n, H5T_NATIVE_DOUBLE, H5T_FLOAT, file, e);
}
int h5u_read_i64(hid_t loc, const char *name, int64_t *buf, size_t n, const char *file, DlErr *e) {
    return h5u_read_typed(loc, name, buf, n, H5T_NATIVE_INT64, H5T_INTEGER, file, e);
}

static int write_typed(hid_t loc, const char *name, const void *buf, int rank, const hsize_t *dims,
                       hid_t filetype, hid_t memtype, DlErr *e) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t s = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(loc, name, filetype, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (d < 0) rc = dl_err(e, "cannot create dataset '%s'", name);
    else if (H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = dl_err(e, "cannot write dataset '%s'", name);
    if (d >= 0) H5Dclose(d);
    H5Sclose(s);
    H5Pclose(lcpl);
    return rc;
}

int h5u_write_f32(hid_t loc, const char *name, const float *buf, int rank, const hsize_t *dims, DlErr *e) {
    return write_typed(loc, name, buf, rank, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, e);
}
int h5u_write_f64(hid_t loc, const char *name, const double *buf, int rank, const hsize_t *dims, DlErr *e) {
    return write_typed(loc, name, buf, rank, dims, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, e);
}
int h5u_write_i64(hid_t loc, const char *name, const int64_t *buf, int rank, const hsize_t *dims, DlErr *e) {
    return write_typed(loc, name, buf, rank, dims, H5T_STD_I64LE, H5T_NATIVE_INT64, e);
}

static int attr_write(hid_t loc, const char *obj, const char *name, hid_t ftype, hid_t mtype,
                      const void *v, DlErr *e) {
    if (H5Aexists_by_name(loc, obj, name, H5P_DEFAULT) > 0) H5Adelete_by_name(loc, obj, name, H5P_DEFAULT);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate_by_name(loc, obj, name, ftype, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (a < 0) rc = dl_err(e, "cannot create attribute '%s' on '%s'", name, obj);
    else if (H5Awrite(a, mtype, v) < 0) rc = dl_err(e, "cannot write attribute '%s' on '%s'", name, obj);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    return rc;
}

int h5u_attr_write_str(hid_t loc, const char *obj, const char *name, const char *v, DlErr *e) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(v) + 1);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = attr_write(loc, obj, name, t, t, v, e);
    H5Tclose(t);
    return rc;
}
int h5u_attr_write_f64(hid_t loc, const char *obj, const char *name, double v, DlErr *e) {
    return attr_write(loc, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v, e);
}
int h5u_attr_write_i64(hid_t loc, const char *obj, const char *name, int64_t v, DlErr *e) {
    return attr_write(loc, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v, e);
}

static hid_t attr_open(hid_t loc, const char *obj, const char *name, DlErr *e) {
    if (H5Aexists_by_name(loc, obj, name, H5P_DEFAULT) <= 0) {
        dl_err(e, "attribute '%s' missing on '%s'", name, obj);
        return -1;
    }
    hid_t a = H5Aopen_by_name(loc, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) dl_err(e, "cannot open attribute '%s' on '%s'", name, obj);
    return a;
}

int h5u_attr_read_str(hid_t loc, const char *obj, const char *name, char *buf, size_t n, DlErr *e) {
    hid_t a = attr_open(loc, obj, name, e);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a);
    int rc = 0;
    if (H5Tget_class(ft) != H5T_STRING) {
        rc = dl_err(e, "attribute '%s' on '%s' is not a string", name, obj);
    } else if (H5Tis_variable_str(ft) > 0) {
        char *p = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft)); /* HDF5 will not convert UTF-8 <-> ASCII */
        if (H5Aread(a, mt, &p) < 0 || !p) rc = dl_err(e, "cannot read attribute '%s' on '%s'", name, obj);
        else { snprintf(buf, n, "%s", p); H5free_memory(p); }
        H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(ft);
        char *tmp = dl_calloc(sz + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz + 1);
        H5Tset_cset(mt, H5Tget_cset(ft));
        if (H5Aread(a, mt, tmp) < 0) rc = dl_err(e, "cannot read attribute '%s' on '%s'", name, obj);
        else snprintf(buf, n, "%s", tmp);
        H5Tclose(mt);
        free(tmp);
    }
    H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

static int attr_read_num(hid_t loc, const char *obj, const char *name, hid_t mtype, void *v, DlErr *e) {
    hid_t a = attr_open(loc, obj, name, e);
    if (a < 0) return -1;
    hid_t s = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    H5Sclose(s);
    int rc = 0;
    if (n != 1) rc = dl_err(e, "attribute '%s' on '%s' is not a scalar", name, obj);
    else if (H5Aread(a, mtype, v) < 0) rc = dl_err(e, "cannot read attribute '%s' on '%s'", name, obj);
    H5Aclose(a);
    return rc;
}
int h5u_attr_read_f64(hid_t loc, const char *obj, const char *name, double *v, DlErr *e) {
    return attr_read_num(loc, obj, name, H5T_NATIVE_DOUBLE, v, e);
}
int h5u_attr_read_i64(hid_t loc, const char *obj, const char *name, int64_t *v, DlErr *e) {
    return attr_read_num(loc, obj, name, H5T_NATIVE_INT64, v, e);
}
