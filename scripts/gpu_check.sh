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
#  7. the NCCL gather of data parallelism (test_dp_nccl): 2 ranks sharing the one GPU, NCCL
#     against MPI byte for byte, in place and out of place
# and writes one results file, RESULTS_DIR/gpu_check.txt (plus the logs). Every step has
# its own time limit; the whole check stays within 8 minutes (steps left when the time is
# short are skipped and say so). Exit status: 0 when the tests passed (and the mutation
# was caught), 1 otherwise.
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
run test_cuda_backend 200 "$BIN/test_cuda_backend"; rc_test=$?
grep -E "^test_cuda_backend|^  |on cuda|second run|^FAIL|^SKIP" "$RES/test_cuda_backend.log" | head -60 | tee -a "$REPORT"
say "test_cuda_backend exit status $rc_test ($([ $rc_test -eq 0 ] && echo passed || ([ $rc_test -eq 77 ] && echo SKIPPED || echo FAILED)))"
run test_cuda_backend_mutated 60 env DEEPLOB_CUDA_MUTATE=1 DEEPLOB_CUDA_TEST_OPS_ONLY=1 "$BIN/test_cuda_backend"; rc_mut=$?
grep -E "^FAIL" "$RES/test_cuda_backend_mutated.log" | head -5 | tee -a "$REPORT"
if [ $rc_mut -eq 1 ]; then say "mutation (bias-gradient kernel x1.001): caught, the test FAILED as it must"
else say "mutation: NOT caught (exit status $rc_mut)"; fi

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
MPIRUN=$(command -v mpirun || true)
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

# ---- 7. data parallelism: the NCCL gather, 2 ranks on the one GPU ---------------------------------
say ""
say "== test_dp_nccl (2 ranks, one GPU: NCCL all-gather vs MPI's)"
if [ -n "$MPIRUN" ] && [ -x "$BIN/test_dp_nccl" ]; then
  run test_dp_nccl 60 "$MPIRUN" -np 2 --bind-to none "$BIN/test_dp_nccl"; rc_nccl=$?
  grep -E "^ok|^FAIL|^SKIP" "$RES/test_dp_nccl.log" | head -5 | tee -a "$REPORT"
  say "test_dp_nccl exit status $rc_nccl ($([ $rc_nccl -eq 0 ] && echo passed || ([ $rc_nccl -eq 77 ] && echo SKIPPED || echo FAILED)))"
else
  say "test_dp_nccl: no mpirun or no binary: skipped"
fi

# ---- 6. one CPU rank ----------------------------------------------------------------------------
run bench_cpu_deeplob_256 60 "$BIN/deeplob_mpi" bench --model deeplob --batch 256 --device cpu --steps 3 --warmup 1 --json
say "one CPU rank ($NCPU threads), deeplob B 256: $(grep '^{' "$RES/bench_cpu_deeplob_256.log" | tail -1)"

say ""
say "gpu_check: done in $((SECONDS - T_START)) s; results in $RES"
[ $rc_test -eq 0 ] && [ $rc_mut -eq 1 ]
