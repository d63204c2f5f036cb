/* cmd_train.c: deeplob_mpi train CONFIG.json [overrides] [--resume|--force]
 *
 * Every rank parses the same config (so a bad one fails alike everywhere and
 * rank 0 alone prints the message), picks its thread count, and joins
 * run_train_mpi (src/train/run_mpi.h), which trains one model per symbol over
 * the ranks and writes results.h5, summary.csv and the table into
 * <output_dir>/<run_name>/. Works the same on one process. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/commands.h"
#include "engine/device.h"
#include "common/util.h"
#include "engine/backend.h"
#include "train/config.h"
#include "train/run_mpi.h"
#include "train/trainer.h"
#include "train/symbol_sched.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: deeplob_mpi train CONFIG.json [options]\n"
            "  --set KEY=VALUE     override a config key (repeatable); also --KEY VALUE\n"
            "  --resume            continue an existing run directory from its checkpoints\n"
            "  --force             start an existing run directory over (deletes its outputs)\n"
            "  --stop-after-epoch N         testing: stop after epoch N's checkpoint (exit 3)\n"
            "  --inject-nan SYMBOL:EPOCH:STEP testing: a NaN target at that training step (divergence)\n"
            "  --help\n"
            "Keys: dataset symbols model horizon ema_alpha standardize_targets seq_len batch eval_batch\n"
            "      epochs patience plateau_patience plateau_factor plateau_threshold lr huber_delta\n"
            "      dropout weight_decay lstm_input_dropout clip max_train_samples control_shuffle_targets\n"
            "      seed output_dir run_name threads checkpoint horizon2 price_features volume_features\n"
            "      report progress_interval device ranks_per_gpu (e.g. --device cuda: docs/gpu.md)\n"
            "See docs/training.md.\n");
}

int cmd_train(int argc, char **argv) {
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *cfg_path = NULL;
    int resume = 0, force = 0, stop_after = 0, inj_epoch = 0;
    long long inj_step = 0;
    char inj_sym[64] = "";
    TrainConfig cfg;
    config_defaults(&cfg);
    DlErr e = {{0}};
    /* two passes: the file first, then overrides in command-line order */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { if (rank == 0) usage(stdout); config_free(&cfg); return 0; }
        if (!strcmp(a, "--resume")) resume = 1;
        else if (!strcmp(a, "--force")) force = 1;
        else if (!strcmp(a, "--stop-after-epoch") || !strcmp(a, "--inject-nan")) {
            const char *v = i + 1 < argc ? argv[++i] : "";
            char *end = NULL;
            int bad;
            if (a[2] == 's') {
                long x = strtol(v, &end, 10);
                bad = !*v || *end || x < 1 || x > 1000000;
                stop_after = (int)x;
            } else {
                const char *c1 = strchr(v, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                bad = !c1 || !c2 || c1 == v || (size_t)(c1 - v) >= sizeof inj_sym ||
                      sscanf(c1 + 1, "%d:%lld", &inj_epoch, &inj_step) != 2 || inj_epoch < 1 || inj_step < 0;
                if (!bad) snprintf(inj_sym, sizeof inj_sym, "%.*s", (int)(c1 - v), v);
            }
            if (bad) {
                if (rank == 0) fprintf(stderr, "train: error: command line: %s '%s': expected %s\n", a, v,
                                       a[2] == 's' ? "an epoch number >= 1" : "SYMBOL:EPOCH:STEP");
                config_free(&cfg);
                return 2;
            }
        }
        else if (!strcmp(a, "--set") || (a[0] == '-' && a[1] == '-' && !strchr(a, '='))) i++; /* pass 2 */
        else if (a[0] == '-' && a[1] == '-') continue;                                       /* --key=value */
        else if (!cfg_path) cfg_path = a;
        else {
            if (rank == 0) { fprintf(stderr, "train: unexpected argument '%s'\n", a); usage(stderr); }
            config_free(&cfg);
            return 2;
        }
    }
    if (!cfg_path) { if (rank == 0) usage(stderr); config_free(&cfg); return 2; }
    if (config_load_file(&cfg, cfg_path, &e)) goto fail;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--resume") || !strcmp(a, "--force")) continue;
        if (!strcmp(a, "--stop-after-epoch") || !strcmp(a, "--inject-nan")) { i++; continue; }
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

    /* threads per rank: the ranks sharing this node share its cores */
    int local_rank = 0, local_size = 1;
    sched_node_layout(MPI_COMM_WORLD, &local_rank, &local_size);
    char why[96];
    int threads = run_threads_per_rank(&cfg, local_size, why, sizeof why);
    backend_cpu_set_threads(threads);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    /* the backend of this rank's model ops: its GPU (local rank / ranks_per_gpu) when it
     * has one and device is auto or cuda; cuda without a usable GPU stops every rank */
    char dev[400];
    DlDevice want = DL_DEVICE_AUTO;
    dl_device_parse(cfg.device, &want);
    /* data parallelism (dp_shards > 1) runs on either backend: a group's ranks must agree
     * (dp_group_open says so when device auto finds GPUs on some ranks only) */
    const Backend *be = dl_backend_select(want, local_rank, cfg.ranks_per_gpu, dev, sizeof dev);
    int ok = be != NULL, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all_ok) {
        if (!ok) fprintf(stderr, "[rank %d/%d] %s: train: error: %s (use --device auto or cpu to train on the CPU)\n",
                         rank, size, host, dev);
        config_free(&cfg);
        return 1;
    }
    trainer_set_backend(be);
    char cpu[160], kern[160];
    backend_cpu_model(cpu, sizeof cpu);
    const int blas_fallback = backend_cpu_describe(kern, sizeof kern);
    printf("[rank %d/%d] %s (local rank %d of %d): %s; %d thread(s) (%s) for host work and CPU ops; %s, %s\n", rank, size, host,
           local_rank, local_size, dev, backend_cpu_threads(), why, cpu, kern);
    if (blas_fallback) printf("[rank %d/%d] note: %s\n", rank, size, backend_cpu_fallback_hint());
    fflush(stdout);

    char run_dir[2200];
    snprintf(run_dir, sizeof run_dir, "%s/%s", cfg.output_dir, cfg.run_name);
    RunOptions o = {cfg_path, run_dir, resume, force, stop_after, inj_sym[0] ? inj_sym : NULL, inj_epoch, inj_step};
    int rc = run_train_mpi(&cfg, &o, MPI_COMM_WORLD, &e);
    if (rc == 1 && rank == 0) fprintf(stderr, "train: error: %s\n", e.msg);
    if (rc == 4 && rank == 0) fprintf(stderr, "train: partial failure: some symbols diverged or were skipped (status in summary.csv and results.h5)\n");
    config_free(&cfg);
    return rc;
fail:   /* every rank parsed the same input and failed alike: rank 0 speaks */
    if (rank == 0) fprintf(stderr, "train: error: %s\n", e.msg);
    config_free(&cfg);
    return 1;
}
