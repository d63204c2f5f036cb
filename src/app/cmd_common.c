#include "app/cmd_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int cli_i64(const char *opt, const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) { fprintf(stderr, "%s: '%s' is not an integer\n", opt, s); return -1; }
    if (v < lo || v > hi) { fprintf(stderr, "%s: %lld outside [%lld, %lld]\n", opt, v, lo, hi); return -1; }
    *out = v;
    return 0;
}

int cli_int(const char *opt, const char *s, int lo, int hi, int *out) {
    long long v;
    if (cli_i64(opt, s, lo, hi, &v) != 0) return -1;
    *out = (int)v;
    return 0;
}

int cli_double(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v != v) { fprintf(stderr, "%s: '%s' is not a number\n", opt, s); return -1; }
    if (v < lo || v > hi) { fprintf(stderr, "%s: %g outside [%g, %g]\n", opt, v, lo, hi); return -1; }
    *out = v;
    return 0;
}

int cli_model(const char *s, ModelConfig *cfg) {
    ModelKind k;
    if (model_kind_parse(s, &k) != 0) {
        fprintf(stderr, "--model: unknown or unavailable model '%s' (deeplob, deeplob_tcn%s, mmf_lstm)\n", s,
                model_kind_parse("deeplob_hier", &k) == 0 ? ", deeplob_hier" : "");
        return -1;
    }
    *cfg = model_default_config(k);
    return 0;
}

int cli_shape(const char *cmd, ModelConfig *cfg, int T, int F) {
    const int mmf = cfg->kind == MODEL_MMF_LSTM;
    if (!mmf && F) {
        fprintf(stderr, "%s: --features is for mmf_lstm only (%s reads 40 book features)\n", cmd, model_kind_name(cfg->kind));
        return -1;
    }
    if (!mmf && T && T < 13) {
        fprintf(stderr, "%s: --seq-len %d: %s needs >= 13 steps (its CNN front end consumes 12)\n", cmd, T,
                model_kind_name(cfg->kind));
        return -1;
    }
    if (T) cfg->seq_len = T;
    if (F) cfg->n_features = F;
    return 0;
}
