/* mmf_bars_h5.c: the MMF bars file (docs/data_format.md, "MMF bars"): written by all ranks
 * through parallel HDF5 (collective creation of every symbol's objects from allgathered
 * sizes, then each owner writes its own symbols' raw data), built under path.tmp and renamed
 * by rank 0 only when every rank succeeded; read serially. */
#define _GNU_SOURCE
#include "data/mmf_bars_h5.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5util.h"
#include "io/lobds.h"

typedef struct {
    char symbol[64];
    int64_t n, n_seg, owner, bar_s;
    int64_t cnt[MB_BAD_NKINDS + 6];
    char first_bad[MB_BAD_NKINDS][160];
    char provenance[512];
} Meta;

static int cmp_meta(const void *a, const void *b) { return strcmp(((const Meta *)a)->symbol, ((const Meta *)b)->symbol); }
static int any_failed(int f, MPI_Comm c) { int g = 0; MPI_Allreduce(&f, &g, 1, MPI_INT, MPI_MAX, c); return g; }

static const char *const cnt_names[6] = {"book_rows", "trade_rows", "trades_used", "trades_outside_bars", "book_files",
                                         "trade_files"};

static hid_t mk_ds(hid_t f, const char *grp, const char *name, hid_t type, int rank, const hsize_t *dims) {
    char obj[160];
    snprintf(obj, sizeof obj, "%s/%s", grp, name);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, obj, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(sp);
    return d;
}

int mmf_bars_write_mpi(const char *path, MPI_Comm comm, const MmfBars *mine, int n_mine, const char *const *prov,
                       DlErr *e) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    h5u_quiet();
    int failed = rank == 0 && access(path, F_OK) == 0 ? dl_err(e, "%s: already exists; refusing to overwrite", path) != 0 : 0;
    if (any_failed(failed, comm)) return failed ? -1 : dl_err(e, "%s: another rank failed", path);
    Meta *my = dl_calloc((size_t)(n_mine ? n_mine : 1), sizeof *my);
    for (int i = 0; i < n_mine; i++) {
        const MmfBars *s = &mine[i];
        snprintf(my[i].symbol, sizeof my[i].symbol, "%s", s->symbol);
        my[i].n = s->n;
        my[i].n_seg = s->n_seg;
        my[i].owner = rank;
        my[i].bar_s = s->bar_s;
        for (int k = 0; k < MB_BAD_NKINDS; k++) {
            my[i].cnt[k] = s->st.bad[k];
            snprintf(my[i].first_bad[k], sizeof my[i].first_bad[k], "%s", s->st.first_bad[k]);
        }
        const int64_t c6[6] = {s->st.book_rows, s->st.trade_rows, s->st.trades_used, s->st.trades_outside,
                               s->st.book_files, s->st.trade_files};
        memcpy(my[i].cnt + MB_BAD_NKINDS, c6, sizeof c6);
        snprintf(my[i].provenance, sizeof my[i].provenance, "%s", prov && prov[i] ? prov[i] : "");
    }
    int *counts = dl_calloc((size_t)size, sizeof *counts), *displs = dl_calloc((size_t)size, sizeof *displs);
    int mybytes = n_mine * (int)sizeof(Meta), total = 0;
    MPI_Allgather(&mybytes, 1, MPI_INT, counts, 1, MPI_INT, comm);
    for (int r = 0; r < size; r++) { displs[r] = total; total += counts[r]; }
    const int n_all = total / (int)sizeof(Meta);
    Meta *all = dl_calloc((size_t)(n_all ? n_all : 1), sizeof *all);
    MPI_Allgatherv(my, mybytes, MPI_BYTE, all, counts, displs, MPI_BYTE, comm);
    free(my); free(counts); free(displs);
    qsort(all, (size_t)n_all, sizeof *all, cmp_meta); /* one creation order on every rank */

    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (any_failed(f < 0, comm)) {
        if (f >= 0) H5Fclose(f);
        free(all);
        return dl_err(e, "%s: cannot create with MPI-IO (directory missing or not writable?)", tmp);
    }
    DlErr e2;
    int rc = h5u_attr_write_str(f, "/", "format", MMF_BARS_FORMAT, &e2) |
             h5u_attr_write_i64(f, "/", "format_version", MMF_BARS_VERSION, &e2) |
             h5u_attr_write_i64(f, "/", "symbols", n_all, &e2);
    char cols[1024] = "";
    for (int j = 0; j < MMF_NCOL; j++) { strcat(cols, j ? "," : ""); strcat(cols, mmf_bar_col_names[j]); }
    rc |= h5u_attr_write_str(f, "/", "columns", cols, &e2);
    hid_t g = H5Gcreate2(f, "/symbols", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc |= g < 0;
    if (g >= 0) H5Gclose(g);
    hid_t *ds = dl_calloc((size_t)(n_all ? n_all : 1) * 3, sizeof *ds);
    for (int i = 0; i < n_all && !rc; i++) {
        const Meta *m = &all[i];
        char grp[96];
        snprintf(grp, sizeof grp, "/symbols/%s", m->symbol);
        g = H5Gcreate2(f, grp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) { rc = 1; break; }
        H5Gclose(g);
        const hsize_t dt[1] = {(hsize_t)m->n}, dv[2] = {(hsize_t)m->n, MMF_NCOL}, dsg[2] = {(hsize_t)m->n_seg, 2};
        ds[3 * i] = mk_ds(f, grp, "time", H5T_STD_I64LE, 1, dt);
        ds[3 * i + 1] = mk_ds(f, grp, "bars", H5T_IEEE_F64LE, 2, dv);
        ds[3 * i + 2] = mk_ds(f, grp, "segments", H5T_STD_I64LE, 2, dsg);
        rc |= ds[3 * i] < 0 || ds[3 * i + 1] < 0 || ds[3 * i + 2] < 0;
        rc |= h5u_attr_write_str(f, grp, "symbol", m->symbol, &e2) | h5u_attr_write_i64(f, grp, "bar_s", m->bar_s, &e2) |
              h5u_attr_write_str(f, grp, "provenance", m->provenance, &e2);
        for (int k = 0; k < MB_BAD_NKINDS; k++) {
            char nm[80];
            snprintf(nm, sizeof nm, "rows_dropped_%s", mmf_bad_name(k));
            rc |= h5u_attr_write_i64(f, grp, nm, m->cnt[k], &e2);
            if (m->cnt[k]) {
                snprintf(nm, sizeof nm, "first_%s", mmf_bad_name(k));
                rc |= h5u_attr_write_str(f, grp, nm, m->first_bad[k], &e2);
            }
        }
        for (int k = 0; k < 6; k++) rc |= h5u_attr_write_i64(f, grp, cnt_names[k], m->cnt[MB_BAD_NKINDS + k], &e2);
    }
    if (rc) dl_err(e, "%s: creating the objects failed", tmp);
    int wfail = 0;
    for (int i = 0; i < n_all && !rc && !wfail; i++) {
        if (all[i].owner != rank) continue;
        const MmfBars *s = NULL;
        for (int j = 0; j < n_mine; j++)
            if (!strcmp(mine[j].symbol, all[i].symbol)) s = &mine[j];
        if (!s || H5Dwrite(ds[3 * i], H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->time) < 0 ||
            H5Dwrite(ds[3 * i + 1], H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->v) < 0 ||
            H5Dwrite(ds[3 * i + 2], H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->seg) < 0)
            wfail = dl_err(e, "%s: /symbols/%s: writing the data failed (disk full?)", tmp, all[i].symbol) != 0;
    }
    for (int i = 0; i < 3 * n_all; i++)
        if (ds[i] > 0) H5Dclose(ds[i]);
    free(ds);
    free(all);
    if (H5Fclose(f) < 0) wfail = 1;
    int bad = any_failed(rc || wfail, comm);
    if (!bad && rank == 0) bad = dl_commit_file(tmp, path, e) != 0;
    MPI_Bcast(&bad, 1, MPI_INT, 0, comm);
    if (bad) {
        if (rank == 0) unlink(tmp);
        if (!rc && !wfail) dl_err(e, "%s: another rank failed while writing; nothing written", path);
        return -1;
    }
    return 0;
}

int mmf_bars_read(const char *path, const char *symbol, MmfBars *s, DlErr *e) {
    memset(s, 0, sizeof *s);
    h5u_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return dl_err(e, "%s: cannot open as HDF5", path);
    char fmt[64] = "", grp[96];
    int rc = 0;
    int64_t ver = 0, bar_s = 0;
    if (h5u_attr_read_str(f, "/", "format", fmt, sizeof fmt, e) || strcmp(fmt, MMF_BARS_FORMAT) ||
        h5u_attr_read_i64(f, "/", "format_version", &ver, e) || ver != MMF_BARS_VERSION)
        rc = dl_err(e, "%s: not an MMF bars file (format '%s' version %lld; want '%s' %d)", path, fmt, (long long)ver,
                    MMF_BARS_FORMAT, MMF_BARS_VERSION);
    snprintf(grp, sizeof grp, "/symbols/%s", symbol);
    if (!rc && (!lobds_symbol_ok(symbol) || !h5u_exists(f, grp))) rc = dl_err(e, "%s: no symbol '%s'", path, symbol);
    hsize_t d[2];
    char obj[160];
    if (!rc) {
        snprintf(obj, sizeof obj, "%s/bars", grp);
        if (h5u_dims(f, obj, d, 2, path, e) != 2 || d[1] != MMF_NCOL) rc = dl_err(e, "%s: %s must be (N, %d)", path, obj, MMF_NCOL);
    }
    if (!rc) {
        s->n = (int64_t)d[0];
        h5u_attr_read_i64(f, grp, "bar_s", &bar_s, e);
        s->bar_s = (int)bar_s;
        snprintf(s->symbol, sizeof s->symbol, "%s", symbol);
        s->time = dl_malloc((size_t)(s->n ? s->n : 1) * sizeof *s->time);
        s->v = dl_malloc((size_t)(s->n ? s->n : 1) * MMF_NCOL * sizeof *s->v);
        rc = h5u_read_f64(f, obj, s->v, (size_t)s->n * MMF_NCOL, path, e);
        snprintf(obj, sizeof obj, "%s/time", grp);
        if (!rc) rc = h5u_read_i64(f, obj, s->time, (size_t)s->n, path, e);
        snprintf(obj, sizeof obj, "%s/segments", grp);
        if (!rc && h5u_dims(f, obj, d, 2, path, e) != 2) rc = -1;
        if (!rc) {
            s->n_seg = (int64_t)d[0];
            s->seg = dl_malloc((size_t)(s->n_seg ? s->n_seg : 1) * 2 * sizeof *s->seg);
            rc = h5u_read_i64(f, obj, s->seg, (size_t)s->n_seg * 2, path, e);
        }
        for (int64_t k = 0; k < s->n_seg && !rc; k++) /* segments sorted, non-empty, inside [0, n) */
            if (s->seg[2 * k] < (k ? s->seg[2 * k - 1] : 0) || s->seg[2 * k + 1] <= s->seg[2 * k] || s->seg[2 * k + 1] > s->n)
                rc = dl_err(e, "%s: %s: segment %lld [%lld, %lld) is out of order or outside [0, %lld)", path, grp,
                            (long long)k, (long long)s->seg[2 * k], (long long)s->seg[2 * k + 1], (long long)s->n);
    }
    H5Fclose(f);
    if (rc) mmf_bars_free(s);
    return rc ? -1 : 0;
}

typedef struct { char **v; int n, cap; } Names;
static herr_t collect(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)g; (void)info;
    Names *l = op;
    if (l->n == l->cap) { l->cap = l->cap ? 2 * l->cap : 16; l->v = realloc(l->v, sizeof *l->v * (size_t)l->cap); }
    if (!l->v) return -1;
    l->v[l->n++] = strdup(name);
    return 0;
}

int mmf_bars_list(const char *path, char ***names, int *n, DlErr *e) {
    *names = NULL;
    *n = 0;
    h5u_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return dl_err(e, "%s: cannot open as HDF5", path);
    char fmt[64] = "";
    DlErr e2;
    int rc = 0;
    if (h5u_attr_read_str(f, "/", "format", fmt, sizeof fmt, &e2) || strcmp(fmt, MMF_BARS_FORMAT))
        rc = dl_err(e, "%s: not an MMF bars file (format '%s'; build it with mmf-bars)", path, fmt);
    Names l = {0};
    hsize_t idx = 0;
    hid_t g = rc ? -1 : H5Gopen2(f, "/symbols", H5P_DEFAULT);
    if (!rc && (g < 0 || H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect, &l) < 0))
        rc = dl_err(e, "%s: /symbols: cannot list the group", path);
    if (g >= 0) H5Gclose(g);
    H5Fclose(f);
    for (int i = 0; i < l.n && !rc; i++)
        if (!lobds_symbol_ok(l.v[i])) rc = dl_err(e, "%s: unsafe symbol name '%.80s'", path, l.v[i]);
    if (rc) { lobds_free_names(l.v, l.n); return -1; }
    *names = l.v;
    *n = l.n;
    return 0;
}
