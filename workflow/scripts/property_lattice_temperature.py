"""Rule lattice_temperature: hcp a(T), c(T) by NPT at zero pressure, one model."""
from tifusion import runtime
from tifusion.properties.lattice import run_lattice_temperature

runtime.start(snakemake.log[0])
run_lattice_temperature(snakemake.input.model, snakemake.params.protocol, snakemake.output.npz, snakemake.params.seed,
                        snakemake.params.checkpoints)
