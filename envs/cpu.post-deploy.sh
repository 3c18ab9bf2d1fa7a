#!/usr/bin/env bash
# Snakemake runs this inside the new environment once it is created. It copies environment files under
# .snakemake/conda/, so the repository comes from TIFUSION_SOURCE, which the Snakefile sets.
# Arguments are passed on to pip (tests: --dry-run --report).
set -euo pipefail
repository=${TIFUSION_SOURCE:?TIFUSION_SOURCE (the repository) is set by the Snakefile}
python -m pip install --editable "$repository" "$@"
