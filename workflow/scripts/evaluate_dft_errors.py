"""Rule evaluate_dft_errors: test-set errors of one model and its test predictions."""
from tifusion import runtime
from tifusion.properties.dft_errors import run_evaluation

runtime.start_job(snakemake)
run_evaluation(snakemake.input.model, snakemake.input.dataset, snakemake.output.metrics, snakemake.output.predictions)
