"""MD property protocols (method spec section 7). No JAX import here: the Snakefile reads this."""


def property_protocol(properties, name):
    """One property's protocol from the config's ``properties`` section: the shared MD settings, n_blocks and the
    property's own section (which wins)."""
    return {**properties["md"], "n_blocks": properties["n_blocks"], **properties[name]}
