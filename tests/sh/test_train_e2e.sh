#!/bin/bash
# test_train_e2e.sh: tiny end-to-end training on a synthetic dataset.
# Checks: the run writes results.h5 / summary.csv / the table; the training loss goes
# down; a second run with the same seed is bit-identical (metrics, predictions,
# history losses, weights); a run stopped after epoch 1 and continued with --resume
# is bit-identical too; an existing run directory is refused without --resume/--force;
# a bad config key fails naming the key.
set -u
BIN=${DEEPLOB_BIN:?DEEPLOB_BIN not set}
PY=/usr/bin/python3
if ! $PY -c "import h5py, numpy" 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 with h5py and numpy is needed to compare results files"; exit 77
fi
W=$(mktemp -d /tmp/dl_train_e2e.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

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

echo "== compare A, B, C; loss goes down"
$PY - "$W/out/a/results.h5" "$W/out/b/results.h5" "$W/out/c/results.h5" <<'PYEOF' || fail "comparison failed"
import sys, h5py, numpy as np
TIMING = {"wall_s", "train_seconds", "samples_per_s", "seconds", "resumed_from"}
def load(path):
    out = {}
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] in (b"deeplob-mpi results", "deeplob-mpi results")
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                v = obj[()]
                if v.dtype.names:
                    for k in v.dtype.names:
                        if k not in TIMING: out[name + "." + k] = np.asarray(v[k])
                else:
                    out[name] = np.asarray(v)
        f.visititems(visit)
    return out
a, b, c = (load(p) for p in sys.argv[1:4])
bad = 0
for name, other in (("B", b), ("C (resumed)", c)):
    if set(a) != set(other):
        print("FAIL: dataset sets differ between A and", name, set(a) ^ set(other)); bad += 1; continue
    diff = [k for k in a if a[k].tobytes() != other[k].tobytes()]
    print("A vs %s: %d datasets compared, %d differ %s" % (name, len(a), len(diff), diff[:5]))
    bad += len(diff) > 0
for sym in ("SYN000USDT", "SYN001USDT"):
    tl = a["symbols/%s/history.train_loss" % sym]
    n = int(a["symbols/%s/info.epochs_run" % sym])
    print("%s train loss by epoch: %s; test corr %.4f; complete %d" % (sym, tl[:n], a["symbols/%s/metrics_raw.corr" % sym],
          a["symbols/%s/complete" % sym]))
    if not (n == 3 and tl[n - 1] < tl[0]): print("FAIL: training loss did not go down for", sym); bad += 1
    if int(a["symbols/%s/complete" % sym]) != 1: print("FAIL: completion mark missing"); bad += 1
    pred = a["symbols/%s/test/pred" % sym]
    if not np.isfinite(pred).any(): print("FAIL: no finite predictions"); bad += 1
    if "symbols/%s/weights/fc2.weight" % sym not in a: print("FAIL: weights missing"); bad += 1
sys.exit(1 if bad else 0)
PYEOF
echo "PASS: test_train_e2e"
