# tifusion: DimeNet++ potential for Ti trained on DFT and experimental data (Röcken & Zavadlav 2024).
# Run the embedded default:   snakemake --cores all
# One figure:                 snakemake --cores all results/figures/fig2.pdf
# Cluster (paper scale):      snakemake --profile slurm --configfile config/paper.yaml
import os

from snakemake.utils import min_version, validate

min_version("9.0")

import tifusion.md.steps
import tifusion.properties
import tifusion.training.settings
from tifusion.malloc import MALLOC_SETTINGS

# glibc malloc settings inherited by every job (tifusion/malloc.py); values already set in the environment win.
for _name, _value in MALLOC_SETTINGS.items():
    os.environ.setdefault(_name, _value)


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


wildcard_constraints:
    model="[A-Za-z0-9_]+",


include: "workflow/rules/common.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/properties.smk"
include: "workflow/rules/figures.smk"


rule all:
    input:
        "results/tables/table1.csv",
        "results/figures/fig2.pdf",
        "results/figures/fig3.pdf",
        "results/figures/fig4.pdf",
        "results/figures/fig5.pdf",
        "results/figures/fig6.pdf",
        "results/figures/fig7.pdf",
        "results/tables/table2.csv",
        "results/tables/exp_targets.csv",
        "results/tables/static_elastic.csv",
        "results/tables/paper_comparison.csv",
    default_target: True
