"""Rule lattice_pressure: hcp a(P), c(P) by NPT at 300 K, one model."""
from tifusion import runtime
from tifusion.properties.lattice import run_lattice_pressure

runtime.start(snakemake.log[0])
run_lattice_pressure(snakemake.input.model, snakemake.params.protocol, snakemake.output.npz, snakemake.params.seed,
                     snakemake.params.checkpoints)
