"""Rule paper_comparison: this run's headline numbers next to the paper's, and off-target numbers next to
experiment."""
from tifusion import runtime
from tifusion.properties.tables import write_paper_comparison

runtime.start_job(snakemake)
models = list(snakemake.params.paper_models)
liquid_models = list(snakemake.params.liquid_models)
write_paper_comparison(snakemake.params.paper_models, snakemake.params.labels, snakemake.output.table,
                       table1_path=snakemake.input.table1, bcc_paths=dict(zip(models, snakemake.input.bcc)),
                       hcp_paths=dict(zip(models, snakemake.input.hcp)),
                       lattice_paths=dict(zip(models, snakemake.input.lattice)),
                       phonon_paths=dict(zip(snakemake.params.phonon_models, snakemake.input.phonons)),
                       structure_paths=dict(zip(liquid_models, snakemake.input.structure)),
                       diffusion_paths=dict(zip(liquid_models, snakemake.input.diffusion)))
