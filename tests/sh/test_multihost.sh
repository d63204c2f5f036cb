#!/bin/bash
# test_multihost.sh: training over more than one host (issue 14). Builds a 3-host cluster in
# network namespaces (tests/sh/netns_cluster.sh: veth pairs into a bridge in a switch
# namespace, private subnet 10.231.77.0/24, each host its own hostname by unshare --uts),
# then, with mpirun started on host 1 and launching through an `ip netns exec` rsh agent,
# TCP limited to the test subnet:
#   1. 4 ranks over the 3 hosts (--map-by node: host 1 runs 2) train; every rank reports its
#      host and node-local rank; results.h5 equals a 1-rank run's bit for bit; the manifest
#      (results.h5 attribute `hosts`) names the 3 hosts;
#   2. the same training, and once a checkpoint exists every rank on host 3 gets SIGKILL;
#      the run must fail without a results.h5; --resume over the 3 hosts gives the same bits.
# Skips (77) where namespaces cannot be made (not root, no `ip netns`, no unshare).
# Everything it creates (namespaces, veths, bridge, files) goes at exit, also on failure.
set -u
source "$(dirname "$0")/mpi_lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for network namespaces"; exit 77; }
command -v ip > /dev/null && command -v unshare > /dev/null || { echo "SKIP: ip (iproute2) or unshare missing"; exit 77; }
source "$(dirname "$0")/netns_cluster.sh"
trap 'nc_down; rm -rf "$W"' EXIT
if ! nc_up 3 > "$W/nc.log" 2>&1; then
    cat "$W/nc.log"; echo "SKIP: cannot build the namespace cluster here (see above)"; exit 77
fi
echo "cluster: $(tr '\n' ';' < "$NC_DIR/hosts.map")"

"$BIN" synth --symbols 3 --seconds 2000 --seed 8 --out "$W/syn.h5" > "$W/synth.log" 2>&1 || { show "$W/synth.log"; fail "synth failed"; }
BATCH=32 MAXS=300 mk_config run "$W/syn.h5" 3
"$MPIEXEC" -np 1 "$BIN" train "$W/run.json" --set run_name=ref > "$W/ref.log" 2>&1 || { show "$W/ref.log"; fail "reference run failed"; }

# run_bg NAME [args]: nc_mpirun in the background with a 300 s guard; sets MPID
run_bg() {
    local name=$1; shift
    nc_mpirun 4 "$BIN" train "$W/run.json" --set run_name="$name" "$@" > "$W/$name.log" 2>&1 &
    MPID=$!
    ( sleep 300; kill -TERM $MPID 2>/dev/null ) > /dev/null 2>&1 & GUARD=$!
}
unguard() { kill $(pgrep -P $GUARD) $GUARD 2>/dev/null; }

echo "== 1. 4 ranks over 3 hosts"
run_bg multi
wait $MPID; rc=$?; unguard
[ $rc -eq 0 ] || { show "$W/multi.log"; fail "multi-host training failed (exit $rc)"; }
grep '^\[rank [0-9]/4\]' "$W/multi.log" | grep -o '^\[rank [0-9]/4\] [^:]*' | sort | sed 's/^/  /'
for i in 1 2 3; do
    grep -q "^\[rank [0-9]/4\] $(nc_host $i) (local rank 0 of" "$W/multi.log" || fail "no rank reported host $(nc_host $i)"
done
grep -q "^\[rank [0-9]/4\] $(nc_host 1) (local rank 1 of 2)" "$W/multi.log" || fail "host 1 should run 2 ranks (local rank 1 of 2)"
hosts=$($PY -c "import h5py,sys; h=h5py.File(sys.argv[1],'r').attrs['hosts']; print(h.decode() if isinstance(h, bytes) else h)" "$W/out/multi/results.h5")
echo "manifest hosts: $hosts"
for i in 1 2 3; do [[ ",$hosts," == *",$(nc_host $i),"* ]] || fail "manifest hosts '$hosts' lacks $(nc_host $i)"; done
cmp_results "$W/out/ref/results.h5" "$W/out/multi/results.h5"

echo "== 2. kill every rank of host 3 after the first checkpoint, then --resume"
run_bg cut
killed=""
for _ in $(seq 1 1200); do
    if ls "$W/out/cut/checkpoints/"*.h5 > /dev/null 2>&1; then
        for p in $(ip netns pids "$(nc_ns 3)"); do
            [ "$(cat /proc/$p/comm 2>/dev/null)" = deeplob_mpi ] && kill -KILL "$p" 2>/dev/null && killed="$killed $p"
        done
        break
    fi
    kill -0 $MPID 2>/dev/null || break
    sleep 0.05
done
wait $MPID; rc=$?; unguard
[ -n "$killed" ] || { show "$W/cut.log"; fail "no rank on host 3 was killed (the run ended before a checkpoint?)"; }
echo "killed pids$killed on $(nc_host 3); mpirun exit $rc; checkpoints: $(ls "$W/out/cut/checkpoints" | tr '\n' ' ')"
[ $rc -ne 0 ] || fail "the run reported success after host 3 was killed"
[ -e "$W/out/cut/results.h5" ] && fail "a killed run left results.h5"
for f in "$W/out/cut/checkpoints/"*.h5; do h5dump "$f" > /dev/null 2>&1 || fail "$(basename "$f") unreadable after the kill"; done
run_bg cut --resume
wait $MPID; rc=$?; unguard
[ $rc -eq 0 ] || { show "$W/cut.log"; fail "--resume over the hosts failed (exit $rc)"; }
grep -m1 "resumed" "$W/cut.log" | sed 's/^/  /'
cmp_results "$W/out/ref/results.h5" "$W/out/cut/results.h5"
echo "multi-host: 4 ranks on 3 namespace hosts bit-identical to 1 rank; host 3 killed, resumed, identical"
