"""Dataset settings the workflow reads when it is parsed (no JAX import): the embedded generator's defaults and
overrides, and how many configurations each source gives (the training split bounds the DFT batch size).

The generator itself is :mod:`tifusion.data.embedded`, whose docstring describes each key.
"""
import copy

# The authors' curated DFT set (tifusion.data.published): energy.npy holds 5704 float64 values.
PUBLISHED_CONFIGURATIONS = 5704
CRYSTALS = ("hcp", "bcc", "fcc")
DEFAULTS = {
    # Teacher's relaxed 0 K lattice (docs/reference_potential.md).
    "lattice_nm": {"hcp_a": 0.29402, "hcp_c": 0.47723, "bcc_a": 0.32918, "fcc_a": 0.41543},
    "repeat": {"hcp": [4, 2, 3], "bcc": [4, 4, 4], "fcc": [3, 3, 3]},
    "perfect": {"count": 1},
    "ev_scan": {"points": 6, "scale_min": 0.94, "scale_max": 1.06},
    "voigt_strain": {"magnitudes": [0.005, 0.01, 0.02]},
    "random_strain": {"count": 10, "max_strain": 0.03, "rattle_nm": 0.002},
    "rattle": {"count": 10, "min_nm": 0.002, "max_nm": 0.01},
    "md": {
        "timestep_ps": 0.002,
        "friction_per_ps": 10.0,
        "equilibration_ps": 0.3,
        "volume_iterations": 3,
        # Voigt bulk modulus of the teacher, 98.8-112.8 GPa for hcp/bcc/fcc (docs/reference_potential.md).
        "bulk_modulus_GPa": 105.0,
        "spacing_ps": 0.05,
        "snapshots": 16,
        "skin_nm": 0.2,
        "temperatures_K": {"hcp": [300, 700, 1100, 1500], "bcc": [1200, 1500, 1800], "fcc": [300, 700, 1200],
                           "liquid": [2200]},
        "melt": {"temperature_K": 4000, "duration_ps": 2.0},
    },
}

def merged_config(config):
    """``DEFAULTS`` overridden by ``config``; unknown keys raise (naming the key path)."""
    def merge(base, override, path):
        out = copy.deepcopy(base)
        for key, value in (override or {}).items():
            if key not in base:
                raise KeyError(f"embedded dataset config: unknown key '{path}{key}' (known: {sorted(base)})")
            out[key] = merge(base[key], value, f"{path}{key}.") if isinstance(base[key], dict) else value
        return out

    return merge(DEFAULTS, config, "")


def training_split_size(dataset):
    """Configurations in the training split of the config's ``dataset`` section (as
    :func:`tifusion.data.dataset.contiguous_split` cuts it)."""
    n = PUBLISHED_CONFIGURATIONS if dataset["source"] == "published" else configuration_count(dataset.get("embedded"))
    return int(dataset.get("split", {}).get("train", 0.7) * n)


def configuration_count(config):
    """Number of configurations :func:`tifusion.data.embedded.generate_embedded` makes from ``config``."""
    cfg = merged_config(config)
    per_crystal = (cfg["perfect"]["count"] + cfg["ev_scan"]["points"] + cfg["random_strain"]["count"]
                   + cfg["rattle"]["count"])
    voigt = 6 * 2 * len(cfg["voigt_strain"]["magnitudes"])  # hcp only, +- each magnitude
    md = cfg["md"]
    snapshots = md["snapshots"] * sum(len(temperatures) for temperatures in md["temperatures_K"].values())
    return len(CRYSTALS) * per_crystal + voigt + snapshots
