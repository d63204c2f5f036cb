/* cmd_model.c: `info`, `init` and `predict`: the model on its own, no dataset. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/cmd_common.h"
#include "app/commands.h"
#include "engine/device.h"
#include "engine/model.h"
#include "io/npy.h"
#include "io/weights_h5.h"

int cmd_info(int argc, char **argv) {
    static const char *help =
        "usage: deeplob_mpi info --model M [--seq-len T] [--features F]\n"
        "  Print the layer table (PyTorch state_dict names, shapes) and the parameter count.\n"
        "  M: deeplob | deeplob_tcn | deeplob_hier | mmf_lstm (F input features, default 16;\n"
        "  an MMF study's models/<SYM>.lstm.h5 has as many as its results.h5 'features' attribute)\n";
    static struct option opts[] = {{"model", required_argument, 0, 'm'}, {"seq-len", required_argument, 0, 'T'},
                                   {"features", required_argument, 0, 'F'}, {"help", no_argument, 0, 'h'},
                                   {0, 0, 0, 0}};
    ModelConfig cfg;
    int have_model = 0, T = 0, F = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') { fputs(help, stdout); return 0; }
        if (c == 'm') { if (cli_model(optarg, &cfg) != 0) return 2; have_model = 1; }
        else if (c == 'T') { if (cli_int("--seq-len", optarg, 1, 100000, &T) != 0) return 2; }
        else if (c == 'F') { if (cli_int("--features", optarg, 1, 4096, &F) != 0) return 2; }
        else { fputs(help, stderr); return 2; }
    }
    if (!have_model) { fprintf(stderr, "info: --model is required\n%s", help); return 2; }
    if (cli_shape("info", &cfg, T, F) != 0) return 2;
    Model *m = model_create(cfg, 1, backend_cpu());
    model_print_table(m, stdout);
    char dev[400];
    dl_backend_select(DL_DEVICE_AUTO, 0, 1, dev, sizeof dev);
    printf("device (--device auto): %s\n", dev);
    model_free(m);
    return 0;
}

int cmd_init(int argc, char **argv) {
    static const char *help =
        "usage: deeplob_mpi init --model M --seed S --weights W.h5 [--features F] [--force]\n"
        "  Write freshly initialised weights (PyTorch-default initialisation, Kaiming-normal\n"
        "  for the TCN convs) as HDF5, one dataset per PyTorch state_dict name.\n"
        "  --features: mmf_lstm's input width (default 16). An existing file is kept unless --force.\n";
    static struct option opts[] = {{"model", required_argument, 0, 'm'}, {"seed", required_argument, 0, 's'},
                                   {"weights", required_argument, 0, 'w'}, {"force", no_argument, 0, 'f'},
                                   {"features", required_argument, 0, 'F'}, {"help", no_argument, 0, 'h'},
                                   {0, 0, 0, 0}};
    ModelConfig cfg;
    int have_model = 0, force = 0, F = 0, c;
    long long seed = -1;
    const char *path = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(help, stdout); return 0;
        case 'm': if (cli_model(optarg, &cfg) != 0) return 2; have_model = 1; break;
        case 's': if (cli_i64("--seed", optarg, 0, (long long)1 << 62, &seed) != 0) return 2; break;
        case 'w': path = optarg; break;
        case 'f': force = 1; break;
        case 'F': if (cli_int("--features", optarg, 1, 4096, &F) != 0) return 2; break;
        default: fputs(help, stderr); return 2;
        }
    }
    if (!have_model || seed < 0 || !path) { fprintf(stderr, "init: --model, --seed and --weights are required\n%s", help); return 2; }
    if (cli_shape("init", &cfg, 0, F) != 0) return 2;
    if (!force && access(path, F_OK) == 0) {
        fprintf(stderr, "init: %s exists; not overwriting (use --force)\n", path);
        return 1;
    }
    Model *m = model_create(cfg, 1, backend_cpu());
    model_init_params(m, (uint64_t)seed);
    DlErr e;
    int rc = weights_save_file(m, path, &e);
    if (rc != 0) fprintf(stderr, "init: %s\n", e.msg);
    else printf("init: wrote %s (%s, %zu parameters, seed %lld)\n", path, model_kind_name(cfg.kind),
                model_count_params(m), seed);
    model_free(m);
    return rc ? 1 : 0;
}

int cmd_predict(int argc, char **argv) {
    static const char *help =
        "usage: deeplob_mpi predict --model M --weights W.h5 --input X.npy --output Y.npy\n"
        "                           [--batch 256] [--threads N] [--device auto|cpu|cuda]\n"
        "  Evaluation mode (BN running statistics, no dropout). X: float32 (B,T,40) or\n"
        "  (B,1,T,40), T = the model's sequence length (100 unless the weights say\n"
        "  otherwise; --seq-len T). Y: float32 (B,1), or (B,2) = (10 s, 60 s) for deeplob_hier.\n"
        "  mmf_lstm: X float32 (B,T,F), any T, F = the weights' input width (quantile-\n"
        "  transformed features, as the MMF study feeds them); Y float32 (B,T), the prediction\n"
        "  (bps) at every step, each sequence from a zero state.\n"
        "  Any other dtype or shape, non-finite inputs, or a bad file: error, no output.\n";
    static struct option opts[] = {{"model", required_argument, 0, 'm'}, {"weights", required_argument, 0, 'w'},
                                   {"input", required_argument, 0, 'i'}, {"output", required_argument, 0, 'o'},
                                   {"batch", required_argument, 0, 'b'}, {"threads", required_argument, 0, 't'},
                                   {"seq-len", required_argument, 0, 'T'}, {"help", no_argument, 0, 'h'},
                                   {"device", required_argument, 0, 'D'}, {0, 0, 0, 0}};
    ModelConfig cfg;
    int have_model = 0, batch = 256, threads = 0, T = 0, c;
    DlDevice want = DL_DEVICE_AUTO;
    const char *wpath = NULL, *in = NULL, *out = NULL;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(help, stdout); return 0;
        case 'm': if (cli_model(optarg, &cfg) != 0) return 2; have_model = 1; break;
        case 'w': wpath = optarg; break;
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        case 'b': if (cli_int("--batch", optarg, 1, 1 << 20, &batch) != 0) return 2; break;
        case 't': if (cli_int("--threads", optarg, 0, 4096, &threads) != 0) return 2; break;
        case 'T': if (cli_int("--seq-len", optarg, 1, 100000, &T) != 0) return 2; break;
        case 'D':
            if (dl_device_parse(optarg, &want) != 0) {
                fprintf(stderr, "predict: --device '%s' is not one of auto, cpu, cuda\n", optarg);
                return 2;
            }
            break;
        default: fputs(help, stderr); return 2;
        }
    }
    if (!have_model || !wpath || !in || !out) {
        fprintf(stderr, "predict: --model, --weights, --input and --output are required\n%s", help);
        return 2;
    }
    const int mmf = cfg.kind == MODEL_MMF_LSTM;
    if (cli_shape("predict", &cfg, T, 0) != 0) return 2;
    T = cfg.seq_len;
    DlErr e;
    NpyArray x;
    if (npy_read_f32(in, &x, &e) != 0) { fprintf(stderr, "predict: %s\n", e.msg); return 1; }
    int ok = mmf ? x.ndim == 3 && x.shape[1] >= 1 && x.shape[1] <= 1000000 && x.shape[2] >= 1 && x.shape[2] <= 4096
                 : (x.ndim == 3 && x.shape[1] == T && x.shape[2] == 40) ||
                       (x.ndim == 4 && x.shape[1] == 1 && x.shape[2] == T && x.shape[3] == 40);
    if (!ok || x.shape[0] < 1) {
        char shp[128] = "";
        for (int i = 0; i < x.ndim; i++) snprintf(shp + strlen(shp), sizeof shp - strlen(shp), "%s%lld", i ? "," : "", (long long)x.shape[i]);
        if (mmf) fprintf(stderr, "predict: %s: shape (%s), expected (B,T,F) for mmf_lstm\n", in, shp);
        else fprintf(stderr, "predict: %s: shape (%s), expected (B,%d,40) or (B,1,%d,40)\n", in, shp, T, T);
        npy_free(&x);
        return 1;
    }
    if (mmf) { /* the shape comes from X; the weights must then match its F */
        cfg.seq_len = T = (int)x.shape[1];
        cfg.n_features = (int)x.shape[2];
    }
    const int NF = cfg.n_features;
    int64_t B = x.shape[0];
    for (int64_t i = 0; i < x.numel; i++)
        if (!isfinite(x.data[i])) {
            int64_t per = (int64_t)T * NF, b = i / per, r = i % per;
            fprintf(stderr, "predict: %s: non-finite value at sample %lld, time step %lld, feature %lld\n", in,
                    (long long)b, (long long)(r / NF), (long long)(r % NF));
            npy_free(&x);
            return 1;
        }
    backend_cpu_set_threads(threads);
    char dev[400];
    const Backend *be = dl_backend_select(want, 0, 1, dev, sizeof dev);
    if (!be) {
        fprintf(stderr, "predict: error: %s\n", dev);
        npy_free(&x);
        return 1;
    }
    fprintf(stderr, "predict: %s\n", dev);
    int mb = B < batch ? (int)B : batch;
    Model *m = model_create(cfg, mb, be);
    if (weights_load_file(m, wpath, &e) != 0) {
        fprintf(stderr, "predict: %s\n", e.msg);
        if (mmf) fprintf(stderr, "predict: (the input %s has %d features per step; mmf_lstm takes the weights' width)\n", in, NF);
        model_free(m);
        npy_free(&x);
        return 1;
    }
    float *y = dl_malloc((size_t)B * m->n_out * sizeof(float));
    for (int64_t b0 = 0; b0 < B; b0 += mb) {
        int nb = (int)(B - b0 < mb ? B - b0 : mb);
        model_forward(m, x.data + (size_t)b0 * T * NF, nb, 0, 0);
        model_read_out(m, y + (size_t)b0 * m->n_out, nb);
    }
    int64_t shape[2] = {B, m->n_out}; /* mmf_lstm: n_out = T */
    int rc = npy_write_f32(out, y, 2, shape, &e);
    if (rc != 0) fprintf(stderr, "predict: %s\n", e.msg);
    else printf("predict: %lld samples -> %s (%lld,%d)\n", (long long)B, out, (long long)B, m->n_out);
    free(y);
    model_free(m);
    npy_free(&x);
    return rc ? 1 : 0;
}
