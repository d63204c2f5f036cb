# netns_cluster.sh: a cluster of N "hosts" on this machine, for tests/sh/test_multihost.sh
# (sourced). Each host is a network namespace with its own hostname (unshare --uts inside it)
# and one veth into a switch namespace holding a bridge; addresses 10.231.77.(10+i)/24 on a
# private test subnet. The root namespace gets no interface: traffic stays inside.
# Open MPI launches across them with --mca plm_rsh_agent $NC_DIR/agent, a script that runs the
# remote command as `ip netns exec <the host's namespace> unshare --uts sh -c ...`.
# nc_up N: create; nc_down: remove everything it created (idempotent; call from a trap).
NC_TAG=${NC_TAG:-dl$$}
NC_NET=10.231.77
NC_N=0
nc_ns() { echo "${NC_TAG}h$1"; }
nc_ip() { echo "$NC_NET.$((10 + $1))"; }
nc_host() { echo "${NC_TAG}-node$1"; }
nc_down() {
    local i
    for i in $(seq 1 "$NC_N"); do
        for p in $(ip netns pids "$(nc_ns "$i")" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$(nc_ns "$i")" 2>/dev/null
    done
    ip netns del "${NC_TAG}sw" 2>/dev/null
    [ -n "${NC_DIR:-}" ] && rm -rf "$NC_DIR"
    NC_N=0
}
nc_up() {
    local n=$1 i
    NC_DIR=$(mktemp -d /tmp/dl_netns.XXXXXX)
    ip netns add "${NC_TAG}sw" || return 1
    ip -n "${NC_TAG}sw" link add br0 type bridge && ip -n "${NC_TAG}sw" link set br0 up && ip -n "${NC_TAG}sw" link set lo up || return 1
    for i in $(seq 1 "$n"); do
        NC_N=$i
        local ns; ns=$(nc_ns "$i")
        ip netns add "$ns" || return 1
        ip link add "${NC_TAG}v$i" netns "$ns" type veth peer name "p$i" netns "${NC_TAG}sw" || return 1
        ip -n "$ns" link set "${NC_TAG}v$i" name eth0 && ip -n "$ns" addr add "$(nc_ip "$i")/24" dev eth0 \
            && ip -n "$ns" link set eth0 up && ip -n "$ns" link set lo up || return 1
        ip -n "${NC_TAG}sw" link set "p$i" master br0 && ip -n "${NC_TAG}sw" link set "p$i" up || return 1
        echo "$(nc_ip "$i") slots=${NC_SLOTS:-2}" >> "$NC_DIR/hostfile"
        echo "$(nc_ip "$i") $ns $(nc_host "$i")" >> "$NC_DIR/hosts.map"
    done
    # the rsh agent: Open MPI calls `agent [options] HOST COMMAND...`
    cat > "$NC_DIR/agent" <<AGENT
#!/bin/bash
while [ \$# -gt 0 ] && [ "\${1#-}" != "\$1" ]; do shift; done   # ssh-style options, none expected
host=\$1; shift
read -r _ ns name < <(grep "^\$host " "$NC_DIR/hosts.map")
[ -n "\$ns" ] || { echo "agent: unknown host \$host" >&2; exit 255; }
exec ip netns exec "\$ns" unshare --uts /bin/sh -c "hostname \$name && \$*"
AGENT
    chmod +x "$NC_DIR/agent"
}
# nc_run I CMD...: run a command on host I (its namespace and hostname)
nc_run() {
    local i=$1; shift
    ip netns exec "$(nc_ns "$i")" unshare --uts /bin/sh -c "hostname $(nc_host "$i") && exec \"\$@\"" sh "$@"
}
# nc_mpirun NP ARGS...: mpirun started on host 1 over every host of the cluster
nc_mpirun() {
    local np=$1; shift
    nc_run 1 "$MPIEXEC" -np "$np" --hostfile "$NC_DIR/hostfile" --map-by node \
        --mca plm_rsh_agent "$NC_DIR/agent" --mca oob_tcp_if_include "$NC_NET.0/24" \
        --mca btl_tcp_if_include "$NC_NET.0/24" --mca btl self,vader,tcp \
        -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS "$@"
}
