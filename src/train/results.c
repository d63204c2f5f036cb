/* results.c: results.h5 (HDF5, compound records), summary.csv, printed table. */
#include "train/results.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/backend.h"
#include "io/h5util.h"
#include "io/weights_h5.h"
#include "train/metrics.h"

#include <cJSON.h>

#ifndef DL_VERSION
#define DL_VERSION "unknown"
#endif
#ifndef DL_GIT_REV
#define DL_GIT_REV "unknown"
#endif

void results_utc_now(char buf[32]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- run directory ------------------------------------------------------------ */
static int mkdir_p(const char *path, DlErr *e) {
    char buf[4400];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return dl_err(e, "%s: cannot create: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return dl_err(e, "%s: cannot create: %s", buf, strerror(errno));
    return 0;
}

static int dir_is_empty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 1;
    struct dirent *de;
    int empty = 1;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) { empty = 0; break; }
    closedir(d);
    return empty;
}

/* delete only what a run writes: results.h5, summary.csv, config.json, checkpoints/<sym>.h5 */
static int clear_outputs(const char *dir, DlErr *e) {
    char p[4200];
    const char *files[] = {"results.h5", "results.h5.tmp", "summary.csv", "config.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (unlink(p) != 0 && errno != ENOENT) return dl_err(e, "%s: cannot delete: %s", p, strerror(errno));
    }
    snprintf(p, sizeof p, "%s/checkpoints", dir);
    DIR *d = opendir(p);
    if (!d) return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n > 3 && !strcmp(de->d_name + n - 3, ".h5")) {
            char f[4600];
            snprintf(f, sizeof f, "%s/%s", p, de->d_name);
            if (unlink(f) != 0) { closedir(d); return dl_err(e, "%s: cannot delete: %s", f, strerror(errno)); }
        }
    }
    closedir(d);
    return 0;
}

int results_prepare_run_dir(const char *dir, int resume, int force, DlErr *e) {
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) return dl_err(e, "%s: exists and is not a directory", dir);
        if (!dir_is_empty(dir)) {
            if (force) { if (clear_outputs(dir, e)) return -1; }
            else if (!resume)
                return dl_err(e, "%s: run directory exists; pass --resume to continue it, --force to "
                                 "start it over, or choose another run_name", dir);
        }
    }
    char ck[4200];
    snprintf(ck, sizeof ck, "%s/checkpoints", dir);
    return mkdir_p(ck, e);
}

/* ---- compound types ----------------------------------------------------------- */
typedef struct {
    int64_t n_rows, n_train, n_val, n_test, skipped_train, skipped_val, skipped_test;
    int64_t nan_targets_train, nan_targets_val, nan_targets_test, dropped_train, n_fit_rows;
    int64_t epochs_run, best_epoch, stopped_early, resumed_from;
    double best_val_loss, oracle_corr, wall_s, train_seconds, samples_per_s, target_mean, target_std;
} InfoRec;

typedef struct {
    char symbol[64];
    double oracle_corr, corr, corr_over_oracle, mae, rmse, r2, corr_smoothed;
    int64_t n_test, epochs_run, best_epoch;
    double wall_s, samples_per_s;
    int64_t status;
} SummaryRec;

typedef struct {
    char symbol[64];
    int64_t order, rank, windows;
    double start_s, end_s;
    int64_t ranks;
} SchedRec;

#define INS_I64(t, S, f) H5Tinsert(t, #f, HOFFSET(S, f), H5T_NATIVE_INT64)
#define INS_F64(t, S, f) H5Tinsert(t, #f, HOFFSET(S, f), H5T_NATIVE_DOUBLE)

static hid_t info_type(void) {
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(InfoRec));
    INS_I64(t, InfoRec, n_rows); INS_I64(t, InfoRec, n_train); INS_I64(t, InfoRec, n_val); INS_I64(t, InfoRec, n_test);
    INS_I64(t, InfoRec, skipped_train); INS_I64(t, InfoRec, skipped_val); INS_I64(t, InfoRec, skipped_test);
    INS_I64(t, InfoRec, nan_targets_train); INS_I64(t, InfoRec, nan_targets_val); INS_I64(t, InfoRec, nan_targets_test);
    INS_I64(t, InfoRec, dropped_train); INS_I64(t, InfoRec, n_fit_rows); INS_I64(t, InfoRec, epochs_run);
    INS_I64(t, InfoRec, best_epoch); INS_I64(t, InfoRec, stopped_early); INS_I64(t, InfoRec, resumed_from);
    INS_F64(t, InfoRec, best_val_loss); INS_F64(t, InfoRec, oracle_corr); INS_F64(t, InfoRec, wall_s);
    INS_F64(t, InfoRec, train_seconds); INS_F64(t, InfoRec, samples_per_s); INS_F64(t, InfoRec, target_mean);
    INS_F64(t, InfoRec, target_std);
    return t;
}

hid_t results_metrics_type(void) {
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(Metrics));
    INS_I64(t, Metrics, n); INS_F64(t, Metrics, corr); INS_F64(t, Metrics, mae);
    INS_F64(t, Metrics, rmse); INS_F64(t, Metrics, r2);
    return t;
}

static hid_t history_type(void) {
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(EpochRecord));
    H5Tinsert(t, "epoch", HOFFSET(EpochRecord, epoch), H5T_NATIVE_INT);
    INS_F64(t, EpochRecord, train_loss); INS_F64(t, EpochRecord, val_loss); INS_F64(t, EpochRecord, lr);
    INS_F64(t, EpochRecord, grad_norm); INS_F64(t, EpochRecord, seconds); INS_F64(t, EpochRecord, samples_per_s);
    return t;
}

/* a fixed-size UTF-8 string member */
static void insert_str(hid_t t, const char *name, size_t off, size_t size) {
    hid_t s = H5Tcopy(H5T_C_S1);
    H5Tset_size(s, size);
    H5Tset_cset(s, H5T_CSET_UTF8);
    H5Tinsert(t, name, off, s);
    H5Tclose(s);
}

/* the 64-byte UTF-8 symbol member of /summary and /schedule */
static void insert_symbol(hid_t t, size_t off) { insert_str(t, "symbol", off, 64); }

hid_t results_status_type(void) {
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(ResultsStatus));
    INS_I64(t, ResultsStatus, code);
    insert_str(t, "message", HOFFSET(ResultsStatus, message), SYM_STATUS_LEN);
    return t;
}

static hid_t sched_type(void) {
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(SchedRec));
    insert_symbol(t, HOFFSET(SchedRec, symbol));
    INS_I64(t, SchedRec, order); INS_I64(t, SchedRec, rank); INS_I64(t, SchedRec, windows);
    INS_F64(t, SchedRec, start_s); INS_F64(t, SchedRec, end_s); INS_I64(t, SchedRec, ranks);
    return t;
}

static hid_t summary_type(void) {
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(SummaryRec));
    insert_symbol(t, HOFFSET(SummaryRec, symbol));
    INS_F64(t, SummaryRec, oracle_corr); INS_F64(t, SummaryRec, corr); INS_F64(t, SummaryRec, corr_over_oracle);
    INS_F64(t, SummaryRec, mae); INS_F64(t, SummaryRec, rmse); INS_F64(t, SummaryRec, r2);
    INS_F64(t, SummaryRec, corr_smoothed); INS_I64(t, SummaryRec, n_test); INS_I64(t, SummaryRec, epochs_run);
    INS_I64(t, SummaryRec, best_epoch); INS_F64(t, SummaryRec, wall_s); INS_F64(t, SummaryRec, samples_per_s);
    INS_I64(t, SummaryRec, status);
    return t;
}

/* create + write a compound dataset of n records (rank 0 = scalar when n == 0) */
/* ---- manifest ----------------------------------------------------------------- */
int results_write_manifest(hid_t f, const TrainConfig *cfg, const RunInfo *ri, DlErr *e) {
    char *cj = config_to_json(cfg);
    char ver[64];
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    snprintf(ver, sizeof ver, "%u.%u.%u", maj, min, rel);
    int mv = 0, msv = 0;
    MPI_Get_version(&mv, &msv);
    char mpistd[32];
    snprintf(mpistd, sizeof mpistd, "%d.%d", mv, msv);
    int rc = h5u_attr_write_str(f, ".", "format", RESULTS_FORMAT, e) ||
             h5u_attr_write_i64(f, ".", "format_version", RESULTS_VERSION, e) ||
             h5u_attr_write_str(f, ".", "created_by", "deeplob_mpi " DL_VERSION, e) ||
             h5u_attr_write_str(f, ".", "git_revision", DL_GIT_REV, e) ||
             h5u_attr_write_str(f, ".", "run_name", cfg->run_name, e) ||
             h5u_attr_write_str(f, ".", "config", cj, e) ||
             h5u_attr_write_i64(f, ".", "seed", (int64_t)cfg->seed, e) ||
             h5u_attr_write_str(f, ".", "model", cfg->model, e) ||
             h5u_attr_write_i64(f, ".", "horizon", cfg->horizon, e) ||
             h5u_attr_write_f64(f, ".", "ema_alpha", cfg->ema_alpha, e) ||
             h5u_attr_write_str(f, ".", "dataset", cfg->dataset, e) ||
             h5u_attr_write_i64(f, ".", "ranks", ri->ranks, e) ||
             h5u_attr_write_str(f, ".", "hosts", ri->hosts, e) ||
             h5u_attr_write_str(f, ".", "start_time", ri->start_time, e) ||
             h5u_attr_write_str(f, ".", "end_time", ri->end_time, e) ||
             h5u_attr_write_str(f, ".", "hdf5_version", ver, e) ||
             h5u_attr_write_str(f, ".", "mpi_version", ri->mpi_version, e) ||
             h5u_attr_write_str(f, ".", "mpi_standard", mpistd, e) ||
             h5u_attr_write_str(f, ".", "cjson_version", cJSON_Version(), e) ||
             h5u_attr_write_str(f, ".", "openblas_config", openblas_get_config(), e);
    free(cj);
    return rc ? -1 : 0;
}

/* ---- parallel results file ---------------------------------------------------- */
/* every rank's flag -> the same answer everywhere (before and after collective steps) */
static int any_failed(int mine, MPI_Comm comm) {
    int any = 0;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);
    return any;
}

/* collective creation of one dataset; early allocation (parallel HDF5's rule),
 * no fill except where asked: every byte is written before the file is renamed */
static _Thread_local int g_wr_errno;
static hid_t create_ds(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims, int fill_zero) {
    hid_t s = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_time(dcpl, fill_zero ? H5D_FILL_TIME_ALLOC : H5D_FILL_TIME_NEVER);
    errno = 0;
    hid_t d = H5Dcreate2(loc, name, type, s, lcpl, dcpl, H5P_DEFAULT);
    if (d < 0 && !g_wr_errno) g_wr_errno = errno; /* early allocation: a full disk shows here */
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(s);
    return d;
}

static void close_all(ResultsFile *rf) {
    for (int i = 0; rf->ds && i < rf->n * rf->stride; i++)
        if (rf->ds[i] >= 0) H5Dclose(rf->ds[i]);
    free(rf->ds);
    rf->ds = NULL;
    if (rf->summary >= 0) H5Dclose(rf->summary);
    if (rf->schedule >= 0) H5Dclose(rf->schedule);
    rf->summary = rf->schedule = -1;
    h5u_close_file(rf->file);
    rf->file = -1;
}

/* one symbol's objects; identical calls on every rank */
static int create_symbol(ResultsFile *rf, int i, const char *name, int64_t n_rows, const TrainConfig *cfg,
                         const Model *m, hid_t ti, hid_t tm, hid_t th) {
    char g[128];
    snprintf(g, sizeof g, "symbols/%s", name);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t grp = H5Gcreate2(rf->file, g, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (grp < 0) return -1;
    DlErr e2;
    int bad = h5u_attr_write_str(grp, ".", "symbol", name, &e2) || h5u_attr_write_str(grp, ".", "model", cfg->model, &e2) ||
              h5u_attr_write_i64(grp, ".", "horizon", cfg->horizon, &e2);
    int64_t b[4];
    b[2] = (n_rows * 4) / 5;   /* test split start: dataset_split_bounds */
    hsize_t nt = (hsize_t)(n_rows - b[2]), nf = LOBDS_NFEAT, ne = (hsize_t)cfg->epochs;
    const int smooth = cfg->ema_alpha > 0, two = rf->n_heads > 1;
    hid_t *d = rf->ds + (size_t)i * rf->stride;
    d[RD_INFO] = create_ds(grp, "info", ti, 0, NULL, 0);
    d[RD_METRICS_RAW] = create_ds(grp, "metrics_raw", tm, 0, NULL, 0);
    if (smooth) d[RD_METRICS_SMOOTH] = create_ds(grp, "metrics_smoothed", tm, 0, NULL, 0);
    d[RD_HISTORY] = create_ds(grp, "history", th, 1, &ne, 0);
    d[RD_TIME] = create_ds(grp, "test/time", H5T_STD_I64LE, 1, &nt, 0);
    d[RD_PRED] = create_ds(grp, "test/pred", H5T_IEEE_F32LE, 1, &nt, 0);
    d[RD_TARGET_RAW] = create_ds(grp, "test/target_raw", H5T_IEEE_F32LE, 1, &nt, 0);
    if (smooth) d[RD_TARGET_SMOOTH] = create_ds(grp, "test/target_smoothed", H5T_IEEE_F32LE, 1, &nt, 0);
    d[RD_FEAT_MEAN] = create_ds(grp, "norm/feature_mean", H5T_IEEE_F64LE, 1, &nf, 0);
    d[RD_FEAT_STD] = create_ds(grp, "norm/feature_std", H5T_IEEE_F64LE, 1, &nf, 0);
    /* volume_features "log": x -> log1p(x / c_f) before the z-score; c_f = 0: raw */
    d[RD_VOL_SCALE] = create_ds(grp, "norm/volume_scale", H5T_IEEE_F64LE, 1, &nf, 0);
    if (two) {
        bad |= h5u_attr_write_i64(grp, ".", "horizon2", cfg->horizon2, &e2);
        d[RD_H2_METRICS_RAW] = create_ds(grp, "head2/metrics_raw", tm, 0, NULL, 0);
        if (smooth) d[RD_H2_METRICS_SMOOTH] = create_ds(grp, "head2/metrics_smoothed", tm, 0, NULL, 0);
        d[RD_H2_PRED] = create_ds(grp, "head2/test/pred", H5T_IEEE_F32LE, 1, &nt, 0);
        d[RD_H2_TARGET_RAW] = create_ds(grp, "head2/test/target_raw", H5T_IEEE_F32LE, 1, &nt, 0);
        if (smooth) d[RD_H2_TARGET_SMOOTH] = create_ds(grp, "head2/test/target_smoothed", H5T_IEEE_F32LE, 1, &nt, 0);
        d[RD_H2_ORACLE] = create_ds(grp, "head2/oracle_corr", H5T_IEEE_F64LE, 0, NULL, 0);
        d[RD_H2_MEAN] = create_ds(grp, "head2/target_mean", H5T_IEEE_F64LE, 0, NULL, 0);
        d[RD_H2_STD] = create_ds(grp, "head2/target_std", H5T_IEEE_F64LE, 0, NULL, 0);
    }
    for (int k = 0; k < m->n_entries; k++) {
        const ParamEntry *p = &m->entries[k];
        char wn[128];
        snprintf(wn, sizeof wn, "weights/%s", p->name);
        hsize_t dims[4];
        for (int j = 0; j < p->ndim; j++) dims[j] = (hsize_t)p->shape[j];
        d[RD_N + k] = p->kind == PT_COUNTER ? create_ds(grp, wn, H5T_STD_I64LE, 0, NULL, 0)
                                            : create_ds(grp, wn, H5T_IEEE_F32LE, p->ndim, dims, 0);
        bad |= d[RD_N + k] < 0;
    }
    {
        hid_t tst = results_status_type();
        d[RD_STATUS] = create_ds(grp, "status", tst, 0, NULL, 0);
        H5Tclose(tst);
    }
    /* 0 until the owner writes 1 after everything else */
    d[RD_COMPLETE] = create_ds(grp, "complete", H5T_STD_I64LE, 0, NULL, 1);
    for (int k = 0; k < RD_N; k++) {
        const int h2 = k >= RD_H2_METRICS_RAW && k <= RD_H2_STD;
        const int sm = k == RD_METRICS_SMOOTH || k == RD_TARGET_SMOOTH || k == RD_H2_METRICS_SMOOTH || k == RD_H2_TARGET_SMOOTH;
        if ((!h2 || two) && (!sm || smooth)) bad |= d[k] < 0;
    }
    H5Gclose(grp);
    return bad ? -1 : 0;
}

int results_par_create(ResultsFile *rf, const char *path, MPI_Comm comm, const TrainConfig *cfg,
                       const char *const *names, const int64_t *n_rows, int n, DlErr *e) {
    memset(rf, 0, sizeof *rf);
    rf->file = rf->summary = rf->schedule = -1;
    rf->comm = comm;
    rf->n = n;
    rf->epochs = cfg->epochs;
    snprintf(rf->path, sizeof rf->path, "%s", path);
    snprintf(rf->tmp, sizeof rf->tmp, "%s.tmp", path);
    h5u_quiet();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
    rf->file = H5Fcreate(rf->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (any_failed(rf->file < 0, comm)) {
        h5u_close_file(rf->file);
        rf->file = -1;
        return dl_err(e, "%s: cannot create with MPI-IO (directory missing or not writable?)", rf->tmp);
    }
    Model *m = model_create(trainer_model_config(cfg), 1, backend_cpu());
    rf->stride = RD_N + m->n_entries;
    rf->n_heads = m->n_out;
    rf->ds = dl_malloc(sizeof(hid_t) * ((size_t)n * rf->stride + 1));
    for (int i = 0; i < n * rf->stride; i++) rf->ds[i] = -1;
    hid_t ti = info_type(), tm = results_metrics_type(), th = history_type(), ts = summary_type(), tg = sched_type();
    int bad = 0;
    for (int i = 0; i < n && !bad; i++) bad = create_symbol(rf, i, names[i], n_rows[i], cfg, m, ti, tm, th) != 0;
    if (!bad) {
        hsize_t ns = (hsize_t)n;
        rf->summary = create_ds(rf->file, "summary", ts, 1, &ns, 0);
        rf->schedule = create_ds(rf->file, "schedule", tg, 1, &ns, 0);
        bad = rf->summary < 0 || rf->schedule < 0;
    }
    H5Tclose(ti); H5Tclose(tm); H5Tclose(th); H5Tclose(ts); H5Tclose(tg);
    model_free(m);
    /* creation is the same sequence of calls on every rank: failures agree, but say so anyway */
    if (any_failed(bad, comm)) {
        close_all(rf);
        int rank;
        MPI_Comm_rank(comm, &rank);
        if (rank == 0) unlink(rf->tmp);
        const char *why = h5u_io_reason(g_wr_errno, rf->tmp);
        g_wr_errno = 0;
        return dl_err(e, "%s: creating the results objects failed%s", rf->tmp, why);
    }
    return 0;
}

/* g_wr_errno: errno of the first failed create/write (MPI-IO's drivers leave no system
 * message in HDF5's error stack) */
static int wr(hid_t d, hid_t mt, const void *buf) {
    errno = 0;
    if (d >= 0 && H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        if (!g_wr_errno) g_wr_errno = errno;
        return 1;
    }
    return 0;
}

int results_par_write_symbol(ResultsFile *rf, int i, const SymbolResult *r, const TrainConfig *cfg, DlErr *e) {
    if (i < 0 || i >= rf->n) return dl_err(e, "%s: symbol index %d out of range", rf->tmp, i);
    hid_t *d = rf->ds + (size_t)i * rf->stride;
    InfoRec info = {r->n_rows, r->n_samples[0], r->n_samples[1], r->n_samples[2], r->skipped[0], r->skipped[1],
                    r->skipped[2], r->nan_targets[0], r->nan_targets[1], r->nan_targets[2], r->dropped_train,
                    r->n_fit_rows, r->epochs_run, r->best_epoch, r->stopped_early, r->resumed_from,
                    r->best_val_loss, r->oracle_corr, r->wall_s, r->train_seconds, r->samples_per_s, r->y_mu, r->y_sd};
    hid_t ti = info_type(), tm = results_metrics_type(), th = history_type();
    /* history has room for every epoch; rows past epochs_run keep epoch 0 and NaN */
    EpochRecord *hist = dl_malloc(sizeof(EpochRecord) * ((size_t)rf->epochs + 1));
    for (int k = 0; k < rf->epochs; k++)
        hist[k] = k < r->epochs_run ? r->history[k] : (EpochRecord){0, NAN, NAN, NAN, NAN, NAN, NAN};
    hssize_t nt = -1;
    {
        hid_t s = H5Dget_space(d[RD_PRED]);
        nt = H5Sget_simple_extent_npoints(s);
        H5Sclose(s);
    }
    const int heads = r->n_heads > 1 ? 2 : 1;
    int bad = nt != r->n_test_rows || heads != rf->n_heads;
    if (bad) dl_err(e, "%s: symbol %s: %lld test rows and %d head(s), the layout has %lld and %d", rf->tmp,
                    r->symbol, (long long)r->n_test_rows, heads, (long long)nt, rf->n_heads);
    if (!bad)
        bad = wr(d[RD_INFO], ti, &info) || wr(d[RD_METRICS_RAW], tm, &r->test_raw) ||
              wr(d[RD_METRICS_SMOOTH], tm, &r->test_smooth) || wr(d[RD_HISTORY], th, hist) ||
              (nt > 0 && (wr(d[RD_TIME], H5T_NATIVE_INT64, r->test_time) || wr(d[RD_PRED], H5T_NATIVE_FLOAT, r->test_pred) ||
                          wr(d[RD_TARGET_RAW], H5T_NATIVE_FLOAT, r->test_target_raw) ||
                          wr(d[RD_TARGET_SMOOTH], H5T_NATIVE_FLOAT, r->test_target_smooth))) ||
              wr(d[RD_FEAT_MEAN], H5T_NATIVE_DOUBLE, r->feat_mean) || wr(d[RD_FEAT_STD], H5T_NATIVE_DOUBLE, r->feat_std) ||
              wr(d[RD_VOL_SCALE], H5T_NATIVE_DOUBLE, r->feat_vol_scale);
    if (!bad && heads > 1)   /* head 2: absent slots are -1 and skipped by wr */
        bad = wr(d[RD_H2_METRICS_RAW], tm, &r->test_raw2) || wr(d[RD_H2_METRICS_SMOOTH], tm, &r->test_smooth2) ||
              (nt > 0 && (wr(d[RD_H2_PRED], H5T_NATIVE_FLOAT, r->test_pred2) ||
                          wr(d[RD_H2_TARGET_RAW], H5T_NATIVE_FLOAT, r->test_target_raw2) ||
                          wr(d[RD_H2_TARGET_SMOOTH], H5T_NATIVE_FLOAT, r->test_target_smooth2))) ||
              wr(d[RD_H2_ORACLE], H5T_NATIVE_DOUBLE, &r->oracle_corr2) || wr(d[RD_H2_MEAN], H5T_NATIVE_DOUBLE, &r->y_mu2) ||
              wr(d[RD_H2_STD], H5T_NATIVE_DOUBLE, &r->y_sd2);
    free(hist);
    H5Tclose(ti); H5Tclose(tm); H5Tclose(th);
    if (!bad) {
        /* best weights in PyTorch layout, one tensor at a time */
        Model *m = symbol_result_model(r, cfg);
        size_t maxn = 1;
        for (int k = 0; k < m->n_entries; k++)
            if (m->entries[k].numel > maxn) maxn = m->entries[k].numel;
        float *tmp = dl_malloc(maxn * sizeof(float));
        for (int k = 0; k < m->n_entries && !bad; k++) {
            const ParamEntry *p = &m->entries[k];
            if (p->kind == PT_COUNTER) { bad = wr(d[RD_N + k], H5T_NATIVE_INT64, p->counter); continue; }
            weights_to_torch(p, p->data, tmp);
            bad = wr(d[RD_N + k], H5T_NATIVE_FLOAT, tmp);
        }
        free(tmp);
        model_free(m);
    }
    if (!bad) {
        ResultsStatus st = {r->status, ""};
        snprintf(st.message, sizeof st.message, "%s", r->status_msg);
        hid_t tst = results_status_type();
        bad = wr(d[RD_STATUS], tst, &st);
        H5Tclose(tst);
    }
    const int64_t one = 1;
    if (!bad) bad = wr(d[RD_COMPLETE], H5T_NATIVE_INT64, &one);   /* last: the completion mark */
    if (bad && nt == r->n_test_rows && heads == rf->n_heads) {
        const char *why = h5u_io_reason(g_wr_errno, rf->tmp);
        g_wr_errno = 0;
        dl_err(e, "%s: symbol %s: writing its results failed%s", rf->tmp, r->symbol, why[0] ? why : " (disk full?)");
    }
    return bad ? -1 : 0;
}

static void summary_rec(SummaryRec *s, const SymbolResult *r) {
    memset(s, 0, sizeof *s);
    snprintf(s->symbol, sizeof s->symbol, "%s", r->symbol);
    s->oracle_corr = r->oracle_corr;
    s->corr = r->test_raw.corr;
    s->corr_over_oracle = r->test_raw.corr / r->oracle_corr;
    s->mae = r->test_raw.mae;
    s->rmse = r->test_raw.rmse;
    s->r2 = r->test_raw.r2;
    s->corr_smoothed = r->has_smooth ? r->test_smooth.corr : NAN;
    s->n_test = r->test_raw.n;
    s->epochs_run = r->epochs_run;
    s->best_epoch = r->best_epoch;
    s->wall_s = r->wall_s;
    s->samples_per_s = r->samples_per_s;
    s->status = r->status;
}

/* rank 0: /summary and /schedule, one row per symbol */
static int write_tables(ResultsFile *rf, const SymbolResult *rs, const ResultsSchedRow *sched, DlErr *e) {
    SummaryRec *v = dl_calloc((size_t)rf->n, sizeof(SummaryRec));
    SchedRec *g = dl_calloc((size_t)rf->n, sizeof(SchedRec));
    for (int i = 0; i < rf->n; i++) {
        summary_rec(&v[i], &rs[i]);
        g[i] = (SchedRec){.order = sched[i].order, .rank = sched[i].rank, .windows = sched[i].windows,
                          .start_s = sched[i].start_s, .end_s = sched[i].end_s,
                          .ranks = sched[i].ranks > 0 ? sched[i].ranks : 1};
        snprintf(g[i].symbol, sizeof g[i].symbol, "%s", rs[i].symbol);
    }
    hid_t t = summary_type(), tg = sched_type();
    int bad = wr(rf->summary, t, v) || wr(rf->schedule, tg, g);
    H5Tclose(t);
    H5Tclose(tg);
    free(v);
    free(g);
    return bad ? dl_err(e, "cannot write /summary and /schedule") : 0;
}

int results_par_finish(ResultsFile *rf, int ok, const TrainConfig *cfg, const RunInfo *ri,
                       const SymbolResult *rs, const ResultsSchedRow *sched, DlErr *e) {
    int rank;
    MPI_Comm_rank(rf->comm, &rank);
    int bad = 0;
    DlErr e2 = {{0}};
    if (ok) {
        bad = results_write_manifest(rf->file, cfg, ri, &e2) != 0;   /* collective: same values everywhere */
        if (rank == 0 && !bad && rf->n > 0) bad = write_tables(rf, rs, sched, &e2) != 0;
    }
    if (rf->file >= 0) {
        for (int i = 0; i < rf->n * rf->stride; i++)
            if (rf->ds[i] >= 0) H5Dclose(rf->ds[i]);
        free(rf->ds);
        rf->ds = NULL;
        if (rf->summary >= 0) H5Dclose(rf->summary);
        if (rf->schedule >= 0) H5Dclose(rf->schedule);
        rf->summary = rf->schedule = -1;
        if (h5u_close_file(rf->file) < 0 && !bad) { bad = 1; dl_err(&e2, "closing failed%s", h5u_io_reason(errno, rf->tmp)); }
        rf->file = -1;
    }
    int failed = any_failed(bad, rf->comm);
    if (ok && !failed && rank == 0) failed = dl_commit_file(rf->tmp, rf->path, &e2) != 0;
    MPI_Bcast(&failed, 1, MPI_INT, 0, rf->comm);
    if (failed || !ok) {
        if (rank == 0) unlink(rf->tmp);
        if (failed) return dl_err(e, "%s: %s", rf->path, e2.msg[0] ? e2.msg : "another rank failed while finishing");
    }
    return 0;
}
