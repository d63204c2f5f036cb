/* progress.c: see progress.h */
#include "common/progress.h"

#include <math.h>
#include <stdarg.h>

#include "common/util.h"

void progress_init(Progress *p, FILE *f, double interval, int tty) {
    *p = (Progress){f, interval, tty, dl_now(), 0};
}

int progress_due(Progress *p) {
    if (!p->f || p->interval <= 0) return 0;
    const double t = dl_now();
    if (t - p->last < p->interval) return 0;
    p->last = t;
    return 1;
}

void progress_print(Progress *p, const char *fmt, ...) {
    if (!p->f) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (p->tty) { fprintf(p->f, "\r%s\033[K", line); p->showing = 1; }   /* ESC[K: clear the rest */
    else fprintf(p->f, "%s\n", line);
    fflush(p->f);
}

void progress_end(Progress *p) {
    if (p->f && p->showing) { fprintf(p->f, "\r\033[K"); fflush(p->f); }
    p->showing = 0;
}

void progress_fmt_eta(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) { snprintf(buf, n, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}
