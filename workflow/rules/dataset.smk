# Stage 1: the DFT training data in canonical form (docs/method.md §§1-2).


rule download_published_dataset:
    output:
        expand("resources/downloads/published/{name}.npy", name=PUBLISHED_ARRAYS),
    log:
        "<logs>/download_published_dataset.log",
    params:
        published=config["dataset"]["published"],
    # transient network errors are retried inside the job (with back-off); a file that does not verify is not
    retries: 0
    conda:
        CPU_ENV
    script:
        "../scripts/download_published_dataset.py"


rule prepare_dataset:
    input:
        published=published_files,
    output:
        dataset="<results>/dataset/dataset.npz",
    log:
        "<logs>/prepare_dataset.log",
    benchmark:
        "<benchmarks>/prepare_dataset.tsv"
    params:
        dataset=config["dataset"],
        seed=config["seed"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        CPU_ENV
    script:
        "../scripts/prepare_dataset.py"
