#!/usr/bin/env bash
# ab.sh: two builds of deeplob_mpi against each other, interleaved (A, B, A, B, ...) cell by
# cell in one run, so that machine noise hits both alike: the tool for "what did this engine
# change cost or gain". Prints one markdown row per cell: median training samples/s of each
# side over ROUNDS runs and the ratio B / A, with the CPU model.
#
#   tests/bench/ab.sh BIN_A BIN_B [models] [batches] [threads]
#       defaults: deeplob,deeplob_tcn,deeplob_hier  256  1
#   env: ROUNDS (default 3), STEPS / WARMUP (bench's, default 5 / 2)
set -u
A=${1:?usage: ab.sh BIN_A BIN_B [models] [batches] [threads]}
B=${2:?usage: ab.sh BIN_A BIN_B [models] [batches] [threads]}
MODELS=${3:-deeplob,deeplob_tcn,deeplob_hier}
BATCHES=${4:-256}
THREADS=${5:-1}
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-5}
WARMUP=${WARMUP:-2}
for b in "$A" "$B"; do [ -x "$b" ] || { echo "ab.sh: $b is not an executable" >&2; exit 2; }; done
sps() { # BIN MODEL BATCH THREADS -> training samples/s, or "fail"
    "$1" bench --model "$2" --batch "$3" --threads "$4" --steps "$STEPS" --warmup "$WARMUP" --json 2>/dev/null |
        sed -n 's/.*"train_samples_per_s":\([0-9.]*\).*/\1/p' | tail -1 | grep . || echo fail
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); A = $A; B = $B; $ROUNDS rounds"
echo "| model | batch | threads | A samples/s | B samples/s | B / A |"
echo "|---|---|---|---|---|---|"
for m in ${MODELS//,/ }; do for bs in ${BATCHES//,/ }; do for t in ${THREADS//,/ }; do
    ra="" rb=""
    for r in $(seq "$ROUNDS"); do
        ra="$ra $(sps "$A" "$m" "$bs" "$t")"
        rb="$rb $(sps "$B" "$m" "$bs" "$t")"
    done
    case "$ra$rb" in *fail*) echo "| $m | $bs | $t | $ra | $rb | fail |"; continue ;; esac
    ma=$(echo "$ra" | median) mb=$(echo "$rb" | median)
    echo "| $m | $bs | $t | $ma | $mb | $(awk -v a="$ma" -v b="$mb" 'BEGIN {printf "%.3f", b / a}') |"
done; done; done
