"""Rule bcc_elastic: bcc elastic constants at 1273 K (Table 2), one model."""
from tifusion import runtime
from tifusion.properties.elastic import run_bcc_elastic

runtime.start(snakemake.log[0])
run_bcc_elastic(snakemake.input.model, snakemake.params.protocol, snakemake.output.npz, snakemake.params.seed,
                snakemake.params.checkpoints)
