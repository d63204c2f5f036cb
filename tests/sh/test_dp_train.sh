#!/bin/bash
# test_dp_train.sh: data-parallel training (dp_shards, ranks_per_symbol; train/dp.h).
#  1. the engine: 3 steps of every model with K = 6 shards give the same digest on
#     1, 2, 3 and 6 ranks (test_dp_model under mpirun);
#  2. a short training with dp_shards 6: results.h5 bit-identical for groups of 1, 2
#     and 3 ranks (and 6 ranks as 2 groups of 3, training two symbols at once);
#  3. kill-and-resume of a data-parallel run: --stop-after-epoch 1 on groups of 2,
#     then --resume on groups of 3: the same bits again.
set -u
source "$(dirname "$0")/mpi_lib.sh"
DPM=${DEEPLOB_BUILD:?}/test_dp_model

echo "== 1. engine: 3 sharded steps (K = 6) on 1, 2, 3, 6 ranks"
for np in 1 2 3 6; do
    "$MPIEXEC" -np $np --oversubscribe "$DPM" > "$W/dpm$np.log" 2>&1 || { show "$W/dpm$np.log"; fail "test_dp_model on $np ranks failed"; }
    grep "^dp " "$W/dpm$np.log" | sed 's/ G=[0-9]*//' > "$W/dpm$np.dig"
    [ "$(wc -l < "$W/dpm$np.dig")" -eq 3 ] || { show "$W/dpm$np.log"; fail "np=$np: not 3 digests"; }
    diff "$W/dpm1.dig" "$W/dpm$np.dig" || fail "np=$np: sharded steps differ from 1 rank"
done
cat "$W/dpm1.dig"

echo "== 2. training with dp_shards 6 over groups of 1, 2, 3 ranks"
"$BIN" synth --symbols 2 --seconds 2000 --seed 3 --out "$W/syn.h5" > "$W/synth.log" 2>&1 || { show "$W/synth.log"; fail "synth failed"; }
BATCH=48 MAXS=400 mk_config dp "$W/syn.h5" 2 ', "dp_shards": 6, "eval_batch": 100'
for g in 1 2 3; do
    "$MPIEXEC" -np $g --oversubscribe "$BIN" train "$W/dp.json" --set run_name=g$g --set ranks_per_symbol=$g \
        > "$W/g$g.log" 2>&1 || { show "$W/g$g.log"; fail "groups of $g failed"; }
    grep -q "data-parallel: 1 group(s) of $g rank(s), each batch in 6 shards of 8" "$W/g$g.log" || { show "$W/g$g.log"; fail "g=$g: no data-parallel line"; }
done
"$MPIEXEC" -np 6 --oversubscribe "$BIN" train "$W/dp.json" --set run_name=g3x2 --set ranks_per_symbol=3 \
    > "$W/g3x2.log" 2>&1 || { show "$W/g3x2.log"; fail "6 ranks in groups of 3 failed"; }
grep -q "data-parallel: 2 group(s) of 3 rank(s)" "$W/g3x2.log" || { show "$W/g3x2.log"; fail "6 ranks: not 2 groups"; }
cmp_results "$W/out/g1/results.h5" "$W/out/g2/results.h5" "$W/out/g3/results.h5" "$W/out/g3x2/results.h5"
echo "bit-identical: groups of 1, 2, 3, and 2 groups of 3"
# ranks_per_symbol 0: one symbol on 2 ranks -> groups of 2 chosen from the sizes, the same bits
"$MPIEXEC" -np 2 --oversubscribe "$BIN" train "$W/dp.json" --set run_name=auto --set ranks_per_symbol=0 --set symbols=SYN000USDT \
    > "$W/auto.log" 2>&1 || { show "$W/auto.log"; fail "ranks_per_symbol 0 failed"; }
grep -q "ranks_per_symbol 0 (auto): 1 group(s) of 2 rank(s)" "$W/auto.log" || { show "$W/auto.log"; fail "auto did not pick groups of 2 for 1 symbol on 2 ranks"; }
CMP_SYMBOLS=SYN000USDT cmp_results "$W/out/g1/results.h5" "$W/out/auto/results.h5"
# ranks_per_symbol 0 with one large symbol and two small ones on 3 ranks (dp_shards 2): the
# large one gets a group of 2, the small ones 1 rank each; the same bits as 1 rank
"$BIN" synth --symbols 1 --seconds 6000 --seed 4 --out "$W/big.h5" > "$W/synth_big.log" 2>&1 || { show "$W/synth_big.log"; fail "synth failed"; }
cp "$W/syn.h5" "$W/het.h5"
$PY - "$W/big.h5" "$W/het.h5" <<'PYEOF' || fail "could not build the 3-symbol dataset"
import sys, h5py
with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "a") as b:
    a.copy(a["symbols/SYN000USDT"], b["symbols"], "SYN009USDT")
    b["symbols/SYN009USDT"].attrs["symbol"] = "SYN009USDT"   # the copy still names its source
PYEOF
BATCH=48 MAXS=3000 mk_config het "$W/het.h5" 1 ', "dp_shards": 2, "eval_batch": 100'
"$MPIEXEC" -np 1 "$BIN" train "$W/het.json" --set run_name=het1 > "$W/het1.log" 2>&1 || { show "$W/het1.log"; fail "1-rank reference failed"; }
"$MPIEXEC" -np 3 --oversubscribe "$BIN" train "$W/het.json" --set run_name=het3 --set ranks_per_symbol=0 > "$W/het3.log" 2>&1 \
    || { show "$W/het3.log"; fail "3 ranks, ranks_per_symbol 0 failed"; }
grep -q "ranks_per_symbol 0 (auto): 1 group(s) of 2 + 1 group(s) of 1 rank(s)" "$W/het3.log" \
    || { show "$W/het3.log"; fail "auto did not give the large symbol a group of 2 and the others 1 rank"; }
grep -q "SYN009USDT: .*(ranks 0-1, data-parallel)" "$W/het3.log" || { show "$W/het3.log"; fail "the large symbol did not go to the group of 2"; }
cmp_results "$W/out/het1/results.h5" "$W/out/het3/results.h5"
echo "groups of 2 + 1 (chosen from the sizes): bit-identical to 1 rank"
# /schedule names the group (rank 0, ranks 2) so that the Gantt chart draws both of its rows
$PY - "$W/out/het3/results.h5" <<'PYEOF' || fail "/schedule does not record the group of the large symbol"
import sys, h5py
s = h5py.File(sys.argv[1], "r")["schedule"][()]
rows = {r["symbol"].decode().rstrip("\0"): (int(r["rank"]), int(r["ranks"])) for r in s}
assert rows["SYN009USDT"] == (0, 2), rows
assert sorted(v[1] for k, v in rows.items() if k != "SYN009USDT") == [1, 1], rows
PYEOF
"$BIN" report "$W/out/het3" > "$W/rep3.log" 2>&1 || { show "$W/rep3.log"; fail "report of the 3-rank run failed"; }
[ -s "$W/out/het3/figures/schedule.png" ] && grep -q "How the ranks spent the run" "$W/out/het3/report.md" \
    || { show "$W/rep3.log"; fail "the report of the 3-rank run has no schedule figure"; }
echo "/schedule records the group (rank 0, 2 ranks); report draws it"

echo "== 3. kill-and-resume: stop after epoch 1 on groups of 2, resume on groups of 3"
"$MPIEXEC" -np 2 --oversubscribe "$BIN" train "$W/dp.json" --set run_name=res --set ranks_per_symbol=2 --stop-after-epoch 1 \
    > "$W/res1.log" 2>&1; rc=$?
[ $rc -eq 3 ] || { show "$W/res1.log"; fail "stop-after-epoch exit $rc, 3 expected"; }
"$MPIEXEC" -np 3 --oversubscribe "$BIN" train "$W/dp.json" --set run_name=res --set ranks_per_symbol=3 --resume \
    > "$W/res2.log" 2>&1 || { show "$W/res2.log"; fail "resume failed"; }
grep -q "resumed after epoch 1" "$W/res2.log" || { show "$W/res2.log"; fail "did not resume from the checkpoint"; }
cmp_results "$W/out/g1/results.h5" "$W/out/res/results.h5"
echo "resumed run bit-identical to the uninterrupted one"

echo "== 3b. SIGKILL of one rank of a data-parallel group mid-run, --resume on groups of 3"
CK="$W/out/kill/checkpoints"
BATCH=48 MAXS=400 mk_config kill "$W/syn.h5" 3 ', "dp_shards": 6, "eval_batch": 100'
"$MPIEXEC" -np 1 "$BIN" train "$W/kill.json" --set run_name=kref > "$W/kref.log" 2>&1 || { show "$W/kref.log"; fail "3-epoch reference failed"; }
"$MPIEXEC" -np 2 --oversubscribe "$BIN" train "$W/kill.json" --set ranks_per_symbol=2 > "$W/k1.log" 2>&1 &
MPID=$!
killed=""
for _ in $(seq 1 1200); do
    if ls "$CK"/*.h5 >/dev/null 2>&1; then
        victim=$(pgrep -P $MPID | tail -1)
        if [ -n "$victim" ]; then kill -KILL "$victim" && killed=$victim; fi
        break
    fi
    kill -0 $MPID 2>/dev/null || break
    sleep 0.05
done
wait $MPID; rc=$?
[ -n "$killed" ] || { show "$W/k1.log"; fail "no checkpoint appeared while the data-parallel run was going"; }
[ $rc -ne 0 ] || { show "$W/k1.log"; fail "the killed run reported success"; }
[ -e "$W/out/kill/results.h5" ] && fail "a killed run left results.h5"
"$MPIEXEC" -np 3 --oversubscribe "$BIN" train "$W/kill.json" --set ranks_per_symbol=3 --resume > "$W/k2.log" 2>&1 \
    || { show "$W/k2.log"; fail "resume after the kill failed"; }
grep -q "resumed after epoch" "$W/k2.log" || { show "$W/k2.log"; fail "the resume did not start from a checkpoint"; }
grep "resumed after epoch" "$W/k2.log" | head -2
CMP_SYMBOLS="SYN000USDT SYN001USDT" cmp_results "$W/out/kref/results.h5" "$W/out/kill/results.h5"
echo "killed (pid $killed, mpirun exit $rc) and resumed on another group size: bit-identical"

echo "== 4. universal model: one model over the pooled symbols, one held out, on 1 and 2 ranks"
"$BIN" synth --symbols 3 --seconds 2000 --seed 5 --out "$W/syn3.h5" > "$W/synth3.log" 2>&1 || { show "$W/synth3.log"; fail "synth failed"; }
BATCH=48 MAXS=400 mk_config uni "$W/syn3.h5" 2 ', "dp_shards": 2, "eval_batch": 100, "universal": true, "holdout_symbols": "SYN002USDT"'
for np in 1 2; do
    "$MPIEXEC" -np $np --oversubscribe "$BIN" train "$W/uni.json" --set run_name=u$np > "$W/u$np.log" 2>&1 \
        || { show "$W/u$np.log"; fail "universal on $np rank(s) failed"; }
    grep -q "universal model: one model over 2 symbol(s) (1 held out), $np rank(s) data-parallel" "$W/u$np.log" \
        || { show "$W/u$np.log"; fail "np=$np: no universal header"; }
    grep -q "SYN002USDT: test corr .*\[held out\]" "$W/u$np.log" || { show "$W/u$np.log"; fail "np=$np: held-out symbol not evaluated"; }
done
cmp_results "$W/out/u1/results.h5" "$W/out/u2/results.h5"
$PY - "$W/out/u1/results.h5" <<'PYEOF' || fail "universal results: weights or status wrong"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
syms = sorted(f["symbols"].keys())
assert syms == ["SYN000USDT", "SYN001USDT", "SYN002USDT"], syms
def weights(s):
    g = f["symbols"][s]
    out = []
    g.visititems(lambda n, o: out.append(o[()].tobytes()) if isinstance(o, h5py.Dataset) and "weights" in o.name else None)
    return out
w = [weights(s) for s in syms]
assert w[0] and w[0] == w[1] == w[2], "the symbols do not carry the same (universal) weights"
st = {s: f["symbols"][s]["status"][()]["message"].decode() for s in syms}
print("status:", st)
assert "held out" in st["SYN002USDT"] and "held out" not in st["SYN000USDT"], st
PYEOF
echo "universal: bit-identical on 1 and 2 ranks; held-out symbol tested with the shared weights"

echo "== bad group sizes are refused"
"$MPIEXEC" -np 3 --oversubscribe "$BIN" train "$W/dp.json" --set run_name=bad --set ranks_per_symbol=2 > "$W/bad.log" 2>&1 && fail "3 ranks in groups of 2 accepted"
grep -q "does not divide the 3 ranks" "$W/bad.log" || { show "$W/bad.log"; fail "no clear message for 3 ranks / groups of 2"; }
"$BIN" train "$W/dp.json" --set run_name=bad2 --set ranks_per_symbol=4 > "$W/bad2.log" 2>&1 && fail "ranks_per_symbol 4 with dp_shards 6 accepted"
grep -q "does not divide 'dp_shards'" "$W/bad2.log" || { show "$W/bad2.log"; fail "no clear message for 4 / 6"; }
echo "PASS"
