# Stage 2: training. DFT pre-training here; the EXP/fused trainers in the same file as they land.


rule train_dft_pretrained:
    input:
        dataset="<results>/dataset/dataset.npz",
    output:
        model="<results>/models/dft_pretrained/model.npz",
        history="<results>/models/dft_pretrained/history.csv",
    log:
        "<logs>/train_dft_pretrained.log",
    benchmark:
        "<benchmarks>/train_dft_pretrained.tsv"
    params:
        model=config["model"],
        trainer=dft_pretraining_settings(),
        fit_offset=config["dft_pretraining"]["fit_atom_energy_offset"],
        seed=config["seed"],
        checkpoint=f"results/{RUN}/checkpoints/dft_pretrained.npz",
    priority: 10  # trainings are the critical path: start them before other models' properties
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=2880,
    conda:
        GPU_RULE_ENV
    script:
        "../scripts/train_dft_pretrained.py"


rule train_exp_model:
    input:
        experiment=experimental("hcp_ti_elastic_and_lattice.csv"),
        dataset="<results>/dataset/dataset.npz",
        init=initial_model,
    output:
        model="<results>/models/{model}/model.npz",
        final="<results>/models/{model}/final_model.npz",
        history="<results>/models/{model}/history.csv",
    log:
        "<logs>/train_exp_model/{model}.log",
    benchmark:
        "<benchmarks>/train_exp_model/{model}.tsv"
    wildcard_constraints:
        model=EXP_MODELS_PATTERN,
    params:
        entry=training_entry,
        exp=exp_settings,
        dft=dft_settings,
        seed=config["seed"],
        checkpoint=f"results/{RUN}/checkpoints/{{model}}.npz",
    priority: 10  # trainings are the critical path: start them before other models' properties
    threads: 1
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=10080,
    conda:
        GPU_RULE_ENV
    script:
        "../scripts/train_exp_model.py"
