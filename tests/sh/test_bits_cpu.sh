#!/bin/bash
# test_bits_cpu.sh: the bits of training do not depend on the CPU's kernel choices.
# The same short trainings (all three models, predictions, weights, metrics in
# results.h5) and the model-level digests of test_model_determinism give identical
# bits under every OpenBLAS core this CPU can run (OPENBLAS_CORETYPE Prescott,
# Sandybridge, Haswell, Zen, and SkylakeX where the CPU has AVX-512) and both of our
# ISAs (DEEPLOB_ISA avx2 / the AVX-512 twins where present). On an Intel Xeon that
# OpenBLAS 0.3.21 does not know it falls back to Prescott; a mixed cluster gets any
# of these, so this is the promise "same config and seed, same bits" across CPUs.
set -u
source "$(dirname "$0")/mpi_lib.sh"
DET=${DEEPLOB_BUILD:?}/test_model_determinism
[ -x "$DET" ] || fail "$DET not built"

SETTINGS="default Prescott Sandybridge Haswell Zen Prescott+avx2 Haswell+avx2"
grep -qw avx512f /proc/cpuinfo && SETTINGS="$SETTINGS SkylakeX SkylakeX+avx2"
# run_in SETTING CMD...: CMD with that setting's environment
run_in() {
    local s=$1; shift
    local core=${s%+avx2} isa=""
    [ "$core" = default ] && core=""
    [ "$s" != "${s%+avx2}" ] && isa=avx2
    env ${core:+OPENBLAS_CORETYPE=$core} ${isa:+DEEPLOB_ISA=$isa} "$@"
}

echo "== model digests (3 training steps per model, test_model_determinism) per setting"
for s in $SETTINGS; do
    run_in "$s" env OMP_NUM_THREADS=2 "$DET" > "$W/det_$s.log" 2>&1 || { show "$W/det_$s.log"; fail "$s: test_model_determinism failed"; }
    grep '^bits ' "$W/det_$s.log" > "$W/bits_$s.txt"
    [ "$(wc -l < "$W/bits_$s.txt")" -eq 4 ] || { show "$W/det_$s.log"; fail "$s: expected 4 digests (one per model: deeplob, deeplob_tcn, deeplob_hier, mmf_lstm)"; }
    core=$(OPENBLAS_VERBOSE=0 run_in "$s" "$BIN" bench --model deeplob --batch 2 --steps 1 --warmup 0 | sed -n 's/.*OpenBLAS core \([A-Za-z0-9]*\).*/\1/p')
    echo "  $s (OpenBLAS core $core): $(tr '\n' ' ' < "$W/bits_$s.txt")"
    diff "$W/bits_default.txt" "$W/bits_$s.txt" > /dev/null || fail "$s: model bits differ from the default setting"
done

echo "== short trainings (results.h5 compared byte for byte)"
"$BIN" synth --symbols 2 --seconds 2000 --seed 3 --out "$W/syn.h5" > "$W/synth.log" 2>&1 || { show "$W/synth.log"; fail "synth failed"; }
BATCH=32 MAXS=160 mk_config base "$W/syn.h5" 2 ', "eval_batch": 64'
for model in deeplob deeplob_tcn deeplob_hier; do
    files=""
    for s in default Prescott+avx2 Sandybridge; do
        run_in "$s" "$BIN" train "$W/base.json" --set run_name="${model}_$s" --set model=$model > "$W/${model}_$s.log" 2>&1 \
            || { show "$W/${model}_$s.log"; fail "$model under $s: training failed"; }
        files="$files $W/out/${model}_$s/results.h5"
    done
    cmp_results $files
    echo "  $model: default, Prescott+avx2, Sandybridge: results.h5 identical"
done
echo "PASS: test_bits_cpu"
