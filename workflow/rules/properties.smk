# Stage 4: properties of every model by MD and phonopy (docs/method.md, "Properties"). One job per property and
# model; each writes one npz in internal units (with provenance) and resumes from its checkpoints if killed.


rule liquid_melt:
    input:
        model="<results>/models/{model}/model.npz",
    output:
        state="<results>/properties/{model}/liquid_melt_state.npz",
    log:
        "<logs>/liquid_melt/{model}.log",
    benchmark:
        "<benchmarks>/liquid_melt/{model}.tsv"
    params:
        protocol=property_protocol("liquid"),
        seed=config["seed"],
        checkpoints=f"results/{RUN}/checkpoints/properties/{{model}}/liquid_melt",
    threads: 1
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=1440,
    conda:
        GPU_RULE_ENV
    script:
        "../scripts/liquid_melt.py"


rule property:
    input:
        unpack(property_inputs),
    output:
        npz="<results>/properties/{model}/{prop}.npz",
    log:
        "<logs>/property/{prop}/{model}.log",
    benchmark:
        "<benchmarks>/property/{prop}/{model}.tsv"
    wildcard_constraints:
        prop="|".join(PROPERTY_RESOURCES),
    params:
        protocol=protocol_of_property,
        seed=config["seed"],
        checkpoints=f"results/{RUN}/checkpoints/properties/{{model}}/{{prop}}",
    threads: 1
    resources:
        gpu=1,
        mem_mb=property_memory,
        runtime=property_runtime,
    conda:
        GPU_RULE_ENV
    script:
        "../scripts/property.py"
