"""Rule property: one MD or phonon property of one model (tifusion.properties.RUNNERS)."""
from tifusion import properties, runtime

runtime.start_job(snakemake)
properties.run(snakemake.wildcards.prop, snakemake.input.model, snakemake.params.protocol, snakemake.output.npz,
               snakemake.params.seed, snakemake.params.checkpoints, melt_path=snakemake.input.get("melt"))
