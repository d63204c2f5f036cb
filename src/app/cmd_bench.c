/* cmd_bench.c: `bench`: training-step and inference throughput on random data.
 * A training step = forward(train) + Huber + zero_grad + backward + clip + Adam,
 * the same work as tests/bench/bench_torch.py. Median of the timed steps after
 * warm-up. Under mpirun every rank runs its own model (as in training: one
 * symbol per rank) and rank 0 prints per-rank and aggregate throughput. */
#include <cblas.h>
#include <getopt.h>
#include <mpi.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "app/cmd_common.h"
#include "app/commands.h"
#include "common/rng.h"
#include "common/util.h"
#include "engine/device.h"
#include "engine/model.h"
#include "train/symbol_sched.h"
#include "engine/layers/conv2d_kernels.h"
#include "train/dp.h"
#if CONVK_AVAILABLE
#include <immintrin.h>
#endif

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* single-thread sgemm rate x threads: one 1024^3 product per thread at once */
static double sgemm_peak_gflops(int threads) {
    const int n = 1024;
    double best = 0;
    float *buf = dl_aligned_alloc((size_t)threads * 3 * n * n * sizeof(float));
    for (size_t i = 0; i < (size_t)threads * 3 * n * n; i++) buf[i] = (float)((i * 2654435761u) % 1000) * 1e-3f;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = dl_now();
#pragma omp parallel num_threads(threads)
        {
            float *a = buf + (size_t)omp_get_thread_num() * 3 * n * n;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, a + (size_t)n * n, n, 0.0f,
                        a + 2 * (size_t)n * n, n);
        }
        double g = threads * 2.0 * n * n * (double)n / (dl_now() - t0) / 1e9;
        if (g > best) best = g;
    }
    free(buf);
    return best;
}

/* The FMA peak of one core for the vector width the conv kernels use: 12 independent
 * FMA chains (latency 4 x 2 pipes < 12), n rounds. sgemm's rate is no ceiling: on
 * Zen 5 OpenBLAS 0.3.21 runs its AVX2 kernel at 46 % of the AVX-512 FMA peak. */
#if CONVK_AVAILABLE
#define FMA_CHAINS 12
__attribute__((target("avx512f"))) static float fma_loop512(long n, float s) {
    __m512 a[FMA_CHAINS], x = _mm512_set1_ps(1.0000001f), y = _mm512_set1_ps(s);
    for (int i = 0; i < FMA_CHAINS; i++) a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++)
        for (int i = 0; i < FMA_CHAINS; i++) a[i] = _mm512_fmadd_ps(a[i], x, y);
    for (int i = 1; i < FMA_CHAINS; i++) a[0] = _mm512_add_ps(a[0], a[i]);
    return _mm512_reduce_add_ps(a[0]);
}
static float fma_loop256(long n, float s) {
    __m256 a[FMA_CHAINS], x = _mm256_set1_ps(1.0000001f), y = _mm256_set1_ps(s);
    for (int i = 0; i < FMA_CHAINS; i++) a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < n; k++)
        for (int i = 0; i < FMA_CHAINS; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    for (int i = 1; i < FMA_CHAINS; i++) a[0] = _mm256_add_ps(a[0], a[i]);
    float o[8];
    _mm256_storeu_ps(o, a[0]);
    return o[0];
}
#endif

/* FMA peak in GFLOP/s of `threads` cores (one loop per thread at once), best of 3;
 * *width = the vector width in bits (0: no vector kernels in this build) */
static double fma_peak_gflops(int threads, int *width) {
#if CONVK_AVAILABLE
    const int w512 = convk_avx512();
    const long n = 50000000;
    double best = 0;
    volatile float sink = 0;
    *width = w512 ? 512 : 256;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = dl_now();
#pragma omp parallel num_threads(threads)
        {
            float r = w512 ? fma_loop512(n, 1e-7f) : fma_loop256(n, 1e-7f);
#pragma omp critical
            sink += r;
        }
        double g = threads * (double)n * FMA_CHAINS * 2.0 * (w512 ? 16 : 8) / (dl_now() - t0) / 1e9;
        if (g > best) best = g;
    }
    (void)sink;
    return best;
#else
    (void)threads;
    *width = 0;
    return 0;
#endif
}

/* ---- --data-parallel K: strong scaling of one model over 1..N ranks ---------------------- */
typedef struct {
    DpGroup g;
    ShardComm inner;
    double comm_s;     /* seconds inside the group's gathers */
} TimedComm;

static void timed_allgather(void *ctx, const void *mine, void *all, size_t bytes) {
    TimedComm *t = ctx;
    double t0 = MPI_Wtime();
    t->inner.allgather(t->inner.ctx, mine, all, bytes);
    t->comm_s += MPI_Wtime() - t0;
}

/* For every n (1..ranks) dividing K: the first n ranks train one model, a global batch
 * of B in K shards; rank 0 prints samples/s, speed-up, efficiency and the share of a
 * step spent in the gathers (BN statistics, losses, gradients). */
static int bench_dp(ModelConfig cfg, int B, int K, int steps, int warmup, int threads, int json) {
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (cfg.kind == MODEL_MMF_LSTM || B % K != 0) {
        if (rank == 0) fprintf(stderr, "bench: --data-parallel %d needs a DeepLOB model and a batch that K divides\n", K);
        return 2;
    }
    double base = 0;
    if (rank == 0 && !json)
        printf("bench %s --data-parallel: one model, global batch %d in %d shards, %d thread(s) per rank\n"
               "%6s %14s %9s %11s %8s %12s\n", model_kind_name(cfg.kind), B, K, threads, "ranks", "samples/s",
               "speed-up", "efficiency", "comm %", "step ms");
    if (rank == 0 && json) printf("[");
    for (int n = 1; n <= size; n++) {
        if (K % n) continue;
        MPI_Comm sub;
        MPI_Comm_split(MPI_COMM_WORLD, rank < n ? 0 : MPI_UNDEFINED, rank, &sub);
        double res[2] = {0, 0};
        if (rank < n) {
            TimedComm tc = {{sub, rank, n, K, NULL}, {0}, 0};
            tc.inner = n == 1 ? shard_comm_local() : dp_comm_mpi(&tc.g);
            const int Bl = B / n, S = K / n;
            Model *m = model_create(cfg, Bl, backend_cpu());
            model_init_params(m, 1234);
            model_set_shards(m, K, S, rank * S, (ShardComm){timed_allgather, &tc, NULL});
            size_t nx = (size_t)Bl * cfg.seq_len * cfg.n_features, ny = (size_t)Bl * m->n_out;
            float *x = dl_malloc(nx * sizeof(float)), *y = dl_malloc(ny * sizeof(float));
            uint64_t key = dl_key(42, (uint64_t)rank);
            for (size_t i = 0; i < nx; i++) x[i] = (float)dl_rand_normal(key, i);
            for (size_t i = 0; i < ny; i++) y[i] = (float)dl_rand_normal(key ^ 1, i);
            double *tt = dl_malloc((size_t)steps * sizeof(double)), comm = 0;
            MPI_Barrier(sub);
            for (int s = 0; s < warmup + steps; s++) {
                if (s == warmup) tc.comm_s = 0;
                double t0 = MPI_Wtime();
                model_forward(m, x, Bl, 1, dl_key(7, (uint64_t)s));
                model_loss(m, y, Bl);
                model_zero_grad(m);
                model_backward(m, x, Bl);
                model_clip_grad(m, 1.0f);
                model_adam_step(m, 1e-3f);
                if (s >= warmup) tt[s - warmup] = MPI_Wtime() - t0;
            }
            comm = tc.comm_s / steps;
            double med = median(tt, steps), slow = 0, cmax = 0;
            MPI_Allreduce(&med, &slow, 1, MPI_DOUBLE, MPI_MAX, sub);   /* the group runs at its slowest rank */
            MPI_Allreduce(&comm, &cmax, 1, MPI_DOUBLE, MPI_MAX, sub);
            res[0] = slow;
            res[1] = cmax;
            free(x); free(y); free(tt);
            model_free(m);
            MPI_Comm_free(&sub);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0) {
            const double sps = B / res[0];
            if (n == 1) base = sps;
            if (json)
                printf("%s{\"impl\":\"deeplob_mpi\",\"mode\":\"data_parallel\",\"model\":\"%s\",\"batch\":%d,"
                       "\"shards\":%d,\"ranks\":%d,\"threads\":%d,\"train_samples_per_s\":%.2f,\"efficiency\":%.3f,"
                       "\"comm_fraction\":%.3f}", n > 1 ? "," : "", model_kind_name(cfg.kind), B, K, n, threads, sps,
                       sps / (base * n), res[1] / res[0]);
            else
                printf("%6d %14.1f %9.2f %10.1f%% %7.1f%% %12.1f\n", n, sps, sps / base, 100.0 * sps / (base * n),
                       100.0 * res[1] / res[0], 1e3 * res[0]);
            fflush(stdout);
        }
    }
    if (rank == 0 && json) printf("]\n");
    return 0;
}

int cmd_bench(int argc, char **argv) {
    static const char *help =
        "usage: deeplob_mpi bench --model M [--batch 256] [--threads N] [--steps 10] [--warmup 3]\n"
        "                         [--seq-len 100] [--features F] [--peak] [--profile] [--json]\n"
        "                         [--device auto|cpu|cuda] [--ranks-per-gpu 1]\n"
        "  Training-step and inference samples/s (median of --steps after --warmup) and\n"
        "  GFLOP/s (training counted as 3x the forward FLOPs). --peak also measures the\n"
        "  OpenBLAS sgemm rate and the FMA peak (the vector width of the conv kernels) of the\n"
        "  same threads, for the fraction-of-peak figures. mmf_lstm: --seq-len is the episode\n"
        "  length (default 128), --features its input width (default 16), and a training step\n"
        "  is the MMF study's (MSE after the warm-up steps, no gradient clipping).\n"
        "  --profile\n"
        "  prints the time per op kind of a training step (wall time, ops timed one by one).\n"
        "  Under mpirun: per-rank and aggregate figures on rank 0 (ranks run independent\n"
        "  models, as in training).\n"
        "  --data-parallel K\n"
        "  under mpirun -np N: strong scaling of ONE model (global batch --batch in K shards)\n"
        "  over 1..N ranks (each n that divides K): samples/s, speed-up, efficiency, and the\n"
        "  share of a step spent in the gathers (dp_shards, docs/hpc.md; CPU backend).\n"
        "  --device: where the ops run (auto = the rank's GPU when it has one, GPU = node-local\n"
        "  rank / --ranks-per-gpu); cuda without a GPU is an error. On a GPU every timed step\n"
        "  ends with a device synchronisation.\n";
    static struct option opts[] = {{"model", required_argument, 0, 'm'}, {"batch", required_argument, 0, 'b'},
                                   {"threads", required_argument, 0, 't'}, {"steps", required_argument, 0, 's'},
                                   {"warmup", required_argument, 0, 'w'}, {"seq-len", required_argument, 0, 'T'},
                                   {"features", required_argument, 0, 'F'}, {"device", required_argument, 0, 'V'},
                                   {"ranks-per-gpu", required_argument, 0, 'R'},
                                   {"data-parallel", required_argument, 0, 'D'}, {"peak", no_argument, 0, 'p'}, {"profile", no_argument, 0, 'P'}, {"json", no_argument, 0, 'j'},
                                   {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ModelConfig cfg;
    int dp = 0, have_model = 0, B = 256, threads = 0, steps = 10, warmup = 3, T = 0, F = 0, peak = 0, json = 0, profile = 0, c;
    int rpg = 1;
    DlDevice want = DL_DEVICE_AUTO;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(help, stdout); return 0;
        case 'm': if (cli_model(optarg, &cfg) != 0) return 2; have_model = 1; break;
        case 'b': if (cli_int("--batch", optarg, 1, 1 << 16, &B) != 0) return 2; break;
        case 't': if (cli_int("--threads", optarg, 0, 4096, &threads) != 0) return 2; break;
        case 's': if (cli_int("--steps", optarg, 1, 100000, &steps) != 0) return 2; break;
        case 'w': if (cli_int("--warmup", optarg, 0, 100000, &warmup) != 0) return 2; break;
        case 'T': if (cli_int("--seq-len", optarg, 2, 100000, &T) != 0) return 2; break;
        case 'F': if (cli_int("--features", optarg, 1, 4096, &F) != 0) return 2; break;
        case 'V':
            if (dl_device_parse(optarg, &want) != 0) {
                fprintf(stderr, "bench: --device '%s' is not one of auto, cpu, cuda\n", optarg);
                return 2;
            }
            break;
        case 'R': if (cli_int("--ranks-per-gpu", optarg, 1, 1024, &rpg) != 0) return 2; break;
        case 'p': peak = 1; break;
        case 'D': if (cli_int("--data-parallel", optarg, 1, 1024, &dp) != 0) return 2; break;
        case 'P': profile = 1; break;
        case 'j': json = 1; break;
        default: fputs(help, stderr); return 2;
        }
    }
    if (!have_model) { fprintf(stderr, "bench: --model is required\n%s", help); return 2; }
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const int mmf = cfg.kind == MODEL_MMF_LSTM;
    if (cli_shape("bench", &cfg, T, F) != 0) return 2;
    if (mmf && cfg.warmup >= cfg.seq_len) {
        fprintf(stderr, "bench: --seq-len %d must exceed mmf_lstm's %d warm-up steps\n", cfg.seq_len, cfg.warmup);
        return 2;
    }
    T = cfg.seq_len;
    backend_cpu_set_threads(threads);
    threads = backend_cpu_threads();
    if (dp) {
        if (want == DL_DEVICE_CUDA) {
            fprintf(stderr, "bench: --data-parallel runs on the CPU backend (not with --device cuda)\n");
            return 2;
        }
        return bench_dp(cfg, B, dp, steps, warmup, threads, json);
    }
    int local_rank = 0, local_size = 1;
    sched_node_layout(MPI_COMM_WORLD, &local_rank, &local_size);
    char dev[400];
    const Backend *be = dl_backend_select(want, local_rank, rpg, dev, sizeof dev);
    int ok = be != NULL, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all_ok) {
        if (!ok) fprintf(stderr, "bench: error on rank %d: %s\n", rank, dev);
        return 1;
    }
    const int gpu = be->on_device;
    if (!json) printf("[rank %d/%d] %s\n", rank, size, dev);
    fflush(stdout);
    Model *m = model_create(cfg, B, profile ? backend_profiled(be) : be);
    model_init_params(m, 1234);
    size_t nx = (size_t)B * T * cfg.n_features, ny = (size_t)B * m->n_out;
    float *x = dl_malloc(nx * sizeof(float)), *y = dl_malloc(ny * sizeof(float));
    uint64_t key = dl_key(42, (uint64_t)rank);
    for (size_t i = 0; i < nx; i++) x[i] = (float)dl_rand_normal(key, i);
    for (size_t i = 0; i < ny; i++) y[i] = (float)dl_rand_normal(key ^ 1, i);

    double *tt = dl_malloc((size_t)steps * sizeof(double)), *ti = dl_malloc((size_t)steps * sizeof(double));
    MPI_Barrier(MPI_COMM_WORLD);
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = dl_now();
        model_forward(m, x, B, 1, dl_key(7, (uint64_t)s));
        model_loss(m, y, B);
        model_zero_grad(m);
        model_backward(m, x, B);
        if (!mmf) model_clip_grad(m, 1.0f); /* the MMF study does not clip */
        model_adam_step(m, 1e-3f);
        if (gpu) dl_device_sync();
        if (s >= warmup) tt[s - warmup] = dl_now() - t0;
        if (s + 1 == warmup && profile) backend_profile_reset();
    }
    if (profile && rank == 0) backend_profile_print(stdout, steps);
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = dl_now();
        model_forward(m, x, B, 0, 0);
        if (gpu) dl_device_sync();
        if (s >= warmup) ti[s - warmup] = dl_now() - t0;
    }
    double train_sps = B / median(tt, steps), infer_sps = B / median(ti, steps);
    double fl = model_flops_per_sample(m);
    double train_gf = 3.0 * fl * train_sps / 1e9, infer_gf = fl * infer_sps / 1e9;
    double pk = peak ? sgemm_peak_gflops(threads) : 0;
    int fma_w = 0;
    double fpk = peak ? fma_peak_gflops(threads, &fma_w) : 0;

    double mine[2] = {train_sps, infer_sps};
    double *all = rank == 0 ? dl_malloc((size_t)size * 2 * sizeof(double)) : NULL;
    MPI_Gather(mine, 2, MPI_DOUBLE, all, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        double agg_t = 0, agg_i = 0;
        for (int r = 0; r < size; r++) { agg_t += all[2 * r]; agg_i += all[2 * r + 1]; }
        if (json) {
            printf("{\"impl\":\"deeplob_mpi\",\"device\":\"%s\",\"model\":\"%s\",\"batch\":%d,\"threads\":%d,\"ranks\":%d,"
                   "\"train_samples_per_s\":%.2f,\"infer_samples_per_s\":%.2f,\"train_gflops\":%.2f,"
                   "\"infer_gflops\":%.2f,\"aggregate_train_samples_per_s\":%.2f,\"sgemm_peak_gflops\":%.2f,"
                   "\"fma_peak_gflops\":%.2f,\"fma_width\":%d,\"blas_core\":\"%s\",\"per_rank_train\":[",
                   be->name, model_kind_name(cfg.kind), B, threads, size, train_sps, infer_sps, train_gf, infer_gf, agg_t, pk,
                   fpk, fma_w, openblas_get_corename());
            for (int r = 0; r < size; r++) printf("%s%.2f", r ? "," : "", all[2 * r]);
            printf("]}\n");
        } else {
            printf("bench %s: batch %d, seq_len %d, %s backend, %d thread(s) per rank, %d rank(s), %d steps after %d "
                   "warm-up\n", model_kind_name(cfg.kind), B, T, be->name, threads, size, steps, warmup);
            printf("  forward FLOPs/sample %.1f M, parameters %zu\n", fl / 1e6, model_count_params(m));
            char cpu[160], kern[160];
            backend_cpu_model(cpu, sizeof cpu);
            const int blas_fallback = backend_cpu_describe(kern, sizeof kern);
            printf("  cpu: %s; %s\n", cpu, kern);
            if (blas_fallback) printf("  note: %s\n", backend_cpu_fallback_hint());
            for (int r = 0; r < size; r++)
                printf("  rank %d: train %.1f samples/s, inference %.1f samples/s\n", r, all[2 * r], all[2 * r + 1]);
            printf("  rank 0: training %.1f GFLOP/s, inference %.1f GFLOP/s\n", train_gf, infer_gf);
            if (peak) {
                printf("  sgemm peak (OpenBLAS core %s, %d thread(s)): %.1f GFLOP/s -> training at %.0f %% of it\n",
                       openblas_get_corename(), threads, pk, 100 * train_gf / pk);
                if (fpk > 0)
                    printf("  FMA peak (%d-bit, the conv kernels' width, %d thread(s)): %.1f GFLOP/s -> training at "
                           "%.0f %% of it\n", fma_w, threads, fpk, 100 * train_gf / fpk);
            }
            if (size > 1) printf("  aggregate: train %.1f samples/s, inference %.1f samples/s\n", agg_t, agg_i);
        }
        free(all);
    }
    free(tt); free(ti); free(x); free(y);
    model_free(m);
    return 0;
}
