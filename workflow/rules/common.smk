# Config helpers and input functions shared by the rules (named functions, no lambdas in rules).

# The experimental tables ship with the package (tifusion.data.experiment reads them); rules declare the ones they
# use as inputs, so that editing a table reruns what depends on it.
EXPERIMENT_HCP = "src/tifusion/data/experimental/hcp_ti_elastic_and_lattice.csv"


def experiment_temperatures():
    """The temperatures (K) of the experimental hcp table."""
    import pandas

    return pandas.read_csv(EXPERIMENT_HCP, comment="#")["temperature_K"].tolist()


def experimental(*names):
    """Paths of experimental tables (file names in src/tifusion/data/experimental/)."""
    return [f"src/tifusion/data/experimental/{name}" for name in names]


tifusion.config.check_workflow(config, SCHEMA, experiment_temperatures(),
                               tifusion.data.settings.training_split_size(config["dataset"]))


# Conda environments (snakemake --use-conda): the GPU rules' JAX build follows `accelerator`, the others are CPU.
CPU_ENV = "../../envs/cpu.yaml"
GPU_RULE_ENV = f"../../envs/{config['accelerator']}.yaml"


def dataset_source():
    return config["dataset"]["source"]


PUBLISHED_ARRAYS = ["box", "coord", "energy", "force", "types", "virial"]


def published_files(wildcards=None):
    """Downloaded arrays when the dataset comes from the authors' repository, else nothing."""
    if dataset_source() != "published":
        return []
    return expand("resources/downloads/published/{name}.npy", name=PUBLISHED_ARRAYS)


def selected_models():
    """Models this run trains and evaluates: ``run_models`` if given, else every entry of ``models``."""
    names = config.get("run_models") or list(config["models"])
    unknown = [name for name in names if name not in config["models"]]
    if unknown:
        raise ValueError(f"config run_models: {unknown} are not entries of config models")
    return names


MODELS = selected_models()


def model_labels():
    return {name: entry.get("label", name) for name, entry in config["models"].items()}


def reference_label():
    """What the DFT-like labels are: real DFT, or the EAM standing in for it."""
    return "DFT" if dataset_source() == "published" else "reference EAM (stands in for DFT)"


def dft_pretraining_settings():
    """Trainer settings of the pre-training, with its epoch count (for the default LR decay horizon)."""
    section = config["dft_pretraining"]
    return dict(section["trainer"], epochs=section["epochs"])


EXP_MODELS = [name for name in MODELS if "schedule" in config["models"][name]]
# Only models trained by the EXP/fused rule match its output pattern ("(?!)" matches nothing).
EXP_MODELS_PATTERN = "|".join(EXP_MODELS) or "(?!)"


def check_exp_trajectories():
    """The EXP trajectory lengths in whole MD steps and frames, checked when the workflow is parsed."""
    if EXP_MODELS:
        try:
            tifusion.md.steps.trajectory_steps(config["exp_training"]["md"])
        except ValueError as err:
            raise ValueError(f"config exp_training.md: {err}") from None


check_exp_trajectories()


def exp_settings(wildcards):
    """The EXP trainer settings of a model: exp_training with its recipe."""
    return tifusion.training.settings.model_exp_settings(config, config["models"][wildcards.model])


def dft_settings(wildcards):
    """The DFT trainer settings of a model's DFT epochs: dft_pretraining.trainer with its changes."""
    return tifusion.training.settings.model_dft_settings(config, config["models"][wildcards.model])


def initial_model(wildcards):
    """The model an EXP-trained model starts from (models.<name>.init)."""
    return f"<results>/models/{config['models'][wildcards.model]['init']}/model.npz"


def training_temperatures():
    """{model: its EXP training temperatures (K)}, empty for models without EXP training."""
    return {name: entry.get("temperatures_K", []) for name, entry in config["models"].items()}


# Keys of a model entry that only figures and tables read: changing them retrains nothing.
PRESENTATION_KEYS = ("label", "color")


def training_entry(wildcards):
    """A model's training settings: its config entry without :data:`PRESENTATION_KEYS`."""
    entry = config["models"][wildcards.model]
    return {key: value for key, value in entry.items() if key not in PRESENTATION_KEYS}


# --- Properties, figures and tables (properties.smk, figures.smk) ---


def property_protocol(name):
    """One property's protocol: the shared MD settings, n_blocks and the property's own section."""
    return tifusion.properties.property_protocol(config["properties"], name)


# Per property (the `property` rule's {prop}): (mem_mb, runtime in minutes) of its job.
PROPERTY_RESOURCES = {
    "hcp_elastic": (8000, 10080),
    "bcc_elastic": (8000, 1440),
    "lattice_temperature": (8000, 4320),
    "lattice_pressure": (8000, 1440),
    "phonons": (8000, 60),
    "liquid_structure": (8000, 1440),
    "self_diffusion": (16000, 4320),
}


def protocol_of_property(wildcards):
    section = tifusion.properties.PROTOCOL_SECTIONS.get(wildcards.prop, wildcards.prop)
    return property_protocol(section)


def property_inputs(wildcards):
    """The model, the melt the liquid properties start from, and the experimental table of the hcp runs."""
    inputs = {"model": f"<results>/models/{wildcards.model}/model.npz"}
    if wildcards.prop in tifusion.properties.FROM_MELT:
        inputs["melt"] = f"<results>/properties/{wildcards.model}/liquid_melt_state.npz"
    if wildcards.prop in ("hcp_elastic", "lattice_temperature", "lattice_pressure", "phonons"):
        inputs["experiment"] = EXPERIMENT_HCP
    return inputs


def property_memory(wildcards):
    return PROPERTY_RESOURCES[wildcards.prop][0]


def property_runtime(wildcards):
    return PROPERTY_RESOURCES[wildcards.prop][1]


def figure_models(figure):
    """Models a figure or table shows: its config list (in that order) restricted to the configured models."""
    return [name for name in config["figures"][figure]["models"] if name in MODELS]


def property_files(prop, figure):
    """The property files of every model of a figure."""
    return expand("<results>/properties/{model}/{prop}.npz", model=figure_models(figure), prop=prop)


def paper_models():
    """{model: its name in the paper's reported values}, for the configured models."""
    mapping = config["figures"]["paper_comparison"]["paper_models"]
    return {name: paper for name, paper in mapping.items() if name in MODELS}


def comparison_models(figure=None):
    """The paper-mapped models, restricted to those a figure shows (its property runs are the ones the run makes)."""
    shown = set(figure_models(figure)) if figure else set(MODELS)
    return [name for name in paper_models() if name in shown]


def comparison_files(prop, figure=None):
    return expand("<results>/properties/{model}/{prop}.npz", model=comparison_models(figure), prop=prop)
