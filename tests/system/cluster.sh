#!/usr/bin/env bash
# A one-node SLURM cluster on localhost for the workflow's cluster test.
#   cluster.sh up DIR    start munged, slurmctld, slurmd; wait until the node is idle
#   cluster.sh down DIR  stop exactly the daemons "up" started (by PID) and remove the slurm.conf it wrote
# Needs root and the Debian packages tests/system/packages.sh installs; prints one line and exits 3 when either is
# missing (the test then skips).
set -euo pipefail
action=${1:?usage: cluster.sh up|down DIR}
dir=${2:?usage: cluster.sh up|down DIR}
conf=/etc/slurm/slurm.conf  # the plugin's job step drops SLURM_CONF: the default path is the only one that works

down() {
    for pidfile in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
        [ -s "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    done
    if [ -f "$dir/slurm.conf.ours" ] && cmp -s "$conf" "$dir/slurm.conf.ours"; then
        rm -f "$conf"
        if [ -f "$dir/slurm.conf.saved" ]; then mv "$dir/slurm.conf.saved" "$conf"; fi
    fi
    if [ -f "$dir/gres.conf.ours" ] && cmp -s /etc/slurm/gres.conf "$dir/gres.conf.ours"; then
        rm -f /etc/slurm/gres.conf
        if [ -f "$dir/gres.conf.saved" ]; then mv "$dir/gres.conf.saved" /etc/slurm/gres.conf; fi
    fi
    echo "SLURM down"
}

up() {
    if [ "$(id -u)" != 0 ]; then echo "not root: cannot start SLURM daemons"; exit 3; fi
    if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
        echo "SLURM is not installed: run bash tests/system/packages.sh (as root) first"; exit 3
    fi
    mkdir -p "$dir"/{state,spool,log}
    # munge: a key and a socket directory owned by the munge user
    mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
    [ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
    chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key
    if ! munge -n >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged
        pgrep -n -x munged > "$dir/munged.pid"
    fi
    local cpus mem
    cpus=$((2 * $(nproc)))  # twice the cores: a SLURM job of the test's tiny workflow mostly starts, submits and waits
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    mem=$((mem * 8 / 10))
    mkdir -p /etc/slurm
    [ -f "$conf" ] && ! [ -f "$dir/slurm.conf.ours" ] && cp "$conf" "$dir/slurm.conf.saved"
    cat > "$dir/slurm.conf.ours" <<CONF
ClusterName=lossland-ci
SlurmctldHost=localhost
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
MinJobAge=600
ReturnToService=2
SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=ci Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
    cp "$dir/slurm.conf.ours" "$conf"
    # two GPUs as SLURM counts them (no devices behind them): jobs can ask for GPUs and SLURM books them
    [ -f /etc/slurm/gres.conf ] && ! [ -f "$dir/gres.conf.ours" ] && cp /etc/slurm/gres.conf "$dir/gres.conf.saved"
    touch "$dir/gpu0" "$dir/gpu1"
    echo "NodeName=localhost Name=gpu File=$dir/gpu[0-1]" > "$dir/gres.conf.ours"
    cp "$dir/gres.conf.ours" /etc/slurm/gres.conf
    slurmctld
    slurmd -N localhost
    for _ in $(seq 120); do
        if sinfo -h -N -o %T 2>/dev/null | grep -qx idle; then echo "SLURM up: node localhost idle"; return 0; fi
        sleep 0.5
    done
    echo "SLURM did not come up; logs in $dir/log"; sinfo || true; exit 1
}

case "$action" in
    up) up ;;
    down) down ;;
    *) echo "usage: cluster.sh up|down DIR"; exit 2 ;;
esac
