/* download.h: Tardis.dev dataset files, resumable and verified.
 * URL:  {base}/{exchange}/{data_type}/{YYYY}/{MM}/{DD}/{SYMBOL-url-encoded}.csv.gz
 * file: {out}/{exchange}/{data_type}/{SYMBOL}/{YYYY-MM-DD}.csv.gz
 * A file is fetched into "<file>.part", checked to be a complete gzip stream, and only then
 * renamed; an existing final file is a finished download and is skipped. */
#ifndef DL_DOWNLOAD_H
#define DL_DOWNLOAD_H

#include <stdint.h>

#include "net.h"

typedef struct {
    const char *base_url, *exchange, *data_type, *out_dir;
} DownloadSpec;

/* 0 if s is safe as a path component (lobds_symbol_ok); else -1 naming `what` */
int download_check_name(const char *s, const char *what, DlErr *e);
/* "YYYY-MM-DD" -> days since 1970-01-01 (UTC); -1 on a malformed or impossible date */
int download_parse_date(const char *s, int64_t *day, DlErr *e);
/* days since the epoch -> y, m, d */
void download_civil(int64_t day, int *y, int *m, int *d);
/* read the whole gzip stream: 0 if complete (every member ends with a valid trailer), else -1 */
int download_verify_gzip(const char *path, int64_t *uncompressed, DlErr *e);
/* mkdir -p */
int download_mkdir_p(const char *path, DlErr *e);
/* fetch one symbol-day; *skipped = 1 when the final file already existed */
int download_one(const DownloadSpec *sp, const char *symbol, int64_t day, const NetOpts *o, NetState *st,
                 int *skipped, int64_t *bytes, DlErr *e);

#endif
