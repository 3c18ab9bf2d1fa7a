#!/usr/bin/env bash
# The tiny configuration (config/ci.yaml) of the whole pipeline through a real single-node SLURM cluster with the
# shipped profile: a training job cancelled once and resumed from its checkpoint, a deliberately failing job, and a
# comparison of the SLURM run's numbers with a local run of the same config and seeds. See .ci/SLURM.md.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
stamp() { echo "== [$((SECONDS - start)) s] $*"; }

# --- the tiny pipeline on a real SLURM cluster (see .ci/SLURM.md) --------------------------------------------------
targets=(results/figures/fig2.pdf results/properties/dft_exp_fused/hcp_elastic.npz)
work=$(mktemp -d /tmp/tifusion-ci.XXXXXX)
trap '.ci/slurm_cluster.sh stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git clone -q . "$work/slurm"
git clone -q . "$work/local"

stamp "SLURM cluster: install and start"
.ci/slurm_cluster.sh install
.ci/slurm_cluster.sh start

stamp "tiny pipeline through SLURM, with train_dft_pretrained cancelled once and resumed"
(cd "$work/slurm" && .ci/slurm_pipeline.sh --keep-cluster --timeout 1200 --fault-rule train_dft_pretrained \
    "${targets[@]}" --configfile config/ci.yaml)

stamp "a failing job: the workflow exits non-zero, names the rule's log, and keeps no output"
python .ci/slurm_test_profile.py "$work/overlay" --configfile config/ci.yaml >/dev/null
set +e
(cd "$work/slurm" && timeout -s INT 600 snakemake --profile slurm --profile "$work/overlay" --retries 0 \
    resources/downloads/published/box.npy --configfile config/ci.yaml \
    --config 'dataset={"source": "published", "published": {"base_url": "file:///nonexistent", "retries": 0}}') \
    > "$work/failing.log" 2>&1
rc=$?
set -e
tail -20 "$work/failing.log"
[[ $rc -ne 0 ]] || { echo "the failing workflow exited 0" >&2; exit 1; }
grep -q "logs/download_published_dataset.log" "$work/failing.log" || { echo "no log path shown" >&2; exit 1; }
if ls "$work"/slurm/resources/downloads/published/*.npy >/dev/null 2>&1; then
    echo "a failed job left outputs behind" >&2; exit 1
fi
.ci/slurm_cluster.sh stop

stamp "the same tiny pipeline locally"
(cd "$work/local" && timeout -s INT 1200 snakemake --cores 2 "${targets[@]}" --configfile config/ci.yaml)

stamp "SLURM and local results agree"
python .ci/compare_runs.py "$work/slurm/results" "$work/local/results"
stamp "done"
