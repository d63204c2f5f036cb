/* test_results_par.c: the parallel results writer (results_par_*) on one rank, read
 * back with plain HDF5: every symbol's objects exist with the up-front sizes,
 * the raw data written independently reads back exactly (test arrays, history with
 * NaN padding past epochs_run, normalisation, info, metrics), the best weights load
 * into a model (PyTorch layout round trip), 'complete' is 1 for written symbols,
 * /summary has one row per symbol, the manifest carries the library versions,
 * the smoothed objects exist when ema_alpha > 0, a layout mismatch is refused,
 * and finish(ok = 0) leaves no file behind.
 * Also summary.csv from gathered results (results_write_csv). */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/backend.h"
#include "io/h5util.h"
#include "io/weights_h5.h"
#include "train/results.h"

static int fails = 0;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); fails++; } } while (0)

/* a made-up but complete result for symbol `name` with n_rows rows and 2 of 3 epochs run */
static void fake_result(SymbolResult *r, const char *name, int64_t n_rows, const TrainConfig *cfg, uint64_t seed) {
    memset(r, 0, sizeof *r);
    snprintf(r->symbol, sizeof r->symbol, "%s", name);
    r->n_rows = n_rows;
    r->test_row0 = (n_rows * 4) / 5;
    r->n_test_rows = n_rows - r->test_row0;
    size_t nt = (size_t)r->n_test_rows;
    r->test_time = malloc(sizeof(int64_t) * nt);
    r->test_pred = malloc(sizeof(float) * nt);
    r->test_target_raw = malloc(sizeof(float) * nt);
    r->test_target_smooth = malloc(sizeof(float) * nt);
    for (size_t i = 0; i < nt; i++) {
        r->test_time[i] = 1700000000 + (int64_t)i;
        r->test_pred[i] = i % 7 == 0 ? NAN : (float)(0.25 * (double)i + (double)seed);
        r->test_target_raw[i] = (float)(-0.5 * (double)i);
        r->test_target_smooth[i] = (float)i;
    }
    for (int k = 0; k < LOBDS_NFEAT; k++) { r->feat_mean[k] = k + 0.5; r->feat_std[k] = 1.0 + k; }
    r->n_samples[0] = 100; r->n_samples[1] = 30; r->n_samples[2] = 30;
    r->test_raw = (Metrics){30, 0.125, 1.5, 2.5, -0.25};
    r->test_smooth = (Metrics){30, 0.5, 1, 2, 0.1};
    r->has_smooth = cfg->ema_alpha > 0;
    r->oracle_corr = 0.3;
    r->epochs_cap = cfg->epochs;
    r->history = calloc((size_t)cfg->epochs, sizeof(EpochRecord));
    r->epochs_run = 2;
    for (int i = 0; i < 2; i++) r->history[i] = (EpochRecord){i + 1, 3.0 - i, 2.0 - i, 1e-3, 0.5, 1, 100};
    r->best_epoch = 2;
    r->best_val_loss = 1.0;
    Model *m = model_create(trainer_model_config(cfg), 1, backend_cpu());
    model_init_params(m, seed);
    r->n_params = m->n_params; r->n_buffers = m->n_buffers; r->n_counters = m->n_counters;
    r->best_params = malloc(sizeof(float) * m->n_params);
    r->best_buffers = malloc(sizeof(float) * (m->n_buffers + 1));
    r->best_counters = malloc(sizeof(int64_t) * ((size_t)m->n_counters + 1));
    memcpy(r->best_params, m->params, sizeof(float) * m->n_params);
    for (size_t i = 0; i < m->n_buffers; i++) r->best_buffers[i] = 1.0f + (float)(i % 5);
    for (int i = 0; i < m->n_counters; i++) r->best_counters[i] = 42 + i;
    model_free(m);
}

static int read_i64_scalar(hid_t f, const char *name, int64_t *v) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return -1;
    herr_t s = H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    return s < 0 ? -1 : 0;
}

static void check_symbol(hid_t f, const SymbolResult *r, const TrainConfig *cfg) {
    char p[4200];
    DlErr e;
    size_t nt = (size_t)r->n_test_rows;
    float *pred = malloc(sizeof(float) * nt), *y = malloc(sizeof(float) * nt);
    int64_t *t = malloc(sizeof(int64_t) * nt);
    snprintf(p, sizeof p, "symbols/%s/test/pred", r->symbol);
    CHECK(h5u_read_f32(f, p, pred, nt, "results", &e) == 0, "%s: %s", p, e.msg);
    snprintf(p, sizeof p, "symbols/%s/test/target_raw", r->symbol);
    CHECK(h5u_read_f32(f, p, y, nt, "results", &e) == 0, "%s: %s", p, e.msg);
    snprintf(p, sizeof p, "symbols/%s/test/time", r->symbol);
    CHECK(h5u_read_i64(f, p, t, nt, "results", &e) == 0, "%s: %s", p, e.msg);
    CHECK(memcmp(pred, r->test_pred, sizeof(float) * nt) == 0, "%s: test/pred differs (NaNs included, bitwise)", r->symbol);
    CHECK(memcmp(y, r->test_target_raw, sizeof(float) * nt) == 0, "%s: test/target_raw differs", r->symbol);
    CHECK(memcmp(t, r->test_time, sizeof(int64_t) * nt) == 0, "%s: test/time differs", r->symbol);
    double fm[LOBDS_NFEAT];
    snprintf(p, sizeof p, "symbols/%s/norm/feature_std", r->symbol);
    CHECK(h5u_read_f64(f, p, fm, LOBDS_NFEAT, "results", &e) == 0 && memcmp(fm, r->feat_std, sizeof fm) == 0,
          "%s: norm/feature_std", r->symbol);
    int64_t c = -1;
    snprintf(p, sizeof p, "symbols/%s/complete", r->symbol);
    CHECK(read_i64_scalar(f, p, &c) == 0 && c == 1, "%s: complete = %lld", r->symbol, (long long)c);
    /* history: compound rows, epoch 0 + NaN past epochs_run */
    snprintf(p, sizeof p, "symbols/%s/history", r->symbol);
    hid_t d = H5Dopen2(f, p, H5P_DEFAULT);
    hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(EpochRecord));
    H5Tinsert(mt, "epoch", HOFFSET(EpochRecord, epoch), H5T_NATIVE_INT);
    H5Tinsert(mt, "val_loss", HOFFSET(EpochRecord, val_loss), H5T_NATIVE_DOUBLE);
    EpochRecord *h = calloc((size_t)cfg->epochs, sizeof *h);
    CHECK(d >= 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, h) >= 0, "%s: history unreadable", r->symbol);
    CHECK(h[0].epoch == 1 && h[1].epoch == 2 && h[1].val_loss == 1.0 && h[2].epoch == 0 && isnan(h[2].val_loss),
          "%s: history rows (%d %d %g %d %g)", r->symbol, h[0].epoch, h[1].epoch, h[1].val_loss, h[2].epoch, h[2].val_loss);
    H5Tclose(mt);
    if (d >= 0) H5Dclose(d);
    /* metrics_raw.corr */
    snprintf(p, sizeof p, "symbols/%s/metrics_raw", r->symbol);
    d = H5Dopen2(f, p, H5P_DEFAULT);
    mt = H5Tcreate(H5T_COMPOUND, sizeof(double));
    H5Tinsert(mt, "corr", 0, H5T_NATIVE_DOUBLE);
    double corr = 0;
    CHECK(d >= 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &corr) >= 0 && corr == r->test_raw.corr,
          "%s: metrics_raw.corr %g", r->symbol, corr);
    H5Tclose(mt);
    if (d >= 0) H5Dclose(d);
    /* weights load strictly into a model and equal best_* */
    Model *m = model_create(trainer_model_config(cfg), 1, backend_cpu());
    snprintf(p, sizeof p, "symbols/%s/weights", r->symbol);
    hid_t g = H5Gopen2(f, p, H5P_DEFAULT);
    int ok = g >= 0 && weights_load_h5(m, g, "results", &e) == 0;
    CHECK(ok, "%s: weights do not load: %s", r->symbol, ok ? "" : e.msg);
    if (ok) {
        CHECK(memcmp(m->params, r->best_params, sizeof(float) * m->n_params) == 0, "%s: weights differ", r->symbol);
        CHECK(m->n_counters == 0 || m->counters[0] == 42, "%s: num_batches_tracked", r->symbol);
    }
    if (g >= 0) H5Gclose(g);
    model_free(m);
    free(pred); free(y); free(t);
    free(h);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    h5u_quiet();
    char dir[] = "/tmp/dl_test_results_par.XXXXXX";
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    TrainConfig cfg;
    config_defaults(&cfg);
    cfg.seq_len = 16;
    cfg.epochs = 3;
    cfg.ema_alpha = 0.5;
    snprintf(cfg.run_name, sizeof cfg.run_name, "unit");
    const char *names[3] = {"AAAUSDT", "BBBUSDT", "CCCUSDT"};
    const int64_t rows[3] = {1003, 500, 2000};
    SymbolResult rs[3];
    for (int i = 0; i < 3; i++) fake_result(&rs[i], names[i], rows[i], &cfg, 100 + (uint64_t)i);
    RunInfo ri;
    memset(&ri, 0, sizeof ri);
    results_utc_now(ri.start_time);
    results_utc_now(ri.end_time);
    ri.ranks = 1;
    snprintf(ri.hosts, sizeof ri.hosts, "testhost");
    snprintf(ri.mpi_version, sizeof ri.mpi_version, "test-mpi");
    char path[512];
    snprintf(path, sizeof path, "%s/results.h5", dir);
    DlErr e = {{0}};

    printf("== create 3 symbols collectively, write in the order C, A, B (as ranks would finish)\n");
    ResultsFile rf;
    int rc = results_par_create(&rf, path, MPI_COMM_WORLD, &cfg, names, rows, 3, &e);
    CHECK(rc == 0, "create: %s", e.msg);
    if (rc == 0) {
        CHECK(results_par_write_symbol(&rf, 2, &rs[2], &cfg, &e) == 0, "write C: %s", e.msg);
        CHECK(results_par_write_symbol(&rf, 0, &rs[0], &cfg, &e) == 0, "write A: %s", e.msg);
        CHECK(results_par_write_symbol(&rf, 1, &rs[1], &cfg, &e) == 0, "write B: %s", e.msg);
        /* a result whose test rows do not match the layout is refused, naming the symbol */
        CHECK(results_par_write_symbol(&rf, 1, &rs[0], &cfg, &e) != 0 && strstr(e.msg, "test rows"),
              "layout mismatch accepted (%s)", e.msg);
        CHECK(access(path, F_OK) != 0, "results.h5 exists before finish");
        const ResultsSchedRow sched[3] = {{0, 1, 1, 500, 0.5, 2.0}, {0, 1, 2, 400, 2.0, 3.5}, {0, 1, 0, 600, 0.0, 0.5}};
        CHECK(results_par_finish(&rf, 1, &cfg, &ri, rs, sched, &e) == 0, "finish: %s", e.msg);
    }
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(path, R_OK) == 0 && access(tmp, F_OK) != 0, "finish must rename the temporary file");

    printf("== read back\n");
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "cannot open %s", path);
    if (f >= 0) {
        for (int i = 0; i < 3; i++) check_symbol(f, &rs[i], &cfg);
        char v[256] = "";
        CHECK(h5u_attr_read_str(f, ".", "cjson_version", v, sizeof v, &e) == 0 && v[0], "manifest: cjson_version");
        CHECK(h5u_attr_read_str(f, ".", "mpi_version", v, sizeof v, &e) == 0 && !strcmp(v, "test-mpi"), "manifest: mpi_version");
        CHECK(h5u_attr_read_str(f, ".", "hosts", v, sizeof v, &e) == 0 && !strcmp(v, "testhost"), "manifest: hosts");
        CHECK(h5u_attr_read_str(f, ".", "git_revision", v, sizeof v, &e) == 0, "manifest: git_revision");
        hsize_t dims[1] = {0};
        CHECK(h5u_dims(f, "summary", dims, 1, "results", &e) == 1 && dims[0] == 3, "summary rows %llu", (unsigned long long)dims[0]);
        CHECK(h5u_dims(f, "schedule", dims, 1, "results", &e) == 1 && dims[0] == 3, "schedule rows %llu", (unsigned long long)dims[0]);
        CHECK(h5u_exists(f, "symbols/BBBUSDT/metrics_smoothed") && h5u_exists(f, "symbols/BBBUSDT/test/target_smoothed"),
              "smoothed objects missing with ema_alpha > 0");
        H5Fclose(f);
    }

    printf("== finish(ok = 0) (a rank failed or the run stopped) removes the temporary file\n");
    cfg.ema_alpha = 0;
    snprintf(path, sizeof path, "%s/aborted.h5", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    rc = results_par_create(&rf, path, MPI_COMM_WORLD, &cfg, names, rows, 3, &e);
    CHECK(rc == 0, "create 2: %s", e.msg);
    if (rc == 0) {
        CHECK(access(tmp, F_OK) == 0, "no temporary file while the run is going");
        CHECK(results_par_finish(&rf, 0, &cfg, &ri, NULL, NULL, &e) == 0, "finish(0): %s", e.msg);
    }
    CHECK(access(path, F_OK) != 0 && access(tmp, F_OK) != 0, "an aborted run left a results file");

    printf("== summary.csv from gathered results\n");
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    CHECK(results_write_csv(path, rs, 3, &e) == 0, "csv: %s", e.msg);
    FILE *cf = fopen(path, "r");
    char line[2048];
    int nl = 0, has = 0;
    while (cf && fgets(line, sizeof line, cf)) {
        nl++;
        if (!strncmp(line, "\"BBBUSDT\",0.3,0.125,", 20)) has = 1;
    }
    if (cf) fclose(cf);
    CHECK(nl == 4 && has, "summary.csv: %d lines, BBBUSDT row %s", nl, has ? "ok" : "missing/wrong");

    for (int i = 0; i < 3; i++) symbol_result_free(&rs[i]);
    config_free(&cfg);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    printf("test_results_par: %s (%d failures)\n", fails ? "FAIL" : "ok", fails);
    MPI_Finalize();
    return fails ? 1 : 0;
}
