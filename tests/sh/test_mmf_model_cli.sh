#!/usr/bin/env bash
# test_mmf_model_cli: info / init / predict for mmf_lstm. info lists the PyTorch names with the
# --features width; init is a pure function of the seed; predict (X (B,T,F) -> Y (B,T)) equals
# the notebook's PyTorch class (tests/ref/mmf_lstm_ref.py) loaded with the same weights; a width
# that does not match the weights, a non-finite input or a wrong rank is a clear error naming the
# file, with a non-zero exit and no output file.
set -u
BIN=${DEEPLOB_BIN:?DEEPLOB_BIN not set}
SRC=${DEEPLOB_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
W=$(mktemp -d /tmp/dl_mmf_cli.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" info --model mmf_lstm --features 19 > "$W/info" 2>&1 || { cat "$W/info"; fail "info"; }
grep -Eq "^lstm.weight_ih_l0 +\(512, 19\)" "$W/info" && grep -q "trainable parameters: 78369" "$W/info" \
    && grep -Eq "^h1l_to_out.bias +\(1,\)" "$W/info" || { cat "$W/info"; fail "info table"; }
"$BIN" info --model deeplob --features 19 > "$W/o" 2>&1 && fail "--features accepted for deeplob"
grep -q "for mmf_lstm only" "$W/o" || { cat "$W/o"; fail "no message for --features on deeplob"; }
echo "ok: info"

"$BIN" init --model mmf_lstm --features 19 --seed 11 --weights "$W/a.h5" > /dev/null || fail "init"
"$BIN" init --model mmf_lstm --features 19 --seed 11 --weights "$W/b.h5" > /dev/null || fail "init (2)"
"$BIN" init --model mmf_lstm --features 19 --seed 12 --weights "$W/c.h5" > /dev/null || fail "init (3)"
"$BIN" init --model mmf_lstm --features 19 --seed 11 --weights "$W/a.h5" > "$W/o" 2>&1 && fail "init overwrote a file"
$PY -c "import h5py, numpy, torch" 2>/dev/null || { echo "SKIP: the rest needs python3-h5py, numpy, torch"; exit 77; }
$PY - "$W" <<'EOF' || fail "init files"
import sys, h5py, numpy as np
w = sys.argv[1]
a, b, c = (h5py.File(f"{w}/{n}.h5", "r") for n in "abc")
names = sorted(k for k in a.keys())
want = sorted(["lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
               "hid_to_h1l.weight", "hid_to_h1l.bias", "h1l_to_out.weight", "h1l_to_out.bias"])
assert names == want, names
assert a["lstm.weight_ih_l0"].shape == (512, 19)
assert all(np.array_equal(a[k][()], b[k][()]) for k in names), "same seed, different weights"
assert not np.array_equal(a["lstm.weight_hh_l0"][()], c["lstm.weight_hh_l0"][()]), "seed ignored"
print("ok: init is a function of the seed, PyTorch names and shapes")
EOF

# predict vs the PyTorch class on the same weights
$PY - "$W" "$SRC/tests/ref" <<'EOF' || fail "making the input"
import sys, numpy as np
rng = np.random.default_rng(3)
np.save(sys.argv[1] + "/x.npy", rng.random((3, 50, 19), dtype=np.float32))
x = rng.random((2, 7, 18), dtype=np.float32); np.save(sys.argv[1] + "/x18.npy", x)
x = rng.random((2, 7, 19), dtype=np.float32); x[1, 4, 6] = np.nan; np.save(sys.argv[1] + "/xnan.npy", x)
np.save(sys.argv[1] + "/x2d.npy", rng.random((7, 19), dtype=np.float32))
EOF
"$BIN" predict --model mmf_lstm --weights "$W/a.h5" --input "$W/x.npy" --output "$W/y.npy" --batch 2 > "$W/o" 2>&1 \
    || { cat "$W/o"; fail "predict"; }
grep -q "3 samples -> .* (3,50)" "$W/o" || { cat "$W/o"; fail "predict summary"; }
$PY - "$W" "$SRC/tests/ref" <<'EOF' || fail "predict differs from PyTorch"
import sys, h5py, numpy as np, torch
sys.path.insert(0, sys.argv[2])
from mmf_lstm_ref import MMFLSTM
w = sys.argv[1]
m = MMFLSTM(19)
with h5py.File(w + "/a.h5", "r") as f:
    m.load_state_dict({k: torch.from_numpy(f[k][()]) for k in f.keys()})
x = np.load(w + "/x.npy")
with torch.no_grad():
    ref = m(torch.from_numpy(x)).numpy()
y = np.load(w + "/y.npy")
assert y.shape == ref.shape == (3, 50) and y.dtype == np.float32, (y.shape, ref.shape, y.dtype)
d = np.abs(y - ref).max()
print("ok: predict == PyTorch MMFLSTM, max abs difference %.2e (outputs up to %.2f)" % (d, np.abs(ref).max()))
sys.exit(0 if d < 1e-5 else 1)
EOF

bad() { # INPUT WHAT PATTERN
    "$BIN" predict --model mmf_lstm --weights "$W/a.h5" --input "$W/$1" --output "$W/bad.npy" > "$W/o" 2>&1 && fail "$2 accepted"
    grep -q "$3" "$W/o" || { cat "$W/o"; fail "message for $2"; }
    [ ! -e "$W/bad.npy" ] || fail "output written after $2"
    echo "ok: $2 -> $(grep -m1 predict: "$W/o")"
}
bad x18.npy "18 features against 19-wide weights" "a.h5"
bad xnan.npy "a NaN input" "xnan.npy: non-finite value at sample 1, time step 4, feature 6"
bad x2d.npy "a 2-D input" "x2d.npy: shape (7,19), expected (B,T,F)"
echo "test_mmf_model_cli: all passed"
