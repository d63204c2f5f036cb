#!/usr/bin/python3
"""mmf_stats_ref.py: the Python originals of the MMF statistics on fixed arrays.

Writes a JSON fixture (NaN as null) that tests/unit/test_mmf_stats.c compares with
src/train/mmf_stats.c: pandas ewm(halflife).mean(), statsmodels adfuller(maxlag=10,
autolag="AIC") statistic / p-value / lag, scikit-learn QuantileTransformer (uniform,
no subsampling). Debian: python3-pandas, python3-statsmodels, python3-sklearn.
usage: /usr/bin/python3 tests/ref/mmf_stats_ref.py OUT.json
"""
import json
import sys

import numpy as np
import pandas as pd
from sklearn.preprocessing import QuantileTransformer
from statsmodels.tsa.stattools import adfuller


def clean(a):
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def main(out):
    rng = np.random.default_rng(20240512)
    doc = {"ewm": [], "adf": [], "qt": []}
    # EWM: NaN runs at the start and inside, several half-lives
    for h in (3, 8, 10, 16, 64):
        x = rng.normal(100, 5, 400)
        x[:3] = np.nan
        x[50:57] = np.nan
        x[200] = np.nan
        y = pd.Series(x).ewm(halflife=h).mean().to_numpy()
        doc["ewm"].append({"halflife": h, "x": clean(x), "y": clean(y)})
    # ADF: stationary, random walks, trending, short, large levels, integer counts
    series = []
    for phi in (0.0, 0.3, 0.7, 0.9, 0.97):
        e = rng.normal(size=600)
        x = np.zeros(600)
        for t in range(1, 600):
            x[t] = phi * x[t - 1] + e[t]
        series.append(("ar%.2f" % phi, x))
    for i in range(4):
        series.append(("rw%d" % i, np.cumsum(rng.normal(size=500 + 200 * i))))
    for s in (0.01, 0.1):
        t = np.arange(400)
        series.append(("trend%.2f" % s, s * t + rng.normal(size=400)))
    series.append(("price_rw", 11650 + np.cumsum(rng.normal(0, 0.5, 800))))
    series.append(("ar_ma", np.convolve(rng.normal(size=700), [1, 0.6, 0.3], "same")))
    series.append(("counts", rng.poisson(5, 500).astype(float)))
    series.append(("garch_like", rng.normal(size=500) * np.exp(np.cumsum(rng.normal(0, 0.05, 500)) * 0.2)))
    for n in (22, 25, 30, 40):
        series.append(("short%d" % n, rng.normal(size=n)))
    series.append(("short_rw30", np.cumsum(rng.normal(size=30))))
    series.append(("explosive", np.cumprod(np.full(300, 1.01)) + rng.normal(0, 0.1, 300)))
    series.append(("constant", np.full(100, 3.5)))
    for name, x in series:
        try:  # lag -1: statsmodels refuses the series (too short); constant: ours refuses it
            stat, p, lag, nobs, _, _ = adfuller(x, maxlag=10, regression="c", autolag="AIC")
        except ValueError:
            stat, p, lag, nobs = np.nan, np.nan, -1, 0
        if name == "constant":
            stat, p, lag, nobs = np.nan, np.nan, -1, 0
        doc["adf"].append({"name": name, "x": clean(x), "stat": clean([stat])[0], "p": clean([p])[0],
                           "lag": int(lag), "nobs": int(nobs)})
    # quantile transform: ties, NaN, out-of-range test values; n_quantiles = min(1000, n)
    for n in (300, 2500):
        tr = np.column_stack([rng.normal(size=n), rng.poisson(2, n).astype(float), rng.exponential(size=n)])
        tr[5, 0] = np.nan
        te = np.column_stack([rng.normal(0, 2, 200), rng.poisson(3, 200).astype(float), rng.exponential(2, 200)])
        te[7, 2] = np.nan
        te[0, 0] = tr[:, 0][np.isfinite(tr[:, 0])].min()
        nq = min(1000, n)
        qt = QuantileTransformer(n_quantiles=nq, output_distribution="uniform", subsample=n).fit(tr)
        for c in range(tr.shape[1]):
            doc["qt"].append({"nq": nq, "train": clean(tr[:, c]), "test": clean(te[:, c]),
                              "quantiles": clean(qt.quantiles_[:, c]),
                              "y_train": clean(qt.transform(tr)[:, c]), "y_test": clean(qt.transform(te)[:, c])})
    with open(out, "w") as f:
        json.dump(doc, f)


if __name__ == "__main__":
    main(sys.argv[1])
