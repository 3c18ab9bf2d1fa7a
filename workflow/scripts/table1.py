"""Rule table1: assemble the DFT test errors of all models (the paper's Table 1)."""
from tifusion import runtime
from tifusion.properties.dft_errors import write_table1

runtime.start_job(snakemake)
write_table1(dict(zip(snakemake.params.models, snakemake.input.metrics)), snakemake.params.labels,
             snakemake.output.table)
