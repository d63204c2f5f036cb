/* util.h: the one error path, checked allocation, timing.
 *
 * Every fatal error goes through dl_fatal_at(), which prints
 *   [rank R] file:line: message
 * and then calls the abort hook (MPI_Abort once MPI is up, exit(1) otherwise).
 * The rank and the hook are the only process-wide state: set once by main(). */
#ifndef DL_UTIL_H
#define DL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

void dl_set_rank(int rank);                 /* prefix for messages; -1 = no MPI */
int dl_rank(void);
void dl_set_abort_hook(void (*hook)(int code)); /* e.g. MPI_Abort wrapper */

/* prints "[rank r] file:line: msg" and aborts (never returns) */
void dl_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
#define DL_FATAL(...) dl_fatal_at(__FILE__, __LINE__, __VA_ARGS__)
#define DL_CHECK(cond, ...) do { if (!(cond)) dl_fatal_at(__FILE__, __LINE__, __VA_ARGS__); } while (0)

/* log line to stderr with rank prefix (progress goes to stdout via printf) */
void dl_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Recoverable errors: functions that can fail on bad input return -1 and fill a
 * DlErr with a message naming the file and place; the caller decides to die. */
typedef struct { char msg[1024]; } DlErr;
int dl_err(DlErr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3))); /* returns -1 */

void *dl_malloc_at(size_t n, const char *file, int line);
void *dl_calloc_at(size_t n, size_t sz, const char *file, int line);
#define dl_malloc(n) dl_malloc_at((n), __FILE__, __LINE__)
#define dl_calloc(n, sz) dl_calloc_at((n), (sz), __FILE__, __LINE__)
/* 64-byte aligned, zeroed; free with free() */
void *dl_aligned_alloc_at(size_t n, const char *file, int line);
#define dl_aligned_alloc(n) dl_aligned_alloc_at((n), __FILE__, __LINE__)

double dl_now(void);                        /* monotonic seconds */

/* write a whole file atomically: tmp name in the same dir, fsync, rename */
int dl_write_file_atomic(const char *path, const void *data, size_t n, DlErr *e);
/* rename tmp -> final after fsync of tmp; both in the same directory */
int dl_commit_file(const char *tmp, const char *final_path, DlErr *e);

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

#ifdef __cplusplus
}
#endif
#endif
