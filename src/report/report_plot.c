/* report_plot.c: the report's figures, drawn with PLplot's C API into PNG files
 * through its cairo driver (pngcairo): the per-symbol correlation, predicted against
 * actual and training history here, the schedule and the MMF study's figures in
 * report_plot_run.c, the shared helpers in plot.c. See report.h for how to add one.
 *
 * Each figure is one PLplot stream: plsdev/plsfnam/plinit, draw, plend1, then the
 * file written under a temporary name is renamed into place, so a reader never sees
 * half a PNG. Sizes in pixels are fixed per figure (docs/report.md lists them). */
#include "report/report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


#define HOW_TO_GET "apt-get install libplplot-dev plplot-driver-cairo pkg-config, then re-run cmake and rebuild"

#ifndef DL_HAVE_PLPLOT

int report_draw(const ReportRun *r, FigureList *figs, DlErr *e) {
    snprintf(figs->note, sizeof figs->note, "this build has no PLplot (%s)", HOW_TO_GET);
    return 0;
}

#else
#include "report/plot.h"

/* figure sizes (pixels) */
#define CORR_W 1600
#define CORR_H 1000
#define SCATTER_W 1800
#define SCATTER_H 700
#define HIST_W 1800
#define HIST_H 1200

#define CORR_ALL_MAX 40         /* more symbols: top and bottom 20 plus a histogram */
#define SCATTER_MAX_POINTS 2000

static const char *head_name(const ReportRun *r, int h, char *buf, size_t n) {
    snprintf(buf, n, "%d s%s", h ? r->horizon2 : r->horizon, r->n_heads > 1 ? (h ? " (head 2)" : " (head 1)") : "");
    return buf;
}

/* ---- per-symbol test correlation --------------------------------------------------- */

typedef struct {
    int head, smooth, color;
    char label[96];
} Series;

/* the histogram panel of every symbol's head-1 correlation (many symbols) */
static void corr_histogram(const ReportRun *r, double vx0, double vx1) {
    double *v = dl_malloc(((size_t)r->n + 1) * sizeof(double));
    int m = 0;
    for (int i = 0; i < r->n; i++)
        if (isfinite(r->sym[i].corr[0])) v[m++] = r->sym[i].corr[0];
    double lo, hi;
    plot_range(v, m, 0.02, &lo, &hi);
    enum { NB = 24 };
    int cnt[NB] = {0}, top = 1;
    for (int i = 0; i < m; i++) {
        int b = (int)((v[i] - lo) / (hi - lo) * NB);
        cnt[b < 0 ? 0 : b >= NB ? NB - 1 : b]++;
    }
    for (int b = 0; b < NB; b++) top = cnt[b] > top ? cnt[b] : top;
    plvpor(vx0, vx1, 0.19, 0.92);
    plwind(lo, hi, 0, top * 1.1);
    for (int b = 0; b < NB; b++)
        if (cnt[b]) plot_rect(lo + (hi - lo) * b / NB, lo + (hi - lo) * (b + 0.9) / NB, 0, cnt[b], C_BLUE);
    plcol0(C_FG);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    char t[96];
    snprintf(t, sizeof t, "All %d symbols", m);
    pllab("test correlation (raw targets)", "symbols", t);
    free(v);
}

static int fig_corr(const ReportRun *r, FigureList *figs, DlErr *e) {
    if (r->n == 0) return 0;
    Series se[4];
    int ns = 0;
    static const int col_raw[2] = {C_BLUE, C_GREEN}, col_sm[2] = {C_ORANGE, C_PURPLE};
    char hb[48];
    for (int h = 0; h < r->n_heads; h++) {
        se[ns] = (Series){h, 0, col_raw[h], ""};
        snprintf(se[ns++].label, sizeof se[0].label, "%s%s", r->ema_alpha > 0 ? "raw targets, " : "",
                 head_name(r, h, hb, sizeof hb));
        if (r->ema_alpha > 0) {
            se[ns] = (Series){h, 1, col_sm[h], ""};
            snprintf(se[ns++].label, sizeof se[0].label, "smoothed targets, %s", head_name(r, h, hb, sizeof hb));
        }
    }
    int *idx = dl_malloc(((size_t)r->n + 1) * sizeof(int));
    report_rank_by_corr(r, 0, idx);
    const int many = r->n > CORR_ALL_MAX, half = CORR_ALL_MAX / 2;
    const int rows = many ? CORR_ALL_MAX : r->n;   /* shown symbols */
    const double gap = many ? 1.0 : 0.0;
    /* y of shown row k (0 = best, at the top); the gap separates top and bottom halves */
    double *yrow = dl_malloc(((size_t)rows + 1) * sizeof(double));
    int *sel = dl_malloc(((size_t)rows + 1) * sizeof(int));
    for (int k = 0; k < rows; k++) {
        sel[k] = many && k >= half ? idx[r->n - CORR_ALL_MAX + k] : idx[k];
        yrow[k] = -(k + (many && k >= half ? gap : 0));
    }
    double *vals = dl_malloc(((size_t)rows * 6 + 2) * sizeof(double));
    int nv = 0;
    for (int k = 0; k < rows; k++)
        for (int h = 0; h < r->n_heads; h++) {
            const ReportSymbol *s = &r->sym[sel[k]];
            vals[nv++] = s->corr[h];
            vals[nv++] = s->corr_smooth[h];
            vals[nv++] = s->oracle[h];
        }
    vals[nv++] = 0;
    double lo, hi;
    plot_range(vals, nv, 0.05, &lo, &hi);
    Png p;
    plot_open(&p, r, "corr_bars.png", CORR_W, CORR_H);
    const double ylo = yrow[rows - 1] - 0.5, yhi = 0.5;
    plvpor(0.15, many ? 0.60 : 0.96, 0.19, 0.92);
    plwind(lo, hi, ylo, yhi);
    plcol0(C_GRID);
    plbox("g", 0, 0, "", 0, 0);
    const double band = 0.8 / ns;
    for (int k = 0; k < rows; k++) {
        const ReportSymbol *s = &r->sym[sel[k]];
        for (int q = 0; q < ns; q++) {
            const double v = se[q].smooth ? s->corr_smooth[se[q].head] : s->corr[se[q].head];
            const double y0 = yrow[k] + 0.4 - (q + 1) * band;
            if (isfinite(v)) plot_rect(0, v, y0, y0 + band * 0.92, se[q].color);
            /* the oracle on the head's raw bar */
            if (!se[q].smooth && isfinite(s->oracle[se[q].head])) {
                PLFLT ox = s->oracle[se[q].head], oy = y0 + band * 0.46;
                plcol0(C_FG);
                plschr(0, rows > 25 ? 0.6 : 1.0);
                plstring(1, &ox, &oy, "◆");
                plschr(0, 1.0);
            }
        }
    }
    plot_seg(0, ylo, 0, yhi, C_FG, 1, 1.5);
    plcol0(C_FG);
    plbox("bcnst", 0, 0, "bc", 0, 0);
    plschr(0, rows > 25 ? 0.55 : 0.85);
    for (int k = 0; k < rows; k++) plmtex("lv", 0.6, (yrow[k] - ylo) / (yhi - ylo), 1.0, r->sym[sel[k]].symbol);
    if (many) {
        char t[96];
        snprintf(t, sizeof t, "(%d more)", r->n - CORR_ALL_MAX);
        plmtex("lv", 0.6, (-(half - 0.5 + gap / 2) - ylo) / (yhi - ylo), 1.0, t);
    }
    plschr(0, 1.0);
    char title[256];
    if (many) snprintf(title, sizeof title, "Test correlation: top %d and bottom %d of %d symbols", half, half, r->n);
    else snprintf(title, sizeof title, "Test correlation per symbol (%d), best first", r->n);
    pllab(many ? "test correlation" : "Pearson correlation of prediction and target (test split)", "", title);
    LegendItem lg[6];
    int nl = 0;
    for (int q = 0; q < ns; q++) lg[nl++] = (LegendItem){se[q].label, LG_BOX, se[q].color, 1, NULL};
    if (r->has_oracle) lg[nl++] = (LegendItem){"oracle (dataset's best predictor)", LG_SYMBOL, C_FG, 1, "◆"};
    if (many) corr_histogram(r, 0.70, 0.97);
    plot_legend(lg, nl, 0.01, 0.07);
    free(idx);
    free(yrow);
    free(sel);
    free(vals);
    if (plot_close(&p, e)) return -1;
    char hn[48];
    return report_add_figure(figs, "figures/corr_bars.png",
                             "Test correlation of each symbol's model with its target (horizon %s%s), sorted best "
                             "first%s%s%s%s.",
                             head_name(r, 0, hn, sizeof hn), r->n_heads > 1 ? "; both heads drawn" : "",
                             r->ema_alpha > 0 ? "; against raw and against EMA-smoothed targets side by side" : "",
                             r->has_oracle ? "; the diamond is the dataset's oracle correlation, the ceiling" : "",
                             many ? "; only the top and bottom 20 are named, the histogram on the right has all" : "",
                             "");
}

/* ---- predicted against actual -------------------------------------------------------- */

static int scatter_panel(const ReportRun *r, int i, const char *which, double vx0, double vx1, int64_t *shown,
                         int64_t *total, DlErr *e) {
    double *a, *pr;
    int n;
    if (report_test_points(r, i, 0, SCATTER_MAX_POINTS, &a, &pr, &n, total, e)) return -1;
    *shown = n;
    double xlo, xhi, ylo, yhi;
    plot_range(a, n, 0.04, &xlo, &xhi);
    plot_range(pr, n, 0.08, &ylo, &yhi);
    plvpor(vx0, vx1, 0.14, 0.80);
    plwind(xlo, xhi, ylo, yhi);
    plcol0(C_GRID);
    plbox("g", 0, 0, "g", 0, 0);
    plcol0(C_DOT);
    plschr(0, 0.6);
    for (int k = 0; k < n; k++) {
        PLFLT x = a[k], y = pr[k];
        plstring(1, &x, &y, "●");
    }
    plschr(0, 1.0);
    /* least-squares line of predicted on actual */
    double ma = 0, mp = 0, saa = 0, sap = 0;
    for (int k = 0; k < n; k++) { ma += a[k]; mp += pr[k]; }
    if (n > 0) { ma /= n; mp /= n; }
    for (int k = 0; k < n; k++) { saa += (a[k] - ma) * (a[k] - ma); sap += (a[k] - ma) * (pr[k] - mp); }
    if (n > 1 && saa > 0) {
        const double b = sap / saa;
        plot_seg(xlo, mp + b * (xlo - ma), xhi, mp + b * (xhi - ma), C_RED, 1, 2.5);
    }
    plcol0(C_FG);
    plbox("bcnst", 0, 0, "bcnstv", 0, 0);
    char t1[160], t2[160];
    snprintf(t1, sizeof t1, "%s: %s", which, r->sym[i].symbol);
    snprintf(t2, sizeof t2, "corr %.4f; %d of %lld test points shown", r->sym[i].corr[0], n, (long long)*total);
    plmtex("t", 2.4, 0.5, 0.5, t1);
    plschr(0, 0.8);
    plmtex("t", 0.9, 0.5, 0.5, t2);
    plschr(0, 1.0);
    pllab("actual target (bps)", "predicted (bps)", "");
    free(a);
    free(pr);
    return 0;
}

static int fig_scatter(const ReportRun *r, FigureList *figs, DlErr *e) {
    int *idx = dl_malloc(((size_t)r->n + 1) * sizeof(int));
    report_rank_by_corr(r, 0, idx);
    int fin = 0;
    for (int i = 0; i < r->n; i++) fin += isfinite(r->sym[i].corr[0]) && r->sym[i].n_test > 1;
    int pick[3], np = 0;
    const char *which[3];
    if (fin >= 1) { pick[np] = idx[0]; which[np++] = fin == 1 ? "only symbol" : "best"; }
    if (fin >= 3) { pick[np] = idx[(fin - 1) / 2]; which[np++] = "median"; }
    if (fin >= 2) { pick[np] = idx[fin - 1]; which[np++] = "worst"; }
    free(idx);
    if (np == 0) {
        snprintf(figs->absent + strlen(figs->absent), sizeof figs->absent - strlen(figs->absent),
                 "predicted-vs-actual scatter (no symbol has a finite test correlation). ");
        return 0;
    }
    Png p;
    plot_open(&p, r, "scatter.png", SCATTER_W, SCATTER_H);
    const double w = 0.96 / np;
    int64_t shown[3] = {0}, total[3] = {0};
    int rc = 0;
    plschr(0, 0.9);
    plsxax(8, 0);   /* plain numbers, no "(x10^n)" that collides with the titles */
    plsyax(8, 0);
    for (int k = 0; k < np && !rc; k++)
        rc = scatter_panel(r, pick[k], which[k], 0.02 + k * w + 0.065, 0.02 + (k + 1) * w - 0.02, &shown[k], &total[k], e);
    if (plot_close(&p, e) || rc) return -1;
    char hn[48];
    return report_add_figure(figs, "figures/scatter.png",
                             "Predicted against actual target on the test split (horizon %s) for the %s symbol%s by "
                             "test correlation; at most %d evenly spaced points per panel (the counts are in the "
                             "panel titles); red: least-squares line.",
                             head_name(r, 0, hn, sizeof hn), np == 1 ? "only" : np == 2 ? "best and the worst" : "best, the median and the worst",
                             np == 1 ? "" : "s", SCATTER_MAX_POINTS);
}

/* the grid that fits n panels on a page: 1, 2, 3, 2x2, 3x2, 3x3, 4x3 */
/* ---- training history ---------------------------------------------------------------- */

static void history_panel(const ReportSymbol *s, int first_col) {
    const int n = s->epochs_run;
    double *both = dl_malloc(((size_t)n * 2 + 1) * sizeof(double));
    for (int k = 0; k < n; k++) { both[k] = s->train_loss[k]; both[n + k] = s->val_loss[k]; }
    double lo, hi;
    plot_range(both, 2 * n, 0.08, &lo, &hi);
    free(both);
    plwind(0.5, n + 0.5, lo, hi);
    plcol0(C_GRID);
    plbox("g", n <= 12 ? 1 : 0, 0, "g", 0, 0);
    /* LR reductions take effect from the epoch whose lr is lower than the one before */
    for (int k = 1; k < n; k++)
        if (s->lr[k] < s->lr[k - 1]) plot_seg(k + 0.5, lo, k + 0.5, hi, C_GRAY, 2, 2.5);
    if (s->best_epoch >= 1 && s->best_epoch <= n) plot_seg(s->best_epoch, lo, s->best_epoch, hi, C_GREEN, 1, 2.0);
    PLFLT *x = dl_malloc(((size_t)n + 1) * sizeof(PLFLT));
    for (int k = 0; k < n; k++) x[k] = k + 1;
    const double *ys[2] = {s->train_loss, s->val_loss};
    const int cs[2] = {C_BLUE, C_ORANGE};
    for (int c = 0; c < 2; c++) {
        plcol0(cs[c]);
        plwidth(2.5);
        plline(n, x, ys[c]);
        plwidth(1);
        plschr(0, 0.6);
        plstring(n, x, ys[c], "●");
        plschr(0, 1.0);
    }
    free(x);
    plcol0(C_FG);
    plschr(0, 0.8);
    plbox("bcnst", n <= 12 ? 1 : 0, 0, "bcnstv", 0, 0);
    char t[128];
    if (s->best_epoch >= 1) snprintf(t, sizeof t, "%s (best %d of %d)", s->symbol, s->best_epoch, n);
    else snprintf(t, sizeof t, "%s (none better, %d run)", s->symbol, n);
    pllab("epoch", first_col ? "Huber loss (training units)" : "", t);
    plschr(0, 1.0);
}

static int has_history(const ReportSymbol *s) { return s->epochs_run >= 1; }

static int fig_history(const ReportRun *r, FigureList *figs, DlErr *e) {
    static const LegendItem lg[4] = {{"train", LG_LINE, C_BLUE, 1, NULL},
                                     {"validation", LG_LINE, C_ORANGE, 1, NULL},
                                     {"LR reduced (plateau)", LG_LINE, C_GRAY, 2, NULL},
                                     {"best epoch (weights restored)", LG_LINE, C_GREEN, 1, NULL}};
    const PanelPages pp = {"history", HIST_W, HIST_H, has_history, history_panel, lg, 4,
                           "Training history of symbols %d to %d: mean Huber loss per epoch on the training batches "
                           "(blue) and on validation (orange); dashed grey: the learning rate was reduced on a "
                           "plateau; green: the best validation epoch, whose weights were restored for the test.",
                           "training history"};
    return plot_panel_pages(r, &pp, figs, e);
}

/* ---- all figures ------------------------------------------------------------------------- */

typedef int (*FigureFn)(const ReportRun *r, FigureList *figs, DlErr *e);
/* in report order, each for DeepLOB runs (mmf 0) or MMF study runs (mmf 1) */
static const struct { FigureFn fn; int mmf; } FIGURES[] = {
    {fig_schedule, 0}, {fig_corr, 0}, {fig_scatter, 0}, {fig_history, 0}, {fig_mmf_mse, 1}};

static int have_pngcairo(void) {
    const char *menu[128], *devs[128];
    const char **pm = menu, **pd = devs;
    PLINT n = 128;
    plgDevs(&pm, &pd, &n);
    for (int k = 0; k < n; k++)
        if (!strcmp(pd[k], "pngcairo")) return 1;
    return 0;
}

int report_draw(const ReportRun *r, FigureList *figs, DlErr *e) {
    if (!have_pngcairo()) {
        snprintf(figs->note, sizeof figs->note,
                 "PLplot has no pngcairo driver here (apt-get install plplot-driver-cairo)");
        return 0;
    }
    char dir[2200];
    snprintf(dir, sizeof dir, "%s/figures", r->dir);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return dl_err(e, "%s: cannot create: %s", dir, strerror(errno));
    for (size_t k = 0; k < sizeof FIGURES / sizeof FIGURES[0]; k++)
        if (FIGURES[k].mmf == r->is_mmf && FIGURES[k].fn(r, figs, e)) return -1;
    return 0;
}

#endif
