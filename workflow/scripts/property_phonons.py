"""Rule phonons: hcp phonon dispersion and DOS with phonopy, one model."""
from tifusion import runtime
from tifusion.properties.dispersion import run_phonons

runtime.start(snakemake.log[0])
run_phonons(snakemake.input.model, snakemake.params.protocol, snakemake.output.npz)
