"""Rule training_curves: one model's training history as a figure."""
from tifusion import runtime
from tifusion.plotting.diagnostics import plot_training

runtime.start_job(snakemake)
plot_training(snakemake.input.history, snakemake.params.label, [snakemake.output.pdf, snakemake.output.png])
