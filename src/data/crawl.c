/* crawl.c: Binance futures universe by liquidity (see crawl.h). */
#define _GNU_SOURCE
#include "crawl.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "../io/lobds.h"

static int str_is(const cJSON *o, const char *key, const char *want) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

int crawl_parse_exchange_info(char ***symbols, int *n, const char *json, const char *url, DlErr *e) {
    *symbols = NULL;
    *n = 0;
    cJSON *root = cJSON_Parse(json);
    if (!root) return dl_err(e, "%s: response is not JSON", url);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "symbols");
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(root);
        return dl_err(e, "%s: no 'symbols' array in exchangeInfo", url);
    }
    int cap = cJSON_GetArraySize(arr), k = 0;
    char **out = dl_calloc((size_t)(cap ? cap : 1), sizeof *out);
    const cJSON *s;
    cJSON_ArrayForEach(s, arr) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(s, "symbol");
        if (!cJSON_IsString(name)) continue;
        if (!str_is(s, "status", "TRADING") || !str_is(s, "quoteAsset", "USDT") || !str_is(s, "contractType", "PERPETUAL"))
            continue;
        if (!lobds_symbol_ok(name->valuestring)) { /* it would become a path and a group name */
            dl_log("crawl: skipping unsafe symbol name '%.80s'", name->valuestring);
            continue;
        }
        out[k++] = strdup(name->valuestring);
    }
    cJSON_Delete(root);
    *symbols = out;
    *n = k;
    return 0;
}

int crawl_parse_klines(double *mean, int *ndays, const char *json, int days, int64_t now_ms, const char *url, DlErr *e) {
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return dl_err(e, "%s: klines response is not a JSON array", url);
    }
    int n = cJSON_GetArraySize(root), used = 0;
    double sum = 0;
    /* walk from the newest kline back, keeping complete days only */
    for (int i = n - 1; i >= 0 && used < days; i--) {
        const cJSON *k = cJSON_GetArrayItem(root, i);
        const cJSON *close_t = cJSON_GetArrayItem(k, 6), *qv = cJSON_GetArrayItem(k, 7);
        if (!cJSON_IsArray(k) || !cJSON_IsNumber(close_t) || !(cJSON_IsString(qv) || cJSON_IsNumber(qv))) {
            cJSON_Delete(root);
            return dl_err(e, "%s: kline %d malformed (expected [.., closeTime(6), quoteVolume(7), ..])", url, i);
        }
        if ((int64_t)close_t->valuedouble >= now_ms) continue; /* the open day */
        char *end;
        double v = cJSON_IsString(qv) ? strtod(qv->valuestring, &end) : qv->valuedouble;
        if (cJSON_IsString(qv) && (*end || end == qv->valuestring)) {
            cJSON_Delete(root);
            return dl_err(e, "%s: kline %d: quote volume '%.40s' is not a number", url, i, qv->valuestring);
        }
        sum += v;
        used++;
    }
    cJSON_Delete(root);
    *mean = used ? sum / used : 0.0;
    *ndays = used;
    return 0;
}

static int cmp_items(const void *a, const void *b) {
    const CrawlItem *x = a, *y = b;
    if (x->mean_quote_volume != y->mean_quote_volume) return x->mean_quote_volume > y->mean_quote_volume ? -1 : 1;
    return strcmp(x->symbol, y->symbol);
}

int crawl_universe(CrawlItem **items, int *n, const char *base_url, int days, const NetOpts *o, NetState *st, DlErr *e) {
    char url[2048];
    char *body;
    size_t len;
    long status;
    *items = NULL;
    *n = 0;
    snprintf(url, sizeof url, "%s/fapi/v1/exchangeInfo", base_url);
    if (net_get_mem(&body, &len, &status, url, o, st, e)) return -1;
    char **syms;
    int ns;
    int rc = crawl_parse_exchange_info(&syms, &ns, body, url, e);
    free(body);
    if (rc) return -1;
    printf("crawl: %d USDT perpetuals trading\n", ns);
    CrawlItem *it = dl_calloc((size_t)(ns ? ns : 1), sizeof *it);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    for (int i = 0; i < ns && !rc; i++) {
        char *enc = net_urlencode(syms[i]);
        snprintf(url, sizeof url, "%s/fapi/v1/klines?symbol=%s&interval=1d&limit=%d", base_url, enc, days + 1);
        free(enc);
        if (net_get_mem(&body, &len, &status, url, o, st, e)) { rc = -1; break; }
        snprintf(it[i].symbol, sizeof it[i].symbol, "%s", syms[i]);
        rc = crawl_parse_klines(&it[i].mean_quote_volume, &it[i].days, body, days, now_ms, url, e);
        free(body);
    }
    for (int i = 0; i < ns; i++) free(syms[i]);
    free(syms);
    if (rc) { free(it); return -1; }
    qsort(it, (size_t)ns, sizeof *it, cmp_items);
    *items = it;
    *n = ns;
    return 0;
}

int crawl_write(const char *txt_path, const char *csv_path, const CrawlItem *items, int n, int top, DlErr *e) {
    if (top > n) top = n;
    size_t cap = (size_t)(top + 2) * 160;
    char *txt = dl_malloc(cap), *csv = dl_malloc(cap);
    size_t pt = 0, pc = 0;
    pc += (size_t)snprintf(csv, cap, "rank,symbol,mean_quote_volume_usdt,days\n");
    for (int i = 0; i < top; i++) {
        pt += (size_t)snprintf(txt + pt, cap - pt, "%s\n", items[i].symbol);
        pc += (size_t)snprintf(csv + pc, cap - pc, "%d,%s,%.2f,%d\n", i + 1, items[i].symbol,
                               items[i].mean_quote_volume, items[i].days);
    }
    int rc = dl_write_file_atomic(txt_path, txt, pt, e);
    if (!rc && csv_path) rc = dl_write_file_atomic(csv_path, csv, pc, e);
    free(txt);
    free(csv);
    return rc;
}
