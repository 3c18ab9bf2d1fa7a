# Config helpers and input functions shared by the rules (named functions, no lambdas in rules).


def dataset_source():
    return config["dataset"]["source"]


PUBLISHED_ARRAYS = ["box", "coord", "energy", "force", "types", "virial"]


def published_files(wildcards=None):
    """Downloaded arrays when the dataset comes from the authors' repository, else nothing."""
    if dataset_source() != "published":
        return []
    return expand("resources/downloads/published/{name}.npy", name=PUBLISHED_ARRAYS)


MODELS = list(config["models"])


def model_labels():
    return {name: entry.get("label", name) for name, entry in config["models"].items()}


def reference_label():
    """What the DFT-like labels are: real DFT, or the EAM standing in for it."""
    return "DFT" if dataset_source() == "published" else "reference EAM (stands in for DFT)"


def dft_pretraining_settings():
    """Trainer settings of the pre-training, with its epoch count (for the default LR decay horizon)."""
    section = config["dft_pretraining"]
    return dict(section["trainer"], epochs=section["epochs"])
