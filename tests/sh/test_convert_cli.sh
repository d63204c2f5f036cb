#!/bin/bash
# convert CLI: real Tardis rows over two days -> dataset checked with h5py (hand-checked values),
# bad-row limit, truncated gzip, bad names, existing output: clear error and no partial output;
# 2 ranks (parallel HDF5) write the same dataset as 1; --progress lines.
set -u
BIN=${DEEPLOB_BIN:?}; SRC=${DEEPLOB_SRC:?}; PY=/usr/bin/python3
$PY -c "import numpy, h5py" 2>/dev/null || { echo "SKIP: /usr/bin/python3 lacks numpy/h5py"; exit 77; }
T=$(mktemp -d /tmp/test_convert_cli.XXXXXX); trap 'rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
FIX=$SRC/tests/fixtures/tardis/binance-futures_book_snapshot_25_BTCUSDT.csv
shift_day() { # file, days: move both timestamps by whole days (exact integers: python, not awk)
  $PY -c "
import sys
for i, l in enumerate(open(sys.argv[1])):
    c = l.rstrip('\\n').split(',')
    if i: c[2] = str(int(c[2]) + int(sys.argv[2]) * 86400000000); c[3] = str(int(c[3]) + int(sys.argv[2]) * 86400000000)
    print(','.join(c))" "$1" "$2"; }
mkdir -p "$T/in/BTCUSDT" "$T/in/ETHUSDT" "$T/in/SOLUSDT"
gzip -c "$FIX" > "$T/in/BTCUSDT/2020-09-01.csv.gz"
shift_day "$FIX" 1 | gzip -c > "$T/in/BTCUSDT/2020-09-02.csv.gz"
cp "$T/in/BTCUSDT/2020-09-01.csv.gz" "$T/in/ETHUSDT/"
cp "$T/in/BTCUSDT/2020-09-02.csv.gz" "$T/in/SOLUSDT/"
echo "this is not a day file" > "$T/in/BTCUSDT/README"

"$BIN" convert --in "$T/in" --out "$T/ds.h5" --horizons 1,10 > "$T/out.txt" 2>&1; rc=$?
cat "$T/out.txt"
check "convert of 3 symbols succeeds" "[ $rc -eq 0 ] && [ -f $T/ds.h5 ] && [ ! -e $T/ds.h5.tmp ]"
$PY - "$T/ds.h5" <<'PY' || fail=1
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1], 'r')
g = f['symbols/BTCUSDT']
T, X, Y, S = g['time'][()], g['features'][()], g['targets'][()], g['segments'][()]
ok = True
# hand-checked: last snapshot of second 1598918403 is line 9 of the fixture, of ...404 line 11;
# day 2 is day 1 moved by 86400 s: the 86399 s gap > 60 s splits the series
ok &= T.tolist() == [1598918403, 1598918404, 1598918403 + 86400, 1598918404 + 86400]
ok &= S.tolist() == [[0, 2], [2, 4]]
ok &= X[0, 0] == np.float32(11657.08) and X[0, 10] == np.float32(1.475) and X[0, 20] == np.float32(11657.07) and X[0, 30] == np.float32(10.881)
ok &= X[0, 9] == np.float32(11658.29) and X[0, 39] == np.float32(0.195)
ok &= list(g.attrs['horizons']) == [1, 10]
ok &= Y[0, 0] == 0 and np.isnan(Y[1, 0]) and Y[2, 0] == 0 and np.isnan(Y[:, 1]).all()
ok &= g.attrs['rows_raw'] == 20 and g.attrs['files'] == 2 and g.attrs['rows_dropped_crossed_book'] == 0
ok &= g.attrs['start_time'] == 1598918403 and g.attrs['end_time'] == 1598918404 + 86400
ok &= sorted(f['symbols']) == ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'] and f.attrs['symbols'] == 3
print('ok   dataset values (hand-checked rows, day split, targets, attributes)' if ok else 'FAIL dataset values')
sys.exit(0 if ok else 1)
PY

expect_fail() { # name, message regex, args...
  local name=$1 msg=$2; shift 2
  rm -f "$T/x.h5"
  out=$("$BIN" convert --out "$T/x.h5" "$@" 2>&1); rc=$?
  check "$name -> error: $(echo "$out" | grep -m1 -oE "$msg")" "[ $rc -ne 0 ] && echo \"\$out\" | grep -qE \"$msg\" && [ ! -e $T/x.h5 ] && [ ! -e $T/x.h5.tmp ]"
}
# crossed book rows: swap bid and ask at level 0 in 3 rows
mkdir -p "$T/bad/BTCUSDT"
awk -F, -v OFS=, 'NR>=3 && NR<=5 {t=$5; $5=$7; $7=t} {print}' "$FIX" | gzip -c > "$T/bad/BTCUSDT/2020-09-01.csv.gz"
expect_fail "3 crossed rows, --max-bad-rows 2" "crossed_book +3 +first at .*2020-09-01.csv.gz:3" --in "$T/bad" --max-bad-rows 2
rm -f "$T/x.h5"
"$BIN" convert --out "$T/x.h5" --in "$T/bad" --max-bad-rows 3 > "$T/o.txt" 2>&1
check "3 crossed rows within --max-bad-rows 3: reported and dropped" "[ \$? -eq 0 ] && grep -q 'crossed_book' $T/o.txt"
mkdir -p "$T/trunc/BTCUSDT"
head -c 600 "$T/in/BTCUSDT/2020-09-01.csv.gz" > "$T/trunc/BTCUSDT/2020-09-01.csv.gz"
cp "$T/in/BTCUSDT/2020-09-02.csv.gz" "$T/trunc/BTCUSDT/"
expect_fail "truncated gzip" "truncated gzip" --in "$T/trunc"
mkdir -p "$T/cols/BTCUSDT"
cut -d, -f1-50 "$FIX" | gzip -c > "$T/cols/BTCUSDT/2020-09-01.csv.gz"
expect_fail "50-column file" "header has 50 columns" --in "$T/cols"
mkdir -p "$T/evil/-rf"
cp "$T/in/BTCUSDT/2020-09-01.csv.gz" "$T/evil/-rf/"
expect_fail "unsafe directory name" "invalid symbol" --in "$T/evil"
expect_fail "unsafe --symbols" "invalid symbol" --in "$T/in" --symbols "../BTCUSDT"
expect_fail "no day files in range" "no YYYY-MM-DD.csv.gz day files" --in "$T/in" --symbols BTCUSDT --from 2021-01-01
cp "$T/ds.h5" "$T/x.h5"
out=$("$BIN" convert --in "$T/in" --out "$T/x.h5" 2>&1)
check "existing output is not overwritten" "[ \$? -ne 0 ] && echo \"\$out\" | grep -q 'already exists' && cmp -s $T/ds.h5 $T/x.h5"

if [ -n "${MPIEXEC:-}" ]; then
  "$MPIEXEC" -np 2 "$BIN" convert --in "$T/in" --out "$T/ds2.h5" --horizons 1,10 > "$T/o2.txt" 2>&1
  check "2 ranks: parallel HDF5 write" "[ \$? -eq 0 ]"
  check "2 ranks: same dataset as 1 rank" "$PY -c \"
import h5py, numpy as np
a = h5py.File('$T/ds.h5','r')['symbols']; b = h5py.File('$T/ds2.h5','r')['symbols']
assert sorted(a) == sorted(b)
for s in a:
    for k in ('time','features','targets','segments'): assert np.array_equal(a[s][k][()], b[s][k][()], equal_nan=True)
    for k in a[s].attrs: assert np.array_equal(a[s].attrs[k], b[s].attrs[k]), k
\""
  "$MPIEXEC" -np 2 "$BIN" convert --in "$T/trunc" --out "$T/x2.h5" > "$T/o3.txt" 2>&1
  check "2 ranks: a failure on one rank -> no output" "[ \$? -ne 0 ] && [ ! -e $T/x2.h5 ] && [ ! -e $T/x2.h5.tmp ]"
else
  echo "note: MPIEXEC not set, 2-rank cases not run"
fi
# progress lines: with a tiny interval one after every day file; none at the default 10 s here
"$BIN" convert --in "$T/in" --out "$T/p.h5" --horizons 1,10 --progress 0.000001 > "$T/p.txt" 2>&1
check "--progress: a line per day file with rank, symbol, day and rows" "[ \$(grep -c '^\[rank 0\] convert: symbol [1-3]/3 .*, day file [12]/[12] (2020-09-0[12]): [0-9]* rows read, [0-9]* rows/s' $T/p.txt) -eq 4 ] && grep -q 'symbol 1/3 BTCUSDT, day file 2/2 (2020-09-02)' $T/p.txt"
check "no progress line at the default interval" "! grep -q 'rows read' $T/out.txt"
"$BIN" convert --in "$T/in" --out "$T/q.h5" --progress -1 > "$T/q.txt" 2>&1
check "--progress -1 refused, nothing written" "[ \$? -eq 2 ] && grep -q -- '--progress' $T/q.txt && [ ! -e $T/q.h5 ]"
exit $fail
