"""Rule train_exp_model: an EXP-trained model (sequential, fused, ablation) from its config entry."""
from tifusion import runtime
from tifusion.training.fused import run_training

runtime.start_job(snakemake)
run_training(
    snakemake.wildcards.model,
    snakemake.params.entry,
    snakemake.input.init,
    snakemake.input.dataset,
    snakemake.params.exp,
    snakemake.params.dft,
    snakemake.params.seed,
    model_path=snakemake.output.model,
    final_model_path=snakemake.output.final,
    history_path=snakemake.output.history,
    checkpoint_path=snakemake.params.checkpoint,
    config_record={"model": snakemake.params.entry, "exp_training": snakemake.params.exp},
)
