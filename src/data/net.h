/* net.h: libcurl GET with retries, exponential backoff + jitter, Retry-After,
 * timeouts and polite rate limiting.
 *
 * Retried: HTTP 429 (backoff x4, at least Retry-After), 5xx, timeouts, connection
 * errors, truncated bodies. Not retried: other 4xx (401/403/404/400: the caller says why).
 * Proxies come from the standard variables (http_proxy, https_proxy, no_proxy), which
 * libcurl reads itself; nothing is hard-coded. A bearer token is sent only in the
 * Authorization header and never appears in any message. */
#ifndef DL_NET_H
#define DL_NET_H

#include <stddef.h>
#include <stdint.h>

#include "../common/util.h"

typedef struct {
    int max_retries;          /* retries after the first attempt (default 5) */
    double backoff_base_s;    /* first retry delay before jitter (default 1) */
    double backoff_max_s;     /* cap on one delay, also on Retry-After (default 60) */
    double timeout_s;         /* whole request (default 300) */
    double connect_timeout_s; /* default 15 */
    double stall_s;           /* abort when < 1 byte/s for this long (default 30) */
    double min_interval_s;    /* rate limit: min seconds between request starts (default 0.1) */
    uint64_t jitter_key;      /* jitter stream key (from the command's --seed) */
    const char *bearer;       /* Authorization: Bearer token, or NULL */
    int quiet;                /* no retry messages */
} NetOpts;

/* explicit per-thread state: rate limiting and the jitter counter */
typedef struct {
    double last_start;
    uint64_t n_attempts;
} NetState;

void net_opts_default(NetOpts *o);
/* call once before any thread uses libcurl (curl_global_init) */
int net_global_init(DlErr *e);

/* GET into memory; *body is NUL-terminated, free() it. *status: last HTTP status (0 = no
 * response). Returns 0 on a 2xx body, -1 otherwise (message names the URL, status, attempts). */
int net_get_mem(char **body, size_t *len, long *status, const char *url, const NetOpts *o, NetState *st, DlErr *e);
/* GET into a file (truncated per attempt). Same contract; the caller verifies and renames. */
int net_get_file(const char *path, long *status, const char *url, const NetOpts *o, NetState *st, DlErr *e);

/* delay before retry `attempt` (0-based): min(max, base*2^attempt) * (0.5 + 0.5u),
 * x4 for 429, at least retry_after_s (capped at backoff_max_s) */
double net_backoff_s(const NetOpts *o, int attempt, long status, double retry_after_s, double u);
/* 1 if an HTTP status / curl error is worth retrying */
int net_retryable(long status, int curl_code);
/* set one option from the command line: "rate" (requests/s, 0 = unlimited), "retries",
 * "backoff" (base s), "backoff-max", "timeout" (s), "stall" (s), "seed". 1 if key is not a net option */
int net_opts_set(NetOpts *o, const char *key, const char *val, DlErr *e);
#define NET_OPTS_HELP \
    "  --rate R          at most R requests/s per thread (default 10)\n" \
    "  --retries N       retries on 429/5xx/timeouts/truncated bodies (default 5)\n" \
    "  --backoff S       first retry delay in s, doubled each retry, jittered (default 1)\n" \
    "  --backoff-max S   cap on one delay and on Retry-After (default 60)\n" \
    "  --timeout S       whole-request timeout in s (default 300); --stall S: abort a stalled transfer (30)\n" \
    "  --seed N          jitter stream seed (default 0)\n" \
    "  Proxies: the standard http_proxy / https_proxy / no_proxy environment variables.\n"
/* URL-encode (RFC 3986 unreserved kept); caller frees */
char *net_urlencode(const char *s);

#endif
