"""Rule exp_targets: hcp elastic constants and pressure per model and temperature against experiment."""
from tifusion import runtime
from tifusion.properties.tables import write_exp_targets

runtime.start_job(snakemake)
models = snakemake.params.models
write_exp_targets(dict(zip(models, snakemake.input.hcp)), dict(zip(models, snakemake.input.metrics)),
                  snakemake.params.labels, snakemake.params.training_temperatures, snakemake.output.table)
