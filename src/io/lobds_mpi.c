/* lobds_mpi.c: write one LOB dataset from all ranks through parallel HDF5.
 *
 * Object creation in parallel HDF5 is collective (attributes too), so every rank first
 * learns every symbol's sizes and attributes (MPI_Allgatherv), all ranks create every
 * group, dataset and attribute together in the same order, and then each rank writes its
 * own symbols' raw data independently. The layout equals lobds_write_symbol's. The file is
 * built under path.tmp and renamed by rank 0 only when every rank succeeded. */
#define _GNU_SOURCE
#include "lobds_mpi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5util.h"

typedef struct {
    char symbol[64];
    int64_t n_rows, n_segments, start, end;
    int32_t n_horizons, owner;
    int32_t horizons[LOBDS_MAX_H];
    int64_t attr[LOBDS_MPI_MAX_ATTRS];
    char provenance[512];
} Meta;

static int cmp_meta(const void *a, const void *b) { return strcmp(((const Meta *)a)->symbol, ((const Meta *)b)->symbol); }

static int any_failed(int failed, MPI_Comm comm) {
    int g = 0;
    MPI_Allreduce(&failed, &g, 1, MPI_INT, MPI_MAX, comm);
    return g;
}

static hid_t create_ds(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(sp);
    return d;
}

int lobds_mpi_write(const char *path, const char *source, MPI_Comm comm, const LobSymbol *mine, int n_mine,
                    const char *const *provenance, int n_attrs, const char *const *attr_names,
                    const int64_t *attr_values, DlErr *e) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    h5u_quiet();
    int failed = 0;
    if (n_attrs > LOBDS_MPI_MAX_ATTRS) failed = dl_err(e, "%s: too many extra attributes (%d)", path, n_attrs) != 0;
    for (int i = 0; i < n_mine && !failed; i++)
        if (lobds_check_symbol(&mine[i], "lobds_mpi_write", e)) failed = 1;
    /* the final name must not exist: decided once, by rank 0 */
    if (rank == 0 && !failed && access(path, F_OK) == 0) failed = dl_err(e, "%s: already exists; refusing to overwrite (remove it first)", path) != 0;
    if (any_failed(failed, comm)) {
        if (!failed) dl_err(e, "%s: another rank failed before writing", path);
        return -1;
    }

    /* ---- everyone learns every symbol's metadata ---- */
    Meta *my = dl_calloc((size_t)(n_mine ? n_mine : 1), sizeof *my);
    for (int i = 0; i < n_mine; i++) {
        const LobSymbol *s = &mine[i];
        snprintf(my[i].symbol, sizeof my[i].symbol, "%s", s->symbol);
        my[i].n_rows = s->n_rows;
        my[i].n_segments = s->n_segments;
        my[i].start = s->time[0];
        my[i].end = s->time[s->n_rows - 1];
        my[i].n_horizons = s->n_horizons;
        my[i].owner = rank;
        for (int k = 0; k < s->n_horizons; k++) my[i].horizons[k] = s->horizons[k];
        for (int a = 0; a < n_attrs; a++) my[i].attr[a] = attr_values[(size_t)i * n_attrs + a];
        snprintf(my[i].provenance, sizeof my[i].provenance, "%s", provenance && provenance[i] ? provenance[i] : "");
    }
    int *counts = dl_calloc((size_t)size, sizeof *counts), *displs = dl_calloc((size_t)size, sizeof *displs);
    int mybytes = n_mine * (int)sizeof(Meta);
    MPI_Allgather(&mybytes, 1, MPI_INT, counts, 1, MPI_INT, comm);
    int total = 0;
    for (int r = 0; r < size; r++) { displs[r] = total; total += counts[r]; }
    int n_all = total / (int)sizeof(Meta);
    Meta *all = dl_calloc((size_t)(n_all ? n_all : 1), sizeof *all);
    MPI_Allgatherv(my, mybytes, MPI_BYTE, all, counts, displs, MPI_BYTE, comm);
    free(my);
    free(counts);
    free(displs);
    qsort(all, (size_t)n_all, sizeof *all, cmp_meta); /* same creation order on every rank */
    for (int i = 1; i < n_all; i++)
        if (!strcmp(all[i].symbol, all[i - 1].symbol)) {
            free(all);
            return dl_err(e, "%s: symbol %s given by two ranks", path, all[i].symbol);
        }

    /* ---- collective creation ---- */
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
    int rc = 0;
    rc |= h5u_attr_write_str(f, "/", "format", LOBDS_FORMAT, &e2);
    rc |= h5u_attr_write_i64(f, "/", "format_version", LOBDS_VERSION, &e2);
    rc |= h5u_attr_write_str(f, "/", "source", source, &e2);
    rc |= h5u_attr_write_str(f, "/", "created_by", "deeplob-mpi lobds writer (parallel)", &e2);
    rc |= h5u_attr_write_i64(f, "/", "symbols", n_all, &e2);
    hid_t g = H5Gcreate2(f, "/symbols", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc |= g < 0;
    if (g >= 0) H5Gclose(g);
    hid_t *ds = dl_calloc((size_t)(n_all ? n_all : 1) * 4, sizeof *ds); /* time, features, targets, segments */
    for (int i = 0; i < n_all && !rc; i++) {
        Meta *m = &all[i];
        char grp[96], obj[128];
        snprintf(grp, sizeof grp, "/symbols/%s", m->symbol);
        g = H5Gcreate2(f, grp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) { rc = 1; break; }
        H5Gclose(g);
        hsize_t d_t[1] = {(hsize_t)m->n_rows}, d_f[2] = {(hsize_t)m->n_rows, LOBDS_NFEAT},
                d_y[2] = {(hsize_t)m->n_rows, (hsize_t)m->n_horizons}, d_s[2] = {(hsize_t)m->n_segments, 2};
        snprintf(obj, sizeof obj, "%s/time", grp);
        ds[4 * i + 0] = create_ds(f, obj, H5T_STD_I64LE, 1, d_t);
        snprintf(obj, sizeof obj, "%s/features", grp);
        ds[4 * i + 1] = create_ds(f, obj, H5T_IEEE_F32LE, 2, d_f);
        snprintf(obj, sizeof obj, "%s/targets", grp);
        ds[4 * i + 2] = create_ds(f, obj, H5T_IEEE_F32LE, 2, d_y);
        snprintf(obj, sizeof obj, "%s/segments", grp);
        ds[4 * i + 3] = create_ds(f, obj, H5T_STD_I64LE, 2, d_s);
        for (int k = 0; k < 4; k++) rc |= ds[4 * i + k] < 0;
        rc |= h5u_attr_write_str(f, grp, "symbol", m->symbol, &e2);
        rc |= h5u_attr_write_str(f, grp, "source", source, &e2);
        rc |= h5u_attr_write_i64(f, grp, "levels", 10, &e2);
        rc |= h5u_attr_write_i64(f, grp, "start_time", m->start, &e2);
        rc |= h5u_attr_write_i64(f, grp, "end_time", m->end, &e2);
        rc |= h5u_attr_write_str(f, grp, "provenance", m->provenance, &e2);
        for (int a = 0; a < n_attrs; a++) rc |= h5u_attr_write_i64(f, grp, attr_names[a], m->attr[a], &e2);
        hsize_t K = (hsize_t)m->n_horizons;
        hid_t sp = H5Screate_simple(1, &K, NULL);
        hid_t at = H5Acreate_by_name(f, grp, "horizons", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        rc |= at < 0 || H5Awrite(at, H5T_NATIVE_INT32, m->horizons) < 0;
        if (at >= 0) H5Aclose(at);
        H5Sclose(sp);
    }
    /* creation failures are identical on every rank (same calls, same file): no deadlock */
    if (rc) dl_err(e, "%s: creating the dataset objects failed", tmp);

    /* ---- independent raw-data writes: each rank its own symbols ---- */
    int wfail = 0;
    for (int i = 0; i < n_all && !rc; i++) {
        if (all[i].owner != rank) continue;
        const LobSymbol *s = NULL;
        for (int j = 0; j < n_mine; j++)
            if (!strcmp(mine[j].symbol, all[i].symbol)) s = &mine[j];
        errno = 0;
        if (!s ||
            H5Dwrite(ds[4 * i + 0], H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->time) < 0 ||
            H5Dwrite(ds[4 * i + 1], H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->features) < 0 ||
            H5Dwrite(ds[4 * i + 2], H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->targets) < 0 ||
            H5Dwrite(ds[4 * i + 3], H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->segments) < 0) {
            wfail = 1;
            const char *why = h5u_io_reason(errno, tmp);
            dl_err(e, "%s: /symbols/%s: writing the data failed%s", tmp, all[i].symbol, why[0] ? why : " (disk full?)");
            break;
        }
    }
    for (int i = 0; i < 4 * n_all; i++)
        if (ds[i] > 0) H5Dclose(ds[i]);
    free(ds);
    free(all);
    if (h5u_close_file(f) < 0) wfail = 1;
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
