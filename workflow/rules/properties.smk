# Stage 4: properties of every model by MD and phonopy (method spec section 7). One GPU job per property and
# model; each writes one npz in internal units (with provenance) and resumes from its checkpoints if killed.


rule hcp_elastic:
    input:
        model="results/models/{model}/model.npz",
    output:
        npz="results/properties/{model}/hcp_elastic.npz",
    log:
        "logs/hcp_elastic/{model}.log",
    benchmark:
        "benchmarks/hcp_elastic/{model}.tsv"
    params:
        protocol=property_protocol("hcp_elastic"),
        seed=config["seed"],
        checkpoints="results/checkpoints/properties/{model}/hcp_elastic",
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=10080,
    conda:
        "../../envs/cuda.yaml"
    script:
        "../scripts/property_hcp_elastic.py"


rule bcc_elastic:
    input:
        model="results/models/{model}/model.npz",
    output:
        npz="results/properties/{model}/bcc_elastic.npz",
    log:
        "logs/bcc_elastic/{model}.log",
    benchmark:
        "benchmarks/bcc_elastic/{model}.tsv"
    params:
        protocol=property_protocol("bcc_elastic"),
        seed=config["seed"],
        checkpoints="results/checkpoints/properties/{model}/bcc_elastic",
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=1440,
    conda:
        "../../envs/cuda.yaml"
    script:
        "../scripts/property_bcc_elastic.py"


rule lattice_temperature:
    input:
        model="results/models/{model}/model.npz",
    output:
        npz="results/properties/{model}/lattice_temperature.npz",
    log:
        "logs/lattice_temperature/{model}.log",
    benchmark:
        "benchmarks/lattice_temperature/{model}.tsv"
    params:
        protocol=property_protocol("lattice_temperature"),
        seed=config["seed"],
        checkpoints="results/checkpoints/properties/{model}/lattice_temperature",
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=4320,
    conda:
        "../../envs/cuda.yaml"
    script:
        "../scripts/property_lattice_temperature.py"


rule lattice_pressure:
    input:
        model="results/models/{model}/model.npz",
    output:
        npz="results/properties/{model}/lattice_pressure.npz",
    log:
        "logs/lattice_pressure/{model}.log",
    benchmark:
        "benchmarks/lattice_pressure/{model}.tsv"
    params:
        protocol=property_protocol("lattice_pressure"),
        seed=config["seed"],
        checkpoints="results/checkpoints/properties/{model}/lattice_pressure",
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=1440,
    conda:
        "../../envs/cuda.yaml"
    script:
        "../scripts/property_lattice_pressure.py"


rule phonons:
    input:
        model="results/models/{model}/model.npz",
    output:
        npz="results/properties/{model}/phonons.npz",
    log:
        "logs/phonons/{model}.log",
    benchmark:
        "benchmarks/phonons/{model}.tsv"
    params:
        protocol=config["properties"]["phonons"],
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/cuda.yaml"
    script:
        "../scripts/property_phonons.py"


rule liquid_melt:
    input:
        model="results/models/{model}/model.npz",
    output:
        state="results/properties/{model}/liquid_melt_state.npz",
    log:
        "logs/liquid_melt/{model}.log",
    benchmark:
        "benchmarks/liquid_melt/{model}.tsv"
    params:
        protocol=property_protocol("liquid"),
        seed=config["seed"],
        checkpoints="results/checkpoints/properties/{model}/liquid_melt",
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=1440,
    conda:
        "../../envs/cuda.yaml"
    script:
        "../scripts/property_liquid_melt.py"


rule liquid_structure:
    input:
        model="results/models/{model}/model.npz",
        melt="results/properties/{model}/liquid_melt_state.npz",
    output:
        npz="results/properties/{model}/liquid_structure.npz",
    log:
        "logs/liquid_structure/{model}.log",
    benchmark:
        "benchmarks/liquid_structure/{model}.tsv"
    params:
        protocol=property_protocol("liquid"),
        seed=config["seed"],
        checkpoints="results/checkpoints/properties/{model}/liquid_structure",
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=1440,
    conda:
        "../../envs/cuda.yaml"
    script:
        "../scripts/property_liquid_structure.py"


rule self_diffusion:
    input:
        model="results/models/{model}/model.npz",
        melt="results/properties/{model}/liquid_melt_state.npz",
    output:
        npz="results/properties/{model}/self_diffusion.npz",
    log:
        "logs/self_diffusion/{model}.log",
    benchmark:
        "benchmarks/self_diffusion/{model}.tsv"
    params:
        protocol=property_protocol("diffusion"),
        seed=config["seed"],
        checkpoints="results/checkpoints/properties/{model}/self_diffusion",
    threads: 1
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=4320,
    conda:
        "../../envs/cuda.yaml"
    script:
        "../scripts/property_self_diffusion.py"
