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

#include "io/h5util.h"
#include "io/weights_h5.h"
#include "train/metrics.h"

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
    const char *files[] = {"results.h5", "summary.csv", "config.json"};
    for (int i = 0; i < 3; i++) {
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
} SummaryRec;

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

static hid_t metrics_type(void) {
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

static hid_t summary_type(void) {
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(SummaryRec));
    hid_t s = H5Tcopy(H5T_C_S1);
    H5Tset_size(s, 64);
    H5Tset_cset(s, H5T_CSET_UTF8);
    H5Tinsert(t, "symbol", HOFFSET(SummaryRec, symbol), s);
    H5Tclose(s);
    INS_F64(t, SummaryRec, oracle_corr); INS_F64(t, SummaryRec, corr); INS_F64(t, SummaryRec, corr_over_oracle);
    INS_F64(t, SummaryRec, mae); INS_F64(t, SummaryRec, rmse); INS_F64(t, SummaryRec, r2);
    INS_F64(t, SummaryRec, corr_smoothed); INS_I64(t, SummaryRec, n_test); INS_I64(t, SummaryRec, epochs_run);
    INS_I64(t, SummaryRec, best_epoch); INS_F64(t, SummaryRec, wall_s); INS_F64(t, SummaryRec, samples_per_s);
    return t;
}

/* create + write a compound dataset of n records (rank 0 = scalar when n == 0) */
static int write_compound(hid_t loc, const char *name, hid_t type, const void *buf, hsize_t n, int scalar, DlErr *e) {
    hid_t s = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(loc, name, type, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (d < 0) rc = dl_err(e, "cannot create dataset '%s'", name);
    else if ((scalar || n > 0) && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = dl_err(e, "cannot write dataset '%s'", name);
    if (d >= 0) H5Dclose(d);
    H5Pclose(lcpl);
    H5Sclose(s);
    return rc;
}

/* ---- writers ------------------------------------------------------------------ */
int results_write_manifest(hid_t f, const TrainConfig *cfg, const RunInfo *ri, DlErr *e) {
    char *cj = config_to_json(cfg);
    char ver[64];
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    snprintf(ver, sizeof ver, "%u.%u.%u", maj, min, rel);
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
             h5u_attr_write_str(f, ".", "openblas_config", openblas_get_config(), e);
    free(cj);
    return rc ? -1 : 0;
}

int results_write_symbol(hid_t f, const SymbolResult *r, const TrainConfig *cfg, DlErr *e) {
    char g[128];
    snprintf(g, sizeof g, "symbols/%s", r->symbol);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t grp = H5Gcreate2(f, g, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (grp < 0) return dl_err(e, "cannot create group '/%s'", g);
    int rc = -1;
    if (h5u_attr_write_str(grp, ".", "symbol", r->symbol, e) || h5u_attr_write_str(grp, ".", "model", cfg->model, e) ||
        h5u_attr_write_i64(grp, ".", "horizon", cfg->horizon, e))
        goto done;
    InfoRec info = {r->n_rows, r->n_samples[0], r->n_samples[1], r->n_samples[2], r->skipped[0], r->skipped[1],
                    r->skipped[2], r->nan_targets[0], r->nan_targets[1], r->nan_targets[2], r->dropped_train,
                    r->n_fit_rows, r->epochs_run, r->best_epoch, r->stopped_early, r->resumed_from,
                    r->best_val_loss, r->oracle_corr, r->wall_s, r->train_seconds, r->samples_per_s, r->y_mu, r->y_sd};
    hid_t ti = info_type(), tm = metrics_type(), th = history_type();
    /* history has room for every epoch; rows past epochs_run keep epoch 0 and NaN */
    EpochRecord *hist = dl_malloc(sizeof(EpochRecord) * ((size_t)cfg->epochs + 1));
    for (int i = 0; i < cfg->epochs; i++)
        hist[i] = i < r->epochs_run ? r->history[i] : (EpochRecord){0, NAN, NAN, NAN, NAN, NAN, NAN};
    int w = write_compound(grp, "info", ti, &info, 0, 1, e) || write_compound(grp, "metrics_raw", tm, &r->test_raw, 0, 1, e) ||
            (r->has_smooth && write_compound(grp, "metrics_smoothed", tm, &r->test_smooth, 0, 1, e)) ||
            write_compound(grp, "history", th, hist, (hsize_t)cfg->epochs, 0, e);
    free(hist);
    H5Tclose(ti); H5Tclose(tm); H5Tclose(th);
    if (w) goto done;
    hsize_t nt = (hsize_t)r->n_test_rows, nf = LOBDS_NFEAT;
    if (h5u_write_i64(grp, "test/time", r->test_time, 1, &nt, e) || h5u_write_f32(grp, "test/pred", r->test_pred, 1, &nt, e) ||
        h5u_write_f32(grp, "test/target_raw", r->test_target_raw, 1, &nt, e) ||
        (r->has_smooth && h5u_write_f32(grp, "test/target_smoothed", r->test_target_smooth, 1, &nt, e)) ||
        h5u_write_f64(grp, "norm/feature_mean", r->feat_mean, 1, &nf, e) ||
        h5u_write_f64(grp, "norm/feature_std", r->feat_std, 1, &nf, e))
        goto done;
    {
        Model *m = symbol_result_model(r, cfg);
        hid_t wg = H5Gcreate2(grp, "weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        int bad = wg < 0 || weights_save_h5(m, wg, e);
        if (wg >= 0) H5Gclose(wg);
        model_free(m);
        if (bad) goto done;
    }
    int64_t one = 1;
    if (h5u_write_i64(grp, "complete", &one, 0, NULL, e)) goto done;   /* last: the completion mark */
    rc = 0;
done:
    H5Gclose(grp);
    if (rc) {
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        dl_err(e, "symbol %s: %s", r->symbol, msg);
    }
    return rc;
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
}

int results_write_summary(hid_t f, const SymbolResult *rs, int n, DlErr *e) {
    SummaryRec *v = dl_calloc((size_t)n + 1, sizeof(SummaryRec));
    for (int i = 0; i < n; i++) summary_rec(&v[i], &rs[i]);
    hid_t t = summary_type();
    int rc = write_compound(f, "summary", t, v, (hsize_t)n, 0, e);
    H5Tclose(t);
    free(v);
    return rc;
}

int results_write_file(const char *path, const TrainConfig *cfg, const RunInfo *ri,
                       const SymbolResult *rs, int n, DlErr *e) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    h5u_quiet();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return dl_err(e, "%s: cannot create", tmp);
    int rc = results_write_manifest(f, cfg, ri, e);
    for (int i = 0; i < n && !rc; i++) rc = results_write_symbol(f, &rs[i], cfg, e);
    if (!rc) rc = results_write_summary(f, rs, n, e);
    if (H5Fclose(f) < 0 && !rc) rc = dl_err(e, "closing failed");
    if (!rc) rc = dl_commit_file(tmp, path, e);
    if (rc) {
        char msg[sizeof e->msg];
        snprintf(msg, sizeof msg, "%s", e->msg);
        dl_err(e, "%s: %s", path, msg);
        unlink(tmp);
    }
    return rc;
}

/* ---- text outputs ------------------------------------------------------------- */
int results_write_csv(const char *path, const SymbolResult *rs, int n, DlErr *e) {
    size_t cap = 4096 + (size_t)n * 512, len = 0;
    char *buf = dl_malloc(cap);
    len += (size_t)snprintf(buf + len, cap - len,
                            "symbol,oracle_corr,corr,corr_over_oracle,mae_bps,rmse_bps,r2,corr_smoothed,mae_smoothed,"
                            "rmse_smoothed,r2_smoothed,n_train,n_val,n_test,skipped_windows,epochs,best_epoch,"
                            "best_val_loss,wall_s,samples_per_s\n");
    for (int i = 0; i < n; i++) {
        const SymbolResult *r = &rs[i];
        double nan = NAN;
        const Metrics *s = &r->test_smooth;
        len += (size_t)snprintf(buf + len, cap - len,
                                "\"%s\",%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%lld,%lld,%lld,%lld,%d,%d,%.6g,%.3f,%.1f\n",
                                r->symbol, r->oracle_corr, r->test_raw.corr, r->test_raw.corr / r->oracle_corr,
                                r->test_raw.mae, r->test_raw.rmse, r->test_raw.r2, r->has_smooth ? s->corr : nan,
                                r->has_smooth ? s->mae : nan, r->has_smooth ? s->rmse : nan, r->has_smooth ? s->r2 : nan,
                                (long long)r->n_samples[0], (long long)r->n_samples[1], (long long)r->n_samples[2],
                                (long long)(r->skipped[0] + r->skipped[1] + r->skipped[2]), r->epochs_run, r->best_epoch,
                                r->best_val_loss, r->wall_s, r->samples_per_s);
    }
    int rc = dl_write_file_atomic(path, buf, len, e);
    free(buf);
    return rc;
}

void results_print_table(FILE *f, const SymbolResult *rs, int n) {
    int smooth = n > 0 && rs[0].has_smooth;
    fprintf(f, "\n%-14s %7s %7s %6s %9s %9s %8s %s%6s %5s %9s %10s\n", "symbol", "oracle", "corr", "ratio", "MAE_bps",
            "RMSE_bps", "R2", smooth ? "corr_smoothed " : "", "epochs", "best", "n_test", "samples/s");
    double *corr = dl_malloc(sizeof(double) * ((size_t)n + 1)), *ratio = dl_malloc(sizeof(double) * ((size_t)n + 1));
    for (int i = 0; i < n; i++) {
        const SymbolResult *r = &rs[i];
        corr[i] = r->test_raw.corr;
        ratio[i] = r->test_raw.corr / r->oracle_corr;
        fprintf(f, "%-14s %7.4f %7.4f %6.3f %9.4f %9.4f %8.4f ", r->symbol, r->oracle_corr, corr[i], ratio[i],
                r->test_raw.mae, r->test_raw.rmse, r->test_raw.r2);
        if (smooth) fprintf(f, "%13.4f ", r->test_smooth.corr);
        fprintf(f, "%6d %5d %9lld %10.1f\n", r->epochs_run, r->best_epoch, (long long)r->test_raw.n, r->samples_per_s);
    }
    Aggregate ac, ar;
    metrics_aggregate(&ac, corr, n);
    metrics_aggregate(&ar, ratio, n);
    fprintf(f, "\ntest correlation (raw targets) over %d symbols: mean %.4f  median %.4f  std %.4f (sample, n-1)"
               "  min %.4f  max %.4f\n", ac.n, ac.mean, ac.median, ac.std, ac.min, ac.max);
    if (ar.n > 0)
        fprintf(f, "correlation / oracle: mean %.3f  median %.3f  min %.3f\n", ar.mean, ar.median, ar.min);
    int top[5];
    int k = metrics_top_k(top, corr, n, 5);
    fprintf(f, "top %d by correlation:", k);
    for (int i = 0; i < k; i++) fprintf(f, " %s (%.4f)%s", rs[top[i]].symbol, corr[top[i]], i + 1 < k ? "," : "");
    fprintf(f, "\n");
    if (smooth)
        fprintf(f, "(corr_smoothed: against EMA-smoothed test targets, for comparison with the seed's table only)\n");
    fflush(f);
    free(corr);
    free(ratio);
}
