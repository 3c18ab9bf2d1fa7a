#!/usr/bin/env bash
# A real single-node SLURM cluster for CI (Debian's SLURM 22.05 with munge), with a `cpu` and a `gpu` partition.
#
#   .ci/slurm_cluster.sh install   apt-get the daemons (skipped when already installed)
#   .ci/slurm_cluster.sh start     write slurm.conf/gres.conf, start munged, slurmctld, slurmd; wait for `idle`
#   .ci/slurm_cluster.sh stop      stop what `start` started (and nothing else)
#   .ci/slurm_cluster.sh status    show what runs
#
# Every command is idempotent. Pid files, spool, state and logs live under $TIFUSION_SLURM_STATE
# (default /var/lib/tifusion-slurm-ci); `stop` acts only on the pids recorded there. The GPU is a stand-in
# (gres File=/dev/null): GPU rules get a GPU allocation and CUDA_VISIBLE_DEVICES=0 but run their JAX code on CPU.
# Needs root; needs no systemd (the daemons are started directly, as on this CI machine). See .ci/SLURM.md.
set -euo pipefail

STATE=${TIFUSION_SLURM_STATE:-/var/lib/tifusion-slurm-ci}
SLURM_CONF_DIR=/etc/slurm
MARKER="# written by tifusion .ci/slurm_cluster.sh"
PACKAGES=(slurmctld slurmd slurm-client munge)

log() { echo "[slurm-ci] $*" >&2; }
die() { log "error: $*"; exit 1; }

# True when pid $1 is a live (not zombie) process named $2: stopped daemons linger as zombies here.
alive() {
    local pid=$1 name=$2 stat
    [[ -n $pid && -r /proc/$pid/stat ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ $stat == "$pid ($name) "* && $stat != "$pid ($name) Z"* ]]
}

# Live (not zombie) pids of processes named $1.
live_pids() {
    local stat
    for stat in /proc/[0-9]*/stat; do
        alive "$(basename "$(dirname "$stat")")" "$1" && basename "$(dirname "$stat")"
    done
    true
}

pid_from() { [[ -s $1 ]] && tr -dc '0-9' <"$1" || true; }

# Wait up to $3 seconds for pid $1 (named $2) to end.
wait_gone() {
    local pid=$1 name=$2 deadline=$((SECONDS + $3))
    while alive "$pid" "$name"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

install_cluster() {
    local missing=()
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        log "installed already: ${PACKAGES[*]}"
        return
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
}

# Refuse to overwrite a SLURM config that this script did not write.
write_conf() {
    local path=$1 content=$2
    if [[ -e $path ]] && ! grep -qxF "$MARKER" "$path"; then
        die "$path exists and was not written by this script; refusing to overwrite it"
    fi
    mkdir -p "$(dirname "$path")"
    printf '%s\n%s\n' "$MARKER" "$content" >"$path.tmp.$$"
    mv "$path.tmp.$$" "$path"
}

write_configs() {
    local host cpus mem_mb
    host=$(hostname -s)
    cpus=$(nproc)
    # ~90 % of the available memory: slurmd drains a node that claims more than it has.
    mem_mb=$(awk '/^MemAvailable:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    write_conf "$SLURM_CONF_DIR/slurm.conf" "\
ClusterName=tifusion-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# A job without a memory request would otherwise take all node memory, and jobs would run one by one.
DefMemPerCPU=1000
# Reject at submission a job that asks for more than the node has (else it pends forever).
EnforcePartLimits=ALL
# Finished jobs stay visible to squeue for an hour: the plugin's squeue status path and .ci/slurm_check.py need them.
MinJobAge=3600
GresTypes=gpu
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:a100:1 State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP"
    write_conf "$SLURM_CONF_DIR/gres.conf" "NodeName=$host Name=gpu Type=a100 File=/dev/null"
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if munge_works; then
        log "munged is running already"
        return
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- munged
    local deadline=$((SECONDS + 10))
    until munge_works; do
        ((SECONDS < deadline)) || die "munged did not come up (see /var/log/munge/munged.log)"
        sleep 0.1
    done
    pid_from /run/munge/munged.pid >"$STATE/munged.pid"
    log "munged started (pid $(cat "$STATE/munged.pid"))"
}

# Start daemon $1 unless our pid file names a live one; refuse if a foreign one runs.
start_daemon() {
    local name=$1 pid
    pid=$(pid_from "$STATE/$name.pid")
    if alive "$pid" "$name"; then
        log "$name is running already (pid $pid)"
        return
    fi
    local foreign
    foreign=$(live_pids "$name" | tr '\n' ' ')
    [[ -z $foreign ]] || die "a $name not started by this script runs (pids $foreign); stop it first"
    "$name"
    local deadline=$((SECONDS + 10))
    until alive "$(pid_from "$STATE/$name.pid")" "$name"; do
        ((SECONDS < deadline)) || die "$name did not start (see $STATE/$name.log)"
        sleep 0.1
    done
    log "$name started (pid $(pid_from "$STATE/$name.pid"))"
}

wait_idle() {
    local deadline=$((SECONDS + 30)) state=""
    while ((SECONDS < deadline)); do
        state=$(sinfo -h -o %T 2>/dev/null | sort -u | tr '\n' ' ')
        [[ $state =~ (^| )(idle|mixed|allocated)( |$) ]] && { log "node state: $state"; return; }
        sleep 0.2
    done
    die "node not ready after 30 s (sinfo says '${state}'); see $STATE/slurmctld.log and $STATE/slurmd.log"
}

start_cluster() {
    command -v slurmctld >/dev/null || die "SLURM is not installed: run '$0 install' first"
    mkdir -p "$STATE/slurmctld" "$STATE/slurmd"
    write_configs
    start_munge
    start_daemon slurmctld
    start_daemon slurmd
    wait_idle
}

stop_cluster() {
    local ctld slurmd munged
    ctld=$(pid_from "$STATE/slurmctld.pid")
    slurmd=$(pid_from "$STATE/slurmd.pid")
    munged=$(pid_from "$STATE/munged.pid")
    # `scontrol shutdown` stops slurmctld and every slurmd; then make sure, by our pids only.
    if alive "$ctld" slurmctld; then
        scontrol shutdown >/dev/null 2>&1 || true
    fi
    for pair in "$ctld:slurmctld" "$slurmd:slurmd" "$munged:munged"; do
        local pid=${pair%%:*} name=${pair#*:}
        if alive "$pid" "$name"; then
            [[ $name == munged ]] && kill "$pid"
            wait_gone "$pid" "$name" 10 || { kill "$pid" 2>/dev/null || true; wait_gone "$pid" "$name" 5; } ||
                die "$name (pid $pid) does not stop"
            log "$name stopped (pid $pid)"
        fi
        rm -f "$STATE/$name.pid"
    done
}

status_cluster() {
    for name in munged slurmctld slurmd; do
        local pid
        pid=$(pid_from "$STATE/$name.pid")
        if alive "$pid" "$name"; then echo "$name: running (pid $pid, started here)"
        elif [[ $name == munged ]] && munge_works; then echo "munged: running (not started here)"
        else echo "$name: not running"; fi
    done
    if command -v sinfo >/dev/null && alive "$(pid_from "$STATE/slurmctld.pid")" slurmctld; then
        sinfo -o '%P %a %D %T %G %c %m'
    fi
}

case ${1:-} in
    install) install_cluster ;;
    start) start_cluster ;;
    stop) stop_cluster ;;
    status) status_cluster ;;
    *) die "usage: $0 install|start|stop|status" ;;
esac
