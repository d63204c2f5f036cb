#!/bin/bash
# test_mpi_isolation.sh: one bad symbol does not take the run down (docs/training.md,
# "Failure isolation"). A dataset of three good symbols plus four bad ones:
#   SYN001USDT  a NaN target injected at epoch 2, step 3 (--inject-nan): diverges
#   SYN006USDT  a finite feature of 3e38 in its validation rows: the z-scored value
#               overflows, the validation loss is not finite: diverges at epoch 1
#   SYN007USDT  30 rows, shorter than one window: skipped
#   SYN008USDT  every feature NaN: skipped
# On 1, 2 and 3 ranks the run must exit 4 (partial failure), say where each bad
# symbol stopped, keep the diverged symbol's last good checkpoint (epoch 1), carry
# the status in summary.csv, the table, results.h5 and report.md, and give the good
# symbols (SYN000USDT, SYN002USDT) the very bits of a run without the bad ones.
# The 2- and 3-rank files equal the 1-rank file whole, and --resume repeats them.
set -u
source "$(dirname "$0")/mpi_lib.sh"

"$BIN" synth --symbols 3 --seconds 2000 --seed 3 --out "$W/good.h5" > "$W/synth.log" 2>&1 || { show "$W/synth.log"; fail "synth failed"; }
cp "$W/good.h5" "$W/bad.h5"
$PY - "$W/bad.h5" <<'PYEOF' || fail "making the bad symbols"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "a") as f:
    s = f["symbols"]
    def clone(name, n=None):
        s.copy("SYN000USDT", s, name=name)
        g = s[name]
        g.attrs["symbol"] = name
        if n is not None:
            for k in ("time", "features", "targets"):
                v = g[k][:n]; del g[k]; g.create_dataset(k, data=v)
            del g["segments"]; g.create_dataset("segments", data=np.array([[0, n]], dtype=np.int64))
        return g
    g = clone("SYN006USDT")
    x = g["features"][:]; x[1400, 0] = 3e38; g["features"][...] = x    # a validation row (validation: rows 1200..1599)
    clone("SYN007USDT", 30)
    g = clone("SYN008USDT")
    g["features"][...] = np.full(g["features"].shape, np.nan, dtype=np.float32)
    f.attrs["symbols"] = len(s)
PYEOF
BATCH=32 mk_config cfg "$W/good.h5" 2

echo "== reference: the good symbols alone, 1 rank"
"$MPIEXEC" -np 1 "$BIN" train "$W/cfg.json" --set run_name=ref > "$W/ref.log" 2>&1 || { show "$W/ref.log"; fail "reference run failed"; }

for np in 1 2 3; do
    echo "== the bad dataset on $np rank(s)"
    timeout 300 "$MPIEXEC" -np $np --oversubscribe "$BIN" train "$W/cfg.json" --set dataset="$W/bad.h5" \
        --set run_name=bad$np --inject-nan SYN001USDT:2:3 > "$W/bad$np.log" 2>&1
    rc=$?
    [ $rc -eq 4 ] || { show "$W/bad$np.log"; fail "np=$np: exit $rc, 4 (partial failure) expected"; }
    grep -q "SYN001USDT: diverged at epoch 2, step 3 (loss nan)" "$W/bad$np.log" || { show "$W/bad$np.log"; fail "np=$np: SYN001USDT's divergence not reported"; }
    grep -q "SYN006USDT: diverged at epoch 1, validation" "$W/bad$np.log" || { show "$W/bad$np.log"; fail "np=$np: SYN006USDT's divergence not reported"; }
    grep -q "SYN007USDT: skipped: symbol SYN007USDT: no validation samples" "$W/bad$np.log" || { show "$W/bad$np.log"; fail "np=$np: SYN007USDT not skipped"; }
    grep -q "SYN008USDT: skipped: symbol SYN008USDT: no finite training rows" "$W/bad$np.log" || { show "$W/bad$np.log"; fail "np=$np: SYN008USDT not skipped"; }
    grep -q "4 of 6 symbol(s) without test metrics" "$W/bad$np.log" || { show "$W/bad$np.log"; fail "np=$np: the table does not list the failed symbols"; }
    D="$W/out/bad$np"
    grep -q '^"SYN001USDT",.*,diverged,"diverged at epoch 2, step 3 (loss nan)"$' "$D/summary.csv" || { show "$D/summary.csv"; fail "np=$np: summary.csv status"; }
    [ "$(grep -c ',ok,""$' "$D/summary.csv")" -eq 2 ] || { show "$D/summary.csv"; fail "np=$np: two ok rows expected in summary.csv"; }
    $PY - "$D" <<'PYEOF' || fail "np=$np: results.h5 / checkpoint status"
import sys, h5py
d = sys.argv[1]
want = {"SYN000USDT": 0, "SYN001USDT": 1, "SYN002USDT": 0, "SYN006USDT": 1, "SYN007USDT": 2, "SYN008USDT": 2}
with h5py.File(d + "/results.h5", "r") as f:
    summ = {r["symbol"].decode(): int(r["status"]) for r in f["summary"][:]}
    for s, code in want.items():
        if code is None: continue
        st = f["symbols/%s/status" % s][()]
        assert int(st["code"]) == code and summ[s] == code, (s, st, summ[s])
with h5py.File(d + "/checkpoints/SYN001USDT.h5", "r") as c:
    assert int(c.attrs["epoch_done"]) == 1 and int(c.attrs["finished"]) == 0, dict(c.attrs)
print("statuses in results.h5 and /summary as expected; SYN001USDT's checkpoint is epoch 1")
PYEOF
    CMP_SYMBOLS="SYN000USDT SYN002USDT" cmp_results "$W/out/ref/results.h5" "$D/results.h5"
done
cmp_results "$W/out/bad1/results.h5" "$W/out/bad2/results.h5" "$W/out/bad3/results.h5"

echo "== --resume of the 2-rank run: the same statuses and bits"
"$MPIEXEC" -np 2 --oversubscribe "$BIN" train "$W/cfg.json" --set dataset="$W/bad.h5" --set run_name=bad2 \
    --inject-nan SYN001USDT:2:3 --resume > "$W/res.log" 2>&1
[ $? -eq 4 ] || { show "$W/res.log"; fail "resume: exit 4 expected"; }
cmp_results "$W/out/bad1/results.h5" "$W/out/bad2/results.h5"

echo "== report of the partial run"
"$BIN" report "$W/out/bad1" > "$W/rep.log" 2>&1 || { show "$W/rep.log"; fail "report failed on a partial run"; }
grep -q "4 symbol(s) without test metrics" "$W/out/bad1/report.md" && grep -q "SYN007USDT: skipped" "$W/out/bad1/report.md" \
    || { show "$W/out/bad1/report.md"; fail "report.md does not list the failed symbols"; }
echo "PASS: test_mpi_isolation"
