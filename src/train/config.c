/* config.c: the key table, JSON parsing (cJSON) and command-line overrides. */
#include "train/config.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "io/lobds.h"

typedef enum { K_STR, K_INT, K_I64, K_U64, K_DBL, K_BOOL, K_SYMBOLS, K_MODEL } KeyType;

typedef struct {
    const char *name;
    KeyType type;
    size_t off;          /* offset in TrainConfig */
    size_t size;         /* buffer size for strings */
    double lo, hi;       /* inclusive range for numbers */
    int training;        /* 1: changes the numbers a run produces (resume must match) */
    const char *help;
} Key;

#define OFF(f) offsetof(TrainConfig, f)
#define SZ(f) sizeof(((TrainConfig *)0)->f)
static const Key KEYS[] = {
    {"dataset", K_STR, OFF(dataset), SZ(dataset), 0, 0, 1, "LOB dataset file (HDF5)"},
    {"symbols", K_SYMBOLS, 0, 0, 0, 0, 0, "\"all\" or a list of symbol names"},
    {"model", K_MODEL, OFF(model), SZ(model), 0, 0, 1, "deeplob | deeplob_tcn | deeplob_hier"},
    {"horizon", K_INT, OFF(horizon), 0, 1, 86400, 1, "target horizon in seconds (deeplob_hier: short head)"},
    {"horizon2", K_INT, OFF(horizon2), 0, 1, 86400, 1, "deeplob_hier: long head's horizon in seconds"},
    {"ema_alpha", K_DBL, OFF(ema_alpha), 0, 0, 1, 1, "EMA of train/val targets (0 = off)"},
    {"price_features", K_STR, OFF(price_features), SZ(price_features), 0, 0, 1, "zscore | mid_relative"},
    {"volume_features", K_STR, OFF(volume_features), SZ(volume_features), 0, 0, 1, "raw | log"},
    {"standardize_targets", K_BOOL, OFF(standardize_targets), 0, 0, 1, 1, "train on z-scored targets"},
    {"seq_len", K_INT, OFF(seq_len), 0, 16, 100000, 1, "window length T"},
    {"batch", K_INT, OFF(batch), 0, 1, 65536, 1, "training batch size"},
    {"eval_batch", K_INT, OFF(eval_batch), 0, 0, 65536, 0, "evaluation batch (0 = batch)"},
    {"epochs", K_INT, OFF(epochs), 0, 1, 100000, 1, "maximum epochs"},
    {"patience", K_INT, OFF(patience), 0, 1, 100000, 1, "early-stopping patience (epochs)"},
    {"plateau_patience", K_INT, OFF(plateau_patience), 0, 0, 100000, 1, "LR plateau patience"},
    {"plateau_factor", K_DBL, OFF(plateau_factor), 0, 1e-6, 1, 1, "LR factor on plateau"},
    {"plateau_threshold", K_DBL, OFF(plateau_threshold), 0, 0, 1, 1, "relative improvement threshold"},
    {"lr", K_DBL, OFF(lr), 0, 1e-9, 10, 1, "Adam learning rate"},
    {"huber_delta", K_DBL, OFF(huber_delta), 0, 1e-9, 1e9, 1, "Huber delta"},
    {"dropout", K_DBL, OFF(dropout), 0, 0, 0.99, 1, "dropout probability"},
    {"weight_decay", K_DBL, OFF(weight_decay), 0, 0, 10, 1, "AdamW decoupled weight decay (0 = plain Adam)"},
    {"lstm_input_dropout", K_DBL, OFF(lstm_input_dropout), 0, 0, 0.99, 1, "deeplob: dropout on the LSTM input (0 = off)"},
    {"clip", K_DBL, OFF(clip), 0, 0, 1e9, 1, "gradient total-norm clip (0 = off)"},
    {"max_train_samples", K_I64, OFF(max_train_samples), 0, 0, 9e15, 1, "0 = all; else the most recent N"},
    {"control_shuffle_targets", K_BOOL, OFF(control_shuffle_targets), 0, 0, 1, 1, "shuffled-target control run"},
    {"seed", K_U64, OFF(seed), 0, 0, 9007199254740992.0, 1, "seed of every random stream"},
    {"output_dir", K_STR, OFF(output_dir), SZ(output_dir), 0, 0, 0, "parent of the run directory"},
    {"run_name", K_STR, OFF(run_name), SZ(run_name), 0, 0, 0, "run directory name"},
    {"threads", K_INT, OFF(threads), 0, 0, 4096, 0, "CPU threads (0 = all cores)"},
    {"checkpoint", K_BOOL, OFF(checkpoint), 0, 0, 1, 0, "per-epoch checkpoints (for --resume)"},
    {"report", K_BOOL, OFF(report), 0, 0, 1, 0, "figures and report.md at the end (deeplob_mpi report)"},
    {"progress_interval", K_DBL, OFF(progress_interval), 0, 0, 86400, 0, "seconds between in-epoch progress lines (0 = none)"},
    {"dp_shards", K_INT, OFF(dp_shards), 0, 1, 1024, 1, "micro-shards per batch for data-parallel training (1 = off)"},
    {"ranks_per_symbol", K_INT, OFF(ranks_per_symbol), 0, 0, 4096, 0, "ranks training one model together (divides dp_shards; 0 = chosen from the symbols' sizes)"},
    {"universal", K_BOOL, OFF(universal), 0, 0, 1, 1, "one model over the pooled windows of all symbols"},
    {"holdout_symbols", K_STR, OFF(holdout_symbols), SZ(holdout_symbols), 0, 0, 1, "universal: comma-separated symbols kept out of training"},
    {"device", K_STR, OFF(device), SZ(device), 0, 0, 0, "auto | cpu | cuda: where the model ops run (auto = the GPU when the rank has one)"},
    {"ranks_per_gpu", K_INT, OFF(ranks_per_gpu), 0, 1, 1024, 0, "node-local ranks sharing one GPU (GPU = local rank / ranks_per_gpu)"},
};
#define N_KEYS (int)(sizeof KEYS / sizeof KEYS[0])

void config_defaults(TrainConfig *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->dataset, sizeof c->dataset, "data/synthetic.h5");
    c->all_symbols = 1;
    snprintf(c->model, sizeof c->model, "deeplob");
    c->kind = MODEL_DEEPLOB;
    c->horizon = 10;
    c->horizon2 = 60;
    c->ema_alpha = 0.0;
    snprintf(c->price_features, sizeof c->price_features, "zscore");
    snprintf(c->volume_features, sizeof c->volume_features, "raw");
    c->seq_len = 100;
    c->batch = 2048;
    c->epochs = 20;
    c->patience = 5;
    c->plateau_patience = 3;
    c->plateau_factor = 0.5;
    c->plateau_threshold = 1e-4;
    c->lr = 1e-3;
    c->huber_delta = 1.0;
    c->dropout = 0.3;
    c->clip = 1.0;
    c->seed = 42;
    snprintf(c->output_dir, sizeof c->output_dir, "outputs");
    snprintf(c->run_name, sizeof c->run_name, "run");
    c->threads = 0;
    c->checkpoint = 1;
    c->progress_interval = 10;
    c->dp_shards = 1;
    c->ranks_per_symbol = 1;
    snprintf(c->device, sizeof c->device, "auto");
    c->ranks_per_gpu = 1;
}

void config_free(TrainConfig *c) {
    free(c->symbols);
    c->symbols = NULL;
    c->n_symbols = 0;
}

int config_has_key(const char *key) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(KEYS[i].name, key)) return 1;
    return 0;
}

static const Key *find_key(const char *name) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(KEYS[i].name, name)) return &KEYS[i];
    return NULL;
}

static int set_number(TrainConfig *c, const Key *k, double v, const char *where, DlErr *e) {
    char *base = (char *)c;
    if (!isfinite(v)) return dl_err(e, "%s: key '%s': not a finite number", where, k->name);
    if (v < k->lo || v > k->hi)
        return dl_err(e, "%s: key '%s': %g is out of range [%g, %g]", where, k->name, v, k->lo, k->hi);
    if (k->type != K_DBL && v != floor(v))
        return dl_err(e, "%s: key '%s': %g is not an integer", where, k->name, v);
    switch (k->type) {
    case K_INT: *(int *)(base + k->off) = (int)v; break;
    case K_I64: *(int64_t *)(base + k->off) = (int64_t)v; break;
    case K_U64: *(uint64_t *)(base + k->off) = (uint64_t)v; break;
    case K_DBL: *(double *)(base + k->off) = v; break;
    case K_BOOL: *(int *)(base + k->off) = (int)v; break;
    default: return dl_err(e, "%s: key '%s': internal type error", where, k->name);
    }
    return 0;
}

static int set_string(TrainConfig *c, const Key *k, const char *s, const char *where, DlErr *e) {
    char *dst = (char *)c + k->off;
    if (strlen(s) >= k->size)
        return dl_err(e, "%s: key '%s': value longer than %zu bytes", where, k->name, k->size - 1);
    if (k->type == K_MODEL) {
        ModelKind mk;
        if (model_kind_parse(s, &mk) != 0 || (mk != MODEL_DEEPLOB && mk != MODEL_DEEPLOB_TCN && mk != MODEL_DEEPLOB_HIER))
            return dl_err(e, "%s: key 'model': '%s' is not one of deeplob, deeplob_tcn, deeplob_hier", where, s);
        c->kind = mk;
    } else if (!strcmp(k->name, "price_features")) {
        if (strcmp(s, "zscore") && strcmp(s, "mid_relative"))
            return dl_err(e, "%s: key 'price_features': '%s' is not one of zscore, mid_relative", where, s);
    } else if (!strcmp(k->name, "volume_features")) {
        if (strcmp(s, "raw") && strcmp(s, "log"))
            return dl_err(e, "%s: key 'volume_features': '%s' is not one of raw, log", where, s);
    } else if (!strcmp(k->name, "device")) {
        if (strcmp(s, "auto") && strcmp(s, "cpu") && strcmp(s, "cuda"))
            return dl_err(e, "%s: key 'device': '%s' is not one of auto, cpu, cuda", where, s);
    } else if (!strcmp(k->name, "run_name")) {
        if (!s[0] || !lobds_symbol_ok(s))
            return dl_err(e, "%s: key 'run_name': '%s' is not a safe directory name", where, s);
    } else if (!strcmp(k->name, "holdout_symbols")) {
        char buf[1024], *save = NULL;
        snprintf(buf, sizeof buf, "%s", s);
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
            if (!lobds_symbol_ok(t)) return dl_err(e, "%s: key 'holdout_symbols': '%s' is not a valid symbol name", where, t);
    } else if (!s[0]) {
        return dl_err(e, "%s: key '%s': empty string", where, k->name);
    }
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

static int add_symbol(TrainConfig *c, const char *s, const char *where, DlErr *e) {
    if (!lobds_symbol_ok(s)) return dl_err(e, "%s: key 'symbols': '%s' is not a valid symbol name", where, s);
    for (int i = 0; i < c->n_symbols; i++)
        if (!strcmp(c->symbols[i], s)) return dl_err(e, "%s: key 'symbols': '%s' listed twice", where, s);
    if (c->n_symbols >= CFG_MAX_SYMBOLS)
        return dl_err(e, "%s: key 'symbols': more than %d symbols", where, CFG_MAX_SYMBOLS);
    if (!c->symbols) c->symbols = dl_calloc(CFG_MAX_SYMBOLS, 64);
    snprintf(c->symbols[c->n_symbols++], 64, "%s", s);
    return 0;
}

static int set_symbols_json(TrainConfig *c, const cJSON *v, const char *where, DlErr *e) {
    c->n_symbols = 0;
    if (cJSON_IsString(v)) {
        if (strcmp(v->valuestring, "all") != 0)
            return dl_err(e, "%s: key 'symbols': a string must be \"all\" (else give a list)", where);
        c->all_symbols = 1;
        return 0;
    }
    if (!cJSON_IsArray(v)) return dl_err(e, "%s: key 'symbols': expected \"all\" or a list of strings", where);
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it)) return dl_err(e, "%s: key 'symbols': every element must be a string", where);
        if (add_symbol(c, it->valuestring, where, e)) return -1;
    }
    if (c->n_symbols == 0) return dl_err(e, "%s: key 'symbols': empty list", where);
    c->all_symbols = 0;
    return 0;
}

int config_load_json_text(TrainConfig *c, const char *text, const char *where, DlErr *e) {
    cJSON *root = cJSON_Parse(text);
    if (!root) {
        const char *p = cJSON_GetErrorPtr();
        long off = p ? (long)(p - text) : -1;
        return dl_err(e, "%s: invalid JSON near byte %ld", where, off);
    }
    int rc = 0;
    if (!cJSON_IsObject(root)) { rc = dl_err(e, "%s: top level must be a JSON object", where); goto done; }
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const char *name = it->string;
        if (name && name[0] == '_') continue;   /* "_comment" and friends */
        const Key *k = name ? find_key(name) : NULL;
        if (!k) { rc = dl_err(e, "%s: unknown key '%s'", where, name ? name : "?"); goto done; }
        switch (k->type) {
        case K_STR: case K_MODEL:
            if (!cJSON_IsString(it)) { rc = dl_err(e, "%s: key '%s': expected a string", where, name); goto done; }
            rc = set_string(c, k, it->valuestring, where, e);
            break;
        case K_BOOL:
            if (!cJSON_IsBool(it)) { rc = dl_err(e, "%s: key '%s': expected true or false", where, name); goto done; }
            rc = set_number(c, k, cJSON_IsTrue(it) ? 1 : 0, where, e);
            break;
        case K_SYMBOLS:
            rc = set_symbols_json(c, it, where, e);
            break;
        default:
            if (!cJSON_IsNumber(it)) { rc = dl_err(e, "%s: key '%s': expected a number", where, name); goto done; }
            rc = set_number(c, k, it->valuedouble, where, e);
        }
        if (rc) goto done;
    }
done:
    cJSON_Delete(root);
    return rc;
}

int config_load_file(TrainConfig *c, const char *path, DlErr *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return dl_err(e, "%s: cannot open config: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || n > (1L << 24)) { fclose(f); return dl_err(e, "%s: not a config file (size %ld)", path, n); }
    char *buf = dl_malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = '\0';
    int rc = config_load_json_text(c, buf, path, e);
    free(buf);
    return rc;
}

int config_set(TrainConfig *c, const char *key, const char *value, DlErr *e) {
    const char *where = "command line";
    const Key *k = find_key(key);
    if (!k) return dl_err(e, "%s: unknown key '%s'", where, key);
    switch (k->type) {
    case K_STR: case K_MODEL: return set_string(c, k, value, where, e);
    case K_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1")) return set_number(c, k, 1, where, e);
        if (!strcmp(value, "false") || !strcmp(value, "0")) return set_number(c, k, 0, where, e);
        return dl_err(e, "%s: key '%s': expected true or false, got '%s'", where, key, value);
    case K_SYMBOLS: {
        c->n_symbols = 0;
        if (!strcmp(value, "all")) { c->all_symbols = 1; return 0; }
        char buf[8192];
        if (strlen(value) >= sizeof buf) return dl_err(e, "%s: key 'symbols': list too long", where);
        snprintf(buf, sizeof buf, "%s", value);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
            if (add_symbol(c, t, where, e)) return -1;
        if (c->n_symbols == 0) return dl_err(e, "%s: key 'symbols': empty list", where);
        c->all_symbols = 0;
        return 0;
    }
    default: {
        char *end = NULL;
        errno = 0;
        double v = strtod(value, &end);
        if (!value[0] || *end || errno)
            return dl_err(e, "%s: key '%s': '%s' is not a number", where, key, value);
        return set_number(c, k, v, where, e);
    }
    }
}

int config_set_kv(TrainConfig *c, const char *kv, DlErr *e) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return dl_err(e, "command line: --set expects key=value, got '%s'", kv);
    char key[64];
    size_t n = (size_t)(eq - kv);
    if (n >= sizeof key) return dl_err(e, "command line: key too long in '%s'", kv);
    memcpy(key, kv, n);
    key[n] = '\0';
    return config_set(c, key, eq + 1, e);
}

int config_validate(const TrainConfig *c, DlErr *e) {
    /* the front end shrinks time by 12 rows (three (4,1) convs twice) */
    if (c->seq_len < 16) return dl_err(e, "config: key 'seq_len': %d is too short (>= 16)", c->seq_len);
    if (!c->all_symbols && c->n_symbols == 0) return dl_err(e, "config: key 'symbols': empty list");
    if (c->lr * c->weight_decay >= 1)
        return dl_err(e, "config: key 'weight_decay': lr*weight_decay = %g must be < 1 (AdamW scales the weights by "
                      "1 - lr*weight_decay)", c->lr * c->weight_decay);
    if (c->lstm_input_dropout > 0 && c->kind != MODEL_DEEPLOB)
        return dl_err(e, "config: key 'lstm_input_dropout': only model deeplob has an LSTM (model is %s)", c->model);
    if (c->ranks_per_symbol > 0 && c->dp_shards % c->ranks_per_symbol != 0)
        return dl_err(e, "config: key 'ranks_per_symbol': %d does not divide 'dp_shards' (%d): set dp_shards to a "
                      "multiple of it (the numbers depend on dp_shards only, never on the rank count)",
                      c->ranks_per_symbol, c->dp_shards);
    if (c->batch % c->dp_shards != 0)
        return dl_err(e, "config: key 'batch': %d is not a multiple of 'dp_shards' (%d)", c->batch, c->dp_shards);
    if (c->holdout_symbols[0] && !c->universal)
        return dl_err(e, "config: key 'holdout_symbols' needs 'universal': true");
    if (c->kind == MODEL_DEEPLOB_HIER && c->horizon2 <= c->horizon)
        return dl_err(e, "config: key 'horizon2': %d must be longer than 'horizon' (%d) for deeplob_hier",
                      c->horizon2, c->horizon);
    return 0;
}

static cJSON *to_cjson(const TrainConfig *c, int training_only) {
    cJSON *o = cJSON_CreateObject();
    const char *base = (const char *)c;
    for (int i = 0; i < N_KEYS; i++) {
        const Key *k = &KEYS[i];
        if (training_only && !k->training) continue;
        switch (k->type) {
        case K_STR: case K_MODEL: cJSON_AddStringToObject(o, k->name, base + k->off); break;
        case K_INT: cJSON_AddNumberToObject(o, k->name, *(const int *)(base + k->off)); break;
        case K_I64: cJSON_AddNumberToObject(o, k->name, (double)*(const int64_t *)(base + k->off)); break;
        case K_U64: cJSON_AddNumberToObject(o, k->name, (double)*(const uint64_t *)(base + k->off)); break;
        case K_DBL: cJSON_AddNumberToObject(o, k->name, *(const double *)(base + k->off)); break;
        case K_BOOL: cJSON_AddBoolToObject(o, k->name, *(const int *)(base + k->off)); break;
        case K_SYMBOLS:
            if (c->all_symbols) cJSON_AddStringToObject(o, "symbols", "all");
            else {
                cJSON *a = cJSON_AddArrayToObject(o, "symbols");
                for (int s = 0; s < c->n_symbols; s++) cJSON_AddItemToArray(a, cJSON_CreateString(c->symbols[s]));
            }
            break;
        }
    }
    return o;
}

static char *print_json(cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) DL_FATAL("cJSON_Print failed (out of memory)");
    return s;
}

char *config_to_json(const TrainConfig *c) { return print_json(to_cjson(c, 0)); }
char *config_training_json(const TrainConfig *c) { return print_json(to_cjson(c, 1)); }
