#!/bin/bash
# Conversion throughput: deeplob_mpi convert vs a pandas implementation of the same rules vs
# plain `gzip -dc`, on the same generated day (default 300k rows). Results agree or it fails.
# usage: tests/bench/convert_compare.sh BUILD_DIR [ROWS]
set -eu
B=${1:?usage: convert_compare.sh BUILD_DIR [ROWS]}; ROWS=${2:-300000}
SRC=$(cd "$(dirname "$0")/../.." && pwd); PY=/usr/bin/python3
$PY -c "import pandas, h5py" || { echo "needs python3-pandas and python3-h5py (apt-get install python3-pandas)"; exit 77; }
T=$(mktemp -d /tmp/convert_compare.XXXXXX); trap 'rm -rf "$T"' EXIT
mkdir -p "$T/in/BENCHUSDT"; IN="$T/in/BENCHUSDT/2020-09-01.csv.gz"
$PY "$SRC/tests/bench/bench_convert.py" gen "$IN" --rows "$ROWS"
MB=$(stat -c %s "$IN" | awk '{printf "%.2f", $1/1e6}')
RAWMB=$(gzip -dc "$IN" | wc -c | awk '{printf "%.1f", $1/1e6}')
best() { # best of 3 wall times of a command
  local b=999999; for _ in 1 2 3; do s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N)
    b=$(echo "$s $e $b" | awk '{d=$2-$1; print (d<$3)?d:$3}'); done; echo "$b"; }
tg=$(best sh -c "gzip -dc '$IN' > /dev/null")
tc=$(best sh -c "rm -f '$T/c.h5'; '$B/deeplob_mpi' convert --in '$T/in' --out '$T/c.h5'")
$PY "$SRC/tests/bench/bench_convert.py" pandas "$IN" "$T/p.npz" > "$T/p.txt"; cat "$T/p.txt"
tp=$(best $PY "$SRC/tests/bench/bench_convert.py" pandas "$IN" "$T/p.npz")
"$B/deeplob_mpi" convert --in "$T/in" --out "$T/c2.h5" | tail -1
$PY "$SRC/tests/bench/bench_convert.py" compare "$T/p.npz" "$T/c2.h5" BENCHUSDT
echo "input: $ROWS rows, $MB MB gzip, $RAWMB MB CSV"
printf "%-28s %8s %12s %14s\n" tool "wall s" "rows/s" "MB/s (gzip)"
for x in "gzip -dc:$tg" "deeplob_mpi convert:$tc" "pandas (same rules):$tp"; do
  n=${x%%:*}; t=${x##*:}
  printf "%-28s %8.3f %12.0f %14.1f\n" "$n" "$t" "$(echo "$ROWS $t" | awk '{print $1/$2}')" "$(echo "$MB $t" | awk '{print $1/$2}')"
done
echo "convert/pandas speedup: $(echo "$tp $tc" | awk '{printf "%.1f", $1/$2}')x; convert/gzip time ratio: $(echo "$tc $tg" | awk '{printf "%.2f", $1/$2}')"
