"""Rule train_dft_pretrained: the "DFT pre-trained" DimeNet++ model (resumes from its checkpoint)."""
from tifusion import runtime
from tifusion.training.dft import run_pretraining

runtime.start_job(snakemake)
run_pretraining(
    snakemake.input.dataset,
    snakemake.params.model,
    snakemake.params.trainer,
    snakemake.params.seed,
    model_path=snakemake.output.model,
    history_path=snakemake.output.history,
    checkpoint_path=snakemake.params.checkpoint,
    config_record={"model": snakemake.params.model, "dft_pretraining": snakemake.params.trainer},
    fit_atom_energy_offset=snakemake.params.fit_offset,
)
