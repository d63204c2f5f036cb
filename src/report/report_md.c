/* report_md.c: RUN_DIR/report.md: the run, the cross-symbol summary, the captioned
 * figures, the per-symbol table and the config (see report.h). */
#include "report/report.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "train/metrics.h"

/* a growing text buffer */
typedef struct { char *s; size_t n, cap; } Buf;

static void put(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Buf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        DL_CHECK(k >= 0, "report: text formatting failed");
        if (b->s && b->n + (size_t)k < b->cap) { b->n += (size_t)k; return; }
        b->cap = (b->cap + (size_t)k + 1) * 2;
        b->s = realloc(b->s, b->cap);
        DL_CHECK(b->s, "out of memory (report text)");
    }
}

/* a number or "—" for NaN */
static const char *num(char *buf, size_t n, const char *fmt, double v) {
    if (!isfinite(v)) snprintf(buf, n, "—");
    else snprintf(buf, n, fmt, v);
    return buf;
}

static void aggregate_row(Buf *b, const char *what, const double *v, int n) {
    Aggregate a;
    metrics_aggregate(&a, v, n);
    char s[6][32];
    put(b, "| %s | %d | %s | %s | %s | %s | %s |\n", what, a.n, num(s[0], 32, "%.4f", a.mean),
        num(s[1], 32, "%.4f", a.median), num(s[2], 32, "%.4f", a.std), num(s[3], 32, "%.4f", a.min),
        num(s[4], 32, "%.4f", a.max));
}

static void summary(Buf *b, const ReportRun *r) {
    const int n = r->n;
    double *v = dl_malloc(((size_t)n + 1) * sizeof(double));
    put(b, "## Cross-symbol summary\n\n| test metric | symbols | mean | median | std | min | max |\n"
           "|---|---:|---:|---:|---:|---:|---:|\n");
    for (int h = 0; h < r->n_heads; h++) {
        char lab[96];
        const int hz = h ? r->horizon2 : r->horizon;
        const char *head = r->n_heads > 1 ? (h ? "head 2, " : "head 1, ") : "";
        for (int i = 0; i < n; i++) v[i] = r->sym[i].corr[h];
        snprintf(lab, sizeof lab, "corr (%s%d s, raw targets)", head, hz);
        aggregate_row(b, lab, v, n);
        if (r->ema_alpha > 0) {
            for (int i = 0; i < n; i++) v[i] = r->sym[i].corr_smooth[h];
            snprintf(lab, sizeof lab, "corr (%s%d s, smoothed targets)", head, hz);
            aggregate_row(b, lab, v, n);
        }
        if (r->has_oracle) {
            for (int i = 0; i < n; i++) v[i] = r->sym[i].corr[h] / r->sym[i].oracle[h];
            snprintf(lab, sizeof lab, "corr / oracle (%s%d s)", head, hz);
            aggregate_row(b, lab, v, n);
        }
    }
    for (int i = 0; i < n; i++) v[i] = r->sym[i].rmse;
    aggregate_row(b, "RMSE (bps)", v, n);
    for (int i = 0; i < n; i++) v[i] = r->sym[i].r2;
    aggregate_row(b, "R² ", v, n);
    free(v);
    int incomplete = 0;
    for (int i = 0; i < n; i++) incomplete += !r->sym[i].complete;
    if (incomplete) put(b, "\n**%d symbol(s) have no completion mark** (their numbers are not final).\n", incomplete);
    int failed = 0;
    for (int i = 0; i < n; i++) failed += r->sym[i].status != 0;
    if (failed) {
        put(b, "\n**%d symbol(s) without test metrics** (left out of the statistics above):\n\n", failed);
        for (int i = 0; i < n; i++)
            if (r->sym[i].status != 0)
                put(b, "- %s: %s\n", r->sym[i].symbol, r->sym[i].status_msg[0] ? r->sym[i].status_msg : "failed");
    }
    put(b, "\n");
}

static void table(Buf *b, const ReportRun *r) {
    const int two = r->n_heads > 1, sm = r->ema_alpha > 0;
    put(b, "## Per-symbol results (test split, bps)\n\n| symbol | corr |%s%s%s MAE | RMSE | R² | best epoch / run |%s s |\n",
        sm ? " corr smoothed |" : "", r->has_oracle ? " oracle | corr/oracle |" : "", two ? " head 2 corr |" : "",
        r->has_schedule ? " rank |" : "");
    put(b, "|---|---:|%s%s%s---:|---:|---:|---:|%s---:|\n", sm ? "---:|" : "", r->has_oracle ? "---:|---:|" : "",
        two ? "---:|" : "", r->has_schedule ? "---:|" : "");
    for (int i = 0; i < r->n; i++) {
        const ReportSymbol *s = &r->sym[i];
        char c[8][32];
        put(b, "| %s%s%s | %s |", s->symbol, s->complete ? "" : " (incomplete)",
            s->status == 1 ? " (diverged)" : s->status == 2 ? " (skipped)" : "", num(c[0], 32, "%.4f", s->corr[0]));
        if (sm) put(b, " %s |", num(c[1], 32, "%.4f", s->corr_smooth[0]));
        if (r->has_oracle)
            put(b, " %s | %s |", num(c[2], 32, "%.4f", s->oracle[0]), num(c[3], 32, "%.3f", s->corr[0] / s->oracle[0]));
        if (two) put(b, " %s |", num(c[4], 32, "%.4f", s->corr[1]));
        put(b, " %s | %s | %s | %d / %d |", num(c[5], 32, "%.4f", s->mae), num(c[6], 32, "%.4f", s->rmse),
            num(c[7], 32, "%.4f", s->r2), s->best_epoch, s->epochs_run);
        if (r->has_schedule) put(b, " %d |", s->rank);
        put(b, " %.1f |\n", s->wall_s);
    }
    put(b, "\n");
}

static void config_block(Buf *b, const ReportRun *r) {
    cJSON *j = r->config && r->config[0] ? cJSON_Parse(r->config) : NULL;
    char *pretty = j ? cJSON_Print(j) : NULL;
    put(b, "## Configuration\n\n```json\n%s\n```\n", pretty ? pretty : (r->config ? r->config : ""));
    free(pretty);
    cJSON_Delete(j);
}

static void figures_block(Buf *b, const FigureList *figs) {
    put(b, "## Figures\n\n");
    if (figs->note[0]) put(b, "**Figures missing:** %s\n\n", figs->note);
    if (figs->absent[0]) put(b, "Not drawn: %s\n\n", figs->absent);
    for (int k = 0; k < figs->n; k++)
        put(b, "![%s](%s)\n\n*Figure %d.* %s\n\n", figs->v[k].file, figs->v[k].file, k + 1, figs->v[k].caption);
}

/* an MMF study's run: per symbol and model train/test MSE, test corr and R² (bps²) */
static void mmf_body(Buf *b, const ReportRun *r, const FigureList *figs) {
    static const char *names[3] = {"MMF-LSTM", "XGBoost", "zero"};
    put(b, "- MMF study (`docs/mmf.md`): bars `%s`, %d symbol(s), seed %lld, %lld LSTM epoch(s), %d MPI rank(s)\n\n",
        r->dataset, r->n, (long long)r->seed, (long long)r->epochs, r->ranks);
    figures_block(b, figs);
    put(b, "## Per-symbol results (MSE in bps²)\n\n| symbol | model | rows (train) | features | train MSE | test MSE | "
           "test corr | test R² |\n|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < r->n; i++) {
        const ReportSymbol *s = &r->sym[i];
        for (int k = 0; k < 3; k++) {
            char c[4][32];
            if (!isfinite(s->mmf[k][1])) continue;
            put(b, "| %s | %s | %lld (%lld) | %lld | %s | %s | %s | %s |\n", s->symbol, names[k], (long long)s->mmf_rows,
                (long long)s->mmf_train_rows, (long long)s->mmf_features, num(c[0], 32, "%.4f", s->mmf[k][0]),
                num(c[1], 32, "%.4f", s->mmf[k][1]), num(c[2], 32, "%.4f", s->mmf[k][3]), num(c[3], 32, "%.4f", s->mmf[k][5]));
        }
    }
    put(b, "\n");
}

static void deeplob_body(Buf *b, const ReportRun *r, const FigureList *figs);

int report_write_md(const ReportRun *r, const FigureList *figs, DlErr *e) {
    Buf b = {0};
    put(&b, "# Run report: %s\n\n", r->run_name[0] ? r->run_name : r->dir);
    if (r->is_mmf) {
        put(&b, "- results: `%s`\n", r->path);
        mmf_body(&b, r, figs);
    } else {
        deeplob_body(&b, r, figs);
    }
    char path[2200];
    snprintf(path, sizeof path, "%s/report.md", r->dir);
    int rc = dl_write_file_atomic(path, b.s, b.n, e);
    free(b.s);
    return rc;
}

static void deeplob_body(Buf *b, const ReportRun *r, const FigureList *figs) {
    put(b, "- results: `%s` (%s, git %s)\n", r->path, r->created_by, r->git_revision);
    put(b, "- model `%s`, horizon %d s", r->model, r->horizon);
    if (r->n_heads > 1) put(b, " and %d s (two heads)", r->horizon2);
    if (r->ema_alpha > 0) put(b, ", EMA-smoothed training targets (alpha %g)", r->ema_alpha);
    put(b, "\n- dataset `%s`: %d symbol(s)%s\n", r->dataset, r->n, r->has_oracle ? ", oracle correlation known" : "");
    put(b, "- %d MPI rank(s) on %s, %s to %s\n\n", r->ranks, r->hosts[0] ? r->hosts : "?", r->start_time, r->end_time);
    summary(b, r);
    figures_block(b, figs);
    table(b, r);
    config_block(b, r);
}

int report_run(const char *run_dir, FILE *log, DlErr *e) {
    ReportRun r;
    if (report_load(&r, run_dir, e)) return -1;
    FigureList figs = {0};
    int rc = report_draw(&r, &figs, e);
    if (!rc) rc = report_write_md(&r, &figs, e);
    if (!rc && log) {
        fprintf(log, "report: %s/report.md with %d figure(s) in %s/figures\n", run_dir, figs.n, run_dir);
        if (figs.note[0]) fprintf(log, "report: figures missing: %s\n", figs.note);
        fflush(log);
    }
    if (!rc && figs.note[0]) rc = 3;
    report_figures_free(&figs);
    report_free(&r);
    return rc;
}
