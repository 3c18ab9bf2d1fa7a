"""Rule fig6: hcp a and c vs pressure at 300 K."""
from tifusion import runtime
from tifusion.plotting.figures import plot_pressure

runtime.start_job(snakemake)
plot_pressure(dict(zip(snakemake.params.models, snakemake.input.lattice)), snakemake.params.models_config,
              [snakemake.output.pdf, snakemake.output.png])
