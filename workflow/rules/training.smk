# Stage 2: training. DFT pre-training here; the EXP/fused trainers in the same file as they land.


rule train_dft_pretrained:
    input:
        dataset="results/dataset/dataset.npz",
    output:
        model="results/models/dft_pretrained/model.npz",
        history="results/models/dft_pretrained/history.csv",
    log:
        "logs/train_dft_pretrained.log",
    benchmark:
        "benchmarks/train_dft_pretrained.tsv"
    params:
        model=config["model"],
        trainer=dft_pretraining_settings(),
        seed=config["seed"],
        checkpoint="results/checkpoints/dft_pretrained.npz",
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=2880,
    conda:
        "../../envs/cuda.yaml"
    script:
        "../scripts/train_dft_pretrained.py"
