/* test_gzlines.c: the threaded ISA-L line reader (data/gzlines.h): every line of
 * multi-member gzip, plain, CRLF and no-final-newline files, 30 MB across many slots,
 * and the errors: truncated, CRC flipped, garbage inside, not gzip, empty, over-long line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/gzlines.h"
#include "gradcheck.h"

static char dir[] = "/tmp/dl_gzl_XXXXXX";

static void sh(const char *cmd) { CHECK(system(cmd) == 0, "command failed: %s", cmd); }

/* reads path; returns lines, fills the sum of line lengths and the last line (<= 63 bytes) */
static long read_all(const char *path, int want_gz, long *bytes, char *last, int *rc, DlErr *e) {
    GzLines *g = gzl_open(path, want_gz, NULL, e);
    *bytes = 0;
    *rc = 0;
    if (!g) { *rc = -1; return -1; }
    const char *s, *t;
    int got;
    while ((got = gzl_next(g, &s, &t, e)) == 1) {
        *bytes += t - s;
        snprintf(last, 64, "%.*s", (int)(t - s < 63 ? t - s : 63), s);
    }
    long n = (long)gzl_line(g);
    if (got < 0) *rc = -1;
    gzl_close(g);
    return n;
}

int main(void) {
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char cmd[1024], p[512], last[64];
    long bytes;
    int rc;
    DlErr e;
    /* 2 members: 3 lines + 2 lines (CRLF, the last without a newline) */
    snprintf(cmd, sizeof cmd, "cd %s && printf 'a,1\\nbb,22\\nccc,333\\n' | gzip > m.gz && printf 'dd,4\\r\\neee,55' | gzip >> m.gz", dir);
    sh(cmd);
    snprintf(p, sizeof p, "%s/m.gz", dir);
    long n = read_all(p, 1, &bytes, last, &rc, &e);
    CHECK(rc == 0 && n == 5 && bytes == 3 + 5 + 7 + 4 + 6 && !strcmp(last, "eee,55"), "multi-member: %ld lines %ld bytes last '%s' (%s)", n, bytes, last, rc ? e.msg : "");
    /* 30 MB of numbered lines, across many slots */
    snprintf(cmd, sizeof cmd, "cd %s && seq 1 3500000 | gzip -1 > big.gz && seq 1 3500000 | wc -c > big.n", dir);
    sh(cmd);
    snprintf(p, sizeof p, "%s/big.gz", dir);
    n = read_all(p, 1, &bytes, last, &rc, &e);
    CHECK(rc == 0 && n == 3500000 && bytes == 26888896 - 3500000 && !strcmp(last, "3500000"), "big: %ld lines %ld bytes last '%s'", n, bytes, last);
    /* plain file: read as it is unless gzip is wanted */
    snprintf(cmd, sizeof cmd, "cd %s && printf 'x\\ny\\n' > p.csv", dir);
    sh(cmd);
    snprintf(p, sizeof p, "%s/p.csv", dir);
    n = read_all(p, 0, &bytes, last, &rc, &e);
    CHECK(rc == 0 && n == 2 && !strcmp(last, "y"), "plain: %ld lines", n);
    n = read_all(p, 1, &bytes, last, &rc, &e);
    CHECK(rc == -1 && strstr(e.msg, "not gzip (no gzip header at byte 0)") && strstr(e.msg, "p.csv"), "plain as gz: %s", e.msg);
    /* errors, each naming the file and the last whole line */
    struct { const char *name, *make, *want; } bad[] = {
        {"trunc.gz", "head -c 60000 big.gz > trunc.gz", "corrupt or truncated gzip after line"},
        {"crc.gz", "cp m.gz crc.gz && printf '\\x00' | dd of=crc.gz bs=1 seek=$(( $(stat -c %s m.gz) - 6 )) conv=notrunc 2>/dev/null",
         "corrupt or truncated gzip after line"},
        {"junk.gz", "head -c 20000 big.gz > junk.gz && head -c 5000 /dev/urandom >> junk.gz && tail -c +25001 big.gz >> junk.gz",
         "corrupt or truncated gzip after line"},
        {"empty.gz", ": > empty.gz", "empty file (0 bytes)"},
        {"long.gz", "head -c 1100000 /dev/zero | tr '\\\\0' x | gzip > long.gz", "line longer than"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        snprintf(cmd, sizeof cmd, "cd %s && %s", dir, bad[k].make);
        sh(cmd);
        snprintf(p, sizeof p, "%s/%s", dir, bad[k].name);
        n = read_all(p, 1, &bytes, last, &rc, &e);
        CHECK(rc == -1 && strstr(e.msg, bad[k].want) && strstr(e.msg, bad[k].name), "%s: rc %d, '%s'", bad[k].name, rc, rc ? e.msg : "");
        printf("%-9s -> %s\n", bad[k].name, rc ? e.msg : "(accepted)");
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    sh(cmd);
    return gc_summary("test_gzlines");
}
