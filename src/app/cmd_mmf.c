/* cmd_mmf.c: deeplob_mpi mmf-bars (Tardis trades + book_snapshot_25 -> bars file) and
 * deeplob_mpi mmf (the microstructure-feature study, config-driven like train). */
#define _GNU_SOURCE
#include <dirent.h>
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/commands.h"
#include "data/download.h"
#include "data/mmf_bars_h5.h"
#include "train/mmf_study.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* sorted names in dir: subdirectories (want_dirs) or YYYY-MM-DD.csv[.gz] day files; missing dir: 0 names */
static int names_in(char ***out, int *n, const char *dir, int want_dirs) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    int cap = 16;
    char **v = dl_malloc(sizeof *v * (size_t)cap);
    for (struct dirent *de; (de = readdir(d));) {
        const char *nm = de->d_name;
        size_t l = strlen(nm);
        if (nm[0] == '.') continue;
        if (!want_dirs && !(l >= 14 && (!strcmp(nm + 10, ".csv.gz") || !strcmp(nm + 10, ".csv")))) continue;
        if (want_dirs && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) continue;
        if (*n == cap) { cap *= 2; v = realloc(v, sizeof *v * (size_t)cap); DL_CHECK(v, "out of memory"); }
        v[(*n)++] = strdup(nm);
    }
    closedir(d);
    qsort(v, (size_t)*n, sizeof *v, cmp_str);
    *out = v;
    return 0;
}

static void free_names(char **v, int n) { for (int i = 0; i < n; i++) free(v[i]); free(v); }

/* one symbol: its book days, then its trade days */
static int build_symbol(MmfBars *out, char *prov, size_t np, const char *in, const char *sym, const MmfBarOpts *o, DlErr *e) {
    char bdir[4200], tdir[4200], path[4500];
    snprintf(bdir, sizeof bdir, "%s/book_snapshot_25/%s", in, sym);
    snprintf(tdir, sizeof tdir, "%s/trades/%s", in, sym);
    char **bd, **td;
    int nb, nt;
    names_in(&bd, &nb, bdir, 0);
    names_in(&td, &nt, tdir, 0);
    int rc = 0;
    if (nb == 0 || nt == 0)
        rc = dl_err(e, "%s: %s day files but %s: the bars need both (download --data-type %s for it)", sym,
                    nb ? "book_snapshot_25" : "trades", nb ? "no trades" : "no book_snapshot_25", nb ? "trades" : "book_snapshot_25");
    MmfBarBuilder *b = rc ? NULL : mmf_bars_begin(o);
    for (int i = 0; i < nb && !rc; i++) { snprintf(path, sizeof path, "%s/%s", bdir, bd[i]); rc = mmf_bars_add_book(b, path, e); }
    for (int i = 0; i < nt && !rc; i++) { snprintf(path, sizeof path, "%s/%s", tdir, td[i]); rc = mmf_bars_add_trades(b, path, e); }
    if (!rc) rc = mmf_bars_finish(out, b, sym, e);
    else mmf_bars_abort(b);
    if (!rc)
        snprintf(prov, np, "tardis book_snapshot_25 %d day file(s) %.10s..%.10s + trades %d day file(s) %.10s..%.10s; %d s bars, "
                 "carry-forward up to %d s; built by deeplob-mpi mmf-bars", nb, bd[0], bd[nb - 1], nt, td[0], td[nt - 1],
                 o->bar_s, o->max_gap_s);
    free_names(bd, nb);
    free_names(td, nt);
    return rc;
}

static void bars_usage(FILE *f) {
    fprintf(f, "usage: deeplob_mpi mmf-bars --in DIR --out BARS.h5 [options]\n"
               "DIR holds book_snapshot_25/<SYMBOL>/YYYY-MM-DD.csv.gz and trades/<SYMBOL>/... (download's\n"
               "OUT/EXCHANGE, or synth --tardis-out). Symbols are dealt over the ranks; all write BARS.h5\n"
               "through parallel HDF5 (format: docs/data_format.md, \"MMF bars file\").\n"
               "  --symbols A,B       only these (default: every symbol directory under book_snapshot_25 and trades)\n"
               "  --bar-s S           seconds per bar (10)\n"
               "  --max-gap S         book carry-forward limit; longer gaps split segments (60)\n"
               "  --max-bad-rows N    reject a file with more than N bad rows (1000)\n");
}

int cmd_mmf_bars(int argc, char **argv) {
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *in = NULL, *out = NULL, *syms = NULL;
    MmfBarOpts o;
    mmf_bar_opts_default(&o);
    static struct option lo[] = {{"in", 1, 0, 'i'}, {"out", 1, 0, 'o'}, {"symbols", 1, 0, 's'}, {"bar-s", 1, 0, 'b'},
                                 {"max-gap", 1, 0, 'g'}, {"max-bad-rows", 1, 0, 'm'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "h", lo, NULL)) != -1;) {
        switch (c) {
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        case 's': syms = optarg; break;
        case 'b': o.bar_s = atoi(optarg); break;
        case 'g': o.max_gap_s = atoi(optarg); break;
        case 'm': o.max_bad_rows = atoll(optarg); break;
        case 'h': if (rank == 0) bars_usage(stdout); return 0;
        default: if (rank == 0) bars_usage(stderr); return 2;
        }
    }
    if (optind < argc || !in || !out || o.bar_s < 1 || o.bar_s > 3600 || o.max_gap_s < 1 || o.max_bad_rows < 0) {
        if (rank == 0) { fprintf(stderr, "mmf-bars: need --in and --out; --bar-s in 1..3600; --max-gap >= 1; --max-bad-rows >= 0\n"); bars_usage(stderr); }
        return 2;
    }
    DlErr e;
    char **names = NULL;
    int n = 0;
    if (syms) {
        char *cp = strdup(syms), *save = NULL;
        names = dl_malloc(sizeof *names * (strlen(syms) + 1));
        for (char *t = strtok_r(cp, ",", &save); t; t = strtok_r(NULL, ",", &save)) names[n++] = strdup(t);
        free(cp);
    } else { /* the union of both directories: a symbol in only one gets its own clear error */
        char dir[4200], **a, **b;
        int na, nb;
        snprintf(dir, sizeof dir, "%s/book_snapshot_25", in);
        names_in(&a, &na, dir, 1);
        snprintf(dir, sizeof dir, "%s/trades", in);
        names_in(&b, &nb, dir, 1);
        names = dl_malloc(sizeof *names * (size_t)(na + nb + 1));
        for (int i = 0; i < na; i++) names[n++] = strdup(a[i]);
        for (int i = 0; i < nb; i++) {
            int dup = 0;
            for (int j = 0; j < na; j++) dup |= !strcmp(a[j], b[i]);
            if (!dup) names[n++] = strdup(b[i]);
        }
        free_names(a, na);
        free_names(b, nb);
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    }
    for (int i = 0; i < n; i++)
        if (download_check_name(names[i], "symbol", &e)) {
            if (rank == 0) fprintf(stderr, "mmf-bars: %s\n", e.msg);
            free_names(names, n);
            return 2;
        }
    if (n == 0) {
        if (rank == 0) fprintf(stderr, "mmf-bars: no symbol directories under %s/book_snapshot_25 or %s/trades\n", in, in);
        free(names);
        return 1;
    }
    if (rank == 0) printf("mmf-bars: %d symbol(s) from %s over %d rank(s), %d s bars -> %s\n", n, in, size, o.bar_s, out);
    MmfBars *mine = dl_calloc((size_t)n, sizeof *mine);
    char **prov = dl_calloc((size_t)n, sizeof *prov);
    int n_mine = 0, failed = 0;
    const double t0 = dl_now();
    int64_t rows = 0;
    for (int i = rank; i < n && !failed; i += size) { /* round-robin */
        prov[n_mine] = dl_malloc(1024);
        if (build_symbol(&mine[n_mine], prov[n_mine], 1024, in, names[i], &o, &e)) {
            fprintf(stderr, "mmf-bars: %s\n", e.msg);
            failed = 1;
            free(prov[n_mine]);
            break;
        }
        char rep[4096];
        mmf_bad_report(rep, sizeof rep, &mine[n_mine].st);
        const MmfBarStats *st = &mine[n_mine].st;
        printf("mmf-bars: %s: %lld bars in %lld segment(s); %lld book rows, %lld trades (%lld outside any bar)%s\n%s",
               names[i], (long long)mine[n_mine].n, (long long)mine[n_mine].n_seg, (long long)st->book_rows,
               (long long)st->trade_rows, (long long)st->trades_outside, rep[0] ? "; bad rows:" : "", rep);
        rows += st->book_rows + st->trade_rows;
        n_mine++;
    }
    const double secs = dl_now() - t0;
    int any = 0, rc = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any) {
        if (rank == 0) fprintf(stderr, "mmf-bars: failed; %s was not written\n", out);
        rc = 1;
    } else if (mmf_bars_write_mpi(out, MPI_COMM_WORLD, mine, n_mine, (const char *const *)prov, &e)) {
        fprintf(stderr, "mmf-bars: %s\n", e.msg);
        rc = 1;
    }
    int64_t grows = 0;
    double tmax = 0;
    MPI_Reduce(&rows, &grows, 1, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Reduce(&secs, &tmax, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0 && !rc) printf("mmf-bars: wrote %s: %d symbols, %lld input rows in %.2f s\n", out, n, (long long)grows, tmax);
    for (int i = 0; i < n_mine; i++) { mmf_bars_free(&mine[i]); free(prov[i]); }
    free(mine); free(prov);
    free_names(names, n);
    return rc;
}

static void mmf_usage(FILE *f) {
    fprintf(f, "usage: deeplob_mpi mmf CONFIG.json [--resume]\n"
               "The microstructure-feature study (docs/mmf.md): per symbol of the bars file, MMF-LSTM vs\n"
               "XGBoost vs the zero predictor; symbols over MPI ranks, largest first. Outputs under\n"
               "output_dir/run_name: results.h5, summary.csv, models/, ckpt/.\n"
               "  --resume   continue every symbol from its last epoch checkpoint\n");
}

int cmd_mmf(int argc, char **argv) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int resume = 0;
    static struct option lo[] = {{"resume", 0, 0, 'r'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "h", lo, NULL)) != -1;) {
        if (c == 'r') resume = 1;
        else if (c == 'h') { if (rank == 0) mmf_usage(stdout); return 0; }
        else { if (rank == 0) mmf_usage(stderr); return 2; }
    }
    if (optind != argc - 1) { if (rank == 0) mmf_usage(stderr); return 2; }
    MmfConfig c;
    mmf_config_defaults(&c);
    DlErr e;
    if (mmf_config_load(&c, argv[optind], &e)) { if (rank == 0) fprintf(stderr, "mmf: %s\n", e.msg); return 2; }
    int rc = mmf_run_mpi(&c, argv[optind], resume, MPI_COMM_WORLD, &e);
    if (rc && rank == 0) fprintf(stderr, "mmf: %s\n", e.msg);
    return rc;
}
