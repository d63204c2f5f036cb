/* plot.h: the drawing helpers the report's figure files share (PLplot, pngcairo):
 * the palette, a figure's PNG opened and committed atomically, filled boxes, line
 * segments, a hand-drawn legend strip, axis ranges and panel grids. Internal to
 * src/report; only in builds with PLplot (DL_HAVE_PLPLOT). */
#ifndef DL_REPORT_PLOT_H
#define DL_REPORT_PLOT_H
#ifdef DL_HAVE_PLPLOT
#include <plplot.h>

#include "report/report.h"

/* pages of per-symbol panels (training history, the MMF study's MSE) */
#define HIST_PER_PAGE 12 /* 4 x 3 panels */
#define HIST_MAX_PAGES 10

/* cmap0 indices */
enum { C_BG, C_FG, C_BLUE, C_ORANGE, C_GREEN, C_RED, C_PURPLE, C_GRAY, C_GRID, C_IDLE, C_TEAL, C_BROWN, C_PINK,
       C_OLIVE, C_DOT };

typedef struct {
    char tmp[2300], path[2300];
} Png;

/* kinds of legend entry */
enum { LG_BOX, LG_LINE, LG_SYMBOL };
typedef struct {
    const char *text;
    int kind, color, style;
    const char *symbol;   /* LG_SYMBOL */
} LegendItem;

/* a w x h pixel PNG <run>/figures/<name>, written under a temporary name */
void plot_open(Png *p, const ReportRun *r, const char *name, int w, int h);
/* ends the stream and renames the PNG into place */
int plot_close(Png *p, DlErr *e);
void plot_rect(double x0, double x1, double y0, double y1, int color);
void plot_seg(double x0, double y0, double x1, double y1, int color, int style, double width);
/* A legend in the page strip [y0, y1] (normalised page height), items left to
 * right, wrapped onto a second row when they do not fit, each row centred */
void plot_legend(const LegendItem *it, int n, double y0, double y1);
/* [lo, hi] of finite v, padded by frac; a safe range when none or all equal */
void plot_range(const double *v, int n, double frac, double *lo, double *hi);
/* columns and rows of a grid of n panels */
void plot_grid(int n, int *cols, int *rows);

/* Pages of per-symbol panels (<stem>_01.png, ...): up to HIST_PER_PAGE panels a page
 * in a plot_grid, panel(s, first_col) for each symbol where has(s), the legend on
 * top; a page with no panel is not kept. caption: a format with two %d, the first and
 * last symbol of the page. Symbols beyond HIST_MAX_PAGES pages are named in
 * figs->absent with absent_what. */
typedef struct {
    const char *stem;
    int w, h;
    int (*has)(const ReportSymbol *s);
    void (*panel)(const ReportSymbol *s, int first_col);
    const LegendItem *legend;
    int n_legend;
    const char *caption, *absent_what;
} PanelPages;
int plot_panel_pages(const ReportRun *r, const PanelPages *pp, FigureList *figs, DlErr *e);

/* the figures of report_plot_run.c (the schedule; the MMF study's MSE) */
int fig_schedule(const ReportRun *r, FigureList *figs, DlErr *e);
int fig_mmf_mse(const ReportRun *r, FigureList *figs, DlErr *e);

#endif
#endif
