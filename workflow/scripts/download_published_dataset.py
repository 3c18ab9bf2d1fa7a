"""Rule download_published_dataset: fetch the authors' DFT arrays, pinned by commit, and verify each file."""
from pathlib import Path

from tifusion import runtime
from tifusion.data.published import download_published

runtime.start_job(snakemake)
options = snakemake.params.published
download_published(
    Path(snakemake.output[0]).parent,
    base_url=options["base_url"],
    retries=options["retries"],
    timeout=options["timeout_s"],
)
