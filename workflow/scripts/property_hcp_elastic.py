"""Rule hcp_elastic: hcp elastic constants, moduli and pressure vs temperature, one model."""
from tifusion import runtime
from tifusion.properties.elastic import run_hcp_elastic

runtime.start(snakemake.log[0])
run_hcp_elastic(snakemake.input.model, snakemake.params.protocol, snakemake.output.npz, snakemake.params.seed,
                snakemake.params.checkpoints)
