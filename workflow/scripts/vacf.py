"""Rule vacf: the velocity autocorrelation functions behind the self-diffusion coefficients."""
from tifusion import runtime
from tifusion.plotting.diagnostics import plot_vacf

runtime.start_job(snakemake)
plot_vacf(dict(zip(snakemake.params.models, snakemake.input.diffusion)), snakemake.params.models_config,
          [snakemake.output.pdf, snakemake.output.png])
