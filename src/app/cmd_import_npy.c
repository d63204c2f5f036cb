/* cmd_import_npy.c: deeplob_mpi import-npy: the seed's .npy files -> LOB dataset.
 * Files are dealt round-robin over ranks and written through parallel HDF5. */
#define _GNU_SOURCE
#include <getopt.h>
#include <libgen.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/commands.h"
#include "data/npy_import.h"
#include "io/lobds_mpi.h"

static void import_usage(FILE *f) {
    fprintf(f,
            "usage: deeplob_mpi import-npy --out DATASET.h5 [options] [SYMBOL=]FILE.npy ...\n"
            "The seed's float32 arrays: (N,43) = [unix s, 40 LOB, r10, r60] or (N,42) = [40 LOB, r10, r60].\n"
            "SYMBOL defaults to the file name without .npy.\n"
            "  --layout auto|42|43  force the layout (default auto: from the column count, checked)\n"
            "  --start-time T       unix seconds of row 0 for the 42 layout (default 0)\n"
            "  --max-gap S          43 layout: a time jump > S s + float32 resolution splits a segment (60)\n");
}

static const char *const attr_names[] = {"npy_layout", "rows_nonfinite", "targets_invalid", "time_resolution_s"};

int cmd_import_npy(int argc, char **argv) {
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *out = NULL;
    int layout = NPY_LAYOUT_AUTO, max_gap = 60;
    int64_t start_time = 0;
    static struct option lo[] = {{"out", 1, 0, 'o'},     {"layout", 1, 0, 'l'}, {"start-time", 1, 0, 's'},
                                 {"max-gap", 1, 0, 'g'}, {"help", 0, 0, 'h'},   {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'l':
            if (!strcmp(optarg, "auto")) layout = NPY_LAYOUT_AUTO;
            else if (!strcmp(optarg, "42")) layout = NPY_LAYOUT_42;
            else if (!strcmp(optarg, "43")) layout = NPY_LAYOUT_43;
            else { if (rank == 0) fprintf(stderr, "import-npy: --layout must be auto, 42 or 43\n"); return 2; }
            break;
        case 's': start_time = atoll(optarg); break;
        case 'g': max_gap = atoi(optarg); break;
        case 'h': if (rank == 0) import_usage(stdout); return 0;
        default: if (rank == 0) import_usage(stderr); return 2;
        }
    }
    int n = argc - optind;
    if (!out || n < 1 || max_gap < 1) {
        if (rank == 0) { fprintf(stderr, "import-npy: need --out and at least one .npy file\n"); import_usage(stderr); }
        return 2;
    }
    LobSymbol *mine = dl_calloc((size_t)n, sizeof *mine);
    char **prov = dl_calloc((size_t)n, sizeof *prov);
    int64_t *vals = dl_calloc((size_t)n * 4, sizeof *vals);
    int n_mine = 0, failed = 0;
    DlErr e;
    for (int i = rank; i < n && !failed; i += size) {
        char arg[4096], sym[256];
        snprintf(arg, sizeof arg, "%s", argv[optind + i]);
        char *eq = strchr(arg, '='), *path = arg;
        if (eq) {
            *eq = 0;
            snprintf(sym, sizeof sym, "%s", arg);
            path = eq + 1;
        } else {
            char b[4096];
            snprintf(b, sizeof b, "%s", arg);
            char *base = basename(b);
            size_t l = strlen(base);
            if (l > 4 && !strcmp(base + l - 4, ".npy")) base[l - 4] = 0;
            snprintf(sym, sizeof sym, "%s", base);
        }
        NpyArray a;
        NpyImportInfo info;
        if (npy_read_f32(path, &a, &e) ||
            (npy_import_symbol(&mine[n_mine], &info, &a, layout, sym, start_time, max_gap, path, &e) && (npy_free(&a), 1))) {
            fprintf(stderr, "import-npy: %s\n", e.msg);
            failed = 1;
            break;
        }
        npy_free(&a);
        prov[n_mine] = dl_malloc(1024);
        snprintf(prov[n_mine], 1024,
                 "seed .npy %s, layout (N,%d)%s; returns over 10/60 rows converted from simple fractions to 1e4*ln(1+r) "
                 "bps; %s",
                 path, info.layout, layout == NPY_LAYOUT_AUTO ? " detected" : " forced",
                 info.layout == 43 ? "time: float32 seconds (resolution ~128 s) -> int64, one second per row from the "
                                     "first time; a larger jump starts a segment"
                                   : "time: none in the file, start_time + row index");
        printf("import-npy: %-14s %s: layout (N,%d) %s, %lld rows, %lld segments", sym, path, info.layout,
               layout == NPY_LAYOUT_AUTO ? "detected" : "forced", (long long)mine[n_mine].n_rows,
               (long long)mine[n_mine].n_segments);
        if (info.layout == 43)
            printf(", float32 time resolution %.0f s: times rebuilt at 1 s per row (precision loss)", info.time_resolution_s);
        if (info.rows_nonfinite) printf(", %lld rows with non-finite features", (long long)info.rows_nonfinite);
        printf("\n");
        int64_t v[4] = {info.layout, info.rows_nonfinite, info.targets_invalid, (int64_t)info.time_resolution_s};
        memcpy(vals + (size_t)n_mine * 4, v, sizeof v);
        n_mine++;
    }
    int any = 0, rc = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any) {
        if (rank == 0) fprintf(stderr, "import-npy: failed; %s was not written\n", out);
        rc = 1;
    } else if (lobds_mpi_write(out, "npy", MPI_COMM_WORLD, mine, n_mine, (const char *const *)prov, 4, attr_names, vals, &e)) {
        fprintf(stderr, "import-npy: %s\n", e.msg);
        rc = 1;
    } else if (rank == 0) {
        printf("import-npy: wrote %s (%d symbols)\n", out, n);
    }
    for (int i = 0; i < n_mine; i++) {
        lobds_symbol_free(&mine[i]);
        free(prov[i]);
    }
    free(mine);
    free(prov);
    free(vals);
    return rc;
}
