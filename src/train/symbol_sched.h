/* symbol_sched.h: which rank trains which symbol.
 *
 * Symbols are handed out dynamically, largest first (by training windows): a
 * rank that finishes takes the next symbol in the order, so one big symbol
 * does not leave the other ranks idle at the end. Which rank trains a symbol
 * changes nothing in its results (every random stream derives from seed and
 * symbol, never from the rank), so the dynamic hand-out keeps runs bit-exact.
 *
 * Pure part (no MPI; compile with -DDL_SCHED_NO_MPI to leave the MPI part out):
 * the order, a simulation of the greedy hand-out, the lower bound, a report.
 * MPI part: SymbolQueue, a shared counter on rank 0 that every rank (rank 0
 * too) bumps with MPI_Fetch_and_op; and the node layout (local rank/size). */
#ifndef DL_SYMBOL_SCHED_H
#define DL_SYMBOL_SCHED_H

#include <stdint.h>
#include <stdio.h>

#ifndef DL_SCHED_NO_MPI
#include <mpi.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* order (n): symbol indices, largest windows first, ties by name (strcmp), then
 * by index; names may be NULL (ties by index). Deterministic. */
void sched_order(const int64_t *windows, const char *const *names, int n, int *order);

/* Greedy list scheduling: ranks start at time 0; the rank free earliest (lowest
 * rank on a tie) takes the next symbol of `order`.
 * cost (n): seconds per symbol, indexed by symbol; order (n): a permutation.
 * Outputs: *makespan = latest finish; owner (n, by symbol; may be NULL).
 * Returns 0, or -1 for bad arguments (n < 0, ranks < 1, order not a permutation). */
int sched_simulate(const double *cost, const int *order, int n, int ranks, double *makespan, int *owner);

/* The same with groups of ranks that train at different speeds: symbol s takes
 * cost[s] / speed[g] on group g (speed NULL: all 1). */
int sched_simulate_groups(const double *cost, const double *speed, const int *order, int n, int groups,
                          double *makespan, int *owner);

/* the speed of a data-parallel group of g ranks, one rank = 1, at efficiency eff per
 * doubling: g * eff^log2(g) */
double sched_group_speed(int g, double eff);

/* Data-parallel groups for `ranks` ranks (ranks_per_symbol 0): gsize (ranks entries
 * at most) gets the group sizes, biggest first, summing to ranks, each dividing K,
 * either all equal or in two tiers (m groups of gb ranks for the largest symbols, the
 * rest of gs < gb), whichever gives the shortest simulated makespan of the
 * largest-first hand-out (the first round dealt by group: the largest symbol to group
 * 0); ties keep the uniform plan with the smallest groups. Returns the number of
 * groups; *makespan (may be NULL) its simulated makespan in units of cost. */
int sched_plan_groups(const double *cost, const int *order, int n, int ranks, int K, double eff, int *gsize,
                      double *makespan);

/* the plan of sched_plan_groups in words: "2 group(s) of 4 + 8 group(s) of 1 rank(s)" */
void sched_plan_text(char *buf, size_t cap, const int *gsize, int ng);

/* max(max cost, sum cost * width / ranks): no schedule of whole symbols can beat it.
 * width (n): the ranks of the data-parallel group that trains each symbol, all busy
 * for its cost; NULL = 1 each. */
double sched_lower_bound(const double *cost, const int *width, int n, int ranks);

/* busy (ranks): summed seconds of the symbols each rank trained.
 * owner (n): rank per symbol (-1 = not trained, skipped); seconds (n). */
void sched_rank_busy(double *busy, const int *owner, const int *width, const double *seconds, int n, int ranks);

/* Prints the schedule (one line per symbol in hand-out order: rank, windows,
 * start, seconds) and each rank's busy/idle time against `wall` seconds.
 * names, windows, owner, start, seconds: (n), by symbol; order (n). */
void sched_print_report(FILE *f, const char *const *names, const int64_t *windows, const int *order,
                        const int *owner, const int *width, const double *start, const double *seconds, int n,
                        int ranks, double wall);

/* threads per rank: cores of the node shared by the ranks on it, at least 1 */
int sched_threads_per_rank(int cores_on_node, int ranks_on_node);

#ifndef DL_SCHED_NO_MPI
/* Dynamic queue over the indices 0..n-1 of an order. Collective create/free. */
typedef struct {
    MPI_Win win;      /* one int64 counter, in rank 0's window */
    int64_t *counter; /* rank 0: the counter's memory; NULL elsewhere */
    int64_t n;        /* number of items */
    /* static fallback where MPI has no one-sided support between the ranks (Open MPI 4.1
     * over TCP between nodes: no osc component, MPI_Win_allocate fails): rank r takes
     * r, r + size, r + 2 size, ... of the order */
    int is_static, rank, size;
    int64_t static_next;
    int started;      /* dynamic: the first round (rank r takes item r) is over */
} SymbolQueue;

/* collective over comm; n >= 0 (n = 0: every squeue_next returns -1) */
SymbolQueue squeue_create(MPI_Comm comm, int n);
/* next index into the order, or -1 when all are taken; any rank, any time. Each
 * rank's first call returns its rank (the first round is dealt, not raced for) */
int squeue_next(SymbolQueue *q);
/* how many indices have been handed out so far (may exceed n); any rank, any time */
int64_t squeue_taken(SymbolQueue *q);
/* collective; call when every rank has drawn its -1 */
void squeue_free(SymbolQueue *q);

/* local rank and ranks on this node (MPI_Comm_split_type SHARED): the GPU to
 * use is local_rank, the threads per rank cores / local_size */
void sched_node_layout(MPI_Comm comm, int *local_rank, int *local_size);
#endif

#ifdef __cplusplus
}
#endif
#endif
