#!/bin/bash
# train_all.sh: train every symbol of a dataset with deeplob_mpi on a GPU cluster.
#
#   sbatch slurm/train_all.sh [CONFIG] [train options]          the #SBATCH header below
#   bash slurm/train_all.sh --submit [CONFIG] [train options]   sbatch with slurm/cluster.env's settings
#   bash slurm/train_all.sh [CONFIG] [train options]            no Slurm: local mpirun -np ${NP:-$(nproc)}
#
# CONFIG defaults to inputs/train_all.json; train options go to `deeplob_mpi train`
# (e.g. --resume after a crash or a time-out). Paths are relative to the directory
# sbatch was called from (the repository root). Environment:
#   DEEPLOB_BIN       the binary (default build/deeplob_mpi)
#   DEEPLOB_LAUNCHER  srun (default: srun --mpi=pmix) or mpirun, inside an allocation
#   DEEPLOB_CMD       run another subcommand with the same launch, e.g. "bench --model deeplob"
#   NP                ranks of a standalone run (default: nproc)
# One rank per GPU: ntasks-per-node = GPUs per node, gpus-per-task=1; each rank runs
# OMP_NUM_THREADS = cpus-per-task threads, OpenBLAS single-threaded. docs/hpc.md has more.
#SBATCH --job-name=deeplob_train_all
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --output=train_all_%j.log
set -euo pipefail

if [ -n "${SLURM_JOB_ID:-}" ]; then
    ROOT=${DEEPLOB_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}   # the job runs a spooled copy of this file
else
    ROOT=${DEEPLOB_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
fi
CLUSTER_ENV=${DEEPLOB_CLUSTER_ENV:-$ROOT/slurm/cluster.env}
[ -f "$CLUSTER_ENV" ] || { echo "train_all.sh: $CLUSTER_ENV not found (set DEEPLOB_CLUSTER_ENV)" >&2; exit 2; }
# shellcheck source=/dev/null
source "$CLUSTER_ENV"

SUBMIT=0
if [ "${1:-}" = "--submit" ]; then SUBMIT=1; shift; fi
CONFIG=inputs/train_all.json
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then CONFIG=$1; shift; fi
BIN=${DEEPLOB_BIN:-build/deeplob_mpi}
# a relative path that exists here is made absolute (the job and the launch run in $ROOT)
absolute() { case "$1" in /*) echo "$1" ;; *) if [ -e "$1" ]; then echo "$PWD/$1"; else echo "$1"; fi ;; esac; }
CONFIG=$(absolute "$CONFIG")
BIN=$(absolute "$BIN")
export DEEPLOB_ROOT=$ROOT DEEPLOB_BIN=$BIN

if [ $SUBMIT -eq 1 ]; then
    [ -z "${SLURM_JOB_ID:-}" ] || { echo "train_all.sh: --submit inside a job" >&2; exit 2; }
    args=(--nodes="$DL_SLURM_NODES" --ntasks-per-node="$DL_SLURM_GPUS_PER_NODE" --gpus-per-task=1
          --cpus-per-task="$DL_SLURM_CPUS_PER_TASK" --time="$DL_SLURM_TIME")
    [ -z "$DL_SLURM_PARTITION" ] || args+=(--partition="$DL_SLURM_PARTITION")
    [ -z "$DL_SLURM_ACCOUNT" ] || args+=(--account="$DL_SLURM_ACCOUNT")
    # shellcheck disable=SC2206  # word splitting of the extra options is intended
    extra=($DL_SLURM_EXTRA)
    echo "+ sbatch ${args[*]} ${extra[*]} $0 $CONFIG $*"
    exec sbatch "${args[@]}" "${extra[@]}" "$0" "$CONFIG" "$@"
fi

cd "$ROOT"
[ -x "$BIN" ] || { echo "train_all.sh: binary $BIN not found (build it, or set DEEPLOB_BIN)" >&2; exit 2; }
if [ -n "${DEEPLOB_CMD:-}" ]; then
    # shellcheck disable=SC2206
    run=("$BIN" $DEEPLOB_CMD "$@")
else
    [ -f "$CONFIG" ] || { echo "train_all.sh: config $CONFIG not found" >&2; exit 2; }
    run=("$BIN" train "$CONFIG" "$@")
fi
export OPENBLAS_NUM_THREADS=1   # threads come from OpenMP, one pool per rank
# shellcheck disable=SC2206
mpirun_args=($DEEPLOB_MPIRUN_ARGS)

if [ -n "${SLURM_JOB_ID:-}" ]; then
    dl_cluster_modules
    export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
    echo "train_all.sh: job $SLURM_JOB_ID on ${SLURM_JOB_NODELIST:-?}: ${SLURM_NTASKS:-?} ranks" \
         "(${SLURM_NTASKS_PER_NODE:-?} per node), $OMP_NUM_THREADS thread(s) per rank," \
         "GPUs ${CUDA_VISIBLE_DEVICES:-none}, launcher $DEEPLOB_LAUNCHER, config $CONFIG"
    case "$DEEPLOB_LAUNCHER" in
        srun)   # srun (22.05+) does not pass the job's cpus-per-task on to steps: say it again
            set -x
            srun --mpi=pmix --cpus-per-task="$OMP_NUM_THREADS" "${run[@]}" ;;
        mpirun) # mpirun takes hosts and rank count from the allocation
            set -x
            mpirun -np "$SLURM_NTASKS" "${mpirun_args[@]}" -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS "${run[@]}" ;;
        *) echo "train_all.sh: DEEPLOB_LAUNCHER must be srun or mpirun, not '$DEEPLOB_LAUNCHER'" >&2; exit 2 ;;
    esac
else
    np=${NP:-$(nproc)}
    cores=$(nproc)
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( cores / np > 0 ? cores / np : 1 ))}
    echo "train_all.sh: no Slurm job: local mpirun with $np rank(s), $OMP_NUM_THREADS thread(s) per rank, config $CONFIG"
    set -x
    mpirun -np "$np" "${mpirun_args[@]}" -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS "${run[@]}"
fi
