/* test_convert.c: the 1-second conversion rules on the real Tardis rows (hand-checked
 * values) and on generated day files: last snapshot per second, carry-forward, segment
 * split, continuity across days, targets in bps, each bad-row kind, the rejection limit,
 * truncated gzip, bad header, empty day. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/convert.h"

static int g_fail = 0;
#define CHECK(cond, ...) do { if (!(cond)) { g_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } } while (0)

static const char *HDR_PREFIX = "exchange,symbol,timestamp,local_timestamp";

static void header(gzFile f) {
    gzprintf(f, "%s", HDR_PREFIX);
    for (int i = 0; i < 25; i++) gzprintf(f, ",asks[%d].price,asks[%d].amount,bids[%d].price,bids[%d].amount", i, i, i, i);
    gzprintf(f, "\n");
}

/* one 104-column row; cell `bad_col` (0-based CSV column, -1 none) replaced by bad_val;
 * drop_last removes the last column */
static void row(gzFile f, int64_t local_us, double ask, double bid, int bad_col, const char *bad_val, int drop_last) {
    char b[4096];
    int p = snprintf(b, sizeof b, "binance-futures,TEST,%lld,%lld", (long long)local_us - 5000, (long long)local_us);
    for (int i = 0; i < 25; i++) {
        char cell[4][32];
        snprintf(cell[0], 32, "%.2f", ask + 0.5 * i);
        snprintf(cell[1], 32, "%.3f", 1.0 + i);
        snprintf(cell[2], 32, "%.2f", bid - 0.5 * i);
        snprintf(cell[3], 32, "%.3f", 2.0 + i);
        for (int k = 0; k < 4; k++) {
            int col = 4 + 4 * i + k;
            if (drop_last && col == 103) continue;
            p += snprintf(b + p, sizeof b - (size_t)p, ",%s", col == bad_col ? bad_val : cell[k]);
        }
    }
    gzprintf(f, "%s\n", b);
}

static double bps(double m1, double m0) { return 1e4 * log(m1 / m0); }

static int close_to(float got, double want) {
    if (isnan(want)) return isnan(got);
    return fabs((double)got - want) <= 1e-3 + 1e-5 * fabs(want);
}

static void test_real_rows(const char *src) {
    char path[1024], gzpath[1024], cmd[3000];
    snprintf(path, sizeof path, "%s/tests/fixtures/tardis/binance-futures_book_snapshot_25_BTCUSDT.csv", src);
    snprintf(gzpath, sizeof gzpath, "/tmp/test_convert.%d.real.csv.gz", (int)getpid());
    snprintf(cmd, sizeof cmd, "gzip -c '%s' > '%s'", path, gzpath);
    CHECK(system(cmd) == 0, "gzip of the real rows failed");
    for (int pass = 0; pass < 2; pass++) { /* plain CSV, then the same rows gzipped */
        const char *p = pass ? gzpath : path;
        ConvOpts o;
        conv_opts_default(&o);
        o.n_horizons = 2;
        o.horizons[0] = 1;
        o.horizons[1] = 10;
        ConvSeries c;
        conv_series_init(&c, &o);
        DlErr e = {{0}};
        CHECK(conv_add_file(&c, p, &e) == 0, "real rows: %s", e.msg);
        LobSymbol s;
        CHECK(conv_finish(&s, &c, "BTCUSDT", &e) == 0, "finish: %s", e.msg);
        CHECK(c.st.raw_rows == 10, "raw rows %lld != 10", (long long)c.st.raw_rows);
        CHECK(s.n_rows == 2 && s.n_segments == 1, "rows %lld segments %lld (want 2, 1)", (long long)s.n_rows, (long long)s.n_segments);
        if (s.n_rows == 2) {
            /* hand-checked: line 9 is the last row of second 1598918403 (local 1598918403982129),
             * line 11 the last of 1598918404; their levels 0..9 are identical */
            CHECK(s.time[0] == 1598918403 && s.time[1] == 1598918404, "times %lld %lld", (long long)s.time[0], (long long)s.time[1]);
            struct { int idx; double v; } want[] = {
                {0, 11657.08}, {10, 1.475}, {20, 11657.07}, {30, 10.881},   /* level 0 (line 2 had 1.714) */
                {4, 11657.92}, {14, 0.918}, {24, 11655.68}, {34, 0.111},    /* level 4 */
                {9, 11658.29}, {19, 0.656}, {29, 11654.86}, {39, 0.195}};   /* level 9 */
            for (int r = 0; r < 2; r++)
                for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
                    CHECK(s.features[r * 40 + want[i].idx] == (float)want[i].v, "row %d feature %d: %.6f != %.6f", r,
                          want[i].idx, s.features[r * 40 + want[i].idx], want[i].v);
            CHECK(s.targets[0] == 0.0f && isnan(s.targets[1]) && isnan(s.targets[2]) && isnan(s.targets[3]),
                  "targets %g %g %g %g (want 0 NaN NaN NaN)", s.targets[0], s.targets[1], s.targets[2], s.targets[3]);
        }
        printf("ok   real Tardis rows (%s): 10 rows -> 2 seconds, hand-checked levels 0/4/9\n", pass ? "gzip" : "plain");
        lobds_symbol_free(&s);
        conv_series_free(&c);
    }
    unlink(gzpath);
}

int main(void) {
    const char *src = getenv("DEEPLOB_SRC");
    if (!src) src = ".";
    test_real_rows(src);

    char d1[256], d2[256], d3[256];
    snprintf(d1, sizeof d1, "/tmp/test_convert.%d.d1.csv.gz", (int)getpid());
    snprintf(d2, sizeof d2, "/tmp/test_convert.%d.d2.csv.gz", (int)getpid());
    snprintf(d3, sizeof d3, "/tmp/test_convert.%d.d3.csv.gz", (int)getpid());
    const int64_t U = 1000000;

    /* ---- day 1: seconds 1000,1001,(1002 carried),1003, bad rows, gap -> 1010 ---- */
    gzFile f = gzopen(d1, "wb");
    header(f);                                              /* line 1 */
    row(f, 1000 * U + 100000, 100.0, 99.0, -1, NULL, 0);    /* 2: overwritten within the second */
    row(f, 1000 * U + 900000, 101.0, 99.0, -1, NULL, 0);    /* 3: last of 1000: mid 100 */
    row(f, 1001 * U + 500000, 102.0, 100.0, -1, NULL, 0);   /* 4: mid 101 */
    row(f, 1003 * U + 200000, 104.0, 102.0, -1, NULL, 0);   /* 5: mid 103 */
    row(f, 1003 * U + 500000, 104.0, 105.0, -1, NULL, 0);   /* 6: crossed */
    row(f, 1003 * U + 600000, 104.0, 102.0, 4, "", 0);     /* 7: missing level-0 ask price */
    row(f, 1003 * U + 700000, 104.0, 102.0, 6, "0", 0);    /* 8: bid price 0 */
    row(f, 1003 * U + 800000, 104.0, 102.0, -1, NULL, 1);   /* 9: 103 columns */
    row(f, 1003 * U + 900000, 104.0, 102.0, 9, "1.2x", 0); /* 10: unparsable (level 1 amount) */
    row(f, 999 * U, 104.0, 102.0, -1, NULL, 0);             /* 11: time backwards */
    row(f, 1010 * U, 110.0, 108.0, 40, "", 0);              /* 12: gap 7 > max_gap 5: new segment; level 9 ask empty */
    gzclose(f);
    /* ---- day 2 continues the same series ---- */
    f = gzopen(d2, "wb");
    header(f);
    row(f, 1011 * U + 1, 111.0, 109.0, -1, NULL, 0);
    row(f, 1012 * U + 999999, 112.0, 110.0, -1, NULL, 0);
    gzclose(f);
    /* ---- an empty day (empty gzip) ---- */
    f = gzopen(d3, "wb");
    gzclose(f);

    ConvOpts o;
    conv_opts_default(&o);
    o.max_gap_s = 5;
    o.n_horizons = 2;
    o.horizons[0] = 1;
    o.horizons[1] = 2;
    ConvSeries c;
    conv_series_init(&c, &o);
    DlErr e = {{0}};
    CHECK(conv_add_file(&c, d1, &e) == 0, "day 1: %s", e.msg);
    CHECK(conv_add_file(&c, d3, &e) == 0, "empty day: %s", e.msg);
    CHECK(conv_add_file(&c, d2, &e) == 0, "day 2: %s", e.msg);
    LobSymbol s;
    CHECK(conv_finish(&s, &c, "TEST", &e) == 0, "finish: %s", e.msg);
    int64_t want_t[] = {1000, 1001, 1002, 1003, 1010, 1011, 1012};
    double mid[] = {100, 101, 101, 103, 109, 110, 111};
    CHECK(s.n_rows == 7, "rows %lld != 7", (long long)s.n_rows);
    CHECK(s.n_segments == 2 && s.segments[0] == 0 && s.segments[1] == 4 && s.segments[2] == 4 && s.segments[3] == 7,
          "segments wrong (n=%lld)", (long long)s.n_segments);
    if (s.n_rows == 7) {
        for (int i = 0; i < 7; i++) {
            CHECK(s.time[i] == want_t[i], "time[%d] %lld != %lld", i, (long long)s.time[i], (long long)want_t[i]);
            double m = 0.5 * (s.features[i * 40] + s.features[i * 40 + 20]);
            CHECK(fabs(m - mid[i]) < 1e-9, "mid[%d] %.4f != %.4f", i, m, mid[i]);
        }
        CHECK(memcmp(s.features + 2 * 40, s.features + 1 * 40, 40 * sizeof(float)) == 0, "1002 is not 1001 carried forward");
        CHECK(isnan(s.features[4 * 40 + 9]) && !isnan(s.features[4 * 40 + 8]), "empty level-9 cell should be NaN");
        CHECK(s.features[0 + 10] == 1.0f && s.features[0 + 39] == 11.0f, "amounts: ask_amount[0] %g bid_amount[9] %g",
              s.features[10], s.features[39]);
        double w1[] = {bps(101, 100), 0, bps(103, 101), NAN, bps(110, 109), bps(111, 110), NAN};
        double w2[] = {bps(101, 100), bps(103, 101), NAN, NAN, bps(111, 109), NAN, NAN};
        for (int i = 0; i < 7; i++) {
            CHECK(close_to(s.targets[i * 2], w1[i]), "target h=1 row %d: %g != %g", i, s.targets[i * 2], w1[i]);
            CHECK(close_to(s.targets[i * 2 + 1], w2[i]), "target h=2 row %d: %g != %g", i, s.targets[i * 2 + 1], w2[i]);
        }
    }
    CHECK(c.st.seconds_observed == 6 && c.st.seconds_filled == 1, "observed %lld filled %lld",
          (long long)c.st.seconds_observed, (long long)c.st.seconds_filled);
    CHECK(c.st.raw_rows == 13 && c.st.files == 3, "raw rows %lld files %lld", (long long)c.st.raw_rows, (long long)c.st.files);
    CHECK(c.st.missing_deep == 1, "missing_deep %lld", (long long)c.st.missing_deep);
    int want_line[CONV_BAD_NKINDS];
    want_line[CONV_BAD_CROSSED] = 6;
    want_line[CONV_BAD_MISSING_L0] = 7;
    want_line[CONV_BAD_NONPOS] = 8;
    want_line[CONV_BAD_COLUMNS] = 9;
    want_line[CONV_BAD_NUMBER] = 10;
    want_line[CONV_BAD_TIME_BACK] = 11;
    for (int k = 0; k < CONV_BAD_NKINDS; k++) {
        char where[400];
        snprintf(where, sizeof where, "%s:%d", d1, want_line[k]);
        CHECK(c.st.bad[k] == 1, "bad %s count %lld != 1", conv_bad_name(k), (long long)c.st.bad[k]);
        CHECK(strcmp(c.st.first_bad[k], where) == 0, "bad %s first at '%s', want '%s'", conv_bad_name(k), c.st.first_bad[k], where);
    }
    char rep[2048];
    conv_bad_report(rep, sizeof rep, &c.st);
    printf("ok   generated days: carry-forward, split, continuity, targets; bad rows:\n%s", rep);
    lobds_symbol_free(&s);
    conv_series_free(&c);

    /* ---- the limit: 6 bad rows > 5 -> day 1 rejected ---- */
    o.max_bad_rows = 5;
    conv_series_init(&c, &o);
    int rc = conv_add_file(&c, d1, &e);
    CHECK(rc == -1 && strstr(e.msg, "rejected") && strstr(e.msg, "crossed_book") && strstr(e.msg, d1),
          "limit: rc %d msg '%s'", rc, e.msg);
    if (rc) printf("ok   limit -> %.120s...\n", e.msg);
    conv_series_free(&c);

    /* ---- truncated gzip ---- */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "head -c 300 %s > %s.trunc", d1, d1);
    CHECK(system(cmd) == 0, "truncate failed");
    char tp[300];
    snprintf(tp, sizeof tp, "%s.trunc", d1);
    o.max_bad_rows = 1000;
    conv_series_init(&c, &o);
    rc = conv_add_file(&c, tp, &e);
    CHECK(rc == -1 && strstr(e.msg, "gzip") && strstr(e.msg, tp), "truncated: rc %d msg '%s'", rc, e.msg);
    if (rc) printf("ok   truncated gzip -> %s\n", e.msg);
    conv_series_free(&c);
    unlink(tp);

    /* ---- bad header; and no rows at all ---- */
    f = gzopen(d3, "wb");
    gzprintf(f, "exchange,symbol,timestamp,local_timestamp,bids[0].price\n1,2,3,4,5\n");
    gzclose(f);
    conv_series_init(&c, &o);
    rc = conv_add_file(&c, d3, &e);
    CHECK(rc == -1 && strstr(e.msg, "header") && strstr(e.msg, ":1:"), "bad header: rc %d msg '%s'", rc, e.msg);
    if (rc) printf("ok   bad header -> %.100s\n", e.msg);
    conv_series_free(&c);
    f = gzopen(d3, "wb");
    gzclose(f);
    conv_series_init(&c, &o);
    CHECK(conv_add_file(&c, d3, &e) == 0, "empty: %s", e.msg);
    rc = conv_finish(&s, &c, "EMPTY", &e);
    CHECK(rc == -1 && strstr(e.msg, "no valid"), "no rows: rc %d msg '%s'", rc, e.msg);
    if (rc) printf("ok   only empty days -> %s\n", e.msg);
    conv_series_free(&c);

    unlink(d1);
    unlink(d2);
    unlink(d3);
    if (g_fail) { printf("test_convert: %d FAILURES\n", g_fail); return 1; }
    printf("test_convert: all passed\n");
    return 0;
}
