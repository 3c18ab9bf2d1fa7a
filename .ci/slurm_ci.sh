#!/usr/bin/env bash
# The tiny configuration (config/test/ci.yaml) of the whole pipeline through a real single-node SLURM cluster with the
# shipped profile: a training job cancelled once and resumed from its checkpoint, a deliberately failing job, and a
# comparison of the SLURM run's numbers with a local run of the same config and seeds. See .ci/SLURM.md.
#
# The local reference run starts at once in the background: on a small CI machine it fills the SLURM run's idle
# time (sbatch, job start-up, status polls), which keeps the whole test to about one pipeline's wall time.
# Each run gets its own clone of the committed tree (HEAD). The work directory is kept when a step fails
# (its path is printed) or with TIFUSION_CI_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
stamp() { echo "== [$((SECONDS - start)) s] $*"; }

targets=(results/ci/figures/fig2.pdf results/ci/properties/dft_exp_fused/hcp_elastic.npz)
config=config/test/ci.yaml
work=$(mktemp -d /tmp/tifusion-ci.XXXXXX)
local_pid=""
finish() {
    local rc=$?
    [[ -n $local_pid ]] && kill -0 "$local_pid" 2>/dev/null && { kill -INT "$local_pid"; wait "$local_pid" || true; }
    .ci/slurm_cluster.sh stop >/dev/null 2>&1 || true
    if ((rc == 0)) && [[ ${TIFUSION_CI_KEEP:-0} != 1 ]]; then
        rm -rf "$work"
    else
        echo "slurm_ci: exit $rc; runs, logs and timings kept in $work" >&2
    fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM
for clone in slurm local failing; do git clone -q . "$work/$clone"; done
# One persistent JAX compile cache for both runs (same models, same functions): the run that compiles a function
# second reads it instead (runtime.configure_jax).
export TIFUSION_JAX_CACHE=$work/jax_cache

stamp "local reference run started in the background (log: $work/local.log)"
(cd "$work/local" && exec timeout -s INT 1500 snakemake --cores 2 "${targets[@]}" --configfile "$config") \
    >"$work/local.log" 2>&1 &
local_pid=$!
local_start=$SECONDS

stamp "SLURM cluster: install and start"
.ci/slurm_cluster.sh install
.ci/slurm_cluster.sh start

stamp "tiny pipeline through SLURM, with train_dft_pretrained cancelled once and resumed"
(cd "$work/slurm" && .ci/slurm_pipeline.sh --keep-cluster --timeout 1500 --fault-rule train_dft_pretrained \
    "${targets[@]}" --configfile "$config")
cp "$work/slurm/.snakemake/slurm_pipeline_run.log" "$work/slurm.log"

# A corrupt input that only the job can find (a parse-time check cannot read the dataset): the training job starts on
# SLURM, names the file, and leaves no model.
stamp "a failing job: the workflow exits non-zero, names the rule's log, and keeps no output"
python .ci/slurm_test_profile.py "$work/overlay" --configfile "$config" >/dev/null
failing_target=results/ci/models/dft_pretrained/model.npz
mkdir -p "$work/failing/results/ci/dataset"
printf 'not a dataset' >"$work/failing/results/ci/dataset/dataset.npz"
set +e
(cd "$work/failing" && timeout -s INT 600 snakemake "$failing_target" --profile slurm --profile "$work/overlay" \
    --retries 0 --configfile "$config") >"$work/failing.log" 2>&1
rc=$?
set -e
grep -A6 '^Error in rule' "$work/failing.log" || tail -n 20 "$work/failing.log"
((rc != 0 && rc != 124)) || { echo "slurm_ci: the failing workflow exited $rc (0 = success, 124 = timeout)" >&2; exit 1; }
grep -q 'submitted with SLURM jobid' "$work/failing.log" || { echo "slurm_ci: the failing job never reached SLURM" >&2; exit 1; }
grep -q 'logs/ci/train_dft_pretrained.log' "$work/failing.log" || { echo "slurm_ci: the rule's log path is not shown" >&2; exit 1; }
grep -q 'dataset.npz: cannot read' "$work/failing/logs/ci/train_dft_pretrained.log" \
    || { echo "slurm_ci: the rule's log does not name the corrupt file" >&2; exit 1; }
[[ ! -e $work/failing/$failing_target ]] || { echo "slurm_ci: the failed job left its output" >&2; exit 1; }
# Nothing marked complete: a dry run still has to make the output.
dry_run=$(cd "$work/failing" && snakemake -n "$failing_target" --quiet rules --configfile "$config")
grep -qw train_dft_pretrained <<<"$dry_run" || { echo "slurm_ci: after the failure the output counts as done" >&2; exit 1; }
.ci/slurm_cluster.sh stop

stamp "waiting for the local reference run"
wait "$local_pid" || { tail -n 30 "$work/local.log"; echo "slurm_ci: the local run failed" >&2; exit 1; }
local_pid=""
echo "local run: $(grep -o 'Elapsed time: .*' "$work/local.log" | tail -n 1) (finished $((SECONDS - local_start)) s after its start)"

stamp "a label and colour change plans no training and no property run"
plan=$(cd "$work/local" && snakemake -n "${targets[@]}" --quiet rules --configfile "$config" \
    --config 'models={dft_exp_fused: {label: "renamed", color: "black"}}')
echo "$plan"
if grep -Eqw 'train_dft_pretrained|train_exp_model|property|liquid_melt' <<<"$plan"; then
    echo "slurm_ci: a label change replans a training or a property run" >&2; exit 1
fi

stamp "a finished training rerun (--forcerun) writes the same model without training again"
cp "$work/local/results/ci/models/dft_exp_fused/model.npz" "$work/fused_before.npz"
# (the target first: --forcerun takes every rule name that follows it)
(cd "$work/local" && snakemake results/ci/models/dft_exp_fused/model.npz --cores 2 --forcerun train_exp_model \
    --configfile "$config") >"$work/rerun.log" 2>&1 \
    || { tail -n 30 "$work/rerun.log"; echo "slurm_ci: the rerun of a finished training failed" >&2; exit 1; }
grep -q 'holds this training, finished' "$work/local/logs/ci/train_exp_model/dft_exp_fused.log" \
    || { echo "slurm_ci: the rerun trained again" >&2; exit 1; }
python - "$work/fused_before.npz" "$work/local/results/ci/models/dft_exp_fused/model.npz" <<'PY'
import sys
import numpy as np
with np.load(sys.argv[1]) as a, np.load(sys.argv[2]) as b:
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        if key != "metadata":
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
print("the rerun's model equals the first one, array by array")
PY

stamp "work per rule (benchmark seconds), SLURM run vs local run"
for tsv in "$work"/slurm/benchmarks/ci/*.tsv "$work"/slurm/benchmarks/ci/*/*.tsv "$work"/slurm/benchmarks/ci/*/*/*.tsv; do
    [[ -e $tsv ]] || continue
    rel=${tsv#"$work/slurm/benchmarks/"}
    printf '  %-45s %8s %8s\n' "${rel%.tsv}" "$(awk 'NR == 2 {print $1}' "$tsv")" \
        "$(awk 'NR == 2 {print $1}' "$work/local/benchmarks/$rel" 2>/dev/null)"
done

stamp "SLURM and local results agree"
python .ci/compare_runs.py "$work/slurm/results/ci" "$work/local/results/ci"
stamp "done"
