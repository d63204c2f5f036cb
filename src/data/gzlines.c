/* gzlines.c: see gzlines.h. */
#include "data/gzlines.h"

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GZL_SLOT (1 << 20) /* inflated bytes per slot */
#define GZL_NSLOT 3
#define GZL_IN (256 << 10) /* compressed bytes per read */

typedef struct {
    size_t n;       /* bytes in data */
    int last;       /* 1: the stream ends after this slot (or an error does) */
    char err[160];  /* "" or why the stream broke (after data) */
} Slot;

struct GzLines {
    char path[4096];
    FILE *f;
    int plain;                      /* not gzip: bytes are passed through */
    pthread_t th;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    Slot slot[GZL_NSLOT];
    char *data[GZL_NSLOT];          /* GZL_SLOT bytes each */
    int head, count, stop;          /* ring: consumer at head, count filled */
    /* consumer */
    char *buf;                      /* carried partial line + one slot */
    size_t have, pos;
    int64_t line;
    int eof, failed;
    char broken[160];               /* the stream broke after the bytes in buf: why */
};

/* ---- producer: inflate into the ring ---- */
static int put_slot(GzLines *g, int k, size_t n, int last, const char *err) {
    pthread_mutex_lock(&g->mu);
    Slot *s = &g->slot[k];
    s->n = n;
    s->last = last;
    snprintf(s->err, sizeof s->err, "%s", err ? err : "");
    g->count++;
    pthread_cond_broadcast(&g->cv);
    int stop = g->stop;
    pthread_mutex_unlock(&g->mu);
    return stop;
}

static int wait_free(GzLines *g, int *k) {
    pthread_mutex_lock(&g->mu);
    while (g->count == GZL_NSLOT && !g->stop) pthread_cond_wait(&g->cv, &g->mu);
    *k = (g->head + g->count) % GZL_NSLOT;
    int stop = g->stop;
    pthread_mutex_unlock(&g->mu);
    return stop;
}

static const char *isal_why(int rc) {
    switch (rc) {
    case ISAL_INVALID_BLOCK: return "invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK: return "invalid distance";
    case ISAL_INVALID_WRAPPER: return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method";
    case ISAL_INCORRECT_CHECKSUM: return "CRC or length check failed";
    default: return "inflate error";
    }
}

static void *producer(void *arg) {
    GzLines *g = arg;
    unsigned char *in = malloc(GZL_IN);
    struct inflate_state *st = malloc(sizeof *st);
    isal_inflate_init(st);
    st->crc_flag = ISAL_GZIP;
    int k, done = 0, member_open = 1, in_eof = 0;
    size_t fill = 0;
    const char *err = NULL;
    st->avail_in = 0;
    while (!done) {
        if (wait_free(g, &k)) break;
        char *out = g->data[k];
        fill = 0;
        while (fill < GZL_SLOT && !done) {
            if (st->avail_in == 0 && !in_eof) {
                size_t r = fread(in, 1, GZL_IN, g->f);
                if (r == 0) { in_eof = 1; if (ferror(g->f)) { err = "read error"; done = 1; break; } }
                st->next_in = in;
                st->avail_in = (uint32_t)r;
            }
            if (g->plain) {
                if (in_eof && st->avail_in == 0) { done = 1; break; }
                size_t c = st->avail_in < GZL_SLOT - fill ? st->avail_in : GZL_SLOT - fill;
                memcpy(out + fill, st->next_in, c);
                st->next_in += c;
                st->avail_in -= (uint32_t)c;
                fill += c;
                continue;
            }
            if (!member_open) {   /* between members: another member, or the end */
                if (st->avail_in == 0 && in_eof) { done = 1; break; }
                if (st->avail_in == 0) continue;
                isal_inflate_reset(st);
                st->crc_flag = ISAL_GZIP;
                member_open = 1;
            }
            st->next_out = (uint8_t *)out + fill;
            st->avail_out = (uint32_t)(GZL_SLOT - fill);
            int rc = isal_inflate(st);
            fill = GZL_SLOT - st->avail_out;
            if (rc < 0) { err = isal_why(rc); done = 1; break; }
            if (st->block_state == ISAL_BLOCK_FINISH) { member_open = 0; continue; }
            if (st->avail_in == 0 && in_eof && st->avail_out > 0) { err = "unexpected end of file"; done = 1; break; }
        }
        if (put_slot(g, k, fill, done, err)) break;
    }
    free(in);
    free(st);
    return NULL;
}

GzLines *gzl_open(const char *path, int want_gz, int64_t *compressed_bytes, DlErr *e) {
    struct stat sb;
    if (stat(path, &sb) != 0) { dl_err(e, "%s: cannot stat: %s", path, strerror(errno)); return NULL; }
    FILE *f = fopen(path, "rb");
    if (!f) { dl_err(e, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    unsigned char mg[2] = {0, 0};
    size_t nm = fread(mg, 1, 2, f);
    rewind(f);
    const int gz = nm == 2 && mg[0] == 0x1f && mg[1] == 0x8b;
    if (want_gz && (sb.st_size == 0 || !gz)) {
        fclose(f);
        dl_err(e, "%s: %s", path, sb.st_size == 0 ? "empty file (0 bytes), not a gzip stream" : "not gzip (no gzip header at byte 0)");
        return NULL;
    }
    if (compressed_bytes) *compressed_bytes = (int64_t)sb.st_size;
    GzLines *g = dl_calloc(1, sizeof *g);
    snprintf(g->path, sizeof g->path, "%s", path);
    g->f = f;
    g->plain = !gz;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    for (int k = 0; k < GZL_NSLOT; k++) g->data[k] = dl_malloc(GZL_SLOT);
    g->buf = dl_malloc(GZL_MAX_LINE + GZL_SLOT + 1);
    if (pthread_create(&g->th, NULL, producer, g) != 0) {
        dl_err(e, "%s: cannot start the reader thread", path);
        gzl_close(g);
        return NULL;
    }
    g->started = 1;
    return g;
}

/* append the next slot to buf (the stream's end or break is noted in g) */
static int take_slot(GzLines *g, DlErr *e) {
    pthread_mutex_lock(&g->mu);
    while (g->count == 0) pthread_cond_wait(&g->cv, &g->mu);
    Slot s = g->slot[g->head];
    memmove(g->buf, g->buf + g->pos, g->have - g->pos);   /* keep the partial line */
    g->have -= g->pos;
    g->pos = 0;
    memcpy(g->buf + g->have, g->data[g->head], s.n);
    g->have += s.n;
    g->head = (g->head + 1) % GZL_NSLOT;
    g->count--;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (s.err[0]) snprintf(g->broken, sizeof g->broken, "%s", s.err);   /* after the lines in this slot */
    if (s.last) g->eof = 1;
    (void)e;
    return 1;
}

int gzl_next(GzLines *g, const char **s, const char **end, DlErr *e) {
    if (g->failed) return -1;
    for (;;) {
        char *p = g->buf + g->pos, *lim = g->buf + g->have;
        char *nl = memchr(p, '\n', (size_t)(lim - p));
        if (nl) {
            g->pos = (size_t)(nl + 1 - g->buf);
            *s = p;
            *end = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
            g->line++;
            return 1;
        }
        if (g->eof && g->broken[0]) {   /* the whole lines before the break were returned */
            g->failed = 1;
            return dl_err(e, "%s: corrupt or truncated gzip after line %lld (%s)", g->path, (long long)g->line, g->broken);
        }
        if (g->eof) {
            if (p == lim) return 0;
            g->pos = g->have;   /* the last line without a newline */
            *s = p;
            *end = lim > p && lim[-1] == '\r' ? lim - 1 : lim;
            g->line++;
            return 1;
        }
        if (g->have - g->pos >= GZL_MAX_LINE) {
            g->failed = 1;
            return dl_err(e, "%s:%lld: line longer than %d bytes", g->path, (long long)g->line + 1, GZL_MAX_LINE);
        }
        take_slot(g, e);
    }
}

int64_t gzl_line(const GzLines *g) { return g->line; }

void gzl_close(GzLines *g) {
    if (!g) return;
    if (g->started) {
        pthread_mutex_lock(&g->mu);
        g->stop = 1;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->th, NULL);
    }
    fclose(g->f);
    for (int k = 0; k < GZL_NSLOT; k++) free(g->data[k]);
    free(g->buf);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
}
