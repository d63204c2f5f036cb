#!/bin/bash
# slurm_up.sh [CONF]: start munge and a one-node Slurm (slurmctld + slurmd) as root,
# without systemd, for CI and tests. CONF defaults to .ci/slurm/slurm.conf; @NODE@ in
# it becomes `hostname -s`. Needs the Debian packages slurmctld slurmd slurm-client munge
# (scripts/install_deps.sh). Idempotent: daemons already running are left alone.
# Stop with .ci/slurm_down.sh. Exit 0 once the node is idle, 1 otherwise (logs printed).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONF_SRC=${1:-$HERE/slurm/slurm.conf}
[ "$(id -u)" -eq 0 ] || { echo "slurm_up.sh: must run as root"; exit 1; }
for b in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd; do
    [ -x "$b" ] || { echo "slurm_up.sh: $b missing (apt-get install slurmctld slurmd slurm-client munge)"; exit 1; }
done
NODE=$(hostname -s)
getent hosts "$NODE" >/dev/null || { echo "slurm_up.sh: host name $NODE does not resolve (add it to /etc/hosts)"; exit 1; }
install -d -o munge -g munge -m 0755 /run/munge
install -d /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /etc/slurm
if [ ! -s /etc/munge/munge.key ]; then   # postinst normally makes one
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
sed "s/@NODE@/$NODE/g" "$CONF_SRC" > /etc/slurm/slurm.conf
rm -f /etc/slurm/gres.conf            # no GRES in the CI configuration

# munged must run as user munge
if ! [ -S /run/munge/munge.socket.2 ] || ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
fi
munge -n | unmunge >/dev/null || { echo "slurm_up.sh: munge does not work"; exit 1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
alive /run/slurmctld.pid || /usr/sbin/slurmctld   # daemonizes; PID in the pid file
alive /run/slurmd.pid || /usr/sbin/slurmd
for _ in $(seq 1 150); do
    st=$(sinfo -h -N -o %T 2>/dev/null | head -1 || true)
    case "$st" in
        idle|mixed|allocated|completing) echo "slurm_up.sh: slurm ready, node $NODE $st"; exit 0 ;;
        # a node drained by an earlier bad start stays drained in the saved state
        *drain*|*inval*|down*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
    esac
    sleep 0.2
done
echo "slurm_up.sh: slurm did not become ready (node state '${st:-none}')"
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log 2>/dev/null || true
exit 1
