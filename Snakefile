# tifusion: DimeNet++ potential for Ti trained on DFT and experimental data (Röcken & Zavadlav 2024).
# Run the embedded default:   snakemake --cores all
# One figure:                 snakemake --cores all results/figures/fig2.pdf
# Cluster (paper scale):      snakemake --profile slurm --configfile config/paper.yaml
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


wildcard_constraints:
    model="[A-Za-z0-9_]+",


include: "workflow/rules/common.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/evaluation.smk"


rule all:
    input:
        "results/tables/table1.csv",
        "results/figures/fig2.pdf",
    default_target: True
