/* cmd_synth.c: deeplob_mpi synth -> a synthetic LOB dataset with known oracle correlations. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/commands.h"
#include "data/mmf_synth.h"
#include "data/synth.h"

static void synth_usage(FILE *f) {
    fprintf(f,
            "usage: deeplob_mpi synth --out FILE.h5 [options]\n"
            "Synthetic limit-order-book market (10 levels a side, 1 s grid) whose predictable part has a\n"
            "known strength: each symbol stores oracle_corr_h<H>, the test-split correlation of the\n"
            "Kalman-filtered best predictor with the target (format: docs/data_format.md).\n"
            "  --out FILE.h5          output dataset (required); an existing file is never replaced\n"
            "                         unless --force is given\n"
            "  --symbols K            number of symbols SYN000USDT, SYN001USDT, ... (default 4, at most 1000)\n"
            "  --seconds N            seconds (rows) per symbol (default 100000; 2000..20000000); one\n"
            "                         outage of 61..600 s per 40000 s splits the series into segments\n"
            "  --seed S               generator seed, 0..9223372036854775807 (default 1); the same seed\n"
            "                         gives bit-identical data\n"
            "  --horizons H1,H2,..    target horizons in seconds, increasing, at most %d (default 10,60)\n"
            "  --oracle-range LO,HI   range of the 10 s oracle correlation over the symbols, 0 < LO < HI\n"
            "                         <= 0.7 (default 0.15,0.5: learnable in minutes; real symbols are\n"
            "                         much weaker, about 0.02..0.1)\n"
            "  --mixed-dynamics       odd-numbered symbols' prices fall when bid depth rises (the\n"
            "                         others': rise): no book-to-return map is shared by all symbols\n"
            "  --force                replace FILE.h5 if it exists\n"
            "  --tardis-out DIR       also write the market as Tardis book_snapshot_25 + trades day files\n"
            "                         under DIR (the layout of download; input of mmf-bars)\n"
            "  -h, --help             this text\n",
            LOBDS_MAX_H);
}

/* whole-string integer in [lo, hi] */
static int parse_i64(const char *s, long long lo, long long hi, long long *v) {
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi) return -1;
    *v = x;
    return 0;
}

static int parse_horizons(const char *s, int *h, int *n) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long long v;
        if (*n == LOBDS_MAX_H || parse_i64(tok, 1, 86400, &v) || (*n && v <= h[*n - 1])) return -1;
        h[(*n)++] = (int)v;
    }
    return *n ? 0 : -1;
}

static int parse_range(const char *s, double *lo, double *hi) {
    char *end, *end2;
    errno = 0;
    *lo = strtod(s, &end);
    if (errno || end == s || *end != ',') return -1;
    *hi = strtod(end + 1, &end2);
    if (errno || end2 == end + 1 || *end2) return -1;
    return *lo > 0 && *lo < *hi && *hi <= 0.7 ? 0 : -1;
}

int cmd_synth(int argc, char **argv) {
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long long n_sym = 4, n_sec = 100000, seed = 1;
    int hz[LOBDS_MAX_H] = {10, 60}, n_hz = 2, force = 0, mixed = 0;
    double lo = 0.15, hi = 0.5;
    const char *out = NULL, *tardis_out = NULL;
    static struct option opts[] = {{"tardis-out", 1, 0, 'T'},{"out", 1, 0, 'o'},     {"symbols", 1, 0, 'k'},      {"seconds", 1, 0, 'n'},
                                   {"seed", 1, 0, 's'},    {"horizons", 1, 0, 'H'},     {"oracle-range", 1, 0, 'r'},
                                   {"force", 0, 0, 'f'},   {"help", 0, 0, 'h'}, {"mixed-dynamics", 0, 0, 'm'},         {0, 0, 0, 0}};
    int c;
    optind = 1;
    const char *bad = NULL;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'k': if (parse_i64(optarg, 1, 1000, &n_sym)) bad = "--symbols must be an integer in 1..1000"; break;
        case 'n': if (parse_i64(optarg, 2000, 20000000, &n_sec)) bad = "--seconds must be an integer in 2000..20000000"; break;
        case 's': if (parse_i64(optarg, 0, 9223372036854775807LL, &seed)) bad = "--seed must be an integer in 0..2^63-1"; break;
        case 'H': if (parse_horizons(optarg, hz, &n_hz)) bad = "--horizons must be 1..8 increasing integers in 1..86400, e.g. 10,60"; break;
        case 'r': if (parse_range(optarg, &lo, &hi)) bad = "--oracle-range must be LO,HI with 0 < LO < HI <= 0.7, e.g. 0.15,0.5"; break;
        case 'f': force = 1; break;
        case 'm': mixed = 1; break;
        case 'T': tardis_out = optarg; break;
        case 'h': if (rank == 0) synth_usage(stdout); return 0;
        default: if (rank == 0) synth_usage(stderr); return 2;
        }
        if (bad) break;
    }
    if (!bad && optind < argc) bad = "unexpected positional argument";
    if (!bad && !out) bad = "--out FILE.h5 is required";
    if (bad) {
        if (rank == 0) fprintf(stderr, "synth: %s (deeplob_mpi synth --help)\n", bad);
        return 2;
    }

    /* one writer: rank 0 generates (seconds of work); the others wait for its status */
    int rc = 0;
    if (rank == 0) {
        if (size > 1) printf("synth: running on rank 0 only (%d ranks started)\n", size);
        if (access(out, F_OK) == 0) {
            if (!force) {
                fprintf(stderr, "synth: %s exists; not overwriting (use --force to replace it)\n", out);
                rc = 1;
            } else if (unlink(out) != 0) {
                fprintf(stderr, "synth: cannot remove %s: %s\n", out, strerror(errno));
                rc = 1;
            } else {
                printf("synth: --force: removed the existing %s\n", out);
            }
        }
        if (!rc) {
            printf("synth: %lld symbols x %lld s, seed %lld, horizons", n_sym, n_sec, seed);
            for (int k = 0; k < n_hz; k++) printf("%s%d", k ? "," : " ", hz[k]);
            printf(", 10 s oracle range [%.3f, %.3f] -> %s\n", lo, hi, out);
            fflush(stdout);
            double t0 = dl_now();
            DlErr e;
            if (synth_write_file(out, (uint64_t)seed, (int)n_sym, n_sec, hz, n_hz, lo, hi, 1, mixed, &e)) {
                fprintf(stderr, "synth: %s\nsynth: nothing written to %s\n", e.msg, out);
                rc = 1;
            } else {
                printf("synth: wrote %s in %.2f s\n", out, dl_now() - t0);
            }
            /* the same market as Tardis book + trades day files, for the MMF study */
            if (!rc && tardis_out && mmf_synth_write_tardis(tardis_out, (uint64_t)seed, (int)n_sym, n_sec, lo, hi, &e)) {
                fprintf(stderr, "synth: %s\n", e.msg);
                rc = 1;
            } else if (!rc && tardis_out) {
                printf("synth: wrote Tardis book_snapshot_25 + trades day files under %s\n", tardis_out);
            }
        }
    }
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return rc;
}
