#!/usr/bin/env python3
"""make_seeds.py SYNTH_H5 OUTDIR: the seed inputs of the fuzz harnesses (tests/fuzz).

Seeds come from the fixtures (tests/fixtures/tardis), from a small synthetic dataset
(`deeplob_mpi synth`, cut to 24 rows with all its attributes) and from hand-written
answers. The committed corpora (tests/fuzz/corpus) are these seeds after fuzzing and
minimisation (scripts/fuzz.sh); this script only documents and regenerates the seeds."""
import gzip, io, json, os, sys
import numpy as np, h5py

src, out = sys.argv[1], sys.argv[2]
root = os.path.dirname(os.path.abspath(__file__)) + "/../.."
def put(h, name, data):
    d = os.path.join(out, h); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

book = open(root + "/tests/fixtures/tardis/binance-futures_book_snapshot_25_BTCUSDT.csv", "rb").read()
lines = book.split(b"\n")
put("book_csv", "fixture.csv", book)
put("book_csv", "head5.csv", b"\n".join(lines[:6]) + b"\n")
put("book_csv", "header_only.csv", lines[0] + b"\n")
put("book_csv", "crlf.csv", b"\r\n".join(lines[:4]) + b"\r\n")
trades = ("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
          "binance-futures,FUZZUSDT,1600000000100000,1600000000200000,1,buy,101.5,0.25\n"
          "binance-futures,FUZZUSDT,1600000001100000,1600000001200000,2,sell,99.5,1\n"
          "binance-futures,FUZZUSDT,1600000002100000,1600000002300000,3,buy,100,3e-3\n")
put("trades_csv", "three.csv", trades)
put("trades_csv", "header_only.csv", trades.split("\n")[0] + "\n")
put("trades_csv", "bad_side.csv", trades.replace(",sell,", ",hold,"))
put("gzip", "book.csv.gz", gzip.compress(b"\n".join(lines[:8]) + b"\n", 6, mtime=0))
put("gzip", "trades.csv.gz", gzip.compress(trades.encode(), 6, mtime=0))
g = gzip.compress(b"\n".join(lines[:8]) + b"\n", 6, mtime=0)
put("gzip", "truncated.gz", g[: len(g) // 2])
put("gzip", "two_members.gz", gzip.compress(lines[0] + b"\n", 6, mtime=0) + gzip.compress(b"\n".join(lines[1:4]) + b"\n", 6, mtime=0))
put("gzip", "plain.csv", b"\n".join(lines[:3]))

def npy(a, fortran=False):
    b = io.BytesIO(); np.save(b, np.asfortranarray(a) if fortran else a); return b.getvalue()
rng = np.random.default_rng(1)
t = 1600000000 + np.arange(12, dtype=np.float64)
lob = (100 + rng.standard_normal((12, 40))).astype(np.float32)
a43 = np.hstack([t[:, None], lob, np.zeros((12, 2))]).astype(np.float32)
put("npy", "n43.npy", npy(a43))
put("npy", "n42.npy", npy(a43[:, 1:].copy()))
put("npy", "fortran.npy", npy(a43, True))
put("npy", "x3d.npy", npy(rng.standard_normal((2, 3, 4)).astype(np.float32)))
put("npy", "f8.npy", npy(np.zeros((2, 2))))
v2 = npy(a43[:3]); put("npy", "v2.npy", v2[:6] + b"\x02\x00" + v2[8:10] + b"\x00\x00" + v2[10:])

for f in ("quickstart.json", "hier.json", "train_all.json"):
    put("config", f, open(root + "/inputs/" + f, "rb").read())
put("config", "small.json", json.dumps({"dataset": "d.h5", "symbols": ["BTCUSDT", "ETHUSDT"], "model": "deeplob",
    "seq_len": 16, "batch": 32, "epochs": 1, "seed": 5, "lr": 0.001}))
put("config", "sets.txt", "lr=0.01\nepochs=3\nsymbols=BTCUSDT,ETHUSDT\nmodel=deeplob_tcn\nseq_len=abc\n")

put("names", "mixed.txt", "BTCUSDT\n1000SHIBUSDT\n../etc\n.hidden\n-x\n2020-01-31\n2020-02-30\n2024-02-29\n"
    "1999-12-31\n12\n-5\n1e3\nnan\n0x10\n\xe4\xb8\x8a\xe8\xaf\x81USDT\n")

with h5py.File(src, "r") as f:
    buf = io.BytesIO()
    with h5py.File(buf, "w", libver="earliest") as g:
        for k, v in f.attrs.items(): g.attrs[k] = v
        sg = g.create_group("symbols")
        for s in f["symbols"]:
            a, b = f["symbols"][s], sg.create_group(s)
            for k, v in a.attrs.items(): b.attrs[k] = v
            n = 24
            b["time"] = a["time"][:n]; b["features"] = a["features"][:n]; b["targets"] = a["targets"][:n]
            b["segments"] = np.array([[0, n]], dtype=np.int64)
    put("lobds", "syn24.h5", buf.getvalue())

put("http", "ok_len.txt", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
put("http", "ok_close.txt", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until close")
put("http", "short_body.txt", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
put("http", "429_ra.txt", "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n")
put("http", "503_date.txt", "HTTP/1.1 503 Service Unavailable\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n")
put("http", "404.txt", "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found")
put("http", "chunked.txt", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
put("http", "redirect.txt", "HTTP/1.1 302 Found\r\nLocation: /data\r\nContent-Length: 0\r\n\r\n")
