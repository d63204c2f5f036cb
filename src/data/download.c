/* download.c: one Tardis symbol-day, resumable and verified (see download.h). */
#define _GNU_SOURCE
#include "download.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../io/lobds.h"

int download_check_name(const char *s, const char *what, DlErr *e) {
    if (lobds_symbol_ok(s)) return 0;
    /* show only printable bytes: the name may contain control characters */
    char shown[80];
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && k + 1 < sizeof shown; p++)
        shown[k++] = (*p < 0x20 || *p == 0x7f) ? '?' : (char)*p;
    shown[k] = 0;
    return dl_err(e, "invalid %s '%s': must be 1..63 bytes without '/', '\\', '..', spaces, control characters, "
                     "and not start with '.' or '-'", what, shown);
}

/* Howard Hinnant's days_from_civil / civil_from_days: exact for the proleptic Gregorian calendar */
static int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void download_civil(int64_t z, int *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int download_parse_date(const char *s, int64_t *day, DlErr *e) {
    int y, m, d, n = 0;
    /* exactly DDDD-DD-DD: sscanf's %d alone would also take " 2", "+2" or "-0" (found by
     * tests/fuzz/fuzz_names.c: "2024- 2-29" was accepted as 2024-02-29) */
    int shape_ok = strlen(s) == 10;
    for (int i = 0; shape_ok && i < 10; i++)
        shape_ok = (i == 4 || i == 7) ? s[i] == '-' : (s[i] >= '0' && s[i] <= '9');
    if (!shape_ok || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 || m < 1 || m > 12 || d < 1 ||
        d > 31 || y < 2000)
        return dl_err(e, "invalid date '%.40s' (expected YYYY-MM-DD)", s);
    int64_t z = days_from_civil(y, m, d);
    int y2, m2, d2;
    download_civil(z, &y2, &m2, &d2);
    if (y2 != y || m2 != m || d2 != d) return dl_err(e, "invalid date '%s' (no such day)", s);
    *day = z;
    return 0;
}

int download_verify_gzip(const char *path, int64_t *uncompressed, DlErr *e) {
    struct stat sb;
    if (stat(path, &sb) != 0) return dl_err(e, "%s: cannot stat: %s", path, strerror(errno));
    if (sb.st_size < 18) return dl_err(e, "%s: %lld bytes is not a gzip file", path, (long long)sb.st_size);
    gzFile g = gzopen(path, "rb");
    if (!g) return dl_err(e, "%s: cannot open: %s", path, strerror(errno));
    if (gzdirect(g)) { /* zlib would pass non-gzip bytes through unchanged */
        gzclose(g);
        return dl_err(e, "%s: not gzip data (an error page?)", path);
    }
    char buf[1 << 16];
    int64_t total = 0;
    int got;
    while ((got = gzread(g, buf, sizeof buf)) > 0) total += got;
    int zerr = Z_OK;
    const char *m = gzerror(g, &zerr);
    /* zlib's message is "<path>: <what>": keep the what */
    const char *what = strrchr(m, ':') ? strrchr(m, ':') + 2 : m;
    int rc = (got < 0 || zerr != Z_OK) ? dl_err(e, "%s: gzip stream incomplete or corrupt (%s)", path, what) : 0;
    gzclose(g);
    if (uncompressed) *uncompressed = total;
    return rc;
}

int download_mkdir_p(const char *path, DlErr *e) {
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char *q = p + 1;; q++) {
        if (*q == '/' || *q == 0) {
            char c = *q;
            *q = 0;
            if (mkdir(p, 0775) != 0 && errno != EEXIST) return dl_err(e, "%s: cannot create directory: %s", p, strerror(errno));
            *q = c;
            if (!c) break;
        }
    }
    return 0;
}

int download_one(const DownloadSpec *sp, const char *symbol, int64_t day, const NetOpts *o, NetState *st,
                 int *skipped, int64_t *bytes, DlErr *e) {
    *skipped = 0;
    *bytes = 0;
    if (download_check_name(symbol, "symbol", e)) return -1;
    int y, m, d;
    download_civil(day, &y, &m, &d);
    char dir[4096], final_path[4200], part[4300], url[4096];
    snprintf(dir, sizeof dir, "%s/%s/%s/%s", sp->out_dir, sp->exchange, sp->data_type, symbol);
    snprintf(final_path, sizeof final_path, "%s/%04d-%02d-%02d.csv.gz", dir, y, m, d);
    if (access(final_path, F_OK) == 0) { /* renamed only after verification: complete */
        *skipped = 1;
        return 0;
    }
    if (download_mkdir_p(dir, e)) return -1;
    snprintf(part, sizeof part, "%s.part", final_path);
    char *enc = net_urlencode(symbol);
    snprintf(url, sizeof url, "%s/%s/%s/%04d/%02d/%02d/%s.csv.gz", sp->base_url, sp->exchange, sp->data_type, y, m, d, enc);
    free(enc);
    /* a truncated body that the server announced with the right length still fails the gzip
     * check; re-fetch it like any other transient failure */
    for (int attempt = 0;; attempt++) {
        long status;
        if (net_get_file(part, &status, url, o, st, e)) {
            unlink(part);
            return -1;
        }
        int64_t raw = 0;
        if (download_verify_gzip(part, &raw, e) == 0) break;
        if (attempt >= o->max_retries) {
            unlink(part);
            return -1;
        }
        if (!o->quiet) dl_log("%s; fetching again", e->msg);
    }
    struct stat sb;
    if (stat(part, &sb) == 0) *bytes = (int64_t)sb.st_size;
    if (dl_commit_file(part, final_path, e)) {
        unlink(part);
        return -1;
    }
    return 0;
}
