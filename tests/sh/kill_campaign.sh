#!/bin/bash
# kill_campaign.sh N [SEED]: N times, start a multi-rank training (2 or 3 ranks, drawn),
# SIGKILL one random rank or all of them at a random moment (0.1-4 s: MPI start-up,
# reading, mid-epoch, checkpoint writes, the results file), then --resume (on a
# drawn rank count) to the end. A kill "held" when: the killed run left no results.h5
# unless it had finished, every HDF5 file of the run directory (checkpoints, results)
# reads whole with h5dump after the kill, and the resumed results.h5 equals an
# uninterrupted 1-rank run bit for bit (cmp_results). Prints one line per kill and
# "held K of N"; exits non-zero unless all held. Draws come from SEED (default 1)
# and are printed, so a failing kill can be replayed.
# Environment as for the tests/sh/test_mpi_*.sh (DEEPLOB_BIN, MPIEXEC).
set -u
N=${1:?usage: kill_campaign.sh N [SEED]}
RANDOM=${2:-1}
source "$(dirname "$0")/mpi_lib.sh"

"$BIN" synth --symbols 3 --seconds 2000 --seed 8 --out "$W/syn.h5" > "$W/synth.log" 2>&1 || { show "$W/synth.log"; fail "synth failed"; }
BATCH=32 MAXS=300 mk_config run "$W/syn.h5" 2
"$MPIEXEC" -np 1 "$BIN" train "$W/run.json" --set run_name=ref > "$W/ref.log" 2>&1 || { show "$W/ref.log"; fail "reference run failed"; }

held=0
for k in $(seq 1 "$N"); do
    np=$((2 + RANDOM % 2)); np2=$((1 + RANDOM % 3)); ms=$((100 + RANDOM % 3900)); who=$((RANDOM % (np + 1)))
    D="$W/out/k$k"
    "$MPIEXEC" -np $np --oversubscribe "$BIN" train "$W/run.json" --set run_name=k$k > "$W/k$k.log" 2>&1 &
    MPID=$!
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    pids=$(pgrep -P $MPID | sort -n)
    if [ "$who" -eq "$np" ]; then victim="all"; [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    else victim="rank $who"; p=$(echo "$pids" | sed -n "$((who + 1))p"); [ -n "$p" ] && kill -KILL "$p" 2>/dev/null; fi
    wait $MPID; rc=$?
    why=""
    if [ $rc -ne 0 ] && [ -e "$D/results.h5" ]; then why="a killed run left results.h5"; fi
    for f in "$D"/checkpoints/*.h5 "$D"/results.h5; do
        [ -e "$f" ] || continue
        h5dump "$f" > /dev/null 2>&1 || why="$why h5dump cannot read $(basename "$f") after the kill"
    done
    ck=$(ls "$D"/checkpoints/*.h5 2>/dev/null | wc -l)
    if [ -z "$why" ]; then
        "$MPIEXEC" -np $np2 --oversubscribe "$BIN" train "$W/run.json" --set run_name=k$k --resume > "$W/r$k.log" 2>&1 \
            || why="resume failed (exit $?)"
    fi
    if [ -z "$why" ]; then
        (cmp_results "$W/out/ref/results.h5" "$D/results.h5") > "$W/c$k.log" 2>&1 || why="results differ: $(tail -2 "$W/c$k.log" | tr '\n' ' ')"
        for f in "$D"/checkpoints/*.h5; do h5dump "$f" > /dev/null 2>&1 || why="$why h5dump cannot read $(basename "$f")"; done
    fi
    state="killed at ${ms} ms ($victim of $np, exit $rc, $ck checkpoint(s))"
    [ $rc -eq 0 ] && state="finished before the kill at ${ms} ms ($victim of $np)"
    if [ -z "$why" ]; then held=$((held + 1)); echo "kill $k: $state; resumed on $np2: held"
    else echo "kill $k: $state; resumed on $np2: FAILED: $why"; show "$W/k$k.log"; fi
    rm -rf "$D"
done
echo "held $held of $N"
[ "$held" -eq "$N" ] || exit 1
