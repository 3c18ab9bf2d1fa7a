# Config helpers and input functions shared by the rules (named functions, no lambdas in rules).


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
    """Every EXP model's trajectory lengths in whole MD steps and frames, checked when the workflow is parsed."""
    for name in EXP_MODELS:
        md = tifusion.training.settings.model_exp_settings(config["exp_training"], config["models"][name])["md"]
        try:
            tifusion.md.steps.trajectory_steps(md)
        except ValueError as err:
            raise ValueError(f"config exp_training.md with models.{name}.exp_trainer.md: {err}") from None


check_exp_trajectories()


def initial_model(wildcards):
    """The model an EXP-trained model starts from (models.<name>.init)."""
    return f"results/models/{config['models'][wildcards.model]['init']}/model.npz"


def training_temperatures():
    """{model: its EXP training temperatures (K)}, empty for models without EXP training."""
    return {name: entry.get("temperatures_K", []) for name, entry in config["models"].items()}


def model_entry(wildcards):
    return config["models"][wildcards.model]


# --- Properties, figures and tables (properties.smk, figures.smk) ---


def property_protocol(name):
    """One property's protocol: the shared MD settings, n_blocks and the property's own section."""
    return tifusion.properties.property_protocol(config["properties"], name)


def figure_models(figure):
    """Models a figure or table shows: its config list (in that order) restricted to the configured models."""
    return [name for name in config["figures"][figure]["models"] if name in MODELS]


def property_files(prop, figure):
    """The property files of every model of a figure."""
    return expand("results/properties/{model}/{prop}.npz", model=figure_models(figure), prop=prop)


def paper_models():
    """{model: its name in the paper's reported values}, for the configured models."""
    mapping = config["figures"]["paper_comparison"]["paper_models"]
    return {name: paper for name, paper in mapping.items() if name in MODELS}


def comparison_files(prop):
    return expand("results/properties/{model}/{prop}.npz", model=list(paper_models()), prop=prop)
