"""How a model's config entry combines with the shared trainer sections. No JAX import: the Snakefile uses it."""


def merged(base, override):
    """``base`` updated by ``override``, recursively for nested dicts."""
    out = dict(base)
    for key, value in (override or {}).items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def model_exp_settings(exp_settings, entry):
    """The EXP trainer settings of one model: the ``exp_training`` section updated by the entry's ``exp_trainer``."""
    return merged(exp_settings, entry.get("exp_trainer"))
