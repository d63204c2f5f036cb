/* deeplob_mpi: one executable, subcommands. */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/commands.h"
#include "common/util.h"
#include "io/h5util.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} Command;

static const Command commands[] = {
    {"train", cmd_train, "train one model per symbol (CONFIG.json; runs under mpirun)"},
    {"synth", cmd_synth, "generate the synthetic LOB dataset with known oracle correlation"},
    {"info", cmd_info, "print a model's layer table and parameter count"},
    {"init", cmd_init, "write freshly initialised weights (HDF5, PyTorch state_dict names)"},
    {"predict", cmd_predict, "evaluate a model on a .npy input, write .npy predictions"},
    {"report", cmd_report, "figures (PNG) and report.md of a finished run directory (no mpirun needed)"},
    {"bench", cmd_bench, "training/inference throughput benchmark"},
    {"crawl", cmd_crawl, "Binance USDT perpetual universe by liquidity -> inputs/candidates.txt"},
    {"download", cmd_download, "download Tardis.dev files (TARDIS_API_KEY from the environment)"},
    {"convert", cmd_convert, "Tardis book_snapshot_25 .csv.gz -> 1-second LOB dataset (HDF5)"},
    {"import-npy", cmd_import_npy, "import the seed's .npy files into the LOB dataset format"},
    {"mmf-bars", cmd_mmf_bars, "Tardis trades + book_snapshot_25 -> trade-and-book bars (HDF5)"},
    {"mmf", cmd_mmf, "microstructure-feature study: MMF-LSTM vs XGBoost vs zero (CONFIG.json)"},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void mpi_abort_hook(int code) {
    int up = 0, down = 0, size = 1;
    MPI_Initialized(&up);
    MPI_Finalized(&down);
    if (up && !down) MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* alone, a plain exit is enough (MPI_Abort in singleton mode adds ORTE noise) */
    if (up && !down && size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

/* Run without a launcher (`deeplob_mpi synth ...` on a laptop), Open MPI's singleton
 * start-up forks an orted and opens the UCX pml: 0.35 s of every command's wall time on
 * the development VM, against 0.03 s without both. We never spawn processes and a
 * singleton has no peers, so neither is needed. Only defaults: a value the user set wins,
 * and a launched rank (mpirun, srun + PMIx/PMI) is left alone. */
static void singleton_defaults(void) {
#ifdef OPEN_MPI
    static const char *launched[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "OMPI_MCA_orte_hnp_uri"};
    for (size_t i = 0; i < sizeof launched / sizeof launched[0]; i++)
        if (getenv(launched[i])) return;
    setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
    setenv("OMPI_MCA_pml", "ob1", 0);
#endif
}

static void usage(FILE *f) {
    fprintf(f, "usage: deeplob_mpi <command> [options]   (deeplob_mpi <command> --help)\n\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nWith no command: train inputs/train_all.json\n");
}

int main(int argc, char **argv) {
    int provided = 0, rank = 0, size = 1;
    /* over a file-size limit (RLIMIT_FSIZE, `ulimit -f`) the kernel kills the writer with
     * SIGXFSZ; ignored, the write fails with EFBIG and the error path names the file
     * ("File too large") like any full disk (tests/sh/test_disk_full.sh) */
    signal(SIGXFSZ, SIG_IGN);
    singleton_defaults();
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) dl_set_rank(rank);
    dl_set_abort_hook(mpi_abort_hook);

    int rc;
    if (argc < 2) {
        static char *dflt[] = {"train", "inputs/train_all.json", NULL};
        if (rank == 0) printf("deeplob_mpi: no command given, running: train inputs/train_all.json\n");
        rc = cmd_train(2, dflt);
    } else if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        if (rank == 0) usage(stdout);
        rc = 0;
    } else {
        rc = -1;
        for (int i = 0; i < N_COMMANDS; i++)
            if (!strcmp(argv[1], commands[i].name)) { rc = commands[i].fn(argc - 1, argv + 1); break; }
        if (rc == -1) {
            if (rank == 0) { fprintf(stderr, "deeplob_mpi: unknown command '%s'\n\n", argv[1]); usage(stderr); }
            rc = 2;
        }
    }
    if (h5u_close_failed()) {
        /* an HDF5 file we wrote could not be closed (full disk, file-size limit): HDF5 1.10
         * would crash in its shutdown inside MPI_Finalize (see src/io/h5util.c). The error
         * has been reported; leave without that shutdown. */
        fflush(stdout);
        fflush(stderr);
        _exit(rc ? rc : 1);
    }
    MPI_Finalize();
    return rc;
}
