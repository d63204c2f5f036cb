#!/bin/bash
# download against the misbehaving fixture server. Each case has an expected outcome:
#  R429 (429 + Retry-After) / R500 / TRUNC (short body) / BADGZ (complete HTTP, broken gzip) /
#  SLOW (4 s > --timeout 2): retried and completed, verified gzip, no .part left;
#  re-run: everything skipped, no request made; DENIED 401 / MISSING 404: no retry, clear
#  message; DOWN: 500 until the retries run out; unsafe symbol: refused before any request;
#  no key: only the free first day of the month, and the message says why; wrong key: 401;
#  2 ranks split the symbol-days. The fake API key must appear in no output and no file.
set -u
BIN=${DEEPLOB_BIN:?}; : "${DEEPLOB_SRC:?}"
T=$(mktemp -d /tmp/test_download.XXXXXX)
source "$DEEPLOB_SRC/tests/sh/server_lib.sh"
trap 'stop_server; rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
KEY="TD.fake-SECRET-key_7f3a9c1e"
start_server "$T" "$KEY"
URL="http://127.0.0.1:$PORT/v1"
N="--base-url $URL --backoff 0.2 --rate 100 --timeout 2 --stall 2 --threads 2"
req() { grep -c "$1" "$T/server.log"; }   # requests whose path matches

export TARDIS_API_KEY=$KEY
"$BIN" download $N --symbols OK1,R429,R500,TRUNC,BADGZ,SLOW --from 2020-09-01 --to 2020-09-02 --out "$T/data" \
  > "$T/o1.txt" 2> "$T/e1.txt"; rc=$?
cat "$T/o1.txt" "$T/e1.txt"
D="$T/data/binance-futures/book_snapshot_25"
check "misbehaving cases all complete (exit 0)" "[ $rc -eq 0 ]"
nfiles=$(find "$D" -name '*.csv.gz' | wc -l)
check "12 verified files, no .part left" "[ $nfiles -eq 12 ] && [ -z \"\$(find $T/data -name '*.part')\" ] && for f in \$(find $D -name '*.csv.gz'); do gzip -t \$f || exit 1; done"
check "files hold the day's rows (2020-09-02 moved by 86400 s)" "zcat $D/R429/2020-09-02.csv.gz | sed -n 2p | grep -q '^binance-futures,BTCUSDT,1599004803696000,1599004803810979,'"
check "429 then 200 (Retry-After honoured)" "[ \$(grep 'R429.csv.gz 429' $T/server.log | wc -l) -eq 2 ] && [ \$(grep 'R429.csv.gz 200' $T/server.log | wc -l) -eq 2 ]"
check "500 then 200" "[ \$(grep -c 'R500.csv.gz 500' $T/server.log) -eq 2 ]"
check "truncated body re-fetched" "[ \$(req '/TRUNC.csv.gz') -eq 4 ] && grep -q 'TRUNC.*retry 1/5' $T/e1.txt"
check "broken gzip with a valid HTTP response re-fetched" "[ \$(req '/BADGZ.csv.gz') -eq 4 ] && grep -q 'BADGZ.*gzip stream incomplete' $T/e1.txt"
check "slow response timed out and retried" "[ \$(grep -ci 'SLOW.csv.gz: Operation timed out.*retry 1/5' $T/e1.txt) -eq 2 ] && [ -s $D/SLOW/2020-09-01.csv.gz ]"
check "the key was sent as a Bearer header on every request" "! grep -v 'auth=ok' $T/server.log"

before=$(wc -l < "$T/server.log")
"$BIN" download $N --symbols OK1,R429,R500,TRUNC,BADGZ,SLOW --from 2020-09-01 --to 2020-09-02 --out "$T/data" \
  > "$T/o2.txt" 2> "$T/e2.txt"; rc=$?
check "re-run: all 12 skipped as complete, no request" "[ $rc -eq 0 ] && [ \$(grep -c 'already complete, skipped' $T/o2.txt) -eq 12 ] && [ \$(wc -l < $T/server.log) -eq $before ]"

"$BIN" download $N --symbols DENIED --from 2020-09-02 --to 2020-09-02 --out "$T/data" > "$T/o3.txt" 2> "$T/e3.txt"; rc=$?
check "401: no retry, clear message" "[ $rc -eq 1 ] && [ \$(req /DENIED.csv.gz) -eq 1 ] && grep -q 'HTTP 401 unauthorized (missing or invalid API key) (after 1 attempt)' $T/e3.txt"
"$BIN" download $N --symbols MISSING --from 2020-09-02 --to 2020-09-02 --out "$T/data" > "$T/o4.txt" 2> "$T/e4.txt"; rc=$?
check "404: no retry, clear message" "[ $rc -eq 1 ] && [ \$(req /MISSING.csv.gz) -eq 1 ] && grep -q 'HTTP 404 not found' $T/e4.txt"
"$BIN" download $N --retries 2 --symbols DOWN --from 2020-09-02 --to 2020-09-02 --out "$T/data" > "$T/o5.txt" 2> "$T/e5.txt"; rc=$?
check "500 forever: 3 attempts then failure" "[ $rc -eq 1 ] && [ \$(req /DOWN.csv.gz) -eq 3 ] && grep -q 'after 3 attempts' $T/e5.txt"
check "failed downloads leave no file" "[ -z \"\$(find $D/DENIED $D/MISSING $D/DOWN -type f 2>/dev/null)\" ]"
before=$(wc -l < "$T/server.log")
"$BIN" download $N --symbols 'OK1,../../etc' --from 2020-09-01 --to 2020-09-01 --out "$T/data" > "$T/o6.txt" 2> "$T/e6.txt"; rc=$?
check "unsafe symbol refused before any request" "[ $rc -eq 2 ] && grep -q \"invalid symbol '../../etc'\" $T/e6.txt && [ \$(wc -l < $T/server.log) -eq $before ]"
"$BIN" download $N --symbols OK1 --from 2020-02-30 --to 2020-03-01 --out "$T/data" > /dev/null 2> "$T/e7.txt"; rc=$?
check "impossible date refused" "[ $rc -eq 2 ] && grep -q 'no such day' $T/e7.txt"

unset TARDIS_API_KEY
"$BIN" download $N --symbols OK2 --from 2020-09-30 --to 2020-10-02 --out "$T/data" > "$T/o8.txt" 2> "$T/e8.txt"; rc=$?
check "no key: only the free first day, and why" "[ $rc -eq 0 ] && grep -q 'TARDIS_API_KEY is not set: only the first day of each month is free, so 1 of 3' $T/o8.txt && [ \$(req /OK2.csv.gz) -eq 1 ] && grep -q '2020/10/01/OK2.csv.gz 200 auth=none' $T/server.log"
TARDIS_API_KEY=wrong-key "$BIN" download $N --symbols OK2 --from 2020-10-02 --to 2020-10-02 --out "$T/data" > "$T/o9.txt" 2> "$T/e9.txt"; rc=$?
check "wrong key: 401 and a clear message" "[ $rc -eq 1 ] && grep -q 'HTTP 401 unauthorized' $T/e9.txt"

if [ -n "${MPIEXEC:-}" ]; then
  TARDIS_API_KEY=$KEY "$MPIEXEC" -np 2 "$BIN" download $N --symbols OK1,OK2 --from 2020-11-01 --to 2020-11-02 \
    --out "$T/mpi" > "$T/o10.txt" 2> "$T/e10.txt"; rc=$?
  check "2 ranks: 4 symbol-days downloaded once each" "[ $rc -eq 0 ] && [ \$(find $T/mpi -name '*.csv.gz' | wc -l) -eq 4 ] && [ \$(grep -c '2020/11/0' $T/server.log) -eq 4 ] && grep -q '4 downloaded' $T/o10.txt"
else
  echo "note: MPIEXEC not set, 2-rank case not run"
fi
check "the API key appears in no output and no file" "! grep -rqF -- '$KEY' $T/o*.txt $T/e*.txt $T/data $T/server.log $T/mpi 2>/dev/null"
exit $fail
