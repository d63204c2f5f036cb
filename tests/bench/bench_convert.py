#!/usr/bin/python3
"""Benchmark helper for `deeplob_mpi convert` (see convert_compare.sh).

  bench_convert.py gen OUT.csv.gz --rows N [--seed S]
      a synthetic Tardis book_snapshot_25 day: 104 columns, ~4 snapshots per second with
      random gaps (some > 60 s), random-walk prices, a few crossed rows.
  bench_convert.py pandas IN.csv.gz OUT.npz [--max-gap 60] [--horizons 10,60]
      the same rules as the C converter, in pandas: drop bad rows, last snapshot per second of
      local_timestamp, 1 s grid with carry-forward up to max_gap, segments, log-return targets.
      (Only the bad-row kinds that can occur in generated data are handled: missing level 0,
      non-positive price, crossed book.)
  bench_convert.py compare OUT.npz DATASET.h5 SYMBOL   exit 1 unless both agree
"""
import argparse
import gzip
import sys
import time

import numpy as np


def gen(a):
    rng = np.random.default_rng(a.seed)
    n = a.rows
    gaps = rng.choice([0, 0, 0, 250000, 500000, 1000000], size=n)          # microseconds between rows
    gaps[rng.random(n) < 2e-4] = 120 * 1000000                              # outages -> segments
    local = 1598918400 * 1000000 + np.cumsum(gaps + rng.integers(1, 9000, n))
    mid = 11000 * np.exp(np.cumsum(rng.standard_normal(n) * 2e-5))
    cols = ["exchange,symbol,timestamp,local_timestamp"]
    for i in range(25):
        cols.append("asks[%d].price,asks[%d].amount,bids[%d].price,bids[%d].amount" % (i, i, i, i))
    header = ",".join(cols) + "\n"
    ticks = np.arange(25) * 0.01
    ask = np.round(mid[:, None] + 0.005 + ticks[None, :], 2)
    bid = np.round(mid[:, None] - 0.005 - ticks[None, :], 2)
    crossed = rng.random(n) < 1e-4
    bid[crossed, 0] = ask[crossed, 0] + 0.01
    amt = np.round(rng.random((n, 25, 2)) * 20, 3)
    t0 = time.time()
    with gzip.open(a.out, "wt", compresslevel=6) as f:
        f.write(header)
        for s in range(0, n, 20000):
            e = min(n, s + 20000)
            block = np.empty((e - s, 100), dtype=object)
            block[:, 0::4] = np.char.mod("%.2f", ask[s:e])
            block[:, 1::4] = np.char.mod("%.3f", amt[s:e, :, 0])
            block[:, 2::4] = np.char.mod("%.2f", bid[s:e])
            block[:, 3::4] = np.char.mod("%.3f", amt[s:e, :, 1])
            pre = np.char.mod("binance-futures,BENCHUSDT,%d,", local[s:e] - 3000)
            lines = [p + "%d," % lt + ",".join(r) for p, lt, r in zip(pre, local[s:e], block)]
            f.write("\n".join(lines) + "\n")
    print("gen: %d rows -> %s (%.1f s)" % (n, a.out, time.time() - t0))


def convert_pandas(a):
    import pandas as pd
    hs = [int(h) for h in a.horizons.split(",")]
    t0 = time.time()
    df = pd.read_csv(a.inp, usecols=range(3, 44), engine="c")
    raw = len(df)
    ap0, aa0, bp0, ba0 = (df["asks[0].price"], df["asks[0].amount"], df["bids[0].price"], df["bids[0].amount"])
    missing = ap0.isna() | aa0.isna() | bp0.isna() | ba0.isna()
    nonpos = ~missing & ((ap0 <= 0) | (bp0 <= 0))
    crossed = ~missing & ~nonpos & (bp0 >= ap0)
    good = df[~(missing | nonpos | crossed)]
    sec = good["local_timestamp"].to_numpy() // 1000000
    order = [f"asks[{i}].price" for i in range(10)] + [f"asks[{i}].amount" for i in range(10)] + \
            [f"bids[{i}].price" for i in range(10)] + [f"bids[{i}].amount" for i in range(10)]
    feat = good[order].astype(np.float32)
    feat.index = sec
    last = feat[~feat.index.duplicated(keep="last")]                      # last snapshot per second
    secs = last.index.to_numpy()
    brk = np.flatnonzero(np.diff(secs) > a.max_gap) + 1
    starts = np.concatenate([[0], brk]); ends = np.concatenate([brk, [len(secs)]])
    parts, segs, times, n = [], [], [], 0
    for s, e in zip(starts, ends):
        grid = np.arange(secs[s], secs[e - 1] + 1)
        parts.append(last.iloc[s:e].reindex(grid, method="ffill"))       # carry-forward inside a segment
        segs.append((n, n + len(grid))); n += len(grid); times.append(grid)
    X = pd.concat(parts).to_numpy(np.float32)
    T = np.concatenate(times).astype(np.int64)
    m = 0.5 * (X[:, 0].astype(np.float64) + X[:, 20].astype(np.float64))
    Y = np.full((len(T), len(hs)), np.nan, np.float32)
    for a_, b_ in segs:
        lm = np.log(m[a_:b_])
        for k, h in enumerate(hs):
            if b_ - a_ > h:
                Y[a_:b_ - h, k] = (1e4 * (lm[h:] - lm[:-h])).astype(np.float32)
    dt = time.time() - t0
    np.savez(a.out, time=T, features=X, targets=Y, segments=np.array(segs, np.int64))
    print("pandas: %d rows -> %d seconds, %d segments, bad %d/%d/%d (missing/nonpos/crossed): %.2f s, %.0f rows/s"
          % (raw, len(T), len(segs), missing.sum(), nonpos.sum(), crossed.sum(), dt, raw / dt))
    print("PANDAS_SECONDS=%.4f" % dt)


def compare(a):
    import h5py
    p = np.load(a.npz)
    g = h5py.File(a.h5, "r")["symbols"][a.symbol]
    ok = np.array_equal(p["time"], g["time"][()]) and np.array_equal(p["segments"], g["segments"][()])
    ok = ok and np.array_equal(p["features"], g["features"][()], equal_nan=True)
    ok = ok and np.allclose(p["targets"], g["targets"][()], rtol=1e-4, atol=1e-3, equal_nan=True)
    print("compare: pandas and deeplob_mpi convert %s" % ("AGREE (time, segments, features, targets)" if ok else "DIFFER"))
    sys.exit(0 if ok else 1)


ap = argparse.ArgumentParser()
sub = ap.add_subparsers(dest="cmd", required=True)
g = sub.add_parser("gen"); g.add_argument("out"); g.add_argument("--rows", type=int, default=100000); g.add_argument("--seed", type=int, default=1)
p = sub.add_parser("pandas"); p.add_argument("inp"); p.add_argument("out"); p.add_argument("--max-gap", type=int, default=60); p.add_argument("--horizons", default="10,60")
c = sub.add_parser("compare"); c.add_argument("npz"); c.add_argument("h5"); c.add_argument("symbol")
a = ap.parse_args()
{"gen": gen, "pandas": convert_pandas, "compare": compare}[a.cmd](a)
