/* results_text.c: summary.csv and the printed table (rank 0 only, from gathered results). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/metrics.h"
#include "train/results.h"

int results_write_csv(const char *path, const SymbolResult *rs, int n, DlErr *e) {
    size_t cap = 4096 + (size_t)n * 512, len = 0;
    char *buf = dl_malloc(cap);
    const int two = n > 0 && rs[0].n_heads > 1; /* deeplob_hier: head 2 columns (horizon2) */
    len += (size_t)snprintf(buf + len, cap - len,
                            "symbol,oracle_corr,corr,corr_over_oracle,mae_bps,rmse_bps,r2,corr_smoothed,mae_smoothed,"
                            "rmse_smoothed,r2_smoothed,n_train,n_val,n_test,skipped_windows,epochs,best_epoch,"
                            "best_val_loss,wall_s,samples_per_s,status,status_message%s\n",
                            two ? ",oracle_corr2,corr2,corr2_over_oracle,mae2_bps,rmse2_bps,r2_2,corr2_smoothed" : "");
    for (int i = 0; i < n; i++) {
        const SymbolResult *r = &rs[i];
        double nan = NAN;
        const Metrics *s = &r->test_smooth;
        len += (size_t)snprintf(buf + len, cap - len,
                                "\"%s\",%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%lld,%lld,%lld,%lld,%d,%d,%.6g,%.3f,%.1f,%s,\"%s\"\n",
                                r->symbol, r->oracle_corr, r->test_raw.corr, r->test_raw.corr / r->oracle_corr,
                                r->test_raw.mae, r->test_raw.rmse, r->test_raw.r2, r->has_smooth ? s->corr : nan,
                                r->has_smooth ? s->mae : nan, r->has_smooth ? s->rmse : nan, r->has_smooth ? s->r2 : nan,
                                (long long)r->n_samples[0], (long long)r->n_samples[1], (long long)r->n_samples[2],
                                (long long)(r->skipped[0] + r->skipped[1] + r->skipped[2]), r->epochs_run, r->best_epoch,
                                r->best_val_loss, r->wall_s, r->samples_per_s, symbol_status_name(r->status),
                                r->status_msg);
        if (two) {
            len--; /* the row's newline: head 2 columns go before it */
            len += (size_t)snprintf(buf + len, cap - len, ",%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", r->oracle_corr2,
                                    r->test_raw2.corr, r->test_raw2.corr / r->oracle_corr2, r->test_raw2.mae,
                                    r->test_raw2.rmse, r->test_raw2.r2, r->has_smooth ? r->test_smooth2.corr : nan);
        }
    }
    int rc = dl_write_file_atomic(path, buf, len, e);
    free(buf);
    return rc;
}

/* one head's metrics of a result: head 0 = horizon, head 1 = horizon2 (deeplob_hier) */
typedef struct {
    double oracle;
    const Metrics *raw, *smooth;
    int horizon;
} HeadView;

static HeadView head_view(const SymbolResult *r, int h) {
    HeadView v = {h ? r->oracle_corr2 : r->oracle_corr, h ? &r->test_raw2 : &r->test_raw,
                  h ? &r->test_smooth2 : &r->test_smooth, r->head_horizon[h]};
    return v;
}

static void print_head_table(FILE *f, const SymbolResult *rs, int n, int h) {
    int smooth = n > 0 && rs[0].has_smooth;
    if (rs[0].n_heads > 1) fprintf(f, "\nhead %d: %d s returns\n", h + 1, rs[0].head_horizon[h]);
    fprintf(f, "\n%-14s %7s %7s %6s %9s %9s %8s %s%6s %5s %9s %10s\n", "symbol", "oracle", "corr", "ratio", "MAE_bps",
            "RMSE_bps", "R2", smooth ? "corr_smoothed " : "", "epochs", "best", "n_test", "samples/s");
    double *corr = dl_malloc(sizeof(double) * ((size_t)n + 1)), *ratio = dl_malloc(sizeof(double) * ((size_t)n + 1));
    for (int i = 0; i < n; i++) {
        const SymbolResult *r = &rs[i];
        HeadView v = head_view(r, h);
        corr[i] = v.raw->corr;
        ratio[i] = v.raw->corr / v.oracle;
        fprintf(f, "%-14s %7.4f %7.4f %6.3f %9.4f %9.4f %8.4f ", r->symbol, v.oracle, corr[i], ratio[i], v.raw->mae,
                v.raw->rmse, v.raw->r2);
        if (smooth) fprintf(f, "%13.4f ", v.smooth->corr);
        fprintf(f, "%6d %5d %9lld %10.1f\n", r->epochs_run, r->best_epoch, (long long)v.raw->n, r->samples_per_s);
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
    free(corr);
    free(ratio);
}

void results_print_table(FILE *f, const SymbolResult *rs, int n) {
    int heads = n > 0 ? rs[0].n_heads : 1;
    for (int h = 0; h < (heads > 1 ? 2 : 1); h++) print_head_table(f, rs, n, h);
    int bad = 0;
    for (int i = 0; i < n; i++) bad += rs[i].status != SYM_OK;
    if (bad) {
        fprintf(f, "\n%d of %d symbol(s) without test metrics (NaN above, left out of the statistics):\n", bad, n);
        for (int i = 0; i < n; i++)
            if (rs[i].status != SYM_OK)
                fprintf(f, "  %-14s %-8s %s\n", rs[i].symbol, symbol_status_name(rs[i].status), rs[i].status_msg);
    }
    fflush(f);
}
