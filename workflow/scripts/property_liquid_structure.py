"""Rule liquid_structure: liquid g(r) and bond-angle distribution at 1965 K, one model."""
from tifusion import runtime
from tifusion.properties.liquid import run_liquid_structure

runtime.start(snakemake.log[0])
run_liquid_structure(snakemake.input.model, snakemake.input.melt, snakemake.params.protocol, snakemake.output.npz,
                     snakemake.params.seed, snakemake.params.checkpoints)
