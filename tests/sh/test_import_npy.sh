#!/bin/bash
# import-npy: both seed layouts (detected and forced), return/time conversion, segment split,
# malformed inputs -> clear error and no output file; 2 ranks write the same dataset.
set -u
BIN=${DEEPLOB_BIN:?}; PY=/usr/bin/python3
$PY -c "import numpy, h5py" 2>/dev/null || { echo "SKIP: /usr/bin/python3 lacks numpy/h5py"; exit 77; }
T=$(mktemp -d /tmp/test_import_npy.XXXXXX); trap 'rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

$PY - "$T" <<'PY'
import numpy as np, sys
d = sys.argv[1]
N = 200
rng = np.random.default_rng(5)
lob = (100 + rng.random((N, 40))).astype('<f4')
r = (rng.standard_normal((N, 2)) * 1e-3).astype('<f4')
t = (1598918400 + np.arange(N)).astype('<f4')         # float32 seconds: 128 s resolution
t[150:] += 3600                                        # an outage -> second segment
np.save(d + '/AAAUSDT.npy', np.hstack([t[:, None], lob, r]))
np.save(d + '/BBBUSDT.npy', np.asfortranarray(np.hstack([lob, r])))   # 42 layout, fortran order
np.save(d + '/f64.npy', np.zeros((3, 43)))
np.save(d + '/cols.npy', np.zeros((3, 41), '<f4'))
bad = np.hstack([t[:, None], lob, r]); bad[:, 0] = 5.0
np.save(d + '/BADT.npy', bad)
np.save(d + '/lob.npy', lob); np.save(d + '/r.npy', r); np.save(d + '/t.npy', t)
b = open(d + '/AAAUSDT.npy', 'rb').read(); open(d + '/trunc.npy', 'wb').write(b[:-7])
PY

out=$("$BIN" import-npy --out "$T/ds.h5" "$T/AAAUSDT.npy" "$T/BBBUSDT.npy" 2>&1); rc=$?
echo "$out"
check "import of (N,43) and (N,42) succeeds" "[ $rc -eq 0 ]"
check "layouts reported as detected" "echo \"\$out\" | grep -q 'AAAUSDT.*layout (N,43) detected' && echo \"\$out\" | grep -q 'BBBUSDT.*layout (N,42) detected'"
check "precision loss stated" "echo \"\$out\" | grep -q 'resolution 128 s'"
$PY - "$T" <<'PY' || fail=1
import h5py, numpy as np, sys
d = sys.argv[1]
lob = np.load(d + '/lob.npy'); r = np.load(d + '/r.npy').astype(np.float64)
def st(x): return x.decode() if isinstance(x, bytes) else x
f = h5py.File(d + '/ds.h5', 'r')
assert st(f.attrs['format']) == 'deeplob-mpi LOB dataset' and st(f.attrs['source']) == 'npy'
ok = True
for s, lay in (('AAAUSDT', 43), ('BBBUSDT', 42)):
    g = f['symbols'][s]
    X = g['features'][()]; Y = g['targets'][()]; T = g['time'][()]; S = g['segments'][()]
    ok &= g.attrs['npy_layout'] == lay
    ok &= np.array_equal(X, lob)
    ok &= list(g.attrs['horizons']) == [10, 60]
    want = 1e4 * np.log1p(r)
    for k, h in enumerate((10, 60)):
        for a, b in S:
            m = np.zeros(len(Y), bool); m[a:max(a, b - h)] = True
            ok &= np.allclose(Y[m, k], want[m, k], rtol=1e-5, atol=1e-4)
            ok &= np.isnan(Y[max(a, b - h):b, k]).all()
    ok &= T.dtype == np.int64 and (np.diff(T) > 0).all()
    if lay == 43:
        ok &= S.tolist() == [[0, 150], [150, 200]]
        ok &= T[0] == 1598918400 and T[149] == 1598918400 + 149 and T[150] >= T[149] + 61
        ok &= g.attrs['time_resolution_s'] == 128
    else:
        ok &= S.tolist() == [[0, 200]] and T[0] == 0 and T[-1] == 199
print('ok   h5 contents: features equal, targets = 1e4*ln(1+r) with NaN across segment ends, int64 time, segments' if ok else 'FAIL h5 contents')
sys.exit(0 if ok else 1)
PY

bad() { # name, expected message, args...
  local name=$1 msg=$2; shift 2
  rm -f "$T/x.h5"
  out=$("$BIN" import-npy --out "$T/x.h5" "$@" 2>&1); rc=$?
  check "$name -> error ($(echo "$out" | grep -m1 -o "$msg"))" "[ $rc -ne 0 ] && echo \"\$out\" | grep -q \"$msg\" && [ ! -e $T/x.h5 ] && [ ! -e $T/x.h5.tmp ]"
}
bad "float64 file" "dtype '<f8' not supported" "$T/f64.npy"
bad "41 columns" "41 columns" "$T/cols.npy"
bad "time column not unix seconds" "is not unix seconds" "$T/BADT.npy"
bad "truncated file" "truncated" "$T/trunc.npy"
bad "forced 43 on a 42 file" "forced but the array has 42 columns" --layout 43 "$T/BBBUSDT.npy"
bad "unsafe symbol" "invalid symbol name" "../evil=$T/BBBUSDT.npy"
bad "missing file" "cannot open" "$T/nope.npy"
bad "good file plus a bad one" "truncated" "$T/AAAUSDT.npy" "$T/trunc.npy"

if [ -n "${MPIEXEC:-}" ]; then
  "$MPIEXEC" -np 2 "$BIN" import-npy --out "$T/ds2.h5" --layout auto "$T/AAAUSDT.npy" "$T/BBBUSDT.npy" >/dev/null 2>&1
  check "2 ranks: same dataset" "[ \$? -eq 0 ] && $PY -c \"
import h5py, numpy as np
a = h5py.File('$T/ds.h5','r')['symbols']; b = h5py.File('$T/ds2.h5','r')['symbols']
assert sorted(a) == sorted(b)
for s in a:
    for k in ('time','features','targets','segments'): assert np.array_equal(a[s][k][()], b[s][k][()], equal_nan=True)
\""
else
  echo "note: MPIEXEC not set, 2-rank case not run"
fi
exit $fail
