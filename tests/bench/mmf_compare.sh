#!/bin/bash
# mmf_compare.sh: the MMF study's two benchmarks (issue 12), each side by side in one run,
# reported as ratios (noise on a shared VM is +-12 % or more between runs: performance.md).
#  (a) bar building: `deeplob_mpi mmf-bars` (1 rank, and 2 ranks) vs tests/bench/mmf_bars_pandas.py
#      (the same rules in pandas) on the same `synth --tardis-out` files; outputs must agree.
#  (b) MMF-LSTM training: `deeplob_mpi bench --model mmf_lstm` vs bench_torch.py --model mmf_lstm
#      (the notebook's PyTorch class), same B, T, F, torch.set_num_threads = ours, cells interleaved.
# usage: tests/bench/mmf_compare.sh BUILD_DIR [SECONDS] [THREADS]
#   SECONDS  synthetic seconds per symbol, 2 symbols (default 100000: ~27 MB of gzip per symbol);
#            0 skips (a)
#   THREADS  comma list for (b) (default 1,2); env STEPS/WARMUP (default 5/2), B (128), T_LEN (128),
#            F (19), ROUNDS (interleaved pairs per thread count, default 5)
# Exit 1 if the outputs of (a) differ or a side of (b) fails; the ratios are printed, not judged.
set -u
BD=${1:?usage: mmf_compare.sh BUILD_DIR [SECONDS] [THREADS]}; SECS=${2:-100000}; THREADS=${3:-1,2}
BIN=$(cd "$BD" && pwd)/deeplob_mpi
SRC=$(cd "$(dirname "$0")/../.." && pwd); PY=/usr/bin/python3
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
MPIEXEC=${MPIEXEC:-mpiexec}
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
[ -x "$BIN" ] || { echo "mmf_compare.sh: $BIN is not an executable" >&2; exit 2; }
$PY -c "import pandas, h5py, torch" || { echo "needs python3-pandas, python3-h5py, python3-torch" >&2; exit 77; }
[ -e "$JEMALLOC" ] || { echo "mmf_compare.sh: $JEMALLOC missing (apt-get install libjemalloc2)" >&2; exit 2; }
T=$(mktemp -d /tmp/mmf_compare.XXXXXX); trap 'rm -rf "$T"' EXIT
failed=0
echo "# MMF benchmarks ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -n))"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), avx512f: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)"
echo

# ---- (a) bars ------------------------------------------------------------------------------
if [ "$SECS" != 0 ]; then
"$BIN" synth --out "$T/lob.h5" --symbols 2 --seconds "$SECS" --tardis-out "$T/tardis" > /dev/null || { echo "synth failed"; exit 1; }
GZ=$(du -cb "$T"/tardis/*/*/*.gz | tail -1 | awk '{printf "%.1f", $1/1e6}')
RAW=$(for f in "$T"/tardis/*/*/*.gz; do gzip -dc "$f"; done | wc -c | awk '{printf "%.1f", $1/1e6}')
now() { date +%s.%N; }
# a failed run counts as 999999 s, so best3 reports "-" when all three fail (not a bogus time)
wall() { local s e; s=$(now); if ! "$@" > "$T/last.out" 2>&1; then echo "FAILED: $*" >&2; cat "$T/last.out" >&2; echo 999999; return; fi; e=$(now); echo "$s $e" | awk '{printf "%.3f", $2-$1}'; }
# best3 WORK_PATTERN CMD...: "best-wall best-work" of 3 runs; work = the number the command prints
# after WORK_PATTERN (its own timing, without interpreter / MPI start-up), "-" without a pattern
best3() {
    local pat=$1 b=999999 w=999999 t x; shift
    for _ in 1 2 3; do
        rm -f "$T/c.h5" "$T/p.npz"; t=$(wall "$@"); b=$(echo "$t $b" | awk '{print ($1<$2)?$1:$2}')
        if [ -n "$pat" ]; then x=$(grep -oE "$pat[0-9.]+" "$T/last.out" | tail -1 | grep -oE '[0-9.]+$'); w=$(echo "${x:-999999} $w" | awk '{print ($1<$2)?$1:$2}'); fi
    done
    [ "$b" = 999999 ] && b=-
    [ -n "$pat" ] && echo "$b $w" || echo "$b -"
}
read -r tz _ <<< "$(best3 "" sh -c "for f in '$T'/tardis/*/*/*.gz; do gzip -dc \"\$f\"; done > /dev/null")"
read -r tc tc_in <<< "$(best3 "input rows in " "$BIN" mmf-bars --in "$T/tardis" --out "$T/c.h5")"
read -r tp tp_in <<< "$(best3 "PANDAS_SECONDS=" "$PY" "$SRC/tests/bench/mmf_bars_pandas.py" build "$T/tardis" "$T/p.npz")"
t2=-
if command -v "$MPIEXEC" > /dev/null; then
    read -r t2 _ <<< "$(best3 "" "$MPIEXEC" -n 2 "$BIN" mmf-bars --in "$T/tardis" --out "$T/c.h5")"
fi
rm -f "$T/c.h5"; "$BIN" mmf-bars --in "$T/tardis" --out "$T/c.h5" > /dev/null 2>&1 && "$PY" "$SRC/tests/bench/mmf_bars_pandas.py" build "$T/tardis" "$T/p.npz" > /dev/null \
    && "$PY" "$SRC/tests/bench/mmf_bars_pandas.py" compare "$T/p.npz" "$T/c.h5" || { echo "(a): the outputs differ"; failed=1; }
echo "(a) bars: 2 symbols x $SECS s, $GZ MB gzip, $RAW MB CSV (book_snapshot_25 + trades), best of 3 (wall and work separately)"
printf "| %-44s | %8s | %10s |\n" side "wall s" "work s"; echo "|---|---|---|"
printf "| %-44s | %8s | %10s |\n" "gzip -dc of the same files (floor)" "$tz" "-"
printf "| %-44s | %8s | %10s |\n" "deeplob_mpi mmf-bars, 1 rank" "$tc" "$tc_in"
printf "| %-44s | %8s | %10s |\n" "deeplob_mpi mmf-bars, mpiexec -n 2" "$t2" "-"
printf "| %-44s | %8s | %10s |\n" "pandas, same rules (1 process)" "$tp" "$tp_in"
{ [ "$tc" = - ] || [ "$tp" = - ]; } && { echo "(a): a side failed"; failed=1; }
[ "$tc" != - ] && [ "$tp" != - ] && echo "ratio pandas/mmf-bars, 1 rank: wall $(echo "$tp $tc" | awk '{printf "%.2f", $1/$2}')x, work (excluding interpreter and MPI start-up) $(echo "$tp_in $tc_in" | awk '{printf "%.2f", $1/$2}')x"
[ "$t2" != - ] && [ "$tp" != - ] && echo "ratio pandas/mmf-bars, 2 ranks (2 cores vs 1): wall $(echo "$tp $t2" | awk '{printf "%.2f", $1/$2}')x"
echo
fi

# ---- (b) MMF-LSTM training ------------------------------------------------------------------
# ROUNDS interleaved pairs (C, torch, C, torch, ...) per thread count: one pair moves by +-25 %
# on these shared VMs, so the cell reports the median of the pairs' ratios, and both medians.
# The peer runs with OPENBLAS_NUM_THREADS=1 and torch.set_num_threads(N): its intra-op threads
# are OpenMP's, and a second OpenBLAS pool under them oversubscribes the cores (at N = 2 the
# peer fell from 735 to 147 samples/s, performance.md): this is its best setting at every N.
Bs=${B:-128}; Ts=${T_LEN:-128}; Fs=${F:-19}; ST=${STEPS:-5}; WU=${WARMUP:-2}; RO=${ROUNDS:-5}
field() { "$PY" -c "import json,sys; l=[x for x in open(sys.argv[1]) if x.lstrip().startswith('{')]; print('%.1f' % float(json.loads(l[-1])[sys.argv[2]]))" "$1" "$2" 2>/dev/null || echo fail; }
ratio() { [ "$1" = fail ] || [ "$2" = fail ] && { echo -; return; }; echo "$1 $2" | awk '{printf "%.2f", $1/$2}'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "-"; else printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "(b) MMF-LSTM training step (forward + MSE after 32 warm-up steps + backward + Adam), B=$Bs T=$Ts F=$Fs, median of $ST steps after $WU, $RO interleaved pairs"
echo "| threads | C train/s (pairs) | torch train/s (pairs) | C median | torch median | **median of pair ratios** | C infer/s | torch infer/s |"
echo "|---|---|---|---|---|---|---|---|"
for N in ${THREADS//,/ }; do
    cs="" ts="" rs="" ci="" ti=""
    for _ in $(seq "$RO"); do
        OMP_NUM_THREADS=$N OPENBLAS_NUM_THREADS=$N "$BIN" bench --model mmf_lstm --batch "$Bs" --seq-len "$Ts" --features "$Fs" \
            --threads "$N" --steps "$ST" --warmup "$WU" --json > "$T/c.out" 2> "$T/c.err" || { tail -3 "$T/c.err"; failed=1; }
        LD_PRELOAD=$JEMALLOC MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 OMP_NUM_THREADS=$N OPENBLAS_NUM_THREADS=1 \
            "$PY" "$SRC/tests/bench/bench_torch.py" --model mmf_lstm --batch "$Bs" --seq-len "$Ts" --features "$Fs" \
            --threads "$N" --steps "$ST" --warmup "$WU" --json > "$T/t.out" 2> "$T/t.err" || { tail -3 "$T/t.err"; failed=1; }
        ct=$(field "$T/c.out" train_samples_per_s); tt=$(field "$T/t.out" train_samples_per_s)
        for v in "$ct" "$tt"; do [ "$v" = fail ] && failed=1; done
        cs="$cs $ct" ts="$ts $tt" rs="$rs $(ratio "$ct" "$tt")"
        ci="$ci $(field "$T/c.out" infer_samples_per_s)" ti="$ti $(field "$T/t.out" infer_samples_per_s)"
    done
    echo "| $N |$(echo $cs | sed 's/ /, /g') | $(echo $ts | sed 's/ /, /g') | $(echo $cs | median) | $(echo $ts | median) | **$(echo $rs | median)** | $(echo $ci | median) | $(echo $ti | median) |"
done
echo "torch config: $(grep -h '^bench_torch:' "$T/t.err" 2>/dev/null | tail -1 | sed 's/^bench_torch: //')"
exit $failed
