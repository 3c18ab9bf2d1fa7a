# Figures behind the headline numbers: training histories, DFT parity, C_ij(T) of every model, VACFs
# (src/tifusion/plotting/diagnostics.py).


rule training_curves:
    input:
        experiment=experimental("hcp_ti_elastic_and_lattice.csv"),
        history="<results>/models/{model}/history.csv",
    output:
        pdf=report("<results>/figures/training/{model}.pdf", caption="../report/training_curves.rst",
                   category="Training", subcategory="{model}"),
        png="<results>/figures/training/{model}.png",
    log:
        "<logs>/training_curves/{model}.log",
    params:
        label=lambda wildcards: model_labels()[wildcards.model],
    conda:
        CPU_ENV
    script:
        "../scripts/training_curves.py"


rule dft_parity:
    input:
        predictions=expand("<results>/evaluation/{model}/dft_test_predictions.npz", model=MODELS),
    output:
        pdf=report("<results>/figures/dft_parity.pdf", caption="../report/dft_parity.rst", category="Training"),
        png="<results>/figures/dft_parity.png",
    log:
        "<logs>/dft_parity.log",
    params:
        models=MODELS,
        models_config=config["models"],
    conda:
        CPU_ENV
    script:
        "../scripts/dft_parity.py"


rule elastic_temperature:
    input:
        experiment=experimental("hcp_ti_elastic_and_lattice.csv"),
        hcp=property_files("hcp_elastic", "exp_targets"),
    output:
        pdf=report("<results>/figures/elastic_temperature.pdf", caption="../report/elastic_temperature.rst",
                   category="Figures"),
        png="<results>/figures/elastic_temperature.png",
    log:
        "<logs>/elastic_temperature.log",
    params:
        models=figure_models("exp_targets"),
        models_config=config["models"],
    conda:
        CPU_ENV
    script:
        "../scripts/elastic_temperature.py"


rule vacf:
    input:
        diffusion=property_files("self_diffusion", "fig5"),
    output:
        pdf=report("<results>/figures/vacf.pdf", caption="../report/vacf.rst", category="Figures"),
        png="<results>/figures/vacf.png",
    log:
        "<logs>/vacf.log",
    params:
        models=figure_models("fig5"),
        models_config=config["models"],
    conda:
        CPU_ENV
    script:
        "../scripts/vacf.py"
