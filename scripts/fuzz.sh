#!/usr/bin/env bash
# fuzz.sh [SECONDS] [HARNESS...]: run the libFuzzer harnesses of tests/fuzz one after the
# other (one process, one worker each: the machine is shared), SECONDS each (default 600),
# then minimise what they found into the committed corpus (tests/fuzz/corpus/<harness>).
# Builds build-fuzz with clang (-DDEEPLOB_FUZZ=ON) first. Needs clang and libFuzzer
# (Debian: clang libclang-rt-14-dev libomp-dev; scripts/install_deps.sh --fuzz).
# Logs and crash inputs: build-fuzz/fuzzlogs/<harness>.log, build-fuzz/artifacts/<harness>/.
# Prints one line per harness: runs, exec/s, coverage (edges), features, corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-600}; shift || true
ALL=(book_csv trades_csv gzip npy config names lobds http)
HS=("$@"); [ ${#HS[@]} -gt 0 ] || HS=("${ALL[@]}")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export LSAN_OPTIONS=suppressions=$PWD/tests/sanitize/lsan.supp
# HDF5 itself asks for gigabytes when a corrupt header says so (H5C_protect): let such a
# malloc fail (HDF5 then reports an error) instead of counting it as our out-of-memory
export ASAN_OPTIONS=allocator_may_return_null=1
if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDEEPLOB_CUDA=OFF -DDEEPLOB_FUZZ=ON \
        -DDEEPLOB_PLPLOT=OFF > /dev/null
  cmake --build build-fuzz -j"${JOBS:-2}" --target $(printf 'fuzz_%s ' "${HS[@]}") > /dev/null
fi
declare -A MAXLEN=([book_csv]=65536 [trades_csv]=16384 [gzip]=65536 [npy]=65536 [config]=8192 [names]=4096
                   [lobds]=65536 [http]=8192)
mkdir -p build-fuzz/fuzzlogs
rc=0
for h in "${HS[@]}"; do
  corpus=tests/fuzz/corpus/$h; work=build-fuzz/work/$h; art=build-fuzz/artifacts/$h
  mkdir -p "$work" "$art" "$corpus"
  log=build-fuzz/fuzzlogs/$h.log
  set +e
  # lobds: full malloc stacks, so that lsan.supp's HDF5 entry (a leak inside a failed H5Fopen) matches
  # and fork mode: HDF5 1.10.8 itself has memory errors on corrupt files (heap-use-after-free
  # in H5O__msg_iterate_real, ...); keep fuzzing past them, each crash input is kept for triage
  ao=$ASAN_OPTIONS; fork=()
  [ "$h" = lobds ] && { ao=$ao:fast_unwind_on_malloc=0; fork=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1); }
  ASAN_OPTIONS=$ao build-fuzz/fuzz_$h "${fork[@]}" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=3072 -malloc_limit_mb=65536 \
      -max_len="${MAXLEN[$h]}" -print_final_stats=1 -artifact_prefix="$art/" "$work" "$corpus" > "$log" 2>&1
  frc=$?
  set -e
  [ $frc -eq 0 ] || { echo "fuzz_$h: exit $frc (crash input under $art, see $log)"; rc=1; }
  # crashed fork-mode children (lobds) leave their tmpfs input file (fuzz_common.h) behind
  rm -f /dev/shm/deeplob-fuzz.* 2>/dev/null || true
  # minimise: the smallest set of inputs keeping every feature, back into the committed corpus
  mkdir -p "$work.min"; rm -f "$work.min"/*
  ASAN_OPTIONS=$ao build-fuzz/fuzz_$h -merge=1 -artifact_prefix="$art/merge-" -timeout=20 -rss_limit_mb=2048 "$work.min" "$corpus" "$work" >> "$log.merge" 2>&1 || true
  if [ -n "$(ls -A "$work.min")" ]; then
    keep=$(mktemp -d); cp "$corpus"/regress_* "$keep"/ 2>/dev/null || true   # regression inputs stay
    rm -f "$corpus"/*; cp "$work.min"/* "$corpus"/; cp "$keep"/* "$corpus"/ 2>/dev/null || true; rm -rf "$keep"
  fi
  runs=$(grep 'stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -1)
  eps=$(grep 'stat::average_exec_per_sec:' "$log" | awk '{print $2}' | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | awk '{print $2}'); ft=$(echo "$last" | grep -o 'ft: [0-9]*' | awk '{print $2}')
  echo "fuzz_$h: ${SECS}s runs=${runs:-?} exec/s=${eps:-?} cov=${cov:-?} ft=${ft:-?} corpus=$(ls "$corpus" | wc -l) files"
done
exit $rc
