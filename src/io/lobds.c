/* lobds.c: the HDF5 LOB dataset: writer, validating reader, symbol-name check.
 * Format: docs/data_format.md. Datasets are contiguous and unfiltered, so the
 * same layout can be written by parallel HDF5 and read through MPI-IO. */
#include "lobds.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5util.h"

/* ------------------------------------------------------------------ names */

/* length of one well-formed UTF-8 sequence at p (no overlongs, no surrogates), 0 if bad */
static int utf8_len(const unsigned char *p) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    int n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (!n || c > 0xf4) return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && c == 0xe0 && p[1] < 0xa0) return 0;  /* overlong */
    if (n == 3 && c == 0xed && p[1] >= 0xa0) return 0; /* surrogate */
    if (n == 4 && c == 0xf0 && p[1] < 0x90) return 0;  /* overlong */
    if (n == 4 && c == 0xf4 && p[1] >= 0x90) return 0; /* > U+10FFFF */
    return n;
}

int lobds_symbol_ok(const char *s) {
    if (!s || !s[0]) return 0;
    size_t n = strlen(s);
    if (n > 63 || s[0] == '.' || s[0] == '-' || strstr(s, "..")) return 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        /* path separators, shell/Windows-reserved characters, spaces and controls */
        if (c < 0x20 || c == 0x7f || c == ' ' || strchr("/\\:*?\"<>|", (int)c)) return 0;
        int l = utf8_len(p);
        if (!l) return 0;
        p += l;
    }
    return 1;
}

/* ------------------------------------------------------------- validation */

static int ferr(DlErr *e, const char *file, const char *obj, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int ferr(DlErr *e, const char *file, const char *obj, const char *fmt, ...) {
    char m[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return dl_err(e, "%s: %s: %s", file, obj, m);
}

/* segments and time of one symbol; grp = "/symbols/<name>" for messages */
static int check_axes(const LobSymbol *s, const char *where, const char *grp, DlErr *e) {
    char obj[160];
    int64_t n = s->n_rows;
    snprintf(obj, sizeof obj, "%s/time", grp);
    for (int64_t i = 1; i < n; i++)
        if (s->time[i] <= s->time[i - 1])
            return ferr(e, where, obj, "not strictly increasing at row %lld (%lld after %lld)",
                        (long long)i, (long long)s->time[i], (long long)s->time[i - 1]);
    snprintf(obj, sizeof obj, "%s/segments", grp);
    if (s->n_segments < 1) return ferr(e, where, obj, "no segments (at least one expected)");
    for (int64_t k = 0; k < s->n_segments; k++) {
        int64_t a = s->segments[2 * k], b = s->segments[2 * k + 1];
        if (a < 0 || b > n || a >= b)
            return ferr(e, where, obj, "segment %lld = [%lld, %lld) is empty or outside [0, %lld)",
                        (long long)k, (long long)a, (long long)b, (long long)n);
        if (k > 0 && a < s->segments[2 * k - 1])
            return ferr(e, where, obj, "segment %lld starts at %lld, before the previous one ends (%lld)",
                        (long long)k, (long long)a, (long long)s->segments[2 * k - 1]);
        for (int64_t i = a + 1; i < b; i++)
            if (s->time[i] != s->time[i - 1] + 1)
                return ferr(e, where, obj, "segment %lld is not on the 1 s grid: time[%lld] - time[%lld] = %lld",
                            (long long)k, (long long)i, (long long)(i - 1),
                            (long long)(s->time[i] - s->time[i - 1]));
    }
    return 0;
}

static int check_horizons(const LobSymbol *s, const char *where, const char *grp, DlErr *e) {
    if (s->n_horizons < 1 || s->n_horizons > LOBDS_MAX_H)
        return ferr(e, where, grp, "%d horizons (1..%d expected)", s->n_horizons, LOBDS_MAX_H);
    for (int k = 0; k < s->n_horizons; k++)
        if (s->horizons[k] <= 0)
            return ferr(e, where, grp, "attribute 'horizons'[%d] = %d is not positive", k, s->horizons[k]);
    return 0;
}

int lobds_check_symbol(const LobSymbol *s, const char *where, DlErr *e) {
    char grp[96];
    snprintf(grp, sizeof grp, "/symbols/%.63s", s->symbol);
    if (!lobds_symbol_ok(s->symbol)) return ferr(e, where, grp, "unsafe or invalid symbol name");
    if (s->n_rows < 1) return ferr(e, where, grp, "no rows");
    if (check_horizons(s, where, grp, e)) return -1;
    return check_axes(s, where, grp, e);
}

void lobds_compute_targets(LobSymbol *s) {
    int K = s->n_horizons;
    for (int64_t i = 0; i < s->n_rows * K; i++) s->targets[i] = NAN;
    for (int64_t g = 0; g < s->n_segments; g++) {
        int64_t a = s->segments[2 * g], b = s->segments[2 * g + 1];
        for (int64_t t = a; t < b; t++) {
            const float *x = s->features + t * LOBDS_NFEAT;
            double m0 = 0.5 * ((double)x[0] + (double)x[20]);
            for (int k = 0; k < K; k++) {
                int64_t u = t + s->horizons[k];
                if (u >= b) continue;
                const float *y = s->features + u * LOBDS_NFEAT;
                double m1 = 0.5 * ((double)y[0] + (double)y[20]);
                if (m0 > 0 && m1 > 0) s->targets[t * K + k] = (float)(1e4 * log(m1 / m0));
            }
        }
    }
}

int64_t lobds_segments_from_time(int64_t *segments, const int64_t *time, int64_t n) {
    int64_t S = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || time[i] != time[i - 1] + 1) {
            if (S) segments[2 * S - 1] = i;
            segments[2 * S] = i;
            S++;
        }
    }
    if (S) segments[2 * S - 1] = n;
    return S;
}

/* ----------------------------------------------------------------- reader */

/* string attribute (fixed or variable length, ASCII or UTF-8) into buf */
static int attr_str(hid_t f, const char *obj, const char *name, char *buf, size_t n, DlErr *e) {
    return h5u_attr_read_str(f, obj, name, buf, n, e);
}

/* open + check the root attributes (format string and version) */
static hid_t open_dataset_file(const char *path, hid_t fapl, DlErr *e) {
    h5u_quiet();
    if (access(path, R_OK) != 0) {
        dl_err(e, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (f < 0) {
        dl_err(e, "%s: /: not a readable HDF5 file (truncated or corrupt?)", path);
        return -1;
    }
    char fmt[128];
    int64_t ver = 0;
    DlErr e2;
    if (attr_str(f, "/", "format", fmt, sizeof fmt, &e2) != 0) {
        ferr(e, path, "/", "not a LOB dataset (%s)", e2.msg);
    } else if (strcmp(fmt, LOBDS_FORMAT) != 0) {
        ferr(e, path, "/", "attribute 'format' is \"%s\", \"%s\" expected", fmt, LOBDS_FORMAT);
    } else if (h5u_attr_read_i64(f, "/", "format_version", &ver, &e2) != 0) {
        ferr(e, path, "/", "%s", e2.msg);
    } else if (ver != LOBDS_VERSION) {
        ferr(e, path, "/", "attribute 'format_version' is %lld; this build reads version %d",
             (long long)ver, LOBDS_VERSION);
    } else {
        return f;
    }
    H5Fclose(f);
    return -1;
}

/* dims + type class of a dataset; rank must equal `rank` */
static int ds_shape(hid_t f, const char *obj, int rank, hsize_t *dims, H5T_class_t cls,
                    const char *path, DlErr *e) {
    if (!h5u_exists(f, obj)) return ferr(e, path, obj, "dataset is missing");
    hid_t d = H5Dopen2(f, obj, H5P_DEFAULT);
    if (d < 0) return ferr(e, path, obj, "cannot open dataset");
    hid_t s = H5Dget_space(d), t = H5Dget_type(d);
    int r = H5Sget_simple_extent_ndims(s);
    H5T_class_t c = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    if (r == rank) H5Sget_simple_extent_dims(s, dims, NULL);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    if (r != rank) return ferr(e, path, obj, "rank %d, %d expected", r, rank);
    if (c != cls) return ferr(e, path, obj, "wrong dtype class (%s expected)", cls == H5T_FLOAT ? "float" : "integer");
    if (cls == H5T_INTEGER && sz != 8) return ferr(e, path, obj, "integer of %zu bytes, int64 expected", sz);
    return 0;
}

static int read_horizons(hid_t f, const char *grp, LobSymbol *out, const char *path, DlErr *e) {
    if (H5Aexists_by_name(f, grp, "horizons", H5P_DEFAULT) <= 0)
        return ferr(e, path, grp, "attribute 'horizons' is missing");
    hid_t a = H5Aopen_by_name(f, grp, "horizons", H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return ferr(e, path, grp, "cannot open attribute 'horizons'");
    hid_t s = H5Aget_space(a), t = H5Aget_type(a);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    int rc = 0;
    if (H5Tget_class(t) != H5T_INTEGER) rc = ferr(e, path, grp, "attribute 'horizons' is not an integer array");
    else if (n < 1 || n > LOBDS_MAX_H) rc = ferr(e, path, grp, "attribute 'horizons' has %lld entries (1..%d expected)", (long long)n, LOBDS_MAX_H);
    else if (H5Aread(a, H5T_NATIVE_INT, out->horizons) < 0) rc = ferr(e, path, grp, "cannot read attribute 'horizons'");
    else out->n_horizons = (int)n;
    H5Tclose(t);
    H5Sclose(s);
    H5Aclose(a);
    return rc;
}

static int read_impl(const char *path, hid_t fapl, const char *symbol, LobSymbol *out, int data, DlErr *e) {
    memset(out, 0, sizeof *out);
    for (int k = 0; k < LOBDS_MAX_H; k++) out->oracle_corr[k] = NAN;
    if (!lobds_symbol_ok(symbol)) return dl_err(e, "%s: unsafe or invalid symbol name '%.80s'", path, symbol);
    snprintf(out->symbol, sizeof out->symbol, "%s", symbol);
    hid_t f = open_dataset_file(path, fapl, e);
    if (f < 0) return -1;

    char grp[96], o_time[128], o_feat[128], o_targ[128], o_seg[128], name[128];
    snprintf(grp, sizeof grp, "/symbols/%s", symbol);
    snprintf(o_time, sizeof o_time, "%s/time", grp);
    snprintf(o_feat, sizeof o_feat, "%s/features", grp);
    snprintf(o_targ, sizeof o_targ, "%s/targets", grp);
    snprintf(o_seg, sizeof o_seg, "%s/segments", grp);
    hsize_t dt[1], df[2], dy[2], ds[2];
    DlErr e2;
    int rc = -1;
    if (!h5u_exists(f, grp)) { ferr(e, path, grp, "no such symbol group"); goto done; }
    if (attr_str(f, grp, "symbol", name, sizeof name, &e2) != 0) { ferr(e, path, grp, "%s", e2.msg); goto done; }
    if (strcmp(name, symbol) != 0) { ferr(e, path, grp, "attribute 'symbol' is '%s'", name); goto done; }
    if (read_horizons(f, grp, out, path, e) || check_horizons(out, path, grp, e)) goto done;
    if (ds_shape(f, o_time, 1, dt, H5T_INTEGER, path, e) || ds_shape(f, o_feat, 2, df, H5T_FLOAT, path, e) ||
        ds_shape(f, o_targ, 2, dy, H5T_FLOAT, path, e) || ds_shape(f, o_seg, 2, ds, H5T_INTEGER, path, e))
        goto done;
    int64_t N = (int64_t)dt[0];
    if (N < 1) { ferr(e, path, o_time, "no rows"); goto done; }
    /* a corrupt or hostile file may declare any extent: refuse before sizing buffers from it
     * (N * 40 * 4 bytes must not wrap; 2^36 rows is over 2000 years of seconds) */
    if (dt[0] > LOBDS_MAX_ROWS) {
        ferr(e, path, o_time, "%llu rows, more than this build reads (%llu)", (unsigned long long)dt[0],
             (unsigned long long)LOBDS_MAX_ROWS);
        goto done;
    }
    if (df[0] != dt[0] || df[1] != LOBDS_NFEAT) {
        ferr(e, path, o_feat, "shape (%llu, %llu), (%lld, %d) expected", (unsigned long long)df[0],
             (unsigned long long)df[1], (long long)N, LOBDS_NFEAT);
        goto done;
    }
    if (dy[0] != dt[0] || dy[1] != (hsize_t)out->n_horizons) {
        ferr(e, path, o_targ, "shape (%llu, %llu), (%lld, %d) expected (N, len(horizons))",
             (unsigned long long)dy[0], (unsigned long long)dy[1], (long long)N, out->n_horizons);
        goto done;
    }
    if (ds[0] > dt[0]) { ferr(e, path, o_seg, "%llu segments for %lld rows", (unsigned long long)ds[0], (long long)N); goto done; }
    if (ds[1] != 2) { ferr(e, path, o_seg, "shape (%llu, %llu), (S, 2) expected", (unsigned long long)ds[0], (unsigned long long)ds[1]); goto done; }
    out->n_rows = N;
    out->n_segments = (int64_t)ds[0];
    out->time = dl_malloc((size_t)N * sizeof(int64_t));
    out->segments = dl_malloc((size_t)(out->n_segments ? out->n_segments : 1) * 2 * sizeof(int64_t));
    if (h5u_read_i64(f, o_time, out->time, (size_t)N, path, e) ||
        h5u_read_i64(f, o_seg, out->segments, (size_t)out->n_segments * 2, path, e) ||
        check_axes(out, path, grp, e))
        goto done;
    if (data) {
        out->features = dl_malloc((size_t)N * LOBDS_NFEAT * sizeof(float));
        out->targets = dl_malloc((size_t)N * out->n_horizons * sizeof(float));
        if (h5u_read_f32(f, o_feat, out->features, (size_t)N * LOBDS_NFEAT, path, e) ||
            h5u_read_f32(f, o_targ, out->targets, (size_t)N * out->n_horizons, path, e))
            goto done;
    }
    for (int k = 0; k < out->n_horizons; k++) {
        snprintf(name, sizeof name, "oracle_corr_h%d", out->horizons[k]);
        if (H5Aexists_by_name(f, grp, name, H5P_DEFAULT) > 0 &&
            h5u_attr_read_f64(f, grp, name, &out->oracle_corr[k], &e2) != 0) {
            ferr(e, path, grp, "%s", e2.msg);
            goto done;
        }
    }
    rc = 0;
done:
    H5Fclose(f);
    if (rc) lobds_symbol_free(out);
    return rc;
}

int lobds_read_symbol(const char *path, hid_t fapl, const char *symbol, LobSymbol *out, DlErr *e) {
    return read_impl(path, fapl, symbol, out, 1, e);
}

int lobds_read_symbol_meta(const char *path, hid_t fapl, const char *symbol, LobSymbol *out, DlErr *e) {
    return read_impl(path, fapl, symbol, out, 0, e);
}

void lobds_symbol_free(LobSymbol *s) {
    free(s->time);
    free(s->features);
    free(s->targets);
    free(s->segments);
    s->time = s->segments = NULL;
    s->features = s->targets = NULL;
}

typedef struct { char **names; int n, cap; } NameList;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    NameList *l = op;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        char **p = realloc(l->names, (size_t)l->cap * sizeof *p);
        if (!p) DL_FATAL("out of memory listing symbols");
        l->names = p;
    }
    size_t n = strlen(name) + 1;
    l->names[l->n] = dl_malloc(n);
    memcpy(l->names[l->n++], name, n);
    return 0;
}

int lobds_list(const char *path, char ***names, int *n, DlErr *e) {
    *names = NULL;
    *n = 0;
    hid_t f = open_dataset_file(path, H5P_DEFAULT, e);
    if (f < 0) return -1;
    if (!h5u_exists(f, "/symbols")) {
        H5Fclose(f);
        return ferr(e, path, "/symbols", "group is missing");
    }
    NameList l = {0};
    hid_t g = H5Gopen2(f, "/symbols", H5P_DEFAULT);
    hsize_t idx = 0;
    herr_t st = g < 0 ? -1 : H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, &l);
    if (g >= 0) H5Gclose(g);
    H5Fclose(f);
    int rc = 0;
    if (st < 0) rc = ferr(e, path, "/symbols", "cannot list the group");
    for (int i = 0; i < l.n && !rc; i++)
        if (!lobds_symbol_ok(l.names[i])) rc = ferr(e, path, "/symbols", "unsafe symbol name '%.80s'", l.names[i]);
    if (rc) {
        lobds_free_names(l.names, l.n);
        return -1;
    }
    *names = l.names;
    *n = l.n;
    return 0;
}

void lobds_free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* ----------------------------------------------------------------- writer */

/* contiguous, unfiltered, no timestamps in object headers (same input -> same bytes) */
static int write_ds(hid_t f, const char *obj, hid_t ftype, hid_t mtype, const void *buf, int rank,
                    const hsize_t *dims, const char *path, DlErr *e) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_CONTIGUOUS);
    H5Pset_obj_track_times(dcpl, 0);
    hid_t s = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, obj, ftype, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = 0;
    if (d < 0) rc = ferr(e, path, obj, "cannot create dataset");
    else if (H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) rc = ferr(e, path, obj, "cannot write dataset");
    if (d >= 0 && H5Dclose(d) < 0 && !rc) rc = ferr(e, path, obj, "cannot close dataset (disk full?)");
    H5Sclose(s);
    H5Pclose(dcpl);
    return rc;
}

static int make_group(hid_t f, const char *obj, const char *path, DlErr *e) {
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(gcpl, 0);
    hid_t g = H5Gcreate2(f, obj, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    if (g < 0) return ferr(e, path, obj, "cannot create group");
    H5Gclose(g);
    return 0;
}

int lobds_create(LobdsWriter *w, const char *path, const char *source, DlErr *e) {
    memset(w, 0, sizeof *w);
    w->file = -1;
    if (strlen(path) >= sizeof w->path) return dl_err(e, "%s: path too long", path);
    if (access(path, F_OK) == 0)
        return dl_err(e, "%s: already exists; refusing to overwrite (remove it first)", path);
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->tmp_path, sizeof w->tmp_path, "%s.tmp", path);
    snprintf(w->source, sizeof w->source, "%s", source);
    h5u_quiet();
    /* a stale .tmp is a crashed earlier run: truncating it is safe */
    w->file = H5Fcreate(w->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) return dl_err(e, "%s: cannot create (directory missing or not writable?)", w->tmp_path);
    DlErr e2;
    if (h5u_attr_write_str(w->file, "/", "format", LOBDS_FORMAT, &e2) ||
        h5u_attr_write_i64(w->file, "/", "format_version", LOBDS_VERSION, &e2) ||
        h5u_attr_write_str(w->file, "/", "source", source, &e2) ||
        h5u_attr_write_str(w->file, "/", "created_by", "deeplob-mpi lobds writer", &e2) ||
        h5u_attr_write_i64(w->file, "/", "symbols", 0, &e2)) {
        lobds_abort(w);
        return dl_err(e, "%s: /: %s", path, e2.msg);
    }
    if (make_group(w->file, "/symbols", w->tmp_path, e)) {
        lobds_abort(w);
        return -1;
    }
    return 0;
}

int lobds_write_symbol(LobdsWriter *w, const LobSymbol *s, const char *provenance, DlErr *e) {
    const char *path = w->tmp_path;
    if (lobds_check_symbol(s, "lobds_write_symbol", e)) return -1;
    char grp[96], obj[128], name[64];
    snprintf(grp, sizeof grp, "/symbols/%s", s->symbol);
    if (h5u_exists(w->file, grp)) return ferr(e, path, grp, "symbol written twice");
    if (make_group(w->file, grp, path, e)) return -1;
    hsize_t N = (hsize_t)s->n_rows, K = (hsize_t)s->n_horizons;
    hsize_t d_t[1] = {N}, d_f[2] = {N, LOBDS_NFEAT}, d_y[2] = {N, K}, d_s[2] = {(hsize_t)s->n_segments, 2};
    snprintf(obj, sizeof obj, "%s/time", grp);
    if (write_ds(w->file, obj, H5T_STD_I64LE, H5T_NATIVE_INT64, s->time, 1, d_t, path, e)) return -1;
    snprintf(obj, sizeof obj, "%s/features", grp);
    if (write_ds(w->file, obj, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, s->features, 2, d_f, path, e)) return -1;
    snprintf(obj, sizeof obj, "%s/targets", grp);
    if (write_ds(w->file, obj, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, s->targets, 2, d_y, path, e)) return -1;
    snprintf(obj, sizeof obj, "%s/segments", grp);
    if (write_ds(w->file, obj, H5T_STD_I64LE, H5T_NATIVE_INT64, s->segments, 2, d_s, path, e)) return -1;

    DlErr e2;
    if (h5u_attr_write_str(w->file, grp, "symbol", s->symbol, &e2) ||
        h5u_attr_write_str(w->file, grp, "source", w->source, &e2) ||
        h5u_attr_write_i64(w->file, grp, "levels", 10, &e2) ||
        h5u_attr_write_i64(w->file, grp, "start_time", s->time[0], &e2) ||
        h5u_attr_write_i64(w->file, grp, "end_time", s->time[s->n_rows - 1], &e2) ||
        h5u_attr_write_str(w->file, grp, "provenance", provenance ? provenance : "", &e2))
        return ferr(e, path, grp, "%s", e2.msg);
    /* horizons: int32 array attribute */
    hid_t sp = H5Screate_simple(1, &K, NULL);
    hid_t a = H5Acreate_by_name(w->file, grp, "horizons", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (a < 0 || H5Awrite(a, H5T_NATIVE_INT, s->horizons) < 0) ? ferr(e, path, grp, "cannot write attribute 'horizons'") : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    if (rc) return -1;
    for (int k = 0; k < s->n_horizons; k++) {
        if (!isfinite(s->oracle_corr[k])) continue;
        snprintf(name, sizeof name, "oracle_corr_h%d", s->horizons[k]);
        if (h5u_attr_write_f64(w->file, grp, name, s->oracle_corr[k], &e2)) return ferr(e, path, grp, "%s", e2.msg);
    }
    return 0;
}

static int set_attr_check(LobdsWriter *w, const char *symbol, char *grp, size_t n, DlErr *e) {
    if (!lobds_symbol_ok(symbol)) return dl_err(e, "%s: unsafe or invalid symbol name '%.80s'", w->tmp_path, symbol);
    snprintf(grp, n, "/symbols/%s", symbol);
    if (!h5u_exists(w->file, grp)) return ferr(e, w->tmp_path, grp, "group does not exist (write the symbol first)");
    return 0;
}

int lobds_set_attr_double(LobdsWriter *w, const char *symbol, const char *name, double v, DlErr *e) {
    char grp[96];
    DlErr e2;
    if (set_attr_check(w, symbol, grp, sizeof grp, e)) return -1;
    return h5u_attr_write_f64(w->file, grp, name, v, &e2) ? ferr(e, w->tmp_path, grp, "%s", e2.msg) : 0;
}

int lobds_set_attr_int64(LobdsWriter *w, const char *symbol, const char *name, int64_t v, DlErr *e) {
    char grp[96];
    DlErr e2;
    if (set_attr_check(w, symbol, grp, sizeof grp, e)) return -1;
    return h5u_attr_write_i64(w->file, grp, name, v, &e2) ? ferr(e, w->tmp_path, grp, "%s", e2.msg) : 0;
}

int lobds_set_attr_string(LobdsWriter *w, const char *symbol, const char *name, const char *v, DlErr *e) {
    char grp[96];
    DlErr e2;
    if (set_attr_check(w, symbol, grp, sizeof grp, e)) return -1;
    return h5u_attr_write_str(w->file, grp, name, v, &e2) ? ferr(e, w->tmp_path, grp, "%s", e2.msg) : 0;
}

int lobds_finish(LobdsWriter *w, DlErr *e) {
    if (w->file < 0) return dl_err(e, "%s: writer is not open", w->path);
    H5G_info_t info;
    DlErr e2;
    hid_t g = H5Gopen2(w->file, "/symbols", H5P_DEFAULT);
    int rc = (g < 0 || H5Gget_info(g, &info) < 0) ? ferr(e, w->tmp_path, "/symbols", "cannot count symbols") : 0;
    if (g >= 0) H5Gclose(g);
    if (!rc && h5u_attr_write_i64(w->file, "/", "symbols", (int64_t)info.nlinks, &e2))
        rc = ferr(e, w->tmp_path, "/", "%s", e2.msg);
    if (h5u_close_file(w->file) < 0 && !rc) {
        const char *why = h5u_io_reason(errno, w->tmp_path);
        rc = dl_err(e, "%s: closing failed%s", w->tmp_path, why[0] ? why : " (disk full?)");
    }
    w->file = -1;
    if (!rc && access(w->path, F_OK) == 0)
        rc = dl_err(e, "%s: appeared while writing; refusing to overwrite (new data left in %s)", w->path, w->tmp_path);
    else if (!rc && dl_commit_file(w->tmp_path, w->path, e)) rc = -1;
    if (rc && access(w->path, F_OK) != 0) unlink(w->tmp_path);
    return rc;
}

void lobds_abort(LobdsWriter *w) {
    h5u_close_file(w->file);
    w->file = -1;
    if (w->tmp_path[0]) unlink(w->tmp_path);
}
