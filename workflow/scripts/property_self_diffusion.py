"""Rule self_diffusion: Green-Kubo self-diffusion of the liquid, one model."""
from tifusion import runtime
from tifusion.properties.liquid import run_self_diffusion

runtime.start(snakemake.log[0])
run_self_diffusion(snakemake.input.model, snakemake.input.melt, snakemake.params.protocol, snakemake.output.npz,
                   snakemake.params.seed, snakemake.params.checkpoints)
