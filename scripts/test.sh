#!/usr/bin/env bash
# test.sh: the whole test suite (README "command 2", what .ci/run calls).
# Installs what is missing, builds the CPU tree (all tests run there) and, where
# nvcc exists, the CUDA tree (compile + link check and a CPU-fallback smoke run),
# then runs ctest. Exit status = ctest's.
#   scripts/test.sh              the suite (Release build in build/)
#   scripts/test.sh --sanitize   the suite once more in an ASan+UBSan build (build-asan/,
#                                -DDEEPLOB_SANITIZE=ON, leak checking on; the slow tests named
#                                in SAN_EXCLUDE left out: docs/reliability.md "Sanitizers")
#   scripts/test.sh --all        both, one after the other (CI); exit non-zero if either fails
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-plain}
case "$MODE" in plain|--sanitize|--all) ;; *) echo "usage: scripts/test.sh [--sanitize|--all]" >&2; exit 2 ;; esac
scripts/install_deps.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1
JOBS=$(nproc)
# left out of the sanitizer pass (their code paths run in the other tests; ASan makes them
# take minutes): the kill campaign, the Slurm tests, the multi-host namespaces, the disk-full
# mounts, the Python-reference comparisons, the alternate-kernel reruns, the data-parallel
# trainings (test_dp_model runs the sharded engine under the sanitizers)
SAN_EXCLUDE='test_kill_campaign|test_dp_train|test_slurm|test_squeue_mpi|test_multihost|test_disk_full|test_mmf_python_live|test_mmf_bars_pandas|_avx2$|_prescott$|test_bits_cpu'

plain() {
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDEEPLOB_CUDA=OFF
  cmake --build build -j"$JOBS"

  NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
  if [ -n "$NVCC" ]; then
    echo "== CUDA build (compile + link; no GPU needed) with $NVCC"
    cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DDEEPLOB_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" \
          "-DCMAKE_CUDA_ARCHITECTURES=80;90"
    cmake --build build-cuda -j"$JOBS" --target deeplob_mpi test_cuda_backend test_dp_nccl test_dp_model
    build-cuda/deeplob_mpi info --model deeplob | tail -2
    # the GPU tests: run where a GPU is usable, else say why and exit 77 (skipped)
    rc=0; build-cuda/test_cuda_backend | tail -3 || rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || { echo "test_cuda_backend failed ($rc)"; exit "$rc"; }
    rc=0; build-cuda/test_dp_nccl | tail -3 || rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || { echo "test_dp_nccl failed ($rc)"; exit "$rc"; }
    rc=0; DEEPLOB_DP_DEVICE=cuda build-cuda/test_dp_model | tail -3 || rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || { echo "test_dp_model on cuda failed ($rc)"; exit "$rc"; }
  else
    echo "== no nvcc: CUDA build skipped"
  fi
  (cd build && ctest --output-on-failure --timeout 1500 -j"$JOBS")
}

sanitize() {
  echo "== sanitizer pass: ASan + UBSan + LeakSanitizer (build-asan/)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDEEPLOB_CUDA=OFF -DDEEPLOB_SANITIZE=ON
  cmake --build build-asan -j"$JOBS"
  (cd build-asan && ctest --output-on-failure --timeout 1500 -j"$JOBS" -E "$SAN_EXCLUDE")
}

case "$MODE" in
  plain) plain ;;
  --sanitize) sanitize ;;
  --all) rc=0; "$0" || rc=$?; "$0" --sanitize || rc=$?; exit $rc ;;  # separate runs: set -e stays in force
esac
