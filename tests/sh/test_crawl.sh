#!/bin/bash
# crawl against the local fixture server: filters, unsafe and non-ASCII names, open-day
# exclusion, ranking, 429 + Retry-After and 500 retried, unreachable server -> error, no output.
set -u
BIN=${DEEPLOB_BIN:?}; : "${DEEPLOB_SRC:?}"
T=$(mktemp -d /tmp/test_crawl.XXXXXX)
source "$DEEPLOB_SRC/tests/sh/server_lib.sh"
trap 'stop_server; rm -rf "$T"' EXIT
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }
start_server "$T"

"$BIN" crawl --base-url "http://127.0.0.1:$PORT" --top 3 --days 4 --out "$T/inputs/candidates.txt" \
  --backoff 0.2 --rate 50 > "$T/out.txt" 2> "$T/err.txt"; rc=$?
cat "$T/out.txt" "$T/err.txt"
check "crawl exits 0" "[ $rc -eq 0 ]"
printf 'BTCUSDT\nETHUSDT\n币安人生USDT\n' > "$T/want.txt"
check "top 3 by mean quote volume (non-ASCII symbol kept)" "cmp -s $T/want.txt $T/inputs/candidates.txt"
# 4 complete days alternate vol x1, x1.5 -> mean 1.25 x vol; the open day (x1000) is ignored
check "CSV with volumes" "grep -qx '1,BTCUSDT,11250000000.00,4' $T/inputs/candidates.csv && grep -qx '3,币安人生USDT,3750000000.00,4' $T/inputs/candidates.csv"
check "filters: no SETTLING, BUSD, quarterly or unsafe names requested" "! grep -qE 'OLDUSDT|BTCBUSD|250926|EVIL' <(grep klines $T/server.log)"
check "unsafe name reported" "grep -q \"skipping unsafe symbol name '../EVILUSDT'\" $T/err.txt"
check "non-ASCII symbol URL-encoded" "grep -q 'symbol=%E5%B8%81%E5%AE%89%E4%BA%BA%E7%94%9FUSDT' $T/server.log"
check "429 with Retry-After retried" "grep 'symbol=ETHUSDT' $T/server.log | awk '{print \$2}' | tr '\n' ' ' | grep -qx '429 200 '"
check "500 retried" "grep 'symbol=SOLUSDT' $T/server.log | awk '{print \$2}' | tr '\n' ' ' | grep -qx '500 200 '"
check "retry messages name the status" "grep -q 'HTTP 429 rate limited; retry 1/5 in 1.0 s' $T/err.txt"
stop_server

"$BIN" crawl --base-url "http://127.0.0.1:$PORT" --out "$T/x/candidates.txt" --retries 1 --backoff 0.1 \
  --timeout 2 > "$T/out2.txt" 2> "$T/err2.txt"; rc=$?
check "server gone: exit 1 after retries, clear message, nothing written" \
  "[ $rc -eq 1 ] && grep -q 'after 2 attempts' $T/err2.txt && [ ! -e $T/x/candidates.txt ] && [ ! -e $T/x/candidates.csv ]"
exit $fail
