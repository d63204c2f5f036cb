/* mmf_study.h: the MMF study over MPI (../shared/design/mmf.md): per symbol, bars ->
 * features -> MMF-LSTM, XGBoost and the zero predictor; symbols handed out largest first
 * (SymbolQueue); every number is a pure function of (config, data, seed, symbol), so the
 * results are bit-identical for any rank count (XGBoost: with its fixed thread count).
 * Per-epoch checkpoints <run>/ckpt/<SYM>.ckpt (atomic), --resume continues from them.
 * Rank 0 gathers the metrics and writes <run>/results.h5 (a group per model), summary.csv
 * and the printed table. */
#ifndef DL_TRAIN_MMF_STUDY_H
#define DL_TRAIN_MMF_STUDY_H

#include <mpi.h>

#include "train/mmf_data.h"
#include "train/mmf_xgb.h"

#define MMF_MAX_SYMS 256
#define MMF_MAX_EPOCHS 200

typedef struct {
    char bars[1024];           /* bars file (mmf-bars) */
    char output_dir[1024], run_name[128];
    char symbols[MMF_MAX_SYMS][64];
    int n_symbols;             /* 0: every symbol of the file */
    uint64_t seed;
    int epochs, batch, episode_len, warmup, stride;
    double lr;
    MmfDataOpts data;
    MmfXgbOpts xgb;
    int xgb_enabled;
} MmfConfig;

void mmf_config_defaults(MmfConfig *c);
/* JSON object with the keys of MmfConfig (docs/mmf.md); unknown keys are errors naming file and key */
int mmf_config_load(MmfConfig *c, const char *path, DlErr *e);

typedef struct {
    double mse[2], corr[2], r2[2]; /* [train, test] */
} MmfMetrics;

enum { MMF_LSTM = 0, MMF_XGB = 1, MMF_ZERO = 2, MMF_NMODELS = 3 };
extern const char *const mmf_model_names[MMF_NMODELS];

typedef struct {
    char symbol[64];
    int64_t n_bars, n_rows, n_train, n_dropped;
    int n_feat, epochs;
    int have[MMF_NMODELS];
    MmfMetrics m[MMF_NMODELS];
    double curve[MMF_MAX_EPOCHS][2]; /* LSTM train/test MSE after each epoch */
    double seconds;
    char kept[512];                  /* ADF-kept raw columns, comma separated */
} MmfSymbolResult;

/* one symbol, start to end (checkpoints under ckpt_dir when non-NULL) */
int mmf_run_symbol(MmfSymbolResult *r, const MmfConfig *c, const char *symbol, const char *run_dir, int resume,
                   DlErr *e);
/* collective; 0 ok, 1 error */
int mmf_run_mpi(const MmfConfig *c, const char *cfg_path, int resume, MPI_Comm comm, DlErr *e);

#endif
