/* report_plot_run.c: the report figures about the run rather than one symbol's model:
 * the schedule (a Gantt chart of symbols on ranks) and the MMF study's MSE over
 * training against XGBoost and the zero floor. Helpers: plot.h. */
#include "report/plot.h"

#ifdef DL_HAVE_PLPLOT
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/symbol_sched.h"

/* figure sizes (pixels) */
#define SCHED_W 1600
#define SCHED_H 800
#define MMF_W 1800
#define MMF_H 1200

/* ---- the schedule (Gantt chart) ------------------------------------------------------ */

int fig_schedule(const ReportRun *r, FigureList *figs, DlErr *e) {
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
    plot_open(&p, r, "schedule.png", SCHED_W, SCHED_H);
    const double vx0 = 0.08, vx1 = 0.97;
    plvpor(vx0, vx1, 0.19, 0.86);
    plwind(0, makespan * 1.03, ranks - 0.5, -0.5);
    for (int q = 0; q < ranks; q++) plot_rect(0, makespan, q - 0.36, q + 0.36, C_IDLE);   /* bars cover the busy part */
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
        plot_rect(s->start_s, s->end_s, y0, y1, cyc[s->order % 6]);
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
    plot_seg(bound, ranks - 0.5, bound, -0.5, C_FG, 2, 2.0);
    plot_seg(makespan, ranks - 0.5, makespan, -0.5, C_RED, 1, 2.0);
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
    plot_legend(lg, 4, 0.01, 0.07);
    if (plot_close(&p, e)) return -1;
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
    plot_range(all, m, 0.08, &lo, &hi);
    free(all);
    plwind(0.5, n + 0.5, lo, hi);
    plcol0(C_GRID);
    plbox("g", n <= 12 ? 1 : 0, 0, "g", 0, 0);
    /* long dashes (style 3) for XGBoost: the short ones (2) read as a solid line at this width */
    if (isfinite(s->mmf[2][1])) plot_seg(0.5, s->mmf[2][1], n + 0.5, s->mmf[2][1], C_GRAY, 1, 2.0);   /* zero, test */
    if (isfinite(s->mmf[1][0])) plot_seg(0.5, s->mmf[1][0], n + 0.5, s->mmf[1][0], C_BLUE, 3, 3.0);  /* xgb train */
    if (isfinite(s->mmf[1][1])) plot_seg(0.5, s->mmf[1][1], n + 0.5, s->mmf[1][1], C_ORANGE, 3, 3.0); /* xgb test */
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

static int has_mse(const ReportSymbol *s) { return s->mse_epochs >= 1; }

int fig_mmf_mse(const ReportRun *r, FigureList *figs, DlErr *e) {
    static const LegendItem lg[5] = {{"LSTM train", LG_LINE, C_BLUE, 1, NULL},
                                     {"LSTM test", LG_LINE, C_ORANGE, 1, NULL},
                                     {"XGBoost train", LG_LINE, C_BLUE, 3, NULL},
                                     {"XGBoost test", LG_LINE, C_ORANGE, 3, NULL},
                                     {"zero test", LG_LINE, C_GRAY, 1, NULL}};
    const PanelPages pp = {"mmf_mse", MMF_W, MMF_H, has_mse, mmf_panel, lg, 5,
                           "MMF study, symbols %d to %d: the MMF-LSTM's MSE (bps²) on the training rows (blue) "
                           "and the test rows (orange) after each epoch (dots); dashed: XGBoost's train (blue) and "
                           "test (orange) MSE; grey: the zero predictor's test MSE, the floor a model must beat.",
                           "MMF MSE curves"};
    return plot_panel_pages(r, &pp, figs, e);
}

#endif
