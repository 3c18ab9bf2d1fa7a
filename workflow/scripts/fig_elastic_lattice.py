"""Rules fig3 and fig7: K, G, nu, a and c vs temperature for the figure's models, with experiment."""
from tifusion import runtime
from tifusion.plotting.figures import plot_elastic_lattice

runtime.start_job(snakemake)
models = snakemake.params.models
plot_elastic_lattice(dict(zip(models, snakemake.input.hcp)), dict(zip(models, snakemake.input.lattice)),
                     snakemake.params.models_config, [snakemake.output.pdf, snakemake.output.png])
