/* npy.c: NumPy .npy reader/writer for little-endian float32 (see npy.h).
 *
 * The header is a Python dict literal; we parse exactly the subset NumPy writes
 * ({'descr': str, 'fortran_order': bool, 'shape': tuple of ints}) and reject
 * everything else with a message naming the file and what was found. */
#define _GNU_SOURCE
#include "npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c assumes a little-endian host"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER (1 << 20) /* NumPy itself refuses headers above ~10 kB by default */

/* ---- header dict parser: a cursor over the header text ------------------------ */
typedef struct {
    const char *s, *end;
    const char *path;
    DlErr *e;
} Cur;

/* length of the excerpt quoted in messages: up to 20 chars, stopping at a newline */
static int snip(const char *s, const char *end) {
    int n = 0;
    while (s + n < end && n < 20 && s[n] != '\n') n++;
    return n;
}
#define SNIP(c) snip((c)->s, (c)->end), ((c)->s < (c)->end ? (c)->s : "")

static void skip_ws(Cur *c) {
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r')) c->s++;
}

static int expect_ch(Cur *c, char ch, const char *what) {
    skip_ws(c);
    if (c->s >= c->end || *c->s != ch)
        return dl_err(c->e, "%s: npy header: expected '%c' %s, found '%.*s'", c->path, ch, what,
                      SNIP(c));
    c->s++;
    return 0;
}

/* Python string literal in ' or " quotes, no escapes (NumPy never writes them) */
static int parse_str(Cur *c, char *out, size_t n) {
    skip_ws(c);
    if (c->s >= c->end || (*c->s != '\'' && *c->s != '"'))
        return dl_err(c->e, "%s: npy header: expected a quoted string, found '%.*s'", c->path,
                      SNIP(c));
    char q = *c->s++;
    const char *start = c->s;
    while (c->s < c->end && *c->s != q) {
        if (*c->s == '\\' || *c->s == '\n')
            return dl_err(c->e, "%s: npy header: unsupported character in string literal", c->path);
        c->s++;
    }
    if (c->s >= c->end) return dl_err(c->e, "%s: npy header: unterminated string", c->path);
    size_t len = (size_t)(c->s - start);
    c->s++;
    if (len + 1 > n) return dl_err(c->e, "%s: npy header: string '%.*s' too long", c->path, (int)len, start);
    memcpy(out, start, len);
    out[len] = 0;
    return 0;
}

static int parse_bool(Cur *c, int *v) {
    skip_ws(c);
    size_t left = (size_t)(c->end - c->s);
    if (left >= 4 && strncmp(c->s, "True", 4) == 0) { *v = 1; c->s += 4; return 0; }
    if (left >= 5 && strncmp(c->s, "False", 5) == 0) { *v = 0; c->s += 5; return 0; }
    return dl_err(c->e, "%s: npy header: 'fortran_order' must be True or False, found '%.*s'",
                  c->path, SNIP(c));
}

/* (), (N,), (N, M), (N, M,) ... ; Python also allows "L" suffixes from NumPy 1.x on py2 */
static int parse_shape(Cur *c, int *ndim, int64_t *shape) {
    if (expect_ch(c, '(', "to open 'shape'")) return -1;
    *ndim = 0;
    for (;;) {
        skip_ws(c);
        if (c->s < c->end && *c->s == ')') { c->s++; break; }
        if (c->s >= c->end || *c->s < '0' || *c->s > '9')
            return dl_err(c->e, "%s: npy header: bad 'shape' entry '%.*s' (non-negative integers expected)",
                          c->path, SNIP(c));
        int64_t v = 0;
        while (c->s < c->end && *c->s >= '0' && *c->s <= '9') {
            if (v > (INT64_MAX - 9) / 10) return dl_err(c->e, "%s: npy header: shape entry overflows", c->path);
            v = v * 10 + (*c->s++ - '0');
        }
        if (c->s < c->end && *c->s == 'L') c->s++;
        if (*ndim >= NPY_MAX_DIMS)
            return dl_err(c->e, "%s: npy header: more than %d dimensions", c->path, NPY_MAX_DIMS);
        shape[(*ndim)++] = v;
        skip_ws(c);
        if (c->s < c->end && *c->s == ',') { c->s++; continue; }
        if (c->s < c->end && *c->s == ')') {
            /* Python needs the trailing comma for a 1-tuple: "(5)" is an int, not a shape */
            if (*ndim == 1) return dl_err(c->e, "%s: npy header: 'shape' (N) is not a tuple (expected (N,))", c->path);
            c->s++;
            break;
        }
        return dl_err(c->e, "%s: npy header: expected ',' or ')' in 'shape', found '%.*s'", c->path,
                      SNIP(c));
    }
    return 0;
}

/* parse the whole dict; fills out->descr, fortran_order, ndim, shape */
static int parse_header(const char *h, size_t len, const char *path, NpyArray *out, DlErr *e) {
    Cur c = {h, h + len, path, e};
    int have_descr = 0, have_fo = 0, have_shape = 0;
    if (expect_ch(&c, '{', "at the start of the header dict")) return -1;
    for (;;) {
        skip_ws(&c);
        if (c.s < c.end && *c.s == '}') { c.s++; break; }
        char key[32];
        if (parse_str(&c, key, sizeof key)) return -1;
        if (expect_ch(&c, ':', "after a key")) return -1;
        if (strcmp(key, "descr") == 0) {
            if (have_descr++) return dl_err(e, "%s: npy header: duplicate key 'descr'", path);
            skip_ws(&c);
            if (c.s < c.end && *c.s == '[')
                return dl_err(e, "%s: npy header: structured dtype not supported (float32 '<f4' only)", path);
            if (parse_str(&c, out->descr, sizeof out->descr)) return -1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_fo++) return dl_err(e, "%s: npy header: duplicate key 'fortran_order'", path);
            if (parse_bool(&c, &out->fortran_order)) return -1;
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++) return dl_err(e, "%s: npy header: duplicate key 'shape'", path);
            if (parse_shape(&c, &out->ndim, out->shape)) return -1;
        } else {
            return dl_err(e, "%s: npy header: unexpected key '%s' (only descr, fortran_order, shape)", path, key);
        }
        skip_ws(&c);
        if (c.s < c.end && *c.s == ',') { c.s++; continue; }
        if (c.s < c.end && *c.s == '}') { c.s++; break; }
        return dl_err(e, "%s: npy header: expected ',' or '}' after '%s', found '%.*s'", path, key,
                      SNIP(&c));
    }
    skip_ws(&c);
    if (c.s != c.end) return dl_err(e, "%s: npy header: trailing characters after the dict: '%.*s'", path, SNIP(&c));
    if (!have_descr) return dl_err(e, "%s: npy header: missing key 'descr'", path);
    if (!have_fo) return dl_err(e, "%s: npy header: missing key 'fortran_order'", path);
    if (!have_shape) return dl_err(e, "%s: npy header: missing key 'shape'", path);
    if (strcmp(out->descr, "<f4") != 0)
        return dl_err(e, "%s: dtype '%s' not supported: only little-endian float32 '<f4' is accepted",
                      path, out->descr);
    return 0;
}

/* fortran (column-major) -> C (row-major) order for any rank */
static void fortran_to_c(float *dst, const float *src, int ndim, const int64_t *shape, int64_t numel) {
    int64_t idx[NPY_MAX_DIMS] = {0}, fstride[NPY_MAX_DIMS];
    int64_t st = 1;
    for (int d = 0; d < ndim; d++) { fstride[d] = st; st *= shape[d]; }
    int64_t off = 0; /* fortran offset of the current C-order index */
    for (int64_t i = 0; i < numel; i++) {
        dst[i] = src[off];
        for (int d = ndim - 1; d >= 0; d--) { /* odometer, last index fastest */
            idx[d]++;
            off += fstride[d];
            if (idx[d] < shape[d]) break;
            off -= fstride[d] * shape[d];
            idx[d] = 0;
        }
    }
}

int npy_read_f32(const char *path, NpyArray *out, DlErr *e) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return dl_err(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) { fclose(f); return dl_err(e, "%s: cannot stat: %s", path, strerror(errno)); }
    unsigned char pre[12];
    size_t got = fread(pre, 1, 10, f);
    if (got < 10 || memcmp(pre, NPY_MAGIC, 6) != 0) {
        fclose(f);
        return dl_err(e, "%s: not a .npy file (bad magic or shorter than 10 bytes)", path);
    }
    int major = pre[6], minor = pre[7];
    size_t hlen, pre_len;
    if (major == 1 && minor == 0) {
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
        pre_len = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (fread(pre + 10, 1, 2, f) != 2) { fclose(f); return dl_err(e, "%s: npy v%d.0 preamble truncated", path, major); }
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)pre[10] << 16) | ((size_t)pre[11] << 24);
        pre_len = 12;
    } else {
        fclose(f);
        return dl_err(e, "%s: npy format version %d.%d not supported (1.0, 2.0, 3.0)", path, major, minor);
    }
    if (hlen == 0 || hlen > NPY_MAX_HEADER || (int64_t)(pre_len + hlen) > (int64_t)st.st_size) {
        fclose(f);
        return dl_err(e, "%s: npy header length %zu invalid for a file of %lld bytes", path, hlen,
                      (long long)st.st_size);
    }
    char *h = dl_malloc(hlen + 1);
    if (fread(h, 1, hlen, f) != hlen) {
        free(h); fclose(f);
        return dl_err(e, "%s: npy header truncated", path);
    }
    h[hlen] = 0;
    if (h[hlen - 1] != '\n') {
        free(h); fclose(f);
        return dl_err(e, "%s: npy header does not end with a newline (corrupt header length?)", path);
    }
    if (memchr(h, 0, hlen)) {
        free(h); fclose(f);
        return dl_err(e, "%s: npy header contains a NUL byte", path);
    }
    int rc = parse_header(h, hlen, path, out, e);
    free(h);
    if (rc) { fclose(f); return -1; }

    int64_t numel = 1;
    for (int d = 0; d < out->ndim; d++) {
        if (out->shape[d] != 0 && numel > INT64_MAX / 4 / out->shape[d]) {
            fclose(f);
            return dl_err(e, "%s: npy shape too large", path);
        }
        numel *= out->shape[d];
    }
    out->numel = numel;
    int64_t want = (int64_t)(pre_len + hlen) + numel * 4;
    if ((int64_t)st.st_size != want) {
        fclose(f);
        return dl_err(e, "%s: file has %lld bytes but header %zu + %lld float32 values need %lld (%s)",
                      path, (long long)st.st_size, pre_len + hlen, (long long)numel, (long long)want,
                      (int64_t)st.st_size < want ? "truncated" : "trailing bytes");
    }
    float *raw = dl_malloc((size_t)numel * 4);
    if ((int64_t)fread(raw, 4, (size_t)numel, f) != numel) {
        free(raw); fclose(f);
        return dl_err(e, "%s: read of %lld values failed", path, (long long)numel);
    }
    fclose(f);
    if (out->fortran_order && out->ndim > 1) {
        float *c = dl_malloc((size_t)numel * 4);
        fortran_to_c(c, raw, out->ndim, out->shape, numel);
        free(raw);
        raw = c;
    }
    out->data = raw;
    return 0;
}

int npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, DlErr *e) {
    if (ndim < 0 || ndim > NPY_MAX_DIMS) return dl_err(e, "%s: npy write: ndim %d out of range", path, ndim);
    char sh[NPY_MAX_DIMS * 24 + 8];
    int p = snprintf(sh, sizeof sh, "(");
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return dl_err(e, "%s: npy write: negative dimension", path);
        numel *= shape[d];
        p += snprintf(sh + p, sizeof sh - (size_t)p, d ? ", %lld" : "%lld", (long long)shape[d]);
    }
    snprintf(sh + p, sizeof sh - (size_t)p, ndim == 1 ? ",)" : ")");
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", sh);
    /* pad with spaces so data starts on a 64-byte boundary, header ends with '\n' */
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    memset(hdr + n, ' ', (size_t)pad);
    hdr[n + pad] = '\n';
    int hlen = n + pad + 1;

    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return dl_err(e, "%s: cannot create: %s", tmp, strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)hlen, f) == (size_t)hlen &&
             (numel == 0 || fwrite(data, 4, (size_t)numel, f) == (size_t)numel);
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        unlink(tmp);
        return dl_err(e, "%s: write failed: %s", tmp, strerror(errno));
    }
    if (dl_commit_file(tmp, path, e) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

void npy_free(NpyArray *a) {
    if (!a) return;
    free(a->data);
    a->data = NULL;
}
