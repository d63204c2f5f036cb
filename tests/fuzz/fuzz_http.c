/* fuzz_http: HTTP answers as `download` and `crawl` see them. A server thread in this
 * process answers every connection on 127.0.0.1 with the input bytes (status line, headers
 * such as Retry-After and Content-Length, body), then closes; net_get_mem fetches with one
 * retry and millisecond backoffs, so status handling, Retry-After, truncated bodies (a
 * Content-Length longer than the body) and the retry loop all run. The backoff arithmetic
 * is also fed numbers taken from the input. */
#include "fuzz_common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include "data/net.h"

static int g_port;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned char *g_resp;
static size_t g_resp_n;

static void *server(void *arg) {
    int ls = (int)(intptr_t)arg;
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0) continue;
        char req[4096];
        size_t got = 0;
        /* read the request head */
        while (got < sizeof req - 1) {
            ssize_t r = recv(c, req + got, sizeof req - 1 - got, 0);
            if (r <= 0) break;
            got += (size_t)r;
            req[got] = 0;
            if (strstr(req, "\r\n\r\n")) break;
        }
        pthread_mutex_lock(&g_mu);
        size_t off = 0;
        while (off < g_resp_n) {
            ssize_t w = send(c, g_resp + off, g_resp_n - off, MSG_NOSIGNAL);
            if (w <= 0) break;
            off += (size_t)w;
        }
        pthread_mutex_unlock(&g_mu);
        shutdown(c, SHUT_WR);
        close(c);
    }
    return NULL;
}

static void start_server(void) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 16)) { perror("fuzz_http server"); abort(); }
    socklen_t al = sizeof a;
    getsockname(ls, (struct sockaddr *)&a, &al);
    g_port = ntohs(a.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, server, (void *)(intptr_t)ls);
    pthread_detach(t);
    DlErr e;
    if (net_global_init(&e)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (64u << 10)) return 0;
    if (!g_port) start_server();
    pthread_mutex_lock(&g_mu);
    free(g_resp);
    g_resp = malloc(size ? size : 1);
    memcpy(g_resp, data, size);
    g_resp_n = size;
    pthread_mutex_unlock(&g_mu);

    NetOpts o;
    net_opts_default(&o);
    o.max_retries = 1;
    o.backoff_base_s = 1e-4;
    o.backoff_max_s = 1e-3; /* caps Retry-After too */
    o.timeout_s = 5;
    o.connect_timeout_s = 5;
    o.stall_s = 2;
    o.min_interval_s = 0;
    o.quiet = 1;
    NetState st = {0};
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/data", g_port);
    char *body = NULL;
    size_t len = 0;
    long status = 0;
    DlErr e;
    if (net_get_mem(&body, &len, &status, url, &o, &st, &e) == 0) {
        if (status < 200 || status > 299 || body[len] != 0) abort(); /* success means a 2xx, NUL-terminated */
        free(body);
    } else if (body) {
        abort(); /* no body on failure */
    }
    /* the backoff arithmetic on numbers from the input */
    if (size >= 24) {
        double ra, u;
        int32_t att;
        int64_t code;
        memcpy(&ra, data, 8);
        memcpy(&u, data + 8, 8);
        memcpy(&att, data + 16, 4);
        memcpy(&code, data + 16, 8);
        NetOpts d;
        net_opts_default(&d);
        if (u >= 0 && u <= 1 && att >= 0) {
            double s = net_backoff_s(&d, att, (long)code, ra, u);
            if (!(s >= 0) || s > d.backoff_max_s * 4 + 1e-9) { fprintf(stderr, "backoff %g\n", s); abort(); }
        }
        net_retryable((long)code, (int)att);
    }
    return 0;
}
