"""PyTorch peer benchmark (performance.md): training and inference throughput on random data.

    /usr/bin/python3 tests/bench/bench_torch.py --model M --batch B --threads N
                                               [--steps 10] [--warmup 3] [--json]
                                               [--device cpu|cuda] [--tf32]

Training step = zero_grad + forward(train) + Huber + backward + clip_grad_norm_(1.0) + Adam
step; inference = eval forward under no_grad. --model mmf_lstm: the notebook's class
(tests/ref/mmf_lstm_ref.py), x (B, seq-len, features), the MMF study's step: MSE over the steps
after the 32 warm-up steps, no clipping (as `deeplob_mpi bench --model mmf_lstm`). Throughput = batch / median step time.
Run it tuned (compare.sh does): LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 OMP_NUM_THREADS=N OPENBLAS_NUM_THREADS=N.
The config line goes to stderr; the JSON line is the last line on stdout.
--device cuda: the same steps on the GPU (cuDNN, eager mode, fp32: TF32 is switched off for
cuDNN and matmuls, as deeplob_mpi's CUDA backend runs fp32 FMA; --tf32 leaves PyTorch's cuDNN
default, TF32 on). Each timed step ends with torch.cuda.synchronize().
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import models  # noqa: E402

MMF_WARMUP = 32  # model.c's default for mmf_lstm (mmf.md)


def loaded_libs():
    """Shared objects mapped into this process (which BLAS, which malloc)."""
    try:
        with open("/proc/self/maps") as f:
            return {os.path.basename(l.split()[-1]) for l in f if ".so" in l}
    except OSError:
        return set()


def config_line(threads):
    libs = loaded_libs()
    blas = sorted(l for l in libs if "blas" in l or "mkl" in l) or ["?"]
    malloc = "jemalloc" if any("jemalloc" in l for l in libs) else "glibc malloc"
    blas_path = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    return (f"torch {torch.__version__}, threads {torch.get_num_threads()} (asked {threads}), "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')} "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '-')}, "
            f"BLAS {','.join(blas)} (libblas.so.3 -> {blas_path}), "
            f"mkldnn {torch.backends.mkldnn.is_available()}, {malloc} "
            f"MALLOC_CONF={os.environ.get('MALLOC_CONF', '-')}")


def loss_fn(out, y):
    if out.shape[1] == 1:
        return F.huber_loss(out, y, delta=1.0)
    return 0.5 * F.huber_loss(out[:, 0], y[:, 0]) + 0.5 * F.huber_loss(out[:, 1], y[:, 1])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=models.MODELS + ("mmf_lstm",))
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--seq-len", type=int, default=0, help="100 (DeepLOB models), 128 (mmf_lstm)")
    ap.add_argument("--features", type=int, default=16, help="mmf_lstm input width")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print only the JSON line on stdout")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--tf32", action="store_true", help="cuda: allow TF32 (PyTorch's cuDNN default)")
    a = ap.parse_args()
    if a.steps < 1 or a.warmup < 0 or a.batch < 2 or a.threads < 1:
        ap.error("need --steps >= 1, --warmup >= 0, --batch >= 2 (BatchNorm), --threads >= 1")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cuda = a.device == "cuda"
    if cuda:
        if not torch.cuda.is_available():
            print("bench_torch: --device cuda but torch.cuda.is_available() is False", file=sys.stderr)
            return 1
        torch.backends.cudnn.enabled = True
        torch.backends.cudnn.allow_tf32 = a.tf32
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
    print("bench_torch: " + config_line(a.threads), file=sys.stderr)
    if cuda:
        print(f"bench_torch: cuda {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
              f"{torch.cuda.get_device_name(0)}, TF32 {'on' if a.tf32 else 'off'}", file=sys.stderr)
    mmf = a.model == "mmf_lstm"
    T = a.seq_len or (128 if mmf else 100)
    if mmf:
        from mmf_lstm_ref import MMFLSTM
        model = MMFLSTM(a.features)
        x = torch.randn(a.batch, T, a.features)
        y = torch.randn(a.batch, T)
    else:
        model = models.build(a.model)
        x = torch.randn(a.batch, 1, T, 40)
        y = torch.randn(a.batch, models.N_OUT[a.model])
    if cuda:
        model, x, y = model.cuda(), x.cuda(), y.cuda()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)

    def train_step():
        opt.zero_grad(set_to_none=False)
        out = model(x)
        loss = ((out[:, MMF_WARMUP:] - y[:, MMF_WARMUP:]) ** 2).mean() if mmf else loss_fn(out, y)
        loss.backward()
        if not mmf:
            torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        v = float(loss)        # forces completion of the step
        sync()
        return v

    def infer_step():
        with torch.no_grad():
            v = model(x).sum().item()
        sync()
        return v

    model.train()
    for _ in range(a.warmup):
        train_step()
    t_train = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        train_step()
        t_train.append(time.perf_counter() - t0)

    model.eval()
    for _ in range(a.warmup):
        infer_step()
    t_infer = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        infer_step()
        t_infer.append(time.perf_counter() - t0)

    train_sps = a.batch / statistics.median(t_train)
    infer_sps = a.batch / statistics.median(t_infer)
    if not a.json:
        print(f"{a.model} batch {a.batch} threads {a.threads} {a.device}: train {train_sps:.1f} samples/s "
              f"(median of {a.steps} steps, {statistics.median(t_train) * 1e3:.1f} ms/step), "
              f"infer {infer_sps:.1f} samples/s")
    print(json.dumps({"impl": "torch", "device": a.device, "model": a.model, "batch": a.batch, "threads": a.threads,
                      "train_samples_per_s": round(train_sps, 2),
                      "infer_samples_per_s": round(infer_sps, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
