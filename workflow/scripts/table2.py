"""Rule table2: bcc elastic constants at 1273 K per model, with the experimental references."""
from tifusion import runtime
from tifusion.properties.tables import write_table2

runtime.start_job(snakemake)
write_table2(dict(zip(snakemake.params.models, snakemake.input.bcc)), snakemake.params.labels,
             snakemake.output.table)
