#!/bin/bash
# download --data-type trades against the misbehaving fixture server (tests/fixtures/http_server.py
# serves generated trade rows for that data type): the trades URL and directory, retries after
# 429 / a truncated body / a broken gzip, verified files with the trades header and the day's
# times, no .part left, --progress lines, a re-run skips everything without a request, a bad --data-type is refused
# before any request, and the fake API key appears in no output and no file.
set -u
BIN=${DEEPLOB_BIN:?}; : "${DEEPLOB_SRC:?}"
T=$(mktemp -d /tmp/test_download_trades.XXXXXX)
source "$DEEPLOB_SRC/tests/sh/server_lib.sh"
trap 'stop_server; rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
KEY="TD.fake-SECRET-key_trades_91b2"
start_server "$T" "$KEY"
URL="http://127.0.0.1:$PORT/v1"
N="--base-url $URL --backoff 0.2 --rate 100 --timeout 2 --stall 2 --threads 2 --data-type trades"
export TARDIS_API_KEY=$KEY
"$BIN" download $N --progress 0.000001 --symbols OK1,R429,TRUNC,BADGZ --from 2020-09-01 --to 2020-09-02 --out "$T/data" \
  > "$T/o1.txt" 2> "$T/e1.txt"; rc=$?
cat "$T/o1.txt" "$T/e1.txt"
D="$T/data/binance-futures/trades"
check "all complete (exit 0)" "[ $rc -eq 0 ]"
check "8 trade files under trades/<SYM>/, gzip verified, no .part" "[ \$(find $D -name '*.csv.gz' | wc -l) -eq 8 ] && [ -z \"\$(find $T/data -name '*.part')\" ] && for f in \$(find $D -name '*.csv.gz'); do gzip -t \$f || exit 1; done"
check "every request used the trades URL" "[ \$(grep -c '^/v1/binance-futures/trades/2020/09/0[12]/' $T/server.log) -eq \$(wc -l < $T/server.log) ]"
check "trades header and the day's times (2020-09-02)" "[ \"\$(zcat $D/OK1/2020-09-02.csv.gz | head -1)\" = 'exchange,symbol,timestamp,local_timestamp,id,side,price,amount' ] && zcat $D/OK1/2020-09-02.csv.gz | sed -n 2p | grep -q '^binance-futures,BTCUSDT,159900840000000'"
check "60 rows per file" "[ \$(zcat $D/R429/2020-09-01.csv.gz | wc -l) -eq 61 ]"
check "429 then 200" "[ \$(grep -c 'R429.csv.gz 429' $T/server.log) -eq 2 ] && [ \$(grep -c 'R429.csv.gz 200' $T/server.log) -eq 2 ]"
check "truncated body and broken gzip re-fetched" "[ \$(grep -c '/TRUNC.csv.gz' $T/server.log) -eq 4 ] && [ \$(grep -c '/BADGZ.csv.gz' $T/server.log) -eq 4 ] && grep -q 'BADGZ.*gzip stream incomplete' $T/e1.txt"
check "--progress: a line after every file, ending at 8/8 with MB/s and ETA" "[ \$(grep -c '^\[rank 0\] download: [1-8]/8 symbol-days done, [0-9.]* MB, [0-9.]* MB/s, ETA ' $T/o1.txt) -eq 8 ] && grep -q '^\[rank 0\] download: 8/8 symbol-days done' $T/o1.txt"
before=$(wc -l < "$T/server.log")
"$BIN" download $N --symbols OK1,R429,TRUNC,BADGZ --from 2020-09-01 --to 2020-09-02 --out "$T/data" > "$T/o2.txt" 2> "$T/e2.txt"; rc=$?
check "re-run: 8 skipped, no request" "[ $rc -eq 0 ] && [ \$(grep -c 'already complete, skipped' $T/o2.txt) -eq 8 ] && [ \$(wc -l < $T/server.log) -eq $before ]"
check "no progress line at the default interval" "! grep -q 'symbol-days done' $T/o2.txt"
"$BIN" download $N --progress -1 --symbols OK1 --from 2020-09-01 --to 2020-09-01 --out "$T/data" > "$T/o5.txt" 2> "$T/e5.txt"; rc=$?
check "--progress -1 refused before any request" "[ $rc -eq 2 ] && grep -q -- '--progress' $T/e5.txt && [ \$(wc -l < $T/server.log) -eq $before ]"
"$BIN" download --base-url "$URL" --data-type '../trades' --symbols OK1 --from 2020-09-01 --to 2020-09-01 --out "$T/data" > "$T/o3.txt" 2> "$T/e3.txt"; rc=$?
check "unsafe --data-type refused before any request" "[ $rc -eq 2 ] && grep -q -- '--data-type' $T/e3.txt && [ \$(wc -l < $T/server.log) -eq $before ]"
"$BIN" download $N --symbols MISSING --from 2020-09-02 --to 2020-09-02 --out "$T/data" > "$T/o4.txt" 2> "$T/e4.txt"; rc=$?
check "404: clear message, no file" "[ $rc -eq 1 ] && grep -q 'HTTP 404 not found' $T/e4.txt && [ -z \"\$(find $D/MISSING -type f 2>/dev/null)\" ]"
check "the API key appears in no output and no file" "! grep -rqF -- '$KEY' $T/o*.txt $T/e*.txt $T/data $T/server.log"
exit $fail
