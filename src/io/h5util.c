#include "h5util.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <stdlib.h>
#include <string.h>

void h5u_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* the operating system's reason behind the last failed HDF5 call, if HDF5 recorded one:
 * the sec2 driver puts "errno = N, error message = '...'" into the error stack (a full disk,
 * a file-size limit, a read-only file system, an I/O error); the MPI-IO driver records only
 * a generic MPI error (MPI_ERR_OTHER), see h5u_io_reason */
static herr_t find_sys_reason(unsigned n, const H5E_error2_t *err, void *ud) {
    (void)n;
    char *out = ud;
    const char *d = err->desc ? strstr(err->desc, "error message = '") : NULL;
    if (out[0] || !d) return 0;
    d += strlen("error message = '");
    size_t k = 0;
    while (d[k] && d[k] != '\'' && k + 1 < 128) k++;
    memcpy(out, d, k);
    out[k] = 0;
    return 0;
}

const char *h5u_io_reason(int saved_errno, const char *path) {
    const char *r = h5u_sys_reason(saved_errno);
    if (r[0] || !path) return r;
    /* MPI-IO (ompio) prints the system error itself and hands HDF5 only a generic MPI error:
     * ask the file system and the process limits what is likely */
    static _Thread_local char why[200];
    why[0] = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    struct statvfs vfs;
    struct rlimit rl;
    if (statvfs(dirname(dir), &vfs) == 0 && (unsigned long long)vfs.f_bavail * vfs.f_frsize < (1ULL << 20))
        snprintf(why, sizeof why, ": No space left on device (%llu bytes free)",
                 (unsigned long long)vfs.f_bavail * vfs.f_frsize);
    else if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        snprintf(why, sizeof why, ": File too large (over the file-size limit of %llu bytes, ulimit -f)",
                 (unsigned long long)rl.rlim_cur);
    return why;
}

/* HDF5 1.10.8: when H5Fclose fails (its flush hits a full disk or a file-size limit) the file's
 * shared state is freed but its ID stays registered; the library's own shutdown (at
 * MPI_Finalize or exit) then closes it again and dereferences NULL (H5F__close_cb, SIGSEGV).
 * Every close of a file we wrote goes through here; after a failure main() exits without
 * handing HDF5 its shutdown (tests/sh/test_disk_full.sh). */
static int g_close_failed = 0;
int h5u_close_file(hid_t f) {
    if (f < 0) return 0;
    errno = 0;
    if (H5Fclose(f) >= 0) return 0;
    g_close_failed = 1;
    return -1;
}
int h5u_close_failed(void) { return g_close_failed; }

const char *h5u_sys_reason(int saved_errno) {
    static _Thread_local char why[160];
    why[0] = 0;
    char found[128] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_sys_reason, found);
    if (found[0])
        snprintf(why, sizeof why, ": %s", found);
    else if (saved_errno == ENOSPC || saved_errno == EFBIG || saved_errno == EDQUOT || saved_errno == EROFS ||
             saved_errno == EIO)
        snprintf(why, sizeof why, ": %s", strerror(saved_errno));
    return why;
}

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
    if (d < 0) rc = dl_err(e, "cannot create dataset '%s'%s", name, h5u_sys_reason(errno));
    else if ((errno = 0, H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0))
        rc = dl_err(e, "cannot write dataset '%s'%s", name, h5u_sys_reason(errno));
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
