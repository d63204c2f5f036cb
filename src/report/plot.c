/* plot.c: the report figures' shared drawing helpers (plot.h). */
#include "report/plot.h"

#ifdef DL_HAVE_PLPLOT
#include <math.h>
#include <stdio.h>
#include <string.h>

static void palette(void) {
    static const int rgb[][3] = {{255, 255, 255}, {30, 30, 30},  {31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                 {214, 39, 40},   {148, 103, 189}, {110, 110, 110}, {225, 225, 225}, {250, 205, 205},
                                 {23, 190, 207},  {140, 86, 75},  {227, 119, 194}, {188, 189, 34}, {31, 119, 180}};
    plscmap0n(16);
    for (int k = 0; k < (int)(sizeof rgb / sizeof rgb[0]); k++) plscol0(k, rgb[k][0], rgb[k][1], rgb[k][2]);
    plscol0a(C_DOT, 31, 119, 180, 0.35);   /* scatter points: translucent, so density shows */
}

void plot_open(Png *p, const ReportRun *r, const char *name, int w, int h) {
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

int plot_close(Png *p, DlErr *e) {
    plend1();
    if (dl_commit_file(p->tmp, p->path, e)) { remove(p->tmp); return -1; }
    return 0;
}

void plot_rect(double x0, double x1, double y0, double y1, int color) {
    PLFLT x[4] = {x0, x1, x1, x0}, y[4] = {y0, y0, y1, y1};
    plcol0(color);
    plfill(4, x, y);
}

void plot_seg(double x0, double y0, double x1, double y1, int color, int style, double width) {
    PLFLT x[2] = {x0, x1}, y[2] = {y0, y1};
    plcol0(color);
    pllsty(style);
    plwidth(width);
    plline(2, x, y);
    pllsty(1);
    plwidth(1);
}

/* drawn by hand: pllegend's text-width estimate is far off for the cairo fonts */
void plot_legend(const LegendItem *it, int n, double y0, double y1) {
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
        if (it[k].kind == LG_BOX) plot_rect(x, x + sw, y - hh, y + hh, it[k].color);
        else if (it[k].kind == LG_LINE) plot_seg(x, y, x + sw, y, it[k].color, it[k].style, 3.0);
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

void plot_range(const double *v, int n, double frac, double *lo, double *hi) {
    double a = INFINITY, b = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) { a = v[i] < a ? v[i] : a; b = v[i] > b ? v[i] : b; }
    if (!(a <= b)) { a = 0; b = 1; }
    if (b - a < 1e-12) { a -= 0.5 * (fabs(a) + 1e-3); b += 0.5 * (fabs(b) + 1e-3); }
    const double p = (b - a) * frac;
    *lo = a - p;
    *hi = b + p;
}

void plot_grid(int n, int *cols, int *rows) {
    *cols = n <= 3 ? n : n <= 4 ? 2 : n <= 9 ? 3 : 4;
    *rows = CEIL_DIV(n, *cols);
}

int plot_panel_pages(const ReportRun *r, const PanelPages *pp, FigureList *figs, DlErr *e) {
    int drawn = 0;
    for (int page = 0; page < HIST_MAX_PAGES && drawn < r->n; page++) {
        char name[64], file[96], caption[512];
        snprintf(name, sizeof name, "%s_%02d.png", pp->stem, page + 1);
        snprintf(file, sizeof file, "figures/%s", name);
        const int first = drawn, on_page = r->n - drawn < HIST_PER_PAGE ? r->n - drawn : HIST_PER_PAGE;
        int cols, rows, slot = 0;
        plot_grid(on_page, &cols, &rows);
        Png p;
        plot_open(&p, r, name, pp->w, pp->h);
        const double cw = 1.0 / cols, ch = 0.90 / rows;
        for (; slot < HIST_PER_PAGE && drawn < r->n; drawn++) {
            const ReportSymbol *s = &r->sym[drawn];
            if (!pp->has(s)) continue;
            const int col = slot % cols, row = slot / cols;
            const double top = 0.92 - row * ch;
            plvpor(col * cw + (col ? 0.045 : 0.075), (col + 1) * cw - 0.015, top - ch + 0.10, top - 0.05);
            pp->panel(s, col == 0);
            slot++;
        }
        plot_legend(pp->legend, pp->n_legend, 0.93, 0.99);
        if (plot_close(&p, e)) return -1;
        if (slot == 0) { remove(p.path); continue; }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(caption, sizeof caption, pp->caption, first + 1, drawn);
#pragma GCC diagnostic pop
        report_add_figure(figs, file, "%s", caption);
    }
    if (drawn < r->n)
        snprintf(figs->absent + strlen(figs->absent), sizeof figs->absent - strlen(figs->absent),
                 "%s of symbols %d to %d (at most %d pages are drawn; every one is in results.h5). ", pp->absent_what,
                 drawn + 1, r->n, HIST_MAX_PAGES);
    return 0;
}

#endif
