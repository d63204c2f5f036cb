#!/usr/bin/env bash
# compare.sh: deeplob_mpi vs the tuned PyTorch peer, interleaved cell by cell in one run
# (noise between runs is up to +-12 %, performance.md: compare ratios from the same run).
#
#   tests/bench/compare.sh [models] [batches] [threads]
#       models   comma list, default deeplob,deeplob_tcn,deeplob_hier
#       batches  comma list, default 256
#       threads  comma list, default 1,2
#   env: BIN (default <repo>/build/deeplob_mpi), PY (default /usr/bin/python3),
#        STEPS / WARMUP (timed and warm-up steps of BOTH sides, default 10 / 3), JEMALLOC
#
# Each cell runs `$BIN bench --model M --batch B --threads N --json` and then bench_torch.py
# under jemalloc (MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1) with OMP_NUM_THREADS and
# OPENBLAS_NUM_THREADS = N, and prints one markdown table row (ratio = C / torch). A side that
# fails shows "fail" and the run goes on; the exit status is 1 if any side failed.
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$SRC/build/deeplob_mpi}
PY=${PY:-/usr/bin/python3}
JEMALLOC=${JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
MODELS=${1:-deeplob,deeplob_tcn,deeplob_hier}
BATCHES=${2:-256}
THREADS=${3:-1,2}

if [ ! -x "$BIN" ]; then
    echo "compare.sh: BIN='$BIN' is not an executable (build deeplob_mpi or set BIN)" >&2
    exit 2
fi
if [ ! -e "$JEMALLOC" ]; then
    echo "compare.sh: $JEMALLOC missing (apt-get install libjemalloc2): the peer would run" \
         "with glibc malloc, 2.7-3.4x slower, not a fair comparison" >&2
    exit 2
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/compare.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# field FILE KEY: KEY of the last JSON line in FILE, or "fail"
field() {
    "$PY" - "$1" "$2" <<'EOF'
import json, sys
path, key = sys.argv[1], sys.argv[2]
try:
    lines = [l for l in open(path) if l.lstrip().startswith("{")]
    print(f"{float(json.loads(lines[-1])[key]):.1f}")
except Exception:
    print("fail")
EOF
}

ratio() {
    if [ "$1" = fail ] || [ "$2" = fail ]; then echo "-"; return; fi
    "$PY" -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.2f}' if b > 0 else '-')" "$1" "$2"
}

failed=0
echo "# deeplob_mpi vs PyTorch ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -n))"
echo
echo "| model | batch | threads | C train/s | torch train/s | ratio | C infer/s | torch infer/s | ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
for M in ${MODELS//,/ }; do
    for B in ${BATCHES//,/ }; do
        for N in ${THREADS//,/ }; do
            OMP_NUM_THREADS=$N OPENBLAS_NUM_THREADS=$N \
                "$BIN" bench --model "$M" --batch "$B" --threads "$N" --steps "${STEPS:-10}" --warmup "${WARMUP:-3}" --json >"$TMP/c.out" 2>"$TMP/c.err" \
                || { echo "compare.sh: $BIN bench $M B=$B N=$N failed:" >&2; tail -5 "$TMP/c.err" >&2; }
            LD_PRELOAD=$JEMALLOC MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 \
            OMP_NUM_THREADS=$N OPENBLAS_NUM_THREADS=$N \
                "$PY" "$SRC/tests/bench/bench_torch.py" --model "$M" --batch "$B" --threads "$N" \
                --steps "${STEPS:-10}" --warmup "${WARMUP:-3}" --json \
                >"$TMP/t.out" 2>"$TMP/t.err" \
                || { echo "compare.sh: bench_torch.py $M B=$B N=$N failed:" >&2; tail -5 "$TMP/t.err" >&2; }
            ct=$(field "$TMP/c.out" train_samples_per_s); ci=$(field "$TMP/c.out" infer_samples_per_s)
            tt=$(field "$TMP/t.out" train_samples_per_s); ti=$(field "$TMP/t.out" infer_samples_per_s)
            for v in "$ct" "$ci" "$tt" "$ti"; do [ "$v" = fail ] && failed=1; done
            echo "| $M | $B | $N | $ct | $tt | $(ratio "$ct" "$tt") | $ci | $ti | $(ratio "$ci" "$ti") |"
        done
    done
done
echo
echo "torch config: $(grep -h '^bench_torch:' "$TMP/t.err" 2>/dev/null | tail -1 | sed 's/^bench_torch: //')"
exit $failed
