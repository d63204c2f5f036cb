/* test_config.c: defaults, JSON loading, every kind of error names its key,
 * command-line overrides, canonical JSON round trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/config.h"

static int fails = 0;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); fails++; } } while (0)

/* the JSON must be rejected with a message containing `want` */
static void expect_err(const char *json, const char *want) {
    TrainConfig c;
    config_defaults(&c);
    DlErr e = {{0}};
    int rc = config_load_json_text(&c, json, "t.json", &e);
    printf("  %-48s -> %s\n", json, rc ? e.msg : "(accepted)");
    CHECK(rc == -1, "accepted: %s", json);
    CHECK(rc == -1 && strstr(e.msg, want) && strstr(e.msg, "t.json"), "message '%s' lacks '%s' or the file name", e.msg, want);
    config_free(&c);
}

static void expect_set_err(const char *k, const char *v, const char *want) {
    TrainConfig c;
    config_defaults(&c);
    DlErr e = {{0}};
    int rc = config_set(&c, k, v, &e);
    printf("  --set %s=%-30s -> %s\n", k, v, rc ? e.msg : "(accepted)");
    CHECK(rc == -1 && strstr(e.msg, want), "override %s=%s: '%s' lacks '%s'", k, v, e.msg, want);
    config_free(&c);
}

int main(void) {
    TrainConfig c;
    config_defaults(&c);
    printf("defaults: batch %d lr %g epochs %d patience %d plateau %d/%g/%g huber %g clip %g dropout %g T %d h %d\n",
           c.batch, c.lr, c.epochs, c.patience, c.plateau_patience, c.plateau_factor, c.plateau_threshold,
           c.huber_delta, c.clip, c.dropout, c.seq_len, c.horizon);
    CHECK(c.batch == 2048 && c.lr == 1e-3 && c.epochs == 20 && c.patience == 5 && c.plateau_patience == 3 &&
          c.plateau_factor == 0.5 && c.plateau_threshold == 1e-4 && c.huber_delta == 1.0 && c.clip == 1.0 &&
          c.dropout == 0.3 && c.seq_len == 100 && c.horizon == 10 && c.ema_alpha == 0 && c.all_symbols &&
          c.threads == 0 && c.kind == MODEL_DEEPLOB, "seed defaults");
    CHECK(c.weight_decay == 0 && c.lstm_input_dropout == 0, "weight_decay / lstm_input_dropout default to 0 (the seed)");

    DlErr e = {{0}};
    const char *good = "{\"_comment\": \"x\", \"dataset\": \"d.h5\", \"symbols\": [\"AAA\", \"BBB\"], \"model\": "
                       "\"deeplob_tcn\", \"batch\": 256, \"lr\": 0.002, \"ema_alpha\": 0.25, \"seed\": 7, "
                       "\"standardize_targets\": true, \"run_name\": \"r1\"}";
    int rc = config_load_json_text(&c, good, "good.json", &e);
    CHECK(rc == 0, "good config rejected: %s", e.msg);
    CHECK(!strcmp(c.dataset, "d.h5") && !c.all_symbols && c.n_symbols == 2 && !strcmp(c.symbols[1], "BBB") &&
          c.kind == MODEL_DEEPLOB_TCN && c.batch == 256 && c.lr == 0.002 && c.ema_alpha == 0.25 && c.seed == 7 &&
          c.standardize_targets == 1 && c.epochs == 20, "values after loading");

    /* overrides: --set key=value and --key value share one parser */
    CHECK(config_set_kv(&c, "batch=64", &e) == 0 && c.batch == 64, "--set batch=64");
    CHECK(config_set(&c, "symbols", "all", &e) == 0 && c.all_symbols && c.n_symbols == 0, "symbols=all");
    CHECK(config_set(&c, "symbols", "X,Y,Z", &e) == 0 && !c.all_symbols && c.n_symbols == 3 && !strcmp(c.symbols[2], "Z"),
          "symbols list override");
    CHECK(config_set(&c, "model", "deeplob", &e) == 0 && c.kind == MODEL_DEEPLOB, "model override");
    CHECK(config_set(&c, "standardize_targets", "false", &e) == 0 && c.standardize_targets == 0, "bool override");
    CHECK(config_set(&c, "lr", "1e-4", &e) == 0 && c.lr == 1e-4, "lr override");
    /* keys of the quality/hier work: volume_features, horizon2, model deeplob_hier */
    CHECK(!strcmp(c.volume_features, "raw") && c.horizon2 == 60, "defaults volume_features raw, horizon2 60");
    CHECK(config_set(&c, "volume_features", "log", &e) == 0 && !strcmp(c.volume_features, "log"), "volume_features=log");
    rc = config_set(&c, "volume_features", "sqrt", &e);
    CHECK(rc == -1 && strstr(e.msg, "key 'volume_features'"), "bad volume_features: %s", e.msg);
    CHECK(config_set(&c, "model", "deeplob_hier", &e) == 0 && c.kind == MODEL_DEEPLOB_HIER, "model deeplob_hier");
    CHECK(config_set(&c, "horizon2", "10", &e) == 0 && config_validate(&c, &e) == -1 && strstr(e.msg, "key 'horizon2'"),
          "horizon2 <= horizon refused for deeplob_hier: %s", e.msg);
    CHECK(config_set(&c, "horizon2", "60", &e) == 0 && config_validate(&c, &e) == 0, "horizon2 60 valid: %s", e.msg);
    /* data parallelism */
    CHECK(c.dp_shards == 1 && c.ranks_per_symbol == 1 && !c.universal && !c.holdout_symbols[0], "dp defaults");
    CHECK(config_set(&c, "batch", "48", &e) == 0 && config_set(&c, "dp_shards", "6", &e) == 0 &&
          config_set(&c, "ranks_per_symbol", "4", &e) == 0 && config_validate(&c, &e) == -1 &&
          strstr(e.msg, "key 'ranks_per_symbol'") && strstr(e.msg, "dp_shards"), "4 ranks per symbol, 6 shards: %s", e.msg);
    CHECK(config_set(&c, "ranks_per_symbol", "3", &e) == 0 && config_validate(&c, &e) == 0, "3 of 6 valid: %s", e.msg);
    CHECK(config_set(&c, "ranks_per_symbol", "0", &e) == 0 && config_validate(&c, &e) == 0, "auto valid: %s", e.msg);
    CHECK(config_set(&c, "batch", "50", &e) == 0 && config_validate(&c, &e) == -1 && strstr(e.msg, "key 'batch'"),
          "batch 50 with 6 shards: %s", e.msg);
    CHECK(config_set(&c, "batch", "48", &e) == 0 && config_set(&c, "holdout_symbols", "AAA,BBB", &e) == 0 &&
          config_validate(&c, &e) == -1 && strstr(e.msg, "'universal'"), "holdout without universal: %s", e.msg);
    CHECK(config_set(&c, "universal", "true", &e) == 0 && config_validate(&c, &e) == 0, "universal + holdout valid: %s", e.msg);
    CHECK(config_set(&c, "holdout_symbols", "AAA,../x", &e) == -1 && strstr(e.msg, "holdout_symbols"),
          "unsafe holdout name: %s", e.msg);
    CHECK(config_set(&c, "dp_shards", "0", &e) == -1 && strstr(e.msg, "dp_shards"), "dp_shards 0: %s", e.msg);
    CHECK(config_set(&c, "model", "deeplob", &e) == 0, "model back to deeplob");

    /* canonical JSON round-trips */
    char *j = config_to_json(&c);
    TrainConfig c2;
    config_defaults(&c2);
    rc = config_load_json_text(&c2, j, "roundtrip", &e);
    char *j2 = config_to_json(&c2);
    printf("canonical: %s\n", j);
    CHECK(rc == 0 && !strcmp(j, j2), "round trip differs:\n%s\n%s", j, j2);
    char *t1 = config_training_json(&c);
    CHECK(!strstr(t1, "threads") && !strstr(t1, "run_name") && strstr(t1, "\"lr\""), "training json keys");
    free(t1);
    free(j);
    free(j2);
    config_free(&c2);
    config_free(&c);

    printf("errors name the key:\n");
    expect_err("{\"batchsize\": 10}", "unknown key 'batchsize'");
    expect_err("{\"batch\": \"10\"}", "key 'batch': expected a number");
    expect_err("{\"batch\": 0}", "key 'batch': 0 is out of range");
    expect_err("{\"batch\": 2.5}", "key 'batch': 2.5 is not an integer");
    expect_err("{\"lr\": -1}", "key 'lr'");
    expect_err("{\"ema_alpha\": 1.5}", "key 'ema_alpha'");
    expect_err("{\"dropout\": 1}", "key 'dropout'");
    expect_err("{\"weight_decay\": -0.01}", "key 'weight_decay'");
    expect_err("{\"weight_decay\": 11}", "key 'weight_decay'");
    expect_err("{\"weight_decay\": true}", "key 'weight_decay'");
    expect_err("{\"lstm_input_dropout\": 1}", "key 'lstm_input_dropout'");
    expect_err("{\"lstm_input_dropout\": -0.1}", "key 'lstm_input_dropout'");
    expect_err("{\"model\": \"resnet\"}", "key 'model'");
    expect_err("{\"model\": 3}", "key 'model': expected a string");
    expect_err("{\"symbols\": \"BTC\"}", "key 'symbols'");
    expect_err("{\"symbols\": [\"A\", 1]}", "key 'symbols'");
    expect_err("{\"symbols\": [\"../etc\"]}", "key 'symbols'");
    expect_err("{\"symbols\": [\"A\", \"A\"]}", "listed twice");
    expect_err("{\"symbols\": []}", "key 'symbols': empty list");
    expect_err("{\"standardize_targets\": 1}", "key 'standardize_targets': expected true or false");
    expect_err("{\"run_name\": \"a/b\"}", "key 'run_name'");
    expect_err("{\"seq_len\": 8}", "key 'seq_len'");
    expect_err("{\"price_features\": \"log\"}", "key 'price_features'");
    expect_err("{\"batch\": 10,}", "invalid JSON");
    expect_err("[1, 2]", "top level must be a JSON object");
    expect_set_err("nope", "1", "unknown key 'nope'");
    expect_set_err("epochs", "ten", "key 'epochs': 'ten' is not a number");
    expect_set_err("epochs", "", "key 'epochs'");
    expect_set_err("checkpoint", "maybe", "key 'checkpoint'");
    expect_set_err("plateau_factor", "2", "key 'plateau_factor'");
    /* device selection (docs/gpu.md) */
    expect_err("{\"device\": \"gpu\"}", "key 'device': 'gpu' is not one of auto, cpu, cuda");
    expect_err("{\"device\": 1}", "key 'device'");
    expect_err("{\"ranks_per_gpu\": 0}", "key 'ranks_per_gpu'");
    expect_err("{\"ranks_per_gpu\": 1.5}", "key 'ranks_per_gpu'");
    expect_set_err("device", "tpu", "key 'device'");
    expect_set_err("ranks_per_gpu", "-2", "key 'ranks_per_gpu'");
    {
        TrainConfig d;
        config_defaults(&d);
        CHECK(!strcmp(d.device, "auto") && d.ranks_per_gpu == 1, "device defaults: '%s' %d", d.device, d.ranks_per_gpu);
        CHECK(config_set(&d, "device", "cuda", &e) == 0 && !strcmp(d.device, "cuda"), "--device cuda");
        CHECK(config_set(&d, "device", "cpu", &e) == 0 && !strcmp(d.device, "cpu"), "--device cpu");
        CHECK(config_load_json_text(&d, "{\"device\": \"auto\", \"ranks_per_gpu\": 4}", "g.json", &e) == 0 &&
              !strcmp(d.device, "auto") && d.ranks_per_gpu == 4, "device keys from JSON: %s", e.msg);
        char *j = config_to_json(&d), *t = config_training_json(&d);
        CHECK(strstr(j, "\"device\":\"auto\"") && strstr(j, "\"ranks_per_gpu\":4"), "canonical JSON has the device keys");
        CHECK(!strstr(t, "device") && !strstr(t, "ranks_per_gpu"), "device keys do not gate a resume: %s", t);
        free(j);
        free(t);
        config_free(&d);
    }

    /* cross-key checks (config_validate) */
    config_defaults(&c);
    CHECK(config_set(&c, "weight_decay", "0.05", &e) == 0 && c.weight_decay == 0.05 &&
          config_set(&c, "lstm_input_dropout", "0.2", &e) == 0 && c.lstm_input_dropout == 0.2 &&
          config_validate(&c, &e) == 0, "deeplob with weight_decay 0.05, lstm_input_dropout 0.2: %s", e.msg);
    CHECK(config_set(&c, "model", "deeplob_tcn", &e) == 0 && config_validate(&c, &e) == -1 &&
          strstr(e.msg, "key 'lstm_input_dropout'"), "lstm_input_dropout on deeplob_tcn: '%s'", e.msg);
    printf("  lstm_input_dropout 0.2, model deeplob_tcn          -> %s\n", e.msg);
    config_defaults(&c);
    CHECK(config_set(&c, "lr", "0.5", &e) == 0 && config_set(&c, "weight_decay", "2", &e) == 0 &&
          config_validate(&c, &e) == -1 && strstr(e.msg, "key 'weight_decay'"), "lr*weight_decay >= 1: '%s'", e.msg);
    printf("  lr 0.5, weight_decay 2                             -> %s\n", e.msg);
    config_defaults(&c);
    rc = config_set_kv(&c, "=3", &e);
    CHECK(rc == -1 && strstr(e.msg, "key=value"), "malformed --set");
    rc = config_load_file(&c, "/nonexistent/x.json", &e);
    CHECK(rc == -1 && strstr(e.msg, "/nonexistent/x.json"), "missing file named: %s", e.msg);
    /* the shipped configs load */
    const char *shipped[] = {"inputs/quickstart.json", "inputs/train_all.json", "inputs/synthetic_long.json",
                             "inputs/hier.json", "inputs/quickstart_deeplob.json"};
    for (int i = 0; i < (int)(sizeof shipped / sizeof shipped[0]); i++) {
        TrainConfig s;
        config_defaults(&s);
        rc = config_load_file(&s, shipped[i], &e);
        CHECK(rc == 0 && config_validate(&s, &e) == 0, "%s: %s", shipped[i], e.msg);
        config_free(&s);
    }
    config_free(&c);
    printf(fails ? "test_config: %d FAILED\n" : "test_config: all passed\n", fails);
    return fails ? 1 : 0;
}
