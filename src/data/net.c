/* net.c: libcurl GET with retries (see net.h). */
#define _GNU_SOURCE
#include "net.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/rng.h"

void net_opts_default(NetOpts *o) {
    memset(o, 0, sizeof *o);
    o->max_retries = 5;
    o->backoff_base_s = 1.0;
    o->backoff_max_s = 60.0;
    o->timeout_s = 300.0;
    o->connect_timeout_s = 15.0;
    o->stall_s = 30.0;
    o->min_interval_s = 0.1;
    o->jitter_key = dl_key(0x6e6574, 0);
}

int net_opts_set(NetOpts *o, const char *key, const char *val, DlErr *e) {
    char *end;
    double v = strtod(val, &end);
    if (end == val || *end || !(v >= 0)) {
        if (!strcmp(key, "rate") || !strcmp(key, "retries") || !strcmp(key, "backoff") || !strcmp(key, "backoff-max") ||
            !strcmp(key, "timeout") || !strcmp(key, "stall") || !strcmp(key, "seed"))
            return dl_err(e, "--%s: '%s' is not a non-negative number", key, val);
        return 1;
    }
    if (!strcmp(key, "rate")) o->min_interval_s = v > 0 ? 1.0 / v : 0.0;
    else if (!strcmp(key, "retries")) o->max_retries = (int)v;
    else if (!strcmp(key, "backoff")) o->backoff_base_s = v;
    else if (!strcmp(key, "backoff-max")) o->backoff_max_s = v;
    else if (!strcmp(key, "timeout")) o->timeout_s = v;
    else if (!strcmp(key, "stall")) o->stall_s = v;
    else if (!strcmp(key, "seed")) o->jitter_key = dl_key(0x6e6574, (uint64_t)v);
    else return 1;
    return 0;
}

int net_global_init(DlErr *e) {
    CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
    return c == CURLE_OK ? 0 : dl_err(e, "curl_global_init failed: %s", curl_easy_strerror(c));
}

static void sleep_s(double s) {
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

double net_backoff_s(const NetOpts *o, int attempt, long status, double retry_after_s, double u) {
    double d = o->backoff_base_s * ldexp(1.0, attempt < 30 ? attempt : 30);
    if (status == 429) d *= 4; /* the server asked us to slow down: back off harder */
    if (d > o->backoff_max_s) d = o->backoff_max_s;
    d *= 0.5 + 0.5 * u; /* jitter: clients that failed together do not retry together */
    if (retry_after_s > 0) d = fmax(d, fmin(retry_after_s, o->backoff_max_s));
    return d;
}

int net_retryable(long status, int curl_code) {
    if (curl_code != CURLE_OK) {
        switch (curl_code) {
        case CURLE_OPERATION_TIMEDOUT: case CURLE_COULDNT_CONNECT: case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR: case CURLE_SEND_ERROR: case CURLE_GOT_NOTHING:
        case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY: case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2: case CURLE_HTTP2_STREAM: case CURLE_WRITE_ERROR:
            return 1;
        default:
            return 0;
        }
    }
    return status == 429 || status == 408 || status >= 500;
}

char *net_urlencode(const char *s) {
    char *c = curl_easy_escape(NULL, s, 0);
    DL_CHECK(c, "curl_easy_escape failed");
    char *r = strdup(c);
    curl_free(c);
    DL_CHECK(r, "out of memory");
    return r;
}

/* ---- sinks ------------------------------------------------------------------------------- */
typedef struct {
    char *p;
    size_t n, cap;
    FILE *f;
} Sink;

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *ud) {
    Sink *s = ud;
    size_t n = size * nmemb;
    if (s->f) return fwrite(ptr, 1, n, s->f);
    if (s->n + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 65536;
        while (cap < s->n + n + 1) cap *= 2;
        char *q = realloc(s->p, cap);
        if (!q) return 0; /* -> CURLE_WRITE_ERROR */
        s->p = q;
        s->cap = cap;
    }
    memcpy(s->p + s->n, ptr, n);
    s->n += n;
    s->p[s->n] = 0;
    return n;
}

static const char *status_hint(long st) {
    switch (st) {
    case 400: return "bad request";
    case 401: return "unauthorized (missing or invalid API key)";
    case 403: return "forbidden (the key has no access to this data)";
    case 404: return "not found";
    case 429: return "rate limited";
    default: return st >= 500 ? "server error" : "";
    }
}

static int get_impl(Sink *sink, const char *path, long *status, const char *url, const NetOpts *o, NetState *st,
                    DlErr *e) {
    CURL *h = curl_easy_init();
    if (!h) return dl_err(e, "%s: curl_easy_init failed", url);
    char errbuf[CURL_ERROR_SIZE];
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L); /* credentials are not sent to another host */
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);       /* thread-safe timeouts */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(o->timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(o->connect_timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)ceil(o->stall_s));
    curl_easy_setopt(h, CURLOPT_USERAGENT, "deeplob-mpi/" DL_VERSION);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (o->bearer && o->bearer[0]) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, o->bearer);
    }
    int rc = -1;
    *status = 0;
    for (int attempt = 0;; attempt++) {
        double wait = st->last_start + o->min_interval_s - dl_now();
        sleep_s(wait); /* polite rate limit */
        st->last_start = dl_now();
        st->n_attempts++;
        if (sink->f) {
            if (fflush(sink->f) || ftruncate(fileno(sink->f), 0) || fseek(sink->f, 0, SEEK_SET)) {
                rc = dl_err(e, "%s: cannot truncate: %s", path, strerror(errno));
                break;
            }
        } else {
            sink->n = 0;
        }
        errbuf[0] = 0;
        CURLcode cc = curl_easy_perform(h);
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        *status = code;
        if (cc == CURLE_OK && sink->f && fflush(sink->f) != 0) {
            rc = dl_err(e, "%s: write failed: %s", path, strerror(errno));
            break;
        }
        if (cc == CURLE_OK && code >= 200 && code < 300) { rc = 0; break; }
        char what[400];
        if (cc != CURLE_OK)
            snprintf(what, sizeof what, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
        else
            snprintf(what, sizeof what, "HTTP %ld %s", code, status_hint(code));
        if (!net_retryable(code, (int)cc) || attempt >= o->max_retries) {
            rc = dl_err(e, "%s: %s (after %d attempt%s)", url, what, attempt + 1, attempt ? "s" : "");
            break;
        }
        curl_off_t ra = 0;
        curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra);
        double d = net_backoff_s(o, attempt, code, (double)ra, dl_rand_uniform_d(o->jitter_key, st->n_attempts));
        if (!o->quiet) dl_log("%s: %s; retry %d/%d in %.1f s", url, what, attempt + 1, o->max_retries, d);
        sleep_s(d);
    }
    curl_easy_cleanup(h);
    return rc;
}

int net_get_mem(char **body, size_t *len, long *status, const char *url, const NetOpts *o, NetState *st, DlErr *e) {
    Sink s = {0};
    int rc = get_impl(&s, NULL, status, url, o, st, e);
    if (rc) { free(s.p); *body = NULL; *len = 0; return -1; }
    if (!s.p) s.p = dl_calloc(1, 1);
    *body = s.p;
    *len = s.n;
    return 0;
}

int net_get_file(const char *path, long *status, const char *url, const NetOpts *o, NetState *st, DlErr *e) {
    Sink s = {0};
    s.f = fopen(path, "wb");
    if (!s.f) return dl_err(e, "%s: cannot create: %s", path, strerror(errno));
    int rc = get_impl(&s, path, status, url, o, st, e);
    if (fclose(s.f) != 0 && rc == 0) rc = dl_err(e, "%s: close failed: %s", path, strerror(errno));
    return rc;
}
