"""Rule elastic_temperature: C11, C33, C44, C12, C13 and the pressure of every model against temperature."""
from tifusion import runtime
from tifusion.plotting.diagnostics import plot_elastic_temperature

runtime.start_job(snakemake)
plot_elastic_temperature(dict(zip(snakemake.params.models, snakemake.input.hcp)), snakemake.params.models_config,
                         [snakemake.output.pdf, snakemake.output.png])
