#!/bin/bash
# slurm_wait.sh TIMEOUT_S SBATCH_ARGS... : `sbatch --wait` a job under a time limit,
# then check its final state, because sbatch --wait can return 0 for a job that
# never ran (launch failure, cancelled while pending).
# Prints "job ID STATE exit=N" and the job's output file; exit 0 only for COMPLETED
# with exit code 0, 124 on time-out (the job is cancelled), 1 otherwise.
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: slurm_wait.sh TIMEOUT_S SBATCH_ARGS... SCRIPT [ARGS]"; exit 2; }
T=$1; shift
NAME=ciwait_$$_${RANDOM}          # unique, so a time-out can cancel exactly this job
OUTF=$(mktemp)
timeout "$T" sbatch --wait --parsable --job-name="$NAME" "$@" > "$OUTF"
rc=$?
id=$(cut -d';' -f1 < "$OUTF" | head -1)
rm -f "$OUTF"
[ -n "$id" ] || id=$(squeue -h -n "$NAME" -o %i 2>/dev/null | head -1)
if [ $rc -eq 124 ]; then
    echo "slurm_wait.sh: job ${id:-?} ($NAME) still running after ${T}s: cancelled"
    scancel --name="$NAME" 2>/dev/null
    exit 124
fi
[ -n "$id" ] || { echo "slurm_wait.sh: sbatch failed (rc=$rc), no job id"; exit 1; }
line=$(scontrol show job -o "$id" 2>/dev/null)
st=$(grep -oP 'JobState=\K\S+' <<<"$line")
ec=$(grep -oP ' ExitCode=\K[0-9]+:[0-9]+' <<<"$line")
out=$(grep -oP ' StdOut=\K\S+' <<<"$line")
echo "slurm_wait.sh: job $id ${st:-unknown} exit=${ec:-?} (sbatch rc=$rc) output $out"
[ "$st" = COMPLETED ] && [ "$ec" = 0:0 ] && [ $rc -eq 0 ]
