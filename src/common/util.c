#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_rank = -1;                       /* message prefix only */
static void (*g_abort_hook)(int) = NULL;      /* set by main once MPI is up */

void dl_set_rank(int rank) { g_rank = rank; }
int dl_rank(void) { return g_rank; }
void dl_set_abort_hook(void (*hook)(int)) { g_abort_hook = hook; }

/* One line = one write(2): ranks share stderr, and a line assembled from several
 * unbuffered fprintf calls interleaves with another rank's (seen in test_download). */
static void write_line(const char *head, const char *fmt, va_list ap) {
    char buf[2048]; /* the prefix and head (< 512) always fit; the message is cut to the rest */
    int n = g_rank >= 0 ? snprintf(buf, sizeof buf, "[rank %d] ", g_rank) : 0;
    n += snprintf(buf + n, sizeof buf - (size_t)n, "%s", head);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    if (m > 0) n += m;
    if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    fflush(stderr);
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = write(STDERR_FILENO, buf + off, (size_t)n - off);
        if (w < 0) { if (errno == EINTR) continue; break; }
        off += (size_t)w;
    }
}

void dl_fatal_at(const char *file, int line, const char *fmt, ...) {
    char head[512];
    va_list ap;
    fflush(stdout);
    snprintf(head, sizeof head, "%s:%d: error: ", file, line);
    va_start(ap, fmt);
    write_line(head, fmt, ap);
    va_end(ap);
    if (g_abort_hook) g_abort_hook(1);
    exit(1);
}

void dl_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    write_line("", fmt, ap);
    va_end(ap);
}

int dl_err(DlErr *e, const char *fmt, ...) {
    if (!e) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void *dl_malloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) dl_fatal_at(file, line, "out of memory allocating %zu bytes", n);
    return p;
}

void *dl_calloc_at(size_t n, size_t sz, const char *file, int line) {
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) dl_fatal_at(file, line, "out of memory allocating %zu x %zu bytes", n, sz);
    return p;
}

void *dl_aligned_alloc_at(size_t n, const char *file, int line) {
    size_t sz = (n + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, sz ? sz : 64) != 0)
        dl_fatal_at(file, line, "out of memory allocating %zu bytes", n);
    memset(p, 0, sz);
    return p;
}

double dl_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int dl_commit_file(const char *tmp, const char *final_path, DlErr *e) {
    int fd = open(tmp, O_RDONLY);
    if (fd < 0) return dl_err(e, "%s: cannot open for fsync: %s", tmp, strerror(errno));
    if (fsync(fd) != 0) {
        close(fd);
        return dl_err(e, "%s: fsync failed: %s", tmp, strerror(errno));
    }
    close(fd);
    if (rename(tmp, final_path) != 0)
        return dl_err(e, "cannot rename %s -> %s: %s", tmp, final_path, strerror(errno));
    return 0;
}

int dl_write_file_atomic(const char *path, const void *data, size_t n, DlErr *e) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return dl_err(e, "%s: cannot create: %s", tmp, strerror(errno));
    if (n && fwrite(data, 1, n, f) != n) {
        fclose(f);
        unlink(tmp);
        return dl_err(e, "%s: write failed: %s", tmp, strerror(errno));
    }
    if (fclose(f) != 0) {
        unlink(tmp);
        return dl_err(e, "%s: close failed: %s", tmp, strerror(errno));
    }
    if (dl_commit_file(tmp, path, e) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}
