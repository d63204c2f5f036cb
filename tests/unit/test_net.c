/* test_net.c: retry policy, backoff with jitter and Retry-After, URL encoding, option parsing,
 * date arithmetic and name validation used by download (the HTTP behaviour itself is tested
 * against the fixture server in tests/sh/test_download.sh and test_crawl.sh). */
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/download.h"
#include "data/net.h"
#include "common/rng.h"

static int g_fail = 0;
#define CHECK(cond, ...) do { if (!(cond)) { g_fail++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } else g_pass++; } while (0)
static int g_pass = 0;

int main(void) {
    DlErr e;
    NetOpts o;
    net_opts_default(&o);
    o.backoff_base_s = 1;
    o.backoff_max_s = 60;
    /* exponential, jitter in [0.5, 1) of the nominal delay, capped, x4 on 429, Retry-After floor */
    CHECK(fabs(net_backoff_s(&o, 0, 500, 0, 0.0) - 0.5) < 1e-12, "attempt 0, u=0 -> 0.5 s");
    CHECK(fabs(net_backoff_s(&o, 3, 500, 0, 0.999) - 8 * 0.9995) < 1e-9, "attempt 3 -> ~8 s");
    CHECK(net_backoff_s(&o, 20, 503, 0, 0.999) <= 60, "capped at backoff_max");
    CHECK(fabs(net_backoff_s(&o, 1, 429, 0, 0.0) - 4.0) < 1e-12, "429 backs off 4x harder: %g", net_backoff_s(&o, 1, 429, 0, 0.0));
    CHECK(net_backoff_s(&o, 0, 429, 30, 0.0) == 30, "Retry-After 30 honoured");
    CHECK(net_backoff_s(&o, 0, 429, 1e6, 0.0) == 60, "Retry-After capped at backoff_max");
    /* jitter stream: deterministic per key, spread across attempts */
    double lo = 1e9, hi = 0;
    for (int i = 0; i < 1000; i++) {
        double d = net_backoff_s(&o, 2, 500, 0, dl_rand_uniform_d(o.jitter_key, (uint64_t)i));
        lo = fmin(lo, d);
        hi = fmax(hi, d);
    }
    CHECK(lo >= 2.0 && hi < 4.0 && hi - lo > 1.5, "jitter spread [%g, %g] within [2, 4)", lo, hi);
    /* what is retried */
    CHECK(net_retryable(429, 0) && net_retryable(500, 0) && net_retryable(503, 0) && net_retryable(408, 0), "429/5xx/408 retried");
    CHECK(!net_retryable(400, 0) && !net_retryable(401, 0) && !net_retryable(403, 0) && !net_retryable(404, 0), "4xx not retried");
    CHECK(net_retryable(0, CURLE_OPERATION_TIMEDOUT) && net_retryable(0, CURLE_PARTIAL_FILE) &&
          net_retryable(0, CURLE_COULDNT_CONNECT), "timeouts, truncated bodies, refused connections retried");
    CHECK(!net_retryable(0, CURLE_URL_MALFORMAT) && !net_retryable(0, CURLE_UNSUPPORTED_PROTOCOL), "malformed URL not retried");
    /* URL encoding: unreserved kept, the rest percent-encoded (UTF-8 bytes) */
    char *u = net_urlencode("币安人生USDT");
    CHECK(!strcmp(u, "%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9FUSDT"), "non-ASCII: %s", u);
    free(u);
    u = net_urlencode("A B/../?&=#1000SHIB-x_y.z~");
    CHECK(!strcmp(u, "A%20B%2F..%2F%3F%26%3D%231000SHIB-x_y.z~"), "reserved: %s", u);
    free(u);
    /* options */
    CHECK(net_opts_set(&o, "rate", "4", &e) == 0 && fabs(o.min_interval_s - 0.25) < 1e-12, "--rate 4 -> 0.25 s");
    CHECK(net_opts_set(&o, "rate", "0", &e) == 0 && o.min_interval_s == 0, "--rate 0 -> unlimited");
    CHECK(net_opts_set(&o, "retries", "-1", &e) == -1 && strstr(e.msg, "--retries"), "negative retries refused: %s", e.msg);
    CHECK(net_opts_set(&o, "timeout", "abc", &e) == -1, "non-number refused");
    CHECK(net_opts_set(&o, "nope", "1", &e) == 1, "unknown key -> 1");
    /* dates */
    int64_t d;
    int y, m, dd;
    CHECK(download_parse_date("2020-09-01", &d, &e) == 0 && d == 18506, "2020-09-01 = day 18506 (%lld)", (long long)d);
    download_civil(d + 30, &y, &m, &dd);
    CHECK(y == 2020 && m == 10 && dd == 1, "+30 days -> 2020-10-01");
    CHECK(download_parse_date("2024-02-29", &d, &e) == 0, "leap day accepted");
    CHECK(download_parse_date("2023-02-29", &d, &e) == -1 && strstr(e.msg, "no such day"), "2023-02-29 refused");
    CHECK(download_parse_date("2020-9-1", &d, &e) == -1 && download_parse_date("2020-09-01x", &d, &e) == -1, "malformed refused");
    /* names used as path components */
    CHECK(download_check_name("BTCUSDT", "symbol", &e) == 0 && download_check_name("币安人生USDT", "symbol", &e) == 0, "valid names");
    const char *badn[] = {"..", "../x", "a/b", "a\\b", ".hidden", "-rf", "a\x01" "b", "", "a b",
                          "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof badn / sizeof badn[0]; i++)
        CHECK(download_check_name(badn[i], "symbol", &e) == -1 && strstr(e.msg, "invalid symbol"), "bad name %zu accepted", i);
    CHECK(download_check_name("a\x01" "b", "symbol", &e) == -1 && strstr(e.msg, "'a?b'"), "control characters not echoed: %s", e.msg);
    if (g_fail) { printf("test_net: %d FAILURES (%d passed)\n", g_fail, g_pass); return 1; }
    printf("test_net: all %d checks passed\n", g_pass);
    return 0;
}
