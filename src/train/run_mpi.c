/* run_mpi.c: symbols over MPI ranks (see run_mpi.h).
 *
 * Dataset reads: each rank opens the dataset on its own (H5P_DEFAULT, the sec2
 * driver) for each symbol it draws. An MPI-IO fapl makes H5Fopen collective over
 * its communicator, which the dynamic queue cannot honour (ranks read different
 * symbols at different times); an MPI-IO fapl on MPI_COMM_SELF would be legal but
 * adds nothing for one whole contiguous dataset read per symbol. Reads are
 * read-only opens, so any number of ranks may hold the file at once. */
#include "train/run_mpi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/progress.h"
#include "engine/backend.h"
#include "io/h5util.h"
#include "io/lobds.h"
#include "report/report.h"
#include "train/dp.h"
#include "train/results.h"
#include "train/symbol_sched.h"
#include "train/trainer.h"

typedef char SymName[64];

/* one finished symbol as sent to rank 0 (bytes: one build on every rank). Only the
 * scalar fields mean anything there; pointers are cleared where known and are never
 * dereferenced or freed on rank 0 (the table and summary.csv read scalars only). */
typedef struct {
    int idx, rank, width;   /* width: ranks of the group that trained it (first: rank) */
    double start, seconds;   /* since the common start, by the owner's clock */
    SymbolResult r;
} DoneRec;

int run_threads_per_rank(const TrainConfig *cfg, int ranks_on_node, char *why, size_t n) {
    const char *env = getenv("OMP_NUM_THREADS");
    int t = env ? atoi(env) : 0;
    if (t > 0) { snprintf(why, n, "OMP_NUM_THREADS"); return t; }
    if (cfg->threads > 0) { snprintf(why, n, "config key 'threads'"); return cfg->threads; }
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(why, n, "%d cores / %d rank(s) on this node", cores, ranks_on_node);
    return sched_threads_per_rank(cores, ranks_on_node);
}

/* symbols to train, validated against the dataset (rank 0) */
static int resolve_symbols(const TrainConfig *cfg, char ***names, int *n, DlErr *e) {
    char **all = NULL;
    int na = 0;
    if (lobds_list(cfg->dataset, &all, &na, e)) return -1;
    if (cfg->all_symbols) { *names = all; *n = na; return 0; }
    char **sel = dl_calloc((size_t)cfg->n_symbols + 1, sizeof(char *));
    for (int i = 0; i < cfg->n_symbols; i++) {
        int found = 0;
        for (int j = 0; j < na; j++) found |= !strcmp(all[j], cfg->symbols[i]);
        if (!found) {
            lobds_free_names(all, na);
            lobds_free_names(sel, i);
            return dl_err(e, "config: key 'symbols': '%s' is not in %s", cfg->symbols[i], cfg->dataset);
        }
        sel[i] = strdup(cfg->symbols[i]);
    }
    lobds_free_names(all, na);
    *names = sel;
    *n = cfg->n_symbols;
    return 0;
}

/* rank 0: symbols, their sizes (shapes and horizon checked), run directory, config.json */
static int plan_rank0(const TrainConfig *cfg, const RunOptions *o, SymName **names, int64_t **n_rows, int *n, DlErr *e) {
    char **syms = NULL;
    int ns = 0;
    if (resolve_symbols(cfg, &syms, &ns, e)) return -1;
    if (ns == 0) { lobds_free_names(syms, ns); return dl_err(e, "%s: no symbols to train", cfg->dataset); }
    *names = dl_calloc((size_t)ns, sizeof(SymName));
    *n_rows = dl_calloc((size_t)ns, sizeof(int64_t));
    *n = ns;
    int rc = 0;
    for (int i = 0; i < ns && !rc; i++) {
        LobSymbol s;
        snprintf((*names)[i], sizeof(SymName), "%s", syms[i]);
        if (lobds_read_symbol_meta(cfg->dataset, H5P_DEFAULT, syms[i], &s, e)) { rc = -1; break; }
        /* the horizons the model is trained on: deeplob_hier has a second head */
        const int two = !strcmp(cfg->model, "deeplob_hier");
        int hk = -1, hk2 = -1;
        for (int k = 0; k < s.n_horizons; k++) {
            if (s.horizons[k] == cfg->horizon) hk = k;
            if (s.horizons[k] == cfg->horizon2) hk2 = k;
        }
        (*n_rows)[i] = s.n_rows;
        lobds_symbol_free(&s);
        if (hk < 0) rc = dl_err(e, "%s: /symbols/%s has no target for horizon %d s (config key 'horizon')",
                                cfg->dataset, syms[i], cfg->horizon);
        else if (two && hk2 < 0)
            rc = dl_err(e, "%s: /symbols/%s has no target for horizon %d s (config key 'horizon2')",
                        cfg->dataset, syms[i], cfg->horizon2);
    }
    lobds_free_names(syms, ns);
    if (rc) return -1;
    if (results_prepare_run_dir(o->run_dir, o->resume, o->force, e)) return -1;
    char path[4400];
    char *cj = config_to_json(cfg);
    snprintf(path, sizeof path, "%s/config.json", o->run_dir);
    rc = dl_write_file_atomic(path, cj, strlen(cj), e);
    free(cj);
    return rc;
}

/* manifest facts every rank must agree on (attributes are written collectively) */
static void run_info(RunInfo *ri, MPI_Comm comm) {
    int rank, size, len = 0;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    char me[MPI_MAX_PROCESSOR_NAME] = {0};
    MPI_Get_processor_name(me, &len);
    char *all = rank == 0 ? dl_calloc((size_t)size, MPI_MAX_PROCESSOR_NAME) : NULL;
    MPI_Gather(me, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, comm);
    memset(ri, 0, sizeof *ri);
    if (rank == 0) {
        results_utc_now(ri->start_time);
        ri->ranks = size;
        size_t used = 0;
        for (int r = 0; r < size; r++) {
            const char *h = all + (size_t)r * MPI_MAX_PROCESSOR_NAME;
            int seen = 0;
            for (int q = 0; q < r && !seen; q++) seen = !strcmp(h, all + (size_t)q * MPI_MAX_PROCESSOR_NAME);
            if (!seen && used + strlen(h) + 2 < sizeof ri->hosts)
                used += (size_t)snprintf(ri->hosts + used, sizeof ri->hosts - used, "%s%s", used ? "," : "", h);
        }
        char lib[MPI_MAX_LIBRARY_VERSION_STRING];
        MPI_Get_library_version(lib, &len);
        lib[strcspn(lib, "\n,")] = '\0';
        snprintf(ri->mpi_version, sizeof ri->mpi_version, "%s", lib);
        free(all);
    }
    MPI_Bcast(ri, sizeof *ri, MPI_BYTE, 0, comm);
}

/* training windows by the split rule: the cost proxy for largest-first ordering */
static int64_t train_windows(int64_t n_rows, const TrainConfig *cfg) {
    int64_t w = (n_rows * 3) / 5 - (cfg->seq_len - 1);
    if (w < 0) w = 0;
    if (cfg->max_train_samples > 0 && w > cfg->max_train_samples) w = cfg->max_train_samples;
    return w;
}

static void lite_copy(DoneRec *d, const SymbolResult *r) {
    d->r = *r;
    d->r.test_time = NULL;
    d->r.test_pred = d->r.test_target_raw = d->r.test_target_smooth = NULL;
    d->r.test_pred2 = d->r.test_target_raw2 = d->r.test_target_smooth2 = NULL;
    d->r.history = NULL;
    d->r.best_params = d->r.best_buffers = NULL;
    d->r.best_counters = NULL;
}

/* what rank 0 knows of the whole run, for its in-epoch lines */
typedef struct {
    SymbolQueue *q;
    const int64_t *windows;   /* (n) by symbol */
    const int *order;         /* (n) hand-out order */
    int n, epochs;
    double groups; /* the run's speed in units of rank 0's group's (sum of group speeds / group 0's) */
    double t0;
} RunStatus;

/* The run's progress as rank 0 can estimate it without asking anyone: work =
 * training windows x epochs; done ~ elapsed x ranks x rank 0's rate, capped by the
 * work handed out so far (the shared queue's counter). Early stopping ends sooner,
 * so the ETA is an upper bound. */
static void run_status(void *ctx, double rate, char *buf, size_t n) {
    const RunStatus *s = ctx;
    int64_t taken = squeue_taken(s->q);
    double total = 0, handed = 0;
    for (int j = 0; j < s->n; j++) {
        const double w = (double)s->windows[s->order[j]] * s->epochs;
        total += w;
        if (j < taken) handed += w;
    }
    double done = (MPI_Wtime() - s->t0) * s->groups * rate;
    if (done > handed) done = handed;
    char eta[32];
    progress_fmt_eta(eta, sizeof eta, rate > 0 ? (total - done) / (s->groups * rate) : NAN);
    snprintf(buf, n, " | run ~%.0f%% (%lld/%d symbols started), ETA <=%s", total > 0 ? 100.0 * done / total : 0.0,
             (long long)(taken < s->n ? taken : s->n), s->n, eta);
}

/* train what the queue hands this rank (or its group: the group's rank 0 draws for
 * it, every member trains, the group's rank 0 writes); *err / *stopped say why it
 * left early. dp: the rank's data-parallel group, NULL when it trains alone; lcomm:
 * the groups' rank 0s (the queue's ranks; MPI_COMM_NULL on the other members);
 * groups: the run's speed in units of this group's (for rank 0's ETA) */
static void work_loop(DoneRec *done, int *n_done, int *err, int *stopped, ResultsFile *rf, const TrainConfig *cfg,
                      const RunOptions *o, SymName *names, const int64_t *windows, const int *order, int n, double t0,
                      MPI_Comm comm, MPI_Comm lcomm, double groups, DpGroup *dp, DlErr *e) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const int G = dp ? dp->size : 1, leader = !dp || dp->rank == 0;
    SymbolQueue q = {0};
    if (leader) q = squeue_create(lcomm, n);
    RunStatus rs = {&q, windows, order, n, cfg->epochs, groups, t0};
    char path[4400], tag[32] = "";
    if (size > 1) snprintf(tag, sizeof tag, "[rank %d] ", rank);
    /* the in-epoch bar only for a person at a terminal: mpirun gives ranks a pty even into a file */
    const int bar = size == 1 && isatty(fileno(stdout)) && !getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK");
    int j;
    for (;;) {
        j = leader && !*err && !*stopped ? squeue_next(&q) : -1;
        if (dp && G > 1) MPI_Bcast(&j, 1, MPI_INT, 0, dp->comm);
        if (j < 0) break;
        const int i = order[j];
        const double ts = MPI_Wtime() - t0;
        LobSymbol s;
        int bad = lobds_read_symbol(cfg->dataset, H5P_DEFAULT, names[i], &s, e) != 0;
        if (dp_any(dp, bad)) {
            if (!bad) dl_err(e, "%s: another rank of this data-parallel group could not read it", names[i]);
            else lobds_symbol_free(&s);
            *err = 1;
            break;
        }
        snprintf(path, sizeof path, "%s/checkpoints/%s.h5", o->run_dir, names[i]);
        TrainIO io = {cfg->checkpoint ? path : NULL, o->resume, leader ? stdout : NULL, bar, o->stop_after_epoch,
                      cfg->progress_interval, tag, rank == 0 && size > 1 ? run_status : NULL, &rs,
                      o->inject_symbol, o->inject_epoch, o->inject_step, dp};
        if (leader) {
            char grp[48] = "";
            if (G > 1) snprintf(grp, sizeof grp, " (ranks %d-%d, data-parallel)", rank, rank + G - 1);
            if (size > 1) printf("[rank %d] [%d/%d] %s: %lld rows%s\n", rank, j + 1, n, names[i], (long long)s.n_rows, grp);
            else printf("[%d/%d] %s: %lld rows\n", j + 1, n, names[i], (long long)s.n_rows);
            fflush(stdout);
        }
        SymbolResult r;
        memset(&r, 0, sizeof r);
        int t = train_symbol(&r, cfg, &s, &io, e);
        lobds_symbol_free(&s);
        if (t == -2) { symbol_result_free(&r); *stopped = 1; break; }
        if (t) { *err = 1; break; }
        int wbad = leader && results_par_write_symbol(rf, i, &r, cfg, e);
        if (dp_any(dp, wbad)) {
            if (!wbad) dl_err(e, "%s: the results write failed on this group's rank 0", names[i]);
            symbol_result_free(&r);
            *err = 1;
            break;
        }
        if (!leader) { symbol_result_free(&r); continue; }
        DoneRec *d = &done[(*n_done)++];
        d->idx = i;
        d->rank = rank;
        d->width = G;
        d->start = ts;
        d->seconds = MPI_Wtime() - t0 - ts;
        lite_copy(d, &r);
        if (r.status != SYM_OK)
            printf("  %s: %s\n", r.symbol, r.status_msg);   /* "diverged at ..." / "skipped: ..." */
        else
            printf("  %s: test corr %.4f (oracle %.4f), MAE %.4f bps, RMSE %.4f bps, R2 %.4f, best epoch %d/%d, %.1f s\n",
                   r.symbol, r.test_raw.corr, r.oracle_corr, r.test_raw.mae, r.test_raw.rmse, r.test_raw.r2,
                   r.best_epoch, r.epochs_run, r.wall_s);
        fflush(stdout);
        symbol_result_free(&r);
    }
    if (leader) squeue_free(&q);
}

/* the universal model (config key universal): every rank reads every symbol and the
 * whole run is one data-parallel group; rank 0 writes every symbol's results */
static void universal_loop(DoneRec *done, int *n_done, int *err, int *stopped, ResultsFile *rf, const TrainConfig *cfg,
                           const RunOptions *o, SymName *names, int n, double t0, MPI_Comm comm, DlErr *e) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    DpGroup g = {comm, rank, size, cfg->dp_shards, NULL};
    LobSymbol *syms = dl_calloc((size_t)n, sizeof(LobSymbol));
    int *held = dl_calloc((size_t)n, sizeof(int)), bad = 0, nread = 0;
    for (int i = 0; i < n && !bad; i++, nread++) bad = lobds_read_symbol(cfg->dataset, H5P_DEFAULT, names[i], &syms[i], e) != 0;
    if (bad) nread--;
    char list[sizeof cfg->holdout_symbols], *save = NULL;
    snprintf(list, sizeof list, "%s", cfg->holdout_symbols);
    for (char *t = strtok_r(list, ",", &save); t && !bad; t = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int i = 0; i < n; i++)
            if (!strcmp(names[i], t)) held[i] = found = 1;
        if (!found) bad = dl_err(e, "config: key 'holdout_symbols': '%s' is not among the run's symbols", t) != 0;
    }
    char how[320] = "";
    if (dp_any(&g, bad)) {
        if (!bad) dl_err(e, "universal model: another rank could not read the dataset");
        *err = 1;
    } else if (dp_group_open(&g, trainer_backend(), how, sizeof how, e) != 0) {
        *err = 1;   /* agreed by every rank (the group is the run) */
    } else {
        if (rank == 0 && trainer_backend()->on_device) printf("  data-parallel gathers: %s\n", how);
        char path[4400];
        snprintf(path, sizeof path, "%s/checkpoints/universal.h5", o->run_dir);
        int nu = 0, nh = 0;
        for (int i = 0; i < n; i++) { nu += !held[i]; nh += held[i]; }
        if (rank == 0) {
            printf("universal model: one model over %d symbol(s) (%d held out), %d rank(s) data-parallel\n", nu, nh, size);
            fflush(stdout);
        }
        TrainIO io = {cfg->checkpoint ? path : NULL, o->resume, rank == 0 ? stdout : NULL, 0, o->stop_after_epoch,
                      cfg->progress_interval, "", NULL, NULL, o->inject_symbol, o->inject_epoch, o->inject_step,
                      cfg->dp_shards > 1 || size > 1 ? &g : NULL};
        SymbolResult *rs = dl_calloc((size_t)n, sizeof(SymbolResult));
        const double ts = MPI_Wtime() - t0;
        int t = train_universal(rs, cfg, syms, held, n, &io, e);
        if (t == -2) *stopped = 1;
        else if (t) *err = 1;
        for (int i = 0; i < n && !t; i++) {
            int wbad = rank == 0 && results_par_write_symbol(rf, i, &rs[i], cfg, e);
            if (wbad) { *err = 1; break; }
            if (rank != 0) continue;
            DoneRec *d = &done[(*n_done)++];
            d->idx = i;
            d->rank = 0;
            d->width = size;   /* every rank trained the one model */
            d->start = ts;
            d->seconds = (MPI_Wtime() - t0 - ts) / n;   /* one training shared by all: an equal share each */
            lite_copy(d, &rs[i]);
            const SymbolResult *r = &rs[i];
            if (r->status != SYM_OK) printf("  %s: %s\n", r->symbol, r->status_msg);
            else
                printf("  %s: test corr %.4f (oracle %.4f), MAE %.4f bps, RMSE %.4f bps, R2 %.4f%s\n", r->symbol,
                       r->test_raw.corr, r->oracle_corr, r->test_raw.mae, r->test_raw.rmse, r->test_raw.r2,
                       held[i] ? "  [held out]" : "");
        }
        fflush(stdout);
        if (!t)
            for (int i = 0; i < n; i++) symbol_result_free(&rs[i]);
        free(rs);
    }
    dp_group_close(&g);
    for (int i = 0; i < nread; i++) lobds_symbol_free(&syms[i]);
    free(syms);
    free(held);
}

/* every rank's DoneRecs to rank 0 (all: (n) by symbol there, NULL elsewhere) */
static DoneRec *gather_done(const DoneRec *done, int n_done, int n, MPI_Comm comm) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int bytes = n_done * (int)sizeof(DoneRec);
    int *counts = rank == 0 ? dl_calloc((size_t)size, sizeof(int)) : NULL;
    int *displs = rank == 0 ? dl_calloc((size_t)size, sizeof(int)) : NULL;
    MPI_Gather(&bytes, 1, MPI_INT, counts, 1, MPI_INT, 0, comm);
    int total = 0;
    if (rank == 0)
        for (int r = 0; r < size; r++) { displs[r] = total; total += counts[r]; }
    DoneRec *flat = rank == 0 ? dl_calloc((size_t)total / sizeof(DoneRec) + 1, sizeof(DoneRec)) : NULL;
    MPI_Gatherv(done, bytes, MPI_BYTE, flat, counts, displs, MPI_BYTE, 0, comm);
    DoneRec *all = NULL;
    if (rank == 0) {
        all = dl_calloc((size_t)n + 1, sizeof(DoneRec));
        for (int i = 0; i < n; i++) all[i].rank = -1;
        for (int k = 0; k < total / (int)sizeof(DoneRec); k++) all[flat[k].idx] = flat[k];
    }
    free(flat);
    free(counts);
    free(displs);
    return all;
}

/* rank 0: summary.csv, table, schedule */
static int report(const DoneRec *all, SymName *names, const int64_t *windows, const int *order, int n, int size,
                  double wall, const SymbolResult *rs, const RunOptions *o, DlErr *e) {
    char path[4400];
    snprintf(path, sizeof path, "%s/summary.csv", o->run_dir);
    if (results_write_csv(path, rs, n, e)) return -1;
    results_print_table(stdout, rs, n);
    const char **nm = dl_calloc((size_t)n, sizeof(char *));
    int *owner = dl_calloc((size_t)n, sizeof(int)), *width = dl_calloc((size_t)n, sizeof(int));
    double *start = dl_calloc((size_t)n, sizeof(double)), *secs = dl_calloc((size_t)n, sizeof(double));
    for (int i = 0; i < n; i++) {
        nm[i] = names[i];
        owner[i] = all[i].rank;
        width[i] = all[i].width > 0 ? all[i].width : 1;
        start[i] = all[i].start;
        secs[i] = all[i].seconds;
    }
    printf("\n");
    sched_print_report(stdout, nm, windows, order, owner, width, start, secs, n, size, wall);
    printf("outputs: %s/results.h5, %s/summary.csv\n", o->run_dir, o->run_dir);
    fflush(stdout);
    free(nm);
    free(owner);
    free(width);
    free(start);
    free(secs);
    return 0;
}

/* ranks_per_symbol 0: the groups (sizes dividing the ranks' count and dp_shards) whose
 * simulated makespan of the largest-first hand-out is shortest (sched_plan_groups), a
 * symbol's time on g ranks being windows / (g * DP_EFF^log2 g). Only timing depends on
 * the plan: the results are dp_shards'. Returns the number of groups. */
#define DP_EFF 0.85   /* efficiency per doubling of a group: conservative (docs/performance.md) */
static int auto_groups(const int64_t *windows, const int *order, int n, int size, int K, int *gsize, double *gain) {
    double *cost = dl_calloc((size_t)n + 1, sizeof(double)), m1 = 0, best = 0;
    for (int i = 0; i < n; i++) cost[i] = (double)windows[i];
    sched_simulate(cost, order, n, size, &m1, NULL);
    const int ng = sched_plan_groups(cost, order, n, size, K, DP_EFF, gsize, &best);
    *gain = best > 0 ? m1 / best : 1.0;
    free(cost);
    return ng;
}

int run_train_mpi(const TrainConfig *cfg, const RunOptions *o, MPI_Comm comm, DlErr *e) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    h5u_quiet();
    /* data-parallel groups: G consecutive ranks train one symbol's model together
     * (0: chosen below from the symbols' sizes) */
    int G = cfg->ranks_per_symbol;
    if (cfg->universal && cfg->dp_shards % size != 0) {
        if (rank == 0)
            dl_err(e, "universal model: the %d ranks of this run do not divide 'dp_shards' (%d): every rank trains "
                   "the one model, so dp_shards must be a multiple of the rank count", size, cfg->dp_shards);
        return 1;
    }
    if (!cfg->universal && G > 0 && size % G != 0) {
        if (rank == 0)
            dl_err(e, "config: key 'ranks_per_symbol': %d does not divide the %d ranks of this run", G, size);
        return 1;
    }
    SymName *names = NULL;
    int64_t *n_rows = NULL;
    int n = 0;
    /* rank 0 alone judges the dataset; everyone learns the verdict before any collective HDF5 call */
    int bad = rank == 0 ? plan_rank0(cfg, o, &names, &n_rows, &n, e) != 0 : 0;
    MPI_Bcast(&bad, 1, MPI_INT, 0, comm);
    if (bad) { free(names); free(n_rows); return 1; }
    MPI_Bcast(&n, 1, MPI_INT, 0, comm);
    if (rank != 0) {
        names = dl_calloc((size_t)n, sizeof(SymName));
        n_rows = dl_calloc((size_t)n, sizeof(int64_t));
    }
    MPI_Bcast(names, n * (int)sizeof(SymName), MPI_CHAR, 0, comm);
    MPI_Bcast(n_rows, n, MPI_INT64_T, 0, comm);

    int64_t *windows = dl_calloc((size_t)n, sizeof(int64_t));
    int *order = dl_calloc((size_t)n, sizeof(int));
    const char **nm = dl_calloc((size_t)n, sizeof(char *));
    for (int i = 0; i < n; i++) { windows[i] = train_windows(n_rows[i], cfg); nm[i] = names[i]; }
    sched_order(windows, nm, n, order);
    free(nm);
    double auto_gain = 0;
    /* the groups, biggest first, each over consecutive ranks; every rank computes the
     * same plan from the same sizes */
    int *gsize = dl_calloc((size_t)size, sizeof(int)), ng = 0;
    if (cfg->universal) gsize[ng++] = size;   /* one group: every rank trains the one model */
    else if (G == 0) ng = auto_groups(windows, order, n, size, cfg->dp_shards, gsize, &auto_gain);
    else for (ng = 0; ng < size / G; ng++) gsize[ng] = G;
    int my_group = 0, my_first = 0;
    while (my_first + gsize[my_group] <= rank) my_first += gsize[my_group++];
    double speed_sum = 0;
    for (int k = 0; k < ng; k++) speed_sum += sched_group_speed(gsize[k], DP_EFF);
    char plan[256];
    sched_plan_text(plan, sizeof plan, gsize, ng);
    RunInfo ri;
    run_info(&ri, comm);
    if (rank == 0) {
        Model *probe = model_create(trainer_model_config(cfg), 1, backend_cpu());
        printf("deeplob_mpi train: %s, model %s (%zu parameters), %d symbol(s) on %d rank(s) [%s], horizon %d s, "
               "seq_len %d, batch %d, epochs %d, seed %llu\n  dataset %s -> %s/\n",
               o->cfg_path, cfg->model, model_count_params(probe), n, size, ri.hosts, cfg->horizon, cfg->seq_len,
               cfg->batch, cfg->epochs, (unsigned long long)cfg->seed, cfg->dataset, o->run_dir);
        if (cfg->ranks_per_symbol == 0 && !cfg->universal)
            printf("  ranks_per_symbol 0 (auto): %s, simulated makespan %.2fx shorter than one rank per symbol (at "
                   "%.0f%% efficiency per doubling of a group)\n", plan, auto_gain, 100 * DP_EFF);
        if (cfg->dp_shards > 1 && !cfg->universal)
            printf("  data-parallel: %s, each batch in %d shards of %d (the numbers depend on dp_shards only)\n", plan,
                   cfg->dp_shards, cfg->batch / cfg->dp_shards);
        fflush(stdout);
        model_free(probe);
    }

    char path[4400];
    snprintf(path, sizeof path, "%s/results.h5", o->run_dir);
    ResultsFile rf;
    const char *const *cn = (const char *const *)dl_calloc((size_t)n, sizeof(char *));
    for (int i = 0; i < n; i++) ((const char **)cn)[i] = names[i];
    int rc = results_par_create(&rf, path, comm, cfg, cn, n_rows, n, e);
    free((void *)cn);
    if (rc) {   /* the same failure on every rank */
        free(names); free(n_rows); free(windows); free(order);
        return 1;
    }

    MPI_Barrier(comm);
    const double t0 = MPI_Wtime();
    DoneRec *done = dl_calloc((size_t)n + 1, sizeof(DoneRec));
    int n_done = 0, err = 0, stopped = 0;
    DpGroup dpg = {MPI_COMM_NULL, 0, 1, cfg->dp_shards, NULL};
    MPI_Comm lcomm = MPI_COMM_NULL;
    if (cfg->universal)
        universal_loop(done, &n_done, &err, &stopped, &rf, cfg, o, names, n, t0, comm, e);
    else if (cfg->dp_shards > 1) {
        MPI_Comm_split(comm, my_group, rank, &dpg.comm);
        MPI_Comm_rank(dpg.comm, &dpg.rank);
        MPI_Comm_size(dpg.comm, &dpg.size);
    }
    if (!cfg->universal) {
        /* the groups' gathers (NCCL or MPI on GPU ranks), agreed over the run: the queue
         * is collective over the groups' rank 0s, so either every group trains or none does */
        int bad = 0, any = 0;
        if (cfg->dp_shards > 1) {
            char how[320];
            bad = dp_group_open(&dpg, trainer_backend(), how, sizeof how, e) != 0;
            if (!bad && rank == 0 && trainer_backend()->on_device) {
                printf("  data-parallel gathers (the group of rank 0): %s\n", how);
                fflush(stdout);
            }
        }
        MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, comm);
        const int leader = dpg.rank == 0;
        MPI_Comm_split(comm, leader ? 0 : MPI_UNDEFINED, rank, &lcomm);
        if (any) {
            if (!bad) dl_err(e, "data parallelism: another group could not set up its gathers");
            err = 1;
        } else {
            work_loop(done, &n_done, &err, &stopped, &rf, cfg, o, names, windows, order, n, t0, comm, lcomm,
                      speed_sum / sched_group_speed(gsize[0], DP_EFF), cfg->dp_shards > 1 ? &dpg : NULL, e);
        }
        dp_group_close(&dpg);
    }
    if (lcomm != MPI_COMM_NULL) MPI_Comm_free(&lcomm);
    if (dpg.comm != MPI_COMM_NULL) MPI_Comm_free(&dpg.comm);
    free(gsize);
    const double wall = MPI_Wtime() - t0;

    /* agree on the outcome; the lowest failing rank's message goes to rank 0 */
    int err_rank = err ? rank : size, first = size, any_stop = 0;
    MPI_Allreduce(&err_rank, &first, 1, MPI_INT, MPI_MIN, comm);
    MPI_Allreduce(&stopped, &any_stop, 1, MPI_INT, MPI_MAX, comm);
    if (first < size) {
        MPI_Bcast(e->msg, sizeof e->msg, MPI_CHAR, first, comm);
        if (size > 1 && rank == 0) {
            char msg[sizeof e->msg];
            snprintf(msg, sizeof msg, "%s", e->msg);
            dl_err(e, "%s (rank %d)", msg, first);
        }
    }
    DoneRec *all = gather_done(done, n_done, n, comm);
    free(done);
    SymbolResult *rs = NULL;
    ResultsSchedRow *sched = NULL;
    if (rank == 0) {
        rs = dl_calloc((size_t)n + 1, sizeof(SymbolResult));
        sched = dl_calloc((size_t)n + 1, sizeof(ResultsSchedRow));
        for (int i = 0; i < n; i++) {
            rs[i] = all[i].r;
            sched[i] = (ResultsSchedRow){all[i].rank, all[i].width > 0 ? all[i].width : 1, 0, windows[i], all[i].start,
                                         all[i].start + all[i].seconds};
        }
        for (int j = 0; j < n; j++) sched[order[j]].order = j;
        results_utc_now(ri.end_time);
    }
    MPI_Bcast(ri.end_time, sizeof ri.end_time, MPI_CHAR, 0, comm);
    const int ok = first == size && !any_stop;
    DlErr ef = {{0}};
    int fin = results_par_finish(&rf, ok, cfg, &ri, rs, sched, &ef);
    if (ok && fin) { *e = ef; rc = 1; }
    else if (!ok) rc = first < size ? 1 : 3;
    if (rc == 0 && rank == 0 && report(all, names, windows, order, n, size, wall, rs, o, e)) rc = 1;
    if (rc == 0 && rank == 0)   /* partial failure: a symbol diverged or was skipped, the others are fine */
        for (int i = 0; i < n; i++) rc |= rs[i].status != SYM_OK ? 4 : 0;
    if ((rc == 0 || rc == 4) && rank == 0 && cfg->report) {
        /* the figures come from results.h5, now complete; a failure here leaves the
         * training outputs as they are, so it is said but does not fail the run */
        DlErr er = {{0}};
        if (report_run(o->run_dir, stdout, &er) < 0) fprintf(stderr, "train: report failed: %s\n", er.msg);
    }
    if (rc == 3 && rank == 0)
        printf("train: stopped after epoch %d as asked (--stop-after-epoch); --resume continues\n", o->stop_after_epoch);
    MPI_Bcast(&rc, 1, MPI_INT, 0, comm);
    free(all);
    free(rs);
    free(sched);
    free(names);
    free(n_rows);
    free(windows);
    free(order);
    return rc;
}
