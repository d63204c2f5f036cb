/* report_data.c: results.h5 -> ReportRun (see report.h). Serial HDF5 (no MPI-IO),
 * compound members read by name, so files that carry more members still read. */
#include "report/report.h"

#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5util.h"
#include "train/metrics.h"
#include "train/results.h"

#define RESULTS_FORMAT_NAME "deeplob-mpi results"
#define MMF_FORMAT_NAME "deeplob-mpi MMF results"
static const char *const mmf_models[3] = {"lstm", "xgboost", "zero"}; /* mmf_study.c's groups */

/* the members the report reads; the file's records have more */
typedef struct { int64_t epochs_run, best_epoch; double oracle_corr, wall_s, samples_per_s; } InfoPart;
typedef struct { double train_loss, val_loss, lr; } HistPart;
typedef struct { char symbol[64]; int64_t order, rank, windows; double start_s, end_s; int64_t ranks; } SchedPart;

#define MEM_I64(t, S, f) H5Tinsert(t, #f, HOFFSET(S, f), H5T_NATIVE_INT64)
#define MEM_F64(t, S, f) H5Tinsert(t, #f, HOFFSET(S, f), H5T_NATIVE_DOUBLE)

static hid_t str64(void) {
    hid_t s = H5Tcopy(H5T_C_S1);
    H5Tset_size(s, 64);
    H5Tset_cset(s, H5T_CSET_UTF8);
    return s;
}

/* a compound dataset of n records, the members of t read by name */
static int read_compound(hid_t loc, const char *name, hid_t t, void *buf, hssize_t n, const char *file, DlErr *e) {
    return h5u_read_typed(loc, name, buf, (size_t)n, t, H5T_COMPOUND, file, e);
}

/* corr of an optional metrics dataset, NaN when absent */
static int opt_corr(hid_t g, const char *name, double *corr, const char *file, DlErr *e) {
    *corr = NAN;
    if (!h5u_exists(g, name)) return 0;
    hid_t t = results_metrics_type();
    Metrics m;
    int rc = read_compound(g, name, t, &m, 1, file, e);
    H5Tclose(t);
    if (!rc) *corr = m.corr;
    return rc;
}

static int load_symbol(ReportRun *r, hid_t f, ReportSymbol *s, int epochs_cap, DlErr *e) {
    char gn[128];
    snprintf(gn, sizeof gn, "symbols/%s", s->symbol);
    if (!h5u_exists(f, gn)) return dl_err(e, "%s: group '%s' is missing", r->path, gn);
    hid_t g = H5Gopen2(f, gn, H5P_DEFAULT);
    if (g < 0) return dl_err(e, "%s: cannot open '%s'", r->path, gn);
    int64_t complete = 0;
    int rc = h5u_read_i64(g, "complete", &complete, 1, r->path, e);
    s->complete = complete == 1;

    hid_t ti = H5Tcreate(H5T_COMPOUND, sizeof(InfoPart));
    MEM_I64(ti, InfoPart, epochs_run); MEM_I64(ti, InfoPart, best_epoch); MEM_F64(ti, InfoPart, oracle_corr);
    MEM_F64(ti, InfoPart, wall_s); MEM_F64(ti, InfoPart, samples_per_s);
    InfoPart info = {0};
    if (!rc) rc = read_compound(g, "info", ti, &info, 1, r->path, e);
    H5Tclose(ti);

    if (!rc && h5u_exists(g, "status")) {   /* absent in files written before it existed: ok */
        hid_t tst = results_status_type();
        ResultsStatus st = {0, ""};
        rc = read_compound(g, "status", tst, &st, 1, r->path, e);
        H5Tclose(tst);
        s->status = (int)st.code;
        snprintf(s->status_msg, sizeof s->status_msg, "%s", st.message);
    }
    hid_t tm = results_metrics_type();
    Metrics m = {0};
    if (!rc) rc = read_compound(g, "metrics_raw", tm, &m, 1, r->path, e);
    H5Tclose(tm);
    s->corr[0] = m.corr;
    s->mae = m.mae;
    s->rmse = m.rmse;
    s->r2 = m.r2;
    s->n_test = m.n;
    s->oracle[0] = info.oracle_corr;
    s->oracle[1] = s->corr[1] = s->corr_smooth[1] = NAN;
    s->epochs_run = (int)info.epochs_run;
    s->best_epoch = (int)info.best_epoch;
    s->wall_s = info.wall_s;
    s->samples_per_s = info.samples_per_s;
    if (!rc) rc = opt_corr(g, "metrics_smoothed", &s->corr_smooth[0], r->path, e);
    if (!rc && r->n_heads > 1) {
        rc = opt_corr(g, "head2/metrics_raw", &s->corr[1], r->path, e) ||
             opt_corr(g, "head2/metrics_smoothed", &s->corr_smooth[1], r->path, e) ||
             h5u_read_f64(g, "head2/oracle_corr", &s->oracle[1], 1, r->path, e);
    }

    /* history: epochs_cap rows, the first epochs_run filled */
    if (!rc && (s->epochs_run < 0 || s->epochs_run > epochs_cap))
        rc = dl_err(e, "%s: %s: epochs_run %d outside the history's %d rows", r->path, gn, s->epochs_run, epochs_cap);
    if (!rc) {
        HistPart *h = dl_calloc((size_t)epochs_cap + 1, sizeof(HistPart));
        hid_t th = H5Tcreate(H5T_COMPOUND, sizeof(HistPart));
        MEM_F64(th, HistPart, train_loss); MEM_F64(th, HistPart, val_loss); MEM_F64(th, HistPart, lr);
        rc = read_compound(g, "history", th, h, epochs_cap, r->path, e);
        H5Tclose(th);
        const size_t ne = (size_t)s->epochs_run + 1;
        s->train_loss = dl_malloc(ne * sizeof(double));
        s->val_loss = dl_malloc(ne * sizeof(double));
        s->lr = dl_malloc(ne * sizeof(double));
        for (int k = 0; k < s->epochs_run; k++) {
            s->train_loss[k] = h[k].train_loss;
            s->val_loss[k] = h[k].val_loss;
            s->lr[k] = h[k].lr;
        }
        free(h);
    }
    H5Gclose(g);
    return rc;
}

/* /schedule (absent in files written before it existed: has_schedule = 0) */
static int load_schedule(ReportRun *r, hid_t f, DlErr *e) {
    for (int i = 0; i < r->n; i++) r->sym[i].rank = -1;
    if (!h5u_exists(f, "schedule")) return 0;
    SchedPart *v = dl_calloc((size_t)r->n, sizeof(SchedPart));
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(SchedPart)), s = str64();
    H5Tinsert(t, "symbol", HOFFSET(SchedPart, symbol), s);
    MEM_I64(t, SchedPart, order); MEM_I64(t, SchedPart, rank); MEM_I64(t, SchedPart, windows);
    MEM_F64(t, SchedPart, start_s); MEM_F64(t, SchedPart, end_s);
    /* `ranks` (a data-parallel group's size) is absent in files written before it existed: 1 */
    hid_t d = H5Dopen2(f, "schedule", H5P_DEFAULT), ft = d >= 0 ? H5Dget_type(d) : -1;
    const int has_ranks = ft >= 0 && H5Tget_member_index(ft, "ranks") >= 0;
    if (ft >= 0) H5Tclose(ft);
    if (d >= 0) H5Dclose(d);
    if (has_ranks) MEM_I64(t, SchedPart, ranks);
    int rc = read_compound(f, "schedule", t, v, r->n, r->path, e);
    H5Tclose(s);
    H5Tclose(t);
    for (int i = 0; i < r->n && !rc; i++) {
        ReportSymbol *q = &r->sym[i];
        if (strcmp(v[i].symbol, q->symbol))
            rc = dl_err(e, "%s: /schedule row %d is '%s', /summary says '%s'", r->path, i, v[i].symbol, q->symbol);
        q->rank = (int)v[i].rank;
        q->ranks = has_ranks && v[i].ranks > 0 ? (int)v[i].ranks : 1;
        q->order = (int)v[i].order;
        q->windows = v[i].windows;
        q->start_s = v[i].start_s;
        q->end_s = v[i].end_s;
    }
    free(v);
    r->has_schedule = rc == 0;
    return rc;
}

/* An MMF study's results.h5 (mmf_study.c write_results): symbols are the groups of /zero
 * (every symbol has the zero predictor), metrics per model, the LSTM's mse_curve. */
static int load_mmf(ReportRun *r, hid_t f, DlErr *e) {
    DlErr e2;
    r->is_mmf = 1;
    snprintf(r->model, sizeof r->model, "mmf_lstm + xgboost + zero");
    h5u_attr_read_str(f, ".", "bars", r->dataset, sizeof r->dataset, &e2);
    int64_t v = 0;
    if (h5u_attr_read_i64(f, ".", "ranks", &v, &e2) == 0) r->ranks = (int)v;
    h5u_attr_read_i64(f, ".", "seed", &r->seed, &e2);
    h5u_attr_read_i64(f, ".", "epochs", &r->epochs, &e2);
    if (!h5u_exists(f, "zero")) return dl_err(e, "%s: MMF results without the group '/zero'", r->path);
    hid_t z = H5Gopen2(f, "zero", H5P_DEFAULT);
    H5G_info_t gi;
    if (z < 0 || H5Gget_info(z, &gi) < 0) {
        if (z >= 0) H5Gclose(z);
        return dl_err(e, "%s: cannot list '/zero'", r->path);
    }
    r->n = (int)gi.nlinks;
    r->sym = dl_calloc((size_t)r->n + 1, sizeof(ReportSymbol));
    int rc = 0;
    for (int i = 0; i < r->n && !rc; i++) {
        ReportSymbol *s = &r->sym[i];
        if (H5Lget_name_by_idx(z, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)i, s->symbol, sizeof s->symbol,
                               H5P_DEFAULT) < 0)
            rc = dl_err(e, "%s: cannot read the name of '/zero' member %d", r->path, i);
        s->rank = -1;
        s->complete = 1;
        for (int k = 0; k < 3 && !rc; k++) {
            char g[160], obj[200];
            snprintf(g, sizeof g, "%s/%s", mmf_models[k], s->symbol);
            snprintf(obj, sizeof obj, "%s/metrics", g);
            for (int j = 0; j < 6; j++) s->mmf[k][j] = NAN;
            if (!h5u_exists(f, g)) continue;
            rc = h5u_read_f64(f, obj, s->mmf[k], 6, r->path, e);
            if (k == 2 && !rc) {
                h5u_attr_read_i64(f, g, "rows", &s->mmf_rows, &e2);
                h5u_attr_read_i64(f, g, "train_rows", &s->mmf_train_rows, &e2);
                h5u_attr_read_i64(f, g, "features", &s->mmf_features, &e2);
            }
        }
        char cv[200];
        snprintf(cv, sizeof cv, "lstm/%s/mse_curve", s->symbol);
        hsize_t d[2] = {0, 0};
        if (!rc && h5u_exists(f, cv)) {
            if (h5u_dims(f, cv, d, 2, r->path, e) != 2 || d[1] != 2)
                rc = rc ? rc : dl_err(e, "%s: '%s' is not (epochs, 2)", r->path, cv);
            else {
                s->mse_epochs = (int)d[0];
                s->mse_curve = dl_malloc(((size_t)d[0] * 2 + 1) * sizeof(double));
                rc = h5u_read_f64(f, cv, s->mse_curve, (size_t)d[0] * 2, r->path, e);
            }
        }
    }
    H5Gclose(z);
    return rc;
}

/* root attributes; optional ones stay "" */
static int load_manifest(ReportRun *r, hid_t f, DlErr *e) {
    char fmt[64] = "";
    DlErr e2;
    if (h5u_attr_read_str(f, ".", "format", fmt, sizeof fmt, &e2) ||
        (strcmp(fmt, RESULTS_FORMAT_NAME) && strcmp(fmt, MMF_FORMAT_NAME)))
        return dl_err(e, "%s: not a deeplob-mpi results file (root attribute 'format' is '%s')", r->path, fmt);
    if (!strcmp(fmt, MMF_FORMAT_NAME)) return load_mmf(r, f, e);
    int64_t v = 0;
    struct { const char *name; char *buf; size_t n; } strs[] = {
        {"run_name", r->run_name, sizeof r->run_name}, {"model", r->model, sizeof r->model},
        {"dataset", r->dataset, sizeof r->dataset}, {"created_by", r->created_by, sizeof r->created_by},
        {"git_revision", r->git_revision, sizeof r->git_revision}, {"start_time", r->start_time, sizeof r->start_time},
        {"end_time", r->end_time, sizeof r->end_time}, {"hosts", r->hosts, sizeof r->hosts}};
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++) h5u_attr_read_str(f, ".", strs[k].name, strs[k].buf, strs[k].n, &e2);
    if (h5u_attr_read_i64(f, ".", "ranks", &v, &e2) == 0) r->ranks = (int)v;
    if (h5u_attr_read_i64(f, ".", "horizon", &v, &e2) == 0) r->horizon = (int)v;
    h5u_attr_read_f64(f, ".", "ema_alpha", &r->ema_alpha, &e2);
    /* the config can be long: read its size first */
    hid_t a = H5Aexists(f, "config") > 0 ? H5Aopen(f, "config", H5P_DEFAULT) : -1;
    size_t cn = 0;
    if (a >= 0) {
        hid_t t = H5Aget_type(a);
        cn = H5Tget_size(t);
        H5Tclose(t);
        H5Aclose(a);
    }
    r->config = dl_calloc(cn + 2, 1);
    if (cn) h5u_attr_read_str(f, ".", "config", r->config, cn + 1, &e2);
    return 0;
}

int report_load(ReportRun *r, const char *run_dir, DlErr *e) {
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s", run_dir);
    snprintf(r->path, sizeof r->path, "%s/results.h5", run_dir);
    h5u_quiet();
    hid_t f = H5Fopen(r->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return dl_err(e, "%s: cannot open (not a finished run directory? results.h5 is written when every "
                         "symbol is done)", r->path);
    int rc = load_manifest(r, f, e);
    if (r->is_mmf) {
        H5Fclose(f);
        if (rc) report_free(r);
        return rc;
    }
    hsize_t n = 0;
    if (!rc && h5u_dims(f, "summary", &n, 1, r->path, e) != 1) rc = -1;
    /* symbol names from /summary: the file's symbol order */
    if (!rc) {
        r->n = (int)n;
        r->sym = dl_calloc(n + 1, sizeof(ReportSymbol));
        typedef struct { char symbol[64]; } NamePart;
        NamePart *names = dl_calloc(n + 1, sizeof(NamePart));
        hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(NamePart)), s = str64();
        H5Tinsert(t, "symbol", 0, s);
        rc = read_compound(f, "summary", t, names, (hssize_t)n, r->path, e);
        H5Tclose(s);
        H5Tclose(t);
        for (int i = 0; i < r->n; i++) snprintf(r->sym[i].symbol, sizeof r->sym[i].symbol, "%s", names[i].symbol);
        free(names);
    }
    if (!rc && r->n > 0) {
        /* two heads: the symbol group carries horizon2 */
        char g0[128];
        snprintf(g0, sizeof g0, "symbols/%s", r->sym[0].symbol);
        int64_t h2 = 0;
        DlErr e2;
        r->n_heads = 1;
        if (h5u_exists(f, g0) && h5u_attr_read_i64(f, g0, "horizon2", &h2, &e2) == 0) {
            r->n_heads = 2;
            r->horizon2 = (int)h2;
        }
        char hist[160];
        snprintf(hist, sizeof hist, "%s/history", g0);
        hsize_t ne = 0;
        if (h5u_dims(f, hist, &ne, 1, r->path, e) != 1) rc = -1;
        for (int i = 0; i < r->n && !rc; i++) rc = load_symbol(r, f, &r->sym[i], (int)ne, e);
    }
    if (!rc) rc = load_schedule(r, f, e);
    H5Fclose(f);
    for (int i = 0; i < r->n; i++)
        if (isfinite(r->sym[i].oracle[0]) || isfinite(r->sym[i].oracle[1])) r->has_oracle = 1;
    if (rc) report_free(r);
    return rc;
}

void report_free(ReportRun *r) {
    for (int i = 0; r->sym && i < r->n; i++) {
        free(r->sym[i].train_loss);
        free(r->sym[i].val_loss);
        free(r->sym[i].lr);
        free(r->sym[i].mse_curve);
    }
    free(r->sym);
    free(r->config);
    r->sym = NULL;
    r->config = NULL;
    r->n = 0;
}

int report_test_points(const ReportRun *r, int i, int head, int max_pts, double **actual, double **pred, int *n,
                       int64_t *n_total, DlErr *e) {
    *actual = *pred = NULL;
    *n = 0;
    *n_total = 0;
    hid_t f = H5Fopen(r->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return dl_err(e, "%s: cannot open", r->path);
    char pp[160], tp[160];
    const char *pre = head ? "head2/" : "";
    snprintf(pp, sizeof pp, "symbols/%s/%stest/pred", r->sym[i].symbol, pre);
    snprintf(tp, sizeof tp, "symbols/%s/%stest/target_raw", r->sym[i].symbol, pre);
    hsize_t nt = 0;
    int rc = h5u_dims(f, pp, &nt, 1, r->path, e) == 1 ? 0 : -1;
    float *p = dl_malloc((nt + 1) * sizeof(float)), *y = dl_malloc((nt + 1) * sizeof(float));
    if (!rc) rc = h5u_read_f32(f, pp, p, nt, r->path, e) || h5u_read_f32(f, tp, y, nt, r->path, e);
    H5Fclose(f);
    if (!rc) {
        int64_t fin = 0;
        for (hsize_t k = 0; k < nt; k++) fin += isfinite(p[k]) && isfinite(y[k]);
        const int64_t step = max_pts > 0 && fin > max_pts ? CEIL_DIV(fin, max_pts) : 1;
        *actual = dl_malloc(((size_t)(fin / step) + 2) * sizeof(double));
        *pred = dl_malloc(((size_t)(fin / step) + 2) * sizeof(double));
        int64_t seen = 0;
        for (hsize_t k = 0; k < nt; k++) {
            if (!(isfinite(p[k]) && isfinite(y[k]))) continue;
            if (seen++ % step) continue;
            (*actual)[*n] = y[k];
            (*pred)[*n] = p[k];
            (*n)++;
        }
        *n_total = fin;
    }
    free(p);
    free(y);
    return rc;
}

typedef struct { double v; int i; } CorrKey;

static int corr_key_cmp(const void *pa, const void *pb) {
    const CorrKey *a = pa, *b = pb;
    const int na = !isfinite(a->v), nb = !isfinite(b->v);
    if (na != nb) return na - nb;   /* NaN last */
    if (!na && a->v != b->v) return a->v > b->v ? -1 : 1;
    return a->i - b->i;
}

void report_rank_by_corr(const ReportRun *r, int head, int *idx) {
    CorrKey *k = dl_malloc(((size_t)r->n + 1) * sizeof *k);
    for (int i = 0; i < r->n; i++) k[i] = (CorrKey){r->sym[i].corr[head], i};
    qsort(k, (size_t)r->n, sizeof *k, corr_key_cmp);
    for (int i = 0; i < r->n; i++) idx[i] = k[i].i;
    free(k);
}

int report_add_figure(FigureList *f, const char *file, const char *fmt, ...) {
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 16;
        ReportFigure *v = realloc(f->v, (size_t)f->cap * sizeof *v);
        DL_CHECK(v, "out of memory (figure list)");
        f->v = v;
    }
    ReportFigure *x = &f->v[f->n++];
    snprintf(x->file, sizeof x->file, "%s", file);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->caption, sizeof x->caption, fmt, ap);
    va_end(ap);
    return 0;
}

void report_figures_free(FigureList *f) {
    free(f->v);
    memset(f, 0, sizeof *f);
}
