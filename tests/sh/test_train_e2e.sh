#!/bin/bash
# test_train_e2e.sh: tiny end-to-end training on a synthetic dataset.
# Checks: the run writes results.h5 / summary.csv / the table; the training loss goes
# down; a second run with the same seed is bit-identical (metrics, predictions,
# history losses, weights); a run stopped after epoch 1 and continued with --resume
# is bit-identical too; an existing run directory is refused without --resume/--force;
# a bad config key fails naming the key.
set -u
# BIN, PY, W (temp dir), fail() and cmp_results (byte-for-byte comparison of results files)
. "$(dirname "$0")/mpi_lib.sh"

echo "== synthetic dataset (2 symbols x 3000 s)"
"$BIN" synth --symbols 2 --seconds 3000 --seed 11 --out "$W/syn.h5" || fail "synth failed"

cat > "$W/tiny.json" <<JSON
{"dataset": "$W/syn.h5", "symbols": "all", "model": "deeplob", "seq_len": 24, "batch": 32,
 "epochs": 3, "patience": 3, "max_train_samples": 600, "seed": 7, "output_dir": "$W/out",
 "run_name": "a", "threads": 1}
JSON

echo "== run A"
"$BIN" train "$W/tiny.json" > "$W/a.log" 2>&1 || { cat "$W/a.log"; fail "run A failed"; }
cat "$W/a.log"
for f in results.h5 summary.csv config.json; do [ -s "$W/out/a/$f" ] || fail "missing $f"; done
grep -q "top 2 by correlation" "$W/a.log" || fail "no table printed"
[ "$(grep -c ' epoch ' "$W/a.log")" -ge 6 ] || fail "expected one progress line per epoch per symbol"

echo "== refuse to overwrite run A"
if "$BIN" train "$W/tiny.json" > "$W/x.log" 2>&1; then fail "an existing run directory was overwritten"; fi
grep -q "run directory exists" "$W/x.log" || { cat "$W/x.log"; fail "no clear refusal message"; }

echo "== bad key names the key"
if "$BIN" train "$W/tiny.json" --set batchsize=3 > "$W/x.log" 2>&1; then fail "unknown key accepted"; fi
grep -q "unknown key 'batchsize'" "$W/x.log" || { cat "$W/x.log"; fail "message does not name the key"; }

echo "== run B (same seed, --key value override syntax for run_name)"
"$BIN" train "$W/tiny.json" --run_name b > "$W/b.log" 2>&1 || { cat "$W/b.log"; fail "run B failed"; }

echo "== run C: stop after epoch 1, then --resume"
"$BIN" train "$W/tiny.json" --set run_name=c --stop-after-epoch 1 > "$W/c1.log" 2>&1
rc=$?
[ $rc -eq 3 ] || { cat "$W/c1.log"; fail "stop-after-epoch exit code $rc (3 expected)"; }
[ -s "$W/out/c/checkpoints/SYN000USDT.h5" ] || fail "no checkpoint after epoch 1"
[ -e "$W/out/c/results.h5" ] && fail "results.h5 written by an interrupted run"
"$BIN" train "$W/tiny.json" --set run_name=c --resume > "$W/c2.log" 2>&1 || { cat "$W/c2.log"; fail "resume failed"; }
grep -q "resumed after epoch 1" "$W/c2.log" || { cat "$W/c2.log"; fail "resume did not use the checkpoint"; }

echo "== compare A, B, C"
cmp_results "$W/out/a/results.h5" "$W/out/b/results.h5" "$W/out/c/results.h5"

echo "== loss goes down, outputs present"
$PY - "$W/out/a/results.h5" <<'PYEOF' || fail "checks on run A failed"
import sys, h5py, numpy as np
bad = 0
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["format"] in (b"deeplob-mpi results", "deeplob-mpi results")
    for sym in ("SYN000USDT", "SYN001USDT"):
        g = f["symbols/" + sym]
        tl = g["history"]["train_loss"]
        n = int(g["info"]["epochs_run"])
        print("%s train loss by epoch: %s; test corr %.4f; complete %d" % (sym, tl[:n], g["metrics_raw"]["corr"],
              int(g["complete"][()])))
        if not (n == 3 and tl[n - 1] < tl[0]): print("FAIL: training loss did not go down for", sym); bad += 1
        if int(g["complete"][()]) != 1: print("FAIL: completion mark missing"); bad += 1
        if not np.isfinite(g["test/pred"][()]).any(): print("FAIL: no finite predictions"); bad += 1
        if "weights/fc2.weight" not in g: print("FAIL: weights missing"); bad += 1
sys.exit(1 if bad else 0)
PYEOF
echo "PASS: test_train_e2e"
