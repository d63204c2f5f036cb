#!/usr/bin/env bash
# test_mmf_e2e: the MMF study end to end through the binary on the synthetic market:
# synth --tardis-out -> mmf-bars (2 ranks, parallel HDF5) -> mmf on 1 and on 2 ranks with
# identical summary.csv (every number, bit for bit), --resume of a finished run gives the same
# numbers again; XGBoost with 2 threads gives the same model file as with 1; clear errors for
# a symbol with a book but no trades, for bad trade rows
# beyond the limit (file:line named), and for an existing bars file (no overwrite).
set -u
BIN=${DEEPLOB_BIN:?DEEPLOB_BIN not set}
MPIEXEC=${MPIEXEC:-mpiexec}
command -v "$MPIEXEC" >/dev/null || { echo "SKIP: $MPIEXEC not found"; exit 77; }
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
W=$(mktemp -d /tmp/dl_mmf_test.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$BIN" synth --out "$W/lob.h5" --symbols 2 --seconds 12000 --tardis-out "$W/tardis" >/dev/null || fail "synth --tardis-out"
$MPIEXEC -n 2 "$BIN" mmf-bars --in "$W/tardis" --out "$W/bars.h5" > "$W/bars.log" 2>&1 || { cat "$W/bars.log"; fail "mmf-bars on 2 ranks"; }
grep -q "wrote $W/bars.h5: 2 symbols" "$W/bars.log" || { cat "$W/bars.log"; fail "mmf-bars summary line"; }
echo "ok: mmf-bars on 2 ranks"
"$BIN" mmf-bars --in "$W/tardis" --out "$W/bars.h5" > "$W/o" 2>&1 && fail "mmf-bars overwrote an existing file"
grep -q "already exists" "$W/o" || { cat "$W/o"; fail "no 'already exists' message"; }
echo "ok: no overwrite"

cfg() { # NAME EXTRA [XGB_THREADS]
cat > "$W/$1.json" <<JSON
{"bars": "$W/bars.h5", "output_dir": "$W/out", "run_name": "$1", "seed": 3, "epochs": 2, "batch": 16,
 "episode_len": 64, "warmup": 16, "stride": 32, "lr": 1e-3, "xgb_rounds": 20, "xgb_threads": ${3:-1} ${2:-}}
JSON
}
cfg r1; cfg r2
"$BIN" mmf "$W/r1.json" > "$W/r1.log" 2>&1 || { cat "$W/r1.log"; fail "mmf on 1 rank"; }
$MPIEXEC -n 2 "$BIN" mmf "$W/r2.json" > "$W/r2.log" 2>&1 || { cat "$W/r2.log"; fail "mmf on 2 ranks"; }
cut -d, -f1-11 "$W/out/r1/summary.csv" > "$W/a"; cut -d, -f1-11 "$W/out/r2/summary.csv" > "$W/b"
cmp -s "$W/a" "$W/b" || { diff "$W/a" "$W/b"; fail "1 rank and 2 ranks differ"; }
[ "$(grep -c ',lstm,' "$W/a")" = 2 ] && [ "$(grep -c ',zero,' "$W/a")" = 2 ] || { cat "$W/a"; fail "summary rows"; }
ls "$W/out/r1/models/"*.lstm.h5 >/dev/null && ls "$W/out/r1/ckpt/"*.ckpt >/dev/null || fail "weights/checkpoints missing"
echo "ok: 1 rank == 2 ranks, bit for bit ($(wc -l < "$W/a") summary lines)"
"$BIN" mmf "$W/r1.json" > "$W/o" 2>&1 && fail "a second run over a finished one was accepted"
grep -q "exists" "$W/o" || { cat "$W/o"; fail "no message for a finished run"; }
"$BIN" mmf "$W/r1.json" --resume > "$W/o" 2>&1 || { cat "$W/o"; fail "--resume"; }
cut -d, -f1-11 "$W/out/r1/summary.csv" > "$W/c"
cmp -s "$W/a" "$W/c" || { diff "$W/a" "$W/c"; fail "--resume changed the numbers"; }
echo "ok: --resume of a finished run reproduces it"
# XGBoost with 2 threads: the same model file and numbers as with 1 (measured invariant, docs/mmf.md)
cfg x2 "" 2
"$BIN" mmf "$W/x2.json" > "$W/x2.log" 2>&1 || { cat "$W/x2.log"; fail "mmf with xgb_threads 2"; }
grep ',xgboost,' "$W/a" > "$W/xa"; cut -d, -f1-11 "$W/out/x2/summary.csv" | grep ',xgboost,' > "$W/xb"
[ -s "$W/xa" ] && cmp -s "$W/xa" "$W/xb" || { diff "$W/xa" "$W/xb"; fail "XGBoost differs between 1 and 2 threads"; }
for m in "$W"/out/r1/models/*.xgboost.json; do
    cmp -s "$m" "$W/out/x2/models/$(basename "$m")" || fail "$(basename "$m") differs between 1 and 2 threads"
done
echo "ok: XGBoost 1 thread == 2 threads (summary rows and model JSON, bit for bit)"

# a symbol with a book and no trades: a clear message, nothing written
mkdir -p "$W/t2/book_snapshot_25" && cp -r "$W/tardis/book_snapshot_25/SYN000USDT" "$W/t2/book_snapshot_25/"
"$BIN" mmf-bars --in "$W/t2" --out "$W/b2.h5" > "$W/o" 2>&1 && fail "book without trades accepted"
grep -q "SYN000USDT: book_snapshot_25 day files but no trades" "$W/o" || { cat "$W/o"; fail "message for missing trades"; }
[ ! -e "$W/b2.h5" ] || fail "a file was written after an error"
echo "ok: book without trades -> $(grep -m1 'no trades' "$W/o")"
# bad trade rows: counted by kind with file:line; beyond --max-bad-rows the file is rejected
mkdir -p "$W/t3/trades/SYN000USDT" && cp -r "$W/tardis/book_snapshot_25" "$W/t3/"
rm -rf "$W/t3/book_snapshot_25/SYN001USDT"
f=$(ls "$W/tardis/trades/SYN000USDT/")
zcat "$W/tardis/trades/SYN000USDT/$f" | awk 'NR==5{print "synthetic,SYN000USDT,1,2,3,buy,-1,1"} NR==7{print "x,y,z"} NR==9{print "synthetic,SYN000USDT,1,99999999999999999,3,unknown,5,1"} {print}' | gzip > "$W/t3/trades/SYN000USDT/$f"
"$BIN" mmf-bars --in "$W/t3" --out "$W/b3.h5" --max-bad-rows 1 > "$W/o" 2>&1 && fail "3 bad rows accepted with --max-bad-rows 1"
grep -q "rejected: 3 bad rows" "$W/o" && grep -q "trade_unparsable .* first at .*:8" "$W/o" || { cat "$W/o"; fail "bad-row report"; }
"$BIN" mmf-bars --in "$W/t3" --out "$W/b3.h5" > "$W/o" 2>&1 || { cat "$W/o"; fail "3 bad rows under the default limit"; }
grep -q "trade_nonpositive_price_or_amount" "$W/o" && grep -q "trade_unknown_side" "$W/o" || { cat "$W/o"; fail "kinds not reported"; }
echo "ok: bad trade rows counted by kind with file:line, limit rejects the file"
echo "test_mmf_e2e: all passed"
