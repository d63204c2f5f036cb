/* cmd_train.c: deeplob_mpi train CONFIG.json [overrides] [--resume|--force]
 *
 * Single process for now (the MPI issue distributes symbols over ranks): read the
 * config, train one model per symbol (train_symbol), write results.h5,
 * summary.csv and the table into <output_dir>/<run_name>/. */
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/commands.h"
#include "common/util.h"
#include "engine/backend.h"
#include "io/h5util.h"
#include "io/lobds.h"
#include "train/config.h"
#include "train/results.h"
#include "train/trainer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: deeplob_mpi train CONFIG.json [options]\n"
            "  --set KEY=VALUE     override a config key (repeatable); also --KEY VALUE\n"
            "  --resume            continue an existing run directory from its checkpoints\n"
            "  --force             start an existing run directory over (deletes its outputs)\n"
            "  --help\n"
            "Keys: dataset symbols model horizon ema_alpha standardize_targets seq_len batch eval_batch\n"
            "      epochs patience plateau_patience plateau_factor plateau_threshold lr huber_delta\n"
            "      dropout clip max_train_samples control_shuffle_targets seed output_dir run_name\n"
            "      threads checkpoint\n"
            "See docs/training.md.\n");
}

/* symbols to train, validated against the dataset */
static int resolve_symbols(const TrainConfig *cfg, char ***names, int *n, DlErr *e) {
    char **all = NULL;
    int na = 0;
    if (lobds_list(cfg->dataset, &all, &na, e)) return -1;
    if (cfg->all_symbols) { *names = all; *n = na; return 0; }
    char **sel = dl_calloc((size_t)cfg->n_symbols, sizeof(char *));
    for (int i = 0; i < cfg->n_symbols; i++) {
        int found = 0;
        for (int j = 0; j < na; j++) found |= !strcmp(all[j], cfg->symbols[i]);
        if (!found) {
            lobds_free_names(all, na);
            for (int k = 0; k < i; k++) free(sel[k]);
            free(sel);
            return dl_err(e, "config: key 'symbols': '%s' is not in %s", cfg->symbols[i], cfg->dataset);
        }
        sel[i] = strdup(cfg->symbols[i]);
    }
    lobds_free_names(all, na);
    *names = sel;
    *n = cfg->n_symbols;
    return 0;
}

int cmd_train(int argc, char **argv) {
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) {
        if (rank == 0) fprintf(stderr, "train: %d ranks: symbol distribution over MPI ranks is not implemented yet; run one process\n", size);
        return 2;
    }
    const char *cfg_path = NULL;
    int resume = 0, force = 0, stop_after = 0;
    TrainConfig cfg;
    config_defaults(&cfg);
    DlErr e = {{0}};
    /* two passes: the file first, then overrides in command-line order */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); config_free(&cfg); return 0; }
        if (!strcmp(a, "--resume")) resume = 1;
        else if (!strcmp(a, "--force")) force = 1;
        else if (!strcmp(a, "--stop-after-epoch") && i + 1 < argc) stop_after = atoi(argv[++i]);
        else if (!strcmp(a, "--set") || (a[0] == '-' && a[1] == '-' && !strchr(a, '='))) i++; /* pass 2 */
        else if (a[0] == '-' && a[1] == '-') continue;                                       /* --key=value */
        else if (!cfg_path) cfg_path = a;
        else { fprintf(stderr, "train: unexpected argument '%s'\n", a); usage(stderr); config_free(&cfg); return 2; }
    }
    if (!cfg_path) { usage(stderr); config_free(&cfg); return 2; }
    if (config_load_file(&cfg, cfg_path, &e)) goto fail;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--resume") || !strcmp(a, "--force")) continue;
        if (!strcmp(a, "--stop-after-epoch")) { i++; continue; }
        if (!strcmp(a, "--set")) {
            if (i + 1 >= argc) { dl_err(&e, "command line: --set needs key=value"); goto fail; }
            if (config_set_kv(&cfg, argv[++i], &e)) goto fail;
        } else if (a[0] == '-' && a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            if (eq) { if (config_set_kv(&cfg, a + 2, &e)) goto fail; }   /* --key=value */
            else {
                if (i + 1 >= argc) { dl_err(&e, "command line: option '%s' needs a value", a); goto fail; }
                if (config_set(&cfg, a + 2, argv[++i], &e)) goto fail;
            }
        }
    }
    if (resume && force) { dl_err(&e, "command line: --resume and --force exclude each other"); goto fail; }
    if (config_validate(&cfg, &e)) goto fail;

    int threads = cfg.threads > 0 ? cfg.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    backend_cpu_set_threads(threads < 1 ? 1 : threads);
    h5u_quiet();

    char **syms = NULL;
    int nsym = 0;
    if (resolve_symbols(&cfg, &syms, &nsym, &e)) goto fail;
    char run_dir[2200], path[2400];
    snprintf(run_dir, sizeof run_dir, "%s/%s", cfg.output_dir, cfg.run_name);
    if (results_prepare_run_dir(run_dir, resume, force, &e)) { lobds_free_names(syms, nsym); goto fail; }
    {
        char *cj = config_to_json(&cfg);
        snprintf(path, sizeof path, "%s/config.json", run_dir);
        int bad = dl_write_file_atomic(path, cj, strlen(cj), &e);
        free(cj);
        if (bad) { lobds_free_names(syms, nsym); goto fail; }
    }
    RunInfo ri;
    memset(&ri, 0, sizeof ri);
    results_utc_now(ri.start_time);
    ri.ranks = size;
    gethostname(ri.hosts, sizeof ri.hosts - 1);
    {
        Model *probe = model_create(trainer_model_config(&cfg), 1, backend_cpu());
        printf("deeplob_mpi train: %s, model %s (%zu parameters), %d symbol(s), horizon %d s, seq_len %d, "
               "batch %d, epochs %d, seed %llu, threads %d\n  dataset %s -> %s/\n",
               cfg_path, cfg.model, model_count_params(probe), nsym, cfg.horizon, cfg.seq_len, cfg.batch,
               cfg.epochs, (unsigned long long)cfg.seed, backend_cpu_threads(), cfg.dataset, run_dir);
        fflush(stdout);
        model_free(probe);
    }

    SymbolResult *rs = dl_calloc((size_t)nsym + 1, sizeof(SymbolResult));
    int done = 0, rc = 0;
    for (int i = 0; i < nsym; i++) {
        LobSymbol s;
        memset(&s, 0, sizeof s);
        if (lobds_read_symbol(cfg.dataset, H5P_DEFAULT, syms[i], &s, &e)) { rc = 1; break; }
        snprintf(path, sizeof path, "%s/checkpoints/%s.h5", run_dir, syms[i]);
        TrainIO io = {cfg.checkpoint ? path : NULL, resume, stdout, isatty(fileno(stdout)), stop_after};
        printf("[%d/%d] %s: %lld rows\n", i + 1, nsym, syms[i], (long long)s.n_rows);
        fflush(stdout);
        int t = train_symbol(&rs[i], &cfg, &s, &io, &e);
        lobds_symbol_free(&s);
        if (t == -2) {
            printf("train: stopped after epoch %d as asked (--stop-after-epoch); --resume continues\n", stop_after);
            done = i + 1;
            rc = 3;
            break;
        }
        if (t) { rc = 1; break; }
        done = i + 1;
        printf("  %s: test corr %.4f (oracle %.4f), MAE %.4f bps, RMSE %.4f bps, R2 %.4f, best epoch %d/%d, %.1f s\n",
               rs[i].symbol, rs[i].test_raw.corr, rs[i].oracle_corr, rs[i].test_raw.mae, rs[i].test_raw.rmse,
               rs[i].test_raw.r2, rs[i].best_epoch, rs[i].epochs_run, rs[i].wall_s);
        fflush(stdout);
    }
    if (rc == 0) {
        results_utc_now(ri.end_time);
        snprintf(path, sizeof path, "%s/results.h5", run_dir);
        if (results_write_file(path, &cfg, &ri, rs, nsym, &e)) rc = 1;
        snprintf(path, sizeof path, "%s/summary.csv", run_dir);
        if (!rc && results_write_csv(path, rs, nsym, &e)) rc = 1;
        if (!rc) {
            results_print_table(stdout, rs, nsym);
            printf("outputs: %s/results.h5, %s/summary.csv\n", run_dir, run_dir);
        }
    }
    if (rc == 1) fprintf(stderr, "train: error: %s\n", e.msg);
    for (int i = 0; i < done; i++) symbol_result_free(&rs[i]);
    free(rs);
    lobds_free_names(syms, nsym);
    config_free(&cfg);
    return rc;
fail:
    fprintf(stderr, "train: error: %s\n", e.msg);
    config_free(&cfg);
    return 1;
}
