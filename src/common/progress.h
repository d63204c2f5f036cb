/* progress.h: progress lines of long work at a steady interval. On a terminal one
 * line is rewritten in place ("\r", cleared at the end); in a batch log (a file, a
 * pipe, mpirun's forwarded output) every report is a plain line, so the log shows
 * when the work moved. The caller formats the text; this decides when and how. */
#ifndef DL_PROGRESS_H
#define DL_PROGRESS_H

#include <stdio.h>

typedef struct {
    FILE *f;           /* NULL: silent */
    double interval;   /* seconds between lines; <= 0: never */
    int tty;           /* 1: one updating line */
    double last;       /* dl_now() of the last line (or of progress_init) */
    int showing;       /* a tty line is on screen (progress_end clears it) */
} Progress;

void progress_init(Progress *p, FILE *f, double interval, int tty);
/* 1 when interval seconds have passed since the last line (then the clock restarts) */
int progress_due(Progress *p);
void progress_print(Progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* clears a tty line; plain lines stay */
void progress_end(Progress *p);
/* "1h02m" / "3m07s" ("?" when s is not a finite non-negative number) */
void progress_fmt_eta(char *buf, size_t n, double s);

#endif
