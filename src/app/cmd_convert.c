/* cmd_convert.c: deeplob_mpi convert: Tardis gzip CSV days -> one 1-second LOB dataset.
 * Symbols are dealt round-robin over ranks; every rank converts its own symbols and all
 * write the one shared dataset through parallel HDF5 (lobds_mpi_write). */
#define _GNU_SOURCE
#include <dirent.h>
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/cmd_common.h"
#include "app/commands.h"
#include "common/progress.h"
#include "data/convert.h"
#include "data/download.h"
#include "io/lobds_mpi.h"

static void convert_usage(FILE *f) {
    fprintf(f,
            "usage: deeplob_mpi convert --in DIR --out DATASET.h5 [options]\n"
            "DIR holds one directory per symbol with YYYY-MM-DD.csv.gz day files (the layout `download`\n"
            "writes under OUT/EXCHANGE/DATA_TYPE). The days of a symbol form one continuous series.\n"
            "  --symbols A,B       only these symbols (default: every valid directory name in DIR)\n"
            "  --from/--to DATE    only days in [from, to]\n"
            "  --max-gap S         carry the book forward over gaps up to S s; longer gaps split (60)\n"
            "  --horizons H1,H2    target horizons in seconds (default 10,60)\n"
            "  --max-bad-rows N    reject a file with more than N bad rows (default 1000)\n"
            "  --progress S        a progress line (rank, symbol, day file, rows/s) at most every S s\n"
            "                      after a day file is done (default 10; 0 = none)\n");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* sorted entries of dir accepted by keep(); caller frees */
static int list_dir(char ***out, int *n, const char *dir, int want_dirs, DlErr *e) {
    DIR *d = opendir(dir);
    if (!d) return dl_err(e, "%s: cannot open directory", dir);
    int cap = 64, k = 0;
    char **v = dl_malloc(sizeof *v * (size_t)cap);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (nm[0] == '.') continue;
        if (want_dirs) {
            if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) continue;
        } else {
            size_t l = strlen(nm);
            int is_day = l >= 14 && (strcmp(nm + 10, ".csv.gz") == 0 || strcmp(nm + 10, ".csv") == 0);
            if (!is_day) continue;
        }
        if (k == cap) { cap *= 2; v = realloc(v, sizeof *v * (size_t)cap); DL_CHECK(v, "out of memory"); }
        v[k++] = strdup(nm);
    }
    closedir(d);
    qsort(v, (size_t)k, sizeof *v, cmp_str); /* YYYY-MM-DD names sort by date */
    *out = v;
    *n = k;
    return 0;
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static const char *const extra_attr_names[] = {
    "rows_raw", "rows_dropped_wrong_column_count", "rows_dropped_unparsable_number", "rows_dropped_missing_level0",
    "rows_dropped_nonpositive_price", "rows_dropped_crossed_book", "rows_dropped_time_backwards",
    "seconds_observed", "seconds_filled", "rows_missing_deep_levels", "files", "max_gap_s"};
#define N_EXTRA 12

/* where this rank is, for its progress lines */
typedef struct {
    Progress pg;
    int rank, k, n_mine;   /* this symbol is the k-th (1-based) of the rank's n_mine */
    double t0;
    int64_t rows_before;   /* rows read in the rank's earlier symbols */
} ConvProgress;

/* convert one symbol's days; fills s, provenance, attrs */
static int convert_symbol(LobSymbol *s, char *prov, size_t nprov, int64_t *attrs, const char *in, const char *sym,
                          int64_t dfrom, int64_t dto, const ConvOpts *o, ConvProgress *cp, DlErr *e) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", in, sym);
    char **days;
    int nd;
    if (list_dir(&days, &nd, dir, 0, e)) return -1;
    ConvSeries c;
    conv_series_init(&c, o);
    int rc = 0, used = 0;
    char first[16] = "", last[16] = "";
    for (int i = 0; i < nd && !rc; i++) {
        char date[11];
        memcpy(date, days[i], 10);
        date[10] = 0;
        int64_t day;
        DlErr de;
        if (download_parse_date(date, &day, &de)) continue; /* not a day file */
        if (day < dfrom || day > dto) continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, days[i]);
        rc = conv_add_file(&c, p, e);
        if (!used++) snprintf(first, sizeof first, "%s", date);
        snprintf(last, sizeof last, "%s", date);
        if (!rc && progress_due(&cp->pg)) {
            const int64_t rows = cp->rows_before + c.st.raw_rows;
            const double dt = dl_now() - cp->t0;
            progress_print(&cp->pg, "[rank %d] convert: symbol %d/%d %s, day file %d/%d (%s): %lld rows read, %.0f rows/s",
                           cp->rank, cp->k, cp->n_mine, sym, i + 1, nd, date, (long long)rows, dt > 0 ? rows / dt : 0.0);
        }
    }
    free_list(days, nd);
    if (!rc && !used) rc = dl_err(e, "%s: no YYYY-MM-DD.csv.gz day files in range", dir);
    if (!rc) rc = conv_finish(s, &c, sym, e);
    if (!rc) {
        const ConvStats *st = &c.st;
        snprintf(prov, nprov,
                 "tardis book snapshots %s/*.csv.gz, %lld day files %s..%s; last snapshot per second of "
                 "local_timestamp, carry-forward up to %d s, levels 0-9; converted by deeplob-mpi %s",
                 dir, (long long)st->files, first, last, o->max_gap_s, DL_VERSION);
        int64_t v[N_EXTRA] = {st->raw_rows, st->bad[CONV_BAD_COLUMNS], st->bad[CONV_BAD_NUMBER],
                              st->bad[CONV_BAD_MISSING_L0], st->bad[CONV_BAD_NONPOS], st->bad[CONV_BAD_CROSSED],
                              st->bad[CONV_BAD_TIME_BACK], st->seconds_observed, st->seconds_filled,
                              st->missing_deep, st->files, o->max_gap_s};
        memcpy(attrs, v, sizeof v);
        char rep[2048];
        conv_bad_report(rep, sizeof rep, st);
        printf("convert: %-14s %lld files %s..%s: %lld rows -> %lld seconds (%lld observed, %lld carried), %lld segments, "
               "%.1f MB gzip\n%s", sym, (long long)st->files, first, last, (long long)st->raw_rows, (long long)s->n_rows,
               (long long)st->seconds_observed, (long long)st->seconds_filled, (long long)s->n_segments,
               st->compressed_bytes / 1e6, rep);
        attrs[N_EXTRA] = st->compressed_bytes; /* not an attribute: for the throughput line */
    }
    conv_series_free(&c);
    return rc;
}

int cmd_convert(int argc, char **argv) {
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *in = NULL, *out = NULL, *syms = NULL, *from = NULL, *to = NULL;
    ConvOpts o;
    conv_opts_default(&o);
    static struct option lo[] = {{"in", 1, 0, 'i'},      {"out", 1, 0, 'o'},          {"symbols", 1, 0, 's'},
                                 {"from", 1, 0, 'f'},    {"to", 1, 0, 't'},           {"max-gap", 1, 0, 'g'},
                                 {"horizons", 1, 0, 'H'}, {"max-bad-rows", 1, 0, 'b'}, {"progress", 1, 0, 'p'}, {"help", 0, 0, 'h'},
                                 {0, 0, 0, 0}};
    int c;
    double prog_s = 10;
    DlErr e;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        case 's': syms = optarg; break;
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'g': o.max_gap_s = atoi(optarg); break;
        case 'b': o.max_bad_rows = atoll(optarg); break;
        case 'p': if (cli_double("--progress", optarg, 0, 86400, &prog_s) != 0) return 2; break;
        case 'H': {
            o.n_horizons = 0;
            char *cp = strdup(optarg), *save = NULL;
            for (char *t = strtok_r(cp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                char *end = NULL;
                long h = strtol(t, &end, 10);
                if (o.n_horizons == LOBDS_MAX_H || h < 1 || h > 86400 || *end) { o.n_horizons = -1; break; }
                o.horizons[o.n_horizons++] = (int)h;
            }
            free(cp);
            if (o.n_horizons < 1) {
                if (rank == 0)
                    fprintf(stderr, "convert: --horizons '%s': expected 1..%d comma-separated integers in 1..86400\n",
                            optarg, LOBDS_MAX_H);
                return 2;
            }
            break;
        }
        case 'h': if (rank == 0) convert_usage(stdout); return 0;
        default: if (rank == 0) convert_usage(stderr); return 2;
        }
    }
    int64_t dfrom = INT64_MIN, dto = INT64_MAX;
    if (optind < argc || !in || !out || o.max_gap_s < 1 || o.n_horizons < 1 || o.max_bad_rows < 0) {
        if (rank == 0) {
            fprintf(stderr, "convert: need --in and --out; --max-gap >= 1; 1..%d positive --horizons; --max-bad-rows >= 0\n", LOBDS_MAX_H);
            convert_usage(stderr);
        }
        return 2;
    }
    if ((from && download_parse_date(from, &dfrom, &e)) || (to && download_parse_date(to, &dto, &e))) {
        if (rank == 0) fprintf(stderr, "convert: %s\n", e.msg);
        return 2;
    }
    char **names = NULL;
    int n = 0;
    if (syms) {
        char *cp = strdup(syms), *save = NULL;
        names = dl_malloc(sizeof *names * (strlen(syms) + 1));
        for (char *t = strtok_r(cp, ",", &save); t; t = strtok_r(NULL, ",", &save)) names[n++] = strdup(t);
        free(cp);
    } else if (list_dir(&names, &n, in, 1, &e)) {
        if (rank == 0) fprintf(stderr, "convert: %s\n", e.msg);
        return 1;
    }
    for (int i = 0; i < n; i++)
        if (download_check_name(names[i], "symbol", &e)) {
            if (rank == 0) fprintf(stderr, "convert: %s (directory in %s)\n", e.msg, in);
            free_list(names, n);
            return 2;
        }
    if (n == 0) {
        if (rank == 0) fprintf(stderr, "convert: no symbol directories in %s\n", in);
        free(names);
        return 1;
    }
    if (rank == 0) printf("convert: %d symbol(s) from %s over %d rank(s) -> %s\n", n, in, size, out);
    /* round-robin: symbol i on rank i % size */
    int n_mine = 0;
    LobSymbol *mine = dl_calloc((size_t)n, sizeof *mine);
    char **prov = dl_calloc((size_t)n, sizeof *prov);
    int64_t *attrs = dl_calloc((size_t)n * (N_EXTRA + 1), sizeof *attrs);
    int64_t *packed = dl_calloc((size_t)n * N_EXTRA, sizeof *packed);
    int failed = 0;
    double t0 = dl_now();
    int64_t in_bytes = 0, in_rows = 0;
    ConvProgress cp = {.rank = rank, .n_mine = rank < n ? (n - rank + size - 1) / size : 0, .t0 = t0};
    progress_init(&cp.pg, stdout, prog_s, size == 1 && isatty(fileno(stdout)));
    for (int i = rank; i < n && !failed; i += size) {
        prov[n_mine] = dl_malloc(1024);
        cp.k = n_mine + 1;
        cp.rows_before = in_rows;
        if (convert_symbol(&mine[n_mine], prov[n_mine], 1024, attrs + (size_t)n_mine * (N_EXTRA + 1), in, names[i],
                           dfrom, dto, &o, &cp, &e)) {
            fprintf(stderr, "convert: %s\n", e.msg);
            failed = 1;
            free(prov[n_mine]);
            break;
        }
        memcpy(packed + (size_t)n_mine * N_EXTRA, attrs + (size_t)n_mine * (N_EXTRA + 1), N_EXTRA * sizeof *packed);
        in_bytes += attrs[(size_t)n_mine * (N_EXTRA + 1) + N_EXTRA];
        in_rows += attrs[(size_t)n_mine * (N_EXTRA + 1)];
        n_mine++;
    }
    progress_end(&cp.pg);
    double t_conv = dl_now() - t0;
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    int rc = 0;
    if (any) {
        if (rank == 0) fprintf(stderr, "convert: failed; %s was not written\n", out);
        rc = 1;
    } else if (lobds_mpi_write(out, "tardis", MPI_COMM_WORLD, mine, n_mine, (const char *const *)prov, N_EXTRA,
                               extra_attr_names, packed, &e)) {
        fprintf(stderr, "convert: %s\n", e.msg);
        rc = 1;
    }
    int64_t loc[2] = {in_bytes, in_rows}, glob[2];
    MPI_Reduce(loc, glob, 2, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    double tmax = 0;
    MPI_Reduce(&t_conv, &tmax, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0 && !rc)
        printf("convert: wrote %s: %d symbols; %lld input rows, %.1f MB gzip in %.2f s (%.0f rows/s, %.1f MB/s)\n", out, n,
               (long long)glob[1], glob[0] / 1e6, tmax, glob[1] / (tmax > 0 ? tmax : 1e-9),
               glob[0] / 1e6 / (tmax > 0 ? tmax : 1e-9));
    for (int i = 0; i < n_mine; i++) {
        lobds_symbol_free(&mine[i]);
        free(prov[i]);
    }
    free(mine);
    free(prov);
    free(attrs);
    free(packed);
    free_list(names, n);
    return rc;
}
