/* crawl.h: the Binance USDT-perpetual universe ranked by mean daily quote volume.
 * GET {base}/fapi/v1/exchangeInfo -> symbols with status TRADING, quoteAsset USDT,
 * contractType PERPETUAL; GET {base}/fapi/v1/klines?symbol=S&interval=1d&limit=D+1 ->
 * mean of field 7 (quote-asset volume) over the last D complete days (the open day is
 * left out: its volume is partial). */
#ifndef DL_CRAWL_H
#define DL_CRAWL_H

#include <stdint.h>

#include "net.h"

typedef struct {
    char symbol[64];
    double mean_quote_volume; /* USDT per day */
    int days;                 /* complete days averaged */
} CrawlItem;

/* symbols passing the filters and lobds_symbol_ok (others are reported and skipped);
 * caller frees each name and the array */
int crawl_parse_exchange_info(char ***symbols, int *n, const char *json, const char *url, DlErr *e);
/* mean quote volume over the last `days` klines whose close time is < now_ms */
int crawl_parse_klines(double *mean, int *ndays, const char *json, int days, int64_t now_ms, const char *url, DlErr *e);
/* the whole crawl; items sorted by volume (desc), then name. caller frees *items */
int crawl_universe(CrawlItem **items, int *n, const char *base_url, int days, const NetOpts *o, NetState *st, DlErr *e);
/* top N names to txt_path (one a line) and rank,symbol,mean_quote_volume_usdt,days to csv_path; atomic */
int crawl_write(const char *txt_path, const char *csv_path, const CrawlItem *items, int n, int top, DlErr *e);

#endif
