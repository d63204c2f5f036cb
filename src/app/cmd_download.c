/* cmd_download.c: deeplob_mpi download: Tardis.dev files for symbols x days.
 * Under mpirun the symbol-days are dealt round-robin over ranks; each rank runs a small
 * pool of OpenMP threads, one libcurl handle each. TARDIS_API_KEY is read from the
 * environment only and goes nowhere but the Authorization header. */
#define _GNU_SOURCE
#include <getopt.h>
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cmd_common.h"
#include "app/commands.h"
#include "common/progress.h"
#include "data/download.h"

static void download_usage(FILE *f) {
    fprintf(f,
            "usage: deeplob_mpi download --from YYYY-MM-DD --to YYYY-MM-DD (--symbols A,B | --symbols-file F) [options]\n"
            "Tardis.dev files for every symbol and day in [from, to] (inclusive).\n"
            "  --exchange X      default binance-futures\n"
            "  --data-type T     default book_snapshot_25 (trades: the MMF study's trade files)\n"
            "  --out DIR         default data/tardis -> DIR/X/T/SYMBOL/YYYY-MM-DD.csv.gz\n"
            "  --base-url URL    default https://datasets.tardis.dev/v1\n"
            "  --threads N       parallel transfers per rank (default 2)\n"
            "  --progress S      a progress line per rank (symbol-days done of its share, MB, MB/s, ETA)\n"
            "                    after a file, at most every S s (default 10; 0 = none)\n"
            "  API key: environment variable TARDIS_API_KEY (never printed or stored). Without it only\n"
            "  the first day of each month (free) is attempted.\n" NET_OPTS_HELP);
}

/* comma list or file (one a line, '#' comments); names validated */
static int read_symbols(char ***out, int *n, const char *list, const char *file, DlErr *e) {
    char *text = NULL;
    if (file) {
        FILE *f = fopen(file, "rb");
        if (!f) return dl_err(e, "%s: cannot open symbols file", file);
        size_t cap = 4096, len = 0;
        text = dl_malloc(cap);
        size_t got;
        while ((got = fread(text + len, 1, cap - len - 1, f)) > 0) {
            len += got;
            if (len + 1 == cap) { cap *= 2; text = realloc(text, cap); DL_CHECK(text, "out of memory"); }
        }
        fclose(f);
        text[len] = 0;
    } else {
        text = strdup(list);
    }
    int cap = 16, k = 0;
    char **v = dl_malloc(sizeof *v * (size_t)cap);
    char *save = NULL;
    for (char *tok = strtok_r(text, file ? "\n" : ",", &save); tok; tok = strtok_r(NULL, file ? "\n" : ",", &save)) {
        char *hash = strchr(tok, '#');
        if (hash) *hash = 0;
        while (*tok == ' ' || *tok == '\t') tok++;
        size_t l = strlen(tok);
        while (l && (tok[l - 1] == ' ' || tok[l - 1] == '\t' || tok[l - 1] == '\r')) tok[--l] = 0;
        if (!l) continue;
        if (download_check_name(tok, "symbol", e)) {
            if (file) {   /* name the line: every '\n' before tok is still there or became strtok's '\0' */
                int line = 1;
                for (const char *p = text; p < tok; p++) line += *p == '\n' || *p == '\0';
                char msg[sizeof e->msg];
                snprintf(msg, sizeof msg, "%s", e->msg);
                dl_err(e, "%s:%d: %s", file, line, msg);
            }
            for (int i = 0; i < k; i++) free(v[i]);
            free(v);
            free(text);
            return -1;
        }
        if (k == cap) { cap *= 2; v = realloc(v, sizeof *v * (size_t)cap); DL_CHECK(v, "out of memory"); }
        v[k++] = strdup(tok);
    }
    free(text);
    *out = v;
    *n = k;
    if (file && k == 0) { free(v); *out = NULL; return dl_err(e, "%s: no symbols (only blank or comment lines)", file); }
    return 0;
}

int cmd_download(int argc, char **argv) {
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *from = NULL, *to = NULL, *syms = NULL, *symfile = NULL;
    DownloadSpec sp = {"https://datasets.tardis.dev/v1", "binance-futures", "book_snapshot_25", "data/tardis"};
    int threads = 2;
    NetOpts o;
    net_opts_default(&o);
    static struct option lo[] = {{"from", 1, 0, 'f'},      {"to", 1, 0, 't'},          {"symbols", 1, 0, 's'},
                                 {"symbols-file", 1, 0, 'S'}, {"exchange", 1, 0, 'x'}, {"data-type", 1, 0, 'y'},
                                 {"out", 1, 0, 'o'},       {"base-url", 1, 0, 'b'},    {"threads", 1, 0, 'j'},
                                 {"rate", 1, 0, 'N'},      {"retries", 1, 0, 'N'},     {"backoff", 1, 0, 'N'},
                                 {"backoff-max", 1, 0, 'N'}, {"timeout", 1, 0, 'N'},   {"stall", 1, 0, 'N'},
                                 {"seed", 1, 0, 'N'},      {"progress", 1, 0, 'p'},    {"help", 0, 0, 'h'},
                                 {0, 0, 0, 0}};
    double prog_s = 10;
    int c, li;
    DlErr e;
    while ((c = getopt_long(argc, argv, "h", lo, &li)) != -1) {
        switch (c) {
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 's': syms = optarg; break;
        case 'S': symfile = optarg; break;
        case 'x': sp.exchange = optarg; break;
        case 'y': sp.data_type = optarg; break;
        case 'o': sp.out_dir = optarg; break;
        case 'b': sp.base_url = optarg; break;
        case 'j': threads = atoi(optarg); break;
        case 'p': if (cli_double("--progress", optarg, 0, 86400, &prog_s) != 0) return 2; break;
        case 'N':
            if (net_opts_set(&o, lo[li].name, optarg, &e)) { if (rank == 0) fprintf(stderr, "download: %s\n", e.msg); return 2; }
            break;
        case 'h': if (rank == 0) download_usage(stdout); return 0;
        default: if (rank == 0) download_usage(stderr); return 2;
        }
    }
    int64_t d0, d1;
    if (optind < argc || !from || !to || (!syms == !symfile) || threads < 1 || threads > 64) {
        if (rank == 0) {
            fprintf(stderr, "download: need --from, --to, exactly one of --symbols/--symbols-file, 1 <= --threads <= 64\n");
            download_usage(stderr);
        }
        return 2;
    }
    char **sym = NULL;
    int ns = 0;
    if (download_parse_date(from, &d0, &e) || download_parse_date(to, &d1, &e) ||
        download_check_name(sp.exchange, "--exchange", &e) || download_check_name(sp.data_type, "--data-type", &e) ||
        read_symbols(&sym, &ns, syms, symfile, &e)) {
        if (rank == 0) fprintf(stderr, "download: %s\n", e.msg);
        return 2;
    }
    if (d1 < d0 || ns == 0) {
        if (rank == 0) fprintf(stderr, "download: empty request (--to before --from, or no symbols)\n");
        for (int i = 0; i < ns; i++) free(sym[i]);
        free(sym);
        return 2;
    }
    /* the key: copied once, wiped at the end, only ever handed to libcurl's bearer option */
    const char *env_key = getenv("TARDIS_API_KEY");
    char *key = env_key && env_key[0] ? strdup(env_key) : NULL;
    o.bearer = key;
    int64_t ndays = d1 - d0 + 1, total = ns * ndays;
    int64_t *items = dl_malloc(sizeof *items * (size_t)total); /* item = symbol * ndays + day offset */
    int64_t nit = 0;
    for (int s = 0; s < ns; s++)
        for (int64_t d = 0; d < ndays; d++) {
            int y, m, dd;
            download_civil(d0 + d, &y, &m, &dd);
            if (key || dd == 1) items[nit++] = s * ndays + d;
        }
    if (rank == 0) {
        if (!key)
            printf("download: TARDIS_API_KEY is not set: only the first day of each month is free, so %lld of %lld "
                   "symbol-days are attempted\n", (long long)nit, (long long)total);
        printf("download: %lld symbol-days, %d rank(s) x %d thread(s), %s/%s -> %s\n", (long long)nit, size, threads,
               sp.exchange, sp.data_type, sp.out_dir);
    }
    if (net_global_init(&e)) DL_FATAL("%s", e.msg);
    /* the rate limit is per thread: spread the requested rate over the pool and the ranks */
    o.min_interval_s *= threads * size;
    int64_t n_ok = 0, n_skip = 0, n_fail = 0, n_bytes = 0;
    double t0 = dl_now();
    NetState *states = dl_calloc((size_t)threads, sizeof *states);
    const int64_t n_share = rank < nit ? (nit - rank + size - 1) / size : 0; /* this rank's symbol-days */
    int64_t p_done = 0, p_bytes = 0;
    Progress pg;
    progress_init(&pg, stdout, prog_s, 0); /* plain lines: the per-file lines share the output */
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) reduction(+ : n_ok, n_skip, n_fail, n_bytes)
    for (int64_t i = rank; i < nit; i += size) {
        int s = (int)(items[i] / ndays);
        int64_t day = d0 + items[i] % ndays;
        int y, m, dd, skipped = 0;
        int64_t bytes = 0;
        download_civil(day, &y, &m, &dd);
        DlErr ei;
        if (download_one(&sp, sym[s], day, &o, &states[omp_get_thread_num()], &skipped, &bytes, &ei) == 0) {
            if (skipped) n_skip++;
            else n_ok++;
            n_bytes += bytes;
            printf("download: %-14s %04d-%02d-%02d %s\n", sym[s], y, m, dd, skipped ? "already complete, skipped" : "ok");
        } else {
            n_fail++;
            fprintf(stderr, "download: %-14s %04d-%02d-%02d FAILED: %s\n", sym[s], y, m, dd, ei.msg);
        }
#pragma omp critical(download_progress)
        {
            p_done++;
            p_bytes += bytes;
            if (progress_due(&pg)) {
                const double dt = dl_now() - t0, per = dt / (double)p_done;
                char eta[32];
                progress_fmt_eta(eta, sizeof eta, per * (double)(n_share - p_done));
                progress_print(&pg, "[rank %d] download: %lld/%lld symbol-days done, %.1f MB, %.2f MB/s, ETA %s", rank,
                               (long long)p_done, (long long)n_share, p_bytes / 1e6, dt > 0 ? p_bytes / 1e6 / dt : 0.0,
                               eta);
            }
        }
        fflush(stdout);
    }
    free(states);
    progress_end(&pg);
    int64_t loc[4] = {n_ok, n_skip, n_fail, n_bytes}, glob[4];
    MPI_Allreduce(loc, glob, 4, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("download: %lld downloaded (%.1f MB), %lld skipped as complete, %lld failed, %.1f s\n", (long long)glob[0],
               glob[3] / 1e6, (long long)glob[1], (long long)glob[2], dl_now() - t0);
    if (key) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    free(items);
    for (int i = 0; i < ns; i++) free(sym[i]);
    free(sym);
    return glob[2] ? 1 : 0;
}
