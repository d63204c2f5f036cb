/* makespan.c: simulated makespan of the dynamic symbol schedule (issue 4).
 *
 * 50 symbols with realistic sizes: training windows log-normal (sigma 1,
 * fixed seed), rescaled so the largest symbol has 10x the windows of the
 * smallest (like 92 days of real symbol volumes); cost proportional to
 * windows. For each rank count it prints the makespan of the greedy dynamic
 * hand-out in largest-first order, the mean and worst of random orders, and
 * the lower bound max(max cost, sum / ranks), with the ratios to the bound.
 * Uses the same sched_order / sched_simulate as the trainer.
 *
 * Build and run from the repository root (no MPI needed):
 *   gcc -O2 -std=c11 -DDL_SCHED_NO_MPI -Isrc tests/bench/makespan.c \
 *       src/train/symbol_sched.c src/common/util.c -lm -o /tmp/makespan
 *   /tmp/makespan [--symbols 50] [--spread 10] [--seed 42] [--trials 1000] [--dp-eff E] [RANKS ...]
 *   (default ranks: 8 64)
 *
 * Data parallelism (ranks_per_symbol G, dp_shards): a second table trains every symbol
 * on a group of G ranks (R/G groups draw symbols largest first), a symbol's time being
 * its 1-rank time / (G * E^log2 G): E = the measured efficiency per doubling of the
 * group (bench --data-parallel; default 0.9). The makespan is in 1-rank units, so the
 * tables compare directly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "train/symbol_sched.h"

int main(int argc, char **argv) {
    int n = 50, trials = 1000, nranks = 0, ranks_list[32];
    double spread = 10.0, dp_eff = 0.9;
    uint64_t seed = 42;
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--symbols") && a + 1 < argc) n = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--spread") && a + 1 < argc) spread = atof(argv[++a]);
        else if (!strcmp(argv[a], "--seed") && a + 1 < argc) seed = strtoull(argv[++a], NULL, 10);
        else if (!strcmp(argv[a], "--trials") && a + 1 < argc) trials = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--dp-eff") && a + 1 < argc) dp_eff = atof(argv[++a]);
        else if (atoi(argv[a]) > 0 && nranks < 32) ranks_list[nranks++] = atoi(argv[a]);
        else { fprintf(stderr, "makespan: bad argument '%s' (see the comment at the top of makespan.c)\n", argv[a]); return 2; }
    }
    if (n < 2 || trials < 1 || spread < 1) { fprintf(stderr, "makespan: need --symbols >= 2, --trials >= 1, --spread >= 1\n"); return 2; }
    if (nranks == 0) { ranks_list[0] = 8; ranks_list[1] = 64; nranks = 2; }

    int64_t *w = malloc(sizeof *w * (size_t)n);
    double *cost = malloc(sizeof *cost * (size_t)n), *z = malloc(sizeof *z * (size_t)n);
    int *order = malloc(sizeof *order * (size_t)n), *rnd = malloc(sizeof *rnd * (size_t)n);
    double zmin = 1e300, zmax = -1e300, sum = 0;
    uint64_t key = dl_key(seed, 0x5ced);
    for (int i = 0; i < n; i++) {
        z[i] = dl_rand_normal(key, (uint64_t)i);
        if (z[i] < zmin) zmin = z[i];
        if (z[i] > zmax) zmax = z[i];
    }
    /* log-normal shape, exact max/min = spread; the smallest symbol has 500k windows */
    for (int i = 0; i < n; i++) {
        w[i] = (int64_t)llround(5e5 * exp((z[i] - zmin) / (zmax - zmin) * log(spread)));
        cost[i] = (double)w[i] / 1e6; /* unit: million windows trained */
        sum += cost[i];
    }
    sched_order(w, NULL, n, order);
    printf("makespan: %d symbols, windows %.2fM .. %.2fM (x%.1f), total %.1fM, seed %llu, %d random orders\n", n,
           cost[order[n - 1]], cost[order[0]], cost[order[0]] / cost[order[n - 1]], sum, (unsigned long long)seed, trials);
    printf("| ranks | largest first | random (mean) | random (worst) | lower bound | LF / bound | random mean / bound |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int k = 0; k < nranks; k++) {
        int ranks = ranks_list[k];
        double g, lb = sched_lower_bound(cost, NULL, n, ranks), rsum = 0, rmax = 0;
        sched_simulate(cost, order, n, ranks, &g, NULL);
        for (int t = 0; t < trials; t++) {
            uint64_t tk = dl_key(dl_key(seed, 0x0d3e), (uint64_t)t);
            for (int i = 0; i < n; i++) rnd[i] = i;
            for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
                int j = (int)(dl_rand_u64(tk, (uint64_t)i) % (uint64_t)(i + 1));
                int tmp = rnd[i]; rnd[i] = rnd[j]; rnd[j] = tmp;
            }
            double r;
            sched_simulate(cost, rnd, n, ranks, &r, NULL);
            rsum += r;
            if (r > rmax) rmax = r;
        }
        printf("| %d | %.2f | %.2f | %.2f | %.2f | %.3f | %.3f |\n", ranks, g, rsum / trials, rmax, lb, g / lb,
               rsum / trials / lb);
    }
    printf("(makespans in million windows trained by the busiest rank; bound = max(largest symbol, total / ranks))\n");

    /* data-parallel groups of G ranks per symbol */
    printf("\ndata-parallel groups (ranks_per_symbol G), efficiency %.2f per doubling of G:\n", dp_eff);
    printf("| ranks | G | groups | makespan | vs G = 1 | bound for G |\n|---:|---:|---:|---:|---:|---:|\n");
    double *cg = malloc(sizeof *cg * (size_t)n), *best_eq = malloc(sizeof *best_eq * (size_t)nranks);
    for (int k = 0; k < nranks; k++) {
        const int ranks = ranks_list[k];
        double m1 = 0;
        best_eq[k] = INFINITY;
        for (int G = 1; G <= ranks && G <= 64; G *= 2) {
            if (ranks % G) continue;
            const double speed = sched_group_speed(G, dp_eff);
            for (int i = 0; i < n; i++) cg[i] = cost[i] / speed;
            double mk;
            sched_simulate(cg, order, n, ranks / G, &mk, NULL);
            if (G == 1) m1 = mk;
            if (mk < best_eq[k]) best_eq[k] = mk;
            printf("| %d | %d | %d | %.2f | %.2fx | %.2f |\n", ranks, G, ranks / G, mk, m1 / mk,
                   sched_lower_bound(cg, NULL, n, ranks / G));
        }
    }
    free(cg);

    /* what ranks_per_symbol 0 chooses (sched_plan_groups, the trainer's planner): equal
     * groups or two tiers (big groups for the largest symbols), for K = 64 shards */
    printf("\nranks_per_symbol 0 (auto) for dp_shards 64, efficiency %.2f per doubling:\n", dp_eff);
    printf("| ranks | plan | makespan | vs G = 1 | best equal groups | bound (all ranks busy) |\n"
           "|---:|---|---:|---:|---:|---:|\n");
    int *gs = malloc(sizeof *gs * 4096);
    for (int k = 0; k < nranks; k++) {
        const int ranks = ranks_list[k];
        double m1, mk;
        sched_simulate(cost, order, n, ranks, &m1, NULL);
        const int ng = sched_plan_groups(cost, order, n, ranks, 64, dp_eff, gs, &mk);
        char plan[256];
        sched_plan_text(plan, sizeof plan, gs, ng);
        /* no plan beats all ranks busy to the end (total / ranks), nor the largest symbol
         * alone on the biggest group allowed (min(ranks, 64) ranks) */
        const double lb = fmax(sum / ranks, cost[order[0]] / sched_group_speed(ranks < 64 ? ranks : 64, dp_eff));
        printf("| %d | %s | %.2f | %.2fx | %.2f | %.2f |\n", ranks, plan, mk, m1 / mk, best_eq[k], lb);
    }
    free(gs);
    free(best_eq);
    free(w); free(cost); free(z); free(order); free(rnd);
    return 0;
}
