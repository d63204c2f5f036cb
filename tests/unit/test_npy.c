/* test_npy.c: npy_read_f32 / npy_write_f32 against files written by NumPy
 * (/usr/bin/python3, created here via system()) and every malformed case. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/npy.h"

static int g_fail = 0;
static char g_dir[256];

#define CHECK(cond, ...) do { if (!(cond)) { g_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } } while (0)

static void path_of(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", g_dir, name); }

/* write a v1.0 (or other version) file with a given header text and payload size */
static void write_raw(const char *name, int major, const char *header, int nbytes_data, int fix_newline) {
    char p[512];
    path_of(p, sizeof p, name);
    FILE *f = fopen(p, "wb");
    if (!f) { perror(p); exit(2); }
    size_t hl = strlen(header);
    unsigned char pre[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
    char *h = malloc(hl + 2);
    memcpy(h, header, hl);
    if (fix_newline) h[hl++] = '\n';
    if (major == 1) {
        pre[8] = (unsigned char)(hl & 0xff); pre[9] = (unsigned char)(hl >> 8);
        fwrite(pre, 1, 10, f);
    } else {
        pre[8] = (unsigned char)(hl & 0xff); pre[9] = (unsigned char)(hl >> 8); pre[10] = 0; pre[11] = 0;
        fwrite(pre, 1, 12, f);
    }
    fwrite(h, 1, hl, f);
    for (int i = 0; i < nbytes_data; i++) fputc(0, f);
    fclose(f);
    free(h);
}

/* expect failure with a message containing `needle` */
static void expect_err(const char *name, const char *needle) {
    char p[512];
    path_of(p, sizeof p, name);
    NpyArray a;
    DlErr e = {{0}};
    int rc = npy_read_f32(p, &a, &e);
    CHECK(rc == -1, "%s: expected an error, got success", name);
    CHECK(strstr(e.msg, needle) != NULL, "%s: message '%s' lacks '%s'", name, e.msg, needle);
    CHECK(strstr(e.msg, name) != NULL, "%s: message '%s' does not name the file", name, e.msg);
    if (rc == 0) npy_free(&a);
    else printf("ok   %-22s -> %s\n", name, e.msg);
}

/* read a numpy-written file whose values are v[i] = i * 0.5 - 3 in C order */
static void expect_ramp(const char *name, int ndim, const int64_t *shape, int fortran) {
    char p[512];
    path_of(p, sizeof p, name);
    NpyArray a;
    DlErr e = {{0}};
    if (npy_read_f32(p, &a, &e) != 0) { CHECK(0, "%s: %s", name, e.msg); return; }
    int64_t n = 1;
    CHECK(a.ndim == ndim, "%s: ndim %d != %d", name, a.ndim, ndim);
    for (int d = 0; d < ndim && d < a.ndim; d++) {
        CHECK(a.shape[d] == shape[d], "%s: shape[%d] %lld != %lld", name, d, (long long)a.shape[d], (long long)shape[d]);
        n *= shape[d];
    }
    CHECK(a.numel == n, "%s: numel %lld != %lld", name, (long long)a.numel, (long long)n);
    CHECK(a.fortran_order == fortran, "%s: fortran_order %d", name, a.fortran_order);
    int bad = 0;
    for (int64_t i = 0; i < n && i < a.numel; i++)
        if (a.data[i] != (float)i * 0.5f - 3.0f) bad++;
    CHECK(bad == 0, "%s: %d values differ from the C-order ramp", name, bad);
    if (!bad) printf("ok   %-22s ndim=%d numel=%lld fortran=%d\n", name, ndim, (long long)n, fortran);
    npy_free(&a);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/test_npy.%d", (int)getpid());
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", g_dir);
    if (system(cmd) != 0) return 2;

    /* ---- valid files written by NumPy ---- */
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 - <<'EOF'\n"
             "import numpy as np\n"
             "from numpy.lib import format as F\n"
             "d='%s'\n"
             "def ramp(*s):\n"
             "    n=int(np.prod(s)) if s else 1\n"
             "    return (np.arange(n,dtype=np.float64)*0.5-3).astype('<f4').reshape(s)\n"
             "np.save(d+'/c2.npy', ramp(3,4))\n"
             "np.save(d+'/f2.npy', np.asfortranarray(ramp(3,4)))\n"
             "np.save(d+'/f3.npy', np.asfortranarray(ramp(2,3,5)))\n"
             "np.save(d+'/one.npy', ramp(7))\n"
             "np.save(d+'/scalar.npy', np.array(-3.0, dtype='<f4'))\n"
             "np.save(d+'/empty.npy', ramp(0,43))\n"
             "for v in (1,2,3):\n"
             "    with open(d+'/v%%d.npy'%%v,'wb') as f: F.write_array(f, ramp(5,43), version=(v,0))\n"
             "np.save(d+'/f8.npy', np.zeros((2,2)))\n"
             "np.save(d+'/i4.npy', np.zeros((2,2),dtype='<i4'))\n"
             "np.save(d+'/be.npy', np.zeros((2,2),dtype='>f4'))\n"
             "np.save(d+'/rec.npy', np.zeros(2,dtype=[('a','<f4'),('b','<f4')]))\n"
             "b=open(d+'/c2.npy','rb').read()\n"
             "open(d+'/trunc.npy','wb').write(b[:-3])\n"
             "open(d+'/trail.npy','wb').write(b+b'\\0\\0\\0\\0')\n"
             "open(d+'/hdrlen.npy','wb').write(b[:8]+bytes([0xff,0x7f])+b[10:])\n"
             "open(d+'/magic.npy','wb').write(b'\\x93NUMPX'+b[6:])\n"
             "open(d+'/ver4.npy','wb').write(b[:6]+bytes([4,0])+b[8:])\n"
             "open(d+'/short.npy','wb').write(b[:7])\n"
             "EOF", g_dir);
    if (system(cmd) != 0) { printf("FAIL: /usr/bin/python3 with numpy could not write the fixtures\n"); return 1; }

    int64_t s34[] = {3, 4}, s235[] = {2, 3, 5}, s7[] = {7}, s043[] = {0, 43}, s543[] = {5, 43};
    expect_ramp("c2.npy", 2, s34, 0);
    expect_ramp("f2.npy", 2, s34, 1);
    expect_ramp("f3.npy", 3, s235, 1);
    expect_ramp("one.npy", 1, s7, 0);
    expect_ramp("scalar.npy", 0, NULL, 0);
    expect_ramp("empty.npy", 2, s043, 0);
    expect_ramp("v1.npy", 2, s543, 0);
    expect_ramp("v2.npy", 2, s543, 0);
    expect_ramp("v3.npy", 2, s543, 0);

    /* ---- wrong dtypes: each named in the message ---- */
    expect_err("f8.npy", "'<f8'");
    expect_err("i4.npy", "'<i4'");
    expect_err("be.npy", "'>f4'");
    expect_err("rec.npy", "structured dtype");
    write_raw("pipe.npy", 1, "{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }", 8, 1);
    expect_err("pipe.npy", "'|f4'");

    /* ---- size / preamble errors ---- */
    expect_err("trunc.npy", "truncated");
    expect_err("trail.npy", "trailing bytes");
    expect_err("hdrlen.npy", "header");
    expect_err("magic.npy", "bad magic");
    expect_err("ver4.npy", "version 4.0");
    expect_err("short.npy", "bad magic");

    /* ---- header dict errors (hand-made) ---- */
    write_raw("nonl.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8, 0);
    expect_err("nonl.npy", "newline");
    write_raw("nodescr.npy", 1, "{'fortran_order': False, 'shape': (2,), }", 8, 1);
    expect_err("nodescr.npy", "missing key 'descr'");
    write_raw("noshape.npy", 1, "{'descr': '<f4', 'fortran_order': False}", 8, 1);
    expect_err("noshape.npy", "missing key 'shape'");
    write_raw("nofo.npy", 1, "{'descr': '<f4', 'shape': (2,)}", 8, 1);
    expect_err("nofo.npy", "missing key 'fortran_order'");
    write_raw("extra.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8, 1);
    expect_err("extra.npy", "unexpected key 'x'");
    write_raw("dup.npy", 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8, 1);
    expect_err("dup.npy", "duplicate key");
    write_raw("neg.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", 8, 1);
    expect_err("neg.npy", "bad 'shape' entry");
    write_raw("notuple.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", 8, 1);
    expect_err("notuple.npy", "not a tuple");
    write_raw("fobad.npy", 1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", 8, 1);
    expect_err("fobad.npy", "True or False");
    write_raw("nobrace.npy", 1, "'descr': '<f4', 'fortran_order': False, 'shape': (2,)", 8, 1);
    expect_err("nobrace.npy", "expected '{'");
    write_raw("tail.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", 8, 1);
    expect_err("tail.npy", "trailing characters");
    write_raw("unterm.npy", 1, "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", 8, 1);
    expect_err("unterm.npy", "npy header");
    write_raw("ninedim.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", 4, 1);
    expect_err("ninedim.npy", "more than 8 dimensions");
    write_raw("bigshape.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999)}", 4, 1);
    expect_err("bigshape.npy", "too large");
    /* a valid hand-made v2.0 header with double quotes, as Python's repr may differ */
    write_raw("dq.npy", 2, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 1)}", 8, 1);
    {
        char p[512]; NpyArray a; DlErr e = {{0}};
        path_of(p, sizeof p, "dq.npy");
        int rc = npy_read_f32(p, &a, &e);
        CHECK(rc == 0 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 1, "dq.npy: %s", e.msg);
        if (rc == 0) { printf("ok   dq.npy (v2.0, double quotes)\n"); npy_free(&a); }
    }
    expect_err("missing.npy", "cannot open");

    /* ---- writer: C writes, NumPy and our reader read back ---- */
    {
        float v[2 * 3 * 4];
        for (int i = 0; i < 24; i++) v[i] = (float)i * 0.5f - 3.0f;
        int64_t s[] = {2, 3, 4}, s1[] = {24};
        char p[512]; DlErr e = {{0}};
        path_of(p, sizeof p, "w3.npy");
        CHECK(npy_write_f32(p, v, 3, s, &e) == 0, "write w3: %s", e.msg);
        path_of(p, sizeof p, "w1.npy");
        CHECK(npy_write_f32(p, v, 1, s1, &e) == 0, "write w1: %s", e.msg);
        path_of(p, sizeof p, "w0.npy");
        CHECK(npy_write_f32(p, v, 0, NULL, &e) == 0, "write w0: %s", e.msg);
        int64_t s234[] = {2, 3, 4};
        expect_ramp("w3.npy", 3, s234, 0);
        expect_ramp("w1.npy", 1, s1, 0);
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"import numpy as np; d='%s'; r=(np.arange(24)*0.5-3).astype('<f4');"
                 "a=np.load(d+'/w3.npy'); assert a.dtype==np.dtype('<f4') and a.shape==(2,3,4) and (a.ravel()==r).all();"
                 "b=np.load(d+'/w1.npy'); assert b.shape==(24,) and (b==r).all();"
                 "c=np.load(d+'/w0.npy'); assert c.shape==() and c==-3\"", g_dir);
        CHECK(system(cmd) == 0, "numpy could not read back the files npy_write_f32 wrote");
        /* no temp file left behind */
        snprintf(cmd, sizeof cmd, "ls %s | grep -q '\\.tmp\\.'", g_dir);
        CHECK(system(cmd) != 0, "a temp file was left in %s", g_dir);
        /* data offset aligned to 64 bytes, as NumPy does */
        path_of(p, sizeof p, "w3.npy");
        FILE *f = fopen(p, "rb");
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fclose(f);
        CHECK((sz - 24 * 4) % 64 == 0, "w3.npy data offset %ld not 64-aligned", sz - 96);
        printf("ok   writer round trip through NumPy\n");
    }

    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) printf("warning: could not remove %s\n", g_dir);
    if (g_fail) { printf("test_npy: %d FAILURES\n", g_fail); return 1; }
    printf("test_npy: all passed\n");
    return 0;
}
