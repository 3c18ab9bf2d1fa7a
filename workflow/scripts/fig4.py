"""Rule fig4: phonon dispersion per model against the measured points, the DOS against Stassis 1979, and the
per-branch deviations table."""
from tifusion import runtime
from tifusion.plotting.figures import plot_phonons

runtime.start_job(snakemake)
plot_phonons(dict(zip(snakemake.params.models, snakemake.input.phonons)), snakemake.params.models_config,
             [snakemake.output.pdf, snakemake.output.png], snakemake.output.deviations)
