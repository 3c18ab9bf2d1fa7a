# tifusion: DimeNet++ potential for Ti trained on DFT and experimental data (Röcken & Zavadlav 2024).
# Run the embedded default:   snakemake --cores all
# One figure:                 snakemake --cores all results/default/figures/fig2.pdf
# Cluster (paper scale):      snakemake --profile slurm --configfile config/paper.yaml   (results/paper/...)
import os

from snakemake.utils import min_version

min_version("9.0")

import tifusion.config
import tifusion.data.settings
import tifusion.md.steps
import tifusion.properties
import tifusion.training.settings
from tifusion.malloc import MALLOC_SETTINGS

# glibc malloc settings inherited by every job (tifusion/malloc.py); values already set in the environment win.
for _name, _value in MALLOC_SETTINGS.items():
    os.environ.setdefault(_name, _value)
# The repository, for the conda environments' post-deploy scripts (envs/*.post-deploy.sh), which install the
# package from it: Snakemake copies environment files under .snakemake/conda/, where no relative path reaches it.
os.environ.update(TIFUSION_SOURCE=workflow.basedir)


# Config files are read strictly first (duplicate keys, YAML errors with file and line), then validated with
# errors that name the key (workflow/rules/common.smk checks what the schema cannot).
tifusion.config.check_files(["config/config.yaml", *workflow.configfiles])


configfile: "config/config.yaml"


SCHEMA = tifusion.config.load_yaml("workflow/schemas/config.schema.yaml")
tifusion.config.validate(config, SCHEMA)
# Each scenario (run.name) writes under its own folders: results/<name>/, logs/<name>/, benchmarks/<name>/.
RUN = config["run"]["name"]


pathvars:
    results=f"results/{RUN}",
    logs=f"logs/{RUN}",
    benchmarks=f"benchmarks/{RUN}",


report: "workflow/report/workflow.rst"


wildcard_constraints:
    model="[A-Za-z0-9_]+",


include: "workflow/rules/common.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/properties.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/diagnostics.smk"


rule all:
    input:
        "<results>/tables/table1.csv",
        "<results>/figures/fig2.pdf",
        "<results>/figures/fig3.pdf",
        "<results>/figures/fig4.pdf",
        "<results>/figures/fig5.pdf",
        "<results>/figures/fig6.pdf",
        "<results>/figures/fig7.pdf",
        "<results>/tables/table2.csv",
        "<results>/tables/exp_targets.csv",
        "<results>/tables/static_elastic.csv",
        "<results>/tables/paper_comparison.csv",
        expand("<results>/figures/training/{model}.pdf", model=MODELS),
        "<results>/figures/dft_parity.pdf",
        "<results>/figures/elastic_temperature.pdf",
        "<results>/figures/vacf.pdf",
    default_target: True
