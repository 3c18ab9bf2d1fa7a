#!/usr/bin/env bash
# Run the workflow through a real single-node SLURM cluster with the shipped profile (slurm/config.yaml) and check
# from SLURM's side where every job ran (.ci/slurm_check.py). See .ci/SLURM.md.
#
#   .ci/slurm_pipeline.sh [--configfile FILE] [--timeout SECONDS] [--fault-rule RULE [--fault-when REGEX]
#                         [--resume-pattern REGEX]] [--keep-cluster] [TARGET ...]
#
# Installs and starts the cluster (.ci/slurm_cluster.sh), layers a test overlay (.ci/slurm_test_profile.py) on the
# shipped profile, runs `snakemake --profile slurm --profile <overlay> --configfile FILE TARGET...` bounded by
# `timeout -s INT` (Snakemake ignores SIGTERM while it waits for jobs; on SIGINT it cancels its SLURM jobs), runs the
# check, and stops the cluster on exit unless it was running before (or --keep-cluster).
#
# Fault test (--fault-rule RULE): once a SLURM job of RULE runs and the rule's log matches --fault-when (default: an
# epoch line, written after the epoch's checkpoint), scancel it; Snakemake's retries (shipped profile) resubmit it,
# and the check requires the first job CANCELLED, the last COMPLETED and the rule's log to say it resumed.
# Example: .ci/slurm_pipeline.sh --configfile <tiny.yaml> --fault-rule train_dft_pretrained \
#              results/ci/models/dft_pretrained/model.npz
set -euo pipefail
cd "$(dirname "$0")/.."

configfile=config/config.yaml
timeout_s=900
fault_rule=""
fault_when='epoch [0-9]+/[0-9]+'
resume_pattern='resuming from \S+ after epoch [1-9][0-9]*'
keep_cluster=false
targets=()
while (($#)); do
    case $1 in
        --configfile) configfile=$2; shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        --fault-rule) fault_rule=$2; shift 2 ;;
        --fault-when) fault_when=$2; shift 2 ;;
        --resume-pattern) resume_pattern=$2; shift 2 ;;
        --keep-cluster) keep_cluster=true; shift ;;
        -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
        -*) echo "slurm_pipeline: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[[ -f $configfile ]] || { echo "slurm_pipeline: config file not found: $configfile" >&2; exit 2; }

step_start=$SECONDS
step() { echo "== slurm: $1 ($((SECONDS - step_start)) s since start)"; }

workdir=$(mktemp -d /tmp/tifusion-slurm-pipeline.XXXXXX)
cluster_was_running=false
if .ci/slurm_cluster.sh status 2>/dev/null | grep -q '^slurmctld: running'; then cluster_was_running=true; fi
snakemake_pid=""
cleanup() {
    local rc=$?
    if [[ -n $snakemake_pid ]] && kill -0 "$snakemake_pid" 2>/dev/null; then
        kill -INT "$snakemake_pid"  # timeout passes it on; Snakemake then cancels its SLURM jobs
        wait "$snakemake_pid" 2>/dev/null
    fi
    if [[ $cluster_was_running == false && $keep_cluster == false ]]; then
        .ci/slurm_cluster.sh stop || rc=1
    fi
    rm -rf "$workdir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "install"
.ci/slurm_cluster.sh install
step "start"
.ci/slurm_cluster.sh start
sinfo -o '%P %a %D %T %G %c %m'

step "test profile"
python .ci/slurm_test_profile.py "$workdir/profile" --configfile "$configfile" >/dev/null
cat "$workdir/profile/config.yaml"

run_log=$workdir/snakemake.log
# Targets first: --configfile takes several values and would swallow them.
snakemake_cmd=(timeout -s INT "$timeout_s" snakemake "${targets[@]}" --profile slurm --profile "$workdir/profile"
    --configfile "$configfile")
step "run: ${snakemake_cmd[*]}"

# Cancel the first running SLURM job of $fault_rule once the rule's log matches $fault_when.
cancel_when_ready() {
    local rule_log run_id job
    while kill -0 "$snakemake_pid" 2>/dev/null; do
        run_id=$(sed -n 's/.*SLURM run ID: \(\S*\).*/\1/p' "$run_log" | head -n 1)
        rule_log=$(awk -v rule="rule $fault_rule:" '$0 == rule {found=1} found && $1 == "log:" {print $2; exit}' \
            "$run_log")
        if [[ -n $run_id && -n $rule_log ]]; then
            job=$(squeue -h -t RUNNING -n "$run_id" -o '%i %k' | awk -v c="rule_$fault_rule" \
                '$2 == c || index($2, c "_wildcards_") == 1 {print $1; exit}')
            if [[ -n $job && -f $rule_log ]] && grep -qE "$fault_when" "$rule_log"; then
                echo "== slurm: fault test: scancel $job (rule $fault_rule, log $rule_log matches /$fault_when/)"
                scancel "$job"
                return 0
            fi
        fi
        sleep 1
    done
    echo "== slurm: fault test: no running job of $fault_rule matched /$fault_when/ before the run ended" >&2
    return 1
}

set +e
"${snakemake_cmd[@]}" >"$run_log" 2>&1 &
snakemake_pid=$!
fault_rc=0
if [[ -n $fault_rule ]]; then
    cancel_when_ready
    fault_rc=$?
fi
wait "$snakemake_pid"
snakemake_rc=$?
set -e
tail -n 30 "$run_log"
step "run finished with exit code $snakemake_rc"
mkdir -p .snakemake && cp "$run_log" .snakemake/slurm_pipeline_run.log

check_args=("$run_log")
[[ -n $fault_rule ]] && check_args+=(--fault-rule "$fault_rule" --resume-pattern "$resume_pattern"
    --progress-pattern "$fault_when")
check_rc=0
python .ci/slurm_check.py "${check_args[@]}" || check_rc=$?
step "check done"

if ((snakemake_rc != 0)); then
    echo "slurm_pipeline: snakemake failed (exit $snakemake_rc; 124 = timeout)," \
        "full output: .snakemake/slurm_pipeline_run.log" >&2
fi
((snakemake_rc == 0 && check_rc == 0 && fault_rc == 0))
