#!/bin/bash
# test_mpi_resume.sh: crash-safe resume under MPI. A 2-rank run is started; as soon
# as the first per-symbol checkpoint file appears, one rank is killed with SIGKILL
# (mpirun then takes the other down). The run directory must not hold a results.h5.
# The same command with --resume on 3 ranks (the rank count may change) must
# continue from the checkpoints ("resumed after epoch") and give a results.h5 that
# h5dump and h5py read whole and whose numeric contents equal an uninterrupted
# 1-rank run's bit for bit. A second --resume of the finished run rebuilds the
# same file again from the checkpoints alone.
set -u
source "$(dirname "$0")/mpi_lib.sh"

echo "== synthetic dataset: 3 symbols x 2000 s"
"$BIN" synth --symbols 3 --seconds 2000 --seed 8 --out "$W/syn.h5" > "$W/synth.log" 2>&1 || { show "$W/synth.log"; fail "synth failed"; }
BATCH=50 MAXS=600 mk_config run "$W/syn.h5" 3

echo "== reference: uninterrupted, 1 rank"
"$MPIEXEC" -np 1 "$BIN" train "$W/run.json" --set run_name=ref > "$W/ref.log" 2>&1 || { show "$W/ref.log"; fail "reference run failed"; }

echo "== interrupted: 2 ranks, SIGKILL one rank after the first checkpoint"
CK="$W/out/run/checkpoints"
"$MPIEXEC" -np 2 --oversubscribe "$BIN" train "$W/run.json" > "$W/k1.log" 2>&1 &
MPID=$!
killed=""
for _ in $(seq 1 600); do
    if ls "$CK"/*.h5 >/dev/null 2>&1; then
        pids=$(pgrep -P $MPID)
        victim=$(echo "$pids" | tail -1)
        if [ -n "$victim" ]; then kill -KILL "$victim" && killed=$victim; fi
        break
    fi
    kill -0 $MPID 2>/dev/null || break
    sleep 0.05
done
wait $MPID
rc=$?
[ -n "$killed" ] || { show "$W/k1.log"; fail "no checkpoint appeared while the run was going (or no rank to kill)"; }
echo "killed rank pid $killed; mpirun exit $rc; checkpoints: $(ls "$CK" | tr '\n' ' ')"
[ $rc -ne 0 ] || { show "$W/k1.log"; fail "the killed run reported success"; }
[ -e "$W/out/run/results.h5" ] && fail "a killed run left results.h5"
grep -c "test corr" "$W/k1.log" | xargs echo "symbols finished before the kill:"

echo "== --resume on 3 ranks"
"$MPIEXEC" -np 3 --oversubscribe "$BIN" train "$W/run.json" --resume > "$W/k2.log" 2>&1 || { show "$W/k2.log"; fail "resume failed"; }
grep -q "resumed after epoch" "$W/k2.log" || { show "$W/k2.log"; fail "resume did not continue from a checkpoint"; }
grep "resumed after epoch" "$W/k2.log"
# the kill must have hit mid-run: the resumed run still trains some epoch
grep -Eq " epoch +[0-9]+/3 " "$W/k2.log" || { show "$W/k2.log"; fail "nothing left to train after the kill (killed too late)"; }
cmp_results "$W/out/ref/results.h5" "$W/out/run/results.h5"

echo "== --resume of the finished run (2 ranks): rebuilt from the checkpoints alone"
cp "$W/out/run/results.h5" "$W/first.h5"
"$MPIEXEC" -np 2 --oversubscribe "$BIN" train "$W/run.json" --resume > "$W/k3.log" 2>&1 || { show "$W/k3.log"; fail "second resume failed"; }
[ "$(grep -c "training finished; evaluating" "$W/k3.log")" -eq 3 ] || { show "$W/k3.log"; fail "finished symbols were not taken from their checkpoints"; }
grep -q " epoch   [0-9]/" "$W/k3.log" && { show "$W/k3.log"; fail "a finished symbol was trained again"; }
cmp_results "$W/out/ref/results.h5" "$W/out/run/results.h5"
echo "PASS: test_mpi_resume"
