#!/usr/bin/env bash
# gpu_check.sh: the GPU check, one command, on a machine with an NVIDIA GPU, its driver,
# the CUDA runtime libraries and PyTorch with CUDA, but no internet and none of our apt
# packages (docs/gpu.md). Runs from the bundle (scripts/gpu_bundle.sh) or from a source
# tree with a CUDA build (build-cuda/ or build-bundle/).
#
#   scripts/gpu_check.sh [RESULTS_DIR]     (default: $OUT when set, else ./gpu_results)
#
#  1. finds the CUDA libraries (cudart, cuBLAS, cuDNN) where the machine has them: the
#     toolkit's lib64 ($CUDA_HOME, /usr/local/cuda) or the nvidia-* Python packages that
#     PyTorch brings; prints which it used; checks that nothing the binaries need is missing
#  2. test_cuda_backend: every op and every model against the CPU backend, same bits on a
#     second run; then once more with DEEPLOB_CUDA_MUTATE=1 (a deliberate error in one
#     kernel), which must FAIL
#  3. bench --device cuda for deeplob, deeplob_tcn, deeplob_hier at B = 256 and 2048
#  4. the PyTorch peer on the same GPU (tests/bench/bench_torch.py --device cuda: cuDNN,
#     eager mode, fp32), same models and batches
#  5. ranks_per_gpu: mpirun -np 2 and 4 bench --device cuda on the one GPU (deeplob, B 256)
#  6. one CPU rank (deeplob, B 256) for the GPU/CPU ratio
#  7. data parallelism on the GPU (right after the tests, before the figures):
#     a. test_dp_nccl: NCCL's all-gather against MPI's byte for byte (2 ranks; it skips
#        where they share a GPU, which NCCL refuses: training then gathers over MPI)
#     b. test_dp_model with DEEPLOB_DP_DEVICE=cuda on 1 and 2 ranks: 3 sharded steps
#        (K = 6, dropout) of every DeepLOB model, the same digest for both
#     c. deeplob_mpi train, device cuda, dp_shards 2, on 1 rank and on 2 ranks (a group
#        of 2): the same summary.csv metrics (and results.h5 datasets when python3 has
#        h5py)
# and writes one results file, RESULTS_DIR/gpu_check.txt (plus the logs). Every step has
# its own time limit; the whole check stays within 8 minutes (steps left when the time is
# short are skipped and say so). Exit status: 0 when the tests passed (and the mutation
# was caught, and the data-parallel runs agreed), 1 otherwise.
set -uo pipefail
T_START=$SECONDS
BUDGET=${GPU_CHECK_BUDGET_S:-460}
HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"
RES=${1:-${OUT:-$HERE/gpu_results}}
mkdir -p "$RES"
REPORT="$RES/gpu_check.txt"
: > "$REPORT"
say() { echo "$*" | tee -a "$REPORT"; }
left() { echo $((BUDGET - (SECONDS - T_START))); }

# ---- binaries -----------------------------------------------------------------------------
if [ -x bin/deeplob_mpi ]; then BIN=$HERE/bin; MODE=bundle
elif [ -x build-cuda/deeplob_mpi ]; then BIN=$HERE/build-cuda; MODE=source
elif [ -x build-bundle/deeplob_mpi ]; then BIN=$HERE/build-bundle; MODE=source
else echo "gpu_check: no deeplob_mpi (bin/, build-cuda/ or build-bundle/): run scripts/gpu_bundle.sh first" >&2; exit 1; fi
say "gpu_check: $(date -u +%FT%TZ) on $(hostname), $MODE at $HERE, binaries $BIN"

# ---- libraries ----------------------------------------------------------------------------
if [ "$MODE" = bundle ] && [ -f runtime.tar.xz ] && [ ! -d lib ]; then   # the bundle's packed runtime
  tar -C "$HERE" -xJf runtime.tar.xz 2>/dev/null ||
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' runtime.tar.xz "$HERE" ||
    { echo "gpu_check: cannot unpack runtime.tar.xz (no xz, no python3)" >&2; exit 1; }
  say "unpacked runtime.tar.xz"
fi
LIBS=""
[ "$MODE" = bundle ] && LIBS="$HERE/lib"
PY=$(command -v python3 || true)
cands=()
for d in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda /usr/local/cuda-13.0 /usr/local/cuda-13; do
  [ -n "$d" ] && cands+=("$d/lib64" "$d/lib" "$d/targets/x86_64-linux/lib")
done
if [ -n "$PY" ]; then
  # the nvidia-* wheels (nvidia/<pkg>/lib, nvidia/cu13/lib) and torch/lib
  while IFS= read -r d; do cands+=("$d"); done < <("$PY" - <<'EOF' 2>/dev/null
import glob, os, site, sys
roots = set(site.getsitepackages() + [site.getusersitepackages()] + sys.path)
for r in sorted(p for p in roots if p and os.path.isdir(p)):
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib")) + glob.glob(os.path.join(r, "nvidia", "*", "*", "lib"))):
        print(d)
    t = os.path.join(r, "torch", "lib")
    if os.path.isdir(t):
        print(t)
EOF
)
fi
while IFS= read -r d; do cands+=("$d"); done < <(ldconfig -p 2>/dev/null | awk '/libcudnn\.so\.9|libcublas\.so\.13|libcudart\.so\.13/ {print $NF}' | xargs -r -n1 dirname | sort -u)
need=$( (ldd "$BIN/deeplob_mpi"; ldd "$BIN/test_cuda_backend") 2>/dev/null | awk '/not found/ {print $1}' | sort -u)
for lib in $need libcudnn_cnn.so.9 libcudnn_ops.so.9 libcudnn_engines_precompiled.so.9 libcudnn_heuristic.so.9 libcublasLt.so.13; do
  for d in "${cands[@]}"; do
    if [ -e "$d/$lib" ]; then
      case ":$LIBS:" in *":$d:"*) ;; *) LIBS="${LIBS:+$LIBS:}$d" ;; esac
      say "  $lib <- $d"
      break
    fi
  done
done
export LD_LIBRARY_PATH="${LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ "$MODE" = bundle ]; then
  # Open MPI relocated by OPAL_PREFIX; PMIx's plugins by their component path
  export OPAL_PREFIX=$HERE PMIX_MCA_mca_base_component_path=$HERE/pmix2/lib/pmix PATH=$HERE/bin:$PATH
  export LD_LIBRARY_PATH=$HERE/lib/x86_64-linux-gnu/openmpi/lib:$LD_LIBRARY_PATH
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_ess_singleton_isolated=1   # a single rank without mpirun starts no orted
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_pml=ob1
export OPENBLAS_NUM_THREADS=1
say "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
missing=$( (ldd "$BIN/deeplob_mpi"; ldd "$BIN/test_cuda_backend") 2>/dev/null | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')
if [ -n "$missing" ]; then
  say "MISSING libraries: $missing (set CUDA_HOME, or install the nvidia-* wheels PyTorch uses)"
  exit 1
fi
say "libraries the binary loads:"
ldd "$BIN/deeplob_mpi" | grep -E "cuda|cublas|cudnn|mpi|hdf5|openblas" | sed 's/^/  /' | tee -a "$REPORT"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | sed 's/^/GPU: /' | tee -a "$REPORT"
[ -n "$PY" ] && "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "available", torch.cuda.is_available())' 2>&1 | sed 's/^/PyTorch: /' | tee -a "$REPORT"
NCPU=$(nproc)

# run LABEL LIMIT_S CMD...: a step with its own limit, skipped when the budget is short
run() {
  local label=$1 lim=$2; shift 2
  local l; l=$(left)
  if [ "$l" -lt 15 ]; then say "SKIPPED ($label): the 8-minute budget is spent"; return 124; fi
  [ "$lim" -gt "$l" ] && lim=$l
  timeout "$lim" "$@" > "$RES/$label.log" 2>&1
  local rc=$?
  [ $rc -eq 124 ] && say "TIMEOUT ($label) after ${lim}s"
  return $rc
}

# ---- 2. tests -----------------------------------------------------------------------------
say ""
say "== test_cuda_backend"
run test_cuda_backend 240 "$BIN/test_cuda_backend"; rc_test=$?
grep -E "^test_cuda_backend|^  |on cuda|second run|^FAIL|^SKIP" "$RES/test_cuda_backend.log" | head -60 | tee -a "$REPORT"
say "test_cuda_backend exit status $rc_test ($([ $rc_test -eq 0 ] && echo passed || ([ $rc_test -eq 77 ] && echo SKIPPED || echo FAILED)))"
run test_cuda_backend_mutated 60 env DEEPLOB_CUDA_MUTATE=1 DEEPLOB_CUDA_TEST_OPS_ONLY=1 "$BIN/test_cuda_backend"; rc_mut=$?
grep -E "^FAIL" "$RES/test_cuda_backend_mutated.log" | head -5 | tee -a "$REPORT"
if [ $rc_mut -eq 1 ]; then say "mutation (bias-gradient kernel x1.001): caught, the test FAILED as it must"
else say "mutation: NOT caught (exit status $rc_mut)"; fi

# ---- 7. data parallelism on the GPU -------------------------------------------------------------
say ""
MPIRUN=$(command -v mpirun || true)
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
rc_dp=0
say "== data parallelism on the GPU (2 ranks; ${NGPU:-?} GPU(s): $([ "${NGPU:-0}" -ge 2 ] && echo "one each, NCCL" || echo "sharing one, MPI through host buffers"))"
if [ -z "$MPIRUN" ]; then
  say "no mpirun: skipped"
else
  if [ -x "$BIN/test_dp_nccl" ]; then
    run test_dp_nccl 60 "$MPIRUN" -np 2 --bind-to none "$BIN/test_dp_nccl"; rc_nccl=$?
    grep -E "^ok|^FAIL|^SKIP" "$RES/test_dp_nccl.log" | head -5 | tee -a "$REPORT"
    say "test_dp_nccl exit status $rc_nccl ($([ $rc_nccl -eq 0 ] && echo passed || ([ $rc_nccl -eq 77 ] && echo SKIPPED || echo FAILED)))"
    [ $rc_nccl -eq 0 ] || [ $rc_nccl -eq 77 ] || rc_dp=1
  fi
  if [ -x "$BIN/test_dp_model" ]; then
    for np in 1 2; do
      run "dp_model_np$np" 120 "$MPIRUN" -x DEEPLOB_DP_DEVICE=cuda -np $np --bind-to none "$BIN/test_dp_model"
      grep "^dp " "$RES/dp_model_np$np.log" | sed 's/ G=[0-9]*//' > "$RES/dp_model_np$np.dig"
    done
    grep -hE "^gathers|K=6 vs K=1|^FAIL|^SKIP" "$RES/dp_model_np1.log" "$RES/dp_model_np2.log" | head -8 | tee -a "$REPORT"
    if [ "$(wc -l < "$RES/dp_model_np1.dig")" -eq 3 ] && diff -q "$RES/dp_model_np1.dig" "$RES/dp_model_np2.dig" >/dev/null; then
      say "test_dp_model on cuda: 3 sharded steps (K = 6) of every model: 1 rank and 2 ranks give the same digests"
      sed 's/^/  /' "$RES/dp_model_np1.dig" | tee -a "$REPORT"
    else
      say "test_dp_model on cuda: the digests of 1 and 2 ranks DIFFER (or are missing): see dp_model_np*.log"
      rc_dp=1
    fi
  fi
  DPW="$RES/dp_train"
  rm -rf "$DPW"; mkdir -p "$DPW"
  run dp_synth 60 "$BIN/deeplob_mpi" synth --symbols 1 --seconds 2000 --seed 3 --out "$DPW/syn.h5"
  cat > "$DPW/dp.json" <<JSON
{"dataset": "$DPW/syn.h5", "symbols": "all", "model": "deeplob", "seq_len": 16, "batch": 48,
 "epochs": 2, "patience": 5, "max_train_samples": 400, "seed": 5, "output_dir": "$DPW/out",
 "run_name": "g1", "threads": 1, "dp_shards": 2, "eval_batch": 100, "device": "cuda"}
JSON
  run dp_train_g1 90 "$MPIRUN" -np 1 --bind-to none "$BIN/deeplob_mpi" train "$DPW/dp.json" --set run_name=g1 \
      --set ranks_per_symbol=1; rc1=$?
  run dp_train_g2 90 "$MPIRUN" -np 2 --bind-to none "$BIN/deeplob_mpi" train "$DPW/dp.json" --set run_name=g2 \
      --set ranks_per_symbol=2; rc2=$?
  grep -E "ops on the|data-parallel" "$RES/dp_train_g2.log" | head -6 | sed 's/^/  /' | tee -a "$REPORT"
  # summary.csv without wall_s and samples_per_s (columns 19, 20)
  s1=$(cut -d, -f1-18,21- "$DPW/out/g1/summary.csv" 2>/dev/null); s2=$(cut -d, -f1-18,21- "$DPW/out/g2/summary.csv" 2>/dev/null)
  if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ -n "$s1" ] && [ "$s1" = "$s2" ]; then
    say "train on cuda, dp_shards 2: 1 rank and a group of 2 ranks give the same summary.csv metrics:"
    echo "$s1" | sed 's/^/  /' | tee -a "$REPORT"
  else
    say "train on cuda, dp_shards 2: exit $rc1 (1 rank), $rc2 (2 ranks); summary.csv metrics $([ -n "$s1" ] && [ "$s1" = "$s2" ] && echo equal || echo DIFFER or missing)"
    rc_dp=1
  fi
  if [ -n "$PY" ] && "$PY" -c "import h5py, numpy" 2>/dev/null && [ -f "$DPW/out/g1/results.h5" ] && [ -f "$DPW/out/g2/results.h5" ]; then
    "$PY" - "$DPW/out/g1/results.h5" "$DPW/out/g2/results.h5" <<'EOF' 2>&1 | tee -a "$REPORT" || rc_dp=1
import sys, h5py, numpy as np
TIMING = {"wall_s", "train_seconds", "samples_per_s", "seconds", "resumed_from"}
def load(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name != "schedule":
                v = obj[()]
                if getattr(v, "dtype", None) is not None and v.dtype.names:
                    for k in v.dtype.names:
                        if k not in TIMING: out[name + "." + k] = np.asarray(v[k])
                else:
                    out[name] = np.asarray(v)
        f.visititems(visit)
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
diff = sorted(k for k in a if k not in b or a[k].tobytes() != b[k].tobytes())
print("results.h5, 1 rank vs a group of 2: %d datasets, %d differ %s" % (len(a), len(diff), diff[:5]))
sys.exit(1 if diff or set(a) != set(b) else 0)
EOF
  else
    say "results.h5 not compared (python3 without h5py)"
  fi
fi

# ---- 3./4. benchmarks -------------------------------------------------------------------------
say ""
say "== throughput (samples/s, median of 10 steps after 3 warm-up; training step = forward, loss, backward, clip, Adam)"
printf "%-13s %6s %14s %14s %14s %14s %8s\n" model batch ours_train torch_train ours_infer torch_infer ratio | tee -a "$REPORT"
for B in 256 2048; do
  for M in deeplob deeplob_tcn deeplob_hier; do
    run "bench_${M}_$B" 90 "$BIN/deeplob_mpi" bench --model "$M" --batch "$B" --device cuda --steps 10 --warmup 3 --json
    o=$(grep '^{' "$RES/bench_${M}_$B.log" | tail -1)
    tb=""
    if [ -n "$PY" ]; then
      run "torch_${M}_$B" 90 "$PY" tests/bench/bench_torch.py --model "$M" --batch "$B" --threads "$NCPU" --device cuda \
          --steps 10 --warmup 3 --json
      tb=$(grep '^{' "$RES/torch_${M}_$B.log" | tail -1)
    fi
    echo "ours  $o" >> "$RES/bench.jsonl"; echo "torch $tb" >> "$RES/bench.jsonl"
    "${PY:-python3}" - "$M" "$B" "$o" "$tb" <<'EOF' 2>/dev/null | tee -a "$REPORT" || say "$M $B: (no figures)"
import json, sys
m, b, o, t = sys.argv[1:5]
def get(s, k):
    try: return json.loads(s)[k]
    except Exception: return float("nan")
ot, ti = get(o, "train_samples_per_s"), get(t, "train_samples_per_s")
oi, tii = get(o, "infer_samples_per_s"), get(t, "infer_samples_per_s")
r = ot / ti if ti == ti and ti else float("nan")
print(f"{m:<13} {b:>6} {ot:>14.1f} {ti:>14.1f} {oi:>14.1f} {tii:>14.1f} {r:>8.2f}")
EOF
  done
done

# ---- 5. several ranks on the one GPU ------------------------------------------------------------
say ""
say "== ranks_per_gpu (deeplob, B 256, aggregate training samples/s over the ranks on one GPU)"
if [ -n "$MPIRUN" ]; then
  for N in 2 4; do
    run "mpi_rpg$N" 100 "$MPIRUN" -np "$N" --bind-to none "$BIN/deeplob_mpi" bench --model deeplob --batch 256 \
        --device cuda --ranks-per-gpu "$N" --threads 1 --steps 10 --warmup 3 --json
    o=$(grep '^{' "$RES/mpi_rpg$N.log" | tail -1)
    say "ranks_per_gpu $N: ${o:-no result (see mpi_rpg$N.log)}"
  done
else
  say "no mpirun: skipped"
fi

# ---- 6. one CPU rank ----------------------------------------------------------------------------
run bench_cpu_deeplob_256 60 "$BIN/deeplob_mpi" bench --model deeplob --batch 256 --device cpu --steps 3 --warmup 1 --json
say "one CPU rank ($NCPU threads), deeplob B 256: $(grep '^{' "$RES/bench_cpu_deeplob_256.log" | tail -1)"

say ""
say "gpu_check: done in $((SECONDS - T_START)) s; results in $RES"
[ $rc_test -eq 0 ] && [ $rc_mut -eq 1 ] && [ $rc_dp -eq 0 ]
