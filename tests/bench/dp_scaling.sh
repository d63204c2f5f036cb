#!/usr/bin/env bash
# dp_scaling.sh: strong scaling of ONE model over ranks (data parallelism, docs/hpc.md), with
# the plain 1-rank engine and the tuned PyTorch peer in the same run for reference.
#
#   tests/bench/dp_scaling.sh [models] [batch] [shards] [ranks]
#       models  comma list, default deeplob,deeplob_tcn;  batch default 256
#       shards  K (dp_shards), default 8;                   ranks N for mpirun, default 2
#   env: BIN, PY, STEPS (default 6), WARMUP (default 2), OVERSUB=4 adds an oversubscribed
#        run on OVERSUB ranks (correctness of the plumbing only: its timings mean nothing)
#
# Per model: (1) `bench` plain (K = 1, 1 rank, 1 thread); (2) the peer (bench_torch.py,
# jemalloc, 1 thread); (3) `mpirun -np N bench --data-parallel K` (1 thread per rank): samples/s
# of the global batch for every n <= N dividing K, speed-up, efficiency, share of a step in
# the gathers. The CPU and the load are printed: a shared machine's numbers are not figures.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$SRC/build/deeplob_mpi}
PY=${PY:-/usr/bin/python3}
MODELS=${1:-deeplob,deeplob_tcn}
B=${2:-256}
K=${3:-8}
N=${4:-2}
STEPS=${STEPS:-6}
WARMUP=${WARMUP:-2}
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
for m in ${MODELS//,/ }; do
    echo "== $m, global batch $B, $K shards"
    plain=$("$BIN" bench --model "$m" --batch "$B" --threads 1 --steps "$STEPS" --warmup "$WARMUP" --json | tail -1)
    peer=$(LD_PRELOAD=$JEMALLOC MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 "$PY" "$SRC/tests/bench/bench_torch.py" \
           --model "$m" --batch "$B" --threads 1 --steps "$STEPS" --warmup "$WARMUP" --json 2>/dev/null | tail -1)
    "$PY" - "$plain" "$peer" <<'PYEOF'
import json, sys
p = json.loads(sys.argv[1]); t = json.loads(sys.argv[2]) if sys.argv[2].strip() else None
line = f"plain engine (K = 1, 1 rank): {p['train_samples_per_s']:.1f} samples/s"
if t: line += f"; PyTorch peer: {t['train_samples_per_s']:.1f} samples/s; ratio {p['train_samples_per_s'] / t['train_samples_per_s']:.2f}"
print(line)
PYEOF
    mpirun --oversubscribe -np "$N" "$BIN" bench --model "$m" --batch "$B" --data-parallel "$K" --threads 1 \
        --steps "$STEPS" --warmup "$WARMUP"
    if [ -n "${OVERSUB:-}" ]; then
        echo "(oversubscribed: $OVERSUB ranks on $(nproc) cores; the plumbing runs, the timings mean nothing)"
        mpirun --oversubscribe -np "$OVERSUB" "$BIN" bench --model "$m" --batch "$B" --data-parallel "$K" --threads 1 \
            --steps 2 --warmup 1 | tail -n +3
    fi
done
