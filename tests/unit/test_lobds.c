/* test_lobds: LOB dataset writer/reader round trip, validation errors, symbol names.
 * Every damaged file must give -1 with a message naming the file and the object. */
#define _GNU_SOURCE
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rng.h"
#include "io/lobds.h"

static int g_fail = 0;
#define CHECK(cond, ...) do { if (cond) { printf("ok:   "); } else { printf("FAIL: "); g_fail++; } \
    printf(__VA_ARGS__); printf("\n"); } while (0)

static char g_dir[4096];

/* N rows in two segments (an outage of 100 s after row n1), K = 2 horizons, fixed seed */
static void make_symbol(LobSymbol *s, const char *name, int64_t N, int64_t n1, uint64_t seed) {
    memset(s, 0, sizeof *s);
    snprintf(s->symbol, sizeof s->symbol, "%s", name);
    s->n_rows = N;
    s->n_horizons = 2;
    s->horizons[0] = 10;
    s->horizons[1] = 60;
    s->time = malloc(N * sizeof(int64_t));
    s->features = malloc(N * LOBDS_NFEAT * sizeof(float));
    s->targets = malloc(N * 2 * sizeof(float));
    s->segments = malloc(2 * N * sizeof(int64_t));
    for (int64_t i = 0; i < N; i++) {
        s->time[i] = 1704067200 + i + (i >= n1 ? 100 : 0);
        double mid = 100.0 + 0.01 * (double)(i % 37);
        for (int l = 0; l < 10; l++) {
            float *x = s->features + i * LOBDS_NFEAT;
            x[l] = (float)(mid + 0.005 + 0.01 * l);
            x[10 + l] = (float)(1.0 + 5.0 * dl_rand_uniform_d(seed, (uint64_t)(i * 40 + l)));
            x[20 + l] = (float)(mid - 0.005 - 0.01 * l);
            x[30 + l] = (float)(1.0 + 5.0 * dl_rand_uniform_d(seed, (uint64_t)(i * 40 + 20 + l)));
        }
    }
    s->n_segments = lobds_segments_from_time(s->segments, s->time, N);
    lobds_compute_targets(s);
    s->oracle_corr[0] = 0.321;
    s->oracle_corr[1] = NAN;
}

static int write_file(const char *path, LobSymbol *syms, int n) {
    LobdsWriter w;
    DlErr e;
    if (lobds_create(&w, path, "test", &e)) { printf("  %s\n", e.msg); return -1; }
    for (int i = 0; i < n; i++)
        if (lobds_write_symbol(&w, &syms[i], "unit test", &e)) { printf("  %s\n", e.msg); lobds_abort(&w); return -1; }
    if (lobds_set_attr_double(&w, syms[0].symbol, "extra_double", 2.5, &e) ||
        lobds_set_attr_int64(&w, syms[0].symbol, "rows_dropped_crossed", 7, &e) ||
        lobds_set_attr_string(&w, syms[0].symbol, "note", "hello", &e)) { printf("  %s\n", e.msg); lobds_abort(&w); return -1; }
    if (lobds_finish(&w, &e)) { printf("  %s\n", e.msg); return -1; }
    return 0;
}

static void copy_file(const char *dst, const char *src) {
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
    if (system(cmd) != 0) { printf("FAIL: cp\n"); exit(1); }
}

/* open a copy read-write for damaging */
static hid_t open_rw(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) { printf("FAIL: cannot reopen %s\n", path); exit(1); }
    return f;
}

static void replace_ds(hid_t f, const char *obj, hid_t type, int rank, const hsize_t *dims, const void *buf) {
    H5Ldelete(f, obj, H5P_DEFAULT);
    hid_t s = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, obj, type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(d);
    H5Sclose(s);
}

/* read must fail, message must contain the file path and `obj` */
static void expect_error(const char *what, const char *path, const char *obj) {
    LobSymbol s;
    DlErr e = {{0}};
    int rc = lobds_read_symbol(path, H5P_DEFAULT, "BTCUSDT", &s, &e);
    CHECK(rc == -1, "%s: read fails", what);
    CHECK(strstr(e.msg, path) && strstr(e.msg, obj), "%s: message names file and '%s': %s", what, obj, e.msg);
    LobSymbol m;
    rc = lobds_read_symbol_meta(path, H5P_DEFAULT, "BTCUSDT", &m, &e);
    CHECK(rc == -1 || !strcmp(obj, "features"), "%s: meta read fails too (unless only feature data is bad)", what);
    if (rc == 0) lobds_symbol_free(&m);
}

static int same_symbol(const LobSymbol *a, const LobSymbol *b) {
    int64_t N = a->n_rows;
    return N == b->n_rows && a->n_horizons == b->n_horizons && a->n_segments == b->n_segments &&
           !memcmp(a->horizons, b->horizons, sizeof(int) * a->n_horizons) &&
           !memcmp(a->time, b->time, N * sizeof(int64_t)) &&
           !memcmp(a->features, b->features, N * LOBDS_NFEAT * sizeof(float)) &&
           !memcmp(a->targets, b->targets, N * a->n_horizons * sizeof(float)) &&
           !memcmp(a->segments, b->segments, a->n_segments * 2 * sizeof(int64_t));
}

static void test_names(void) {
    const char *good[] = {"BTCUSDT", "1000PEPEUSDT", "\xe5\xb8\x81\xe5\xae\x89\xe4\xba\xba\xe7\x94\x9fUSDT", "A_B", "SYN000USDT"};
    const char *bad[] = {"", "../x", "a/b", "a\\b", ".hidden", "-x", "a..b", "a\tb", "a b", "\xff" "ABC",
                         "\xc0\xafX", "a\x7f", "a:b", "a*b",
                         "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) CHECK(lobds_symbol_ok(good[i]) == 1, "symbol accepted: %s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK(lobds_symbol_ok(bad[i]) == 0, "symbol rejected: bad[%zu]", i);
    CHECK(lobds_symbol_ok(NULL) == 0, "NULL symbol rejected");
    char s63[64];
    memset(s63, 'A', 63);
    s63[63] = 0;
    CHECK(lobds_symbol_ok(s63) == 1, "63-byte symbol accepted");
}

static void test_helpers(void) {
    int64_t t[7] = {5, 6, 7, 100, 101, 300, 302}, seg[14];
    int64_t S = lobds_segments_from_time(seg, t, 7);
    int64_t want[8] = {0, 3, 3, 5, 5, 6, 6, 7};
    CHECK(S == 4 && !memcmp(seg, want, sizeof want), "segments_from_time splits at every gap (S=%lld)", (long long)S);
    LobSymbol s;
    make_symbol(&s, "BTCUSDT", 300, 200, 1);
    /* targets NaN exactly where t+h leaves the segment */
    int nan_ok = 1;
    for (int64_t i = 0; i < 300; i++)
        for (int k = 0; k < 2; k++) {
            int64_t end = i < 200 ? 200 : 300;
            int want_nan = i + s.horizons[k] >= end;
            if (want_nan != isnan(s.targets[i * 2 + k])) nan_ok = 0;
        }
    CHECK(nan_ok, "compute_targets: NaN exactly where t+h leaves the segment");
    double m0 = 0.5 * ((double)s.features[0] + s.features[20]), m1 = 0.5 * ((double)s.features[400] + s.features[420]);
    CHECK(fabs(s.targets[0] - (float)(1e4 * log(m1 / m0))) < 1e-4, "compute_targets: 1e4*ln(mid[t+10]/mid[t])");
    DlErr e;
    CHECK(lobds_check_symbol(&s, "memory", &e) == 0, "check_symbol accepts a valid symbol");
    s.time[50] = s.time[49];
    CHECK(lobds_check_symbol(&s, "memory", &e) == -1 && strstr(e.msg, "/symbols/BTCUSDT/time"), "check_symbol: repeated time: %s", e.msg);
    s.time[50] = s.time[49] + 1;
    s.time[199] = s.time[198] + 2; /* still below time[200]: only the grid is broken */
    CHECK(lobds_check_symbol(&s, "memory", &e) == -1 && strstr(e.msg, "1 s grid"), "check_symbol: off-grid time in a segment: %s", e.msg);
    s.time[199] = s.time[198] + 1;
    s.horizons[1] = 0;
    CHECK(lobds_check_symbol(&s, "memory", &e) == -1 && strstr(e.msg, "horizons"), "check_symbol: zero horizon: %s", e.msg);
    s.horizons[1] = 60;
    lobds_symbol_free(&s);
}

static void test_roundtrip_and_errors(void) {
    char path[4300], p2[4400];
    snprintf(path, sizeof path, "%s/ds.h5", g_dir);
    LobSymbol syms[3];
    make_symbol(&syms[0], "BTCUSDT", 1000, 600, 11);
    make_symbol(&syms[1], "\xe5\xb8\x81\xe5\xae\x89\xe4\xba\xba\xe7\x94\x9fUSDT", 400, 100, 12);
    make_symbol(&syms[2], "ETHUSDT", 300, 299, 13);
    CHECK(write_file(path, syms, 3) == 0, "writer: 3 symbols written to %s", path);
    snprintf(p2, sizeof p2, "%s.tmp", path);
    CHECK(access(path, F_OK) == 0 && access(p2, F_OK) != 0, "writer: final file present, .tmp gone");

    LobdsWriter w;
    DlErr e = {{0}};
    CHECK(lobds_create(&w, path, "test", &e) == -1 && strstr(e.msg, path) && strstr(e.msg, "overwrite"),
          "writer refuses to overwrite: %s", e.msg);
    /* writer rejects an invalid symbol before touching the file */
    snprintf(p2, sizeof p2, "%s/bad.h5", g_dir);
    if (lobds_create(&w, p2, "test", &e) == 0) {
        LobSymbol bad = syms[2];
        snprintf(bad.symbol, sizeof bad.symbol, "../evil");
        CHECK(lobds_write_symbol(&w, &bad, "", &e) == -1, "writer rejects unsafe symbol: %s", e.msg);
        lobds_abort(&w);
        CHECK(access(p2, F_OK) != 0, "abort leaves no file behind");
    }

    char **names;
    int n;
    CHECK(lobds_list(path, &names, &n, &e) == 0 && n == 3, "list: 3 symbols");
    if (n == 3) {
        CHECK(!strcmp(names[0], "BTCUSDT") && !strcmp(names[1], "ETHUSDT") && !strcmp(names[2], syms[1].symbol),
              "list: sorted by name (%s, %s, ...)", names[0], names[1]);
        lobds_free_names(names, n);
    }
    for (int i = 0; i < 3; i++) {
        LobSymbol r;
        int rc = lobds_read_symbol(path, H5P_DEFAULT, syms[i].symbol, &r, &e);
        CHECK(rc == 0, "read %s: %s", syms[i].symbol, rc ? e.msg : "ok");
        if (rc) continue;
        CHECK(same_symbol(&syms[i], &r), "round trip bit-exact: %s (N=%lld, S=%lld)", syms[i].symbol,
              (long long)r.n_rows, (long long)r.n_segments);
        CHECK(r.oracle_corr[0] == 0.321 && isnan(r.oracle_corr[1]), "oracle_corr attributes round trip");
        lobds_symbol_free(&r);
        rc = lobds_read_symbol_meta(path, H5P_DEFAULT, syms[i].symbol, &r, &e);
        CHECK(rc == 0 && r.n_rows == syms[i].n_rows && r.features == NULL && r.n_segments == syms[i].n_segments,
              "meta read: sizes only");
        if (!rc) lobds_symbol_free(&r);
    }
    /* parallel-capable read: MPI-IO driver (singleton communicator here) */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
    LobSymbol r;
    int rc = lobds_read_symbol(path, fapl, "BTCUSDT", &r, &e);
    CHECK(rc == 0 && same_symbol(&syms[0], &r), "read through an MPI-IO fapl: bit-exact");
    if (!rc) lobds_symbol_free(&r);
    H5Pclose(fapl);
    rc = lobds_read_symbol(path, H5P_DEFAULT, "NOPE", &r, &e);
    CHECK(rc == -1 && strstr(e.msg, "/symbols/NOPE"), "missing symbol: %s", e.msg);
    rc = lobds_read_symbol(path, H5P_DEFAULT, "../x", &r, &e);
    CHECK(rc == -1 && strstr(e.msg, "invalid symbol"), "unsafe symbol name refused by reader: %s", e.msg);

    /* ---- damaged copies ---- */
    char bad[4400];
    int64_t N = syms[0].n_rows;
    hid_t f;

    snprintf(bad, sizeof bad, "%s/missing_features.h5", g_dir);
    copy_file(bad, path);
    f = open_rw(bad); H5Ldelete(f, "/symbols/BTCUSDT/features", H5P_DEFAULT); H5Fclose(f);
    expect_error("missing dataset", bad, "/symbols/BTCUSDT/features");

    snprintf(bad, sizeof bad, "%s/wrong_shape.h5", g_dir);
    copy_file(bad, path);
    { hsize_t d[2] = {(hsize_t)N, 39}; f = open_rw(bad);
      replace_ds(f, "/symbols/BTCUSDT/features", H5T_NATIVE_FLOAT, 2, d, syms[0].features); H5Fclose(f); }
    expect_error("wrong features shape", bad, "/symbols/BTCUSDT/features");

    snprintf(bad, sizeof bad, "%s/wrong_targets.h5", g_dir);
    copy_file(bad, path);
    { hsize_t d[2] = {(hsize_t)N, 1}; f = open_rw(bad);
      replace_ds(f, "/symbols/BTCUSDT/targets", H5T_NATIVE_FLOAT, 2, d, syms[0].targets); H5Fclose(f); }
    expect_error("targets K != len(horizons)", bad, "/symbols/BTCUSDT/targets");

    snprintf(bad, sizeof bad, "%s/float_time.h5", g_dir);
    copy_file(bad, path);
    { hsize_t d[1] = {(hsize_t)N}; f = open_rw(bad);
      replace_ds(f, "/symbols/BTCUSDT/time", H5T_NATIVE_FLOAT, 1, d, syms[0].features); H5Fclose(f); }
    expect_error("float time axis", bad, "/symbols/BTCUSDT/time");

    snprintf(bad, sizeof bad, "%s/time_order.h5", g_dir);
    copy_file(bad, path);
    { int64_t *t = malloc(N * sizeof *t); memcpy(t, syms[0].time, N * sizeof *t); t[500] = t[499];
      hsize_t d[1] = {(hsize_t)N}; f = open_rw(bad);
      replace_ds(f, "/symbols/BTCUSDT/time", H5T_NATIVE_INT64, 1, d, t); H5Fclose(f); free(t); }
    expect_error("non-increasing time", bad, "/symbols/BTCUSDT/time");

    snprintf(bad, sizeof bad, "%s/segment_range.h5", g_dir);
    copy_file(bad, path);
    { int64_t sg[4] = {0, 600, 600, N + 5}; hsize_t d[2] = {2, 2}; f = open_rw(bad);
      replace_ds(f, "/symbols/BTCUSDT/segments", H5T_NATIVE_INT64, 2, d, sg); H5Fclose(f); }
    expect_error("segment outside [0,N)", bad, "/symbols/BTCUSDT/segments");

    snprintf(bad, sizeof bad, "%s/segment_overlap.h5", g_dir);
    copy_file(bad, path);
    { int64_t sg[4] = {0, 600, 590, N}; hsize_t d[2] = {2, 2}; f = open_rw(bad);
      replace_ds(f, "/symbols/BTCUSDT/segments", H5T_NATIVE_INT64, 2, d, sg); H5Fclose(f); }
    expect_error("overlapping segments", bad, "/symbols/BTCUSDT/segments");

    snprintf(bad, sizeof bad, "%s/segment_gap.h5", g_dir);
    copy_file(bad, path);
    { int64_t sg[2] = {0, N}; hsize_t d[2] = {1, 2}; f = open_rw(bad);
      replace_ds(f, "/symbols/BTCUSDT/segments", H5T_NATIVE_INT64, 2, d, sg); H5Fclose(f); }
    expect_error("segment spans an outage", bad, "/symbols/BTCUSDT/segments");

    snprintf(bad, sizeof bad, "%s/version.h5", g_dir);
    copy_file(bad, path);
    { f = open_rw(bad); H5Adelete(f, "format_version");
      hid_t s = H5Screate(H5S_SCALAR); int64_t v = 2;
      hid_t a = H5Acreate2(f, "format_version", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, H5T_NATIVE_INT64, &v); H5Aclose(a); H5Sclose(s); H5Fclose(f); }
    expect_error("format_version 2", bad, "format_version");

    snprintf(bad, sizeof bad, "%s/horizon.h5", g_dir);
    copy_file(bad, path);
    { f = open_rw(bad); int hz[2] = {10, -60}; hsize_t two = 2;
      H5Adelete_by_name(f, "/symbols/BTCUSDT", "horizons", H5P_DEFAULT); /* rewrite in place fails in 1.10 */
      hid_t s = H5Screate_simple(1, &two, NULL);
      hid_t a = H5Acreate_by_name(f, "/symbols/BTCUSDT", "horizons", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      H5Awrite(a, H5T_NATIVE_INT, hz); H5Aclose(a); H5Sclose(s); H5Fclose(f); }
    expect_error("negative horizon", bad, "/symbols/BTCUSDT");

    snprintf(bad, sizeof bad, "%s/truncated.h5", g_dir);
    copy_file(bad, path);
    { FILE *fp = fopen(bad, "rb"); fseek(fp, 0, SEEK_END); long sz = ftell(fp); fclose(fp);
      CHECK(truncate(bad, sz / 2) == 0, "truncate copy to %ld bytes", sz / 2); }
    expect_error("truncated file", bad, "/");

    snprintf(bad, sizeof bad, "%s/not_hdf5.h5", g_dir);
    { FILE *fp = fopen(bad, "w"); fputs("hello, not HDF5\n", fp); fclose(fp); }
    expect_error("not an HDF5 file", bad, "/");

    snprintf(bad, sizeof bad, "%s/absent.h5", g_dir);
    expect_error("missing file", bad, "cannot read");

    for (int i = 0; i < 3; i++) lobds_symbol_free(&syms[i]);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    const char *b = getenv("DEEPLOB_BUILD");
    snprintf(g_dir, sizeof g_dir, "%s/test_tmp_lobds_XXXXXX", b && *b ? b : "/tmp");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    printf("test_lobds: files in %s\n", g_dir);
    test_names();
    test_helpers();
    test_roundtrip_and_errors();
    if (!g_fail && !getenv("KEEP_TMP")) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd) != 0) printf("note: could not remove %s\n", g_dir);
    }
    printf("test_lobds: %s (%d failures)\n", g_fail ? "FAILED" : "passed", g_fail);
    MPI_Finalize();
    return g_fail ? 1 : 0;
}
