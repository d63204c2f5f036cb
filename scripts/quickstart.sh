#!/usr/bin/env bash
# quickstart.sh: README "command 1". On a fresh Debian 12 machine: install what is
# missing, build, generate the synthetic dataset if absent, train one model per
# symbol under mpirun (a few minutes on 2 cores) and print the per-symbol table.
#   NP=4 scripts/quickstart.sh          ranks (default: the number of cores)
#   CONFIG=inputs/quickstart_deeplob.json   another config (default inputs/quickstart.json,
#                                           DeepLOB-TCN; this one: DeepLOB, the LSTM head)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDEEPLOB_CUDA="${DEEPLOB_CUDA:-AUTO}" > build.log 2>&1 \
  || { cat build.log; exit 1; }
cmake --build build -j"$(nproc)" >> build.log 2>&1 || { tail -50 build.log; exit 1; }
echo "quickstart: built build/deeplob_mpi (log: build.log)"

if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OPENBLAS_NUM_THREADS=1
mkdir -p data
if [ ! -f data/synthetic.h5 ]; then
  # 2 symbols x 50,000 s with strong signals (oracle 0.4-0.6): learnable in minutes on
  # 2 cores (docs/results.md); real symbols are weaker (0.05-0.2)
  build/deeplob_mpi synth --out data/synthetic.h5 --symbols 2 --seconds 50000 --oracle-range 0.4,0.6 --seed 1
fi
CONFIG=${CONFIG:-inputs/quickstart.json}
NP=${NP:-$(nproc)}
RUN="quickstart-$(date -u +%Y%m%d-%H%M%S)"
echo "quickstart: mpirun -np $NP build/deeplob_mpi train $CONFIG --set run_name=$RUN"
mpirun -np "$NP" --oversubscribe build/deeplob_mpi train "$CONFIG" --set run_name="$RUN"
