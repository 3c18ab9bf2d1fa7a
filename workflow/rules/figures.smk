# Stage 5: Figs. 3-7, Table 2 and the comparison with the paper, from the property files (cheap, local).
# Each figure uses the models listed for it in config `figures` that are also in `models`.


localrules:
    fig3,
    fig4,
    fig5,
    fig6,
    fig7,
    table2,
    paper_comparison,


rule fig3:
    input:
        experiment=experimental("hcp_ti_elastic_and_lattice.csv"),
        hcp=property_files("hcp_elastic", "fig3"),
        lattice=property_files("lattice_temperature", "fig3"),
    output:
        pdf=report("<results>/figures/fig3.pdf", caption="../report/fig3.rst", category="Figures"),
        png="<results>/figures/fig3.png",
    log:
        "<logs>/fig3.log",
    params:
        models=figure_models("fig3"),
        models_config=config["models"],
    conda:
        CPU_ENV
    script:
        "../scripts/fig_elastic_lattice.py"


rule fig4:
    input:
        experiment=experimental("hcp_ti_acoustic_slopes_293K_derived.csv", "hcp_ti_phonon_dos_295K_stassis1979.csv",
                                "hcp_ti_phonon_dispersion_295K_stassis1979.csv"),
        phonons=property_files("phonons", "fig4"),
    output:
        pdf=report("<results>/figures/fig4.pdf", caption="../report/fig4.rst", category="Figures"),
        png="<results>/figures/fig4.png",
        deviations=report("<results>/tables/phonon_deviations.csv", caption="../report/phonon_deviations.rst",
                          category="Tables"),
    log:
        "<logs>/fig4.log",
    params:
        models=figure_models("fig4"),
        models_config=config["models"],
    conda:
        CPU_ENV
    script:
        "../scripts/fig4.py"


rule fig5:
    input:
        experiment=experimental("liquid_ti_self_diffusion.csv", "liquid_ti_self_diffusion_horbach2009.csv",
                                "liquid_ti_rdf_holland_moritz2007.csv", "liquid_ti_adf_kim2007.csv"),
        structure=property_files("liquid_structure", "fig5"),
        diffusion=property_files("self_diffusion", "fig5"),
    output:
        pdf=report("<results>/figures/fig5.pdf", caption="../report/fig5.rst", category="Figures"),
        png="<results>/figures/fig5.png",
    log:
        "<logs>/fig5.log",
    params:
        models=figure_models("fig5"),
        models_config=config["models"],
    conda:
        CPU_ENV
    script:
        "../scripts/fig5.py"


rule fig6:
    input:
        experiment=experimental("hcp_ti_lattice_vs_pressure_293K_derived.csv", "hcp_ti_elastic_and_lattice.csv"),
        lattice=property_files("lattice_pressure", "fig6"),
    output:
        pdf=report("<results>/figures/fig6.pdf", caption="../report/fig6.rst", category="Figures"),
        png="<results>/figures/fig6.png",
    log:
        "<logs>/fig6.log",
    params:
        models=figure_models("fig6"),
        models_config=config["models"],
    conda:
        CPU_ENV
    script:
        "../scripts/fig6.py"


rule fig7:
    input:
        experiment=experimental("hcp_ti_elastic_and_lattice.csv"),
        hcp=property_files("hcp_elastic", "fig7"),
        lattice=property_files("lattice_temperature", "fig7"),
    output:
        pdf=report("<results>/figures/fig7.pdf", caption="../report/fig7.rst", category="Figures"),
        png="<results>/figures/fig7.png",
    log:
        "<logs>/fig7.log",
    params:
        models=figure_models("fig7"),
        models_config=config["models"],
    conda:
        CPU_ENV
    script:
        "../scripts/fig_elastic_lattice.py"


rule table2:
    input:
        experiment=experimental("bcc_ti_elastic_1273K.csv"),
        bcc=property_files("bcc_elastic", "table2"),
    output:
        table=report("<results>/tables/table2.csv", caption="../report/table2.rst", category="Tables"),
    log:
        "<logs>/table2.log",
    params:
        models=figure_models("table2"),
        labels=model_labels(),
    conda:
        CPU_ENV
    script:
        "../scripts/table2.py"


rule exp_targets:
    input:
        experiment=experimental("hcp_ti_elastic_and_lattice.csv"),
        hcp=property_files("hcp_elastic", "exp_targets"),
        metrics=expand("<results>/evaluation/{model}/dft_errors.json", model=figure_models("exp_targets")),
    output:
        table=report("<results>/tables/exp_targets.csv", caption="../report/exp_targets.rst", category="Tables"),
    log:
        "<logs>/exp_targets.log",
    params:
        models=figure_models("exp_targets"),
        labels=model_labels(),
        training_temperatures=training_temperatures(),
    conda:
        CPU_ENV
    script:
        "../scripts/exp_targets.py"


rule static_elastic:
    input:
        experiment=experimental("hcp_ti_elastic_and_lattice.csv"),
        models=expand("<results>/models/{model}/model.npz", model=figure_models("exp_targets")),
    output:
        table=report("<results>/tables/static_elastic.csv", caption="../report/static_elastic.rst", category="Tables"),
    log:
        "<logs>/static_elastic.log",
    params:
        models=figure_models("exp_targets"),
        labels=model_labels(),
        teacher=config["dataset"]["source"] == "embedded",
    conda:
        CPU_ENV
    script:
        "../scripts/static_elastic.py"


rule paper_comparison:
    input:
        experiment=experimental("paper_reported_values.csv", "hcp_ti_elastic_and_lattice.csv",
                                "hcp_ti_phonon_dispersion_295K_stassis1979.csv", "liquid_ti_rdf_holland_moritz2007.csv",
                                "liquid_ti_self_diffusion_horbach2009.csv"),
        table1="<results>/tables/table1.csv",
        bcc=comparison_files("bcc_elastic"),
        hcp=comparison_files("hcp_elastic"),
        lattice=comparison_files("lattice_temperature"),
        phonons=comparison_files("phonons", "fig4"),
        structure=comparison_files("liquid_structure", "fig5"),
        diffusion=comparison_files("self_diffusion", "fig5"),
    output:
        table=report("<results>/tables/paper_comparison.csv", caption="../report/paper_comparison.rst",
                     category="Tables"),
    log:
        "<logs>/paper_comparison.log",
    params:
        paper_models=paper_models(),
        phonon_models=comparison_models("fig4"),
        liquid_models=comparison_models("fig5"),
        labels=model_labels(),
    conda:
        CPU_ENV
    script:
        "../scripts/paper_comparison.py"
