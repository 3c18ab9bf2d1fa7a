"""Rule liquid_melt: the melted MD state that starts the liquid-structure and diffusion runs, one model."""
from tifusion import runtime
from tifusion.properties.liquid import run_melt

runtime.start_job(snakemake)
run_melt(snakemake.input.model, snakemake.params.protocol, snakemake.output.state, snakemake.params.seed,
         snakemake.params.checkpoints)
