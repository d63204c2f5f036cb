# mpi_lib.sh: shared by tests/sh/test_mpi_*.sh (sourced; not a test itself).
# Sets BIN, MPIEXEC, PY, W (a temp dir removed at exit), fail(), mk_config, and
# cmp_results A.h5 B.h5 [...]: every numeric dataset of each file equal to the
# first's, byte for byte (timing fields and resumed_from excluded), every symbol
# complete, and the file read whole by h5dump. CMP_SYMBOLS="A B" limits the
# comparison to those symbols' groups (the files may hold other symbols).
BIN=${DEEPLOB_BIN:?DEEPLOB_BIN not set}
MPIEXEC=${MPIEXEC:-mpiexec}
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
export OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
if ! $PY -c "import h5py, numpy" 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 with h5py and numpy is needed to compare results files"; exit 77
fi
command -v h5dump >/dev/null || { echo "SKIP: h5dump not installed (hdf5-tools)"; exit 77; }
command -v "$MPIEXEC" >/dev/null || { echo "SKIP: $MPIEXEC not found"; exit 77; }
W=$(mktemp -d /tmp/dl_mpi_test.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
show() { echo "---- $1"; cat "$1" 2>/dev/null; echo "----"; }

# mk_config NAME DATASET EPOCHS [extra json] -> $W/NAME.json (output_dir $W/out, run_name NAME)
mk_config() {
cat > "$W/$1.json" <<JSON
{"dataset": "$2", "symbols": "all", "model": "deeplob", "seq_len": 16, "batch": ${BATCH:-32},
 "epochs": $3, "patience": 5, "max_train_samples": ${MAXS:-200}, "seed": 5, "output_dir": "$W/out",
 "run_name": "$1", "threads": 1 ${4:-}}
JSON
}

cmp_results() {
    for f in "$@"; do
        h5dump "$f" > /dev/null 2> "$W/h5dump.err" || { head -5 "$W/h5dump.err"; fail "h5dump cannot read all of $f"; }
    done
    $PY - "$@" <<'PYEOF' || fail "results files differ"
import sys, os, h5py, numpy as np
ONLY = os.environ.get("CMP_SYMBOLS", "").split()
TIMING = {"wall_s", "train_seconds", "samples_per_s", "seconds", "resumed_from"}
def load(path):
    out = {}
    with h5py.File(path, "r") as f:
        syms = list(f["symbols"])
        for s in syms:
            assert int(f["symbols/%s/complete" % s][()]) == 1, "%s: %s not complete" % (path, s)
        def visit(name, obj):
            # /schedule says which rank trained what when: it differs between runs by design
            if ONLY and not any(name.startswith("symbols/%s/" % s) for s in ONLY): return
            if isinstance(obj, h5py.Dataset) and name != "schedule":
                v = obj[()]
                if v.dtype.names:
                    for k in v.dtype.names:
                        if k not in TIMING: out[name + "." + k] = np.asarray(v[k])
                else:
                    out[name] = np.asarray(v)
        f.visititems(visit)
        ranks = int(f.attrs["ranks"])
        for a in ("git_revision", "hosts", "start_time", "end_time", "hdf5_version", "mpi_version",
                  "cjson_version", "openblas_config", "config"):
            assert a in f.attrs, "%s: manifest attribute %s missing" % (path, a)
    return out, syms, ranks
ref, syms, r0 = load(sys.argv[1])
bad = 0
for p in sys.argv[2:]:
    o, s2, r = load(p)
    if set(ref) != set(o):
        print("FAIL: dataset sets differ:", sorted(set(ref) ^ set(o))[:5]); bad += 1; continue
    diff = [k for k in ref if ref[k].tobytes() != o[k].tobytes()]
    print("%s (ranks %d) vs %s (ranks %d): %d datasets of %d symbols compared, %d differ %s"
          % (sys.argv[1].split("/")[-2], r0, p.split("/")[-2], r, len(ref), len(syms), len(diff), diff[:5]))
    bad += len(diff) > 0
sys.exit(1 if bad else 0)
PYEOF
}

# mk_mixed_dataset OUT.h5: SYN000..SYN002USDT of 2000 s plus SYN009USDT of 2600 s
# (copied from a second synth file and renamed), so symbol sizes differ
mk_mixed_dataset() {
    "$BIN" synth --symbols 3 --seconds 2000 --seed 3 --out "$1" > "$W/synth.log" 2>&1 || { show "$W/synth.log"; fail "synth failed"; }
    "$BIN" synth --symbols 1 --seconds 2600 --seed 4 --out "$W/big.h5" > "$W/synth.log" 2>&1 || { show "$W/synth.log"; fail "synth failed"; }
    $PY - "$1" "$W/big.h5" <<'PYEOF' || fail "building the mixed dataset"
import sys, h5py
with h5py.File(sys.argv[1], "a") as f, h5py.File(sys.argv[2], "r") as g:
    g.copy("symbols/SYN000USDT", f["symbols"], name="SYN009USDT")
    f["symbols/SYN009USDT"].attrs["symbol"] = "SYN009USDT"
    f.attrs["symbols"] = len(f["symbols"])
PYEOF
}
