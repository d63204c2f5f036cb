#!/usr/bin/env bash
# test_roundtrip.sh: weights files cross between deeplob_mpi and PyTorch, both ways, and both
# sides predict the same numbers from them.
#   C -> torch: deeplob_mpi init (seed 7) twice (must be identical), torch loads the file
#               (names/shapes/dtypes checked), both predict X (5,100,40) -> compare.
#   torch -> C: h5weights.py saves torch-initialised weights with random BN affine and running
#               statistics; deeplob_mpi predict and predict_ref.py on them -> compare.
# Tolerance: max|y_c - y_torch| <= 1e-4 * max(1, max|y_torch|). Both sides use float32 but
# sum in different orders (GEMM blocking, oneDNN convolutions) over chains of ~10^4-term dot
# products, giving differences around 1e-6..1e-5; a wrong layer, channel order or BN
# statistic moves the output by 1e-2 or more.
# Env: DEEPLOB_BIN (deeplob_mpi), DEEPLOB_SRC (repo root). Exit 77 when /usr/bin/python3 has
# no torch/h5py/numpy.
set -u
PY=${DEEPLOB_PYTHON:-/usr/bin/python3}
SRC=${DEEPLOB_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${DEEPLOB_BIN:-$SRC/build/deeplob_mpi}
REF=$SRC/tests/ref
MODELS=${ROUNDTRIP_MODELS:-deeplob deeplob_tcn deeplob_hier}

if ! "$PY" -c 'import torch, h5py, numpy' >/dev/null 2>&1; then
    echo "SKIP: $PY cannot import torch, h5py and numpy" \
         "(apt-get install python3-torch python3-h5py python3-numpy)"
    exit 77
fi
if [ ! -x "$BIN" ]; then
    echo "FAIL: DEEPLOB_BIN='$BIN' is not an executable"
    exit 1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/roundtrip.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# run a command, showing it; its output goes to $TMP/log and is printed on failure
run() {
    echo "  \$ $*"
    if ! "$@" >"$TMP/log" 2>&1; then
        sed 's/^/    | /' "$TMP/log"
        return 1
    fi
}

# compare Y_C Y_TORCH WHAT: same sample count and outputs, max abs diff within tolerance
compare() {
    "$PY" - "$1" "$2" "$3" <<'EOF'
import sys
import numpy as np
c_path, t_path, what = sys.argv[1:4]
c, t = np.load(c_path), np.load(t_path)
if c.shape != t.shape and not (c.ndim == 1 and t.shape == (c.shape[0], 1)):
    print(f"FAIL: {what}: deeplob_mpi output shape {c.shape}, torch {t.shape}")
    sys.exit(1)
c = c.reshape(t.shape).astype(np.float64)
t = t.astype(np.float64)
if not np.all(np.isfinite(c)):
    print(f"FAIL: {what}: deeplob_mpi output has non-finite values")
    sys.exit(1)
if np.ptp(t, axis=0).max() == 0.0:
    print(f"FAIL: {what}: torch output identical for all samples (test input is degenerate)")
    sys.exit(1)
diff = float(np.abs(c - t).max())
tol = 1e-4 * max(1.0, float(np.abs(t).max()))
ok = diff <= tol
print(f"  {'ok' if ok else 'FAIL'}: {what}: shape {t.shape}, max|y_torch| "
      f"{np.abs(t).max():.4g}, max abs diff {diff:.3g} (tolerance {tol:.3g})")
if not ok:
    print("    deeplob_mpi:", c.ravel()[:8])
    print("    torch:      ", t.ravel()[:8])
sys.exit(0 if ok else 1)
EOF
}

# same_weights A B: every dataset equal (init must be a pure function of the seed)
same_weights() {
    "$PY" - "$1" "$2" <<'EOF'
import sys
import h5py
import numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
ka, kb = sorted(a.keys()), sorted(b.keys())
if ka != kb:
    print(f"FAIL: dataset names differ between two inits with the same seed")
    sys.exit(1)
bad = [k for k in ka if isinstance(a[k], h5py.Dataset) and not np.array_equal(a[k][()], b[k][()])]
if bad:
    print(f"FAIL: same seed, different values in {len(bad)} dataset(s), first '{bad[0]}'")
    sys.exit(1)
print(f"  ok: two inits with seed 7 are identical ({len(ka)} datasets)")
EOF
}

for M in $MODELS; do
    echo "== $M"
    X=$TMP/x_$M.npy
    "$PY" -c "import numpy as np; np.save('$X', np.random.default_rng(11).standard_normal((5, 100, 40)).astype(np.float32))" \
        || { fail "$M: cannot write $X"; continue; }

    # C -> torch
    WC=$TMP/c_$M.h5
    if run "$BIN" init --model "$M" --seed 7 --weights "$WC" &&
       run "$BIN" init --model "$M" --seed 7 --weights "$TMP/c2_$M.h5"; then
        same_weights "$WC" "$TMP/c2_$M.h5" || failures=$((failures + 1))
        if run "$PY" "$REF/h5weights.py" check --model "$M" "$WC"; then
            echo "  ok: torch loads the deeplob_mpi weights (names, shapes, dtypes)"
            if run "$BIN" predict --model "$M" --weights "$WC" --input "$X" --output "$TMP/yc_c_$M.npy" &&
               run "$PY" "$REF/predict_ref.py" --model "$M" --weights "$WC" --input "$X" --output "$TMP/yt_c_$M.npy"; then
                compare "$TMP/yc_c_$M.npy" "$TMP/yt_c_$M.npy" "$M, deeplob_mpi-initialised weights" \
                    || failures=$((failures + 1))
            else
                fail "$M: predict on deeplob_mpi-initialised weights"
            fi
        else
            fail "$M: torch cannot load the weights written by deeplob_mpi init"
        fi
    else
        fail "$M: deeplob_mpi init"
    fi

    # torch -> C
    WT=$TMP/t_$M.h5
    if run "$PY" "$REF/h5weights.py" save --model "$M" --seed 7 --perturb-bn "$WT"; then
        if run "$BIN" predict --model "$M" --weights "$WT" --input "$X" --output "$TMP/yc_t_$M.npy" &&
           run "$PY" "$REF/predict_ref.py" --model "$M" --weights "$WT" --input "$X" --output "$TMP/yt_t_$M.npy"; then
            compare "$TMP/yc_t_$M.npy" "$TMP/yt_t_$M.npy" "$M, torch-initialised weights" \
                || failures=$((failures + 1))
        else
            fail "$M: predict on torch-initialised weights"
        fi
    else
        fail "$M: h5weights.py save"
    fi
done

if [ "$failures" -ne 0 ]; then
    echo "test_roundtrip: $failures failure(s)"
    exit 1
fi
echo "test_roundtrip: all passed"
