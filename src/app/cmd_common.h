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

#endif
