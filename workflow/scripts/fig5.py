"""Rule fig5: liquid RDF and ADF at 1965 K and the self-diffusion coefficients."""
from tifusion import runtime
from tifusion.plotting.figures import plot_liquid

runtime.start_job(snakemake)
models = snakemake.params.models
plot_liquid(dict(zip(models, snakemake.input.structure)), dict(zip(models, snakemake.input.diffusion)),
            snakemake.params.models_config, [snakemake.output.pdf, snakemake.output.png])
