#!/usr/bin/env bash
# test_mmf_bars_pandas: `mmf-bars` against a straightforward pandas implementation of mmf.md's
# bar rules (tests/bench/mmf_bars_pandas.py) on a small synthetic market with injected trouble:
# a 100 s book outage (a new segment), a 30 s hole (carry-forward), bad book rows (crossed,
# missing level 0, non-positive price, time backwards) and bad trade rows (unknown side,
# non-positive amount, time backwards), and every third book row widened so its levels fill all
# 8 grid buckets and fall outside them. Time, segments, the bad-row counts per kind and all 18
# bar columns must agree (columns to 1e-12 relative, NaN where NaN); the comparison must fail
# on a copy with one vwap changed by 1e-9 relative.
set -u
BIN=${DEEPLOB_BIN:?DEEPLOB_BIN not set}
SRC=${DEEPLOB_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
$PY -c "import pandas, h5py" 2>/dev/null || { echo "SKIP: needs python3-pandas and python3-h5py"; exit 77; }
W=$(mktemp -d /tmp/dl_mmf_pandas.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
REF="$SRC/tests/bench/mmf_bars_pandas.py"

"$BIN" synth --out "$W/lob.h5" --symbols 2 --seconds 8000 --tardis-out "$W/tardis" > /dev/null || fail "synth --tardis-out"
b=$(ls "$W"/tardis/book_snapshot_25/SYN000USDT/*.csv.gz); t=$(ls "$W"/tardis/trades/SYN000USDT/*.csv.gz)
[ "$(echo "$b" | wc -l)" = 1 ] && [ "$(echo "$t" | wc -l)" = 1 ] || fail "expected one day file each: $b $t"
# book: line n is second n-2 of the day; columns 5/7 = asks[0].price / bids[0].price, 4 = local_timestamp
zcat "$b" | awk -F, -v OFS=, '
  NR >= 1000 && NR < 1100 { next }                        # 100 s outage -> new segment
  NR >= 3000 && NR < 3030 { next }                        # 30 s hole -> carried forward
  NR > 1 && NR % 3 == 0 {                                 # a wide book: levels reach grid buckets 2..4 and beyond
    for (l = 1; l < 10; l++) { $(5 + 4 * l) = sprintf("%.7g", $5 * (1 + 0.0025 * l)); $(7 + 4 * l) = sprintf("%.7g", $7 * (1 - 0.0025 * l)) } }
  { print }
  NR == 2000 { s = $0; $7 = $5 + 1; print; $0 = s }       # crossed
  NR == 2001 { s = $0; $5 = ""; print; $0 = s }           # missing level 0
  NR == 2002 { s = $0; $5 = 0; print; $0 = s }            # non-positive price
  NR == 4000 { $4 = sprintf("%.0f", $4 - 5000000); print }               # 5 s backwards
' | gzip > "$W/b.gz" && mv "$W/b.gz" "$b"
# trades: columns 4 = local_timestamp, 6 = side, 8 = amount
zcat "$t" | awk -F, -v OFS=, '
  { print }
  NR == 500 { s = $0; $6 = "unknown"; print; $0 = s }
  NR == 501 { s = $0; $8 = "0"; print; $0 = s }
  NR == 502 { $4 = sprintf("%.0f", $4 - 10000000); print }
' | gzip > "$W/t.gz" && mv "$W/t.gz" "$t"

"$BIN" mmf-bars --in "$W/tardis" --out "$W/bars.h5" > "$W/c.log" 2>&1 || { cat "$W/c.log"; fail "mmf-bars"; }
$PY "$REF" build "$W/tardis" "$W/p.npz" > "$W/p.log" 2>&1 || { cat "$W/p.log"; fail "pandas build"; }
cat "$W/p.log"
grep -q "SYN000USDT: .* 2 segments" "$W/p.log" || fail "the outage did not make a second segment"
for k in book_missing_level0 book_nonpositive_price book_crossed book_time_backwards \
         trade_nonpositive_price_or_amount trade_unknown_side trade_time_backwards; do
    grep -q "'$k': 1" "$W/p.log" || fail "pandas did not see the injected $k row"
done
$PY "$REF" compare "$W/p.npz" "$W/bars.h5" || fail "mmf-bars and pandas differ"
$PY -c "import h5py, sys; g = h5py.File(sys.argv[1])['symbols/SYN000USDT/bars'][()]; sys.exit(0 if (g[:, 10:] > 0).any(axis=0).all() else 1)" "$W/bars.h5" \
    || fail "some grid bucket is never filled: the cross-check would not cover it"
echo "ok: mmf-bars == pandas (time, segments, bad-row counts, 18 columns to 1e-12)"
$PY "$REF" compare "$W/p.npz" "$W/bars.h5" --perturb > "$W/o" 2>&1 && { cat "$W/o"; fail "the comparison missed a 1e-9 change"; }
grep -q "DIFFER in vwap" "$W/o" || { cat "$W/o"; fail "no DIFFER line"; }
echo "ok: a 1e-9 relative change in one vwap is caught"
echo "test_mmf_bars_pandas: all passed"
