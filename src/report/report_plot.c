/* report_plot.c: the report's figures, drawn with PLplot's C API into PNG files
 * through its cairo driver (pngcairo). See report.h for how to add one.
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

#include "train/symbol_sched.h"

#define HOW_TO_GET "apt-get install libplplot-dev plplot-driver-cairo pkg-config, then re-run cmake and rebuild"

#ifndef DL_HAVE_PLPLOT

int report_draw(const ReportRun *r, FigureList *figs, DlErr *e) {
    snprintf(figs->note, sizeof figs->note, "this build has no PLplot (%s)", HOW_TO_GET);
    return 0;
}

#else
#include <plplot.h>

/* figure sizes (pixels) */
#define CORR_W 1600
#define CORR_H 1000
#define SCATTER_W 1800
#define SCATTER_H 700
#define HIST_W 1800
#define HIST_H 1200
#define SCHED_W 1600
#define SCHED_H 800
#define MMF_W 1800
#define MMF_H 1200

#define CORR_ALL_MAX 40         /* more symbols: top and bottom 20 plus a histogram */
#define SCATTER_MAX_POINTS 2000
#define HIST_PER_PAGE 12        /* 4 x 3 panels */
#define HIST_MAX_PAGES 10

/* cmap0 indices */
enum { C_BG, C_FG, C_BLUE, C_ORANGE, C_GREEN, C_RED, C_PURPLE, C_GRAY, C_GRID, C_IDLE, C_TEAL, C_BROWN, C_PINK,
       C_OLIVE, C_DOT };

static void palette(void) {
    static const int rgb[][3] = {{255, 255, 255}, {30, 30, 30},  {31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                 {214, 39, 40},   {148, 103, 189}, {110, 110, 110}, {225, 225, 225}, {250, 205, 205},
                                 {23, 190, 207},  {140, 86, 75},  {227, 119, 194}, {188, 189, 34}, {31, 119, 180}};
    plscmap0n(16);
    for (int k = 0; k < (int)(sizeof rgb / sizeof rgb[0]); k++) plscol0(k, rgb[k][0], rgb[k][1], rgb[k][2]);
    plscol0a(C_DOT, 31, 119, 180, 0.35);   /* scatter points: translucent, so density shows */
}

typedef struct {
    char tmp[2300], path[2300];
} Png;

static void fig_open(Png *p, const ReportRun *r, const char *name, int w, int h) {
    snprintf(p->path, sizeof p->path, "%s/figures/%s", r->dir, name);
    snprintf(p->tmp, sizeof p->tmp, "%s/figures/.tmp.%s", r->dir, name);
    plsdev("pngcairo");
    plsfnam(p->tmp);
    plspage(0, 0, w, h, 0, 0);
    plscolbg(255, 255, 255);
    plinit();
    palette();
    pladv(0);
    plcol0(C_FG);
}

static int fig_close(Png *p, DlErr *e) {
    plend1();
    if (dl_commit_file(p->tmp, p->path, e)) { remove(p->tmp); return -1; }
    return 0;
}

static void rect(double x0, double x1, double y0, double y1, int color) {
    PLFLT x[4] = {x0, x1, x1, x0}, y[4] = {y0, y0, y1, y1};
    plcol0(color);
    plfill(4, x, y);
}

static void seg(double x0, double y0, double x1, double y1, int color, int style, double width) {
    PLFLT x[2] = {x0, x1}, y[2] = {y0, y1};
    plcol0(color);
    pllsty(style);
    plwidth(width);
    plline(2, x, y);
    pllsty(1);
    plwidth(1);
}

/* kinds of legend entry */
enum { LG_BOX, LG_LINE, LG_SYMBOL };
typedef struct {
    const char *text;
    int kind, color, style;
    const char *symbol;   /* LG_SYMBOL */
} LegendItem;

/* A legend in the page strip [y0, y1] (normalised page height), items left to
 * right, wrapped onto a second row when they do not fit, each row centred. Drawn by
 * hand: pllegend's text-width estimate is far off for the cairo fonts. */
static void legend_strip(const LegendItem *it, int n, double y0, double y1) {
    plvpor(0.02, 0.98, y0, y1);
    plschr(0, 0.8);
    PLFLT sx0, sx1, sy0, sy1, chdef, chht;
    plgspa(&sx0, &sx1, &sy0, &sy1);
    plgchr(&chdef, &chht);
    const double strip_mm = 0.96 * (sx1 - sx0), cw = 0.72 * chht;   /* a generous glyph width, mm */
    double w[8], row_w[8] = {0};
    int row[8], nrows = 1;
    for (int k = 0; k < n && k < 8; k++) {
        w[k] = (strlen(it[k].text) + 6) * cw;
        if (row_w[nrows - 1] > 0 && row_w[nrows - 1] + w[k] > strip_mm) nrows++;
        row[k] = nrows - 1;
        row_w[nrows - 1] += w[k];
    }
    plwind(0, strip_mm, 0, 1);
    double x = 0;
    for (int k = 0; k < n && k < 8; k++) {
        if (k == 0 || row[k] != row[k - 1]) x = 0.5 * (strip_mm - row_w[row[k]]);
        const double y = 1 - (row[k] + 0.5) / nrows, hh = 0.3 / nrows, sw = 3 * cw;   /* swatch */
        if (it[k].kind == LG_BOX) rect(x, x + sw, y - hh, y + hh, it[k].color);
        else if (it[k].kind == LG_LINE) seg(x, y, x + sw, y, it[k].color, it[k].style, 3.0);
        else {
            PLFLT px = x + sw / 2, py = y;
            plcol0(it[k].color);
            plstring(1, &px, &py, it[k].symbol);
        }
        plcol0(C_FG);
        plptex(x + sw + cw, y, 1, 0, 0, it[k].text);
        x += w[k];
    }
    plschr(0, 1.0);
}

/* [lo, hi] of finite v, padded by frac; a safe range when none or all equal */
static void range_of(const double *v, int n, double frac, double *lo, double *hi) {
    double a = INFINITY, b = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) { a = v[i] < a ? v[i] : a; b = v[i] > b ? v[i] : b; }
    if (!(a <= b)) { a = 0; b = 1; }
    if (b - a < 1e-12) { a -= 0.5 * (fabs(a) + 1e-3); b += 0.5 * (fabs(b) + 1e-3); }
    const double p = (b - a) * frac;
    *lo = a - p;
    *hi = b + p;
}

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
    range_of(v, m, 0.02, &lo, &hi);
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
        if (cnt[b]) rect(lo + (hi - lo) * b / NB, lo + (hi - lo) * (b + 0.9) / NB, 0, cnt[b], C_BLUE);
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
    range_of(vals, nv, 0.05, &lo, &hi);
    Png p;
    fig_open(&p, r, "corr_bars.png", CORR_W, CORR_H);
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
            if (isfinite(v)) rect(0, v, y0, y0 + band * 0.92, se[q].color);
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
    seg(0, ylo, 0, yhi, C_FG, 1, 1.5);
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
    legend_strip(lg, nl, 0.01, 0.07);
    free(idx);
    free(yrow);
    free(sel);
    free(vals);
    if (fig_close(&p, e)) return -1;
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
    range_of(a, n, 0.04, &xlo, &xhi);
    range_of(pr, n, 0.08, &ylo, &yhi);
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
        seg(xlo, mp + b * (xlo - ma), xhi, mp + b * (xhi - ma), C_RED, 1, 2.5);
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
    fig_open(&p, r, "scatter.png", SCATTER_W, SCATTER_H);
    const double w = 0.96 / np;
    int64_t shown[3] = {0}, total[3] = {0};
    int rc = 0;
    plschr(0, 0.9);
    plsxax(8, 0);   /* plain numbers, no "(x10^n)" that collides with the titles */
    plsyax(8, 0);
    for (int k = 0; k < np && !rc; k++)
        rc = scatter_panel(r, pick[k], which[k], 0.02 + k * w + 0.065, 0.02 + (k + 1) * w - 0.02, &shown[k], &total[k], e);
    if (fig_close(&p, e) || rc) return -1;
    char hn[48];
    return report_add_figure(figs, "figures/scatter.png",
                             "Predicted against actual target on the test split (horizon %s) for the %s symbol%s by "
                             "test correlation; at most %d evenly spaced points per panel (the counts are in the "
                             "panel titles); red: least-squares line.",
                             head_name(r, 0, hn, sizeof hn), np == 1 ? "only" : np == 2 ? "best and the worst" : "best, the median and the worst",
                             np == 1 ? "" : "s", SCATTER_MAX_POINTS);
}

/* the grid that fits n panels on a page: 1, 2, 3, 2x2, 3x2, 3x3, 4x3 */
static void panel_grid(int n, int *cols, int *rows) {
    *cols = n <= 3 ? n : n <= 4 ? 2 : n <= 9 ? 3 : 4;
    *rows = CEIL_DIV(n, *cols);
}

/* ---- training history ---------------------------------------------------------------- */

static void history_panel(const ReportSymbol *s, int first_col) {
    const int n = s->epochs_run;
    double *both = dl_malloc(((size_t)n * 2 + 1) * sizeof(double));
    for (int k = 0; k < n; k++) { both[k] = s->train_loss[k]; both[n + k] = s->val_loss[k]; }
    double lo, hi;
    range_of(both, 2 * n, 0.08, &lo, &hi);
    free(both);
    plwind(0.5, n + 0.5, lo, hi);
    plcol0(C_GRID);
    plbox("g", n <= 12 ? 1 : 0, 0, "g", 0, 0);
    /* LR reductions take effect from the epoch whose lr is lower than the one before */
    for (int k = 1; k < n; k++)
        if (s->lr[k] < s->lr[k - 1]) seg(k + 0.5, lo, k + 0.5, hi, C_GRAY, 2, 2.5);
    if (s->best_epoch >= 1 && s->best_epoch <= n) seg(s->best_epoch, lo, s->best_epoch, hi, C_GREEN, 1, 2.0);
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

static int fig_history(const ReportRun *r, FigureList *figs, DlErr *e) {
    int drawn = 0;
    for (int page = 0; page < HIST_MAX_PAGES && drawn < r->n; page++) {
        char name[64], file[96];
        snprintf(name, sizeof name, "history_%02d.png", page + 1);
        snprintf(file, sizeof file, "figures/%s", name);
        Png p;
        fig_open(&p, r, name, HIST_W, HIST_H);
        const int first = drawn, on_page = r->n - drawn < HIST_PER_PAGE ? r->n - drawn : HIST_PER_PAGE;
        int cols, rows;
        panel_grid(on_page, &cols, &rows);
        const double cw = 1.0 / cols, ch = 0.90 / rows;
        int slot = 0;
        for (; slot < HIST_PER_PAGE && drawn < r->n; drawn++) {
            const ReportSymbol *s = &r->sym[drawn];
            if (s->epochs_run < 1) continue;
            const int col = slot % cols, row = slot / cols;
            const double top = 0.92 - row * ch;
            plvpor(col * cw + (col ? 0.045 : 0.075), (col + 1) * cw - 0.015, top - ch + 0.10, top - 0.05);
            history_panel(s, col == 0);
            slot++;
        }
        const LegendItem lg[4] = {{"train", LG_LINE, C_BLUE, 1, NULL},
                                  {"validation", LG_LINE, C_ORANGE, 1, NULL},
                                  {"LR reduced (plateau)", LG_LINE, C_GRAY, 2, NULL},
                                  {"best epoch (weights restored)", LG_LINE, C_GREEN, 1, NULL}};
        legend_strip(lg, 4, 0.93, 0.99);
        if (fig_close(&p, e)) return -1;
        report_add_figure(figs, file,
                          "Training history of symbols %d to %d: mean Huber loss per epoch on the training batches "
                          "(blue) and on validation (orange); dashed grey: the learning rate was reduced on a "
                          "plateau; green: the best validation epoch, whose weights were restored for the test.",
                          first + 1, drawn);
    }
    if (drawn < r->n)
        snprintf(figs->absent + strlen(figs->absent), sizeof figs->absent - strlen(figs->absent),
                 "training history of symbols %d to %d (at most %d pages are drawn; the history of every symbol "
                 "is in results.h5). ", drawn + 1, r->n, HIST_MAX_PAGES);
    return 0;
}

/* ---- the schedule (Gantt chart) ------------------------------------------------------ */

static int fig_schedule(const ReportRun *r, FigureList *figs, DlErr *e) {
    if (!r->has_schedule || r->n == 0) {
        snprintf(figs->absent + strlen(figs->absent), sizeof figs->absent - strlen(figs->absent),
                 "the schedule (this results.h5 has no /schedule: written before it was recorded). ");
        return 0;
    }
    int ranks = r->ranks > 0 ? r->ranks : 1;
    for (int i = 0; i < r->n; i++)
        if (r->sym[i].rank + r->sym[i].ranks > ranks) ranks = r->sym[i].rank + r->sym[i].ranks;
    /* a symbol trained by a data-parallel group of w ranks keeps all w busy: its span
     * counts w times in the rank-seconds and in the bound */
    double makespan = 0, busy = 0;
    double *cost = dl_malloc(((size_t)r->n + 1) * sizeof(double));
    int *width = dl_malloc(((size_t)r->n + 1) * sizeof(int));
    for (int i = 0; i < r->n; i++) {
        const ReportSymbol *s = &r->sym[i];
        cost[i] = s->rank >= 0 ? s->end_s - s->start_s : 0;
        width[i] = s->ranks;
        busy += cost[i] * width[i];
        if (s->rank >= 0 && s->end_s > makespan) makespan = s->end_s;
    }
    const double bound = sched_lower_bound(cost, width, r->n, ranks);
    free(cost);
    free(width);
    if (makespan <= 0) makespan = 1;
    Png p;
    fig_open(&p, r, "schedule.png", SCHED_W, SCHED_H);
    const double vx0 = 0.08, vx1 = 0.97;
    plvpor(vx0, vx1, 0.19, 0.86);
    plwind(0, makespan * 1.03, ranks - 0.5, -0.5);
    for (int q = 0; q < ranks; q++) rect(0, makespan, q - 0.36, q + 0.36, C_IDLE);   /* bars cover the busy part */
    /* mm per second of the x axis, to decide which bars can hold their name */
    PLFLT sx0, sx1, sy0, sy1, chdef, chht;
    plgspa(&sx0, &sx1, &sy0, &sy1);
    plgchr(&chdef, &chht);
    const double mm_per_s = (vx1 - vx0) * (sx1 - sx0) / (makespan * 1.03);
    static const int cyc[6] = {C_BLUE, C_ORANGE, C_GREEN, C_PURPLE, C_TEAL, C_BROWN};
    for (int i = 0; i < r->n; i++) {
        const ReportSymbol *s = &r->sym[i];
        if (s->rank < 0) continue;
        /* one bar over the group's rows (ranks rank .. rank + ranks - 1) */
        const double y0 = s->rank - 0.36, y1 = s->rank + s->ranks - 1 + 0.36;
        rect(s->start_s, s->end_s, y0, y1, cyc[s->order % 6]);
        PLFLT bx[5] = {s->start_s, s->end_s, s->end_s, s->start_s, s->start_s};
        PLFLT by[5] = {y0, y0, y1, y1, y0};
        plcol0(C_BG);
        plline(5, bx, by);
        const double label_mm = strlen(s->symbol) * 0.62 * chht * 0.8 + 2;
        if ((s->end_s - s->start_s) * mm_per_s > label_mm && ranks <= 24) {
            plcol0(C_BG);
            plschr(0, 0.8);
            plptex(0.5 * (s->start_s + s->end_s), 0.5 * (y0 + y1), 1, 0, 0.5, s->symbol);
            plschr(0, 1.0);
        }
    }
    seg(bound, ranks - 0.5, bound, -0.5, C_FG, 2, 2.0);
    seg(makespan, ranks - 0.5, makespan, -0.5, C_RED, 1, 2.0);
    plcol0(C_FG);
    plbox("bcnst", 0, 0, "bcnstv", ranks <= 24 ? 1 : 0, 0);
    char t1[256], t2[256];
    snprintf(t1, sizeof t1, "Schedule: %d symbols on %d rank(s), makespan %.1f s, lower bound %.1f s", r->n, ranks,
             makespan, bound);
    snprintf(t2, sizeof t2, "ranks busy %.0f%% of %.1f rank-seconds; lower bound = max(longest symbol, total / ranks)",
             100.0 * busy / (makespan * ranks), makespan * ranks);
    plmtex("t", 2.8, 0.5, 0.5, t1);
    plschr(0, 0.85);
    plmtex("t", 1.1, 0.5, 0.5, t2);
    plschr(0, 1.0);
    pllab("seconds since training started", "", "");
    plmtex("l", 3.0, 0.5, 0.5, "MPI rank");
    const LegendItem lg[4] = {{"busy: one bar per symbol", LG_BOX, C_BLUE, 1, NULL},
                              {"idle", LG_BOX, C_IDLE, 1, NULL},
                              {"makespan", LG_LINE, C_RED, 1, NULL},
                              {"lower bound", LG_LINE, C_FG, 2, NULL}};
    legend_strip(lg, 4, 0.01, 0.07);
    if (fig_close(&p, e)) return -1;
    return report_add_figure(figs, "figures/schedule.png",
                             "How the ranks spent the run: one row per MPI rank, one bar per symbol from its start "
                             "to its end (largest first, handed out dynamically), idle time in pink; red: the "
                             "makespan (%.1f s), dashed: the lower bound no schedule of whole symbols can beat "
                             "(%.1f s).",
                             makespan, bound);
}

/* ---- the MMF study: LSTM MSE over training against XGBoost and the zero floor -------- */

static void mmf_panel(const ReportSymbol *s, int first_col) {
    const int n = s->mse_epochs;
    /* y range over everything drawn: both curves, XGBoost's and the zero predictor's lines */
    double *all = dl_malloc(((size_t)n * 2 + 8) * sizeof(double));
    int m = 0;
    for (int k = 0; k < n; k++) { all[m++] = s->mse_curve[2 * k]; all[m++] = s->mse_curve[2 * k + 1]; }
    all[m++] = s->mmf[1][0]; all[m++] = s->mmf[1][1]; all[m++] = s->mmf[2][1];
    double lo, hi;
    range_of(all, m, 0.08, &lo, &hi);
    free(all);
    plwind(0.5, n + 0.5, lo, hi);
    plcol0(C_GRID);
    plbox("g", n <= 12 ? 1 : 0, 0, "g", 0, 0);
    /* long dashes (style 3) for XGBoost: the short ones (2) read as a solid line at this width */
    if (isfinite(s->mmf[2][1])) seg(0.5, s->mmf[2][1], n + 0.5, s->mmf[2][1], C_GRAY, 1, 2.0);   /* zero, test */
    if (isfinite(s->mmf[1][0])) seg(0.5, s->mmf[1][0], n + 0.5, s->mmf[1][0], C_BLUE, 3, 3.0);  /* xgb train */
    if (isfinite(s->mmf[1][1])) seg(0.5, s->mmf[1][1], n + 0.5, s->mmf[1][1], C_ORANGE, 3, 3.0); /* xgb test */
    PLFLT *x = dl_malloc(((size_t)n + 1) * sizeof(PLFLT)), *y = dl_malloc(((size_t)n + 1) * sizeof(PLFLT));
    const int cs[2] = {C_BLUE, C_ORANGE};
    for (int c = 0; c < 2; c++) {
        for (int k = 0; k < n; k++) { x[k] = k + 1; y[k] = s->mse_curve[2 * k + c]; }
        plcol0(cs[c]);
        plwidth(2.5);
        plline(n, x, y);
        plwidth(1);
        plschr(0, 0.6);
        plstring(n, x, y, "●");
        plschr(0, 1.0);
    }
    free(x);
    free(y);
    plcol0(C_FG);
    plschr(0, 0.8);
    plbox("bcnst", n <= 12 ? 1 : 0, 0, "bcnstv", 0, 0);
    char t[128];
    snprintf(t, sizeof t, "%s (%lld features)", s->symbol, (long long)s->mmf_features);
    pllab("epoch", first_col ? "MSE (bps²)" : "", t);
    plschr(0, 1.0);
}

static int fig_mmf_mse(const ReportRun *r, FigureList *figs, DlErr *e) {
    int drawn = 0;
    for (int page = 0; page < HIST_MAX_PAGES && drawn < r->n; page++) {
        char name[64], file[96];
        snprintf(name, sizeof name, "mmf_mse_%02d.png", page + 1);
        snprintf(file, sizeof file, "figures/%s", name);
        const int first = drawn, on_page = r->n - drawn < HIST_PER_PAGE ? r->n - drawn : HIST_PER_PAGE;
        int cols, rows, slot = 0;
        panel_grid(on_page, &cols, &rows);
        Png p;
        fig_open(&p, r, name, MMF_W, MMF_H);
        const double cw = 1.0 / cols, ch = 0.90 / rows;
        for (; slot < HIST_PER_PAGE && drawn < r->n; drawn++) {
            const ReportSymbol *s = &r->sym[drawn];
            if (s->mse_epochs < 1) continue;
            const int col = slot % cols, row = slot / cols;
            const double top = 0.92 - row * ch;
            plvpor(col * cw + (col ? 0.045 : 0.075), (col + 1) * cw - 0.015, top - ch + 0.10, top - 0.05);
            mmf_panel(s, col == 0);
            slot++;
        }
        const LegendItem lg[5] = {{"LSTM train", LG_LINE, C_BLUE, 1, NULL},
                                  {"LSTM test", LG_LINE, C_ORANGE, 1, NULL},
                                  {"XGBoost train", LG_LINE, C_BLUE, 3, NULL},
                                  {"XGBoost test", LG_LINE, C_ORANGE, 3, NULL},
                                  {"zero test", LG_LINE, C_GRAY, 1, NULL}};
        legend_strip(lg, 5, 0.93, 0.99);
        if (fig_close(&p, e)) return -1;
        if (slot == 0) { remove(p.path); continue; }
        report_add_figure(figs, file,
                          "MMF study, symbols %d to %d: the MMF-LSTM's MSE (bps²) on the training rows (blue) "
                          "and the test rows (orange) after each epoch (dots); dashed: XGBoost's train (blue) and test "
                          "(orange) MSE; grey: the zero predictor's test MSE, the floor a model must beat.",
                          first + 1, drawn);
    }
    if (drawn < r->n)
        snprintf(figs->absent + strlen(figs->absent), sizeof figs->absent - strlen(figs->absent),
                 "MMF MSE curves of symbols %d to %d (at most %d pages are drawn; every curve is in results.h5). ",
                 drawn + 1, r->n, HIST_MAX_PAGES);
    return 0;
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
