#!/bin/bash
# test_slurm.sh: slurm/train_all.sh end to end on a real one-node Slurm.
# Starts Slurm with .ci/slurm_up.sh unless one is running (and stops it again at
# the end), then:
#   1. sbatch --test-only with the CI overrides (no GPUs here: --gpus-per-task=0,
#      2 tasks x 1 CPU) must be accepted: fail fast instead of pending forever;
#   2. standalone `bash slurm/train_all.sh` (no Slurm -> local mpirun, 2 ranks);
#   3. trivial jobs through the same script (DEEPLOB_CMD=bench) with srun --mpi=pmix
#      and with mpirun: the job must COMPLETE and its log must show one 2-rank world
#      (DL_SLURM_TEST_NP=1 runs the jobs with 1 rank);
#   4. `sbatch --wait slurm/train_all.sh tiny.json` (2 ranks, 2 symbols), then the
#      outputs themselves: summary.csv has one finite row per symbol, results.h5 is
#      read whole by h5dump and marks both symbols complete, and the metrics equal
#      those of a plain one-process run of the same config.
# Exit 77 (skip) when slurmctld is not installed or we are not root without a running Slurm.
set -u
BIN=${DEEPLOB_BIN:?DEEPLOB_BIN not set}
SRC=${DEEPLOB_SRC:?DEEPLOB_SRC not set}
if [ ! -x /usr/sbin/slurmctld ] || ! command -v sbatch >/dev/null; then
    echo "SKIP: slurmctld/sbatch not installed (apt-get install slurmctld slurmd slurm-client munge)"; exit 77
fi
command -v h5dump >/dev/null || { echo "SKIP: h5dump not installed (hdf5-tools)"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
export OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
unset SLURM_JOB_ID   # a test started inside an allocation must still see train_all.sh's standalone mode

STARTED=0
W=$(mktemp -d /tmp/dl_slurm.XXXXXX)
cleanup() {
    [ $STARTED -eq 1 ] && "$SRC/.ci/slurm_down.sh"
    rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
show() { echo "---- $1"; cat "$1" 2>/dev/null; echo "----"; }

if sinfo -h >/dev/null 2>&1; then
    echo "== using the running Slurm"
else
    [ "$(id -u)" -eq 0 ] || { echo "SKIP: no Slurm running and not root (cannot start one)"; exit 77; }
    echo "== starting a one-node Slurm (.ci/slurm_up.sh)"
    STARTED=1
    "$SRC/.ci/slurm_up.sh" || fail "slurm_up.sh could not start Slurm"
fi
cd "$SRC" || fail "cd $SRC"
export DEEPLOB_BIN="$BIN" DEEPLOB_ROOT="$SRC"
# what the CI node lacks (GPUs) or has less of (cores, time) is overridden on the command line
# (DL_SLURM_TEST_NP ranks, default 2; DL_SLURM_TEST_SBATCH: more sbatch options)
NPJ=${DL_SLURM_TEST_NP:-2}
# shellcheck disable=SC2206
SB=(--gpus-per-task=0 --ntasks-per-node="$NPJ" --cpus-per-task=1 --time=10 ${DL_SLURM_TEST_SBATCH:-})
BENCH="bench --model deeplob --batch 8 --steps 1 --warmup 0 --threads 1"

echo "== 1. sbatch --test-only"
if sbatch --test-only slurm/train_all.sh > "$W/t0.txt" 2>&1; then
    echo "the GPU header as written fits this cluster"
else
    echo "the GPU header as written is rejected here, as expected without GPUs: $(tail -1 "$W/t0.txt")"
fi
sbatch --test-only "${SB[@]}" slurm/train_all.sh > "$W/t1.txt" 2>&1 || { show "$W/t1.txt"; fail "sbatch --test-only ${SB[*]} rejected"; }
tail -1 "$W/t1.txt"

echo "== 2. standalone: bash slurm/train_all.sh -> local mpirun"
NP=2 DEEPLOB_CMD="$BENCH" bash slurm/train_all.sh > "$W/local.log" 2>&1 || { show "$W/local.log"; fail "standalone run failed"; }
if ! grep -q "no Slurm job: local mpirun with 2 rank" "$W/local.log" || ! grep -q "2 rank(s)" "$W/local.log"; then
    show "$W/local.log"; fail "standalone run did not start 2 ranks under mpirun"
fi

for L in srun mpirun; do
    echo "== 3. trivial job, launcher $L"
    DEEPLOB_LAUNCHER=$L DEEPLOB_CMD="$BENCH" "$SRC/.ci/slurm_wait.sh" 300 "${SB[@]}" --output="$W/$L.log" \
        slurm/train_all.sh || { show "$W/$L.log"; fail "trivial $L job did not complete"; }
    grep -q "launcher $L" "$W/$L.log" || { show "$W/$L.log"; fail "job log does not name launcher $L"; }
    # a failed PMIx wire-up would give NPJ 1-rank worlds instead of one NPJ-rank world
    if [ "$(grep -c "$NPJ rank(s)" "$W/$L.log")" -ne 1 ] || ! grep -q "rank $((NPJ - 1)): train" "$W/$L.log"; then
        show "$W/$L.log"; fail "$L did not run one $NPJ-rank MPI world"
    fi
    echo "ok: $L job ran one $NPJ-rank world"
done

echo "== 4. sbatch --wait slurm/train_all.sh tiny config"
"$BIN" synth --symbols 2 --seconds 3000 --seed 11 --out "$W/syn.h5" > "$W/synth.log" 2>&1 || { show "$W/synth.log"; fail "synth failed"; }
mk_config() { # $1 = output dir
cat > "$W/tiny_$(basename "$1").json" <<JSON
{"dataset": "$W/syn.h5", "symbols": "all", "model": "deeplob", "seq_len": 24, "batch": 32,
 "epochs": 2, "patience": 3, "max_train_samples": 300, "seed": 7, "output_dir": "$1",
 "run_name": "tiny", "threads": 1}
JSON
}
mk_config "$W/slurm"; mk_config "$W/ref"
"$SRC/.ci/slurm_wait.sh" 600 "${SB[@]}" --output="$W/train.log" slurm/train_all.sh "$W/tiny_slurm.json" \
    || { show "$W/train.log"; fail "training job did not complete"; }
OUT="$W/slurm/tiny"
[ -s "$OUT/summary.csv" ] || { show "$W/train.log"; fail "no summary.csv"; }
[ -s "$OUT/results.h5" ] || { show "$W/train.log"; fail "no results.h5"; }
head -1 "$OUT/summary.csv" | grep -q '^symbol,' || fail "summary.csv has no header"
for s in SYN000USDT SYN001USDT; do
    [ "$(grep -c "^\"\?$s\"\?," "$OUT/summary.csv")" -eq 1 ] || { cat "$OUT/summary.csv"; fail "summary.csv: not one row for $s"; }
    v=$(h5dump -d "/symbols/$s/complete" "$OUT/results.h5" 2>&1) || { echo "$v"; fail "h5dump cannot read /symbols/$s/complete"; }
    echo "$v" | grep -Eq '^\s*\(0\): 1\s*$' || { echo "$v"; fail "$s not marked complete in results.h5"; }
done
[ "$(wc -l < "$OUT/summary.csv")" -eq 3 ] || { cat "$OUT/summary.csv"; fail "summary.csv: expected a header and 2 rows"; }
awk -F, 'NR > 1 && ($3 == "nan" || $3 == "" || $3 == "-nan") { exit 1 }' "$OUT/summary.csv" || fail "non-finite correlation"
h5dump "$OUT/results.h5" > /dev/null 2> "$W/h5dump.err" || { cat "$W/h5dump.err"; fail "h5dump cannot read all of results.h5"; }
echo "ok: summary.csv has 2 rows, results.h5 read whole by h5dump, both symbols complete"

echo "== 5. same metrics as a one-process run"
OMP_NUM_THREADS=1 "$BIN" train "$W/tiny_ref.json" > "$W/ref.log" 2>&1 || { show "$W/ref.log"; fail "reference run failed"; }
# drop the timing columns (wall_s, samples_per_s) and compare the rest byte for byte
strip() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "wall_s" || $i == "samples_per_s") drop[i] = 1 }
                   { s = ""; for (i = 1; i <= NF; i++) if (!drop[i]) s = s $i ","; print s }' "$1" | sort; }
if ! diff <(strip "$W/ref/tiny/summary.csv") <(strip "$OUT/summary.csv"); then
    fail "the Slurm run's metrics differ from the one-process run"
fi
echo "ok: metrics identical to the one-process run"
echo "PASS: test_slurm"
