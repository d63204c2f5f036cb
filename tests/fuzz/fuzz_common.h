/* fuzz_common.h: helpers shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c).
 * The parsers under test read files by path, so the input goes into one memfd per
 * process (no disk traffic) and the harness hands "/proc/self/fd/N" to the parser. */
#ifndef DL_FUZZ_COMMON_H
#define DL_FUZZ_COMMON_H
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct { int fd; char path[64]; } FzFile;

/* (re)fill a memfd with bytes; returns its /proc path */
static inline const char *fz_file(FzFile *f, const char *name, const void *data, size_t n) {
    if (f->fd <= 0) {
        f->fd = memfd_create(name, 0);
        if (f->fd < 0) { perror("memfd_create"); abort(); }
        snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
    }
    if (ftruncate(f->fd, 0) != 0) abort();
    size_t off = 0;
    while (off < n) {
        ssize_t w = pwrite(f->fd, (const char *)data + off, n - off, (off_t)off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    return f->path;
}

/* a named file on tmpfs (/dev/shm, else TMPDIR or /tmp) for parsers that resolve the path
 * (HDF5 follows /proc/self/fd links to "/memfd:... (deleted)" and fails); removed at exit */
static char g_fz_named[256];
static void fz_named_rm(void) { if (g_fz_named[0]) unlink(g_fz_named); }
static inline const char *fz_named_file(const char *name, const void *data, size_t n) {
    if (!g_fz_named[0]) {
        const char *d = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        snprintf(g_fz_named, sizeof g_fz_named, "%s/deeplob-fuzz.%d.%s", d, (int)getpid(), name);
        atexit(fz_named_rm);
    }
    FILE *f = fopen(g_fz_named, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) { perror(g_fz_named); abort(); }
    return g_fz_named;
}

/* gzip-compress (level 1) into a malloc'd buffer */
static inline unsigned char *fz_gzip(const void *data, size_t n, size_t *out_n) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    unsigned char *out = malloc(cap);
    if (!out) abort();
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    *out_n = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}
#endif
