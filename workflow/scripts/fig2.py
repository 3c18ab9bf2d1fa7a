"""Rule fig2: energy vs volume of the test configurations, reference vs models."""
from tifusion import runtime
from tifusion.plotting.dft import plot_fig2

runtime.start_job(snakemake)
plot_fig2(dict(zip(snakemake.params.models, snakemake.input.predictions)), snakemake.params.models_config,
          [snakemake.output.pdf, snakemake.output.png], snakemake.params.reference_label)
