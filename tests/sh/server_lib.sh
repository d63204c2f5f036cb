# sourced by test_crawl.sh / test_download.sh: start tests/fixtures/http_server.py on a free
# 127.0.0.1 port; the trap stops exactly that process.
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost   # never route the fixture through a proxy
start_server() { # workdir [expected_key]
  local d=$1; shift
  /usr/bin/python3 "$DEEPLOB_SRC/tests/fixtures/http_server.py" "$d/port" "$d/server.log" "$@" 2> "$d/server.err" &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -s "$d/port" ] && break; sleep 0.1; done
  [ -s "$d/port" ] || { echo "FAIL: fixture server did not start"; cat "$d/server.err"; kill "$SERVER_PID"; exit 1; }
  PORT=$(cat "$d/port")
}
stop_server() { [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=; }
