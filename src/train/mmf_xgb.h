/* mmf_xgb.h: the MMF study's gradient-boosted trees through XGBoost's C API
 * (libxgboost-dev). Squared error, max_depth 8, hist trees; eta, rounds, seed and threads
 * from the caller. Built only when CMake finds XGBoost (DL_HAVE_XGBOOST); otherwise
 * mmf_xgb_available() is 0 and mmf_xgb_fit fails with a message saying so. */
#ifndef DL_TRAIN_MMF_XGB_H
#define DL_TRAIN_MMF_XGB_H

#include <stdint.h>

#include "common/util.h"

typedef struct {
    int rounds;      /* boosting rounds, default 300 */
    double eta;      /* learning rate, default 0.05 */
    int max_depth;   /* 8 (mmf.md) */
    int threads;     /* XGBoost nthread, default 1 (fixed: results do not move with the rank count) */
    uint64_t seed;
} MmfXgbOpts;

int mmf_xgb_available(void);
/* fit on X (n_train, F) / y, predict pred (n, F) rows of X; save the model as XGBoost JSON
 * to model_path (temp + rename) when model_path != NULL. */
int mmf_xgb_fit_predict(const float *X, const float *y, int64_t n_train, int64_t n, int F, const MmfXgbOpts *o,
                        float *pred, const char *model_path, DlErr *e);

#endif
