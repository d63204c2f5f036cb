#!/usr/bin/env bash
# test_synth_cli: `deeplob_mpi synth` through the binary: help, argument errors with a
# message, no silent overwrite, --force, same seed -> same bytes, other seed -> different.
set -u
BIN=${DEEPLOB_BIN:-}
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then echo "skip: DEEPLOB_BIN not set or not executable"; exit 77; fi
TMP=$(mktemp -d "${DEEPLOB_BUILD:-/tmp}/test_synth_cli.XXXXXX")
fails=0
ok() { echo "ok:   $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect_fail DESCRIPTION PATTERN ARGS...: non-zero exit and PATTERN in stderr
expect_fail() {
    local what=$1 pat=$2; shift 2
    "$BIN" synth "$@" >"$TMP/out" 2>"$TMP/err"; local rc=$?
    if [ $rc -ne 0 ] && grep -q -- "$pat" "$TMP/err"; then ok "$what (exit $rc): $(head -1 "$TMP/err")"
    else bad "$what: exit $rc, stderr: $(cat "$TMP/err")"; fi
}

"$BIN" synth --help >"$TMP/help" 2>&1 && grep -q -- "--oracle-range" "$TMP/help" && ok "--help exits 0" || bad "--help"

expect_fail "missing --out" "--out" --symbols 1
expect_fail "--seconds too small" "--seconds" --seconds 10 --out "$TMP/x.h5"
expect_fail "--seconds not a number" "--seconds" --seconds 5e3 --out "$TMP/x.h5"
expect_fail "--symbols 0" "--symbols" --symbols 0 --out "$TMP/x.h5"
expect_fail "--seed negative" "--seed" --seed -3 --out "$TMP/x.h5"
expect_fail "--horizons decreasing" "--horizons" --horizons 60,10 --out "$TMP/x.h5"
expect_fail "--horizons zero" "--horizons" --horizons 0 --out "$TMP/x.h5"
expect_fail "--oracle-range reversed" "--oracle-range" --oracle-range 0.5,0.2 --out "$TMP/x.h5"
expect_fail "--oracle-range too high" "--oracle-range" --oracle-range 0.2,0.95 --out "$TMP/x.h5"
expect_fail "unknown option" "unrecognized" --bogus
expect_fail "missing output directory" "cannot create" --seconds 2000 --symbols 1 --out "$TMP/no/such/dir.h5"
[ ! -e "$TMP/x.h5" ] && ok "no file left by rejected runs" || bad "a rejected run wrote $TMP/x.h5"

A="$TMP/a.h5"
if "$BIN" synth --symbols 2 --seconds 5000 --seed 3 --out "$A" >"$TMP/gen.log" 2>&1; then
    ok "generate 2 symbols x 5000 s"; sed 's/^/      /' "$TMP/gen.log"
else bad "generate: $(cat "$TMP/gen.log")"; fi
[ -f "$A" ] && [ ! -e "$A.tmp" ] && ok "output present, no .tmp left" || bad "output missing or .tmp left"
cp "$A" "$TMP/a_copy.h5"

expect_fail "refuses to overwrite" "exists" --symbols 1 --seconds 2000 --seed 9 --out "$A"
cmp -s "$A" "$TMP/a_copy.h5" && ok "existing file untouched" || bad "existing file was modified"

if "$BIN" synth --symbols 2 --seconds 5000 --seed 3 --out "$A" --force >"$TMP/gen2.log" 2>&1; then ok "--force replaces"
else bad "--force: $(cat "$TMP/gen2.log")"; fi
cmp -s "$A" "$TMP/a_copy.h5" && ok "same seed -> byte-identical file" || bad "same seed gave different bytes"

"$BIN" synth --symbols 2 --seconds 5000 --seed 4 --out "$TMP/b.h5" >/dev/null 2>&1 || bad "seed 4 run failed"
cmp -s "$A" "$TMP/b.h5" && bad "seed 4 gave the same file as seed 3" || ok "other seed -> different file"

if command -v h5dump >/dev/null; then
    if h5dump -a /symbols/SYN001USDT/oracle_corr_h10 "$A" >"$TMP/dump" 2>&1 && grep -q "H5T_IEEE_F64LE" "$TMP/dump"; then
        ok "h5dump sees /symbols/SYN001USDT oracle_corr_h10"
    else bad "h5dump: $(cat "$TMP/dump")"; fi
fi

# under mpirun: rank 0 writes once, every rank exits 0
if [ -n "${MPIEXEC:-}" ] && [ -x "${MPIEXEC}" ]; then
    if "$MPIEXEC" -n 2 "$BIN" synth --symbols 1 --seconds 2000 --seed 1 --out "$TMP/m.h5" >"$TMP/mpi.log" 2>&1 && [ -f "$TMP/m.h5" ]; then
        ok "mpirun -n 2: one file written"
    else bad "mpirun -n 2: $(tail -5 "$TMP/mpi.log")"; fi
fi

if [ $fails -eq 0 ]; then rm -rf "$TMP"; echo "test_synth_cli: passed"; exit 0; fi
echo "test_synth_cli: FAILED ($fails), files kept in $TMP"; exit 1
