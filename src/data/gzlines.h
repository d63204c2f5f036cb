/* gzlines.h: the lines of a gzip (or plain) text file, inflated ahead on a second thread.
 *
 * Reading a day of Tardis CSV is inflate plus parsing, about half each with zlib. Here
 * ISA-L's inflate (about twice zlib's speed) runs on its own thread into a small ring of
 * 1 MiB slots while the caller parses the previous slot's lines, so a file costs about
 * max(inflate, parse) instead of their sum. Multi-member gzip files are read whole;
 * CRC-32 and length of every member are checked (ISA-L). One reader per file; the caller
 * is one thread.
 *
 * Errors name the file and the last whole line read: "PATH: corrupt or truncated gzip
 * after line N (why)", "PATH: not gzip (no gzip header at byte 0)" (want_gz), "PATH:
 * empty file (0 bytes), not a gzip stream", "PATH:N: line longer than 1048576 bytes". */
#ifndef DL_DATA_GZLINES_H
#define DL_DATA_GZLINES_H

#include <stdint.h>

#include "common/util.h"

#define GZL_MAX_LINE (1 << 20)

typedef struct GzLines GzLines;

/* want_gz: refuse a file that is not gzip (else a plain file is read as it is);
 * *compressed_bytes (may be NULL): the file's size. NULL and e filled on failure */
GzLines *gzl_open(const char *path, int want_gz, int64_t *compressed_bytes, DlErr *e);
/* the next line [*s, *end) without its \n (and \r), 1; 0 at the end of the file; -1 an
 * error (e filled). A last line without \n is returned too. The bytes stay valid until
 * the next call */
int gzl_next(GzLines *g, const char **s, const char **end, DlErr *e);
/* lines returned so far */
int64_t gzl_line(const GzLines *g);
void gzl_close(GzLines *g);

#endif
