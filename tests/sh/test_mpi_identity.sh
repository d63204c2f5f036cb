#!/bin/bash
# test_mpi_identity.sh: the same config gives bit-identical results.h5 numeric
# contents (metrics, predictions, history losses, weights, summary) on 1, 2 and 3
# MPI ranks. Each run
# must train every symbol exactly once (the schedule printed by rank 0), print
# one thread line per rank, and give summary.csv rows equal to the 1-rank run's
# (timing columns dropped). The dataset has symbols of different sizes, so the
# largest-first order and the ranks' finishing order differ from the name order.
set -u
source "$(dirname "$0")/mpi_lib.sh"

echo "== synthetic dataset: 3 symbols x 2000 s + 1 of 2600 s (sizes differ)"
mk_mixed_dataset "$W/syn.h5"
BATCH=50 MAXS=0 mk_config base "$W/syn.h5" 1 ', "eval_batch": 128'
strip() { awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "wall_s" || $i == "samples_per_s") drop[i] = 1 }
                   { s = ""; for (i = 1; i <= NF; i++) if (!drop[i]) s = s $i ","; print s }' "$1"; }
for np in 1 2 3; do
    echo "== np=$np"
    "$MPIEXEC" -np $np --oversubscribe "$BIN" train "$W/base.json" --set run_name=np$np \
        > "$W/np$np.log" 2>&1 || { show "$W/np$np.log"; fail "np=$np run failed"; }
    grep -q "on $np rank(s)" "$W/np$np.log" || { show "$W/np$np.log"; fail "np=$np: header does not say $np rank(s)"; }
    [ "$(grep -c "thread(s) (" "$W/np$np.log")" -eq $np ] || { show "$W/np$np.log"; fail "np=$np: not one thread line per rank"; }
    # schedule table: 4 rows, every symbol once, each with a rank
    n=$(sed -n '/^schedule (largest first/,/^per-rank time/p' "$W/np$np.log" | grep -cE '^ +[0-9]+ +SYN[0-9]+USDT +[0-9]+ ')
    [ "$n" -eq 4 ] || { show "$W/np$np.log"; fail "np=$np: schedule lists $n symbols with an owner, 4 expected"; }
    [ "$(grep -c "^ *[0-9]\+ \+[0-9.]\+ \+[0-9.]\+ \+[0-9.]\+%" "$W/np$np.log")" -eq $np ] || { show "$W/np$np.log"; fail "np=$np: busy/idle rows != ranks"; }
    # each symbol trained exactly once (one 'test corr' line per symbol)
    for s in SYN000USDT SYN001USDT SYN002USDT SYN009USDT; do
        [ "$(grep -c "^  $s: test corr" "$W/np$np.log")" -eq 1 ] || { show "$W/np$np.log"; fail "np=$np: $s not trained exactly once"; }
    done
    [ "$(wc -l < "$W/out/np$np/summary.csv")" -eq 5 ] || fail "np=$np: summary.csv is not header + 4 rows"
    diff <(strip "$W/out/np1/summary.csv") <(strip "$W/out/np$np/summary.csv") || fail "np=$np: summary.csv differs from np=1"
    [ -e "$W/out/np$np/results.h5.tmp" ] && fail "np=$np: temporary results file left behind"
done
grep -q "test correlation (raw targets) over 4 symbols" "$W/np3.log" || fail "np=3: no summary statistics printed"
echo "== 1 rank, 2 threads (the thread count must not change the numbers either)"
OMP_NUM_THREADS=2 "$MPIEXEC" -np 1 "$BIN" train "$W/base.json" --set run_name=t2 > "$W/t2.log" 2>&1 || { show "$W/t2.log"; fail "2-thread run failed"; }
grep -q "2 thread(s) (OMP_NUM_THREADS)" "$W/t2.log" || { show "$W/t2.log"; fail "OMP_NUM_THREADS=2 not used"; }
echo "== compare results.h5"
cmp_results "$W/out/np1/results.h5" "$W/out/np2/results.h5" "$W/out/np3/results.h5" "$W/out/t2/results.h5"
$PY - "$W/out/np3/results.h5" <<'PYEOF' || fail "manifest check"
import sys, h5py
with h5py.File(sys.argv[1]) as f:
    a = f.attrs
    print("manifest: ranks", a["ranks"], "hosts", a["hosts"], "mpi", a["mpi_version"], "hdf5", a["hdf5_version"],
          "cJSON", a["cjson_version"], "git", a["git_revision"], a["start_time"], "->", a["end_time"])
    assert int(a["ranks"]) == 3 and int(a["seed"]) == 5
    s = f["summary"][:]
    assert len(s) == 4 and [x.decode() for x in s["symbol"]] == sorted(f["symbols"])
PYEOF
echo "== two-head model (deeplob_hier, head-2 objects in results.h5): 1 vs 3 ranks (more ranks than symbols)"
for np in 1 3; do
    "$MPIEXEC" -np $np --oversubscribe "$BIN" train "$W/base.json" --set run_name=hier$np --set model=deeplob_hier \
        --set symbols=SYN000USDT,SYN009USDT --set max_train_samples=200 --set epochs=1 --set ema_alpha=0.3 \
        > "$W/hier$np.log" 2>&1 || { show "$W/hier$np.log"; fail "deeplob_hier np=$np run failed"; }
done
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1]); assert 'head2/test/pred' in f['symbols/SYN009USDT'] and int(f['symbols/SYN009USDT'].attrs['horizon2']) == 60" \
    "$W/out/hier3/results.h5" || fail "deeplob_hier: head-2 objects missing"
cmp_results "$W/out/hier1/results.h5" "$W/out/hier3/results.h5"
echo "PASS: test_mpi_identity"
