/* test_symbol_sched.c: largest-first order, greedy simulation, lower bound,
 * report, and the MPI dynamic queue.
 * Alone (ctest): pure checks + the queue on one rank.
 * Under mpirun (tests/sh/test_squeue_mpi.sh): the queue across ranks; rank 0
 * gathers every rank's draws and checks each index was handed out exactly once. */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "train/symbol_sched.h"

static void test_order(void) {
    const int64_t w[5] = {5, 9, 9, 1, 9};
    const char *names[5] = {"E", "C", "A", "Z", "B"};
    int o[5], want[5] = {2, 4, 1, 0, 3}, want_noname[5] = {1, 2, 4, 0, 3};
    sched_order(w, names, 5, o);
    CHECK(!memcmp(o, want, sizeof o), "order by windows then name: got %d %d %d %d %d", o[0], o[1], o[2], o[3], o[4]);
    sched_order(w, NULL, 5, o);
    CHECK(!memcmp(o, want_noname, sizeof o), "order without names (ties by index): got %d %d %d %d %d", o[0], o[1],
          o[2], o[3], o[4]);
    printf("order: largest windows first, ties by name / index: checked\n");
}

static void test_simulate_exact(void) {
    /* 2 ranks, already largest first: r0 4, r1 3, r1 3 (t6), r0 2 (t6), tie -> r0 2 (t8), r1 2 (t8) */
    const double c1[6] = {4, 3, 3, 2, 2, 2};
    int o1[6] = {0, 1, 2, 3, 4, 5}, own[6], want_own[6] = {0, 1, 1, 0, 0, 1};
    double m = -1;
    CHECK(sched_simulate(c1, o1, 6, 2, &m, own) == 0, "simulate returned an error");
    CHECK(m == 8.0, "makespan %g, 8 expected", m);
    CHECK(!memcmp(own, want_own, sizeof own), "owners %d %d %d %d %d %d", own[0], own[1], own[2], own[3], own[4],
          own[5]);
    CHECK(sched_lower_bound(c1, NULL, 6, 2) == 8.0, "lower bound %g, 8 expected", sched_lower_bound(c1, NULL, 6, 2));

    /* Graham's example: largest first gives 7 where 6 is possible (3+3 | 2+2+2) */
    const double c2[5] = {2, 3, 2, 3, 2};
    int o2[5];
    const int64_t w2[5] = {2, 3, 2, 3, 2};
    sched_order(w2, NULL, 5, o2);
    CHECK(sched_simulate(c2, o2, 5, 2, &m, NULL) == 0 && m == 7.0, "LPT on {3,3,2,2,2}: makespan %g, 7 expected", m);
    CHECK(sched_lower_bound(c2, NULL, 5, 2) == 6.0, "lower bound %g, 6 expected", sched_lower_bound(c2, NULL, 5, 2));

    /* more ranks than symbols: the biggest symbol decides; extra ranks idle */
    const double c3[2] = {1, 2};
    int o3[2] = {1, 0}, own3[2];
    CHECK(sched_simulate(c3, o3, 2, 5, &m, own3) == 0 && m == 2.0 && own3[1] == 0 && own3[0] == 1,
          "5 ranks, 2 symbols: makespan %g owners %d %d", m, own3[0], own3[1]);
    CHECK(sched_lower_bound(c3, NULL, 2, 5) == 2.0, "lower bound with ranks > symbols");
    /* data-parallel groups keep all their ranks busy: two symbols of 3 s on groups of 2
     * over 2 ranks cannot finish before 6 s */
    const double c4[2] = {3, 3};
    const int w4[2] = {2, 2};
    CHECK(sched_lower_bound(c4, w4, 2, 2) == 6.0, "lower bound with groups %g, 6 expected",
          sched_lower_bound(c4, w4, 2, 2));

    /* no symbols; bad arguments */
    CHECK(sched_simulate(c3, o3, 0, 3, &m, NULL) == 0 && m == 0.0, "empty schedule makespan %g", m);
    int dup[2] = {0, 0}, out_of_range[2] = {0, 2};
    CHECK(sched_simulate(c3, dup, 2, 2, &m, NULL) == -1, "a repeated index was accepted");
    CHECK(sched_simulate(c3, out_of_range, 2, 2, &m, NULL) == -1, "an out-of-range index was accepted");
    CHECK(sched_simulate(c3, o3, 2, 0, &m, NULL) == -1, "0 ranks accepted");
    printf("simulate: hand-worked schedules, ranks > symbols, bad arguments: checked\n");
}

/* random instances: LB <= makespan <= sum/m + max(1 - 1/m) (any list schedule);
 * busy per owner adds up; every symbol has exactly one owner */
static void test_simulate_random(void) {
    enum { NMAX = 40 };
    double cost[NMAX], busy[64];
    int64_t w[NMAX];
    int order[NMAX], owner[NMAX];
    int bad_bound = 0, bad_busy = 0;
    for (int t = 0; t < 300; t++) {
        uint64_t key = dl_key(1234, (uint64_t)t);
        int n = 1 + (int)(dl_rand_u64(key, 0) % NMAX), ranks = 1 + (int)(dl_rand_u64(key, 1) % 20);
        double sum = 0, mx = 0;
        for (int i = 0; i < n; i++) {
            w[i] = 1 + (int64_t)(dl_rand_u64(key, 2 + (uint64_t)i) % 1000);
            cost[i] = (double)w[i];
            sum += cost[i];
            if (cost[i] > mx) mx = cost[i];
        }
        sched_order(w, NULL, n, order);
        double m;
        if (sched_simulate(cost, order, n, ranks, &m, owner) != 0) { bad_bound++; continue; }
        double lb = sched_lower_bound(cost, NULL, n, ranks), ub = sum / ranks + mx * (1.0 - 1.0 / ranks);
        if (m < lb - 1e-9 || m > ub + 1e-9) bad_bound++;
        sched_rank_busy(busy, owner, NULL, cost, n, ranks);
        double mb = 0, tb = 0;
        for (int r = 0; r < ranks; r++) { tb += busy[r]; if (busy[r] > mb) mb = busy[r]; }
        if (mb != m || tb != sum) bad_busy++;
    }
    CHECK(bad_bound == 0, "%d of 300 random instances outside [lower bound, list-scheduling bound]", bad_bound);
    CHECK(bad_busy == 0, "%d of 300 random instances: busy time per owner does not add up", bad_busy);
    printf("simulate: 300 random instances within [lower bound, sum/m + max(1-1/m)]: checked\n");
}

/* 50 symbols, log-normal windows with a 10x spread (as in tests/bench/makespan.c):
 * largest first beats the mean of random orders and stays near the bound (a
 * regression check on this fixed instance: random orders can win now and then) */
static void test_realistic(void) {
    enum { N = 50 };
    int64_t w[N];
    double cost[N], z[N], zmin = 1e300, zmax = -1e300;
    for (int i = 0; i < N; i++) {
        z[i] = dl_rand_normal(dl_key(2024, 50), (uint64_t)i);
        if (z[i] < zmin) zmin = z[i];
        if (z[i] > zmax) zmax = z[i];
    }
    for (int i = 0; i < N; i++) {
        w[i] = (int64_t)(400000.0 * exp((z[i] - zmin) / (zmax - zmin) * log(10.0)));
        cost[i] = (double)w[i] / 1000.0;
    }
    int order[N], rnd[N];
    sched_order(w, NULL, N, order);
    const int ranks_list[2] = {8, 64};
    for (int k = 0; k < 2; k++) {
        int ranks = ranks_list[k];
        double g, lb = sched_lower_bound(cost, NULL, N, ranks), rsum = 0;
        sched_simulate(cost, order, N, ranks, &g, NULL);
        for (int t = 0; t < 20; t++) { /* Fisher-Yates with a fixed key */
            for (int i = 0; i < N; i++) rnd[i] = i;
            for (int i = N - 1; i > 0; i--) {
                int j = (int)(dl_rand_u64(dl_key(77, (uint64_t)t), (uint64_t)i) % (uint64_t)(i + 1));
                int tmp = rnd[i]; rnd[i] = rnd[j]; rnd[j] = tmp;
            }
            double r;
            sched_simulate(cost, rnd, N, ranks, &r, NULL);
            rsum += r;
        }
        printf("realistic 50 symbols on %d ranks: largest-first %.1f, random-order mean %.1f, lower bound %.1f,"
               " ratio %.3f\n", ranks, g, rsum / 20, lb, g / lb);
        CHECK(g >= lb - 1e-9, "makespan below the lower bound");
        CHECK(g <= rsum / 20, "largest first %.1f worse than the random-order mean %.1f on %d ranks", g, rsum / 20, ranks);
        CHECK(g / lb <= 4.0 / 3.0, "largest first %.3f x the lower bound on %d ranks", g / lb, ranks);
    }
}

static void test_report_and_threads(void) {
    const char *names[3] = {"AAA", "BBB", "CCC"};
    const int64_t w[3] = {10, 30, 20};
    int order[3] = {1, 2, 0}, owner[3] = {1, 0, -1};
    double start[3] = {0, 0, 0}, sec[3] = {2.5, 4.0, 0};
    char buf[4096] = {0};
    FILE *f = tmpfile();
    CHECK(f != NULL, "tmpfile");
    if (f) {
        sched_print_report(f, names, w, order, owner, NULL, start, sec, 3, 2, 4.0);
        rewind(f);
        size_t nr = fread(buf, 1, sizeof buf - 1, f);
        buf[nr] = 0;
        fclose(f);
    }
    CHECK(strstr(buf, "BBB") && strstr(buf, "skipped"), "report lists symbols and the skipped one:\n%s", buf);
    CHECK(strstr(buf, "2.50       1.50") != NULL, "rank 1: busy 2.50 idle 1.50 expected:\n%s", buf);
    CHECK(strstr(buf, "(81.2 %)") != NULL, "total busy 6.5 of 8 rank-seconds expected:\n%s", buf);
    CHECK(sched_threads_per_rank(16, 4) == 4 && sched_threads_per_rank(2, 3) == 1 && sched_threads_per_rank(8, 0) == 8,
          "threads per rank");
    printf("report and threads per rank: checked\n");
}

/* Every rank draws until -1; rank 0 checks each index 0..n-1 came out exactly once. */
/* the data-parallel group plan (ranks_per_symbol 0) */
static void test_plan_groups(void) {
    int gs[64], o[8];
    double mk;
    /* one symbol 10x the others, 3 ranks, K = 2: the big one on a group of 2, the small
     * ones one rank each (10/1.7 = 5.9 < 10 of one rank per symbol; 3 equal groups: 10) */
    const double c1[3] = {10, 1, 1};
    int o1[3] = {0, 1, 2};
    int ng = sched_plan_groups(c1, o1, 3, 3, 2, 0.85, gs, &mk);
    CHECK(ng == 2 && gs[0] == 2 && gs[1] == 1, "plan for {10,1,1} on 3 ranks: %d groups (%d, %d)", ng, gs[0], gs[1]);
    CHECK(fabs(mk - 10 / sched_group_speed(2, 0.85)) < 1e-9, "plan makespan %g", mk);
    /* equal symbols, as many as ranks: one rank each (groups only add communication) */
    const double c2[4] = {3, 3, 3, 3};
    int o2[4] = {0, 1, 2, 3};
    ng = sched_plan_groups(c2, o2, 4, 4, 8, 0.85, gs, &mk);
    CHECK(ng == 4 && gs[0] == 1 && mk == 3.0, "plan for 4 equal symbols on 4 ranks: %d groups of %d", ng, gs[0]);
    /* K = 1: groups are impossible whatever the sizes */
    ng = sched_plan_groups(c1, o1, 3, 3, 1, 0.85, gs, &mk);
    CHECK(ng == 3 && gs[0] == 1 && gs[2] == 1, "K = 1: %d groups", ng);
    /* a single symbol on 8 ranks, K = 8: everything on it */
    const double c3[1] = {5};
    int o3[1] = {0};
    ng = sched_plan_groups(c3, o3, 1, 8, 8, 0.85, gs, &mk);
    CHECK(ng == 1 && gs[0] == 8, "one symbol on 8 ranks: %d groups, first %d", ng, gs[0]);
    /* random instances: sizes sum to the ranks, divide K, biggest first, and the plan is
     * never worse than one rank per symbol nor than any plan of equal groups */
    for (int t = 0; t < 200; t++) {
        const int n = 1 + t % 8, ranks = 1 + (t * 7) % 16, K = (t % 3 == 0) ? 16 : (t % 3 == 1 ? 12 : 6);
        double c[8], sp[64], e;
        for (int i = 0; i < n; i++) c[i] = 1 + (double)((t * 31 + i * 17) % 23);
        int64_t w[8];
        for (int i = 0; i < n; i++) w[i] = (int64_t)(c[i] * 1000);
        sched_order(w, NULL, n, o);
        ng = sched_plan_groups(c, o, n, ranks, K, 0.85, gs, &mk);
        int sum = 0;
        for (int k = 0; k < ng; k++) {
            CHECK(gs[k] >= 1 && K % gs[k] == 0 && (k == 0 || gs[k] <= gs[k - 1]), "instance %d: group %d of %d ranks", t,
                  k, gs[k]);
            sum += gs[k];
        }
        CHECK(sum == ranks, "instance %d: groups cover %d of %d ranks", t, sum, ranks);
        for (int g = 1; g <= ranks; g++) {
            if (ranks % g || K % g) continue;
            for (int k = 0; k < ranks / g; k++) sp[k] = sched_group_speed(g, 0.85);
            sched_simulate_groups(c, sp, o, n, ranks / g, &e, NULL);
            CHECK(mk <= e * (1 + 1e-12), "instance %d: plan %g worse than equal groups of %d (%g)", t, mk, g, e);
        }
    }
    printf("group plan: big groups for big symbols, never worse than equal groups: checked\n");
}

static void test_queue(MPI_Comm comm, int n) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    SymbolQueue q = squeue_create(comm, n);
    int *mine = malloc(sizeof(int) * (size_t)(n + 1)), cnt = 0, i;
    volatile double sink = 0;
    while ((i = squeue_next(&q)) >= 0) {
        if (cnt <= n) mine[cnt] = i;
        cnt++;
        for (int k = 0; k < 20000 * (rank + 1); k++) sink += k; /* ranks draw at different rates */
    }
    /* the first round is dealt by rank: the largest symbol to rank 0 (the biggest group) */
    CHECK(rank >= n || (cnt > 0 && mine[0] == rank), "rank %d's first draw %d, its rank expected", rank, cnt ? mine[0] : -1);
    int again = squeue_next(&q); /* an exhausted queue stays exhausted */
    squeue_free(&q);
    int *counts = rank == 0 ? malloc(sizeof(int) * (size_t)size) : NULL;
    MPI_Gather(&cnt, 1, MPI_INT, counts, 1, MPI_INT, 0, comm);
    int *displs = NULL, *all = NULL, total = 0;
    if (rank == 0) {
        displs = malloc(sizeof(int) * (size_t)size);
        for (int r = 0; r < size; r++) { displs[r] = total; total += counts[r]; }
        all = malloc(sizeof(int) * (size_t)(total + 1));
    }
    int send = cnt <= n ? cnt : n + 1;
    MPI_Gatherv(mine, send, MPI_INT, all, counts, displs, MPI_INT, 0, comm);
    int bad_again = again != -1, any_bad_again = 0;
    MPI_Reduce(&bad_again, &any_bad_again, 1, MPI_INT, MPI_MAX, 0, comm);
    if (rank == 0) {
        int *seen = calloc((size_t)(n + 1), sizeof(int)), dup = 0, missing = 0;
        for (int k = 0; k < total; k++) {
            if (all[k] < 0 || all[k] >= n || seen[all[k]]++) dup++;
        }
        for (int k = 0; k < n; k++) missing += seen[k] == 0;
        printf("queue n=%d on %d rank(s): per-rank draws", n, size);
        for (int r = 0; r < size; r++) printf(" %d", counts[r]);
        printf("; %d handed out, %d duplicate/invalid, %d missing\n", total, dup, missing);
        CHECK(total == n && dup == 0 && missing == 0, "queue n=%d: every index exactly once", n);
        CHECK(!any_bad_again, "a drained queue handed out another index");
        free(seen);
        free(displs);
        free(all);
        free(counts);
    }
    free(mine);
    (void)sink;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank == 0) {
        test_order();
        test_simulate_exact();
        test_simulate_random();
        test_realistic();
        test_report_and_threads();
    test_plan_groups();
    }
    /* queue sizes: more items than ranks, fewer than ranks, none */
    test_queue(MPI_COMM_WORLD, 4 * size + 3);
    test_queue(MPI_COMM_WORLD, size > 1 ? size - 1 : 1);
    test_queue(MPI_COMM_WORLD, 0);

    int lr = -1, ls = -1;
    sched_node_layout(MPI_COMM_WORLD, &lr, &ls);
    int bad = lr != rank || ls != size, any = 0; /* all ranks on this one node */
    MPI_Reduce(&bad, &any, 1, MPI_INT, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0) CHECK(!any, "node layout: local rank/size differ from world on one node");

    int fails = rank == 0 ? gc_failures : 0;
    MPI_Bcast(&fails, 1, MPI_INT, 0, MPI_COMM_WORLD);
    int rc = 0;
    if (rank == 0) rc = gc_summary(size > 1 ? "test_symbol_sched (mpi)" : "test_symbol_sched");
    MPI_Finalize();
    return fails ? 1 : rc;
}
