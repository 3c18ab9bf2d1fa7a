# Config helpers and input functions shared by the rules (named functions, no lambdas in rules).


def dataset_source():
    return config["dataset"]["source"]


PUBLISHED_ARRAYS = ["box", "coord", "energy", "force", "types", "virial"]


def published_files(wildcards=None):
    """Downloaded arrays when the dataset comes from the authors' repository, else nothing."""
    if dataset_source() != "published":
        return []
    return expand("resources/downloads/published/{name}.npy", name=PUBLISHED_ARRAYS)
