"""Rule dft_parity: DFT test-set energies, forces and virials of every model against the reference."""
from tifusion import runtime
from tifusion.plotting.diagnostics import plot_parity

runtime.start_job(snakemake)
plot_parity(dict(zip(snakemake.params.models, snakemake.input.predictions)), snakemake.params.models_config,
            [snakemake.output.pdf, snakemake.output.png])
