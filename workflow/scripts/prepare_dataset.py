"""Rule prepare_dataset: write the canonical DFT dataset (embedded or converted published data)."""
from pathlib import Path

from tifusion import runtime
from tifusion.data.build import build_dataset

runtime.start_job(snakemake)
published = snakemake.input.published
build_dataset(
    dict(snakemake.params.dataset, seed=snakemake.params.seed),
    snakemake.output.dataset,
    download_dir=Path(published[0]).parent if published else None,
)
