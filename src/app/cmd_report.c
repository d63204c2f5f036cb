/* cmd_report.c: deeplob_mpi report RUN_DIR: figures and report.md from
 * RUN_DIR/results.h5 alone (src/report/report.h). Needs no mpirun: one process
 * reads the file with serial HDF5. */
#include <stdio.h>
#include <string.h>

#include "app/commands.h"
#include "common/util.h"
#include "report/report.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: deeplob_mpi report RUN_DIR\n"
            "Draws RUN_DIR/figures/<name>.png and writes RUN_DIR/report.md from RUN_DIR/results.h5:\n"
            "the run, the cross-symbol summary, the figures with captions, the per-symbol table\n"
            "and the config. No mpirun needed. Exit status: 0 complete; 3 written without\n"
            "figures (this build has no PLplot: the message says how to get it); 1 error.\n"
            "See docs/report.md.\n");
}

int cmd_report(int argc, char **argv) {
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "report: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        dir = argv[i];
    }
    if (!dir) { usage(stderr); return 2; }
    DlErr e = {{0}};
    int rc = report_run(dir, stdout, &e);
    if (rc < 0) { fprintf(stderr, "report: error: %s\n", e.msg); return 1; }
    return rc;
}
