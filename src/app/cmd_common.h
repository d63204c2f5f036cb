/* cmd_common.h: option-value parsing shared by the subcommands; each prints
 * "<option>: <why>" to stderr and returns -1 on a bad value. */
#ifndef DL_CMD_COMMON_H
#define DL_CMD_COMMON_H

#include "engine/model.h"

int cli_int(const char *opt, const char *s, int lo, int hi, int *out);
int cli_i64(const char *opt, const char *s, long long lo, long long hi, long long *out);
int cli_double(const char *opt, const char *s, double lo, double hi, double *out);
/* model name -> default config of that model */
int cli_model(const char *s, ModelConfig *cfg);
/* --seq-len T / --features F (0: not given, the model's default) into cfg: --features only for
 * mmf_lstm (the DeepLOB models read 40), T >= 13 for the DeepLOB models (their CNN front end
 * consumes 12 steps). Prints "<cmd>: <why>" and returns -1 on a bad combination. */
int cli_shape(const char *cmd, ModelConfig *cfg, int T, int F);

#endif
