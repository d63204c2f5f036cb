#!/bin/bash
# test_squeue_mpi.sh: the dynamic symbol queue (one-sided MPI_Fetch_and_op on a
# counter in rank 0's window) under mpirun with 1, 2 and 3 ranks. Runs the unit
# test binary test_symbol_sched, which under mpirun has every rank draw until the
# queue is empty and rank 0 check that each index was handed out exactly once
# (more items than ranks, fewer items than ranks, none).
set -u
BUILD=${DEEPLOB_BUILD:?DEEPLOB_BUILD not set}
MPIEXEC=${MPIEXEC:-mpiexec}
T="$BUILD/test_symbol_sched"
[ -x "$T" ] || { echo "FAIL: $T not built"; exit 1; }
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
fail=0
for np in 1 2 3; do
    out=$("$MPIEXEC" -np $np --oversubscribe "$T" 2>&1)
    rc=$?
    echo "$out" | grep -E "^queue|checks"
    want=$([ $np -gt 1 ] && echo "test_symbol_sched \\(mpi\\): [0-9]+ checks, 0 failures" || echo "test_symbol_sched: [0-9]+ checks, 0 failures")
    nq=$(echo "$out" | grep -c "^queue n=.* on $np rank(s):.* 0 duplicate/invalid, 0 missing")
    if [ $rc -ne 0 ] || ! echo "$out" | grep -Eq "$want" || [ "$nq" -ne 3 ]; then
        echo "$out"; echo "FAIL: np=$np (rc=$rc, $nq of 3 queue checks passed)"; fail=1
    else
        echo "ok: np=$np"
    fi
done
[ $fail -eq 0 ] && echo "PASS: test_squeue_mpi"
exit $fail
