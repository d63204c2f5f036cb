#!/bin/bash
# test_report.sh: `deeplob_mpi report` figures and report.md from small runs' results.h5.
# Checks: every expected PNG decodes, has its documented size and is not blank (pixel
# variance, share of non-background pixels); report.md links every figure and every
# link exists. Run A: deeplob_hier (two heads), EMA, oracle, 3 symbols on 2 ranks,
# report written by train itself (report: true). Run B: one symbol, no EMA, no oracle,
# one rank, report by the command without mpirun. An old file without /schedule
# still reports (Gantt chart said absent); a directory without results.h5 fails,
# naming the file, and writes nothing. The PNG checker must reject a blank PNG.
# Run C: an MMF study (2 symbols, 4 epochs): only its figure (LSTM train/test MSE per epoch,
# XGBoost's and the zero predictor's as lines), its table with the run's numbers.
set -u
. "$(dirname "$0")/mpi_lib.sh"
if [ "${DEEPLOB_PLPLOT:-OFF}" != "ON" ]; then
    echo "SKIP: this build has no PLplot (apt-get install libplplot-dev plplot-driver-cairo; re-run cmake)"
    exit 77
fi

# check_report RUN_DIR FIG... : PNGs decode, sizes, not blank; report.md links exactly the figures
check_report() {
    $PY - "$@" <<'PYEOF' || fail "report checks failed for $1"
import os, re, struct, sys, zlib
SIZES = {"corr_bars.png": (1600, 1000), "scatter.png": (1800, 700), "history_01.png": (1800, 1200),
         "schedule.png": (1600, 800), "mmf_mse_01.png": (1800, 1200)}

def decode(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit truecolour PNG, stdlib only"""
    b = open(path, "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, idat, w = 8, b"", None
    while pos < len(b):
        n, kind = struct.unpack(">I4s", b[pos:pos + 8])
        data = b[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + data) == struct.unpack(">I", b[pos + 8 + n:pos + 12 + n])[0], "bad CRC"
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", data[:10])
            assert depth == 8 and ctype in (2, 6), "unexpected PNG format %d/%d" % (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += data
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            c = prev[i - bpp] if i >= bpp else 0
            p = prev[i]
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + p) & 255
            elif f == 3: line[i] = (line[i] + (a + p) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(p - c), abs(a - c), abs(a + p - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else p if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, rows, bpp

def check_png(path, size):
    w, h, rows, bpp = decode(path)
    assert (w, h) == size, "%s: %dx%d, %dx%d expected" % (path, w, h, size[0], size[1])
    # grey levels of every 3rd pixel of every 3rd row
    g = [sum(r[x:x + 3]) // 3 for r in rows[::3] for x in range(0, len(r), 3 * bpp)]
    mean = sum(g) / len(g)
    var = sum((v - mean) ** 2 for v in g) / len(g)
    ink = sum(v < 240 for v in g) / len(g)
    assert var > 100 and ink > 0.02, "%s looks blank (variance %.1f, %.1f%% non-white)" % (path, var, 100 * ink)
    return var, ink

if sys.argv[1] == "--selftest":
    # a blank white PNG must be rejected by check_png
    w, h = 1600, 800
    raw = b"".join(b"\x00" + b"\xff" * (3 * w) for _ in range(h))
    def chunk(k, d): return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
          chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(sys.argv[2], "wb").write(png)
    try:
        check_png(sys.argv[2], (w, h))
    except AssertionError as ex:
        print("checker rejects a blank PNG:", ex); sys.exit(0)
    print("FAIL: the checker accepted a blank PNG"); sys.exit(1)

run, want = sys.argv[1], sys.argv[2:]
md = open(os.path.join(run, "report.md")).read()
links = re.findall(r"\]\((figures/[^)]+\.png)\)", md)
figs = sorted(os.listdir(os.path.join(run, "figures")))
bad = 0
for f in want:
    if "figures/" + f not in links: print("FAIL: report.md does not link", f); bad += 1
for l in links:
    if not os.path.exists(os.path.join(run, l)): print("FAIL: report.md links a missing", l); bad += 1
for f in figs:
    if "figures/" + f not in links: print("FAIL: figures/%s is not in report.md" % f); bad += 1
    if f.startswith("."): print("FAIL: a temporary file was left:", f); bad += 1
mmf = "MMF study" in md
for sec in (("## Per-symbol results", "*Figure 1.*") if mmf else
            ("## Cross-symbol summary", "## Per-symbol results", "## Configuration", "*Figure 1.*")):
    if sec not in md: print("FAIL: report.md lacks", sec); bad += 1
for f in want:
    try:
        var, ink = check_png(os.path.join(run, "figures", f), SIZES[f])
        print("%-15s ok: %dx%d, grey variance %.0f, %.0f%% non-white" % ((f,) + SIZES[f] + (var, 100 * ink)))
    except (AssertionError, OSError, zlib.error) as ex:
        print("FAIL:", f, ex); bad += 1
sys.exit(1 if bad else 0)
PYEOF
}

FIGS="schedule.png corr_bars.png scatter.png history_01.png"

echo "== the PNG checker rejects a blank image"
check_report --selftest "$W/blank.png"

echo "== run A: deeplob_hier, EMA, oracle, 3 symbols on 2 ranks, report: true"
"$BIN" synth --symbols 3 --seconds 2000 --seed 11 --out "$W/syn.h5" > "$W/synth.log" 2>&1 || { show "$W/synth.log"; fail "synth"; }
cat > "$W/a.json" <<JSON
{"dataset": "$W/syn.h5", "symbols": "all", "model": "deeplob_hier", "horizon": 10, "horizon2": 60,
 "ema_alpha": 0.1, "seq_len": 24, "batch": 32, "epochs": 3, "patience": 3, "plateau_patience": 0,
 "max_train_samples": 120, "seed": 3, "output_dir": "$W/out", "run_name": "a", "threads": 1,
 "report": true, "progress_interval": 0.02}
JSON
"$MPIEXEC" -n 2 "$BIN" train "$W/a.json" > "$W/a.log" 2>&1 || { show "$W/a.log"; fail "run A failed"; }
grep -q "report: .*report.md with 4 figure(s)" "$W/a.log" || { show "$W/a.log"; fail "train did not write the report"; }
grep -q "^\[rank 0\] SYN.* epoch [1-3]/3 .*samples/s.*ETA epoch .*symbol .*| run ~" "$W/a.log" \
    || { show "$W/a.log"; fail "no in-epoch progress line with the run's ETA from rank 0"; }
check_report "$W/out/a" $FIGS
grep -q "head 2" "$W/out/a/report.md" || fail "report.md does not show the second head"
grep -q "smoothed targets" "$W/out/a/report.md" || fail "report.md does not show the smoothed metrics"

echo "== run B: 1 symbol, no EMA, no oracle, 1 rank; report without mpirun"
cp "$W/syn.h5" "$W/real.h5"
$PY - "$W/real.h5" <<'PYEOF' || fail "removing the oracle"
import sys, h5py
with h5py.File(sys.argv[1], "a") as f:
    for s in f["symbols"]:
        for a in [a for a in f["symbols"][s].attrs if a.startswith("oracle_corr")]:
            del f["symbols"][s].attrs[a]
PYEOF
cat > "$W/b.json" <<JSON
{"dataset": "$W/real.h5", "symbols": ["SYN001USDT"], "model": "deeplob", "seq_len": 24, "batch": 32,
 "epochs": 2, "patience": 3, "max_train_samples": 120, "seed": 3, "output_dir": "$W/out", "run_name": "b",
 "threads": 1}
JSON
"$BIN" train "$W/b.json" > "$W/b.log" 2>&1 || { show "$W/b.log"; fail "run B failed"; }
[ -e "$W/out/b/report.md" ] && fail "report written without report: true"
"$BIN" report "$W/out/b" > "$W/rb.log" 2>&1 || { show "$W/rb.log"; fail "report B failed"; }
check_report "$W/out/b" $FIGS
grep -q "oracle" "$W/out/b/report.md" && fail "report B mentions an oracle the dataset does not have"

echo "== a results file without /schedule (written before it existed) still reports"
mkdir -p "$W/old" && cp "$W/out/b/results.h5" "$W/old/"
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'a'); del f['schedule']; f.close()" "$W/old/results.h5" || fail "h5py"
"$BIN" report "$W/old" > "$W/old.log" 2>&1 || { show "$W/old.log"; fail "report of an old file failed"; }
grep -q "Not drawn: the schedule" "$W/old/report.md" || fail "report.md does not say the schedule is absent"
check_report "$W/old" corr_bars.png scatter.png history_01.png

echo "== run C: an MMF study run"
"$BIN" synth --out "$W/mmf_lob.h5" --symbols 2 --seconds 8000 --tardis-out "$W/tardis" > /dev/null || fail "synth --tardis-out"
"$BIN" mmf-bars --in "$W/tardis" --out "$W/bars.h5" > "$W/bars.log" 2>&1 || { show "$W/bars.log"; fail "mmf-bars"; }
cat > "$W/c.json" <<JSON
{"bars": "$W/bars.h5", "output_dir": "$W/out", "run_name": "c", "seed": 3, "epochs": 4, "batch": 16,
 "episode_len": 64, "warmup": 16, "stride": 32, "lr": 1e-3, "xgb_rounds": 20, "xgb_threads": 1}
JSON
"$BIN" mmf "$W/c.json" > "$W/c.log" 2>&1 || { show "$W/c.log"; fail "mmf run C"; }
"$BIN" report "$W/out/c" > "$W/rc.log" 2>&1 || { show "$W/rc.log"; fail "report C failed"; }
grep -q "report.md with 1 figure(s)" "$W/rc.log" || { show "$W/rc.log"; fail "report C: not exactly the MMF figure"; }
check_report "$W/out/c" mmf_mse_01.png
# the table carries the run's XGBoost test MSE (summary.csv column 7) for every symbol
for sym in SYN000USDT SYN001USDT; do
    v=$(awk -F, -v s=$sym '$1 == s && $2 == "xgboost" { printf "%.4f", $7 }' "$W/out/c/summary.csv")
    grep -q "| $sym | XGBoost | .* | $v |" "$W/out/c/report.md" || { show "$W/out/c/report.md"; fail "report C: $sym XGBoost test MSE $v missing"; }
done

echo "== no results.h5: a clear error, exit 1, nothing written"
mkdir -p "$W/empty"
"$BIN" report "$W/empty" > "$W/e.log" 2>&1
rc=$?
[ $rc -eq 1 ] || { show "$W/e.log"; fail "exit $rc for a directory without results.h5 (1 expected)"; }
grep -q "empty/results.h5: cannot open" "$W/e.log" || { show "$W/e.log"; fail "the message does not name the file"; }
[ -e "$W/empty/report.md" ] || [ -e "$W/empty/figures" ] && fail "a failed report left files behind"
echo "PASS: test_report"
