"""How a model's config entry combines with the shared trainer sections. No JAX import: the Snakefile uses it."""


def merged(base, override):
    """``base`` updated by ``override``, recursively for nested dicts."""
    out = dict(base)
    for key, value in (override or {}).items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def model_exp_settings(config, entry):
    """The EXP trainer settings of one model: the shared ``exp_training`` section with its recipe
    (``exp_recipes[entry["exp_recipe"]]``: the optimizer, the relative weights of the constants in the loss, the
    step guard)."""
    recipe = config["exp_recipes"][entry["exp_recipe"]]
    settings = dict(config["exp_training"], optimizer=recipe["optimizer"], step_guard=recipe.get("step_guard"))
    settings["loss_weights"] = dict(settings["loss_weights"], constants=dict(recipe.get("constant_weights") or {}))
    return settings


def model_dft_settings(config, entry):
    """The DFT trainer settings of a fused model: ``dft_pretraining.trainer`` updated by its ``dft_trainer``."""
    return merged(config["dft_pretraining"]["trainer"], entry.get("dft_trainer"))
