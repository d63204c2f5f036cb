#!/usr/bin/python3
"""The MMF bar rules (../shared/design/mmf.md, docs/mmf.md) in plain pandas/numpy: the peer of
`deeplob_mpi mmf-bars` for the benchmark (tests/bench/mmf_compare.sh) and the cross-check test
(tests/sh/test_mmf_bars_pandas.sh).

  mmf_bars_pandas.py build IN_DIR OUT.npz [--bar-s 10] [--max-gap 60] [--symbols A,B]
      IN_DIR holds book_snapshot_25/<SYM>/YYYY-MM-DD.csv[.gz] and trades/<SYM>/... (as
      `synth --tardis-out` writes them). Per symbol: drop bad book rows (missing level 0,
      non-positive touch price, crossed, second going backwards), last snapshot per second,
      segments at gaps > max-gap, carry-forward inside a segment, a bar per grid second s with
      (s+1) % bar_s == 0 (bar start s+1-bar_s), touch/mid/spread and the 8 grid buckets of
      p/mid from all 25 levels; drop bad trade rows (non-positive price or amount, side not
      buy/sell, time going backwards), aggregate trades by bar start, vwap carried forward
      inside a segment. Unparsable cells are not handled (they do not occur in generated data).
      Prints PANDAS_SECONDS=<wall time of the whole build, reading included>.
  mmf_bars_pandas.py compare OUT.npz BARS.h5 [--rtol 1e-12] [--perturb]
      exit 1 unless time, segments and bad-row counts are equal and the 18 bar columns agree to
      rtol (NaN where NaN). --perturb changes one vwap by 1e-9 relative first and must then fail
      (the check can fail).
"""
import argparse
import glob
import os
import sys
import time

import numpy as np

COLS = ["best_bid", "best_ask", "mid", "spread_bps", "vwap", "volume", "dvol", "n_trades", "buy_volume",
        "sell_volume", "grid_-4", "grid_-3", "grid_-2", "grid_-1", "grid_1", "grid_2", "grid_3", "grid_4"]
BAD = ["book_missing_level0", "book_nonpositive_price", "book_crossed", "book_time_backwards",
       "trade_nonpositive_price_or_amount", "trade_unknown_side", "trade_time_backwards"]


def day_files(d):
    return sorted(glob.glob(os.path.join(d, "????-??-??.csv.gz")) + glob.glob(os.path.join(d, "????-??-??.csv")))


def running_max_before(v):
    """max of v[:i] for every i (-inf at 0)"""
    m = np.maximum.accumulate(v) if len(v) else v
    return np.concatenate([[np.iinfo(np.int64).min], m[:-1]]) if len(v) else m


def book_bars(pd, files, bar_s, max_gap, bad):
    df = pd.concat([pd.read_csv(f, engine="c") for f in files], ignore_index=True)
    ap = df[[f"asks[{i}].price" for i in range(25)]].to_numpy(np.float64)
    aa = df[[f"asks[{i}].amount" for i in range(25)]].to_numpy(np.float64)
    bp = df[[f"bids[{i}].price" for i in range(25)]].to_numpy(np.float64)
    ba = df[[f"bids[{i}].amount" for i in range(25)]].to_numpy(np.float64)
    us = df["local_timestamp"].to_numpy(np.int64)
    missing = np.isnan(ap[:, 0]) | np.isnan(aa[:, 0]) | np.isnan(bp[:, 0]) | np.isnan(ba[:, 0])
    nonpos = ~missing & ~((ap[:, 0] > 0) & (bp[:, 0] > 0))
    crossed = ~missing & ~nonpos & (bp[:, 0] >= ap[:, 0])
    cand = np.flatnonzero(~(missing | nonpos | crossed))
    sec = us[cand] // 1000000
    back = sec < running_max_before(sec)
    bad += [missing.sum(), nonpos.sum(), crossed.sum(), back.sum()]
    rows = cand[~back]
    sec = sec[~back]
    last = np.flatnonzero(np.r_[sec[1:] != sec[:-1], True])          # last snapshot of each second
    rows, sec = rows[last], sec[last]
    brk = np.flatnonzero(np.diff(sec) > max_gap) + 1
    starts, ends = np.r_[0, brk], np.r_[brk, len(sec)]
    bar_sec, src, segs = [], [], []
    n = 0
    for s, e in zip(starts, ends):
        first = (sec[s] + 1 + bar_s - 1) // bar_s * bar_s - 1           # first s' >= sec[s], (s'+1) % bar_s == 0
        g = np.arange(first, sec[e - 1] + 1, bar_s, dtype=np.int64)
        if len(g) == 0:
            continue
        src.append(rows[s + np.searchsorted(sec[s:e], g, side="right") - 1])   # carry-forward
        bar_sec.append(g)
        segs.append((n, n + len(g)))
        n += len(g)
    g = np.concatenate(bar_sec)
    r = np.concatenate(src)
    v = np.zeros((len(g), len(COLS)))
    ask, bid = ap[r, 0], bp[r, 0]
    mid = (bid + ask) / 2
    v[:, 0], v[:, 1], v[:, 2], v[:, 3] = bid, ask, mid, 1e4 * (ask - bid) / mid
    with np.errstate(invalid="ignore"):
        ja = (ap[r] / mid[:, None] - 1.0) * 390.0
        okA = (ap[r] > 0) & (aa[r] > 0) & (ja >= 0) & (ja < 4)
        jb = (1.0 - bp[r] / mid[:, None]) * 390.0
        okB = (bp[r] > 0) & (ba[r] > 0) & (jb > 0) & (jb <= 4)
    ka = np.where(okA, np.floor(np.where(okA, ja, 0)), -1)
    kb = np.where(okB, np.ceil(np.where(okB, jb, 1)), -1)
    for k in range(4):
        v[:, 14 + k] = np.where(ka == k, aa[r], 0.0).sum(axis=1)        # grid_{k+1}
        v[:, 13 - k] = np.where(kb == k + 1, ba[r], 0.0).sum(axis=1)    # grid_-{k+1}
    return g + 1 - bar_s, v, np.array(segs, np.int64)


def add_trades(pd, files, bar_s, t, v, segs, bad):
    df = pd.concat([pd.read_csv(f, engine="c", usecols=["local_timestamp", "side", "price", "amount"])
                    for f in files], ignore_index=True)
    px, amt = df["price"].to_numpy(np.float64), df["amount"].to_numpy(np.float64)
    us = df["local_timestamp"].to_numpy(np.int64)
    side = df["side"]
    nonpos = ~((px > 0) & (amt > 0))
    unknown = ~nonpos & ~side.isin(["buy", "sell"]).to_numpy()
    cand = np.flatnonzero(~(nonpos | unknown))
    back = us[cand] < running_max_before(us[cand])
    bad += [nonpos.sum(), unknown.sum(), back.sum()]
    ok = cand[~back]
    buy = (side.to_numpy()[ok] == "buy")
    tr = pd.DataFrame({"start": us[ok] // 1000000 // bar_s * bar_s, "volume": amt[ok], "dvol": px[ok] * amt[ok],
                       "n": 1.0, "buy": np.where(buy, amt[ok], 0.0), "sell": np.where(buy, 0.0, amt[ok])})
    agg = tr.groupby("start", sort=True).sum()
    pos = pd.Index(t).get_indexer(agg.index)
    inside = pos >= 0
    for c, col in zip(["volume", "dvol", "n", "buy", "sell"], [5, 6, 7, 8, 9]):
        v[pos[inside], col] = agg[c].to_numpy()[inside]
    vw = pd.Series(np.where(v[:, 5] > 0, v[:, 6] / np.where(v[:, 5] > 0, v[:, 5], 1), np.nan))
    seg_id = np.repeat(np.arange(len(segs)), segs[:, 1] - segs[:, 0])
    v[:, 4] = vw.groupby(seg_id).ffill().to_numpy()
    return int(agg["n"].to_numpy()[inside].sum())


def build(a):
    import pandas as pd
    t0 = time.time()
    syms = a.symbols.split(",") if a.symbols else sorted(os.listdir(os.path.join(a.indir, "book_snapshot_25")))
    out = {}
    for s in syms:
        bad = []
        t, v, segs = book_bars(pd, day_files(os.path.join(a.indir, "book_snapshot_25", s)), a.bar_s, a.max_gap, bad)
        used = add_trades(pd, day_files(os.path.join(a.indir, "trades", s)), a.bar_s, t, v, segs, bad)
        out[s + "/time"], out[s + "/bars"], out[s + "/segments"] = t, v, segs
        out[s + "/bad"] = np.array(bad, np.int64)
        print("pandas %s: %d bars, %d segments, %d trades used, bad rows %s"
              % (s, len(t), len(segs), used, dict(zip(BAD, map(int, bad)))))
    dt = time.time() - t0
    np.savez(a.out, symbols=np.array(syms), **out)
    print("PANDAS_SECONDS=%.4f" % dt)


def compare(a):
    import h5py
    p = np.load(a.npz)
    ok = True
    with h5py.File(a.h5, "r") as f:
        for s in p["symbols"]:
            g = f["symbols"][s]
            pv = p[s + "/bars"].copy()
            if a.perturb:
                i = np.flatnonzero(np.isfinite(pv[:, 4]))[len(pv) // 2]
                pv[i, 4] *= 1 + 1e-9
            cv = g["bars"][()]
            checks = {
                "time": np.array_equal(p[s + "/time"], g["time"][()]),
                "segments": np.array_equal(p[s + "/segments"], g["segments"][()]),
                "shape": pv.shape == cv.shape,
                "bad rows": all(int(g.attrs["rows_dropped_" + k]) == int(n) for k, n in zip(BAD, p[s + "/bad"])),
            }
            if checks["shape"]:
                for j, c in enumerate(COLS):
                    same_nan = np.array_equal(np.isnan(pv[:, j]), np.isnan(cv[:, j]))
                    close = np.allclose(pv[:, j], cv[:, j], rtol=a.rtol, atol=0, equal_nan=True)
                    checks[c] = same_nan and close
                    if not checks[c]:
                        d = np.nanmax(np.abs(pv[:, j] - cv[:, j]) / np.maximum(np.abs(cv[:, j]), 1e-300))
                        print("compare %s %s: max relative difference %.3g (NaN pattern %s)"
                              % (s, c, d, "same" if same_nan else "DIFFERS"))
            bad = [k for k, v in checks.items() if not v]
            finite = np.isfinite(cv).all(axis=1).sum()
            print("compare %s: %d bars (%d fully finite), %d segments: %s"
                  % (s, len(cv), finite, len(g["segments"]), "AGREE" if not bad else "DIFFER in " + ", ".join(bad)))
            ok = ok and not bad
    sys.exit(0 if ok else 1)


ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
sub = ap.add_subparsers(dest="cmd", required=True)
b = sub.add_parser("build")
b.add_argument("indir"); b.add_argument("out")
b.add_argument("--bar-s", type=int, default=10); b.add_argument("--max-gap", type=int, default=60)
b.add_argument("--symbols", default="")
c = sub.add_parser("compare")
c.add_argument("npz"); c.add_argument("h5"); c.add_argument("--rtol", type=float, default=1e-12)
c.add_argument("--perturb", action="store_true")
a = ap.parse_args()
{"build": build, "compare": compare}[a.cmd](a)
