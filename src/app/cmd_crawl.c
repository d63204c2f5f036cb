/* cmd_crawl.c: deeplob_mpi crawl -> inputs/candidates.txt (+ .csv with the volumes). */
#define _GNU_SOURCE
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/commands.h"
#include "data/crawl.h"
#include "data/download.h"

static void crawl_usage(FILE *f) {
    fprintf(f,
            "usage: deeplob_mpi crawl [options]\n"
            "Top-N Binance USDT perpetuals by mean daily quote volume over the last D complete days.\n"
            "  --top N           symbols to keep (default 50)\n"
            "  --days D          days averaged (default 92)\n"
            "  --out PATH        symbol list, one a line (default inputs/candidates.txt)\n"
            "  --csv PATH        rank,symbol,mean_quote_volume_usdt,days (default: --out with .csv)\n"
            "  --base-url URL    Binance futures REST base (default https://fapi.binance.com)\n" NET_OPTS_HELP);
}

int cmd_crawl(int argc, char **argv) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int top = 50, days = 92;
    const char *out = "inputs/candidates.txt", *csv = NULL, *base = "https://fapi.binance.com";
    NetOpts o;
    net_opts_default(&o);
    static struct option lo[] = {{"top", 1, 0, 't'},     {"days", 1, 0, 'd'},    {"out", 1, 0, 'o'},
                                 {"csv", 1, 0, 'c'},     {"base-url", 1, 0, 'b'}, {"rate", 1, 0, 'N'},
                                 {"retries", 1, 0, 'N'}, {"backoff", 1, 0, 'N'}, {"backoff-max", 1, 0, 'N'},
                                 {"timeout", 1, 0, 'N'}, {"stall", 1, 0, 'N'},   {"seed", 1, 0, 'N'},
                                 {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    int c, li;
    DlErr e;
    while ((c = getopt_long(argc, argv, "h", lo, &li)) != -1) {
        switch (c) {
        case 't': top = atoi(optarg); break;
        case 'd': days = atoi(optarg); break;
        case 'o': out = optarg; break;
        case 'c': csv = optarg; break;
        case 'b': base = optarg; break;
        case 'N':
            if (net_opts_set(&o, lo[li].name, optarg, &e)) { if (rank == 0) fprintf(stderr, "crawl: %s\n", e.msg); return 2; }
            break;
        case 'h': if (rank == 0) crawl_usage(stdout); return 0;
        default: if (rank == 0) crawl_usage(stderr); return 2;
        }
    }
    if (optind < argc || top < 1 || days < 1 || days > 1499) {
        if (rank == 0) { fprintf(stderr, "crawl: need --top >= 1 and 1 <= --days <= 1499, no positional arguments\n"); crawl_usage(stderr); }
        return 2;
    }
    if (rank != 0) return 0; /* a handful of small requests: rank 0 alone */
    char csv_buf[4200];
    if (!csv) {
        snprintf(csv_buf, sizeof csv_buf, "%s", out);
        char *dot = strrchr(csv_buf, '.'), *slash = strrchr(csv_buf, '/');
        if (dot && (!slash || dot > slash)) *dot = 0;
        strncat(csv_buf, ".csv", sizeof csv_buf - strlen(csv_buf) - 1);
        csv = csv_buf;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) { *slash = 0; if (download_mkdir_p(dir, &e)) { fprintf(stderr, "crawl: %s\n", e.msg); return 1; } }
    if (net_global_init(&e)) { fprintf(stderr, "crawl: %s\n", e.msg); return 1; }
    NetState st = {0};
    CrawlItem *items;
    int n;
    double t0 = dl_now();
    if (crawl_universe(&items, &n, base, days, &o, &st, &e)) {
        fprintf(stderr, "crawl: %s\ncrawl: nothing written\n", e.msg);
        return 1;
    }
    if (crawl_write(out, csv, items, n, top, &e)) {
        fprintf(stderr, "crawl: %s\n", e.msg);
        free(items);
        return 1;
    }
    int k = top < n ? top : n;
    printf("crawl: %d of %d symbols by mean daily quote volume over %d days (%llu requests, %.1f s)\n", k, n, days,
           (unsigned long long)st.n_attempts, dl_now() - t0);
    for (int i = 0; i < k && i < 10; i++) printf("  %2d %-16s %18.0f USDT/day\n", i + 1, items[i].symbol, items[i].mean_quote_volume);
    printf("crawl: wrote %s and %s\n", out, csv);
    free(items);
    return 0;
}
