# Stage 3a: errors on the DFT test set (Table 1) and the energy-volume figure (Fig. 2).


rule evaluate_dft_errors:
    input:
        dataset="<results>/dataset/dataset.npz",
        model="<results>/models/{model}/model.npz",
    output:
        metrics="<results>/evaluation/{model}/dft_errors.json",
        predictions="<results>/evaluation/{model}/dft_test_predictions.npz",
    log:
        "<logs>/evaluate_dft_errors/{model}.log",
    benchmark:
        "<benchmarks>/evaluate_dft_errors/{model}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    conda:
        CPU_ENV
    script:
        "../scripts/evaluate_dft_errors.py"


rule table1:
    input:
        metrics=expand("<results>/evaluation/{model}/dft_errors.json", model=MODELS),
    output:
        table=report("<results>/tables/table1.csv", caption="../report/table1.rst", category="Tables"),
    log:
        "<logs>/table1.log",
    params:
        models=MODELS,
        labels=model_labels(),
    conda:
        CPU_ENV
    script:
        "../scripts/table1.py"


rule fig2:
    input:
        predictions=expand("<results>/evaluation/{model}/dft_test_predictions.npz", model=MODELS),
    output:
        pdf=report("<results>/figures/fig2.pdf", caption="../report/fig2.rst", category="Figures"),
        png="<results>/figures/fig2.png",
    log:
        "<logs>/fig2.log",
    params:
        models=MODELS,
        models_config=config["models"],
        reference_label=reference_label(),
    conda:
        CPU_ENV
    script:
        "../scripts/fig2.py"
