/* mmf_xgb.c: XGBoost C API wrapper (mmf_xgb.h). Every XGBoost call is checked; its own
 * error text (XGBGetLastError) goes into the message. */
#define _GNU_SOURCE
#include "train/mmf_xgb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef DL_HAVE_XGBOOST
#include <xgboost/c_api.h>

int mmf_xgb_available(void) { return 1; }

#define XGB(call)                                                                               \
    do {                                                                                        \
        if ((call) != 0) { rc = dl_err(e, "XGBoost: %s: %s", #call, XGBGetLastError()); goto out; } \
    } while (0)

int mmf_xgb_fit_predict(const float *X, const float *y, int64_t n_train, int64_t n, int F, const MmfXgbOpts *o,
                        float *pred, const char *model_path, DlErr *e) {
    DMatrixHandle dtr = NULL, dall = NULL;
    BoosterHandle bst = NULL;
    int rc = 0;
    char v[64];
    XGB(XGDMatrixCreateFromMat(X, (bst_ulong)n_train, (bst_ulong)F, NAN, &dtr));
    XGB(XGDMatrixSetFloatInfo(dtr, "label", y, (bst_ulong)n_train));
    XGB(XGDMatrixCreateFromMat(X, (bst_ulong)n, (bst_ulong)F, NAN, &dall));
    XGB(XGBoosterCreate(&dtr, 1, &bst));
    XGB(XGBoosterSetParam(bst, "objective", "reg:squarederror"));
    XGB(XGBoosterSetParam(bst, "tree_method", "hist"));
    snprintf(v, sizeof v, "%d", o->max_depth);
    XGB(XGBoosterSetParam(bst, "max_depth", v));
    snprintf(v, sizeof v, "%.17g", o->eta);
    XGB(XGBoosterSetParam(bst, "eta", v));
    snprintf(v, sizeof v, "%d", o->threads);
    XGB(XGBoosterSetParam(bst, "nthread", v));
    snprintf(v, sizeof v, "%llu", (unsigned long long)(o->seed & 0x7fffffff));
    XGB(XGBoosterSetParam(bst, "seed", v));
    XGB(XGBoosterSetParam(bst, "verbosity", "0"));
    for (int i = 0; i < o->rounds; i++) XGB(XGBoosterUpdateOneIter(bst, i, dtr));
    bst_ulong len = 0;
    const float *res = NULL;
    XGB(XGBoosterPredict(bst, dall, 0, 0, 0, &len, &res));
    if ((int64_t)len != n) { rc = dl_err(e, "XGBoost returned %llu predictions for %lld rows", (unsigned long long)len, (long long)n); goto out; }
    for (int64_t i = 0; i < n; i++) pred[i] = res[i];
    if (model_path) { /* XGBoost picks its JSON format from the .json name; we rename it into place */
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp.%d.json", model_path, (int)getpid());
        XGB(XGBoosterSaveModel(bst, tmp));
        if (dl_commit_file(tmp, model_path, e)) rc = -1;
    }
out:
    if (bst) XGBoosterFree(bst);
    if (dtr) XGDMatrixFree(dtr);
    if (dall) XGDMatrixFree(dall);
    return rc;
}
#else
int mmf_xgb_available(void) { return 0; }
int mmf_xgb_fit_predict(const float *X, const float *y, int64_t n_train, int64_t n, int F, const MmfXgbOpts *o,
                        float *pred, const char *model_path, DlErr *e) {
    (void)X; (void)y; (void)n_train; (void)n; (void)F; (void)o; (void)pred; (void)model_path;
    return dl_err(e, "this build has no XGBoost (apt-get install libxgboost-dev, then re-run cmake)");
}
#endif
