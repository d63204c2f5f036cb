#!/bin/bash
# test_bad_inputs.sh: the catalogue of bad inputs (docs/reliability.md). One row per
# malformed input: CSV (Tardis book_snapshot_25 and trades), gzip, npy, HDF5 LOB
# datasets, configs, symbol lists, command lines, HTTP answers. Every row must give
#   - a non-zero exit (and no hang: 60 s timeout),
#   - a message naming the file (or key/option) and the place (line, object, index),
#     matched by the row's regex, and exactly one line saying "error" at most,
#   - nothing under the row's final output name (nor a temp/part file beside it),
#   - every earlier file byte-identical: sha256 of the whole $K tree (good inputs,
#     a finished run directory, an existing dataset) before and after each row.
# Run with an argument to run only the rows whose name matches it (grep -E).
set -u
BIN=${DEEPLOB_BIN:?}; SRC=${DEEPLOB_SRC:?}; PY=/usr/bin/python3
$PY -c "import numpy, h5py" 2>/dev/null || { echo "SKIP: /usr/bin/python3 lacks numpy/h5py"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
W=$(mktemp -d /tmp/test_bad_inputs.XXXXXX)
source "$SRC/tests/sh/server_lib.sh"
SERVER_PID=; trap 'stop_server; rm -rf "$W"' EXIT
K=$W/keep; B=$W/bad; O=$W/o
mkdir -p "$K" "$B" "$O"
die() { echo "FAIL: $*"; exit 1; }
ONLY=${1:-.}

# ---- good inputs and earlier outputs (all under $K: checksummed around every row)
"$BIN" synth --symbols 2 --seconds 2000 --seed 3 --out "$K/syn.h5" --tardis-out "$K/tardis" > "$W/synth.log" 2>&1 || { cat "$W/synth.log"; die "synth"; }
cat > "$K/cfg.json" <<JSON
{"dataset": "$K/syn.h5", "symbols": "all", "model": "deeplob", "seq_len": 16, "batch": 32, "epochs": 1,
 "max_train_samples": 64, "seed": 5, "output_dir": "$K/out", "run_name": "prev", "threads": 1}
JSON
"$BIN" train "$K/cfg.json" > "$W/prev.log" 2>&1 || { cat "$W/prev.log"; die "the earlier run"; }
"$BIN" init --model deeplob --seed 1 --weights "$K/w.h5" > /dev/null 2>&1 || die "init"
BOOK=$(ls "$K"/tardis/book_snapshot_25/SYN000USDT/*.csv.gz | head -1); DAY=$(basename "$BOOK")
TRADES=$K/tardis/trades/SYN000USDT/$DAY
[ -f "$TRADES" ] || die "no trades file $TRADES"
$PY - "$K" <<'PYEOF' || die "npy inputs"
import sys, numpy as np
k = sys.argv[1]
rng = np.random.default_rng(1)
t = 1600000000 + np.arange(300, dtype=np.float64)
lob = (100 + rng.standard_normal((300, 40))).astype(np.float32)
np.save(k + "/GOODUSDT.npy", np.hstack([t[:, None].astype(np.float32), lob, np.zeros((300, 2), np.float32)]))
np.save(k + "/x.npy", rng.standard_normal((4, 100, 40)).astype(np.float32))
PYEOF
sums() { (cd "$K" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

# ---- bad inputs
# book CSV variants: NAME, python expression over the list of lines L (header = L[0])
mkbook() { # name pyexpr [data-type dir: book_snapshot_25|trades] [src file]
    local name=$1 expr=$2 dt=${3:-book_snapshot_25} src=${4:-$BOOK}
    mkdir -p "$B/$name/$dt/SYN000USDT"
    if [ "$dt" = trades ]; then mkdir -p "$B/$name/book_snapshot_25/SYN000USDT"; cp "$BOOK" "$B/$name/book_snapshot_25/SYN000USDT/"; fi
    zcat "$src" | $PY -c "
import sys
L = sys.stdin.read().split('\n')
if L and L[-1] == '': L.pop()
$expr
sys.stdout.write('\n'.join(L) + '\n')" | gzip -c > "$B/$name/$dt/SYN000USDT/$DAY"
}
mkbook hdr_renamed   "L[0] = L[0].replace('timestamp', 'time_stamp', 1)"
mkbook hdr_missing   "L.pop(0)"
mkbook hdr_short     "L[0] = ','.join(L[0].split(',')[:40])"
mkbook row_short     "L[5] = ','.join(L[5].split(',')[:30])"
mkbook row_text      "c = L[6].split(','); c[4] = 'abc'; L[6] = ','.join(c)"
mkbook row_nan       "c = L[7].split(','); c[5] = 'nan'; L[7] = ','.join(c)"
mkbook row_negative  "c = L[8].split(','); c[5] = '-3'; L[8] = ','.join(c)"
mkbook row_backwards "c = L[9].split(','); c[2] = '1'; c[3] = '1'; L[9] = ','.join(c)"
mkbook rows_none     "L[1:] = []"
mkbook trades_hdr    "L[0] = L[0].replace('side', 'direction')" trades "$TRADES"
mkbook trades_side   "c = L[3].split(','); c[5] = 'sideways'; L[3] = ','.join(c)" trades "$TRADES"
mkbook trades_amount "c = L[3].split(','); c[7] = 'x1'; L[3] = ','.join(c)" trades "$TRADES"
mkbook trades_short  "L[4] = ','.join(L[4].split(',')[:3])" trades "$TRADES"
mkgz() { mkdir -p "$B/$1/SYN000USDT"; echo "$B/$1/SYN000USDT/$DAY"; }
f=$(mkgz gz_truncated); head -c $(( $(stat -c %s "$BOOK") / 2 )) "$BOOK" > "$f"
f=$(mkgz gz_plain);     zcat "$BOOK" > "$f"
f=$(mkgz gz_empty);     : > "$f"
f=$(mkgz gz_corrupt);   cp "$BOOK" "$f"; printf '\xff\xff\xff\xff\xff\xff\xff\xff' | dd of="$f" bs=1 seek=$(( $(stat -c %s "$BOOK") / 2 )) conv=notrunc status=none
f=$(mkgz gz_crc);       cp "$BOOK" "$f"; sz=$(stat -c %s "$f"); printf '\x00\x00\x00\x00' | dd of="$f" bs=1 seek=$((sz - 8)) conv=notrunc status=none
$PY - "$B" "$K/syn.h5" <<'PYEOF' || die "bad npy/h5 inputs"
import sys, shutil, h5py, numpy as np
b, good = sys.argv[1], sys.argv[2]
rng = np.random.default_rng(2)
t = 1600000000 + np.arange(300, dtype=np.float64)
lob = (100 + rng.standard_normal((300, 40))).astype(np.float32)
ok = np.hstack([t[:, None].astype(np.float32), lob, np.zeros((300, 2), np.float32)])
np.save(b + "/npy_f64.npy", ok.astype(np.float64))
np.save(b + "/npy_cols.npy", ok[:, :41])
np.save(b + "/npy_1d.npy", ok[:, 0])
np.save(b + "/npy_3d.npy", ok.reshape(300, 43, 1))
np.save(b + "/npy_empty.npy", ok[:0])
tb = ok.copy(); tb[10, 0] = tb[0, 0] - 86400; np.save(b + "/npy_unsorted.npy", tb)
tn = ok.copy(); tn[7, 0] = np.nan; np.save(b + "/npy_nantime.npy", tn)
raw = open(b + "/npy_cols.npy", "rb").read()
open(b + "/npy_truncated.npy", "wb").write(raw[:40])   # cut inside the header
np.save(b + "/npy_trunc_body.npy", ok); d = open(b + "/npy_trunc_body.npy", "rb").read(); open(b + "/npy_trunc_body.npy", "wb").write(d[:-100])
open(b + "/npy_magic.npy", "wb").write(b"\x93NUMPX" + raw[6:])
hdr = raw.replace(b"'descr'", b"'dexcr'", 1); open(b + "/npy_header.npy", "wb").write(hdr)
np.save(b + "/x_nan.npy", np.where(np.arange(4 * 100 * 40).reshape(4, 100, 40) == 4321, np.nan, 1).astype(np.float32))
np.save(b + "/x_shape.npy", np.zeros((4, 100, 39), np.float32))
open(b + "/not_hdf5.h5", "w").write("not an HDF5 file\n")
def variant(name, fn):
    p = "%s/%s.h5" % (b, name)
    shutil.copy(good, p)
    with h5py.File(p, "a") as f:
        fn(f["symbols/SYN001USDT"], f)
def repl(g, k, v):
    del g[k]; g.create_dataset(k, data=v)
variant("h5_no_features", lambda g, f: g.__delitem__("features"))
variant("h5_no_targets", lambda g, f: g.__delitem__("targets"))
variant("h5_no_time", lambda g, f: g.__delitem__("time"))
variant("h5_no_symbols", lambda g, f: f.__delitem__("symbols"))
variant("h5_feat_shape", lambda g, f: repl(g, "features", g["features"][:, :39]))
variant("h5_feat_dtype", lambda g, f: repl(g, "features", g["features"][:].astype(np.int32)))
variant("h5_feat_str", lambda g, f: repl(g, "features", np.array([b"x"] * 10)))
variant("h5_time_len", lambda g, f: repl(g, "time", g["time"][:-1]))
variant("h5_time_unsorted", lambda g, f: repl(g, "time", g["time"][:][::-1].copy()))
variant("h5_time_dup", lambda g, f: repl(g, "time", np.concatenate([g["time"][:1], g["time"][:-1]])))
variant("h5_targets_shape", lambda g, f: repl(g, "targets", g["targets"][:, :1]))
variant("h5_segments_out", lambda g, f: repl(g, "segments", np.array([[0, 10**6]], np.int64)))
variant("h5_segments_overlap", lambda g, f: repl(g, "segments", np.array([[0, 800], [700, len(g["time"])]], np.int64)))
variant("h5_horizons_missing", lambda g, f: g.attrs.__delitem__("horizons") if "horizons" in g.attrs else g.__delitem__("horizons"))
PYEOF
echo '{"dataset": "x.h5", "epochs": 2,' > "$B/cfg_trunc.json"
echo '{"dataset": "x.h5", "epochz": 2}' > "$B/cfg_unknown.json"
echo '{"dataset": "x.h5", "epochs": "two"}' > "$B/cfg_type.json"
echo '{"dataset": "x.h5", "lr": 0}' > "$B/cfg_range.json"
echo '[1, 2, 3]' > "$B/cfg_array.json"
printf 'BTCUSDT\n../etc\n' > "$B/symbols_unsafe.txt"
printf '\n\n' > "$B/symbols_empty.txt"

# ---- the harness
n=0; bad=0
row() { # NAME OUTPUT REGEX -- command...
    local name=$1 out=$2 want=$3; shift 4
    echo "$name" | grep -Eq "$ONLY" || return 0
    n=$((n + 1))
    local before after rc nerr why=""
    before=$(sums)
    (cd "$W" && timeout 60 "$@") > "$W/row.log" 2>&1
    rc=$?
    after=$(sums)
    nerr=$(grep -c "error:" "$W/row.log")   # one report, not one per rank
    if [ $rc -eq 0 ]; then why="exit 0"
    elif [ $rc -eq 124 ]; then why="hung (timeout)"
    elif ! grep -Eq -- "$want" "$W/row.log"; then why="no message matching '$want'"
    elif [ "$nerr" -gt 1 ]; then why="$nerr lines say error (one message expected)"
    elif [ -n "$out" ] && ls -d "$out" "$out".tmp* "$out".part* "$out"*.tmp >/dev/null 2>&1; then why="output left: $(ls -d "$out"* 2>/dev/null | tr '\n' ' ')"
    elif [ "$before" != "$after" ]; then why="an earlier file changed: $(diff <(echo "$before") <(echo "$after") | head -2 | tr '\n' ' ')"
    fi
    if [ -n "$why" ]; then
        bad=$((bad + 1)); echo "FAIL $name: $why"; sed 's/^/     | /' "$W/row.log" | grep -v "^     | *$" | head -8
    else
        echo "ok   $name (exit $rc): $(grep -Eo -- "$want.{0,60}" "$W/row.log" | head -1)"
    fi
}
conv() { echo "$BIN" convert --max-bad-rows 0 --in "$B/$1/book_snapshot_25" --out "$O/$1.h5"; }
bars() { echo "$BIN" mmf-bars --max-bad-rows 0 --in "$B/$1" --out "$O/$1.h5"; }
gzc()  { echo "$BIN" convert --in "$B/$1" --out "$O/$1.h5"; }
imp()  { echo "$BIN" import-npy --out "$O/$1.h5" "$B/$1.npy"; }
trn()  { echo "$BIN" train "$K/cfg.json" --set output_dir="$O" --set run_name="$1" --set dataset="$B/$1.h5"; }
F=$DAY
# CSV: Tardis book_snapshot_25
row hdr_renamed   "$O/hdr_renamed.h5"   "hdr_renamed/book_snapshot_25/SYN000USDT/$F:1: not a Tardis book_snapshot header" -- $(conv hdr_renamed)
row hdr_missing   "$O/hdr_missing.h5"   "hdr_missing/book_snapshot_25/SYN000USDT/$F:1: not a Tardis" -- $(conv hdr_missing)
row hdr_short     "$O/hdr_short.h5"     "hdr_short/book_snapshot_25/SYN000USDT/$F:1: header has 40 columns" -- $(conv hdr_short)
row row_short     "$O/row_short.h5"     "first at .*row_short/book_snapshot_25/SYN000USDT/$F:6$" -- $(conv row_short)
row row_text      "$O/row_text.h5"      "first at .*row_text/book_snapshot_25/SYN000USDT/$F:7$" -- $(conv row_text)
row row_nan       "$O/row_nan.h5"       "first at .*row_nan/book_snapshot_25/SYN000USDT/$F:8$" -- $(conv row_nan)
row row_negative  "$O/row_negative.h5"  "first at .*row_negative/book_snapshot_25/SYN000USDT/$F:9$" -- $(conv row_negative)
row row_backwards "$O/row_backwards.h5" "first at .*row_backwards/book_snapshot_25/SYN000USDT/$F:10$" -- $(conv row_backwards)
row rows_none     "$O/rows_none.h5"     "SYN000USDT: no valid snapshot rows in 1 file" -- $(conv rows_none)
# CSV: trades (mmf-bars)
row trades_hdr    "$O/trades_hdr.h5"    "trades_hdr/trades/SYN000USDT/$F:1: not a Tardis trades header" -- $(bars trades_hdr)
row trades_side   "$O/trades_side.h5"   "first at .*trades_side/trades/SYN000USDT/$F:4$" -- $(bars trades_side)
row trades_amount "$O/trades_amount.h5" "first at .*trades_amount/trades/SYN000USDT/$F:4$" -- $(bars trades_amount)
row trades_short  "$O/trades_short.h5"  "first at .*trades_short/trades/SYN000USDT/$F:5$" -- $(bars trades_short)
# gzip
row gz_truncated  "$O/gz_truncated.h5"  "gz_truncated/SYN000USDT/$F: corrupt or truncated gzip after line [0-9]+" -- $(gzc gz_truncated)
row gz_plain      "$O/gz_plain.h5"      "gz_plain/SYN000USDT/$F: not gzip \\(no gzip header at byte 0\\)" -- $(gzc gz_plain)
row gz_empty      "$O/gz_empty.h5"      "gz_empty/SYN000USDT/$F: empty file \\(0 bytes\\)" -- $(gzc gz_empty)
row gz_corrupt    "$O/gz_corrupt.h5"    "gz_corrupt/SYN000USDT/$F: (gzip error|corrupt or truncated gzip) after line [0-9]+" -- $(gzc gz_corrupt)
row gz_crc        "$O/gz_crc.h5"        "gz_crc/SYN000USDT/$F: (gzip error|corrupt or truncated gzip) after line [0-9]+" -- $(gzc gz_crc)
# npy (import-npy, predict)
row npy_f64       "$O/npy_f64.h5"       "npy_f64.npy: .*(float32|<f4)" -- $(imp npy_f64)
row npy_cols      "$O/npy_cols.h5"      "npy_cols.npy: .*41 columns" -- $(imp npy_cols)
row npy_1d        "$O/npy_1d.h5"        "npy_1d.npy: .*(shape|dimension)" -- $(imp npy_1d)
row npy_3d        "$O/npy_3d.h5"        "npy_3d.npy: .*(shape|dimension)" -- $(imp npy_3d)
row npy_empty     "$O/npy_empty.h5"     "npy_empty.npy: .*(no rows|0 rows|empty)" -- $(imp npy_empty)
row npy_unsorted  "$O/npy_unsorted.h5"  "npy_unsorted.npy: row 10" -- $(imp npy_unsorted)
row npy_nantime   "$O/npy_nantime.h5"   "npy_nantime.npy: row 7" -- $(imp npy_nantime)
row npy_truncated "$O/npy_truncated.h5" "npy_truncated.npy: .*(truncated|short|bytes)" -- $(imp npy_truncated)
row npy_trunc_body "$O/npy_trunc_body.h5" "npy_trunc_body.npy: .*(truncated|short|bytes)" -- $(imp npy_trunc_body)
row npy_magic     "$O/npy_magic.h5"     "npy_magic.npy: .*(magic|not a .npy)" -- $(imp npy_magic)
row npy_header    "$O/npy_header.h5"    "npy_header.npy: .*(header|descr)" -- $(imp npy_header)
row predict_nan   "$O/y_nan.npy"        "x_nan.npy: .*non-finite.*sample 1" -- "$BIN" predict --model deeplob --weights "$K/w.h5" --input "$B/x_nan.npy" --output "$O/y_nan.npy"
row predict_shape "$O/y_shape.npy"      "x_shape.npy: .*(shape|39)" -- "$BIN" predict --model deeplob --weights "$K/w.h5" --input "$B/x_shape.npy" --output "$O/y_shape.npy"
row predict_weights "$O/y_w.npy"        "cfg.json: .*(HDF5|open)" -- "$BIN" predict --model deeplob --weights "$K/cfg.json" --input "$K/x.npy" --output "$O/y_w.npy"
# HDF5 LOB datasets (train)
row h5_not_hdf5   "$O/not_hdf5"         "not_hdf5.h5: .*(HDF5|open)" -- $(trn not_hdf5)
row h5_no_symbols "$O/h5_no_symbols"    "h5_no_symbols.h5: .*symbols" -- $(trn h5_no_symbols)
row h5_no_features "$O/h5_no_features"  "h5_no_features.h5: .*SYN001USDT/features" -- $(trn h5_no_features)
row h5_no_targets "$O/h5_no_targets"    "h5_no_targets.h5: .*SYN001USDT/targets" -- $(trn h5_no_targets)
row h5_no_time    "$O/h5_no_time"       "h5_no_time.h5: .*SYN001USDT/time" -- $(trn h5_no_time)
row h5_feat_shape "$O/h5_feat_shape"    "h5_feat_shape.h5: .*SYN001USDT/features: shape" -- $(trn h5_feat_shape)
row h5_feat_dtype "$O/h5_feat_dtype"    "h5_feat_dtype.h5: .*SYN001USDT/features.*(float|type)" -- $(trn h5_feat_dtype)
row h5_feat_str   "$O/h5_feat_str"      "h5_feat_str.h5: .*SYN001USDT/features" -- $(trn h5_feat_str)
row h5_time_len   "$O/h5_time_len"      "h5_time_len.h5: .*SYN001USDT/(time|features): shape" -- $(trn h5_time_len)
row h5_time_unsorted "$O/h5_time_unsorted" "h5_time_unsorted.h5: .*SYN001USDT/time.*row [0-9]+" -- $(trn h5_time_unsorted)
row h5_time_dup   "$O/h5_time_dup"      "h5_time_dup.h5: .*SYN001USDT/time.*row [0-9]+" -- $(trn h5_time_dup)
row h5_targets_shape "$O/h5_targets_shape" "h5_targets_shape.h5: .*SYN001USDT/targets" -- $(trn h5_targets_shape)
row h5_segments_out "$O/h5_segments_out" "h5_segments_out.h5: .*SYN001USDT/segments" -- $(trn h5_segments_out)
row h5_segments_overlap "$O/h5_segments_overlap" "h5_segments_overlap.h5: .*SYN001USDT/segments" -- $(trn h5_segments_overlap)
row h5_horizons_missing "$O/h5_horizons_missing" "h5_horizons_missing.h5: .*SYN001USDT.*horizons" -- $(trn h5_horizons_missing)
# configs
row cfg_trunc     "$O/x"  "cfg_trunc.json: invalid JSON near byte [0-9]+" -- "$BIN" train "$B/cfg_trunc.json" --set output_dir="$O"
row cfg_unknown   "$O/x"  "cfg_unknown.json: .*'epochz'" -- "$BIN" train "$B/cfg_unknown.json" --set output_dir="$O"
row cfg_type      "$O/x"  "cfg_type.json: .*'epochs'" -- "$BIN" train "$B/cfg_type.json" --set output_dir="$O"
row cfg_range     "$O/x"  "'lr'" -- "$BIN" train "$B/cfg_range.json" --set output_dir="$O"
row cfg_array     "$O/x"  "cfg_array.json: .*object" -- "$BIN" train "$B/cfg_array.json" --set output_dir="$O"
row cfg_missing   "$O/x"  "nope.json: .*(No such file|cannot)" -- "$BIN" train "$B/nope.json" --set output_dir="$O"
row cfg_run_name  "$O/x"  "'run_name'" -- "$BIN" train "$K/cfg.json" --set output_dir="$O" --set run_name=../x
row cfg_set_bad   "$O/bad_set" "'batch'" -- "$BIN" train "$K/cfg.json" --set output_dir="$O" --set run_name=bad_set --set batch=0
# symbol lists
row sym_unknown   "$O/sym_unknown" "'symbols': 'NOPEUSDT' is not in" -- "$BIN" train "$K/cfg.json" --set output_dir="$O" --set run_name=sym_unknown --set symbols=SYN000USDT,NOPEUSDT
row sym_unsafe    "$O/sym_unsafe.h5" "'\.\./etc'" -- "$BIN" convert --in "$K/tardis/book_snapshot_25" --symbols SYN000USDT,../etc --out "$O/sym_unsafe.h5"
row sym_file_unsafe "$O/dl1" "symbols_unsafe.txt:2: .*'\.\./etc'" -- "$BIN" download --base-url http://127.0.0.1:9/v1 --symbols-file "$B/symbols_unsafe.txt" --from 2020-09-01 --to 2020-09-01 --out "$O/dl1"
row sym_file_empty "$O/dl2" "symbols_empty.txt: .*(no symbols|empty)" -- "$BIN" download --base-url http://127.0.0.1:9/v1 --symbols-file "$B/symbols_empty.txt" --from 2020-09-01 --to 2020-09-01 --out "$O/dl2"
# command lines
row cli_stop_after "$O/cli1" "--stop-after-epoch 'abc'" -- "$BIN" train "$K/cfg.json" --set output_dir="$O" --set run_name=cli1 --stop-after-epoch abc
row cli_inject     "$O/cli2" "--inject-nan 'SYN000USDT'" -- "$BIN" train "$K/cfg.json" --set output_dir="$O" --set run_name=cli2 --inject-nan SYN000USDT
row cli_horizons  "$O/cli3.h5" "--horizons.*'10,abc'" -- "$BIN" convert --in "$K/tardis/book_snapshot_25" --out "$O/cli3.h5" --horizons 10,abc
row cli_date      "$O/dl3" "invalid date '2020-13-01'" -- "$BIN" download --base-url http://127.0.0.1:9/v1 --symbols BTCUSDT --from 2020-13-01 --to 2020-13-02 --out "$O/dl3"
row cli_unknown_opt "$O/cli4.h5" "'--frobnicate'" -- "$BIN" convert --in "$K/tardis/book_snapshot_25" --out "$O/cli4.h5" --frobnicate 1
row cli_seconds   "$O/cli5.h5" "--seconds must be an integer in 2000" -- "$BIN" synth --symbols 1 --seconds -5 --out "$O/cli5.h5"
row cli_out_exists "" "keep/syn.h5 exists; not overwriting" -- "$BIN" synth --symbols 1 --seconds 2000 --out "$K/syn.h5"
row cli_run_exists "" "prev: run directory exists" -- "$BIN" train "$K/cfg.json"
# HTTP answers (fixture server)
start_server "$W"
U="--base-url http://127.0.0.1:$PORT/v1 --backoff 0.05 --retries 2 --rate 100 --timeout 5 --stall 5"
row http_401      "$O/h1/binance-futures/book_snapshot_25/DENIED/2020-09-01.csv.gz" "DENIED +2020-09-01 FAILED: .*DENIED.csv.gz: HTTP 401" -- "$BIN" download $U --symbols DENIED --from 2020-09-01 --to 2020-09-01 --out "$O/h1"
row http_404      "$O/h2/binance-futures/book_snapshot_25/MISSING/2020-09-01.csv.gz" "MISSING +2020-09-01 FAILED: .*MISSING.csv.gz: HTTP 404" -- "$BIN" download $U --symbols MISSING --from 2020-09-01 --to 2020-09-01 --out "$O/h2"
row http_500      "$O/h3/binance-futures/book_snapshot_25/DOWN/2020-09-01.csv.gz" "DOWN +2020-09-01 FAILED: .*DOWN.csv.gz: HTTP 500 server error \\(after 3 attempts\\)" -- "$BIN" download $U --symbols DOWN --from 2020-09-01 --to 2020-09-01 --out "$O/h3"
stop_server
echo "$((n - bad)) of $n bad inputs handled as required"
[ $bad -eq 0 ] || exit 1
echo "PASS: test_bad_inputs"
