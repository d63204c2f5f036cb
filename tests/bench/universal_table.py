# universal_table.py OUT_DIR: the tables of tests/bench/universal_study.sh from its runs' summary.csv
import csv, sys, statistics as st, os
base = sys.argv[1] if len(sys.argv) > 1 else "/tmp/universal_study/out"
def load(run):
    p = f"{base}/{run}/summary.csv"
    if not os.path.exists(p): return None
    return {r["symbol"]: r for r in csv.DictReader(open(p))}
print("| dataset | seed | symbol | oracle | per-symbol corr | universal corr | universal / per-symbol |")
print("|---|---|---|---:|---:|---:|---:|")
summ = []
for ds in ["shared", "mixed"]:
    for seed in ["42", "7"]:
        a, b = load(f"{ds}_{seed}_per"), load(f"{ds}_{seed}_uni")
        if not a or not b: continue
        ra, rb, ha, hb = [], [], None, None
        for s in sorted(a):
            ca, cb, o = float(a[s]["corr"]), float(b[s]["corr"]), float(a[s]["oracle_corr"])
            held = s == "SYN007USDT"
            print(f"| {ds} | {seed} | {s}{' (held out)' if held else ''} | {o:.3f} | {ca:.4f} | {cb:.4f} | {cb/ca:.2f} |")
            if held: ha, hb = ca / o, cb / o
            else: ra.append(ca / o); rb.append(cb / o)
        summ.append((ds, seed, st.mean(ra), st.mean(rb), ha, hb))
print()
print("| dataset | seed | per-symbol: mean corr/oracle (7 trained) | universal: mean corr/oracle (7 trained) | held-out SYN007: per-symbol | held-out: universal |")
print("|---|---|---:|---:|---:|---:|")
for ds, seed, ma, mb, ha, hb in summ:
    print(f"| {ds} | {seed} | {ma:.3f} | {mb:.3f} | {ha:.3f} | {hb:.3f} |")
