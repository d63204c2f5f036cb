/* symbol_sched.c: largest-first dynamic symbol scheduling (see symbol_sched.h). */
#include "train/symbol_sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* ---- pure part ------------------------------------------------------------------ */

typedef struct {
    int64_t windows;
    const char *name; /* NULL: tie by index only */
    int idx;
} SchedKey;

static int sched_key_cmp(const void *pa, const void *pb) {
    const SchedKey *a = pa, *b = pb;
    if (a->windows != b->windows) return a->windows > b->windows ? -1 : 1; /* largest first */
    if (a->name && b->name) {
        int c = strcmp(a->name, b->name);
        if (c) return c;
    }
    return (a->idx > b->idx) - (a->idx < b->idx);
}

void sched_order(const int64_t *windows, const char *const *names, int n, int *order) {
    if (n <= 0) return;
    SchedKey *k = dl_malloc((size_t)n * sizeof *k);
    for (int i = 0; i < n; i++) {
        k[i].windows = windows[i];
        k[i].name = names ? names[i] : NULL;
        k[i].idx = i;
    }
    /* keys are distinct (idx breaks every tie), so qsort's instability cannot show */
    qsort(k, (size_t)n, sizeof *k, sched_key_cmp);
    for (int i = 0; i < n; i++) order[i] = k[i].idx;
    free(k);
}

int sched_simulate_groups(const double *cost, const double *speed, const int *order, int n, int groups,
                          double *makespan, int *owner) {
    if (n < 0 || groups < 1) return -1;
    double *free_at = dl_calloc((size_t)groups, sizeof *free_at);
    unsigned char *seen = dl_calloc((size_t)(n > 0 ? n : 1), 1);
    int rc = 0;
    for (int j = 0; j < n; j++) {
        int s = order[j];
        if (s < 0 || s >= n || seen[s]) { rc = -1; break; }
        seen[s] = 1;
        /* the group that finishes first asks the queue first; lowest index on a tie */
        int r = 0;
        for (int q = 1; q < groups; q++)
            if (free_at[q] < free_at[r]) r = q;
        free_at[r] += speed ? cost[s] / speed[r] : cost[s];
        if (owner) owner[s] = r;
    }
    double m = 0;
    for (int q = 0; q < groups; q++)
        if (free_at[q] > m) m = free_at[q];
    if (rc == 0) *makespan = m;
    free(free_at);
    free(seen);
    return rc;
}

int sched_simulate(const double *cost, const int *order, int n, int ranks, double *makespan, int *owner) {
    return sched_simulate_groups(cost, NULL, order, n, ranks, makespan, owner);
}

double sched_group_speed(int g, double eff) { return g * pow(eff, log2((double)g)); }

/* the plan of m groups of gb ranks then groups of gs: its simulated makespan */
static double plan_eval(const double *cost, const int *order, int n, int ranks, int m, int gb, int gs, double eff,
                        double *speed) {
    const int ng = m + (ranks - m * gb) / gs;
    for (int k = 0; k < ng; k++) speed[k] = sched_group_speed(k < m ? gb : gs, eff);
    double mk = INFINITY;
    sched_simulate_groups(cost, speed, order, n, ng, &mk, NULL);
    return mk;
}

int sched_plan_groups(const double *cost, const int *order, int n, int ranks, int K, double eff, int *gsize,
                      double *makespan) {
    double *speed = dl_calloc((size_t)ranks, sizeof *speed), best = INFINITY;
    int bm = 0, bgb = 1, bgs = 1;
    /* uniform plans first (m = 0), small groups first: a tie keeps the simpler plan */
    for (int gs = 1; gs <= ranks; gs++) {
        if (ranks % gs || K % gs) continue;
        const double mk = plan_eval(cost, order, n, ranks, 0, gs, gs, eff, speed);
        if (mk < best * (1 - 1e-9)) { best = mk; bm = 0; bgb = bgs = gs; }
    }
    /* two tiers: m big groups of gb for the largest symbols, the rest in groups of gs */
    for (int gb = 2; gb <= ranks; gb++) {
        if (K % gb) continue;
        for (int gs = 1; gs < gb; gs++) {
            if (K % gs) continue;
            for (int m = 1; m <= n && m * gb < ranks; m++) {
                if ((ranks - m * gb) % gs) continue;
                const double mk = plan_eval(cost, order, n, ranks, m, gb, gs, eff, speed);
                if (mk < best * (1 - 1e-9)) { best = mk; bm = m; bgb = gb; bgs = gs; }
            }
        }
    }
    const int ng = bm + (ranks - bm * bgb) / bgs;
    for (int k = 0; k < ng; k++) gsize[k] = k < bm ? bgb : bgs;
    if (makespan) *makespan = best;
    free(speed);
    return ng;
}

void sched_plan_text(char *buf, size_t cap, const int *gsize, int ng) {
    size_t len = 0;
    buf[0] = 0;
    for (int k = 0; k < ng;) {
        int j = k;
        while (j < ng && gsize[j] == gsize[k]) j++;
        len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%d group(s) of %d", k ? " + " : "", j - k,
                                gsize[k]);
        k = j;
    }
    snprintf(buf + len, len < cap ? cap - len : 0, " rank(s)");
}

double sched_lower_bound(const double *cost, const int *width, int n, int ranks) {
    double sum = 0, mx = 0;
    for (int i = 0; i < n; i++) {
        sum += cost[i] * (width ? width[i] : 1);
        if (cost[i] > mx) mx = cost[i];
    }
    double avg = ranks > 0 ? sum / ranks : sum;
    return mx > avg ? mx : avg;
}

void sched_rank_busy(double *busy, const int *owner, const int *width, const double *seconds, int n, int ranks) {
    for (int r = 0; r < ranks; r++) busy[r] = 0;
    for (int i = 0; i < n; i++)
        for (int r = owner[i]; owner[i] >= 0 && r < owner[i] + (width ? width[i] : 1) && r < ranks; r++)
            busy[r] += seconds[i];
}

void sched_print_report(FILE *f, const char *const *names, const int64_t *windows, const int *order,
                        const int *owner, const int *width, const double *start, const double *seconds, int n,
                        int ranks, double wall) {
    fprintf(f, "schedule (largest first, dynamic): %d symbols on %d rank(s)\n", n, ranks);
    fprintf(f, "  %4s  %-16s %5s %12s %10s %10s\n", "#", "symbol", "rank", "windows", "start_s", "seconds");
    for (int j = 0; j < n; j++) {
        int s = order[j];
        if (owner[s] < 0)
            fprintf(f, "  %4d  %-16s %5s %12lld %10s %10s\n", j, names[s], "-", (long long)windows[s], "-", "skipped");
        else if (width && width[s] > 1) {   /* a data-parallel group: its first and last rank */
            char rr[24];
            snprintf(rr, sizeof rr, "%d-%d", owner[s], owner[s] + width[s] - 1);
            fprintf(f, "  %4d  %-16s %5s %12lld %10.2f %10.2f\n", j, names[s], rr, (long long)windows[s], start[s],
                    seconds[s]);
        } else
            fprintf(f, "  %4d  %-16s %5d %12lld %10.2f %10.2f\n", j, names[s], owner[s], (long long)windows[s],
                    start[s], seconds[s]);
    }
    double *busy = dl_malloc((size_t)(ranks > 0 ? ranks : 1) * sizeof *busy);
    sched_rank_busy(busy, owner, width, seconds, n, ranks);
    double tot = 0;
    fprintf(f, "per-rank time (wall %.2f s):\n  %5s %10s %10s %6s\n", wall, "rank", "busy_s", "idle_s", "busy%");
    for (int r = 0; r < ranks; r++) {
        double idle = wall > busy[r] ? wall - busy[r] : 0;
        tot += busy[r];
        fprintf(f, "  %5d %10.2f %10.2f %5.1f%%\n", r, busy[r], idle, wall > 0 ? 100.0 * busy[r] / wall : 0.0);
    }
    if (ranks > 0 && wall > 0)
        fprintf(f, "  all   busy %.2f s of %.2f rank-seconds (%.1f %%)\n", tot, wall * ranks, 100.0 * tot / (wall * ranks));
    free(busy);
}

int sched_threads_per_rank(int cores_on_node, int ranks_on_node) {
    if (ranks_on_node < 1) ranks_on_node = 1;
    int t = cores_on_node / ranks_on_node;
    return t < 1 ? 1 : t;
}

/* ---- MPI part ----------------------------------------------------------------------- */
#ifndef DL_SCHED_NO_MPI

SymbolQueue squeue_create(MPI_Comm comm, int n) {
    DL_CHECK(n >= 0, "squeue_create: n = %d < 0", n);
    SymbolQueue q = {.win = MPI_WIN_NULL, .counter = NULL, .n = n};
    int rank;
    MPI_Comm_rank(comm, &rank);
    MPI_Aint bytes = rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0;
    void *base = NULL;
    /* Open MPI 4.1 has no one-sided component for ranks on different nodes joined by TCP
     * only (osc/rdma wants RDMA-capable BTLs, osc/pt2pt MPI_THREAD_MULTIPLE): there the
     * window cannot be made, and the queue becomes a static round robin. Results do not
     * depend on which rank trains a symbol (tests/sh/test_multihost.sh). */
    MPI_Errhandler eh;
    MPI_Comm_get_errhandler(comm, &eh);
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    int ok = MPI_Win_allocate(bytes, sizeof(int64_t), MPI_INFO_NULL, comm, &base, &q.win) == MPI_SUCCESS, all_ok = 0;
    MPI_Comm_set_errhandler(comm, eh);
    MPI_Errhandler_free(&eh);
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
    if (!all_ok) {
        DL_CHECK(!ok, "squeue_create: MPI_Win_allocate failed on some ranks only");
        q.win = MPI_WIN_NULL;
        q.is_static = 1;
        q.rank = rank;
        MPI_Comm_size(comm, &q.size);
        q.static_next = rank;
        if (rank == 0)
            dl_log("note: no MPI one-sided support between these ranks (MPI_Win_allocate failed): "
                   "symbols are dealt round robin instead of from a shared queue");
        return q;
    }
    q.rank = rank;
    MPI_Comm_size(comm, &q.size);
    if (rank == 0) {
        q.counter = base;
        *q.counter = 0;
    }
    /* the zero must be in place before any rank's first fetch-and-add */
    MPI_Barrier(comm);
    /* one passive-target epoch for the queue's whole life: no rank waits on rank 0 */
    MPI_Win_lock_all(MPI_MODE_NOCHECK, q.win);
    return q;
}

int squeue_next(SymbolQueue *q) {
    if (!q->is_static && !q->started) {
        /* the first round is dealt by rank (rank r takes item r, as the simulation and
         * the group plan assume: the largest symbol to rank 0, the biggest group) */
        q->started = 1;
        if (q->rank < q->n) return q->rank;
    }
    if (q->is_static) {
        const int64_t got = q->static_next;
        q->static_next += q->size;
        return got < q->n ? (int)got : -1;
    }
    const int64_t one = 1;
    int64_t got = -1;
    /* atomic on rank 0's counter (items after the first round); counts past n are
     * harmless (everyone gets -1) */
    MPI_Fetch_and_op(&one, &got, MPI_INT64_T, 0, 0, MPI_SUM, q->win);
    MPI_Win_flush(0, q->win);
    got += q->size;
    return got >= 0 && got < q->n ? (int)got : -1;
}

int64_t squeue_taken(SymbolQueue *q) {
    if (q->is_static) { /* this rank's share handed out, scaled to all ranks (an estimate) */
        const int64_t mine = (q->static_next - q->rank) / q->size;
        return mine * q->size < q->n ? mine * q->size : q->n;
    }
    int64_t got = 0;
    /* an atomic read of the counter: MPI_NO_OP leaves it as it is */
    MPI_Fetch_and_op(NULL, &got, MPI_INT64_T, 0, 0, MPI_NO_OP, q->win);
    MPI_Win_flush(0, q->win);
    return got + (q->size < q->n ? q->size : q->n); /* the first round counts as taken */
}

void squeue_free(SymbolQueue *q) {
    if (q->is_static || q->win == MPI_WIN_NULL) return;
    MPI_Win_unlock_all(q->win);
    MPI_Win_free(&q->win); /* collective; also frees rank 0's counter */
    q->counter = NULL;
}

void sched_node_layout(MPI_Comm comm, int *local_rank, int *local_size) {
    MPI_Comm node;
    int rank;
    MPI_Comm_rank(comm, &rank);
    /* key = world rank keeps local ranks in the launcher's order */
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, local_rank);
    MPI_Comm_size(node, local_size);
    MPI_Comm_free(&node);
}

#endif
