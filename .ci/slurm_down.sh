#!/bin/bash
# slurm_down.sh: stop what .ci/slurm_up.sh started (slurmctld, slurmd, munged), by the
# PIDs in their pid files. Always exits 0.
scontrol shutdown >/dev/null 2>&1 || true   # stops slurmctld and slurmd (~2 s)
for _ in $(seq 1 50); do
    live=0
    for p in /run/slurmctld.pid /run/slurmd.pid; do
        [ -f $p ] && kill -0 "$(cat $p)" 2>/dev/null && live=1
    done
    [ $live -eq 0 ] && break
    sleep 0.2
done
for p in /run/slurmd.pid /run/slurmctld.pid; do
    [ -f $p ] && kill "$(cat $p)" 2>/dev/null
done
if [ -f /run/munge/munged.pid ]; then
    kill "$(cat /run/munge/munged.pid)" 2>/dev/null
    for _ in $(seq 1 25); do kill -0 "$(cat /run/munge/munged.pid 2>/dev/null)" 2>/dev/null || break; sleep 0.2; done
fi
echo "slurm_down.sh: slurm stopped"
exit 0
